//! Test doubles for remotes, so the driver is tested without sockets: [`MemoryRemote`] applies batches in memory
//! with the server's own pure validate/plan steps (so it dedupes exactly as the server does), and [`Scheduled`]
//! wraps a remote with failures on a schedule (503, 429 with a wait, an answer lost after the batch landed, 413,
//! a connection reset before anything was sent, refused credentials).

use async_trait::async_trait;
use runlog_server::storage::apply::{self, Held, Write};
use runlog_sync::remote::{Reconciled, Remote};
use runlog_sync::{Error, Result, ServiceLimits};
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, BatchReply, EncodedBatch};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// What a [`MemoryRemote`] holds.
#[derive(Default)]
pub struct Memory {
    pub held: Held,
    /// Points by (run, series), in arrival order.
    pub points: HashMap<(String, String), Vec<Point>>,
    /// Blob hashes.
    pub blobs: HashSet<String>,
    /// Batches answered.
    pub batches: u64,
}

/// A remote in memory that applies batches like the workspace server.
pub struct MemoryRemote {
    pub limits: ServiceLimits,
    pub state: Mutex<Memory>,
}

impl MemoryRemote {
    pub fn new(limits: ServiceLimits) -> MemoryRemote {
        MemoryRemote { limits, state: Mutex::default() }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The points of a series sorted by step.
    pub fn series(&self, run: &str, name: &str) -> Vec<Point> {
        let mut p = self.state().points.get(&(run.to_string(), name.to_string())).cloned().unwrap_or_default();
        p.sort_by_key(|p| p.step);
        p
    }

    fn apply(&self, batch: &EncodedBatch) -> Result<BatchReply> {
        let b = Batch::decode(&batch.bytes)?;
        let checked = apply::validate(&b, &self.limits).map_err(|r| refused(413, &format!("{r:?}")))?;
        let mut st = self.state();
        let mut held = st.held.clone();
        held.blobs = st.blobs.clone();
        let plan = apply::plan(&batch.id, &b, &checked, &held, &self.limits)
            .map_err(|e| refused(500, &e.to_string()))?
            .map_err(|r| refused(409, &format!("blob_missing {r:?}")))?;
        for w in &plan.writes {
            match w {
                Write::Record(r) if r.kind == "scalars" => {
                    held.parts.entry(r.seq).or_default().push((r.part, r.part + r.n));
                    let pts = points::decode(&r.body).map_err(|e| refused(500, &e.to_string()))?;
                    st.points.entry((r.run.clone(), r.name.clone())).or_default().extend(pts);
                }
                Write::Record(r) => {
                    held.records.insert((r.seq, r.part as u32));
                }
                Write::Names { run, name, rows } => {
                    let key = (run.clone(), name.clone());
                    if !held.name_rows.contains_key(&key) {
                        *held.names_per_run.entry(run.clone()).or_default() += 1;
                    }
                    *held.name_rows.entry(key).or_default() += rows;
                }
                Write::Run { .. } | Write::Rejection(_) => {}
            }
        }
        st.held = held;
        st.batches += 1;
        Ok(plan.reply)
    }
}

fn refused(status: u16, message: &str) -> Error {
    let code = if message.starts_with("blob_missing") { "blob_missing" } else { "refused" };
    Error::Http { url: "memory".into(), status, code: code.into(), message: message.into(), retry_after: None }
}

#[async_trait]
impl Remote for MemoryRemote {
    fn describe(&self) -> String {
        "memory".into()
    }

    async fn limits(&self) -> Result<ServiceLimits> {
        Ok(self.limits)
    }

    async fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        let st = self.state();
        Ok(hashes.iter().filter(|h| !st.blobs.contains(*h)).cloned().collect())
    }

    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> Result<()> {
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash, "the agent sends a blob's own bytes");
        self.state().blobs.insert(hash.to_string());
        Ok(())
    }

    async fn upload_batch(&self, batch: &EncodedBatch) -> Result<BatchReply> {
        self.apply(batch)
    }

    async fn reconcile(&self, _batch: &EncodedBatch) -> Result<Reconciled> {
        Ok(Reconciled::ResendIsSafe)
    }
}

/// What the next batch upload meets.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 503 before anything is applied.
    Unavailable,
    /// 429 asking to wait this long.
    RateLimited(Duration),
    /// The batch is applied, then the answer is lost (the outcome is unknown to the agent).
    LostAnswer,
    /// 413: the body is over the remote's size limit.
    TooLarge,
    /// The connection is refused before anything is sent.
    Refused,
    /// 401: the credentials are refused.
    Unauthorized,
}

/// A remote whose batch uploads fail as `schedule` says, in order; once it is used up, every call goes through.
pub struct Scheduled<R> {
    pub inner: R,
    pub schedule: Mutex<std::collections::VecDeque<Fault>>,
    /// Faults met so far.
    pub met: Mutex<Vec<Fault>>,
}

impl<R> Scheduled<R> {
    pub fn new(inner: R, schedule: Vec<Fault>) -> Scheduled<R> {
        Scheduled { inner, schedule: Mutex::new(schedule.into()), met: Mutex::default() }
    }

    pub fn met(&self) -> Vec<Fault> {
        self.met.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn http(status: u16, code: &str, retry_after: Option<Duration>) -> Error {
    Error::Http { url: "scheduled".into(), status, code: code.into(), message: code.into(), retry_after }
}

#[async_trait]
impl<R: Remote> Remote for Scheduled<R> {
    fn describe(&self) -> String {
        format!("scheduled {}", self.inner.describe())
    }

    async fn limits(&self) -> Result<ServiceLimits> {
        self.inner.limits().await
    }

    async fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        self.inner.missing_blobs(hashes).await
    }

    async fn upload_blob(&self, hash: &str, bytes: bytes::Bytes) -> Result<()> {
        self.inner.upload_blob(hash, bytes).await
    }

    async fn upload_batch(&self, batch: &EncodedBatch) -> Result<BatchReply> {
        let next = self.schedule.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some(fault) = next else { return self.inner.upload_batch(batch).await };
        self.met.lock().unwrap_or_else(|e| e.into_inner()).push(fault.clone());
        match fault {
            Fault::Unavailable => Err(http(503, "unavailable", None)),
            Fault::RateLimited(d) => Err(http(429, "rate_limited", Some(d))),
            Fault::LostAnswer => {
                self.inner.upload_batch(batch).await?;
                Err(Error::Network { url: "scheduled".into(), message: "connection reset".into(), maybe_sent: true })
            }
            Fault::TooLarge => Err(http(413, "body_too_large", None)),
            Fault::Refused => {
                Err(Error::Network { url: "scheduled".into(), message: "connection refused".into(), maybe_sent: false })
            }
            Fault::Unauthorized => Err(http(401, "unauthorized", None)),
        }
    }

    async fn reconcile(&self, batch: &EncodedBatch) -> Result<Reconciled> {
        self.inner.reconcile(batch).await
    }
}
