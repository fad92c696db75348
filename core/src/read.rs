//! The read API: experiments, runs, series, rows, tables, images, files, logs and summaries.
//!
//! A [`Reader`] has its own read-only connection, so it works while any number of processes write (WAL readers never
//! block writers). Reading one series touches only that series' chunks, found through the `records_by_run` index.

use crate::chunk;
use crate::error::{Context, Error, Result};
use crate::outbox::Seq;
use crate::record::{self, FileRef, ImageRef, Kind, LogLine, Row, RunStarted, StatusChange, Table, Text};
use crate::store::{STALE_AFTER_INTERVALS, open_ro, schema};
use crate::types::{BlobHash, Point, RunId, RunStatus, StoreId, Value, now_ms};
use runlog_wire::chart::Chart;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Reads a store. Cheap to keep; calls are serialized on one connection.
pub struct Reader {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish()
    }
}

/// An experiment and how many runs it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentInfo {
    /// Its name.
    pub name: String,
    /// When its first run started (ms since the epoch).
    pub created_at: i64,
    /// How many runs it has.
    pub runs: u64,
}

/// An experiment with its local id and its tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentDetails {
    /// Its id in this store (1, 2, ...): stable, never reused, not the same in another store.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// When it was created: by its first run, [`crate::Store::create_experiment`] or a tag (ms since the epoch).
    pub created_at: i64,
    /// When its last tag was written, else when it was created (ms since the epoch).
    pub updated_at: i64,
    /// Tags in key order (the latest value of each; removed tags are absent).
    pub tags: BTreeMap<String, String>,
}

/// A run as listed: identity, status, times, params, tags and properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Global id.
    pub id: RunId,
    /// Experiment name.
    pub experiment: String,
    /// Display name.
    pub name: String,
    /// Parent run id, for child runs.
    pub parent: Option<RunId>,
    /// Status, derived from status events and the heartbeat.
    pub status: RunStatus,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// Start, ms since the epoch.
    pub started_at: i64,
    /// End, ms since the epoch (for crashed runs: the last heartbeat).
    pub ended_at: Option<i64>,
    /// Params in key order.
    pub params: BTreeMap<String, Value>,
    /// Tags in key order (latest value of each).
    pub tags: BTreeMap<String, String>,
    /// Properties in key order.
    pub properties: BTreeMap<String, String>,
}

impl RunInfo {
    /// Duration in ms: to the end, or to now while running.
    pub fn duration_ms(&self) -> i64 {
        self.ended_at.unwrap_or_else(now_ms) - self.started_at
    }
}

/// Which kind of data a metric name holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Scalars and lists.
    Scalar,
    /// Rows.
    Row,
    /// Tables.
    Table,
    /// Images.
    Image,
    /// Texts.
    Text,
    /// Charts in Azure ML's schemas.
    Chart,
}

impl MetricKind {
    fn of(kind: Kind) -> Option<MetricKind> {
        Some(match kind {
            Kind::Scalars => MetricKind::Scalar,
            Kind::Row => MetricKind::Row,
            Kind::Table => MetricKind::Table,
            Kind::Image => MetricKind::Image,
            Kind::Text => MetricKind::Text,
            Kind::Chart => MetricKind::Chart,
            _ => return None,
        })
    }

    /// The record kind holding this metric kind.
    pub fn kind(self) -> Kind {
        match self {
            MetricKind::Scalar => Kind::Scalars,
            MetricKind::Row => Kind::Row,
            MetricKind::Table => Kind::Table,
            MetricKind::Image => Kind::Image,
            MetricKind::Text => Kind::Text,
            MetricKind::Chart => Kind::Chart,
        }
    }
}

/// A metric name of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricInfo {
    /// The name.
    pub name: String,
    /// What it holds.
    pub kind: MetricKind,
    /// Points, rows, tables, images or texts logged.
    pub count: u64,
    /// Its description, if one was given.
    pub description: Option<String>,
}

/// The `get_metrics`-like summary of a scalar series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    /// The name.
    pub name: String,
    /// Number of points.
    pub count: u64,
    /// Last value logged.
    pub last: f64,
    /// Step of the last value.
    pub last_step: i64,
    /// Smallest value, ignoring NaN (None when every value is NaN).
    pub min: Option<f64>,
    /// Largest value, ignoring NaN.
    pub max: Option<f64>,
}

/// A logged row, table, text, image or file with its position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry<T> {
    /// The name it was logged under.
    pub name: String,
    /// Its step within that name (rows, tables, images, texts), if any.
    pub step: Option<i64>,
    /// When, ms since the epoch.
    pub timestamp_ms: i64,
    /// The record's sequence number in the store.
    pub seq: i64,
    /// The data.
    pub value: T,
}

