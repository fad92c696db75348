//! The local web UI: an axum router over a [`Source`], with its HTML, JavaScript and CSS compiled into the binary.
//!
//! [`router`] is all a server needs: `runlog ui` serves it over a local store. [`routes`] is the same under a path
//! prefix with the source taken from each request: `runlog serve` mounts it at `/ui` over the workspace a token
//! opens ([`workspace`]). Pages are one static app (`/`, `/runs/<run>`, `/compare?runs=a,b`, all under the prefix)
//! that reads the JSON API under `/api/`. The API downsamples long series on the server ([`downsample`]), so the browser never receives more than a
//! few thousand points per chart. Nothing here fetches from the network; the assets have no external references.
//!
//! API (all GET, JSON unless noted; names and runs are query parameters because both may contain `/`):
//! - `/api/info`: `{"source": "..."}`
//! - `/api/runs[?filter=EXPR][&sort=KEYS]`: runs as `runlog ls --json --filter EXPR --sort KEYS` prints them (the
//!   same [`crate::filter`] code), each with `depth` (0 at the top, 1 under a shown parent, ...) and `children` (how
//!   many shown runs sit right under it); a bad expression is a 400 `{"error", "column", "field"}`
//! - `/api/overlay?name=METRIC[&experiment=E][&group=params.X][&filter=EXPR][&points=N]`: one metric of many runs,
//!   per group `{"key", "runs", "points": [[step, mean, min, max], ...]}` ([`sweep`])
//! - `/api/run?run=SPEC`: `{"run": {...}, "metrics": [...], "children": [...], "files": [...], "texts": [...],
//!   "charts": [{"name", "step", "schema_type", "schema_version", "data"}]}`
//! - `/api/series?run=ID&name=N[&from=S&to=S][&points=N][&x=time]`: `{"name", "count", "step_min", "step_max",
//!   "downsampled", "points": [[step, value|null], ...]}` (with `x=time`: `[step, value|null, timestamp_ms]`)
//! - `/api/rows?run=ID&name=N`: `{"columns": [...], "rows": [[...], ...], "steps": [...]}`
//! - `/api/table?run=ID&name=N[&step=S]`: `{"steps": [...], "step": S, "columns": [...], "rows": [[...]]}`
//! - `/api/images?run=ID`: `[{"name", "step", "timestamp", "description", "hash", "width", "height", "format"}]`
//! - `/api/logs?run=ID[&tail=N]`: `[{"stream", "level", "message", "timestamp"}]`
//! - `/api/blob/HASH`: the bytes (PNG and JPEG with their MIME type)
//!
//! Errors are `{"error": "..."}` with 404 for an unknown run, series or blob, 400 for a bad request; a 500 says
//! "internal error" and its details go to stderr.

pub mod downsample;
pub mod source;
pub mod sweep;
pub mod workspace;

pub use source::Source;

use axum::Extension;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use runlog_core::{BlobHash, ErrorKind, RunId};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::sync::Arc;

/// The shared source of every handler.
pub type Src = Arc<dyn Source>;

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const STYLE_CSS: &str = include_str!("../../ui/style.css");

/// Default and largest number of buckets of a downsampled series.
const DEFAULT_BUCKETS: usize = 1_000;
const MAX_BUCKETS: usize = 20_000;
/// Default number of log lines a run page shows.
const DEFAULT_LOG_TAIL: usize = 500;

/// The UI's routes over one `source`, at the root (what `runlog ui` serves).
pub fn router(source: Src) -> Router {
    routes("").layer(Extension(source)).fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page") })
}

