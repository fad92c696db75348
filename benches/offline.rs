//! Offline costs nothing (issue 13): a sweep of 100 short runs (1,000 points each) with a configured remote that
//! refuses connections, against the same sweep with no remote at all, in one invocation. Target: within 1.5x.
//!
//!     cargo bench --bench offline
//!
//! divan times both sweeps (fastest, slowest, median, mean; points/s); after it, one more pass of each, the two
//! alternated so both see the same machine load, gives the refusing/none ratio. Without `--bench` (as
//! `cargo test --all-targets` runs it) divan runs each once with 5 runs, to keep the code working.

use divan::Bencher;
use divan::counter::ItemsCount;
use runlog::sync::config::{RemoteConfig, Source};
use runlog::sync::{InstallOptions, install_with};
use runlog_core::Store;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Runs per sweep: 100 under `cargo bench`, 5 under `cargo test`.
static RUNS: LazyLock<usize> = LazyLock::new(|| {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test") { 100 } else { 5 }
});

/// A loopback URL where nothing listens (a port bound, then released).
static REFUSING: LazyLock<String> = LazyLock::new(|| {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
});

fn main() {
    divan::main();
    let none = timed(None);
    let down = timed(Some(&REFUSING));
    println!(
        "one more pass each, {} runs x 1,000 points: no remote {none:?}, refusing remote {down:?}: {:.2}x",
        *RUNS,
        down.as_secs_f64() / none.as_secs_f64()
    );
}

/// 100 runs x 1,000 points, no remote configured.
#[divan::bench(sample_count = 15, sample_size = 1)]
fn no_remote(b: Bencher) {
    bench(b, None);
}

/// 100 runs x 1,000 points, a configured remote that refuses connections (the agent retries behind the sweep).
#[divan::bench(sample_count = 15, sample_size = 1)]
fn refusing_remote(b: Bencher) {
    bench(b, Some(&REFUSING));
}

fn bench(b: Bencher, remote: Option<&str>) {
    b.counter(ItemsCount::new(*RUNS * 1_000)).with_inputs(|| Setup::new(remote)).bench_local_values(|s| {
        sweep(&s.store, *RUNS);
        s
    });
}

/// A store in a temp directory with, if a remote is given, the sync agent installed for it.
struct Setup {
    _agent: Option<runlog::sync::AgentHandle>,
    store: Store,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(remote: Option<&str>) -> Setup {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path().join("sweep.db")).expect("store");
        let agent = remote.map(|url| {
            let opts = InstallOptions {
                remotes: Some(vec![RemoteConfig {
                    name: "down".into(),
                    url: url.into(),
                    token: "t".into(),
                    ca_cert: None,
                    source: Source::Store,
                }]),
                grace: Duration::from_secs(10),
                ..InstallOptions::default()
            };
            install_with(&store, opts).expect("install").expect("a remote is configured")
        });
        Setup { _agent: agent, store, _dir: dir }
    }
}

fn sweep(store: &Store, runs: usize) {
    for r in 0..runs {
        let run = store.start_named_run("sweep", &format!("trial-{r}")).expect("run");
        for i in 0..1_000 {
            run.log("loss", 1.0 / (1.0 + i as f64)).expect("log");
        }
        run.complete().expect("complete");
    }
}

/// One sweep, timed from after the agent is installed to the last run completed.
fn timed(remote: Option<&str>) -> Duration {
    let s = Setup::new(remote);
    let t = Instant::now();
    sweep(&s.store, *RUNS);
    t.elapsed()
}
