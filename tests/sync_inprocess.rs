//! The `runlog` crate installs the in-process sync agent when a remote is configured in the environment: a training
//! script that only opens a store and completes its run finds its data on the workspace server afterwards.
//!
//! The script runs in a child process (this test binary again) so the environment is set by `Command::env`.

use runlog::sync::ServiceLimits;
use runlog_server::{Admin, AppState, BackgroundServer, Read, SqliteStorage, Storage};
use std::sync::Arc;

const CHILD: &str = "RUNLOG_TEST_TRAINING_SCRIPT";

fn training_script() {
    let store = runlog::Store::open_default().expect("open the store named by RUNLOG_STORE");
    assert!(store.sync_agent().is_some(), "RUNLOG_REMOTE + RUNLOG_TOKEN install the agent");
    let run = store.start_named_run("inproc", "script").expect("run");
    for i in 0..30_000 {
        run.log("loss", 1.0 / (1.0 + i as f64)).expect("log");
    }
    run.log_param("lr", 0.1).expect("param");
    run.complete().expect("complete");
}

#[test]
fn a_training_script_with_a_remote_in_its_environment_syncs_at_run_end() {
    if std::env::var_os(CHILD).is_some() {
        training_script();
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("srv")).expect("storage"));
    let token = runlog_testkit::block_on(storage.create_workspace("w")).expect("workspace");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let server =
        BackgroundServer::start(listener, AppState::new(storage.clone() as Arc<dyn Storage>, ServiceLimits::default()))
            .expect("server");
    let store_path = dir.path().join("train.db");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "a_training_script_with_a_remote_in_its_environment_syncs_at_run_end", "--nocapture"])
        .env(CHILD, "1")
        .env("RUNLOG_STORE", &store_path)
        .env("RUNLOG_REMOTE", server.url())
        .env("RUNLOG_TOKEN", &token)
        .env("RUNLOG_CONFIG_DIR", dir.path().join("cfg"))
        .env("HOME", dir.path().join("cfg"))
        .env("RUNLOG_SYNC_GRACE_MS", "30000")
        .output()
        .expect("run the training script");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Once the script has exited, the server already holds its run: complete() waited for the upload.
    let ws = runlog_testkit::block_on(storage.workspace_for_token(&token)).expect("auth").expect("workspace");
    let runs = runlog_testkit::block_on(storage.runs(ws)).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].params.get("lr"), Some(&runlog_wire::WireValue::Float(0.1)));
    let local = runlog::Reader::open(&store_path).expect("reader");
    let id = local.resolve("inproc/script").expect("run");
    let points = runlog_testkit::block_on(storage.series(ws, id.as_str(), "loss")).expect("series");
    let expected = local.series(&id, "loss").expect("local series");
    assert_eq!(points.len(), 30_000);
    assert!(points.iter().zip(&expected).all(|(a, b)| a.step == b.step && a.value.to_bits() == b.value.to_bits()));
}

#[test]
fn without_a_remote_no_agent_is_installed() {
    if std::env::var_os("RUNLOG_TEST_NO_REMOTE").is_some() {
        let store = runlog::Store::open_default().expect("store");
        assert!(store.sync_agent().is_none());
        let run = store.start_run("plain").expect("run");
        run.log("x", 1.0).expect("log");
        run.complete().expect("complete");
        return;
    }
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "without_a_remote_no_agent_is_installed", "--nocapture"])
        .env("RUNLOG_STORE", dir.path().join("s.db"))
        .env_remove("RUNLOG_REMOTE")
        .env("RUNLOG_CONFIG_DIR", dir.path().join("cfg"))
        .env("HOME", dir.path().join("cfg"))
        .env("RUNLOG_TEST_NO_REMOTE", "1")
        .output()
        .expect("child");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "{}", String::from_utf8_lossy(&out.stdout));
    let reader = runlog::Reader::open(dir.path().join("s.db")).expect("the child logged");
    assert_eq!(reader.runs().expect("runs").len(), 1);
}

/// Issue 13: with a remote that refuses connections, no run's end waits the grace period (30 s here): a sweep of
/// short runs with the network down costs no more than with no remote at all (the benchmark measures the ratio).
#[test]
fn an_unreachable_remote_never_makes_a_run_wait_the_grace_period() {
    const GRACE_MS: u64 = 30_000;
    if std::env::var_os("RUNLOG_TEST_OFFLINE").is_some() {
        let store = runlog::Store::open_default().expect("store");
        assert!(store.sync_agent().is_some(), "the refusing remote is configured");
        for r in 0..20 {
            let run = store.start_named_run("offline", &format!("r{r}")).expect("run");
            for i in 0..1_000 {
                run.log("x", i as f64).expect("log");
            }
            let t = std::time::Instant::now();
            run.complete().expect("complete");
            let waited = t.elapsed();
            assert!(
                waited < std::time::Duration::from_millis(GRACE_MS),
                "run {r} waited {waited:?}, the whole grace period, for a remote that cannot be reached"
            );
        }
        return;
    }
    if std::env::var_os(CHILD).is_some() || std::env::var_os("RUNLOG_TEST_NO_REMOTE").is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    // A port nothing listens on: connections are refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "an_unreachable_remote_never_makes_a_run_wait_the_grace_period", "--nocapture"])
        .env("RUNLOG_STORE", dir.path().join("s.db"))
        .env("RUNLOG_REMOTE", format!("http://127.0.0.1:{port}"))
        .env("RUNLOG_TOKEN", "t")
        .env("RUNLOG_CONFIG_DIR", dir.path().join("cfg"))
        .env("HOME", dir.path().join("cfg"))
        .env("RUNLOG_SYNC_GRACE_MS", GRACE_MS.to_string())
        .env("RUNLOG_TEST_OFFLINE", "1")
        .output()
        .expect("child");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    // Everything stayed local, for the next sync.
    let reader = runlog::Reader::open(dir.path().join("s.db")).expect("reader");
    assert_eq!(reader.runs().expect("runs").len(), 20);
    let st = reader.sync_status(&format!("http://127.0.0.1:{port}")).expect("status");
    assert_eq!(st.acked_through, runlog::Seq::ZERO);
    assert!(st.last_error.is_some(), "the failure is recorded for runlog status: {st:?}");
}
