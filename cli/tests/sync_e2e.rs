//! End-to-end sync through the real `runlog` binary and a real `runlog serve` on loopback: exactly once under
//! SIGKILLs, faults through the fault proxy, offline then online, the Azure profile, bundles, and TLS.

mod util;

use runlog_testkit::{FaultProxy, Faults};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use util::sync::*;

const FAST: [&str; 4] = ["--backoff-initial-ms", "20", "--backoff-max-ms", "300"];

#[test]
fn exactly_once_under_twenty_sigkills_of_the_agent() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    // Small batches and a request rate limit make the sync last long enough to be killed mid-way many times.
    let server = serve(
        &cfg,
        &dir.path().join("srv"),
        0,
        &["--limit", "max_rows_per_batch=4000", "--limit", "max_requests_per_second=150", "--limit", "request_burst=5"],
    );
    add_remote(&cfg, "team", &server.url, &server.token);
    let store_path = dir.path().join("train.db");
    let store = log_workload(&store_path, 3, 1_000_000, 200);
    drop(store);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = 0;
    let mut progressed = 0;
    let mut last = runlog_core::Seq::ZERO;
    let total = runlog_core::Reader::open(&store_path).expect("reader").max_seq().expect("max seq");
    for _ in 0..24 {
        let mut c = runlog(&cfg);
        c.arg("--store").arg(&store_path).args(["agent", "--poll-ms", "20"]).args(FAST);
        let child = c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("agent");
        let mut p = Proc(child);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(40 + rng % 160));
        p.0.kill().expect("SIGKILL the agent");
        let _ = p.0.wait();
        kills += 1;
        let reader = runlog_core::Reader::open(&store_path).expect("reader");
        let acked = reader.sync_status("team").expect("status").acked_through;
        if acked > last && acked < total {
            progressed += 1;
        }
        last = acked;
    }
    assert!(kills >= 20);
    // The kills landed mid-sync: many agent lives each moved the position on without finishing.
    assert!(
        progressed >= 5,
        "only {progressed} of {kills} kills interrupted a sync in progress (acked {last} of {total})"
    );
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    assert!(
        out.status.success(),
        "final sync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_equal(&server, &store_path);
    let st = stats(&server);
    // 100 identical images and 100 distinct ones: 101 blobs, each stored and uploaded once.
    assert_eq!(st["blobs_stored"], 101, "{st}");
    assert_eq!(st["blob_uploads"], 101, "{st}");
    let reader = runlog_core::Reader::open(&store_path).expect("reader");
    let same = reader
        .runs()
        .expect("runs")
        .iter()
        .flat_map(|r| reader.images(&r.id, Some("same")).expect("imgs"))
        .next()
        .expect("an image");
    assert_eq!(get_bytes(&server, &format!("/api/v1/blobs/{}", same.value.hash)), png(b"the same image"));
}

#[test]
fn converges_through_resets_429_503_and_lost_acknowledgements() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &["--limit", "max_rows_per_batch=10000"]);
    // A chain of proxies: cut connections, lose acknowledgements after the server committed, answer 429/503.
    let cut = FaultProxy::start(server.port, Faults::none().cut_after_bytes(30_000).reset().fraction(0.15).seed(3))
        .expect("proxy");
    let ack = FaultProxy::start(cut.port, Faults::none().ack_loss().fraction(0.3).seed(5)).expect("proxy");
    let status = FaultProxy::start(
        ack.port,
        Faults::none().statuses(&[429, 503]).retry_after_secs(1).fraction(0.2).seed(7).delay(Duration::from_millis(2)),
    )
    .expect("proxy");
    let front = status.port;
    add_remote(&cfg, "flaky", &format!("http://127.0.0.1:{front}"), &server.token);
    let store_path = dir.path().join("train.db");
    drop(log_workload(&store_path, 3, 200_000, 20));
    let out = runlog(&cfg)
        .arg("--store")
        .arg(&store_path)
        .args(["sync", "--max-wait-secs", "240"])
        .args(FAST)
        .output()
        .expect("sync");
    assert!(
        out.status.success(),
        "sync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_equal(&server, &store_path);
    let st = stats(&server);
    assert_eq!(st["records_rejected"], 0, "{st}");
    assert_eq!(st["blobs_stored"], 11, "{st}");
    // The faults did happen.
    let (s, a, c) = (status.stop(), ack.stop(), cut.stop());
    assert!(s.statuses > 0, "{s:?}");
    assert!(a.ack_losses > 0, "{a:?}");
    assert!(c.cuts > 0 && c.resets > 0, "{c:?}");
    assert!(st["records_duplicate"].as_u64() > Some(0), "a lost acknowledgement makes the agent resend: {st}");
}

