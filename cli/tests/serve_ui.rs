//! The web UI served by `runlog serve` over a synced workspace: a store with known runs is synced to a real
//! `runlog serve` on 127.0.0.1, then the UI's JSON API under `/ui/api/` must answer what `runlog ui` answers over
//! the local store, a real headless Chromium must draw the same points and load the images, and requests without
//! a token, with a wrong one, or with another workspace's token get nothing.

mod util;

use serde_json::{Value as Json, json};
use std::path::PathBuf;
use util::browser::Browser;
use util::sync::{Server, add_remote, runlog, serve};

const FAST: [&str; 4] = ["--backoff-initial-ms", "20", "--backoff-max-ms", "300"];

/// A store with the fixture's runs plus a 200,000-point series with one spike up and one down, synced to a fresh
/// `runlog serve`.
struct Synced {
    _dir: tempfile::TempDir,
    cfg: PathBuf,
    f: util::Fixture,
    server: Server,
}

fn synced() -> Synced {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = util::fixture(dir.path());
    let store = util::open_store(&f.store);
    let long = store.start_named_run("mnist", "long").expect("run");
    for i in 0..200_000i64 {
        let v = match i {
            123_456 => 500.0,
            150_001 => -300.0,
            _ => (i as f64 * 0.001).sin(),
        };
        long.log("wave", v).expect("log");
    }
    long.complete().expect("end");
    store.flush().expect("flush");
    drop(store);
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &[]);
    add_remote(&cfg, "team", &server.url, &server.token);
    let out = runlog(&cfg).arg("--store").arg(&f.store).arg("sync").args(FAST).output().expect("sync");
    assert!(out.status.success(), "sync: {}", String::from_utf8_lossy(&out.stdout));
    Synced { _dir: dir, cfg, f, server }
}

/// A GET with optional headers, redirects not followed.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    util::sync::rt().block_on(async {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client");
        let mut req = client.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let h = r.headers().clone();
        (status, h, r.bytes().await.expect("body").to_vec())
    })
}

