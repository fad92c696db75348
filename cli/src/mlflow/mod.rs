//! MLflow's REST API over a runlog store: the `/api/2.0/mlflow/...` routes and the proxied artifact routes
//! `/api/2.0/mlflow-artifacts/artifacts/...` that MLflow's clients call, so a client in any language and version
//! (Python over HTTP, R, Java, curl) logs into runlog and reads back (docs/python.md, "MLflow over REST").
//!
//! The mapping is the MLflow plugin's (`py/python/runlog/_mlflow.py`), so a store reads the same through `runlog:` and
//! through this endpoint: an MLflow run is the runlog run with the same id; its MLflow status, lifecycle stage and
//! experiment id are the plugin's bookkeeping keys under [`INTERNAL`]; experiment `"0"` is runlog's `Default`.
//! Search uses the CLI's MLflow search syntax ([`crate::filter`]).
//!
//! This module holds MLflow's rules (validation, error bodies, ids, status, paging) and knows the store only through
//! [`Tracking`]; [`local`] implements it over a local store file. Every write is committed before its answer.

pub mod local;
pub mod workspace;

use crate::filter::{self, Filter};
use crate::ui::Source;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use runlog_core::{ErrorKind, ExperimentDetails, MetricSummary, Point, RunId, RunInfo, RunStatus};
use runlog_sync::remote::mlflow::{Artifact, MlflowLimits, artifact_tree, check_key};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Prefix of the keys of tags and properties that hold MLflow's bookkeeping (never shown as MLflow tags).
pub const INTERNAL: &str = "runlog.mlflow.";
const EXP_NAME: &str = "runlog.mlflow.name";
const EXP_LIFECYCLE: &str = "runlog.mlflow.lifecycleStage";
const EXP_ARTIFACT_LOCATION: &str = "runlog.mlflow.artifactLocation";
const RUN_LIFECYCLE: &str = "runlog.mlflow.lifecycleStage";
const RUN_DELETED_TIME: &str = "runlog.mlflow.deletedTime";
const RUN_STATUS: &str = "runlog.mlflow.status";
const PROP_EXPERIMENT_ID: &str = "runlog.mlflow.experimentId";
const PROP_USER_ID: &str = "runlog.mlflow.userId";
const TAG_RUN_NAME: &str = "mlflow.runName";
const TAG_PARENT: &str = "mlflow.parentRunId";
const TAG_USER: &str = "mlflow.user";
/// The runlog experiment that is MLflow's default experiment `"0"`.
pub const DEFAULT_EXPERIMENT: &str = "Default";
const DEFAULT_EXPERIMENT_ID: &str = "0";
/// MLflow's default and largest page of `runs/search` and `experiments/search`.
const SEARCH_DEFAULT: usize = 1_000;
const SEARCH_MAX: usize = 50_000;
/// The largest artifact one request may upload, in bytes (the body is held in memory; MLflow's proxy streams any
/// size).
pub const MAX_ARTIFACT_BYTES: usize = 512 << 20;

/// One write into a run, in MLflow's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A metric point with the client's timestamp.
    Metric {
        /// Key.
        key: String,
        /// Value (NaN and infinities kept).
        value: f64,
        /// Client timestamp, ms.
        timestamp: i64,
        /// Step.
        step: i64,
    },
    /// A param (MLflow's text).
    Param(String, String),
    /// A tag.
    Tag(String, String),
    /// A write-once property.
    Property(String, String),
    /// The run ends with this runlog status at this time (ms).
    End(RunStatus, i64),
    /// A file of the run (an artifact).
    File(String, Vec<u8>),
}

/// What MLflow's REST API needs of a store beyond what the UI reads ([`Source`]). Calls are blocking; handlers make
/// them on the blocking pool.
pub trait Tracking: Send + Sync + 'static {
    /// What the UI reads of the same store.
    fn source(&self) -> &dyn Source;
    /// Every experiment, with its tags.
    fn experiments(&self) -> runlog_core::Result<Vec<ExperimentDetails>>;
    /// Creates an experiment named `name` (a no-op if it exists).
    fn create_experiment(&self, name: &str) -> runlog_core::Result<()>;
    /// Sets (or, with `None`, removes) a tag of an experiment.
    fn set_experiment_tag(&self, name: &str, key: &str, value: Option<&str>) -> runlog_core::Result<()>;
    /// Starts a run at `started_at` (ms) and returns its id.
    fn start_run(
        &self,
        experiment: &str,
        name: &str,
        parent: Option<&RunId>,
        started_at: i64,
    ) -> runlog_core::Result<RunId>;
    /// Writes into a run, in order; committed when this returns.
    fn write(&self, run: &RunId, writes: Vec<Write>) -> runlog_core::Result<()>;
}

/// The shared store of every handler, and whether writes are allowed.
#[derive(Clone)]
pub struct Endpoint {
    store: Arc<dyn Tracking>,
    writable: bool,
    limits: MlflowLimits,
}

impl Endpoint {
    /// The endpoint over `store`; with `writable` false every write is refused with `PERMISSION_DENIED`.
    pub fn new(store: Arc<dyn Tracking>, writable: bool) -> Endpoint {
        Endpoint { store, writable, limits: MlflowLimits::default() }
    }
}

/// MLflow's routes over `endpoint` (under `/api/2.0/mlflow`, `/ajax-api/2.0/mlflow` and
/// `/api/2.0/mlflow-artifacts`), to merge into a server's router.
pub fn router(endpoint: Endpoint) -> Router {
    routes().layer(Extension(endpoint))
}

