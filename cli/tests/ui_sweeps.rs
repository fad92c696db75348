//! The experiment (sweep) page in a real headless Chromium (issue 12): 200 runs, 150 at the top, ten of them parents
//! of five child runs each. The parallel-coordinates chart and the grouped overlay are drawn (and the overlay's mean, min and max
//! are the ones computed here from what was logged), a filter typed into the table narrows it and the charts, and
//! child runs stay right under their parents under every sort, folded by default. Screenshots go to
//! `test-artifacts/ui-sweep*.png`.

mod util;

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use util::browser::Browser;
use util::*;

const LRS: [f64; 5] = [0.1, 0.03, 0.01, 0.003, 0.001];
const STEPS: i64 = 30;

fn loss(i: usize, step: i64) -> f64 {
    let lr = LRS[i % 5];
    (1.0 + (i % 7) as f64 * 0.1) / (1.0 + lr * 100.0 * step as f64)
}

/// 150 top-level runs, the first 10 with 5 children each: `lr` cycles through [`LRS`], `optimizer` alternates.
fn sweep_store(dir: &Path) -> (std::path::PathBuf, Vec<(usize, f64, &'static str)>) {
    let path = dir.join("sweep.db");
    let store = open_store(&path);
    let mut made = Vec::new();
    let mut i = 0;
    let log = |run: &runlog_core::Run, i: usize| {
        run.log_param("lr", LRS[i % 5]).expect("param");
        run.log_param("optimizer", if i % 2 == 0 { "adam" } else { "sgd" }).expect("param");
        run.log_param("seed", i as i64).expect("param");
        for s in 0..STEPS {
            run.log("loss", loss(i, s)).expect("log");
        }
        run.log("acc", 1.0 - loss(i, STEPS - 1)).expect("log");
    };
    for round in 0..150 {
        let run = store.start_named_run("sweep", &format!("trial-{i:03}")).expect("run");
        log(&run, i);
        made.push((i, LRS[i % 5], if i % 2 == 0 { "adam" } else { "sgd" }));
        if round < 10 {
            for c in 0..5 {
                i += 1;
                let child = run.child(&format!("trial-{i:03}-child{c}")).expect("child");
                log(&child, i);
                child.complete().expect("end");
                made.push((i, LRS[i % 5], if i % 2 == 0 { "adam" } else { "sgd" }));
            }
        }
        run.complete().expect("end");
        i += 1;
    }
    store.flush().expect("flush");
    (path, made)
}

/// Asserts that the table's visible rows put every child right under its parent or an earlier sibling.
fn assert_tree_order(b: &Browser, what: &str) {
    let rows =
        b.js("return [...document.querySelectorAll('#runs tbody tr')].map(r => [r.dataset.run, r.dataset.parent])");
    let rows: Vec<(String, String)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r[0].as_str().expect("id").to_string(), r[1].as_str().expect("parent").to_string()))
        .collect();
    for (i, (id, parent)) in rows.iter().enumerate() {
        if parent.is_empty() {
            continue;
        }
        let p = rows.iter().position(|r| &r.0 == parent).unwrap_or_else(|| panic!("{what}: parent of {id} not shown"));
        assert!(p < i, "{what}: child {id} above its parent");
        assert!(rows[p + 1..i].iter().all(|r| &r.1 == parent), "{what}: {id} separated from its parent");
    }
}

fn set_search(b: &Browser, expr: &str) {
    let before = b.js("return document.body.dataset.loaded");
    b.js(&format!(
        "const i = document.getElementById('search'); i.value = {}; i.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter'}}))",
        Json::from(expr)
    ));
    b.wait(&format!("document.body.dataset.loaded !== {before}"), "the table to reload");
}

