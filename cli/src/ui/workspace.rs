//! The web UI over a workspace of `runlog serve`: [`WorkspaceSource`] (a [`Source`] over the server's
//! [`Storage`], scoped to one workspace) and [`router`], the UI's routes under [`BASE`] behind a token check.
//!
//! A browser cannot send `Authorization: Bearer`, so the UI takes the workspace token once in the address
//! (`/ui/?token=...`), checks it like the API does (hashed, compared in constant time), and answers with a redirect
//! to the same page without the token and an `HttpOnly; SameSite=Strict` cookie scoped to `/ui` that holds the token
//! (`Secure` when the server speaks TLS). Every later request is checked again from the cookie (or from an
//! `Authorization: Bearer` header, for scripts); a token that opens no workspace gets 401 and no data. What a page
//! shows is exactly what the token's workspace holds: another workspace's runs, chunks and blobs cannot be named.
//!
//! This module maps the server's records to the core types the UI already knows; it must not know HTTP routes of
//! the UI (those are in the parent module) nor how the server stores records (that is [`Storage`]).

use super::{Source, Src};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use runlog_core::read::ChunkInfo;
use runlog_core::{
    BlobHash, Chart, Entry, Error, FileRef, ImageFormat, ImageRef, LogLine, MetricInfo, MetricKind, MetricSummary,
    Point, Result, Row, RunId, RunInfo, RunStatus, Table, Text, Value,
};
use runlog_server::{RecordBody, Storage, WorkspaceId};
use runlog_wire::{Body, WireValue};
use std::sync::Arc;

/// Where `runlog serve` mounts the UI.
pub const BASE: &str = "/ui";
/// The cookie holding the workspace token.
pub const COOKIE: &str = "runlog_token";

/// A [`Source`] over one workspace of the server's storage. The UI calls its sources on blocking threads; the
/// storage is async, so each call waits on the server's runtime.
pub struct WorkspaceSource {
    storage: Arc<dyn Storage>,
    ws: WorkspaceId,
    rt: tokio::runtime::Handle,
}

impl WorkspaceSource {
    /// The UI's view of workspace `ws`, its storage calls run on the runtime `rt`.
    pub fn new(storage: Arc<dyn Storage>, ws: WorkspaceId, rt: tokio::runtime::Handle) -> WorkspaceSource {
        WorkspaceSource { storage, ws, rt }
    }

    /// Waits for a storage call (from a blocking thread).
    fn wait<T>(&self, f: impl std::future::Future<Output = runlog_server::Result<T>>) -> Result<T> {
        self.rt.block_on(f).map_err(storage_error)
    }

    fn place(&self) -> String {
        format!("workspace {}", self.ws.0)
    }

    fn records(&self, id: &RunId, kind: &str, name: Option<&str>) -> Result<Vec<RecordBody>> {
        self.wait(self.storage.records(self.ws, id.as_str(), kind, name))
    }

    fn run_or_404(&self, id: &RunId) -> Result<RunInfo> {
        match self.wait(self.storage.run(self.ws, id.as_str()))? {
            Some(v) => run_info(&v).ok_or_else(|| Error::NotFound(format!("run {id} is damaged on the server"))),
            None => Err(Error::NotFound(format!("no run {id} in {}", self.place()))),
        }
    }
}

fn storage_error(e: runlog_server::Error) -> Error {
    Error::Storage { context: "server storage".into(), message: e.to_string() }
}

fn status(s: &str) -> RunStatus {
    match s {
        "completed" => RunStatus::Completed,
        "failed" => RunStatus::Failed,
        "cancelled" => RunStatus::Cancelled,
        "crashed" => RunStatus::Crashed,
        _ => RunStatus::Running,
    }
}

fn wire_text(v: &WireValue) -> String {
    match v {
        WireValue::Str(s) => s.clone(),
        other => runlog_wire::json::value(other).to_string(),
    }
}

fn wire_value(v: &WireValue) -> Value {
    match v {
        WireValue::Bool(b) => Value::Bool(*b),
        WireValue::Int(i) => Value::I64(*i),
        WireValue::Float(f) => Value::F64(*f),
        WireValue::Str(s) => Value::Str(s.clone()),
    }
}

