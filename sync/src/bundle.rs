//! Air-gapped transfer: a bundle is one file holding the records (wire format) and blobs a store has not had
//! acknowledged, named by the blake3 hash of its bytes. Importing uploads it to a remote with the same guarantees as
//! the agent: records are identified by `(store, seq, part)`, so importing a bundle twice, or bundles in any order,
//! leaves the remote equal to the store.

use crate::agent::{AgentOptions, Backoff, BundleFeed, Syncer};
use crate::error::{Error, Result};
use crate::remote::Remote;
use runlog_core::Store;
use runlog_wire::WireRecord;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

/// Uploads a bundle to a remote through the agent's own loop ([`Syncer`] over a [`BundleFeed`]): the same packing
/// to the remote's limits, blob uploads, splitting, retries, reconciliation of unknown outcomes and rejections,
/// until everything is acknowledged or `max_wait` has passed.
pub async fn import(bundle: Bundle, remote: Arc<dyn Remote>, backoff: Backoff, max_wait: Duration) -> Result<Imported> {
    let feed = Arc::new(BundleFeed::new(bundle));
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let opts = AgentOptions { backoff, wake_on_commit: false, ..AgentOptions::default() };
    let mut syncer = Syncer::with_feed(feed.clone(), "bundle", remote, opts, stop_rx)?;
    let deadline = tokio::time::Instant::now() + max_wait;
    let summary = syncer.pass(Some(deadline), &mut |_, _| {}).await?;
    if !summary.complete {
        return Err(Error::Config(format!(
            "the bundle was not fully imported within {} s: {}",
            max_wait.as_secs(),
            summary.last_error.as_deref().unwrap_or("the remote did not acknowledge it")
        )));
    }
    Ok(Imported {
        batches: summary.batches,
        applied: summary.applied,
        duplicates: summary.duplicates,
        rejected: feed.rejected(),
        blobs_uploaded: summary.blobs_uploaded,
    })
}
