//! Every log kind goes in and comes back exactly.

use crate::util::{png, temp_store};
use runlog_core::{ImageFormat, RunStatus, Store, Value};

#[test]
fn every_log_kind_round_trips() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_named_run("exp ✓ 実験", "first").expect("run");
    let long = "é".repeat(255);
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MAX, f64::MIN_POSITIVE, 1.5];
    for v in specials {
        run.log("special", v).expect("log");
    }
    run.log(&long, 1.0).expect("255-character name");
    run.log("损失/λ", 2.0).expect("unicode name");
    run.log_at("at", 10, 1.0).expect("log_at");
    run.log_at("at", 20, 2.0).expect("log_at");
    run.log("at", 3.0).expect("auto step continues after log_at");
    run.log_list("list", &[0.1, 0.2, f64::NAN]).expect("list");
    run.log_list("list", &[0.4]).expect("list continues");
    let row = vec![
        ("epoch".to_string(), Value::from(3)),
        ("acc".to_string(), Value::from(f64::NAN)),
        ("best".to_string(), Value::from(true)),
        ("note".to_string(), Value::from("ok ✓")),
        ("neg".to_string(), Value::from(i64::MIN)),
    ];
    run.log_row("eval", row.clone()).expect("row");
    run.log_row("eval", [("epoch", Value::from(4))]).expect("row 2");
    run.log_table("empty", Vec::<(String, Vec<Value>)>::new()).expect("table with no columns");
    run.log_table("empty_rows", [("a", vec![]), ("b", vec![])]).expect("table with no rows");
    let table = vec![
        ("label".to_string(), vec![Value::from("cat"), Value::from("dog")]),
        ("score".to_string(), vec![Value::from(0.5), Value::from(f64::NEG_INFINITY)]),
    ];
    run.log_table("confusion", table.clone()).expect("table");
    let img = png(16, 8, 1);
    run.log_image("sample", &img, "a gradient").expect("image");
    let dir = t.dir.path().join("img.png");
    std::fs::write(&dir, png(4, 4, 2)).expect("write png");
    run.log_image("sample", &dir, "from a path").expect("image path");
    run.log_image_at("sample", &img, "imported", 40, 1_600_000_000_000).expect("image at a step");
    run.log_image("sample", &img, "").expect("auto step continues after log_image_at");
    run.log_text("notes", "hello\nworld").expect("text");
    run.log_text_at("notes", "at 9", 9, 1_600_000_000_001).expect("text at a step");
    run.log_text("notes", "then 10").expect("text");
    run.log_param("lr", 0.01).expect("param");
    run.log_param("layers", 4).expect("param");
    run.log_param("lr", 0.01).expect("same param value again is fine");
    run.set_tag("stage", "warmup").expect("tag");
    run.set_tag("stage", "train").expect("tag again");
    run.add_property("owner", "ana").expect("property");
    run.describe("special", "values that are not finite").expect("describe");
    let file = t.dir.path().join("config.yaml");
    std::fs::write(&file, b"lr: 0.01\n").expect("write file");
    run.upload_file("config.yaml", &file).expect("upload");
    run.log_line("log", "INFO", "train", "epoch 1 done").expect("log line");
    let child = run.child("eval").expect("child");
    child.log("acc", 0.9).expect("child log");
    child.complete().expect("child complete");
    run.complete().expect("complete");

    let r = store.reader();
    let got = r.series(run.id(), "special").expect("series");
    assert_eq!(got.len(), specials.len());
    for (i, (p, v)) in got.iter().zip(specials).enumerate() {
        assert_eq!(p.step, i as i64);
        assert_eq!(p.value.to_bits(), v.to_bits(), "point {i}");
    }
    assert_eq!(r.series(run.id(), &long).expect("long").len(), 1);
    assert_eq!(r.series(run.id(), "损失/λ").expect("unicode")[0].value, 2.0);
    let at: Vec<(i64, f64)> = r.series(run.id(), "at").expect("at").iter().map(|p| (p.step, p.value)).collect();
    assert_eq!(at, vec![(10, 1.0), (20, 2.0), (21, 3.0)]);
    let list: Vec<i64> = r.series(run.id(), "list").expect("list").iter().map(|p| p.step).collect();
    assert_eq!(list, vec![0, 1, 2, 3]);

    let rows = r.rows(run.id(), "eval").expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].step, Some(0));
    assert_eq!(rows[1].step, Some(1));
    for ((k1, v1), (k2, v2)) in rows[0].value.columns.iter().zip(&row) {
        assert_eq!(k1, k2);
        assert!(v1.same(v2), "{v1:?} != {v2:?}");
    }
    assert!(matches!(rows[0].value.columns[0].1, Value::I64(3)), "integers stay integers");
    assert!(r.tables(run.id(), "empty").expect("empty")[0].value.columns.is_empty());
    assert_eq!(r.tables(run.id(), "empty_rows").expect("empty rows")[0].value.columns.len(), 2);
    let tables = r.tables(run.id(), "confusion").expect("tables");
    assert_eq!(tables[0].value.columns.len(), 2);
    assert!(tables[0].value.columns[1].1[1].same(&Value::F64(f64::NEG_INFINITY)));

    let images = r.images(run.id(), Some("sample")).expect("images");
    assert_eq!(images.len(), 4);
    let at: Vec<_> = images.iter().map(|e| e.step).collect();
    assert_eq!(at, [Some(0), Some(1), Some(40), Some(41)]);
    assert_eq!(images[2].timestamp_ms, 1_600_000_000_000, "the given wall time");
    assert_eq!((images[0].value.width, images[0].value.height), (16, 8));
    assert_eq!(images[0].value.format, ImageFormat::Png);
    assert_eq!(images[0].value.description, "a gradient");
    assert_eq!(images[1].step, Some(1));
    assert_eq!(r.blob(&images[0].value.hash).expect("blob"), img);

    let texts = r.texts(run.id(), None).expect("texts");
    assert_eq!(texts[0].value.text, "hello\nworld");
    let at: Vec<_> = texts.iter().map(|e| (e.step, e.timestamp_ms == 1_600_000_000_001)).collect();
    assert_eq!(at, [(Some(0), false), (Some(9), true), (Some(10), false)]);
    let files = r.files(run.id()).expect("files");
    assert_eq!(files[0].name, "config.yaml");
    assert_eq!(r.blob(&files[0].value.hash).expect("file blob"), b"lr: 0.01\n");
    let lines = r.log_lines(run.id(), Some("log"), Some(10)).expect("log lines");
    assert_eq!(lines[0].value.message, "epoch 1 done");

    let info = r.run(run.id()).expect("info");
    assert_eq!(info.status, RunStatus::Completed);
    assert_eq!(info.experiment, "exp ✓ 実験");
    assert_eq!(info.name, "first");
    assert!(info.ended_at.is_some());
    assert_eq!(info.params.get("lr"), Some(&Value::F64(0.01)));
    assert_eq!(info.params.get("layers"), Some(&Value::I64(4)));
    assert_eq!(info.tags.get("stage").map(String::as_str), Some("train"));
    assert_eq!(info.properties.get("owner").map(String::as_str), Some("ana"));
    let children = r.children(run.id()).expect("children");
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].parent.as_ref(), Some(run.id()));
    assert_eq!(children[0].status, RunStatus::Completed);

    let metrics = r.metrics(run.id()).expect("metrics");
    let special = metrics.iter().find(|m| m.name == "special").expect("special listed");
    assert_eq!(special.count, specials.len() as u64);
    assert_eq!(special.description.as_deref(), Some("values that are not finite"));
    let summary = r.summary(run.id()).expect("summary");
    let s = summary.iter().find(|m| m.name == "special").expect("summary of special");
    assert_eq!((s.count, s.min, s.max), (7, Some(f64::NEG_INFINITY), Some(f64::INFINITY)));
    assert_eq!(s.last, 1.5);
    let exps = r.experiments().expect("experiments");
    assert_eq!(exps[0].runs, 2);
}

