//! Benchmarks of the CLI and the UI, reported as figures (no assertions):
//! - `runlog ls` (table and `--json`) on a store with 1,000 runs (target: at most 50 ms);
//! - the first chart of a 10M-point series in `runlog ui`: the downsampled series request, and (when Chromium is
//!   installed) the run page in headless Chromium from navigation start to the chart drawn (target: at most 1 s).
//!
//! `cargo bench -p runlog-cli --bench cli_bench` runs them; add `-- --keep DIR` to keep the stores for hyperfine, e.g.
//! `hyperfine -N --warmup 3 'target/release/runlog --store DIR/runs1000.db ls'`. Under `cargo test` (no `--bench`
//! argument) it runs a tiny version, so the test suite stays fast.

#[path = "../tests/util/mod.rs"]
mod util;

use runlog_core::Value;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");
    let (runs, points, trials) = if full { (1_000, 10_000_000, 20) } else { (20, 20_000, 2) };

    let ls_store = dir.join(format!("runs{runs}.db"));
    if !ls_store.exists() {
        let t = Instant::now();
        make_runs(&ls_store, runs);
        println!("made {runs} runs in {:.1} s", t.elapsed().as_secs_f64());
    }
    for args in [&["ls"][..], &["ls", "--json"]] {
        let times: Vec<Duration> = (0..trials)
            .map(|_| {
                let t = Instant::now();
                let o = util::runlog(&ls_store, args);
                let e = t.elapsed();
                assert!(o.status.success(), "runlog {args:?} failed: {}", util::stderr(&o));
                e
            })
            .collect();
        report(&format!("runlog {} ({runs} runs)", args.join(" ")), &times);
    }

    let big = dir.join(format!("series{points}.db"));
    if !big.exists() {
        let t = Instant::now();
        let store = util::open_store(&big);
        let run = store.start_named_run("bench", "long").expect("run");
        for i in 0..points {
            run.log("loss", (i as f64 * 1e-5).sin() + (i % 97) as f64 * 1e-3).expect("log");
        }
        run.complete().expect("end");
        store.flush().expect("flush");
        println!("made a {points}-point series in {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut ui = util::cmd(&big)
        .args(["ui", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn runlog ui");
    let mut line = String::new();
    std::io::BufReader::new(ui.stdout.take().expect("stdout")).read_line(&mut line).expect("URL line");
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://")).expect("URL").trim_end_matches('/').to_string();
    let series = format!("{url}/api/series?run=bench%2Flong&name=loss&points=1400");
    let times: Vec<Duration> = (0..trials.max(5))
        .map(|_| {
            let t = Instant::now();
            let r = util::http("GET", &series, None);
            let e = t.elapsed();
            assert_eq!(r.status, 200, "{}", r.text());
            e
        })
        .collect();
    let body = util::http("GET", &series, None).json();
    println!(
        "series endpoint: {} points in store, {} points sent",
        body["count"],
        body["points"].as_array().map_or(0, Vec::len)
    );
    report(&format!("GET /api/series ({points} points, 1400 buckets)"), &times);
    match page_load(&url) {
        Some(ms) if !ms.is_empty() => println!(
            "{:<48} first {} ms, then {:?} ms (navigation start to chart drawn, headless Chromium)",
            "run page, first chart drawn",
            ms[0],
            &ms[1..]
        ),
        _ => println!("run page first chart: skipped (no /usr/bin/chromium or /usr/bin/chromedriver)"),
    }
    let _ = ui.kill();
    let _ = ui.wait();
    if let Some(k) = keep {
        println!("stores kept in {}", k.display());
    }
}

fn report(what: &str, times: &[Duration]) {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "{what:<48} first {:>7.1} ms  min {:>7.1} ms  median {:>7.1} ms",
        times[0].as_secs_f64() * 1e3,
        ms[0],
        ms[ms.len() / 2]
    );
}

fn make_runs(path: &Path, n: usize) {
    let store = util::open_store(path);
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

/// Loads the run page in headless Chromium and returns the page's own navigation-start-to-drawn time.
fn page_load(url: &str) -> Option<Vec<u64>> {
    let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
    if !Path::new(chromium).exists() || !Path::new(driver).exists() {
        return None;
    }
    let port = util::free_port();
    let mut d =
        Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().ok()?;
    let caps = serde_json::json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": chromium,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", format!("--user-data-dir={}", profile.path().display())]}}}});
    let v = util::http("POST", &format!("{base}/session"), Some(&caps)).json();
    let session = v["value"]["sessionId"].as_str()?.to_string();
    let s = format!("{base}/session/{session}");
    let js = |script: &str| {
        util::http("POST", &format!("{s}/execute/sync"), Some(&serde_json::json!({"script": script, "args": []})))
            .json()["value"]
            .clone()
    };
    let mut all = Vec::new();
    for _ in 0..3 {
        util::http("POST", &format!("{s}/url"), Some(&serde_json::json!({"url": format!("{url}/runs/bench%2Flong")})));
        let t = Instant::now();
        while js("return document.body.dataset.ready === '1' && !!window.runlogCharts.loss") != true
            && t.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let ms = js("return parseInt(document.body.dataset.readyMs, 10)").as_u64();
        all.extend(ms);
    }
    let _ = util::http("DELETE", &s, None);
    let _ = d.kill();
    let _ = d.wait();
    Some(all)
}
