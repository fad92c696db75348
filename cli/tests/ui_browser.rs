//! The web UI end to end: `runlog ui` on a temp store, its JSON API over real HTTP, and its pages in a real headless
//! Chromium driven through chromedriver (WebDriver over loopback). Screenshots of the main pages are saved under
//! `test-artifacts/` at the workspace root.
//!
//! Needs Debian's `chromium` and `chromium-driver` (installed by scripts/test-env.sh); paths can be overridden with
//! RUNLOG_CHROMIUM and RUNLOG_CHROMEDRIVER. A missing browser fails the test with a message saying so.

mod util;

use serde_json::{Value as Json, json};
use util::browser::Browser;
use util::*;

fn points(v: &Json) -> Vec<(i64, f64)> {
    v.as_array()
        .expect("points array")
        .iter()
        .map(|p| (p[0].as_i64().expect("step"), p[1].as_f64().expect("value")))
        .collect()
}

#[test]
fn api_serves_runs_series_and_errors() {
    let d = tempfile::tempdir().expect("temp dir");
    let f = fixture(d.path());
    // A long series: downsampling must keep its extremes.
    let store = util::open_store(&f.store);
    let long = store.start_named_run("mnist", "long").expect("run");
    for i in 0..200_000i64 {
        let v = match i {
            123_456 => 500.0,
            150_001 => -300.0,
            _ => (i as f64 * 0.001).sin(),
        };
        long.log("wave", v).expect("log");
    }
    long.complete().expect("end");
    store.flush().expect("flush");
    let (_ui, url) = start_ui(&f.store);

    let runs = http("GET", &format!("{url}/api/runs"), None).json();
    assert_eq!(runs.as_array().expect("array").len(), 4);
    let run = http("GET", &format!("{url}/api/run?run=mnist%2Fadam"), None).json();
    assert_eq!(run["run"]["id"], f.adam.as_str());
    let s = http("GET", &format!("{url}/api/series?run={}&name=loss", f.adam), None).json();
    let expect: Vec<(i64, f64)> = (0..10).map(|i| (i, 1.0 / (i as f64 + 1.0))).collect();
    assert_eq!(points(&s["points"]), expect);
    assert_eq!(s["downsampled"], false);

    let w = http("GET", &format!("{url}/api/series?run=mnist/long&name=wave&points=500"), None).json();
    assert_eq!(w["downsampled"], true);
    assert_eq!(w["count"], 200_000);
    let wp = points(&w["points"]);
    assert!(wp.len() <= 1500, "{} points", wp.len());
    assert!(wp.contains(&(123_456, 500.0)) || wp.iter().any(|p| p.1 == 500.0), "max kept");
    assert!(wp.iter().any(|p| p.1 == -300.0), "min kept");
    let z = http("GET", &format!("{url}/api/series?run=mnist/long&name=wave&from=150000&to=150010"), None).json();
    assert_eq!(points(&z["points"]).len(), 11);
    assert!(points(&z["points"]).contains(&(150_001, -300.0)));

    let imgs = http("GET", &format!("{url}/api/images?run={}", f.adam), None).json();
    let hash = imgs[0]["hash"].as_str().expect("hash");
    let blob = http("GET", &format!("{url}/api/blob/{hash}"), None);
    assert_eq!(blob.header("content-type"), Some("image/png"));
    assert!(blob.body.starts_with(b"\x89PNG"));

    let rows = http("GET", &format!("{url}/api/rows?run={}&name=epoch", f.adam), None).json();
    assert_eq!(rows["columns"], json!(["epoch", "val_loss"]));
    assert_eq!(rows["rows"][2], json!([2, 0.5]));
    let t = http("GET", &format!("{url}/api/table?run={}&name=pr", f.adam), None).json();
    assert_eq!(t["rows"], json!([[1.0, 0.1], [0.8, 0.6]]));

    for bad in ["/api/run?run=nope", "/api/series?run=nope&name=loss", "/runs/nope"] {
        let r = http("GET", &format!("{url}{bad}"), None);
        assert_eq!(r.status, 404, "{bad}");
    }
    let r = http("GET", &format!("{url}/api/series?run={}&name=nothing", f.adam), None);
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().expect("error").contains("nothing"));
    let r = http("GET", &format!("{url}/api/blob/zz"), None);
    assert_eq!(r.status, 400);
    let page = http("GET", &format!("{url}/"), None).text();
    assert!(page.contains("/assets/app.js") && !page.contains("https://"), "assets are local");
    assert!(http("GET", &format!("{url}/assets/app.js"), None).text().contains("class Chart"));
}

