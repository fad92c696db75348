//! Where the workspace server keeps workspaces, tokens, records and blobs: three traits by role, [`Admin`]
//! (workspaces, tokens, counters, the request allowance), [`Ingest`] (what the upload API writes) and [`Read`] (what
//! the read API and the web UI read), together [`Storage`]; and two backends: [`SqliteStorage`] (one SQLite file plus
//! a blob directory, `runlog serve --data DIR`) and [`PgStorage`] (PostgreSQL plus object storage, for several
//! stateless replicas). Blob bytes live in a [`BlobStore`] (object storage or a local directory), their rows in the
//! database.
//!
//! The traits are async (the SQLite backend runs its queries on blocking threads; PostgreSQL's driver is async) and
//! name no file: blobs go in as a stream and come out as bytes. Applying a batch is three steps: [`apply::validate`]
//! (pure: what each record is, or why it is refused), the backend's read of what it holds of those records
//! ([`apply::Held`]), [`apply::plan`] (pure: what to write), then the backend's write of the plan in one transaction.
//! A record is identified by `(workspace, store, seq, part)`, and scalar points by their position within their
//! stored chunk, so a resend or a differently split resend adds nothing.

pub mod apply;
mod blobs;
mod postgres;
pub mod rate;
mod sqlite;

pub use apply::BatchRefusal;
pub use blobs::BlobStore;
pub use postgres::{PG_SCHEMA_VERSION, PgStorage};
pub use sqlite::{SCHEMA_VERSION, SqliteStorage};

use crate::error::Result;
use async_trait::async_trait;
use runlog_wire::points::Point;
use runlog_wire::{Batch, BatchId, BatchReply, Body, Rejection, ServiceLimits, WireValue};
use serde::Serialize;
use std::collections::BTreeMap;

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
    #[serde(serialize_with = "values_json")]
    pub params: BTreeMap<String, WireValue>,
    /// Tags (latest value of each key).
    #[serde(serialize_with = "values_json")]
    pub tags: BTreeMap<String, WireValue>,
    /// Properties (first value of each key).
    #[serde(serialize_with = "values_json")]
    pub properties: BTreeMap<String, WireValue>,
}

impl RunView {
    /// A run as created, before its status, param, tag and property records are applied ([`RunView::apply`]).
    pub(crate) fn head(
        id: String,
        store: String,
        experiment: String,
        name: String,
        parent: Option<String>,
        at: i64,
    ) -> RunView {
        RunView {
            id,
            store,
            experiment,
            name,
            parent,
            started_at: at,
            status: "running".into(),
            reason: None,
            ended_at: None,
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
            properties: BTreeMap::new(),
        }
    }

    /// Applies one of the run's records, taken in logged order: the latest status and tag, the first param and
    /// property of each key (they are write-once).
    pub(crate) fn apply(&mut self, key: String, at: i64, body: Body) {
        match body {
            Body::Status { status, reason } => {
                self.ended_at = (status != "running").then_some(at);
                self.status = status;
                self.reason = reason;
            }
            Body::Param(x) => {
                self.params.entry(key).or_insert(x);
            }
            Body::Tag(x) => {
                self.tags.insert(key, x);
            }
            Body::Property(x) => {
                self.properties.entry(key).or_insert(x);
            }
            _ => {}
        }
    }
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
    /// The chunk's id within the workspace: what [`Read::chunk_points`] takes.
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
    /// The statistics of a chunk's points (None for no points).
    pub fn of(id: i64, points: &[Point]) -> Option<ScalarChunk> {
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

/// A counter of [`Stats`] that the router bumps (the others move with the batches and blobs they count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Requests answered 413.
    TooLarge,
    /// Requests answered 429.
    RateLimited,
}

impl Counter {
    /// The counter's key, as in [`Stats`].
    pub fn key(self) -> &'static str {
        match self {
            Counter::TooLarge => "too_large",
            Counter::RateLimited => "rate_limited",
        }
    }
}

