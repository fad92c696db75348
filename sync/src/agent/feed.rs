//! Where a [`super::Syncer`]'s records come from and where their outcomes are kept: the one sync loop runs over a
//! [`Feed`], so the agent (a local store, [`runlog_core::Store`]) and a bundle import ([`BundleFeed`]) send, split,
//! retry, reconcile and count in the same code.

use crate::convert;
use crate::error::{Error, Result};
use runlog_core::{BlobHash, CommitSubscription, Seq, Store};
use runlog_wire::{Body, WireRecord};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

/// One stored record as it can travel: its wire parts, or why it cannot travel at all.
pub type FedRecord = (i64, std::result::Result<Vec<WireRecord>, String>);

/// The records a syncer sends and the bookkeeping of what a remote holds.
pub trait Feed: Send + Sync {
    /// The id of the store the records come from.
    fn store_id(&self) -> String;
    /// Called before each pass (a store records its crashed runs so they are sent too).
    fn before_pass(&self) -> Result<()> {
        Ok(())
    }
    /// The highest sequence number `remote` acknowledged or rejected.
    fn position(&self, remote: &str) -> Result<i64>;
    /// The highest sequence number held.
    fn max_seq(&self) -> Result<i64>;
    /// Up to `n` records after `pos`, in sequence order, each as wire parts of at most `part_rows` points.
    fn read(&self, pos: i64, n: usize, part_rows: usize) -> Result<Vec<FedRecord>>;
    /// The bytes of a blob.
    fn blob(&self, hash: &str) -> Result<Vec<u8>>;
    /// Blobs `remote` is known to hold.
    fn known_blobs(&self, remote: &str) -> Result<HashSet<String>>;
    /// `remote` holds this blob.
    fn record_blob(&self, remote: &str, hash: &str) -> Result<()>;
    /// `remote` acknowledged the records `lo..=hi` in batch `batch`.
    fn record_ack(&self, remote: &str, lo: i64, hi: i64, batch: &str) -> Result<()>;
    /// The record `seq` was refused (by `remote`, or locally to fit its limits).
    fn record_rejection(&self, remote: &str, seq: i64, code: &str, reason: &str) -> Result<()>;
    /// A success or failure talking to `remote`, for people.
    fn record_event(&self, remote: &str, ok: bool, message: &str) -> Result<()>;
    /// Makes what was recorded durable.
    fn flush(&self) -> Result<()>;
    /// Calls `f` after each commit of new records, for as long as the subscription lives (None: never).
    fn on_commit(&self, f: Box<dyn Fn() + Send + Sync>) -> Option<CommitSubscription> {
        let _ = f;
        None
    }
}

impl Feed for Store {
    fn store_id(&self) -> String {
        self.id().to_string()
    }

    fn before_pass(&self) -> Result<()> {
        // A run whose process died shows as crashed only locally (from its heartbeat): record it, so it is sent too.
        self.record_crashed_runs()?;
        Ok(())
    }

    fn position(&self, remote: &str) -> Result<i64> {
        Ok(self.reader().acked_through(remote)?.get())
    }

    fn max_seq(&self) -> Result<i64> {
        Ok(self.reader().max_seq()?.get())
    }

    fn read(&self, pos: i64, n: usize, part_rows: usize) -> Result<Vec<FedRecord>> {
        let raws = self.reader().records_after(Seq(pos), n)?;
        Ok(raws.iter().map(|raw| (raw.seq.get(), convert::from_raw(raw, part_rows).map_err(|u| u.0))).collect())
    }

    fn blob(&self, hash: &str) -> Result<Vec<u8>> {
        Ok(self.reader().blob(&BlobHash::parse(hash)?)?)
    }

    fn known_blobs(&self, remote: &str) -> Result<HashSet<String>> {
        Ok(self.reader().known_blobs(remote)?)
    }

    fn record_blob(&self, remote: &str, hash: &str) -> Result<()> {
        Ok(Store::record_blob(self, remote, hash)?)
    }

    fn record_ack(&self, remote: &str, lo: i64, hi: i64, batch: &str) -> Result<()> {
        Ok(Store::record_ack(self, remote, Seq(lo), Seq(hi), batch)?)
    }

    fn record_rejection(&self, remote: &str, seq: i64, code: &str, reason: &str) -> Result<()> {
        Ok(Store::record_rejection(self, remote, Seq(seq), code, reason)?)
    }

