//! End-to-end tests of the `runlog` subcommands through the real binary on temp stores: output, JSON, CSV, and bad
//! input (unknown run, ambiguous prefix, a file that is not SQLite, a newer store, a missing file) that must give a
//! one-line error, a non-zero exit code, and write nothing.

mod util;

use runlog_core::{Reader, RunStatus};
use util::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn ls_lists_experiments_runs_status_and_last_values() {
    let d = tmp();
    let f = fixture(d.path());
    let out = ok(&runlog(&f.store, &["ls"]));
    assert!(out.contains("mnist") && out.contains("cifar"), "{out}");
    let adam = out.lines().find(|l| l.contains("adam")).expect("adam line");
    assert!(adam.contains("completed") && adam.contains("0.1"), "last loss 0.1 shown: {adam}");
    let sgd = out.lines().find(|l| l.contains("sgd")).expect("sgd line");
    assert!(sgd.contains("failed") && sgd.contains("1.6"), "{sgd}");
    assert!(!out.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn ls_json_is_stable_and_filters_work() {
    let d = tmp();
    let f = fixture(d.path());
    let v: serde_json::Value = serde_json::from_str(&ok(&runlog(&f.store, &["ls", "--json"]))).expect("json");
    let runs = v.as_array().expect("array");
    assert_eq!(runs.len(), 3);
    for r in runs {
        for k in ["id", "experiment", "name", "status", "started_at", "ended_at"] {
            assert!(r.get(k).is_some(), "{k} in {r}");
        }
    }
    let adam = runs.iter().find(|r| r["name"] == "adam").expect("adam");
    assert_eq!(adam["id"], f.adam.as_str());
    assert_eq!(adam["status"], "completed");
    assert_eq!(adam["metrics"]["loss"]["last"], 0.1);
    assert_eq!(adam["metrics"]["loss"]["count"], 10);
    assert_eq!(adam["params"]["lr"], 0.001);

    let only = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls", "--json"];
        a.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&ok(&runlog(&f.store, &a))).expect("json");
        v.as_array().expect("array").iter().map(|r| r["name"].as_str().expect("name").to_string()).collect()
    };
    assert_eq!(only(&["--experiment", "mnist"]), ["adam", "sgd"]);
    assert_eq!(only(&["--status", "failed"]), ["sgd"]);
    assert_eq!(only(&["--tag", "stage=final"]), ["adam"]);
    assert_eq!(only(&["--tag", "stage=other"]), Vec::<String>::new());
    assert_eq!(only(&["--tag", "stage"]), ["adam"]);
}

