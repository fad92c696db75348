//! [`Tracking`] over one workspace of `runlog serve`: reads through the UI's [`WorkspaceSource`], writes as record
//! batches applied by the server's own [`Ingest`] path (the same validation, limits and deduplication an agent's
//! batches get), and experiments through [`runlog_server::Experiments`]. [`routes`] mounts MLflow's API behind the
//! workspace's tokens (`Authorization: Bearer`, what MLflow clients send from `MLFLOW_TRACKING_TOKEN`).
//!
//! Each MLflow run's records form a store of their own, `mlflow-<run id>`, so every replica appends to the same
//! store and a run's tags and status fold in the order they were written. Sequence numbers are time-ordered:
//! `((ms << 12) + k) << 8 | replica`, where `k` counts records within a millisecond in this process (monotonic even
//! when the clock steps back) and `replica` is a random byte of this process. Two replicas could only collide on
//! one run in the same millisecond with the same random byte; a collision is detected (the server counts the record
//! as a duplicate) and the write fails loudly instead of losing data silently.

use super::{Endpoint, Tracking, Write};
use crate::ui::Source;
use crate::ui::workspace::WorkspaceSource;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runlog_core::{Error, ExperimentDetails, Result, RunId};
use runlog_server::{Storage, WorkspaceId};
use runlog_wire::{Batch, BatchId, Body, ServiceLimits, WIRE_VERSION, WireRecord, WireValue, points};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

/// Prefix of the store ids of runs written through MLflow's API.
pub const STORE_PREFIX: &str = "mlflow-";

/// Bits of a tick that count records within one millisecond (4,096 per ms before the tick runs ahead of the clock).
const TICKS_PER_MS_BITS: u32 = 12;
/// Bits of a sequence number below its tick: the replica's random byte.
const REPLICA_BITS: u32 = 8;

/// The last tick handed out by this process (see the module docs).
static LAST_TICK: AtomicI64 = AtomicI64::new(0);

fn replica_byte() -> i64 {
    static BYTE: OnceLock<i64> = OnceLock::new();
    *BYTE.get_or_init(|| i64::from_str_radix(&RunId::new().as_str()[..2], 16).unwrap_or(0))
}

/// `n` consecutive, time-ordered sequence numbers, unique in this process.
fn seqs(n: usize) -> Vec<i64> {
    let now = runlog_core::now_ms() << TICKS_PER_MS_BITS;
    let n = n as i64;
    let mut last = LAST_TICK.load(Ordering::Relaxed);
    loop {
        let first = now.max(last + 1);
        match LAST_TICK.compare_exchange(last, first + n - 1, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return (first..first + n).map(|t| (t << REPLICA_BITS) | replica_byte()).collect(),
            Err(seen) => last = seen,
        }
    }
}

/// A record before its sequence number: name, time (ms), step, rows, body.
type Pending = (String, i64, Option<i64>, u32, Body);

/// The MLflow view of one workspace.
pub struct WorkspaceTracking {
    source: WorkspaceSource,
    storage: Arc<dyn Storage>,
    ws: WorkspaceId,
    rt: tokio::runtime::Handle,
    limits: ServiceLimits,
}

impl WorkspaceTracking {
    /// The view of workspace `ws`, its storage calls run on `rt`, batches checked against `limits`.
    pub fn new(
        storage: Arc<dyn Storage>,
        ws: WorkspaceId,
        rt: tokio::runtime::Handle,
        limits: ServiceLimits,
    ) -> WorkspaceTracking {
        WorkspaceTracking { source: WorkspaceSource::new(storage.clone(), ws, rt.clone()), storage, ws, rt, limits }
    }

    fn wait<T>(&self, f: impl std::future::Future<Output = runlog_server::Result<T>>) -> Result<T> {
        self.rt.block_on(f).map_err(|e| Error::Storage { context: "server storage".into(), message: e.to_string() })
    }

    /// Applies records of one run as a batch; any record not applied is an error naming why.
    fn apply(&self, run: &RunId, records: Vec<Pending>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let seqs = seqs(records.len());
        let records: Vec<WireRecord> = records
            .into_iter()
            .zip(seqs)
            .map(|((name, at, step, rows, body), seq)| WireRecord {
                seq,
                part: 0,
                rows,
                run: run.as_str().to_string(),
                name,
                at,
                step,
                body,
            })
            .collect();
        let batch = Batch { version: WIRE_VERSION, store: format!("{STORE_PREFIX}{run}"), records };
        let encoded = batch.encode();
        let sent = batch.records.len() as u64;
        let reply = self.wait(self.storage.apply_batch(
            self.ws,
            BatchId::of(&encoded.bytes),
            encoded.bytes.len(),
            batch,
            self.limits,
        ))?;
        let reply = reply.map_err(|r| Error::Invalid(format!("the server refused the batch: {r:?}")))?;
        if let Some(r) = reply.rejected.first() {
            return Err(Error::Invalid(format!("the server refused it ({}): {}", r.code, r.reason)));
        }
        if reply.applied != sent {
            return Err(Error::Storage {
                context: "mlflow endpoint".into(),
                message: format!(
                    "{} of {sent} records collided with records another replica wrote in the same millisecond; \
                     send the request again",
                    sent - reply.applied
                ),
            });
        }
        Ok(())
    }

