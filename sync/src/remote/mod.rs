//! Remotes: where the agent uploads to. [`Remote`] is what the agent needs from one; `workspace` is runlog's own
//! server, and `mlflow` an MLflow tracking server (`mlflow+http://`, `mlflow+https://`).
//!
//! A remote knows its protocol (HTTP paths, auth, what its limits are). It must not know about the local store, the
//! agent's cursor or its policy: the agent hands it wire batches and blobs and reads back per-record outcomes.

pub mod mlflow;
pub mod workspace;

use crate::error::Result;
use async_trait::async_trait;
use runlog_wire::ServiceLimits;
use runlog_wire::{BatchReply, EncodedBatch};

/// What happened to a batch whose upload ended without an answer (a reset after sending, a timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// Sending the batch again is safe: the remote applies records idempotently (runlog's workspace server).
    ResendIsSafe,
    /// The remote checked what landed: this is the outcome, as if the upload had answered (nothing is resent).
    Landed(BatchReply),
    /// Only part of the batch landed: send these records again (their `(seq, part)` ids), not the others.
    Partly {
        /// The outcome of the records that landed.
        landed: BatchReply,
        /// The records to send again.
        resend: Vec<(i64, u32)>,
    },
}

/// A place the agent uploads to.
///
/// Every method may fail with a retryable error ([`crate::Error::is_retryable`]); the agent backs off and tries again.
/// After a failure whose outcome is unknown ([`crate::Error::outcome_unknown`]) the agent calls
/// [`Remote::reconcile`] before sending the batch again.
#[async_trait]
pub trait Remote: Send + Sync {
    /// A short name for messages (`runlog workspace http://127.0.0.1:8080`).
    fn describe(&self) -> String;

    /// The limits the agent must fit every request into (fetched from the remote, or known for its kind).
    async fn limits(&self) -> Result<ServiceLimits>;

    /// Of these blob hashes (64 hex digits), the ones the remote lacks.
    async fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>>;

    /// Uploads one blob; `bytes` hash to `hash`. Uploading a blob the remote has is a success.
    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> Result<()>;

    /// Uploads a batch and returns the per-record outcome. Uploading the same batch twice is a success.
    async fn upload_batch(&self, batch: &EncodedBatch) -> Result<BatchReply>;

    /// Finds out what landed of a batch whose upload's outcome is unknown. Idempotent remotes answer
    /// [`Reconciled::ResendIsSafe`] without a request.
    async fn reconcile(&self, batch: &EncodedBatch) -> Result<Reconciled>;
}

/// The wait a `Retry-After` header asks for, in either of its forms (RFC 9110 10.2.3): delay-seconds, or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, measured from `now`; a date in the past is no wait). At most a day.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: std::time::SystemTime) -> Option<std::time::Duration> {
    const MAX: std::time::Duration = std::time::Duration::from_secs(86_400);
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs).min(MAX));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or_default().min(MAX))
}

/// Opens the remote a configuration names (by its URL's scheme).
pub fn open(cfg: &crate::config::RemoteConfig) -> Result<std::sync::Arc<dyn Remote>> {
    let url = cfg.url.as_str();
    if url.starts_with("mlflow+http://") || url.starts_with("mlflow+https://") {
        return Ok(std::sync::Arc::new(mlflow::MlflowRemote::from_config(cfg)?));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let opts = workspace::ClientOptions { ca_cert: cfg.ca_cert.clone(), ..Default::default() };
        return Ok(std::sync::Arc::new(workspace::WorkspaceRemote::new(url, &cfg.token, &opts)?));
    }
    Err(crate::Error::Config(format!(
        "remote {:?} has the url {url:?}; this runlog syncs to http:// and https:// runlog workspace servers and mlflow+http:// and mlflow+https:// MLflow tracking servers",
        cfg.name
    )))
}

/// A reqwest failure as [`crate::Error::Network`], with its whole chain of causes. A refused connection never reached
/// the server; anything later may have (`maybe_sent`), so the agent reconciles before sending again.
pub(crate) fn net(url: &str, e: &reqwest::Error) -> crate::Error {
    let mut message = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    crate::Error::Network { url: url.to_string(), message, maybe_sent: !e.is_connect() }
}

/// The HTTP client of every remote: rustls, no proxy, the given timeouts, and an extra trusted CA when given (a
/// server with a private certificate).
pub(crate) fn http_client(
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
    ca_cert: Option<&std::path::Path>,
) -> Result<reqwest::Client> {
    use crate::Error;
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .no_proxy();
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read CA certificate {}: {e}", path.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| Error::Config(format!("{} is not a PEM certificate: {e}", path.display())))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // 2015-10-21 07:28:00 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let wait = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().expect("header value"));
            retry_after(&h, now)
        };
        assert_eq!(wait("120"), Some(Duration::from_secs(120)));
        assert_eq!(wait(" 0 "), Some(Duration::ZERO));
        assert_eq!(wait("Wed, 21 Oct 2015 07:28:30 GMT"), Some(Duration::from_secs(30)));
        assert_eq!(wait("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO), "a date in the past is no wait");
        assert_eq!(wait("99999999"), Some(Duration::from_secs(86_400)), "at most a day");
        assert_eq!(wait("-1"), None);
        assert_eq!(wait("soon"), None);
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new(), SystemTime::now()), None);
    }
}