#[test]
fn show_prints_params_tags_metrics_images_files_and_log() {
    let d = tmp();
    let f = fixture(d.path());
    let out = ok(&runlog(&f.store, &["show", "mnist/adam"]));
    for needle in
        ["mnist/adam", "completed", "lr", "0.001", "stage", "final", "loss", "samples", "config.yaml", "epoch 1 done"]
    {
        assert!(out.contains(needle), "{needle} in {out}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&ok(&runlog(&f.store, &["show", &f.sgd[..12], "--json"]))).expect("json");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["reason"], "diverged");
    assert_eq!(v["metrics"]["loss"]["last"], 1.6);
}

#[test]
fn show_gives_a_string_metric_its_last_string_and_a_chart_its_schema() {
    let d = tmp();
    let path = d.path().join("runs.db");
    let store = open_store(&path);
    let run = store.start_named_run("e", "texts").expect("run");
    run.log_text("phase", "warmup").expect("text");
    run.log_text("phase", "fine-tune, the long second phase of this run\nwith a second line").expect("text");
    let res =
        r#"{"schema_type": "residuals", "schema_version": "1.0.0", "data": {"bin_edges": [0, 1], "bin_counts": [3]}}"#;
    run.log_chart("res", None, res).expect("chart");
    run.complete().expect("complete");
    store.flush().expect("flush");
    let out = ok(&runlog(&path, &["show", "e/texts"]));
    let line = out.lines().find(|l| l.trim_start().starts_with("phase")).expect("phase line");
    assert!(line.contains("text") && line.contains(" 2 "), "kind and count: {line}");
    assert!(line.contains("fine-tune, the long second phase of this…"), "last string, cut at 40: {line}");
    assert!(!line.contains("warmup") && !line.contains("second line"), "{line}");
    // A chart record shows its kind and its schema.
    let line = out.lines().find(|l| l.trim_start().starts_with("res")).expect("res line");
    assert!(line.contains("chart") && line.contains(" 1 ") && line.contains("residuals"), "{line}");
}

#[test]
fn metrics_csv_json_and_table() {
    let d = tmp();
    let f = fixture(d.path());
    let csv = ok(&runlog(&f.store, &["metrics", "mnist/adam", "loss", "--format", "csv"]));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("step,timestamp,value"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[3][0], "3");
    assert_eq!(rows[3][2].parse::<f64>().expect("value"), 0.25);
    assert!(rows[3][1].parse::<i64>().expect("timestamp") > 1_600_000_000_000);

    let both = ok(&runlog(&f.store, &["metrics", &f.adam, "--format", "csv"]));
    assert!(both.starts_with("name,step,timestamp,value\n"), "{both}");
    assert!(both.contains("\nacc,9,") && both.contains("\nloss,9,"), "{both}");

    let v: serde_json::Value =
        serde_json::from_str(&ok(&runlog(&f.store, &["metrics", &f.adam, "acc", "-f", "json"]))).expect("json");
    assert_eq!(v[0]["name"], "acc");
    let steps: Vec<i64> =
        v[0]["points"].as_array().expect("points").iter().map(|p| p["step"].as_i64().expect("step")).collect();
    assert_eq!(steps, [0, 5, 9]);
    assert_eq!(v[0]["points"][2]["value"], 0.9);

    let table = ok(&runlog(&f.store, &["metrics", "mnist/sgd"]));
    assert!(table.contains("loss (5 points)") && table.contains("1.6"), "{table}");

    fails(&runlog(&f.store, &["metrics", "mnist/adam", "nope"]), 4, "\"nope\"");
}

/// Every reading subcommand, on every kind of bad input: one line naming the thing, the documented exit code, and
/// the directory exactly as it was.
#[test]
fn bad_input_gives_one_line_errors_and_writes_nothing() {
    let d = tmp();
    let f = fixture(d.path());
    let store = util::open_store(&f.store);
    // Run ids are random: among 17 runs two surely share their first hex digit, an ambiguous prefix.
    let mut ids: Vec<String> = vec![f.adam.clone(), f.sgd.clone()];
    while !ids.iter().enumerate().any(|(i, a)| ids[..i].iter().any(|b| a[..1] == b[..1])) {
        let r = store.start_named_run("x", &format!("p{}", ids.len())).expect("run");
        r.complete().expect("end");
        ids.push(r.id().to_string());
    }
    store.flush().expect("flush");
    drop(store);
    let common: String = ids
        .iter()
        .enumerate()
        .find_map(|(i, a)| ids[..i].iter().any(|b| a[..1] == b[..1]).then(|| a[..1].to_string()))
        .expect("a shared first digit");

    let before = dir_state(d.path());
    let readers: [&[&str]; 5] = [&["show"], &["metrics"], &["plot", "--width", "40"], &["export"], &["log", "--run"]];
    for sub in readers {
        let with = |spec: &str| -> Vec<String> {
            let mut v: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
            v.push(spec.to_string());
            if sub[0] == "plot" {
                v.push("loss".into());
            }
            v
        };
        let run = |args: Vec<String>| {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            runlog(&f.store, &a)
        };
        fails(&run(with("0123456789abcdef")), 4, "0123456789abcdef");
        fails(&run(with("mnist/nobody")), 4, "mnist/nobody");
        fails(&run(with(&common)), 4, "ambiguous");
    }
    assert_eq!(dir_state(d.path()), before, "reading commands changed nothing");

    // A file that is not SQLite.
    let junk = d.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database, just some text that is long enough to be a header").expect("write");
    // A store of a newer version.
    let newer = d.path().join("newer.db");
    drop(util::open_store(&newer));
    {
        let c = rusqlite::Connection::open(&newer).expect("open");
        c.pragma_update(None, "user_version", 9999).expect("set version");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;").expect("checkpoint");
    }
    let missing = d.path().join("missing.db");
    let before = dir_state(d.path());
    let commands: [&[&str]; 7] = [
        &["ls"],
        &["ls", "--json"],
        &["show", "abc"],
        &["metrics", "abc"],
        &["plot", "abc", "loss"],
        &["export", "abc"],
        &["log", "--run", "abc"],
    ];
    for args in commands {
        fails(&runlog(&junk, args), 3, "junk.db");
        let o = runlog(&newer, args);
        fails(&o, 3, "newer.db");
        assert!(stderr(&o).contains("newer"), "{}", stderr(&o));
        let o = runlog(&missing, args);
        fails(&o, 3, "missing.db");
        assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    }
    // The UI refuses them the same way (and never starts serving); exec refuses a foreign or newer store (a missing
    // one it creates: it starts a run).
    let ui: &[&str] = &["ui", "--listen", "127.0.0.1:0"];
    fails(&runlog(&junk, ui), 3, "junk.db");
    fails(&runlog(&newer, ui), 3, "newer.db");
    fails(&runlog(&missing, ui), 3, "missing.db");
    fails(&runlog(&junk, &["exec", "--", "true"]), 3, "junk.db");
    fails(&runlog(&newer, &["exec", "--", "true"]), 3, "newer.db");
    assert_eq!(dir_state(d.path()), before, "no file was created or changed");
    assert!(!missing.exists());
}

#[test]
fn log_reads_json_lines_skips_bad_ones_with_line_numbers() {
    let d = tmp();
    let path = d.path().join("s.db");
    let store = util::open_store(&path);
    let run = store.start_named_run("exp", "r").expect("run");
    let other = store.start_named_run("exp", "other").expect("run");
    let img = d.path().join("img.png");
    std::fs::write(&img, png(4, 3, (0, 200, 0))).expect("write png");
    let input = format!(
        r#"{{"name": "loss", "value": 0.5}}
{{"name": "loss", "value": 0.25, "step": 3}}
not json at all
{{"name": "acc", "values": [0.1, 0.2, "NaN"]}}
{{"name": "epoch", "row": {{"epoch": 1, "loss": 0.3, "ok": true}}}}
{{"name": "pr", "table": {{"p": [1, 0.9], "r": [0.1, 0.5]}}}}
{{"name": "sample", "image": "{}", "description": "green"}}
{{"name": "loss", "value": "high"}}

{{"name": "notes", "text": "hello"}}
{{"params": {{"lr": 0.01, "opt": "adam"}}, "tags": {{"stage": "warm"}}, "properties": {{"ds": "mnist"}}}}
[1, 2]
{{"run": "exp/other", "name": "loss", "value": 7}}
{{"run": "exp/ghost", "name": "loss", "value": 7}}
{{"name": "x", "value": 1, "bogus": 2}}
"#,
        img.display()
    );
    let o = runlog_stdin(&path, &["log"], &[("RUNLOG_RUN_ID", run.id().as_str())], &input);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    for n in [3, 8, 12, 14, 15] {
        assert!(err.contains(&format!("runlog: line {n}: ")), "line {n} reported: {err}");
    }
    for n in [1, 2, 4, 5, 6, 7, 10, 11, 13] {
        assert!(!err.contains(&format!("line {n}: ")), "line {n} is valid: {err}");
    }
    assert!(err.contains("exp/ghost"), "{err}");
    let r = Reader::open(&path).expect("read");
    let loss = r.series(run.id(), "loss").expect("series");
    assert_eq!(loss.iter().map(|p| (p.step, p.value)).collect::<Vec<_>>(), [(0, 0.5), (3, 0.25)]);
    let acc = r.series(run.id(), "acc").expect("series");
    assert_eq!(acc.len(), 3);
    assert!(acc[2].value.is_nan());
    assert_eq!(r.rows(run.id(), "epoch").expect("rows")[0].value.columns.len(), 3);
    assert_eq!(r.tables(run.id(), "pr").expect("tables").len(), 1);
    let imgs = r.images(run.id(), None).expect("images");
    assert_eq!((imgs[0].value.width, imgs[0].value.height), (4, 3));
    assert_eq!(r.texts(run.id(), Some("notes")).expect("texts")[0].value.text, "hello");
    let info = r.run(run.id()).expect("run");
    assert_eq!(info.params["lr"].to_string(), "0.01");
    assert_eq!(info.tags["stage"], "warm");
    assert_eq!(info.properties["ds"], "mnist");
    assert_eq!(r.series(other.id(), "loss").expect("series")[0].value, 7.0);

    // Without a run anywhere, every line is an error naming the variable.
    let o = runlog_stdin(&path, &["log"], &[], "{\"name\": \"loss\", \"value\": 1}\n");
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("RUNLOG_RUN_ID"), "{}", stderr(&o));
    assert_eq!(info.status, RunStatus::Running);
    run.complete().expect("end");
    other.complete().expect("end");
}

#[test]
fn help_documents_exit_codes_and_formats() {
    let o = std::process::Command::new(BIN).arg("--help").output().expect("run");
    let h = stdout(&o);
    assert!(h.contains("Exit codes") && h.contains("ambiguous"), "{h}");
    let o = std::process::Command::new(BIN).args(["log", "--help"]).output().expect("run");
    assert!(stdout(&o).contains("\"values\""), "{}", stdout(&o));
    let o = std::process::Command::new(BIN).args(["ls", "--help"]).output().expect("run");
    assert!(stdout(&o).contains("started_at"), "{}", stdout(&o));
}

/// A Python script that prints, logs through `runlog log`, and exits with a given code.
fn write_script(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("train.py");
    std::fs::write(&p, body).expect("write script");
    p
}

const LOGGING_SCRIPT: &str = r#"import json, os, subprocess, sys
print("hello from stdout", flush=True)
print("a warning on stderr", file=sys.stderr, flush=True)
assert os.path.isabs(os.environ["RUNLOG_STORE"])
lines = [json.dumps({"name": "loss", "value": 1.0 / (s + 1), "step": s}) for s in range(5)]
lines.append(json.dumps({"params": {"lr": 0.1}}))
subprocess.run(["RUNLOG_BIN", "log"], input="\n".join(lines) + "\n", text=True, check=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"#;

#[test]
fn exec_captures_output_logs_and_ends_completed() {
    let d = tmp();
    let src = d.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    let script = write_script(&src, &LOGGING_SCRIPT.replace("RUNLOG_BIN", BIN));
    std::fs::write(src.join("model.py"), "W = 1\n").expect("write");
    std::fs::write(src.join(".gitignore"), "data/\n").expect("write");
    std::fs::create_dir(src.join("data")).expect("mkdir");
    std::fs::write(src.join("data").join("big.bin"), vec![0u8; 4096]).expect("write");
    // A git work tree with one commit, then an uncommitted change: the run records the commit and the dirty flag.
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&src)
            .output()
            .expect("run git");
        assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let head = git(&["rev-parse", "HEAD"]).trim().to_string();
    std::fs::write(src.join("model.py"), "W = 2\n").expect("write");
    let store = d.path().join("s.db");
    let o = cmd(&store)
        .current_dir(d.path())
        .args(["exec", "--experiment", "wrap", "--name", "ok", "--show-output", "--", "python3"])
        .arg(&script)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("hello from stdout"), "--show-output echoes: {}", stdout(&o));
    assert!(stderr(&o).contains("a warning on stderr"));
    let r = Reader::open(&store).expect("open");
    let id = r.resolve("wrap/ok").expect("run");
    let info = r.run(&id).expect("run");
    assert_eq!(info.status, RunStatus::Completed);
    assert!(info.properties["command"].contains("train.py"), "{:?}", info.properties);
    assert_eq!(info.properties["cwd"], d.path().canonicalize().expect("canon").display().to_string());
    assert_eq!(info.params["lr"].to_string(), "0.1");
    assert_eq!(info.properties["git.commit"], head);
    assert_eq!(info.properties["git.dirty"], "true");
    let loss = r.series(&id, "loss").expect("series");
    assert_eq!(loss.len(), 5);
    assert_eq!(loss[4].value, 0.2);
    let out: Vec<String> =
        r.log_lines(&id, Some("stdout"), None).expect("log").into_iter().map(|e| e.value.message).collect();
    assert_eq!(out, ["hello from stdout"]);
    let err: Vec<String> =
        r.log_lines(&id, Some("stderr"), None).expect("log").into_iter().map(|e| e.value.message).collect();
    assert_eq!(err, ["a warning on stderr"]);
    let files: Vec<String> = r.files(&id).expect("files").into_iter().map(|e| e.name).collect();
    assert!(files.contains(&"snapshot/train.py".to_string()), "{files:?}");
    assert!(files.contains(&"snapshot/model.py".to_string()), "{files:?}");
    let model = r.files(&id).expect("files").into_iter().find(|e| e.name == "snapshot/model.py").expect("model.py");
    assert_eq!(r.blob(&model.value.hash).expect("blob"), b"W = 2\n", "the snapshot holds the working copy");
    assert!(!files.iter().any(|f| f.contains("big.bin")), ".gitignore respected: {files:?}");
    assert_eq!(info.properties["snapshot.files"], files.len().to_string());

    // Over the snapshot limit: a clear message, the run still runs.
    let o = cmd(&store)
        .current_dir(d.path())
        .args(["exec", "-e", "wrap", "-n", "small", "--snapshot-max-bytes", "10", "--", "python3"])
        .arg(&script)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("snapshot of") && stderr(&o).contains("--snapshot-max-bytes"), "{}", stderr(&o));
    let id = r.resolve("wrap/small").expect("run");
    assert!(r.run(&id).expect("run").properties["snapshot"].starts_with("skipped"));
}

