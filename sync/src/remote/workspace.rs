//! runlog's own workspace server as a [`Remote`]: HTTP (or HTTPS through rustls) with a bearer token, the endpoints
//! of docs/protocol.md. Its writes are idempotent, so after an unknown outcome the answer is always "resend".

use super::{Reconciled, Remote, net};
use crate::error::{Error, Result};
use async_trait::async_trait;
use runlog_wire::ServiceLimits;
use runlog_wire::{BatchReply, EncodedBatch, ErrorBody, MissingReply, MissingRequest};
use std::time::Duration;

/// A runlog workspace server.
#[derive(Debug, Clone)]
pub struct WorkspaceRemote {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// Options of the HTTP client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// A PEM certificate to trust besides the system's (a private CA or a self-signed server). Default: none.
    pub ca_cert: Option<std::path::PathBuf>,
    /// How long one request may take in all. Default: 120 s.
    pub timeout: Duration,
    /// How long connecting may take. Default: 10 s.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { ca_cert: None, timeout: Duration::from_secs(120), connect_timeout: Duration::from_secs(10) }
    }
}

impl WorkspaceRemote {
    /// A remote at `url` (`http://host:port` or `https://...`) opened by `token`.
    pub fn new(url: &str, token: &str, opts: &ClientOptions) -> Result<WorkspaceRemote> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!("remote url {url:?} must start with http:// or https://")));
        }
        let client = super::http_client(opts.timeout, opts.connect_timeout, opts.ca_cert.as_deref())?;
        Ok(WorkspaceRemote { base, token: token.to_string(), client })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| net(url, &e))?;
        check(url, resp).await
    }
}

/// Turns a non-2xx answer into [`Error::Http`] with the body's code and the `Retry-After` wait.
async fn check(url: &str, resp: reqwest::Response) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = super::retry_after(resp.headers(), std::time::SystemTime::now());
    let text = resp.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => (b.code, b.message),
        Err(_) => (format!("http_{}", status.as_u16()), runlog_wire::truncate(text.trim(), 200)),
    };
    Err(Error::Http { url: url.to_string(), status: status.as_u16(), code, message, retry_after })
}

async fn json<T: serde::de::DeserializeOwned>(url: &str, resp: reqwest::Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| net(url, &e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Format(format!("{url} answered something that is not the expected JSON: {e}")))
}

#[async_trait]
impl Remote for WorkspaceRemote {
    fn describe(&self) -> String {
        format!("runlog workspace {}", self.base)
    }

    async fn limits(&self) -> Result<ServiceLimits> {
        let url = self.url("/api/v1/limits");
        let resp = self.send(self.client.get(&url), &url).await?;
        json(&url, resp).await
    }

    async fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let url = self.url("/api/v1/blobs/missing");
        let body = MissingRequest { hashes: hashes.to_vec() };
        let resp = self.send(self.client.post(&url).json(&body), &url).await?;
        Ok(json::<MissingReply>(&url, resp).await?.missing)
    }

    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> Result<()> {
        let url = self.url(&format!("/api/v1/blobs/{hash}"));
        self.send(self.client.put(&url).body(bytes), &url).await?;
        Ok(())
    }

    async fn upload_batch(&self, batch: &EncodedBatch) -> Result<BatchReply> {
        let url = self.url(&format!("/api/v1/batches/{}", batch.id));
        let req = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/msgpack")
            .body(batch.bytes.clone());
        let resp = self.send(req, &url).await?;
        json(&url, resp).await
    }

    async fn reconcile(&self, _batch: &EncodedBatch) -> Result<Reconciled> {
        Ok(Reconciled::ResendIsSafe)
    }
}
