//! The agent's effects: the tokio loop that reads the store, packs batches that fit the remote's limits, uploads
//! blobs then batches, and records the outcome in the store. Every decision (send, split, wait, skip, stop) comes
//! from the pure [`Policy`]; this module only carries it out.
//!
//! One [`Syncer`] moves one store to one remote. Its position is the highest sequence number acknowledged, read from
//! the store's `sync_acks` when it starts (never guessed forward). A scalar chunk may travel in several parts; its
//! sequence number counts as acknowledged only once every part is, so a crash resends parts the remote may hold
//! already, which the remote ignores.

use super::feed::Feed;
use super::state::{Action, Backoff, Event, Failure, Policy, batch_len, refuse_locally};
use crate::error::{Error, ErrorKind, Result};
use crate::remote::{Reconciled, Remote};
use runlog_core::Store;
use runlog_wire::ServiceLimits;
use runlog_wire::{Batch, BatchReply, EncodedBatch, WIRE_VERSION, WireRecord};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long fetched limits are trusted before the next pass reads them again.
const LIMITS_MAX_AGE: Duration = Duration::from_secs(600);

/// Agent settings; every field documents its default.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Retry timing. Default: [`Backoff::default`].
    pub backoff: Backoff,
    /// Largest batch the agent builds, in bytes, below the remote's own limit (bounds the agent's memory). Default 8 MiB.
    pub max_batch_bytes: u64,
    /// Stored records read per query. Default 256.
    pub read_records: usize,
    /// How often a watching agent looks for new data without being woken. Default 1 s.
    pub poll_interval: Duration,
    /// Whether a watching agent wakes when this process's writer commits logged data ([`Store::on_commit`]), rather
    /// than at the next poll. Default true. (Commits of other processes are seen at the poll.)
    pub wake_on_commit: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            backoff: Backoff::default(),
            max_batch_bytes: 8 << 20,
            read_records: 256,
            poll_interval: Duration::from_secs(1),
            wake_on_commit: true,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassSummary {
    /// Batches acknowledged.
    pub batches: u64,
    /// Records the remote applied now.
    pub applied: u64,
    /// Records the remote already held.
    pub duplicates: u64,
    /// Records refused (by the remote, or locally to fit its limits), with their reasons in the store.
    pub rejected: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: u64,
    /// Requests sent.
    pub requests: u64,
    /// Where the pass started and ended (highest sequence number acknowledged).
    pub acked_from: i64,
    /// Highest sequence number acknowledged at the end.
    pub acked_through: i64,
    /// Records still pending at the end.
    pub pending: i64,
    /// Whether everything present at the end was acknowledged or rejected.
    pub complete: bool,
    /// The last error met, if any (retried or not).
    pub last_error: Option<String>,
}

enum Item {
    Rec {
        rec: WireRecord,
        last: bool,
    },
    /// A record refused locally (already recorded): only advances the position.
    Skip(i64),
}

/// Paces requests below the remote's published rate (90% of it, so its 429 stays the exception): governor's GCRA.
struct Pacer(governor::DefaultDirectRateLimiter);

impl Pacer {
    fn new(l: &ServiceLimits) -> Option<Pacer> {
        let rate = (l.max_requests_per_second as f64) * 0.9;
        if rate <= 0.0 {
            return None;
        }
        let burst = l.request_burst.min(l.max_requests_per_second).clamp(1, u64::from(u32::MAX)) as u32;
        let quota = governor::Quota::with_period(Duration::from_secs_f64(1.0 / rate))?
            .allow_burst(std::num::NonZeroU32::new(burst)?);
        Some(Pacer(governor::RateLimiter::direct(quota)))
    }

    async fn take(&self) {
        self.0.until_ready().await;
    }
}

