//! `runlog._runlog`: the compiled half of the Python package, a thin binding over the `runlog` crate.
//!
//! It converts types and nothing more: the Pythonic API (Azure ML's `Experiment`, `Run`, keyword arguments, context
//! managers, numpy, `logging`) lives in `python/runlog/`. Two rules shape every function here:
//!
//! - **The GIL is released only around blocking work** (flush, ending a run, uploads, write-once properties, reads):
//!   a log call only validates and pushes into memory, so releasing the GIL there would cost more than it frees.
//! - **A handle never works across `fork()`.** The writer thread does not exist in a forked child and the SQLite
//!   connections must not be used there, so every handle remembers the fork generation it was made in
//!   ([`FORK_GENERATION`], bumped by `os.register_at_fork(after_in_child=...)`); in a child it raises
//!   `ForkedProcessError` on first use and is leaked, never dropped, so nothing of the parent's store is touched.
//!
//! This crate must not know Azure's names or Python's `logging`: those belong to the Python layer.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyLookupError, PyOSError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use runlog::{ErrorKind, RunId, RunStatus, Value};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

create_exception!(_runlog, RunlogError, PyException, "An error of the runlog store that no built-in exception fits.");
create_exception!(_runlog, NotFoundError, PyLookupError, "A run, metric, file or blob that does not exist.");
create_exception!(
    _runlog,
    StoreError,
    PyOSError,
    "The store file cannot be used: unreadable, not a runlog store, newer, or its writer failed."
);
create_exception!(
    _runlog,
    ForkedProcessError,
    PyRuntimeError,
    "A handle opened before fork() was used in the forked child."
);

/// How many times this process image has been forked into a child (0 in the original process). Handles made in an
/// earlier generation belong to the parent.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(0);

/// Store files with live handles, by absolute path: the fork generation that opened them and how many handles.
fn live_stores() -> &'static Mutex<HashMap<PathBuf, (u32, usize)>> {
    static LIVE: OnceLock<Mutex<HashMap<PathBuf, (u32, usize)>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn generation() -> u32 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Called in the child after `os.fork()` (registered by the Python layer with `os.register_at_fork`).
#[pyfunction]
fn _after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// A value that belongs to the process (fork generation) that made it.
struct Local<T> {
    value: Option<T>,
    generation: u32,
    pid: u32,
}

impl<T> Local<T> {
    fn new(value: T) -> Self {
        Local { value: Some(value), generation: generation(), pid: std::process::id() }
    }

    #[inline]
    fn get(&self) -> PyResult<&T> {
        match &self.value {
            Some(v) if self.generation == generation() => Ok(v),
            _ => Err(ForkedProcessError::new_err(format!(
                "this runlog handle was opened by process {} and cannot be used in process {}, which was forked from \
                 it: the store's writer thread does not exist in a forked child and its SQLite connection must not \
                 be shared. Log from the parent, or open the run again in a process started with the 'spawn' method",
                self.pid,
                std::process::id()
            ))),
        }
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        if self.generation != generation() {
            // The parent's store, run and writer are not ours: dropping them would join a thread that does not exist
            // here and close a connection the parent still uses. Leak them instead.
            std::mem::forget(self.value.take());
        }
    }
}

/// Maps a core error to the Python exception a user expects.
fn err(e: runlog::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::InvalidInput | ErrorKind::WriteOnce => PyValueError::new_err(msg),
        ErrorKind::NotFound => NotFoundError::new_err(msg),
        ErrorKind::Format | ErrorKind::Storage | ErrorKind::WriterFailed => StoreError::new_err(msg),
        ErrorKind::Environment => RunlogError::new_err(msg),
        _ => RunlogError::new_err(msg),
    }
}

/// The absolute path core will key the store by (its directory canonicalized), computed before opening.
fn canonical_store_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.canonicalize().map(|d| d.join(&name)).unwrap_or_else(|_| path.to_path_buf())
}

/// `(name, kind, count, description)` of a metric name.
type MetricRow = (String, String, u64, Option<String>);
/// `(stream, level, target, message)` of a log line.
type LogRow = (String, String, String, String);

/// An open store file: its writer (shared by every handle of this process) and its reader.
#[pyclass(frozen, module = "runlog._runlog")]
struct Store {
    store: Local<runlog::Store>,
    key: PathBuf,
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.store.generation == generation() {
            let mut live = live_stores().lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, n)) = live.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    live.remove(&self.key);
                }
            }
        }
    }
}