fn json_of(url: &str, body: &[u8]) -> Json {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{url} did not answer JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// A GET of the workspace UI's API with the token as a bearer header; asserts 200.
fn ws_api(s: &Server, path: &str) -> Json {
    let url = format!("{}/ui{path}", s.url);
    let (status, _, body) = get(&url, &[("authorization", &format!("Bearer {}", s.token))]);
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    json_of(&url, &body)
}

fn local_api(url: &str, path: &str) -> Json {
    let r = util::http("GET", &format!("{url}{path}"), None);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn points(v: &Json) -> Vec<(i64, f64)> {
    v.as_array()
        .expect("points array")
        .iter()
        .map(|p| (p[0].as_i64().expect("step"), p[1].as_f64().expect("value")))
        .collect()
}

/// Drops what legitimately differs between a local run and its synced copy: the duration of a run is measured to
/// "now" while running and the server derives nothing from heartbeats.
fn comparable(mut run: Json) -> Json {
    if let Some(o) = run.as_object_mut() {
        o.remove("duration_ms");
    }
    run
}

#[test]
fn workspace_ui_api_answers_what_the_local_ui_answers() {
    let s = synced();
    let f = &s.f;
    let (_local, local) = util::start_ui(&f.store);

    // Runs: the same list, the same fields (status, params, tags, last values of metrics).
    let ws_runs = ws_api(&s.server, "/api/runs");
    let local_runs = local_api(&local, "/api/runs");
    assert_eq!(ws_runs.as_array().expect("runs").len(), 4);
    // Runs started in the same millisecond may list in either order: compare as sets, keyed by id.
    let strip = |v: &Json| {
        let mut runs = v.as_array().expect("runs").iter().cloned().map(comparable).collect::<Vec<_>>();
        runs.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        runs
    };
    assert_eq!(strip(&ws_runs), strip(&local_runs));
    assert!(ws_api(&s.server, "/api/info")["source"].as_str().expect("source").contains("workspace default"));

    // One run by experiment/name and by a prefix: metrics, children, files, texts.
    for spec in ["mnist%2Fadam", &f.adam[..30]] {
        let w = ws_api(&s.server, &format!("/api/run?run={spec}"));
        let l = local_api(&local, &format!("/api/run?run={spec}"));
        assert_eq!(w["run"]["id"], f.adam.as_str());
        assert_eq!(comparable(w["run"].clone()), comparable(l["run"].clone()));
        for k in ["metrics", "children", "files", "texts"] {
            assert_eq!(w[k], l[k], "{k} of mnist/adam");
        }
    }

    // Series: short ones exactly; the long one downsampled with its extremes kept, like the local UI.
    for (run, name) in [(&f.adam, "loss"), (&f.adam, "acc"), (&f.sgd, "loss")] {
        let q = format!("/api/series?run={run}&name={name}");
        assert_eq!(ws_api(&s.server, &q), local_api(&local, &q), "{q}");
    }
    let loss = ws_api(&s.server, &format!("/api/series?run={}&name=loss", f.adam));
    assert_eq!(points(&loss["points"]), (0..10).map(|i| (i, 1.0 / (i as f64 + 1.0))).collect::<Vec<_>>());
    let q = "/api/series?run=mnist/long&name=wave&points=500";
    let (w, l) = (ws_api(&s.server, q), local_api(&local, q));
    for k in ["count", "step_min", "step_max", "downsampled"] {
        assert_eq!(w[k], l[k], "{k} of the long series");
    }
    assert_eq!(w["count"], 200_000);
    assert_eq!(w["downsampled"], true);
    let wp = points(&w["points"]);
    assert!(wp.len() <= 1500, "{} points sent", wp.len());
    assert!(wp.contains(&(123_456, 500.0)), "the maximum is kept");
    assert!(wp.contains(&(150_001, -300.0)), "the minimum is kept");
    let q = "/api/series?run=mnist/long&name=wave&from=150000&to=150010";
    assert_eq!(ws_api(&s.server, q)["points"], local_api(&local, q)["points"], "a zoomed range is exact");

    // Rows, tables, images (and their bytes), logs.
    for q in [
        format!("/api/rows?run={}&name=epoch", f.adam),
        format!("/api/table?run={}&name=pr", f.adam),
        format!("/api/images?run={}", f.adam),
        format!("/api/logs?run={}", f.adam),
    ] {
        assert_eq!(ws_api(&s.server, &q), local_api(&local, &q), "{q}");
    }
    let rows = ws_api(&s.server, &format!("/api/rows?run={}&name=epoch", f.adam));
    assert_eq!(rows["rows"][2], json!([2, 0.5]));
    let images = ws_api(&s.server, &format!("/api/images?run={}", f.adam));
    assert_eq!(images.as_array().expect("images").len(), 2);
    for img in images.as_array().expect("images") {
        let hash = img["hash"].as_str().expect("hash");
        let url = format!("{}/ui/api/blob/{hash}", s.server.url);
        let (status, h, bytes) = get(&url, &[("authorization", &format!("Bearer {}", s.server.token))]);
        assert_eq!(status, 200);
        assert_eq!(h.get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
        assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
        let cache = h.get("cache-control").and_then(|v| v.to_str().ok()).expect("cache-control");
        assert!(cache.starts_with("private"), "a blob behind a token is never cached by shared caches: {cache}");
        let local_bytes = util::http("GET", &format!("{local}/api/blob/{hash}"), None).body;
        assert_eq!(bytes, local_bytes, "blob {hash}");
    }

    // Errors are the local UI's: an unknown run is 404, a bad blob hash 400.
    let bearer = format!("Bearer {}", s.server.token);
    let auth = [("authorization", bearer.as_str())];
    for (path, code) in [("/api/run?run=nope", 404), ("/api/series?run=nope&name=loss", 404), ("/runs/nope", 404)] {
        assert_eq!(get(&format!("{}/ui{path}", s.server.url), &auth).0, code, "{path}");
    }
    assert_eq!(get(&format!("{}/ui/api/blob/zz", s.server.url), &auth).0, 400);
    // The page and assets come from the binary, under /ui.
    let (status, _, page) = get(&format!("{}/ui/", s.server.url), &auth);
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("data-base=\"/ui\"") && page.contains("/ui/assets/app.js") && !page.contains("https://"));
    // The sync API is still there beside the UI.
    assert_eq!(util::sync::get(&s.server, "/api/v1/runs").as_array().map(Vec::len), Some(4));
}

#[test]
fn workspace_ui_refuses_missing_wrong_and_foreign_tokens() {
    let s = synced();
    let url = &s.server.url;
    let hash =
        ws_api(&s.server, &format!("/api/images?run={}", s.f.adam))[0]["hash"].as_str().expect("hash").to_string();
    let run_q = format!("/ui/api/run?run={}", s.f.adam);
    let blob_q = format!("/ui/api/blob/{hash}");
    let series_q = format!("/ui/api/series?run={}&name=loss", s.f.adam);
    let data_paths = ["/ui/api/runs", run_q.as_str(), blob_q.as_str(), series_q.as_str(), "/ui/", "/ui/assets/app.js"];

    // No token, a wrong token (as a header, a cookie, or in the address): 401 and nothing of the workspace.
    let wrong = "rlt_0000000000000000000000000000000000000000000000000000000000000000";
    let wrong_bearer = format!("Bearer {wrong}");
    let wrong_cookie = format!("runlog_token={wrong}");
    for headers in [vec![], vec![("authorization", wrong_bearer.as_str())], vec![("cookie", wrong_cookie.as_str())]] {
        for path in data_paths {
            let (status, h, body) = get(&format!("{url}{path}"), &headers);
            assert_eq!(status, 401, "{path} with {headers:?}");
            let text = String::from_utf8_lossy(&body);
            assert!(!text.contains(&s.f.adam) && !text.contains("mnist") && !text.contains("PNG"), "{text}");
            assert!(h.get("set-cookie").is_none());
            if path.starts_with("/ui/api/") {
                assert!(json_of(path, &body)["error"].as_str().expect("error").contains("token"));
            }
        }
    }
    for q in [format!("/ui/?token={wrong}"), "/ui/?token=a%0d%0aSet-Cookie:%20x=y".to_string()] {
        let (status, h, body) = get(&format!("{url}{q}"), &[]);
        assert_eq!(status, 401, "{q}");
        assert!(h.get("set-cookie").is_none(), "no cookie for a bad token");
        assert!(!String::from_utf8_lossy(&body).contains("mnist"));
    }

    // The right token in the address: a redirect without it and an HttpOnly, SameSite=Strict cookie for /ui.
    let (status, h, _) = get(&format!("{url}/ui/compare?runs=a,b&token={}", s.server.token), &[]);
    assert_eq!(status, 303);
    assert_eq!(h.get("location").and_then(|v| v.to_str().ok()), Some("/ui/compare?runs=a,b"));
    let set = h.get("set-cookie").and_then(|v| v.to_str().ok()).expect("a cookie").to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(part), "{set} has {part}");
    }
    let cookie = set.split(';').next().expect("name=value").to_string();
    assert_eq!(cookie, format!("runlog_token={}", s.server.token));
    let (status, _, body) = get(&format!("{url}/ui/api/runs"), &[("cookie", cookie.as_str())]);
    assert_eq!(status, 200);
    assert_eq!(json_of("runs", &body).as_array().map(Vec::len), Some(4));

    // Another workspace's token opens that workspace only: none of these runs, chunks or blobs.
    let o = runlog(&s.cfg)
        .args(["admin", "--data"])
        .arg(&s.server.data)
        .args(["create-workspace", "other"])
        .output()
        .expect("admin");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let other = String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("token ").to_string();
    let other_bearer = format!("Bearer {other}");
    let h = [("authorization", other_bearer.as_str())];
    let (status, _, body) = get(&format!("{url}/ui/api/runs"), &h);
    assert_eq!((status, json_of("runs", &body)), (200, json!([])));
    for path in [run_q.as_str(), blob_q.as_str(), series_q.as_str()] {
        let (status, _, body) = get(&format!("{url}{path}"), &h);
        assert_eq!(status, 404, "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("PNG"));
    }
}

#[test]
fn workspace_ui_in_a_real_browser() {
    let s = synced();
    let f = &s.f;
    let url = &s.server.url;
    let b = Browser::start();

    // Without the cookie: the token page, no data.
    b.open(&format!("{url}/ui/"));
    b.wait("document.getElementById('error')", "the token page");
    let text = b.js("return document.body.textContent");
    assert!(text.as_str().expect("text").contains("no workspace token"), "{text}");
    assert!(!text.as_str().expect("text").contains("mnist"));
    b.screenshot("serve-ui-token-needed.png");

    // The token once in the address; it leaves the address and JavaScript cannot read the cookie.
    b.goto(&format!("{url}/ui/?token={}", s.server.token));
    assert_eq!(b.js("return location.pathname + location.search"), "/ui/");
    assert_eq!(b.js("return document.cookie"), "");
    assert_eq!(b.js("return document.querySelectorAll('#runs tbody tr').length"), 4);
    assert!(b.js("return document.getElementById('source').textContent").as_str().expect("text").contains("default"));
    b.screenshot("serve-ui-runs.png");

    // A run page: the chart draws the logged points, the images load, params, row chart and logs show.
    b.js(&format!("document.querySelector('#runs tbody tr[data-run=\"{}\"] a').click()", f.adam));
    b.wait("location.pathname.startsWith('/ui/runs/') && document.body.dataset.ready === '1'", "the run page");
    b.wait("window.runlogCharts.loss && window.runlogCharts.loss.series.length === 1", "the loss chart");
    let expect: Vec<(i64, f64)> = (0..10).map(|i| (i, 1.0 / (i as f64 + 1.0))).collect();
    assert_eq!(points(&b.js("return window.runlogCharts.loss.series[0].points")), expect);
    let attr: Json = serde_json::from_str(
        b.js("return document.querySelector('canvas[data-title=loss]').dataset.points").as_str().expect("attr"),
    )
    .expect("data-points is JSON");
    assert_eq!(points(&attr), expect);
    assert_eq!(points(&b.js("return window.runlogCharts.acc.series[0].points")), [(0, 0.5), (5, 0.75), (9, 0.9)]);
    b.wait("window.runlogCharts['epoch (rows)'] || window.runlogCharts.epoch", "the row chart");
    b.wait("[...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)", "images");
    assert_eq!(b.js("return document.querySelector('#gallery img').naturalWidth"), 16);
    assert!(b.js("return document.querySelector('#gallery img').src").as_str().expect("src").contains("/ui/api/blob/"));
    assert!(b.js("return document.getElementById('gallery').textContent").as_str().expect("t").contains("blue sample"));
    assert!(b.js("return document.getElementById('params').textContent").as_str().expect("t").contains("0.001"));
    assert!(b.js("return document.getElementById('logs').textContent").as_str().expect("t").contains("epoch 1 done"));
    b.screenshot("serve-ui-run.png");
    b.js("window.scrollTo(0, document.getElementById('gallery').offsetTop - 40)");
    b.screenshot("serve-ui-run-images-logs.png");

    // The long series: downsampled on the server, extremes drawn.
    b.goto(&format!("{url}/ui/runs/mnist%2Flong"));
    b.wait("window.runlogCharts.wave && window.runlogCharts.wave.series.length === 1", "the wave chart");
    let wave = points(&b.js("return window.runlogCharts.wave.series[0].points"));
    assert!(wave.len() < 20_000, "{} points drawn", wave.len());
    assert!(wave.contains(&(123_456, 500.0)) && wave.contains(&(150_001, -300.0)), "extremes drawn");

    // Compare: two runs overlaid.
    // (Ids of runs started in the same millisecond share a long prefix: a prefix of 30 digits is unambiguous here.)
    b.goto(&format!("{url}/ui/compare?runs={},{}", f.adam, &f.sgd[..30]));
    b.wait("window.runlogCharts.loss && window.runlogCharts.loss.series.length === 2", "two series");
    assert_eq!(b.js("return window.runlogCharts.loss.series.map(s => s.label)"), json!(["mnist/adam", "mnist/sgd"]));
    let sgd: Vec<(i64, f64)> = (0..5).map(|i| (i, 2.0 - i as f64 / 10.0)).collect();
    assert_eq!(points(&b.js("return window.runlogCharts.loss.series[1].points")), sgd);
    b.screenshot("serve-ui-compare.png");

    // A bad run id: the app's clear page, inside /ui.
    b.goto(&format!("{url}/ui/runs/0123456789abcdef"));
    let text = b.js("return document.getElementById('error').textContent");
    assert!(text.as_str().expect("text").contains("Run not found"), "{text}");
    assert_eq!(b.js("return document.querySelector('#error a').getAttribute('href')"), "/ui/");
}

#[test]
fn over_tls_the_ui_cookie_is_secure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let o = std::process::Command::new("openssl")
        .current_dir(d)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
        .args(["-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .output()
        .expect("the openssl command must be installed (scripts/test-env.sh installs it) to make a test certificate");
    assert!(o.status.success(), "openssl: {}", String::from_utf8_lossy(&o.stderr));
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let tls = ["--tls-cert", cert.to_str().expect("utf8"), "--tls-key", key.to_str().expect("utf8")];
    let server = serve(&d.join("cfg"), &d.join("srv"), 0, &tls);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let (status, set) = util::sync::rt().block_on(async {
        // Only the cookie's attributes are under test here, not certificate checks (sync_e2e covers those).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        let r = client.get(format!("{}/ui/?token={}", server.url, server.token)).send().await.expect("GET over TLS");
        (r.status().as_u16(), r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_string))
    });
    assert_eq!(status, 303);
    let set = set.expect("a cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Secure"] {
        assert!(set.contains(part), "{set} has {part}");
    }
}
