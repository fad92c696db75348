//! The sync outbox: what each remote has acknowledged, refused and holds, and which remotes the store syncs to.
//!
//! The core owns these tables and exposes them as typed calls, so the sync crate never names a table, a column or a
//! record-kind number. Everything here is append-only like the rest of the store: an acknowledgement, a rejection,
//! an uploaded blob, an event and a remote's configuration are each a new row; state (how far a remote got, which
//! remotes apply) is derived on read. Writes go through the writer thread and commit with its next group (call
//! [`Store::flush`] to wait), except remote configuration, which commits before the call returns.
//!
//! The outbox knows nothing of the network: it does not know what a batch is, only the range of commit positions
//! ([`Seq`]) a remote acknowledged and the batch id it acknowledged them under.

use crate::error::{Context, Error, Result};
use crate::read::Reader;
use crate::record::{FileRef, ImageRef, Kind};
use crate::store::Store;
use crate::store::writer::{Msg, OutboxRow};
use crate::types::now_ms;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::HashSet;

/// A commit position in a store: records are numbered in commit order, from 1. `Seq(0)` is "before everything".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Seq(pub i64);

impl Seq {
    /// Before the first record.
    pub const ZERO: Seq = Seq(0);

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The position after this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A record a remote refused (or the agent did, to fit the remote's limits), as `runlog status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The record's position.
    pub seq: Seq,
    /// The record's kind (`scalars`, `row`, ...), or `?` if the record is unknown.
    pub kind: String,
    /// The record's name.
    pub name: String,
    /// Machine-readable code.
    pub code: String,
    /// Why.
    pub reason: String,
}

/// How far one remote got with this store: local reads only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteStatus {
    /// The remote's name.
    pub remote: String,
    /// The highest position acknowledged (or rejected).
    pub acked_through: Seq,
    /// The store's highest position.
    pub max_seq: Seq,
    /// Records not yet acknowledged.
    pub pending_records: i64,
    /// Blobs referred to by pending records that the remote is not known to hold.
    pub pending_blobs: i64,
    /// When the last success was recorded (ms since the epoch) and what it said.
    pub last_success: Option<(i64, String)>,
    /// When the last error was recorded and what it said.
    pub last_error: Option<(i64, String)>,
    /// Records refused, each with its reason (one per record and code).
    pub rejections: Vec<Rejection>,
}

/// A remote recorded in the store (`runlog remote add`): where it syncs, without any secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreRemote {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// A PEM certificate to trust, if one was given (a path on the machine that added the remote).
    pub ca_cert: Option<String>,
    /// When it was added (ms since the epoch).
    pub added_at: i64,
}

impl Store {
    /// Records that `remote` acknowledged the records `lo..=hi` under batch id `batch`.
    pub fn record_ack(&self, remote: &str, lo: Seq, hi: Seq, batch: &str) -> Result<()> {
        if lo > hi || lo <= Seq::ZERO {
            return Err(Error::invalid(format!("acknowledged range {lo}..={hi} is empty or starts before 1")));
        }
        self.outbox(OutboxRow::Ack { remote: remote.into(), lo, hi, batch: batch.into(), at: now_ms() })
    }

    /// Records that `remote` refused the record at `seq` (or the agent did, to fit the remote's limits).
    pub fn record_rejection(&self, remote: &str, seq: Seq, code: &str, reason: &str) -> Result<()> {
        self.outbox(OutboxRow::Rejection {
            remote: remote.into(),
            seq,
            code: code.into(),
            reason: reason.into(),
            at: now_ms(),
        })
    }

    /// Records that `remote` holds the blob with this hash.
    pub fn record_blob(&self, remote: &str, hash: &str) -> Result<()> {
        self.outbox(OutboxRow::Blob { remote: remote.into(), hash: hash.into(), at: now_ms() })
    }

    /// Records a success or a failure talking to `remote`, for `runlog status`.
    pub fn record_event(&self, remote: &str, ok: bool, message: &str) -> Result<()> {
        self.outbox(OutboxRow::Event { remote: remote.into(), ok, message: message.into(), at: now_ms() })
    }

    /// Records that this store syncs to `url` under `name` (a later record with the same name replaces it).
    /// Secrets never go here: tokens live in the user's credential file.
    ///
    /// # Blocking
    /// Waits for the writer to commit it.
    pub fn add_remote(&self, name: &str, url: &str, ca_cert: Option<&str>) -> Result<()> {
        check_remote_name(name)?;
        let max = crate::Limits::LOCAL.max_remote_url_bytes;
        if url.is_empty() || url.len() > max {
            return Err(Error::invalid(format!("remote url {url:?} is {} bytes, it must be 1 to {}", url.len(), max)));
        }
        let row = OutboxRow::Remote {
            name: name.into(),
            url: Some(url.into()),
            ca_cert: ca_cert.map(str::to_string),
            at: now_ms(),
        };
        self.outbox(row)?;
        self.flush()
    }