/// Moves one store to one remote.
pub struct Syncer {
    feed: Arc<dyn Feed>,
    remote_name: String,
    remote: Arc<dyn Remote>,
    opts: AgentOptions,
    policy: Policy,
    limits: Option<ServiceLimits>,
    limits_at: Option<Instant>,
    pacer: Option<Pacer>,
    acked: i64,
    read_pos: i64,
    queue: VecDeque<Item>,
    queued_bytes: usize,
    known_blobs: HashSet<String>,
    acked_tx: watch::Sender<i64>,
    /// True while the last attempt could not reach the remote at all (see [`Error::is_unreachable`]).
    unreachable_tx: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
    /// Changes after each commit of logged data in this process (with the subscription that feeds it).
    commits: Option<(runlog_core::CommitSubscription, watch::Receiver<u64>)>,
    failing: bool,
    last_success_event: Option<Instant>,
    summary: PassSummary,
}

/// Why a pass stopped early.
enum Stop {
    Deadline,
    Stopped,
}

impl Syncer {
    /// A syncer of `store` to `remote`, keeping its bookkeeping under `remote_name`. It stops waiting when `stop`
    /// turns true.
    pub fn new(
        store: Store,
        remote_name: &str,
        remote: Arc<dyn Remote>,
        opts: AgentOptions,
        stop: watch::Receiver<bool>,
    ) -> Result<Syncer> {
        Syncer::with_feed(Arc::new(store), remote_name, remote, opts, stop)
    }

    /// Moves what `feed` holds to `remote` (a store, or a bundle being imported: the same loop).
    pub fn with_feed(
        feed: Arc<dyn Feed>,
        remote_name: &str,
        remote: Arc<dyn Remote>,
        opts: AgentOptions,
        stop: watch::Receiver<bool>,
    ) -> Result<Syncer> {
        let acked = feed.position(remote_name)?;
        let known_blobs = feed.known_blobs(remote_name)?;
        let policy = Policy::new(opts.backoff);
        let commits = if opts.wake_on_commit {
            let (tx, rx) = watch::channel(0u64);
            feed.on_commit(Box::new(move || tx.send_modify(|n| *n = n.wrapping_add(1)))).map(|sub| (sub, rx))
        } else {
            None
        };
        Ok(Syncer {
            feed,
            remote_name: remote_name.to_string(),
            remote,
            opts,
            policy,
            limits: None,
            limits_at: None,
            pacer: None,
            acked,
            read_pos: acked,
            queue: VecDeque::new(),
            queued_bytes: 0,
            known_blobs,
            acked_tx: watch::channel(acked).0,
            unreachable_tx: watch::channel(false).0,
            stop,
            commits,
            failing: false,
            last_success_event: None,
            summary: PassSummary::default(),
        })
    }

    /// Follows the highest sequence number acknowledged.
    pub fn acked(&self) -> watch::Receiver<i64> {
        self.acked_tx.subscribe()
    }

    /// Follows whether the remote was unreachable at the last attempt (a connection could not even be made); false
    /// again once a request gets through.
    pub fn unreachable(&self) -> watch::Receiver<bool> {
        self.unreachable_tx.subscribe()
    }

    /// The remote's name.
    pub fn remote_name(&self) -> &str {
        &self.remote_name
    }

    /// Records still pending (the store's highest sequence number minus the position).
    pub fn pending(&self) -> Result<i64> {
        Ok((self.feed.max_seq()? - self.acked).max(0))
    }

    async fn sleep(&mut self, d: Duration, deadline: Option<Instant>) -> std::result::Result<(), Stop> {
        let until = Instant::now() + d;
        if deadline.is_some_and(|dl| until > dl) {
            if let Some(dl) = deadline {
                tokio::select! {
                    _ = tokio::time::sleep_until(dl) => {}
                    _ = self.stop.wait_for(|s| *s) => return Err(Stop::Stopped),
                }
            }
            return Err(Stop::Deadline);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => Ok(()),
            _ = self.stop.wait_for(|s| *s) => Err(Stop::Stopped),
        }
    }

    fn note_error(&mut self, e: &Error) {
        let msg = e.to_string();
        if !self.failing {
            // The first failure after a success is recorded; a days-long outage does not flood the store.
            let _ = self.feed.record_event(&self.remote_name, false, &msg);
        }
        self.failing = true;
        self.unreachable_tx.send_replace(e.is_unreachable());
        self.summary.last_error = Some(msg);
    }

