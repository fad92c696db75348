//! The local store's benchmarks, side by side with raw SQLite and (optionally) the Python peers, in one run.
//!
//!     cargo bench --bench core                          # runlog vs raw rusqlite
//!     RUNLOG_PEERS_PY=$(bash benches/peers/setup.sh) cargo bench --bench core   # + MLflow, W&B, tensorboardX, trackio, Aim
//!
//! divan times the workloads and prints, per benchmark, the fastest, slowest, median and mean of its samples, and
//! points/s or images/s from its counters; `log_call` is one call, from samples of 256 calls (divan gives no
//! percentiles; its slowest sample bounds the tail). After divan, one more pass of each writer gives what divan does
//! not: bytes per point on the files as a user finds them after the writer closed the store (no manual checkpoint),
//! and the runlog/raw ratios of that pass.
//!
//! Under `cargo test` (no `--bench`) divan runs each benchmark once, at tiny sizes, so the test suite keeps the
//! benchmark code working without costing it time.

// The core store, as the root crate opens it with no remote configured: a user's sync configuration must not
// change what the benchmark measures.
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use runlog_core::{Reader, Run, Store};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Instant;

const NAMES: usize = 10;

/// `cargo bench` (full sizes) rather than `cargo test` (tiny sizes, each benchmark once).
static FULL: LazyLock<bool> = LazyLock::new(|| {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
});

/// Steps per name of the throughput workload: 10M points in full.
fn steps() -> usize {
    if *FULL { 1_000_000 } else { 2_000 }
}

/// PNG images per image workload.
fn image_count() -> usize {
    if *FULL { 100 } else { 3 }
}

fn main() {
    println!("runlog core benchmark ({} mode)", if *FULL { "full" } else { "smoke" });
    divan::main();
    figures();
}

/// One `run.log` call on the caller's thread (the writer thread works behind it), after 100,000 warm-up calls.
#[divan::bench(sample_count = 4000, sample_size = 256)]
fn log_call(b: Bencher) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("calls.db")).expect("open");
    let run = store.start_run("bench").expect("run");
    for i in 0..if *FULL { 100_000 } else { 100 } {
        run.log("warmup", i as f64).expect("log");
    }
    let mut v = 0.0;
    b.bench_local(|| {
        run.log("loss", black_box(v)).expect("log");
        v += 1.0;
    });
    run.complete().expect("complete");
}

/// 10 names x `steps()` steps into a new store, one call per point, then flush (runlog) or commit (raw SQLite).
mod write_points {
    use super::*;

    /// runlog: `run.log` per point, then `flush`.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn runlog(b: Bencher) {
        b.counter(ItemsCount::new(steps() * NAMES)).with_inputs(runlog_store).bench_local_values(
            |(dir, store, run)| {
                log_points(&run, steps());
                (dir, store, run)
            },
        );
    }

    /// Raw rusqlite: one row per point, 100k rows per transaction, WAL, synchronous=NORMAL.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn raw_rusqlite(b: Bencher) {
        b.counter(ItemsCount::new(steps() * NAMES)).with_inputs(raw_store).bench_local_values(|(dir, mut c)| {
            insert_raw(&mut c, steps());
            (dir, c)
        });
    }
}

/// Reading one `steps()`-point series back through a `Reader`.
#[divan::bench(sample_count = 7, sample_size = 1)]
fn read_series(b: Bencher) {
    let (dir, store, run) = runlog_store();
    log_points(&run, steps());
    run.complete().expect("complete");
    let id = run.id().clone();
    drop((run, store));
    let r = Reader::open(dir.path().join("runlog.db")).expect("reader");
    b.counter(ItemsCount::new(steps())).bench_local(|| {
        let pts = r.series(&id, "metric_0").expect("series");
        assert_eq!(pts.len(), steps());
        pts
    });
}

/// 256x256 PNG images (about 197 KB each) logged and flushed.
mod images {
    use super::*;

    /// Into a new store: each image stored.
    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn first(b: Bencher) {
        let pngs = make_pngs(image_count());
        b.counter(ItemsCount::new(pngs.len())).with_inputs(runlog_store).bench_local_values(|(dir, store, run)| {
            log_images(&run, &pngs);
            (dir, store, run)
        });
    }