/// A record as stored, for the sync agent: its kind, names and raw body.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// Commit position, unique and increasing in this store.
    pub seq: Seq,
    /// The run's global id.
    pub run: RunId,
    /// What it is.
    pub kind: Kind,
    /// Metric, key, stream or file name (empty for run and status records).
    pub name: String,
    /// When, ms since the epoch.
    pub at: i64,
    /// Step (rows, tables, images, texts) or first step (scalar chunks).
    pub step: Option<i64>,
    /// Points in a scalar chunk, 1 otherwise.
    pub count: i64,
    /// The body (msgpack, or a packed chunk for scalars).
    pub body: Vec<u8>,
}

impl RawRecord {
    /// Decodes the points of a scalar chunk.
    pub fn points(&self) -> Result<Vec<Point>> {
        let mut out = Vec::new();
        chunk::decode_into(&self.body, &mut out)?;
        Ok(out)
    }
}

impl Reader {
    /// Opens a store read-only: a missing file, a file that is not a runlog store and a newer schema are errors, and
    /// nothing is ever written.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        let path = path.as_ref();
        let conn = open_ro(path)?;
        let shown = path.display().to_string();
        match schema::check_readable(&conn, &shown)? {
            0 => Err(Error::Format(format!("{shown} is not a runlog store (it has no runlog schema)"))),
            _ => Ok(Reader { path: path.to_path_buf(), conn: Mutex::new(conn) }),
        }
    }

    /// Opens a store the caller has just migrated.
    pub(crate) fn open_unchecked(path: &Path) -> Result<Reader> {
        Ok(Reader { path: path.to_path_buf(), conn: Mutex::new(open_ro(path)?) })
    }

    /// Closes the connection to the file (later reads see an empty in-memory database and fail). The store calls it
    /// before its writer's last close, so that close is the file's last and removes the WAL.
    pub(crate) fn close(&self) {
        if let Ok(mem) = Connection::open_in_memory() {
            drop(std::mem::replace(&mut *self.conn(), mem));
        }
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's id.
    pub fn store_id(&self) -> Result<StoreId> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| r.get(0))
            .map(StoreId)
            .context("read store id")
    }

    /// Experiments by name.
    pub fn experiments(&self) -> Result<Vec<ExperimentInfo>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT e.name, e.created_at, (SELECT count(*) FROM runs r WHERE r.experiment = e.id)
                 FROM experiments e ORDER BY e.name",
            )
            .context("list experiments")?;
        let rows = st
            .query_map([], |r| {
                Ok(ExperimentInfo { name: r.get(0)?, created_at: r.get(1)?, runs: r.get::<_, i64>(2)? as u64 })
            })
            .context("list experiments")?;
        rows.collect::<rusqlite::Result<_>>().context("list experiments")
    }

    /// Every experiment with its id and tags, oldest first.
    pub fn experiment_details(&self) -> Result<Vec<ExperimentDetails>> {
        let c = self.conn();
        let mut st =
            c.prepare_cached("SELECT id, name, created_at FROM experiments ORDER BY id").context("list experiments")?;
        let mut out: Vec<ExperimentDetails> = st
            .query_map([], |r| {
                let created_at = r.get(2)?;
                Ok(ExperimentDetails {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at,
                    updated_at: created_at,
                    tags: BTreeMap::new(),
                })
            })
            .context("list experiments")?
            .collect::<rusqlite::Result<_>>()
            .context("list experiments")?;
        // A store of schema 2 or older, read without migrating it, has no experiment tags yet.
        if schema::version(&c)? < 3 {
            return Ok(out);
        }
        let mut st = c
            .prepare_cached("SELECT experiment, key, value, at FROM experiment_tags ORDER BY id")
            .context("read experiment tags")?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?))
            })
            .context("read experiment tags")?;
        for row in rows {
            let (exp, key, value, at) = row.context("read experiment tags")?;
            // Ids are increasing in `out`: a binary search finds the experiment.
            let Ok(i) = out.binary_search_by_key(&exp, |e| e.id) else { continue };
            let e = &mut out[i];
            e.updated_at = e.updated_at.max(at);
            match value {
                Some(v) => e.tags.insert(key, v),
                None => e.tags.remove(&key),
            };
        }
        Ok(out)
    }

    /// All runs, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT r.rid, r.id, e.name, r.name, r.parent, r.created_at FROM runs r
                 JOIN experiments e ON e.id = r.experiment ORDER BY r.rid",
            )
            .context("list runs")?;
        let heads = st
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<String>>(4)?, r.get(5)?))
            })
            .context("list runs")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("list runs")?;
        // One pass over every run's params, tags, properties and status records (in run, then commit order) instead
        // of one query per run: listing 10,000 runs is one index scan, not 10,000 look-ups.
        let mut infos: Vec<(i64, RunInfo)> = heads
            .into_iter()
            .map(|(rid, id, exp, name, parent, at)| (rid, new_run_info(id, exp, name, parent, at)))
            .collect();
        let mut st = c
            .prepare_cached(
                "SELECT run, kind, name, at, body FROM records WHERE kind IN (2, 3, 4, 5) ORDER BY run, kind, name, seq",
            )
            .context("list runs")?;
        let mut rows = st.query([]).context("list runs")?;
        let mut i = 0;
        while let Some(r) = rows.next().context("list runs")? {
            let run: i64 = r.get(0).context("list runs")?;
            while i < infos.len() && infos[i].0 < run {
                i += 1;
            }
            let Some((rid, info)) = infos.get_mut(i) else { break };
            if *rid != run {
                continue;
            }
            let body = r.get_ref(4).context("list runs")?.as_blob().context("list runs")?;
            apply_record(
                info,
                r.get(1).context("list runs")?,
                r.get_ref(2).context("list runs")?.as_str().context("list runs")?,
                r.get(3).context("list runs")?,
                body,
            )?;
        }
        drop(rows);
        for (rid, info) in &mut infos {
            finish_run(&c, *rid, info)?;
        }
        Ok(infos.into_iter().map(|(_, info)| info).collect())
    }

    /// One run.
    pub fn run(&self, id: &RunId) -> Result<RunInfo> {
        let c = self.conn();
        let head = c
            .prepare_cached(
                "SELECT r.rid, r.id, e.name, r.name, r.parent, r.created_at FROM runs r
                 JOIN experiments e ON e.id = r.experiment WHERE r.id = ?1",
            )
            .context("read run")?
            .query_row([id.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<String>>(4)?, r.get(5)?))
            })
            .optional()
            .context("read run")?;
        let (rid, id, exp, name, parent, at) =
            head.ok_or_else(|| Error::NotFound(format!("run {id} not found in {}", self.path.display())))?;
        fill_run(&c, rid, id, exp, name, parent, at)
    }

    /// The child runs of a run.
    pub fn children(&self, id: &RunId) -> Result<Vec<RunInfo>> {
        let ids: Vec<String> = {
            let c = self.conn();
            let mut st = c.prepare_cached("SELECT id FROM runs WHERE parent = ?1 ORDER BY rid").context("children")?;
            st.query_map([id.as_str()], |r| r.get(0))
                .context("children")?
                .collect::<rusqlite::Result<_>>()
                .context("children")?
        };
        ids.into_iter().map(|i| self.run(&RunId(i))).collect()
    }

    /// Finds a run by full id, unambiguous id prefix, or `experiment/name`.
    pub fn resolve(&self, spec: &str) -> Result<RunId> {
        let c = self.conn();
        if let Some((exp, name)) = spec.split_once('/') {
            let ids: Vec<String> = c
                .prepare_cached(
                    "SELECT r.id FROM runs r JOIN experiments e ON e.id = r.experiment
                     WHERE e.name = ?1 AND r.name = ?2 ORDER BY r.rid",
                )
                .context("resolve run")?
                .query_map([exp, name], |r| r.get(0))
                .context("resolve run")?
                .collect::<rusqlite::Result<_>>()
                .context("resolve run")?;
            return match ids.as_slice() {
                [one] => Ok(RunId(one.clone())),
                [] => Err(Error::NotFound(format!("no run named {spec:?} in {}", self.path.display()))),
                many => Err(Error::invalid(format!(
                    "{spec:?} names {} runs ({}); use a run id",
                    many.len(),
                    many.join(", ")
                ))),
            };
        }
        let prefix = spec.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.len() > 32 {
            return Err(Error::NotFound(format!(
                "no run {spec:?} in {}: give a run id (hex), a prefix of one, or experiment/name",
                self.path.display()
            )));
        }
        let ids: Vec<String> = c
            .prepare_cached("SELECT id FROM runs WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 6")
            .context("resolve run")?
            .query_map([&prefix], |r| r.get(0))
            .context("resolve run")?
            .collect::<rusqlite::Result<_>>()
            .context("resolve run")?;
        match ids.as_slice() {
            [one] => Ok(RunId(one.clone())),
            [] => Err(Error::NotFound(format!("no run {spec:?} in {}", self.path.display()))),
            many => Err(Error::invalid(format!(
                "run prefix {spec:?} is ambiguous: it matches {}{}",
                many.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if many.len() > 5 { ", ..." } else { "" }
            ))),
        }
    }

    pub(crate) fn rid(&self, id: &RunId) -> Result<i64> {
        self.conn()
            .prepare_cached("SELECT rid FROM runs WHERE id = ?1")
            .context("find run")?
            .query_row([id.as_str()], |r| r.get(0))
            .optional()
            .context("find run")?
            .ok_or_else(|| Error::NotFound(format!("run {id} not found in {}", self.path.display())))
    }

    /// The highest step so far of each stepped (kind, name) of a run.
    pub(crate) fn last_steps(&self, rid: i64) -> Result<Vec<(Kind, String, i64)>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT kind, name, max(coalesce(step_hi, step)) FROM records
                 WHERE run = ?1 AND kind IN (6, 7, 8, 9, 10, 14) GROUP BY kind, name",
            )
            .context("read last steps")?;
        let rows = st
            .query_map([rid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?)))
            .context("read last steps")?;
        let mut out = Vec::new();
        for row in rows {
            let (k, name, step) = row.context("read last steps")?;
            if let (Some(kind), Some(step)) = (Kind::from_i64(k), step) {
                out.push((kind, name, step));
            }
        }
        Ok(out)
    }

    /// The metric names of a run (scalars, rows, tables, images, texts) with counts and descriptions.
    pub fn metrics(&self, id: &RunId) -> Result<Vec<MetricInfo>> {
        let rid = self.rid(id)?;
        let c = self.conn();
        let mut descriptions: BTreeMap<String, String> = BTreeMap::new();
        for (name, body) in records_of(&c, rid, Kind::Description)? {
            if let Ok(Value::Str(d)) = record::decode::<Value>(&body) {
                descriptions.insert(name, d);
            }
        }
        let mut st = c
            .prepare_cached(
                "SELECT kind, name, sum(n) FROM records WHERE run = ?1 AND kind IN (6, 7, 8, 9, 10, 14)
                 GROUP BY kind, name ORDER BY name, kind",
            )
            .context("list metrics")?;
        let rows = st
            .query_map([rid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
            .context("list metrics")?;
        let mut out = Vec::new();
        for row in rows {
            let (k, name, count) = row.context("list metrics")?;
            if let Some(kind) = Kind::from_i64(k).and_then(MetricKind::of) {
                let description = descriptions.get(&name).cloned();
                out.push(MetricInfo { name, kind, count: count as u64, description });
            }
        }
        Ok(out)
    }

    /// A scalar series in step order (logged order among equal steps). Reads only this series' chunks.
    pub fn series(&self, id: &RunId, name: &str) -> Result<Vec<Point>> {
        let rid = self.rid(id)?;
        let c = self.conn();
        let mut st = c
            .prepare_cached("SELECT body FROM records WHERE run = ?1 AND kind = 6 AND name = ?2 ORDER BY seq")
            .context("read series")?;
        let mut rows = st.query(params![rid, name]).context("read series")?;
        let mut out = Vec::new();
        let mut sorted = true;
        while let Some(row) = rows.next().context("read series")? {
            let body = row.get_ref(0).context("read series")?.as_blob().context("read series")?;
            let before = out.len();
            chunk::decode_into(body, &mut out)?;
            // Chunks of several writers may interleave; a chunk is sorted if its writer logged in step order.
            if before > 0 && out.get(before).map(|p: &Point| p.step) < Some(out[before - 1].step) {
                sorted = false;
            }
        }
        if !sorted || !out.windows(2).all(|w| w[0].step <= w[1].step) {
            out.sort_by_key(|p| p.step);
        }
        Ok(out)
    }

    /// Per-chunk statistics of a series (first/last step, count, min, max, last) in sequence order: what a chart needs
    /// to downsample without decoding every point.
    pub fn series_chunks(&self, id: &RunId, name: &str) -> Result<Vec<ChunkInfo>> {
        let rid = self.rid(id)?;
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT seq, step, step_hi, n, lo, hi, last FROM records
                 WHERE run = ?1 AND kind = 6 AND name = ?2 ORDER BY seq",
            )
            .context("read chunks")?;
        let rows = st
            .query_map(params![rid, name], |r| {
                Ok(ChunkInfo {
                    seq: r.get(0)?,
                    step_lo: r.get(1)?,
                    step_hi: r.get(2)?,
                    count: r.get(3)?,
                    min: r.get(4)?,
                    max: r.get(5)?,
                    last: r.get::<_, Option<f64>>(6)?.unwrap_or(f64::NAN),
                })
            })
            .context("read chunks")?;
        rows.collect::<rusqlite::Result<_>>().context("read chunks")
    }

    /// The points of one chunk (by its `seq` from [`Reader::series_chunks`]).
    pub fn chunk_points(&self, seq: i64) -> Result<Vec<Point>> {
        let c = self.conn();
        let body: Vec<u8> = c
            .prepare_cached("SELECT body FROM records WHERE seq = ?1 AND kind = 6")
            .context("read chunk")?
            .query_row([seq], |r| r.get(0))
            .optional()
            .context("read chunk")?
            .ok_or_else(|| Error::NotFound(format!("no scalar chunk {seq}")))?;
        let mut out = Vec::new();
        chunk::decode_into(&body, &mut out)?;
        Ok(out)
    }

    /// Last, min, max and count of every scalar series of a run, from chunk statistics (no point is decoded).
    pub fn summary(&self, id: &RunId) -> Result<Vec<MetricSummary>> {
        let rid = self.rid(id)?;
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT name, sum(n), min(lo), max(hi),
                        (SELECT last FROM records x WHERE x.run = r.run AND x.kind = 6 AND x.name = r.name
                         ORDER BY x.step_hi DESC, x.seq DESC LIMIT 1),
                        max(step_hi)
                 FROM records r WHERE run = ?1 AND kind = 6 GROUP BY name ORDER BY name",
            )
            .context("summarize")?;
        let rows = st
            .query_map([rid], |r| {
                Ok(MetricSummary {
                    name: r.get(0)?,
                    count: r.get::<_, i64>(1)? as u64,
                    min: r.get(2)?,
                    max: r.get(3)?,
                    last: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
                    last_step: r.get(5)?,
                })
            })
            .context("summarize")?;
        rows.collect::<rusqlite::Result<_>>().context("summarize")
    }

    /// [`Reader::summary`] of every run at once, keyed by run id, from chunk statistics: one statement that walks
    /// the `records_by_run` index run by run, instead of one query per run (what a listing of many runs needs).
    pub fn summaries(&self) -> Result<BTreeMap<RunId, Vec<MetricSummary>>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT r.rid, r.id, x.name, x.n, x.lo, x.hi, x.last, x.step_hi FROM runs r
                 CROSS JOIN records x ON x.run = r.rid AND x.kind = 6 ORDER BY r.rid, x.name, x.seq",
            )
            .context("summarize runs")?;
        let mut rows = st.query([]).context("summarize runs")?;
        // Rows come run by run: a run's id is read once, with its first row.
        let mut runs: Vec<(i64, RunId, Vec<MetricSummary>)> = Vec::new();
        while let Some(r) = rows.next().context("summarize runs")? {
            let rid: i64 = r.get(0).context("summarize runs")?;
            if runs.last().is_none_or(|(at, _, _)| *at != rid) {
                runs.push((rid, RunId(r.get(1).context("summarize runs")?), Vec::new()));
            }
            let Some((_, _, list)) = runs.last_mut() else { continue };
            let name = r.get_ref(2).context("summarize runs")?.as_str().context("summarize runs")?;
            let n: i64 = r.get(3).context("summarize runs")?;
            let lo: Option<f64> = r.get(4).context("summarize runs")?;
            let hi: Option<f64> = r.get(5).context("summarize runs")?;
            let last = r.get::<_, Option<f64>>(6).context("summarize runs")?.unwrap_or(f64::NAN);
            let step_hi: i64 = r.get(7).context("summarize runs")?;
            match list.last_mut().filter(|m| m.name == name) {
                Some(m) => {
                    m.count += n as u64;
                    m.min = match (m.min, lo) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    m.max = match (m.max, hi) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    // Chunks come in sequence order: the last one with the highest step holds the last value.
                    if step_hi >= m.last_step {
                        m.last_step = step_hi;
                        m.last = last;
                    }
                }
                None => list.push(MetricSummary {
                    name: name.to_owned(),
                    count: n as u64,
                    last,
                    last_step: step_hi,
                    min: lo,
                    max: hi,
                }),
            }
        }
        Ok(runs.into_iter().map(|(_, id, list)| (id, list)).collect())
    }

    fn entries<T: serde::de::DeserializeOwned>(
        &self,
        id: &RunId,
        kind: Kind,
        name: Option<&str>,
    ) -> Result<Vec<Entry<T>>> {
        let rid = self.rid(id)?;
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT name, step, at, seq, body FROM records WHERE run = ?1 AND kind = ?2
                 AND (?3 IS NULL OR name = ?3) ORDER BY seq",
            )
            .context("read records")?;
        let mut rows = st.query(params![rid, kind as i64, name]).context("read records")?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().context("read records")? {
            let body = r.get_ref(4).context("read records")?.as_blob().context("read records")?;
            out.push(Entry {
                name: r.get(0).context("read records")?,
                step: r.get(1).context("read records")?,
                timestamp_ms: r.get(2).context("read records")?,
                seq: r.get(3).context("read records")?,
                value: record::decode(body)?,
            });
        }
        Ok(out)
    }

    /// The rows of a row metric, in logged order.
    pub fn rows(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Row>>> {
        self.entries(id, Kind::Row, Some(name))
    }

    /// The tables logged under a name.
    pub fn tables(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Table>>> {
        self.entries(id, Kind::Table, Some(name))
    }

    /// Images of a run (of one name, or all).
    pub fn images(&self, id: &RunId, name: Option<&str>) -> Result<Vec<Entry<ImageRef>>> {
        self.entries(id, Kind::Image, name)
    }

    /// Files of a run.
    pub fn files(&self, id: &RunId) -> Result<Vec<Entry<FileRef>>> {
        self.entries(id, Kind::File, None)
    }

    /// Texts of a run (of one name, or all).
    pub fn texts(&self, id: &RunId, name: Option<&str>) -> Result<Vec<Entry<Text>>> {
        self.entries(id, Kind::Text, name)
    }

    /// Charts of a run (of one name, or all), in logged order; a name logged again holds each version at its step.
    pub fn charts(&self, id: &RunId, name: Option<&str>) -> Result<Vec<Entry<Chart>>> {
        self.entries(id, Kind::Chart, name)
    }

    /// Log lines of a run (of one stream, or all), oldest first; `tail` keeps only the last ones.
    pub fn log_lines(&self, id: &RunId, stream: Option<&str>, tail: Option<usize>) -> Result<Vec<Entry<LogLine>>> {
        let mut all = self.entries(id, Kind::LogLine, stream)?;
        if let Some(t) = tail {
            let cut = all.len().saturating_sub(t);
            all.drain(..cut);
        }
        Ok(all)
    }

    /// The bytes of a blob (image or file).
    pub fn blob(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        self.conn()
            .prepare_cached("SELECT data FROM blobs WHERE hash = ?1")
            .context("read blob")?
            .query_row([hash.as_str()], |r| r.get(0))
            .optional()
            .context("read blob")?
            .ok_or_else(|| Error::NotFound(format!("blob {hash} not found")))
    }

    /// Whether the store holds a blob.
    pub fn has_blob(&self, hash: &BlobHash) -> Result<bool> {
        self.conn()
            .prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")
            .context("find blob")?
            .query_row([hash.as_str()], |_| Ok(()))
            .optional()
            .context("find blob")
            .map(|o| o.is_some())
    }

    /// Records with `seq > after`, oldest first, at most `limit` of them: what the sync agent reads.
    pub fn records_after(&self, after: Seq, limit: usize) -> Result<Vec<RawRecord>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT x.seq, r.id, x.kind, x.name, x.at, x.step, x.n, x.body FROM records x
                 JOIN runs r ON r.rid = x.run WHERE x.seq > ?1 ORDER BY x.seq LIMIT ?2",
            )
            .context("read records")?;
        let rows = st
            .query_map(params![after.get(), limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                ))
            })
            .context("read records")?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, run, kind, name, at, step, count, body) = row.context("read records")?;
            let kind =
                Kind::from_i64(kind).ok_or_else(|| Error::Format(format!("record {seq} has unknown kind {kind}")))?;
            out.push(RawRecord { seq: Seq(seq), run: RunId(run), kind, name, at, step, count, body });
        }
        Ok(out)
    }

    /// Runs shown as crashed (never ended, no live heartbeat) whose crash is not recorded yet: local id and the time
    /// of their last heartbeat.
    pub(crate) fn unrecorded_crashes(&self) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::new();
        for info in self.runs()? {
            if info.status != RunStatus::Crashed {
                continue;
            }
            let rid = self.rid(&info.id)?;
            let last: Option<Vec<u8>> = self
                .conn()
                .prepare_cached("SELECT body FROM records WHERE run = ?1 AND kind = 2 ORDER BY seq DESC LIMIT 1")
                .context("read status")?
                .query_row([rid], |r| r.get(0))
                .optional()
                .context("read status")?;
            let recorded = last
                .map(|b| record::decode::<StatusChange>(&b))
                .transpose()?
                .is_some_and(|s| s.status == RunStatus::Crashed);
            if !recorded {
                out.push((rid, info.ended_at.unwrap_or(info.started_at)));
            }
        }
        Ok(out)
    }

    /// The highest record sequence number (0 for an empty store).
    pub fn max_seq(&self) -> Result<Seq> {
        self.conn()
            .query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| r.get(0))
            .map(Seq)
            .context("read max seq")
    }

    /// The file's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.conn())
    }

    /// How many blobs (images, files) the store holds, each stored once whatever refers to it.
    pub fn blob_count(&self) -> Result<u64> {
        let n: i64 = self.conn().query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).context("count blobs")?;
        Ok(n.max(0) as u64)
    }
}