/// Workspaces, tokens, counters and the request allowance: what `runlog admin` and authentication use.
#[async_trait]
pub trait Admin: Send + Sync {
    /// The workspace a token opens (looked up by the token's hash; only hashes are stored).
    async fn workspace_for_token(&self, token: &str) -> Result<Option<WorkspaceId>>;
    /// Creates a workspace and its first token (returned; only its hash is stored).
    async fn create_workspace(&self, name: &str) -> Result<String>;
    /// Makes another token for a workspace.
    async fn create_token(&self, workspace: &str) -> Result<String>;
    /// All workspaces.
    async fn workspaces(&self) -> Result<Vec<WorkspaceInfo>>;
    /// The workspace's counters.
    async fn stats(&self, ws: WorkspaceId) -> Result<Stats>;
    /// Adds to a counter.
    async fn bump(&self, ws: WorkspaceId, counter: Counter, by: u64) -> Result<()>;
    /// Takes one request from the workspace's allowance (a token bucket kept in the database, so every replica
    /// draws on the same one): `Ok(())`, or how long to wait, in microseconds ([`rate::Quota`]).
    async fn take_request(&self, ws: WorkspaceId, quota: rate::Quota) -> Result<std::result::Result<(), u64>>;
    /// Whether the database and the blob store answer (for `GET /api/v1/health`): what does not, and why.
    async fn health(&self) -> Vec<(&'static str, Result<()>)>;
}

/// An upload of a blob's bytes in progress: written in pieces, then committed under its hash (which the caller has
/// verified). Dropped without a commit, it leaves nothing behind.
#[async_trait]
pub trait BlobUpload: Send {
    /// Appends bytes.
    async fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Stores the bytes written as the blob `hash` of the workspace (a blob already held is a success).
    async fn commit(self: Box<Self>, hash: &str) -> Result<()>;
}

/// What the upload API writes and the agent asks about.
#[async_trait]
pub trait Ingest: Send + Sync {
    /// Applies a verified, decoded batch: per-record outcomes, or a refusal of the whole batch.
    async fn apply_batch(
        &self,
        ws: WorkspaceId,
        id: BatchId,
        bytes: usize,
        batch: Batch,
        limits: ServiceLimits,
    ) -> Result<std::result::Result<BatchReply, BatchRefusal>>;
    /// Of these hashes, the ones the workspace does not hold.
    async fn missing_blobs(&self, ws: WorkspaceId, hashes: Vec<String>) -> Result<Vec<String>>;
    /// Starts the upload of a blob of the workspace.
    async fn begin_blob(&self, ws: WorkspaceId) -> Result<Box<dyn BlobUpload>>;
    /// Rejections recorded for a store.
    async fn rejections(&self, ws: WorkspaceId, store: &str) -> Result<Vec<Rejection>>;
    /// The highest seq_hi of batches of a store (0 if none): a position hint, re-read when in doubt.
    async fn position(&self, ws: WorkspaceId, store: &str) -> Result<i64>;
}

/// A page of the run list: runs oldest first, from just after `after` (a run id; None for the first page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The id of the last run of the previous page.
    pub after: Option<String>,
    /// At most this many runs.
    pub limit: usize,
}

