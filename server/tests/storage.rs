//! The storage backends behave alike, alone and as replicas: what one handle writes, another reads; a batch applied
//! twice, or by two replicas at once split differently, lands once; write-once values stay write-once; the request
//! allowance is shared; the PostgreSQL schema is migrated once by replicas starting together and a newer one is
//! refused.

mod support;

use runlog_server::storage::rate::Quota;
use runlog_server::{Page, PgStorage, Storage, WorkspaceId};
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, Body, ServiceLimits, WIRE_VERSION, WireRecord, WireValue};
use std::sync::Arc;
use support::Backend;

each_backend!(
    scalar_chunks_chunk_points_and_records_read_back_within_their_workspace,
    two_replicas_applying_one_chunk_split_differently_at_once_store_it_once,
    params_stay_write_once_across_replicas,
    a_blob_uploaded_through_one_replica_is_read_through_another,
    the_request_allowance_is_shared_by_replicas,
    run_lists_paginate_in_start_order,
    experiments_have_stable_ids_and_tags_across_replicas_and_include_those_runs_name,
);

const RUN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const STORE: &str = "ssssssssssssssssssssssssssssssss";

fn record(seq: i64, part: u32, rows: u32, name: &str, step: Option<i64>, body: Body) -> WireRecord {
    WireRecord { seq, part, rows, run: RUN.into(), name: name.into(), at: 1_000 + seq, step, body }
}

fn run_record() -> WireRecord {
    record(1, 0, 1, "", None, Body::Run { experiment: "e".into(), name: "r".into(), parent: None })
}

fn pts(steps: std::ops::Range<i64>, value: impl Fn(i64) -> f64) -> Vec<Point> {
    steps.map(|s| Point { step: s, at: 5, value: value(s) }).collect()
}

fn batch(records: Vec<WireRecord>) -> Batch {
    Batch { version: WIRE_VERSION, store: STORE.into(), records }
}

async fn apply(st: &Arc<dyn Storage>, ws: WorkspaceId, b: Batch) -> runlog_wire::BatchReply {
    let enc = b.encode();
    st.apply_batch(ws, enc.id, enc.bytes.len(), b, ServiceLimits::default()).await.expect("apply").expect("accepted")
}

async fn workspace(st: &Arc<dyn Storage>, name: &str) -> (WorkspaceId, String) {
    let token = st.create_workspace(name).await.expect("workspace");
    (st.workspace_for_token(&token).await.expect("auth").expect("ws"), token)
}

async fn scalar_chunks_chunk_points_and_records_read_back_within_their_workspace(backend: Backend) {
    let o = backend.open().await;
    let st = &o.storage;
    let (a, _) = workspace(st, "a").await;
    let (b, _) = workspace(st, "b").await;
    let first = pts(0..4, |s| [3.0, f64::NAN, -2.0, 7.0][s as usize]);
    let second = pts(4..6, |s| s as f64 * 10.0);
    let reply = apply(
        st,
        a,
        batch(vec![
            run_record(),
            record(2, 0, 4, "loss", Some(0), Body::Scalars(points::encode(&first))),
            record(3, 0, 1, "epoch", Some(0), Body::Row(vec![("acc".into(), WireValue::Float(0.5))])),
            record(4, 0, 2, "loss", Some(4), Body::Scalars(points::encode(&second))),
        ]),
    )
    .await;
    assert_eq!(reply.applied, 4, "{reply:?}");

    let chunks = st.scalar_chunks(a, RUN, "loss").await.expect("chunks");
    assert_eq!(chunks.len(), 2);
    let c = &chunks[0];
    assert_eq!((c.count, c.step_lo, c.step_hi, c.min, c.max), (4, 0, 3, Some(-2.0), Some(7.0)), "NaN is ignored");
    assert_eq!((c.last, c.last_step), (7.0, 3));
    assert_eq!((chunks[1].count, chunks[1].last, chunks[1].last_step), (2, 50.0, 5));
    let back = st.chunk_points(a, c.id).await.expect("read").expect("held");
    assert_eq!(back.len(), 4);
    assert!(back[1].value.is_nan() && back[3] == first[3]);
    assert_eq!(st.chunk_points(a, chunks[1].id).await.expect("read"), Some(second));
    let series = st.series(a, RUN, "loss").await.expect("series");
    assert_eq!(series.iter().map(|p| p.step).collect::<Vec<_>>(), (0..6).collect::<Vec<_>>());

    // Another workspace can name neither the run's chunks nor its records.
    assert_eq!(st.chunk_points(b, c.id).await.expect("read"), None);
    assert!(st.scalar_chunks(b, RUN, "loss").await.expect("chunks").is_empty());
    assert!(st.records(b, RUN, "row", None).await.expect("records").is_empty());
    assert!(st.run(b, RUN).await.expect("run").is_none());
    // A row is not a chunk.
    let rows = st.records(a, RUN, "row", Some("epoch")).await.expect("records");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].seq, rows[0].step, rows[0].at), (3, Some(0), 1_003));
    assert_eq!(rows[0].body, Body::Row(vec![("acc".into(), WireValue::Float(0.5))]));
    assert!(st.records(a, RUN, "row", Some("other")).await.expect("records").is_empty());
    let metrics = st.metrics(a, RUN).await.expect("metrics");
    let names: Vec<(&str, &str, u64)> = metrics.iter().map(|m| (m.name.as_str(), m.kind.as_str(), m.count)).collect();
    assert_eq!(names, vec![("epoch", "row", 1), ("loss", "scalars", 6)]);
}