#[test]
fn exec_returns_the_exit_code_and_fails_the_run() {
    let d = tmp();
    let script = write_script(d.path(), &LOGGING_SCRIPT.replace("RUNLOG_BIN", BIN));
    let store = d.path().join("s.db");
    let o = cmd(&store)
        .args(["exec", "-n", "three", "--no-snapshot", "--", "python3"])
        .arg(&script)
        .arg("3")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!stdout(&o).contains("hello"), "no echo without --show-output");
    let r = Reader::open(&store).expect("open");
    let info = r.run(&r.resolve("default/three").expect("run")).expect("run");
    assert_eq!(info.status, RunStatus::Failed);
    assert_eq!(info.reason.as_deref(), Some("command exited with code 3"));
    assert_eq!(r.series(&info.id, "loss").expect("series").len(), 5, "what the script logged before failing landed");

    let o = cmd(&store).args(["exec", "--", "/nonexistent/program"]).output().expect("run");
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("/nonexistent/program"), "{}", stderr(&o));
}

#[test]
fn exec_forwards_sigint_and_cancels_the_run() {
    interrupt_exec("INT", 130, "interrupted by SIGINT", &["got interrupt"]);
}

#[test]
fn exec_forwards_sigterm_and_cancels_the_run() {
    // Python's default SIGTERM action ends it at once: nothing more is printed.
    interrupt_exec("TERM", 143, "interrupted by SIGTERM", &[]);
}

