//! An MLflow tracking server as a [`Remote`] (`mlflow+http://host:port`, `mlflow+https://...`): runlog's records
//! become MLflow experiments, runs, metrics, params, tags and artifacts (docs/protocol.md, "MLflow remotes").
//!
//! MLflow's `runs/log-batch` is not idempotent in general (MLflow's SQL store ignores an exact replay of a point, other
//! MLflow backends do not), so this remote never resends a metric point that may have landed without checking first:
//! for every (run, key) it may have written before without seeing the answer (a reset after sending, a timeout, this
//! process starting on a run that exists already) it reads the key's history with `metrics/get-history` and skips the
//! points MLflow holds. Every point keeps the timestamp recorded when it was logged, so a point is the same point
//! however often it is checked. Params (write-once), tags, run status and artifacts are idempotent writes.
//!
//! A lost mapping (a new process, a crash) is found again with `runs/search` on the tag `runlog.run_id`.
//! The remote keeps only caches in memory; it knows nothing of the local store or the agent's cursor.

mod api;
mod map;

use self::api::{Api, Auth, KeyValue, LogBatch, Metric, RunJson};
pub use self::map::{
    Artifact, DESCRIPTION_PREFIX, JOURNAL_BLOCK, MlflowLimits, PROPERTY_PREFIX, TAG_MLFLOW_PARENT, TAG_PARENT,
    TAG_RUN_ID, TAG_STATUS_REASON, TAG_STORE_ID, artifact_tree, chart_artifact_path, check_key, image_artifact_path,
};
use self::map::{Content, Op, Refusal};
use super::{Reconciled, Remote};
use crate::error::{Error, Result};
use async_trait::async_trait;
use runlog_wire::ServiceLimits;
use runlog_wire::{Batch, BatchReply, EncodedBatch, Rejection};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Options of an MLflow remote; every field documents its default.
#[derive(Debug, Clone)]
pub struct MlflowOptions {
    /// A PEM certificate to trust besides the system's. Default: none.
    pub ca_cert: Option<PathBuf>,
    /// How long one request may take in all. Default: 120 s.
    pub timeout: Duration,
    /// How long connecting may take. Default: 10 s.
    pub connect_timeout: Duration,
    /// Bytes of image and file blobs kept in memory between `upload_blob` and the batch that puts them into runs
    /// (oldest dropped first; a dropped blob is asked for again). Default 256 MiB.
    pub blob_cache_bytes: usize,
    /// How long to wait after an unknown outcome before reading what landed, so a request the server is still
    /// processing is seen. Default 500 ms.
    pub settle: Duration,
    /// Points per `metrics/get-history` page. Default 25,000.
    pub history_page: usize,
    /// MLflow's limits. Default: [`MlflowLimits::default`].
    pub limits: MlflowLimits,
}

impl Default for MlflowOptions {
    fn default() -> Self {
        MlflowOptions {
            ca_cert: None,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            blob_cache_bytes: 256 << 20,
            settle: Duration::from_millis(500),
            history_page: 25_000,
            limits: MlflowLimits::default(),
        }
    }
}

/// Counters of what the remote did, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MlflowStats {
    /// `runs/log-batch` requests that succeeded.
    pub log_batches: u64,
    /// Metric points MLflow accepted from this process.
    pub points_sent: u64,
    /// Metric points put on the wire, answered or not (with reconciliation, each point once unless MLflow refused
    /// a request and it was split).
    pub points_attempted: u64,
    /// Points not sent because MLflow held them already (found with `metrics/get-history`).
    pub points_found_landed: u64,
    /// `metrics/get-history` reads (one per key checked).
    pub histories_read: u64,
    /// Batches reconciled after an unknown outcome.
    pub reconciles: u64,
    /// Runs created.
    pub runs_created: u64,
    /// Runs found again by their `runlog.run_id` tag.
    pub runs_found: u64,
}

