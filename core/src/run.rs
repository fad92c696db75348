//! A run and its logging calls.
//!
//! A log call validates on the caller's thread and hands the value over without touching the disk: scalar points go
//! into the run's buffer (one uncontended mutex), everything else into the writer's bounded channel. Names are checked
//! once per run and name: a name already in the buffer's index is known to be valid.

use crate::chunk::MAX_POINTS;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::record::{self, FileRef, ImageFormat, ImageRef, Kind, LogLine, Row, RunStarted, StatusChange, Table, Text};
use crate::store::writer::{Msg, NewRun, Pending, RunBuffers, SeriesBuf, SeriesSet};
use crate::store::{Durability, ENV_STORE, Store};
use crate::types::{BlobHash, Point, RunId, RunStatus, Value, fast_now_ms, now_ms};
use runlog_wire::chart::{Chart, ChartType};
use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

/// Environment variable naming the run that [`Run::from_env`] attaches to.
pub const ENV_RUN_ID: &str = "RUNLOG_RUN_ID";

/// A training run. Cheap to clone and safe to share between threads; all clones log into the same run.
///
/// A run started by this process ends when its last handle is dropped: as failed, with the panic message, if the
/// thread is panicking, else as completed. Prefer ending it explicitly with [`Run::complete`], [`Run::fail`] or
/// [`Run::cancel`]. A run attached with [`Run::from_env`] or [`Run::attach`] belongs to whoever started it and is not
/// ended by dropping.
#[derive(Clone)]
pub struct Run {
    shared: Arc<RunShared>,
}

struct RunShared {
    store: Store,
    rid: i64,
    id: RunId,
    experiment: String,
    name: String,
    buffers: Arc<RunBuffers>,
    /// Started by this process: dropping the last handle ends it.
    owned: bool,
    /// Next automatic step of rows, tables and images, per kind and name.
    counters: Mutex<rustc_hash::FxHashMap<(Kind, String), i64>>,
    limits: Limits,
    /// The sampler a store's system-metrics option started for this run; stopped when the run ends.
    #[cfg(feature = "system-metrics")]
    sampler: Mutex<Option<crate::system::Sampler>>,
}

/// A handle to a run that does not keep it open (a sampler the run owns holds one).
#[cfg(feature = "system-metrics")]
pub(crate) struct WeakRun(std::sync::Weak<RunShared>);

#[cfg(feature = "system-metrics")]
impl WeakRun {
    /// The run, unless its last handle is gone.
    pub(crate) fn upgrade(&self) -> Option<Run> {
        self.0.upgrade().map(|shared| Run { shared })
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, Copy)]
pub enum ImageSource<'a> {
    /// Encoded PNG or JPEG bytes.
    Bytes(&'a [u8]),
    /// A PNG or JPEG file.
    Path(&'a Path),
}

impl<'a> From<&'a [u8]> for ImageSource<'a> {
    fn from(b: &'a [u8]) -> Self {
        ImageSource::Bytes(b)
    }
}
impl<'a> From<&'a Vec<u8>> for ImageSource<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        ImageSource::Bytes(b)
    }
}
impl<'a> From<&'a Path> for ImageSource<'a> {
    fn from(p: &'a Path) -> Self {
        ImageSource::Path(p)
    }
}
impl<'a> From<&'a std::path::PathBuf> for ImageSource<'a> {
    fn from(p: &'a std::path::PathBuf) -> Self {
        ImageSource::Path(p)
    }
}

impl SeriesSet {
    fn add(&mut self, name: &str, next_step: i64) -> usize {
        let i = self.series.len();
        self.series.push(SeriesBuf { name: Arc::from(name), next_step, points: Vec::new() });
        self.index.insert(Box::from(name), i);
        i
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("id", &self.shared.id).field("experiment", &self.shared.experiment).finish()
    }
}

fn active() -> &'static RwLock<Option<Weak<RunShared>>> {
    static ACTIVE: OnceLock<RwLock<Option<Weak<RunShared>>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps the panic message of the current thread so a run dropped while unwinding can record it.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            let msg = match info.location() {
                Some(l) => format!("panicked at {}:{}: {msg}", l.file(), l.line()),
                None => format!("panicked: {msg}"),
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
            previous(info);
        }));
    });
}

