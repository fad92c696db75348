//! The agent's bookkeeping in the local store, per remote: acknowledged ranges, rejections, uploaded blobs, events.
//! Append-only; read back to find where to resume (the cursor is re-read from here, never guessed forward).

use crate::error::Result;
use runlog_core::{Store, SyncValue, now_ms};
use rusqlite::{OptionalExtension, params};
use std::collections::HashSet;

/// The highest sequence number acknowledged (or rejected) by `remote`; 0 if none.
pub fn acked_through(store: &Store, remote: &str) -> Result<i64> {
    Ok(store.reader().with_connection(|c| {
        c.prepare_cached("SELECT coalesce(max(seq_hi), 0) FROM sync_acks WHERE remote = ?1")?
            .query_row([remote], |r| r.get(0))
    })?)
}

/// Blob hashes `remote` is known to hold.
pub fn known_blobs(store: &Store, remote: &str) -> Result<HashSet<String>> {
    Ok(store.reader().with_connection(|c| {
        let mut st = c.prepare_cached("SELECT DISTINCT hash FROM sync_blobs WHERE remote = ?1")?;
        st.query_map([remote], |r| r.get(0))?.collect::<rusqlite::Result<HashSet<String>>>()
    })?)
}

/// Records that `remote` acknowledged `seq_lo..=seq_hi` with batch `batch`.
pub fn ack(store: &Store, remote: &str, seq_lo: i64, seq_hi: i64, batch: &str) -> Result<()> {
    store.append_sync_row(
        "sync_acks",
        &["remote", "seq_lo", "seq_hi", "batch", "at"],
        vec![
            SyncValue::Text(remote.into()),
            SyncValue::Int(seq_lo),
            SyncValue::Int(seq_hi),
            SyncValue::Text(batch.into()),
            SyncValue::Int(now_ms()),
        ],
    )?;
    Ok(())
}

/// Records that `remote` refused record `seq` (or the agent did, to fit the remote's limits).
pub fn reject(store: &Store, remote: &str, seq: i64, code: &str, reason: &str) -> Result<()> {
    store.append_sync_row(
        "sync_rejections",
        &["remote", "seq", "code", "reason", "at"],
        vec![
            SyncValue::Text(remote.into()),
            SyncValue::Int(seq),
            SyncValue::Text(code.into()),
            SyncValue::Text(reason.into()),
            SyncValue::Int(now_ms()),
        ],
    )?;
    Ok(())
}

/// Records that `remote` holds blob `hash`.
pub fn blob(store: &Store, remote: &str, hash: &str) -> Result<()> {
    store.append_sync_row(
        "sync_blobs",
        &["remote", "hash", "at"],
        vec![SyncValue::Text(remote.into()), SyncValue::Text(hash.into()), SyncValue::Int(now_ms())],
    )?;
    Ok(())
}

/// Records a success or failure for `runlog status`.
pub fn event(store: &Store, remote: &str, ok: bool, message: &str) -> Result<()> {
    store.append_sync_row(
        "sync_events",
        &["remote", "at", "ok", "message"],
        vec![
            SyncValue::Text(remote.into()),
            SyncValue::Int(now_ms()),
            SyncValue::Int(i64::from(ok)),
            SyncValue::Text(message.into()),
        ],
    )?;
    Ok(())
}

/// A rejection as `runlog status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectionRow {
    /// The record's sequence number.
    pub seq: i64,
    /// The record's kind (`scalars`, `row`, ...).
    pub kind: String,
    /// The record's name.
    pub name: String,
    /// Machine-readable code.
    pub code: String,
    /// Why.
    pub reason: String,
}

/// Sync status of one store for one remote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The remote's name.
    pub remote: String,
    /// The highest sequence number acknowledged.
    pub acked_through: i64,
    /// The store's highest sequence number.
    pub max_seq: i64,
    /// Records not yet acknowledged.
    pub pending_records: i64,
    /// Blobs referred to by pending records that the remote is not known to hold.
    pub pending_blobs: i64,
    /// When the last success was recorded (ms since the epoch) and what it said.
    pub last_success: Option<(i64, String)>,
    /// When the last error was recorded and what it said.
    pub last_error: Option<(i64, String)>,
    /// Records refused, each with its reason (one row per record and code).
    pub rejections: Vec<RejectionRow>,
}

/// Reads the status of `store` for `remote`: local reads only.
pub fn status(store: &runlog_core::Reader, remote: &str) -> Result<Status> {
    let max_seq = store.max_seq()?;
    Ok(store.with_connection(|c| {
        let acked: i64 = c
            .prepare_cached("SELECT coalesce(max(seq_hi), 0) FROM sync_acks WHERE remote = ?1")?
            .query_row([remote], |r| r.get(0))?;
        let mut pending_blobs = 0i64;
        {
            let mut st = c.prepare_cached("SELECT kind, body FROM records WHERE seq > ?1 AND kind IN (9, 12)")?;
            let mut known = c.prepare_cached("SELECT 1 FROM sync_blobs WHERE remote = ?1 AND hash = ?2 LIMIT 1")?;
            let mut seen = HashSet::new();
            let mut rows = st.query([acked])?;
            while let Some(r) = rows.next()? {
                let kind: i64 = r.get(0)?;
                let body: Vec<u8> = r.get(1)?;
                let hash = if kind == 9 {
                    runlog_core::record::decode::<runlog_core::ImageRef>(&body).ok().map(|i| i.hash.to_string())
                } else {
                    runlog_core::record::decode::<runlog_core::FileRef>(&body).ok().map(|f| f.hash.to_string())
                };
                if let Some(h) = hash
                    && seen.insert(h.clone())
                    && known.query_row(params![remote, h], |_| Ok(())).optional()?.is_none()
                {
                    pending_blobs += 1;
                }
            }
        }
        let last = |ok: i64| {
            c.prepare_cached(
                "SELECT at, message FROM sync_events WHERE remote = ?1 AND ok = ?2 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![remote, ok], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
        };
        let last_success = last(1)?;
        let last_error = last(0)?;
        let mut st = c.prepare_cached(
            "SELECT j.seq, x.kind, coalesce(x.name, ''), j.code, min(j.reason) FROM sync_rejections j
             LEFT JOIN records x ON x.seq = j.seq WHERE j.remote = ?1 GROUP BY j.seq, j.code ORDER BY j.seq",
        )?;
        let rejections = st
            .query_map([remote], |r| {
                let kind: Option<i64> = r.get(1)?;
                Ok(RejectionRow {
                    seq: r.get(0)?,
                    kind: kind.and_then(runlog_core::Kind::from_i64).map_or("?", |k| k.as_str()).to_string(),
                    name: r.get(2)?,
                    code: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Status {
            remote: remote.to_string(),
            acked_through: acked,
            max_seq,
            pending_records: (max_seq - acked).max(0),
            pending_blobs,
            last_success,
            last_error,
            rejections,
        })
    })?)
}
