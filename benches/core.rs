//! The local store's benchmarks, side by side with raw SQLite and (optionally) the Python peers, in one run.
//!
//!     cargo bench --bench core                          # runlog vs raw rusqlite
//!     RUNLOG_PEERS_PY=$(bash benches/peers/setup.sh) cargo bench --bench core   # + MLflow, W&B, tensorboardX, trackio, Aim
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) every workload runs once at a tiny size, so the
//! benchmark code is kept working by the test suite without costing it time.

// The core store, as the root crate opens it with no remote configured: a user's sync configuration must not
// change what the benchmark measures.
use runlog_core::{Reader, Store};
use std::path::Path;
use std::time::{Duration, Instant};

const NAMES: usize = 10;

struct Scale {
    steps: usize,
    call_batches: usize,
    images: usize,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full {
        Scale { steps: 1_000_000, call_batches: 4000, images: 100 }
    } else {
        Scale { steps: 2_000, call_batches: 20, images: 3 }
    };
    let points = (scale.steps * NAMES) as f64;
    println!("runlog core benchmark ({} mode)", if full { "full" } else { "smoke" });

    let call = log_call_cost(scale.call_batches);
    println!("log call on the caller's thread: median {:.1} ns, p99 {:.1} ns (batches of 256 calls)", call.0, call.1);

    let ours = runlog_throughput(scale.steps);
    let raw = raw_sqlite(scale.steps);
    println!("{:.0} points ({NAMES} names x {} steps, one call per point, then flush):", points, scale.steps);
    println!(
        "  runlog          {:>12.0} points/s  {:>6.2} bytes/point  ({:.3} s)",
        points / ours.secs,
        ours.bytes as f64 / points,
        ours.secs
    );
    println!(
        "  raw rusqlite    {:>12.0} points/s  {:>6.2} bytes/point  ({:.3} s; one row per point, 100k rows per transaction)",
        points / raw.secs,
        raw.bytes as f64 / points,
        raw.secs
    );
    println!(
        "  ratio runlog/raw: {:.2}x the speed, {:.2}x the bytes",
        raw.secs / ours.secs,
        ours.bytes as f64 / raw.bytes as f64
    );
    println!("read one {}-point series: median {:.2} ms (of 7 reads)", scale.steps, ours.read_ms);

    let (first, again) = images(scale.images);
    println!(
        "{} PNG images 256x256 logged and flushed: {:.0} images/s; the same again (stored once): {:.0} images/s",
        scale.images, first, again
    );

    if let Some(py) = std::env::var_os("RUNLOG_PEERS_PY").filter(|_| full) {
        let small = runlog_throughput(10_000);
        peers(Path::new(&py), points / ours.secs, 100_000.0 / small.secs, first);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn log_call_cost(batches: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("calls.db")).expect("open");
    let run = store.start_run("bench").expect("run");
    for i in 0..100_000 {
        run.log("warmup", i as f64).expect("log");
    }
    let mut per_call = Vec::with_capacity(batches);
    let mut v = 0.0;
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..256 {
            run.log("loss", v).expect("log");
            v += 1.0;
        }
        per_call.push(t.elapsed().as_nanos() as f64 / 256.0);
    }
    run.complete().expect("complete");
    let med = median(&mut per_call);
    let p99 = per_call[(per_call.len() * 99 / 100).min(per_call.len() - 1)];
    (med, p99)
}

struct Throughput {
    secs: f64,
    bytes: u64,
    read_ms: f64,
}

