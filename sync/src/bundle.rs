//! Air-gapped transfer: a bundle is one file holding the records (wire format) and blobs a store has not had
//! acknowledged, named by the blake3 hash of its bytes. Importing uploads it to a remote with the same guarantees as
//! the agent: records are identified by `(store, seq, part)`, so importing a bundle twice, or bundles in any order,
//! leaves the remote equal to the store.

use crate::agent::driver::classify;
use crate::agent::state::{Action, Backoff, Event, Policy};
use crate::error::{Error, Result};
use crate::remote::{Reconciled, Remote};
use runlog_core::Store;
use runlog_wire::{Batch, Body, WIRE_VERSION, WireRecord};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bundle format version.
pub const BUNDLE_VERSION: u32 = 1;
const MAGIC: &[u8] = b"RUNLOG-BUNDLE\n";

/// A bundle's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// The store's id.
    pub store: String,
    /// Lowest sequence number held.
    pub seq_lo: i64,
    /// Highest sequence number held.
    pub seq_hi: i64,
    /// The records, in sequence order.
    pub records: Vec<WireRecord>,
    /// The blobs the records refer to: (hash, bytes).
    pub blobs: Vec<(String, serde_bytes::ByteBuf)>,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    /// The file (None when there was nothing to export).
    pub path: Option<PathBuf>,
    /// Records written.
    pub records: u64,
    /// Blobs written.
    pub blobs: u64,
    /// The sequence range.
    pub seq_lo: i64,
    /// The sequence range.
    pub seq_hi: i64,
}

/// Writes the records of `store` after sequence number `after` (and their blobs) to a bundle in `dir`.
pub fn export(store: &Store, after: i64, dir: &Path) -> Result<Exported> {
    let reader = store.reader();
    let mut records = Vec::new();
    let mut hashes = std::collections::BTreeSet::new();
    let mut pos = after;
    loop {
        let raws = reader.records_after(runlog_core::Seq(pos), 1024)?;
        if raws.is_empty() {
            break;
        }
        for raw in raws {
            pos = raw.seq.get();
            // An unreadable record cannot travel; the agent rejects it with its reason when it meets it.
            if let Ok(parts) = crate::convert::from_raw(&raw, runlog_core::chunk::MAX_POINTS) {
                for p in parts {
                    if let Some(h) = p.body.blob() {
                        hashes.insert(h.to_string());
                    }
                    records.push(p);
                }
            }
        }
    }
    if records.is_empty() {
        return Ok(Exported { path: None, records: 0, blobs: 0, seq_lo: after, seq_hi: after });
    }
    let mut blobs = Vec::new();
    for h in hashes {
        let hash = runlog_core::BlobHash::parse(&h)?;
        blobs.push((h, serde_bytes::ByteBuf::from(reader.blob(&hash)?)));
    }
    let seq_lo = records.first().map_or(after, |r| r.seq);
    let seq_hi = pos;
    let bundle = Bundle { version: BUNDLE_VERSION, store: store.id().to_string(), seq_lo, seq_hi, records, blobs };
    let mut bytes = MAGIC.to_vec();
    rmp_serde::encode::write(&mut bytes, &bundle).map_err(|e| Error::Format(format!("encode bundle: {e}")))?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let name = format!("runlog-{}-{seq_lo}-{seq_hi}-{hash}.rlbundle", bundle.store);
    let path = dir.join(name);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    Ok(Exported {
        path: Some(path),
        records: bundle.records.len() as u64,
        blobs: bundle.blobs.len() as u64,
        seq_lo,
        seq_hi,
    })
}

/// Reads and verifies a bundle: its bytes must hash to the hash in its file name (when the name has one).
pub fn read(path: &Path) -> Result<Bundle> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    let actual = blake3::hash(&bytes).to_hex().to_string();
    let named = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.rsplit('-').next()).filter(|h| h.len() == 64);
    if let Some(named) = named
        && named != actual
    {
        return Err(Error::Format(format!(
            "{} is damaged: its bytes hash to {actual}, its name says {named}",
            path.display()
        )));
    }
    let body =
        bytes.strip_prefix(MAGIC).ok_or_else(|| Error::Format(format!("{} is not a runlog bundle", path.display())))?;
    let b: Bundle = rmp_serde::from_slice(body)
        .map_err(|e| Error::Format(format!("{} is not a valid bundle: {e}", path.display())))?;
    if b.version != BUNDLE_VERSION {
        return Err(Error::Format(format!(
            "bundle version {} is not supported (this runlog reads {BUNDLE_VERSION})",
            b.version
        )));
    }
    for (h, data) in &b.blobs {
        if blake3::hash(data).to_hex().as_str() != h {
            return Err(Error::Format(format!("{}: blob {h} does not match its hash", path.display())));
        }
    }
    Ok(b)
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Batches sent.
    pub batches: u64,
    /// Records applied now.
    pub applied: u64,
    /// Records the remote held already.
    pub duplicates: u64,
    /// Records refused: (seq, code, reason).
    pub rejected: Vec<(i64, String, String)>,
    /// Blobs uploaded.
    pub blobs_uploaded: u64,
}