fn interrupt_exec(signal: &str, code: i32, reason: &str, after: &[&str]) {
    use std::io::BufRead as _;
    let d = tmp();
    let script = write_script(
        d.path(),
        "import sys, time\ntry:\n    print('ready', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('got interrupt', flush=True)\n    sys.exit(1)\n",
    );
    let store = d.path().join("s.db");
    let mut child = cmd(&store)
        .args(["exec", "-n", "stopped", "--show-output", "--", "python3"])
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("a line").expect("read"), "ready");
    let k = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(k.success());
    let rest: Vec<String> = lines.map(|l| l.expect("read")).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(code));
    assert_eq!(rest, after, "the child got SIG{signal}");
    let r = Reader::open(&store).expect("open");
    let info = r.run(&r.resolve("default/stopped").expect("run")).expect("run");
    assert_eq!(info.status, RunStatus::Cancelled);
    assert_eq!(info.reason.as_deref(), Some(reason));
    let msgs: Vec<String> =
        r.log_lines(&info.id, Some("stdout"), None).expect("log").into_iter().map(|e| e.value.message).collect();
    let mut expect = vec!["ready"];
    expect.extend_from_slice(after);
    assert_eq!(msgs, expect);
}

#[test]
fn plot_draws_in_the_terminal_and_into_a_png() {
    let d = tmp();
    let f = fixture(d.path());
    let out = ok(&runlog(&f.store, &["plot", "mnist/adam", "loss", "acc", "--width", "60", "--height", "12"]));
    assert!(out.starts_with("mnist/adam\n"), "{out}");
    assert!(out.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)), "braille dots drawn: {out}");
    assert!(out.contains("loss (last 0.1)") && out.contains("acc (last 0.9)"), "{out}");
    assert!(!out.contains('\x1b'), "no colour with NO_COLOR");
    assert_eq!(out.lines().filter(|l| l.contains('┤')).count(), 12);

    let png = d.path().join("chart.png");
    ok(&runlog(
        &f.store,
        &["plot", &f.adam, "loss", "acc", "--png", png.to_str().expect("utf-8"), "--width", "640", "--height", "360"],
    ));
    let pm = tiny_skia::Pixmap::load_png(&png).expect("a readable PNG");
    assert_eq!((pm.width(), pm.height()), (640, 360));
    let count = |rgb: (u8, u8, u8)| {
        pm.pixels().iter().filter(|p| (p.red(), p.green(), p.blue(), p.alpha()) == (rgb.0, rgb.1, rgb.2, 255)).count()
    };
    assert!(count((47, 111, 222)) > 50, "the first series is drawn in blue");
    assert!(count((228, 87, 46)) > 50, "the second series is drawn in orange");
    fails(&runlog(&f.store, &["plot", "mnist/adam", "nope"]), 4, "nope");
}

