//! The storage backends side by side, through the HTTP API of real servers on loopback (figures, not assertions):
//!
//! - ingest: scalar points per second of the same batches, 4 senders at once, into SQLite, into PostgreSQL through
//!   one replica, and into PostgreSQL through two replicas (the senders split between them);
//! - read: a 1M-point series (`GET /runs/{id}/series/{name}`), median of 5, from each backend;
//! - run list: page 1 (`GET /runs?limit=100`) of 100,000 runs, median of 5, from each backend.
//!
//! ```text
//! bash scripts/services.sh start /tmp/svc > /tmp/svc.env && source /tmp/svc.env
//! cargo bench -p runlog-server --bench backends
//! ```
//!
//! Env: BENCH_POINTS (default 4,000,000: a 1M-point series per sender), BENCH_RUNS (default 100,000); the services of scripts/services.sh
//! (RUNLOG_TEST_POSTGRES, RUNLOG_TEST_S3). Under `cargo test` (no `--bench` argument) it runs a small smoke version.

use runlog_server::{AppState, BackgroundServer, BlobStore, PgStorage, SqliteStorage, Storage};
use runlog_testkit::services::{self, ObjectStore};
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, Body, ServiceLimits, WIRE_VERSION, WireRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Points per scalar record, and records per batch.
const CHUNK: usize = 4096;
const RECORDS: usize = 8;
const SENDERS: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn record(seq: i64, run: &str, name: &str, body: Body) -> WireRecord {
    WireRecord { seq, part: 0, rows: 1, run: run.into(), name: name.into(), at: 1_000 + seq, step: None, body }
}

/// The batches of one sender (its own store): a run, then scalar chunks of `points` points in all.
fn sender_batches(sender: usize, points: usize) -> Vec<Vec<u8>> {
    let store = format!("{sender:032}");
    let run = format!("{:031}{sender}", 7);
    let mut out = Vec::new();
    let head = Body::Run { experiment: "bench".into(), name: format!("s{sender}"), parent: None };
    let mut seq = 1;
    let mut records = vec![record(seq, &run, "", head)];
    let mut step = 0i64;
    while (step as usize) < points {
        let pts: Vec<Point> = (step..step + CHUNK as i64)
            .map(|s| Point { step: s, at: 1_700_000_000_000 + s, value: (s as f64).sin() })
            .collect();
        seq += 1;
        let mut r = record(seq, &run, "loss", Body::Scalars(points::encode(&pts)));
        (r.rows, r.step) = (CHUNK as u32, Some(step));
        records.push(r);
        step += CHUNK as i64;
        if records.len() == RECORDS {
            out.push(Batch { version: WIRE_VERSION, store: store.clone(), records: std::mem::take(&mut records) });
        }
    }
    if !records.is_empty() {
        out.push(Batch { version: WIRE_VERSION, store, records });
    }
    out.into_iter().map(|b| b.encode().bytes.to_vec()).collect()
}

struct Servers {
    urls: Vec<String>,
    token: String,
    _servers: Vec<BackgroundServer>,
    _dir: tempfile::TempDir,
}

fn limits() -> ServiceLimits {
    ServiceLimits { max_requests_per_second: 0, ..ServiceLimits::default() }
}

/// `replicas` servers on one storage: SQLite (one), or PostgreSQL with S3 blobs.
fn servers(pg: bool, replicas: usize) -> Servers {
    let dir = tempfile::tempdir().expect("dir");
    let (db, blobs) = if pg {
        (Some(services::fresh_database_blocking()), Some(services::blob_url(ObjectStore::S3)))
    } else {
        (None, None)
    };
    let open = || -> Arc<dyn Storage> {
        runlog_testkit::block_on(async {
            match (&db, &blobs) {
                (Some(db), Some(b)) => Arc::new(
                    PgStorage::connect(db, Some(BlobStore::from_url(b).expect("blobs"))).await.expect("postgres"),
                ) as Arc<dyn Storage>,
                _ => Arc::new(SqliteStorage::open(dir.path()).expect("sqlite")) as Arc<dyn Storage>,
            }
        })
    };
    let first = open();
    let token = runlog_testkit::block_on(first.create_workspace("bench")).expect("workspace");
    let mut all = vec![first];
    all.extend((1..replicas).map(|_| open()));
    let servers: Vec<BackgroundServer> = all
        .into_iter()
        .map(|st| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            BackgroundServer::start(l, AppState::new(st, limits())).expect("server")
        })
        .collect();
    Servers { urls: servers.iter().map(|s| s.url().to_string()).collect(), token, _servers: servers, _dir: dir }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(8).build().expect("client")
}

