//! Two `runlog serve` replicas on one PostgreSQL database and one S3-compatible object store, behind a round-robin
//! balancer: 8 agents sync 8 stores at once (1M points and 200 images in all, each store its own workspace); one
//! replica is SIGKILLed mid-sync and restarted, agents are SIGKILLed at random and started again. At the end every
//! workspace equals its store point for point and image for image, nothing duplicated, every blob stored once.

mod util;

use runlog_testkit::services::{self, ObjectStore};
use runlog_testkit::{Proc, RoundRobin};
use std::time::{Duration, Instant};
use util::sync::{Api, assert_equal, get, log_workload, runlog, serve_at};

const FAST: [&str; 4] = ["--backoff-initial-ms", "20", "--backoff-max-ms", "300"];
/// Small batches and a request rate per workspace make the sync last long enough to be interrupted.
const LIMITS: [&str; 4] = ["--limit", "max_rows_per_batch=4000", "--limit", "max_requests_per_second=40"];

fn xorshift(r: &mut u64) -> u64 {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    *r
}

#[test]
fn eight_agents_through_two_replicas_one_killed_land_everything_once() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let at = vec![
        "--database".to_string(),
        services::fresh_database_blocking(),
        "--blobs".to_string(),
        services::blob_url(ObjectStore::S3),
    ];
    let a = serve_at(&cfg, &at, 0, &LIMITS);
    let mut b = serve_at(&cfg, &at, 0, &LIMITS);
    let (a_port, b_port) = (a.port, b.port);
    let rr = RoundRobin::start(vec![a.url[7..].parse().expect("a"), b.url[7..].parse().expect("b")]).expect("balancer");

    let stores = 8;
    let mut tokens = Vec::new();
    let mut paths = Vec::new();
    for i in 0..stores {
        let o =
            runlog(&cfg).arg("admin").args(&at).args(["create-workspace", &format!("w{i}")]).output().expect("admin");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        tokens.push(String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("token ").to_string());
        let path = dir.path().join(format!("store{i}.db"));
        drop(log_workload(&path, 2, 125_000, 25));
        paths.push(path);
    }
    let agent = |i: usize| {
        let mut c = runlog(&cfg);
        c.env("RUNLOG_REMOTE", rr.url()).env("RUNLOG_TOKEN", &tokens[i]);
        c.arg("--store").arg(&paths[i]).args(["agent", "--poll-ms", "20"]).args(FAST);
        Proc(c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("agent"))
    };
    let mut agents: Vec<Proc> = (0..stores).map(agent).collect();

    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let start = Instant::now();
    let mut killed_replica = false;
    let mut agent_kills = 0;
    while start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(150 + xorshift(&mut rng) % 250));
        let i = (xorshift(&mut rng) % stores as u64) as usize;
        agents[i].0.kill().expect("SIGKILL an agent");
        let _ = agents[i].0.wait();
        agents[i] = agent(i);
        agent_kills += 1;
        if !killed_replica && start.elapsed() > Duration::from_secs(2) {
            b.proc.0.kill().expect("SIGKILL replica b");
            let _ = b.proc.0.wait();
            std::thread::sleep(Duration::from_millis(500));
            b = serve_at(&cfg, &at, b_port, &LIMITS);
            killed_replica = true;
        }
    }
    assert!(killed_replica && agent_kills >= 10, "{agent_kills} agent kills");
    drop(agents);
    // Whatever is left, one sync per store finishes (through the balancer, both replicas up).
    for i in 0..stores {
        let mut c = runlog(&cfg);
        c.env("RUNLOG_REMOTE", rr.url()).env("RUNLOG_TOKEN", &tokens[i]);
        let o = c.arg("--store").arg(&paths[i]).arg("sync").args(FAST).output().expect("sync");
        assert!(o.status.success(), "sync {i}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let counts: Vec<usize> = rr.counts.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
    assert!(counts.iter().all(|&n| n > 0), "both replicas served: {counts:?}");
    for (i, token) in tokens.iter().enumerate() {
        // Read through each replica directly: they answer the same.
        for port in [a_port, b.port] {
            let api = Api { url: format!("http://127.0.0.1:{port}"), token: token.clone() };
            assert_equal(&api, &paths[i]);
        }
        let api = Api { url: rr.url(), token: token.clone() };
        let stats = get(&api, "/api/v1/stats");
        // 25 images: 13 of the same bytes and 12 distinct ones, so 13 blobs.
        assert_eq!(stats["blobs_stored"], 13, "store {i}: every blob stored once: {stats}");
    }
}

/// SIGTERM (what a process manager sends to take a replica down) lets the request in flight finish: a blob upload
/// half sent when the signal arrives completes with 204 and is kept, then the server exits cleanly.
#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("cfg");
    let data = dir.path().join("srv");
    let mut server = util::sync::serve(&cfg, &data, 0, &[]);
    let bytes: Vec<u8> = (0..(4usize << 20)).map(|i| (i % 251) as u8).collect();
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let head = format!(
        "PUT /api/v1/blobs/{hash} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        server.token,
        bytes.len()
    );
    conn.write_all(head.as_bytes()).expect("head");
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    conn.write_all(first).expect("first half");
    std::thread::sleep(Duration::from_millis(200));
    let term = std::process::Command::new("kill").arg("-TERM").arg(server.proc.0.id().to_string()).status();
    assert!(term.expect("kill").success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.proc.0.try_wait().expect("wait").is_none(), "the server waits for the request in flight");
    conn.write_all(rest).expect("second half");
    let mut answer = [0u8; 12];
    conn.read_exact(&mut answer).expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 204", "{}", String::from_utf8_lossy(&answer));
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.proc.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    // The blob is held: a new server on the same data directory serves it.
    let again = util::sync::serve(&cfg, &data, 0, &[]);
    let api = Api { url: again.url.clone(), token: server.token.clone() };
    assert_eq!(util::sync::get_bytes(&api, &format!("/api/v1/blobs/{hash}")), bytes);
}
