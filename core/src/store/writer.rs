//! The writer thread: the only code that writes SQLite in a process.
//!
//! Log calls validate on the caller's thread and hand work over in two ways: scalar points go into a per-run buffer
//! (a mutex the writer drains), everything else through a bounded channel. The writer commits in groups: every
//! `flush_interval` (100 ms by default), when [`GROUP_MAX_RECORDS`] records are waiting, or when `flush()` asks.
//! A full channel blocks the caller (back-pressure), so memory stays bounded when the disk is slow.
//!
//! It must not know about the network or any remote: sync bookkeeping arrives as typed [`OutboxRow`]s, inserts like
//! any other.

use super::conn::{is_busy, open_rw};
use super::schema;
use crate::chunk;
use crate::error::{Error, Result};
use crate::outbox::Seq;
use crate::record::{self, Kind, RunStarted, StatusChange};
use crate::types::{BlobHash, Point, RunStatus, now_ms};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Records waiting in memory that force a commit before the interval ends.
pub const GROUP_MAX_RECORDS: usize = 20_000;
/// Capacity of the channel to the writer, in messages (a scalar chunk is one message).
pub const CHANNEL_CAPACITY: usize = 65_536;
/// Most bytes of logged data waiting for the writer (queued or not yet committed); senders wait beyond it.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Room a logging call is sure to find without waiting while the queue is not [`Budget::nearly_full`]: many full
/// scalar chunks, or many records, from several threads at once.
const HEADROOM_BYTES: usize = 4 << 20;
/// The least a data message counts in the budget, so that the budget fills before the channel does and is the one
/// measure of a full queue (65,536 messages of 1 KiB are the 64 MiB).
const MIN_WEIGHT: usize = MAX_QUEUED_BYTES / CHANNEL_CAPACITY;

/// Bytes handed to the writer and not yet committed. Senders wait while it is full (back-pressure): memory stays
/// bounded when the disk or another process's lock holds the writer up.
#[derive(Debug)]
pub(crate) struct Budget {
    used: Mutex<usize>,
    /// `used` as last set, readable without the lock (for [`Budget::nearly_full`]).
    level: AtomicUsize,
    freed: std::sync::Condvar,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Budget {
        Budget { used: Mutex::new(0), level: AtomicUsize::new(0), freed: std::sync::Condvar::new(), max }
    }

    /// Whether a sender may soon have to wait: less than the headroom is left. One relaxed load, for the hot path.
    #[inline]
    pub(crate) fn nearly_full(&self) -> bool {
        self.level.load(Ordering::Relaxed) + HEADROOM_BYTES > self.max
    }

    /// Waits until `n` more bytes fit (a single message larger than the budget goes alone).
    pub(crate) fn acquire(&self, n: usize) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + n > self.max {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += n;
        self.level.store(*used, Ordering::Relaxed);
    }

    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(n);
        self.level.store(*used, Ordering::Relaxed);
        self.freed.notify_all();
    }
}

impl Msg {
    /// The bytes this message holds in memory until committed.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Msg::Record(p) | Msg::WriteOnce(p, _) => p.weight().max(MIN_WEIGHT),
            Msg::Chunk { points, .. } => (points.len() * std::mem::size_of::<Point>()).max(MIN_WEIGHT),
            Msg::Outbox(row) => row.weight().max(MIN_WEIGHT),
            _ => 0,
        }
    }
}

impl Pending {
    fn weight(&self) -> usize {
        self.body.len() + self.name.len() + self.blob.as_ref().map_or(0, |(_, b)| b.len()) + 64
    }
}

/// The unflushed scalar points of one run, shared by the run's handles and the writer.
#[derive(Default)]
pub(crate) struct RunBuffers {
    pub(crate) series: Mutex<SeriesSet>,
    /// Set when the last handle is gone: the writer drains once more and forgets the run.
    pub(crate) closed: AtomicBool,
    /// Set when the run ended: the writer stops writing its heartbeat.
    pub(crate) ended: AtomicBool,
}

