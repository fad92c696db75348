//! The in-process agent: when a remote is configured, the first run started in a process starts a background thread
//! (a tokio runtime of its own) that syncs the store while training goes on; when a run ends, the agent gets a bounded
//! grace period to upload what is left, then training carries on and the rest waits for a later sync. Only runs
//! without a parent wait; a child run's end just wakes the agent.
//!
//! It plugs into the store through [`runlog_core::RunObserver`]: the core knows nothing of it. Logging never waits on
//! the network; only `complete()` (and the other run endings) may wait, at most the grace period, and only while a
//! remote can be reached: when every remote still behind could not even be connected to at its last attempt
//! (refused, no route, DNS, connect timeout), the run's end returns at once and the data waits for the next sync.

use crate::agent::{AgentOptions, Syncer};
use crate::config::{self, RemoteConfig};
use crate::error::Result;
use runlog_core::{Run, RunObserver, Store};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// Default grace period at the end of a run.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How the in-process agent behaves; every field documents its default.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Remotes to sync to. Default: [`config::remotes_for`] the store (`RUNLOG_REMOTE` + `RUNLOG_TOKEN`, else the
    /// store's own remotes and the global ones).
    pub remotes: Option<Vec<RemoteConfig>>,
    /// How long a run's end may wait for the upload. Default: `$RUNLOG_SYNC_GRACE_MS`, else 10 s.
    pub grace: Duration,
    /// Agent settings. Default: [`AgentOptions::default`].
    pub agent: AgentOptions,
}

impl Default for InstallOptions {
    fn default() -> Self {
        let grace = std::env::var(config::ENV_GRACE_MS)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(DEFAULT_GRACE, Duration::from_millis);
        InstallOptions { remotes: None, grace, agent: AgentOptions::default() }
    }
}

/// The in-process agent of one store. Dropping the last handle stops it (cancelling any request in flight).
pub struct AgentHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle")
            .field("store", &self.shared.path)
            .field("remotes", &self.shared.remotes.len())
            .finish()
    }
}

struct Shared {
    path: PathBuf,
    remotes: Vec<RemoteConfig>,
    opts: InstallOptions,
    running: Mutex<Option<Running>>,
}

/// What a run's end watches of one remote's syncer: how far it got, and whether it could be reached at all.
struct Progress {
    acked: watch::Receiver<i64>,
    unreachable: watch::Receiver<bool>,
}

