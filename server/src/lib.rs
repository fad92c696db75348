//! The workspace server: an axum [`router`] over a [`storage::Storage`], serving the upload API the agent uses and
//! the read API the UI and tests use (docs/protocol.md).
//!
//! Every request but `/api/v1/health` and `/api/v1/limits` needs `Authorization: Bearer <token>`; a token opens one
//! workspace and is rate limited (a token bucket of [`ServiceLimits::max_requests_per_second`], answered 429 with
//! `Retry-After`). Batches are verified (the blake3 of the body must be the id in the path), decoded without panics,
//! and applied in one transaction. The server must not know about local stores or the agent's policy.

mod error;
pub mod storage;

pub use error::{ApiError, Error, Result};
pub use storage::{
    Admin, BlobStore, Counter, ExperimentRow, Experiments, Ingest, Page, PgStorage, Read, RecordBody, ScalarChunk,
    SqliteStorage, Stats, Storage, WorkspaceId,
};

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures_util::StreamExt;
use runlog_wire::{Batch, BatchId, MissingReply, MissingRequest, ServiceLimits, truncate};
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    storage: Arc<dyn Storage>,
    limits: ServiceLimits,
    /// Requests per workspace: a token bucket kept by the storage, so every replica draws on the same one.
    quota: Option<storage::rate::Quota>,
}

impl AppState {
    /// State over a storage, enforcing `limits`.
    pub fn new(storage: Arc<dyn Storage>, limits: ServiceLimits) -> AppState {
        AppState { storage, limits, quota: storage::rate::Quota::of(&limits) }
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }
}

/// The server's routes (docs/protocol.md).
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/limits", get(limits))
        .route("/api/v1/batches/{id}", post(upload_batch))
        .route("/api/v1/blobs/missing", post(missing_blobs))
        .route("/api/v1/blobs/{hash}", put(upload_blob).get(get_blob))
        .route("/api/v1/stores/{store}/position", get(position))
        .route("/api/v1/stores/{store}/rejections", get(rejections))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/runs/{id}/metrics", get(metrics))
        .route("/api/v1/runs/{id}/series/{*name}", get(series))
        .route("/api/v1/runs/{id}/entries/{kind}", get(entries))
        // Bodies are limited by the handlers themselves, so an oversized body gets this API's 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Checks the bearer token and the rate limit; returns the workspace.
async fn auth(state: &AppState, headers: &HeaderMap) -> Result<WorkspaceId, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)"))?
        .to_string();
    let ws = state
        .storage
        .workspace_for_token(&token)
        .await?
        .ok_or(ApiError::Unauthorized("the token opens no workspace"))?;
    if let Some(quota) = state.quota {
        if let Err(wait_us) = state.storage.take_request(ws, quota).await? {
            let _ = state.storage.bump(ws, Counter::RateLimited, 1).await;
            return Err(ApiError::RateLimited(storage::rate::retry_after_secs(wait_us)));
        }
    }
    Ok(ws)
}

async fn too_large(state: &AppState, ws: WorkspaceId, code: &'static str, msg: String) -> ApiError {
    let _ = state.storage.bump(ws, Counter::TooLarge, 1).await;
    ApiError::TooLarge(code, msg)
}

/// Reads a body of at most `limit` bytes. Over the limit, the rest is read and dropped (up to a bound) before the
/// 413 goes out, so a client still sending sees the answer rather than a reset; returns the bytes seen.
async fn read_limited(body: Body, limit: u64) -> Result<bytes::Bytes, u64> {
    let drain_bound = limit.saturating_mul(4).max(64 << 20);
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0u64;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return Err(seen) };
        seen += chunk.len() as u64;
        if seen > drain_bound {
            return Err(seen);
        }
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else {
            buf = bytes::BytesMut::new();
        }
    }
    if seen > limit { Err(seen) } else { Ok(buf.freeze()) }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// Whether this replica can serve: its database and blob store answer (503 and what failed, for a load balancer).
async fn health(State(state): State<AppState>) -> Response {
    let checks = state.storage.health().await;
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let parts: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(what, r)| (what.to_string(), r.err().map_or("ok".into(), |e| e.to_string()).into()))
        .collect();
    let body = Json(serde_json::json!({"ok": ok, "wire_version": runlog_wire::WIRE_VERSION, "checks": parts}));
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, body).into_response()
}

async fn limits(State(state): State<AppState>) -> Json<ServiceLimits> {
    Json(state.limits)
}

