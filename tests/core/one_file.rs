//! A store is one file whenever no process has it open (issue 8): the last close checkpoints the WAL and removes
//! it, so copying `runlog.db` alone copies everything; a process holding the store keeps the WAL until it closes
//! too. `backup` copies a store consistently while another process writes it.

use crate::util::{temp_store, worker};
use runlog_core::{Reader, Store};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

fn sidecars(db: &Path) -> Vec<String> {
    ["-wal", "-shm"].iter().map(|s| format!("{}{s}", db.display())).filter(|p| Path::new(p).exists()).collect()
}

/// Copies only the `.db` file into a fresh directory and counts the points of series `x` of every run there.
fn points_in_a_copy_of_the_file_alone(db: &Path) -> usize {
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("copy.db");
    std::fs::copy(db, &copy).expect("copy the .db alone");
    let r = Reader::open(&copy).expect("the copy is a store");
    r.runs().expect("runs").iter().map(|run| r.series(&run.id, "x").expect("series").len()).sum()
}

#[test]
fn dropping_the_last_store_handle_leaves_one_file_that_holds_everything() {
    let t = temp_store();
    {
        let store = Store::open(&t.path).expect("open");
        let run = store.start_run("one-file").expect("run");
        for i in 0..50_000 {
            run.log("x", i as f64).expect("log");
        }
        run.complete().expect("complete");
        assert!(!sidecars(&t.path).is_empty(), "while open, the store has its WAL");
    }
    assert_eq!(sidecars(&t.path), Vec::<String>::new(), "no WAL or shared-memory file after the last close");
    assert_eq!(points_in_a_copy_of_the_file_alone(&t.path), 50_000);
    // Reading it (as `runlog ls` does) leaves it one file too.
    let r = Reader::open(&t.path).expect("reader");
    assert_eq!(r.runs().expect("runs").len(), 1);
    drop(r);
    assert_eq!(sidecars(&t.path), Vec::<String>::new(), "a reader's close removes what its open made");
}

#[test]
fn another_process_holding_the_store_keeps_the_wal_until_it_closes_too() {
    let t = temp_store();
    let mut holder =
        worker().args(["hold"]).arg(&t.path).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("worker");
    let mut lines = BufReader::new(holder.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
    {
        let store = Store::open(&t.path).expect("open");
        let run = store.start_run("mine").expect("run");
        for i in 0..10_000 {
            run.log("x", i as f64).expect("log");
        }
        run.complete().expect("complete");
    }
    assert!(!sidecars(&t.path).is_empty(), "the other process still has the store open: its WAL stays");
    // The other process ends normally: its close is the last one.
    let mut stdin = holder.stdin.take().expect("stdin");
    stdin.flush().expect("flush");
    drop(stdin);
    assert!(holder.wait().expect("wait").success());
    assert_eq!(sidecars(&t.path), Vec::<String>::new());
    assert_eq!(points_in_a_copy_of_the_file_alone(&t.path), 10_001);
}

#[test]
fn backup_of_a_store_being_written_is_whole_and_holds_everything_flushed_before_it() {
    let t = temp_store();
    let mut w = worker().args(["crash"]).arg(&t.path).stdout(Stdio::piped()).spawn().expect("worker");
    let mut lines = BufReader::new(w.stdout.take().expect("stdout")).lines();
    let mut flushed = 0i64;
    // Let it write a while, then back up while it keeps writing.
    while flushed < 200_000 {
        let line = lines.next().expect("worker output").expect("line");
        if let Some(n) = line.strip_prefix("flushed ") {
            flushed = n.parse().expect("count");
        }
    }
    let dest = t.dir.path().join("backup.db");
    runlog_core::store::backup(&t.path, &dest).expect("backup");
    let _ = w.kill();
    let _ = w.wait();
    assert_eq!(sidecars(&dest), Vec::<String>::new(), "the backup is one file");
    let c = rusqlite::Connection::open(&dest).expect("open the copy");
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(ok, "ok");
    drop(c);
    let copied = points_in_a_copy_of_the_file_alone(&dest);
    assert!(copied as i64 >= flushed, "the backup holds {copied} points, {flushed} were flushed before it began");
    let e = runlog_core::store::backup(&t.path, &dest).expect_err("never overwrites");
    assert!(e.to_string().contains("exists"), "{e}");
}
