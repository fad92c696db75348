//! The agent's policy as a pure state machine: given what just happened, what to do next (send, split, wait, skip a
//! refused record, stop), and the pure decisions around it: what an error means ([`Failure::of`]), how many queued
//! records form the next batch ([`batch_len`]) and which records are refused before sending ([`refuse_locally`]). No I/O, no clock, no randomness: the jitter comes in with the event, so every decision can
//! be tested as a table of state + event -> state + action, and the tokio loop (`driver`) only carries them out.

use crate::error::{Error, ErrorKind};
use runlog_wire::{Body, ServiceLimits, WireRecord};
use std::time::Duration;

/// Retry timing. Every field documents its default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait after the first failure. Default 500 ms.
    pub initial: Duration,
    /// The longest wait between tries. Default 5 minutes: an agent offline for days retries about 300 times a day.
    pub max: Duration,
    /// Factor between consecutive waits. Default 2.
    pub multiplier: f64,
    /// Fraction of each wait that is random (0 = none, 1 = anywhere from 0 to the wait). Default 0.5.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(300), multiplier: 2.0, jitter: 0.5 }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 = the first), with `u` in [0, 1) drawn by the caller.
    pub fn delay(&self, failures: u32, u: f64) -> Duration {
        let exp = self.multiplier.max(1.0).powi(failures.saturating_sub(1).min(64) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * u.clamp(0.0, 1.0);
        Duration::from_secs_f64(base * (1.0 - jitter))
    }
}

/// The shortest wait after any failure, whatever the remote asks for.
pub const MIN_WAIT: Duration = Duration::from_millis(50);

/// How an upload failed, as the policy needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Network, 5xx or 429: try the same again after a wait (`retry_after` if the remote asked for one).
    Retryable {
        /// The wait the remote asked for.
        retry_after: Option<Duration>,
    },
    /// 413 or a batch over the remote's limits: split it.
    TooLarge,
    /// Another 4xx: the batch will never be accepted as it is.
    Refused {
        /// Machine-readable code.
        code: String,
        /// Why.
        reason: String,
    },
    /// 401/403: nothing will be accepted until the configuration changes.
    Unauthorized {
        /// Why.
        reason: String,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start, or woken up: there may be data.
    Ready,
    /// A batch of `records` records was acknowledged (its rejections included).
    Sent {
        /// How many records it held.
        records: usize,
    },
    /// A batch of `records` records failed; `u` in [0, 1) is the jitter draw.
    Failed {
        /// How.
        failure: Failure,
        /// How many records it held.
        records: usize,
        /// Random draw for the jitter.
        u: f64,
    },
    /// Nothing is left to send.
    Empty,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send the next batch from the cursor, with at most `max_records` records (`None`: as many as the limits allow).
    Send {
        /// Cap on records, after splits.
        max_records: Option<usize>,
    },
    /// Wait, then send again.
    Wait(Duration),
    /// The next record alone is refused: record the rejection locally, acknowledge it, and go on with the rest.
    Reject {
        /// Machine-readable code.
        code: String,
        /// Why.
        reason: String,
    },
    /// Everything is sent: wait for new data.
    Idle,
    /// Stop syncing to this remote (credentials refused); the reason is recorded.
    Halt {
        /// Why.
        reason: String,
    },
}

/// The policy's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Retry timing.
    pub backoff: Backoff,
    /// Consecutive failures.
    pub failures: u32,
    /// Cap on records per batch after splits (`None` = no cap).
    pub cap: Option<usize>,
}

impl Policy {
    /// A fresh policy.
    pub fn new(backoff: Backoff) -> Policy {
        Policy { backoff, failures: 0, cap: None }
    }

