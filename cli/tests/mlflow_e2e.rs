//! End-to-end sync to a real MLflow tracking server through the `runlog` binary: `runlog remote add NAME
//! mlflow+http://...`, `runlog sync` killed with SIGKILL at random moments during a 200k-point sync while the fault
//! proxy loses acknowledgements after MLflow committed, `runlog status` reporting a key MLflow refuses, and bundles
//! imported twice into MLflow.

use runlog_core::{Store, Value};
use runlog_testkit::mlflow::*;
use runlog_testkit::{FaultProxy, Faults, Proc, png};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const FAST: [&str; 4] = ["--backoff-initial-ms", "20", "--backoff-max-ms", "300"];

fn runlog(cfg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runlog"));
    c.env("RUNLOG_CONFIG_DIR", cfg).env("HOME", cfg).env_remove("RUNLOG_REMOTE").env_remove("RUNLOG_TOKEN");
    c.env("RUNLOG_SYNC", "0");
    // A command that falls back to ./runlog.db finds it in the test's temp directory, never in the repository.
    c.current_dir(cfg.parent().unwrap_or(cfg));
    c
}

/// A remote of every store of this test's user (its config directory is the test's own).
fn add_remote(cfg: &Path, name: &str, url: &str) {
    let o = runlog(cfg).args(["remote", "add", "--global", name, url]).output().expect("remote add");
    assert!(o.status.success(), "remote add: {}", String::from_utf8_lossy(&o.stderr));
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn mlflow_gets_every_point_once_under_sigkills_and_lost_acknowledgements() {
    let exp = unique("kills");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let store_path = dir.path().join("train.db");
    let store = Store::open(&store_path).expect("store");
    let mut runs = Vec::new();
    for r in 0..2 {
        let run = store.start_named_run(&exp, &format!("run-{r}")).expect("run");
        run.log_param("index", r as i64).expect("param");
        for i in 0..100_000 {
            run.log(["loss", "acc", "lr", "grad"][i % 4], (i as f64).sin() + r as f64).expect("log");
        }
        run.log_row("eval", [("epoch", Value::from(r as i64)), ("acc", Value::from(0.5))]).expect("row");
        run.log("bad@name", 1.0).expect("a key MLflow refuses");
        run.complete().expect("complete");
        runs.push(run.id().clone());
    }
    store.flush().expect("flush");
    // A tenth of the requests commit in MLflow and the client sees a reset instead of the answer.
    let proxy = FaultProxy::start(mlflow_port(), Faults::none().ack_loss().fraction(0.1).seed(5)).expect("proxy");
    add_remote(&cfg, "ml", &format!("mlflow+http://127.0.0.1:{}", proxy.port));
    let total = runlog_core::Reader::open(&store_path).expect("reader").max_seq().expect("max seq");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let (mut kills, mut progressed, mut last) = (0, 0, runlog_core::Seq::ZERO);
    for _ in 0..12 {
        let mut c = runlog(&cfg);
        c.arg("--store").arg(&store_path).arg("sync").args(FAST);
        let child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("runlog sync");
        let mut p = Proc(child);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(500 + rng % 1500));
        p.0.kill().expect("SIGKILL runlog sync");
        let _ = p.0.wait();
        kills += 1;
        let reader = runlog_core::Reader::open(&store_path).expect("reader");
        let acked = reader.sync_status("ml").expect("status").acked_through;
        if acked > last && acked < total {
            progressed += 1;
        }
        last = acked;
    }
    assert!(kills >= 10);
    // Every kill hit a sync in progress (the last one left records pending), and several lives moved it on.
    assert!(last < total, "the sync finished before the last kill");
    assert!(progressed >= 3, "only {progressed} of {kills} kills interrupted a sync in progress ({last} of {total})");
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "final sync: {text}");
    assert!(text.contains("invalid_name"), "the refused key is reported: {text}");
    let injected = proxy.stop();
    assert!(injected.ack_losses > 0, "no acknowledgement was lost: {injected:?}");

    // `runlog status` names the refused key and its reason; the record stays in the store.
    let st = runlog(&cfg).arg("--store").arg(&store_path).arg("status").output().expect("status");
    let st = String::from_utf8_lossy(&st.stdout).to_string();
    assert!(st.contains("bad@name") && st.contains("invalid_name"), "{st}");

    let store = Store::open(&store_path).expect("store");
    rt().block_on(async {
        for run in &runs {
            // One MLflow run per runlog run, whatever was killed or lost, and every point exactly once.
            assert_eq!(runs_of(&exp, run.as_str()).await.len(), 1, "MLflow runs of {}", run.as_str());
            assert_series_equal(&store, &exp, run, &["bad@name"]).await;
            let ml = run_of(&exp, run.as_str()).await;
            assert_eq!(ml["info"]["status"], "FINISHED");
            let id = ml["info"]["run_id"].as_str().expect("id");
            assert_eq!(history(id, "eval/acc").await.len(), 1);
            assert_eq!(history(id, "loss").await.len(), 25_000);
        }
    });
}

