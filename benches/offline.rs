//! Offline costs nothing (issue 13): a sweep of 100 short runs (1,000 points each) with a configured remote that
//! refuses connections, against the same sweep with no remote at all, in one invocation. Target: within 1.5x.
//!
//!     cargo bench --bench offline
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it runs 5 runs of each, to keep the code working.

use runlog::sync::config::{RemoteConfig, Source};
use runlog::sync::{InstallOptions, install_with};
use std::time::{Duration, Instant};

fn sweep(runs: usize, remote: Option<&str>) -> Duration {
    let dir = tempfile::tempdir().expect("dir");
    let store = runlog_core::Store::open(dir.path().join("sweep.db")).expect("store");
    let _agent = remote.map(|url| {
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
    let t = Instant::now();
    for r in 0..runs {
        let run = store.start_named_run("sweep", &format!("trial-{r}")).expect("run");
        for i in 0..1_000 {
            run.log("loss", 1.0 / (1.0 + i as f64)).expect("log");
        }
        run.complete().expect("complete");
    }
    t.elapsed()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = if bench { 100 } else { 5 };
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let refusing = format!("http://127.0.0.1:{port}");
    // Alternate, so both see the same machine load.
    let (mut none, mut down) = (Vec::new(), Vec::new());
    for _ in 0..if bench { 3 } else { 1 } {
        none.push(sweep(runs, None));
        down.push(sweep(runs, Some(&refusing)));
    }
    none.sort();
    down.sort();
    let (n, d) = (none[none.len() / 2], down[down.len() / 2]);
    println!(
        "{runs} runs x 1,000 points: no remote {n:?}, refusing remote {d:?}: {:.2}x",
        d.as_secs_f64() / n.as_secs_f64()
    );
}
