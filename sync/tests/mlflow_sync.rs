//! The MLflow remote against a real MLflow tracking server on loopback: every log kind read back value by value
//! through MLflow's REST API, 1,500 params and 3,000 metric names split to MLflow's limits, a server that is down
//! during training, and acknowledgements lost after MLflow committed (exactly one copy of every point).

use runlog_core::{Store, Value};
use runlog_sync::agent::{AgentOptions, Backoff, PassSummary, Syncer};
use runlog_sync::remote::Remote;
use runlog_sync::remote::mlflow::{MlflowOptions, MlflowRemote};
use runlog_testkit::mlflow::*;
use runlog_testkit::{FaultProxy, Faults, png};
use std::sync::Arc;
use std::time::Duration;

fn fast() -> AgentOptions {
    AgentOptions {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            multiplier: 2.0,
            jitter: 0.5,
        },
        poll_interval: Duration::from_millis(50),
        ..AgentOptions::default()
    }
}

fn remote_at(url: &str) -> Arc<MlflowRemote> {
    let opts =
        MlflowOptions { timeout: Duration::from_secs(60), settle: Duration::from_millis(100), ..Default::default() };
    Arc::new(MlflowRemote::new(&format!("mlflow+{url}"), "", opts).expect("remote"))
}

async fn sync_once(store: &Store, name: &str, remote: Arc<MlflowRemote>, max: Duration) -> PassSummary {
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let mut s = Syncer::new(store.clone(), name, remote as Arc<dyn Remote>, fast(), rx).expect("syncer");
    let deadline = tokio::time::Instant::now() + max;
    s.pass(Some(deadline), &mut |_, _| {}).await.expect("pass")
}