/// The UI's routes under `base` (`""`, or a path such as `"/ui"` without a trailing slash). Handlers read the
/// [`Src`] from the request's extensions: the caller adds a layer that puts one there for each request (a fixed
/// source in [`router`], the workspace a token opens in [`workspace::router`]). No fallback is set, so the routes can
/// be merged into another router.
pub fn routes(base: &str) -> Router {
    let index: Arc<str> = INDEX_HTML.replace("{{base}}", base).into();
    let page_index = index.clone();
    let page = move || {
        let i = page_index.clone();
        async move { html(&i) }
    };
    let exp_index = index.clone();
    let exp_page = move || {
        let i = exp_index.clone();
        async move { html(&i) }
    };
    let run_index = index;
    let run = move |src: Extension<Src>, spec: Path<String>| {
        let i = run_index.clone();
        async move { run_page(&i, src, spec).await }
    };
    Router::new()
        .route(&format!("{base}/"), get(page.clone()))
        .route(&format!("{base}/compare"), get(page))
        .route(&format!("{base}/runs/{{*spec}}"), get(run))
        .route(&format!("{base}/experiments/{{*name}}"), get(exp_page))
        .route(&format!("{base}/assets/app.js"), get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route(&format!("{base}/assets/style.css"), get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route(&format!("{base}/api/info"), get(api_info))
        .route(&format!("{base}/api/runs"), get(api_runs))
        .route(&format!("{base}/api/run"), get(api_run))
        .route(&format!("{base}/api/overlay"), get(api_overlay))
        .route(&format!("{base}/api/series"), get(api_series))
        .route(&format!("{base}/api/rows"), get(api_rows))
        .route(&format!("{base}/api/table"), get(api_table))
        .route(&format!("{base}/api/images"), get(api_images))
        .route(&format!("{base}/api/logs"), get(api_logs))
        .route(&format!("{base}/api/blob/{{hash}}"), get(api_blob))
}

fn asset(mime: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn html(index: &str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], index.to_string())
        .into_response()
}

/// The app page, with status 404 when the run does not resolve (the app then shows why).
async fn run_page(index: &str, Extension(src): Extension<Src>, Path(spec): Path<String>) -> Response {
    let found = blocking(&src, move |s| Ok(s.resolve(&spec).is_ok())).await.unwrap_or(false);
    let mut r = html(index);
    if !found {
        *r.status_mut() = StatusCode::NOT_FOUND;
    }
    r
}

/// An API error: a status and a message safe to show.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
}

