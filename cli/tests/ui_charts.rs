//! Charts people expect (issue 12), in a real headless Chromium: every scalar chart's x-axis by step, wall time or
//! relative time (checked against the points' stored timestamps), CSV and PNG downloads of a chart (read back and
//! parsed), and the compare page overlaying row metrics and tables of several runs, not only scalars, and drawing their
//! chart records (confusion matrices) side by side.

mod util;

use base64::Engine as _;
use serde_json::Value as Json;
use util::browser::Browser;
use util::*;

/// Clicks a download link and returns the text of what it points at (a blob: or data: address), read in the page.
fn download_text(b: &Browser, selector: &str) -> String {
    b.js(&format!("document.querySelector({}).click()", Json::from(selector)));
    let v = b.js(&format!(
        "const a = document.querySelector({}); const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send(); \
         return [a.getAttribute('download'), a.href.slice(0, 22), x.responseText]",
        Json::from(selector)
    ));
    assert!(v[0].as_str().is_some_and(|d| !d.is_empty()), "the link names a file: {v}");
    v[2].as_str().expect("text").to_string()
}

fn xy(v: &Json) -> Vec<(f64, f64)> {
    v.as_array().expect("points").iter().map(|p| (p[0].as_f64().expect("x"), p[1].as_f64().expect("y"))).collect()
}