    fn blob(&self, bytes: Vec<u8>) -> Result<(String, u64)> {
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let size = bytes.len() as u64;
        self.wait(async {
            let mut up = self.storage.begin_blob(self.ws).await?;
            up.write(&bytes).await?;
            up.commit(&hash).await
        })?;
        Ok((hash, size))
    }
}

impl Tracking for WorkspaceTracking {
    fn source(&self) -> &dyn Source {
        &self.source
    }

    fn experiments(&self) -> Result<Vec<ExperimentDetails>> {
        let rows = self.wait(self.storage.experiments(self.ws))?;
        Ok(rows
            .into_iter()
            .map(|r| ExperimentDetails {
                id: r.id,
                name: r.name,
                created_at: r.created_at,
                updated_at: r.updated_at,
                tags: r.tags,
            })
            .collect())
    }

    fn create_experiment(&self, name: &str) -> Result<()> {
        self.wait(self.storage.create_experiment(self.ws, name))
    }

    fn set_experiment_tag(&self, name: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.wait(self.storage.set_experiment_tag(self.ws, name, key, value))
    }

    fn start_run(&self, experiment: &str, name: &str, parent: Option<&RunId>, started_at: i64) -> Result<RunId> {
        let id = RunId::new();
        let body = Body::Run {
            experiment: experiment.to_string(),
            name: name.to_string(),
            parent: parent.map(|p| p.as_str().to_string()),
        };
        self.apply(&id, vec![(String::new(), started_at, None, 1, body)])?;
        Ok(id)
    }

    fn write(&self, id: &RunId, writes: Vec<Write>) -> Result<()> {
        let now = runlog_core::now_ms();
        let text = |v: String| WireValue::Str(v);
        let mut series: BTreeMap<String, Vec<points::Point>> = BTreeMap::new();
        let mut records = Vec::new();
        for w in writes {
            match w {
                Write::Metric { key, value, timestamp, step } => {
                    series.entry(key).or_default().push(points::Point { step, at: timestamp, value });
                }
                Write::Param(k, v) => records.push((k, now, None, 1, Body::Param(text(v)))),
                Write::Tag(k, v) => records.push((k, now, None, 1, Body::Tag(text(v)))),
                Write::Property(k, v) => records.push((k, now, None, 1, Body::Property(text(v)))),
                Write::End(status, at) => records.push((
                    String::new(),
                    at,
                    None,
                    1,
                    Body::Status { status: status.as_str().into(), reason: None },
                )),
                Write::File(name, bytes) => {
                    let (hash, size) = self.blob(bytes)?;
                    records.push((name, now, None, 1, Body::File { hash, size }));
                }
            }
        }
        let mut all: Vec<_> = series
            .into_iter()
            .map(|(key, pts)| {
                let first = pts.first().map_or((0, now), |p| (p.step, p.at));
                (key, first.1, Some(first.0), pts.len() as u32, Body::Scalars(points::encode(&pts)))
            })
            .collect();
        all.extend(records);
        self.apply(id, all)
    }
}

/// What the token check needs.
#[derive(Clone)]
struct Auth {
    storage: Arc<dyn Storage>,
    limits: ServiceLimits,
}

/// MLflow's API of `runlog serve`: each request's `Authorization: Bearer TOKEN` opens the workspace it names; no
/// token, or one that opens nothing, gets MLflow's 401 `UNAUTHENTICATED` and no data.
pub fn routes(storage: Arc<dyn Storage>, limits: ServiceLimits) -> Router {
    super::routes().route_layer(axum::middleware::from_fn_with_state(Auth { storage, limits }, authenticate))
}

async fn authenticate(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let ws = match token {
        Some(t) if !t.is_empty() && t.len() <= 200 => auth.storage.workspace_for_token(&t).await,
        _ => Ok(None),
    };
    let ws = match ws {
        Ok(Some(ws)) => ws,
        Ok(None) => {
            let e = super::MlflowError {
                code: "UNAUTHENTICATED",
                message: "a workspace token is needed: set MLFLOW_TRACKING_TOKEN to a token of `runlog admin`".into(),
            };
            return e.into_response();
        }
        Err(e) => {
            eprintln!("runlog serve: mlflow: token check failed: {e}");
            let e = super::MlflowError { code: "INTERNAL_ERROR", message: "internal error".into() };
            return e.into_response();
        }
    };
    let tracking = WorkspaceTracking::new(auth.storage.clone(), ws, tokio::runtime::Handle::current(), auth.limits);
    req.extensions_mut().insert(Endpoint::new(Arc::new(tracking), true));
    next.run(req).await
}
