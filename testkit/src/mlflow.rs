//! A real MLflow tracking server on loopback, and reading runs back through its REST API.
//!
//! The server is `$MLFLOW_TRACKING_URI` when the test command started one (`scripts/test-env.sh`); otherwise the first
//! caller in a test binary starts one with `scripts/mlflow-server.sh` on a free port, and a watchdog stops it when the
//! binary exits. A server that cannot start fails the test with the reason: it is never skipped.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The virtual environment holding MLflow: `$RUNLOG_MLFLOW_VENV`, else `target/venvs/mlflow` in the repository
/// (what `scripts/mlflow-server.sh install` builds).
pub fn mlflow_venv() -> PathBuf {
    std::env::var_os("RUNLOG_MLFLOW_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target").join("venvs").join("mlflow"))
}

/// The Python interpreter of [`mlflow_venv`], installing the venv first if it is missing.
pub fn mlflow_python() -> PathBuf {
    let out = Command::new("bash")
        .arg(script())
        .arg("install")
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs scripts/mlflow-server.sh");
    assert!(out.status.success(), "scripts/mlflow-server.sh install failed");
    mlflow_venv().join("bin").join("python")
}

fn script() -> PathBuf {
    crate::repo_root().join("scripts").join("mlflow-server.sh")
}

/// A server this process started (see [`mlflow`]).
#[derive(Debug)]
pub struct MlflowServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// The MLflow server's base URL (`http://127.0.0.1:PORT`), started once per test binary if not given.
pub fn mlflow() -> &'static str {
    static SERVER: OnceLock<MlflowServer> = OnceLock::new();
    &SERVER
        .get_or_init(|| {
            if let Some(u) = std::env::var("MLFLOW_TRACKING_URI").ok().filter(|u| u.starts_with("http://127.0.0.1")) {
                return MlflowServer { url: u.trim_end_matches('/').to_string() };
            }
            let dir = std::env::temp_dir().join(format!("runlog-mlflow-test-{}", std::process::id()));
            let port = crate::free_port();
            let out = Command::new("bash")
                .arg(script())
                .args(["start", &port.to_string()])
                .arg(&dir)
                .stderr(Stdio::inherit())
                .output()
                .expect("bash runs scripts/mlflow-server.sh");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.status.success(), "scripts/mlflow-server.sh could not start MLflow on port {port}: {text}");
            // Stops the server when this test binary exits, however it exits. `setsid -f` forks the watchdog into
            // its own session and returns at once.
            let watchdog = format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; bash '{}' stop '{}'; rm -rf '{}'",
                std::process::id(),
                script().display(),
                dir.display(),
                dir.display()
            );
            Command::new("setsid")
                .args(["-f", "sh", "-c", &watchdog])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("start the MLflow watchdog");
            MlflowServer { url: format!("http://127.0.0.1:{port}") }
        })
        .url
}

/// The MLflow server's port.
pub fn mlflow_port() -> u16 {
    mlflow().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in MLFLOW_TRACKING_URI")
}

/// A name no other test uses (experiments are shared by every test of the server).
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{n}", std::process::id())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build().expect("client")
}

/// `POST /api/2.0/mlflow/{path}`.
pub async fn post(path: &str, body: Value) -> Value {
    let r = client().post(format!("{}/api/2.0/mlflow/{path}", mlflow())).json(&body).send().await.expect("POST");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "POST {path}: {status}: {text}");
    serde_json::from_str(&text).expect("json")
}

/// `GET /api/2.0/mlflow/{path_and_query}`.
pub async fn get(path_and_query: &str) -> Value {
    let r = client().get(format!("{}/api/2.0/mlflow/{path_and_query}", mlflow())).send().await.expect("GET");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "GET {path_and_query}: {status}: {text}");
    serde_json::from_str(&text).expect("json")
}