    /// The same images again into the same run: stored once, only referenced.
    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn again(b: Bencher) {
        let pngs = make_pngs(image_count());
        b.counter(ItemsCount::new(pngs.len()))
            .with_inputs(|| {
                let s = runlog_store();
                log_images(&s.2, &pngs);
                s
            })
            .bench_local_values(|(dir, store, run)| {
                log_images(&run, &pngs);
                (dir, store, run)
            });
    }
}

/// A new store `runlog.db` in a temp directory, and a run in it.
fn runlog_store() -> (tempfile::TempDir, Store, Run) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("open");
    let run = store.start_run("bench").expect("run");
    (dir, store, run)
}

fn log_points(run: &Run, steps: usize) {
    let names: Vec<String> = (0..NAMES).map(|i| format!("metric_{i}")).collect();
    for step in 0..steps {
        let x = step as f64;
        for n in &names {
            run.log(n, x).expect("log");
        }
    }
    run.flush().expect("flush");
}

/// A new SQLite file `raw.db` with one table, as a hand-rolled logger would make it.
fn raw_store() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = rusqlite::Connection::open(dir.path().join("raw.db")).expect("open");
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE points(run INTEGER, name INTEGER, step INTEGER, ts INTEGER, value REAL);",
    )
    .expect("schema");
    (dir, c)
}

fn insert_raw(c: &mut rusqlite::Connection, steps: usize) {
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
}

fn log_images(run: &Run, pngs: &[Vec<u8>]) {
    for (i, p) in pngs.iter().enumerate() {
        run.log_image("sample", p, &format!("image {i}")).expect("image");
    }
    run.flush().expect("flush");
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

/// One pass of a writer: its rate (points/s of that pass) and the bytes it left once closed.
struct Pass {
    rate: f64,
    bytes: u64,
}

fn runlog_pass(steps: usize) -> Pass {
    let (dir, store, run) = runlog_store();
    let t = Instant::now();
    log_points(&run, steps);
    let secs = t.elapsed().as_secs_f64();
    run.complete().expect("complete");
    drop((run, store));
    Pass { rate: (steps * NAMES) as f64 / secs, bytes: size_as_left(&dir.path().join("runlog.db")) }
}

fn raw_pass(steps: usize) -> Pass {
    let (dir, mut c) = raw_store();
    let t = Instant::now();
    insert_raw(&mut c, steps);
    let secs = t.elapsed().as_secs_f64();
    drop(c);
    Pass { rate: (steps * NAMES) as f64 / secs, bytes: size_as_left(&dir.path().join("raw.db")) }
}

/// What divan does not measure: bytes per point after the writer closed, the runlog/raw ratios, images stored once,
/// and the Python peers.
fn figures() {
    let steps = steps();
    let points = (steps * NAMES) as f64;
    let ours = runlog_pass(steps);
    let raw = raw_pass(steps);
    println!("one more pass each, {points:.0} points ({NAMES} names x {steps} steps); sizes after the writer closed:");
    println!("  runlog          {:>12.0} points/s  {:>6.2} bytes/point", ours.rate, ours.bytes as f64 / points);
    println!(
        "  raw rusqlite    {:>12.0} points/s  {:>6.2} bytes/point  (one row per point, 100k rows per transaction)",
        raw.rate,
        raw.bytes as f64 / points
    );
    println!(
        "  ratio runlog/raw: {:.2}x the speed, {:.2}x the bytes",
        ours.rate / raw.rate,
        ours.bytes as f64 / raw.bytes as f64
    );

    let pngs = make_pngs(image_count());
    let (_dir, store, run) = runlog_store();
    let t = Instant::now();
    log_images(&run, &pngs);
    let images_rate = pngs.len() as f64 / t.elapsed().as_secs_f64();
    log_images(&run, &pngs);
    let blobs = store.reader().blob_count().expect("count");
    assert_eq!(blobs as usize, pngs.len(), "each distinct image stored once");
    println!("  {} images logged twice: {blobs} stored", pngs.len());

    if let Some(py) = std::env::var_os("RUNLOG_PEERS_PY").filter(|_| *FULL) {
        let small = runlog_pass(10_000);
        peers(Path::new(&py), ours.rate, small.rate, images_rate);
    }
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
}