#[test]
fn the_agent_syncs_a_run_while_it_is_still_being_written() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &[]);
    add_remote(&cfg, "live", &server.url, &server.token);
    let store_path = dir.path().join("live.db");
    let store = runlog_core::Store::open(&store_path).expect("store");
    let run = store.start_named_run("live", "growing").expect("run");
    let mut c = runlog(&cfg);
    c.arg("--store").arg(&store_path).args(["agent", "--poll-ms", "20"]).args(FAST);
    let _agent = Proc(c.stdout(std::process::Stdio::null()).spawn().expect("agent"));
    let wait_for = |want: usize| {
        let start = std::time::Instant::now();
        loop {
            let n =
                get(&server, &format!("/api/v1/runs/{}/series/x", run.id()))["points"].as_array().map_or(0, Vec::len);
            if n == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the agent did not sync {want} points (server has {n})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let wait_for_run = || {
        let start = std::time::Instant::now();
        while get(&server, "/api/v1/runs").as_array().map_or(0, Vec::len) == 0 {
            assert!(start.elapsed() < Duration::from_secs(120), "the agent did not sync the run");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for round in 1..=3 {
        for i in 0..5_000 {
            run.log("x", (round * 10_000 + i) as f64).expect("log");
        }
        run.flush().expect("flush");
        wait_for_run();
        wait_for(round * 5_000);
        assert_eq!(get(&server, &format!("/api/v1/runs/{}", run.id()))["status"], "running");
    }
    run.complete().expect("complete");
    let start = std::time::Instant::now();
    while get(&server, &format!("/api/v1/runs/{}", run.id()))["status"] != "completed" {
        assert!(start.elapsed() < Duration::from_secs(120), "the end of the run did not sync");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(run);
    drop(store);
    assert_equal(&server, &store_path);
}

#[test]
fn offline_during_training_then_online_syncs_everything() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    add_remote(&cfg, "later", &format!("http://127.0.0.1:{port}"), "rlt_not_yet");
    let store_path = dir.path().join("train.db");
    drop(log_workload(&store_path, 2, 50_000, 4));
    let out = runlog(&cfg)
        .arg("--store")
        .arg(&store_path)
        .args(["sync", "--max-wait-secs", "1"])
        .args(FAST)
        .output()
        .expect("sync");
    assert_eq!(out.status.code(), Some(2), "an incomplete sync exits 2: {}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INCOMPLETE"));
    let status = runlog(&cfg).arg("--store").arg(&store_path).arg("status").output().expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("last error") && text.contains("cannot reach"), "{text}");
    // The server comes up on that port; the token is the new workspace's.
    let server = serve(&cfg, &dir.path().join("srv"), port, &[]);
    runlog(&cfg).args(["remote", "remove", "--global", "later"]).output().expect("remove");
    add_remote(&cfg, "later", &server.url, &server.token);
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_equal(&server, &store_path);
}

#[test]
fn azure_profile_rejects_the_51st_name_reports_it_and_keeps_it_locally() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &["--profile", "azure"]);
    let limits = get(&server, "/api/v1/limits");
    assert_eq!((limits["max_names_per_run"].as_u64(), limits["max_rows_per_batch"].as_u64()), (Some(50), Some(250)));
    add_remote(&cfg, "azure", &server.url, &server.token);
    let store_path = dir.path().join("train.db");
    let store = runlog_core::Store::open(&store_path).expect("store");
    let run = store.start_named_run("azure", "many-names").expect("run");
    for n in 0..51 {
        for step in 0..100 {
            run.log(&format!("metric_{n:02}"), step as f64 * 0.5).expect("log");
        }
    }
    run.complete().expect("complete");
    // A row metric is a metric name too: it goes in another run.
    let other = store.start_named_run("azure", "columns").expect("run");
    other.log_row("eval", (0..15).map(|c| (format!("c{c}"), runlog_core::Value::from(c)))).expect("15 columns");
    other.complete().expect("complete");
    drop(store);
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rejected with a reason counts as done: {text}");
    assert!(text.contains("1 records rejected") && text.contains("too_many_names"), "{text}");
    let status = runlog(&cfg).arg("--store").arg(&store_path).arg("status").output().expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("metric_50") && text.contains("too_many_names") && text.contains("the limit is 50"),
        "{text}"
    );
    assert!(text.contains("pending      0 records"), "{text}");
    let reader = runlog_core::Reader::open(&store_path).expect("reader");
    let id = reader.resolve("azure/many-names").expect("run");
    assert_eq!(reader.series(&id, "metric_50").expect("kept locally").len(), 100);
    let st = stats(&server);
    assert!(st["max_batch_rows"].as_u64().expect("rows") <= 250, "{st}");
    assert_eq!(st["too_large"], 0, "{st}");
    assert_eq!(st["rate_limited"], 0, "{st}");
    let metrics = get(&server, &format!("/api/v1/runs/{id}/metrics"));
    assert_eq!(metrics.as_array().expect("metrics").len(), 50);
    for n in 0..50 {
        let s = get(&server, &format!("/api/v1/runs/{id}/series/metric_{n:02}"));
        assert_eq!(s["points"].as_array().expect("points").len(), 100);
    }
}