    /// Records that this store no longer syncs to the remote `name` (its bookkeeping is kept).
    ///
    /// # Blocking
    /// Waits for the writer to commit it.
    pub fn remove_remote(&self, name: &str) -> Result<()> {
        if !self.reader().remotes()?.iter().any(|r| r.name == name) {
            return Err(Error::NotFound(format!("no remote named {name:?} in {}", self.path().display())));
        }
        self.outbox(OutboxRow::Remote { name: name.into(), url: None, ca_cert: None, at: now_ms() })?;
        self.flush()
    }

    fn outbox(&self, row: OutboxRow) -> Result<()> {
        self.inner.check()?;
        self.inner.send(Msg::Outbox(row))
    }
}

/// Remote names: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn check_remote_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(Error::invalid(format!("remote name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'")));
    }
    Ok(())
}

impl Reader {
    /// The highest position `remote` acknowledged or rejected; [`Seq::ZERO`] if none.
    pub fn acked_through(&self, remote: &str) -> Result<Seq> {
        self.conn()
            .prepare_cached("SELECT coalesce(max(seq_hi), 0) FROM sync_acks WHERE remote = ?1")
            .and_then(|mut st| st.query_row([remote], |r| r.get(0)))
            .map(Seq)
            .context("read acknowledgements")
    }

    /// Blob hashes `remote` is known to hold.
    pub fn known_blobs(&self, remote: &str) -> Result<HashSet<String>> {
        let c = self.conn();
        let mut st =
            c.prepare_cached("SELECT DISTINCT hash FROM sync_blobs WHERE remote = ?1").context("read blobs")?;
        let rows = st.query_map([remote], |r| r.get(0)).context("read blobs")?;
        rows.collect::<rusqlite::Result<HashSet<String>>>().context("read blobs")
    }