#[derive(Default)]
struct Counters {
    log_batches: AtomicU64,
    points_sent: AtomicU64,
    points_attempted: AtomicU64,
    points_found_landed: AtomicU64,
    histories_read: AtomicU64,
    reconciles: AtomicU64,
    runs_created: AtomicU64,
    runs_found: AtomicU64,
}

type PointId = (i64, i64, u64);

/// A journal line waiting to be merged: (record index in the batch, seq, JSON line).
type JournalLine = (usize, i64, String);

/// What this process knows of one MLflow run.
struct RunState {
    id: String,
    /// Where its artifacts go under the proxied artifact API (`<experiment>/<run>/artifacts`), if the server proxies.
    artifact_root: Option<String>,
    params: HashMap<String, String>,
    /// Keys MLflow may hold points of that this process has not read: read their history before sending.
    unverified: HashSet<String>,
    /// Points MLflow holds of the keys read during the current batch.
    landed: HashMap<String, HashSet<PointId>>,
}

impl RunState {
    fn from_json(run: &RunJson, created: bool) -> RunState {
        RunState {
            id: run.info.run_id.clone(),
            artifact_root: artifact_root(&run.info.artifact_uri),
            params: run.data.params.iter().map(|p| (p.key.clone(), p.value.clone())).collect(),
            unverified: if created { HashSet::new() } else { run.data.metrics.iter().map(|m| m.key.clone()).collect() },
            landed: HashMap::new(),
        }
    }
}

/// `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host:port/1/abc/artifacts` -> `1/abc/artifacts`.
fn artifact_root(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        Some(r) => r.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Some(rest.trim_matches('/').to_string()).filter(|r| !r.is_empty())
}

#[derive(Default)]
struct BlobCache {
    map: HashMap<String, bytes::Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

impl BlobCache {
    fn put(&mut self, hash: &str, b: bytes::Bytes, cap: usize) {
        if self.map.contains_key(hash) {
            return;
        }
        self.bytes += b.len();
        self.map.insert(hash.to_string(), b);
        self.order.push_back(hash.to_string());
        while self.bytes > cap && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front()
                && let Some(v) = self.map.remove(&old)
            {
                self.bytes -= v.len();
            }
        }
    }
}

#[derive(Default)]
struct State {
    experiments: HashMap<String, String>,
    runs: HashMap<String, RunState>,
    blobs: BlobCache,
}

/// An MLflow tracking server.
pub struct MlflowRemote {
    api: Api,
    describe: String,
    opts: MlflowOptions,
    state: tokio::sync::Mutex<State>,
    counters: Counters,
}

/// What one batch's application knows about its metric keys.
#[derive(Default)]
struct BatchCx {
    /// (run, key) -> the lowest and highest step of the batch's points of that key.
    ranges: HashMap<(String, String), (i64, i64)>,
    /// Keys whose landed points were read during this batch.
    checked: HashSet<(String, String)>,
    /// Keys that got a point MLflow did not hold: everything after it is new too.
    fresh: HashSet<(String, String)>,
    /// Keys the batch touched.
    touched: HashSet<(String, String)>,
    /// runlog runs MLflow was searched for in this batch and does not hold (searched once per batch).
    missing: HashSet<String>,
}

/// Per-record bookkeeping while a batch is applied.
#[derive(Default, Clone)]
struct RecOutcome {
    rejected: Option<Refusal>,
    sent: usize,
    held: usize,
}

enum Item {
    Metric(Metric),
    Param(KeyValue),
    Tag(KeyValue),
}

/// A `runs/log-batch` being filled for one run.
#[derive(Default)]
struct Pending {
    run: String,
    items: Vec<(usize, Item)>,
    metrics: usize,
    params: usize,
    tags: usize,
    bytes: usize,
}

impl Pending {
    fn fits(&self, item: &Item, size: usize, l: &MlflowLimits) -> bool {
        let (m, p, t) = match item {
            Item::Metric(_) => (1, 0, 0),
            Item::Param(_) => (0, 1, 0),
            Item::Tag(_) => (0, 0, 1),
        };
        self.metrics + m <= l.max_metrics
            && self.params + p <= l.max_params
            && self.tags + t <= l.max_tags
            && self.items.len() < l.max_items
            && self.bytes + size <= l.max_request_bytes
    }

