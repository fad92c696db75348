//! Shared helpers of the sync integration tests: a real workspace server on 127.0.0.1:0, stores with data, and a
//! comparison of a store with what the server holds, value by value.
#![allow(dead_code)]

pub mod remotes;

use runlog_core::{RunId, Store, Value};
use runlog_server::{Admin, AppState, SqliteStorage, Storage};
use runlog_sync::ServiceLimits;
use std::sync::Arc;

/// A server running on its own thread and runtime.
pub struct TestServer {
    pub url: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub storage: Arc<SqliteStorage>,
    pub port: u16,
}

pub fn start_server(limits: ServiceLimits) -> TestServer {
    let dir = tempfile::tempdir().expect("server dir");
    start_server_in(dir, limits, 0)
}

pub fn start_server_in(dir: tempfile::TempDir, limits: ServiceLimits, port: u16) -> TestServer {
    let storage = Arc::new(SqliteStorage::open(dir.path()).expect("open storage"));
    let token = match runlog_testkit::block_on(storage.workspaces()).expect("list").first() {
        Some(w) => runlog_testkit::block_on(storage.create_token(&w.name)).expect("token"),
        None => runlog_testkit::block_on(storage.create_workspace("default")).expect("workspace"),
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let state = AppState::new(storage.clone() as Arc<dyn Storage>, limits);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let _ = rt.block_on(runlog_server::serve(listener, state, None));
    });
    TestServer { url: format!("http://127.0.0.1:{port}"), token, dir, storage, port }
}

/// A minimal PNG (signature + IHDR) followed by `salt`, so distinct salts make distinct blobs.
pub fn png(w: u32, h: u32, salt: &[u8]) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(salt);
    b
}

/// A confusion matrix in Azure's schema.
pub const CHART: &str = r#"{"schema_type": "confusion_matrix", "schema_version": "1.0.0",
    "data": {"class_labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}}"#;

/// Logs one run with every kind of record.
pub fn log_every_kind(store: &Store, points: usize) -> RunId {
    let run = store.start_named_run("exp", "all-kinds").expect("run");
    for i in 0..points {
        run.log("loss", 1.0 / (i as f64 + 1.0)).expect("log");
    }
    run.log("weird", f64::NAN).expect("nan");
    run.log("val/accuracy", 0.75).expect("a name with a slash");
    run.log("weird", f64::INFINITY).expect("inf");
    run.log("weird", -0.0).expect("neg zero");
    run.log_param("lr", 0.01).expect("param");
    run.log_param("name", "adam").expect("param");
    run.set_tag("model", "mlp").expect("tag");
    run.log_row("eval", [("epoch", Value::from(1)), ("acc", Value::from(0.9)), ("ok", Value::from(true))])
        .expect("row");
    run.log_table(
        "conf",
        [("label", vec![Value::from("a"), Value::from("b")]), ("n", vec![Value::from(3), Value::from(4)])],
    )
    .expect("table");
    run.log_text("notes", "hello").expect("text");
    run.log_chart("cm", None, CHART).expect("chart");
    run.log_image("img", png(4, 4, b"one").as_slice(), "first").expect("image");
    let child = run.child("child").expect("child");
    child.log("acc", 0.5).expect("child log");
    child.complete().expect("child complete");
    run.complete().expect("complete");
    run.id().clone()
}

pub async fn get_json(s: &TestServer, path: &str) -> serde_json::Value {
    let resp = reqwest::Client::new().get(format!("{}{path}", s.url)).bearer_auth(&s.token).send().await.expect("get");
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().await.expect("json")
}

fn json_f64(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) if s == "NaN" => f64::NAN,
        serde_json::Value::String(s) if s == "Infinity" => f64::INFINITY,
        serde_json::Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => other.as_f64().expect("number"),
    }
}