/// Statistics of one stored chunk of a scalar series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkInfo {
    /// The chunk record's sequence number.
    pub seq: i64,
    /// Smallest step.
    pub step_lo: i64,
    /// Largest step.
    pub step_hi: i64,
    /// Number of points.
    pub count: i64,
    /// Smallest value, ignoring NaN.
    pub min: Option<f64>,
    /// Largest value, ignoring NaN.
    pub max: Option<f64>,
    /// Last value.
    pub last: f64,
}

fn records_of(c: &Connection, rid: i64, kind: Kind) -> Result<Vec<(String, Vec<u8>)>> {
    let mut st = c
        .prepare_cached("SELECT name, body FROM records WHERE run = ?1 AND kind = ?2 ORDER BY seq")
        .context("read records")?;
    let rows = st.query_map(params![rid, kind as i64], |r| Ok((r.get(0)?, r.get(1)?))).context("read records")?;
    rows.collect::<rusqlite::Result<_>>().context("read records")
}

fn new_run_info(id: String, experiment: String, name: String, parent: Option<String>, started_at: i64) -> RunInfo {
    RunInfo {
        id: RunId(id),
        experiment,
        name,
        parent: parent.map(RunId),
        status: RunStatus::Running,
        reason: None,
        started_at,
        ended_at: None,
        params: BTreeMap::new(),
        tags: BTreeMap::new(),
        properties: BTreeMap::new(),
    }
}