    /// One pass: sends everything present now (and what arrives meanwhile), retrying with backoff until `deadline`
    /// (`None`: for as long as it takes). `progress(done, total)` is called after each batch.
    pub async fn pass(
        &mut self,
        deadline: Option<Instant>,
        progress: &mut (dyn FnMut(i64, i64) + Send),
    ) -> Result<PassSummary> {
        self.feed.before_pass()?;
        // Resume from the store's bookkeeping (another agent may have moved it on), never from a guess.
        let stored = self.feed.position(&self.remote_name)?;
        if stored > self.acked {
            self.acked = stored;
            self.read_pos = stored;
            self.queue.clear();
            self.queued_bytes = 0;
        }
        self.summary = PassSummary { acked_from: self.acked, ..PassSummary::default() };
        let start = self.acked;
        let max_seq = self.feed.max_seq()?;
        if max_seq <= self.acked {
            self.summary.acked_through = self.acked;
            self.summary.complete = true;
            return Ok(self.summary.clone());
        }
        let outcome = self.run(deadline, start, progress).await;
        self.feed.flush()?;
        self.summary.acked_through = self.acked;
        self.summary.pending = self.pending()?;
        self.summary.complete = self.summary.pending == 0;
        match outcome {
            Ok(()) | Err(Ok(_)) => {}
            Err(Err(e)) => return Err(e),
        }
        // A success is recorded after a failure, and otherwise at most once a minute (a watching agent passes often).
        let due = self.last_success_event.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if self.summary.complete {
            self.unreachable_tx.send_replace(false);
        }
        if self.summary.complete && (self.failing || (self.summary.batches > 0 && due)) {
            self.failing = false;
            self.last_success_event = Some(Instant::now());
            let msg = format!(
                "synced through record {}: {} applied, {} already held, {} rejected, {} blobs uploaded",
                self.acked,
                self.summary.applied,
                self.summary.duplicates,
                self.summary.rejected,
                self.summary.blobs_uploaded
            );
            self.feed.record_event(&self.remote_name, true, &msg)?;
            self.feed.flush()?;
        }
        Ok(self.summary.clone())
    }

    async fn run(
        &mut self,
        deadline: Option<Instant>,
        start: i64,
        progress: &mut (dyn FnMut(i64, i64) + Send),
    ) -> std::result::Result<(), std::result::Result<Stop, Error>> {
        let limits = loop {
            match self.fetch_limits().await {
                Ok(l) => break l,
                Err(e) => {
                    self.note_error(&e);
                    let failure = Failure::of(&e);
                    match self.policy.on(Event::Failed { failure, records: 0, u: fastrand::f64() }) {
                        Action::Wait(d) => self.sleep(d, deadline).await.map_err(Ok)?,
                        Action::Halt { reason } => return Err(Err(self.halt(reason))),
                        _ => return Err(Err(e)),
                    }
                }
            }
        };
        let mut action = self.policy.on(Event::Ready);
        loop {
            match action {
                Action::Send { max_records } => {
                    self.fill(&limits).map_err(Err)?;
                    let take = self.select(&limits, max_records);
                    if take == 0 {
                        action = self.policy.on(Event::Empty);
                        continue;
                    }
                    match self.send(take, &limits).await {
                        Ok(n) => {
                            let total = (self.feed.max_seq().map_err(Err)? - start).max(1);
                            progress(self.acked - start, total);
                            action = self.policy.on(Event::Sent { records: n });
                        }
                        Err((failure, n, e)) => {
                            if e.kind() == ErrorKind::Store {
                                return Err(Err(e));
                            }
                            self.note_error(&e);
                            action = self.policy.on(Event::Failed { failure, records: n, u: fastrand::f64() });
                        }
                    }
                }
                Action::Wait(d) => {
                    self.sleep(d, deadline).await.map_err(Ok)?;
                    action = self.policy.on(Event::Ready);
                }
                Action::Reject { code, reason } => {
                    self.reject_front(&code, &reason).map_err(Err)?;
                    action = self.policy.on(Event::Sent { records: 1 });
                }
                Action::Idle => return Ok(()),
                Action::Halt { reason } => return Err(Err(self.halt(reason))),
            }
        }
    }

