//! What the CLI benchmarks share: the mode and the directory they work in, the real `runlog` binary on a store,
//! `runlog ui` on a free port, HTTP GETs of its API, and a headless Chromium over WebDriver that reads the page's own
//! ready time. HTTP goes through reqwest (WebDriver is JSON over HTTP); divan does the timing.
//!
//! This module belongs to the benchmarks: the tests keep their own helpers, so neither target includes the other's
//! files.
#![allow(dead_code)]

use runlog_core::Store;
use serde_json::{Value as Json, json};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

/// The binary measured.
pub const BIN: &str = env!("CARGO_BIN_EXE_runlog");

/// `cargo bench` (full sizes) rather than `cargo test` (tiny sizes, each benchmark once).
pub static FULL: LazyLock<bool> = LazyLock::new(|| {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
});

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// The benchmark's working directory: `$RUNLOG_BENCH_KEEP` if set (kept, and stores already there are reused, for
/// hyperfine), else a temp directory that lives as long as the returned guard.
pub fn init_dir() -> Option<tempfile::TempDir> {
    let (guard, dir) = match std::env::var_os("RUNLOG_BENCH_KEEP") {
        Some(k) => (None, PathBuf::from(k)),
        None => {
            let t = tempfile::tempdir().expect("temp dir");
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    std::fs::create_dir_all(&dir).expect("bench dir");
    let _ = DIR.set(dir);
    guard
}

/// The directory set by [`init_dir`].
pub fn dir() -> &'static Path {
    DIR.get().expect("init_dir first")
}

/// A `runlog` command on a store, with no inherited store, run, colour or remote settings.
pub fn cmd(store: &Path) -> Command {
    runlog_testkit::runlog_command(BIN, store)
}

/// Runs `runlog --store STORE ARGS...`; panics, with its stderr, if it fails.
pub fn runlog(store: &Path, args: &[&str]) -> Output {
    let o = cmd(store).args(args).stdin(Stdio::null()).output().expect("run the runlog binary");
    assert!(o.status.success(), "runlog {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Opens (creating) a store that commits every millisecond.
pub fn open_store(path: &Path) -> Store {
    Store::builder(path).flush_interval(Duration::from_millis(1)).open().expect("open store")
}

/// Makes a store at `path` with `make` unless it is already there (a kept directory); says how long it took.
pub fn made(path: &Path, what: &str, make: impl FnOnce(&Path)) {
    if !path.exists() {
        let t = Instant::now();
        make(path);
        println!("made {what} in {:.1} s", t.elapsed().as_secs_f64());
    }
}

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `runlog ui` on `store` on a free loopback port; returns the process and its base URL (no trailing slash).
pub fn start_ui(store: &Path) -> (Killed, String) {
    let mut child = cmd(store)
        .args(["ui", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn runlog ui");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("URL line");
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("URL").trim_end_matches('/');
    let url = url.to_string();
    (Killed(child), url)
}

fn client() -> &'static reqwest::blocking::Client {
    static C: LazyLock<reqwest::blocking::Client> = LazyLock::new(|| {
        reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().expect("client")
    });
    &C
}

/// GETs a JSON body; panics unless the answer is 200.
pub fn get_json(url: &str) -> Json {
    let r = client().get(url).send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let body = r.text().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// A WebDriver session on a headless Chromium, if Debian's `chromium` and `chromium-driver` are installed.
pub struct Browser {
    session: String,
    _driver: Killed,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session; `None` when Chromium or its driver is missing.
    pub fn start() -> Option<Browser> {
        let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        if !Path::new(chromium).exists() || !Path::new(driver).exists() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let driver = Killed(child);
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while client().get(format!("{base}/status")).send().is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().ok()?;
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1400,1000",
                     format!("--user-data-dir={}", profile.path().display())]}}}});
        let v: Json = client().post(format!("{base}/session")).json(&caps).send().ok()?.json().ok()?;
        let session = format!("{base}/session/{}", v["value"]["sessionId"].as_str()?);
        Some(Browser { session, _driver: driver, _profile: profile })
    }

    fn command(&self, path: &str, body: Json) -> Json {
        let r = client().post(format!("{}{path}", self.session)).json(&body).send().expect("webdriver");
        let v: Json = r.json().expect("webdriver JSON");
        v["value"].clone()
    }

    /// Runs a script and returns its `return` value.
    pub fn js(&self, script: &str) -> Json {
        self.command("/execute/sync", json!({"script": script, "args": []}))
    }

    /// Navigates and waits (30 s at most) until the page marks itself ready and `also` holds; returns the page's
    /// own navigation-start-to-ready time (`document.body.dataset.readyMs`).
    pub fn load(&self, url: &str, also: &str) -> Option<u64> {
        self.command("/url", json!({ "url": url }));
        let t = Instant::now();
        let ready = format!("return !!(document.body && document.body.dataset.ready === '1' && ({also}))");
        while self.js(&ready) != true {
            if t.elapsed() > Duration::from_secs(30) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.js("return parseInt(document.body.dataset.readyMs, 10)").as_u64()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = client().delete(&self.session).send();
    }
}