#[test]
fn experiment_page_with_200_runs() {
    let d = tempfile::tempdir().expect("temp dir");
    let (store, made) = sweep_store(d.path());
    assert_eq!(made.len(), 200);
    let (_ui, url) = start_ui(&store);
    let b = Browser::start();
    b.goto(&format!("{url}/experiments/sweep"));

    // Parallel coordinates: one line per run, axes for the varying params and the metric, pixels on the canvas.
    let pc = b.js("return window.runlogCharts['sweep:parallel']");
    assert_eq!(pc["lines"].as_array().expect("lines").len(), 200, "one line per run");
    let axes: Vec<&str> =
        pc["axes"].as_array().expect("axes").iter().map(|a| a["name"].as_str().expect("name")).collect();
    assert_eq!(axes, ["params.lr", "params.optimizer", "params.seed", "loss (last)"]);
    assert_eq!(pc["axes"][1]["values"], serde_json::json!(["adam", "sgd"]));
    let inked = b.js("const c = document.getElementById('parallel'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
                      let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n");
    assert!(inked.as_u64().expect("count") > 5_000, "the parallel-coordinates canvas is drawn: {inked} pixels");
    assert_eq!(b.js("return document.getElementById('parallel').dataset.lines"), "200");

    // Scatter: params.lr against the last loss of each run.
    let sc = b.js("return window.runlogCharts['sweep:scatter']");
    assert_eq!(sc["x"], "params.lr");
    assert_eq!(sc["points"].as_array().expect("points").len(), 200);

    // Overlay: grouped by lr; each group's mean, min and max at every step are what was logged.
    let ov = b.js("return window.runlogCharts['sweep:overlay']");
    let groups = ov["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 5, "{ov}");
    assert_eq!(ov["runs"], 200);
    for g in groups {
        let key: f64 = g["key"].as_str().expect("key").parse().expect("an lr");
        let members: Vec<usize> = made.iter().filter(|m| m.1 == key).map(|m| m.0).collect();
        assert_eq!(g["runs"], members.len() as u64, "runs of lr={key}");
        let pts = g["points"].as_array().expect("points");
        assert_eq!(pts.len(), STEPS as usize, "lr={key}");
        for p in pts {
            let step = p[0].as_i64().expect("step");
            let vals: Vec<f64> = members.iter().map(|&i| loss(i, step)).collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            assert!((p[1].as_f64().expect("mean") - mean).abs() < 1e-12, "mean of lr={key} at {step}");
            assert_eq!(
                (p[2].as_f64().expect("min"), p[3].as_f64().expect("max")),
                (lo, hi),
                "band of lr={key} at {step}"
            );
        }
    }
    assert_eq!(b.js("return window.runlogCharts['sweep:overlay'].series.length"), 5);
    b.screenshot("ui-sweep.png");

    // Folded by default: 150 top-level rows, no child visible.
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr').length"), 150);
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr[data-depth=\"1\"]').length"), 0);
    assert!(b.js("return document.getElementById('count').textContent").as_str().expect("text").contains("200 of 200"));

    // A filter typed into the table narrows the table and the charts.
    set_search(&b, "params.optimizer = 'adam' and metrics.loss < 0.2");
    let want: Vec<usize> = made.iter().filter(|m| m.2 == "adam" && loss(m.0, STEPS - 1) < 0.2).map(|m| m.0).collect();
    assert!(!want.is_empty() && want.len() < 100, "{} runs", want.len());
    assert!(
        b.js("return document.getElementById('count').textContent")
            .as_str()
            .expect("text")
            .starts_with(&format!("{} of 200", want.len())),
        "{}",
        b.js("return document.getElementById('count').textContent")
    );
    b.js("document.getElementById('expand-all').click()");
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr').length"), want.len() as u64);
    assert_eq!(b.js("return window.runlogCharts['sweep:parallel'].lines.length"), want.len() as u64);
    b.wait(&format!("window.runlogCharts['sweep:overlay'].runs === {}", want.len()), "the overlay to narrow");
    b.screenshot("ui-sweep-filtered.png");

    // A bad filter says where.
    set_search(&b, "metrics.loss <");
    let err = b.js("return document.getElementById('search-error').textContent");
    assert!(err.as_str().expect("text").contains("at column 15"), "{err}");
    assert!(err.as_str().expect("text").contains("metrics.loss <\n              ^"), "{err}");

    // Every sort, both directions: children stay under their parents (all unfolded).
    set_search(&b, "");
    // Runs unfolded under the filter stay unfolded; the other parents are folded until unfolded too.
    assert!(b.js("return document.querySelectorAll('#runs tbody tr').length").as_u64().expect("n") < 200);
    b.js("document.getElementById('expand-all').click()");
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr').length"), 200, "all unfolded");
    let keys = b.js("return [...document.querySelectorAll('#runs thead th[data-key]')].map(t => t.dataset.key)");
    let keys: Vec<String> =
        keys.as_array().expect("keys").iter().map(|k| k.as_str().expect("key").to_string()).collect();
    assert!(keys.contains(&"m:loss".to_string()) && keys.contains(&"name".to_string()), "{keys:?}");
    let mut orders = BTreeMap::new();
    for k in &keys {
        for _dir in 0..2 {
            let before = b.js("return document.body.dataset.loaded");
            b.js(&format!("document.querySelector('#runs thead th[data-key=\"{k}\"]').click()"));
            b.wait(&format!("document.body.dataset.loaded !== {before}"), "the sorted table");
            assert_tree_order(&b, k);
            orders.insert(
                format!("{k}{_dir}"),
                b.js("return document.querySelector('#runs tbody tr').dataset.run").to_string(),
            );
        }
    }
    assert!(orders.values().collect::<std::collections::BTreeSet<_>>().len() > 2, "sorts change the order: {orders:?}");
    // Sorting by loss ascending puts the lowest last loss first among top-level runs.
    let before = b.js("return document.body.dataset.loaded");
    b.js("document.querySelector('#runs thead th[data-key=\"m:loss\"]').click()");
    b.wait(&format!("document.body.dataset.loaded !== {before}"), "sorted by loss");
    let th = b.js("return document.querySelector('#runs thead th[data-key=\"m:loss\"]').textContent");
    let first = b.js("return document.querySelector('#runs tbody tr').dataset.run");
    let api = http(
        "GET",
        &format!(
            "{url}/api/runs?experiment=sweep&sort={}",
            if th.as_str().expect("th").ends_with('▲') { "metrics.loss" } else { "metrics.loss%20DESC" }
        ),
        None,
    )
    .json();
    assert_eq!(api[0]["id"], first, "the page shows the API's order");
    b.screenshot("ui-sweep-table.png");
}