    fn halt(&mut self, reason: String) -> Error {
        let msg = format!("{} refused this agent's credentials: {reason}", self.remote.describe());
        let _ = self.feed.record_event(&self.remote_name, false, &msg);
        let _ = self.feed.flush();
        Error::Config(msg)
    }

    async fn fetch_limits(&mut self) -> Result<ServiceLimits> {
        // Limits may change on the remote: read them again now and then (a 413 in between makes the agent split).
        if let Some(l) = self.limits
            && self.limits_at.is_some_and(|t| t.elapsed() < LIMITS_MAX_AGE)
        {
            return Ok(l);
        }
        self.summary.requests += 1;
        let l = self.remote.limits().await?;
        self.limits = Some(l);
        self.limits_at = Some(Instant::now());
        self.pacer = Pacer::new(&l);
        Ok(l)
    }

    async fn pace(&mut self) {
        self.summary.requests += 1;
        if let Some(p) = &self.pacer {
            p.take().await;
        }
    }

    fn budget(&self, limits: &ServiceLimits) -> usize {
        // Room for the batch envelope and msgpack framing.
        (limits.max_request_bytes.min(self.opts.max_batch_bytes) as usize).saturating_sub(4096).max(1024)
    }

    /// Reads stored records into the queue until it holds a full batch or the store has no more.
    fn fill(&mut self, limits: &ServiceLimits) -> Result<()> {
        let budget = self.budget(limits);
        // Points per scalar part: within the rows-per-batch limit and the byte budget (about 10 bytes a point).
        let part_rows =
            (limits.max_rows_per_batch.min(runlog_core::chunk::MAX_POINTS as u64) as usize).min(budget / 24).max(1);
        let mut rows: u64 =
            self.queue.iter().map(|i| if let Item::Rec { rec, .. } = i { u64::from(rec.rows) } else { 0 }).sum();
        loop {
            if self.queued_bytes >= budget || rows >= limits.max_rows_per_batch || self.queue.len() >= 100_000 {
                return Ok(());
            }
            let fed = self.feed.read(self.read_pos, self.opts.read_records, part_rows)?;
            if fed.is_empty() {
                return Ok(());
            }
            for (seq, parts) in fed {
                self.read_pos = seq;
                match parts {
                    Err(reason) => self.skip(seq, "unreadable_record", &reason)?,
                    Ok(parts) => {
                        if let Some((code, reason)) = refuse_locally(&parts, limits, budget) {
                            self.skip(seq, code, &reason)?;
                            continue;
                        }
                        let n = parts.len();
                        for (i, rec) in parts.into_iter().enumerate() {
                            self.queued_bytes += rec.size_hint();
                            rows += u64::from(rec.rows);
                            self.queue.push_back(Item::Rec { rec, last: i + 1 == n });
                        }
                    }
                }
            }
        }
    }

    fn skip(&mut self, seq: i64, code: &str, reason: &str) -> Result<()> {
        self.feed.record_rejection(&self.remote_name, seq, code, reason)?;
        self.summary.rejected += 1;
        self.queue.push_back(Item::Skip(seq));
        Ok(())
    }

    /// How many queue items form the next batch (0 when the queue is empty): [`batch_len`] over the queue.
    fn select(&self, limits: &ServiceLimits, max_records: Option<usize>) -> usize {
        let items = self.queue.iter().map(|i| match i {
            Item::Rec { rec, .. } => Some((u64::from(rec.rows), rec.size_hint())),
            Item::Skip(_) => None,
        });
        batch_len(items, limits, self.budget(limits), max_records)
    }

