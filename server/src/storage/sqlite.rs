//! [`SqliteStorage`]: the embedded backend, one SQLite file `server.db` plus a content-addressed blob directory
//! `blobs/` under a data directory (`runlog serve --data DIR`), or blobs in object storage (`--blobs URL`). Its
//! queries run on blocking threads, one connection behind a mutex (SQLite has one writer anyway).
//!
//! The database carries its schema version (`PRAGMA user_version`) and is migrated forward on open, one step per
//! version, each in a transaction ([`MIGRATIONS`]); a database of a newer version is refused.

use super::apply::{self, BatchRefusal, Held, Plan, Wanted, Write};
use super::blobs::{BlobRows, BlobStore, Upload};
use super::rate::{self, Quota};
use super::{
    Admin, BlobUpload, Counter, ExperimentRow, Experiments, Ingest, MetricView, Page, Read, RecordBody, RunView,
    ScalarChunk, Stats, WorkspaceId, WorkspaceInfo,
};
use super::{corrupt, decode_body, experiment_rows, is_hex, new_token, now_ms, now_us, token_hex};
use crate::error::{Error, Result};
use async_trait::async_trait;
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, BatchId, BatchReply, Rejection, ServiceLimits};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The schema version this runlog writes.
pub const SCHEMA_VERSION: u32 = 4;

/// Version 1: the tables of the first server (an unversioned database made by an earlier runlog is version 0 and
/// has exactly these, so the step is idempotent).
const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS workspaces (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, workspace INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    ws INTEGER NOT NULL, id TEXT NOT NULL, store TEXT NOT NULL, experiment TEXT NOT NULL, name TEXT NOT NULL,
    parent TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (ws, id));
CREATE TABLE IF NOT EXISTS records (
    ws INTEGER NOT NULL, store TEXT NOT NULL, seq INTEGER NOT NULL, part INTEGER NOT NULL, run TEXT NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, at INTEGER NOT NULL, step INTEGER, n INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (ws, store, seq, part));
CREATE INDEX IF NOT EXISTS records_by_run ON records(ws, run, kind, name);
CREATE TABLE IF NOT EXISTS names (
    ws INTEGER NOT NULL, run TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (ws, run, name));
CREATE TABLE IF NOT EXISTS rejections (
    ws INTEGER NOT NULL, store TEXT NOT NULL, seq INTEGER NOT NULL, part INTEGER NOT NULL, code TEXT NOT NULL,
    reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (ws, store, seq, part));
CREATE TABLE IF NOT EXISTS blobs (
    ws INTEGER NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (ws, hash));
CREATE TABLE IF NOT EXISTS batches (
    ws INTEGER NOT NULL, id TEXT NOT NULL, store TEXT NOT NULL, seq_lo INTEGER NOT NULL, seq_hi INTEGER NOT NULL,
    at INTEGER NOT NULL, PRIMARY KEY (ws, id));
CREATE INDEX IF NOT EXISTS batches_by_store ON batches(ws, store, seq_hi);
CREATE TABLE IF NOT EXISTS stats (
    ws INTEGER NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (ws, key));
"#;

/// Version 2: the statistics of each stored scalar chunk beside it (largest step, min and max ignoring NaN, last
/// value and its step), so charts and summaries read them without decoding any chunk; filled for chunks already held.
fn migrate_v2(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "ALTER TABLE records ADD COLUMN step_hi INTEGER;
         ALTER TABLE records ADD COLUMN vmin REAL;
         ALTER TABLE records ADD COLUMN vmax REAL;
         ALTER TABLE records ADD COLUMN vlast REAL;
         ALTER TABLE records ADD COLUMN last_step INTEGER;",
    )
    .map_err(sql("migrate to version 2"))?;
    let chunks: Vec<(i64, Vec<u8>)> = {
        let mut st = tx.prepare("SELECT rowid, body FROM records WHERE kind = 'scalars'").map_err(sql("migrate"))?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql("migrate"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("migrate"))?
    };
    for (id, body) in chunks {
        let pts = points::decode(&body).map_err(|e| corrupt(&format!("scalar record {id}"), e))?;
        if let Some(c) = ScalarChunk::of(id, &pts) {
            write_stats(tx, id, &c)?;
        }
    }
    Ok(())
}

/// Version 3: each workspace's request allowance (the TAT of [`rate`], in microseconds), kept in the database like
/// PostgreSQL's, so two servers on one data directory share it.
const SCHEMA_V3: &str = "CREATE TABLE rate (ws INTEGER PRIMARY KEY, tat INTEGER NOT NULL);";

/// Version 4: experiments as MLflow's API sees them (a stable id and tags); those of the runs already held are
/// added here, a later run's when its run record is applied.
const SCHEMA_V4: &str = "
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY, ws INTEGER NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (ws, name));
CREATE TABLE experiment_tags (
    ws INTEGER NOT NULL, experiment TEXT NOT NULL, key TEXT NOT NULL, value TEXT, at INTEGER NOT NULL,
    PRIMARY KEY (ws, experiment, key));
