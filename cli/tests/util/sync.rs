//! Helpers of the CLI sync tests: the real `runlog` binary, a real `runlog serve` on 127.0.0.1:0, the fault proxy
//! (runlog-testkit's, in process), and a value-by-value comparison of a store with what the server holds.

use runlog_core::{Store, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_runlog")
}

/// A `runlog` command with a private config directory and the in-process agent off.
pub fn runlog(cfg: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env("RUNLOG_CONFIG_DIR", cfg).env("HOME", cfg).env_remove("RUNLOG_REMOTE").env_remove("RUNLOG_TOKEN");
    c.env("RUNLOG_SYNC", "0");
    // A command that falls back to ./runlog.db finds it in the test's temp directory, never in the repository.
    c.current_dir(cfg.parent().unwrap_or(cfg));
    c
}

pub use runlog_testkit::{Proc, png};

/// A server's URL and a workspace token: what the read API needs.
pub struct Api {
    pub url: String,
    pub token: String,
}

/// `runlog serve` on a free loopback port (or `port`).
pub struct Server {
    pub proc: Proc,
    pub api: Api,
    pub url: String,
    pub port: u16,
    pub token: String,
    pub data: PathBuf,
}

impl std::ops::Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

pub fn serve(cfg: &Path, data: &Path, port: u16, extra: &[&str]) -> Server {
    let at = ["--data".to_string(), data.display().to_string()];
    serve_at(cfg, &at, port, extra)
}