impl From<runlog_core::Error> for ApiError {
    fn from(e: runlog_core::Error) -> Self {
        match e.kind() {
            ErrorKind::NotFound => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            ErrorKind::InvalidInput => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
            _ => {
                eprintln!("runlog ui: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error (details on the server's stderr)")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, [(header::CACHE_CONTROL, "no-store")], axum::Json(json!({ "error": self.message })))
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// Runs a source call on the blocking pool (sources do file I/O and may hold a lock).
async fn blocking<T: Send + 'static>(
    src: &Src,
    f: impl FnOnce(&dyn Source) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let src = src.clone();
    tokio::task::spawn_blocking(move || f(&*src)).await.map_err(|e| {
        eprintln!("runlog ui: a request task failed: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?
}

fn json_response(v: Json) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response()
}

fn float(v: f64) -> Json {
    serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
}

async fn api_info(Extension(src): Extension<Src>) -> ApiResult {
    let d = blocking(&src, |s| Ok(s.describe())).await?;
    Ok(json_response(json!({ "source": d })))
}

#[derive(Debug, Deserialize)]
struct RunsQ {
    filter: Option<String>,
    sort: Option<String>,
    experiment: Option<String>,
}

/// A bad filter or sort: 400 with the message and the column, so the page can point at it.
fn filter_error(what: &str, e: crate::filter::FilterError) -> Response {
    let body = json!({ "error": format!("{what} {e}"), "column": e.column, "field": what });
    (StatusCode::BAD_REQUEST, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

async fn api_runs(Extension(src): Extension<Src>, Query(q): Query<RunsQ>) -> ApiResult {
    let filter = match crate::filter::Filter::parse(q.filter.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return Ok(filter_error("filter", e)),
    };
    let sort = match crate::filter::parse_sort(q.sort.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return Ok(filter_error("sort", e)),
    };
    let v = blocking(&src, move |s| {
        let mut runs = s.runs()?;
        if let Some(e) = &q.experiment {
            runs.retain(|r| &r.experiment == e);
        }
        let mut all = s.summaries()?;
        let summaries: Vec<Vec<runlog_core::MetricSummary>> =
            runs.iter().map(|r| all.remove(&r.id).unwrap_or_default()).collect();
        let refs: Vec<&[runlog_core::MetricSummary]> = summaries.iter().map(Vec::as_slice).collect();
        let placed = crate::filter::arrange(&runs, &refs, &filter, &sort);
        let mut kids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for p in &placed {
            if let Some(parent) = &runs[p.index].parent {
                *kids.entry(parent.as_str()).or_default() += 1;
            }
        }
        Ok(placed
            .iter()
            .map(|p| {
                let r = &runs[p.index];
                let mut v = crate::cmd::ls::ls_json(r, &summaries[p.index]);
                v["depth"] = p.depth.into();
                v["children"] = kids.get(r.id.as_str()).copied().unwrap_or(0).into();
                v
            })
            .collect::<Vec<Json>>())
    })
    .await?;
    Ok(json_response(Json::Array(v)))
}

#[derive(Debug, Deserialize)]
struct OverlayQ {
    experiment: Option<String>,
    name: String,
    group: Option<String>,
    filter: Option<String>,
    points: Option<usize>,
}

/// Default and largest number of step buckets of an overlay.
const DEFAULT_OVERLAY_BUCKETS: usize = 200;
const MAX_OVERLAY_BUCKETS: usize = 2_000;

/// One metric of many runs (an experiment, narrowed by a filter), grouped by a key (`params.lr`): per group, the
/// mean, min and max on a common step grid ([`sweep::overlay`]). Each run's series is first downsampled from its chunk
/// statistics, so a long series costs what a short one does.
async fn api_overlay(Extension(src): Extension<Src>, Query(q): Query<OverlayQ>) -> ApiResult {
    let filter = match crate::filter::Filter::parse(q.filter.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return Ok(filter_error("filter", e)),
    };
    let group = match crate::filter::parse_sort(q.group.as_deref().unwrap_or("")) {
        Ok(mut keys) if keys.len() <= 1 => keys.pop().map(|k| k.key),
        Ok(_) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "group names one key, such as params.lr")),
        Err(e) => return Ok(filter_error("group", e)),
    };
    let buckets = q.points.unwrap_or(DEFAULT_OVERLAY_BUCKETS).clamp(1, MAX_OVERLAY_BUCKETS);
    let v = blocking(&src, move |s| {
        let mut all = s.summaries()?;
        let mut chosen = Vec::new();
        for r in s.runs()? {
            if q.experiment.as_ref().is_some_and(|e| e != &r.experiment) {
                continue;
            }
            let summary = all.remove(&r.id).unwrap_or_default();
            if !summary.iter().any(|m| m.name == q.name) || !filter.matches(&r, &summary) {
                continue;
            }
            let key = match &group {
                None => "all".to_string(),
                Some(k) => match k.field(&r, &summary) {
                    None => sweep::NONE.to_string(),
                    Some(crate::filter::Field::Num(x)) => x.to_string(),
                    Some(crate::filter::Field::Str(t)) => t.into_owned(),
                },
            };
            chosen.push((r.id.clone(), key));
        }
        let mut chunks = Vec::with_capacity(chosen.len());
        for (id, key) in chosen {
            chunks.push((key, s.series_chunks(&id, &q.name)?));
        }
        let lo = chunks.iter().flat_map(|(_, c)| c.iter().map(|c| c.step_lo)).min();
        let hi = chunks.iter().flat_map(|(_, c)| c.iter().map(|c| c.step_hi)).max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(json!({"name": q.name, "runs": 0, "step_min": null, "step_max": null, "groups": []}));
        };
        let mut series = Vec::with_capacity(chunks.len());
        for (key, c) in chunks {
            let sampled = downsample::downsample(&c, Some(lo), Some(hi), buckets, |c| s.chunk_points(c.seq))?;
            series.push((key, sampled.points));
        }
        let groups = sweep::overlay(&series, lo, hi, buckets);
        Ok(json!({
            "name": q.name, "runs": series.len(), "step_min": lo, "step_max": hi,
            "groups": groups.iter().map(|g| json!({
                "key": g.key, "runs": g.runs,
                "points": g.points.iter().map(|p| json!([p.0, float(p.1), float(p.2), float(p.3)])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(json_response(v))
}

#[derive(Debug, Deserialize)]
struct RunQ {
    run: String,
    tail: Option<usize>,
}

fn resolve(s: &dyn Source, spec: &str) -> Result<RunId, ApiError> {
    s.resolve(spec).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidInput => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        _ => e.into(),
    })
}

/// A chart as the API gives it: `{"name", "step", "schema_type", "schema_version", "data"}`.
fn chart_json(e: &runlog_core::Entry<runlog_core::Chart>) -> serde_json::Value {
    let data: serde_json::Value = serde_json::from_str(&e.value.data).unwrap_or_default();
    json!({"name": e.name, "step": e.step, "schema_type": e.value.schema_type.as_str(),
        "schema_version": e.value.schema_version, "data": data})
}

async fn api_run(Extension(src): Extension<Src>, Query(q): Query<RunQ>) -> ApiResult {
    let v = blocking(&src, move |s| {
        let id = resolve(s, &q.run)?;
        let info = s.run(&id)?;
        let summary = s.summary(&id)?;
        let mut run = crate::cmd::ls::ls_json(&info, &summary);
        run["duration_ms"] = info.duration_ms().into();
        Ok(json!({
            "run": run,
            "metrics": s.metrics(&id)?,
            "children": s.children(&id)?.iter().map(crate::common::run_json).collect::<Vec<_>>(),
            "files": s.files(&id)?.iter().map(|e| json!({"name": e.name, "size": e.value.size, "hash": e.value.hash.as_str()})).collect::<Vec<_>>(),
            "texts": s.texts(&id)?.iter().map(|e| json!({"name": e.name, "step": e.step, "text": e.value.text})).collect::<Vec<_>>(),
            "charts": s.charts(&id)?.iter().map(chart_json).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(json_response(v))
}

#[derive(Debug, Deserialize)]
struct SeriesQ {
    run: String,
    name: String,
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
    /// `time`: each point also carries its timestamp (`[step, value, timestamp_ms]`), for wall and relative time.
    x: Option<String>,
}

async fn api_series(Extension(src): Extension<Src>, Query(q): Query<SeriesQ>) -> ApiResult {
    let v = blocking(&src, move |s| {
        let id = resolve(s, &q.run)?;
        let chunks = s.series_chunks(&id, &q.name)?;
        if chunks.is_empty() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, format!("run {id} has no scalar series {:?}", q.name)));
        }
        let buckets = q.points.unwrap_or(DEFAULT_BUCKETS).clamp(1, MAX_BUCKETS);
        match q.x.as_deref() {
            None | Some("step") => {}
            Some("time") => {
                let lo_all = chunks.iter().map(|c| c.step_lo).min().unwrap_or(0);
                let hi_all = chunks.iter().map(|c| c.step_hi).max().unwrap_or(0);
                let (lo, hi) = (q.from.unwrap_or(lo_all).max(lo_all), q.to.unwrap_or(hi_all).min(hi_all));
                let mut pts = Vec::new();
                for c in chunks.iter().filter(|c| c.step_hi >= lo && c.step_lo <= hi) {
                    pts.extend(s.chunk_points(c.seq)?);
                }
                let count = pts.iter().filter(|p| p.step >= lo && p.step <= hi).count();
                let (down, sampled) = downsample::downsample_timed(&pts, lo, hi, buckets);
                let points: Vec<Json> = sampled.iter().map(|&(st, v, t)| json!([st, float(v), t])).collect();
                return Ok(json!({
                    "run": id.as_str(), "name": q.name, "count": count, "step_min": lo_all,
                    "step_max": hi_all, "downsampled": down, "points": points,
                }));
            }
            Some(other) => {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("x={other:?}: use step or time")));
            }
        }
        let sampled = downsample::downsample(&chunks, q.from, q.to, buckets, |c| s.chunk_points(c.seq))?;
        let points: Vec<Json> = sampled.points.iter().map(|&(st, v)| json!([st, float(v)])).collect();
        Ok(json!({
            "run": id.as_str(), "name": q.name, "count": sampled.count, "step_min": sampled.step_min,
            "step_max": sampled.step_max, "downsampled": sampled.downsampled, "points": points,
        }))
    })
    .await?;
    Ok(json_response(v))
}

#[derive(Debug, Deserialize)]
struct NamedQ {
    run: String,
    name: String,
    step: Option<i64>,
}

fn value(v: &runlog_core::Value) -> Json {
    match v {
        runlog_core::Value::F64(f) => float(*f),
        other => crate::common::value_json(other),
    }
}

async fn api_rows(Extension(src): Extension<Src>, Query(q): Query<NamedQ>) -> ApiResult {
    let v = blocking(&src, move |s| {
        let id = resolve(s, &q.run)?;
        let rows = s.rows(&id, &q.name)?;
        let mut columns: Vec<String> = Vec::new();
        for r in &rows {
            for (k, _) in &r.value.columns {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
        let out: Vec<Json> = rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| r.value.columns.iter().find(|(k, _)| k == c).map_or(Json::Null, |(_, v)| value(v)))
                    .collect()
            })
            .collect();
        let steps: Vec<Option<i64>> = rows.iter().map(|r| r.step).collect();
        Ok(json!({ "columns": columns, "rows": out, "steps": steps }))
    })
    .await?;
    Ok(json_response(v))
}

async fn api_table(Extension(src): Extension<Src>, Query(q): Query<NamedQ>) -> ApiResult {
    let v = blocking(&src, move |s| {
        let id = resolve(s, &q.run)?;
        let tables = s.tables(&id, &q.name)?;
        let steps: Vec<Option<i64>> = tables.iter().map(|t| t.step).collect();
        let chosen = match q.step {
            Some(st) => tables.iter().find(|t| t.step == Some(st)),
            None => tables.last(),
        }
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("run {id} has no table {:?}", q.name)))?;
        let columns: Vec<&str> = chosen.value.columns.iter().map(|(k, _)| k.as_str()).collect();
        let n = chosen.value.columns.first().map_or(0, |(_, v)| v.len());
        let rows: Vec<Json> =
            (0..n).map(|i| chosen.value.columns.iter().map(|(_, v)| value(&v[i])).collect()).collect();
        Ok(json!({ "steps": steps, "step": chosen.step, "columns": columns, "rows": rows }))
    })
    .await?;
    Ok(json_response(v))
}

async fn api_images(Extension(src): Extension<Src>, Query(q): Query<RunQ>) -> ApiResult {
    let v = blocking(&src, move |s| {
        let id = resolve(s, &q.run)?;
        let list: Vec<Json> = s
            .images(&id)?
            .iter()
            .map(|e| {
                json!({"name": e.name, "step": e.step, "timestamp": e.timestamp_ms, "description": e.value.description,
                "hash": e.value.hash.as_str(), "width": e.value.width, "height": e.value.height,
                "format": e.value.format.mime()})
            })
            .collect();
        Ok(Json::Array(list))
    })
    .await?;
    Ok(json_response(v))
}

async fn api_logs(Extension(src): Extension<Src>, Query(q): Query<RunQ>) -> ApiResult {
    let v = blocking(&src, move |s| {
        let id = resolve(s, &q.run)?;
        let list: Vec<Json> = s
            .log_lines(&id, q.tail.unwrap_or(DEFAULT_LOG_TAIL))?
            .iter()
            .map(|e| {
                json!({"stream": e.name, "level": e.value.level, "target": e.value.target,
                "message": e.value.message, "timestamp": e.timestamp_ms})
            })
            .collect();
        Ok(Json::Array(list))
    })
    .await?;
    Ok(json_response(v))
}

async fn api_blob(Extension(src): Extension<Src>, Path(hash): Path<String>) -> ApiResult {
    let hash = BlobHash::parse(&hash).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let bytes = blocking(&src, move |s| Ok(s.blob(&hash)?)).await?;
    let mime = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    };
    let mut r = bytes.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // A stored file is shown as what it is, never sniffed into something a browser would run.
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Content-addressed: a blob never changes. Private: behind `runlog serve` it is for the token's holder only.
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    Ok(r)
}
