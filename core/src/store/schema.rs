//! The schema, its version, and forward migrations.
//!
//! The version lives in `PRAGMA user_version`. Opening runs the missing migrations inside one `BEGIN IMMEDIATE`
//! transaction, so several processes opening a fresh file at once are serialized by SQLite: the first one migrates,
//! the others find the work done. A file of a newer version is refused, never rewritten.

use crate::error::{Context, Error, Result};
use rusqlite::{Connection, TransactionBehavior};

/// The schema version this runlog writes and reads.
pub const SCHEMA_VERSION: i64 = 3;

/// Tables holding logged facts: UPDATE and DELETE on them fail (triggers).
pub const APPEND_ONLY_TABLES: &[&str] = &[
    "experiments",
    "runs",
    "records",
    "blobs",
    "sync_acks",
    "sync_rejections",
    "sync_blobs",
    "sync_events",
    "sync_remotes",
    "experiment_tags",
];

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE experiments (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE runs (
    rid        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    experiment INTEGER NOT NULL REFERENCES experiments(id),
    name       TEXT NOT NULL,
    parent     TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX runs_by_parent ON runs(parent);
CREATE TABLE records (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    run     INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    name    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    step    INTEGER,
    step_hi INTEGER,
    n       INTEGER NOT NULL DEFAULT 1,
    lo      REAL,
    hi      REAL,
    last    REAL,
    body    BLOB NOT NULL
);
CREATE INDEX records_by_run ON records(run, kind, name, seq);
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE heartbeats (
    run         INTEGER NOT NULL,
    writer      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    interval_ms INTEGER NOT NULL,
    PRIMARY KEY (run, writer)
) WITHOUT ROWID;
CREATE TABLE sync_acks (
    id     INTEGER PRIMARY KEY,
    remote TEXT NOT NULL,
    seq_lo INTEGER NOT NULL,
    seq_hi INTEGER NOT NULL,
    batch  TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX sync_acks_by_remote ON sync_acks(remote, seq_hi);
CREATE TABLE sync_rejections (
    id     INTEGER PRIMARY KEY,
    remote TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    code   TEXT NOT NULL,
    reason TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX sync_rejections_by_remote ON sync_rejections(remote, seq);
CREATE TABLE sync_blobs (
    id     INTEGER PRIMARY KEY,
    remote TEXT NOT NULL,
    hash   TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX sync_blobs_by_remote ON sync_blobs(remote, hash);
CREATE TABLE sync_events (
    id      INTEGER PRIMARY KEY,
    remote  TEXT NOT NULL,
    at      INTEGER NOT NULL,
    ok      INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX sync_events_by_remote ON sync_events(remote, id);
"#;

/// Version 2: the remotes a store syncs to, as append-only records (the last row of a name wins; a NULL url removes
/// it). No secret is ever stored here.
const V2: &str = r#"
CREATE TABLE sync_remotes (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    url     TEXT,
    ca_cert TEXT,
    at      INTEGER NOT NULL
);
CREATE INDEX sync_remotes_by_name ON sync_remotes(name, id);
"#;

/// Version 3: experiment tags, append-only (the last row of an experiment and key wins; a NULL value removes the
/// tag). Writing one creates its experiment, so an experiment can exist before its first run.
const V3: &str = r#"
CREATE TABLE experiment_tags (
    id         INTEGER PRIMARY KEY,
    experiment INTEGER NOT NULL REFERENCES experiments(id),
    key        TEXT NOT NULL,
    value      TEXT,
    at         INTEGER NOT NULL
);
CREATE INDEX experiment_tags_by_experiment ON experiment_tags(experiment, key, id);
"#;

fn append_only_triggers() -> String {
    let mut sql = String::new();
    for t in APPEND_ONLY_TABLES {
        for op in ["UPDATE", "DELETE"] {
            sql.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {t}_no_{op} BEFORE {op} ON {t} \
                 BEGIN SELECT RAISE(ABORT, 'runlog: {t} is append-only; {op} is not allowed'); END;\n",
                op = op.to_lowercase()
            ));
        }
    }
    sql
}

/// Reads the schema version without changing anything.
pub fn version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).context("read schema version")
}

/// Checks that the file is a runlog store this runlog can read (or an empty file it may initialize).
pub fn check_readable(conn: &Connection, path: &str) -> Result<i64> {
    let v = version(conn).map_err(|e| not_a_store(path, &e))?;
    if v > SCHEMA_VERSION {
        return Err(newer(path, v));
    }
    if v == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| not_a_store(path, &e))?;
        if tables > 0 {
            return Err(Error::Format(format!(
                "{path} is an SQLite database but not a runlog store (it has tables and no runlog schema version)"
            )));
        }
    }
    Ok(v)
}