impl Run {
    pub(crate) fn start(
        store: &Store,
        experiment: &str,
        name: Option<&str>,
        parent: Option<&RunId>,
        started_at_ms: i64,
    ) -> Result<Run> {
        let limits = Limits::LOCAL;
        limits.check_name("experiment name", experiment)?;
        if let Some(n) = name {
            limits.check_name("run name", n)?;
        }
        store.inner.check()?;
        let id = RunId::new();
        let display = name.map_or_else(|| id.as_str()[..8].to_string(), str::to_string);
        let started = RunStarted {
            id: id.to_string(),
            experiment: experiment.to_string(),
            name: display.clone(),
            parent: parent.map(RunId::to_string),
        };
        let buffers = Arc::new(RunBuffers::default());
        let new = NewRun { started, at: started_at_ms, buffers: buffers.clone() };
        let rid = store.inner.call(|tx| Msg::CreateRun(new, tx))?;
        install_panic_hook();
        let run = Run::from_parts(store, rid, id, experiment.to_string(), display, buffers, true);
        if parent.is_none() {
            run.make_active();
            #[cfg(feature = "system-metrics")]
            if let Some(m) = &store.system_metrics {
                let sampler = m.start_owned(&run)?;
                *run.shared.sampler.lock().unwrap_or_else(|e| e.into_inner()) = Some(sampler);
            }
        }
        if let Some(o) = store.observer() {
            o.run_started(&run);
        }
        Ok(run)
    }

    /// A handle that does not keep the run open.
    #[cfg(feature = "system-metrics")]
    pub(crate) fn downgrade(&self) -> WeakRun {
        WeakRun(Arc::downgrade(&self.shared))
    }

    /// Stops the sampler the run owns, if any, after its last sample (before the run's final status).
    fn stop_sampler(&self) {
        #[cfg(feature = "system-metrics")]
        {
            let sampler = self.shared.sampler.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(sampler);
        }
    }

    fn from_parts(
        store: &Store,
        rid: i64,
        id: RunId,
        experiment: String,
        name: String,
        buffers: Arc<RunBuffers>,
        owned: bool,
    ) -> Run {
        Run {
            shared: Arc::new(RunShared {
                store: store.clone(),
                rid,
                id,
                experiment,
                name,
                buffers,
                owned,
                counters: Mutex::new(Default::default()),
                limits: Limits::LOCAL,
                #[cfg(feature = "system-metrics")]
                sampler: Mutex::new(None),
            }),
        }
    }

