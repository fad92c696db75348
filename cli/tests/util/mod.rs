//! Shared helpers of the end-to-end tests: run the real `runlog` binary, build stores with known runs, snapshot files
//! to prove nothing was written, a blocking HTTP client for loopback servers (reqwest) and a headless browser
//! (fantoccini over chromedriver).
#![allow(dead_code)]

pub mod sync;

use runlog_core::{Store, Value};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_runlog");

/// A `runlog` command on a store, with a clean environment (no inherited store, run or colour settings).
pub fn cmd(store: &Path) -> Command {
    runlog_testkit::runlog_command(BIN, store)
}

/// Runs `runlog --store STORE ARGS...` and returns its output.
pub fn runlog(store: &Path, args: &[&str]) -> Output {
    cmd(store).args(args).stdin(Stdio::null()).output().expect("run the runlog binary")
}

/// Runs `runlog` with `input` on stdin.
pub fn runlog_stdin(store: &Path, args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    let mut c = cmd(store);
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("spawn runlog");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait for runlog")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "runlog failed ({:?}): {}", o.status, stderr(o));
    stdout(o)
}

/// Asserts a failure with `code`, a single stderr line starting with `runlog:` that contains `needle`, and no stdout.
pub fn fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr, got: {err:?}");
    assert!(err.starts_with("runlog: "), "stderr starts with runlog: {err:?}");
    assert!(err.contains(needle), "stderr names {needle:?}: {err:?}");
    assert!(o.stdout.is_empty(), "nothing on stdout: {:?}", stdout(o));
}

/// Every file in a directory with its size and a hash of its bytes: compare before and after to prove nothing was
/// written. A `-shm` file is left out: it is SQLite's shared-memory index of the WAL, which every reader of a WAL
/// store updates (read marks); it holds no data.
pub fn dir_state(dir: &Path) -> BTreeMap<PathBuf, (usize, u64)> {
    use std::hash::{Hash as _, Hasher as _};
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("dir entry").path();
        if p.is_file() && !p.to_string_lossy().ends_with("-shm") {
            let bytes = std::fs::read(&p).expect("read file");
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            m.insert(p.clone(), (bytes.len(), h.finish()));
        }
    }
    m
}

/// Opens (creating) a store that commits every millisecond, so blocking calls (params, ends) return at once.
pub fn open_store(path: impl AsRef<Path>) -> Store {
    Store::builder(path.as_ref())
        .flush_interval(Duration::from_millis(1))
        .open()
        .unwrap_or_else(|e| panic!("open store {}: {e}", path.as_ref().display()))
}

/// The ids of the fixture's runs.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The store file.
    pub store: PathBuf,
    /// mnist/adam: completed, loss = 1/(step+1) for 10 steps, acc 3 points, a row, a table, an image, a file.
    pub adam: String,
    /// mnist/sgd: failed ("diverged"), loss = 2 - step/10 for 5 steps.
    pub sgd: String,
    /// cifar/base: completed, no metrics.
    pub base: String,
}

/// A tiny valid PNG (w x h, one colour).
pub fn png(w: u32, h: u32, rgb: (u8, u8, u8)) -> Vec<u8> {
    let mut p = tiny_skia::Pixmap::new(w, h).expect("pixmap size");
    p.fill(tiny_skia::Color::from_rgba8(rgb.0, rgb.1, rgb.2, 255));
    p.encode_png().expect("encode png")
}

/// Writes a store with known runs into `dir`.
pub fn fixture(dir: &Path) -> Fixture {
    let path = dir.join("runs.db");
    let store = open_store(&path);
    let adam = store.start_named_run("mnist", "adam").expect("start run");
    adam.log_param("lr", 0.001).expect("param");
    adam.log_param("optimizer", "adam").expect("param");
    adam.set_tag("stage", "final").expect("tag");
    adam.add_property("host", "test").expect("property");
    for step in 0..10 {
        adam.log("loss", 1.0 / (step as f64 + 1.0)).expect("log");
    }
    for (s, v) in [(0, 0.5), (5, 0.75), (9, 0.9)] {
        adam.log_at("acc", s, v).expect("log");
    }
    for e in 0..3 {
        adam.log_row("epoch", [("epoch", Value::from(e)), ("val_loss", Value::from(1.0 - e as f64 * 0.25))])
            .expect("row");
    }
    adam.log_table(
        "pr",
        [("p", vec![Value::from(1.0), Value::from(0.8)]), ("r", vec![Value::from(0.1), Value::from(0.6)])],
    )
    .expect("table");
    adam.log_image("samples", &png(16, 8, (200, 30, 30)), "red sample at step 0").expect("image");
    adam.log_image("samples", &png(16, 8, (30, 30, 200)), "blue sample at step 1").expect("image");
    adam.upload_bytes("config.yaml", b"lr: 0.001\n".to_vec()).expect("file");
    adam.log_line("stdout", "OUT", "", "epoch 1 done").expect("log line");
    adam.complete().expect("complete");
    let sgd = store.start_named_run("mnist", "sgd").expect("start run");
    for step in 0..5 {
        sgd.log("loss", 2.0 - step as f64 / 10.0).expect("log");
    }
    sgd.fail("diverged").expect("fail");
    let base = store.start_named_run("cifar", "base").expect("start run");
    base.complete().expect("complete");
    store.flush().expect("flush");
    Fixture { store: path, adam: adam.id().to_string(), sgd: sgd.id().to_string(), base: base.id().to_string() }
}

/// A response of [`http`].
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased, one entry per value.
    pub headers: Vec<(String, String)>,
    /// Body bytes (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The one blocking client of the test binary. Redirects are not followed (tests assert the 3xx itself), no proxy
