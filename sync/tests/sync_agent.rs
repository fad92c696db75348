//! The agent against a real workspace server on loopback: everything lands exactly once, limits are fitted,
//! rejections are recorded locally, an offline server is waited for, and the in-process agent uploads at run end.

mod util;

use runlog_core::Store;
use runlog_sync::agent::{AgentOptions, Backoff, Syncer};
use runlog_sync::config::RemoteConfig;
use runlog_sync::remote::workspace::{ClientOptions, WorkspaceRemote};
use runlog_sync::{InstallOptions, ServiceLimits};
use std::sync::Arc;
use std::time::Duration;
use util::*;

fn fast() -> AgentOptions {
    AgentOptions {
        backoff: Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(200), ..Backoff::default() },
        poll_interval: Duration::from_millis(20),
        ..AgentOptions::default()
    }
}

fn syncer(store: &Store, s: &TestServer, name: &str) -> Syncer {
    let remote = Arc::new(WorkspaceRemote::new(&s.url, &s.token, &ClientOptions::default()).expect("remote"));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(_tx);
    Syncer::new(store.clone(), name, remote, fast(), rx).expect("syncer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_lands_once_and_a_second_pass_sends_nothing() {
    let server = start_server(ServiceLimits::default());
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    log_every_kind(&store, 10_000);
    let mut s = syncer(&store, &server, "team");
    let first = s.pass(None, &mut |_, _| {}).await.expect("pass");
    assert!(first.complete, "{first:?}");
    assert_eq!(first.rejected, 0, "{first:?}");
    assert_server_equals_store(&server, &store).await;
    let second = s.pass(None, &mut |_, _| {}).await.expect("second pass");
    assert_eq!((second.batches, second.requests), (0, 0), "an acknowledged store sends nothing: {second:?}");
    // A new syncer resumes from the store's bookkeeping, not from zero.
    let mut again = syncer(&store, &server, "team");
    let third = again.pass(None, &mut |_, _| {}).await.expect("third pass");
    assert_eq!(third.batches, 0, "{third:?}");
    // Under another remote name everything is sent again: the server ignores it all as duplicates.
    let mut other = syncer(&store, &server, "other-name");
    let resent = other.pass(None, &mut |_, _| {}).await.expect("resend");
    assert_eq!(resent.applied, 0, "{resent:?}");
    assert!(resent.duplicates > 0);
    assert_eq!(resent.blobs_uploaded, 0, "blobs held are not uploaded again");
    assert_server_equals_store(&server, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_profile_rejects_the_51st_name_and_never_sends_over_a_limit() {
    let server = start_server(ServiceLimits::azure());
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let run = store.start_run("azure").expect("run");
    for n in 0..51 {
        for step in 0..20 {
            run.log(&format!("m{n:02}"), step as f64).expect("log");
        }
    }
    for i in 0..3000 {
        run.log("m00", i as f64).expect("log");
    }
    run.complete().expect("complete");
    let mut s = syncer(&store, &server, "azure");
    let summary = s.pass(None, &mut |_, _| {}).await.expect("pass");
    assert!(summary.complete, "{summary:?}");
    let st = store.reader().sync_status("azure").expect("status");
    assert_eq!(st.pending_records, 0);
    assert_eq!(st.rejections.len(), 1, "{:?}", st.rejections);
    assert_eq!(st.rejections[0].code, "too_many_names");
    assert_eq!(st.rejections[0].name, "m50");
    assert!(st.rejections[0].reason.contains("the limit is 50"), "{}", st.rejections[0].reason);
    // Kept locally.
    assert_eq!(store.reader().series(run.id(), "m50").expect("local").len(), 20);
    let stats = stats(&server).await;
    assert!(stats.max_batch_rows <= 250, "{stats:?}");
    assert_eq!(stats.too_large, 0, "{stats:?}");
    let metrics = get_json(&server, &format!("/api/v1/runs/{}/metrics", run.id())).await;
    assert_eq!(metrics.as_array().expect("metrics").len(), 50);
    let m00 = get_json(&server, &format!("/api/v1/runs/{}/series/m00", run.id())).await;
    assert_eq!(m00["points"].as_array().expect("points").len(), 3020);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_images_are_uploaded_and_stored_once() {
    let server = start_server(ServiceLimits::default());
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let run = store.start_run("img").expect("run");
    let same = png(8, 8, b"same");
    for i in 0..20 {
        run.log_image("same", same.as_slice(), "").expect("image");
        run.log_image("distinct", png(8, 8, format!("d{i}").as_bytes()).as_slice(), "").expect("image");
    }
    run.complete().expect("complete");
    let mut s = syncer(&store, &server, "r");
    let summary = s.pass(None, &mut |_, _| {}).await.expect("pass");
    assert!(summary.complete);
    assert_eq!(summary.blobs_uploaded, 21);
    let stats = stats(&server).await;
    assert_eq!((stats.blob_uploads, stats.blobs_stored), (21, 21), "{stats:?}");
    assert_server_equals_store(&server, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_server_is_waited_for_then_everything_syncs() {
    // Reserve a port, then keep the server down while training runs.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    log_every_kind(&store, 5_000);
    let remote = Arc::new(
        WorkspaceRemote::new(&format!("http://127.0.0.1:{port}"), "rlt_x", &ClientOptions::default()).expect("remote"),
    );
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut s = Syncer::new(store.clone(), "late", remote, fast(), rx).expect("syncer");
    let deadline = tokio::time::Instant::now() + Duration::from_millis(600);
    let offline = s.pass(Some(deadline), &mut |_, _| {}).await.expect("pass");
    assert!(!offline.complete);
    assert!(offline.last_error.as_deref().unwrap_or("").contains("cannot reach"), "{offline:?}");
    let st = store.reader().sync_status("late").expect("status");
    assert!(st.last_error.is_some());
    // The server comes up on that port with a token; the agent (same config) converges.
    let server_dir = tempfile::tempdir().expect("dir");
    let server = start_server_in(server_dir, ServiceLimits::default(), port);
    let remote = Arc::new(WorkspaceRemote::new(&server.url, &server.token, &ClientOptions::default()).expect("remote"));
    let (_tx2, rx2) = tokio::sync::watch::channel(false);
    let mut s = Syncer::new(store.clone(), "late", remote, fast(), rx2).expect("syncer");
    let online = s.pass(None, &mut |_, _| {}).await.expect("pass");
    assert!(online.complete, "{online:?}");
    assert_server_equals_store(&server, &store).await;
}

#[test]
fn in_process_agent_uploads_within_the_grace_period_at_run_end() {
    let server = start_server(ServiceLimits::default());
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let opts = InstallOptions {
        remotes: Some(vec![RemoteConfig {
            name: "team".into(),
            url: server.url.clone(),
            token: server.token.clone(),
            ca_cert: None,
            source: Default::default(),
        }]),
        grace: Duration::from_secs(20),
        agent: fast(),
    };
    let handle = runlog_sync::install_with(&store, opts).expect("install").expect("configured");
    assert!(!handle.is_running(), "starts with the first run");
    let run = store.start_run("inproc").expect("run");
    assert!(handle.is_running());
    for i in 0..20_000 {
        run.log("x", i as f64).expect("log");
    }
    run.complete().expect("complete");
    let st = store.reader().sync_status("team").expect("status");
    assert_eq!(st.pending_records, 0, "complete() waited for the upload: {st:?}");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(assert_server_equals_store(&server, &store));
}

#[test]
fn in_process_agent_gives_up_after_the_grace_period_when_offline() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let opts = InstallOptions {
        remotes: Some(vec![RemoteConfig {
            name: "down".into(),
            url: "http://127.0.0.1:9".into(),
            token: "t".into(),
            ca_cert: None,
            source: Default::default(),
        }]),
        grace: Duration::from_millis(300),
        agent: fast(),
    };
    let _handle = runlog_sync::install_with(&store, opts).expect("install").expect("configured");
    let run = store.start_run("offline").expect("run");
    run.log("x", 1.0).expect("log");
    let t = std::time::Instant::now();
    run.complete().expect("complete");
    // Bounded by the grace period (plus scheduling), not by the network.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(store.reader().sync_status("down").expect("status").pending_records > 0);
}

/// A remote that publishes bigger limits than the server enforces (limits changed after the agent read them).
struct Stale(WorkspaceRemote);

#[async_trait::async_trait]
impl runlog_sync::remote::Remote for Stale {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn limits(&self) -> runlog_sync::Result<ServiceLimits> {
        Ok(ServiceLimits::default())
    }
    async fn missing_blobs(&self, hashes: &[String]) -> runlog_sync::Result<Vec<String>> {
        self.0.missing_blobs(hashes).await
    }
    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> runlog_sync::Result<()> {
        self.0.upload_blob(hash, bytes).await
    }
    async fn upload_batch(&self, batch: &runlog_wire::EncodedBatch) -> runlog_sync::Result<runlog_wire::BatchReply> {
        self.0.upload_batch(batch).await
    }
    async fn reconcile(
        &self,
        batch: &runlog_wire::EncodedBatch,
    ) -> runlog_sync::Result<runlog_sync::remote::Reconciled> {
        self.0.reconcile(batch).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_splits_the_batch_until_it_fits() {
    let server = start_server(ServiceLimits { max_request_bytes: 64 << 10, ..ServiceLimits::default() });
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let run = store.start_run("split").expect("run");
    for i in 0..60_000 {
        run.log(["a", "b", "c"][i % 3], i as f64).expect("log");
    }
    run.complete().expect("complete");
    let remote =
        Arc::new(Stale(WorkspaceRemote::new(&server.url, &server.token, &ClientOptions::default()).expect("remote")));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut s = Syncer::new(store.clone(), "stale", remote, fast(), rx).expect("syncer");
    let summary = s.pass(None, &mut |_, _| {}).await.expect("pass");
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.rejected, 0);
    let st = stats(&server).await;
    assert!(st.too_large > 0, "the server answered 413 at least once: {st:?}");
    assert!(st.max_batch_bytes <= 64 << 10, "{st:?}");
    assert_server_equals_store(&server, &store).await;
}

#[test]
fn child_runs_do_not_wait_for_the_upload_at_their_end() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let opts = InstallOptions {
        remotes: Some(vec![RemoteConfig {
            name: "down".into(),
            url: "http://127.0.0.1:9".into(),
            token: "t".into(),
            ca_cert: None,
            source: Default::default(),
        }]),
        grace: Duration::from_secs(120),
        agent: fast(),
    };
    let _handle = runlog_sync::install_with(&store, opts).expect("install").expect("configured");
    let run = store.start_run("parent").expect("run");
    let t = std::time::Instant::now();
    for epoch in 0..5 {
        let child = run.child(&format!("eval-{epoch}")).expect("child");
        child.log("acc", 0.5).expect("log");
        child.complete().expect("child complete");
    }
    // Five child ends against a remote that is down: none of them spent the 120 s grace period.
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    drop(run);
}

/// What landed of a batch whose answer was lost: the reply of what landed and the records that did not.
type Landed = (runlog_wire::BatchReply, Vec<(i64, u32)>);

/// A remote whose uploads sometimes end without an answer although they (fully or partly) landed, and which can tell
/// what landed, as the MLflow remote must: the agent must not resend what landed.
struct Unanswered {
    inner: WorkspaceRemote,
    calls: std::sync::atomic::AtomicUsize,
    landed: std::sync::Mutex<std::collections::HashMap<String, Landed>>,
}

#[async_trait::async_trait]
impl runlog_sync::remote::Remote for Unanswered {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn limits(&self) -> runlog_sync::Result<ServiceLimits> {
        Ok(ServiceLimits { max_rows_per_batch: 2_000, ..ServiceLimits::default() })
    }
    async fn missing_blobs(&self, hashes: &[String]) -> runlog_sync::Result<Vec<String>> {
        self.inner.missing_blobs(hashes).await
    }
    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> runlog_sync::Result<()> {
        self.inner.upload_blob(hash, bytes).await
    }
    async fn upload_batch(&self, batch: &runlog_wire::EncodedBatch) -> runlog_sync::Result<runlog_wire::BatchReply> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let lost = || runlog_sync::Error::Network {
            url: "test".into(),
            message: "reset after sending".into(),
            maybe_sent: true,
        };
        match n % 4 {
            1 => {
                // All of it lands; the answer is lost.
                let reply = self.inner.upload_batch(batch).await?;
                self.landed.lock().expect("lock").insert(batch.id.to_string(), (reply, Vec::new()));
                Err(lost())
            }
            3 => {
                // The first half lands; the answer is lost.
                let b = runlog_wire::Batch::decode(&batch.bytes).expect("own batch");
                let half = b.records.len().div_ceil(2);
                let rest: Vec<(i64, u32)> = b.records[half..].iter().map(|r| (r.seq, r.part)).collect();
                let first = runlog_wire::Batch { records: b.records[..half].to_vec(), ..b }.encode();
                let reply = self.inner.upload_batch(&first).await?;
                self.landed.lock().expect("lock").insert(batch.id.to_string(), (reply, rest));
                Err(lost())
            }
            _ => self.inner.upload_batch(batch).await,
        }
    }
    async fn reconcile(
        &self,
        batch: &runlog_wire::EncodedBatch,
    ) -> runlog_sync::Result<runlog_sync::remote::Reconciled> {
        Ok(match self.landed.lock().expect("lock").remove(batch.id.as_str()) {
            Some((reply, rest)) if rest.is_empty() => runlog_sync::remote::Reconciled::Landed(reply),
            Some((landed, resend)) => runlog_sync::remote::Reconciled::Partly { landed, resend },
            None => runlog_sync::remote::Reconciled::ResendIsSafe,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unknown_outcome_reconcile_decides_and_nothing_landed_is_resent() {
    let server = start_server(ServiceLimits::default());
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("s.db")).expect("store");
    let id = log_every_kind(&store, 40_000);
    let remote = Arc::new(Unanswered {
        inner: WorkspaceRemote::new(&server.url, &server.token, &ClientOptions::default()).expect("remote"),
        calls: Default::default(),
        landed: Default::default(),
    });
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut s = Syncer::new(store.clone(), "reconciling", remote.clone(), fast(), rx).expect("syncer");
    let summary = s.pass(None, &mut |_, _| {}).await.expect("pass");
    assert!(summary.complete, "{summary:?}");
    assert!(remote.calls.load(std::sync::atomic::Ordering::SeqCst) >= 8, "enough uploads to hit both cases");
    assert_server_equals_store(&server, &store).await;
    let st = stats(&server).await;
    assert_eq!(st.records_duplicate, 0, "what landed was never sent again: {st:?}");
    assert_eq!(
        get_json(&server, &format!("/api/v1/runs/{id}/series/loss")).await["points"].as_array().map(Vec::len),
        Some(40_000)
    );
}
