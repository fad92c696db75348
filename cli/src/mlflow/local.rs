//! [`Tracking`] over a local store file: reads through a [`Reader`], writes through a [`Store`] opened on the first
//! write (a read-only endpoint never opens one).
//!
//! Runs created here are kept open (their handles held) until the process ends, as the MLflow plugin keeps them: a
//! run's process is the writer that beats its heartbeat, so a run whose endpoint went away without ending it reads
//! as crashed (MLflow: FAILED). Runs created elsewhere are attached on their first write.

use super::{Tracking, Write};
use crate::ui::Source;
use runlog_core::{ExperimentDetails, Reader, Result, Run, RunId, Store, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// The MLflow view of a local store file.
pub struct LocalTracking {
    path: PathBuf,
    reader: Reader,
    store: OnceLock<Store>,
    /// Serializes opening the store, so two first writes open it once.
    opening: Mutex<()>,
    runs: Mutex<HashMap<RunId, Run>>,
}

impl LocalTracking {
    /// The view of the store at `path`, read through `reader`.
    pub fn new(path: PathBuf, reader: Reader) -> LocalTracking {
        LocalTracking {
            path,
            reader,
            store: OnceLock::new(),
            opening: Mutex::new(()),
            runs: Mutex::new(HashMap::new()),
        }
    }

    fn store(&self) -> Result<&Store> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let _once = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let s = Store::open(&self.path)?;
        Ok(self.store.get_or_init(|| s))
    }

    fn handle(&self, id: &RunId) -> Result<Run> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = runs.get(id) {
            return Ok(r.clone());
        }
        let r = Run::attach(self.store()?, id)?;
        runs.insert(id.clone(), r.clone());
        Ok(r)
    }
}

impl Tracking for LocalTracking {
    fn source(&self) -> &dyn Source {
        &self.reader
    }

    fn experiments(&self) -> Result<Vec<ExperimentDetails>> {
        self.reader.experiment_details()
    }

    fn create_experiment(&self, name: &str) -> Result<()> {
        self.store()?.create_experiment(name)
    }

    fn set_experiment_tag(&self, name: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.store()?.set_experiment_tag(name, key, value)
    }

    fn start_run(&self, experiment: &str, name: &str, parent: Option<&RunId>, started_at: i64) -> Result<RunId> {
        let run = self.store()?.start_run_at(experiment, Some(name), parent, started_at)?;
        let id = run.id().clone();
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), run);
        Ok(id)
    }

    fn write(&self, id: &RunId, writes: Vec<Write>) -> Result<()> {
        let run = self.handle(id)?;
        for w in writes {
            match w {
                Write::Metric { key, value, timestamp, step } => run.log_at_time(&key, step, value, timestamp)?,
                Write::Param(k, v) => run.log_param(&k, Value::Str(v))?,
                Write::Tag(k, v) => run.set_tag(&k, &v)?,
                Write::Property(k, v) => run.add_property(&k, &v)?,
                Write::End(status, at) => run.end_at(status, None, at)?,
                Write::File(name, bytes) => run.upload_bytes(&name, bytes)?,
            }
        }
        run.flush()
    }
}
