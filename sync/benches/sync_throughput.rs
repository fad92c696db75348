//! Sync benchmarks (figures, not assertions): scalar points per second from a store to a workspace server on
//! loopback with default limits and with the Azure profile, the agent's peak memory (RSS of a `runlog sync`
//! process), and a re-run of `runlog sync` on an already acknowledged store of 100 runs.
//!
//!     cargo build --release -p runlog-cli && cargo bench -p runlog-sync --bench sync_throughput
//!
//! Env: BENCH_POINTS (default 10,000,000), BENCH_AZURE_POINTS (default 2,000,000), RUNLOG_BIN (default
//! target/release/runlog). Under `cargo test` (no `--bench` argument) it runs a small smoke version.

use runlog_core::Store;
use runlog_server::{Admin, AppState, SqliteStorage, Storage};
use runlog_sync::ServiceLimits;
use runlog_sync::agent::{AgentOptions, Syncer};
use runlog_sync::remote::workspace::{ClientOptions, WorkspaceRemote};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server {
    url: String,
    token: String,
    storage: Arc<SqliteStorage>,
    _dir: tempfile::TempDir,
}

fn server(limits: ServiceLimits) -> Server {
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(SqliteStorage::open(dir.path()).expect("storage"));
    let token = runlog_testkit::block_on(storage.create_workspace("bench")).expect("workspace");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(storage.clone() as Arc<dyn Storage>, limits);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let _ = rt.block_on(runlog_server::serve(listener, state, None));
    });
    Server { url, token, storage, _dir: dir }
}

fn store_with_points(path: &Path, points: usize, runs: usize) -> Store {
    let store = Store::open(path).expect("store");
    for r in 0..runs {
        let run = store.start_named_run("bench", &format!("run-{r}")).expect("run");
        let n = points / runs;
        for i in 0..n {
            run.log(["loss", "acc", "lr", "grad", "w0", "w1", "w2", "w3", "w4", "w5"][i % 10], i as f64 * 1e-3)
                .expect("log");
        }
        run.complete().expect("complete");
    }
    store.flush().expect("flush");
    store
}

fn sync_in_process(store: &Store, s: &Server) -> (Duration, runlog_sync::agent::PassSummary) {
    let remote = Arc::new(WorkspaceRemote::new(&s.url, &s.token, &ClientOptions::default()).expect("remote"));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut syncer = Syncer::new(store.clone(), "bench", remote, AgentOptions::default(), rx).expect("syncer");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let t = Instant::now();
    let summary = rt.block_on(syncer.pass(None, &mut |_, _| {})).expect("pass");
    (t.elapsed(), summary)
}

fn runlog_bin() -> PathBuf {
    std::env::var_os("RUNLOG_BIN").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("release").join("runlog")
    })
}

/// Runs `runlog sync` as a child; returns wall time, exit success and the child's peak RSS in KiB (VmHWM, sampled
/// from /proc while it runs: the high-water mark only grows, so the last sample is the peak up to a few ms).
fn cli_sync(store: &Path, cfg: &Path) -> (Duration, bool, Option<u64>) {
    let t = Instant::now();
    let mut child = std::process::Command::new(runlog_bin())
        .env("RUNLOG_CONFIG_DIR", cfg)
        .env("HOME", cfg)
        .env("RUNLOG_SYNC", "0")
        .env_remove("RUNLOG_REMOTE")
        .arg("--store")
        .arg(store)
        .arg("sync")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run runlog sync (build it first: cargo build --release -p runlog-cli)");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = Some(kb);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            return (t.elapsed(), st.success(), peak);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn write_config(cfg: &Path, s: &Server, name: &str) {
    let c = runlog_sync::config::Config {
        remotes: vec![runlog_sync::config::RemoteConfig {
            name: name.into(),
            url: s.url.clone(),
            token: s.token.clone(),
            ca_cert: None,
            source: Default::default(),
        }],
    };
    std::fs::create_dir_all(cfg).expect("cfg");
    std::fs::write(cfg.join("remotes.json"), serde_json::to_vec(&c).expect("json")).expect("write");
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let points = if bench { env("BENCH_POINTS", 10_000_000) } else { 100_000 };
    let azure_points = if bench { env("BENCH_AZURE_POINTS", 2_000_000) } else { 20_000 };
    let dir = tempfile::tempdir().expect("dir");

    // 1. Default limits, agent in process.
    let t = Instant::now();
    let store = store_with_points(&dir.path().join("a.db"), points, 1);
    println!("logged {points} points in {:.2} s", t.elapsed().as_secs_f64());
    let s = server(ServiceLimits::default());
    let (d, sum) = sync_in_process(&store, &s);
    assert!(sum.complete);
    println!(
        "default limits: {points} points in {:.3} s = {:.2} M points/s end to end, {} requests, {} batches",
        d.as_secs_f64(),
        points as f64 / d.as_secs_f64() / 1e6,
        sum.requests,
        sum.batches
    );

    // 2. Azure profile (250 rows per batch), agent in process.
    let store_az = store_with_points(&dir.path().join("az.db"), azure_points, 1);
    let s_az = server(ServiceLimits::azure());
    let (d, sum) = sync_in_process(&store_az, &s_az);
    assert!(sum.complete);
    let ws = runlog_testkit::block_on(s_az.storage.workspace_for_token(&s_az.token)).expect("auth").expect("ws");
    let st = runlog_testkit::block_on(s_az.storage.stats(ws)).expect("stats");
    println!(
        "azure profile: {azure_points} points in {:.3} s = {:.0} points/s, {} requests ({} batches, max {} rows per batch, {} answered 429)",
        d.as_secs_f64(),
        azure_points as f64 / d.as_secs_f64(),
        sum.requests,
        st.batches,
        st.max_batch_rows,
        st.rate_limited
    );

    if !runlog_bin().exists() {
        println!(
            "skipping the CLI figures: {} is not built (cargo build --release -p runlog-cli)",
            runlog_bin().display()
        );
        return;
    }
    // 3. Peak memory of a `runlog sync` process moving the same points to a fresh server.
    let s2 = server(ServiceLimits::default());
    let cfg = dir.path().join("cfg");
    write_config(&cfg, &s2, "bench-cli");
    drop(store);
    let (wall, ok, rss) = cli_sync(&dir.path().join("a.db"), &cfg);
    println!(
        "runlog sync process: {points} points in {:.3} s = {:.2} M points/s (process start included), exit ok {ok}, peak RSS {}",
        wall.as_secs_f64(),
        points as f64 / wall.as_secs_f64() / 1e6,
        rss.map_or("unknown".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0))
    );

    // 4. Re-running sync on an acknowledged store of 100 runs.
    let s3 = server(ServiceLimits::default());
    let cfg3 = dir.path().join("cfg3");
    write_config(&cfg3, &s3, "bench-rerun");
    let p100 = dir.path().join("hundred.db");
    drop(store_with_points(&p100, 100 * 1000, 100));
    let (first, ok, _) = cli_sync(&p100, &cfg3);
    assert!(ok);
    let mut times: Vec<f64> = (0..11).map(|_| cli_sync(&p100, &cfg3).0.as_secs_f64() * 1e3).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "re-run of runlog sync on an acknowledged store with 100 runs: median {:.1} ms (min {:.1}, max {:.1}; first sync {:.0} ms)",
        times[5],
        times[0],
        times[10],
        first.as_secs_f64() * 1e3
    );
}