#[test]
fn export_writes_csv_jsonl_and_parquet() {
    use parquet::file::reader::{FileReader as _, SerializedFileReader};
    let d = tmp();
    let f = fixture(d.path());
    let csv = ok(&runlog(&f.store, &["export", "mnist/adam"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "name,step,timestamp,value");
    assert_eq!(lines.len(), 1 + 3 + 10);
    assert!(lines.iter().any(|l| l.starts_with("loss,9,") && l.ends_with(",0.1")), "{csv}");

    let jsonl = ok(&runlog(&f.store, &["export", "mnist/adam", "loss", "-f", "jsonl"]));
    let rows: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[4]["name"], "loss");
    assert_eq!(rows[4]["value"], 0.2);

    let pq = d.path().join("run.parquet");
    ok(&runlog(&f.store, &["export", "mnist/adam", "-f", "parquet", "-o", pq.to_str().expect("utf-8")]));
    let r = SerializedFileReader::new(std::fs::File::open(&pq).expect("open")).expect("a parquet file");
    assert_eq!(r.metadata().file_metadata().num_rows(), 13);
    let mut got = Vec::new();
    for row in r.get_row_iter(None).expect("rows") {
        let row = row.expect("row");
        let cols: Vec<String> = row.get_column_iter().map(|(_, v)| v.to_string()).collect();
        got.push(cols);
    }
    let loss9 = got.iter().find(|c| c[0].contains("loss") && c[1] == "9").expect("loss step 9");
    assert_eq!(loss9[3].parse::<f64>().expect("value"), 0.1);

    let o = runlog(&f.store, &["export", "mnist/adam", "-f", "parquet"]);
    fails(&o, 2, "--output");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::BufRead as _;
    let d = tmp();
    let path = d.path().join("s.db");
    let store = util::open_store(&path);
    let run = store.start_named_run("e", "long").expect("run");
    for i in 0..200_000 {
        run.log("x", i as f64).expect("log");
    }
    run.complete().expect("end");
    drop(store);
    let mut child = cmd(&path)
        .args(["metrics", "e/long", "x", "-f", "csv"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("read");
    assert_eq!(first, "step,timestamp,value\n");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(o.stderr.is_empty(), "nothing on stderr: {}", stderr(&o));
}

#[test]
fn ls_shows_child_runs_below_their_parent() {
    let d = tmp();
    let path = d.path().join("s.db");
    let store = util::open_store(&path);
    let parent = store.start_named_run("e", "parent").expect("run");
    let other = store.start_named_run("e", "other").expect("run");
    let child = parent.child("child").expect("child");
    child.complete().expect("end");
    other.complete().expect("end");
    parent.complete().expect("end");
    store.flush().expect("flush");
    let out = ok(&runlog(&path, &["ls"]));
    let names: Vec<&str> =
        out.lines().filter_map(|l| ["parent", "└ child", "other"].into_iter().find(|n| l.contains(n))).collect();
    assert_eq!(names, ["parent", "└ child", "other"], "{out}");
    let shown = ok(&runlog(&path, &["show", "e/parent"]));
    assert!(shown.contains("children") && shown.contains("child"), "{shown}");
}

/// Issue 8: a script that logs through the CLI and exits leaves one file; copying `runlog.db` alone copies every point.
#[test]
fn a_script_logging_through_the_cli_leaves_one_file_that_holds_everything() {
    let dir = tempfile::tempdir().expect("dir");
    let store = dir.path().join("runlog.db");
    let script = format!(
        "python3 -c 'for i in range(50000): print(\"{{\\\"name\\\": \\\"x\\\", \\\"value\\\": %d}}\" % i)' | {BIN} log"
    );
    let o = cmd(&store).args(["exec", "--experiment", "cli", "--", "sh", "-c", &script]).output().expect("exec");
    assert!(o.status.success(), "{}", stderr(&o));
    for side in ["runlog.db-wal", "runlog.db-shm"] {
        assert!(!dir.path().join(side).exists(), "{side} is left after every process exited");
    }
    let copy_dir = tempfile::tempdir().expect("dir");
    let copy = copy_dir.path().join("copy.db");
    std::fs::copy(&store, &copy).expect("copy the .db alone");
    let r = Reader::open(&copy).expect("the copy is a store");
    let runs = r.runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Completed);
    let pts = r.series(&runs[0].id, "x").expect("series");
    assert_eq!(pts.len(), 50_000);
    assert!(pts.iter().enumerate().all(|(i, p)| p.value == i as f64));
    // `runlog backup` of it: a new single file with the same points; an existing destination is refused.
    let dest = dir.path().join("backup.db");
    ok(&runlog(&store, &["backup", &store.display().to_string(), &dest.display().to_string()]));
    let b = Reader::open(&dest).expect("the backup is a store");
    assert_eq!(b.series(&runs[0].id, "x").expect("series").len(), 50_000);
    drop(b);
    fails(&runlog(&store, &["backup", &store.display().to_string(), &dest.display().to_string()]), 1, "exists");
}

#[test]
fn colour_follows_no_color_and_clicolor_force() {
    let d = tmp();
    let f = fixture(d.path());
    let ls = |env: &[(&str, &str)], extra: &[&str]| {
        let mut c = cmd(&f.store);
        c.env_remove("NO_COLOR").env_remove("CLICOLOR").env_remove("CLICOLOR_FORCE").arg("ls").args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        ok(&c.stdin(std::process::Stdio::null()).output().expect("run runlog"))
    };
    assert!(!ls(&[], &[]).contains('\x1b'), "a pipe gets no colour");
    let forced = ls(&[("CLICOLOR_FORCE", "1")], &[]);
    assert!(forced.contains("\x1b[32mcompleted\x1b[0m"), "CLICOLOR_FORCE colours a pipe: {forced:?}");
    let plain = ls(&[], &[]);
    let lines = |s: &str| s.lines().map(|l| anstream::adapter::strip_str(l).to_string()).collect::<Vec<_>>();
    assert_eq!(lines(&forced), lines(&plain), "colour codes do not change the alignment");
    assert!(!ls(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], &[]).contains('\x1b'), "NO_COLOR wins");
    assert!(!ls(&[("CLICOLOR_FORCE", "1")], &["--no-color"]).contains('\x1b'), "--no-color wins");
}
