//! The one sync loop against test doubles (no sockets): an in-memory remote that dedupes as the server does, behind
//! a schedule of failures. The agent's pass over a store and a bundle import both survive every failure and leave
//! the remote equal to the store, point for point, each point once.

mod util;

use runlog_core::Store;
use runlog_sync::agent::{AgentOptions, Backoff, Syncer};
use runlog_sync::{ErrorKind, ServiceLimits};
use std::sync::Arc;
use std::time::Duration;
use util::remotes::{Fault, MemoryRemote, Scheduled};

fn opts() -> AgentOptions {
    AgentOptions {
        backoff: Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(40), ..Backoff::default() },
        wake_on_commit: false,
        ..AgentOptions::default()
    }
}

fn limits() -> ServiceLimits {
    // Small batches, so a pass is many batches and every fault of the schedule meets one.
    ServiceLimits { max_rows_per_batch: 2_500, ..ServiceLimits::default() }
}

fn every_fault() -> Vec<Fault> {
    vec![
        Fault::Unavailable,
        Fault::RateLimited(Duration::from_millis(10)),
        Fault::LostAnswer,
        Fault::TooLarge,
        Fault::Refused,
        Fault::LostAnswer,
        Fault::Unavailable,
    ]
}

fn store_with_data(dir: &std::path::Path) -> Store {
    let store = Store::open(dir.join("s.db")).expect("store");
    for r in 0..2 {
        let run = store.start_named_run("exp", &format!("run-{r}")).expect("run");
        for i in 0..9_000 {
            run.log(["loss", "acc", "lr"][i % 3], i as f64 * 0.5 + f64::from(r)).expect("log");
        }
        run.log_param("lr", 0.01).expect("param");
        run.log_image("sample", util::png(2, 2, &[r as u8]).as_slice(), "").expect("image");
        run.complete().expect("complete");
    }
    store.flush().expect("flush");
    store
}

/// Every scalar point of the store is in the remote once, with its step, timestamp and value bits.
fn assert_remote_equals_store(remote: &MemoryRemote, store: &Store) {
    let reader = store.reader();
    for run in reader.runs().expect("runs") {
        for m in reader.metrics(&run.id).expect("metrics") {
            if m.kind != runlog_core::MetricKind::Scalar {
                continue;
            }
            let local = reader.series(&run.id, &m.name).expect("series");
            let held = remote.series(run.id.as_str(), &m.name);
            assert_eq!(held.len(), local.len(), "points of {}/{}", run.name, m.name);
            for (a, b) in local.iter().zip(&held) {
                assert_eq!((a.step, a.timestamp_ms, a.value.to_bits()), (b.step, b.at, b.value.to_bits()));
            }
        }
    }
    assert_eq!(remote.state().blobs.len(), 2, "both images' blobs, once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_pass_survives_every_scheduled_failure_and_sends_each_point_once() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store_with_data(dir.path());
    let remote = Arc::new(Scheduled::new(MemoryRemote::new(limits()), every_fault()));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut syncer = Syncer::new(store.clone(), "mem", remote.clone(), opts(), rx).expect("syncer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let summary = syncer.pass(Some(deadline), &mut |_, _| {}).await.expect("pass");
    assert!(summary.complete, "{summary:?}");
    assert_eq!(remote.met(), every_fault(), "every fault was met");
    assert_remote_equals_store(&remote.inner, &store);
    let max = store.reader().max_seq().expect("max");
    assert_eq!(store.reader().acked_through("mem").expect("acked"), max);
    // A second pass finds nothing to send.
    let batches = remote.inner.state().batches;
    let again = syncer.pass(Some(deadline), &mut |_, _| {}).await.expect("second pass");
    assert!(again.complete && again.batches == 0, "{again:?}");
    assert_eq!(remote.inner.state().batches, batches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_import_runs_the_same_loop_through_the_same_failures() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store_with_data(dir.path());
    let exported = runlog_sync::bundle::export(&store, 0, &dir.path().join("out")).expect("export");
    let path = exported.path.expect("a bundle was written");
    let remote = Arc::new(Scheduled::new(MemoryRemote::new(limits()), every_fault()));
    let bundle = runlog_sync::bundle::read(&path).expect("read");
    let backoff = opts().backoff;
    let imported =
        runlog_sync::bundle::import(bundle, remote.clone(), backoff, Duration::from_secs(60)).await.expect("import");
    assert_eq!(remote.met(), every_fault(), "every fault was met");
    assert!(imported.rejected.is_empty(), "{imported:?}");
    assert_remote_equals_store(&remote.inner, &store);
    // Imported again: everything is already held.
    let bundle = runlog_sync::bundle::read(&path).expect("read");
    let again =
        runlog_sync::bundle::import(bundle, remote.clone(), backoff, Duration::from_secs(60)).await.expect("again");
    assert_eq!(again.applied, 0, "{again:?}");
    assert!(again.duplicates > 0);
    assert_remote_equals_store(&remote.inner, &store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_halt_the_loop_and_the_store_says_why() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store_with_data(dir.path());
    let remote = Arc::new(Scheduled::new(MemoryRemote::new(limits()), vec![Fault::Unauthorized]));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut syncer = Syncer::new(store.clone(), "mem", remote.clone(), opts(), rx).expect("syncer");
    let e = syncer.pass(None, &mut |_, _| {}).await.expect_err("halts");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert_eq!(remote.inner.state().batches, 0, "nothing was applied");
    let status = store.reader().sync_status("mem").expect("status");
    let (_, last) = status.last_error.expect("the refusal is recorded");
    assert!(last.contains("refused this agent's credentials"), "{last}");
}