    /// The next action after `event`.
    pub fn on(&mut self, event: Event) -> Action {
        match event {
            Event::Ready => Action::Send { max_records: self.cap },
            Event::Empty => {
                self.failures = 0;
                self.cap = None;
                Action::Idle
            }
            Event::Sent { records } => {
                self.failures = 0;
                // A split that worked: grow back gradually rather than jump to the size that failed.
                self.cap = self.cap.and_then(|c| (c <= records).then(|| c.saturating_mul(2)));
                Action::Send { max_records: self.cap }
            }
            Event::Failed { failure, records, u } => match failure {
                // As told, but never a busy loop on `Retry-After: 0`.
                Failure::Retryable { retry_after: Some(wait) } => Action::Wait(wait.max(MIN_WAIT)),
                Failure::Retryable { retry_after: None } => {
                    self.failures = self.failures.saturating_add(1);
                    Action::Wait(self.backoff.delay(self.failures, u))
                }
                Failure::TooLarge if records > 1 => {
                    self.cap = Some((records / 2).max(1));
                    Action::Send { max_records: self.cap }
                }
                Failure::TooLarge => Action::Reject {
                    code: "record_too_large".into(),
                    reason: "the record alone is over the remote's request size limit".into(),
                },
                Failure::Refused { .. } if records > 1 => {
                    // Find the one bad record by halving; the good ones go through.
                    self.cap = Some((records / 2).max(1));
                    Action::Send { max_records: self.cap }
                }
                Failure::Refused { code, reason } => Action::Reject { code, reason },
                Failure::Unauthorized { reason } => Action::Halt { reason },
            },
        }
    }
}

impl Failure {
    /// The one definition of what an error means for the loop ([`crate::Error::is_retryable`] asks it too):
    /// network failures, 5xx, 429, answers that do not parse (a proxy's error page) and a blob the remote lost are
    /// worth another try; 413 splits; 401/403 halt; any other refusal is the batch's.
    pub fn of(e: &Error) -> Failure {
        match e.kind() {
            ErrorKind::Network | ErrorKind::Server | ErrorKind::RateLimited | ErrorKind::Format | ErrorKind::Io => {
                Failure::Retryable { retry_after: e.retry_after() }
            }
            ErrorKind::TooLarge => Failure::TooLarge,
            ErrorKind::Unauthorized => Failure::Unauthorized { reason: e.to_string() },
            ErrorKind::Refused if e.code() == "blob_missing" => Failure::Retryable { retry_after: None },
            _ => Failure::Refused { code: e.code(), reason: e.to_string() },
        }
    }
}

/// How many queue items form the next batch: records (`Some((rows, bytes))`) and local skips (`None`, free) in
/// order, until the next record would go over the rows-per-batch limit, the byte budget or `max_records` (a batch
/// always holds at least one record). 0 for an empty queue.
pub fn batch_len(
    items: impl IntoIterator<Item = Option<(u64, usize)>>,
    limits: &ServiceLimits,
    budget: usize,
    max_records: Option<usize>,
) -> usize {
    let (mut n, mut records, mut rows, mut bytes) = (0usize, 0usize, 0u64, 0usize);
    for item in items {
        if let Some((r, b)) = item {
            if records > 0
                && (rows + r > limits.max_rows_per_batch
                    || bytes + b > budget
                    || max_records.is_some_and(|m| records >= m))
            {
                break;
            }
            records += 1;
            rows += r;
            bytes += b;
        }
        n += 1;
    }
    n
}