/// The hazard found by trying it: two replicas apply one chunk that two sends split differently, (0, 4096) and
/// (250, 250), at the same moment. Under PostgreSQL's default isolation a check-then-insert stored 4,346 points.
async fn two_replicas_applying_one_chunk_split_differently_at_once_store_it_once(backend: Backend) {
    let o = backend.open().await;
    let (one, two) = (o.storage.clone(), o.replica(backend).await);
    let (ws, _) = workspace(&one, "w").await;
    apply(&one, ws, batch(vec![run_record()])).await;
    let rounds = 12;
    for r in 0..rounds {
        let seq = 10 + r;
        let all = pts(r * 4096..(r + 1) * 4096, |s| s as f64);
        let whole = batch(vec![record(seq, 0, 4096, "x", Some(r * 4096), Body::Scalars(points::encode(&all)))]);
        let piece = &all[250..500];
        let part = batch(vec![record(seq, 250, 250, "x", Some(piece[0].step), Body::Scalars(points::encode(piece)))]);
        let (a, b) = if r % 2 == 0 { (&one, &two) } else { (&two, &one) };
        let (ra, rb) = tokio::join!(apply(a, ws, whole), apply(b, ws, part));
        assert!(ra.rejected.is_empty() && rb.rejected.is_empty(), "{ra:?} {rb:?}");
    }
    for st in [&one, &two] {
        let series = st.series(ws, RUN, "x").await.expect("series");
        assert_eq!(series.len() as i64, rounds * 4096, "every point once, read from either replica");
        assert!(series.windows(2).all(|w| w[0].step < w[1].step), "no step twice");
    }
    // And the same batches again, through either replica, add nothing.
    let all = pts(0..4096, |s| s as f64);
    let again =
        apply(&two, ws, batch(vec![record(10, 0, 4096, "x", Some(0), Body::Scalars(points::encode(&all)))])).await;
    assert_eq!((again.applied, again.duplicates), (0, 1), "{again:?}");
}

async fn params_stay_write_once_across_replicas(backend: Backend) {
    let o = backend.open().await;
    let (one, two) = (o.storage.clone(), o.replica(backend).await);
    let (ws, _) = workspace(&one, "w").await;
    apply(&one, ws, batch(vec![run_record()])).await;
    let param = |seq: i64, v: &str| record(seq, 0, 1, "lr", None, Body::Param(WireValue::Str(v.into())));
    // The later record (seq 3) reaches a replica first; the earlier one arrives later through the other. The
    // value is the first logged, whatever order the replicas saw, and both say so.
    apply(&one, ws, batch(vec![param(3, "0.2")])).await;
    let (ra, rb) =
        tokio::join!(apply(&two, ws, batch(vec![param(2, "0.1")])), apply(&one, ws, batch(vec![param(3, "0.2")])));
    assert_eq!((ra.applied, rb.applied, rb.duplicates), (1, 0, 1), "{ra:?} {rb:?}");
    for st in [&one, &two] {
        let run = st.run(ws, RUN).await.expect("run").expect("held");
        assert_eq!(run.params["lr"], WireValue::Str("0.1".into()), "the first logged value, on every replica");
    }
}

async fn a_blob_uploaded_through_one_replica_is_read_through_another(backend: Backend) {
    let o = backend.open().await;
    let (one, two) = (o.storage.clone(), o.replica(backend).await);
    let (ws, _) = workspace(&one, "w").await;
    let (other, _) = workspace(&one, "other").await;
    // Over the single-put size, so the multipart path runs too.
    for size in [10_000usize, 17 << 20] {
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        assert_eq!(two.missing_blobs(ws, vec![hash.clone()]).await.expect("missing"), vec![hash.clone()]);
        for st in [&one, &two] {
            // Twice, through both: the second is a success that stores nothing new.
            let mut up = st.begin_blob(ws).await.expect("begin");
            for piece in bytes.chunks(1 << 20) {
                up.write(piece).await.expect("write");
            }
            up.commit(&hash).await.expect("commit");
        }
        assert!(two.missing_blobs(ws, vec![hash.clone()]).await.expect("missing").is_empty());
        assert_eq!(two.blob(ws, &hash).await.expect("read").as_deref(), Some(bytes.as_slice()));
        assert_eq!(one.blob(other, &hash).await.expect("read"), None, "another workspace does not hold it");
    }
    let stats = one.stats(ws).await.expect("stats");
    assert_eq!((stats.blob_uploads, stats.blobs_stored), (4, 2));
    // An upload dropped before its commit leaves no row.
    let mut up = one.begin_blob(ws).await.expect("begin");
    up.write(b"half").await.expect("write");
    drop(up);
    let h = blake3::hash(b"half").to_hex().to_string();
    assert_eq!(two.missing_blobs(ws, vec![h.clone()]).await.expect("missing"), vec![h]);
}