#[test]
fn bundles_imported_twice_and_out_of_order_leave_the_server_equal_to_the_store() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &["--limit", "max_rows_per_batch=3000"]);
    let store_path = dir.path().join("train.db");
    drop(log_workload(&store_path, 2, 30_000, 6));
    let out_dir = dir.path().join("bundles");
    let first = runlog(&cfg)
        .arg("--store")
        .arg(&store_path)
        .args(["bundle", "export", "--out"])
        .arg(&out_dir)
        .output()
        .expect("export");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    let hi: i64 =
        text.split("..=").nth(1).and_then(|s| s.split(',').next()).and_then(|s| s.trim().parse().ok()).expect("range");
    // More training on the air-gapped machine, then a second bundle of what came after the first.
    let store = runlog_core::Store::open(&store_path).expect("store");
    let run = store.start_named_run("e2e", "later").expect("run");
    for i in 0..10_000 {
        run.log("loss", i as f64).expect("log");
    }
    run.log_image("late", png(b"late image").as_slice(), "").expect("image");
    run.complete().expect("complete");
    drop(run);
    drop(store);
    let second = runlog(&cfg)
        .arg("--store")
        .arg(&store_path)
        .args(["bundle", "export", "--after", &hi.to_string(), "--out"])
        .arg(&out_dir)
        .output()
        .expect("export");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let mut files: Vec<_> = std::fs::read_dir(&out_dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).expect("mtime"));
    assert_eq!(files.len(), 2);
    add_remote(&cfg, "connected", &server.url, &server.token);
    // The later bundle first, then the earlier one, then both again.
    for f in [&files[1], &files[0], &files[1], &files[0]] {
        let o = runlog(&cfg).args(["bundle", "import"]).arg(f).args(FAST).output().expect("import");
        assert!(o.status.success(), "import {}: {}", f.display(), String::from_utf8_lossy(&o.stderr));
    }
    assert_equal(&server, &store_path);
    assert_eq!(stats(&server)["records_rejected"], 0);
    // A damaged bundle is refused, not half-imported.
    let damaged = dir.path().join("damaged.rlbundle");
    let mut bytes = std::fs::read(&files[0]).expect("read");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    let name = files[0].file_name().expect("name").to_owned();
    std::fs::write(dir.path().join(&name), &bytes).expect("write");
    std::fs::write(&damaged, &bytes).expect("write");
    let o = runlog(&cfg).args(["bundle", "import"]).arg(dir.path().join(&name)).output().expect("import");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn in_process_agent_of_the_runlog_crate_syncs_at_run_end() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &[]);
    // The status command reads RUNLOG_REMOTE + RUNLOG_TOKEN like the library does.
    let store_path = dir.path().join("lib.db");
    drop(log_workload(&store_path, 1, 10, 0));
    let o = runlog(&cfg)
        .env("RUNLOG_REMOTE", &server.url)
        .env("RUNLOG_TOKEN", &server.token)
        .arg("--store")
        .arg(&store_path)
        .arg("sync")
        .output()
        .expect("sync");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_equal(&server, &store_path);
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o =
        std::process::Command::new("openssl").current_dir(dir).args(args).output().expect(
            "the openssl command must be installed (scripts/test-env.sh installs it) to make test certificates",
        );
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn serves_and_syncs_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=runlog test ca",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let cfg = d.join("cfg");
    let cert = d.join("leaf.pem");
    let key = d.join("leaf.key");
    let server = serve(
        &cfg,
        &d.join("srv"),
        0,
        &["--tls-cert", cert.to_str().expect("utf8"), "--tls-key", key.to_str().expect("utf8")],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let o = runlog(&cfg)
        .args(["remote", "add", "--global", "secure", &server.url, "--token", &server.token, "--ca-cert"])
        .arg(d.join("ca.pem"))
        .output()
        .expect("remote add");
    assert!(o.status.success());
    let store_path = d.join("train.db");
    drop(log_workload(&store_path, 1, 20_000, 2));
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Without the CA the client refuses the server's certificate.
    let plain = runlog_sync::remote::workspace::WorkspaceRemote::new(&server.url, &server.token, &Default::default())
        .expect("remote");
    let err = rt().block_on(runlog_sync::remote::Remote::limits(&plain)).expect_err("untrusted certificate");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    let pem = std::fs::read(d.join("ca.pem")).expect("ca");
    let runs: serde_json::Value = rt().block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .build()
            .expect("client");
        client
            .get(format!("{}/api/v1/runs", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    });
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
}