    /// Attaches to the run named by `$RUNLOG_RUN_ID` in the store named by `$RUNLOG_STORE`: how `runlog exec` (or any
    /// wrapper) hands its run to a script. Automatic steps continue after what the run already holds.
    pub fn from_env() -> Result<Run> {
        let store = std::env::var_os(ENV_STORE)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Environment(format!("{ENV_STORE} is not set; it must name the store file")))?;
        let id = std::env::var(ENV_RUN_ID)
            .map_err(|_| Error::Environment(format!("{ENV_RUN_ID} is not set; it must name the run to log into")))?;
        let id = RunId::parse(&id).map_err(|e| Error::Environment(format!("{ENV_RUN_ID}: {e}")))?;
        let store = Store::open(store)?;
        let run = Run::attach(&store, &id)?;
        run.make_active();
        Ok(run)
    }

    /// Attaches to an existing run of `store` to log more into it; the run stays owned by whoever started it.
    pub fn attach(store: &Store, id: &RunId) -> Result<Run> {
        let reader = store.reader();
        let info = reader.run(id)?;
        let rid = reader.rid(id)?;
        let buffers = Arc::new(RunBuffers::default());
        let mut counters = rustc_hash::FxHashMap::default();
        {
            let mut set = buffers.series.lock().unwrap_or_else(|e| e.into_inner());
            for (kind, name, last) in reader.last_steps(rid)? {
                if kind == Kind::Scalars {
                    set.add(&name, last.saturating_add(1));
                } else {
                    counters.insert((kind, name), last.saturating_add(1));
                }
            }
        }
        store.inner.send(Msg::Attach { run: rid, buffers: buffers.clone() })?;
        install_panic_hook();
        let run = Run::from_parts(store, rid, id.clone(), info.experiment, info.name, buffers, false);
        *run.shared.counters.lock().unwrap_or_else(|e| e.into_inner()) = counters;
        if let Some(o) = store.observer() {
            o.run_started(&run);
        }
        Ok(run)
    }

    /// Makes this run the one that [`crate::logging`] records log lines into.
    pub fn make_active(&self) {
        *active().write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(&self.shared));
    }

    /// The run log lines go to: the last run started (not a child) or attached in this process, if still alive.
    pub fn active() -> Option<Run> {
        let guard = active().read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().and_then(Weak::upgrade).map(|shared| Run { shared })
    }

    /// Starts a child run in the same experiment, with this run as parent.
    pub fn child(&self, name: &str) -> Result<Run> {
        Run::start(&self.shared.store, &self.shared.experiment, Some(name), Some(self.id()), now_ms())
    }

    /// The run's global id.
    pub fn id(&self) -> &RunId {
        &self.shared.id
    }

    /// The run's display name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The experiment's name.
    pub fn experiment(&self) -> &str {
        &self.shared.experiment
    }

    /// The store the run lives in.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Logs a scalar with the next automatic step of `name` (0, 1, 2, ...), like Azure ML's `run.log`.
    #[inline]
    pub fn log(&self, name: &str, value: f64) -> Result<()> {
        self.push(name, None, value)
    }

    /// Logs a scalar at an explicit step; later automatic steps of `name` continue after it.
    #[inline]
    pub fn log_at(&self, name: &str, step: i64, value: f64) -> Result<()> {
        self.push(name, Some(step), value)
    }

    /// Logs a scalar at an explicit step with the wall time it was measured at (ms since the Unix epoch) instead of
    /// now: how a point logged elsewhere first (an MLflow client's batch, an import) keeps its own timestamp. Later
    /// automatic steps of `name` continue after `step`.
    #[inline]
    pub fn log_at_time(&self, name: &str, step: i64, value: f64, timestamp_ms: i64) -> Result<()> {
        self.push_at(name, Some(step), value, timestamp_ms)
    }

    #[inline]
    fn push(&self, name: &str, step: Option<i64>, value: f64) -> Result<()> {
        self.push_at(name, step, value, fast_now_ms())
    }

    #[inline]
    fn push_at(&self, name: &str, step: Option<i64>, value: f64, timestamp_ms: i64) -> Result<()> {
        let sh = &*self.shared;
        sh.store.inner.check()?;
        let full = {
            let mut set = sh.buffers.series.lock().unwrap_or_else(|e| e.into_inner());
            let i = match set.index.get(name) {
                Some(&i) => i,
                None => {
                    sh.limits.check_name("metric name", name)?;
                    set.add(name, 0)
                }
            };
            let s = &mut set.series[i];
            let step = match step {
                Some(st) => st,
                None => s.next_step,
            };
            s.next_step = step.saturating_add(1);
            s.points.push(Point { step, timestamp_ms, value });
            (s.points.len() >= MAX_POINTS)
                .then(|| (s.name.clone(), std::mem::replace(&mut s.points, Vec::with_capacity(MAX_POINTS))))
        };
        if let Some((name, points)) = full {
            sh.store.inner.send(Msg::Chunk { run: sh.rid, name, points })?;
        }
        self.after_log()
    }

    /// Logs a list of values as one series, continuing the automatic steps of `name` (Azure ML's `log_list`).
    /// The values go to the writer in chunks of [`MAX_POINTS`] as they fill, so a long list is copied once.
    pub fn log_list(&self, name: &str, values: &[f64]) -> Result<()> {
        let sh = &*self.shared;
        sh.store.inner.check()?;
        sh.limits.check_name("metric name", name)?;
        let timestamp_ms = fast_now_ms();
        let mut rest = values;
        loop {
            let full = {
                let mut set = sh.buffers.series.lock().unwrap_or_else(|e| e.into_inner());
                let i = match set.index.get(name) {
                    Some(&i) => i,
                    None => set.add(name, 0),
                };
                let s = &mut set.series[i];
                let (now, later) = rest.split_at(MAX_POINTS.saturating_sub(s.points.len()).max(1).min(rest.len()));
                let first = s.next_step;
                s.points.extend(now.iter().enumerate().map(|(k, &value)| Point {
                    step: first.saturating_add(k as i64),
                    timestamp_ms,
                    value,
                }));
                s.next_step = first.saturating_add(now.len() as i64);
                rest = later;
                (s.points.len() >= MAX_POINTS)
                    .then(|| (s.name.clone(), std::mem::replace(&mut s.points, Vec::with_capacity(MAX_POINTS))))
            };
            if let Some((name, points)) = full {
                sh.store.inner.send(Msg::Chunk { run: sh.rid, name, points })?;
            }
            if rest.is_empty() {
                break;
            }
        }
        self.after_log()
    }

    fn after_log(&self) -> Result<()> {
        match self.shared.store.inner.durability {
            Durability::Buffered => Ok(()),
            Durability::EveryCall | Durability::Fsync => self.shared.store.inner.flush(),
        }
    }

    fn next_step(&self, kind: Kind, name: &str) -> i64 {
        let mut c = self.shared.counters.lock().unwrap_or_else(|e| e.into_inner());
        let slot = c.entry((kind, name.to_string())).or_insert(0);
        let step = *slot;
        *slot += 1;
        step
    }

    /// A record of a sequence kept by [`Run::next_step`]: at the next step and now, or at `(step, timestamp_ms)`
    /// given, after which the sequence continues.
    fn pending_at(&self, kind: Kind, name: &str, at: Option<(i64, i64)>, body: Vec<u8>) -> Pending {
        let Some((step, ms)) = at else { return self.pending(kind, name, Some(self.next_step(kind, name)), body) };
        let mut c = self.shared.counters.lock().unwrap_or_else(|e| e.into_inner());
        c.insert((kind, name.to_string()), step.saturating_add(1));
        drop(c);
        Pending { at: ms, ..self.pending(kind, name, Some(step), body) }
    }

    fn pending(&self, kind: Kind, name: &str, step: Option<i64>, body: Vec<u8>) -> Pending {
        Pending { run: self.shared.rid, kind, name: name.to_string(), at: now_ms(), step, body, blob: None }
    }

    fn send(&self, p: Pending) -> Result<()> {
        self.shared.store.inner.check()?;
        self.shared.store.inner.send(Msg::Record(p))?;
        self.after_log()
    }

    fn check_columns<'a>(&self, what: &str, name: &str, columns: impl Iterator<Item = &'a str>) -> Result<usize> {
        let l = &self.shared.limits;
        let mut seen = rustc_hash::FxHashSet::default();
        let mut n = 0;
        for c in columns {
            l.check_name(&format!("column name of {what} {name:?}"), c)?;
            if !seen.insert(c) {
                return Err(Error::invalid(format!("{what} {name:?} has the column {c:?} twice")));
            }
            n += 1;
        }
        if n > l.max_columns {
            return Err(Error::invalid(format!("{what} {name:?} has {n} columns, the limit is {}", l.max_columns)));
        }
        Ok(n)
    }

    fn check_value(&self, what: &str, v: &Value) -> Result<()> {
        match v {
            Value::Str(s) => self.shared.limits.check_bytes(what, s, self.shared.limits.max_string_bytes),
            _ => Ok(()),
        }
    }

    /// Logs a row of typed columns (Azure ML's `log_row`); repeated calls with the same name build one table of rows.
    pub fn log_row<S: Into<String>>(&self, name: &str, columns: impl IntoIterator<Item = (S, Value)>) -> Result<()> {
        self.shared.limits.check_name("row metric name", name)?;
        let columns: Vec<(String, Value)> = columns.into_iter().map(|(k, v)| (k.into(), v)).collect();
        if columns.is_empty() {
            return Err(Error::invalid(format!("row {name:?} has no columns; a row needs at least 1")));
        }
        self.check_columns("row", name, columns.iter().map(|(k, _)| k.as_str()))?;
        for (k, v) in &columns {
            self.check_value(&format!("value of column {k:?} of row {name:?}"), v)?;
        }
        let step = self.next_step(Kind::Row, name);
        self.send(self.pending(Kind::Row, name, Some(step), record::encode(&Row { columns })))
    }

    /// Logs a table of equal-length columns (Azure ML's `log_table`). A table with no columns or no rows is allowed.
    pub fn log_table<S: Into<String>>(
        &self,
        name: &str,
        columns: impl IntoIterator<Item = (S, Vec<Value>)>,
    ) -> Result<()> {
        self.shared.limits.check_name("table name", name)?;
        let columns: Vec<(String, Vec<Value>)> = columns.into_iter().map(|(k, v)| (k.into(), v)).collect();
        self.check_columns("table", name, columns.iter().map(|(k, _)| k.as_str()))?;
        if let Some((first, first_vals)) = columns.first() {
            let limit = self.shared.limits.max_table_rows;
            if first_vals.len() > limit {
                return Err(Error::invalid(format!(
                    "table {name:?} has {} rows, the limit is {limit}",
                    first_vals.len()
                )));
            }
            for (c, vals) in &columns {
                if vals.len() != first_vals.len() {
                    return Err(Error::invalid(format!(
                        "table {name:?}: column {c:?} has {} values but column {first:?} has {}; columns must have equal lengths",
                        vals.len(),
                        first_vals.len()
                    )));
                }
                for v in vals {
                    self.check_value(&format!("value in column {c:?} of table {name:?}"), v)?;
                }
            }
        }
        let step = self.next_step(Kind::Table, name);
        self.send(self.pending(Kind::Table, name, Some(step), record::encode(&Table { columns })))
    }

    /// Logs a PNG or JPEG image (bytes or a path) under `name`, with a description. The bytes are stored once per
    /// content, however often they are logged; repeated calls with one name form a sequence (steps 0, 1, ...).
    pub fn log_image<'a>(&self, name: &str, image: impl Into<ImageSource<'a>>, description: &str) -> Result<()> {
        self.image(name, image.into(), description, None)
    }

    /// [`Run::log_image`] at an explicit step, with the wall time it was made at (ms since the Unix epoch): how an
    /// imported image keeps its own step and time. Later images of `name` without a step continue after `step`.
    pub fn log_image_at<'a>(
        &self,
        name: &str,
        image: impl Into<ImageSource<'a>>,
        description: &str,
        step: i64,
        timestamp_ms: i64,
    ) -> Result<()> {
        self.image(name, image.into(), description, Some((step, timestamp_ms)))
    }

    fn image(&self, name: &str, image: ImageSource<'_>, description: &str, at: Option<(i64, i64)>) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("image name", name)?;
        l.check_bytes(&format!("description of image {name:?}"), description, l.max_text_bytes)?;
        let owned;
        let bytes: &[u8] = match image {
            ImageSource::Bytes(b) => b,
            ImageSource::Path(p) => {
                owned = read_limited(p, l.max_image_bytes as u64, &format!("image {name:?}"))?;
                &owned
            }
        };
        let (format, width, height) = check_image(name, bytes, l)?;
        let hash = BlobHash::of(bytes);
        let body = ImageRef {
            hash: hash.clone(),
            format,
            width,
            height,
            size: bytes.len() as u64,
            description: description.to_string(),
        };
        let mut p = self.pending_at(Kind::Image, name, at, record::encode(&body));
        p.blob = Some((hash, bytes.to_vec()));
        self.send(p)
    }

    /// Logs a text under `name`; repeated calls with one name form a sequence (steps 0, 1, ...).
    pub fn log_text(&self, name: &str, text: &str) -> Result<()> {
        self.text(name, text, None)
    }

    /// [`Run::log_text`] at an explicit step, with the wall time it was written at (ms since the Unix epoch). Later
    /// texts of `name` without a step continue after `step`.
    pub fn log_text_at(&self, name: &str, text: &str, step: i64, timestamp_ms: i64) -> Result<()> {
        self.text(name, text, Some((step, timestamp_ms)))
    }

    fn text(&self, name: &str, text: &str, at: Option<(i64, i64)>) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("text name", name)?;
        l.check_bytes(&format!("text {name:?}"), text, l.max_text_bytes)?;
        self.send(self.pending_at(Kind::Text, name, at, record::encode(&Text { text: text.to_string() })))
    }

    /// Logs a chart under `name`: `json` is a document in one of Azure ML's chart schemas (see [`Chart::parse`]),
    /// checked before it is queued; with `expected`, it must be of that type. Logging a name again adds a version at
    /// the next step.
    pub fn log_chart(&self, name: &str, expected: Option<ChartType>, json: &str) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("chart name", name)?;
        l.check_bytes(&format!("chart {name:?}"), json, l.max_chart_bytes)?;
        let chart = Chart::parse(name, expected, json).map_err(Error::invalid)?;
        let step = self.next_step(Kind::Chart, name);
        self.send(self.pending(Kind::Chart, name, Some(step), record::encode(&chart)))
    }

    /// Records a log line on a stream (`log` for the logging integrations, `stdout`/`stderr` for captured output).
    pub fn log_line(&self, stream: &str, level: &str, target: &str, message: &str) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("log stream", stream)?;
        l.check_bytes("log line", message, l.max_text_bytes)?;
        let body = LogLine { level: level.to_string(), target: target.to_string(), message: message.to_string() };
        self.send(self.pending(Kind::LogLine, stream, None, record::encode(&body)))
    }

    /// Sets a param. Params are write-once: the same value again is accepted, another value is an error.
    ///
    /// # Blocking
    /// Waits for the writer to check and commit it (about a millisecond).
    pub fn log_param(&self, key: &str, value: impl Into<Value>) -> Result<()> {
        let value = value.into();
        self.shared.limits.check_name("param name", key)?;
        self.check_value(&format!("value of param {key:?}"), &value)?;
        self.write_once(Kind::Param, key, record::encode(&value))
    }

    /// Sets a tag; a later value of the same key replaces it on read (every value stays in the history).
    pub fn set_tag(&self, key: &str, value: &str) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("tag name", key)?;
        l.check_bytes(&format!("value of tag {key:?}"), value, l.max_string_bytes)?;
        self.send(self.pending(Kind::Tag, key, None, record::encode(&Value::Str(value.to_string()))))
    }

    /// Adds a write-once property, like Azure ML's `add_properties`.
    ///
    /// # Blocking
    /// Waits for the writer to check and commit it.
    pub fn add_property(&self, key: &str, value: &str) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("property name", key)?;
        l.check_bytes(&format!("value of property {key:?}"), value, l.max_string_bytes)?;
        self.write_once(Kind::Property, key, record::encode(&Value::Str(value.to_string())))
    }

    fn write_once(&self, kind: Kind, key: &str, body: Vec<u8>) -> Result<()> {
        self.shared.store.inner.check()?;
        let p = self.pending(kind, key, None, body);
        self.shared.store.inner.call(|tx| Msg::WriteOnce(p, tx))
    }

    /// Gives a metric name a description.
    pub fn describe(&self, name: &str, description: &str) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("metric name", name)?;
        l.check_bytes(&format!("description of {name:?}"), description, l.max_text_bytes)?;
        self.send(self.pending(Kind::Description, name, None, record::encode(&Value::Str(description.to_string()))))
    }

    /// Stores a file's bytes in the run under `name` (content-addressed, stored once).
    pub fn upload_file(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("file name", name)?;
        let bytes = read_limited(path.as_ref(), l.max_file_bytes, &format!("file {name:?}"))?;
        self.upload_bytes(name, bytes)
    }

    /// Stores bytes as a file of the run under `name`.
    pub fn upload_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let l = &self.shared.limits;
        l.check_name("file name", name)?;
        if bytes.len() as u64 > l.max_file_bytes {
            return Err(Error::invalid(format!(
                "file {name:?} is {} bytes, the limit is {}",
                bytes.len(),
                l.max_file_bytes
            )));
        }
        let hash = BlobHash::of(&bytes);
        let body = FileRef { hash: hash.clone(), size: bytes.len() as u64 };
        let mut p = self.pending(Kind::File, name, None, record::encode(&body));
        p.blob = Some((hash, bytes));
        self.send(p)
    }

    /// Ends the run as completed and waits until everything it logged is committed.
    pub fn complete(&self) -> Result<()> {
        self.end(RunStatus::Completed, None)
    }

    /// Ends the run as failed with a reason, and waits until everything it logged is committed.
    pub fn fail(&self, reason: &str) -> Result<()> {
        self.end(RunStatus::Failed, Some(reason))
    }

    /// Ends the run as cancelled, and waits until everything it logged is committed.
    pub fn cancel(&self) -> Result<()> {
        self.end(RunStatus::Cancelled, None)
    }

    /// Records a final status (used by `runlog exec` for a run its child may have ended too).
    pub fn end(&self, status: RunStatus, reason: Option<&str>) -> Result<()> {
        self.end_at(status, reason, now_ms())
    }

    /// Records a final status with the wall time the run ended at (ms since the Unix epoch) instead of now: the end
    /// time a client outside this process chose (an MLflow client's `end_time`). Waits like [`Run::end`].
    pub fn end_at(&self, status: RunStatus, reason: Option<&str>, ended_at_ms: i64) -> Result<()> {
        if status == RunStatus::Running || status == RunStatus::Crashed {
            return Err(Error::invalid(format!("{status} is not a final status a run can be ended with")));
        }
        self.stop_sampler();
        let l = &self.shared.limits;
        let reason = reason.map(|r| limit_reason(r, l.max_reason_bytes));
        let body = StatusChange { status, reason };
        self.shared.store.inner.check()?;
        self.shared.buffers.ended.store(true, Ordering::Release);
        let mut p = self.pending(Kind::Status, "", None, record::encode(&body));
        p.at = ended_at_ms;
        self.shared.store.inner.send(Msg::Record(p))?;
        self.flush()?;
        if let Some(o) = self.shared.store.observer() {
            o.run_ended(self);
        }
        Ok(())
    }

    /// Whether a logging call may now wait for the writer thread: its queue (64 MiB, shared by the whole store) is
    /// nearly full, because the disk or another process's lock holds the writer up. One relaxed atomic load. An
    /// embedding that holds a lock other threads need while it logs (Python's GIL) releases it around its logging
    /// calls while this is true. Otherwise a logging call finds room without waiting, unless other threads log
    /// more than 4 MiB at that very moment.
    #[inline]
    pub fn backlogged(&self) -> bool {
        self.shared.store.inner.backlogged()
    }

    /// Waits until everything logged before this call is committed.
    ///
    /// # Blocking
    /// Waits for one commit of the writer thread.
    pub fn flush(&self) -> Result<()> {
        self.shared.store.flush()
    }
}