async fn the_request_allowance_is_shared_by_replicas(backend: Backend) {
    let o = backend.open().await;
    let (one, two) = (o.storage.clone(), o.replica(backend).await);
    let (ws, _) = workspace(&one, "w").await;
    let (other, _) = workspace(&one, "other").await;
    let q = Quota { per_second: 1, burst: 4 };
    let mut admitted = 0;
    for i in 0..8 {
        let st = if i % 2 == 0 { &one } else { &two };
        if st.take_request(ws, q).await.expect("take").is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 4, "two replicas share one burst of 4, not 4 each");
    let wait = two.take_request(ws, q).await.expect("take").expect_err("spent");
    assert!(wait > 0 && wait <= 1_000_000, "{wait} µs");
    assert!(one.take_request(other, q).await.expect("take").is_ok(), "each workspace has its own");
}

async fn run_lists_paginate_in_start_order(backend: Backend) {
    let o = backend.open().await;
    let st = &o.storage;
    let (ws, _) = workspace(st, "w").await;
    let runs: Vec<WireRecord> = (0..25)
        .map(|i| WireRecord {
            seq: i + 1,
            part: 0,
            rows: 1,
            run: format!("{i:032}"),
            name: String::new(),
            at: 10_000 - i * 10,
            step: None,
            body: Body::Run { experiment: "e".into(), name: format!("r{i}"), parent: None },
        })
        .collect();
    apply(st, ws, batch(runs)).await;
    let all = st.runs(ws).await.expect("runs");
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0].started_at <= w[1].started_at), "oldest first");
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = st.runs_page(ws, Page { after: after.clone(), limit: 10 }).await.expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id.clone());
        paged.extend(page);
    }
    assert_eq!(paged.iter().map(|r| &r.id).collect::<Vec<_>>(), all.iter().map(|r| &r.id).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_starting_at_once_on_an_empty_database_migrate_it_once() {
    let db = runlog_testkit::services::fresh_database().await;
    let opens = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { PgStorage::connect(&db, None).await })
    });
    for o in opens {
        let st = o.await.expect("task").expect("every replica starts");
        assert_eq!(st.schema_version().await.expect("version"), runlog_server::storage::PG_SCHEMA_VERSION);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_of_a_newer_schema_is_refused_and_left_alone() {
    let db = runlog_testkit::services::fresh_database().await;
    drop(PgStorage::connect(&db, None).await.expect("create"));
    let (c, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    let newer = runlog_server::storage::PG_SCHEMA_VERSION + 1;
    c.execute("UPDATE runlog_schema SET version = $1", &[&newer]).await.expect("bump");
    let e = PgStorage::connect(&db, None).await.expect_err("refused").to_string();
    assert!(e.contains(&format!("schema version {newer}")) && e.contains("upgrade runlog"), "{e}");
    let v: i32 = c.query_one("SELECT version FROM runlog_schema", &[]).await.expect("read").get(0);
    assert_eq!(v, newer, "left alone");
}

async fn experiments_have_stable_ids_and_tags_across_replicas_and_include_those_runs_name(backend: Backend) {
    let o = backend.open().await;
    let (one, two) = (o.storage.clone(), o.replica(backend).await);
    let (ws, _) = workspace(&one, "w").await;
    let (other, _) = workspace(&one, "other").await;
    one.create_experiment(ws, "made").await.expect("create");
    one.create_experiment(ws, "made").await.expect("creating again is nothing");
    two.set_experiment_tag(ws, "made", "team", Some("a")).await.expect("tag");
    two.set_experiment_tag(ws, "made", "team", Some("b")).await.expect("retag");
    one.set_experiment_tag(ws, "made", "gone", Some("x")).await.expect("tag");
    one.set_experiment_tag(ws, "made", "gone", None).await.expect("remove");
    // A run synced by an agent names experiment "e": it is listed too, created when its first run started.
    apply(&one, ws, batch(vec![run_record()])).await;
    let first = one.experiments(ws).await.expect("list");
    let names: Vec<&str> = first.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["made", "e"]);
    assert_eq!(first[0].tags, [("team".to_string(), "b".to_string())].into_iter().collect());
    assert_eq!(first[1].created_at, 1_001);
    assert!(first[0].updated_at >= first[0].created_at);
    assert_eq!(two.experiments(ws).await.expect("again"), first, "the same ids and tags on every replica");
    assert!(one.experiments(other).await.expect("other").is_empty(), "experiments belong to their workspace");
}