/// from the environment is used (tests touch loopback only), and no idle connection is kept: the servers under test
/// are started and killed test by test.
fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("build the HTTP client")
    })
}

/// One request; a JSON `body` is sent as `application/json`. An error means no response came (refused, reset,
/// timed out); any status is a response.
pub fn try_http(method: &str, url: &str, body: Option<&serde_json::Value>) -> reqwest::Result<Response> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("method {method:?}: {e}"));
    let mut req = client().request(method, url);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send()?;
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).trim().to_string()))
        .collect();
    let body = r.bytes()?.to_vec();
    Ok(Response { status, headers, body })
}

/// One request to a loopback `http://host:port/path` URL; panics when no response comes.
pub fn http(method: &str, url: &str, body: Option<&serde_json::Value>) -> Response {
    try_http(method, url, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// A free loopback port (bound and released; good enough for tests that start one server each).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A headless Chromium driven through chromedriver with fantoccini (WebDriver over loopback), for tests of the web
/// UI. Needs Debian's `chromium` and `chromium-driver` (scripts/test-env.sh installs them); RUNLOG_CHROMIUM and
/// RUNLOG_CHROMEDRIVER override the paths. A missing browser fails the test with a message saying so.
///
/// The tests are synchronous: [`Browser`] holds its own single-threaded tokio runtime and blocks on each command.
/// fantoccini's session task and its HTTP connection run only inside those `block_on` calls, which is enough: every
/// command waits for its answer.
pub mod browser {
    use super::{free_port, try_http};
    use serde_json::{Value as Json, json};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// How long a page may take to become ready before the test fails (a bound, not a performance assertion).
    pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

    /// A child process killed when dropped.
    pub struct Killed(pub Child);

    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// `test-artifacts/` at the workspace root (created).
    pub fn artifacts() -> PathBuf {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("test-artifacts");
        std::fs::create_dir_all(&d).expect("create test-artifacts/");
        d
    }

    /// A WebDriver session on a headless Chromium. Dropping it ends the session, then kills chromedriver.
    pub struct Browser {
        // Field order is drop order: the session's client before the runtime it runs on, chromedriver after both.
        client: fantoccini::Client,
        rt: tokio::runtime::Runtime,
        _driver: Killed,
        _profile: tempfile::TempDir,
    }

    impl Browser {
        /// Starts chromedriver on a free port and opens a session.
        pub fn start() -> Browser {
            runlog_cli::install_crypto_provider();
            let chromium = std::env::var("RUNLOG_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
            let driver = std::env::var("RUNLOG_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
            for p in [&chromium, &driver] {
                assert!(
                    Path::new(p).exists(),
                    "{p} is missing: the UI tests need Debian's chromium and chromium-driver; run scripts/test-env.sh \
                     (apt-get install -y chromium chromium-driver) or set RUNLOG_CHROMIUM / RUNLOG_CHROMEDRIVER"
                );
            }
            let port = free_port();
            let child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn chromedriver");
            let driver_proc = Killed(child);
            let base = format!("http://127.0.0.1:{port}");
            let start = Instant::now();
            while !try_http("GET", &format!("{base}/status"), None).is_ok_and(|r| r.json()["value"]["ready"] == true) {
                assert!(start.elapsed() < PAGE_TIMEOUT, "chromedriver did not get ready on port {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
            let profile = tempfile::tempdir().expect("profile dir");
            let args = [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1400,1000",
                &format!("--user-data-dir={}", profile.path().display()),
            ];
            let caps = json!({
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            });
            let Json::Object(caps) = caps else { unreachable!("a JSON object literal") };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            let client = rt
                .block_on(async {
                    fantoccini::ClientBuilder::rustls()
                        .expect("rustls with the system's roots")
                        .capabilities(caps)
                        .connect(&base)
                        .await
                })
                .unwrap_or_else(|e| panic!("chromedriver refused a session: {e}"));
            Browser { client, rt, _driver: driver_proc, _profile: profile }
        }

        /// Navigates without waiting for the app.
        pub fn open(&self, url: &str) {
            self.rt.block_on(self.client.goto(url)).unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
        }

        /// Navigates and waits until the app marks the page ready.
        pub fn goto(&self, url: &str) {
            self.open(url);
            self.wait("document.body && document.body.dataset.ready === '1'", url);
        }

        /// Runs a script (its `return` value comes back).
        pub fn js(&self, script: &str) -> Json {
            self.rt
                .block_on(self.client.execute(script, Vec::new()))
                .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
        }

        /// Polls a JS expression until it is true.
        pub fn wait(&self, expr: &str, what: &str) {
            let start = Instant::now();
            loop {
                if self.js(&format!("return !!({expr});")) == true {
                    return;
                }
                assert!(start.elapsed() < PAGE_TIMEOUT, "waited for {what}: {expr} never became true");
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        /// Saves a screenshot as `test-artifacts/NAME`.
        pub fn screenshot(&self, name: &str) {
            let png = self.rt.block_on(self.client.screenshot()).unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
            assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
            std::fs::write(artifacts().join(name), png).expect("save screenshot");
        }
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            // Ends the WebDriver session (Chromium exits); chromedriver is killed after, by its own drop.
            let _ = self.rt.block_on(self.client.clone().close());
        }
    }
}

/// Starts `runlog ui` on `store` on a free loopback port; returns the process and its base URL (no trailing slash).
pub fn start_ui(store: &Path) -> (browser::Killed, String) {
    use std::io::BufRead as _;
    let mut child = cmd(store)
        .args(["ui", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn runlog ui");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the URL line");
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("a URL on the first line").to_string();
    (browser::Killed(child), url.trim_end_matches('/').to_string())
}
