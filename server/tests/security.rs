//! The server refuses what it must, with the right 4xx, stores nothing of it, and keeps serving, on every storage
//! backend. Driven through the router with `oneshot` (no port needed).

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use runlog_server::{AppState, Storage, router};
use runlog_wire::ServiceLimits;
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, Body as WireBody, WIRE_VERSION, WireRecord};
use std::sync::Arc;
use support::Backend;
use tower::ServiceExt;

struct Fixture {
    _opened: support::Opened,
    storage: Arc<dyn Storage>,
    app: axum::Router,
    token_a: String,
    token_b: String,
}

async fn fixture(backend: Backend, limits: ServiceLimits) -> Fixture {
    let opened = backend.open().await;
    let storage = opened.storage.clone();
    let token_a = storage.create_workspace("a").await.expect("a");
    let token_b = storage.create_workspace("b").await.expect("b");
    let app = router(AppState::new(storage.clone(), limits));
    Fixture { _opened: opened, storage, app, token_a, token_b }
}

each_backend!(
    missing_wrong_and_foreign_tokens_are_refused,
    hash_mismatch_malformed_and_oversized_batches_store_nothing,
    blobs_whose_bytes_do_not_match_their_hash_are_refused_and_not_kept,
    over_the_rate_answers_429_with_retry_after,
    per_record_rejections_leave_the_rest_of_the_batch_applied,
    health_reports_the_database_and_the_blob_store,
);

fn batch(run: &str) -> Batch {
    Batch {
        version: WIRE_VERSION,
        store: "0123456789abcdef0123456789abcdef".into(),
        records: vec![WireRecord {
            seq: 1,
            part: 0,
            rows: 1,
            run: run.into(),
            name: String::new(),
            at: 1,
            step: None,
            body: WireBody::Run { experiment: "e".into(), name: "n".into(), parent: None },
        }],
    }
}

const RUN: &str = "0123456789abcdef0123456789abcdef";

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).expect("request")).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

async fn healthy_and_empty(f: &Fixture) {
    let (s, runs) = call(&f.app, "GET", "/api/v1/runs", Some(&f.token_a), vec![]).await;
    assert_eq!(s, StatusCode::OK, "the server keeps serving");
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "nothing was stored: {runs}");
}