/// The same routes, reading the [`Endpoint`] from each request's extensions: the caller adds a layer that puts one
/// there (a fixed one in [`router`], the workspace a token opens in `runlog serve`).
pub fn routes() -> Router {
    let mut r = Router::new();
    for base in ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"] {
        r = r
            .route(&format!("{base}/experiments/create"), post(|s, b| call(s, b, create_experiment)))
            .route(&format!("{base}/experiments/get"), get(|s, q| query(s, q, get_experiment)))
            .route(&format!("{base}/experiments/get-by-name"), get(|s, q| query(s, q, get_experiment_by_name)))
            .route(&format!("{base}/experiments/search"), post(|s, b| call(s, b, search_experiments)))
            .route(&format!("{base}/experiments/search"), get(|s, q| query(s, q, search_experiments)))
            .route(&format!("{base}/experiments/delete"), post(|s, b| call(s, b, delete_experiment)))
            .route(&format!("{base}/experiments/restore"), post(|s, b| call(s, b, restore_experiment)))
            .route(&format!("{base}/experiments/update"), post(|s, b| call(s, b, rename_experiment)))
            .route(&format!("{base}/experiments/set-experiment-tag"), post(|s, b| call(s, b, set_experiment_tag)))
            .route(&format!("{base}/runs/create"), post(|s, b| call(s, b, create_run)))
            .route(&format!("{base}/runs/get"), get(|s, q| query(s, q, get_run)))
            .route(&format!("{base}/runs/update"), post(|s, b| call(s, b, update_run)))
            .route(&format!("{base}/runs/delete"), post(|s, b| call(s, b, delete_run)))
            .route(&format!("{base}/runs/restore"), post(|s, b| call(s, b, restore_run)))
            .route(&format!("{base}/runs/search"), post(|s, b| call(s, b, search_runs)))
            .route(&format!("{base}/runs/log-metric"), post(|s, b| call(s, b, log_metric)))
            .route(&format!("{base}/runs/log-parameter"), post(|s, b| call(s, b, log_param)))
            .route(&format!("{base}/runs/set-tag"), post(|s, b| call(s, b, set_tag)))
            .route(&format!("{base}/runs/delete-tag"), post(|s, b| call(s, b, delete_tag)))
            .route(&format!("{base}/runs/log-batch"), post(|s, b| call(s, b, log_batch)))
            .route(&format!("{base}/runs/log-inputs"), post(|s, b| call(s, b, log_inputs)))
            .route(&format!("{base}/metrics/get-history"), get(|s, q| query(s, q, get_history)))
            .route(&format!("{base}/artifacts/list"), get(|s, q| query(s, q, list_artifacts_of_run)))
            .route(&format!("{base}/logged-models/search"), post(no_logged_models))
            .route(&format!("{base}/{{*rest}}"), get(unsupported).post(unsupported))
    }
    r.route("/api/2.0/mlflow-artifacts/artifacts", get(list_artifacts))
        .route("/api/2.0/mlflow-artifacts/artifacts/{*path}", get(download_artifact).put(upload_artifact))
        .route("/api/3.0/mlflow/logged-models/search", post(no_logged_models))
        .route("/api/3.0/mlflow/{*rest}", get(unsupported).post(unsupported))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ARTIFACT_BYTES))
}

/// An error as MLflow answers it: `{"error_code", "message"}` with MLflow's HTTP status for the code.
#[derive(Debug, Clone, PartialEq)]
pub struct MlflowError {
    /// MLflow's error code (`INVALID_PARAMETER_VALUE`, `RESOURCE_DOES_NOT_EXIST`, ...).
    pub code: &'static str,
    /// What is wrong, naming the value and the limit.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> MlflowError {
    MlflowError { code: "INVALID_PARAMETER_VALUE", message: message.into() }
}

fn not_found(message: impl Into<String>) -> MlflowError {
    MlflowError { code: "RESOURCE_DOES_NOT_EXIST", message: message.into() }
}

fn invalid_state(message: impl Into<String>) -> MlflowError {
    MlflowError { code: "INVALID_STATE", message: message.into() }
}

impl From<runlog_core::Error> for MlflowError {
    fn from(e: runlog_core::Error) -> Self {
        match e.kind() {
            ErrorKind::NotFound => not_found(e.to_string()),
            ErrorKind::InvalidInput => invalid(e.to_string()),
            _ => {
                eprintln!("runlog mlflow endpoint: {e}");
                MlflowError { code: "INTERNAL_ERROR", message: format!("internal error: {e}") }
            }
        }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let status = match self.code {
            "RESOURCE_DOES_NOT_EXIST" | "ENDPOINT_NOT_FOUND" => StatusCode::NOT_FOUND,
            "PERMISSION_DENIED" => StatusCode::FORBIDDEN,
            "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
            "FEATURE_DISABLED" => StatusCode::NOT_IMPLEMENTED,
            "INTERNAL_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, axum::Json(json!({"error_code": self.code, "message": self.message}))).into_response()
    }
}

type Answer = Result<Json, MlflowError>;

/// A request's fields: the JSON body of a POST, or the query of a GET (repeated keys become lists).
struct Req {
    fields: serde_json::Map<String, Json>,
}

impl Req {
    fn from_body(body: &[u8]) -> Result<Req, MlflowError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Req { fields: Default::default() });
        }
        match serde_json::from_slice::<Json>(body) {
            Ok(Json::Object(fields)) => Ok(Req { fields }),
            Ok(other) => Err(invalid(format!("the request body must be a JSON object, not {other}"))),
            Err(e) => {
                Err(MlflowError { code: "MALFORMED_REQUEST", message: format!("the request body is not JSON: {e}") })
            }
        }
    }

    fn from_query(q: Option<&str>) -> Req {
        let mut fields = serde_json::Map::new();
        for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            match fields.get_mut(k.as_ref()) {
                Some(Json::Array(a)) => a.push(Json::String(v.into_owned())),
                Some(one) => *one = Json::Array(vec![one.take(), Json::String(v.into_owned())]),
                None => {
                    fields.insert(k.into_owned(), Json::String(v.into_owned()));
                }
            }
        }
        Req { fields }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, MlflowError> {
        match self.fields.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(Json::Number(n)) => Ok(Some(n.to_string())),
            Some(Json::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(invalid(format!("Invalid value {other} for parameter '{key}': a string is expected"))),
        }
    }

    fn str(&self, key: &str) -> Result<String, MlflowError> {
        self.opt_str(key)?.ok_or_else(|| missing(key))
    }

    fn opt_i64(&self, key: &str) -> Result<Option<i64>, MlflowError> {
        match self.fields.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => int_of(v).map(Some).ok_or_else(|| {
                invalid(format!("Invalid value {v} for parameter '{key}' supplied: an integer (int64) is expected"))
            }),
        }
    }

    fn run_id(&self) -> Result<RunId, MlflowError> {
        let id = match self.opt_str("run_id")? {
            Some(id) if !id.is_empty() => id,
            _ => self.opt_str("run_uuid")?.ok_or_else(|| missing("run_id"))?,
        };
        RunId::parse(&id).map_err(|_| invalid(format!("Invalid run ID: '{id}' (a runlog run id is 32 hex digits)")))
    }

    fn list(&self, key: &str) -> Vec<Json> {
        match self.fields.get(key) {
            Some(Json::Array(a)) => a.clone(),
            None | Some(Json::Null) => Vec::new(),
            Some(one) => vec![one.clone()],
        }
    }
}