    /// Takes the first `take` items out of the queue, uploads their blobs and the batch, and records the outcome.
    /// On failure the items go back to the front of the queue.
    async fn send(
        &mut self,
        take: usize,
        limits: &ServiceLimits,
    ) -> std::result::Result<usize, (Failure, usize, Error)> {
        let items: Vec<Item> = self.queue.drain(..take).collect();
        let records = items.iter().filter(|i| matches!(i, Item::Rec { .. })).count();
        let result = self.try_send(&items, limits).await;
        match result {
            Ok(Done { reply, resend }) => {
                let e_store = |e: Error| (Failure::Retryable { retry_after: None }, records, e);
                self.finish(items, reply, resend).map_err(e_store)?;
                Ok(records.max(1))
            }
            Err((failure, e)) => {
                for item in items.into_iter().rev() {
                    self.queue.push_front(item);
                }
                Err((failure, records, e))
            }
        }
    }

    async fn try_send(
        &mut self,
        items: &[Item],
        limits: &ServiceLimits,
    ) -> std::result::Result<Done, (Failure, Error)> {
        let fail = |e: Error| (Failure::of(&e), e);
        let recs: Vec<&WireRecord> =
            items.iter().filter_map(|i| if let Item::Rec { rec, .. } = i { Some(rec) } else { None }).collect();
        if recs.is_empty() {
            return Ok(Done { reply: None, resend: Vec::new() });
        }
        // Blobs first: a batch may refer only to blobs the remote holds.
        let mut hashes: Vec<String> = recs
            .iter()
            .filter_map(|r| r.body.blob())
            .filter(|h| !self.known_blobs.contains(*h))
            .map(str::to_string)
            .collect();
        hashes.sort();
        hashes.dedup();
        if !hashes.is_empty() {
            self.pace().await;
            let missing = self.remote.missing_blobs(&hashes).await.map_err(fail)?;
            for h in &missing {
                let bytes = self.feed.blob(h).map_err(fail)?;
                self.pace().await;
                self.remote.upload_blob(h, bytes.into()).await.map_err(fail)?;
                self.summary.blobs_uploaded += 1;
            }
            for h in hashes {
                self.feed.record_blob(&self.remote_name, &h).map_err(fail)?;
                self.known_blobs.insert(h);
            }
        }
        let store = self.feed.store_id();
        let batch = Batch { version: WIRE_VERSION, store, records: recs.into_iter().cloned().collect() };
        let encoded = batch.encode();
        drop(batch);
        if encoded.bytes.len() as u64 > limits.max_request_bytes {
            let e = Error::Http {
                url: self.remote.describe(),
                status: 413,
                code: "batch_too_large".into(),
                message: format!("batch is {} bytes, the limit is {}", encoded.bytes.len(), limits.max_request_bytes),
                retry_after: None,
            };
            return Err((Failure::TooLarge, e));
        }
        self.pace().await;
        match self.remote.upload_batch(&encoded).await {
            Ok(reply) => Ok(Done { reply: Some((encoded, reply)), resend: Vec::new() }),
            Err(e) if e.outcome_unknown() => match self.remote.reconcile(&encoded).await {
                Ok(Reconciled::Landed(reply)) => Ok(Done { reply: Some((encoded, reply)), resend: Vec::new() }),
                Ok(Reconciled::Partly { landed, resend }) => Ok(Done { reply: Some((encoded, landed)), resend }),
                Ok(Reconciled::ResendIsSafe) => Err(fail(e)),
                Err(e2) => Err(fail(e2)),
            },
            Err(e) => {
                if e.code() == "blob_missing" {
                    // The remote lost blobs we thought it held: ask again next time.
                    for i in items {
                        if let Item::Rec { rec, .. } = i
                            && let Some(h) = rec.body.blob()
                        {
                            self.known_blobs.remove(h);
                        }
                    }
                }
                Err(fail(e))
            }
        }
    }