    fn push(&mut self, rec: usize, item: Item, size: usize) {
        match &item {
            Item::Metric(_) => self.metrics += 1,
            Item::Param(_) => self.params += 1,
            Item::Tag(_) => self.tags += 1,
        }
        self.bytes += size;
        self.items.push((rec, item));
    }
}

fn item_size(item: &Item) -> usize {
    match item {
        Item::Metric(m) => m.key.len() + 80,
        Item::Param(kv) | Item::Tag(kv) => kv.key.len() + kv.value.len() * 2 + 40,
    }
}

/// The code of a refusal MLflow answered.
fn refusal_of(e: &Error) -> Refusal {
    match e {
        Error::Http { code, message, .. } => {
            let c = if message.contains("Changing param values") {
                "param_changed".to_string()
            } else {
                format!("mlflow_{}", code.to_ascii_lowercase())
            };
            (c, format!("MLflow refused it: {}", runlog_wire::truncate(message, 400)))
        }
        other => ("mlflow_refused".into(), other.to_string()),
    }
}

/// A 4xx that is about the request's content (not auth, not rate, not size of the body as a whole).
fn is_refusal(e: &Error) -> bool {
    matches!(e, Error::Http { status, .. } if (400..500).contains(status) && ![401, 403, 408, 429].contains(status))
}