fn missing(key: &str) -> MlflowError {
    invalid(format!(
        "Missing value for required parameter '{key}'. See the API docs for more information about request parameters."
    ))
}

fn int_of(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < i64::MAX as f64).map(|f| f as i64)),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A double as protobuf's JSON writes it: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn double_of(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn double_json(v: f64) -> Json {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
    }
}

/// Runs a handler on the blocking pool with the request's JSON body.
async fn call(Extension(ep): Extension<Endpoint>, body: Bytes, f: fn(&Endpoint, Req) -> Answer) -> Response {
    let req = match Req::from_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    answer(ep, req, f).await
}

/// Runs a handler on the blocking pool with the request's query.
async fn query(Extension(ep): Extension<Endpoint>, RawQuery(q): RawQuery, f: fn(&Endpoint, Req) -> Answer) -> Response {
    answer(ep, Req::from_query(q.as_deref()), f).await
}

async fn answer(ep: Endpoint, req: Req, f: fn(&Endpoint, Req) -> Answer) -> Response {
    blocking(move || f(&ep, req).map(axum::Json)).await
}

/// Runs `f` on the blocking pool (store calls do file or database I/O) and answers with what it gives.
async fn blocking<T: IntoResponse + Send + 'static>(
    f: impl FnOnce() -> Result<T, MlflowError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => v.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => MlflowError { code: "INTERNAL_ERROR", message: format!("the request failed: {e}") }.into_response(),
    }
}

async fn unsupported(Path(rest): Path<String>) -> Response {
    MlflowError {
        code: "FEATURE_DISABLED",
        message: format!(
            "{rest} is not supported by the runlog tracking store (runlog's MLflow endpoint): runlog keeps \
             experiments, runs, params, metrics, tags and artifacts, not MLflow 3's logged models, traces, datasets, \
             prompts, assessments or scorers"
        ),
    }
    .into_response()
}

/// No logged model is ever kept here, so every search finds none (MLflow's artifact code asks for them).
async fn no_logged_models() -> Response {
    axum::Json(json!({"models": []})).into_response()
}

// --- experiments ---------------------------------------------------------------------------------------------------

/// An experiment as MLflow sees it.
struct Experiment {
    id: String,
    name: String,
    deleted: bool,
    details: ExperimentDetails,
}

impl Experiment {
    /// runlog's name (what runs refer to).
    fn local(&self) -> &str {
        &self.details.name
    }

    fn of(d: ExperimentDetails) -> Experiment {
        let id = if d.name == DEFAULT_EXPERIMENT { DEFAULT_EXPERIMENT_ID.to_string() } else { d.id.to_string() };
        Experiment {
            name: d.tags.get(EXP_NAME).cloned().unwrap_or_else(|| d.name.clone()),
            deleted: d.tags.get(EXP_LIFECYCLE).is_some_and(|s| s == "deleted"),
            id,
            details: d,
        }
    }

    /// The experiment as the run search syntax reads it ([`crate::filter`]): `name` (also `attribute.name`) is its
    /// MLflow name, `tags.K` its tags, so MLflow's experiment filters (`name LIKE 'x%' and tags.team = 'a'`) parse
    /// and match with the one parser runs use.
    fn as_run(&self) -> RunInfo {
        RunInfo {
            id: RunId::new(),
            experiment: self.name.clone(),
            name: self.name.clone(),
            parent: None,
            status: RunStatus::Running,
            reason: None,
            started_at: self.details.created_at,
            ended_at: None,
            params: Default::default(),
            tags: self
                .details
                .tags
                .iter()
                .filter(|(k, _)| !k.starts_with(INTERNAL))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            properties: Default::default(),
        }
    }

    fn json(&self) -> Json {
        let tags: Vec<Json> = self
            .details
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with(INTERNAL))
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let location =
            self.details.tags.get(EXP_ARTIFACT_LOCATION).cloned().unwrap_or(format!("mlflow-artifacts:/{}", self.id));
        json!({
            "experiment_id": self.id,
            "name": self.name,
            "artifact_location": location,
            "lifecycle_stage": if self.deleted { "deleted" } else { "active" },
            "last_update_time": self.details.updated_at,
            "creation_time": self.details.created_at,
            "tags": tags,
        })
    }
}

impl Endpoint {
    fn writable(&self) -> Result<(), MlflowError> {
        if self.writable {
            Ok(())
        } else {
            Err(MlflowError {
                code: "PERMISSION_DENIED",
                message: "this runlog endpoint is read-only (started with --read-only, or listening beyond loopback \
                          without --writable)"
                    .into(),
            })
        }
    }

    fn catalog(&self) -> Result<Vec<Experiment>, MlflowError> {
        let mut all = self.store.experiments()?;
        if !all.iter().any(|d| d.name == DEFAULT_EXPERIMENT) {
            if self.writable {
                self.store.create_experiment(DEFAULT_EXPERIMENT)?;
                all = self.store.experiments()?;
            } else {
                all.push(ExperimentDetails {
                    id: 0,
                    name: DEFAULT_EXPERIMENT.into(),
                    created_at: 0,
                    updated_at: 0,
                    tags: Default::default(),
                });
            }
        }
        Ok(all.into_iter().map(Experiment::of).collect())
    }

    fn experiment(&self, id: &str) -> Result<Experiment, MlflowError> {
        self.catalog()?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| not_found(format!("Could not find experiment with ID {id}")))
    }

    fn active_experiment(&self, id: &str) -> Result<Experiment, MlflowError> {
        let e = self.experiment(id)?;
        if e.deleted {
            return Err(invalid(format!(
                "The experiment {id} must be in the 'active' state. Current state is deleted."
            )));
        }
        Ok(e)
    }
}

fn check_name(what: &str, key: &str, limits: &MlflowLimits) -> Result<(), MlflowError> {
    check_key(what, key, limits.max_key_chars).map_err(|(_, reason)| invalid(format!("Invalid {what} name: {reason}")))
}