/// Splits scalar parts to at most `rows` points, keeping their positions within the stored chunk.
fn resplit(records: Vec<WireRecord>, rows: usize) -> Result<Vec<WireRecord>> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        match &r.body {
            Body::Scalars(b) if r.rows as usize > rows => {
                let pts = runlog_wire::points::decode(b)?;
                for (i, c) in pts.chunks(rows).enumerate() {
                    let bytes = runlog_wire::points::encode(c);
                    out.push(WireRecord {
                        part: r.part + (i * rows) as u32,
                        rows: c.len() as u32,
                        step: c.iter().map(|p| p.step).min(),
                        body: Body::Scalars(bytes),
                        ..r.clone()
                    });
                }
            }
            _ => out.push(r),
        }
    }
    Ok(out)
}

/// Uploads a bundle to a remote, fitting its limits, retrying retryable failures until `max_wait` has passed.
pub async fn import(bundle: Bundle, remote: &dyn Remote, backoff: Backoff, max_wait: Duration) -> Result<Imported> {
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut out = Imported::default();
    let mut policy = Policy::new(backoff);
    let limits = retry(&mut policy, deadline, || remote.limits()).await?;
    let hashes: Vec<String> = bundle.blobs.iter().map(|(h, _)| h.clone()).collect();
    let missing = retry(&mut policy, deadline, || remote.missing_blobs(&hashes)).await?;
    for (h, data) in &bundle.blobs {
        if missing.contains(h) {
            let bytes = bytes::Bytes::copy_from_slice(data);
            retry(&mut policy, deadline, || remote.upload_blob(h, bytes.clone())).await?;
            out.blobs_uploaded += 1;
        }
    }
    let part_rows = (limits.max_rows_per_batch as usize).clamp(1, runlog_core::chunk::MAX_POINTS);
    let mut queue: std::collections::VecDeque<WireRecord> = resplit(bundle.records, part_rows)?.into();
    let budget = (limits.max_request_bytes as usize).saturating_sub(4096).max(1024);
    let mut action = policy.on(Event::Ready);
    loop {
        match action {
            Action::Send { max_records } => {
                let (mut n, mut rows, mut bytes) = (0usize, 0u64, 0usize);
                for r in &queue {
                    if n > 0
                        && (rows + u64::from(r.rows) > limits.max_rows_per_batch
                            || bytes + r.size_hint() > budget
                            || max_records.is_some_and(|m| n >= m))
                    {
                        break;
                    }
                    n += 1;
                    rows += u64::from(r.rows);
                    bytes += r.size_hint();
                }
                if n == 0 {
                    action = policy.on(Event::Empty);
                    continue;
                }
                let records: Vec<WireRecord> = queue.iter().take(n).cloned().collect();
                let enc = Batch { version: WIRE_VERSION, store: bundle.store.clone(), records }.encode();
                let result = match remote.upload_batch(&enc).await {
                    Err(e) if e.outcome_unknown() => match remote.reconcile(&enc).await? {
                        Reconciled::ResendIsSafe => Err(e),
                        Reconciled::Landed(r) => Ok(r),
                        Reconciled::Partly { landed, resend } => {
                            // Put back the records to resend right after this batch.
                            let again: Vec<WireRecord> =
                                queue.iter().take(n).filter(|r| resend.contains(&(r.seq, r.part))).cloned().collect();
                            queue.drain(..n);
                            for r in again.into_iter().rev() {
                                queue.push_front(r);
                            }
                            n = 0;
                            Ok(landed)
                        }
                    },
                    other => other,
                };
                match result {
                    Ok(reply) => {
                        queue.drain(..n);
                        out.batches += 1;
                        out.applied += reply.applied;
                        out.duplicates += reply.duplicates;
                        out.rejected.extend(reply.rejected.into_iter().map(|r| (r.seq, r.code, r.reason)));
                        action = policy.on(Event::Sent { records: n.max(1) });
                    }
                    Err(e) => {
                        if !e.is_retryable() && tokio::time::Instant::now() >= deadline {
                            return Err(e);
                        }
                        action = policy.on(Event::Failed { failure: classify(&e), records: n, u: fastrand::f64() });
                        if let Action::Wait(d) = action
                            && tokio::time::Instant::now() + d > deadline
                        {
                            return Err(e);
                        }
                    }
                }
            }
            Action::Wait(d) => {
                tokio::time::sleep(d).await;
                action = policy.on(Event::Ready);
            }
            Action::Reject { code, reason } => {
                if let Some(r) = queue.pop_front() {
                    out.rejected.push((r.seq, code, reason));
                }
                action = policy.on(Event::Sent { records: 1 });
            }
            Action::Idle => return Ok(out),
            Action::Halt { reason } => return Err(Error::Config(reason)),
        }
    }
}

async fn retry<T, F, Fut>(policy: &mut Policy, deadline: tokio::time::Instant, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() => {
                match policy.on(Event::Failed { failure: classify(&e), records: 1, u: fastrand::f64() }) {
                    Action::Wait(d) if tokio::time::Instant::now() + d <= deadline => tokio::time::sleep(d).await,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}