impl Store {
    fn reader(&self) -> PyResult<&runlog::Reader> {
        Ok(self.store.get()?.reader())
    }

    fn resolve(&self, py: Python<'_>, spec: &str) -> PyResult<RunId> {
        let reader = self.reader()?;
        py.detach(|| reader.resolve(spec)).map_err(err)
    }
}

#[pymethods]
impl Store {
    /// Opens (creating if needed) the store file at `path`, with the sync agent when a remote is configured.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let key = canonical_store_path(&path);
        let gen_now = generation();
        {
            let live = live_stores().lock().unwrap_or_else(|e| e.into_inner());
            if let Some((g, n)) = live.get(&key)
                && *g != gen_now
                && *n > 0
            {
                return Err(ForkedProcessError::new_err(format!(
                    "store {} was open in the parent when this process was forked; a forked child cannot write the \
                     same store file (the parent's writer owns it). Log from the parent, or start the child with the \
                     'spawn' method",
                    key.display()
                )));
            }
        }
        let store = py.detach(|| runlog::Store::open(&path)).map_err(err)?;
        let key = store.path().to_path_buf();
        let mut live = live_stores().lock().unwrap_or_else(|e| e.into_inner());
        let entry = live.entry(key.clone()).or_insert((gen_now, 0));
        if entry.0 != gen_now {
            *entry = (gen_now, 0);
        }
        entry.1 += 1;
        Ok(Store { store: Local::new(store), key })
    }

    /// The absolute path of the store file.
    #[getter]
    fn path(&self) -> PyResult<PathBuf> {
        Ok(self.store.get()?.path().to_path_buf())
    }

    /// Waits until everything logged by this process into the store is committed.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.store.get()?;
        py.detach(|| s.flush()).map_err(err)
    }

    /// The full id of the run named by an id, an unambiguous id prefix, or `experiment/name`.
    fn resolve_run(&self, py: Python<'_>, spec: &str) -> PyResult<String> {
        Ok(self.resolve(py, spec)?.to_string())
    }

    /// Every run, oldest first, as dicts.
    fn runs<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let reader = self.reader()?;
        let runs = py.detach(|| reader.runs()).map_err(err)?;
        runs.iter().map(|r| run_dict(py, r)).collect()
    }

    /// One run as a dict.
    fn run_info<'py>(&self, py: Python<'py>, run_id: &str) -> PyResult<Bound<'py, PyDict>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let info = py.detach(|| reader.run(&id)).map_err(err)?;
        run_dict(py, &info)
    }

    /// The child runs of a run, as dicts.
    fn children<'py>(&self, py: Python<'py>, run_id: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let runs = py.detach(|| reader.children(&id)).map_err(err)?;
        runs.iter().map(|r| run_dict(py, r)).collect()
    }

    /// The metric names of a run: `(name, kind, count, description)`, kind one of scalar, row, table, image, text, chart.
    fn metrics(&self, py: Python<'_>, run_id: &str) -> PyResult<Vec<MetricRow>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let metrics = py.detach(|| reader.metrics(&id)).map_err(err)?;
        Ok(metrics
            .into_iter()
            .map(|m| {
                let kind = match m.kind {
                    runlog::MetricKind::Scalar => "scalar",
                    runlog::MetricKind::Row => "row",
                    runlog::MetricKind::Table => "table",
                    runlog::MetricKind::Image => "image",
                    runlog::MetricKind::Text => "text",
                    runlog::MetricKind::Chart => "chart",
                };
                (m.name, kind.to_string(), m.count, m.description)
            })
            .collect())
    }

    /// A scalar series in step order: `(steps, values, timestamps_ms)`.
    fn series(&self, py: Python<'_>, run_id: &str, name: &str) -> PyResult<(Vec<i64>, Vec<f64>, Vec<i64>)> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let points = py.detach(|| reader.series(&id, name)).map_err(err)?;
        Ok((
            points.iter().map(|p| p.step).collect(),
            points.iter().map(|p| p.value).collect(),
            points.iter().map(|p| p.timestamp_ms).collect(),
        ))
    }

    /// The rows of a row metric, each a list of `(column, value)`.
    fn rows<'py>(&self, py: Python<'py>, run_id: &str, name: &str) -> PyResult<Vec<Bound<'py, PyList>>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let rows = py.detach(|| reader.rows(&id, name)).map_err(err)?;
        rows.iter()
            .map(|e| {
                let cols = e
                    .value
                    .columns
                    .iter()
                    .map(|(k, v)| PyTuple::new(py, [k.into_pyobject(py)?.into_any(), value_py(py, v)?]))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, cols)
            })
            .collect()
    }

    /// The tables logged under a name, each a list of `(column, values)`.
    fn tables<'py>(&self, py: Python<'py>, run_id: &str, name: &str) -> PyResult<Vec<Bound<'py, PyList>>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let tables = py.detach(|| reader.tables(&id, name)).map_err(err)?;
        tables
            .iter()
            .map(|e| {
                let cols = e
                    .value
                    .columns
                    .iter()
                    .map(|(k, vals)| {
                        let vals = vals.iter().map(|v| value_py(py, v)).collect::<PyResult<Vec<_>>>()?;
                        PyTuple::new(py, [k.into_pyobject(py)?.into_any(), PyList::new(py, vals)?.into_any()])
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, cols)
            })
            .collect()
    }

    /// The images of a run (of one name, or all) as dicts: name, step, hash, format, width, height, size, description.
    #[pyo3(signature = (run_id, name=None))]
    fn images<'py>(&self, py: Python<'py>, run_id: &str, name: Option<&str>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let images = py.detach(|| reader.images(&id, name)).map_err(err)?;
        images
            .iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("name", &e.name)?;
                d.set_item("step", e.step)?;
                d.set_item("hash", e.value.hash.as_str())?;
                d.set_item("format", e.value.format.name())?;
                d.set_item("width", e.value.width)?;
                d.set_item("height", e.value.height)?;
                d.set_item("size", e.value.size)?;
                d.set_item("description", &e.value.description)?;
                d.set_item("timestamp_ms", e.timestamp_ms)?;
                Ok(d)
            })
            .collect()
    }

    /// The files of a run, oldest first: `(name, hash, size, timestamp_ms)`; a name uploaded again appears again.
    fn files(&self, py: Python<'_>, run_id: &str) -> PyResult<Vec<(String, String, u64, i64)>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let files = py.detach(|| reader.files(&id)).map_err(err)?;
        Ok(files.into_iter().map(|e| (e.name, e.value.hash.to_string(), e.value.size, e.timestamp_ms)).collect())
    }

    /// A run's artifacts as MLflow sees them, by path (images, each chart's latest version, files: the tree the sync
    /// to MLflow uploads): `(path, content, size)`, the content a blob hash (str) or the bytes themselves (a chart's
    /// JSON document).
    fn artifacts<'py>(&self, py: Python<'py>, run_id: &str) -> PyResult<Vec<(String, Bound<'py, PyAny>, u64)>> {
        use runlog::sync::remote::mlflow::{Artifact, artifact_tree};
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let tree = py
            .detach(|| {
                Ok::<_, runlog::Error>(artifact_tree(
                    reader.images(&id, None)?,
                    reader.charts(&id, None)?,
                    reader.files(&id)?,
                ))
            })
            .map_err(err)?;
        Ok(tree
            .into_iter()
            .map(|(path, a)| {
                let size = a.size();
                let content = match a {
                    Artifact::Blob(hash, _) => PyString::new(py, hash.as_str()).into_any(),
                    Artifact::Bytes(b) => PyBytes::new(py, &b).into_any(),
                };
                (path, content, size)
            })
            .collect())
    }

    /// The texts (string metrics) of a run, of one name or all: `(name, step, text)`.
    #[pyo3(signature = (run_id, name=None))]
    fn texts(&self, py: Python<'_>, run_id: &str, name: Option<&str>) -> PyResult<Vec<(String, Option<i64>, String)>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let texts = py.detach(|| reader.texts(&id, name)).map_err(err)?;
        Ok(texts.into_iter().map(|e| (e.name, e.step, e.value.text)).collect())
    }

    /// The charts of a run, of one name or all, every version: `(name, step, document as JSON text)`.
    #[pyo3(signature = (run_id, name=None))]
    fn charts(&self, py: Python<'_>, run_id: &str, name: Option<&str>) -> PyResult<Vec<(String, Option<i64>, String)>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let charts = py.detach(|| reader.charts(&id, name)).map_err(err)?;
        Ok(charts.into_iter().map(|e| (e.name, e.step, e.value.to_json())).collect())
    }

    /// The log lines of a run, of one stream or all: `(stream, level, target, message)`.
    #[pyo3(signature = (run_id, stream=None))]
    fn log_lines(&self, py: Python<'_>, run_id: &str, stream: Option<&str>) -> PyResult<Vec<LogRow>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        let lines = py.detach(|| reader.log_lines(&id, stream, None)).map_err(err)?;
        Ok(lines.into_iter().map(|e| (e.name, e.value.level, e.value.target, e.value.message)).collect())
    }

    /// Every experiment, oldest first, as dicts: id (local, an int), name, created_at, updated_at, tags.
    fn experiment_details<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let reader = self.reader()?;
        let all = py.detach(|| reader.experiment_details()).map_err(err)?;
        all.iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("id", e.id)?;
                d.set_item("name", &e.name)?;
                d.set_item("created_at", e.created_at)?;
                d.set_item("updated_at", e.updated_at)?;
                d.set_item("tags", e.tags.clone())?;
                Ok(d)
            })
            .collect()
    }

    /// Creates an experiment if it does not exist; waits until it is committed.
    fn create_experiment(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let s = self.store.get()?;
        py.detach(|| s.create_experiment(name)).map_err(err)
    }

    /// Sets (or with `None` removes) a tag of an experiment, creating the experiment if new; waits for the commit.
    #[pyo3(signature = (name, key, value))]
    fn set_experiment_tag(&self, py: Python<'_>, name: &str, key: &str, value: Option<&str>) -> PyResult<()> {
        let s = self.store.get()?;
        py.detach(|| s.set_experiment_tag(name, key, value)).map_err(err)
    }

    /// The latest point of every scalar series of a run by MLflow's rule (the highest step, then the latest
    /// timestamp, then the largest value): `{name: (value, timestamp_ms, step)}`.
    fn latest_points(&self, py: Python<'_>, run_id: &str) -> PyResult<HashMap<String, (f64, i64, i64)>> {
        let id = self.resolve(py, run_id)?;
        let reader = self.reader()?;
        py.detach(|| {
            let mut out = HashMap::new();
            for m in reader.metrics(&id)? {
                if m.kind != runlog::MetricKind::Scalar {
                    continue;
                }
                let points = reader.series(&id, &m.name)?;
                let best = points.iter().max_by(|a, b| {
                    (a.step, a.timestamp_ms).cmp(&(b.step, b.timestamp_ms)).then(a.value.total_cmp(&b.value))
                });
                if let Some(p) = best {
                    out.insert(m.name, (p.value, p.timestamp_ms, p.step));
                }
            }
            Ok(out)
        })
        .map_err(err)
    }

    /// The bytes of a blob (a file's or an image's content) by its hash.
    fn blob<'py>(&self, py: Python<'py>, hash: &str) -> PyResult<Bound<'py, PyBytes>> {
        let hash = runlog::BlobHash::parse(hash).map_err(err)?;
        let reader = self.reader()?;
        let bytes = py.detach(|| reader.blob(&hash)).map_err(err)?;
        Ok(PyBytes::new(py, &bytes))
    }
}

