//! Commit notifications: who wants to know that the writer committed logged data (the in-process sync agent, which
//! then sends at once instead of polling). Listeners run on the writer thread after the commit, before the callers
//! waiting for it are answered (so a returned `flush` means they have heard), and must return quickly (set a flag,
//! wake a task); they are never told about commits of sync bookkeeping alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

type Listener = Arc<dyn Fn() + Send + Sync>;

/// The listeners of one store's writer.
#[derive(Default)]
pub(crate) struct Commits {
    next_id: AtomicU64,
    listeners: RwLock<Vec<(u64, Listener)>>,
}

impl Commits {
    /// Tells every listener that logged data was committed.
    pub(crate) fn notify(&self) {
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for (_, f) in listeners.iter() {
            f();
        }
    }

    pub(crate) fn subscribe(self: &Arc<Self>, f: Listener) -> CommitSubscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.listeners.write().unwrap_or_else(|e| e.into_inner()).push((id, f));
        CommitSubscription { commits: Arc::downgrade(self), id }
    }
}

/// A listener installed by [`crate::Store::on_commit`]; dropping it removes the listener.
#[must_use = "the listener is removed when this is dropped"]
pub struct CommitSubscription {
    commits: Weak<Commits>,
    id: u64,
}

impl std::fmt::Debug for CommitSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitSubscription").field("id", &self.id).finish()
    }
}

impl Drop for CommitSubscription {
    fn drop(&mut self) {
        if let Some(c) = self.commits.upgrade() {
            c.listeners.write().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn listeners_hear_logged_data_not_bookkeeping_and_go_when_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        let heard = Arc::new(AtomicUsize::new(0));
        let h = heard.clone();
        let sub = store.on_commit(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let run = store.start_run("e").expect("run");
        store.flush().expect("flush");
        let after_start = heard.load(Ordering::SeqCst);
        assert!(after_start >= 1, "creating a run is logged data");
        run.log("loss", 0.5).expect("log");
        run.flush().expect("flush");
        let after_log = heard.load(Ordering::SeqCst);
        assert!(after_log > after_start, "a committed point is heard");
        store.record_event("team", true, "synced").expect("event");
        store.flush().expect("flush");
        assert_eq!(heard.load(Ordering::SeqCst), after_log, "sync bookkeeping alone wakes nobody");
        drop(sub);
        run.log("loss", 0.25).expect("log");
        run.flush().expect("flush");
        assert_eq!(heard.load(Ordering::SeqCst), after_log, "a dropped subscription hears nothing");
    }
}