async fn upload_batch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    let limit = state.limits.max_request_bytes;
    if let Some(n) = content_length(&headers).filter(|n| *n > limit.saturating_mul(4).max(64 << 20)) {
        let msg = format!("batch body is {n} bytes, the limit is {limit}");
        return Err(too_large(&state, ws, "body_too_large", msg).await);
    }
    let bytes = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(seen) => {
            let msg = format!("batch body is over {seen} bytes, the limit is {limit}");
            return Err(too_large(&state, ws, "body_too_large", msg).await);
        }
    };
    let id = BatchId::parse(&id).map_err(|e| ApiError::BadRequest("bad_batch_id", e.to_string()))?;
    let actual = BatchId::of(&bytes);
    if actual != id {
        return Err(ApiError::BadRequest(
            "hash_mismatch",
            format!("the body hashes to {actual}, not to the batch id {id}"),
        ));
    }
    let batch = Batch::decode(&bytes).map_err(|e| ApiError::BadRequest("malformed_batch", e.to_string()))?;
    match state.storage.apply_batch(ws, id, bytes.len(), batch, state.limits).await? {
        Ok(reply) => Ok(Json(reply).into_response()),
        Err(storage::BatchRefusal::BlobsMissing(hashes)) => Err(ApiError::Conflict(
            "blob_missing",
            format!("the batch refers to blobs the workspace does not hold: {}", hashes.join(", ")),
        )),
        Err(storage::BatchRefusal::TooManyRows { rows, limit }) => Err(too_large(
            &state,
            ws,
            "too_many_rows_in_batch",
            format!("the batch holds {rows} rows, the limit is {limit} rows per batch"),
        )
        .await),
    }
}

