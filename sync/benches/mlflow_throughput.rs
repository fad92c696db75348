//! Points per second into a real MLflow tracking server: runlog's agent (a store synced by the MLflow remote) against
//! MLflow's own Python client (`MlflowClient.log_batch`, 1,000 metrics per call), same server, same run shape
//! (NAMES metric names x STEPS steps), in one invocation, alternating so both see the same machine load.
//!
//!     cargo bench -p runlog-sync --bench mlflow_throughput            # 10 names x 5,000 steps, 2 trials
//!     MLFLOW_BENCH_STEPS=20000 MLFLOW_BENCH_TRIALS=3 cargo bench -p runlog-sync --bench mlflow_throughput
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke version (2 names x 500 steps, one trial).
//!
//! The server is `$MLFLOW_TRACKING_URI`, or one started with `scripts/mlflow-server.sh`; the Python client is the
//! interpreter of that script's venv (`$RUNLOG_MLFLOW_VENV`).

use runlog_testkit::mlflow as util;

use runlog_sync::agent::{AgentOptions, Syncer};
use runlog_sync::remote::Remote;
use runlog_sync::remote::mlflow::{MlflowOptions, MlflowRemote};
use std::sync::Arc;
use std::time::Instant;

const PY: &str = r#"
import sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
url, exp_name, names, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = MlflowClient(url)
t0 = time.time()
exp = c.create_experiment(exp_name)
run = c.create_run(exp, run_name="python")
ts = int(time.time() * 1000)
batch = []
for s in range(steps):
    for n in range(names):
        batch.append(Metric(f"m{n}", s * 0.5 + n, ts + s, s))
        if len(batch) == 1000:
            c.log_batch(run.info.run_id, metrics=batch)
            batch = []
if batch:
    c.log_batch(run.info.run_id, metrics=batch)
c.set_terminated(run.info.run_id)
print(time.time() - t0)
"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn python(names: usize, steps: usize) -> f64 {
    let py = util::mlflow_python();
    let out = std::process::Command::new(&py)
        .args(["-c", PY, util::mlflow(), &util::unique("bench-py"), &names.to_string(), &steps.to_string()])
        .output()
        .expect("run MLflow's Python client");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    // The last line is the time; MLflow may print notices before it.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines().filter_map(|l| l.trim().parse().ok()).next_back().expect("the script printed its time")
}

fn runlog(names: usize, steps: usize) -> (f64, String) {
    let dir = tempfile::tempdir().expect("dir");
    let store = runlog_core::Store::open(dir.path().join("runlog.db")).expect("store");
    let run = store.start_named_run(&util::unique("bench-runlog"), "runlog").expect("run");
    for s in 0..steps {
        for n in 0..names {
            run.log_at(&format!("m{n}"), s as i64, s as f64 * 0.5 + n as f64).expect("log");
        }
    }
    run.complete().expect("complete");
    let remote = Arc::new(
        MlflowRemote::new(&format!("mlflow+{}", util::mlflow()), "", MlflowOptions::default()).expect("remote"),
    );
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut syncer = Syncer::new(store.clone(), "ml", remote.clone() as Arc<dyn Remote>, AgentOptions::default(), rx)
        .expect("syncer");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let t = Instant::now();
    let summary = rt.block_on(syncer.pass(None, &mut |_, _| {})).expect("pass");
    let secs = t.elapsed().as_secs_f64();
    assert!(summary.complete, "{summary:?}");
    let st = remote.stats();
    (secs, format!("{} log-batch requests, {} points sent", st.log_batches, st.points_sent))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Under `cargo test --all-targets` (no `--bench` argument) a small smoke version runs.
    let bench = std::env::args().any(|a| a == "--bench");
    let names = if bench { env_usize("MLFLOW_BENCH_NAMES", 10) } else { 2 };
    let steps = if bench { env_usize("MLFLOW_BENCH_STEPS", 5_000) } else { 500 };
    let trials = if bench { env_usize("MLFLOW_BENCH_TRIALS", 2) } else { 1 };
    let points = (names * steps) as f64;
    println!("MLflow at {}: {names} names x {steps} steps = {points} points per run, {trials} trials", util::mlflow());
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for t in 0..trials {
        let (s, what) = runlog(names, steps);
        println!("trial {t}: runlog sync            {:>9.0} points/s ({s:.2} s; {what})", points / s);
        ours.push(points / s);
        let p = python(names, steps);
        println!("trial {t}: MlflowClient.log_batch {:>9.0} points/s ({p:.2} s)", points / p);
        theirs.push(points / p);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut ours), median(&mut theirs));
    println!("median: runlog {a:.0} points/s, MlflowClient.log_batch {b:.0} points/s, ratio {:.2}x", a / b);
}
