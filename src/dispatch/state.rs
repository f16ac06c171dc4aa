//! The dispatcher's shared state — cooldowns, rejected credentials, leases of runs in flight,
//! run-time estimates — behind one trait, so several xnai processes (on one machine now, on
//! several with the Redis bus later) see one pool.

use serde::Serialize;

use crate::error::Result;

/// First cooldown after a rate limit with no retry time given.
pub const BACKOFF_START_MS: i64 = 60_000;
/// Longest cooldown the backoff reaches.
pub const BACKOFF_MAX_MS: i64 = 3_600_000;
/// Weight of the newest run in the run-time EWMA.
pub const EWMA_ALPHA: f64 = 0.3;

/// One account's dispatch state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountState {
    /// Active cooldown: why (`rate_limited`, `quota_exhausted`) and until when (Unix ms).
    pub cooldown: Option<(String, i64)>,
    /// Fingerprint of a credential the provider rejected.
    pub rejected_fingerprint: Option<String>,
    /// Runs in flight (live leases).
    pub running: u32,
    /// EWMA of successful run times.
    pub latency_ewma_ms: Option<f64>,
    /// Runs behind that estimate.
    pub latency_samples: u32,
    /// Last dispatched run.
    pub last_used_ms: Option<i64>,
}

/// What an attempt reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// It succeeded in `duration_ms`.
    Success {
        /// Run time.
        duration_ms: i64,
    },
    /// Rate limited; `until_ms` when the provider said.
    RateLimited {
        /// Retry time given by the provider.
        until_ms: Option<i64>,
    },
    /// Quota exhausted until `until_ms`.
    QuotaExhausted {
        /// When the window resets.
        until_ms: i64,
    },
    /// The credential with this fingerprint was refused.
    Rejected {
        /// Hash of the credential (never the credential).
        fingerprint: String,
    },
    /// Another failure, an interrupted run, or a `run auto` command: only the last use is
    /// recorded (its run time says nothing about the agent's speed).
    Ran,
}

/// What recording an event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// False when another task had already recorded the same failure after this attempt
    /// started: a burst of 429s changes the state once.
    pub changed: bool,
    /// The account's cooldown end after the event, if it has one.
    pub until_ms: Option<i64>,
}

/// A run in flight; give it back with [`DispatchState::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease(pub i64);

/// Shared dispatch state.
pub trait DispatchState {
    /// The state of each `(provider, account)`, in order, as of `now_ms` (expired cooldowns
    /// and leases of processes that died are not counted).
    fn load(&self, accounts: &[(&str, &str)], now_ms: i64) -> Result<Vec<AccountState>>;

    /// Takes a lease unless `max` runs are in flight on the account; atomic across processes.
    fn acquire(
        &self,
        provider: &str,
        account: &str,
        max: Option<u32>,
        now_ms: i64,
    ) -> Result<Option<Lease>>;

    /// Ties a lease to the run it covers: process `pid` and, when `own_group`, the process
    /// group it leads. The lease then also lives as long as they do, so a dispatcher killed
    /// outright does not free the slot while its agent is still working.
    fn attach(&self, lease: Lease, pid: u32, own_group: bool) -> Result<()>;

    /// Ends a lease.
    fn release(&self, lease: Lease) -> Result<()>;

    /// Lifts any cooldown and rejection of the account (`xnai dispatch --clear`); true when
    /// there was one.
    fn clear(&self, provider: &str, account: &str, now_ms: i64) -> Result<bool>;

    /// Records what an attempt that started at `started_ms` came to. A success also lifts a
    /// rejection and any cooldown set before the attempt began: the account evidently works.
    fn record(
        &self,
        provider: &str,
        account: &str,
        event: &Event,
        started_ms: i64,
        now_ms: i64,
    ) -> Result<Change>;
}

/// The next cooldown after a rate limit: doubling from [`BACKOFF_START_MS`] while rate limits
/// follow each other, capped at [`BACKOFF_MAX_MS`]. Returns (level, duration).
pub fn backoff(previous_level: u32, previous_until_ms: Option<i64>, now_ms: i64) -> (u32, i64) {
    // A rate limit long after the last cooldown ended starts over.
    let recent = previous_until_ms.is_some_and(|u| now_ms - u < BACKOFF_MAX_MS);
    let level = if recent { previous_level + 1 } else { 1 };
    let ms = BACKOFF_START_MS
        .saturating_mul(1i64 << (level - 1).min(20))
        .min(BACKOFF_MAX_MS);
    (level, ms)
}

/// The start time of process `pid` (clock ticks since boot, field 22 of /proc/PID/stat), to
/// tell a live lease holder from a new process that reused its pid.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

pub use crate::exec::group_alive;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour_and_starts_over() {
        let now = 10_000_000;
        assert_eq!(backoff(0, None, now), (1, 60_000));
        assert_eq!(backoff(1, Some(now - 1000), now), (2, 120_000));
        assert_eq!(backoff(6, Some(now), now), (7, 3_600_000));
        assert_eq!(backoff(30, Some(now), now), (31, 3_600_000));
        assert_eq!(backoff(5, Some(now - 2 * 3_600_000), now), (1, 60_000));
    }

    #[test]
    fn own_process_has_a_start_time() {
        assert!(process_start(std::process::id()).is_some());
        assert_eq!(process_start(u32::MAX), None);
    }
}