INSERT INTO experiments(ws, name, created_at)
    SELECT ws, experiment, min(created_at) FROM runs GROUP BY ws, experiment ORDER BY min(created_at);";

/// A step of [`MIGRATIONS`]: what takes a database from the version before to the next.
type Migration = fn(&rusqlite::Transaction<'_>) -> Result<()>;

/// The migrations, in order: `MIGRATIONS[k]` takes version `k` to `k + 1`.
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [
    |tx| tx.execute_batch(SCHEMA_V1).map_err(sql("create the version 1 tables")),
    migrate_v2,
    |tx| tx.execute_batch(SCHEMA_V3).map_err(sql("create the version 3 tables")),
    |tx| tx.execute_batch(SCHEMA_V4).map_err(sql("create the version 4 tables")),
];

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    loop {
        let tx =
            conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql("begin migration"))?;
        let version: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql("schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Config(format!(
                "{} is server schema version {version}, newer than this runlog's {SCHEMA_VERSION}: upgrade runlog",
                path.display()
            )));
        }
        let Some(step) = MIGRATIONS.get(version as usize) else { return Ok(()) };
        step(&tx)?;
        tx.pragma_update(None, "user_version", version + 1).map_err(sql("set schema version"))?;
        tx.commit().map_err(sql("commit migration"))?;
    }
}

fn write_stats(c: &Connection, id: i64, s: &ScalarChunk) -> Result<()> {
    // SQLite stores NaN as NULL: a last value that is NaN reads back as NaN (see `chunk_of_row`).
    c.prepare_cached(
        "UPDATE records SET step_hi = ?2, vmin = ?3, vmax = ?4, vlast = ?5, last_step = ?6 WHERE rowid = ?1",
    )
    .and_then(|mut st| st.execute(params![id, s.step_hi, s.min, s.max, s.last, s.last_step]))
    .map_err(sql("chunk statistics"))?;
    Ok(())
}

/// SQLite file `server.db` plus the blob directory `blobs/` under a data directory. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

/// The connection and the blob store a [`SqliteStorage`] and its blob uploads share; its methods are the
/// synchronous queries the async traits run on blocking threads.
struct Inner {
    conn: Mutex<Connection>,
    blobs: BlobStore,
}

fn sql(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::io(format!("server storage: {what}"), e)
}