fn run_dict<'py>(py: Python<'py>, r: &runlog::RunInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", r.id.as_str())?;
    d.set_item("experiment", &r.experiment)?;
    d.set_item("name", &r.name)?;
    d.set_item("parent", r.parent.as_ref().map(RunId::as_str))?;
    d.set_item("status", r.status.as_str())?;
    d.set_item("reason", &r.reason)?;
    d.set_item("started_at", r.started_at)?;
    d.set_item("ended_at", r.ended_at)?;
    let params = PyDict::new(py);
    for (k, v) in &r.params {
        params.set_item(k, value_py(py, v)?)?;
    }
    d.set_item("params", params)?;
    d.set_item("tags", r.tags.clone())?;
    d.set_item("properties", r.properties.clone())?;
    Ok(d)
}

fn value_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::I64(i) => i.into_pyobject(py)?.into_any(),
        Value::F64(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
    })
}

/// A Python value as a typed cell: bool, int (64-bit), float, str, or a numpy scalar of one of those.
fn to_value(what: &dyn Fn() -> String, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        return Ok(Value::F64(f.value()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map(Value::I64).map_err(|e| {
            if e.is_instance_of::<PyOverflowError>(obj.py()) {
                PyValueError::new_err(format!("{}: the integer {obj} does not fit in 64 bits, the limit", what()))
            } else {
                e
            }
        });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_string()));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::F64(obj.extract::<f64>()?));
    }
    // numpy scalars (and 0-d arrays): `.item()` gives the Python value.
    if obj.hasattr("dtype")?
        && obj.hasattr("item")?
        && obj.getattr("ndim").and_then(|n| n.extract::<usize>()).ok() == Some(0)
    {
        return to_value(what, &obj.call_method0("item")?);
    }
    Err(PyTypeError::new_err(format!(
        "{} must be a bool, int, float or str (or a numpy scalar), not {}",
        what(),
        type_name(obj)
    )))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_string())
}