/// Records the agent refuses before sending, so no request goes over a limit.
pub fn refuse_locally(parts: &[WireRecord], limits: &ServiceLimits, budget: usize) -> Option<(&'static str, String)> {
    for p in parts {
        if u64::from(p.rows) > limits.max_rows_per_batch {
            return Some((
                "too_many_rows_in_batch",
                format!(
                    "{} {:?} holds {} rows, the limit is {} rows per batch",
                    p.body.kind(),
                    p.name,
                    p.rows,
                    limits.max_rows_per_batch
                ),
            ));
        }
        if p.size_hint() > budget {
            return Some((
                "record_too_large",
                format!(
                    "{} {:?} is about {} bytes, the limit is {} bytes per request",
                    p.body.kind(),
                    p.name,
                    p.size_hint(),
                    budget
                ),
            ));
        }
        if let Body::Image { size, .. } | Body::File { size, .. } = &p.body
            && *size > limits.max_blob_bytes
        {
            return Some((
                "blob_too_large",
                format!(
                    "{} {:?} is {size} bytes, the limit is {} bytes per blob",
                    p.body.kind(),
                    p.name,
                    limits.max_blob_bytes
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_jitter() -> Backoff {
        Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60), multiplier: 2.0, jitter: 0.5 }
    }

    fn retry() -> Failure {
        Failure::Retryable { retry_after: None }
    }

    #[test]
    fn table_of_state_event_action() {
        let refused = |c: &str| Failure::Refused { code: c.into(), reason: "r".into() };
        // (failures, cap, event) -> (action, failures after, cap after)
        type Case = (u32, Option<usize>, Event, Action, u32, Option<usize>);
        let cases: Vec<Case> = vec![
            (0, None, Event::Ready, Action::Send { max_records: None }, 0, None),
            (3, Some(4), Event::Ready, Action::Send { max_records: Some(4) }, 3, Some(4)),
            (2, None, Event::Sent { records: 10 }, Action::Send { max_records: None }, 0, None),
            (0, Some(4), Event::Sent { records: 4 }, Action::Send { max_records: Some(8) }, 0, Some(8)),
            (0, Some(8), Event::Sent { records: 3 }, Action::Send { max_records: None }, 0, None),
            (
                0,
                None,
                Event::Failed { failure: retry(), records: 5, u: 0.0 },
                Action::Wait(Duration::from_secs(1)),
                1,
                None,
            ),
            (
                2,
                None,
                Event::Failed { failure: retry(), records: 5, u: 0.0 },
                Action::Wait(Duration::from_secs(4)),
                3,
                None,
            ),
            (
                2,
                None,
                Event::Failed { failure: retry(), records: 5, u: 0.5 },
                Action::Wait(Duration::from_secs(3)),
                3,
                None,
            ),
            (
                1,
                None,
                Event::Failed {
                    failure: Failure::Retryable { retry_after: Some(Duration::from_secs(7)) },
                    records: 5,
                    u: 0.9,
                },
                Action::Wait(Duration::from_secs(7)),
                1,
                None,
            ),
            (
                0,
                None,
                Event::Failed { failure: Failure::TooLarge, records: 10, u: 0.0 },
                Action::Send { max_records: Some(5) },
                0,
                Some(5),
            ),
            (
                0,
                Some(1),
                Event::Failed { failure: Failure::TooLarge, records: 1, u: 0.0 },
                Action::Reject {
                    code: "record_too_large".into(),
                    reason: "the record alone is over the remote's request size limit".into(),
                },
                0,
                Some(1),
            ),
            (
                0,
                None,
                Event::Failed { failure: refused("x"), records: 3, u: 0.0 },
                Action::Send { max_records: Some(1) },
                0,
                Some(1),
            ),
            (
                0,
                Some(1),
                Event::Failed { failure: refused("bad"), records: 1, u: 0.0 },
                Action::Reject { code: "bad".into(), reason: "r".into() },
                0,
                Some(1),
            ),
            (
                4,
                None,
                Event::Failed { failure: Failure::Unauthorized { reason: "no".into() }, records: 3, u: 0.0 },
                Action::Halt { reason: "no".into() },
                4,
                None,
            ),
            (5, Some(2), Event::Empty, Action::Idle, 0, None),
        ];
        for (i, (failures, cap, event, action, f2, c2)) in cases.into_iter().enumerate() {
            let mut p = Policy { backoff: no_jitter(), failures, cap };
            let got = p.on(event.clone());
            assert_eq!(got, action, "case {i}: {event:?}");
            assert_eq!((p.failures, p.cap), (f2, c2), "case {i}: state after {event:?}");
        }
    }

    #[test]
    fn backoff_is_capped_and_never_zero_without_jitter_and_never_busy() {
        let b = Backoff::default();
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(40, 0.0), Duration::from_secs(300));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(300));
        // Half the wait at most is jitter: even the worst draw is not a busy loop.
        assert!(b.delay(1, 0.999_999) >= Duration::from_millis(250));
        // A day of failures at the cap: about 288 tries, not millions.
        let mut total = Duration::ZERO;
        let mut tries = 0u32;
        while total < Duration::from_secs(86_400) {
            tries += 1;
            total += b.delay(tries, 0.5);
        }
        assert!(tries < 600, "{tries} tries in a day");
    }

    /// The driver's wait, with paused tokio time: a retryable failure waits the backoff, then the next try happens.
    #[tokio::test(start_paused = true)]
    async fn waits_follow_the_backoff_under_paused_time() {
        let mut p = Policy::new(no_jitter());
        let start = tokio::time::Instant::now();
        let mut waits = Vec::new();
        for _ in 0..8 {
            if let Action::Wait(d) = p.on(Event::Failed { failure: retry(), records: 1, u: 0.0 }) {
                tokio::time::sleep(d).await;
                waits.push(d.as_secs());
            }
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(start.elapsed(), Duration::from_secs(183));
        assert_eq!(p.on(Event::Sent { records: 1 }), Action::Send { max_records: None });
        assert_eq!(p.failures, 0);
    }

    #[test]
    fn what_each_error_means_is_one_table() {
        let http = |status: u16, code: &str, retry: Option<u64>| Error::Http {
            url: "u".into(),
            status,
            code: code.into(),
            message: "m".into(),
            retry_after: retry.map(Duration::from_secs),
        };
        let net = |maybe_sent| Error::Network { url: "u".into(), message: "reset".into(), maybe_sent };
        let cases: Vec<(Error, &str)> = vec![
            (net(false), "retry"),
            (net(true), "retry"),
            (http(503, "unavailable", None), "retry"),
            (http(429, "rate_limited", Some(7)), "retry after 7"),
            (http(500, "internal", None), "retry"),
            (http(409, "blob_missing", None), "retry"),
            (Error::Format("an HTML error page".into()), "retry"),
            (http(413, "body_too_large", None), "split"),
            (http(401, "unauthorized", None), "halt"),
            (http(403, "forbidden", None), "halt"),
            (http(400, "malformed_batch", None), "refused malformed_batch"),
            (http(404, "not_found", None), "refused not_found"),
            (Error::Config("bad".into()), "refused config"),
        ];
        for (e, want) in cases {
            let got = match Failure::of(&e) {
                Failure::Retryable { retry_after: None } => "retry".to_string(),
                Failure::Retryable { retry_after: Some(d) } => format!("retry after {}", d.as_secs()),
                Failure::TooLarge => "split".into(),
                Failure::Unauthorized { .. } => "halt".into(),
                Failure::Refused { code, .. } => format!("refused {code}"),
            };
            assert_eq!(got, want, "{e}");
            assert_eq!(e.is_retryable(), want.starts_with("retry"), "one definition of retryable: {e}");
        }
    }

    #[test]
    fn batches_fill_to_the_first_limit_and_always_hold_one_record() {
        let limits = ServiceLimits { max_rows_per_batch: 10, ..ServiceLimits::default() };
        let rec = |rows, bytes| Some((rows, bytes));
        // (queue, budget, max_records) -> items taken
        type Case = (Vec<Option<(u64, usize)>>, usize, Option<usize>, usize);
        let cases: Vec<Case> = vec![
            (vec![], 100, None, 0),
            (vec![rec(4, 10), rec(4, 10), rec(4, 10)], 100, None, 2),
            (vec![rec(4, 60), rec(1, 60)], 100, None, 1),
            (vec![rec(1, 1); 5], 100, Some(3), 3),
            (vec![rec(50, 500)], 100, Some(1), 1),
            (vec![None, rec(1, 1), None, rec(1, 1)], 100, Some(1), 3),
            (vec![None, None], 100, None, 2),
        ];
        for (queue, budget, max, want) in cases {
            assert_eq!(batch_len(queue.clone(), &limits, budget, max), want, "{queue:?} budget {budget} max {max:?}");
        }
    }

    #[test]
    fn records_over_a_limit_on_their_own_are_refused_before_sending() {
        let limits = ServiceLimits { max_rows_per_batch: 10, max_blob_bytes: 100, ..ServiceLimits::default() };
        let rec = |rows: u32, body: Body| WireRecord {
            seq: 1,
            part: 0,
            rows,
            run: "r".into(),
            name: "n".into(),
            at: 0,
            step: None,
            body,
        };
        let file = |size| Body::File { hash: "h".into(), size };
        let cases: Vec<(WireRecord, usize, Option<&str>)> = vec![
            (rec(5, Body::Text("ok".into())), 1000, None),
            (rec(11, Body::Text("t".into())), 1000, Some("too_many_rows_in_batch")),
            (rec(1, Body::Text("x".repeat(2000))), 1000, Some("record_too_large")),
            (rec(1, file(101)), 1000, Some("blob_too_large")),
            (rec(1, file(100)), 1000, None),
        ];
        for (r, budget, want) in cases {
            let got = refuse_locally(std::slice::from_ref(&r), &limits, budget);
            assert_eq!(got.as_ref().map(|(c, _)| *c), want, "{r:?}");
            if let Some((_, reason)) = got {
                assert!(reason.contains("the limit is"), "{reason}");
            }
        }
    }
}