#[test]
fn identical_images_are_stored_once() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("img").expect("run");
    let img = png(64, 64, 9);
    for _ in 0..10 {
        run.log_image("same", &img, "").expect("image");
    }
    run.complete().expect("complete");
    let blobs = store.reader().blob_count().expect("count");
    assert_eq!(blobs, 1);
    assert_eq!(store.reader().images(run.id(), None).expect("images").len(), 10);
}

#[test]
fn a_panicking_thread_fails_its_run_with_the_message() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let s2 = store.clone();
    let id = std::thread::spawn(move || {
        let run = s2.start_run("panics").expect("run");
        let id = run.id().clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _keep = run;
            panic!("exploding gradient at step 7");
        }));
        assert!(r.is_err());
        id
    })
    .join()
    .expect("thread");
    let info = store.reader().run(&id).expect("run");
    assert_eq!(info.status, RunStatus::Failed);
    assert!(info.reason.as_deref().unwrap_or("").contains("exploding gradient at step 7"), "{:?}", info.reason);
}

#[test]
fn attached_runs_continue_steps_and_the_owner_ends_them() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("attach").expect("run");
    run.log("loss", 1.0).expect("log");
    run.log_row("r", [("a", Value::from(1))]).expect("row");
    run.flush().expect("flush");
    let other = runlog_core::Run::attach(&store, run.id()).expect("attach");
    other.log("loss", 2.0).expect("log");
    other.log_row("r", [("a", Value::from(2))]).expect("row");
    drop(other);
    store.flush().expect("flush");
    assert_eq!(store.reader().run(run.id()).expect("info").status, RunStatus::Running, "attached drop ends nothing");
    run.fail("diverged").expect("fail");
    let pts = store.reader().series(run.id(), "loss").expect("series");
    assert_eq!(pts.iter().map(|p| p.step).collect::<Vec<_>>(), vec![0, 1]);
    let rows = store.reader().rows(run.id(), "r").expect("rows");
    assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), vec![Some(0), Some(1)]);
    let info = store.reader().run(run.id()).expect("info");
    assert_eq!((info.status, info.reason.as_deref()), (RunStatus::Failed, Some("diverged")));
}

