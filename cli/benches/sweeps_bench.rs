//! Benchmarks of issue 12 (search, sweeps, TensorBoard):
//! - `runlog ls --filter EXPR --sort KEY` over 10,000 runs (target: at most 100 ms);
//! - the experiment page of 1,000 runs x 10 metrics in headless Chromium: navigation start to every chart drawn, as
//!   the page itself measures it (target: at most 1 s), and the `/api/overlay` request alone;
//! - `runlog import tensorboard` of a directory of 1M scalar points (written by `runlog export tensorboard`): points/s.
//!
//! `cargo bench -p runlog-cli --bench sweeps_bench` runs them (divan: fastest, slowest, median, mean per benchmark,
//! points/s for the import); set `RUNLOG_BENCH_KEEP=DIR` to keep the stores for hyperfine, e.g.
//! `hyperfine -N --warmup 3 "target/release/runlog --store DIR/runs10000.db ls --filter 'metrics.loss < 0.01'"`.
//! Under `cargo test` (no `--bench`) divan runs each benchmark once on tiny stores, so the test suite stays fast.

mod support;

use divan::Bencher;
use divan::counter::ItemsCount;
use runlog_core::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{FULL, dir};

const FILTER: &str = "metrics.loss < 0.01 and params.optimizer = 'adam' and tags.stage != 'final'";

fn runs() -> usize {
    if *FULL { 10_000 } else { 50 }
}

fn sweep_runs() -> usize {
    if *FULL { 1_000 } else { 20 }
}

fn tb_points() -> usize {
    if *FULL { 1_000_000 } else { 20_000 }
}

fn main() {
    let _guard = support::init_dir();
    for args in LS_ARGS {
        let args = ls_args(args);
        let lines = support::runlog(&runs_store(), &args).stdout.iter().filter(|&&b| b == b'\n').count();
        println!("runlog {} ({} runs): {lines} lines out", args.join(" "), runs());
    }
    sweep_store();
    let logs = tb_logs();
    let bytes: u64 =
        std::fs::read_dir(&logs).expect("dir").filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    println!("runlog import tensorboard: {} points, {:.1} MB of event files", tb_points(), bytes as f64 / 1e6);
    divan::main();
    sweep_page();
    if let Some(k) = std::env::var_os("RUNLOG_BENCH_KEEP") {
        println!("stores kept in {}", Path::new(&k).display());
    }
}

fn runs_store() -> PathBuf {
    let p = dir().join(format!("runs{}.db", runs()));
    support::made(&p, &format!("{} runs", runs()), |p| make_runs(p, runs()));
    p
}

/// `runlog ls` over [`runs`] runs: JSON, a filter, a filter and a sort, a two-key sort; the whole process.
#[divan::bench(args = LS_ARGS, sample_count = 20, sample_size = 1)]
fn runlog_ls(b: Bencher, args: &str) {
    let store = runs_store();
    let args = ls_args(args);
    b.bench_local(|| support::runlog(&store, &args));
}

/// The `runlog ls` command lines measured, `FILTER` standing for [`FILTER`].
const LS_ARGS: [&str; 4] = [
    "ls --json",
    "ls --filter FILTER",
    "ls --json --filter FILTER --sort -metrics.loss",
    "ls --sort params.lr DESC, metrics.loss",
];

/// One of [`LS_ARGS`] as arguments (the sort keys, which hold spaces, are one argument).
fn ls_args(line: &str) -> Vec<&str> {
    let args: Vec<&str> = match line.split_once(" --sort ") {
        Some((head, sort)) => head.split(' ').chain(["--sort", sort]).collect(),
        None => line.split(' ').collect(),
    };
    args.into_iter().map(|a| if a == "FILTER" { FILTER } else { a }).collect()
}

