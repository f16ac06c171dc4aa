//! The quota part of the ledger: usage sums over a window, daily sums for burn rates,
//! observations over time, and the audits' daily snapshots.

use rusqlite::params;

use super::{Store, db_err};
use crate::error::Result;
use crate::usage::Observation;

/// Usage summed over a span.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    /// Input + output + cache read + cache write: the `total` of `xnai usage`.
    pub tokens: u64,
    /// Requests.
    pub requests: u64,
    /// Recorded cost in USD.
    pub cost: f64,
    /// Events that carried a cost.
    pub cost_events: u64,
    /// Events.
    pub events: u64,
}

/// One audit's view of one quota window.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `unit/window`.
    pub quota: String,
    /// When the audit ran (Unix ms).
    pub taken_ms: i64,
    /// When the window then open had started.
    pub window_start_ms: Option<i64>,
    /// Used in that window.
    pub used: f64,
    /// The limit, when known.
    pub limit: Option<f64>,
}

const SUMS: &str = "COALESCE(SUM(input + output + cache_read + cache_write), 0),
    COALESCE(SUM(requests), 0), TOTAL(cost), COUNT(cost), COUNT(*)";

fn sums(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Sums> {
    let n = |k: usize| -> rusqlite::Result<u64> {
        Ok(u64::try_from(r.get::<_, i64>(at + k)?).unwrap_or(0))
    };
    Ok(Sums {
        tokens: n(0)?,
        requests: n(1)?,
        cost: r.get(at + 2)?,
        cost_events: n(3)?,
        events: n(4)?,
    })
}

impl Store {
    /// Usage of an account in `[since_ms, until_ms)`, from every event.
    pub fn usage_sums(&self, account: i64, since_ms: i64, until_ms: i64) -> Result<Sums> {
        let sql = format!(
            "SELECT {SUMS} FROM usage_events WHERE account = ?1 AND ts_ms >= ?2 AND ts_ms < ?3"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row(params![account, since_ms, until_ms], |r| sums(r, 0)))
            .map_err(|e| db_err(&self.path, e))
    }

    /// Usage of an account per UTC day (days since the epoch) in `[from_day, to_day]`, days
    /// without usage left out.
    pub fn daily_sums(&self, account: i64, from_day: i64, to_day: i64) -> Result<Vec<(i64, Sums)>> {
        let sql = "SELECT day, COALESCE(SUM(input + output + cache_read + cache_write), 0),
                    COALESCE(SUM(requests), 0), TOTAL(cost), SUM(cost_events), SUM(events)
             FROM usage_daily WHERE account = ?1 AND day >= ?2 AND day <= ?3
             GROUP BY day ORDER BY day";
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map(params![account, from_day, to_day], |r| {
                Ok((r.get::<_, i64>(0)?, sums(r, 1)?))
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    /// Events of an account dated after `after_ms`, and the latest of their times.
    pub fn events_after(&self, account: i64, after_ms: i64) -> Result<(u64, Option<i64>)> {
        self.conn
            .prepare_cached(
                "SELECT COUNT(*), MAX(ts_ms) FROM usage_events WHERE account = ?1 AND ts_ms > ?2",
            )
            .and_then(|mut st| {
                st.query_row(params![account, after_ms], |r| {
                    Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
                })
            })
            .map_err(|e| db_err(&self.path, e))
    }

    /// The first UTC day with usage of an account.
    pub fn first_usage_day(&self, account: i64) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MIN(day) FROM usage_daily WHERE account = ?1 AND events > 0",
                [account],
                |r| r.get(0),
            )
            .map_err(|e| db_err(&self.path, e))
    }

    /// Every observation of an account at or after `since_ms`, oldest first, with its source.
    pub fn observations_since(
        &self,
        account: i64,
        since_ms: i64,
    ) -> Result<Vec<(String, Observation)>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT source, window, observed_ms, used_percent, window_minutes, resets_at_ms
                 FROM quota_observations WHERE account = ?1 AND observed_ms >= ?2
                 ORDER BY observed_ms, source, window",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map(params![account, since_ms], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Observation {
                        window: r.get(1)?,
                        observed_ms: r.get(2)?,
                        used_percent: r.get(3)?,
                        window_minutes: r.get(4)?,
                        resets_at_ms: r.get(5)?,
                    },
                ))
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    /// Records an audit's snapshots of an account; a later audit the same UTC day replaces
    /// the earlier one's rows.
    pub fn save_snapshots(&mut self, account: i64, snaps: &[Snapshot]) -> Result<()> {
        let path = self.path.clone();
        // IMMEDIATE: take the write lock up front. A read transaction that later wants to
        // write fails at once when another process wrote in between; this one waits.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO quota_snapshots
                        (account, quota, day, taken_ms, window_start_ms, used, limit_value)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| db_err(&path, e))?;
            for s in snaps {
                st.execute(params![
                    account,
                    s.quota,
                    s.taken_ms.div_euclid(86_400_000),
                    s.taken_ms,
                    s.window_start_ms,
                    s.used,
                    s.limit
                ])
                .map_err(|e| db_err(&path, e))?;
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }

    /// An account's snapshots of one quota taken in `[since_ms, until_ms)`, oldest first.
    pub fn snapshots(
        &self,
        account: i64,
        quota: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Snapshot>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT quota, taken_ms, window_start_ms, used, limit_value FROM quota_snapshots
                 WHERE account = ?1 AND quota = ?2 AND taken_ms >= ?3 AND taken_ms < ?4
                 ORDER BY taken_ms",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map(params![account, quota, since_ms, until_ms], |r| {
                Ok(Snapshot {
                    quota: r.get(0)?,
                    taken_ms: r.get(1)?,
                    window_start_ms: r.get(2)?,
                    used: r.get(3)?,
                    limit: r.get(4)?,
                })
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| db_err(&self.path, e))
    }
}