/// Reads what the database holds of the keys a batch touches (inside the batch's transaction).
fn held(tx: &Connection, ws: i64, store: &str, w: &Wanted) -> Result<Held> {
    let mut h = Held::default();
    let mut parts = tx
        .prepare_cached("SELECT part, n FROM records WHERE ws = ?1 AND store = ?2 AND seq = ?3")
        .map_err(sql("find parts"))?;
    for &seq in &w.scalar_seqs {
        let held: Vec<(i64, i64)> = parts
            .query_map(params![ws, store, seq], |r| {
                let (p, n): (i64, i64) = (r.get(0)?, r.get(1)?);
                Ok((p, p + n))
            })
            .map_err(sql("parts"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("parts"))?;
        h.parts.insert(seq, held);
    }
    let mut exists = tx
        .prepare_cached("SELECT 1 FROM records WHERE ws = ?1 AND store = ?2 AND seq = ?3 AND part = ?4")
        .map_err(sql("find record"))?;
    for &(seq, part) in &w.records {
        if exists.query_row(params![ws, store, seq, part], |_| Ok(())).optional().map_err(sql("find"))?.is_some() {
            h.records.insert((seq, part));
        }
    }
    let mut rows =
        tx.prepare_cached("SELECT n FROM names WHERE ws = ?1 AND run = ?2 AND name = ?3").map_err(sql("names"))?;
    for (run, name) in &w.names {
        if let Some(n) =
            rows.query_row(params![ws, run, name], |r| r.get::<_, i64>(0)).optional().map_err(sql("names"))?
        {
            h.name_rows.insert((run.clone(), name.clone()), n as u64);
        }
    }
    let mut count = tx.prepare_cached("SELECT count(*) FROM names WHERE ws = ?1 AND run = ?2").map_err(sql("names"))?;
    for run in &w.runs {
        let n: i64 = count.query_row(params![ws, run], |r| r.get(0)).map_err(sql("names"))?;
        h.names_per_run.insert(run.clone(), n as u64);
    }
    let mut blob = tx.prepare_cached("SELECT 1 FROM blobs WHERE ws = ?1 AND hash = ?2").map_err(sql("blobs"))?;
    for hash in &w.blobs {
        if blob.query_row(params![ws, hash], |_| Ok(())).optional().map_err(sql("blobs"))?.is_some() {
            h.blobs.insert(hash.clone());
        }
    }
    Ok(h)
}

/// Writes a plan (inside the batch's transaction).
fn write(tx: &Connection, ws: i64, store: &str, id: &BatchId, bytes: usize, plan: &Plan) -> Result<()> {
    let now = now_ms();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO records(ws, store, seq, part, run, kind, name, at, step, n, body,
                                 step_hi, vmin, vmax, vlast, last_step)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )
        .map_err(sql("insert record"))?;
    let mut names = tx
        .prepare_cached(
            "INSERT INTO names(ws, run, name, n) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(ws, run, name) DO UPDATE SET n = n + excluded.n",
        )
        .map_err(sql("names"))?;
    let mut reject = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO rejections(ws, store, seq, part, code, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(sql("rejections"))?;
    let mut run_insert = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO runs(ws, id, store, experiment, name, parent, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(sql("runs"))?;
    // A run's experiment exists from its first run on (MLflow's API lists it with a stable id).
    let mut experiment_insert = tx
        .prepare_cached("INSERT OR IGNORE INTO experiments(ws, name, created_at) VALUES (?1, ?2, ?3)")
        .map_err(sql("experiments"))?;
    for w in &plan.writes {
        match w {
            Write::Run { run, experiment, name, parent, at } => {
                run_insert.execute(params![ws, run, store, experiment, name, parent, at]).map_err(sql("runs"))?;
                experiment_insert.execute(params![ws, experiment, at]).map_err(sql("experiments"))?;
            }
            Write::Record(r) => {
                // A scalar chunk's statistics go in with it (one statement, not an insert and an update).
                let s = r.stats.as_ref();
                insert
                    .execute(params![
                        ws,
                        store,
                        r.seq,
                        r.part,
                        r.run,
                        r.kind,
                        r.name,
                        r.at,
                        r.step,
                        r.n,
                        r.body,
                        s.map(|s| s.step_hi),
                        s.and_then(|s| s.min),
                        s.and_then(|s| s.max),
                        s.map(|s| s.last),
                        s.map(|s| s.last_step)
                    ])
                    .map_err(sql("insert record"))?;
            }
            Write::Names { run, name, rows } => {
                names.execute(params![ws, run, name, *rows as i64]).map_err(sql("names"))?;
            }
            Write::Rejection(r) => {
                reject.execute(params![ws, store, r.seq, r.part, r.code, r.reason, now]).map_err(sql("reject"))?;
            }
        }
    }
    let (lo, hi) = plan.seq_range;
    tx.execute(
        "INSERT OR IGNORE INTO batches(ws, id, store, seq_lo, seq_hi, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![ws, id.as_str(), store, lo, hi, now],
    )
    .map_err(sql("batches"))?;
    let mut bump = tx
        .prepare_cached(
            "INSERT INTO stats(ws, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT(ws, key) DO UPDATE SET value = CASE WHEN ?4 THEN max(value, excluded.value) ELSE value + excluded.value END",
        )
        .map_err(sql("stats"))?;
    let reply = &plan.reply;
    for (k, v, is_max) in [
        ("batches", 1, false),
        ("records_applied", reply.applied, false),
        ("records_duplicate", reply.duplicates, false),
        ("records_rejected", reply.rejected.len() as u64, false),
        ("max_batch_rows", plan.rows, true),
        ("max_batch_bytes", bytes as u64, true),
    ] {
        bump.execute(params![ws, k, v as i64, is_max]).map_err(sql("stats"))?;
    }
    Ok(())
}

/// A scalar chunk's statistics from its row (`rowid, n, step, step_hi, vmin, vmax, vlast, last_step`).
fn chunk_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScalarChunk> {
    Ok(ScalarChunk {
        id: r.get(0)?,
        count: r.get(1)?,
        step_lo: r.get(2)?,
        step_hi: r.get(3)?,
        min: r.get(4)?,
        max: r.get(5)?,
        last: r.get::<_, Option<f64>>(6)?.unwrap_or(f64::NAN),
        last_step: r.get(7)?,
    })
}

impl SqliteStorage {
    /// Opens (creating) the storage in `dir`: the database `server.db`, migrated forward to [`SCHEMA_VERSION`], and
    /// the blob directory `blobs/`. A database of a newer version is refused (upgrade runlog).
    pub fn open(dir: &Path) -> Result<SqliteStorage> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create data directory {}", dir.display()), e))?;
        let blobs = BlobStore::dir(&dir.join("blobs"))?;
        SqliteStorage::open_with_blobs(dir, blobs)
    }

    /// Opens (creating) the database in `dir` with blobs in `blobs` (`runlog serve --data DIR --blobs URL`).
    pub fn open_with_blobs(dir: &Path, blobs: BlobStore) -> Result<SqliteStorage> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create data directory {}", dir.display()), e))?;
        let path = dir.join("server.db");
        let mut conn = Connection::open(&path).map_err(sql("open server.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql("busy timeout"))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())).map_err(sql("wal"))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql("synchronous"))?;
        migrate(&mut conn, &path)?;
        Ok(SqliteStorage { inner: Arc::new(Inner { conn: Mutex::new(conn), blobs }) })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        self.inner.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql("schema version"))
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn on_db<T: Send + 'static>(&self, f: impl FnOnce(&Inner) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|e| Error::io("server storage task", e))?
    }
}

impl Inner {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn experiments(&self, ws: WorkspaceId) -> Result<Vec<ExperimentRow>> {
        let c = self.conn();
        let rows = c
            .prepare_cached("SELECT id, name, created_at FROM experiments WHERE ws = ?1 ORDER BY id")
            .and_then(|mut st| st.query_map([ws.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .map_err(sql("experiments"))?;
        let tags = c
            .prepare_cached("SELECT experiment, key, value, at FROM experiment_tags WHERE ws = ?1")
            .and_then(|mut st| st.query_map([ws.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect())
            .map_err(sql("experiment tags"))?;
        Ok(experiment_rows(rows, tags))
    }

    fn create_experiment(&self, ws: WorkspaceId, name: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO experiments(ws, name, created_at) VALUES (?1, ?2, ?3)",
                params![ws.0, name, now_ms()],
            )
            .map_err(sql("create experiment"))?;
        Ok(())
    }

    fn set_experiment_tag(&self, ws: WorkspaceId, name: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.create_experiment(ws, name)?;
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO experiment_tags(ws, experiment, key, value, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ws.0, name, key, value, now_ms()],
            )
            .map_err(sql("experiment tag"))?;
        Ok(())
    }

    fn insert_token(c: &Connection, ws: i64) -> Result<String> {
        let token = new_token();
        c.execute(
            "INSERT INTO tokens(hash, workspace, created_at) VALUES (?1, ?2, ?3)",
            params![token_hex(&token), ws, now_ms()],
        )
        .map_err(sql("insert token"))?;
        Ok(token)
    }
}

impl Inner {
    fn workspace_for_token(&self, token: &str) -> Result<Option<WorkspaceId>> {
        self.conn()
            .query_row("SELECT workspace FROM tokens WHERE hash = ?1", [token_hex(token)], |r| r.get(0))
            .optional()
            .map(|ws| ws.map(WorkspaceId))
            .map_err(sql("find token"))
    }

    fn create_workspace(&self, name: &str) -> Result<String> {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Config(format!(
                "workspace name {name:?} must be 1 to 100 characters without control characters"
            )));
        }
        let token = {
            let mut c = self.conn();
            let tx = c.transaction().map_err(sql("begin"))?;
            tx.execute("INSERT INTO workspaces(name, created_at) VALUES (?1, ?2)", params![name, now_ms()])
                .map_err(|e| Error::Config(format!("cannot create workspace {name:?}: {e}")))?;
            let ws = tx.last_insert_rowid();
            let token = Inner::insert_token(&tx, ws)?;
            tx.commit().map_err(sql("commit"))?;
            token
        };
        Ok(token)
    }

    fn create_token(&self, workspace: &str) -> Result<String> {
        let token = {
            let c = self.conn();
            let ws: i64 = c
                .query_row("SELECT id FROM workspaces WHERE name = ?1", [workspace], |r| r.get(0))
                .optional()
                .map_err(sql("find workspace"))?
                .ok_or_else(|| Error::Config(format!("no workspace named {workspace:?}")))?;
            Inner::insert_token(&c, ws)?
        };
        Ok(token)
    }

    fn workspaces(&self) -> Result<Vec<WorkspaceInfo>> {
        let c = self.conn();
        let mut st = c
            .prepare(
                "SELECT w.id, w.name, (SELECT count(*) FROM tokens t WHERE t.workspace = w.id),
                        (SELECT count(*) FROM runs r WHERE r.ws = w.id) FROM workspaces w ORDER BY w.id",
            )
            .map_err(sql("list workspaces"))?;
        st.query_map([], |r| {
            Ok(WorkspaceInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                tokens: r.get::<_, i64>(2)? as u64,
                runs: r.get::<_, i64>(3)? as u64,
            })
        })
        .map_err(sql("list workspaces"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("list workspaces"))
    }

    fn stats(&self, ws: WorkspaceId) -> Result<Stats> {
        let c = self.conn();
        let mut st = c.prepare_cached("SELECT key, value FROM stats WHERE ws = ?1").map_err(sql("stats"))?;
        let mut map = serde_json::Map::new();
        for row in st.query_map([ws.0], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(sql("stats"))? {
            let (k, v) = row.map_err(sql("stats"))?;
            map.insert(k, v.into());
        }
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::Corrupt(format!("server stats of workspace {}: {e}", ws.0)))
    }

    fn bump(&self, ws: WorkspaceId, counter: Counter, by: u64) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO stats(ws, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(ws, key) DO UPDATE SET value = value + excluded.value",
                params![ws.0, counter.key(), by as i64],
            )
            .map_err(sql("stats"))?;
        Ok(())
    }

    fn take_request(&self, ws: WorkspaceId, quota: Quota) -> Result<std::result::Result<(), u64>> {
        let now = now_us();
        let c = self.conn();
        let tat: Option<i64> =
            c.query_row("SELECT tat FROM rate WHERE ws = ?1", [ws.0], |r| r.get(0)).optional().map_err(sql("rate"))?;
        match rate::take(tat, now, quota) {
            Ok(tat) => {
                c.execute(
                    "INSERT INTO rate(ws, tat) VALUES (?1, ?2) ON CONFLICT(ws) DO UPDATE SET tat = excluded.tat",
                    params![ws.0, tat],
                )
                .map_err(sql("rate"))?;
                Ok(Ok(()))
            }
            Err(wait) => Ok(Err(wait)),
        }
    }

    fn apply_batch(
        &self,
        ws: WorkspaceId,
        id: &BatchId,
        bytes: usize,
        batch: &Batch,
        limits: &ServiceLimits,
    ) -> Result<std::result::Result<BatchReply, BatchRefusal>> {
        let checked = match apply::validate(batch, limits) {
            Ok(c) => c,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let store = batch.store.to_ascii_lowercase();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql("begin batch"))?;
        let held = held(&tx, ws.0, &store, &apply::wanted(&checked))?;
        let plan = match apply::plan(id, batch, &checked, &held, limits)? {
            Ok(p) => p,
            Err(refusal) => return Ok(Err(refusal)),
        };
        write(&tx, ws.0, &store, id, bytes, &plan)?;
        tx.commit().map_err(sql("commit batch"))?;
        Ok(Ok(plan.reply))
    }

    fn missing_blobs(&self, ws: WorkspaceId, hashes: &[String]) -> Result<Vec<String>> {
        let c = self.conn();
        let mut st = c.prepare_cached("SELECT 1 FROM blobs WHERE ws = ?1 AND hash = ?2").map_err(sql("blobs"))?;
        let mut out = Vec::new();
        for h in hashes {
            let h = h.to_ascii_lowercase();
            if st.query_row(params![ws.0, h], |_| Ok(())).optional().map_err(sql("blobs"))?.is_none() {
                out.push(h);
            }
        }
        Ok(out)
    }

    fn rejections(&self, ws: WorkspaceId, store: &str) -> Result<Vec<Rejection>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT seq, part, code, reason FROM rejections WHERE ws = ?1 AND store = ?2 ORDER BY seq, part",
            )
            .map_err(sql("rejections"))?;
        st.query_map(params![ws.0, store], |r| {
            Ok(Rejection { seq: r.get(0)?, part: r.get(1)?, code: r.get(2)?, reason: r.get(3)? })
        })
        .map_err(sql("rejections"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("rejections"))
    }

    fn position(&self, ws: WorkspaceId, store: &str) -> Result<i64> {
        self.conn()
            .query_row(
                "SELECT coalesce(max(seq_hi), 0) FROM batches WHERE ws = ?1 AND store = ?2",
                params![ws.0, store],
                |r| r.get(0),
            )
            .map_err(sql("position"))
    }

    fn add_blob(&self, ws: WorkspaceId, hash: &str, size: u64) -> Result<()> {
        let c = self.conn();
        let added = c
            .execute(
                "INSERT OR IGNORE INTO blobs(ws, hash, size) VALUES (?1, ?2, ?3)",
                params![ws.0, hash, size as i64],
            )
            .map_err(sql("blobs"))?;
        c.execute(
            "INSERT INTO stats(ws, key, value) VALUES (?1, 'blob_uploads', 1), (?1, 'blobs_stored', ?2)
             ON CONFLICT(ws, key) DO UPDATE SET value = value + excluded.value",
            params![ws.0, added as i64],
        )
        .map_err(sql("stats"))?;
        Ok(())
    }

    fn runs(&self, ws: WorkspaceId, page: Option<&Page>) -> Result<Vec<RunView>> {
        let ids: Vec<String> = {
            let c = self.conn();
            let mut st = c
                .prepare_cached(
                    "SELECT id FROM runs WHERE ws = ?1
                     AND (?2 IS NULL OR (created_at, id) > (SELECT created_at, id FROM runs WHERE ws = ?1 AND id = ?2))
                     ORDER BY created_at, id LIMIT ?3",
                )
                .map_err(sql("runs"))?;
            let after = page.and_then(|p| p.after.as_deref());
            let limit = page.map_or(-1, |p| p.limit as i64);
            st.query_map(params![ws.0, after, limit], |r| r.get(0))
                .map_err(sql("runs"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql("runs"))?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = self.run(ws, &id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn run(&self, ws: WorkspaceId, id: &str) -> Result<Option<RunView>> {
        let c = self.conn();
        let head = c
            .query_row(
                "SELECT id, store, experiment, name, parent, created_at FROM runs WHERE ws = ?1 AND id = ?2",
                params![ws.0, id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()
            .map_err(sql("run"))?;
        let Some((id, store, experiment, name, parent, started_at)) = head else { return Ok(None) };
        let mut v = RunView::head(id, store, experiment, name, parent, started_at);
        let mut st = c
            .prepare_cached(
                "SELECT name, at, body, store, seq FROM records WHERE ws = ?1 AND run = ?2 AND kind IN ('status', 'param', 'tag', 'property')
                 ORDER BY store, seq",
            )
            .map_err(sql("run"))?;
        let mut rows = st.query(params![ws.0, v.id]).map_err(sql("run"))?;
        while let Some(r) = rows.next().map_err(sql("run"))? {
            let key: String = r.get(0).map_err(sql("run"))?;
            let at: i64 = r.get(1).map_err(sql("run"))?;
            let body: Vec<u8> = r.get(2).map_err(sql("run"))?;
            let store: String = r.get(3).map_err(sql("run"))?;
            let seq: i64 = r.get(4).map_err(sql("run"))?;
            v.apply(key, at, decode_body(&store, seq, &body)?);
        }
        Ok(Some(v))
    }

    fn metrics(&self, ws: WorkspaceId, run: &str) -> Result<Vec<MetricView>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT name, kind, sum(n) FROM records WHERE ws = ?1 AND run = ?2
                 AND kind IN ('scalars', 'row', 'table', 'image', 'text', 'chart') GROUP BY name, kind ORDER BY name, kind",
            )
            .map_err(sql("metrics"))?;
        st.query_map(params![ws.0, run], |r| {
            Ok(MetricView { name: r.get(0)?, kind: r.get(1)?, count: r.get::<_, i64>(2)? as u64 })
        })
        .map_err(sql("metrics"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("metrics"))
    }

    fn series(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<Point>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached("SELECT body FROM records WHERE ws = ?1 AND run = ?2 AND kind = 'scalars' AND name = ?3 ORDER BY store, seq, part")
            .map_err(sql("series"))?;
        let mut rows = st.query(params![ws.0, run, name]).map_err(sql("series"))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql("series"))? {
            let b = r.get_ref(0).map_err(sql("series"))?.as_blob().map_err(|e| Error::io("series", e))?;
            out.extend(points::decode(b).map_err(|e| corrupt(&format!("a scalar record of {run:?} {name:?}"), e))?);
        }
        out.sort_by_key(|p| p.step);
        Ok(out)
    }

    fn scalar_chunks(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<ScalarChunk>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT rowid, n, step, step_hi, vmin, vmax, vlast, last_step FROM records
                 WHERE ws = ?1 AND run = ?2 AND kind = 'scalars' AND name = ?3 ORDER BY store, seq, part",
            )
            .map_err(sql("scalar chunks"))?;
        st.query_map(params![ws.0, run, name], chunk_of_row)
            .map_err(sql("scalar chunks"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("scalar chunks"))
    }

    fn chunk_points(&self, ws: WorkspaceId, chunk: i64) -> Result<Option<Vec<Point>>> {
        let c = self.conn();
        let body: Option<Vec<u8>> = c
            .query_row(
                "SELECT body FROM records WHERE rowid = ?1 AND ws = ?2 AND kind = 'scalars'",
                params![chunk, ws.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("chunk"))?;
        let Some(body) = body else { return Ok(None) };
        Ok(Some(points::decode(&body).map_err(|e| corrupt(&format!("scalar record {chunk}"), e))?))
    }

    fn records(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<RecordBody>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT store, seq, name, step, at, body FROM records WHERE ws = ?1 AND run = ?2 AND kind = ?3
                 AND (?4 IS NULL OR name = ?4) ORDER BY store, seq",
            )
            .map_err(sql("records"))?;
        let mut rows = st.query(params![ws.0, run, kind, name]).map_err(sql("records"))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql("records"))? {
            let store: String = r.get(0).map_err(sql("records"))?;
            let seq: i64 = r.get(1).map_err(sql("records"))?;
            let body: Vec<u8> = r.get(5).map_err(sql("records"))?;
            let body = decode_body(&store, seq, &body)?;
            out.push(RecordBody {
                store,
                seq,
                name: r.get(2).map_err(sql("records"))?,
                step: r.get(3).map_err(sql("records"))?,
                at: r.get(4).map_err(sql("records"))?,
                body,
            });
        }
        Ok(out)
    }

    fn holds_blob(&self, ws: WorkspaceId, hash: &str) -> Result<bool> {
        let held = self
            .conn()
            .query_row("SELECT 1 FROM blobs WHERE ws = ?1 AND hash = ?2", params![ws.0, hash], |_| Ok(()))
            .optional()
            .map_err(sql("blobs"))?;
        Ok(held.is_some())
    }
}

#[async_trait]
impl Admin for SqliteStorage {
    async fn workspace_for_token(&self, token: &str) -> Result<Option<WorkspaceId>> {
        let token = token.to_string();
        self.on_db(move |s| s.workspace_for_token(&token)).await
    }

    async fn create_workspace(&self, name: &str) -> Result<String> {
        let name = name.to_string();
        self.on_db(move |s| s.create_workspace(&name)).await
    }

    async fn create_token(&self, workspace: &str) -> Result<String> {
        let workspace = workspace.to_string();
        self.on_db(move |s| s.create_token(&workspace)).await
    }

    async fn workspaces(&self) -> Result<Vec<WorkspaceInfo>> {
        self.on_db(Inner::workspaces).await
    }

    async fn stats(&self, ws: WorkspaceId) -> Result<Stats> {
        self.on_db(move |s| s.stats(ws)).await
    }

    async fn bump(&self, ws: WorkspaceId, counter: Counter, by: u64) -> Result<()> {
        self.on_db(move |s| s.bump(ws, counter, by)).await
    }

    async fn take_request(&self, ws: WorkspaceId, quota: Quota) -> Result<std::result::Result<(), u64>> {
        self.on_db(move |s| s.take_request(ws, quota)).await
    }

    async fn health(&self) -> Vec<(&'static str, Result<()>)> {
        let db = self.on_db(|s| s.conn().query_row("SELECT 1", [], |_| Ok(())).map_err(sql("health"))).await;
        vec![("database", db), ("blobs", self.inner.blobs.ping().await)]
    }
}

#[async_trait]
impl Experiments for SqliteStorage {
    async fn experiments(&self, ws: WorkspaceId) -> Result<Vec<ExperimentRow>> {
        self.on_db(move |s| s.experiments(ws)).await
    }

    async fn create_experiment(&self, ws: WorkspaceId, name: &str) -> Result<()> {
        let name = name.to_string();
        self.on_db(move |s| s.create_experiment(ws, &name)).await
    }

    async fn set_experiment_tag(&self, ws: WorkspaceId, name: &str, key: &str, value: Option<&str>) -> Result<()> {
        let (name, key, value) = (name.to_string(), key.to_string(), value.map(str::to_string));
        self.on_db(move |s| s.set_experiment_tag(ws, &name, &key, value.as_deref())).await
    }
}

#[async_trait]
impl Ingest for SqliteStorage {
    async fn apply_batch(
        &self,
        ws: WorkspaceId,
        id: BatchId,
        bytes: usize,
        batch: Batch,
        limits: ServiceLimits,
    ) -> Result<std::result::Result<BatchReply, BatchRefusal>> {
        self.on_db(move |s| s.apply_batch(ws, &id, bytes, &batch, &limits)).await
    }

    async fn missing_blobs(&self, ws: WorkspaceId, hashes: Vec<String>) -> Result<Vec<String>> {
        self.on_db(move |s| s.missing_blobs(ws, &hashes)).await
    }

    async fn begin_blob(&self, ws: WorkspaceId) -> Result<Box<dyn BlobUpload>> {
        Ok(Box::new(Upload::begin(self.inner.blobs.clone(), Arc::new(self.clone()), ws)?))
    }

    async fn rejections(&self, ws: WorkspaceId, store: &str) -> Result<Vec<Rejection>> {
        let store = store.to_string();
        self.on_db(move |s| s.rejections(ws, &store)).await
    }

    async fn position(&self, ws: WorkspaceId, store: &str) -> Result<i64> {
        let store = store.to_string();
        self.on_db(move |s| s.position(ws, &store)).await
    }
}

#[async_trait]
impl BlobRows for SqliteStorage {
    async fn add_blob(&self, ws: WorkspaceId, hash: &str, size: u64) -> Result<()> {
        let hash = hash.to_string();
        self.on_db(move |s| s.add_blob(ws, &hash, size)).await
    }
}

#[async_trait]
impl Read for SqliteStorage {
    async fn runs(&self, ws: WorkspaceId) -> Result<Vec<RunView>> {
        self.on_db(move |s| s.runs(ws, None)).await
    }

    async fn runs_page(&self, ws: WorkspaceId, page: Page) -> Result<Vec<RunView>> {
        self.on_db(move |s| s.runs(ws, Some(&page))).await
    }

    async fn run(&self, ws: WorkspaceId, id: &str) -> Result<Option<RunView>> {
        let id = id.to_string();
        self.on_db(move |s| s.run(ws, &id)).await
    }

    async fn metrics(&self, ws: WorkspaceId, run: &str) -> Result<Vec<MetricView>> {
        let run = run.to_string();
        self.on_db(move |s| s.metrics(ws, &run)).await
    }

    async fn series(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<Point>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.on_db(move |s| s.series(ws, &run, &name)).await
    }

    async fn scalar_chunks(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<ScalarChunk>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.on_db(move |s| s.scalar_chunks(ws, &run, &name)).await
    }

    async fn chunk_points(&self, ws: WorkspaceId, chunk: i64) -> Result<Option<Vec<Point>>> {
        self.on_db(move |s| s.chunk_points(ws, chunk)).await
    }

    async fn records(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<RecordBody>> {
        let (run, kind, name) = (run.to_string(), kind.to_string(), name.map(str::to_string));
        self.on_db(move |s| s.records(ws, &run, &kind, name.as_deref())).await
    }

    async fn blob(&self, ws: WorkspaceId, hash: &str) -> Result<Option<Vec<u8>>> {
        if !is_hex(hash, 64) {
            return Ok(None);
        }
        let hash = hash.to_ascii_lowercase();
        let h = hash.clone();
        if !self.on_db(move |s| s.holds_blob(ws, &h)).await? {
            return Ok(None);
        }
        self.inner.blobs.get(&hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::SqliteStorage;
    use runlog_wire::points::{self, Point};
    use runlog_wire::{Body, WireValue};

    fn pts(steps: std::ops::Range<i64>, value: impl Fn(i64) -> f64) -> Vec<Point> {
        steps.map(|s| Point { step: s, at: 5, value: value(s) }).collect()
    }

    /// A database made by a server before schema versions (version 0: the version 1 tables, no `user_version`)
    /// with a scalar chunk, a row and a token, as that server wrote them.
    fn version_0_database(dir: &std::path::Path) -> (String, Vec<Point>) {
        std::fs::create_dir_all(dir).expect("dir");
        let c = rusqlite::Connection::open(dir.join("server.db")).expect("open");
        c.execute_batch(super::SCHEMA_V1).expect("old schema");
        let token = "rlt_old".to_string();
        c.execute("INSERT INTO workspaces(id, name, created_at) VALUES (1, 'old', 0)", []).expect("ws");
        let hash = blake3::hash(token.as_bytes()).to_hex().to_string();
        c.execute("INSERT INTO tokens(hash, workspace, created_at) VALUES (?1, 1, 0)", [hash]).expect("token");
        let pts = pts(0..3, |s| [1.5, f64::NAN, -4.0][s as usize]);
        let insert = "INSERT INTO records(ws, store, seq, part, run, kind, name, at, step, n, body)
                      VALUES (1, ?1, ?2, 0, ?3, ?4, ?5, 7, 0, ?6, ?7)";
        let (store, run) = ("s".repeat(32), "a".repeat(32));
        c.execute(
            "INSERT INTO runs(ws, id, store, experiment, name, parent, created_at) VALUES (1, ?1, ?2, 'mnist', 'r', NULL, 5)",
            rusqlite::params![run, store],
        )
        .expect("run");
        c.execute(insert, rusqlite::params![store, 2, run, "scalars", "loss", 3, points::encode(&pts)]).expect("chunk");
        let row = rmp_serde::to_vec(&Body::Row(vec![("acc".into(), WireValue::Float(0.5))])).expect("row");
        c.execute(insert, rusqlite::params![store, 3, run, "row", "eval", 1, row]).expect("row");
        (token, pts)
    }

    #[test]
    fn an_unversioned_database_is_migrated_forward_and_keeps_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (token, pts) = version_0_database(dir.path());
        let st = SqliteStorage::open(dir.path()).expect("migrates");
        assert_eq!(st.schema_version().expect("version"), super::SCHEMA_VERSION);
        let ws = st.inner.workspace_for_token(&token).expect("auth").expect("the old token still opens its workspace");
        let run = "a".repeat(32);
        let chunks = st.inner.scalar_chunks(ws, &run, "loss").expect("chunks");
        assert_eq!(chunks.len(), 1);
        let c = &chunks[0];
        assert_eq!(
            (c.count, c.step_lo, c.step_hi, c.min, c.max),
            (3, 0, 2, Some(-4.0), Some(1.5)),
            "filled on migration"
        );
        assert_eq!((c.last, c.last_step), (-4.0, 2));
        let back = st.inner.chunk_points(ws, c.id).expect("read").expect("held");
        assert!(back.iter().zip(&pts).all(|(a, b)| a.value.to_bits() == b.value.to_bits()));
        assert_eq!(st.inner.records(ws, &run, "row", None).expect("rows").len(), 1);
        let exps = st.inner.experiments(ws).expect("experiments");
        assert_eq!(exps.iter().map(|e| (e.name.as_str(), e.created_at)).collect::<Vec<_>>(), [("mnist", 5)]);
        drop(st);
        // Opening again is a no-op.
        assert_eq!(SqliteStorage::open(dir.path()).expect("again").schema_version().expect("v"), super::SCHEMA_VERSION);
    }

    #[test]
    fn a_database_of_a_newer_version_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(SqliteStorage::open(dir.path()).expect("create"));
        let c = rusqlite::Connection::open(dir.path().join("server.db")).expect("open");
        c.pragma_update(None, "user_version", super::SCHEMA_VERSION + 1).expect("bump");
        drop(c);
        let e = SqliteStorage::open(dir.path()).err().expect("refused").to_string();
        assert!(e.contains(&format!("server schema version {}", super::SCHEMA_VERSION + 1)), "{e}");
        assert!(e.contains("upgrade runlog"), "{e}");
    }

    #[test]
    fn a_corrupt_record_is_an_error_that_names_it_not_a_silent_gap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (token, _) = version_0_database(dir.path());
        let c = rusqlite::Connection::open(dir.path().join("server.db")).expect("open");
        c.execute("UPDATE records SET body = x'c1' WHERE kind = 'row'", []).expect("corrupt");
        drop(c);
        let st = SqliteStorage::open(dir.path()).expect("open");
        let ws = st.inner.workspace_for_token(&token).expect("auth").expect("ws");
        let e = st.inner.records(ws, &"a".repeat(32), "row", None).expect_err("refused").to_string();
        assert!(e.contains("record 3 of store") && e.contains("corrupt"), "{e}");
    }
}