#[test]
fn admin_makes_workspaces_whose_tokens_see_only_their_own_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let data = dir.path().join("srv");
    let server = serve(&cfg, &data, 0, &[]);
    let o =
        runlog(&cfg).args(["admin", "--data"]).arg(&data).args(["create-workspace", "vision"]).output().expect("admin");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let token_b = String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("token ").to_string();
    assert!(token_b.starts_with("rlt_") && token_b != server.token);
    let list = runlog(&cfg).args(["admin", "--data"]).arg(&data).arg("workspaces").output().expect("list");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("default") && text.contains("vision"), "{text}");
    add_remote(&cfg, "vision", &server.url, &token_b);
    let remotes = runlog(&cfg).args(["remote", "list"]).output().expect("remote list");
    let text = String::from_utf8_lossy(&remotes.stdout);
    assert!(text.contains("vision") && text.contains(&server.url), "{text}");
    assert!(!text.contains(&token_b), "remote list never prints tokens: {text}");
    let store_path = dir.path().join("b.db");
    drop(log_workload(&store_path, 1, 1_000, 2));
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // The default workspace's token sees nothing of it; vision's token sees it all.
    assert_eq!(get(&server, "/api/v1/runs").as_array().map(Vec::len), Some(0));
    assert_equal(&Api { url: server.url.clone(), token: token_b }, &store_path);
}

#[test]
fn exec_syncs_the_wrapped_scripts_run_before_it_returns() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &[]);
    let store_path = dir.path().join("exec.db");
    // A script with no runlog library: it logs through `runlog log`; the `runlog exec` around it syncs.
    let script = dir.path().join("train.sh");
    std::fs::write(
        &script,
        format!(
            "for i in $(seq 0 199); do echo \"{{\\\"name\\\": \\\"loss\\\", \\\"value\\\": $i}}\"; done | {} log\necho done\n",
            bin()
        ),
    )
    .expect("script");
    let o = runlog(&cfg)
        .env("RUNLOG_REMOTE", &server.url)
        .env("RUNLOG_TOKEN", &server.token)
        .env("RUNLOG_SYNC", "1")
        .env("RUNLOG_SYNC_GRACE_MS", "30000")
        .arg("--store")
        .arg(&store_path)
        .args(["exec", "--experiment", "wrapped", "--", "sh"])
        .arg(&script)
        .output()
        .expect("exec");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Everything, the 200 points, the captured output and the final status included, is on the server already.
    assert_equal(&server, &store_path);
    let r = runlog_core::Reader::open(&store_path).expect("reader");
    let run = &r.runs().expect("runs")[0];
    assert_eq!(r.series(&run.id, "loss").expect("series").len(), 200);
}

/// The root package's `test_worker` example (scripts/test.sh builds the examples before the tests).
fn test_worker() -> std::process::Command {
    let exe = std::env::current_exe().expect("test exe");
    let path = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples").join("test_worker");
    assert!(path.exists(), "{} is not built: run `cargo build --release --examples` first", path.display());
    std::process::Command::new(path)
}

