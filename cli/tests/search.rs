//! Run search and sort (issue 12): one table of MLflow search expressions and the runs they select, and one of bad
//! expressions and the column their error points at, each run through `runlog ls --filter --json` and through the
//! UI's `/api/runs?filter=` alike, so the two can never disagree. Then sorts: children stay right under their parent
//! whatever the key and direction, in both.

mod util;

use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::Path;
use util::*;

/// A store with a small sweep: params of each type, tags (one with a space in its name), metrics (one with a space),
/// every end status, two child runs under `adam-1`, and a run in another experiment.
fn sweep_store(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sweep.db");
    let store = open_store(&path);
    // Runs started in the same millisecond would tie under `start_time`; a pause between starts keeps the order.
    let tick = || std::thread::sleep(std::time::Duration::from_millis(3));
    let a = store.start_named_run("sweep", "adam-1").expect("run");
    a.log_param("lr", 0.1).expect("param");
    a.log_param("optimizer", "adam").expect("param");
    a.log_param("batch", 32i64).expect("param");
    a.set_tag("stage", "final").expect("tag");
    for v in [0.9, 0.5, 0.2] {
        a.log("loss", v).expect("log");
    }
    a.log("acc", 0.9).expect("log");
    for (name, loss) in [("a-child-1", 0.1), ("a-child-2", 0.95)] {
        tick();
        let c = a.child(name).expect("child");
        c.log_param("fold", name.trim_start_matches("a-child-")).expect("param");
        c.log("loss", loss).expect("log");
        c.complete().expect("end");
    }
    a.complete().expect("end");
    tick();
    let b = store.start_named_run("sweep", "sgd").expect("run");
    b.log_param("lr", 0.01).expect("param");
    b.log_param("optimizer", "sgd").expect("param");
    b.log_param("batch", 64i64).expect("param");
    b.set_tag("stage", "dev").expect("tag");
    b.log("loss", 0.5).expect("log");
    b.fail("diverged").expect("end");
    tick();
    let c = store.start_named_run("sweep", "Adam-2").expect("run");
    c.log_param("lr", 0.001).expect("param");
    c.log_param("optimizer", "adam").expect("param");
    c.set_tag("my tag", "x y").expect("tag");
    c.log("loss", 0.25).expect("log");
    c.log("train loss", 3.0).expect("log");
    c.complete().expect("end");
    tick();
    let d = store.start_named_run("sweep", "stopped").expect("run");
    d.cancel().expect("end");
    tick();
    let e = store.start_named_run("other", "other-1").expect("run");
    e.log("loss", 0.3).expect("log");
    e.complete().expect("end");
    store.flush().expect("flush");
    path
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn names(list: &Json) -> Vec<String> {
    list.as_array().expect("an array").iter().map(|r| r["name"].as_str().expect("name").to_string()).collect()
}

fn cli_ls(store: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ls", "--json"];
    all.extend_from_slice(args);
    let out = ok(&runlog(store, &all));
    names(&serde_json::from_str(&out).expect("ls --json is JSON"))
}

const ALL: &[&str] = &["adam-1", "a-child-1", "a-child-2", "sgd", "Adam-2", "stopped", "other-1"];

/// (expression, the runs it selects).
const SELECTS: &[(&str, &[&str])] = &[
    ("", ALL),
    ("metrics.loss < 0.3", &["adam-1", "a-child-1", "Adam-2"]),
    ("metrics.loss < 0.3 and params.lr = '0.1'", &["adam-1"]),
    ("metrics.loss <= 0.25 AND metrics.loss >= 0.2", &["adam-1", "Adam-2"]),
    ("metrics.loss = 0.5", &["sgd"]),
    ("metrics.loss != 0.5", &["adam-1", "a-child-1", "a-child-2", "Adam-2", "other-1"]),
    ("metrics.acc > 0", &["adam-1"]),
    ("metrics.missing > 0", &[]),
    ("metrics.`train loss` = 3", &["Adam-2"]),
    ("metrics.\"train loss\" >= 3", &["Adam-2"]),
    ("params.optimizer = 'adam'", &["adam-1", "Adam-2"]),
    ("params.optimizer != 'adam'", &["sgd"]),
    ("params.lr > 0.005", &["adam-1", "sgd"]),
    ("params.lr = 0.001", &["Adam-2"]),
    ("params.batch >= 64", &["sgd"]),
    ("params.batch = '32'", &["adam-1"]),
    ("params.fold in ('1', '3')", &["a-child-1"]),
    ("params.optimizer like 'a%'", &["adam-1", "Adam-2"]),
    ("tags.stage = 'final'", &["adam-1"]),
    ("tags.stage != 'final'", &["sgd"]),
    ("tags.`my tag` = 'x y'", &["Adam-2"]),
    ("tags.\"my tag\" like 'x_y'", &["Adam-2"]),
    ("attributes.status = 'FINISHED'", &["adam-1", "a-child-1", "a-child-2", "Adam-2", "other-1"]),
    ("status = 'failed'", &["sgd"]),
    ("attributes.status != 'completed'", &["sgd", "stopped"]),
    ("attributes.status in ('failed', 'KILLED')", &["sgd", "stopped"]),
    ("attributes.status not in ('completed')", &["sgd", "stopped"]),
    ("attributes.run_name like 'adam%'", &["adam-1"]),
    ("attributes.run_name ilike 'adam%'", &["adam-1", "Adam-2"]),
    ("name like '%child%'", &["a-child-1", "a-child-2"]),
    ("experiment = 'other'", &["other-1"]),
    ("attributes.start_time > 0 and attributes.duration >= 0", ALL),
    ("attributes.end_time > 0 and metrics.loss > 0.9", &["a-child-2"]),
];

/// (expression, column of the error, text in the message).
const REJECTS: &[(&str, usize, &str)] = &[
    ("metrics.loss ~ 3", 14, "expected an operator"),
    ("metrics.loss < 'x'", 16, "is a number"),
    ("metrics.loss like '%'", 14, "is a number"),
    ("params.lr = ", 13, "expected a value"),
    ("params.lr = 0.1 or params.lr = 0.01", 17, "\"and\""),
    ("params.lr = 0.1 and", 20, "expected a key"),
    ("metricz.loss < 1", 1, "unknown key type \"metricz\""),
    ("attributes.colour = 'red'", 1, "unknown attribute \"colour\""),
    ("loss < 1", 1, "\"loss\" is not an attribute"),
    ("status = 'done'", 10, "unknown status 'done'"),
    ("tags.stage = 'final", 20, "closing quote"),
    ("attributes.name > 'a'", 17, "is text"),
    ("params.lr in 0.1", 14, "parenthesized list"),
    ("tags.stage like 3", 17, "quoted pattern"),
];

#[test]
fn filters_select_the_same_runs_in_the_cli_and_the_ui_api() {
    let d = tempfile::tempdir().expect("temp dir");
    let store = sweep_store(d.path());
    let (_ui, url) = start_ui(&store);
    for (expr, want) in SELECTS {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        let cli: BTreeSet<String> = cli_ls(&store, &["--filter", expr]).into_iter().collect();
        assert_eq!(cli, want, "runlog ls --filter {expr:?}");
        let r = http("GET", &format!("{url}/api/runs?filter={}", enc(expr)), None);
        assert_eq!(r.status, 200, "{expr}: {}", r.text());
        let api: BTreeSet<String> = names(&r.json()).into_iter().collect();
        assert_eq!(api, want, "/api/runs?filter={expr:?}");
    }
    // The table view agrees too, and says so when nothing matches.
    let table = ok(&runlog(&store, &["ls", "--filter", "params.optimizer = 'sgd'"]));
    assert!(table.contains("sgd") && !table.contains("adam-1"), "{table}");
    assert_eq!(ok(&runlog(&store, &["ls", "--filter", "metrics.missing > 0"])).trim(), "no runs match");
}

#[test]
fn bad_expressions_name_the_column_in_the_cli_and_the_ui_api() {
    let d = tempfile::tempdir().expect("temp dir");
    let store = sweep_store(d.path());
    let (_ui, url) = start_ui(&store);
    for (expr, column, needle) in REJECTS {
        let o = runlog(&store, &["ls", "--filter", expr]);
        fails(&o, 2, &format!("at column {column}: "));
        assert!(stderr(&o).contains(needle), "{expr}: {}", stderr(&o));
        let r = http("GET", &format!("{url}/api/runs?filter={}", enc(expr)), None);
        assert_eq!(r.status, 400, "{expr}");
        let e = r.json();
        assert_eq!(e["column"], *column as u64, "{expr}: {e}");
        assert_eq!(e["field"], "filter");
        assert!(e["error"].as_str().expect("error").contains(needle), "{expr}: {e}");
    }
    let o = runlog(&store, &["ls", "--sort", "metrics.loss sideways"]);
    fails(&o, 2, "--sort \"metrics.loss sideways\" at column 14: expected a comma, asc, desc, or the end");
    let r = http("GET", &format!("{url}/api/runs?sort={}", enc("metrics.loss, nope")), None);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["column"], 15);
    assert_eq!(r.json()["field"], "sort");
}

