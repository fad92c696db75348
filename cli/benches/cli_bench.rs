//! Benchmarks of the CLI and the UI:
//! - `runlog ls` (table and `--json`) on a store with 1,000 runs (target: at most 50 ms);
//! - the first chart of a 10M-point series in `runlog ui`: the downsampled series request, and (when Chromium is
//!   installed) the run page in headless Chromium from navigation start to the chart drawn, as the page itself
//!   measures it (target: at most 1 s).
//!
//! `cargo bench -p runlog-cli --bench cli_bench` runs them (divan: fastest, slowest, median, mean per benchmark); set
//! `RUNLOG_BENCH_KEEP=DIR` to keep the stores for hyperfine, e.g.
//! `hyperfine -N --warmup 3 'target/release/runlog --store DIR/runs1000.db ls'`. Under `cargo test` (no `--bench`)
//! divan runs each benchmark once on tiny stores, so the test suite stays fast.

mod support;

use divan::Bencher;
use runlog_core::Value;
use std::path::{Path, PathBuf};
use support::{FULL, dir};

fn runs() -> usize {
    if *FULL { 1_000 } else { 20 }
}

fn points() -> usize {
    if *FULL { 10_000_000 } else { 20_000 }
}

fn ls_store() -> PathBuf {
    let p = dir().join(format!("runs{}.db", runs()));
    support::made(&p, &format!("{} runs", runs()), |p| make_runs(p, runs()));
    p
}

fn series_store() -> PathBuf {
    let p = dir().join(format!("series{}.db", points()));
    support::made(&p, &format!("a {}-point series", points()), |p| {
        let store = support::open_store(p);
        let run = store.start_named_run("bench", "long").expect("run");
        for i in 0..points() {
            run.log("loss", (i as f64 * 1e-5).sin() + (i % 97) as f64 * 1e-3).expect("log");
        }
        run.complete().expect("end");
        store.flush().expect("flush");
    });
    p
}

fn main() {
    let _guard = support::init_dir();
    ls_store();
    series_store();
    divan::main();
    page_load();
    if let Some(k) = std::env::var_os("RUNLOG_BENCH_KEEP") {
        println!("stores kept in {}", Path::new(&k).display());
    }
}

/// `runlog ls` and `runlog ls --json` on the store of [`runs`] runs, the whole process.
#[divan::bench(args = ["ls", "ls --json"], sample_count = 20, sample_size = 1)]
fn runlog_ls(b: Bencher, args: &str) {
    let store = ls_store();
    let args: Vec<&str> = args.split(' ').collect();
    b.bench_local(|| support::runlog(&store, &args));
}

/// `GET /api/series` of the [`points`]-point series downsampled to 1,400 buckets.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn api_series(b: Bencher) {
    let (_ui, url) = support::start_ui(&series_store());
    b.bench_local(|| support::get_json(&series_url(&url)));
}

fn series_url(ui: &str) -> String {
    format!("{ui}/api/series?run=bench%2Flong&name=loss&points=1400")
}

/// The run page's first chart in headless Chromium, three loads, as the page measures it.
fn page_load() {
    let (_ui, url) = support::start_ui(&series_store());
    let body = support::get_json(&series_url(&url));
    println!(
        "series endpoint: {} points in store, {} points sent",
        body["count"],
        body["points"].as_array().map_or(0, Vec::len)
    );
    let Some(browser) = support::Browser::start() else {
        println!("run page first chart: skipped (no /usr/bin/chromium or /usr/bin/chromedriver)");
        return;
    };
    let ms: Vec<u64> = (0..3)
        .filter_map(|_| browser.load(&format!("{url}/runs/bench%2Flong"), "!!window.runlogCharts.loss"))
        .collect();
    match ms.split_first() {
        Some((first, rest)) => println!(
            "run page, first chart drawn: first {first} ms, then {rest:?} ms (navigation start to chart drawn, \
             headless Chromium)"
        ),
        None => println!("run page first chart: the page never became ready"),
    }
}

fn make_runs(path: &Path, n: usize) {
    let store = support::open_store(path);
    for i in 0..n {
        let run = store.start_named_run(&format!("exp{}", i % 10), &format!("run{i}")).expect("run");
        run.log_param("lr", 0.001 * (i % 7 + 1) as f64).expect("param");
        run.log_param("batch", Value::from(32 * (i % 4 + 1) as i64)).expect("param");
        run.set_tag("stage", if i % 3 == 0 { "final" } else { "sweep" }).expect("tag");
        for s in 0..200 {
            run.log("loss", 1.0 / (s as f64 + 1.0 + i as f64)).expect("log");
        }
        for s in 0..20 {
            run.log("acc", s as f64 / 20.0).expect("log");
        }
        if i % 10 == 0 { run.fail("diverged").expect("end") } else { run.complete().expect("end") }
    }
    store.flush().expect("flush");
}
