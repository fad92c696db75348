//! Benchmarks of issue 12 (search, sweeps, TensorBoard), reported as figures (no assertions):
//! - `runlog ls --filter EXPR --sort KEY` over 10,000 runs (target: at most 100 ms);
//!
//! `cargo bench -p runlog-cli --bench sweeps_bench` runs them; add `-- --keep DIR` to keep the stores for hyperfine,
//! e.g. `hyperfine -N --warmup 3 "target/release/runlog --store DIR/runs10000.db ls --filter 'metrics.loss < 0.01'"`.
//! Under `cargo test` (no `--bench` argument) it runs a tiny version, so the test suite stays fast.

#[path = "../tests/util/mod.rs"]
mod util;

use runlog_core::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");
    let (runs, trials) = if full { (10_000, 20) } else { (50, 2) };

    let store = dir.join(format!("runs{runs}.db"));
    if !store.exists() {
        let t = Instant::now();
        make_runs(&store, runs);
        println!("made {runs} runs in {:.1} s", t.elapsed().as_secs_f64());
    }
    let filter = "metrics.loss < 0.01 and params.optimizer = 'adam' and tags.stage != 'final'";
    for args in [
        &["ls", "--json"][..],
        &["ls", "--filter", filter],
        &["ls", "--json", "--filter", filter, "--sort", "-metrics.loss"],
        &["ls", "--sort", "params.lr DESC, metrics.loss"],
    ] {
        let mut shown = 0;
        let times: Vec<Duration> = (0..trials)
            .map(|_| {
                let t = Instant::now();
                let o = util::runlog(&store, args);
                let e = t.elapsed();
                assert!(o.status.success(), "runlog {args:?} failed: {}", util::stderr(&o));
                shown = o.stdout.iter().filter(|&&b| b == b'\n').count();
                e
            })
            .collect();
        report(&format!("runlog {} ({runs} runs, {shown} lines out)", args.join(" ")), &times);
    }
    if let Some(k) = keep {
        println!("stores kept in {}", k.display());
    }
}

fn report(what: &str, times: &[Duration]) {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}\n    first {:>7.1} ms  min {:>7.1} ms  median {:>7.1} ms",
        ms[0].max(times[0].as_secs_f64() * 1e3),
        ms[0],
        ms[ms.len() / 2]
    );
}

/// `n` runs in 20 experiments; every tenth run has three child runs; 3 params, a tag, 2 scalar series each.
fn make_runs(path: &Path, n: usize) {
    let store = runlog_core::Store::builder(path).flush_interval(Duration::from_millis(1)).open().expect("store");
    let mut made = 0;
    let mut i = 0;
    while made < n {
        let run = store.start_named_run(&format!("exp{}", i % 20), &format!("run{i}")).expect("run");
        run.log_param("lr", 0.001 * (i % 7 + 1) as f64).expect("param");
        run.log_param("optimizer", if i % 2 == 0 { "adam" } else { "sgd" }).expect("param");
        run.log_param("batch", Value::from(32 * (i % 4 + 1) as i64)).expect("param");
        run.set_tag("stage", if i % 3 == 0 { "final" } else { "sweep" }).expect("tag");
        for s in 0..50 {
            run.log("loss", 1.0 / (s as f64 + 1.0 + (i % 500) as f64)).expect("log");
        }
        run.log("acc", (i % 100) as f64 / 100.0).expect("log");
        made += 1;
        if i % 10 == 0 {
            for c in 0..3 {
                if made >= n {
                    break;
                }
                let child = run.child(&format!("fold{c}")).expect("child");
                child.log("loss", 0.5 / (c as f64 + 1.0)).expect("log");
                child.complete().expect("end");
                made += 1;
            }
        }
        if i % 10 == 3 {
            run.fail("diverged").expect("end")
        } else {
            run.complete().expect("end")
        }
        i += 1;
    }
    store.flush().expect("flush");
}