/// Applies one status, param, tag or property record (in commit order) to a run being read.
fn apply_record(info: &mut RunInfo, kind: i64, key: &str, at: i64, body: &[u8]) -> Result<()> {
    match Kind::from_i64(kind) {
        Some(Kind::Status) => {
            let s: StatusChange = record::decode(body)?;
            info.status = s.status;
            info.reason = s.reason;
            info.ended_at = s.status.is_terminal().then_some(at);
        }
        // Write-once: the first value is the value.
        Some(Kind::Param) if !info.params.contains_key(key) => {
            info.params.insert(key.to_owned(), record::decode(body)?);
        }
        Some(Kind::Tag) => {
            info.tags.insert(key.to_owned(), text(record::decode(body)?));
        }
        Some(Kind::Property) if !info.properties.contains_key(key) => {
            info.properties.insert(key.to_owned(), text(record::decode(body)?));
        }
        _ => {}
    }
    Ok(())
}

/// A tag's or property's value as text: a string as it is, anything else as it prints.
fn text(v: Value) -> String {
    match v {
        Value::Str(s) => s,
        v => v.to_string(),
    }
}

/// A run still `running` after its records is alive only while its heartbeat is fresh; else it crashed.
fn finish_run(c: &Connection, rid: i64, info: &mut RunInfo) -> Result<()> {
    if info.status == RunStatus::Running {
        let beat: Option<(i64, i64)> = c
            .prepare_cached(
                "SELECT at, at + interval_ms * ?2 FROM heartbeats WHERE run = ?1 ORDER BY at + interval_ms * ?2 DESC LIMIT 1",
            )
            .context("read heartbeat")?
            .query_row(params![rid, STALE_AFTER_INTERVALS], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .context("read heartbeat")?;
        match beat {
            Some((_, deadline)) if deadline >= now_ms() => {}
            Some((last, _)) => {
                info.status = RunStatus::Crashed;
                info.ended_at = Some(last);
            }
            None => {
                info.status = RunStatus::Crashed;
                info.ended_at = Some(info.started_at);
            }
        }
    }
    Ok(())
}

fn fill_run(
    c: &Connection,
    rid: i64,
    id: String,
    experiment: String,
    name: String,
    parent: Option<String>,
    started_at: i64,
) -> Result<RunInfo> {
    let mut info = new_run_info(id, experiment, name, parent, started_at);
    let mut st = c
        .prepare_cached("SELECT kind, name, at, body FROM records WHERE run = ?1 AND kind IN (2, 3, 4, 5) ORDER BY seq")
        .context("read run")?;
    let mut rows = st.query([rid]).context("read run")?;
    while let Some(r) = rows.next().context("read run")? {
        let body = r.get_ref(3).context("read run")?.as_blob().context("read run")?;
        apply_record(
            &mut info,
            r.get(0).context("read run")?,
            r.get_ref(1).context("read run")?.as_str().context("read run")?,
            r.get(2).context("read run")?,
            body,
        )?;
    }
    drop(rows);
    finish_run(c, rid, &mut info)?;
    Ok(info)
}

/// Decodes a run-started body (for tools that read raw records).
pub fn decode_run_started(body: &[u8]) -> Result<RunStarted> {
    record::decode(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn listing_all_runs_equals_reading_each_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::Store::open(dir.path().join("s.db")).expect("open");
        let a = store.start_run("e").expect("run");
        a.log_param("lr", 0.1).expect("param");
        a.set_tag("stage", "one").expect("tag");
        a.set_tag("stage", "two").expect("tag");
        a.add_property("host", "h").expect("property");
        let child = a.child("c").expect("child");
        child.log_param("fold", 1i64).expect("param");
        child.fail("boom").expect("end");
        a.complete().expect("end");
        let b = store.start_run("f").expect("run");
        b.cancel().expect("end");
        let running = store.start_run("f").expect("run");
        let _quiet = store.start_run("g").expect("run");
        store.flush().expect("flush");
        let r = store.reader();
        let all = r.runs().expect("runs");
        assert_eq!(all.len(), 5);
        for info in &all {
            assert_eq!(info, &r.run(&info.id).expect("run"), "{}", info.id);
        }
        assert_eq!(all[0].tags["stage"], "two");
        assert_eq!(all[1].reason.as_deref(), Some("boom"));
        assert_eq!(all[3].status, crate::RunStatus::Running);
        running.complete().expect("end");
    }

    #[test]
    fn experiment_tags_are_events_and_the_latest_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::Store::open(dir.path().join("s.db")).expect("open");
        store.create_experiment("empty").expect("create");
        store.create_experiment("empty").expect("creating twice is a no-op");
        store.set_experiment_tag("tagged", "stage", Some("one")).expect("tag");
        store.set_experiment_tag("tagged", "stage", Some("two")).expect("tag");
        store.set_experiment_tag("tagged", "gone", Some("x")).expect("tag");
        store.set_experiment_tag("tagged", "gone", None).expect("remove");
        let run = store.start_run("tagged").expect("run");
        run.complete().expect("end");
        let err = store.set_experiment_tag("tagged", "", Some("x")).expect_err("empty key");
        assert!(err.to_string().contains("experiment tag name is empty"), "{err}");
        let all = store.reader().experiment_details().expect("details");
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["empty", "tagged"]);
        assert!(all[0].id < all[1].id);
        assert!(all[0].tags.is_empty());
        assert_eq!(all[1].tags.len(), 1);
        assert_eq!(all[1].tags["stage"], "two");
        assert!(all[1].updated_at >= all[1].created_at);
        let listed = store.reader().experiments().expect("experiments");
        assert_eq!(listed.iter().map(|e| (e.name.as_str(), e.runs)).collect::<Vec<_>>(), [("empty", 0), ("tagged", 1)]);
    }

    #[test]
    fn explicit_times_are_kept_as_given() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::Store::open(dir.path().join("s.db")).expect("open");
        let parent = store.start_run("e").expect("run");
        let run = store.start_run_at("e", Some("given"), Some(parent.id()), 1_000).expect("run");
        run.log_at_time("loss", 5, 0.5, 2_000).expect("log");
        run.log_at_time("loss", 5, 0.25, 1_500).expect("same step again");
        run.log("loss", 0.125).expect("automatic step continues");
        run.end_at(crate::RunStatus::Cancelled, None, 3_000).expect("end");
        parent.complete().expect("end");
        let r = store.reader();
        let info = r.run(run.id()).expect("run");
        assert_eq!((info.name.as_str(), info.started_at, info.ended_at), ("given", 1_000, Some(3_000)));
        assert_eq!(info.parent.as_ref(), Some(parent.id()));
        assert_eq!(info.status, crate::RunStatus::Cancelled);
        let points = r.series(run.id(), "loss").expect("series");
        let got: Vec<(i64, f64, i64)> = points.iter().map(|p| (p.step, p.value, p.timestamp_ms)).collect();
        assert_eq!(got[..2], [(5, 0.5, 2_000), (5, 0.25, 1_500)]);
        assert_eq!(got[2].0, 6);
        assert_ne!(got[2].2, 1_500, "a point without a time is logged at now");
    }

    #[test]
    fn summaries_of_all_runs_equal_each_runs_summary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::Store::open(dir.path().join("s.db")).expect("open");
        let a = store.start_run("e").expect("run");
        for i in 0..10_000 {
            a.log("long", if i == 5_000 { f64::NAN } else { (i % 77) as f64 }).expect("log");
        }
        a.log_at("back", 9, 1.0).expect("log");
        a.log_at("back", 3, 2.0).expect("log");
        a.complete().expect("end");
        let b = store.start_run("e").expect("run");
        b.log("x", 1.5).expect("log");
        b.complete().expect("end");
        let c = store.start_run("e").expect("run");
        c.complete().expect("end");
        let r = store.reader();
        let all = r.summaries().expect("summaries");
        for run in [&a, &b] {
            let one = r.summary(run.id()).expect("summary");
            let many = &all[run.id()];
            assert_eq!(one.len(), many.len());
            for (x, y) in one.iter().zip(many) {
                assert_eq!(
                    (&x.name, x.count, x.last_step, x.min, x.max),
                    (&y.name, y.count, y.last_step, y.min, y.max)
                );
                assert_eq!(x.last.to_bits(), y.last.to_bits());
            }
        }
        assert!(!all.contains_key(c.id()), "a run without scalars has no entry");
    }
}