fn check_value(what: &str, key: &str, value: &str, max: usize) -> Result<(), MlflowError> {
    let n = value.chars().count();
    if n > max {
        return Err(invalid(format!(
            "'{what}' value of key '{key}' had length {n}, which exceeded length limit of {max}"
        )));
    }
    Ok(())
}

fn key_values(req: &Req, key: &str) -> Result<Vec<(String, String)>, MlflowError> {
    req.list(key)
        .iter()
        .map(|t| {
            let k = t.get("key").and_then(Json::as_str).ok_or_else(|| missing(&format!("{key}.key")))?;
            let v = match t.get("value") {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            Ok((k.to_string(), v))
        })
        .collect()
}

fn create_experiment(ep: &Endpoint, req: Req) -> Answer {
    ep.writable()?;
    let name = req.str("name")?;
    if name.trim().is_empty() {
        return Err(invalid("Invalid experiment name: ''. Experiment name must be a non-empty string"));
    }
    let tags = key_values(&req, "tags")?;
    for (k, v) in &tags {
        check_name("experiment tag", k, &ep.limits)?;
        check_value("tag", k, v, ep.limits.max_tag_chars)?;
    }
    let catalog = ep.catalog()?;
    if let Some(e) = catalog.iter().find(|e| e.name == name) {
        let state =
            if e.deleted { " in deleted state. You can restore the experiment, or use another name" } else { "" };
        return Err(MlflowError {
            code: "RESOURCE_ALREADY_EXISTS",
            message: format!("Experiment '{name}' already exists{state}."),
        });
    }
    let mut local = name.clone();
    let mut n = 1;
    while catalog.iter().any(|e| e.local() == local) {
        n += 1;
        local = format!("{name} ({n})");
    }
    ep.store.create_experiment(&local)?;
    if local != name {
        ep.store.set_experiment_tag(&local, EXP_NAME, Some(&name))?;
    }
    if let Some(loc) = req.opt_str("artifact_location")?.filter(|l| !l.is_empty()) {
        ep.store.set_experiment_tag(&local, EXP_ARTIFACT_LOCATION, Some(&loc))?;
    }
    for (k, v) in &tags {
        ep.store.set_experiment_tag(&local, k, Some(v))?;
    }
    let id = ep.catalog()?.into_iter().find(|e| e.local() == local).map(|e| e.id);
    Ok(
        json!({"experiment_id": id.ok_or_else(|| not_found(format!("experiment {name:?} was created but is not found")))?}),
    )
}

fn get_experiment(ep: &Endpoint, req: Req) -> Answer {
    Ok(json!({"experiment": ep.experiment(&req.str("experiment_id")?)?.json()}))
}

fn get_experiment_by_name(ep: &Endpoint, req: Req) -> Answer {
    let name = req.str("experiment_name")?;
    let e = ep.catalog()?.into_iter().find(|e| e.name == name);
    let e = e.ok_or_else(|| not_found(format!("Could not find experiment with name '{name}'")))?;
    Ok(json!({"experiment": e.json()}))
}

/// MLflow's `view_type`: which lifecycle stages a search returns.
fn in_view(deleted: bool, view: &str) -> bool {
    match view {
        "ALL" | "3" => true,
        "DELETED_ONLY" | "2" => deleted,
        _ => !deleted,
    }
}

fn max_results(req: &Req, max: usize) -> Result<usize, MlflowError> {
    match req.opt_i64("max_results")? {
        None => Ok(SEARCH_DEFAULT.min(max)),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be between 1 and {max}"
        ))),
    }
}

/// A page of `items` from an opaque `page_token` (the offset), and the next token.
fn page<T>(items: Vec<T>, token: Option<String>, size: usize) -> Result<(Vec<T>, Option<String>), MlflowError> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| invalid(format!("Invalid page token {t:?}")))?,
    };
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let next = (end < total).then(|| end.to_string());
    Ok((items.into_iter().skip(start).take(size).collect(), next))
}

fn search_experiments(ep: &Endpoint, req: Req) -> Answer {
    let size = max_results(&req, SEARCH_MAX)?;
    let view = req.opt_str("view_type")?.unwrap_or_default();
    let filter_text = req.opt_str("filter")?.unwrap_or_default();
    let filter = Filter::parse(&filter_text).map_err(|e| invalid(format!("Invalid filter '{filter_text}': {e}")))?;
    let mut found: Vec<Experiment> =
        ep.catalog()?.into_iter().filter(|e| in_view(e.deleted, &view) && filter.matches(&e.as_run(), &[])).collect();
    found.sort_by(|a, b| b.details.created_at.cmp(&a.details.created_at).then(a.id.cmp(&b.id)));
    let (items, next) = page(found, req.opt_str("page_token")?, size)?;
    let mut out = json!({"experiments": items.iter().map(Experiment::json).collect::<Vec<_>>()});
    if let Some(t) = next {
        out["next_page_token"] = json!(t);
    }
    Ok(out)
}