/// Sends every sender's batches (senders at once, each to its replica in turn); points per second.
async fn ingest(s: &Servers, batches: &[Vec<Vec<u8>>], points: usize) -> f64 {
    let c = client();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (i, mine) in batches.iter().enumerate() {
        let (c, url, token, mine) = (c.clone(), s.urls[i % s.urls.len()].clone(), s.token.clone(), mine.clone());
        tasks.push(tokio::spawn(async move {
            for b in mine {
                let id = blake3::hash(&b).to_hex().to_string();
                let r = c.post(format!("{url}/api/v1/batches/{id}")).bearer_auth(&token).body(b).send().await;
                let r = r.expect("send");
                assert!(r.status().is_success(), "{}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    (points * batches.len()) as f64 / t.elapsed().as_secs_f64()
}

async fn median_get(s: &Servers, path: &str) -> (Duration, usize) {
    let c = client();
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = c.get(format!("{}{path}", s.urls[0])).bearer_auth(&s.token).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        bytes = r.bytes().await.expect("body").len();
        times.push(t.elapsed());
    }
    times.sort();
    (times[2], bytes)
}

/// Adds `n` runs to the workspace, 1,000 per batch.
async fn add_runs(s: &Servers, n: usize) {
    let c = client();
    for k in 0..n.div_ceil(1000) {
        let records: Vec<WireRecord> = (k * 1000..((k + 1) * 1000).min(n))
            .map(|i| {
                let body = Body::Run { experiment: "sweep".into(), name: format!("r{i}"), parent: None };
                record(i as i64 + 1, &format!("{i:032x}"), "", body)
            })
            .collect();
        let b = Batch { version: WIRE_VERSION, store: "f".repeat(32), records }.encode();
        let r = c
            .post(format!("{}/api/v1/batches/{}", s.urls[0], b.id))
            .bearer_auth(&s.token)
            .body(b.bytes.to_vec())
            .send()
            .await
            .expect("send");
        assert!(r.status().is_success(), "{}", r.status());
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let points = if bench { env_usize("BENCH_POINTS", 4_000_000) } else { 40_000 };
    let runs = if bench { env_usize("BENCH_RUNS", 100_000) } else { 2_000 };
    let per_sender = points / SENDERS;
    let batches: Vec<Vec<Vec<u8>>> = (0..SENDERS).map(|i| sender_batches(i, per_sender)).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    println!("backends: {points} points from {SENDERS} senders, {CHUNK}-point chunks, {RECORDS} per batch");
    let mut rows = Vec::new();
    for (name, pg, replicas) in
        [("sqlite", false, 1), ("postgres, 1 replica", true, 1), ("postgres, 2 replicas", true, 2)]
    {
        let s = servers(pg, replicas);
        let rate = rt.block_on(ingest(&s, &batches, per_sender));
        let run = format!("{:031}{}", 7, 0);
        let (read, bytes) = rt.block_on(median_get(&s, &format!("/api/v1/runs/{run}/series/loss")));
        rt.block_on(add_runs(&s, runs));
        let (page, _) = rt.block_on(median_get(&s, "/api/v1/runs?limit=100"));
        println!(
            "{name:<22} ingest {:>10.0} points/s   read {per_sender} points {:>8.1} ms ({bytes} bytes)   runs page 1 of {} {:>7.1} ms",
            rate,
            read.as_secs_f64() * 1e3,
            runs + SENDERS,
            page.as_secs_f64() * 1e3
        );
        rows.push((name, rate, read, page));
    }
    let (sqlite, pg1, pg2) = (rows[0].1, rows[1].1, rows[2].1);
    println!(
        "postgres/sqlite ingest: 1 replica {:.2}x, 2 replicas {:.2}x (target >= 0.5x)",
        pg1 / sqlite,
        pg2 / sqlite
    );
}