/// Every child run comes right after its parent (or after an earlier sibling's subtree).
fn assert_children_under_parents(list: &Json, what: &str) {
    let runs = list.as_array().expect("array");
    for (i, r) in runs.iter().enumerate() {
        if let Some(p) = r["parent"].as_str() {
            let pi = runs.iter().position(|x| x["id"] == p);
            let Some(pi) = pi else { continue };
            assert!(pi < i, "{what}: child {} listed before its parent", r["name"]);
            for between in &runs[pi + 1..i] {
                assert_eq!(
                    between["parent"].as_str(),
                    Some(p),
                    "{what}: {} separates {} from its parent",
                    between["name"],
                    r["name"]
                );
            }
        }
    }
}

#[test]
fn sorts_keep_children_under_their_parent() {
    let d = tempfile::tempdir().expect("temp dir");
    let store = sweep_store(d.path());
    let (_ui, url) = start_ui(&store);
    let cases: &[(&str, &[&str])] = &[
        ("metrics.loss", &["adam-1", "a-child-1", "a-child-2", "Adam-2", "other-1", "sgd", "stopped"]),
        ("metrics.loss DESC", &["sgd", "other-1", "Adam-2", "adam-1", "a-child-2", "a-child-1", "stopped"]),
        ("-metrics.loss", &["sgd", "other-1", "Adam-2", "adam-1", "a-child-2", "a-child-1", "stopped"]),
        ("attributes.name", &["Adam-2", "adam-1", "a-child-1", "a-child-2", "other-1", "sgd", "stopped"]),
        ("name desc", &["stopped", "sgd", "other-1", "adam-1", "a-child-2", "a-child-1", "Adam-2"]),
        ("start_time DESC", &["other-1", "stopped", "Adam-2", "sgd", "adam-1", "a-child-2", "a-child-1"]),
        ("params.lr", &["Adam-2", "sgd", "adam-1", "a-child-1", "a-child-2", "stopped", "other-1"]),
        ("tags.stage, -metrics.loss", &["sgd", "adam-1", "a-child-2", "a-child-1", "other-1", "Adam-2", "stopped"]),
    ];
    for (sort, want) in cases {
        let cli_json = ok(&runlog(&store, &["ls", "--json", "--sort", sort]));
        let cli: Json = serde_json::from_str(&cli_json).expect("JSON");
        assert_eq!(names(&cli), *want, "runlog ls --sort {sort:?}");
        assert_children_under_parents(&cli, sort);
        let api = http("GET", &format!("{url}/api/runs?sort={}", enc(sort)), None).json();
        assert_eq!(names(&api), *want, "/api/runs?sort={sort:?}");
        assert_children_under_parents(&api, sort);
        let depth: Vec<u64> =
            api.as_array().expect("array").iter().map(|r| r["depth"].as_u64().expect("depth")).collect();
        let children: Vec<u64> =
            api.as_array().expect("array").iter().map(|r| r["children"].as_u64().expect("children")).collect();
        for (i, n) in names(&api).iter().enumerate() {
            assert_eq!(depth[i], u64::from(n.starts_with("a-child")), "{sort}: depth of {n}");
            assert_eq!(children[i], if n == "adam-1" { 2 } else { 0 }, "{sort}: children of {n}");
        }
    }
    // A child whose parent is filtered out stands on its own.
    assert_eq!(cli_ls(&store, &["--filter", "metrics.loss < 0.15", "--sort", "name"]), ["a-child-1"]);
    // The table shows children indented under the parent.
    let table = ok(&runlog(&store, &["ls", "-e", "sweep", "--sort", "-metrics.loss"]));
    let lines: Vec<&str> = table.lines().collect();
    let at = |n: &str| lines.iter().position(|l| l.contains(n)).unwrap_or_else(|| panic!("{n} in {table}"));
    assert!(at("adam-1") + 1 == at("└ a-child-2") && at("└ a-child-2") + 1 == at("└ a-child-1"), "{table}");
}
