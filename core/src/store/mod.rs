//! The store: one SQLite file, its schema, and the one writer thread per process that writes it.
//!
//! [`Store`] is a cheap handle (clone it freely). Opening the same path twice in one process returns handles to the
//! same writer, so a process never has two write connections to one file. Reading goes through [`crate::Reader`],
//! which [`Store::reader`] hands out and which also works on its own, read-only, for tools that must not write.

mod backup;
mod commits;
mod conn;
pub(crate) mod schema;
pub(crate) mod writer;

pub use backup::backup;
pub use commits::CommitSubscription;
pub use schema::{APPEND_ONLY_TABLES, SCHEMA_VERSION};
pub use writer::{CHANNEL_CAPACITY, GROUP_MAX_RECORDS, MAX_QUEUED_BYTES};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::read::Reader;
use crate::run::Run;
use crate::types::{RunId, StoreId, now_ms};
use crossbeam_channel::Sender;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use writer::{Budget, Msg, Writer, WriterConfig};

pub(crate) use conn::open_ro;

/// Environment variable naming the store file ([`Store::open_default`], [`Run::from_env`]).
pub const ENV_STORE: &str = "RUNLOG_STORE";
/// The store file used when `RUNLOG_STORE` is not set.
pub const DEFAULT_STORE_FILE: &str = "runlog.db";
/// How many heartbeat intervals may pass before a run that has not ended is shown as crashed.
pub const STALE_AFTER_INTERVALS: i64 = 3;
/// Default group-commit interval.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Default heartbeat interval: a dead run shows as crashed after `STALE_AFTER_INTERVALS` of these (15 s).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// When a log call's data is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Log calls return at once; the writer commits in groups every flush interval. A process crash loses at most
    /// the points logged since the last commit (or since the last `flush()`, which waits for one). The default.
    #[default]
    Buffered,
    /// Every log call returns only once its data is committed (survives a crash of the process).
    EveryCall,
    /// Every log call returns only once its data is committed and fsynced (survives power loss).
    Fsync,
}

/// Options for opening a store; every setter documents its default.
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    path: PathBuf,
    durability: Durability,
    flush_interval: Duration,
    heartbeat_interval: Duration,
    #[cfg(feature = "system-metrics")]
    system_metrics: Option<crate::system::SystemMetrics>,
}

impl StoreBuilder {
    /// When log calls are durable. Default: [`Durability::Buffered`].
    pub fn durability(&mut self, d: Durability) -> &mut Self {
        self.durability = d;
        self
    }

    /// How often the writer commits buffered data. Default: 100 ms.
    pub fn flush_interval(&mut self, d: Duration) -> &mut Self {
        self.flush_interval = d.max(Duration::from_millis(1));
        self
    }

    /// How often the writer records that its runs are alive. Default: 5 s; a run whose process died shows as
    /// crashed after [`STALE_AFTER_INTERVALS`] intervals.
    pub fn heartbeat_interval(&mut self, d: Duration) -> &mut Self {
        self.heartbeat_interval = d.max(Duration::from_millis(10));
        self
    }

    /// Samples the machine and this process into every top-level run the store handle starts (child runs and
    /// attached runs are not sampled), from its start until it ends: see [`crate::system`]. Default: off (`None`).
    /// [`crate::system::SystemMetrics::from_env`] turns it on when `RUNLOG_SYSTEM_METRICS` asks, as `runlog exec`
    /// and the Python package read it. Feature `system-metrics`.
    #[cfg(feature = "system-metrics")]
    pub fn system_metrics(&mut self, m: Option<crate::system::SystemMetrics>) -> &mut Self {
        self.system_metrics = m;
        self
    }

    /// Opens (creating if needed) the store. If this process already has the file open, the existing writer is shared
    /// and the durability and intervals are those of the first opening; the system-metrics option is this handle's.
    pub fn open(&self) -> Result<Store> {
        #[cfg(feature = "system-metrics")]
        if let Some(m) = &self.system_metrics {
            m.check()?;
        }
        let inner = self.open_inner()?;
        Ok(Store {
            inner,
            #[cfg(feature = "system-metrics")]
            system_metrics: self.system_metrics.clone(),
        })
    }