#[test]
fn log_lines_from_tracing_and_log_land_in_the_active_run() {
    use tracing_subscriber::layer::SubscriberExt;
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("logging").expect("run");
    let subscriber = tracing_subscriber::registry().with(runlog_core::logging::TracingLayer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(epoch = 3, "validation done");
        tracing::warn!("lr too high");
    });
    run.complete().expect("complete");
    let lines = store.reader().log_lines(run.id(), Some("log"), None).expect("lines");
    let msgs: Vec<(&str, &str)> = lines.iter().map(|l| (l.value.level.as_str(), l.value.message.as_str())).collect();
    assert_eq!(msgs, vec![("INFO", "validation done epoch=3"), ("WARN", "lr too high")]);
}

#[test]
fn metric_reads_touch_only_their_series_and_reopen_sees_everything() {
    let t = temp_store();
    let id;
    {
        let store = Store::open(&t.path).expect("open");
        let run = store.start_run("reopen").expect("run");
        for i in 0..10_000 {
            run.log("a", i as f64).expect("a");
            run.log("b", -(i as f64)).expect("b");
        }
        id = run.id().clone();
    }
    // The handles are gone: the writer has committed everything and stopped.
    let r = runlog_core::Reader::open(&t.path).expect("reader");
    let a = r.series(&id, "a").expect("a");
    assert_eq!(a.len(), 10_000);
    assert!(a.iter().enumerate().all(|(i, p)| p.step == i as i64 && p.value == i as f64));
    assert_eq!(r.run(&id).expect("info").status, RunStatus::Completed, "dropped owned run completes");
}
