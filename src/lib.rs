//! runlog: an embeddable, local-first metric store for ML training.
//!
//! Add this one crate. A run logs scalars, lists, rows, tables, images, params, tags, properties, texts, log lines,
//! files and child runs into one append-only SQLite file next to the script ([`Store`]), in well under a microsecond
//! per call. With the `sync` feature (on by default) the [`sync`] module uploads the store to a runlog workspace server
//! in the background: when a remote is configured (`RUNLOG_REMOTE` + `RUNLOG_TOKEN`, or `runlog remote add`),
//! opening a store through this crate installs the in-process agent, which starts with the first run and gets a
//! bounded grace period (`RUNLOG_SYNC_GRACE_MS`, default 10 s) to upload when a run ends. Training never waits on the
//! network beyond that.
//!
//! ```
//! # fn main() -> runlog::Result<()> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = runlog::Store::open(dir.path().join("runlog.db"))?;
//! let run = store.start_run("mnist")?;
//! run.log("loss", 0.5)?;
//! run.log_row("eval", [("epoch", runlog::Value::from(1)), ("acc", runlog::Value::from(0.91))])?;
//! run.complete()?;
//! let summary = store.reader().summary(run.id())?;
//! assert_eq!(summary[0].last, 0.5);
//! # Ok(()) }
//! ```

pub use runlog_core::*;

/// Uploading stores to a workspace (re-export of `runlog-sync`).
#[cfg(feature = "sync")]
pub use runlog_sync as sync;

use std::path::Path;
#[cfg(feature = "sync")]
use std::sync::Arc;
use std::time::Duration;

/// A runlog store: [`runlog_core::Store`] (everything it offers, through `Deref`) plus, with the `sync` feature and a
/// configured remote, the in-process sync agent. Cheap to clone; the agent stops when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: runlog_core::Store,
    #[cfg(feature = "sync")]
    agent: Option<Arc<runlog_sync::AgentHandle>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::ops::Deref for Store {
    type Target = runlog_core::Store;
    fn deref(&self) -> &runlog_core::Store {
        &self.inner
    }
}

impl Store {
    /// Options for opening the store at `path`.
    pub fn builder(path: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder { inner: runlog_core::Store::builder(path), sync_grace: None }
    }

    /// Opens (creating if needed) the store at `path` with default options, with the sync agent when a remote is
    /// configured.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::builder(path).open()
    }

    /// Opens the store named by `$RUNLOG_STORE`, or `./runlog.db`.
    pub fn open_default() -> Result<Store> {
        Store::open(runlog_core::store::default_path())
    }

    /// The core store (for APIs that take one).
    pub fn core(&self) -> &runlog_core::Store {
        &self.inner
    }

    /// The in-process sync agent, if a remote is configured.
    #[cfg(feature = "sync")]
    pub fn sync_agent(&self) -> Option<&runlog_sync::AgentHandle> {
        self.agent.as_deref()
    }

    fn wrap(inner: runlog_core::Store, _grace: Option<Duration>) -> Store {
        #[cfg(feature = "sync")]
        {
            let mut opts = runlog_sync::InstallOptions::default();
            if let Some(g) = _grace {
                opts.grace = g;
            }
            // A broken sync configuration must not stop training: the store opens without the agent.
            let agent = runlog_sync::install_with(&inner, opts).ok().flatten().map(Arc::new);
            Store { inner, agent }
        }
        #[cfg(not(feature = "sync"))]
        Store { inner }
    }
}

/// Options for opening a store; every setter documents its default.
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    inner: runlog_core::StoreBuilder,
    sync_grace: Option<Duration>,
}

impl StoreBuilder {
    /// When log calls are durable. Default: [`Durability::Buffered`].
    pub fn durability(&mut self, d: Durability) -> &mut Self {
        self.inner.durability(d);
        self
    }

    /// How often the writer commits buffered data. Default: 100 ms.
    pub fn flush_interval(&mut self, d: Duration) -> &mut Self {
        self.inner.flush_interval(d);
        self
    }

    /// How often the writer records that its runs are alive. Default: 5 s.
    pub fn heartbeat_interval(&mut self, d: Duration) -> &mut Self {
        self.inner.heartbeat_interval(d);
        self
    }

    /// How long a run's end may wait for the sync agent to upload. Default: `$RUNLOG_SYNC_GRACE_MS`, else 10 s.
    pub fn sync_grace(&mut self, d: Duration) -> &mut Self {
        self.sync_grace = Some(d);
        self
    }

    /// Opens (creating if needed) the store, installing the sync agent when a remote is configured.
    pub fn open(&self) -> Result<Store> {
        Ok(Store::wrap(self.inner.open()?, self.sync_grace))
    }
}