    fn open_inner(&self) -> Result<Arc<StoreInner>> {
        let canonical = canonical_path(&self.path)?;
        let mut open = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = open.get(&canonical).and_then(Weak::upgrade) {
            return Ok(inner);
        }
        let fsync = self.durability == Durability::Fsync;
        writer::prepare(&canonical, fsync)?;
        let reader = Reader::open_unchecked(&canonical)?;
        let store_id = reader.store_id()?;
        let failed = Arc::new(OnceLock::new());
        let cfg = WriterConfig {
            path: canonical.clone(),
            flush_interval: self.flush_interval,
            heartbeat_interval: self.heartbeat_interval,
            fsync,
        };
        let budget = Arc::new(Budget::new(MAX_QUEUED_BYTES));
        let commits = Arc::new(commits::Commits::default());
        let (tx, handle) = Writer::spawn(cfg, failed.clone(), budget.clone(), commits.clone())?;
        let inner = Arc::new(StoreInner {
            commits,
            path: canonical.clone(),
            store_id,
            durability: self.durability,
            tx,
            budget,
            failed,
            writer: Mutex::new(Some(handle)),
            reader,
            observer: std::sync::RwLock::new(None),
        });
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(canonical, Arc::downgrade(&inner));
        Ok(inner)
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<StoreInner>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<StoreInner>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// The absolute path of a store file that may not exist yet (its directory must).
fn canonical_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("store path {} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = dir.canonicalize().map_err(|e| {
        Error::NotFound(format!("directory {} of store {} is not usable: {e}", dir.display(), path.display()))
    })?;
    Ok(dir.join(name))
}

/// Hears about runs starting and ending: how the sync crate starts its background agent without the core knowing
/// anything about the network. Set with [`Store::set_observer`].
pub trait RunObserver: Send + Sync {
    /// A run of this process started (or attached). Must return quickly.
    fn run_started(&self, run: &Run);
    /// A run of this process ended and its data is committed. May block for a bounded time (a sync grace period).
    fn run_ended(&self, run: &Run);
}

pub(crate) struct StoreInner {
    commits: Arc<commits::Commits>,
    pub(crate) observer: std::sync::RwLock<Option<Arc<dyn RunObserver>>>,
    pub(crate) path: PathBuf,
    pub(crate) store_id: StoreId,
    pub(crate) durability: Durability,
    tx: Sender<Msg>,
    budget: Arc<Budget>,
    failed: Arc<OnceLock<String>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) reader: Reader,
}

impl StoreInner {
    /// Fails fast once the writer has failed (sticky error).
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        match self.failed.get() {
            None => Ok(()),
            Some(e) => Err(Error::WriterFailed(e.clone())),
        }
    }

    /// Whether a message handed to the writer now may have to wait for room (its queue is nearly full; the budget
    /// fills before the channel, see `Msg::weight`).
    #[inline]
    pub(crate) fn backlogged(&self) -> bool {
        self.budget.nearly_full()
    }

    /// Hands a message to the writer, waiting while its queue is full (back-pressure).
    pub(crate) fn send(&self, m: Msg) -> Result<()> {
        self.budget.acquire(m.weight());
        self.tx.send(m).map_err(|_| self.stopped())
    }

    fn stopped(&self) -> Error {
        match self.failed.get() {
            Some(e) => Error::WriterFailed(e.clone()),
            None => Error::WriterFailed("the writer thread is gone".into()),
        }
    }

    /// Sends a message carrying a reply channel and waits for the answer.
    pub(crate) fn call<T>(&self, make: impl FnOnce(Sender<Result<T>>) -> Msg) -> Result<T> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(make(tx))?;
        rx.recv().map_err(|_| self.stopped())?
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.check()?;
        self.call(Msg::Flush)
    }
}

impl Drop for StoreInner {
    /// The last handle of the store in this process is gone: the reader's connection closes first, then the writer
    /// commits what is left, checkpoints and closes, so unless another process has the file open, the WAL and
    /// shared-memory files are removed and the store is one file again.
    fn drop(&mut self) {
        self.reader.close();
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

/// A runlog store: one SQLite file. Cheap to clone; all clones share one writer thread.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<StoreInner>,
    /// What to sample into each top-level run this handle starts ([`StoreBuilder::system_metrics`]).
    #[cfg(feature = "system-metrics")]
    pub(crate) system_metrics: Option<crate::system::SystemMetrics>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).field("id", &self.inner.store_id).finish()
    }
}

