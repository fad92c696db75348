//! Benchmarks of issue 12 (search, sweeps, TensorBoard), reported as figures (no assertions):
//! - `runlog ls --filter EXPR --sort KEY` over 10,000 runs (target: at most 100 ms);
//! - the experiment page of 1,000 runs x 10 metrics in headless Chromium: navigation start to every chart drawn
//!   (target: at most 1 s), and the `/api/overlay` request alone;
//! - `runlog import tensorboard` of a directory of 1M scalar points (written by `runlog export tensorboard`): points/s.
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
    sweep_page(&dir, if full { 1_000 } else { 20 }, if full { 5 } else { 1 });
    tb_import(&dir, if full { 1_000_000 } else { 20_000 }, if full { 3 } else { 1 });
    if let Some(k) = keep {
        println!("stores kept in {}", k.display());
    }
}

fn start_ui(store: &Path) -> (util::browser::Killed, String) {
    use std::io::BufRead as _;
    let mut ui = util::cmd(store)
        .args(["ui", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn runlog ui");
    let mut line = String::new();
    std::io::BufReader::new(ui.stdout.take().expect("stdout")).read_line(&mut line).expect("URL line");
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://")).expect("URL").trim_end_matches('/').to_string();
    (util::browser::Killed(ui), url)
}

/// `runs` runs of 10 metrics x 100 steps with three params; the experiment page's time to every chart drawn.
fn sweep_page(dir: &Path, runs: usize, trials: usize) {
    let store = dir.join(format!("sweep{runs}.db"));
    if !store.exists() {
        let t = Instant::now();
        let s = util::open_store(&store);
        for i in 0..runs {
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
        println!("made {runs} runs x 10 metrics x 100 steps in {:.1} s", t.elapsed().as_secs_f64());
    }
    let (_ui, url) = start_ui(&store);
    let overlay = format!("{url}/api/overlay?experiment=sweep&name=metric0&group=params.lr&points=400");
    let times: Vec<Duration> = (0..trials.max(3))
        .map(|_| {
            let t = Instant::now();
            let r = util::http("GET", &overlay, None);
            let e = t.elapsed();
            assert_eq!(r.status, 200, "{}", r.text());
            e
        })
        .collect();
    report(&format!("GET /api/overlay ({runs} runs, grouped by lr, 400 buckets)"), &times);
    let b = util::browser::Browser::start();
    let mut ms = Vec::new();
    for _ in 0..trials {
        b.goto(&format!("{url}/experiments/sweep"));
        let lines = b.js("return window.runlogCharts['sweep:parallel'].lines.length");
        assert_eq!(lines.as_u64(), Some(runs as u64), "every run drawn");
        ms.push(b.js("return parseInt(document.body.dataset.readyMs, 10)").as_u64().unwrap_or(0));
        println!("    milestones (ms): {}", b.js("return document.body.dataset.timings").as_str().unwrap_or("?"));
    }
    println!(
        "experiment page, {runs} runs x 10 metrics: navigation start to every chart drawn (headless Chromium)\n    \
         first {} ms, then {:?} ms",
        ms[0],
        &ms[1..]
    );
}

/// Exports a run of `points` scalar points (10 series) to a TensorBoard directory, then times importing it.
fn tb_import(dir: &Path, points: usize, trials: usize) {
    let src = dir.join(format!("tbsrc{points}.db"));
    let logs = dir.join(format!("tb{points}"));
    if !logs.exists() {
        let s = util::open_store(&src);
        let run = s.start_named_run("bench", "tb").expect("run");
        for i in 0..points {
            run.log_at(&format!("series{}", i % 10), (i / 10) as i64, (i as f64 * 1e-4).sin()).expect("log");
        }
        run.complete().expect("end");
        s.flush().expect("flush");
        drop(s);
        let o = util::runlog(&src, &["export", "tensorboard", "bench/tb", logs.to_str().expect("path")]);
        assert!(o.status.success(), "export: {}", util::stderr(&o));
    }
    let bytes: u64 =
        std::fs::read_dir(&logs).expect("dir").filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    let mut times = Vec::new();
    for k in 0..trials {
        let store = dir.join(format!("tbimport{points}-{k}.db"));
        let _ = std::fs::remove_file(&store);
        let t = Instant::now();
        let o = util::runlog(&store, &["import", "tensorboard", logs.to_str().expect("path")]);
        times.push(t.elapsed());
        assert!(o.status.success(), "import: {}", util::stderr(&o));
        assert!(util::stdout(&o).contains(&format!(": {points} scalar points")), "{}", util::stdout(&o));
        let _ = std::fs::remove_file(&store);
    }
    report(
        &format!("runlog import tensorboard ({points} points, {:.1} MB of event files)", bytes as f64 / 1e6),
        &times,
    );
    let best = times.iter().min().copied().unwrap_or_default().as_secs_f64();
    println!("    {:.2}M points/s (best trial)", points as f64 / best / 1e6);
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
