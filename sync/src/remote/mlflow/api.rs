//! The MLflow REST API as this remote uses it: JSON requests under `/api/2.0/mlflow/`, artifacts through the proxied
//! artifact API under `/api/2.0/mlflow-artifacts/artifacts/`, bearer or basic auth, and errors parsed defensively
//! (MLflow answers JSON `{"error_code", "message"}` for API errors, but plain text or HTML for 401, 403 and some 500s).
//!
//! This module knows HTTP and MLflow's JSON shapes; it knows nothing about runlog records or the agent.

use crate::error::{Error, Result};
use crate::remote::net;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No credentials.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic ...`.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

impl Auth {
    /// Reads the configured token: empty for none, `basic:USER:PASSWORD` for basic auth, anything else a bearer token.
    pub(crate) fn from_token(token: &str) -> Result<Auth> {
        if token.is_empty() {
            return Ok(Auth::None);
        }
        if let Some(rest) = token.strip_prefix("basic:") {
            let Some((user, password)) = rest.split_once(':') else {
                return Err(Error::Config("an MLflow basic-auth token must be basic:USER:PASSWORD".into()));
            };
            return Ok(Auth::Basic { user: user.to_string(), password: password.to_string() });
        }
        Ok(Auth::Bearer(token.to_string()))
    }
}

/// An MLflow tracking server's HTTP API.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    base: String,
    client: reqwest::Client,
    auth: Auth,
}

/// A metric as MLflow takes and returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Metric {
    pub key: String,
    #[serde(with = "json_f64")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// A param or tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// The body of `runs/log-batch`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct LogBatch<'a> {
    pub run_id: &'a str,
    pub metrics: Vec<&'a Metric>,
    pub params: Vec<&'a KeyValue>,
    pub tags: Vec<&'a KeyValue>,
}

/// A run's info and data, as `runs/get`, `runs/create` and `runs/search` return them.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RunJson {
    pub info: RunInfo,
    #[serde(default)]
    pub data: RunData,
}

/// A run's info.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RunInfo {
    pub run_id: String,
    #[serde(default)]
    pub artifact_uri: String,
}

/// A run's latest metrics and its params.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RunData {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub params: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct RunReply {
    run: RunJson,
}

#[derive(Deserialize)]
struct SearchReply {
    #[serde(default)]
    runs: Vec<RunJson>,
}

#[derive(Deserialize)]
struct HistoryReply {
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ExperimentReply {
    experiment: ExperimentJson,
}

#[derive(Deserialize)]
struct ExperimentJson {
    experiment_id: String,
}

#[derive(Deserialize)]
struct CreatedExperiment {
    experiment_id: String,
}

#[derive(Deserialize)]
struct ExperimentsReply {
    #[serde(default)]
    experiments: Vec<ExperimentJson>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorJson {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// MLflow's JSON numbers: NaN and infinities travel as the strings "NaN", "Infinity", "-Infinity".
mod json_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v.is_infinite() {
            s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            s.serialize_f64(*v)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        F(f64),
        S(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(match Num::deserialize(d)? {
            Num::F(f) => f,
            Num::S(s) => match s.as_str() {
                "Infinity" | "inf" => f64::INFINITY,
                "-Infinity" | "-inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap_or(f64::NAN),
            },
        })
    }
}

/// Percent-encodes a query value or a path (keeping `/` when `path`).
pub(crate) fn encode(s: &str, path: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (path && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Api {
    /// A client of the server at `base` (`http://host:port[/prefix]`).
    pub(crate) fn new(
        base: &str,
        auth: Auth,
        ca_cert: Option<&std::path::Path>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Api> {
        let client = crate::remote::http_client(timeout, connect_timeout, ca_cert)?;
        Ok(Api { base: base.trim_end_matches('/').to_string(), client, auth })
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<bytes::Bytes> {
        let resp = self.authed(req).send().await.map_err(|e| net(url, &e))?;
        let status = resp.status();
        let retry_after = crate::remote::retry_after(resp.headers(), std::time::SystemTime::now());
        let body = resp.bytes().await.map_err(|e| net(url, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        let (code, message) = match serde_json::from_slice::<ErrorJson>(&body) {
            Ok(e) if !e.error_code.is_empty() => (e.error_code, e.message),
            _ => {
                (format!("http_{}", status.as_u16()), runlog_wire::truncate(String::from_utf8_lossy(&body).trim(), 200))
            }
        };
        Err(Error::Http { url: url.to_string(), status: status.as_u16(), code, message, retry_after })
    }

    async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Format(format!("cannot encode {path}: {e}")))?;
        let req = self.client.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes);
        parse(&url, &self.send(req, &url).await?)
    }

    async fn get<R: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<R> {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v, false))).collect();
        let url = format!("{}/api/2.0/mlflow/{path}?{}", self.base, q.join("&"));
        parse(&url, &self.send(self.client.get(&url), &url).await?)
    }

    /// `runs/log-batch`, with a body already checked against MLflow's limits.
    pub(crate) async fn log_batch(&self, body: &LogBatch<'_>) -> Result<()> {
        let _: serde_json::Value = self.post("runs/log-batch", body).await?;
        Ok(())
    }

    /// The id of the experiment named `name`, if there is one.
    pub(crate) async fn experiment_by_name(&self, name: &str) -> Result<Option<String>> {
        match self.get::<ExperimentReply>("experiments/get-by-name", &[("experiment_name", name)]).await {
            Ok(r) => Ok(Some(r.experiment.experiment_id)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an experiment; `None` when one of that name exists already.
    pub(crate) async fn create_experiment(&self, name: &str) -> Result<Option<String>> {
        match self.post::<_, CreatedExperiment>("experiments/create", &serde_json::json!({ "name": name })).await {
            Ok(r) => Ok(Some(r.experiment_id)),
            Err(Error::Http { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The ids of every experiment (active and deleted).
    pub(crate) async fn experiment_ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({ "max_results": 1000, "view_type": "ALL" });
            if let Some(t) = &token {
                body["page_token"] = serde_json::Value::String(t.clone());
            }
            let r: ExperimentsReply = self.post("experiments/search", &body).await?;
            out.extend(r.experiments.into_iter().map(|e| e.experiment_id));
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Creates a run.
    pub(crate) async fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_time: i64,
        tags: &[KeyValue],
    ) -> Result<RunJson> {
        let body = serde_json::json!({
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": start_time,
            "tags": tags,
        });
        Ok(self.post::<_, RunReply>("runs/create", &body).await?.run)
    }

    /// The active runs of these experiments whose tag `key` is `value`, oldest first.
    pub(crate) async fn search_by_tag(
        &self,
        experiment_ids: &[String],
        key: &str,
        value: &str,
    ) -> Result<Vec<RunJson>> {
        let mut out = Vec::new();
        for ids in experiment_ids.chunks(100) {
            let body = serde_json::json!({
                "experiment_ids": ids,
                "filter": format!("tags.`{key}` = '{}'", value.replace('\'', "\\'")),
                "run_view_type": "ACTIVE_ONLY",
                "max_results": 10,
                "order_by": ["attributes.start_time ASC"],
            });
            let r: SearchReply = self.post("runs/search", &body).await?;
            out.extend(r.runs);
        }
        Ok(out)
    }

    /// A run, or `None` when the server has no run of that id.
    pub(crate) async fn get_run(&self, run_id: &str) -> Result<Option<RunJson>> {
        match self.get::<RunReply>("runs/get", &[("run_id", run_id)]).await {
            Ok(r) => Ok(Some(r.run)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets a run's status and end time.
    pub(crate) async fn update_run(&self, run_id: &str, status: &str, end_time: Option<i64>) -> Result<()> {
        let mut body = serde_json::json!({ "run_id": run_id, "status": status });
        if let Some(t) = end_time {
            body["end_time"] = t.into();
        }
        let _: serde_json::Value = self.post("runs/update", &body).await?;
        Ok(())
    }

    /// Every point of a metric, in pages.
    pub(crate) async fn history(&self, run_id: &str, key: &str, page: usize) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        let mut token = String::new();
        let max = page.to_string();
        loop {
            let mut q = vec![("run_id", run_id), ("metric_key", key), ("max_results", max.as_str())];
            if !token.is_empty() {
                q.push(("page_token", token.as_str()));
            }
            let r: HistoryReply = self.get("metrics/get-history", &q).await?;
            out.extend(r.metrics);
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = t,
                None => return Ok(out),
            }
        }
    }

    /// The points of a metric with steps in `lo..=hi`, if MLflow returns all of them (it samples ranges holding
    /// more than `max` steps: then `None`, and the caller reads the whole history).
    pub(crate) async fn history_range(
        &self,
        run_id: &str,
        key: &str,
        lo: i64,
        hi: i64,
        max: usize,
    ) -> Result<Option<Vec<Metric>>> {
        let (lo, hi, max) = (lo.to_string(), hi.to_string(), max.to_string());
        let q =
            [("run_ids", run_id), ("metric_key", key), ("start_step", &lo), ("end_step", &hi), ("max_results", &max)];
        let r: HistoryReply = self.get("metrics/get-history-bulk-interval", &q).await?;
        let steps: HashSet<i64> = r.metrics.iter().map(|m| m.step).collect();
        Ok((steps.len() < max.parse::<usize>().unwrap_or(0)).then_some(r.metrics))
    }

    fn artifact_url(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow-artifacts/artifacts/{}", self.base, encode(path, true))
    }

    /// Writes an artifact (`path` under the proxied artifact root; replaces what was there).
    pub(crate) async fn put_artifact(&self, path: &str, bytes: bytes::Bytes) -> Result<()> {
        let url = self.artifact_url(path);
        self.send(self.client.put(&url).body(bytes), &url).await?;
        Ok(())
    }

    /// Reads an artifact, `None` when absent.
    pub(crate) async fn get_artifact(&self, path: &str) -> Result<Option<bytes::Bytes>> {
        let url = self.artifact_url(path);
        match self.send(self.client.get(&url), &url).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn parse<R: DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<R> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::Format(format!(
            "{url} answered something that is not the expected JSON ({e}): {}",
            runlog_wire::truncate(String::from_utf8_lossy(bytes).trim(), 120)
        ))
    })
}

/// Whether an error is MLflow's "no such resource".
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Http { status: 404, .. })
        || matches!(e, Error::Http { code, .. } if code == "RESOURCE_DOES_NOT_EXIST")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_travel_as_strings() {
        let m = |v| Metric { key: "k".into(), value: v, timestamp: 1, step: 2 };
        let s = serde_json::to_string(&[m(f64::NAN), m(f64::INFINITY), m(f64::NEG_INFINITY), m(0.5)]).expect("json");
        assert!(s.contains(r#""value":"NaN""#) && s.contains(r#""value":"Infinity""#), "{s}");
        assert!(s.contains(r#""value":"-Infinity""#) && s.contains(r#""value":0.5"#), "{s}");
        let back: Vec<Metric> = serde_json::from_str(&s).expect("parse");
        assert!(back[0].value.is_nan());
        assert_eq!(back[1].value, f64::INFINITY);
    }

    #[test]
    fn tokens_choose_the_auth() {
        assert_eq!(Auth::from_token("").expect("none"), Auth::None);
        assert_eq!(
            Auth::from_token("basic:al:pa:ss").expect("basic"),
            Auth::Basic { user: "al".into(), password: "pa:ss".into() }
        );
        assert_eq!(Auth::from_token("t0k").expect("bearer"), Auth::Bearer("t0k".into()));
        assert!(Auth::from_token("basic:nocolon").is_err());
    }

    #[test]
    fn encoding_keeps_slashes_in_paths_only() {
        assert_eq!(encode("a b/c#", true), "a%20b/c%23");
        assert_eq!(encode("a b/c", false), "a%20b%2Fc");
    }
}