async fn missing_wrong_and_foreign_tokens_are_refused(backend: Backend) {
    let f = fixture(backend, ServiceLimits::default()).await;
    let (s, body) = call(&f.app, "GET", "/api/v1/runs", None, vec![]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    let (s, _) = call(&f.app, "GET", "/api/v1/runs", Some("rlt_wrong"), vec![]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let enc = batch(RUN).encode();
    let (s, _) =
        call(&f.app, "POST", &format!("/api/v1/batches/{}", enc.id), Some("rlt_wrong"), enc.bytes.to_vec()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Workspace a stores a run; b's token does not see it, nor a's blobs.
    let (s, _) =
        call(&f.app, "POST", &format!("/api/v1/batches/{}", enc.id), Some(&f.token_a), enc.bytes.to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    let blob = b"secret bytes".to_vec();
    let hash = blake3::hash(&blob).to_hex().to_string();
    let (s, _) = call(&f.app, "PUT", &format!("/api/v1/blobs/{hash}"), Some(&f.token_a), blob).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, runs) = call(&f.app, "GET", "/api/v1/runs", Some(&f.token_b), vec![]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "b sees none of a's runs");
    let (s, _) = call(&f.app, "GET", &format!("/api/v1/runs/{RUN}"), Some(&f.token_b), vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&f.app, "GET", &format!("/api/v1/blobs/{hash}"), Some(&f.token_b), vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, missing) = call(
        &f.app,
        "POST",
        "/api/v1/blobs/missing",
        Some(&f.token_b),
        serde_json::to_vec(&serde_json::json!({"hashes": [hash]})).expect("json"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(missing["missing"].as_array().map(Vec::len), Some(1), "b does not learn that a holds the blob");
    let (s, _) = call(&f.app, "GET", &format!("/api/v1/blobs/{hash}"), Some(&f.token_a), vec![]).await;
    assert_eq!(s, StatusCode::OK);
}

async fn hash_mismatch_malformed_and_oversized_batches_store_nothing(backend: Backend) {
    let f = fixture(backend, ServiceLimits { max_request_bytes: 64 << 10, ..ServiceLimits::default() }).await;
    let enc = batch(RUN).encode();
    let other = batch("fedcba9876543210fedcba9876543210").encode();
    let (s, body) =
        call(&f.app, "POST", &format!("/api/v1/batches/{}", other.id), Some(&f.token_a), enc.bytes.to_vec()).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("hash_mismatch")));
    healthy_and_empty(&f).await;
    let junk = b"\xc1\xff not msgpack at all".to_vec();
    let id = blake3::hash(&junk).to_hex().to_string();
    let (s, body) = call(&f.app, "POST", &format!("/api/v1/batches/{id}"), Some(&f.token_a), junk).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_batch")));
    healthy_and_empty(&f).await;
    let big = vec![0x90u8; 100 << 10];
    let id = blake3::hash(&big).to_hex().to_string();
    let (s, body) = call(&f.app, "POST", &format!("/api/v1/batches/{id}"), Some(&f.token_a), big).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));
    healthy_and_empty(&f).await;
    let (s, _) = call(&f.app, "POST", "/api/v1/batches/not-a-hash", Some(&f.token_a), enc.bytes.to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    healthy_and_empty(&f).await;
    // The good batch still goes through, twice, as one run.
    for _ in 0..2 {
        let (s, reply) =
            call(&f.app, "POST", &format!("/api/v1/batches/{}", enc.id), Some(&f.token_a), enc.bytes.to_vec()).await;
        assert_eq!(s, StatusCode::OK, "{reply}");
    }
    let (_, runs) = call(&f.app, "GET", "/api/v1/runs", Some(&f.token_a), vec![]).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
}

async fn blobs_whose_bytes_do_not_match_their_hash_are_refused_and_not_kept(backend: Backend) {
    let f = fixture(backend, ServiceLimits { max_blob_bytes: 1024, ..ServiceLimits::default() }).await;
    let hash = blake3::hash(b"what was promised").to_hex().to_string();
    let (s, body) =
        call(&f.app, "PUT", &format!("/api/v1/blobs/{hash}"), Some(&f.token_a), b"something else".to_vec()).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("hash_mismatch")));
    let ws = f.storage.workspace_for_token(&f.token_a).await.expect("auth").expect("ws");
    assert_eq!(f.storage.missing_blobs(ws, vec![hash.clone()]).await.expect("missing"), vec![hash.clone()]);
    let (s, _) = call(&f.app, "GET", &format!("/api/v1/blobs/{hash}"), Some(&f.token_a), vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let big = vec![7u8; 2048];
    let big_hash = blake3::hash(&big).to_hex().to_string();
    let (s, body) = call(&f.app, "PUT", &format!("/api/v1/blobs/{big_hash}"), Some(&f.token_a), big).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("blob_too_large")));
    let (s, _) = call(&f.app, "PUT", "/api/v1/blobs/zz", Some(&f.token_a), b"x".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    if backend == Backend::Sqlite {
        let blobs = f._opened.dir.path().join("blobs");
        let left: Vec<_> = walk(&blobs);
        assert!(left.is_empty(), "nothing is left in the blob directory: {left:?}");
    }
    healthy_and_empty(&f).await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

async fn health_reports_the_database_and_the_blob_store(backend: Backend) {
    let f = fixture(backend, ServiceLimits::default()).await;
    let (s, body) = call(&f.app, "GET", "/api/v1/health", None, vec![]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["checks"]["database"].as_str(), body["checks"]["blobs"].as_str()), (Some("ok"), Some("ok")));
}