#[test]
fn a_bundle_imported_twice_into_mlflow_lands_once() {
    let exp = unique("bundle");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let store_path = dir.path().join("train.db");
    let store = Store::open(&store_path).expect("store");
    let run = store.start_named_run(&exp, "air-gapped").expect("run");
    for i in 0..3000 {
        run.log("loss", 1.0 / (i as f64 + 1.0)).expect("log");
    }
    let image = png(b"bundle image");
    run.log_image("samples", image.as_slice(), "from a bundle").expect("image");
    run.log_param("lr", 0.5).expect("param");
    run.complete().expect("complete");
    store.flush().expect("flush");
    drop(store);
    let out_dir = dir.path().join("bundles");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let o = runlog(&cfg).arg("--store").arg(&store_path).args(["bundle", "export", "--out"]).arg(&out_dir).output();
    let o = o.expect("export");
    assert!(o.status.success(), "export: {}", String::from_utf8_lossy(&o.stderr));
    let file = std::fs::read_dir(&out_dir).expect("dir").next().expect("a bundle").expect("entry").path();
    add_remote(&cfg, "ml", &format!("mlflow+{}", mlflow()));
    for _ in 0..2 {
        let o = runlog(&cfg).args(["bundle", "import"]).arg(&file).args(["--remote", "ml"]).args(FAST).output();
        let o = o.expect("import");
        assert!(
            o.status.success(),
            "import: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let store = Store::open(&store_path).expect("store");
    rt().block_on(async {
        assert_eq!(runs_of(&exp, run.id().as_str()).await.len(), 1);
        assert_series_equal(&store, &exp, run.id(), &[]).await;
        let ml = run_of(&exp, run.id().as_str()).await;
        assert_eq!(pairs(&ml, "params").get("lr").map(String::as_str), Some("0.5"));
        let id = ml["info"]["run_id"].as_str().expect("id");
        let files = get(&format!("artifacts/list?run_id={id}&path=images/samples")).await;
        let path = files["files"][0]["path"].as_str().expect("image artifact").to_string();
        assert_eq!(artifact(&ml, &path).await.expect("image bytes"), image);
    });
}

#[test]
fn runlog_remote_may_name_an_mlflow_url_without_a_token() {
    let exp = unique("env");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let store_path = dir.path().join("train.db");
    let store = Store::open(&store_path).expect("store");
    let run = store.start_named_run(&exp, "from-env").expect("run");
    for i in 0..2000 {
        run.log("loss", i as f64 / 7.0).expect("log");
    }
    run.set_tag("source", "env").expect("tag");
    run.complete().expect("complete");
    store.flush().expect("flush");
    let url = format!("mlflow+{}", mlflow());
    let out = runlog(&cfg)
        .env("RUNLOG_REMOTE", &url)
        .arg("--store")
        .arg(&store_path)
        .arg("sync")
        .args(FAST)
        .output()
        .expect("sync");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sync: {text}");
    assert!(text.contains("up to date"), "{text}");
    let st = runlog(&cfg).env("RUNLOG_REMOTE", &url).arg("--store").arg(&store_path).arg("status").output();
    let st = String::from_utf8_lossy(&st.expect("status").stdout).to_string();
    assert!(st.contains(&url), "status names the remote: {st}");
    rt().block_on(async {
        assert_series_equal(&store, &exp, run.id(), &[]).await;
        let ml = run_of(&exp, run.id().as_str()).await;
        assert_eq!(pairs(&ml, "tags").get("source").map(String::as_str), Some("env"));
    });
}
