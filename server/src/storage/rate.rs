//! The request allowance of a workspace: a token bucket in the form of GCRA (the generic cell rate algorithm), whose
//! whole state is one number per workspace, the theoretical arrival time (TAT), so it fits in a database row that
//! every replica updates ([`super::Admin::take_request`]).

use runlog_wire::ServiceLimits;

/// `per_second` requests a second on average, in bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Average requests per second.
    pub per_second: u64,
    /// Requests allowed at once from a full bucket.
    pub burst: u64,
}

impl Quota {
    /// The quota of [`ServiceLimits::max_requests_per_second`] and [`ServiceLimits::request_burst`]; None when the
    /// rate is 0 (no limit).
    pub fn of(limits: &ServiceLimits) -> Option<Quota> {
        (limits.max_requests_per_second > 0)
            .then(|| Quota { per_second: limits.max_requests_per_second, burst: limits.request_burst.max(1) })
    }

    /// Microseconds between two requests at the average rate (at least 1).
    pub fn period_us(&self) -> i64 {
        (1_000_000 / self.per_second.max(1)).max(1) as i64
    }

    /// How far ahead of now the TAT may run and still admit a request: `burst - 1` periods.
    pub fn tolerance_us(&self) -> i64 {
        self.period_us().saturating_mul(self.burst.max(1) as i64 - 1)
    }
}

/// One request at `now` (µs) against a bucket whose TAT is `tat` (None: a bucket never used, so full): the new TAT
/// when admitted, or the microseconds to wait.
pub fn take(tat: Option<i64>, now: i64, q: Quota) -> Result<i64, u64> {
    let tat = tat.unwrap_or(now).max(now);
    let earliest = tat - q.tolerance_us();
    if now < earliest { Err((earliest - now) as u64) } else { Ok(tat + q.period_us()) }
}

/// Whole seconds to say in `Retry-After` for a wait in microseconds (at least 1).
pub fn retry_after_secs(wait_us: u64) -> u64 {
    wait_us.div_ceil(1_000_000).max(1)
}

#[cfg(test)]
mod tests {
    use super::{Quota, take};

    #[test]
    fn a_full_bucket_admits_a_burst_then_one_request_a_period() {
        let q = Quota { per_second: 10, burst: 3 };
        let (mut tat, now) = (None, 1_000_000);
        for _ in 0..3 {
            tat = Some(take(tat, now, q).expect("within the burst"));
        }
        let wait = take(tat, now, q).expect_err("the burst is spent");
        assert_eq!(wait, 100_000, "one period of 100 ms");
        assert!(take(tat, now + 99_999, q).is_err());
        let tat = take(tat, now + 100_000, q).expect("a period later");
        assert!(take(Some(tat), now + 100_000, q).is_err(), "and only one");
        assert!(take(Some(tat), now + 10_000_000, q).is_ok(), "an idle bucket refills");
    }

    #[test]
    fn a_burst_of_one_admits_one_request_a_period() {
        let q = Quota { per_second: 1000, burst: 1 };
        let tat = take(None, 0, q).expect("first");
        assert_eq!(take(Some(tat), 0, q), Err(1000));
        assert!(take(Some(tat), 1000, q).is_ok());
    }
}