    /// Records the outcome of a sent batch and advances the position over every fully sent record.
    fn finish(
        &mut self,
        items: Vec<Item>,
        reply: Option<(EncodedBatch, BatchReply)>,
        resend: Vec<(i64, u32)>,
    ) -> Result<()> {
        let mut batch_id = String::from("local");
        if let Some((encoded, reply)) = &reply {
            batch_id = encoded.id.to_string();
            self.summary.batches += 1;
            self.summary.applied += reply.applied;
            self.summary.duplicates += reply.duplicates;
            let mut seen = HashSet::new();
            for r in &reply.rejected {
                if seen.insert((r.seq, r.code.clone())) {
                    self.feed.record_rejection(&self.remote_name, r.seq, &r.code, &r.reason)?;
                    self.summary.rejected += 1;
                }
            }
        }
        let mut done = self.acked;
        let mut blocked = false;
        let mut back = Vec::new();
        for item in items {
            match item {
                Item::Rec { rec, last } => {
                    if resend.contains(&(rec.seq, rec.part)) {
                        blocked = true;
                        back.push(Item::Rec { rec, last });
                        continue;
                    }
                    self.queued_bytes = self.queued_bytes.saturating_sub(rec.size_hint());
                    if last && !blocked {
                        done = done.max(rec.seq);
                    }
                }
                Item::Skip(seq) => {
                    if !blocked {
                        done = done.max(seq);
                    }
                }
            }
        }
        for item in back.into_iter().rev() {
            self.queue.push_front(item);
        }
        if done > self.acked {
            self.feed.record_ack(&self.remote_name, self.acked + 1, done, &batch_id)?;
            self.acked = done;
            let _ = self.acked_tx.send(done);
            self.unreachable_tx.send_replace(false);
        }
        Ok(())
    }

    /// The policy gave up on the first record: record why and move past it.
    fn reject_front(&mut self, code: &str, reason: &str) -> Result<()> {
        let Some(pos) = self.queue.iter().position(|i| matches!(i, Item::Rec { .. })) else { return Ok(()) };
        let items: Vec<Item> = self.queue.drain(..=pos).collect();
        let mut out = Vec::new();
        for item in items {
            if let Item::Rec { rec, last } = item {
                let seq = rec.seq;
                self.feed.record_rejection(&self.remote_name, rec.seq, code, reason)?;
                self.summary.rejected += 1;
                // Its other parts are refused with it: drop them from the queue too.
                if !last {
                    while let Some(Item::Rec { rec: r, .. }) = self.queue.front() {
                        if r.seq != seq {
                            break;
                        }
                        let last = matches!(self.queue.pop_front(), Some(Item::Rec { last: true, .. }));
                        if last {
                            break;
                        }
                    }
                }
                out.push(Item::Skip(seq));
            } else {
                out.push(item);
            }
        }
        self.finish(out, None, Vec::new())
    }

    /// Keeps syncing: a pass whenever `wake` fires or the poll interval passes and the store has grown, until `stop`.
    pub async fn watch(&mut self, wake: Arc<tokio::sync::Notify>) -> Result<()> {
        loop {
            if *self.stop.borrow() {
                return Ok(());
            }
            if self.pending()? > 0 {
                let mut stop = self.stop.clone();
                let mut quiet = |_: i64, _: i64| {};
                let outcome = tokio::select! {
                    r = self.pass(None, &mut quiet) => r,
                    // Stopping cancels a request in flight: whatever it did is resent or found held next time.
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                };
                match outcome {
                    Ok(_) => {}
                    // Credentials refused: do not retry the same thing; the event says why.
                    Err(e) if e.kind() == ErrorKind::Config => return Err(e),
                    Err(e) => {
                        self.note_error(&e);
                        self.sleep(self.opts.backoff.max, None).await.ok();
                    }
                }
            }
            let poll = self.opts.poll_interval;
            let commits = self.commits.as_mut().map(|(_, rx)| rx);
            tokio::select! {
                _ = wake.notified() => {}
                _ = committed(commits) => {}
                _ = tokio::time::sleep(poll) => {}
                _ = self.stop.wait_for(|s| *s) => return Ok(()),
            }
        }
    }
}

/// Returns once the store commits logged data again (never without a subscription).
async fn committed(rx: Option<&mut watch::Receiver<u64>>) {
    if let Some(rx) = rx
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

struct Done {
    reply: Option<(EncodedBatch, BatchReply)>,
    resend: Vec<(i64, u32)>,
}
