//! Log-to-acknowledged latency of the in-process agent (a figure, not an assertion): the time from a `log` call
//! (and the run's flush) to the workspace server holding the point, with the agent woken by the store's commit
//! notification against the same agent that only polls (`wake_on_commit: false`, the default 1 s poll). Both run
//! side by side in one process against one server on loopback.
//!
//!     cargo bench -p runlog-sync --bench ack_latency
//!
//! Env: BENCH_SAMPLES (default 40). Under `cargo test` (no `--bench` argument) it takes 3 samples per mode.

use runlog_core::Store;
use runlog_server::{Admin, AppState, BackgroundServer, Read, SqliteStorage, Storage};
use runlog_sync::ServiceLimits;
use runlog_sync::agent::AgentOptions;
use runlog_sync::config::RemoteConfig;
use runlog_sync::{InstallOptions, install_with};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Samples of log -> held by the server, for one agent setting.
fn measure(
    dir: &std::path::Path,
    server: &BackgroundServer,
    storage: &SqliteStorage,
    token: &str,
    wake: bool,
    n: usize,
) -> Vec<Duration> {
    let store = Store::open(dir.join(format!("wake-{wake}.db"))).expect("store");
    let opts = InstallOptions {
        remotes: Some(vec![RemoteConfig {
            name: "bench".into(),
            url: server.url().to_string(),
            token: token.to_string(),
            ca_cert: None,
            source: Default::default(),
        }]),
        grace: Duration::from_secs(30),
        agent: AgentOptions { wake_on_commit: wake, ..AgentOptions::default() },
    };
    let _agent = install_with(&store, opts).expect("install").expect("a remote is configured");
    let run = store.start_run("latency").expect("run");
    let ws = runlog_testkit::block_on(storage.workspace_for_token(token)).expect("auth").expect("workspace");
    let id = run.id().as_str().to_string();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        // Land at a different phase of the poll each time.
        std::thread::sleep(Duration::from_millis(fastrand::u64(20..300)));
        let t0 = Instant::now();
        run.log("x", i as f64).expect("log");
        run.flush().expect("flush");
        loop {
            if runlog_testkit::block_on(storage.series(ws, &id, "x")).expect("series").len() > i {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        samples.push(t0.elapsed());
    }
    run.complete().expect("complete");
    samples.sort();
    samples
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize =
        if bench { std::env::var("BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(40) } else { 3 };
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("server")).expect("storage"));
    let token = runlog_testkit::block_on(storage.create_workspace("bench")).expect("workspace");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let server =
        BackgroundServer::start(listener, AppState::new(storage.clone() as Arc<dyn Storage>, ServiceLimits::default()))
            .expect("server");
    println!("log -> acknowledged by the workspace server, in-process agent, {n} samples per mode (ms)");
    println!("{:<34} {:>8} {:>8} {:>8}", "agent", "median", "p90", "max");
    let mut medians = Vec::new();
    for (label, wake) in [("polling every 1 s (before)", false), ("woken by the commit (after)", true)] {
        let s = measure(dir.path(), &server, &storage, &token, wake, n);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{label:<34} {:>8.1} {:>8.1} {:>8.1}",
            ms(percentile(&s, 0.5)),
            ms(percentile(&s, 0.9)),
            ms(s[s.len() - 1])
        );
        medians.push(percentile(&s, 0.5));
    }
    println!("median ratio, polling / woken: {:.1}x", medians[0].as_secs_f64() / medians[1].as_secs_f64().max(1e-9));
}