/// A scalar as a float: float, int, bool or numpy scalar (anything with `__float__`), never a string.
#[inline]
fn to_f64(what: &dyn Fn() -> String, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        return Ok(f.value());
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!("{} must be a number, not {}", what(), type_name(obj))));
    }
    obj.extract::<f64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            PyValueError::new_err(format!("{}: {obj} is too large for a 64-bit float", what()))
        } else {
            PyTypeError::new_err(format!(
                "{} must be a float, int, bool or numpy scalar, not {}",
                what(),
                type_name(obj)
            ))
        }
    })
}

/// Floats from bytes of little-endian f64 (how the Python layer hands over numpy arrays, copied once in C).
fn f64s_of_bytes(what: &str, b: &[u8]) -> PyResult<Vec<f64>> {
    if b.len() % 8 != 0 {
        return Err(PyValueError::new_err(format!(
            "{what}: {} bytes is not a whole number of float64 values",
            b.len()
        )));
    }
    Ok(b.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
}

/// Floats from any iterable of numbers (iterated here, in Rust: no Python-level loop).
fn f64s_of(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return f64s_of_bytes(what, b.as_bytes());
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be an iterable of numbers, not a str")));
    }
    let iter = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be an iterable of numbers, not {}", type_name(obj))))?;
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        let item = item?;
        out.push(to_f64(&|| format!("item {i} of {what}"), &item)?);
    }
    Ok(out)
}