#[test]
fn x_axis_modes_downloads_and_compare_of_rows_and_tables() {
    let d = tempfile::tempdir().expect("temp dir");
    let path = d.path().join("charts.db");
    let store = open_store(&path);
    let mut runs = Vec::new();
    for (k, name) in ["a", "b"].iter().enumerate() {
        let run = store.start_named_run("charts", name).expect("run");
        run.log_param("lr", [0.1, 0.01][k]).expect("param");
        for s in 0..20 {
            run.log("loss", (k + 1) as f64 / (s as f64 + 1.0)).expect("log");
            if s % 5 == 4 {
                // Points spread over wall time, so wall and relative time differ from steps.
                store.flush().expect("flush");
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
        }
        for e in 0..4i64 {
            run.log_row(
                "epoch",
                [("epoch", runlog_core::Value::from(e)), ("val", runlog_core::Value::from((k as i64 * 10 + e) as f64))],
            )
            .expect("row");
        }
        run.log_table(
            "pr",
            [
                ("recall", vec![0.1.into(), 0.5.into(), 0.9.into()]),
                ("precision", vec![runlog_core::Value::from(1.0 - k as f64 * 0.1), 0.8.into(), 0.4.into()]),
            ],
        )
        .expect("table");
        // A confusion matrix per run (a typed chart record), the second run's better.
        let m = if k == 0 { "[[3, 1], [2, 4]]" } else { "[[4, 0], [1, 5]]" };
        let cm = format!(
            r#"{{"schema_type": "confusion_matrix", "schema_version": "1.0.0",
                "data": {{"class_labels": ["cat", "dog"], "matrix": {m}}}}}"#
        );
        run.log_chart("cm", Some(runlog_core::ChartType::ConfusionMatrix), &cm).expect("chart");
        run.complete().expect("end");
        runs.push(run.id().to_string());
    }
    store.flush().expect("flush");
    let stored = store.reader().series(&runlog_core::RunId::parse(&runs[0]).expect("id"), "loss").expect("series");
    let (_ui, url) = start_ui(&path);
    let b = Browser::start();

    b.goto(&format!("{url}/runs/charts%2Fa"));
    b.wait("window.runlogCharts.loss && window.runlogCharts.loss.series.length === 1", "the loss chart");
    // The run's chart record drawn as a heat map on its page.
    b.wait("window.runlogCharts['chart:cm']", "the confusion matrix");
    assert_eq!(b.js("return window.runlogCharts['chart:cm'].matrix"), serde_json::json!([[3, 1], [2, 4]]));
    let by_step = xy(&b.js("return window.runlogCharts.loss.series[0].points"));
    assert_eq!(by_step, stored.iter().map(|p| (p.step as f64, p.value)).collect::<Vec<_>>());

    // Wall time: x is each point's own timestamp.
    b.js("const s = document.getElementById('xaxis'); s.value = 'wall'; s.dispatchEvent(new Event('change'))");
    b.wait("window.runlogCharts.loss.x === 'wall'", "wall time");
    let wall = xy(&b.js("return window.runlogCharts.loss.series[0].points"));
    assert_eq!(wall, stored.iter().map(|p| (p.timestamp_ms as f64, p.value)).collect::<Vec<_>>());
    assert!(wall.last().expect("last").0 - wall[0].0 >= 30.0, "the points span the pauses: {wall:?}");
    b.screenshot("ui-chart-wall.png");

    // Relative time: seconds since the series' first point.
    b.js("const s = document.getElementById('xaxis'); s.value = 'relative'; s.dispatchEvent(new Event('change'))");
    b.wait("window.runlogCharts.loss.x === 'relative'", "relative time");
    let rel = xy(&b.js("return window.runlogCharts.loss.series[0].points"));
    let t0 = stored[0].timestamp_ms;
    assert_eq!(rel, stored.iter().map(|p| ((p.timestamp_ms - t0) as f64 / 1000.0, p.value)).collect::<Vec<_>>());
    let readout_ok = b.js(
        "const c = document.querySelector('canvas[data-title=loss]'); const r = c.getBoundingClientRect(); \
         c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width / 2, clientY: r.top + 50, bubbles: true})); \
         return c.parentNode.querySelector('.readout').textContent",
    );
    assert!(readout_ok.as_str().expect("text").starts_with("relative (s) "), "{readout_ok}");

    // CSV of the drawn chart (relative time now), read back value by value.
    let csv = download_text(&b, "a[data-csv=loss]");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("series,relative (s),value"));
    let rows: Vec<(f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[0], "a");
            (f[1].parse().expect("x"), f[2].parse().expect("value"))
        })
        .collect();
    assert_eq!(rows, rel);
    // Back to steps: the CSV says step.
    b.js("const s = document.getElementById('xaxis'); s.value = 'step'; s.dispatchEvent(new Event('change'))");
    b.wait("window.runlogCharts.loss.x === 'step'", "steps again");
    assert!(download_text(&b, "a[data-csv=loss]").starts_with("series,step,value\na,0,1\na,1,0.5\n"));

    // PNG of the chart: a real PNG of the canvas' size.
    b.js("document.querySelector('a[data-png=loss]').click()");
    let href = b.js("return document.querySelector('a[data-png=loss]').href");
    let b64 = href.as_str().expect("href").strip_prefix("data:image/png;base64,").expect("a PNG data address");
    let png = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let img = tiny_skia::Pixmap::decode_png(&png).expect("decodes as PNG");
    assert_eq!(
        u64::from(img.width()),
        b.js("return document.querySelector('canvas[data-title=loss]').width").as_u64().expect("w")
    );

    // Compare overlays rows and tables, one series per run, over the columns both have.
    b.goto(&format!("{url}/compare?runs={},{}", runs[0], runs[1]));
    b.wait(
        "window.runlogCharts['epoch (rows)'] && window.runlogCharts['epoch (rows)'].series.length === 2",
        "rows overlaid",
    );
    let rows = b.js("return window.runlogCharts['epoch (rows)'].series");
    assert_eq!(xy(&rows[0]["points"]), [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]);
    assert_eq!(xy(&rows[1]["points"]), [(0.0, 10.0), (1.0, 11.0), (2.0, 12.0), (3.0, 13.0)]);
    b.wait(
        "window.runlogCharts['pr (table)'] && window.runlogCharts['pr (table)'].series.length === 2",
        "tables overlaid",
    );
    let t = b.js("return window.runlogCharts['pr (table)'].series.map(s => [s.label, s.points])");
    assert_eq!(t[0][0], "charts/a");
    assert_eq!(xy(&t[0][1]), [(0.1, 1.0), (0.5, 0.8), (0.9, 0.4)]);
    assert_eq!(xy(&t[1][1]), [(0.1, 0.9), (0.5, 0.8), (0.9, 0.4)]);
    assert_eq!(b.js("return window.runlogCharts.loss.series.length"), 2);
    let csv = download_text(&b, "a[data-csv='pr (table)']");
    assert_eq!(
        csv,
        "series,recall,value\ncharts/a,0.1,1\ncharts/a,0.5,0.8\ncharts/a,0.9,0.4\ncharts/b,0.1,0.9\ncharts/b,0.5,0.8\ncharts/b,0.9,0.4\n"
    );
    b.screenshot("ui-compare-rows-tables.png");

    // Confusion matrices side by side: one card, a heat map per run, each run's own matrix.
    for (id, m) in runs.iter().zip([[[3, 1], [2, 4]], [[4, 0], [1, 5]]]) {
        let key = Json::from(format!("compare:cm:{id}"));
        b.wait(&format!("window.runlogCharts[{key}]"), "a confusion matrix per run");
        assert_eq!(b.js(&format!("return window.runlogCharts[{key}].matrix")), serde_json::json!(m));
        assert_eq!(b.js(&format!("return window.runlogCharts[{key}].type")), "confusion_matrix");
    }
    assert_eq!(b.js("return document.querySelectorAll('[data-compare-chart=cm] [data-run] table.heatmap').length"), 2);
    b.screenshot("ui-compare-charts.png");

    // The sweep page's charts download too.
    b.goto(&format!("{url}/experiments/charts"));
    let csv = download_text(&b, "a[data-csv=scatter]");
    assert_eq!(csv, "params.lr,loss\n0.01,0.1\n0.1,0.05\n", "newest run first, as the table: {csv}");
    let csv = download_text(&b, "a[data-csv=parallel]");
    assert_eq!(csv.lines().count(), 3, "a header and one line per run: {csv}");
    assert!(csv.starts_with("run,name,params.lr,loss (last)\n"), "{csv}");
}