#[test]
fn a_run_whose_process_died_reaches_the_server_as_crashed() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &[]);
    add_remote(&cfg, "ws", &server.url, &server.token);
    let store_path = dir.path().join("dies.db");
    // The worker logs with a 100 ms heartbeat until it is killed.
    let mut child =
        test_worker().arg("crash").arg(&store_path).stdout(std::process::Stdio::piped()).spawn().expect("spawn worker");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let id = lines.next().expect("run line").expect("read").trim_start_matches("run ").to_string();
    assert!(lines.next().expect("flushed line").expect("read").starts_with("flushed "));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let run_id = runlog_core::RunId::parse(&id).expect("id");
    let reader = runlog_core::Reader::open(&store_path).expect("reader");
    let start = std::time::Instant::now();
    while reader.run(&run_id).expect("run").status != runlog_core::RunStatus::Crashed {
        assert!(start.elapsed() < Duration::from_secs(10), "the run never showed as crashed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = runlog(&cfg).arg("--store").arg(&store_path).arg("sync").args(FAST).output().expect("sync");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(get(&server, &format!("/api/v1/runs/{id}"))["status"], "crashed");
    assert_equal(&server, &store_path);
}

/// Issue 13: `remote add` records the remote in the store it is run against (store B does not sync to it), `--global`
/// applies to every store, `RUNLOG_REMOTE` overrides both, a copied store keeps its remote names but never a token,
/// and `remote list` says where each remote comes from.
#[test]
fn remotes_belong_to_the_store_they_are_added_to() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let server = serve(&cfg, &dir.path().join("srv"), 0, &[]);
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for p in [&a, &b] {
        drop(log_workload(p, 1, 1_000, 0));
    }
    let on = |store: &Path, args: &[&str]| runlog(&cfg).arg("--store").arg(store).args(args).output().expect("runlog");
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    let o = on(&a, &["remote", "add", "team", &server.url, "--token", &server.token]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&on(&a, &["remote", "list"]).stdout),
        format!("team\t{}\tstore\ttoken\n", server.url)
    );
    assert_eq!(String::from_utf8_lossy(&on(&b, &["remote", "list"]).stdout), "");
    let o = on(&b, &["sync"]);
    assert!(!o.status.success() && text(&o).contains("no remote is configured"), "store B has no remote: {}", text(&o));
    let o = on(&a, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_equal(&server, &a);
    // The token stays in the user's credential file; the store holds the remote's name and URL only.
    let bytes = std::fs::read(&a).expect("read a.db");
    assert!(!bytes.windows(server.token.len()).any(|w| w == server.token.as_bytes()), "the token is not in the store");
    assert!(bytes.windows(server.url.len()).any(|w| w == server.url.as_bytes()), "the URL is");
    let copy = dir.path().join("copy.db");
    std::fs::copy(&a, &copy).expect("copy");
    let other_user = dir.path().join("other-user");
    let o = Command::new(bin())
        .env("RUNLOG_CONFIG_DIR", &other_user)
        .env("HOME", &other_user)
        .env_remove("RUNLOG_REMOTE")
        .env_remove("RUNLOG_TOKEN")
        .arg("--store")
        .arg(&copy)
        .args(["remote", "list"])
        .output()
        .expect("list");
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("team\t{}\tstore\tno token\n", server.url));
    // --global: every store of this user syncs there, store B included.
    let o = on(&b, &["remote", "add", "--global", "everywhere", &server.url, "--token", &server.token]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&on(&b, &["remote", "list"]).stdout),
        format!("everywhere\t{}\tglobal\ttoken\n", server.url)
    );
    let o = on(&b, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(get(&server, "/api/v1/runs").as_array().map(Vec::len), Some(2), "store B's run arrived too");
    // RUNLOG_REMOTE overrides both.
    let o = runlog(&cfg)
        .env("RUNLOG_REMOTE", &server.url)
        .env("RUNLOG_TOKEN", "rlt_other")
        .arg("--store")
        .arg(&a)
        .args(["remote", "list"])
        .output()
        .expect("list");
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("team\t{}\tenvironment\ttoken\n", server.url));
    // Removing is a later record: store A no longer names team, the global remote still applies.
    let o = on(&a, &["remote", "remove", "team"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&on(&a, &["remote", "list"]).stdout),
        format!("everywhere\t{}\tglobal\ttoken\n", server.url)
    );
}