async fn over_the_rate_answers_429_with_retry_after(backend: Backend) {
    let f =
        fixture(backend, ServiceLimits { max_requests_per_second: 1, request_burst: 2, ..ServiceLimits::default() })
            .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let req = Request::builder().uri("/api/v1/runs").header("authorization", format!("Bearer {}", f.token_a));
        let resp = f.app.clone().oneshot(req.body(Body::empty()).expect("req")).await.expect("resp");
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        }
    }
    assert_eq!(&statuses[..2], &[StatusCode::OK, StatusCode::OK]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Limits are published without a token.
    let (s, limits) = call(&f.app, "GET", "/api/v1/limits", None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(limits["max_requests_per_second"], 1);
}

async fn per_record_rejections_leave_the_rest_of_the_batch_applied(backend: Backend) {
    let f = fixture(backend, ServiceLimits::azure()).await;
    let mut b = batch(RUN);
    let long = "x".repeat(300);
    for (i, (name, value)) in
        [("ok", "fine".to_string()), (long.as_str(), "v".to_string()), ("p", "y".repeat(256))].into_iter().enumerate()
    {
        b.records.push(WireRecord {
            seq: 2 + i as i64,
            part: 0,
            rows: 1,
            run: RUN.into(),
            name: name.to_string(),
            at: 2,
            step: None,
            body: WireBody::Param(runlog_wire::WireValue::Str(value)),
        });
    }
    let enc = b.encode();
    let (s, reply) =
        call(&f.app, "POST", &format!("/api/v1/batches/{}", enc.id), Some(&f.token_a), enc.bytes.to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(reply["applied"], 2);
    let codes: Vec<&str> =
        reply["rejected"].as_array().expect("rejected").iter().filter_map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, vec!["name_too_long", "value_too_long"]);
    assert!(reply["rejected"][0]["reason"].as_str().unwrap_or("").contains("300 characters, the limit is 255"));
    let (_, run) = call(&f.app, "GET", &format!("/api/v1/runs/{RUN}"), Some(&f.token_a), vec![]).await;
    assert_eq!(run["params"]["ok"], "fine");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Arbitrary bytes under their own (correct) hash reach the decoder: always a 4xx, never a panic or a 5xx, and the
    /// server still answers afterwards.
    #[test]
    fn arbitrary_bodies_never_crash_the_server(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let f = fixture(Backend::Sqlite, ServiceLimits::default()).await;
            let id = blake3::hash(&bytes).to_hex().to_string();
            let (s, _) = call(&f.app, "POST", &format!("/api/v1/batches/{id}"), Some(&f.token_a), bytes.clone()).await;
            assert!(s.is_client_error() || s == StatusCode::OK, "{s}");
            let (s, _) = call(&f.app, "POST", "/api/v1/blobs/missing", Some(&f.token_a), bytes).await;
            assert!(s.is_client_error() || s == StatusCode::OK, "{s}");
            let (s, _) = call(&f.app, "GET", "/api/v1/runs", Some(&f.token_a), vec![]).await;
            assert_eq!(s, StatusCode::OK);
        });
    }
}

fn arb_record() -> impl proptest::strategy::Strategy<Value = WireRecord> {
    use proptest::prelude::*;
    use runlog_wire::WireValue;
    let value = prop_oneof![
        any::<bool>().prop_map(WireValue::Bool),
        any::<i64>().prop_map(WireValue::Int),
        any::<f64>().prop_map(WireValue::Float),
        ".{0,300}".prop_map(WireValue::Str),
    ];
    let points = proptest::collection::vec((any::<i64>(), any::<i64>(), any::<f64>()), 1..50).prop_map(|v| {
        let pts: Vec<Point> = v.into_iter().map(|(step, at, value)| Point { step, at, value }).collect();
        points::encode(&pts)
    });
    let body = prop_oneof![
        value.clone().prop_map(WireBody::Param),
        value.clone().prop_map(WireBody::Tag),
        points.prop_map(WireBody::Scalars),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(WireBody::Scalars),
        proptest::collection::vec(("[a-z]{1,4}", value), 0..20).prop_map(WireBody::Row),
        ".{0,50}".prop_map(WireBody::Text),
    ];
    (1i64..40, 0u32..3, 0u32..60, "[a-c]{1,2}|.{0,260}", body).prop_map(|(seq, part, rows, name, body)| WireRecord {
        seq,
        part,
        rows,
        run: RUN.into(),
        name,
        at: 1,
        step: Some(0),
        body,
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Random batches are applied record by record without a panic or a 5xx, and sending one again changes nothing.
    #[test]
    fn random_batches_apply_idempotently(records in proptest::collection::vec(arb_record(), 0..30)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let f = fixture(Backend::Sqlite, ServiceLimits::azure()).await;
            let enc = Batch { version: WIRE_VERSION, store: "0123456789abcdef0123456789abcdef".into(), records }.encode();
            let path = format!("/api/v1/batches/{}", enc.id);
            let (s, first) = call(&f.app, "POST", &path, Some(&f.token_a), enc.bytes.to_vec()).await;
            assert!(s == StatusCode::OK || s == StatusCode::PAYLOAD_TOO_LARGE, "{s} {first}");
            let (s2, second) = call(&f.app, "POST", &path, Some(&f.token_a), enc.bytes.to_vec()).await;
            assert_eq!(s, s2);
            if s == StatusCode::OK {
                assert_eq!(second["applied"], 0, "a resend applies nothing: {first} then {second}");
            }
        });
    }
}