/// A run of the server as the UI knows runs; None for a run id that is not 32 hex digits (the server accepts no
/// other, so only a damaged row).
fn run_info(v: &runlog_server::storage::RunView) -> Option<RunInfo> {
    Some(RunInfo {
        id: RunId::parse(&v.id).ok()?,
        experiment: v.experiment.clone(),
        name: v.name.clone(),
        parent: v.parent.as_deref().and_then(|p| RunId::parse(p).ok()),
        status: status(&v.status),
        reason: v.reason.clone(),
        started_at: v.started_at,
        ended_at: v.ended_at,
        params: v.params.iter().map(|(k, x)| (k.clone(), wire_value(x))).collect(),
        tags: v.tags.iter().map(|(k, x)| (k.clone(), wire_text(x))).collect(),
        properties: v.properties.iter().map(|(k, x)| (k.clone(), wire_text(x))).collect(),
    })
}

fn entry<T>(r: &RecordBody, value: T) -> Entry<T> {
    Entry { name: r.name.clone(), step: r.step, timestamp_ms: r.at, seq: r.seq, value }
}

fn metric_kind(kind: &str) -> Option<MetricKind> {
    Some(match kind {
        "scalars" => MetricKind::Scalar,
        "row" => MetricKind::Row,
        "table" => MetricKind::Table,
        "image" => MetricKind::Image,
        "text" => MetricKind::Text,
        "chart" => MetricKind::Chart,
        _ => return None,
    })
}

impl Source for WorkspaceSource {
    fn describe(&self) -> String {
        let name = self
            .wait(self.storage.workspaces())
            .ok()
            .and_then(|all| all.into_iter().find(|w| w.id == self.ws.0))
            .map_or_else(|| self.ws.0.to_string(), |w| w.name);
        format!("workspace {name}")
    }

    fn runs(&self) -> Result<Vec<RunInfo>> {
        Ok(self.wait(self.storage.runs(self.ws))?.iter().filter_map(run_info).collect())
    }

    fn resolve(&self, spec: &str) -> Result<RunId> {
        // A full id (what the pages ask with) is one look-up, not a scan of every run.
        if let Ok(id) = RunId::parse(spec)
            && self.wait(self.storage.run(self.ws, id.as_str()))?.is_some()
        {
            return Ok(id);
        }
        super::source::resolve_among(&self.runs()?, spec, &self.place())
    }

    fn run(&self, id: &RunId) -> Result<RunInfo> {
        self.run_or_404(id)
    }

    fn children(&self, id: &RunId) -> Result<Vec<RunInfo>> {
        Ok(self.runs()?.into_iter().filter(|r| r.parent.as_ref() == Some(id)).collect())
    }

    fn metrics(&self, id: &RunId) -> Result<Vec<MetricInfo>> {
        let descriptions = self.records(id, "description", None)?;
        let list = self.wait(self.storage.metrics(self.ws, id.as_str()))?;
        // The server counts a table's rows; the UI (like the local store) counts tables.
        let tables = if list.iter().any(|m| m.kind == "table") { self.records(id, "table", None)? } else { Vec::new() };
        Ok(list
            .into_iter()
            .filter_map(|m| {
                let kind = metric_kind(&m.kind)?;
                let count = if kind == MetricKind::Table {
                    tables.iter().filter(|t| t.name == m.name).count() as u64
                } else {
                    m.count
                };
                let description = descriptions.iter().rev().find(|d| d.name == m.name).and_then(|d| match &d.body {
                    Body::Description(WireValue::Str(s)) => Some(s.clone()),
                    _ => None,
                });
                Some(MetricInfo { name: m.name, kind, count, description })
            })
            .collect())
    }

    fn summary(&self, id: &RunId) -> Result<Vec<MetricSummary>> {
        let mut out = Vec::new();
        for m in self.wait(self.storage.metrics(self.ws, id.as_str()))? {
            if m.kind != "scalars" {
                continue;
            }
            let chunks = self.wait(self.storage.scalar_chunks(self.ws, id.as_str(), &m.name))?;
            let Some(last) = chunks.last() else { continue };
            let fold = |f: fn(f64, f64) -> f64, pick: fn(&runlog_server::ScalarChunk) -> Option<f64>| {
                chunks.iter().filter_map(pick).reduce(f)
            };
            out.push(MetricSummary {
                name: m.name,
                count: chunks.iter().map(|c| c.count as u64).sum(),
                last: last.last,
                last_step: last.last_step,
                min: fold(f64::min, |c| c.min),
                max: fold(f64::max, |c| c.max),
            });
        }
        Ok(out)
    }