impl Store {
    /// Options for opening the store at `path`.
    pub fn builder(path: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder {
            path: path.as_ref().to_path_buf(),
            durability: Durability::default(),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            #[cfg(feature = "system-metrics")]
            system_metrics: None,
        }
    }

    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::builder(path).open()
    }

    /// Opens the store named by `$RUNLOG_STORE`, or `./runlog.db`.
    pub fn open_default() -> Result<Store> {
        Store::open(default_path())
    }

    /// The store's id, made when the file was created.
    pub fn id(&self) -> &StoreId {
        &self.inner.store_id
    }

    /// The absolute path of the file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Starts a run in `experiment` (created if new), named after its id. See [`Store::start_named_run`].
    pub fn start_run(&self, experiment: &str) -> Result<Run> {
        Run::start(self, experiment, None, None, now_ms())
    }

    /// Starts a run with a display name.
    pub fn start_named_run(&self, experiment: &str, name: &str) -> Result<Run> {
        Run::start(self, experiment, Some(name), None, now_ms())
    }

    /// Starts a run whose start time (ms since the Unix epoch), name and parent were chosen elsewhere: how a run
    /// an MLflow client creates keeps the client's `start_time`. `parent` names the parent run by id (it need not be
    /// open in this process); `None` names the run after its id, as [`Store::start_run`] does.
    pub fn start_run_at(
        &self,
        experiment: &str,
        name: Option<&str>,
        parent: Option<&RunId>,
        started_at_ms: i64,
    ) -> Result<Run> {
        Run::start(self, experiment, name, parent, started_at_ms)
    }

    /// Creates the experiment `name` if it does not exist yet (an experiment otherwise appears with its first run).
    ///
    /// # Blocking
    /// Waits until it is committed.
    pub fn create_experiment(&self, name: &str) -> Result<()> {
        Limits::LOCAL.check_name("experiment name", name)?;
        self.write_experiment_tag(name, None)
    }

    /// Sets the tag `key` of the experiment `name` (created if new) to `value`, or removes it with `None`. Like run
    /// tags, every value stays in the store's history and the latest one wins on read
    /// ([`crate::Reader::experiment_details`]).
    ///
    /// # Blocking
    /// Waits until it is committed.
    pub fn set_experiment_tag(&self, name: &str, key: &str, value: Option<&str>) -> Result<()> {
        let l = Limits::LOCAL;
        l.check_name("experiment name", name)?;
        l.check_name("experiment tag name", key)?;
        if let Some(v) = value {
            l.check_bytes(&format!("value of experiment tag {key:?}"), v, l.max_string_bytes)?;
        }
        self.write_experiment_tag(name, Some((key.to_string(), value.map(str::to_string))))
    }

    fn write_experiment_tag(&self, name: &str, tag: Option<(String, Option<String>)>) -> Result<()> {
        self.inner.check()?;
        let t = writer::ExperimentTag { experiment: name.to_string(), tag, at: now_ms() };
        self.inner.call(|tx| Msg::ExperimentTag(t, tx))
    }

    /// Waits until everything logged before this call, by any run of this process, is committed.
    ///
    /// # Blocking
    /// Waits for one commit of the writer thread (about a millisecond, longer while another process writes).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Calls `f` on the writer thread after every commit that holds logged data (not after commits of sync
    /// bookkeeping alone), until the returned subscription is dropped. `f` must return quickly: set a flag or wake a
    /// task. This is how the in-process sync agent sends as soon as data is durable instead of polling.
    pub fn on_commit(&self, f: impl Fn() + Send + Sync + 'static) -> CommitSubscription {
        self.inner.commits.subscribe(Arc::new(f))
    }

    /// Installs the observer told about runs starting and ending in this process (replacing any earlier one).
    pub fn set_observer(&self, observer: Arc<dyn RunObserver>) {
        *self.inner.observer.write().unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }

    pub(crate) fn observer(&self) -> Option<Arc<dyn RunObserver>> {
        self.inner.observer.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records `crashed` as the status of every run that never ended and whose writers stopped writing heartbeats
    /// (the status readers derive), so that the crash is a fact the sync agent can send to a remote, where no heartbeat
    /// exists. Returns how many crashes it recorded; calling it again records nothing new. A run that was only paused
    /// and later ends records its real end after this one, and the last status wins.
    pub fn record_crashed_runs(&self) -> Result<usize> {
        self.inner.check()?;
        let crashed = self.reader().unrecorded_crashes()?;
        for (rid, last_beat) in &crashed {
            let body = crate::record::StatusChange {
                status: crate::types::RunStatus::Crashed,
                reason: Some("its process stopped without ending the run (no heartbeat since then)".to_string()),
            };
            self.inner.send(Msg::Record(writer::Pending {
                run: *rid,
                kind: crate::record::Kind::Status,
                name: String::new(),
                at: *last_beat,
                step: None,
                body: crate::record::encode(&body),
                blob: None,
            }))?;
        }
        if !crashed.is_empty() {
            self.flush()?;
        }
        Ok(crashed.len())
    }

    /// The read API on this store.
    pub fn reader(&self) -> &Reader {
        &self.inner.reader
    }
}

/// `$RUNLOG_STORE`, or `runlog.db` in the current directory.
pub fn default_path() -> PathBuf {
    match std::env::var_os(ENV_STORE) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_STORE_FILE),
    }
}
