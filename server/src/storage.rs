//! Where the workspace server keeps workspaces, tokens, records and blobs: the [`Storage`] trait and its default,
//! [`SqliteStorage`] (one SQLite file plus a content-addressed blob directory).
//!
//! The trait is synchronous (the router calls it on blocking threads) so another backend (PostgreSQL, object
//! storage) can be added behind it. Storage applies records idempotently: a record is identified by
//! `(workspace, store, seq, part)`, and scalar points by their position within their stored chunk, so a resend or a
//! differently split resend adds nothing. It knows nothing about HTTP.

use crate::error::{Error, Result};
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, BatchId, BatchReply, Body, Rejection, ServiceLimits, WireRecord, WireValue, truncate};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use subtle::ConstantTimeEq;

/// A workspace's numeric id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct WorkspaceId(pub i64);

/// A workspace as listed by `runlog admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceInfo {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// How many tokens open it.
    pub tokens: u64,
    /// How many runs it holds.
    pub runs: u64,
}

/// Why a batch was refused as a whole (nothing of it applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRefusal {
    /// It refers to blobs the workspace does not hold: upload them, then send the batch again.
    BlobsMissing(Vec<String>),
    /// Over the rows-per-batch limit.
    TooManyRows {
        /// Rows in the batch.
        rows: u64,
        /// The limit.
        limit: u64,
    },
}

/// A run as the read API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    /// Global id.
    pub id: String,
    /// The store it came from.
    pub store: String,
    /// Experiment name.
    pub experiment: String,
    /// Display name.
    pub name: String,
    /// Parent run id.
    pub parent: Option<String>,
    /// Start, ms since the epoch.
    pub started_at: i64,
    /// Latest status received (`running` until an end arrives).
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// End, ms since the epoch, once ended.
    pub ended_at: Option<i64>,
    /// Params (first value of each key).
    pub params: BTreeMap<String, serde_json::Value>,
    /// Tags (latest value of each key).
    pub tags: BTreeMap<String, serde_json::Value>,
    /// Properties (first value of each key).
    pub properties: BTreeMap<String, serde_json::Value>,
}

/// A metric name of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricView {
    /// The name.
    pub name: String,
    /// `scalars`, `row`, `table`, `image` or `text`.
    pub kind: String,
    /// Rows held.
    pub count: u64,
}

/// A non-scalar record as the read API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryView {
    /// The store it came from.
    pub store: String,
    /// Its sequence number there.
    pub seq: i64,
    /// Its name.
    pub name: String,
    /// Its step.
    pub step: Option<i64>,
    /// When, ms since the epoch.
    pub at: i64,
    /// The body as JSON (docs/protocol.md).
    pub body: serde_json::Value,
}

/// A stored chunk of a scalar series with statistics computed from its points (for charts that downsample without
/// sending every point).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalarChunk {
    /// The chunk's id within the workspace: what [`Storage::chunk_points`] takes.
    pub id: i64,
    /// Number of points.
    pub count: i64,
    /// Smallest step.
    pub step_lo: i64,
    /// Largest step.
    pub step_hi: i64,
    /// Smallest value, ignoring NaN (None when every value is NaN).
    pub min: Option<f64>,
    /// Largest value, ignoring NaN.
    pub max: Option<f64>,
    /// The last value in logged order.
    pub last: f64,
    /// The step of `last`.
    pub last_step: i64,
}

impl ScalarChunk {
    fn of(id: i64, points: &[Point]) -> Option<ScalarChunk> {
        let last = points.last()?;
        let mut c = ScalarChunk {
            id,
            count: points.len() as i64,
            step_lo: i64::MAX,
            step_hi: i64::MIN,
            min: None,
            max: None,
            last: last.value,
            last_step: last.step,
        };
        for p in points {
            c.step_lo = c.step_lo.min(p.step);
            c.step_hi = c.step_hi.max(p.step);
            if !p.value.is_nan() {
                c.min = Some(c.min.map_or(p.value, |m| m.min(p.value)));
                c.max = Some(c.max.map_or(p.value, |m| m.max(p.value)));
            }
        }
        Some(c)
    }
}

/// A non-scalar record with its decoded wire body (what the UI reads; [`EntryView`] is its JSON form).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBody {
    /// The store it came from.
    pub store: String,
    /// Its sequence number there.
    pub seq: i64,
    /// Its name (metric name, key, stream or file name).
    pub name: String,
    /// Its step.
    pub step: Option<i64>,
    /// When, ms since the epoch.
    pub at: i64,
    /// The body.
    pub body: Body,
}