    fn series_chunks(&self, id: &RunId, name: &str) -> Result<Vec<ChunkInfo>> {
        let chunks = self.wait(self.storage.scalar_chunks(self.ws, id.as_str(), name))?;
        Ok(chunks
            .into_iter()
            .map(|c| ChunkInfo {
                seq: c.id,
                step_lo: c.step_lo,
                step_hi: c.step_hi,
                count: c.count,
                min: c.min,
                max: c.max,
                last: c.last,
            })
            .collect())
    }

    fn chunk_points(&self, seq: i64) -> Result<Vec<Point>> {
        self.wait(self.storage.chunk_points(self.ws, seq))?
            .map(|pts| pts.iter().map(|p| Point { step: p.step, timestamp_ms: p.at, value: p.value }).collect())
            .ok_or_else(|| Error::NotFound(format!("no chunk {seq} in {}", self.place())))
    }

    fn rows(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Row>>> {
        Ok(self
            .records(id, "row", Some(name))?
            .iter()
            .filter_map(|r| match &r.body {
                Body::Row(cols) => {
                    Some(entry(r, Row { columns: cols.iter().map(|(k, v)| (k.clone(), wire_value(v))).collect() }))
                }
                _ => None,
            })
            .collect())
    }

    fn tables(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Table>>> {
        Ok(self
            .records(id, "table", Some(name))?
            .iter()
            .filter_map(|r| match &r.body {
                Body::Table(cols) => Some(entry(
                    r,
                    Table {
                        columns: cols.iter().map(|(k, vs)| (k.clone(), vs.iter().map(wire_value).collect())).collect(),
                    },
                )),
                _ => None,
            })
            .collect())
    }

    fn images(&self, id: &RunId) -> Result<Vec<Entry<ImageRef>>> {
        Ok(self
            .records(id, "image", None)?
            .iter()
            .filter_map(|r| match &r.body {
                Body::Image { hash, format, width, height, size, description } => {
                    let format = match format.as_str() {
                        "png" => ImageFormat::Png,
                        "jpeg" => ImageFormat::Jpeg,
                        _ => return None,
                    };
                    let value = ImageRef {
                        hash: BlobHash::parse(hash).ok()?,
                        format,
                        width: *width,
                        height: *height,
                        size: *size,
                        description: description.clone(),
                    };
                    Some(entry(r, value))
                }
                _ => None,
            })
            .collect())
    }

    fn texts(&self, id: &RunId) -> Result<Vec<Entry<Text>>> {
        Ok(self
            .records(id, "text", None)?
            .iter()
            .filter_map(|r| match &r.body {
                Body::Text(t) => Some(entry(r, Text { text: t.clone() })),
                _ => None,
            })
            .collect())
    }

    fn charts(&self, id: &RunId) -> Result<Vec<Entry<Chart>>> {
        Ok(self
            .records(id, "chart", None)?
            .iter()
            .filter_map(|r| match &r.body {
                // Checked by the server on ingest; parsed again into the store's type.
                Body::Chart(doc) => Some(entry(r, Chart::parse(&r.name, None, doc).ok()?)),
                _ => None,
            })
            .collect())
    }

    fn files(&self, id: &RunId) -> Result<Vec<Entry<FileRef>>> {
        Ok(self
            .records(id, "file", None)?
            .iter()
            .filter_map(|r| match &r.body {
                Body::File { hash, size } => Some(entry(r, FileRef { hash: BlobHash::parse(hash).ok()?, size: *size })),
                _ => None,
            })
            .collect())
    }

    fn log_lines(&self, id: &RunId, tail: usize) -> Result<Vec<Entry<LogLine>>> {
        let all = self.records(id, "log", None)?;
        let skip = all.len().saturating_sub(tail);
        Ok(all[skip..]
            .iter()
            .filter_map(|r| match &r.body {
                Body::Log { level, target, message } => {
                    Some(entry(r, LogLine { level: level.clone(), target: target.clone(), message: message.clone() }))
                }
                _ => None,
            })
            .collect())
    }

    fn blob(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        self.wait(self.storage.blob(self.ws, hash.as_str()))?
            .ok_or_else(|| Error::NotFound(format!("no blob {} in {}", hash.as_str(), self.place())))
    }
}

/// What the token check needs.
#[derive(Clone)]
struct Auth {
    storage: Arc<dyn Storage>,
    secure: bool,
}

/// The UI's routes under [`BASE`] over the workspaces of `storage`, each request opened by its token (see the
/// module docs); `/` and `/ui` redirect to `/ui/`. `secure` marks the cookie `Secure` (set it when serving TLS).
pub fn router(storage: Arc<dyn Storage>, secure: bool) -> Router {
    let auth = Auth { storage, secure };
    super::routes(BASE)
        .route_layer(axum::middleware::from_fn_with_state(auth, authenticate))
        .route("/", axum::routing::get(|| async { Redirect::to("/ui/") }))
        .route(BASE, axum::routing::get(|| async { Redirect::to("/ui/") }))
}

/// A token as `runlog` makes them: `rlt_` and hex digits. Anything else opens nothing and never reaches a header.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 200 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits `token=...` out of a query string: (the token, the rest of the query).
fn take_token(query: &str) -> (Option<String>, String) {
    let mut token = None;
    let mut rest = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        match part.strip_prefix("token=") {
            Some(t) => token = Some(t.trim().to_string()),
            None => rest.push(part),
        }
    }
    (token, rest.join("&"))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(v.strip_prefix("Bearer ")?.trim().to_string())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(|t| t.trim().to_string()))
}