/// Typed cells from an iterable (or bytes of float64).
fn values_of(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f64s_of_bytes(what, b.as_bytes())?.into_iter().map(Value::F64).collect());
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be a list or array of values, not a str")));
    }
    let iter = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!("{what} must be a list or array of values, not {}", type_name(obj)))
    })?;
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        out.push(to_value(&|| format!("item {i} of {what}"), &item?)?);
    }
    Ok(out)
}

/// A run of a store: every logging call. The Python class `runlog.Run` subclasses it.
#[pyclass(frozen, subclass, module = "runlog._runlog")]
struct NativeRun {
    run: Local<runlog::Run>,
    store: Py<Store>,
    /// The description last recorded per metric name, so that passing one on every `log` call records it once.
    described: Mutex<rustc_hash::FxHashMap<String, String>>,
    /// The system-metrics sampler of this run, if started (`RUNLOG_SYSTEM_METRICS=1` or `start_system_metrics`);
    /// stopped when the run ends. Process-local: a forked child never joins the parent's sampler thread.
    sampler: Local<Mutex<Option<runlog::system::Sampler>>>,
}

/// Lists at least this long are logged with the GIL released (the copy costs more than releasing it).
const LONG_LIST: usize = 1 << 16;

/// Runs a logging call of `run`, releasing the GIL around it while the writer's queue is nearly full (so that a
/// call waiting for room never holds up the process's other threads). Otherwise the call runs as it is: it does not
/// wait, and releasing and taking back the GIL would cost more than the call.
#[inline]
fn queued<T: pyo3::marker::Ungil>(py: Python<'_>, run: &runlog::Run, f: impl FnOnce() -> T + pyo3::marker::Ungil) -> T {
    if run.backlogged() { py.detach(f) } else { f() }
}

impl NativeRun {
    /// Stops the system-metrics sampler, if any, after its last sample (so that sample lands before the run ends).
    fn stop_sampler(&self, py: Python<'_>) -> PyResult<()> {
        let sampler = self.sampler.get()?.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(s) = sampler {
            py.detach(|| s.stop());
        }
        Ok(())
    }

    fn describe_once(&self, run: &runlog::Run, name: &str, description: &str) -> PyResult<()> {
        if description.is_empty() {
            return Ok(());
        }
        let mut d = self.described.lock().unwrap_or_else(|e| e.into_inner());
        if d.get(name).is_some_and(|old| old == description) {
            return Ok(());
        }
        run.describe(name, description).map_err(err)?;
        d.insert(name.to_string(), description.to_string());
        Ok(())
    }
}