/// Counters of what a workspace received, for tests and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Batch uploads answered 200.
    pub batches: u64,
    /// Most rows in one accepted batch.
    pub max_batch_rows: u64,
    /// Largest accepted batch body, in bytes.
    pub max_batch_bytes: u64,
    /// Records applied.
    pub records_applied: u64,
    /// Records received again (duplicates).
    pub records_duplicate: u64,
    /// Records rejected.
    pub records_rejected: u64,
    /// Blob uploads completed (including uploads of blobs already held).
    pub blob_uploads: u64,
    /// Blobs written to the blob directory for this workspace for the first time.
    pub blobs_stored: u64,
    /// Requests answered 413.
    pub too_large: u64,
    /// Requests answered 429.
    pub rate_limited: u64,
}

/// The storage a workspace server needs.
pub trait Storage: Send + Sync + 'static {
    /// The workspace a token opens (compared in constant time against every stored token hash).
    fn workspace_for_token(&self, token: &str) -> Result<Option<WorkspaceId>>;
    /// Creates a workspace and its first token (returned; only its hash is stored).
    fn create_workspace(&self, name: &str) -> Result<String>;
    /// Makes another token for a workspace.
    fn create_token(&self, workspace: &str) -> Result<String>;
    /// All workspaces.
    fn workspaces(&self) -> Result<Vec<WorkspaceInfo>>;
    /// Applies a verified, decoded batch: per-record outcomes, or a refusal of the whole batch.
    fn apply_batch(
        &self,
        ws: WorkspaceId,
        id: &BatchId,
        bytes: usize,
        batch: &Batch,
        limits: &ServiceLimits,
    ) -> Result<std::result::Result<BatchReply, BatchRefusal>>;
    /// Of these hashes, the ones the workspace does not hold.
    fn missing_blobs(&self, ws: WorkspaceId, hashes: &[String]) -> Result<Vec<String>>;
    /// A directory for temporary blob files (on the same file system as the blobs).
    fn temp_dir(&self) -> PathBuf;
    /// Adds a blob whose bytes (in `file`, already verified to hash to `hash`) were uploaded.
    fn put_blob(&self, ws: WorkspaceId, hash: &str, file: &Path) -> Result<()>;
    /// The file holding a blob of the workspace.
    fn blob_path(&self, ws: WorkspaceId, hash: &str) -> Result<Option<PathBuf>>;
    /// Runs of the workspace, oldest first.
    fn runs(&self, ws: WorkspaceId) -> Result<Vec<RunView>>;
    /// One run.
    fn run(&self, ws: WorkspaceId, id: &str) -> Result<Option<RunView>>;
    /// Metric names of a run.
    fn metrics(&self, ws: WorkspaceId, run: &str) -> Result<Vec<MetricView>>;
    /// A scalar series, in step order: (step, timestamp ms, value).
    fn series(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<Point>>;
    /// Non-scalar records of a kind (`row`, `table`, `image`, `text`, `log`, `file`, `param`, ...).
    fn entries(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<EntryView>>;
    /// The stored chunks of a scalar series with their statistics, in the order they were logged.
    fn scalar_chunks(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<ScalarChunk>>;
    /// The points of one chunk of the workspace ([`ScalarChunk::id`]) in logged order; None if the workspace has no
    /// such chunk.
    fn chunk_points(&self, ws: WorkspaceId, chunk: i64) -> Result<Option<Vec<Point>>>;
    /// Non-scalar records of a kind with their decoded bodies, in logged order (a body that does not decode is left
    /// out).
    fn records(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<RecordBody>>;
    /// Rejections recorded for a store.
    fn rejections(&self, ws: WorkspaceId, store: &str) -> Result<Vec<Rejection>>;
    /// The highest seq_hi of batches of a store (0 if none): a position hint, re-read when in doubt.
    fn position(&self, ws: WorkspaceId, store: &str) -> Result<i64>;
    /// The workspace's counters.
    fn stats(&self, ws: WorkspaceId) -> Result<Stats>;
    /// Adds to a counter (`too_large`, `rate_limited`).
    fn bump(&self, ws: WorkspaceId, counter: &str, by: u64) -> Result<()>;
}

const SCHEMA: &str = r#"
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

/// SQLite file `server.db` plus the blob directory `blobs/` under a data directory.
pub struct SqliteStorage {
    dir: PathBuf,
    conn: Mutex<Connection>,
    /// (blake3 of token, workspace): reloaded from the database when a token is not found.
    tokens: RwLock<Vec<([u8; 32], i64)>>,
    /// Statistics of scalar chunks already read, by record rowid. Stored records never change, so an entry never goes
    /// stale; the map is emptied when it reaches [`CHUNK_STATS_CACHE_ENTRIES`].
    chunk_stats: Mutex<std::collections::HashMap<i64, ScalarChunk>>,
}

/// How many chunks' statistics [`SqliteStorage`] keeps in memory (about 100 bytes each; 250,000 chunks cover about
/// a billion points), so a chart of a long series decodes only the chunks that arrived since the last one.
pub const CHUNK_STATS_CACHE_ENTRIES: usize = 250_000;

fn sql(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::io(format!("server storage: {what}"), e)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("server storage: {what} is corrupt: {e}"))
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn new_token() -> String {
    format!("rlt_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn token_hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl SqliteStorage {
    /// Opens (creating) the storage in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStorage> {
        std::fs::create_dir_all(dir.join("blobs").join("tmp"))
            .map_err(|e| Error::io(format!("create data directory {}", dir.display()), e))?;
        let path = dir.join("server.db");
        let conn = Connection::open(&path).map_err(sql("open server.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql("busy timeout"))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())).map_err(sql("wal"))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql("synchronous"))?;
        conn.execute_batch(SCHEMA).map_err(sql("create schema"))?;
        let s = SqliteStorage {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            tokens: RwLock::new(Vec::new()),
            chunk_stats: Mutex::default(),
        };
        s.reload_tokens()?;
        Ok(s)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reload_tokens(&self) -> Result<()> {
        let rows: Vec<(String, i64)> = {
            let c = self.conn();
            let mut st = c.prepare("SELECT hash, workspace FROM tokens").map_err(sql("read tokens"))?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql("read tokens"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql("read tokens"))?
        };
        let mut parsed = Vec::with_capacity(rows.len());
        for (hex, ws) in rows {
            if let Ok(h) = blake3::Hash::from_hex(&hex) {
                parsed.push((*h.as_bytes(), ws));
            }
        }
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = parsed;
        Ok(())
    }

    fn find_token(&self, hash: &[u8; 32]) -> Option<i64> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        // Every stored hash is compared, in constant time, whatever matches: timing says nothing about the token.
        for (h, ws) in tokens.iter() {
            if bool::from(h.ct_eq(hash)) {
                found = Some(*ws);
            }
        }
        found
    }

    fn blob_file(&self, hash: &str) -> PathBuf {
        self.dir.join("blobs").join(&hash[..2]).join(hash)
    }

    fn insert_token(c: &Connection, ws: i64) -> Result<String> {
        let token = new_token();
        c.execute(
            "INSERT INTO tokens(hash, workspace, created_at) VALUES (?1, ?2, ?3)",
            params![blake3::Hash::from(token_hash(&token)).to_hex().as_str(), ws, now_ms()],
        )
        .map_err(sql("insert token"))?;
        Ok(token)
    }
}

/// Per-record limit check of a new record: `Some((code, reason))` to reject it.
fn check_record(rec: &WireRecord, limits: &ServiceLimits) -> Option<(&'static str, String)> {
    let chars = |s: &str| s.chars().count() as u64;
    let cut = |s: &str| truncate(s, 40);
    let name_check = |what: &str, s: &str| {
        let n = chars(s);
        (n > limits.max_name_chars).then(|| {
            ("name_too_long", format!("{what} {:?} is {n} characters, the limit is {}", cut(s), limits.max_name_chars))
        })
    };
    let value_check = |what: &str, v: &WireValue| {
        let s = v.as_str()?;
        let n = chars(s);
        (n > limits.max_value_chars).then(|| {
            (
                "value_too_long",
                format!("{what} {:?} is {n} characters, the limit is {}", cut(s), limits.max_value_chars),
            )
        })
    };
    if !rec.name.is_empty()
        && let Some(e) = name_check("name", &rec.name)
    {
        return Some(e);
    }
    let columns = |n: usize| {
        (n as u64 > limits.max_columns_per_row).then(|| {
            (
                "too_many_columns",
                format!(
                    "{} {:?} has {n} columns, the limit is {}",
                    rec.body.kind(),
                    cut(&rec.name),
                    limits.max_columns_per_row
                ),
            )
        })
    };
    match &rec.body {
        Body::Param(v) | Body::Tag(v) | Body::Property(v) | Body::Description(v) => {
            value_check(&format!("value of {} {:?}", rec.body.kind(), cut(&rec.name)), v)
        }
        Body::Row(cols) => columns(cols.len()).or_else(|| {
            cols.iter()
                .find_map(|(k, v)| name_check("column name", k).or_else(|| value_check(&format!("column {k:?}"), v)))
        }),
        Body::Table(cols) => columns(cols.len()).or_else(|| {
            cols.iter().find_map(|(k, vs)| {
                name_check("column name", k)
                    .or_else(|| vs.iter().find_map(|v| value_check(&format!("column {k:?}"), v)))
            })
        }),
        _ => None,
    }
}

fn status_reason(body: &Body) -> Option<(String, Option<String>)> {
    match body {
        Body::Status { status, reason } => Some((status.clone(), reason.clone())),
        _ => None,
    }
}

/// JSON of a wire value: non-finite floats as the strings `NaN`, `Infinity`, `-Infinity`.
pub fn value_json(v: &WireValue) -> serde_json::Value {
    match v {
        WireValue::Bool(b) => (*b).into(),
        WireValue::Int(i) => (*i).into(),
        WireValue::Float(f) => float_json(*f),
        WireValue::Str(s) => s.clone().into(),
    }
}

/// JSON of a float: non-finite as a string.
pub fn float_json(f: f64) -> serde_json::Value {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "Infinity".into()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

fn body_json(body: &Body) -> serde_json::Value {
    use serde_json::json;
    match body {
        Body::Run { experiment, name, parent } => json!({"experiment": experiment, "name": name, "parent": parent}),
        Body::Status { status, reason } => json!({"status": status, "reason": reason}),
        Body::Param(v) | Body::Tag(v) | Body::Property(v) | Body::Description(v) => json!({"value": value_json(v)}),
        Body::Scalars(b) => json!({"packed_bytes": b.len()}),
        Body::Row(cols) => {
            json!({"columns": cols.iter().map(|(k, v)| json!([k, value_json(v)])).collect::<Vec<_>>()})
        }
        Body::Table(cols) => json!({"columns": cols.iter()
            .map(|(k, vs)| json!([k, vs.iter().map(value_json).collect::<Vec<_>>()])).collect::<Vec<_>>()}),
        Body::Image { hash, format, width, height, size, description } => json!({"hash": hash, "format": format,
            "width": width, "height": height, "size": size, "description": description}),
        Body::Text(t) => json!({"text": t}),
        Body::Log { level, target, message } => json!({"level": level, "target": target, "message": message}),
        Body::File { hash, size } => json!({"hash": hash, "size": size}),
    }
}

/// Merges `[lo, hi)` intervals already held and returns the sub-ranges of `[lo, hi)` not covered.
fn uncovered(held: &mut [(i64, i64)], lo: i64, hi: i64) -> Vec<(i64, i64)> {
    held.sort_unstable();
    let mut out = Vec::new();
    let mut at = lo;
    for &(a, b) in held.iter() {
        if b <= at {
            continue;
        }
        if a >= hi {
            break;
        }
        if a > at {
            out.push((at, a.min(hi)));
        }
        at = at.max(b);
        if at >= hi {
            break;
        }
    }
    if at < hi {
        out.push((at, hi));
    }
    out
}

impl Storage for SqliteStorage {
    fn workspace_for_token(&self, token: &str) -> Result<Option<WorkspaceId>> {
        let hash = token_hash(token);
        if let Some(ws) = self.find_token(&hash) {
            return Ok(Some(WorkspaceId(ws)));
        }
        // A token made by `runlog admin` while the server runs: look again.
        self.reload_tokens()?;
        Ok(self.find_token(&hash).map(WorkspaceId))
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
            let token = Self::insert_token(&tx, ws)?;
            tx.commit().map_err(sql("commit"))?;
            token
        };
        self.reload_tokens()?;
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
            Self::insert_token(&c, ws)?
        };
        self.reload_tokens()?;
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

    fn apply_batch(
        &self,
        ws: WorkspaceId,
        id: &BatchId,
        bytes: usize,
        batch: &Batch,
        limits: &ServiceLimits,
    ) -> Result<std::result::Result<BatchReply, BatchRefusal>> {
        let rows = batch.rows();
        if rows > limits.max_rows_per_batch {
            return Ok(Err(BatchRefusal::TooManyRows { rows, limit: limits.max_rows_per_batch }));
        }
        let mut c = self.conn();
        let tx = c.transaction().map_err(sql("begin batch"))?;
        let ws_id = ws.0;
        // Every blob referred to must be held first: then a synced image can always be shown.
        let mut missing = Vec::new();
        {
            let mut has = tx.prepare_cached("SELECT 1 FROM blobs WHERE ws = ?1 AND hash = ?2").map_err(sql("blobs"))?;
            for r in &batch.records {
                if let Some(h) = r.body.blob() {
                    let held = is_hex(h, 64)
                        && has
                            .query_row(params![ws_id, h.to_ascii_lowercase()], |_| Ok(()))
                            .optional()
                            .map_err(sql("blobs"))?
                            .is_some();
                    if is_hex(h, 64) && !held && !missing.iter().any(|m: &String| m == h) {
                        missing.push(h.to_ascii_lowercase());
                    }
                }
            }
        }
        if !missing.is_empty() {
            return Ok(Err(BatchRefusal::BlobsMissing(missing)));
        }
        let now = now_ms();
        let store = batch.store.to_ascii_lowercase();
        let mut reply = BatchReply { batch: id.to_string(), applied: 0, duplicates: 0, rejected: Vec::new() };
        {
            let mut exists = tx
                .prepare_cached("SELECT 1 FROM records WHERE ws = ?1 AND store = ?2 AND seq = ?3 AND part = ?4")
                .map_err(sql("find record"))?;
            let mut parts = tx
                .prepare_cached("SELECT part, n FROM records WHERE ws = ?1 AND store = ?2 AND seq = ?3")
                .map_err(sql("find parts"))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records(ws, store, seq, part, run, kind, name, at, step, n, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(sql("insert record"))?;
            let mut name_rows = tx
                .prepare_cached("SELECT n FROM names WHERE ws = ?1 AND run = ?2 AND name = ?3")
                .map_err(sql("names"))?;
            let mut name_count =
                tx.prepare_cached("SELECT count(*) FROM names WHERE ws = ?1 AND run = ?2").map_err(sql("names"))?;
            let mut name_add = tx
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
            for rec in &batch.records {
                let mut refuse = |code: &str, reason: String| -> Result<()> {
                    reject
                        .execute(params![ws_id, store, rec.seq, rec.part, code, reason, now])
                        .map_err(sql("reject"))?;
                    reply.rejected.push(Rejection { seq: rec.seq, part: rec.part, code: code.to_string(), reason });
                    Ok(())
                };
                if rec.seq <= 0 || !is_hex(&rec.run, 32) {
                    refuse(
                        "invalid_record",
                        format!("record {} has a bad sequence number or run id {:?}", rec.seq, truncate(&rec.run, 40)),
                    )?;
                    continue;
                }
                // What this record adds: for scalars, only the points not held yet (by position in their chunk).
                let mut new_ranges: Vec<(i64, i64)> = Vec::new();
                let mut points = Vec::new();
                if let Body::Scalars(b) = &rec.body {
                    points = match points::decode(b) {
                        Ok(p) if !p.is_empty() && p.len() == rec.rows as usize => p,
                        Ok(p) => {
                            refuse(
                                "invalid_record",
                                format!("scalar record {} holds {} points but says {}", rec.seq, p.len(), rec.rows),
                            )?;
                            continue;
                        }
                        Err(e) => {
                            refuse("invalid_record", format!("scalar record {}: {e}", rec.seq))?;
                            continue;
                        }
                    };
                    let mut held: Vec<(i64, i64)> = parts
                        .query_map(params![ws_id, store, rec.seq], |r| {
                            let (p, n): (i64, i64) = (r.get(0)?, r.get(1)?);
                            Ok((p, p + n))
                        })
                        .map_err(sql("parts"))?
                        .collect::<rusqlite::Result<_>>()
                        .map_err(sql("parts"))?;
                    let lo = i64::from(rec.part);
                    new_ranges = uncovered(&mut held, lo, lo + points.len() as i64);
                    if new_ranges.is_empty() {
                        reply.duplicates += 1;
                        continue;
                    }
                } else if exists
                    .query_row(params![ws_id, store, rec.seq, rec.part], |_| Ok(()))
                    .optional()
                    .map_err(sql("find"))?
                    .is_some()
                {
                    reply.duplicates += 1;
                    continue;
                }
                if let Some((code, reason)) = check_record(rec, limits) {
                    refuse(code, reason)?;
                    continue;
                }
                let added_rows: u64 = if new_ranges.is_empty() {
                    u64::from(rec.rows)
                } else {
                    new_ranges.iter().map(|(a, b)| (b - a) as u64).sum()
                };
                if rec.body.is_metric() {
                    let held: Option<i64> = name_rows
                        .query_row(params![ws_id, rec.run, rec.name], |r| r.get(0))
                        .optional()
                        .map_err(sql("names"))?;
                    match held {
                        None => {
                            let n: i64 =
                                name_count.query_row(params![ws_id, rec.run], |r| r.get(0)).map_err(sql("names"))?;
                            if n as u64 >= limits.max_names_per_run {
                                refuse(
                                    "too_many_names",
                                    format!(
                                        "metric name {:?} would be name {} of run {}, the limit is {} names per run",
                                        truncate(&rec.name, 40),
                                        n + 1,
                                        rec.run,
                                        limits.max_names_per_run
                                    ),
                                )?;
                                continue;
                            }
                        }
                        Some(n) if n as u64 + added_rows > limits.max_rows_per_name => {
                            refuse(
                                "too_many_rows",
                                format!(
                                    "metric {:?} of run {} would hold {} rows, the limit is {} rows per name",
                                    truncate(&rec.name, 40),
                                    rec.run,
                                    n as u64 + added_rows,
                                    limits.max_rows_per_name
                                ),
                            )?;
                            continue;
                        }
                        Some(_) => {}
                    }
                    if added_rows > limits.max_rows_per_name {
                        refuse(
                            "too_many_rows",
                            format!(
                                "record {} holds {added_rows} rows, the limit is {} rows per name",
                                rec.seq, limits.max_rows_per_name
                            ),
                        )?;
                        continue;
                    }
                    name_add.execute(params![ws_id, rec.run, rec.name, added_rows as i64]).map_err(sql("names"))?;
                }
                if let Body::Run { experiment, name, parent } = &rec.body {
                    run_insert
                        .execute(params![ws_id, rec.run, store, experiment, name, parent, rec.at])
                        .map_err(sql("runs"))?;
                }
                if let Body::Scalars(_) = &rec.body {
                    let base = i64::from(rec.part);
                    for (a, b) in new_ranges {
                        let slice = &points[(a - base) as usize..(b - base) as usize];
                        let packed = points::encode(slice);
                        let step = slice.iter().map(|p| p.step).min();
                        insert
                            .execute(params![
                                ws_id,
                                store,
                                rec.seq,
                                a,
                                rec.run,
                                "scalars",
                                rec.name,
                                rec.at,
                                step,
                                b - a,
                                packed
                            ])
                            .map_err(sql("insert"))?;
                    }
                } else {
                    let body = rmp_serde::to_vec(&rec.body).unwrap_or_default();
                    insert
                        .execute(params![
                            ws_id,
                            store,
                            rec.seq,
                            rec.part,
                            rec.run,
                            rec.body.kind(),
                            rec.name,
                            rec.at,
                            rec.step,
                            rec.rows,
                            body
                        ])
                        .map_err(sql("insert"))?;
                }
                reply.applied += 1;
            }
        }
        let (lo, hi) = batch.records.iter().fold((i64::MAX, 0), |(lo, hi), r| (lo.min(r.seq), hi.max(r.seq)));
        tx.execute(
            "INSERT OR IGNORE INTO batches(ws, id, store, seq_lo, seq_hi, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![ws_id, id.as_str(), store, if lo == i64::MAX { 0 } else { lo }, hi, now],
        )
        .map_err(sql("batches"))?;
        {
            let mut bump = tx
                .prepare_cached(
                    "INSERT INTO stats(ws, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(ws, key) DO UPDATE SET value = CASE WHEN ?4 THEN max(value, excluded.value) ELSE value + excluded.value END",
                )
                .map_err(sql("stats"))?;
            for (k, v, is_max) in [
                ("batches", 1, false),
                ("records_applied", reply.applied, false),
                ("records_duplicate", reply.duplicates, false),
                ("records_rejected", reply.rejected.len() as u64, false),
                ("max_batch_rows", rows, true),
                ("max_batch_bytes", bytes as u64, true),
            ] {
                bump.execute(params![ws_id, k, v as i64, is_max]).map_err(sql("stats"))?;
            }
        }
        tx.commit().map_err(sql("commit batch"))?;
        Ok(Ok(reply))
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

    fn temp_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("tmp")
    }

    fn put_blob(&self, ws: WorkspaceId, hash: &str, file: &Path) -> Result<()> {
        let dest = self.blob_file(hash);
        let size = std::fs::metadata(file).map_err(|e| Error::io("stat uploaded blob", e))?.len();
        if dest.exists() {
            let _ = std::fs::remove_file(file);
        } else {
            if let Some(d) = dest.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io("create blob directory", e))?;
            }
            std::fs::rename(file, &dest).map_err(|e| Error::io("store blob", e))?;
        }
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

    fn blob_path(&self, ws: WorkspaceId, hash: &str) -> Result<Option<PathBuf>> {
        if !is_hex(hash, 64) {
            return Ok(None);
        }
        let hash = hash.to_ascii_lowercase();
        let held = self
            .conn()
            .query_row("SELECT 1 FROM blobs WHERE ws = ?1 AND hash = ?2", params![ws.0, hash], |_| Ok(()))
            .optional()
            .map_err(sql("blobs"))?;
        Ok(held.map(|_| self.blob_file(&hash)))
    }

    fn runs(&self, ws: WorkspaceId) -> Result<Vec<RunView>> {
        let ids: Vec<String> = {
            let c = self.conn();
            let mut st =
                c.prepare_cached("SELECT id FROM runs WHERE ws = ?1 ORDER BY created_at, id").map_err(sql("runs"))?;
            st.query_map([ws.0], |r| r.get(0))
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
        let mut v = RunView {
            id,
            store,
            experiment,
            name,
            parent,
            started_at,
            status: "running".into(),
            reason: None,
            ended_at: None,
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
            properties: BTreeMap::new(),
        };
        let mut st = c
            .prepare_cached(
                "SELECT name, at, body FROM records WHERE ws = ?1 AND run = ?2 AND kind IN ('status', 'param', 'tag', 'property')
                 ORDER BY store, seq",
            )
            .map_err(sql("run"))?;
        let mut rows = st.query(params![ws.0, v.id]).map_err(sql("run"))?;
        while let Some(r) = rows.next().map_err(sql("run"))? {
            let key: String = r.get(0).map_err(sql("run"))?;
            let at: i64 = r.get(1).map_err(sql("run"))?;
            let body: Vec<u8> = r.get(2).map_err(sql("run"))?;
            let Ok(body) = rmp_serde::from_slice::<Body>(&body) else { continue };
            if let Some((status, reason)) = status_reason(&body) {
                v.ended_at = (status != "running").then_some(at);
                v.status = status;
                v.reason = reason;
                continue;
            }
            match body {
                Body::Param(x) => {
                    v.params.entry(key).or_insert_with(|| value_json(&x));
                }
                Body::Tag(x) => {
                    v.tags.insert(key, value_json(&x));
                }
                Body::Property(x) => {
                    v.properties.entry(key).or_insert_with(|| value_json(&x));
                }
                _ => {}
            }
        }
        Ok(Some(v))
    }

    fn metrics(&self, ws: WorkspaceId, run: &str) -> Result<Vec<MetricView>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT name, kind, sum(n) FROM records WHERE ws = ?1 AND run = ?2
                 AND kind IN ('scalars', 'row', 'table', 'image', 'text') GROUP BY name, kind ORDER BY name, kind",
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

    fn entries(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<EntryView>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT store, seq, name, step, at, body FROM records WHERE ws = ?1 AND run = ?2 AND kind = ?3
                 AND (?4 IS NULL OR name = ?4) ORDER BY store, seq",
            )
            .map_err(sql("entries"))?;
        let mut rows = st.query(params![ws.0, run, kind, name]).map_err(sql("entries"))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql("entries"))? {
            let body: Vec<u8> = r.get(5).map_err(sql("entries"))?;
            let body = match rmp_serde::from_slice::<Body>(&body) {
                Ok(b) => body_json(&b),
                Err(_) => serde_json::Value::Null,
            };
            out.push(EntryView {
                store: r.get(0).map_err(sql("entries"))?,
                seq: r.get(1).map_err(sql("entries"))?,
                name: r.get(2).map_err(sql("entries"))?,
                step: r.get(3).map_err(sql("entries"))?,
                at: r.get(4).map_err(sql("entries"))?,
                body,
            });
        }
        Ok(out)
    }

    fn scalar_chunks(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<ScalarChunk>> {
        let c = self.conn();
        let ids: Vec<i64> = c
            .prepare_cached(
                "SELECT rowid FROM records WHERE ws = ?1 AND run = ?2 AND kind = 'scalars' AND name = ?3
                 ORDER BY store, seq, part",
            )
            .map_err(sql("scalar chunks"))?
            .query_map(params![ws.0, run, name], |r| r.get(0))
            .map_err(sql("scalar chunks"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("scalar chunks"))?;
        let mut cache = self.chunk_stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut body = c.prepare_cached("SELECT body FROM records WHERE rowid = ?1").map_err(sql("scalar chunks"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(known) = cache.get(&id) {
                out.push(known.clone());
                continue;
            }
            let b: Vec<u8> = body.query_row([id], |r| r.get(0)).map_err(sql("scalar chunks"))?;
            let points = points::decode(&b).map_err(|e| corrupt(&format!("scalar record {id}"), e))?;
            if let Some(stats) = ScalarChunk::of(id, &points) {
                if cache.len() >= CHUNK_STATS_CACHE_ENTRIES {
                    cache.clear();
                }
                cache.insert(id, stats.clone());
                out.push(stats);
            }
        }
        Ok(out)
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
            let body: Vec<u8> = r.get(5).map_err(sql("records"))?;
            let Ok(body) = rmp_serde::from_slice::<Body>(&body) else { continue };
            out.push(RecordBody {
                store: r.get(0).map_err(sql("records"))?,
                seq: r.get(1).map_err(sql("records"))?,
                name: r.get(2).map_err(sql("records"))?,
                step: r.get(3).map_err(sql("records"))?,
                at: r.get(4).map_err(sql("records"))?,
                body,
            });
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

    fn bump(&self, ws: WorkspaceId, counter: &str, by: u64) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO stats(ws, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(ws, key) DO UPDATE SET value = value + excluded.value",
                params![ws.0, counter, by as i64],
            )
            .map_err(sql("stats"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Body, SqliteStorage, Storage, WireValue, uncovered};
    use runlog_wire::points::{self, Point};
    use runlog_wire::{Batch, ServiceLimits, WIRE_VERSION, WireRecord};

    fn record(seq: i64, part: u32, rows: u32, name: &str, step: Option<i64>, body: Body) -> WireRecord {
        WireRecord { seq, part, rows, run: "a".repeat(32), name: name.into(), at: 1_000 + seq, step, body }
    }

    fn pts(steps: std::ops::Range<i64>, value: impl Fn(i64) -> f64) -> Vec<Point> {
        steps.map(|s| Point { step: s, at: 5, value: value(s) }).collect()
    }

    #[test]
    fn scalar_chunks_chunk_points_and_records_read_back_within_their_workspace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let st = SqliteStorage::open(dir.path()).expect("open");
        st.create_workspace("a").expect("workspace a");
        st.create_workspace("b").expect("workspace b");
        let ws = st.workspaces().expect("list");
        let (a, b) = (super::WorkspaceId(ws[0].id), super::WorkspaceId(ws[1].id));
        let first = pts(0..4, |s| [3.0, f64::NAN, -2.0, 7.0][s as usize]);
        let second = pts(4..6, |s| s as f64 * 10.0);
        let enc = |p: &[Point]| points::encode(p);
        let run = Body::Run { experiment: "e".into(), name: "r".into(), parent: None };
        let batch = Batch {
            version: WIRE_VERSION,
            store: "s".repeat(32),
            records: vec![
                record(1, 0, 1, "", None, run),
                record(2, 0, 4, "loss", Some(0), Body::Scalars(enc(&first))),
                record(3, 0, 1, "epoch", Some(0), Body::Row(vec![("acc".into(), WireValue::Float(0.5))])),
                record(4, 0, 2, "loss", Some(4), Body::Scalars(enc(&second))),
            ],
        };
        let encoded = batch.encode();
        let reply = st
            .apply_batch(a, &encoded.id, encoded.bytes.len(), &batch, &ServiceLimits::default())
            .expect("apply")
            .expect("accepted");
        assert_eq!(reply.applied, 4, "{reply:?}");
        let run = "a".repeat(32);

        let chunks = st.scalar_chunks(a, &run, "loss").expect("chunks");
        assert_eq!(chunks.len(), 2);
        let c = &chunks[0];
        assert_eq!((c.count, c.step_lo, c.step_hi, c.min, c.max), (4, 0, 3, Some(-2.0), Some(7.0)), "NaN is ignored");
        assert_eq!((c.last, c.last_step), (7.0, 3));
        assert_eq!((chunks[1].count, chunks[1].last, chunks[1].last_step), (2, 50.0, 5));
        assert_eq!(st.scalar_chunks(a, &run, "loss").expect("again"), chunks, "statistics from the cache are the same");
        let back = st.chunk_points(a, c.id).expect("read").expect("held");
        assert_eq!(back.len(), 4);
        assert!(back[1].value.is_nan() && back[3] == first[3]);
        assert_eq!(st.chunk_points(a, chunks[1].id).expect("read"), Some(second));

        // Another workspace can name neither the run's chunks nor its records.
        assert_eq!(st.chunk_points(b, c.id).expect("read"), None);
        assert!(st.scalar_chunks(b, &run, "loss").expect("chunks").is_empty());
        assert!(st.records(b, &run, "row", None).expect("records").is_empty());
        // A row (stored between the two chunks) is not a chunk.
        assert_eq!(chunks[1].id, c.id + 2);
        assert_eq!(st.chunk_points(a, c.id + 1).expect("read"), None);
        let rows = st.records(a, &run, "row", Some("epoch")).expect("records");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].seq, rows[0].step, rows[0].at), (3, Some(0), 1_003));
        assert_eq!(rows[0].body, Body::Row(vec![("acc".into(), WireValue::Float(0.5))]));
        assert!(st.records(a, &run, "row", Some("other")).expect("records").is_empty());
    }

    #[test]
    fn uncovered_finds_the_gaps() {
        assert_eq!(uncovered(&mut [], 0, 10), vec![(0, 10)]);
        assert_eq!(uncovered(&mut [(0, 10)], 0, 10), vec![]);
        assert_eq!(uncovered(&mut [(0, 4), (6, 8)], 0, 10), vec![(4, 6), (8, 10)]);
        assert_eq!(uncovered(&mut [(5, 20)], 0, 10), vec![(0, 5)]);
        assert_eq!(uncovered(&mut [(0, 250), (250, 500)], 250, 4096), vec![(500, 4096)]);
    }
}
