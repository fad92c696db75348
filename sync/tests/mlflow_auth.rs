//! The MLflow remote against a real MLflow server with basic auth (`mlflow server --app-name basic-auth`, started
//! here on a free loopback port): the right credentials sync, wrong ones stop the agent with the server's 401 and
//! send nothing else. Uses the venv of `scripts/mlflow-server.sh` (MLflow and Flask-WTF, from scripts/requirements-mlflow.txt).

use runlog_core::Store;
use runlog_sync::agent::{AgentOptions, Syncer};
use runlog_sync::remote::Remote;
use runlog_sync::remote::mlflow::{MlflowOptions, MlflowRemote};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "runlog-test-password-1";

struct AuthServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

fn start_auth_server() -> AuthServer {
    let python = runlog_testkit::mlflow::mlflow_python();
    let mlflow = python.with_file_name("mlflow");
    let ok = Command::new(&python).args(["-c", "import mlflow.server, flask_wtf"]).status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "{} lacks MLflow or Flask-WTF (MLflow's basic-auth app needs it)",
        python.display()
    );
    let dir = tempfile::tempdir().expect("dir");
    let port = runlog_testkit::free_port();
    let d = dir.path().display().to_string();
    let child = Command::new(mlflow)
        .args(["server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--backend-store-uri", &format!("sqlite:///{d}/mlflow.db"), "--serve-artifacts"])
        .args(["--artifacts-destination", &format!("{d}/artifacts")])
        .env("MLFLOW_AUTH_ADMIN_PASSWORD", PASSWORD)
        .env("MLFLOW_FLASK_SERVER_SECRET_KEY", "runlog-test")
        .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        .current_dir(dir.path())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mlflow server --app-name basic-auth");
    let server = AuthServer { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let ok = Command::new("curl")
                .args(["-fsS", "-o", "/dev/null", "-u", &format!("admin:{PASSWORD}")])
                .arg(format!("{}/api/2.0/mlflow/experiments/search?max_results=1", server.url))
                .status();
            if ok.is_ok_and(|s| s.success()) {
                return server;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(150), "the basic-auth MLflow server did not start");
        std::thread::sleep(Duration::from_millis(300));
    }
}

async fn sync(store: &Store, remote: Arc<MlflowRemote>) -> runlog_sync::Result<runlog_sync::agent::PassSummary> {
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut s = Syncer::new(store.clone(), "ml", remote as Arc<dyn Remote>, AgentOptions::default(), rx)?;
    s.pass(Some(tokio::time::Instant::now() + Duration::from_secs(60)), &mut |_, _| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_credentials_sync_and_wrong_ones_stop_with_the_reason() {
    let server = start_auth_server();
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("store");
    let run = store.start_named_run("auth", "with-password").expect("run");
    for i in 0..1500 {
        run.log("loss", i as f64).expect("log");
    }
    run.complete().expect("complete");
    let url = format!("mlflow+{}", server.url);

    // Wrong password: MLflow answers 401 (plain text), the agent stops and says why; nothing is acknowledged.
    let wrong = Arc::new(MlflowRemote::new(&url, "basic:admin:nope", MlflowOptions::default()).expect("remote"));
    let e = sync(&store, wrong).await.expect_err("refused");
    assert!(e.to_string().contains("401"), "{e}");
    assert_eq!(store.reader().sync_status("ml").expect("status").acked_through, runlog_core::Seq::ZERO);

    // The right one: everything lands.
    let token = format!("basic:admin:{PASSWORD}");
    let right = Arc::new(MlflowRemote::new(&url, &token, MlflowOptions::default()).expect("remote"));
    let summary = sync(&store, right.clone()).await.expect("pass");
    assert!(summary.complete, "{summary:?}");
    assert_eq!(right.stats().points_sent, 1500);
    let c = reqwest::Client::builder().no_proxy().build().expect("client");
    let exp: serde_json::Value = c
        .get(format!("{}/api/2.0/mlflow/experiments/get-by-name?experiment_name=auth", server.url))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let exp_id = exp["experiment"]["experiment_id"].as_str().expect("experiment").to_string();
    let runs: serde_json::Value = c
        .post(format!("{}/api/2.0/mlflow/runs/search", server.url))
        .basic_auth("admin", Some(PASSWORD))
        .json(&serde_json::json!({"experiment_ids": [exp_id], "filter": format!("tags.`runlog.run_id` = '{}'", run.id().as_str())}))
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let id = runs["runs"][0]["info"]["run_id"].as_str().expect("the run landed");
    let h: serde_json::Value = c
        .get(format!("{}/api/2.0/mlflow/metrics/get-history?run_id={id}&metric_key=loss", server.url))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert_eq!(h["metrics"].as_array().expect("points").len(), 1500);
}