fn sweep_store() -> PathBuf {
    let n = sweep_runs();
    let p = dir().join(format!("sweep{n}.db"));
    support::made(&p, &format!("{n} runs x 10 metrics x 100 steps"), |p| {
        let s = support::open_store(p);
        for i in 0..n {
            let run = s.start_named_run("sweep", &format!("trial{i}")).expect("run");
            run.log_param("lr", [0.1, 0.03, 0.01, 0.003, 0.001][i % 5]).expect("param");
            run.log_param("optimizer", if i % 2 == 0 { "adam" } else { "sgd" }).expect("param");
            run.log_param("seed", i as i64).expect("param");
            for m in 0..10 {
                let name = format!("metric{m}");
                for st in 0..100 {
                    run.log(&name, (m + 1) as f64 / (1.0 + st as f64 * (1 + i % 5) as f64 * 0.1)).expect("log");
                }
            }
            run.complete().expect("end");
        }
        s.flush().expect("flush");
    });
    p
}

/// `GET /api/overlay` of [`sweep_runs`] runs grouped by lr, 400 buckets.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn api_overlay(b: Bencher) {
    let (_ui, url) = support::start_ui(&sweep_store());
    let overlay = format!("{url}/api/overlay?experiment=sweep&name=metric0&group=params.lr&points=400");
    b.bench_local(|| support::get_json(&overlay));
}

/// The experiment page of [`sweep_runs`] runs x 10 metrics: navigation start to every chart drawn.
fn sweep_page() {
    let runs = sweep_runs();
    let (_ui, url) = support::start_ui(&sweep_store());
    let Some(b) = support::Browser::start() else {
        println!("experiment page: skipped (no /usr/bin/chromium or /usr/bin/chromedriver)");
        return;
    };
    let mut ms = Vec::new();
    for _ in 0..if *FULL { 5 } else { 1 } {
        let Some(t) = b.load(&format!("{url}/experiments/sweep"), "true") else {
            println!("experiment page: never became ready");
            return;
        };
        let lines = b.js("return window.runlogCharts['sweep:parallel'].lines.length");
        assert_eq!(lines.as_u64(), Some(runs as u64), "every run drawn");
        ms.push(t);
        println!("    milestones (ms): {}", b.js("return document.body.dataset.timings").as_str().unwrap_or("?"));
    }
    println!(
        "experiment page, {runs} runs x 10 metrics: navigation start to every chart drawn (headless Chromium)\n    \
         first {} ms, then {:?} ms",
        ms[0],
        &ms[1..]
    );
}

/// `runlog import tensorboard` of a directory of [`tb_points`] scalar points (10 series) into a new store.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn import_tensorboard(b: Bencher) {
    let points = tb_points();
    let logs = tb_logs();
    let logs = logs.to_str().expect("path").to_string();
    let mut k = 0;
    b.counter(ItemsCount::new(points))
        .with_inputs(|| {
            k += 1;
            let store = dir().join(format!("tbimport{points}-{k}.db"));
            let _ = std::fs::remove_file(&store);
            store
        })
        .bench_local_values(|store| {
            let o = support::runlog(&store, &["import", "tensorboard", &logs]);
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.contains(&format!(": {points} scalar points")), "{out}");
            store
        });
    for k in 1..=k {
        let _ = std::fs::remove_file(dir().join(format!("tbimport{points}-{k}.db")));
    }
}

/// A TensorBoard directory of [`tb_points`] points, written by `runlog export tensorboard` (made once).
fn tb_logs() -> PathBuf {
    let points = tb_points();
    let logs = dir().join(format!("tb{points}"));
    if !logs.exists() {
        let src = dir().join(format!("tbsrc{points}.db"));
        let s = support::open_store(&src);
        let run = s.start_named_run("bench", "tb").expect("run");
        for i in 0..points {
            run.log_at(&format!("series{}", i % 10), (i / 10) as i64, (i as f64 * 1e-4).sin()).expect("log");
        }
        run.complete().expect("end");
        s.flush().expect("flush");
        drop(s);
        support::runlog(&src, &["export", "tensorboard", "bench/tb", logs.to_str().expect("path")]);
    }
    logs
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
