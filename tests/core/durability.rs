//! Durability settings, the `log` logger, thread safety, and reading a store written by an earlier runlog.

use crate::util::temp_store;
use runlog_core::{Durability, Reader, Run, RunStatus, Store};
use std::time::Duration;

#[test]
fn run_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Run>();
    assert_send_sync::<Store>();
}

#[test]
fn every_call_and_fsync_modes_commit_before_returning() {
    for mode in [Durability::EveryCall, Durability::Fsync] {
        let t = temp_store();
        // A flush interval far longer than the test: only the per-call commit can make the data visible.
        let store =
            Store::builder(&t.path).durability(mode).flush_interval(Duration::from_secs(3600)).open().expect("open");
        let run = store.start_run("durable").expect("run");
        run.log("x", 1.0).expect("log");
        run.log_text("t", "hello").expect("text");
        let other = Reader::open(&t.path).expect("second reader");
        assert_eq!(other.series(run.id(), "x").expect("series").len(), 1, "{mode:?}");
        assert_eq!(other.texts(run.id(), None).expect("texts").len(), 1, "{mode:?}");
    }
}

#[test]
fn buffered_mode_commits_within_the_flush_interval_without_flush() {
    let t = temp_store();
    let store = Store::builder(&t.path).flush_interval(Duration::from_millis(20)).open().expect("open");
    let run = store.start_run("buffered").expect("run");
    run.log("x", 1.0).expect("log");
    let other = Reader::open(&t.path).expect("reader");
    let mut seen = 0;
    for _ in 0..500 {
        seen = other.series(run.id(), "x").expect("series").len();
        if seen == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen, 1, "the group commit never happened");
}

#[test]
fn the_log_crate_logger_records_into_the_active_run() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("log-crate").expect("run");
    runlog_core::logging::install_log_logger(log::LevelFilter::Info).expect("install");
    log::info!(target: "trainer", "epoch {} done", 2);
    log::debug!("filtered out");
    run.complete().expect("complete");
    let lines = store.reader().log_lines(run.id(), None, None).expect("lines");
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].value.level.as_str(), lines[0].value.target.as_str()), ("INFO", "trainer"));
    assert_eq!(lines[0].value.message, "epoch 2 done");
}

/// `tests/fixtures/store-v1.db` was written by runlog with schema version 1 (`cargo run --example demo` style data)
/// and is committed: a format change that breaks reading it must bump the version and migrate.
#[test]
fn a_committed_version_1_store_still_reads() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.db");
    let t = temp_store();
    std::fs::copy(&fixture, &t.path).expect("copy fixture");
    let r = Reader::open(&t.path).expect("open v1");
    assert_eq!(r.store_id().expect("id").as_str(), "5f0c2ab1c1a44b0e9a4a3b8f6c2d7e11");
    let runs = r.runs().expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!((run.experiment.as_str(), run.name.as_str(), run.status), ("fixture", "v1", RunStatus::Completed));
    let pts = r.series(&run.id, "loss").expect("series");
    assert_eq!(pts.len(), 5000);
    assert!(pts.iter().enumerate().all(|(i, p)| p.step == i as i64 && p.value == 1.0 / (i as f64 + 1.0)));
    let rows = r.rows(&run.id, "eval").expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(run.params.get("lr"), Some(&runlog_core::Value::F64(0.01)));
    // And a current runlog can keep logging into it.
    let store = Store::open(&t.path).expect("open for writing");
    let again = store.start_run("fixture").expect("new run");
    again.log("loss", 0.5).expect("log");
    again.complete().expect("complete");
}