fn q(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The experiment's id.
pub async fn experiment_id(name: &str) -> String {
    let e = get(&format!("experiments/get-by-name?experiment_name={}", q(name))).await;
    e["experiment"]["experiment_id"].as_str().expect("id").to_string()
}

/// Every MLflow run tagged with this runlog run id (there must be exactly one).
pub async fn runs_of(experiment: &str, runlog_id: &str) -> Vec<Value> {
    let id = experiment_id(experiment).await;
    let r = post(
        "runs/search",
        json!({"experiment_ids": [id], "filter": format!("tags.`runlog.run_id` = '{runlog_id}'"), "max_results": 100}),
    )
    .await;
    r["runs"].as_array().cloned().unwrap_or_default()
}

/// The one MLflow run of a runlog run.
pub async fn run_of(experiment: &str, runlog_id: &str) -> Value {
    let runs = runs_of(experiment, runlog_id).await;
    assert_eq!(runs.len(), 1, "MLflow runs tagged runlog.run_id={runlog_id}");
    runs[0].clone()
}

/// A value as MLflow gives it back (numbers, or "NaN").
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => other.as_f64().expect("number"),
    }
}

/// Every point of a metric: (step, timestamp, value), in MLflow's order.
pub async fn history(run_id: &str, key: &str) -> Vec<(i64, i64, f64)> {
    let h = get(&format!("metrics/get-history?run_id={run_id}&metric_key={}", q(key))).await;
    h["metrics"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| (m["step"].as_i64().expect("step"), m["timestamp"].as_i64().expect("ts"), num(&m["value"])))
                .collect()
        })
        .unwrap_or_default()
}

/// A value as MLflow stores it: ±infinity become ±f64::MAX.
pub fn stored(v: f64) -> f64 {
    if v == f64::INFINITY {
        f64::MAX
    } else if v == f64::NEG_INFINITY {
        -f64::MAX
    } else {
        v
    }
}

/// Whether two values are the same point value (NaN equals NaN, -0 equals 0).
pub fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

/// An artifact of a run (`path` relative to its artifact root), or `None`.
pub async fn artifact(run: &Value, path: &str) -> Option<Vec<u8>> {
    let root = run["info"]["artifact_uri"].as_str().expect("artifact_uri");
    let root = root.strip_prefix("mlflow-artifacts:/").expect("proxied artifacts");
    let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{root}/{path}", mlflow());
    let r = client().get(url).send().await.expect("GET artifact");
    if r.status().as_u16() == 404 {
        return None;
    }
    assert!(r.status().is_success(), "artifact {path}: {}", r.status());
    Some(r.bytes().await.expect("bytes").to_vec())
}

/// A run's tags (or params) as a map.
pub fn pairs(run: &Value, what: &str) -> std::collections::HashMap<String, String> {
    run["data"][what]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (kv["key"].as_str().unwrap_or("").to_string(), kv["value"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A child process killed when dropped.
pub fn closed_port() -> u16 {
    crate::free_port()
}

/// Asserts that MLflow holds exactly the store's scalar series of a run: every point once, same step, timestamp
/// and value (±infinity as ±f64::MAX). Series named in `refused` must be absent.
pub async fn assert_series_equal(
    store: &runlog_core::Store,
    experiment: &str,
    run: &runlog_core::RunId,
    refused: &[&str],
) {
    let reader = store.reader();
    let ml = run_of(experiment, run.as_str()).await;
    let ml_id = ml["info"]["run_id"].as_str().expect("run id").to_string();
    for m in reader.metrics(run).expect("metrics") {
        if m.kind != runlog_core::MetricKind::Scalar {
            continue;
        }
        if refused.contains(&m.name.as_str()) {
            assert!(history(&ml_id, &m.name).await.is_empty(), "refused series {} is in MLflow", m.name);
            continue;
        }
        let mut local: Vec<(i64, i64, f64)> =
            reader.series(run, &m.name).expect("series").iter().map(|p| (p.step, p.timestamp_ms, p.value)).collect();
        let mut remote = history(&ml_id, &m.name).await;
        let key = |p: &(i64, i64, f64)| (p.0, p.1, stored(p.2).to_bits());
        local.sort_by_key(key);
        remote.sort_by_key(key);
        assert_eq!(remote.len(), local.len(), "points of {}/{} in MLflow", run.as_str(), m.name);
        for (l, r) in local.iter().zip(&remote) {
            assert_eq!((l.0, l.1), (r.0, r.1), "step and timestamp of {}", m.name);
            assert!(same(stored(l.2), r.2), "{}: {} != {}", m.name, l.2, r.2);
        }
    }
}