impl MlflowRemote {
    /// A remote at `url` (`mlflow+http://host:port[/prefix]` or `mlflow+https://...`, or the same without `mlflow+`),
    /// authenticated by `token` (empty: none; `basic:USER:PASSWORD`: basic auth; else a bearer token).
    pub fn new(url: &str, token: &str, opts: MlflowOptions) -> Result<MlflowRemote> {
        let base = url.strip_prefix("mlflow+").unwrap_or(url).trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "MLflow remote url {url:?} must start with mlflow+http:// or mlflow+https://"
            )));
        }
        let auth = Auth::from_token(token)?;
        let api = Api::new(base, auth, opts.ca_cert.as_deref(), opts.timeout, opts.connect_timeout)?;
        Ok(MlflowRemote {
            describe: format!("MLflow tracking server {}", api.base()),
            api,
            opts,
            state: tokio::sync::Mutex::new(State::default()),
            counters: Counters::default(),
        })
    }

    /// The remote a configuration names, with default options (its CA certificate kept).
    pub fn from_config(cfg: &crate::config::RemoteConfig) -> Result<MlflowRemote> {
        let opts = MlflowOptions { ca_cert: cfg.ca_cert.clone(), ..MlflowOptions::default() };
        MlflowRemote::new(&cfg.url, &cfg.token, opts)
    }

    /// What the remote did so far.
    pub fn stats(&self) -> MlflowStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MlflowStats {
            log_batches: g(&c.log_batches),
            points_sent: g(&c.points_sent),
            points_attempted: g(&c.points_attempted),
            points_found_landed: g(&c.points_found_landed),
            histories_read: g(&c.histories_read),
            reconciles: g(&c.reconciles),
            runs_created: g(&c.runs_created),
            runs_found: g(&c.runs_found),
        }
    }

    async fn experiment(&self, st: &mut State, name: &str) -> Result<String> {
        if let Some(id) = st.experiments.get(name) {
            return Ok(id.clone());
        }
        let id = match self.api.experiment_by_name(name).await? {
            Some(id) => id,
            // Created, or created meanwhile by someone else (then found by name).
            None => match self.api.create_experiment(name).await? {
                Some(id) => id,
                None => self.api.experiment_by_name(name).await?.ok_or_else(|| {
                    Error::Format(format!("MLflow says experiment {name:?} exists but does not find it by name"))
                })?,
            },
        };
        st.experiments.insert(name.to_string(), id.clone());
        Ok(id)
    }

    /// Finds the MLflow run of a runlog run in these experiments (all when `None`).
    async fn search(&self, st: &mut State, run: &str, experiments: Option<Vec<String>>) -> Result<bool> {
        if st.runs.contains_key(run) {
            return Ok(true);
        }
        let ids = match experiments {
            Some(ids) => ids,
            None => self.api.experiment_ids().await?,
        };
        if ids.is_empty() {
            return Ok(false);
        }
        let found = self.api.search_by_tag(&ids, map::TAG_RUN_ID, run).await?;
        match found.first() {
            Some(r) => {
                self.counters.runs_found.fetch_add(1, Ordering::Relaxed);
                st.runs.insert(run.to_string(), RunState::from_json(r, false));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Finds or creates the MLflow run of a run record. Never creates a second run for a runlog run: it searches first,
    /// and a create whose answer was lost is found by the next search.
    async fn ensure_run(
        &self,
        st: &mut State,
        store: &str,
        rec: &runlog_wire::WireRecord,
        experiment: &str,
        name: &str,
        parent: Option<&str>,
    ) -> Result<std::result::Result<(), Refusal>> {
        if st.runs.contains_key(&rec.run) {
            return Ok(Ok(()));
        }
        let exp = match self.experiment(st, experiment).await {
            Ok(id) => id,
            Err(e) if is_refusal(&e) => return Ok(Err(refusal_of(&e))),
            Err(e) => return Err(e),
        };
        if self.search(st, &rec.run, Some(vec![exp.clone()])).await? {
            return Ok(Ok(()));
        }
        let mut tags = vec![
            KeyValue { key: map::TAG_RUN_ID.into(), value: rec.run.clone() },
            KeyValue { key: map::TAG_STORE_ID.into(), value: store.to_string() },
        ];
        if let Some(p) = parent {
            tags.push(KeyValue { key: map::TAG_PARENT.into(), value: p.to_string() });
            let known = st.runs.contains_key(p) || self.search(st, p, Some(vec![exp.clone()])).await?;
            if known && let Some(ps) = st.runs.get(p) {
                tags.push(KeyValue { key: map::TAG_MLFLOW_PARENT.into(), value: ps.id.clone() });
            }
        }
        match self.api.create_run(&exp, name, rec.at, &tags).await {
            Ok(run) => {
                self.counters.runs_created.fetch_add(1, Ordering::Relaxed);
                st.runs.insert(rec.run.clone(), RunState::from_json(&run, true));
                Ok(Ok(()))
            }
            Err(e) if is_refusal(&e) => Ok(Err(refusal_of(&e))),
            Err(e) => Err(e),
        }
    }

    /// Whether MLflow holds this point already. A key this process may not know about (`unverified`) is read once
    /// per batch: the points with steps in the batch's range for that key (`ranges`), or its whole history when the
    /// range holds more steps than MLflow returns at once.
    async fn landed(&self, st: &mut State, run: &str, m: &Metric, cx: &mut BatchCx) -> Result<bool> {
        let Some(rs) = st.runs.get_mut(run) else { return Ok(false) };
        let id = (run.to_string(), m.key.clone());
        if rs.unverified.contains(&m.key) && cx.checked.insert(id.clone()) {
            let (lo, hi) = cx.ranges.get(&id).copied().unwrap_or((m.step, m.step));
            let max = self.opts.limits.max_range_points;
            let hist = match self.api.history_range(&rs.id, &m.key, lo, hi, max).await? {
                Some(h) => h,
                None => self.api.history(&rs.id, &m.key, self.opts.history_page).await?,
            };
            self.counters.histories_read.fetch_add(1, Ordering::Relaxed);
            rs.landed.insert(m.key.clone(), hist.iter().map(|p| map::point_id(p.step, p.timestamp, p.value)).collect());
        }
        Ok(rs.landed.get(&m.key).is_some_and(|set| set.contains(&map::point_id(m.step, m.timestamp, m.value))))
    }

    /// Sends a pending `runs/log-batch`; a refused request is split until the refused records are found, and only
    /// they are rejected.
    async fn flush(&self, st: &mut State, p: &mut Pending, out: &mut [RecOutcome]) -> Result<()> {
        let items: Vec<(usize, Item)> =
            std::mem::take(&mut p.items).into_iter().filter(|(i, _)| out[*i].rejected.is_none()).collect();
        let run = std::mem::take(&mut p.run);
        *p = Pending::default();
        if items.is_empty() {
            return Ok(());
        }
        let Some(run_id) = st.runs.get(&run).map(|r| r.id.clone()) else { return Ok(()) };
        let mut stack: Vec<Vec<(usize, Item)>> = vec![items];
        while let Some(group) = stack.pop() {
            let mut body = LogBatch { run_id: &run_id, ..LogBatch::default() };
            for (_, it) in &group {
                match it {
                    Item::Metric(m) => body.metrics.push(m),
                    Item::Param(kv) => body.params.push(kv),
                    Item::Tag(kv) => body.tags.push(kv),
                }
            }
            self.counters.points_attempted.fetch_add(body.metrics.len() as u64, Ordering::Relaxed);
            match self.api.log_batch(&body).await {
                Ok(()) => {
                    self.counters.log_batches.fetch_add(1, Ordering::Relaxed);
                    self.counters.points_sent.fetch_add(body.metrics.len() as u64, Ordering::Relaxed);
                    for (i, it) in &group {
                        out[*i].sent += 1;
                        if let Item::Param(kv) = it
                            && let Some(rs) = st.runs.get_mut(&run)
                        {
                            rs.params.insert(kv.key.clone(), kv.value.clone());
                        }
                    }
                }
                Err(e) if is_refusal(&e) => {
                    let mut recs: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
                    recs.dedup();
                    if recs.len() <= 1 {
                        for i in recs {
                            out[i].rejected = Some(refusal_of(&e));
                        }
                        continue;
                    }
                    // Halves by record, first half sent first (tags: later values win).
                    let cut = recs[recs.len() / 2];
                    let (a, b): (Vec<_>, Vec<_>) = group.into_iter().partition(|(i, _)| *i < cut);
                    stack.push(b);
                    stack.push(a);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Applies a batch. On an error, every key it touched is marked for a history read, so a later try (or the
    /// reconciliation) sends only what MLflow lacks.
    async fn apply(&self, st: &mut State, batch: &Batch, id: &str) -> Result<BatchReply> {
        let mut cx = BatchCx::default();
        let r = self.apply_inner(st, batch, id, &mut cx).await;
        for (run, key) in &cx.touched {
            let Some(rs) = st.runs.get_mut(run) else { continue };
            rs.landed.remove(key);
            if r.is_err() {
                rs.unverified.insert(key.clone());
            } else if cx.fresh.contains(&(run.clone(), key.clone())) {
                // Points land in the order they are sent: after a new one, MLflow holds none of the later ones.
                rs.unverified.remove(key);
            }
        }
        r
    }

    async fn apply_inner(&self, st: &mut State, batch: &Batch, id: &str, cx: &mut BatchCx) -> Result<BatchReply> {
        let l = self.opts.limits;
        let plans: Vec<std::result::Result<Vec<Op>, Refusal>> =
            batch.records.iter().map(|r| map::plan(r, &l)).collect();
        // Blobs first: a batch refers only to blobs this process holds (else the agent uploads them again).
        for ops in plans.iter().flatten() {
            for op in ops {
                if let Op::Artifact { content: Content::Blob(h), .. } = op
                    && !st.blobs.map.contains_key(h)
                {
                    return Err(Error::Http {
                        url: self.describe.clone(),
                        status: 409,
                        code: "blob_missing".into(),
                        message: format!("blob {h} is not held by this MLflow remote; upload it again"),
                        retry_after: None,
                    });
                }
            }
        }
        for (rec, ops) in batch.records.iter().zip(&plans) {
            for op in ops.iter().flatten() {
                if let Op::Metric(m) = op {
                    let r = cx.ranges.entry((rec.run.clone(), m.key.clone())).or_insert((m.step, m.step));
                    *r = (r.0.min(m.step), r.1.max(m.step));
                }
            }
        }
        let mut out = vec![RecOutcome::default(); batch.records.len()];
        let mut pending = Pending::default();
        let mut artifacts: Vec<(usize, String, String, Content)> = Vec::new();
        let mut journals: BTreeMap<(String, String), Vec<JournalLine>> = BTreeMap::new();
        for (i, (rec, plan)) in batch.records.iter().zip(plans).enumerate() {
            let ops = match plan {
                Ok(ops) => ops,
                Err(r) => {
                    out[i].rejected = Some(r);
                    continue;
                }
            };
            if pending.run != rec.run && !pending.items.is_empty() {
                self.flush(st, &mut pending, &mut out).await?;
            }
            let known = match ops.first() {
                Some(Op::Run { experiment, name, parent }) => {
                    match self.ensure_run(st, &batch.store, rec, experiment, name, parent.as_deref()).await? {
                        Ok(()) => true,
                        Err(r) => {
                            out[i].rejected = Some(r);
                            continue;
                        }
                    }
                }
                _ if cx.missing.contains(&rec.run) => false,
                _ => {
                    let found = self.search(st, &rec.run, None).await?;
                    if !found {
                        cx.missing.insert(rec.run.clone());
                    }
                    found
                }
            };
            if !known {
                out[i].rejected = Some((
                    "run_unknown".into(),
                    format!(
                        "MLflow holds no run tagged {}={}; its run record was not synced",
                        map::TAG_RUN_ID,
                        rec.run
                    ),
                ));
                continue;
            }
            pending.run.clone_from(&rec.run);
            for op in ops {
                if out[i].rejected.is_some() {
                    break;
                }
                let op = match op {
                    Op::ParentTag(local) => Op::Tag(KeyValue {
                        key: map::TAG_MLFLOW_PARENT.into(),
                        value: self.remote_id(st, local).await?,
                    }),
                    op => op,
                };
                let item = match op {
                    // A parent tag became a plain tag just above.
                    Op::Run { .. } | Op::ParentTag(_) => continue,
                    Op::Metric(m) => {
                        cx.touched.insert((rec.run.clone(), m.key.clone()));
                        if self.landed(st, &rec.run, &m, cx).await? {
                            self.counters.points_found_landed.fetch_add(1, Ordering::Relaxed);
                            out[i].held += 1;
                            continue;
                        }
                        cx.fresh.insert((rec.run.clone(), m.key.clone()));
                        Item::Metric(m)
                    }
                    Op::Param(kv) => {
                        let known = st.runs.get(&rec.run).and_then(|r| r.params.get(&kv.key)).cloned();
                        let queued = pending.items.iter().find_map(|(_, it)| match it {
                            Item::Param(p) if p.key == kv.key => Some(p.value.clone()),
                            _ => None,
                        });
                        match known.or(queued) {
                            Some(v) if v == kv.value => {
                                out[i].held += 1;
                                continue;
                            }
                            Some(v) => {
                                out[i].rejected = Some((
                                    "param_changed".into(),
                                    format!(
                                        "param {:?} is {:?} in MLflow; MLflow params are write-once, so {:?} is refused",
                                        kv.key,
                                        runlog_wire::truncate(&v, 80),
                                        runlog_wire::truncate(&kv.value, 80)
                                    ),
                                ));
                                continue;
                            }
                            None => Item::Param(kv),
                        }
                    }
                    Op::Tag(kv) => {
                        // A later value of a key in the same request replaces the earlier one.
                        if let Some(pos) =
                            pending.items.iter().position(|(_, it)| matches!(it, Item::Tag(t) if t.key == kv.key))
                        {
                            let (j, _) = pending.items.remove(pos);
                            out[j].sent += 1;
                            pending.tags -= 1;
                        }
                        Item::Tag(kv)
                    }
                    Op::Status { status, end_time } => {
                        self.flush(st, &mut pending, &mut out).await?;
                        pending.run.clone_from(&rec.run);
                        let Some(run_id) = st.runs.get(&rec.run).map(|r| r.id.clone()) else { continue };
                        match self.api.update_run(&run_id, status, end_time).await {
                            Ok(()) => out[i].sent += 1,
                            Err(e) if is_refusal(&e) => out[i].rejected = Some(refusal_of(&e)),
                            Err(e) => return Err(e),
                        }
                        continue;
                    }
                    Op::Artifact { path, content } => {
                        artifacts.push((i, rec.run.clone(), path, content));
                        continue;
                    }
                    Op::Journal { path, seq, line } => {
                        journals.entry((rec.run.clone(), path)).or_default().push((i, seq, line));
                        continue;
                    }
                };
                let size = item_size(&item);
                if !pending.fits(&item, size, &l) {
                    self.flush(st, &mut pending, &mut out).await?;
                    pending.run.clone_from(&rec.run);
                }
                pending.push(i, item, size);
            }
        }
        self.flush(st, &mut pending, &mut out).await?;
        for (i, run, path, content) in artifacts {
            if out[i].rejected.is_some() {
                continue;
            }
            let Some(root) = self.root(st, &run, &mut out[i]) else { continue };
            let bytes = match content {
                Content::Bytes(b) => b,
                Content::Blob(h) => st.blobs.map.get(&h).cloned().unwrap_or_default(),
            };
            match self.api.put_artifact(&format!("{root}/{path}"), bytes).await {
                Ok(()) => out[i].sent += 1,
                Err(e) if is_refusal(&e) => out[i].rejected = Some(refusal_of(&e)),
                Err(e) => return Err(e),
            }
        }
        for ((run, path), lines) in journals {
            let lines: Vec<_> = lines.into_iter().filter(|(i, _, _)| out[*i].rejected.is_none()).collect();
            let Some((first, _, _)) = lines.first() else { continue };
            let Some(root) = self.root(st, &run, &mut out[*first]) else { continue };
            let full = format!("{root}/{path}");
            match self.merge_journal(&full, &lines).await {
                Ok(()) => lines.iter().for_each(|(i, _, _)| out[*i].sent += 1),
                Err(e) if is_refusal(&e) => lines.iter().for_each(|(i, _, _)| out[*i].rejected = Some(refusal_of(&e))),
                Err(e) => return Err(e),
            }
        }
        let mut reply = BatchReply { batch: id.to_string(), applied: 0, duplicates: 0, rejected: Vec::new() };
        for (rec, o) in batch.records.iter().zip(out) {
            match o.rejected {
                Some((code, reason)) => reply.rejected.push(Rejection { seq: rec.seq, part: rec.part, code, reason }),
                None if o.sent == 0 && o.held > 0 => reply.duplicates += 1,
                None => reply.applied += 1,
            }
        }
        Ok(reply)
    }

    /// The MLflow id of the run a runlog id names, when this remote finds it; else the text as given (a parent tag
    /// an MLflow client logged may name a run runlog does not hold).
    async fn remote_id(&self, st: &mut State, local: String) -> Result<String> {
        if runlog_core::RunId::parse(&local).is_ok()
            && self.search(st, &local, None).await?
            && let Some(run) = st.runs.get(&local)
        {
            return Ok(run.id.clone());
        }
        Ok(local)
    }

    fn root(&self, st: &State, run: &str, out: &mut RecOutcome) -> Option<String> {
        let root = st.runs.get(run).and_then(|r| r.artifact_root.clone());
        if root.is_none() {
            out.rejected = Some((
                "artifacts_unavailable".into(),
                format!(
                    "the MLflow run of {run} keeps artifacts outside the server's proxied artifact API (start the server with --serve-artifacts)"
                ),
            ));
        }
        root
    }

    /// Merges lines into a journal artifact by their `seq`, so writing the same lines again changes nothing.
    async fn merge_journal(&self, path: &str, lines: &[JournalLine]) -> Result<()> {
        let mut all: BTreeMap<i64, String> = BTreeMap::new();
        if let Some(old) = self.api.get_artifact(path).await? {
            for line in String::from_utf8_lossy(&old).lines() {
                let seq = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["seq"].as_i64());
                if let Some(seq) = seq {
                    all.insert(seq, line.to_string());
                }
            }
        }
        for (_, seq, line) in lines {
            all.insert(*seq, line.clone());
        }
        let mut body = String::new();
        for line in all.values() {
            body.push_str(line);
            body.push('\n');
        }
        self.api.put_artifact(path, body.into()).await
    }
}

#[async_trait]
impl Remote for MlflowRemote {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn limits(&self) -> Result<ServiceLimits> {
        Ok(ServiceLimits::mlflow())
    }

    async fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        let st = self.state.lock().await;
        Ok(hashes.iter().filter(|h| !st.blobs.map.contains_key(*h)).cloned().collect())
    }

    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> Result<()> {
        let got = blake3::hash(&bytes).to_hex().to_string();
        if got != hash {
            return Err(Error::Format(format!("blob bytes hash to {got}, not to {hash}")));
        }
        let mut st = self.state.lock().await;
        st.blobs.put(hash, bytes, self.opts.blob_cache_bytes);
        Ok(())
    }

    async fn upload_batch(&self, batch: &EncodedBatch) -> Result<BatchReply> {
        let b = Batch::decode(&batch.bytes)?;
        let mut st = self.state.lock().await;
        self.apply(&mut st, &b, batch.id.as_str()).await
    }

    /// Reads what landed of every key the batch touches (`metrics/get-history`), then sends only the rest: points
    /// MLflow holds are not sent again; params, tags, status and artifacts are idempotent writes.
    async fn reconcile(&self, batch: &EncodedBatch) -> Result<Reconciled> {
        self.counters.reconciles.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.opts.settle).await;
        let b = Batch::decode(&batch.bytes)?;
        let mut st = self.state.lock().await;
        // Forget what this process believed about the batch's runs: read it again from MLflow.
        let runs: HashSet<&str> = b.records.iter().map(|r| r.run.as_str()).collect();
        for run in runs {
            if let Some(rs) = st.runs.remove(run)
                && let Some(fresh) = self.api.get_run(&rs.id).await?
            {
                st.runs.insert(run.to_string(), RunState::from_json(&fresh, false));
            }
        }
        let reply = self.apply(&mut st, &b, batch.id.as_str()).await?;
        Ok(Reconciled::Landed(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_roots_of_proxied_servers() {
        assert_eq!(artifact_root("mlflow-artifacts:/1/abc/artifacts").as_deref(), Some("1/abc/artifacts"));
        assert_eq!(artifact_root("mlflow-artifacts://h:5000/1/abc/artifacts").as_deref(), Some("1/abc/artifacts"));
        assert_eq!(artifact_root("/tmp/mlruns/1/abc/artifacts"), None);
        assert_eq!(artifact_root("s3://b/1"), None);
    }

    #[test]
    fn the_blob_cache_drops_the_oldest_over_its_size() {
        let mut c = BlobCache::default();
        c.put("a", bytes::Bytes::from(vec![0; 6]), 10);
        c.put("b", bytes::Bytes::from(vec![0; 6]), 10);
        assert!(!c.map.contains_key("a") && c.map.contains_key("b"));
        assert_eq!(c.bytes, 6);
    }

    #[test]
    fn urls_must_name_http() {
        assert!(MlflowRemote::new("mlflow+ftp://x", "", MlflowOptions::default()).is_err());
        let r = MlflowRemote::new("mlflow+http://127.0.0.1:5000/", "", MlflowOptions::default()).expect("ok");
        assert_eq!(r.describe(), "MLflow tracking server http://127.0.0.1:5000");
    }
}