/// The workspace a token opens, if any.
async fn workspace(auth: &Auth, token: String) -> std::result::Result<Option<WorkspaceId>, Response> {
    if !plausible(&token) {
        return Ok(None);
    }
    match auth.storage.workspace_for_token(&token).await {
        Ok(ws) => Ok(ws),
        Err(e) => {
            eprintln!("runlog serve: ui: token check failed: {e}");
            Err(super::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
        }
    }
}

/// 401: JSON for the API, a page with a token form for pages. Neither says anything about the workspaces.
fn unauthorized(path: &str, why: &str) -> Response {
    let mut r = if path.starts_with(&format!("{BASE}/api/")) {
        super::ApiError::new(StatusCode::UNAUTHORIZED, why).into_response()
    } else {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>runlog: token needed</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1c2230}}</style></head>\
             <body><h1>runlog</h1><p id=\"error\">{why}.</p><p>Open this page with the workspace token that \
             <code>runlog serve</code> or <code>runlog admin create-token</code> printed:</p>\
             <form method=\"get\"><input name=\"token\" type=\"password\" size=\"70\" autocomplete=\"off\"> \
             <button>Open</button></form></body></html>"
        );
        (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
    };
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The token check in front of every UI route: puts the workspace's [`Src`] into the request, or answers 401.
async fn authenticate(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let (from_url, rest) = take_token(req.uri().query().unwrap_or(""));
    if let Some(token) = from_url.filter(|_| req.method() == Method::GET) {
        return match workspace(&auth, token.clone()).await {
            Err(r) => r,
            Ok(None) => unauthorized(&path, "the token in the address opens no workspace"),
            Ok(Some(_)) => {
                // The token leaves the address at once; the cookie carries it from now on.
                let to = if rest.is_empty() { path } else { format!("{path}?{rest}") };
                let secure = if auth.secure { "; Secure" } else { "" };
                let set = format!("{COOKIE}={token}; Path={BASE}; HttpOnly; SameSite=Strict{secure}");
                let mut r = Redirect::to(&to).into_response();
                if let Ok(v) = HeaderValue::from_str(&set) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
        };
    }
    let Some(token) = bearer(req.headers()).or_else(|| cookie(req.headers())) else {
        return unauthorized(&path, "no workspace token (open /ui/?token=... once)");
    };
    match workspace(&auth, token).await {
        Err(r) => r,
        Ok(None) => unauthorized(&path, "the token opens no workspace"),
        Ok(Some(ws)) => {
            let src: Src = Arc::new(WorkspaceSource::new(auth.storage.clone(), ws, tokio::runtime::Handle::current()));
            req.extensions_mut().insert(src);
            next.run(req).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_out_of_the_query() {
        assert_eq!(take_token("token=rlt_ab"), (Some("rlt_ab".into()), String::new()));
        assert_eq!(take_token("runs=a,b&token=x&z=1"), (Some("x".into()), "runs=a,b&z=1".into()));
        assert_eq!(take_token("runs=a"), (None, "runs=a".into()));
    }

    #[test]
    fn only_plausible_tokens_are_looked_up() {
        assert!(plausible("rlt_0123abcd"));
        assert!(!plausible(""));
        assert!(!plausible("a\r\nSet-Cookie: x=y"));
        assert!(!plausible("a;b"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; runlog_token=rlt_x; b=2"));
        assert_eq!(cookie(&h).as_deref(), Some("rlt_x"));
        h.insert(header::COOKIE, HeaderValue::from_static("runlog_tokenx=1"));
        assert_eq!(cookie(&h), None);
    }
}