/// What the read API and the web UI read.
#[async_trait]
pub trait Read: Send + Sync {
    /// Runs of the workspace, oldest first.
    async fn runs(&self, ws: WorkspaceId) -> Result<Vec<RunView>>;
    /// One page of the runs of the workspace, oldest first (the order of [`Read::runs`]).
    async fn runs_page(&self, ws: WorkspaceId, page: Page) -> Result<Vec<RunView>>;
    /// One run.
    async fn run(&self, ws: WorkspaceId, id: &str) -> Result<Option<RunView>>;
    /// Metric names of a run.
    async fn metrics(&self, ws: WorkspaceId, run: &str) -> Result<Vec<MetricView>>;
    /// A scalar series, in step order.
    async fn series(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<Point>>;
    /// Non-scalar records of a kind (`row`, `table`, `image`, `text`, `log`, `file`, `param`, ...) as JSON: the
    /// read API's view of [`Read::records`].
    async fn entries(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<EntryView>> {
        Ok(self
            .records(ws, run, kind, name)
            .await?
            .into_iter()
            .map(|r| EntryView {
                store: r.store,
                seq: r.seq,
                name: r.name,
                step: r.step,
                at: r.at,
                body: body_json(&r.body),
            })
            .collect())
    }
    /// The stored chunks of a scalar series with their statistics, in the order they were logged.
    async fn scalar_chunks(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<ScalarChunk>>;
    /// The points of one chunk of the workspace ([`ScalarChunk::id`]) in logged order; None if the workspace has no
    /// such chunk.
    async fn chunk_points(&self, ws: WorkspaceId, chunk: i64) -> Result<Option<Vec<Point>>>;
    /// Non-scalar records of a kind with their decoded bodies, in logged order.
    async fn records(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<RecordBody>>;
    /// The bytes of a blob of the workspace; None if it holds no such blob.
    async fn blob(&self, ws: WorkspaceId, hash: &str) -> Result<Option<Vec<u8>>>;
}

/// An experiment of a workspace as MLflow's API sees it: a stable id, the name its runs refer to, and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExperimentRow {
    /// Its id (stable, never reused).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// When it was created, or its first run started (ms since the epoch).
    pub created_at: i64,
    /// When a tag was last set, else `created_at` (ms).
    pub updated_at: i64,
    /// Tags (removed ones absent).
    pub tags: BTreeMap<String, String>,
}

/// Experiment rows (`id, name, created_at`) with their tags folded in (`experiment, key, value or None when removed,
/// at`): what both backends read.
pub(crate) fn experiment_rows(
    rows: Vec<(i64, String, i64)>,
    tags: Vec<(String, String, Option<String>, i64)>,
) -> Vec<ExperimentRow> {
    let mut out: Vec<ExperimentRow> = rows
        .into_iter()
        .map(|(id, name, created_at)| ExperimentRow {
            id,
            name,
            created_at,
            updated_at: created_at,
            tags: BTreeMap::new(),
        })
        .collect();
    let index: std::collections::HashMap<String, usize> =
        out.iter().enumerate().map(|(i, r)| (r.name.clone(), i)).collect();
    for (exp, key, value, at) in tags {
        if let Some(&i) = index.get(&exp) {
            let row = &mut out[i];
            row.updated_at = row.updated_at.max(at);
            if let Some(v) = value {
                row.tags.insert(key, v);
            }
        }
    }
    out
}

/// Experiments: made by a run naming one, or created (with tags) through MLflow's API.
#[async_trait]
pub trait Experiments: Send + Sync {
    /// Every experiment of the workspace (those its runs name are added when their first run is applied), by id.
    async fn experiments(&self, ws: WorkspaceId) -> Result<Vec<ExperimentRow>>;
    /// Creates an experiment (nothing if it exists).
    async fn create_experiment(&self, ws: WorkspaceId, name: &str) -> Result<()>;
    /// Sets a tag of an experiment (created if missing); `None` removes it.
    async fn set_experiment_tag(&self, ws: WorkspaceId, name: &str, key: &str, value: Option<&str>) -> Result<()>;
}

/// Everything a workspace server needs of its storage.
pub trait Storage: Admin + Ingest + Read + Experiments + 'static {}

impl<T: Admin + Ingest + Read + Experiments + 'static> Storage for T {}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Corrupt(format!("server storage: {what} is corrupt: {e}"))
}

/// A stored record body, or an error that names the record.
pub(crate) fn decode_body(store: &str, seq: i64, bytes: &[u8]) -> Result<Body> {
    rmp_serde::from_slice(bytes).map_err(|e| corrupt(&format!("the body of record {seq} of store {store}"), e))
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    now_us() / 1000
}

/// A new workspace token: `rlt_` and 256 random bits in hex.
pub(crate) fn new_token() -> String {
    format!("rlt_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// What the database keeps of a token: the hex of its blake3 (tokens are looked up by it).
pub(crate) fn token_hex(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Serializes values through the one JSON spelling ([`runlog_wire::json`]).
fn values_json<S: serde::Serializer>(m: &BTreeMap<String, WireValue>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (k, runlog_wire::json::value(v))))
}

/// JSON of a record body, as the read API's entries show it (docs/protocol.md).
pub fn body_json(body: &Body) -> serde_json::Value {
    use runlog_wire::json::value;
    use serde_json::json;
    match body {
        Body::Run { experiment, name, parent } => json!({"experiment": experiment, "name": name, "parent": parent}),
        Body::Status { status, reason } => json!({"status": status, "reason": reason}),
        Body::Param(v) | Body::Tag(v) | Body::Property(v) | Body::Description(v) => json!({"value": value(v)}),
        Body::Scalars(b) => json!({"packed_bytes": b.len()}),
        Body::Row(cols) => json!({"columns": cols.iter().map(|(k, v)| json!([k, value(v)])).collect::<Vec<_>>()}),
        Body::Table(cols) => json!({"columns": cols.iter()
            .map(|(k, vs)| json!([k, vs.iter().map(value).collect::<Vec<_>>()])).collect::<Vec<_>>()}),
        Body::Image { hash, format, width, height, size, description } => json!({"hash": hash, "format": format,
            "width": width, "height": height, "size": size, "description": description}),
        Body::Text(t) => json!({"text": t}),
        Body::Log { level, target, message } => json!({"level": level, "target": target, "message": message}),
        Body::File { hash, size } => json!({"hash": hash, "size": size}),
        // Checked on ingest, so the document is JSON; a corrupt one shows as null.
        Body::Chart(doc) => json!({"chart": serde_json::from_str::<serde_json::Value>(doc).unwrap_or_default()}),
    }
}