/// Cuts an overlong failure reason at a character boundary instead of refusing it: a failure must be recorded.
fn limit_reason(r: &str, max: usize) -> String {
    if r.len() <= max {
        return r.to_string();
    }
    let mut end = max;
    while !r.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &r[..end])
}

fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::invalid(format!("{what}: cannot read {}: {e}", path.display())))?;
    if meta.len() > limit {
        return Err(Error::invalid(format!(
            "{what}: {} is {} bytes, the limit is {limit}",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| Error::invalid(format!("{what}: cannot read {}: {e}", path.display())))
}

fn check_image(name: &str, bytes: &[u8], l: &Limits) -> Result<(ImageFormat, u32, u32)> {
    if bytes.len() > l.max_image_bytes {
        return Err(Error::invalid(format!(
            "image {name:?} is {} bytes, the limit is {}",
            bytes.len(),
            l.max_image_bytes
        )));
    }
    let format = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => ImageFormat::Png,
        Ok(imagesize::ImageType::Jpeg) => ImageFormat::Jpeg,
        Ok(other) => {
            return Err(Error::invalid(format!(
                "image {name:?} is {other:?}, not PNG or JPEG (the formats runlog accepts)"
            )));
        }
        Err(_) => {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(Error::invalid(format!(
                "image {name:?} is not PNG or JPEG ({} bytes starting with {})",
                bytes.len(),
                if head.is_empty() { "nothing".to_string() } else { head.join(" ") }
            )));
        }
    };
    let size = imagesize::blob_size(bytes)
        .map_err(|e| Error::invalid(format!("image {name:?}: its {format:?} header is unreadable: {e}")))?;
    let (w, h) = (size.width, size.height);
    let max = l.max_image_side as usize;
    if w == 0 || h == 0 || w > max || h > max {
        return Err(Error::invalid(format!("image {name:?} is {w}x{h} pixels; each side must be 1 to {max}")));
    }
    Ok((format, w as u32, h as u32))
}

impl Drop for RunShared {
    fn drop(&mut self) {
        // The sampler cannot log any more (it holds the run weakly); let its thread go before the run ends.
        #[cfg(feature = "system-metrics")]
        drop(self.sampler.get_mut().unwrap_or_else(|e| e.into_inner()).take());
        if self.owned && !self.buffers.ended.load(Ordering::Acquire) && self.store.inner.check().is_ok() {
            let (status, reason) = if std::thread::panicking() {
                let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "panicked".into());
                (RunStatus::Failed, Some(msg))
            } else {
                (RunStatus::Completed, None)
            };
            self.buffers.ended.store(true, Ordering::Release);
            let body = StatusChange { status, reason };
            let p = Pending {
                run: self.rid,
                kind: Kind::Status,
                name: String::new(),
                at: now_ms(),
                step: None,
                body: record::encode(&body),
                blob: None,
            };
            if self.store.inner.send(Msg::Record(p)).is_ok() {
                let _ = self.store.inner.flush();
            }
        }
        self.buffers.closed.store(true, Ordering::Release);
    }
}