fn delete_experiment(ep: &Endpoint, req: Req) -> Answer {
    ep.writable()?;
    let id = req.str("experiment_id")?;
    if id == DEFAULT_EXPERIMENT_ID {
        return Err(invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment."));
    }
    let e = ep.experiment(&id)?;
    if e.deleted {
        return Err(not_found(format!("Could not find experiment with ID {id}")));
    }
    ep.store.set_experiment_tag(e.local(), EXP_LIFECYCLE, Some("deleted"))?;
    Ok(json!({}))
}

fn restore_experiment(ep: &Endpoint, req: Req) -> Answer {
    ep.writable()?;
    let id = req.str("experiment_id")?;
    let e = ep.experiment(&id)?;
    if !e.deleted {
        return Err(invalid_state(format!(
            "Cannot restore an active experiment. Experiment with ID {id} is already active."
        )));
    }
    ep.store.set_experiment_tag(e.local(), EXP_LIFECYCLE, Some("active"))?;
    Ok(json!({}))
}

fn rename_experiment(ep: &Endpoint, req: Req) -> Answer {
    ep.writable()?;
    let e = ep.active_experiment(&req.str("experiment_id")?)?;
    let name = req.str("new_name")?;
    if name.trim().is_empty() {
        return Err(invalid("Invalid experiment name: ''. Experiment name must be a non-empty string"));
    }
    if ep.catalog()?.iter().any(|o| o.name == name) {
        return Err(MlflowError {
            code: "RESOURCE_ALREADY_EXISTS",
            message: format!("Experiment '{name}' already exists."),
        });
    }
    ep.store.set_experiment_tag(e.local(), EXP_NAME, Some(&name))?;
    Ok(json!({}))
}

fn set_experiment_tag(ep: &Endpoint, req: Req) -> Answer {
    ep.writable()?;
    let e = ep.active_experiment(&req.str("experiment_id")?)?;
    let key = req.str("key")?;
    let value = req.opt_str("value")?.unwrap_or_default();
    check_name("experiment tag", &key, &ep.limits)?;
    check_value("tag", &key, &value, ep.limits.max_tag_chars)?;
    ep.store.set_experiment_tag(e.local(), &key, Some(&value))?;
    Ok(json!({}))
}

// --- runs ----------------------------------------------------------------------------------------------------------

/// MLflow's status of a runlog run.
fn mlflow_status(info: &RunInfo) -> String {
    if let Some(s) = info.tags.get(RUN_STATUS) {
        return s.clone();
    }
    match info.status {
        RunStatus::Running => "RUNNING",
        RunStatus::Completed => "FINISHED",
        RunStatus::Cancelled => "KILLED",
        // MLflow has no "crashed": a run whose process died without ending it failed.
        RunStatus::Failed | RunStatus::Crashed => "FAILED",
    }
    .to_string()
}

fn runlog_end(status: &str) -> Option<RunStatus> {
    match status {
        "FINISHED" => Some(RunStatus::Completed),
        "FAILED" => Some(RunStatus::Failed),
        "KILLED" => Some(RunStatus::Cancelled),
        _ => None,
    }
}

fn status_name(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        // The enum's numbers, as older clients send them.
        Json::Number(n) => ["", "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
            .get(n.as_u64()? as usize)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string()),
        _ => None,
    }
}

/// A run's MLflow experiment id (as at its creation, else its experiment's) and whether it reads as deleted (itself,
/// or its experiment).
fn run_place(info: &RunInfo, experiments: &[Experiment]) -> (Option<String>, bool) {
    let exp = experiments.iter().find(|e| e.local() == info.experiment);
    let id = info.properties.get(PROP_EXPERIMENT_ID).cloned().or(exp.map(|e| e.id.clone()));
    let deleted = info.tags.get(RUN_LIFECYCLE).is_some_and(|s| s == "deleted") || exp.is_some_and(|e| e.deleted);
    (id, deleted)
}

/// The latest point by MLflow's rule: the highest step, then the latest timestamp, then the largest value.
fn latest(points: &[Point]) -> Option<&Point> {
    points
        .iter()
        .max_by(|a, b| (a.step, a.timestamp_ms).cmp(&(b.step, b.timestamp_ms)).then(a.value.total_cmp(&b.value)))
}

impl Endpoint {
    fn run_info(&self, id: &RunId) -> Result<RunInfo, MlflowError> {
        self.store.source().run(id).map_err(|e| match e.kind() {
            ErrorKind::NotFound => not_found(format!("Run '{id}' not found")),
            _ => e.into(),
        })
    }

    fn run_json(&self, info: &RunInfo, experiments: &[Experiment], with_data: bool) -> Result<Json, MlflowError> {
        let (exp_id, deleted) = run_place(info, experiments);
        let exp_id = exp_id.unwrap_or_default();
        let status = mlflow_status(info);
        let id = info.id.as_str();
        let mut run_info = json!({
            "run_id": id,
            "run_uuid": id,
            "run_name": info.tags.get(TAG_RUN_NAME).unwrap_or(&info.name),
            "experiment_id": exp_id,
            "user_id": info.properties.get(PROP_USER_ID).or(info.tags.get(TAG_USER)).cloned().unwrap_or_default(),
            "status": status,
            "start_time": info.started_at,
            "artifact_uri": format!("mlflow-artifacts:/{exp_id}/{id}/artifacts"),
            "lifecycle_stage": if deleted { "deleted" } else { "active" },
        });
        if let (false, Some(end)) = (status == "RUNNING" || status == "SCHEDULED", info.ended_at) {
            run_info["end_time"] = json!(end);
        }
        if !with_data {
            return Ok(run_info);
        }
        let mut metrics = Vec::new();
        for m in self.store.source().metrics(&info.id)? {
            if m.kind != runlog_core::MetricKind::Scalar {
                continue;
            }
            if let Some(p) = latest(&self.points(&info.id, &m.name)?) {
                metrics.push(
                    json!({"key": m.name, "value": double_json(p.value), "timestamp": p.timestamp_ms, "step": p.step}),
                );
            }
        }
        let params: Vec<Json> = info.params.iter().map(|(k, v)| json!({"key": k, "value": v.to_string()})).collect();
        let tags: Vec<Json> = info
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with(INTERNAL))
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        Ok(json!({"info": run_info, "data": {"metrics": metrics, "params": params, "tags": tags}, "inputs": {}}))
    }

    fn points(&self, id: &RunId, name: &str) -> Result<Vec<Point>, MlflowError> {
        let mut out = Vec::new();
        for c in self.store.source().series_chunks(id, name)? {
            out.extend(self.store.source().chunk_points(c.seq)?);
        }
        Ok(out)
    }

    /// The run, which must be active (not deleted) to be written.
    fn active_run(&self, req: &Req) -> Result<RunInfo, MlflowError> {
        self.writable()?;
        let info = self.run_info(&req.run_id()?)?;
        if run_place(&info, &self.catalog()?).1 {
            return Err(invalid(format!(
                "The run {} must be in the 'active' state. Current state is deleted.",
                info.id
            )));
        }
        Ok(info)
    }

    fn get(&self, id: &RunId) -> Answer {
        let info = self.run_info(id)?;
        Ok(json!({"run": self.run_json(&info, &self.catalog()?, true)?}))
    }
}