/// The bytes a user finds after the writer closed the store (as after its process exited): the file plus any WAL and
/// shared-memory file left beside it, without a manual checkpoint.
fn size_as_left(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|side| std::fs::metadata(format!("{}{side}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

fn runlog_throughput(steps: usize) -> Throughput {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("runlog.db");
    let names: Vec<String> = (0..NAMES).map(|i| format!("metric_{i}")).collect();
    let id;
    let secs;
    {
        let store = Store::open(&path).expect("open");
        let run = store.start_run("bench").expect("run");
        let t = Instant::now();
        for step in 0..steps {
            let x = step as f64;
            for n in &names {
                run.log(n, x).expect("log");
            }
        }
        run.flush().expect("flush");
        secs = t.elapsed().as_secs_f64();
        run.complete().expect("complete");
        id = run.id().clone();
    }
    let bytes = size_as_left(&path);
    let r = Reader::open(&path).expect("reader");
    let mut reads: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            let pts = r.series(&id, &names[0]).expect("series");
            assert_eq!(pts.len(), steps);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    Throughput { secs, bytes, read_ms: median(&mut reads) }
}

fn raw_sqlite(steps: usize) -> Throughput {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("raw.db");
    let mut c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE points(run INTEGER, name INTEGER, step INTEGER, ts INTEGER, value REAL);",
    )
    .expect("schema");
    let t = Instant::now();
    let total = steps * NAMES;
    let mut done = 0;
    while done < total {
        let tx = c.transaction().expect("begin");
        {
            let mut st = tx.prepare_cached("INSERT INTO points VALUES (1, ?1, ?2, ?3, ?4)").expect("prepare");
            for i in done..(done + 100_000).min(total) {
                let (step, name) = (i / NAMES, i % NAMES);
                st.execute(rusqlite::params![name as i64, step as i64, runlog::now_ms(), step as f64]).expect("insert");
            }
        }
        tx.commit().expect("commit");
        done = (done + 100_000).min(total);
    }
    let secs = t.elapsed().as_secs_f64();
    drop(c);
    Throughput { secs, bytes: size_as_left(&path), read_ms: 0.0 }
}

/// Random-looking 256x256 RGB PNGs (about 197 KB each, like the peers' workload).
fn make_pngs(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let mut state = 0x2545_f491_4f6c_dd1du64 ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let data: Vec<u8> = (0..256 * 256 * 3)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, 256, 256);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().expect("header");
            w.write_image_data(&data).expect("data");
            drop(w);
            out
        })
        .collect()
}

fn images(n: usize) -> (f64, f64) {
    let pngs = make_pngs(n);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("img.db")).expect("open");
    let run = store.start_run("images").expect("run");
    let mut rates = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        for (i, p) in pngs.iter().enumerate() {
            run.log_image("sample", p, &format!("image {i}")).expect("image");
        }
        run.flush().expect("flush");
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let blobs = store.reader().blob_count().expect("count");
    assert_eq!(blobs as usize, n, "each distinct image stored once");
    (rates[0], rates[1])
}

fn peers(py: &Path, ours_10m: f64, ours_100k: f64, ours_images: f64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join("peers").join("peers.py");
    println!("running the Python peers ({}) ...", script.display());
    let out = std::process::Command::new(py)
        .arg(&script)
        .args(["--points", "100000", "--trials", "1", "--override", "mlflow_log_metric=2000,aim_track=20000"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run benches/peers/peers.py");
    assert!(out.status.success(), "benches/peers/peers.py failed");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peers.py prints JSON");
    println!("{:<22} {:<9} {:>14} {:>12} {:>22}", "peer", "workload", "rate/s", "bytes/pt", "runlog is (x faster)");
    for r in doc["results"].as_array().into_iter().flatten() {
        let rate = r["median_rate_per_s"].as_f64().unwrap_or(f64::NAN);
        let w = r["workload"].as_str().unwrap_or("?");
        let ratio = if w == "scalars" {
            format!("{:.0}x (10M) / {:.0}x (100k)", ours_10m / rate, ours_100k / rate)
        } else {
            format!("{:.1}x", ours_images / rate)
        };
        println!(
            "{:<22} {:<9} {:>14.0} {:>12.1} {:>22}",
            r["variant"].as_str().unwrap_or("?"),
            w,
            rate,
            r["bytes_per_point"].as_f64().unwrap_or(f64::NAN),
            ratio
        );
    }
    let _ = Duration::ZERO;
}