#[derive(Default)]
pub(crate) struct SeriesSet {
    pub(crate) index: rustc_hash::FxHashMap<Box<str>, usize>,
    pub(crate) series: Vec<SeriesBuf>,
}

pub(crate) struct SeriesBuf {
    pub(crate) name: Arc<str>,
    pub(crate) next_step: i64,
    pub(crate) points: Vec<Point>,
}

/// A record waiting for the writer.
pub(crate) struct Pending {
    pub(crate) run: i64,
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) at: i64,
    pub(crate) step: Option<i64>,
    pub(crate) body: Vec<u8>,
    /// Bytes to store once under their hash (images, files).
    pub(crate) blob: Option<(BlobHash, Vec<u8>)>,
}

/// A new run to insert: the experiment is found or created in the same transaction.
pub(crate) struct NewRun {
    pub(crate) started: RunStarted,
    pub(crate) at: i64,
    pub(crate) buffers: Arc<RunBuffers>,
}

pub(crate) enum Msg {
    Record(Pending),
    /// Written only if no record of the same run, kind and name exists with another body (write-once).
    WriteOnce(Pending, Sender<Result<()>>),
    Chunk {
        run: i64,
        name: Arc<str>,
        points: Vec<Point>,
    },
    CreateRun(NewRun, Sender<Result<i64>>),
    Attach {
        run: i64,
        buffers: Arc<RunBuffers>,
    },
    /// An experiment created (if new) and, with a key, one of its tags set or removed; answered once committed.
    ExperimentTag(ExperimentTag, Sender<Result<()>>),
    /// Sync bookkeeping, committed with the next group.
    Outbox(OutboxRow),
    Flush(Sender<Result<()>>),
    Shutdown,
}

/// An experiment to create if it does not exist, and optionally a tag of it (`value: None` removes the tag).
pub(crate) struct ExperimentTag {
    pub(crate) experiment: String,
    pub(crate) tag: Option<(String, Option<String>)>,
    pub(crate) at: i64,
}

/// One row of the sync outbox (see `crate::outbox`).
pub(crate) enum OutboxRow {
    Ack {
        remote: String,
        lo: Seq,
        hi: Seq,
        batch: String,
        at: i64,
    },
    Rejection {
        remote: String,
        seq: Seq,
        code: String,
        reason: String,
        at: i64,
    },
    Blob {
        remote: String,
        hash: String,
        at: i64,
    },
    Event {
        remote: String,
        ok: bool,
        message: String,
        at: i64,
    },
    /// A remote added (`url` set) or removed (`url` empty).
    Remote {
        name: String,
        url: Option<String>,
        ca_cert: Option<String>,
        at: i64,
    },
}

impl OutboxRow {
    fn weight(&self) -> usize {
        64 + match self {
            OutboxRow::Ack { remote, batch, .. } => remote.len() + batch.len(),
            OutboxRow::Rejection { remote, code, reason, .. } => remote.len() + code.len() + reason.len(),
            OutboxRow::Blob { remote, hash, .. } => remote.len() + hash.len(),
            OutboxRow::Event { remote, message, .. } => remote.len() + message.len(),
            OutboxRow::Remote { name, url, ca_cert, .. } => {
                name.len() + url.as_ref().map_or(0, String::len) + ca_cert.as_ref().map_or(0, String::len)
            }
        }
    }