#[test]
fn ui_in_a_real_browser() {
    let d = tempfile::tempdir().expect("temp dir");
    let f = fixture(d.path());
    let (_ui, url) = start_ui(&f.store);
    let b = Browser::start();

    // Runs table: all runs, sorting, filtering.
    b.goto(&format!("{url}/"));
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr').length"), 3);
    // Sorting asks the server (the same code as `runlog ls --sort`): wait for the answer.
    b.js("document.querySelector('th[data-key=name]').click()");
    b.wait("document.querySelector('#runs tbody tr td:nth-child(2)').textContent === 'adam'", "sorted by name");
    b.js("document.querySelector('th[data-key=name]').click()");
    b.wait(
        "document.querySelector('#runs tbody tr td:nth-child(2)').textContent === 'sgd'",
        "sorted by name, reversed",
    );
    b.js("const i = document.getElementById('filter'); i.value = 'cifar'; i.dispatchEvent(new Event('input'))");
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr').length"), 1);
    b.js("const i = document.getElementById('filter'); i.value = ''; i.dispatchEvent(new Event('input'))");
    b.js(
        "const s = document.getElementById('status-filter'); s.value = 'failed'; s.dispatchEvent(new Event('change'))",
    );
    assert_eq!(b.js("return document.querySelector('#runs tbody tr').dataset.run"), f.sgd.as_str());
    b.js("const s = document.getElementById('status-filter'); s.value = ''; s.dispatchEvent(new Event('change'))");
    b.screenshot("ui-runs.png");

    // Run page: the chart draws exactly the logged points; images load; params show.
    b.goto(&format!("{url}/runs/mnist%2Fadam"));
    b.wait("window.runlogCharts.loss && window.runlogCharts.loss.series.length === 1", "the loss chart");
    let drawn = points(&b.js("return window.runlogCharts.loss.series[0].points"));
    let expect: Vec<(i64, f64)> = (0..10).map(|i| (i, 1.0 / (i as f64 + 1.0))).collect();
    assert_eq!(drawn, expect);
    let attr: Json = serde_json::from_str(
        b.js("return document.querySelector('canvas[data-title=loss]').dataset.points").as_str().expect("attr"),
    )
    .expect("data-points is JSON");
    assert_eq!(points(&attr), expect);
    assert_eq!(points(&b.js("return window.runlogCharts.acc.series[0].points")), [(0, 0.5), (5, 0.75), (9, 0.9)]);
    b.wait("window.runlogCharts['epoch (rows)'] || window.runlogCharts.epoch", "the row chart");
    b.wait("[...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)", "images");
    assert_eq!(b.js("return document.querySelector('#gallery img').naturalWidth"), 16);
    assert!(
        b.js("return document.getElementById('gallery').textContent").as_str().expect("text").contains("blue sample")
    );
    b.js("const s = document.querySelector('#gallery input[type=range]'); s.value = '0'; s.dispatchEvent(new Event('input'))");
    b.wait("document.querySelector('#gallery img').complete", "image at step 0");
    assert!(
        b.js("return document.getElementById('gallery').textContent").as_str().expect("text").contains("red sample")
    );
    let params = b.js("return document.getElementById('params').textContent");
    assert!(params.as_str().expect("text").contains("0.001"), "{params}");
    assert!(
        b.js("return document.getElementById('logs').textContent").as_str().expect("text").contains("epoch 1 done")
    );
    // Hover readout, log scale, smoothing.
    b.js("const c = document.querySelector('canvas[data-title=loss]'); const r = c.getBoundingClientRect(); \
          c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width / 2, clientY: r.top + 50, bubbles: true}))");
    let readout = b.js(
        "return document.querySelector('canvas[data-title=loss]').parentNode.querySelector('.readout').textContent",
    );
    assert!(readout.as_str().expect("text").contains("step"), "{readout}");
    b.js("document.getElementById('logscale').click()");
    assert_eq!(b.js("return window.runlogCharts.loss.logY"), true);
    b.js("const s = document.getElementById('smoothing'); s.value = '0.6'; s.dispatchEvent(new Event('input'))");
    assert_eq!(b.js("return window.runlogCharts.loss.smoothing"), 0.6);
    b.screenshot("ui-run.png");
    b.js("window.scrollTo(0, document.getElementById('gallery').offsetTop - 40)");
    b.screenshot("ui-run-images-logs.png");
    b.js("window.scrollTo(0, 0)");
    // Zoom by dragging across the middle of the chart: the chart asks the server for that step range.
    b.js("const c = document.querySelector('canvas[data-title=loss]'); const r = c.getBoundingClientRect(); \
          const ev = (t, x) => c.dispatchEvent(new MouseEvent(t, {clientX: r.left + x, clientY: r.top + 60, bubbles: true})); \
          ev('mousedown', r.width * 0.45); ev('mousemove', r.width * 0.75); ev('mouseup', r.width * 0.75);");
    b.wait("window.runlogCharts.loss.view && window.runlogCharts.loss.series[0].points.length < 10", "zoomed series");
    let z = points(&b.js("return window.runlogCharts.loss.series[0].points"));
    assert!(!z.is_empty() && z.iter().all(|p| p.0 >= 1 && p.0 <= 9), "{z:?}");

    // Compare: two runs overlaid.
    b.goto(&format!("{url}/compare?runs={},{}", f.adam, &f.sgd[..20]));
    b.wait("window.runlogCharts.loss && window.runlogCharts.loss.series.length === 2", "two series");
    let labels = b.js("return window.runlogCharts.loss.series.map(s => s.label)");
    assert_eq!(labels, json!(["mnist/adam", "mnist/sgd"]));
    let sgd: Vec<(i64, f64)> = (0..5).map(|i| (i, 2.0 - i as f64 / 10.0)).collect();
    assert_eq!(points(&b.js("return window.runlogCharts.loss.series[1].points")), sgd);
    assert_eq!(points(&b.js("return window.runlogCharts.loss.series[0].points")), expect);
    b.screenshot("ui-compare.png");
    // Add a third run from the picker, then remove the first.
    b.wait(&format!("document.querySelector('#add-run option[value=\"{}\"]')", f.base), "the run picker");
    b.js(&format!(
        "const s = document.getElementById('add-run'); s.value = '{}'; s.dispatchEvent(new Event('change'))",
        f.base
    ));
    b.wait("new URLSearchParams(location.search).get('runs').split(',').length === 3 && document.body.dataset.ready === '1'", "three runs compared");
    b.js(&format!("document.querySelector('button[data-remove=\"{}\"]').click()", f.adam));
    b.wait("new URLSearchParams(location.search).get('runs').split(',').length === 2 && document.body.dataset.ready === '1' && window.runlogCharts.loss", "two runs left");
    assert_eq!(b.js("return window.runlogCharts.loss.series.map(s => s.label)"), json!(["mnist/sgd"]));

    // A bad run id: a clear page, not a crash.
    b.goto(&format!("{url}/runs/0123456789abcdef"));
    let text = b.js("return document.getElementById('error').textContent");
    assert!(text.as_str().expect("text").contains("Run not found"), "{text}");
    assert!(text.as_str().expect("text").contains("0123456789abcdef"), "{text}");
    b.screenshot("ui-bad-run.png");
}

#[test]
fn a_running_run_refreshes_live() {
    let d = tempfile::tempdir().expect("temp dir");
    let path = d.path().join("live.db");
    let store = util::open_store(&path);
    let run = store.start_named_run("live", "r").expect("run");
    for i in 0..3 {
        run.log("loss", i as f64).expect("log");
    }
    store.flush().expect("flush");
    let (_ui, url) = start_ui(&path);
    let b = Browser::start();
    b.goto(&format!("{url}/runs/live%2Fr"));
    b.wait("window.runlogCharts.loss && window.runlogCharts.loss.series[0].points.length === 3", "3 points");
    for i in 3..7 {
        run.log("loss", i as f64).expect("log");
    }
    store.flush().expect("flush");
    b.wait("window.runlogCharts.loss.series[0].points.length === 7", "the page to pick up new points");
    run.complete().expect("end");
    store.flush().expect("flush");
    b.wait("document.querySelector('.status').textContent === 'completed'", "the page to show the run completed");
}