/// `runlog serve` on a free loopback port (or `port`) with its storage given by `at` (`--data DIR`, or
/// `--database URL --blobs URL`). Without a token printed (the workspace existed), `token` is empty.
pub fn serve_at(cfg: &Path, at: &[String], port: u16, extra: &[&str]) -> Server {
    let data = at.iter().position(|a| a == "--data").and_then(|i| at.get(i + 1)).map(PathBuf::from);
    let mut c = runlog(cfg);
    c.arg("serve").args(at).arg("--listen").arg(format!("127.0.0.1:{port}")).args(extra);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn runlog serve");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut token = String::new();
    let mut url = String::new();
    while url.is_empty() {
        let line = lines.next().expect("serve printed its address").expect("read line");
        if let Some(t) = line.strip_prefix("token ") {
            token = t.trim().to_string();
        }
        if let Some(u) = line.strip_prefix("listening on ") {
            url = u.trim().to_string();
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    if token.is_empty() {
        if let Some(data) = &data {
            let o = runlog(cfg).args(["admin", "--data"]).arg(data).args(["create-token", "default"]).output();
            let o = o.expect("admin");
            token = String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("token ").to_string();
        }
    }
    let api = Api { url: url.clone(), token: token.clone() };
    Server { proc: Proc(child), api, url, port, token, data: data.unwrap_or_default() }
}

/// A remote of every store of this test's user (`--global`: the config directory is the test's own).
pub fn add_remote(cfg: &Path, name: &str, url: &str, token: &str) {
    let o = runlog(cfg).args(["remote", "add", "--global", name, url, "--token", token]).output().expect("remote add");
    assert!(o.status.success(), "remote add: {}", String::from_utf8_lossy(&o.stderr));
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

pub fn get(s: &Api, path: &str) -> serde_json::Value {
    rt().block_on(async {
        let r = reqwest::Client::new().get(format!("{}{path}", s.url)).bearer_auth(&s.token).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    })
}

pub fn get_bytes(s: &Api, path: &str) -> Vec<u8> {
    rt().block_on(async {
        let r = reqwest::Client::new().get(format!("{}{path}", s.url)).bearer_auth(&s.token).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.bytes().await.expect("bytes").to_vec()
    })
}

fn f(v: &serde_json::Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("Infinity") => f64::INFINITY,
        Some("-Infinity") => f64::NEG_INFINITY,
        _ => v.as_f64().expect("number"),
    }
}

/// Asserts the server holds exactly the store's runs, points (every value), rows, texts and images (bytes too).
pub fn assert_equal(s: &Api, store_path: &Path) {
    let reader = runlog_core::Reader::open(store_path).expect("reader");
    let runs = reader.runs().expect("runs");
    assert_eq!(get(s, "/api/v1/runs").as_array().expect("runs").len(), runs.len(), "number of runs");
    for run in &runs {
        let id = run.id.as_str();
        let r = get(s, &format!("/api/v1/runs/{id}"));
        assert_eq!(
            (r["experiment"].as_str(), r["name"].as_str()),
            (Some(run.experiment.as_str()), Some(run.name.as_str()))
        );
        assert_eq!(r["params"].as_object().map(|m| m.len()), Some(run.params.len()));
        let local_metrics = reader.metrics(&run.id).expect("metrics");
        let remote_metrics = get(s, &format!("/api/v1/runs/{id}/metrics"));
        assert_eq!(remote_metrics.as_array().expect("metrics").len(), local_metrics.len(), "metric names of {id}");
        for m in local_metrics {
            match m.kind {
                runlog_core::MetricKind::Scalar => {
                    let local = reader.series(&run.id, &m.name).expect("series");
                    let remote = get(s, &format!("/api/v1/runs/{id}/series/{}", m.name));
                    let pts = remote["points"].as_array().expect("points");
                    assert_eq!(pts.len(), local.len(), "points of {id}/{}", m.name);
                    for (p, q) in local.iter().zip(pts) {
                        assert_eq!((q[0].as_i64(), q[1].as_i64()), (Some(p.step), Some(p.timestamp_ms)));
                        let v = f(&q[2]);
                        assert!(
                            v.to_bits() == p.value.to_bits() || (v.is_nan() && p.value.is_nan()),
                            "{v} != {}",
                            p.value
                        );
                    }
                }
                runlog_core::MetricKind::Image => {
                    let local = reader.images(&run.id, Some(&m.name)).expect("images");
                    let remote = get(s, &format!("/api/v1/runs/{id}/entries/image?name={}", m.name));
                    let arr = remote.as_array().expect("images");
                    assert_eq!(arr.len(), local.len(), "images of {id}/{}", m.name);
                    for (l, r) in local.iter().zip(arr) {
                        assert_eq!(r["body"]["hash"].as_str(), Some(l.value.hash.as_str()));
                        assert_eq!(r["step"].as_i64(), l.step);
                    }
                }
                runlog_core::MetricKind::Row => {
                    let local = reader.rows(&run.id, &m.name).expect("rows");
                    let remote = get(s, &format!("/api/v1/runs/{id}/entries/row?name={}", m.name));
                    let arr = remote.as_array().expect("rows");
                    assert_eq!(arr.len(), local.len());
                    for (l, r) in local.iter().zip(arr) {
                        for ((k, v), c) in l.value.columns.iter().zip(r["body"]["columns"].as_array().expect("cols")) {
                            assert_eq!(c[0].as_str(), Some(k.as_str()));
                            match v {
                                Value::F64(x) => assert_eq!(f(&c[1]).to_bits(), x.to_bits()),
                                Value::I64(i) => assert_eq!(c[1].as_i64(), Some(*i)),
                                Value::Bool(b) => assert_eq!(c[1].as_bool(), Some(*b)),
                                Value::Str(t) => assert_eq!(c[1].as_str(), Some(t.as_str())),
                            }
                        }
                    }
                }
                _ => {
                    let kind = if m.kind == runlog_core::MetricKind::Text { "text" } else { "table" };
                    let remote = get(s, &format!("/api/v1/runs/{id}/entries/{kind}?name={}", m.name));
                    assert_eq!(remote.as_array().expect("entries").len() as u64, m.count);
                }
            }
        }
    }
}

/// Logs `runs` runs with `points` scalar points in all (over 3 names each), `images` images of which half are the
/// same bytes, a row, a table, a text and params.
pub fn log_workload(path: &Path, runs: usize, points: usize, images: usize) -> Store {
    let store = Store::open(path).expect("store");
    let per_run = points / runs;
    let same = png(b"the same image");
    let mut img = 0;
    for r in 0..runs {
        let run = store.start_named_run("e2e", &format!("run-{r}")).expect("run");
        run.log_param("index", r as i64).expect("param");
        for i in 0..per_run + if r == 0 { points % runs } else { 0 } {
            let name = ["loss", "acc", "lr"][i % 3];
            run.log(name, (i as f64).sin() * 1e3 + r as f64).expect("log");
        }
        while img < images * (r + 1) / runs {
            if img % 2 == 0 {
                run.log_image("same", same.as_slice(), "identical").expect("image");
            } else {
                run.log_image("distinct", png(format!("distinct {img}").as_bytes()).as_slice(), "").expect("image");
            }
            img += 1;
        }
        run.log_row("eval", [("epoch", Value::from(r as i64)), ("acc", Value::from(0.5 + r as f64 / 10.0))])
            .expect("row");
        run.log_text("notes", &format!("run {r}")).expect("text");
        run.complete().expect("complete");
    }
    store.flush().expect("flush");
    store
}

pub fn stats(s: &Api) -> serde_json::Value {
    get(s, "/api/v1/stats")
}