fn create_run(ep: &Endpoint, req: Req) -> Answer {
    ep.writable()?;
    let exp_id = req.opt_str("experiment_id")?.unwrap_or_else(|| DEFAULT_EXPERIMENT_ID.into());
    let exp = ep.experiment(&exp_id).map_err(|_| {
        not_found(format!("Could not create run under experiment with ID {exp_id} - no such experiment exists."))
    })?;
    if exp.deleted {
        return Err(invalid_state(format!("Could not create run under non-active experiment with ID {exp_id}.")));
    }
    let mut tags = key_values(&req, "tags")?;
    check_tags(ep, &tags)?;
    let name_tag = tags.iter().find(|(k, _)| k == TAG_RUN_NAME).map(|(_, v)| v.clone());
    let run_name = req.opt_str("run_name")?.filter(|n| !n.is_empty());
    if let (Some(a), Some(b)) = (&run_name, &name_tag)
        && a != b
    {
        return Err(invalid(format!(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values \
             (run_name='{a}', mlflow.runName='{b}')."
        )));
    }
    let name = run_name.or(name_tag.clone()).unwrap_or_else(|| format!("run-{}", runlog_core::now_ms()));
    if name_tag.is_none() {
        tags.push((TAG_RUN_NAME.into(), name.clone()));
    }
    // MLflow keeps the parent tag whatever it names; runlog nests only under a run it holds.
    let parent = tags
        .iter()
        .find(|(k, _)| k == TAG_PARENT)
        .and_then(|(_, v)| RunId::parse(v).ok())
        .filter(|p| ep.store.source().run(p).is_ok());
    let start = req.opt_i64("start_time")?.unwrap_or_else(runlog_core::now_ms);
    let id = ep.store.start_run(exp.local(), &name, parent.as_ref(), start)?;
    let mut writes = vec![Write::Property(PROP_EXPERIMENT_ID.into(), exp.id.clone())];
    if let Some(user) = req.opt_str("user_id")?.filter(|u| !u.is_empty()) {
        writes.push(Write::Property(PROP_USER_ID.into(), user));
    }
    writes.extend(tags.into_iter().map(|(k, v)| Write::Tag(k, v)));
    ep.store.write(&id, writes)?;
    ep.get(&id)
}

fn check_tags(ep: &Endpoint, tags: &[(String, String)]) -> Result<(), MlflowError> {
    for (k, v) in tags {
        check_name("tag", k, &ep.limits)?;
        check_value("tag", k, v, ep.limits.max_tag_chars)?;
    }
    Ok(())
}

fn get_run(ep: &Endpoint, req: Req) -> Answer {
    ep.get(&req.run_id()?)
}

fn update_run(ep: &Endpoint, req: Req) -> Answer {
    let info = ep.active_run(&req)?;
    let mut writes = Vec::new();
    if let Some(name) = req.opt_str("run_name")?.filter(|n| !n.is_empty()) {
        writes.push(Write::Tag(TAG_RUN_NAME.into(), name));
    }
    if let Some(v) = req.fields.get("status").filter(|v| !v.is_null()) {
        let status = status_name(v).ok_or_else(|| invalid(format!("Invalid value {v} for parameter 'status'")))?;
        if !["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"].contains(&status.as_str()) {
            return Err(invalid(format!("Invalid value {status:?} for parameter 'status'")));
        }
        writes.push(Write::Tag(RUN_STATUS.into(), status.clone()));
        if let Some(end) = runlog_end(&status) {
            writes.push(Write::End(end, req.opt_i64("end_time")?.unwrap_or_else(runlog_core::now_ms)));
        }
    }
    ep.store.write(&info.id, writes)?;
    let info = ep.run_info(&info.id)?;
    Ok(json!({"run_info": ep.run_json(&info, &ep.catalog()?, false)?}))
}

fn set_run_lifecycle(ep: &Endpoint, req: Req, deleted: bool) -> Answer {
    ep.writable()?;
    let info = ep.run_info(&req.run_id()?)?;
    let mut writes = vec![Write::Tag(RUN_LIFECYCLE.into(), if deleted { "deleted" } else { "active" }.into())];
    if deleted {
        writes.push(Write::Tag(RUN_DELETED_TIME.into(), runlog_core::now_ms().to_string()));
    }
    ep.store.write(&info.id, writes)?;
    Ok(json!({}))
}

fn delete_run(ep: &Endpoint, req: Req) -> Answer {
    set_run_lifecycle(ep, req, true)
}

fn restore_run(ep: &Endpoint, req: Req) -> Answer {
    set_run_lifecycle(ep, req, false)
}