    fn record_event(&self, remote: &str, ok: bool, message: &str) -> Result<()> {
        Ok(Store::record_event(self, remote, ok, message)?)
    }

    fn flush(&self) -> Result<()> {
        Ok(Store::flush(self)?)
    }

    fn on_commit(&self, f: Box<dyn Fn() + Send + Sync>) -> Option<CommitSubscription> {
        Some(Store::on_commit(self, f))
    }
}

/// A bundle's records as a feed: positions and rejections are kept in memory for the import's summary.
pub struct BundleFeed {
    store: String,
    /// Records by seq, each with its parts (as exported: whole stored chunks).
    records: BTreeMap<i64, Vec<WireRecord>>,
    blobs: BTreeMap<String, Vec<u8>>,
    state: Mutex<BundleState>,
}

#[derive(Default)]
struct BundleState {
    position: i64,
    known: HashSet<String>,
    rejected: Vec<(i64, String, String)>,
}

impl BundleFeed {
    /// A feed over a bundle's records and blobs, starting before its first record.
    pub fn new(bundle: crate::bundle::Bundle) -> BundleFeed {
        let mut records: BTreeMap<i64, Vec<WireRecord>> = BTreeMap::new();
        for r in bundle.records {
            records.entry(r.seq).or_default().push(r);
        }
        let position = records.keys().next().map_or(bundle.seq_hi, |s| s - 1);
        BundleFeed {
            store: bundle.store,
            records,
            blobs: bundle.blobs.into_iter().map(|(h, b)| (h, b.into_vec())).collect(),
            state: Mutex::new(BundleState { position, ..BundleState::default() }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BundleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The records refused so far: (seq, code, reason).
    pub fn rejected(&self) -> Vec<(i64, String, String)> {
        self.state().rejected.clone()
    }
}

/// Splits scalar parts to at most `rows` points, keeping their positions within the stored chunk.
fn resplit(parts: &[WireRecord], rows: usize) -> Result<Vec<WireRecord>> {
    let mut out = Vec::with_capacity(parts.len());
    for r in parts {
        match &r.body {
            Body::Scalars(b) if r.rows as usize > rows => {
                let pts = runlog_wire::points::decode(b)?;
                for (i, c) in pts.chunks(rows).enumerate() {
                    out.push(WireRecord {
                        part: r.part + (i * rows) as u32,
                        rows: c.len() as u32,
                        step: c.iter().map(|p| p.step).min(),
                        body: Body::Scalars(runlog_wire::points::encode(c)),
                        ..r.clone()
                    });
                }
            }
            _ => out.push(r.clone()),
        }
    }
    Ok(out)
}

impl Feed for BundleFeed {
    fn store_id(&self) -> String {
        self.store.clone()
    }

    fn position(&self, _remote: &str) -> Result<i64> {
        Ok(self.state().position)
    }

    fn max_seq(&self) -> Result<i64> {
        Ok(self.records.keys().next_back().copied().unwrap_or(self.state().position))
    }

    fn read(&self, pos: i64, n: usize, part_rows: usize) -> Result<Vec<FedRecord>> {
        let mut out = Vec::new();
        for (&seq, parts) in self.records.range(pos + 1..).take(n) {
            // A bundle that does not decode was refused by `bundle::read`; a part that does not is this record's.
            out.push((seq, resplit(parts, part_rows.max(1)).map_err(|e| e.to_string())));
        }
        Ok(out)
    }

    fn blob(&self, hash: &str) -> Result<Vec<u8>> {
        self.blobs.get(hash).cloned().ok_or_else(|| Error::Format(format!("the bundle does not hold blob {hash}")))
    }

    fn known_blobs(&self, _remote: &str) -> Result<HashSet<String>> {
        Ok(self.state().known.clone())
    }

    fn record_blob(&self, _remote: &str, hash: &str) -> Result<()> {
        self.state().known.insert(hash.to_string());
        Ok(())
    }

    fn record_ack(&self, _remote: &str, _lo: i64, hi: i64, _batch: &str) -> Result<()> {
        let mut s = self.state();
        s.position = s.position.max(hi);
        Ok(())
    }

    fn record_rejection(&self, _remote: &str, seq: i64, code: &str, reason: &str) -> Result<()> {
        self.state().rejected.push((seq, code.to_string(), reason.to_string()));
        Ok(())
    }

    fn record_event(&self, _remote: &str, _ok: bool, _message: &str) -> Result<()> {
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