/// Asserts that the server holds exactly the store's runs, series (every point), rows, texts and images.
pub async fn assert_server_equals_store(s: &TestServer, store: &Store) {
    let reader = store.reader();
    let local_runs = reader.runs().expect("runs");
    let remote_runs = get_json(s, "/api/v1/runs").await;
    assert_eq!(remote_runs.as_array().expect("array").len(), local_runs.len(), "number of runs");
    for run in &local_runs {
        let id = run.id.as_str();
        let r = get_json(s, &format!("/api/v1/runs/{id}")).await;
        assert_eq!(r["experiment"], run.experiment.as_str());
        assert_eq!(r["name"], run.name.as_str());
        if run.status != runlog_core::RunStatus::Crashed {
            assert_eq!(r["status"], run.status.as_str(), "status of {id}");
        }
        assert_eq!(r["params"].as_object().expect("params").len(), run.params.len());
        for m in reader.metrics(&run.id).expect("metrics") {
            match m.kind {
                runlog_core::MetricKind::Scalar => {
                    let local = reader.series(&run.id, &m.name).expect("series");
                    let remote = get_json(s, &format!("/api/v1/runs/{id}/series/{}", m.name)).await;
                    let pts = remote["points"].as_array().expect("points");
                    assert_eq!(pts.len(), local.len(), "points of {id}/{}", m.name);
                    for (p, q) in local.iter().zip(pts) {
                        assert_eq!(q[0].as_i64(), Some(p.step));
                        assert_eq!(q[1].as_i64(), Some(p.timestamp_ms));
                        let v = json_f64(&q[2]);
                        assert!(
                            v.to_bits() == p.value.to_bits() || (v.is_nan() && p.value.is_nan()),
                            "{} != {}",
                            v,
                            p.value
                        );
                    }
                }
                runlog_core::MetricKind::Row => {
                    let local = reader.rows(&run.id, &m.name).expect("rows");
                    let remote = get_json(s, &format!("/api/v1/runs/{id}/entries/row?name={}", m.name)).await;
                    let arr = remote.as_array().expect("rows");
                    assert_eq!(arr.len(), local.len());
                    for (l, r) in local.iter().zip(arr) {
                        assert_eq!(r["step"].as_i64(), l.step);
                        let cols = r["body"]["columns"].as_array().expect("cols");
                        assert_eq!(cols.len(), l.value.columns.len());
                        for ((k, v), c) in l.value.columns.iter().zip(cols) {
                            assert_eq!(c[0], k.as_str());
                            match v {
                                Value::F64(f) => assert_eq!(json_f64(&c[1]).to_bits(), f.to_bits()),
                                Value::I64(i) => assert_eq!(c[1].as_i64(), Some(*i)),
                                Value::Bool(b) => assert_eq!(c[1].as_bool(), Some(*b)),
                                Value::Str(t) => assert_eq!(c[1].as_str(), Some(t.as_str())),
                            }
                        }
                    }
                }
                runlog_core::MetricKind::Image => {
                    let local = reader.images(&run.id, Some(&m.name)).expect("images");
                    let remote = get_json(s, &format!("/api/v1/runs/{id}/entries/image?name={}", m.name)).await;
                    let arr = remote.as_array().expect("images");
                    assert_eq!(arr.len(), local.len());
                    for (l, r) in local.iter().zip(arr) {
                        assert_eq!(r["body"]["hash"], l.value.hash.as_str());
                    }
                }
                runlog_core::MetricKind::Chart => {
                    let local = reader.charts(&run.id, Some(&m.name)).expect("charts");
                    let remote = get_json(s, &format!("/api/v1/runs/{id}/entries/chart?name={}", m.name)).await;
                    let arr = remote.as_array().expect("charts");
                    assert_eq!(arr.len(), local.len());
                    for (l, r) in local.iter().zip(arr) {
                        let doc: serde_json::Value = serde_json::from_str(&l.value.to_json()).expect("json");
                        assert_eq!(r["body"]["chart"], doc, "chart {}", m.name);
                    }
                }
                runlog_core::MetricKind::Text | runlog_core::MetricKind::Table => {
                    let kind = if m.kind == runlog_core::MetricKind::Text { "text" } else { "table" };
                    let remote = get_json(s, &format!("/api/v1/runs/{id}/entries/{kind}?name={}", m.name)).await;
                    assert_eq!(remote.as_array().expect("entries").len() as u64, m.count, "{kind} {}", m.name);
                }
            }
        }
    }
}

pub async fn stats(s: &TestServer) -> runlog_server::Stats {
    serde_json::from_value(get_json(s, "/api/v1/stats").await).expect("stats")
}