fn search_runs(ep: &Endpoint, req: Req) -> Answer {
    let size = max_results(&req, SEARCH_MAX)?;
    let wanted: Vec<String> = req
        .list("experiment_ids")
        .iter()
        .filter_map(|v| match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let view = match req.fields.get("run_view_type") {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let filter_text = req.opt_str("filter")?.unwrap_or_default();
    let filter = Filter::parse(&filter_text).map_err(|e| invalid(format!("Invalid filter '{filter_text}': {e}")))?;
    let order: Vec<String> = req.list("order_by").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    let sort = filter::parse_sort(&order.join(", "))
        .map_err(|e| invalid(format!("Invalid order_by clause '{}': {e}", order.join(", "))))?;
    let catalog = ep.catalog()?;
    let summaries = ep.store.source().summaries()?;
    let no_metrics: Vec<MetricSummary> = Vec::new();
    let mut runs = Vec::new();
    for info in ep.store.source().runs()? {
        let (exp_id, deleted) = run_place(&info, &catalog);
        if !exp_id.is_some_and(|id| wanted.contains(&id)) {
            continue;
        }
        let metrics = summaries.get(&info.id).unwrap_or(&no_metrics);
        if in_view(deleted, &view) && filter.matches(&info, metrics) {
            runs.push(info);
        }
    }
    // MLflow's default order: the latest start first, then by id.
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
    if !sort.is_empty() {
        let metrics: HashMap<&RunId, &[MetricSummary]> =
            runs.iter().map(|r| (&r.id, summaries.get(&r.id).map_or(&no_metrics[..], Vec::as_slice))).collect();
        let mut keyed: Vec<(usize, &RunInfo)> = runs.iter().enumerate().collect();
        keyed.sort_by(|(ia, a), (ib, b)| filter::compare(&sort, a, metrics[&a.id], b, metrics[&b.id]).then(ia.cmp(ib)));
        runs = keyed.into_iter().map(|(_, r)| r.clone()).collect();
    }
    let (items, next) = page(runs, req.opt_str("page_token")?, size)?;
    let runs: Vec<Json> = items.iter().map(|r| ep.run_json(r, &catalog, true)).collect::<Result<_, _>>()?;
    let mut out = json!({"runs": runs});
    if let Some(t) = next {
        out["next_page_token"] = json!(t);
    }
    Ok(out)
}

fn metric_of(v: &Json, limits: &MlflowLimits) -> Result<Write, MlflowError> {
    let key = v.get("key").and_then(Json::as_str).ok_or_else(|| missing("key"))?;
    check_name("metric", key, limits)?;
    let value = v.get("value").and_then(double_of).ok_or_else(|| {
        invalid(format!(
            "Got invalid value {} for metric '{key}'. Please specify value as a valid double (64-bit floating point)",
            v.get("value").unwrap_or(&Json::Null)
        ))
    })?;
    let timestamp = match v.get("timestamp") {
        None | Some(Json::Null) => runlog_core::now_ms(),
        Some(t) => int_of(t).ok_or_else(|| {
            invalid(format!(
                "Got invalid timestamp {t} for metric '{key}'. Timestamp must be a nonnegative long (64-bit integer)"
            ))
        })?,
    };
    let step = match v.get("step") {
        None | Some(Json::Null) => 0,
        Some(s) => int_of(s).ok_or_else(|| {
            invalid(format!("Got invalid step {s} for metric '{key}'. Step must be a valid long (64-bit integer)."))
        })?,
    };
    Ok(Write::Metric { key: key.to_string(), value, timestamp, step })
}

/// Checks and writes a batch: MLflow's limits, names and values first, then the write-once rule of params; nothing
/// of a refused batch is written.
fn write_batch(
    ep: &Endpoint,
    info: &RunInfo,
    metrics: Vec<Json>,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
) -> Answer {
    let l = &ep.limits;
    for (what, n, max) in [
        ("metrics", metrics.len(), l.max_metrics),
        ("params", params.len(), l.max_params),
        ("tags", tags.len(), l.max_tags),
    ] {
        if n > max {
            return Err(invalid(format!(
                "A batch logging request can contain at most {max} {what}. Got {n} {what}. Please split up {what} across multiple requests and try again."
            )));
        }
    }
    let total = metrics.len() + params.len() + tags.len();
    if total > l.max_items {
        return Err(invalid(format!(
            "A batch logging request can contain at most {} metrics, params, and tags in total. Got {total} in total.",
            l.max_items
        )));
    }
    let mut writes = Vec::with_capacity(total);
    for m in &metrics {
        writes.push(metric_of(m, l)?);
    }
    let mut seen = BTreeMap::new();
    for (k, v) in &params {
        check_name("param", k, l)?;
        check_value("param", k, v, l.max_param_chars)?;
        if seen.insert(k.clone(), v.clone()).is_some_and(|old| &old != v) {
            return Err(invalid(format!(
                "Duplicate parameter keys have been submitted: ['{k}']. Please ensure the request contains only one param value per param key."
            )));
        }
    }
    check_tags(ep, &tags)?;
    for (k, v) in &params {
        if let Some(have) = info.params.get(k).map(ToString::to_string)
            && &have != v
        {
            return Err(invalid(format!(
                "Changing param values is not allowed. Param with key='{k}' was already logged with value='{have}' \
                 for run ID='{}'. Attempted logging new value '{v}'.",
                info.id
            )));
        }
    }
    writes.extend(params.into_iter().filter(|(k, _)| !info.params.contains_key(k)).map(|(k, v)| Write::Param(k, v)));
    writes.extend(tags.into_iter().map(|(k, v)| Write::Tag(k, v)));
    ep.store.write(&info.id, writes)?;
    Ok(json!({}))
}

fn log_batch(ep: &Endpoint, req: Req) -> Answer {
    let info = ep.active_run(&req)?;
    let (params, tags) = (key_values(&req, "params")?, key_values(&req, "tags")?);
    write_batch(ep, &info, req.list("metrics"), params, tags)
}

fn log_metric(ep: &Endpoint, req: Req) -> Answer {
    let info = ep.active_run(&req)?;
    let metric = Json::Object(req.fields.clone());
    req.str("key")?;
    if !req.fields.contains_key("value") {
        return Err(missing("value"));
    }
    write_batch(ep, &info, vec![metric], Vec::new(), Vec::new())
}

fn log_param(ep: &Endpoint, req: Req) -> Answer {
    let info = ep.active_run(&req)?;
    let kv = (req.str("key")?, req.opt_str("value")?.unwrap_or_default());
    write_batch(ep, &info, Vec::new(), vec![kv], Vec::new())
}

fn set_tag(ep: &Endpoint, req: Req) -> Answer {
    let info = ep.active_run(&req)?;
    let kv = (req.str("key")?, req.opt_str("value")?.unwrap_or_default());
    write_batch(ep, &info, Vec::new(), Vec::new(), vec![kv])
}

fn delete_tag(_: &Endpoint, req: Req) -> Answer {
    Err(MlflowError {
        code: "FEATURE_DISABLED",
        message: format!(
            "delete-tag is not supported by runlog: runlog keeps every value of tag {:?}; set another value instead",
            req.opt_str("key")?.unwrap_or_default()
        ),
    })
}

fn log_inputs(ep: &Endpoint, req: Req) -> Answer {
    ep.active_run(&req)?;
    if req.list("datasets").is_empty() && req.list("models").is_empty() {
        return Ok(json!({}));
    }
    Err(MlflowError {
        code: "FEATURE_DISABLED",
        message: "log_inputs (datasets and model inputs) is not supported by the runlog tracking store: it keeps \
                  experiments, runs, params, metrics, tags and artifacts"
            .into(),
    })
}

fn get_history(ep: &Endpoint, req: Req) -> Answer {
    let id = req.run_id()?;
    let key = req.str("metric_key")?;
    check_name("metric", &key, &ep.limits)?;
    ep.run_info(&id)?;
    let mut points = ep.points(&id, &key)?;
    points.sort_by_key(|p| p.step);
    let size = match req.opt_i64("max_results")? {
        None => points.len().max(1),
        Some(n) if n >= 1 => n as usize,
        Some(n) => return Err(invalid(format!("Invalid value {n} for parameter 'max_results': it must be positive"))),
    };
    let (items, next) = page(points, req.opt_str("page_token")?, size)?;
    let metrics: Vec<Json> = items
        .iter()
        .map(|p| json!({"key": key, "value": double_json(p.value), "timestamp": p.timestamp_ms, "step": p.step}))
        .collect();
    let mut out = json!({"metrics": metrics});
    if let Some(t) = next {
        out["next_page_token"] = json!(t);
    }
    Ok(out)
}

// --- artifacts -----------------------------------------------------------------------------------------------------

/// A run's artifacts by path, the tree the sync to MLflow uploads ([`artifact_tree`]).
fn artifacts_of(ep: &Endpoint, id: &RunId) -> Result<BTreeMap<String, Artifact>, MlflowError> {
    let src = ep.store.source();
    Ok(artifact_tree(src.images(id)?, src.charts(id)?, src.files(id)?))
}

/// The entries right under `dir` (a relative path, `""` for the root) of a run's files, with paths relative to
/// `base`.
fn listing(files: &BTreeMap<String, Artifact>, dir: &str, base: &str) -> Vec<Json> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let mut out: BTreeMap<String, Json> = BTreeMap::new();
    for (name, artifact) in files {
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let (head, is_dir) = match rest.split_once('/') {
            Some((h, _)) => (h, true),
            None => (rest, false),
        };
        let full = format!("{prefix}{head}");
        let rel = full.strip_prefix(base).map(|r| r.trim_start_matches('/')).unwrap_or(&full).to_string();
        let entry = if is_dir {
            json!({"path": rel, "is_dir": true})
        } else {
            json!({"path": rel, "is_dir": false, "file_size": artifact.size()})
        };
        out.entry(rel).or_insert(entry);
    }
    out.into_values().collect()
}

/// Checks an artifact path: relative, no empty, `.` or `..` part.
fn artifact_path(path: &str) -> Result<String, MlflowError> {
    let p = path.trim_matches('/');
    if p.split('/').any(|c| c == ".." || c == ".") || p.contains("//") || p.contains('\\') {
        return Err(invalid(format!("Invalid artifact path: '{path}' (it must stay inside the run's artifacts)")));
    }
    Ok(p.to_string())
}

fn list_artifacts_of_run(ep: &Endpoint, req: Req) -> Answer {
    let id = req.run_id()?;
    let info = ep.run_info(&id)?;
    let dir = artifact_path(&req.opt_str("path")?.unwrap_or_default())?;
    let run = ep.run_json(&info, &ep.catalog()?, false)?;
    let files = artifacts_of(ep, &id)?;
    Ok(json!({"root_uri": run["artifact_uri"], "files": listing(&files, &dir, "")}))
}

/// `EXPERIMENT/RUN/artifacts[/PATH]` of a proxied artifact URI: the run and the path in it.
fn proxied(path: &str) -> Result<(RunId, String), MlflowError> {
    let p = path.trim_matches('/');
    let mut parts = p.splitn(4, '/');
    let (_exp, run, art, rest) = (parts.next(), parts.next(), parts.next(), parts.next().unwrap_or(""));
    match (run.map(RunId::parse), art) {
        (Some(Ok(id)), Some("artifacts")) => Ok((id, artifact_path(rest)?)),
        _ => Err(not_found(format!(
            "no artifacts at {path:?}: runlog serves the artifacts of runs, EXPERIMENT_ID/RUN_ID/artifacts/PATH"
        ))),
    }
}

async fn list_artifacts(Extension(ep): Extension<Endpoint>, RawQuery(q): RawQuery) -> Response {
    answer(ep, Req::from_query(q.as_deref()), |ep, req| {
        let (id, dir) = proxied(&req.opt_str("path")?.unwrap_or_default())?;
        ep.run_info(&id)?;
        let files = artifacts_of(ep, &id)?;
        Ok(json!({"files": listing(&files, &dir, &dir)}))
    })
    .await
}

async fn download_artifact(Extension(ep): Extension<Endpoint>, Path(path): Path<String>) -> Response {
    blocking(move || {
        let (id, name) = proxied(&path)?;
        let mut files = artifacts_of(&ep, &id)?;
        let bytes = match files.remove(&name) {
            Some(Artifact::Blob(hash, _)) => ep.store.source().blob(&hash)?,
            Some(Artifact::Bytes(b)) => b,
            None => return Err(not_found(format!("artifact {name:?} of run {id} not found"))),
        };
        Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
    })
    .await
}

async fn upload_artifact(Extension(ep): Extension<Endpoint>, Path(path): Path<String>, body: Bytes) -> Response {
    blocking(move || {
        ep.writable()?;
        let (id, name) = proxied(&path)?;
        if name.is_empty() {
            return Err(invalid("an artifact upload names a file: EXPERIMENT_ID/RUN_ID/artifacts/PATH"));
        }
        if body.len() > MAX_ARTIFACT_BYTES {
            return Err(invalid(format!(
                "artifact {name:?} is {} bytes, the limit is {MAX_ARTIFACT_BYTES}",
                body.len()
            )));
        }
        ep.run_info(&id)?;
        ep.store.write(&id, vec![Write::File(name, body.to_vec())])?;
        Ok(axum::Json(json!({})))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_protobuf_json_writes_them() {
        assert_eq!(int_of(&json!("1700000000000")), Some(1_700_000_000_000));
        assert_eq!(int_of(&json!(12)), Some(12));
        assert_eq!(int_of(&json!(1.5)), None);
        assert!(double_of(&json!("NaN")).is_some_and(f64::is_nan));
        assert_eq!(double_of(&json!("-Infinity")), Some(f64::NEG_INFINITY));
        assert_eq!(double_of(&json!("x")), None);
        assert_eq!(double_json(f64::INFINITY), json!("Infinity"));
    }

    #[test]
    fn pages_are_offsets_and_the_last_has_no_token() {
        let (a, t) = page((0..5).collect(), None, 2).expect("first");
        assert_eq!((a, t.clone()), (vec![0, 1], Some("2".to_string())));
        let (b, t) = page((0..5).collect(), t, 3).expect("last");
        assert_eq!((b, t), (vec![2, 3, 4], None));
        assert_eq!(page::<i32>(vec![], Some("x".into()), 1).expect_err("bad").code, "INVALID_PARAMETER_VALUE");
    }

    #[test]
    fn proxied_paths_name_a_run_and_stay_inside_it() {
        let id = "ab".repeat(16);
        assert_eq!(proxied(&format!("3/{id}/artifacts/a/b.txt")).expect("ok").1, "a/b.txt");
        assert_eq!(proxied(&format!("3/{id}/artifacts")).expect("root").1, "");
        assert!(proxied(&format!("3/{id}/artifacts/../x")).is_err());
        assert!(proxied("3/nothex/artifacts/x").is_err());
    }
}