#[pymethods]
impl NativeRun {
    /// Starts a run (`experiment`, optional `name`, optional `parent`) or, with `run_id`, attaches to an existing one.
    /// With `started_at_ms` the run starts at that wall time (ms since the epoch) and `parent_id` names its parent
    /// by id: a run whose start an MLflow client chose.
    #[new]
    #[pyo3(signature = (store, run_id=None, experiment=None, name=None, parent=None, parent_id=None, started_at_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: Py<Store>,
        run_id: Option<&str>,
        experiment: Option<&str>,
        name: Option<&str>,
        parent: Option<PyRef<'_, NativeRun>>,
        parent_id: Option<&str>,
        started_at_ms: Option<i64>,
    ) -> PyResult<Self> {
        let s = store.get().store.get()?.clone();
        let run = match (run_id, parent) {
            (Some(spec), _) => {
                let id = store.get().resolve(py, spec)?;
                py.detach(|| runlog::Run::attach(&s, &id)).map_err(err)?
            }
            (None, None) if started_at_ms.is_some() || parent_id.is_some() => {
                let experiment =
                    experiment.ok_or_else(|| PyValueError::new_err("a new run needs an experiment name"))?;
                let parent = parent_id.map(RunId::parse).transpose().map_err(err)?;
                let at = started_at_ms.unwrap_or_else(runlog::now_ms);
                py.detach(|| s.start_run_at(experiment, name, parent.as_ref(), at)).map_err(err)?
            }
            (None, Some(parent)) => {
                let p = parent.run.get()?.clone();
                let name = name.map_or_else(|| format!("{}-child", p.name()), str::to_string);
                py.detach(|| p.child(&name)).map_err(err)?
            }
            (None, None) => {
                let experiment =
                    experiment.ok_or_else(|| PyValueError::new_err("a new run needs an experiment name"))?;
                py.detach(|| match name {
                    Some(n) => s.start_named_run(experiment, n),
                    None => s.start_run(experiment),
                })
                .map_err(err)?
            }
        };
        Ok(NativeRun {
            run: Local::new(run),
            store,
            described: Mutex::new(Default::default()),
            sampler: Local::new(Mutex::new(None)),
        })
    }

    /// Logs one value under `name`: a number (float, int, bool, numpy scalar) as the next point of its series, or a
    /// str as a string metric. `step` sets the point's step (later automatic steps continue after it); a
    /// `description` is recorded the first time it is given for a name (and again only if it changes).
    #[pyo3(signature = (name, value, description="", step=None))]
    #[inline]
    fn log(
        &self,
        py: Python<'_>,
        name: &str,
        value: &Bound<'_, PyAny>,
        description: &str,
        step: Option<i64>,
    ) -> PyResult<()> {
        let run = self.run.get()?;
        // The hot path: an exact float, no step, no description.
        let v = if let Ok(f) = value.cast_exact::<PyFloat>() {
            f.value()
        } else if let Ok(s) = value.cast::<PyString>() {
            let text = s.to_str()?;
            queued(py, run, || run.log_text(name, text)).map_err(err)?;
            return self.describe_once(run, name, description);
        } else {
            to_f64(&|| format!("value of metric {name:?}"), value)?
        };
        match step {
            None => queued(py, run, || run.log(name, v)),
            Some(s) => queued(py, run, || run.log_at(name, s, v)),
        }
        .map_err(err)?;
        self.describe_once(run, name, description)
    }

    /// Logs many values as the next points of one series: bytes of little-endian float64 (numpy's `tobytes()`), or
    /// any iterable of numbers, iterated in Rust.
    #[pyo3(signature = (name, values, description=""))]
    fn _log_list(&self, py: Python<'_>, name: &str, values: &Bound<'_, PyAny>, description: &str) -> PyResult<()> {
        let run = self.run.get()?;
        let values = f64s_of(&format!("list metric {name:?}"), values)?;
        if values.len() >= LONG_LIST {
            // Copying a long list takes milliseconds: other threads run meanwhile.
            py.detach(|| run.log_list(name, &values)).map_err(err)?;
        } else {
            queued(py, run, || run.log_list(name, &values)).map_err(err)?;
        }
        self.describe_once(run, name, description)
    }

    /// Logs a row: `columns` is a list of `(name, value)`.
    #[pyo3(signature = (name, columns, description=""))]
    fn _log_row(
        &self,
        py: Python<'_>,
        name: &str,
        columns: Vec<(String, Bound<'_, PyAny>)>,
        description: &str,
    ) -> PyResult<()> {
        let run = self.run.get()?;
        let cols = columns
            .iter()
            .map(|(k, v)| Ok((k.clone(), to_value(&|| format!("column {k:?} of row {name:?}"), v)?)))
            .collect::<PyResult<Vec<_>>>()?;
        queued(py, run, || run.log_row(name, cols)).map_err(err)?;
        self.describe_once(run, name, description)
    }

    /// Logs a table: `columns` is a list of `(name, values)`, values an iterable or bytes of float64.
    #[pyo3(signature = (name, columns, description=""))]
    fn _log_table(
        &self,
        py: Python<'_>,
        name: &str,
        columns: Vec<(String, Bound<'_, PyAny>)>,
        description: &str,
    ) -> PyResult<()> {
        let run = self.run.get()?;
        let cols = columns
            .iter()
            .map(|(k, v)| Ok((k.clone(), values_of(&format!("column {k:?} of table {name:?}"), v)?)))
            .collect::<PyResult<Vec<_>>>()?;
        queued(py, run, || run.log_table(name, cols)).map_err(err)?;
        self.describe_once(run, name, description)
    }

    /// Logs a PNG or JPEG image from a file path or from bytes.
    #[pyo3(signature = (name, image, description=""))]
    fn _log_image(&self, py: Python<'_>, name: &str, image: &Bound<'_, PyAny>, description: &str) -> PyResult<()> {
        let run = self.run.get()?;
        if let Ok(b) = image.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            py.detach(|| run.log_image(name, bytes, description)).map_err(err)
        } else {
            let path: PathBuf = image.extract()?;
            py.detach(|| run.log_image(name, &path, description)).map_err(err)
        }
    }

    /// Records a log line on a stream (`log` for Python's `logging`).
    fn _log_line(&self, py: Python<'_>, stream: &str, level: &str, target: &str, message: &str) -> PyResult<()> {
        let run = self.run.get()?;
        queued(py, run, || run.log_line(stream, level, target, message)).map_err(err)
    }

    /// Gives a metric (or chart) name a description.
    fn _describe(&self, name: &str, description: &str) -> PyResult<()> {
        let run = self.run.get()?;
        self.describe_once(run, name, description)
    }

    /// Sets a tag (the latest value of a key wins).
    fn _set_tag(&self, py: Python<'_>, key: &str, value: &str) -> PyResult<()> {
        let run = self.run.get()?;
        queued(py, run, || run.set_tag(key, value)).map_err(err)
    }

    /// Adds a write-once property; waits for the writer to check it.
    fn _add_property(&self, py: Python<'_>, key: &str, value: &str) -> PyResult<()> {
        let run = self.run.get()?;
        py.detach(|| run.add_property(key, value)).map_err(err)
    }

    /// Stores a file of the run from a path (content-addressed).
    fn _upload_file(&self, py: Python<'_>, name: &str, path: PathBuf) -> PyResult<()> {
        let run = self.run.get()?;
        py.detach(|| run.upload_file(name, &path)).map_err(err)
    }

    /// Logs a chart: `json` is a document in Azure's `kind` schema (`confusion_matrix`, ...), checked by the core.
    fn _log_chart(&self, py: Python<'_>, name: &str, kind: &str, json: &str) -> PyResult<()> {
        let run = self.run.get()?;
        let expected = runlog::ChartType::parse(kind)
            .ok_or_else(|| PyValueError::new_err(format!("chart type {kind:?} is not one of Azure's schemas")))?;
        py.detach(|| run.log_chart(name, Some(expected), json)).map_err(err)
    }

    /// Stores bytes as a file of the run.
    fn _upload_bytes(&self, py: Python<'_>, name: &str, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        let run = self.run.get()?;
        let bytes = data.as_bytes().to_vec();
        py.detach(|| run.upload_bytes(name, bytes)).map_err(err)
    }

    /// Starts sampling the machine and this process into the run's `system/...` series every `interval_seconds`
    /// (see runlog's `system` module), on a thread of its own until the run ends. A second call changes nothing.
    #[pyo3(signature = (interval_seconds=None))]
    fn start_system_metrics(&self, py: Python<'_>, interval_seconds: Option<f64>) -> PyResult<()> {
        let run = self.run.get()?;
        let mut config = runlog::system::SystemMetrics::new();
        if let Some(secs) = interval_seconds {
            let min = runlog::system::MIN_INTERVAL.as_secs_f64();
            if !secs.is_finite() || secs < min {
                return Err(PyValueError::new_err(format!(
                    "interval_seconds {secs} is below the limit of {min} s (or not a number)"
                )));
            }
            config.interval(std::time::Duration::from_secs_f64(secs));
        }
        let mut slot = self.sampler.get()?.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(py.detach(|| config.start(run)).map_err(err)?);
        }
        Ok(())
    }

    /// Ends the run: `completed`, `failed` (with a reason) or `cancelled`; waits until everything is committed.
    #[pyo3(signature = (status, reason=None))]
    fn _end(&self, py: Python<'_>, status: &str, reason: Option<&str>) -> PyResult<()> {
        let run = self.run.get()?;
        let status = final_status(status)?;
        self.stop_sampler(py)?;
        py.detach(|| run.end(status, reason)).map_err(err)
    }

    /// Ends the run like `_end`, at the wall time `ended_at_ms` (ms since the epoch) instead of now.
    #[pyo3(signature = (status, ended_at_ms, reason=None))]
    fn _end_at(&self, py: Python<'_>, status: &str, ended_at_ms: i64, reason: Option<&str>) -> PyResult<()> {
        let run = self.run.get()?;
        let status = final_status(status)?;
        self.stop_sampler(py)?;
        py.detach(|| run.end_at(status, reason, ended_at_ms)).map_err(err)
    }

    /// Logs one MLflow batch in one call: params first (write-once; waits for each check), then tags, then metrics
    /// `(key, value, timestamp_ms, step)` with their own timestamps. Stops at the first error; what came before it
    /// is logged.
    fn _log_batch(
        &self,
        py: Python<'_>,
        metrics: Vec<(String, f64, i64, i64)>,
        params: Vec<(String, String)>,
        tags: Vec<(String, String)>,
    ) -> PyResult<()> {
        let run = self.run.get()?;
        if !params.is_empty() {
            py.detach(|| params.into_iter().try_for_each(|(k, v)| run.log_param(&k, v))).map_err(err)?;
        }
        for (k, v) in &tags {
            queued(py, run, || run.set_tag(k, v)).map_err(err)?;
        }
        for (key, value, timestamp_ms, step) in &metrics {
            queued(py, run, || run.log_at_time(key, *step, *value, *timestamp_ms)).map_err(err)?;
        }
        Ok(())
    }

    /// Waits until everything this run logged is committed.
    fn _flush(&self, py: Python<'_>) -> PyResult<()> {
        let run = self.run.get()?;
        py.detach(|| run.flush()).map_err(err)
    }

    /// The run's id (32 hex digits).
    #[getter]
    fn id(&self) -> PyResult<String> {
        Ok(self.run.get()?.id().to_string())
    }

    /// The run's display name.
    #[getter]
    fn _name(&self) -> PyResult<String> {
        Ok(self.run.get()?.name().to_string())
    }

    /// The run's experiment name.
    #[getter]
    fn _experiment_name(&self) -> PyResult<String> {
        Ok(self.run.get()?.experiment().to_string())
    }

    /// The store the run lives in.
    #[getter]
    fn _store(&self, py: Python<'_>) -> Py<Store> {
        self.store.clone_ref(py)
    }

    /// Makes this run the one Rust-side `log`/`tracing` lines go to.
    fn _make_active(&self) -> PyResult<()> {
        self.run.get()?.make_active();
        Ok(())
    }
}

/// A status a run can end with, by its lowercase name.
fn final_status(status: &str) -> PyResult<RunStatus> {
    match RunStatus::parse(status) {
        Some(s @ (RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled)) => Ok(s),
        _ => Err(PyValueError::new_err(format!(
            "status {status:?} is not one a run can end with (completed, failed, cancelled)"
        ))),
    }
}

/// Runs the `runlog` command line (`argv[0]` is the program name) and returns its exit code.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    let code = py.detach(|| runlog_cli::main(argv));
    (0..=255u8).find(|&c| std::process::ExitCode::from(c) == code).map_or(1, i32::from)
}

/// The compiled module `runlog._runlog`.
#[pymodule]
fn _runlog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Store>()?;
    m.add_class::<NativeRun>()?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add("RunlogError", py.get_type::<RunlogError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("ForkedProcessError", py.get_type::<ForkedProcessError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