    fn insert(&self, tx: &Connection) -> rusqlite::Result<()> {
        match self {
            OutboxRow::Ack { remote, lo, hi, batch, at } => tx
                .prepare_cached("INSERT INTO sync_acks(remote, seq_lo, seq_hi, batch, at) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![remote, lo.get(), hi.get(), batch, at]),
            OutboxRow::Rejection { remote, seq, code, reason, at } => tx
                .prepare_cached(
                    "INSERT INTO sync_rejections(remote, seq, code, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![remote, seq.get(), code, reason, at]),
            OutboxRow::Blob { remote, hash, at } => tx
                .prepare_cached("INSERT INTO sync_blobs(remote, hash, at) VALUES (?1, ?2, ?3)")?
                .execute(params![remote, hash, at]),
            OutboxRow::Event { remote, ok, message, at } => tx
                .prepare_cached("INSERT INTO sync_events(remote, at, ok, message) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![remote, at, i64::from(*ok), message]),
            OutboxRow::Remote { name, url, ca_cert, at } => tx
                .prepare_cached("INSERT INTO sync_remotes(name, url, ca_cert, at) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![name, url, ca_cert, at]),
        }
        .map(|_| ())
    }
}

/// Settings the writer needs.
#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    pub(crate) path: PathBuf,
    pub(crate) flush_interval: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) fsync: bool,
}

pub(crate) struct Writer {
    conn: Connection,
    rx: Receiver<Msg>,
    cfg: WriterConfig,
    writer_id: String,
    runs: Vec<(i64, Arc<RunBuffers>)>,
    failed: Arc<OnceLock<String>>,
    pending: Vec<Work>,
    waiters: Vec<Sender<Result<()>>>,
    /// A caller waits for a reply (run creation, write-once check): commit now, not at the interval.
    urgent: bool,
    budget: Arc<Budget>,
    /// Bytes of `pending` counted in the budget, released once committed.
    pending_bytes: usize,
    /// Told after each commit that holds logged data.
    commits: Arc<super::commits::Commits>,
}

enum Work {
    Record(Pending),
    WriteOnce(Pending, Sender<Result<()>>),
    Chunk(i64, Arc<str>, Vec<Point>),
    CreateRun(NewRun, Sender<Result<i64>>),
    ExperimentTag(ExperimentTag, Sender<Result<()>>),
    Attach(i64),
    Outbox(OutboxRow),
}

/// A reply to send once the transaction that holds its write has committed.
enum Reply {
    Unit(Sender<Result<()>>, Result<()>),
    Run(Sender<Result<i64>>, Result<i64>),
}

impl Writer {
    pub(crate) fn spawn(
        cfg: WriterConfig,
        failed: Arc<OnceLock<String>>,
        budget: Arc<Budget>,
        commits: Arc<super::commits::Commits>,
    ) -> Result<(Sender<Msg>, std::thread::JoinHandle<()>)> {
        let conn = open_rw(&cfg.path, cfg.fsync)?;
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let writer = Writer {
            conn,
            rx,
            cfg,
            writer_id: uuid::Uuid::new_v4().simple().to_string(),
            runs: Vec::new(),
            failed,
            pending: Vec::new(),
            waiters: Vec::new(),
            urgent: false,
            budget,
            pending_bytes: 0,
            commits,
        };
        let handle = std::thread::Builder::new()
            .name("runlog-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::storage("start the writer thread", e))?;
        Ok((tx, handle))
    }

    fn run(mut self) {
        let mut next_commit = Instant::now() + self.cfg.flush_interval;
        let mut next_heartbeat = Instant::now() + self.cfg.heartbeat_interval;
        loop {
            let timeout = next_commit.saturating_duration_since(Instant::now());
            let mut shutdown = match self.rx.recv_timeout(timeout) {
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => true,
                Ok(m) => {
                    self.accept(m);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
            };
            while !shutdown && self.pending.len() < GROUP_MAX_RECORDS && self.waiters.is_empty() && !self.urgent {
                match self.rx.try_recv() {
                    Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => shutdown = true,
                    Ok(m) => self.accept(m),
                    Err(TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            let due = now >= next_commit || self.urgent || !self.waiters.is_empty();
            if due || self.pending.len() >= GROUP_MAX_RECORDS || shutdown {
                self.urgent = false;
                let beat = now >= next_heartbeat || shutdown;
                self.commit(beat);
                next_commit = Instant::now() + self.cfg.flush_interval;
                if beat {
                    next_heartbeat = now + self.cfg.heartbeat_interval;
                }
            }
            if shutdown {
                // Drain what raced with the shutdown so nothing sent before it is lost.
                while let Ok(m) = self.rx.try_recv() {
                    self.accept(m);
                }
                self.commit(false);
                // Fold the WAL into the file before the connection closes; when this is the file's last connection,
                // SQLite then deletes the WAL. Busy (another process reads or writes) is fine: that process's last
                // close does it instead.
                let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                return;
            }
        }
    }

    fn accept(&mut self, m: Msg) {
        self.pending_bytes += m.weight();
        match m {
            Msg::Record(p) => self.pending.push(Work::Record(p)),
            Msg::WriteOnce(p, tx) => {
                self.urgent = true;
                self.pending.push(Work::WriteOnce(p, tx));
            }
            Msg::Chunk { run, name, points } => self.pending.push(Work::Chunk(run, name, points)),
            Msg::CreateRun(r, tx) => {
                self.urgent = true;
                self.pending.push(Work::CreateRun(r, tx));
            }
            Msg::ExperimentTag(t, tx) => {
                self.urgent = true;
                self.pending.push(Work::ExperimentTag(t, tx));
            }
            Msg::Attach { run, buffers } => {
                self.runs.push((run, buffers));
                self.pending.push(Work::Attach(run));
            }
            Msg::Outbox(row) => self.pending.push(Work::Outbox(row)),
            Msg::Flush(tx) => self.waiters.push(tx),
            Msg::Shutdown => {}
        }
    }

    /// Moves the buffered scalar points of every run into `pending`; forgets closed runs once drained.
    fn drain_buffers(&mut self) {
        let pending = &mut self.pending;
        self.runs.retain(|(rid, bufs)| {
            // Read `closed` before draining: points pushed before the close are then surely drained.
            let closed = bufs.closed.load(Ordering::Acquire);
            let mut set = bufs.series.lock().unwrap_or_else(|e| e.into_inner());
            for s in &mut set.series {
                if !s.points.is_empty() {
                    pending.push(Work::Chunk(*rid, s.name.clone(), std::mem::take(&mut s.points)));
                }
            }
            !closed
        });
    }

    fn commit(&mut self, heartbeat: bool) {
        crate::types::calibrate_clock();
        self.commit_pending(heartbeat);
        // Committed, or failed for good (sticky error): either way the memory is no longer held for the callers.
        self.budget.release(std::mem::take(&mut self.pending_bytes));
    }

    fn commit_pending(&mut self, heartbeat: bool) {
        self.drain_buffers();
        if let Some(err) = self.failed.get() {
            let err = Error::WriterFailed(err.clone());
            self.fail_all(&err);
            return;
        }
        if self.pending.is_empty() && !heartbeat {
            for w in self.waiters.drain(..) {
                let _ = w.send(Ok(()));
            }
            return;
        }
        let work = std::mem::take(&mut self.pending);
        // Logged data, as opposed to sync bookkeeping and liveness (which must not wake the agent that wrote them).
        let data = work.iter().any(|w| !matches!(w, Work::Outbox(_) | Work::Attach(_)));
        let mut pause = Duration::from_millis(2);
        let outcome = loop {
            match self.try_commit(&work, heartbeat) {
                Err(e) if is_busy(&e) => {
                    // Another process holds the write lock longer than the busy timeout: wait, never give up.
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => break other,
            }
        };
        match outcome {
            Ok((replies, created)) => {
                self.runs.extend(created);
                // Listeners first: a caller whose flush returns knows they have heard of what it committed.
                if data {
                    self.commits.notify();
                }
                for r in replies {
                    match r {
                        Reply::Unit(tx, res) => {
                            let _ = tx.send(res);
                        }
                        Reply::Run(tx, res) => {
                            let _ = tx.send(res);
                        }
                    }
                }
                for w in self.waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                let msg = format!("commit to {} failed: {e}", self.cfg.path.display());
                let _ = self.failed.set(msg.clone());
                self.pending = work;
                let err = Error::WriterFailed(msg);
                self.fail_all(&err);
            }
        }
    }

    fn fail_all(&mut self, err: &Error) {
        for w in std::mem::take(&mut self.pending) {
            match w {
                Work::WriteOnce(_, tx) => {
                    let _ = tx.send(Err(err.clone()));
                }
                Work::CreateRun(_, tx) => {
                    let _ = tx.send(Err(err.clone()));
                }
                Work::ExperimentTag(_, tx) => {
                    let _ = tx.send(Err(err.clone()));
                }
                _ => {}
            }
        }
        for w in self.waiters.drain(..) {
            let _ = w.send(Err(err.clone()));
        }
    }

    /// One transaction for the whole group; returns the replies and the runs it created.
    #[allow(clippy::type_complexity)]
    fn try_commit(
        &mut self,
        work: &[Work],
        heartbeat: bool,
    ) -> rusqlite::Result<(Vec<Reply>, Vec<(i64, Arc<RunBuffers>)>)> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut replies = Vec::new();
        let mut created = Vec::new();
        let now = now_ms();
        for w in work {
            match w {
                Work::Record(p) => insert_record(&tx, p)?,
                Work::Chunk(run, name, points) => insert_chunk(&tx, *run, name, points)?,
                Work::WriteOnce(p, reply) => {
                    let res = write_once(&tx, p)?;
                    replies.push(Reply::Unit(reply.clone(), res));
                }
                Work::CreateRun(r, reply) => {
                    let rid = create_run(&tx, r, &self.writer_id, now, self.cfg.heartbeat_interval)?;
                    replies.push(Reply::Run(reply.clone(), Ok(rid)));
                    created.push((rid, r.buffers.clone()));
                }
                Work::ExperimentTag(t, reply) => {
                    experiment_tag(&tx, t)?;
                    replies.push(Reply::Unit(reply.clone(), Ok(())));
                }
                Work::Attach(rid) => beat(&tx, *rid, &self.writer_id, now, self.cfg.heartbeat_interval)?,
                Work::Outbox(row) => row.insert(&tx)?,
            }
        }
        if heartbeat {
            for (rid, bufs) in &self.runs {
                if !bufs.ended.load(Ordering::Acquire) {
                    beat(&tx, *rid, &self.writer_id, now, self.cfg.heartbeat_interval)?;
                }
            }
        }
        tx.commit()?;
        Ok((replies, created))
    }
}

fn beat(tx: &Connection, rid: i64, writer: &str, now: i64, interval: Duration) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO heartbeats(run, writer, pid, at, interval_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(run, writer) DO UPDATE SET at = excluded.at, interval_ms = excluded.interval_ms",
    )?
    .execute(params![rid, writer, std::process::id(), now, interval.as_millis() as i64])?;
    Ok(())
}

fn insert_blob(tx: &Connection, hash: &BlobHash, data: &[u8]) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO blobs(hash, size, data) VALUES (?1, ?2, ?3)")?.execute(params![
        hash.as_str(),
        data.len() as i64,
        data
    ])?;
    Ok(())
}

fn insert_record(tx: &Connection, p: &Pending) -> rusqlite::Result<()> {
    if let Some((hash, data)) = &p.blob {
        insert_blob(tx, hash, data)?;
    }
    tx.prepare_cached("INSERT INTO records(run, kind, name, at, step, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![p.run, p.kind as i64, p.name, p.at, p.step, p.body])?;
    Ok(())
}

fn insert_chunk(tx: &Connection, run: i64, name: &str, points: &[Point]) -> rusqlite::Result<()> {
    for part in points.chunks(chunk::MAX_POINTS) {
        let (body, st) = chunk::encode(part);
        tx.prepare_cached(
            "INSERT INTO records(run, kind, name, at, step, step_hi, n, lo, hi, last, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            run,
            Kind::Scalars as i64,
            name,
            st.first_ts,
            st.step_lo,
            st.step_hi,
            st.count as i64,
            finite_or_null(st.min),
            finite_or_null(st.max),
            st.last,
            body
        ])?;
    }
    Ok(())
}

/// SQLite turns NaN into NULL anyway; say so explicitly for min and max (which ignore NaN).
fn finite_or_null(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn write_once(tx: &Connection, p: &Pending) -> rusqlite::Result<Result<()>> {
    let existing: Option<Vec<u8>> = tx
        .prepare_cached("SELECT body FROM records WHERE run = ?1 AND kind = ?2 AND name = ?3 ORDER BY seq LIMIT 1")?
        .query_row(params![p.run, p.kind as i64, p.name], |r| r.get(0))
        .optional()?;
    match existing {
        None => {
            insert_record(tx, p)?;
            Ok(Ok(()))
        }
        Some(old) if old == p.body => Ok(Ok(())),
        Some(old) => {
            let show = |b: &[u8]| match record::decode::<crate::types::Value>(b) {
                Ok(v) => v.to_string(),
                Err(_) => String::from_utf8_lossy(b).into_owned(),
            };
            Ok(Err(Error::WriteOnce {
                what: if p.kind == Kind::Property { "property" } else { "param" },
                key: p.name.clone(),
                existing: show(&old),
                new: show(&p.body),
            }))
        }
    }
}

/// The local id of an experiment, created first if it does not exist.
fn experiment_id(tx: &Connection, name: &str, at: i64) -> rusqlite::Result<i64> {
    tx.prepare_cached("INSERT OR IGNORE INTO experiments(name, created_at) VALUES (?1, ?2)")?
        .execute(params![name, at])?;
    tx.prepare_cached("SELECT id FROM experiments WHERE name = ?1")?.query_row([name], |x| x.get(0))
}

fn experiment_tag(tx: &Connection, t: &ExperimentTag) -> rusqlite::Result<()> {
    let exp = experiment_id(tx, &t.experiment, t.at)?;
    if let Some((key, value)) = &t.tag {
        tx.prepare_cached("INSERT INTO experiment_tags(experiment, key, value, at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![exp, key, value, t.at])?;
    }
    Ok(())
}

fn create_run(tx: &Connection, r: &NewRun, writer: &str, now: i64, interval: Duration) -> rusqlite::Result<i64> {
    let s = &r.started;
    let exp = experiment_id(tx, &s.experiment, r.at)?;
    tx.prepare_cached("INSERT INTO runs(id, experiment, name, parent, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![s.id, exp, s.name, s.parent, r.at])?;
    let rid = tx.last_insert_rowid();
    let rec = |kind, body| Pending { run: rid, kind, name: String::new(), at: r.at, step: None, body, blob: None };
    insert_record(tx, &rec(Kind::RunStarted, record::encode(s)))?;
    let running = StatusChange { status: RunStatus::Running, reason: None };
    insert_record(tx, &rec(Kind::Status, record::encode(&running)))?;
    // The first heartbeat is now, not at the start time: a run started with an earlier time (an MLflow client's
    // start_time, an import) is alive, not crashed, until its writer stops beating.
    beat(tx, rid, writer, r.at.max(now), interval)?;
    Ok(rid)
}

/// Runs the schema migration on the writer's own connection path before the thread starts.
pub(crate) fn prepare(path: &std::path::Path, fsync: bool) -> Result<()> {
    // An existing file is checked read-only first: switching a foreign or newer file to WAL would change it.
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        let conn = super::conn::open_ro(path)?;
        schema::check_readable(&conn, &path.display().to_string())?;
    }
    let mut conn = open_rw(path, fsync)?;
    schema::migrate(&mut conn, &path.display().to_string())
}