    /// The names of every remote this store has bookkeeping for (acknowledgements, events or rejections).
    pub fn synced_remotes(&self) -> Result<Vec<String>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT remote FROM sync_acks UNION SELECT remote FROM sync_events
                 UNION SELECT remote FROM sync_rejections ORDER BY 1",
            )
            .context("read sync bookkeeping")?;
        let rows = st.query_map([], |r| r.get(0)).context("read sync bookkeeping")?;
        rows.collect::<rusqlite::Result<Vec<String>>>().context("read sync bookkeeping")
    }

    /// The remotes recorded in this store, in the order they were added (the last record of a name wins; a removal
    /// hides it). A store of schema version 1 has none.
    pub fn remotes(&self) -> Result<Vec<StoreRemote>> {
        if self.schema_version()? < 2 {
            return Ok(Vec::new());
        }
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT name, url, ca_cert, at FROM sync_remotes r
                 WHERE id = (SELECT max(id) FROM sync_remotes WHERE name = r.name) AND url IS NOT NULL ORDER BY id",
            )
            .context("read remotes")?;
        let rows = st
            .query_map([], |r| {
                Ok(StoreRemote { name: r.get(0)?, url: r.get(1)?, ca_cert: r.get(2)?, added_at: r.get(3)? })
            })
            .context("read remotes")?;
        rows.collect::<rusqlite::Result<Vec<_>>>().context("read remotes")
    }

    /// How far `remote` got with this store: local reads only.
    pub fn sync_status(&self, remote: &str) -> Result<RemoteStatus> {
        let max_seq = self.max_seq()?;
        let acked = self.acked_through(remote)?;
        let c = self.conn();
        let ctx = || format!("read the sync status of {remote:?}");
        let mut pending_blobs = 0i64;
        {
            let mut st =
                c.prepare_cached("SELECT kind, body FROM records WHERE seq > ?1 AND kind IN (?2, ?3)").context(ctx())?;
            let mut known =
                c.prepare_cached("SELECT 1 FROM sync_blobs WHERE remote = ?1 AND hash = ?2 LIMIT 1").context(ctx())?;
            let mut seen = HashSet::new();
            let mut rows = st.query(params![acked.0, Kind::Image as i64, Kind::File as i64]).context(ctx())?;
            while let Some(r) = rows.next().context(ctx())? {
                let kind: i64 = r.get(0).context(ctx())?;
                let body: Vec<u8> = r.get(1).context(ctx())?;
                let hash = if kind == Kind::Image as i64 {
                    crate::record::decode::<ImageRef>(&body).map(|i| i.hash.to_string())
                } else {
                    crate::record::decode::<FileRef>(&body).map(|f| f.hash.to_string())
                }?;
                if seen.insert(hash.clone())
                    && known.query_row(params![remote, hash], |_| Ok(())).optional().context(ctx())?.is_none()
                {
                    pending_blobs += 1;
                }
            }
        }
        let last = |ok: bool| {
            c.prepare_cached(
                "SELECT at, message FROM sync_events WHERE remote = ?1 AND ok = ?2 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut st| st.query_row(params![remote, i64::from(ok)], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .context(ctx())
        };
        let last_success = last(true)?;
        let last_error = last(false)?;
        let mut st = c
            .prepare_cached(
                "SELECT j.seq, x.kind, coalesce(x.name, ''), j.code, min(j.reason) FROM sync_rejections j
                 LEFT JOIN records x ON x.seq = j.seq WHERE j.remote = ?1 GROUP BY j.seq, j.code ORDER BY j.seq",
            )
            .context(ctx())?;
        let rejections = st
            .query_map([remote], |r| {
                let kind: Option<i64> = r.get(1)?;
                Ok(Rejection {
                    seq: Seq(r.get(0)?),
                    kind: kind.and_then(Kind::from_i64).map_or("?", |k| k.as_str()).to_string(),
                    name: r.get(2)?,
                    code: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .context(ctx())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context(ctx())?;
        Ok(RemoteStatus {
            remote: remote.to_string(),
            acked_through: acked,
            max_seq,
            pending_records: (max_seq.0 - acked.0).max(0),
            pending_blobs,
            last_success,
            last_error,
            rejections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PNG: signature and header (what the image check reads).
    fn png() -> Vec<u8> {
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        (dir, store)
    }

    #[test]
    fn acknowledgements_rejections_blobs_and_events_read_back_per_remote() {
        let (_d, store) = store();
        let run = store.start_run("e").expect("run");
        run.log("x", 1.0).expect("log");
        run.log_image("img", &png()[..], "").expect("image");
        run.complete().expect("complete");
        let max = store.reader().max_seq().expect("max");
        assert!(max > Seq(2));
        store.record_ack("a", Seq(1), Seq(2), "batch1").expect("ack");
        store.record_rejection("a", Seq(3), "too_big", "over the limit").expect("reject");
        store.record_event("a", true, "sent 2").expect("event");
        store.record_event("a", false, "connection refused").expect("event");
        store.flush().expect("flush");
        let r = store.reader();
        assert_eq!(r.acked_through("a").expect("acked"), Seq(2));
        assert_eq!(r.acked_through("b").expect("acked"), Seq::ZERO);
        let st = r.sync_status("a").expect("status");
        assert_eq!(st.pending_records, max.0 - 2);
        assert_eq!(st.pending_blobs, 1, "the image is pending: {st:?}");
        assert_eq!(st.last_success.map(|s| s.1).as_deref(), Some("sent 2"));
        assert_eq!(st.last_error.map(|s| s.1).as_deref(), Some("connection refused"));
        assert_eq!(st.rejections.len(), 1);
        assert_eq!(st.rejections[0].code, "too_big");
        let hash = r.images(run.id(), Some("img")).expect("images")[0].value.hash.to_string();
        store.record_blob("a", &hash).expect("blob");
        store.flush().expect("flush");
        assert!(r.known_blobs("a").expect("known").contains(&hash));
        assert_eq!(r.sync_status("a").expect("status").pending_blobs, 0);
        assert_eq!(r.synced_remotes().expect("names"), vec!["a".to_string()]);
    }

    #[test]
    fn remotes_are_append_only_records_the_last_of_a_name_wins_and_removal_hides_it() {
        let (_d, store) = store();
        store.add_remote("team", "http://a:1", None).expect("add");
        store.add_remote("ml", "mlflow+http://b:2", Some("/ca.pem")).expect("add");
        store.add_remote("team", "http://c:3", None).expect("replace");
        let names = |s: &Store| s.reader().remotes().expect("remotes").into_iter().map(|r| (r.name, r.url)).collect();
        let got: Vec<(String, String)> = names(&store);
        assert_eq!(got, vec![("ml".into(), "mlflow+http://b:2".into()), ("team".into(), "http://c:3".into())]);
        store.remove_remote("team").expect("remove");
        let got: Vec<(String, String)> = names(&store);
        assert_eq!(got, vec![("ml".into(), "mlflow+http://b:2".into())]);
        let e = store.remove_remote("team").expect_err("gone");
        assert!(e.to_string().contains("no remote named \"team\""), "{e}");
        let e = store.add_remote("bad name", "http://x", None).expect_err("bad name");
        assert!(e.to_string().contains("\"bad name\""), "{e}");
    }

    #[test]
    fn an_empty_or_backwards_acknowledged_range_is_refused() {
        let (_d, store) = store();
        let e = store.record_ack("a", Seq(5), Seq(4), "b").expect_err("backwards");
        assert!(e.to_string().contains("5..=4"), "{e}");
    }
}