async fn missing_blobs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MissingReply>, ApiError> {
    let ws = auth(&state, &headers).await?;
    let limit = state.limits.max_request_bytes as usize;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Err(
                too_large(&state, ws, "body_too_large", format!("body is over the limit of {limit} bytes")).await
            );
        }
    };
    let req: MissingRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest("malformed_request", format!("bad JSON: {e}")))?;
    if let Some(bad) = req.hashes.iter().find(|h| !is_hash(h)) {
        return Err(ApiError::BadRequest("bad_hash", format!("{:?} is not 64 hexadecimal digits", truncate(bad, 70))));
    }
    let missing = state.storage.missing_blobs(ws, req.hashes).await?;
    Ok(Json(MissingReply { missing }))
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn upload_blob(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let ws = auth(&state, &headers).await?;
    if !is_hash(&hash) {
        return Err(ApiError::BadRequest(
            "bad_hash",
            format!("{:?} is not 64 hexadecimal digits", truncate(&hash, 70)),
        ));
    }
    let hash = hash.to_ascii_lowercase();
    let limit = state.limits.max_blob_bytes;
    if let Some(n) = content_length(&headers).filter(|n| *n > limit) {
        return Err(too_large(&state, ws, "blob_too_large", format!("blob is {n} bytes, the limit is {limit}")).await);
    }
    let mut upload = state.storage.begin_blob(ws).await?;
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest("body_error", format!("reading the body failed: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            let msg = format!("blob is over the limit of {limit} bytes");
            return Err(too_large(&state, ws, "blob_too_large", msg).await);
        }
        hasher.update(&chunk);
        // An upload dropped (a refusal, a broken connection) leaves nothing behind.
        upload.write(&chunk).await?;
    }
    let actual = hasher.finalize().to_hex().to_string();
    if actual != hash {
        return Err(ApiError::BadRequest("hash_mismatch", format!("the body hashes to {actual}, not to {hash}")));
    }
    upload.commit(&hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_blob(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    let bytes = state.storage.blob(ws, &hash).await?.ok_or_else(|| ApiError::NotFound(format!("no blob {hash}")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn position(
    State(state): State<AppState>,
    Path(store): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ws = auth(&state, &headers).await?;
    let seq = state.storage.position(ws, &store.to_ascii_lowercase()).await?;
    Ok(Json(serde_json::json!({"store": store, "seq_hi": seq})))
}

async fn rejections(
    State(state): State<AppState>,
    Path(store): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    Ok(Json(state.storage.rejections(ws, &store.to_ascii_lowercase()).await?).into_response())
}

async fn stats(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Stats>, ApiError> {
    let ws = auth(&state, &headers).await?;
    Ok(Json(state.storage.stats(ws).await?))
}

/// Query of the run list: without `limit`, every run; with it, one page after the run `after`.
#[derive(Debug, serde::Deserialize)]
struct RunsQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// The largest page of the run list.
const MAX_PAGE: usize = 10_000;

async fn runs(
    State(state): State<AppState>,
    Query(q): Query<RunsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    let Some(limit) = q.limit else { return Ok(Json(state.storage.runs(ws).await?).into_response()) };
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest("bad_limit", format!("limit={limit} must be 1 to {MAX_PAGE}")));
    }
    let page = state.storage.runs_page(ws, Page { after: q.after, limit }).await?;
    let next = (page.len() == limit).then(|| page.last().map(|r| r.id.clone())).flatten();
    Ok(Json(serde_json::json!({"runs": page, "next": next})).into_response())
}

async fn run(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    let run = state.storage.run(ws, &id).await?.ok_or_else(|| ApiError::NotFound(format!("no run {id}")))?;
    Ok(Json(run).into_response())
}

async fn metrics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    Ok(Json(state.storage.metrics(ws, &id).await?).into_response())
}

async fn series(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    let points = state.storage.series(ws, &id, &name).await?;
    let pts: Vec<serde_json::Value> = points
        .iter()
        .map(|p| serde_json::Value::Array(vec![p.step.into(), p.at.into(), runlog_wire::json::float(p.value)]))
        .collect();
    Ok(Json(serde_json::json!({"name": name, "points": pts})).into_response())
}

/// Query of the entries endpoint.
#[derive(Debug, serde::Deserialize)]
struct EntriesQuery {
    name: Option<String>,
}

async fn entries(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    Query(q): Query<EntriesQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ws = auth(&state, &headers).await?;
    const KINDS: [&str; 12] =
        ["run", "status", "param", "tag", "property", "description", "row", "table", "image", "text", "log", "chart"];
    if !KINDS.contains(&kind.as_str()) && kind != "file" {
        return Err(ApiError::NotFound(format!(
            "no entry kind {kind:?} (one of {KINDS:?} or file; scalars are under /series)"
        )));
    }
    Ok(Json(state.storage.entries(ws, &id, &kind, q.name.as_deref()).await?).into_response())
}

/// A server running on a thread of its own (for tests and for embedding next to synchronous code). Dropping it asks
/// the server to stop.
pub struct BackgroundServer {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl BackgroundServer {
    /// Serves `state` on `listener` (plain HTTP) on a new thread with its own runtime.
    pub fn start(listener: std::net::TcpListener, state: AppState) -> Result<BackgroundServer> {
        let url = format!("http://{}", listener.local_addr().map_err(|e| Error::io("listener address", e))?);
        listener.set_nonblocking(true).map_err(|e| Error::io("set listener non-blocking", e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the server runtime", e))?;
        std::thread::Builder::new()
            .name("runlog-server".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(l) = tokio::net::TcpListener::from_std(listener) else { return };
                    let _ = axum::serve(l, router(state))
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| Error::io("start the server thread", e))?;
        Ok(BackgroundServer { url, stop: Some(tx) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// TLS files for [`serve`].
#[derive(Debug, Clone)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: std::path::PathBuf,
    /// PEM private key.
    pub key: std::path::PathBuf,
}

/// Serves the router on a bound listener until the process ends, over TLS when given certificate files.
pub async fn serve(listener: std::net::TcpListener, state: AppState, tls: Option<Tls>) -> Result<()> {
    serve_router(listener, router(state), tls).await
}

/// Resolves on SIGTERM (what a process manager or an orchestrator sends) or Ctrl-C: the server then stops taking
/// connections and finishes the requests in flight, so a batch being applied is applied (or not at all) before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Serves any router (e.g. [`router`] merged with more routes, such as the web UI) like [`serve`].
pub async fn serve_router(listener: std::net::TcpListener, app: axum::Router, tls: Option<Tls>) -> Result<()> {
    listener.set_nonblocking(true).map_err(|e| Error::io("set listener non-blocking", e))?;
    match tls {
        None => {
            let l = tokio::net::TcpListener::from_std(listener).map_err(|e| Error::io("listen", e))?;
            axum::serve(l, app).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| Error::io("serve", e))
        }
        Some(t) => {
            // Two rustls crypto providers are compiled in (object_store's reqwest brings ring): name the one to use.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&t.cert, &t.key).await.map_err(|e| {
                Error::Config(format!(
                    "cannot load TLS certificate {} and key {}: {e}",
                    t.cert.display(),
                    t.key.display()
                ))
            })?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                h.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
            });
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(app.into_make_service())
                .await
                .map_err(|e| Error::io("serve over TLS", e))
        }
    }
}