struct Running {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    /// Filled by the agent's thread once its syncers exist.
    acked: Arc<Mutex<Option<Vec<Progress>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AgentHandle {
    /// Whether the background thread is running (it starts with the first run).
    pub fn is_running(&self) -> bool {
        self.shared.running.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Waits up to `timeout` until every remote acknowledged everything the store holds now; true if it did.
    ///
    /// # Blocking
    /// Waits at most `timeout`.
    pub fn wait_synced(&self, store: &Store, timeout: Duration) -> bool {
        self.shared.wait(store, timeout)
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        let running = self.shared.running.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut r) = running {
            let _ = r.stop.send(true);
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Shared {
    fn start(&self, store: &Store) -> Result<()> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = running.as_ref() {
            r.wake.notify_waiters();
            return Ok(());
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let acked: Arc<Mutex<Option<Vec<Progress>>>> = Arc::default();
        let w = wake.clone();
        let (remotes, opts, store, ready) =
            (self.remotes.clone(), self.opts.agent.clone(), store.clone(), acked.clone());
        // Everything that may take time (TLS roots, reading the bookkeeping) happens on the agent's thread, so
        // starting a run costs a thread spawn.
        let thread = std::thread::Builder::new()
            .name("runlog-sync".into())
            .spawn(move || {
                let mut syncers = Vec::new();
                for r in &remotes {
                    let open = || {
                        crate::remote::open(r).and_then(|remote| {
                            Syncer::new(store.clone(), &r.name, remote, opts.clone(), stop_rx.clone())
                        })
                    };
                    // Setting up reads the store's bookkeeping: a transient failure (a busy file) is tried again
                    // before this remote is given up for the life of the process.
                    let mut made = open();
                    for pause_ms in [20, 100, 500] {
                        if made.is_ok() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(pause_ms));
                        made = open();
                    }
                    match made {
                        Ok(s) => syncers.push(s),
                        // Recorded for `runlog status`; the other remotes go on.
                        Err(e) => {
                            let _ = store.record_event(&r.name, false, &e.to_string());
                        }
                    }
                }
                let progress = syncers.iter().map(|s| Progress { acked: s.acked(), unreachable: s.unreachable() });
                *ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress.collect());
                drop(store);
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                rt.block_on(futures_util::future::join_all(syncers.iter_mut().map(|s| {
                    let w = w.clone();
                    async move {
                        // Errors are recorded in the store's sync events; training is never interrupted.
                        let _ = s.watch(w).await;
                    }
                })));
            })
            .map_err(|e| crate::Error::io("start the sync thread", e))?;
        *running = Some(Running { stop: stop_tx, wake, acked, thread: Some(thread) });
        Ok(())
    }

    fn wait(&self, store: &Store, timeout: Duration) -> bool {
        let Ok(target) = store.reader().max_seq() else { return false };
        let (wake, acked) = {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match running.as_ref() {
                Some(r) => (r.wake.clone(), r.acked.clone()),
                None => return false,
            }
        };
        wake.notify_waiters();
        let end = Instant::now() + timeout;
        loop {
            {
                let receivers = acked.lock().unwrap_or_else(|e| e.into_inner());
                match receivers.as_ref() {
                    // No remote could be set up: nothing will upload, so there is nothing to wait for.
                    Some(r) if r.is_empty() => return false,
                    // The agent publishes a position after queueing its acknowledgement: the flush makes that durable
                    // before the run's end returns (a process that exits now does not send it all again).
                    Some(r) if r.iter().all(|p| *p.acked.borrow() >= target.get()) => return store.flush().is_ok(),
                    // Offline costs nothing: when every remote still behind could not even be reached at its last
                    // attempt, the run's end does not wait; the data stays local for the next sync.
                    Some(r) if r.iter().all(|p| *p.acked.borrow() >= target.get() || *p.unreachable.borrow()) => {
                        return false;
                    }
                    _ => {}
                }
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
            wake.notify_waiters();
        }
    }
}

struct Observer(Weak<Shared>);

impl RunObserver for Observer {
    fn run_started(&self, run: &Run) {
        if let Some(s) = self.0.upgrade() {
            // A remote that cannot even be set up must not stop training; `runlog status` shows nothing synced.
            let _ = s.start(run.store());
        }
    }

    fn run_ended(&self, run: &Run) {
        if let Some(s) = self.0.upgrade() {
            // Child runs (an evaluation per epoch, a sweep's trials) do not wait: their parent's end does, once.
            let child = run.store().reader().run(run.id()).is_ok_and(|i| i.parent.is_some());
            if child {
                if let Some(r) = s.running.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    r.wake.notify_waiters();
                }
                return;
            }
            s.wait(run.store(), s.opts.grace);
        }
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Shared>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Installs the in-process agent on `store` when a remote is configured (see [`install_with`]).
pub fn install(store: &Store) -> Result<Option<AgentHandle>> {
    install_with(store, InstallOptions::default())
}

/// Installs the in-process agent on `store` with options: returns `None` when no remote is configured or
/// `RUNLOG_SYNC=0`. Installing twice on one store in a process shares one agent.
pub fn install_with(store: &Store, opts: InstallOptions) -> Result<Option<AgentHandle>> {
    if std::env::var(config::ENV_SYNC).is_ok_and(|v| v == "0") {
        return Ok(None);
    }
    let remotes = match &opts.remotes {
        Some(r) => r.clone(),
        None => config::remotes_for(Some(store.reader()))?,
    };
    if remotes.is_empty() {
        return Ok(None);
    }
    let path = store.path().to_path_buf();
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = reg.get(&path).and_then(Weak::upgrade) {
        return Ok(Some(AgentHandle { shared }));
    }
    let shared = Arc::new(Shared { path: path.clone(), remotes, opts, running: Mutex::new(None) });
    store.set_observer(Arc::new(Observer(Arc::downgrade(&shared))));
    reg.retain(|_, w| w.strong_count() > 0);
    reg.insert(path, Arc::downgrade(&shared));
    Ok(Some(AgentHandle { shared }))
}