async fn list(run: &serde_json::Value, path: &str) -> Vec<String> {
    let id = run["info"]["run_id"].as_str().expect("id");
    let r = get(&format!("artifacts/list?run_id={id}&path={path}")).await;
    r["files"]
        .as_array()
        .map(|a| a.iter().map(|f| f["path"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_kind_lands_and_reads_back_value_by_value() {
    let exp = unique("kinds");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("store");
    let run = store.start_named_run(&exp, "all-kinds").expect("run");
    for i in 0..2500 {
        run.log("loss", 1.0 / (i as f64 + 1.0)).expect("log");
    }
    run.log_list("list", &[1.5, 2.5, 3.5]).expect("list");
    run.log("weird", f64::NAN).expect("nan");
    run.log("weird", f64::INFINITY).expect("inf");
    run.log("weird", f64::NEG_INFINITY).expect("-inf");
    run.log("weird", -0.0).expect("-0");
    run.log_at("val/accuracy", 7, 0.75).expect("slash name");
    run.log("loss@1", 1.0).expect("a name MLflow refuses");
    run.describe("loss", "training loss per step").expect("description");
    run.log_param("lr", 0.01).expect("param");
    run.log_param("optimizer", "adam").expect("param");
    run.log_param("layers", 4i64).expect("param");
    run.set_tag("model", "mlp").expect("tag");
    run.set_tag("model", "cnn").expect("later tag wins");
    run.add_property("owner", "team-a").expect("property");
    run.log_row("eval", [("epoch", Value::from(1i64)), ("acc", Value::from(0.9)), ("ok", Value::from(true))])
        .expect("row");
    run.log_row("eval", [("epoch", Value::from(2i64)), ("acc", Value::from(0.95)), ("ok", Value::from(false))])
        .expect("row");
    run.log_row("sample", [("id", Value::from(3i64)), ("label", Value::from("cat"))]).expect("row with a string");
    run.log_table(
        "conf",
        [
            ("label", vec![Value::from("a"), Value::from("b"), Value::from("c")]),
            ("n", vec![Value::from(3i64), Value::from(4i64), Value::from(5i64)]),
            ("p", vec![Value::from(0.25), Value::from(f64::NAN), Value::from(0.5)]),
        ],
    )
    .expect("table");
    run.log_text("notes", "hello mlflow").expect("text");
    let chart = r#"{"schema_type": "residuals", "schema_version": "1.0.0", "data": {"bin_edges": [0, 1, 2], "bin_counts": [3, 5]}}"#;
    run.log_chart("res", None, chart).expect("chart");
    let image = png(b"one image");
    run.log_image("samples", image.as_slice(), "a sample").expect("image");
    let file = b"model weights".to_vec();
    run.upload_bytes("model.bin", file.clone()).expect("file");
    run.log_line("log", "INFO", "train", "epoch 1 done").expect("log line");
    run.log_line("log", "WARN", "train", "slow step").expect("log line");
    let child = run.child("child").expect("child");
    child.log("acc", 0.5).expect("child log");
    child.fail("out of memory").expect("child fails");
    run.complete().expect("complete");
    store.flush().expect("flush");

    let remote = remote_at(mlflow());
    let summary = sync_once(&store, "ml", remote.clone(), Duration::from_secs(120)).await;
    assert!(summary.complete, "{summary:?}");

    // The one refused key is rejected with its reason, kept locally, reported; everything else landed.
    let status = store.reader().sync_status("ml").expect("status");
    assert_eq!(status.rejections.len(), 1, "{:?}", status.rejections);
    let rej = &status.rejections[0];
    assert_eq!((rej.name.as_str(), rej.code.as_str()), ("loss@1", "invalid_name"), "{rej:?}");
    assert!(rej.reason.contains("loss@1"), "{}", rej.reason);

    let reader = store.reader();
    let info = reader.run(run.id()).expect("run info");
    let ml = run_of(&exp, run.id().as_str()).await;
    let ml_id = ml["info"]["run_id"].as_str().expect("id").to_string();
    assert_eq!(ml["info"]["status"], "FINISHED");
    assert_eq!(ml["info"]["run_name"], "all-kinds");
    assert_eq!(ml["info"]["start_time"].as_i64(), Some(info.started_at));
    assert_eq!(ml["info"]["end_time"].as_i64(), info.ended_at);

    // Scalars and lists: every point, its step, its timestamp, its value.
    assert_series_equal(&store, &exp, run.id(), &["loss@1"]).await;
    assert_eq!(history(&ml_id, "loss").await.len(), 2500);
    let weird = history(&ml_id, "weird").await;
    assert!(weird[0].2.is_nan() && weird[1].2 == f64::MAX && weird[2].2 == -f64::MAX && weird[3].2 == 0.0);

    // Params, tags, properties, descriptions.
    let params = pairs(&ml, "params");
    assert_eq!(params.get("lr").map(String::as_str), Some("0.01"));
    assert_eq!(params.get("optimizer").map(String::as_str), Some("adam"));
    assert_eq!(params.get("layers").map(String::as_str), Some("4"));
    assert_eq!(params.len(), 3);
    let tags = pairs(&ml, "tags");
    assert_eq!(tags.get("model").map(String::as_str), Some("cnn"));
    assert_eq!(tags.get("runlog.property.owner").map(String::as_str), Some("team-a"));
    assert_eq!(tags.get("runlog.description.loss").map(String::as_str), Some("training loss per step"));
    assert_eq!(tags.get("runlog.run_id").map(String::as_str), Some(run.id().as_str()));
    assert_eq!(tags.get("runlog.store_id").map(String::as_str), Some(store.id().as_str()));

    // Rows: a metric per numeric column, the row index as step; a row with strings also in the rows journal.
    let local_rows = reader.rows(run.id(), "eval").expect("rows");
    for col in ["epoch", "acc", "ok"] {
        let h = history(&ml_id, &format!("eval/{col}")).await;
        assert_eq!(h.len(), 2, "eval/{col}");
        for (p, row) in h.iter().zip(&local_rows) {
            let v = row.value.columns.iter().find(|(k, _)| k == col).expect("column").1.as_f64().unwrap_or(-1.0);
            let v = if let Value::Bool(b) = row.value.columns.iter().find(|(k, _)| k == col).expect("c").1 {
                if b { 1.0 } else { 0.0 }
            } else {
                v
            };
            assert_eq!((p.0, p.1), (row.step.expect("row step"), row.timestamp_ms));
            assert_eq!(p.2, v, "eval/{col}");
        }
    }
    assert_eq!(history(&ml_id, "sample/id").await.len(), 1);
    assert!(history(&ml_id, "sample/label").await.is_empty(), "strings are not metrics");
    let rows = String::from_utf8(artifact(&ml, "runlog/rows/sample/000000000000.jsonl").await.expect("rows journal"))
        .expect("utf8");
    assert!(rows.contains("\"cat\""), "{rows}");

    // Tables: numeric columns as metrics with the row index as step, the whole table as JSON.
    let n = history(&ml_id, "conf/n").await;
    assert_eq!(n.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(), vec![(0, 3.0), (1, 4.0), (2, 5.0)]);
    let p = history(&ml_id, "conf/p").await;
    assert!(p[1].2.is_nan() && p[2].2 == 0.5);
    let tables = list(&ml, "runlog/tables/conf").await;
    assert_eq!(tables.len(), 1, "{tables:?}");
    let t: serde_json::Value =
        serde_json::from_slice(&artifact(&ml, &tables[0]).await.expect("table artifact")).expect("json");
    assert_eq!(t["columns"][0], serde_json::json!(["label", ["a", "b", "c"]]));
    assert_eq!(t["columns"][2][1][1], "NaN");

    // A chart as MLflow's log_dict keeps a dict: the artifact charts/<name>.json.
    let got: serde_json::Value =
        serde_json::from_slice(&artifact(&ml, "charts/res.json").await.expect("chart artifact")).expect("json");
    assert_eq!(got, serde_json::from_str::<serde_json::Value>(chart).expect("json"));
    // Texts, images, files and log lines as artifacts.
    let texts =
        String::from_utf8(artifact(&ml, "runlog/texts/notes/000000000000.jsonl").await.expect("texts")).expect("utf8");
    assert!(texts.contains("hello mlflow"), "{texts}");
    let images = list(&ml, "images/samples").await;
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(artifact(&ml, &images[0]).await.expect("image"), image);
    let index = String::from_utf8(artifact(&ml, "runlog/images/samples/000000000000.jsonl").await.expect("index"))
        .expect("utf8");
    assert!(index.contains("a sample"), "{index}");
    assert_eq!(artifact(&ml, "model.bin").await.expect("file"), file);
    let logs =
        String::from_utf8(artifact(&ml, "runlog/logs/log/000000000000.jsonl").await.expect("logs")).expect("utf8");
    assert_eq!(logs.lines().count(), 2);
    assert!(logs.contains("epoch 1 done") && logs.contains("slow step"), "{logs}");

    // The child run: its parent, its failure and why.
    let c = run_of(&exp, child.id().as_str()).await;
    assert_eq!(c["info"]["status"], "FAILED");
    let ctags = pairs(&c, "tags");
    assert_eq!(ctags.get("mlflow.parentRunId"), Some(&ml_id));
    assert_eq!(ctags.get("runlog.status_reason").map(String::as_str), Some("out of memory"));
    assert_series_equal(&store, &exp, child.id(), &[]).await;

    // Syncing again sends nothing and changes nothing.
    let again = sync_once(&store, "ml", remote_at(mlflow()), Duration::from_secs(30)).await;
    assert_eq!(again.batches, 0);
    assert_eq!(history(&ml_id, "loss").await.len(), 2500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_hundred_params_and_three_thousand_metric_names_are_split_and_all_land() {
    let exp = unique("wide");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("store");
    let run = store.start_named_run(&exp, "wide").expect("run");
    // A param waits for the writer's group commit: log them from many threads at once.
    std::thread::scope(|sc| {
        for t in 0..50 {
            let run = run.clone();
            sc.spawn(move || {
                for i in (t..1500).step_by(50) {
                    run.log_param(&format!("p{i:04}"), format!("value {i}")).expect("param");
                }
            });
        }
    });
    for i in 0..3000 {
        run.log(&format!("m{i:04}"), i as f64).expect("metric");
    }
    run.complete().expect("complete");
    let remote = remote_at(mlflow());
    let summary = sync_once(&store, "ml", remote.clone(), Duration::from_secs(180)).await;
    assert!(summary.complete, "{summary:?}");
    assert!(store.reader().sync_status("ml").expect("status").rejections.is_empty());
    let st = remote.stats();
    // At most 100 params per request: at least 15 requests for the params, 3 for the metrics.
    assert!(st.log_batches >= 18, "{st:?}");
    assert_eq!(st.points_sent, 3000);
    let ml = run_of(&exp, run.id().as_str()).await;
    let params = pairs(&ml, "params");
    assert_eq!(params.len(), 1500);
    for i in 0..1500 {
        assert_eq!(params.get(&format!("p{i:04}")), Some(&format!("value {i}")), "param p{i:04}");
    }
    let metrics = ml["data"]["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), 3000);
    for m in metrics {
        let key = m["key"].as_str().expect("key");
        let i: f64 = key[1..].parse().expect("index");
        assert_eq!(num(&m["value"]), i, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_down_during_training_and_up_later_gets_everything() {
    let exp = unique("offline");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("store");
    // Nothing listens on this port while the run trains: the agent retries with backoff.
    let port = closed_port();
    let remote = remote_at(&format!("http://127.0.0.1:{port}"));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut syncer =
        Syncer::new(store.clone(), "ml", remote.clone() as Arc<dyn Remote>, fast(), stop_rx).expect("syncer");
    let wake = Arc::new(tokio::sync::Notify::new());
    let w = wake.clone();
    let agent = tokio::spawn(async move { syncer.watch(w).await });
    let run = store.start_named_run(&exp, "offline").expect("run");
    for i in 0..5000 {
        run.log("loss", (i as f64).cos()).expect("log");
        if i % 1000 == 0 {
            run.log_row("eval", [("acc", Value::from(i as f64 / 5000.0))]).expect("row");
            wake.notify_waiters();
        }
    }
    run.log_param("lr", 0.1).expect("param");
    run.complete().expect("complete");
    store.flush().expect("flush");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = store.reader().sync_status("ml").expect("status");
    assert_eq!(before.acked_through, runlog_core::Seq::ZERO, "nothing can be acknowledged while the server is down");
    assert!(before.last_error.is_some(), "the failure is recorded: {before:?}");
    // The server comes up on that port (a plain forwarder to the real MLflow).
    let proxy = FaultProxy::start_on(port, mlflow_port(), Faults::none()).expect("proxy");
    let max = store.reader().max_seq().expect("max seq");
    let start = std::time::Instant::now();
    while store.reader().sync_status("ml").expect("status").acked_through < max {
        assert!(start.elapsed() < Duration::from_secs(120), "the agent did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_tx.send(true).expect("stop");
    agent.await.expect("join").expect("agent");
    assert_series_equal(&store, &exp, run.id(), &[]).await;
    let ml = run_of(&exp, run.id().as_str()).await;
    assert_eq!(ml["info"]["status"], "FINISHED");
    assert_eq!(pairs(&ml, "params").get("lr").map(String::as_str), Some("0.1"));
    let id = ml["info"]["run_id"].as_str().expect("id");
    assert_eq!(history(id, "eval/acc").await.len(), 5);
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acknowledgements_are_reconciled_and_no_point_lands_twice() {
    let exp = unique("ackloss");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("store");
    let run = store.start_named_run(&exp, "ackloss").expect("run");
    for i in 0..30_000 {
        run.log(["a", "b", "c"][i % 3], i as f64).expect("log");
    }
    for i in 0..200 {
        run.log_row("eval", [("step", Value::from(i as i64)), ("acc", Value::from(i as f64 / 200.0))]).expect("row");
        if i % 5 == 0 {
            run.log_param(&format!("p{i}"), i as i64).expect("param");
        }
    }
    run.complete().expect("complete");
    // A quarter of the requests reach MLflow and commit, and the client sees a reset instead of the answer.
    let proxy = FaultProxy::start(mlflow_port(), Faults::none().ack_loss().fraction(0.25).seed(11)).expect("proxy");
    let remote = remote_at(&format!("http://127.0.0.1:{}", proxy.port));
    let summary = sync_once(&store, "ml", remote.clone(), Duration::from_secs(240)).await;
    let injected = proxy.stop();
    assert!(summary.complete, "{summary:?}");
    let st = remote.stats();
    assert!(st.reconciles > 0, "no unknown outcome happened: {st:?} {injected:?}");
    assert!(st.points_found_landed > 0, "reconciling found nothing that had landed: {st:?}");
    // The create's own answer may be the one lost: then the run is found, never created twice.
    assert!(st.runs_created <= 1 && st.runs_created + st.runs_found >= 1, "{st:?}");
    assert_eq!(runs_of(&exp, run.id().as_str()).await.len(), 1, "one MLflow run, whatever was lost");
    // What was found landed was not sent again: every point went on the wire exactly once.
    assert_eq!(st.points_attempted, 30_000 + 400, "{st:?}");
    assert_series_equal(&store, &exp, run.id(), &[]).await;
    let ml = run_of(&exp, run.id().as_str()).await;
    assert_eq!(pairs(&ml, "params").len(), 40);
    let id = ml["info"]["run_id"].as_str().expect("id");
    assert_eq!(history(id, "eval/acc").await.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_mlflow_refuses_is_split_and_only_the_refused_record_is_rejected() {
    let exp = unique("refused");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("runlog.db")).expect("store");
    let run = store.start_named_run(&exp, "refused").expect("run");
    run.log("loss", 1.0).expect("log");
    store.flush().expect("flush");
    let remote = remote_at(mlflow());
    assert!(sync_once(&store, "ml", remote.clone(), Duration::from_secs(60)).await.complete);
    // Someone else sets the param in MLflow; this process does not know (its cache says the run has no params).
    let ml = run_of(&exp, run.id().as_str()).await;
    let id = ml["info"]["run_id"].as_str().expect("id").to_string();
    post("runs/log-parameter", serde_json::json!({"run_id": id, "key": "lr", "value": "9"})).await;
    for i in 0..50 {
        run.log("loss", i as f64).expect("log");
        run.set_tag(&format!("t{i}"), "x").expect("tag");
    }
    run.log_param("lr", 0.1).expect("param");
    run.log_param("momentum", 0.9).expect("param");
    run.complete().expect("complete");
    let summary = sync_once(&store, "ml", remote.clone(), Duration::from_secs(60)).await;
    assert!(summary.complete, "{summary:?}");
    let status = store.reader().sync_status("ml").expect("status");
    assert_eq!(status.rejections.len(), 1, "{:?}", status.rejections);
    assert_eq!((status.rejections[0].name.as_str(), status.rejections[0].code.as_str()), ("lr", "param_changed"));
    assert!(status.rejections[0].reason.contains("lr"), "{}", status.rejections[0].reason);
    let ml = run_of(&exp, run.id().as_str()).await;
    let params = pairs(&ml, "params");
    assert_eq!(params.get("lr").map(String::as_str), Some("9"));
    assert_eq!(params.get("momentum").map(String::as_str), Some("0.9"));
    assert_eq!(pairs(&ml, "tags").keys().filter(|k| k.starts_with('t')).count(), 50);
    assert_series_equal(&store, &exp, run.id(), &[]).await;
}
