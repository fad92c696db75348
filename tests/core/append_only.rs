//! Logged data cannot be changed in place, and files the store cannot read are refused untouched.

use crate::util::temp_store;
use runlog_core::{ErrorKind, Store};

#[test]
fn update_and_delete_through_raw_sqlite_fail() {
    let t = temp_store();
    {
        let store = Store::open(&t.path).expect("open");
        let run = store.start_run("e").expect("run");
        run.log("x", 1.0).expect("log");
        run.log_image("i", &crate::util::png(2, 2, 0), "").expect("image");
        run.complete().expect("complete");
    }
    let c = rusqlite::Connection::open(&t.path).expect("raw open");
    for table in runlog_core::store::APPEND_ONLY_TABLES {
        for sql in [format!("UPDATE {table} SET rowid = rowid"), format!("DELETE FROM {table}")] {
            // The sync tables are empty in this store: for them the triggers' existence is checked below.
            let n: i64 = c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count");
            if n == 0 {
                continue;
            }
            let e = c.execute(&sql, []).expect_err(&sql);
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
        let triggers: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1", [table], |r| {
                r.get(0)
            })
            .expect("triggers");
        assert_eq!(triggers, 2, "{table} has an UPDATE and a DELETE trigger");
    }
    let records: i64 = c.query_row("SELECT count(*) FROM records", [], |r| r.get(0)).expect("count");
    assert!(records >= 4, "nothing was deleted");
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let t = temp_store();
    Store::open(&t.path).expect("create").flush().expect("flush");
    {
        let c = rusqlite::Connection::open(&t.path).expect("raw");
        c.pragma_update(None, "user_version", runlog_core::store::SCHEMA_VERSION + 1).expect("bump");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").expect("checkpoint");
    }
    let before = std::fs::read(&t.path).expect("bytes");
    let e = runlog_core::Reader::open(&t.path).expect_err("reader refuses");
    assert_eq!(e.kind(), ErrorKind::Format);
    assert!(e.to_string().contains("newer"), "{e}");
    let e = Store::open(&t.path).expect_err("store refuses");
    let newer = format!("schema version {}", runlog_core::store::SCHEMA_VERSION + 1);
    assert!(e.to_string().contains(&newer), "{e}");
    assert_eq!(std::fs::read(&t.path).expect("bytes"), before);
}

#[test]
fn files_that_are_not_stores_are_refused_and_missing_files_not_created() {
    let t = temp_store();
    // A foreign SQLite database in rollback-journal mode: opening it must not switch it to WAL.
    let foreign = t.dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .expect("create")
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .expect("fill");
    let foreign_before = std::fs::read(&foreign).expect("bytes");
    let e = Store::open(&foreign).expect_err("refused");
    assert!(e.to_string().contains("not a runlog store"), "{e}");
    assert_eq!(std::fs::read(&foreign).expect("bytes"), foreign_before, "foreign file unchanged");

    std::fs::write(&t.path, b"this is not sqlite, just text that is long enough to look like a file").expect("write");
    let before = std::fs::read(&t.path).expect("bytes");
    let e = Store::open(&t.path).expect_err("refused");
    assert!(e.to_string().contains("not a runlog store"), "{e}");
    let e = runlog_core::Reader::open(&t.path).expect_err("refused");
    assert!(e.to_string().contains("not a runlog store"), "{e}");
    assert_eq!(std::fs::read(&t.path).expect("bytes"), before);

    let missing = t.dir.path().join("missing.db");
    let e = runlog_core::Reader::open(&missing).expect_err("missing");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("missing.db"), "{e}");
    assert!(!missing.exists());
}