fn not_a_store(path: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Format(format!("{path} is not a runlog store: {e}"))
}

fn newer(path: &str, v: i64) -> Error {
    Error::Format(format!(
        "{path} has schema version {v}, newer than this runlog's {SCHEMA_VERSION}; upgrade runlog to open it (the file was not changed)"
    ))
}

/// Brings the schema up to [`SCHEMA_VERSION`]; safe to run from several processes at once.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<()> {
    if check_readable(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).context("begin migration")?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let v = check_readable(&tx, path)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(v as usize) {
        tx.execute_batch(sql).context(format!("migrate {path} to schema version {}", i + 1))?;
    }
    if v == 0 {
        let store_id = uuid::Uuid::new_v4().simple().to_string();
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('store_id', ?1), ('created_at', ?2)",
            rusqlite::params![store_id, crate::types::now_ms().to_string()],
        )
        .context("write store id")?;
    }
    tx.execute_batch(&append_only_triggers()).context("create append-only triggers")?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).context("write schema version")?;
    tx.commit().context("commit migration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_keeps_the_store_id() {
        let mut c = Connection::open_in_memory().expect("open");
        migrate(&mut c, "mem").expect("first");
        let id: String = c.query_row("SELECT value FROM meta WHERE key='store_id'", [], |r| r.get(0)).expect("id");
        migrate(&mut c, "mem").expect("second");
        let again: String = c.query_row("SELECT value FROM meta WHERE key='store_id'", [], |r| r.get(0)).expect("id");
        assert_eq!(id, again);
        assert_eq!(version(&c).expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn newer_schema_is_refused_untouched() {
        let mut c = Connection::open_in_memory().expect("open");
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("set");
        let err = migrate(&mut c, "x.db").expect_err("refused");
        assert!(err.to_string().contains("newer"), "{err}");
        assert_eq!(version(&c).expect("v"), SCHEMA_VERSION + 1);
    }

    #[test]
    fn a_version_2_store_reads_without_experiment_tags_and_migrates_on_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v2.db");
        {
            let c = Connection::open(&path).expect("open");
            for sql in &MIGRATIONS[..2] {
                c.execute_batch(sql).expect("migrate");
            }
            c.execute("INSERT INTO meta(key, value) VALUES ('store_id', 'x')", []).expect("id");
            c.execute("INSERT INTO experiments(name, created_at) VALUES ('old', 5)", []).expect("experiment");
            c.pragma_update(None, "user_version", 2).expect("version");
        }
        let r = crate::Reader::open(&path).expect("read v2");
        let all = r.experiment_details().expect("details");
        assert_eq!((all.len(), all[0].name.as_str(), all[0].tags.len()), (1, "old", 0));
        assert_eq!(r.schema_version().expect("version"), 2, "reading never migrates");
        drop(r);
        let store = crate::Store::open(&path).expect("open for writing migrates");
        store.set_experiment_tag("old", "k", Some("v")).expect("tag");
        assert_eq!(store.reader().schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(store.reader().experiment_details().expect("details")[0].tags["k"], "v");
    }

    #[test]
    fn foreign_database_is_refused() {
        let mut c = Connection::open_in_memory().expect("open");
        c.execute_batch("CREATE TABLE t(x)").expect("t");
        let err = migrate(&mut c, "x.db").expect_err("refused");
        assert!(err.to_string().contains("not a runlog store"), "{err}");
    }

    #[test]
    fn triggers_refuse_update_and_delete() {
        let mut c = Connection::open_in_memory().expect("open");
        migrate(&mut c, "mem").expect("migrate");
        c.execute("INSERT INTO experiments(name, created_at) VALUES ('e', 0)", []).expect("insert");
        let e = c.execute("UPDATE experiments SET name='f'", []).expect_err("update refused");
        assert!(e.to_string().contains("append-only"), "{e}");
        c.execute("DELETE FROM experiments", []).expect_err("delete refused");
    }
}
