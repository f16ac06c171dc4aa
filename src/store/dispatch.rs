//! The dispatcher's state in the ledger ([`DispatchState`] on SQLite). Every change runs in a
//! `BEGIN IMMEDIATE` transaction, so concurrent xnai processes serialise on the write lock and
//! each decision sees the previous one.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, db_err};
use crate::dispatch::state::{
    AccountState, Change, DispatchState, EWMA_ALPHA, Event, Lease, backoff, group_alive,
    process_start,
};
use crate::error::Result;

impl Store {
    fn immediate<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db_err(&self.path, e))?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| db_err(&self.path, e))?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(db_err(&self.path, e))
            }
        }
    }
}

/// Whether process `pid` is the one that started at `start` (not another that reused the pid).
fn same_process(pid: i64, start: i64) -> bool {
    u32::try_from(pid)
        .ok()
        .and_then(process_start)
        .is_some_and(|s| i64::try_from(s).ok() == Some(start))
}

/// Deletes leases whose holder is gone (or is another process that reused the pid) and whose
/// run is over: neither the agent process nor anything left in its process group runs.
fn prune_leases(c: &Connection) -> rusqlite::Result<()> {
    let dead: Vec<i64> = {
        let mut st = c.prepare(
            "SELECT id, pid, pid_start, agent_pid, agent_start, agent_pgid FROM dispatch_leases",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?;
        let mut dead = Vec::new();
        for row in rows {
            let (id, pid, start, agent_pid, agent_start, agent_pgid) = row?;
            let alive = same_process(pid, start)
                || matches!((agent_pid, agent_start), (Some(p), Some(s)) if same_process(p, s))
                || agent_pgid
                    .and_then(|g| u32::try_from(g).ok())
                    .is_some_and(group_alive);
            if !alive {
                dead.push(id);
            }
        }
        dead
    };
    for id in dead {
        c.execute("DELETE FROM dispatch_leases WHERE id = ?1", [id])?;
    }
    Ok(())
}

fn log(
    c: &Connection,
    now_ms: i64,
    p: &str,
    a: &str,
    event: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO dispatch_events (ts_ms, provider, account, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms, p, a, event, detail],
    )?;
    Ok(())
}

fn ensure_row(c: &Connection, p: &str, a: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO dispatch_accounts (provider, account) VALUES (?1, ?2)",
        params![p, a],
    )?;
    Ok(())
}

impl DispatchState for Store {
    fn load(&self, accounts: &[(&str, &str)], now_ms: i64) -> Result<Vec<AccountState>> {
        self.immediate(|c| {
            prune_leases(c)?;
            let mut acc = c.prepare_cached(
                "SELECT cooldown_until_ms, cooldown_why, rejected_fingerprint, latency_ewma_ms,
                        latency_samples, last_used_ms
                 FROM dispatch_accounts WHERE provider = ?1 AND account = ?2",
            )?;
            let mut leases = c.prepare_cached(
                "SELECT COUNT(*) FROM dispatch_leases WHERE provider = ?1 AND account = ?2",
            )?;
            let mut out = Vec::with_capacity(accounts.len());
            for (p, a) in accounts {
                let row = acc
                    .query_row(params![p, a], |r| {
                        Ok((
                            r.get::<_, Option<i64>>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<f64>>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, Option<i64>>(5)?,
                        ))
                    })
                    .optional()?;
                let running: i64 = leases.query_row(params![p, a], |r| r.get(0))?;
                let mut s = AccountState {
                    running: u32::try_from(running).unwrap_or(u32::MAX),
                    ..AccountState::default()
                };
                if let Some((until, why, fp, ewma, samples, last)) = row {
                    s.cooldown = match (until, why) {
                        (Some(u), Some(w)) if u > now_ms => Some((w, u)),
                        _ => None,
                    };
                    s.rejected_fingerprint = fp;
                    s.latency_ewma_ms = ewma;
                    s.latency_samples = u32::try_from(samples).unwrap_or(0);
                    s.last_used_ms = last;
                }
                out.push(s);
            }
            Ok(out)
        })
    }

    fn acquire(
        &self,
        provider: &str,
        account: &str,
        max: Option<u32>,
        now_ms: i64,
    ) -> Result<Option<Lease>> {
        let pid = std::process::id();
        let start = process_start(pid).unwrap_or(0);
        self.immediate(|c| {
            prune_leases(c)?;
            if let Some(max) = max {
                let running: i64 = c.query_row(
                    "SELECT COUNT(*) FROM dispatch_leases WHERE provider = ?1 AND account = ?2",
                    params![provider, account],
                    |r| r.get(0),
                )?;
                if running >= i64::from(max) {
                    return Ok(None);
                }
            }
            c.execute(
                "INSERT INTO dispatch_leases (provider, account, pid, pid_start, started_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    provider,
                    account,
                    pid,
                    i64::try_from(start).unwrap_or(0),
                    now_ms
                ],
            )?;
            Ok(Some(Lease(c.last_insert_rowid())))
        })
    }

    fn clear(&self, p: &str, a: &str, now_ms: i64) -> Result<bool> {
        self.immediate(|c| {
            let n = c.execute(
                "UPDATE dispatch_accounts SET rejected_fingerprint = NULL, rejected_ms = NULL,
                    cooldown_until_ms = NULL, cooldown_why = NULL, cooldown_level = 0
                 WHERE provider = ?1 AND account = ?2
                   AND (rejected_fingerprint IS NOT NULL OR cooldown_until_ms > ?3)",
                params![p, a, now_ms],
            )?;
            if n > 0 {
                log(c, now_ms, p, a, "cleared", "by the user")?;
            }
            Ok(n > 0)
        })
    }

    fn attach(&self, lease: Lease, pid: u32, own_group: bool) -> Result<()> {
        let start = process_start(pid).and_then(|s| i64::try_from(s).ok());
        self.immediate(|c| {
            c.execute(
                "UPDATE dispatch_leases SET agent_pid = ?2, agent_start = ?3, agent_pgid = ?4
                 WHERE id = ?1",
                params![lease.0, pid, start, own_group.then_some(pid)],
            )?;
            Ok(())
        })
    }

    fn release(&self, lease: Lease) -> Result<()> {
        self.immediate(|c| {
            c.execute("DELETE FROM dispatch_leases WHERE id = ?1", [lease.0])?;
            Ok(())
        })
    }

    fn record(
        &self,
        p: &str,
        a: &str,
        event: &Event,
        started_ms: i64,
        now_ms: i64,
    ) -> Result<Change> {
        self.immediate(|c| {
            ensure_row(c, p, a)?;
            let (until, why, level, set_ms, fp): (Option<i64>, Option<String>, i64, Option<i64>, Option<String>) =
                c.query_row(
                    "SELECT cooldown_until_ms, cooldown_why, cooldown_level, cooldown_set_ms,
                            rejected_fingerprint
                     FROM dispatch_accounts WHERE provider = ?1 AND account = ?2",
                    params![p, a],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )?;
            // Another task in flight already reported this after our attempt began.
            let already = set_ms.is_some_and(|s| s >= started_ms) && until.is_some_and(|u| u > now_ms);
            let active = until.filter(|u| *u > now_ms);
            let unchanged = Change {
                changed: false,
                until_ms: active,
            };
            c.execute(
                "UPDATE dispatch_accounts SET last_used_ms = ?3 WHERE provider = ?1 AND account = ?2",
                params![p, a, now_ms],
            )?;
            match event {
                Event::Success { duration_ms } => {
                    c.execute(
                        "UPDATE dispatch_accounts SET
                            latency_ewma_ms = CASE WHEN latency_ewma_ms IS NULL THEN ?3
                                ELSE ?4 * ?3 + (1.0 - ?4) * latency_ewma_ms END,
                            latency_samples = latency_samples + 1,
                            cooldown_level = CASE WHEN cooldown_until_ms IS NULL
                                OR cooldown_until_ms <= ?5 THEN 0 ELSE cooldown_level END
                         WHERE provider = ?1 AND account = ?2",
                        params![p, a, *duration_ms as f64, EWMA_ALPHA, now_ms],
                    )?;
                    // It worked: holds placed before this attempt began no longer apply.
                    let lifted = c.execute(
                        "UPDATE dispatch_accounts SET rejected_fingerprint = NULL,
                            cooldown_until_ms = NULL, cooldown_why = NULL, cooldown_level = 0
                         WHERE provider = ?1 AND account = ?2
                           AND (rejected_fingerprint IS NOT NULL
                                OR (cooldown_until_ms > ?4 AND cooldown_set_ms < ?3))",
                        params![p, a, started_ms, now_ms],
                    )?;
                    if lifted > 0 {
                        log(c, now_ms, p, a, "cleared", "a run succeeded")?;
                    }
                    Ok(Change {
                        changed: false,
                        until_ms: None,
                    })
                }
                Event::Ran => Ok(unchanged),
                // A burst: another task in flight set a hold after this attempt began. Its 429
                // says nothing new (and must not double the backoff).
                Event::RateLimited { .. } if already => Ok(unchanged),
                Event::RateLimited { until_ms } => {
                    let prev_level = if why.as_deref() == Some("rate_limited") {
                        u32::try_from(level).unwrap_or(0)
                    } else {
                        0
                    };
                    let (new_level, ms) = backoff(prev_level, until, now_ms);
                    let end = until_ms.unwrap_or(now_ms + ms);
                    // Never shorten a longer hold (an exhausted quota) already in place.
                    if active.is_some_and(|u| u >= end) {
                        return Ok(unchanged);
                    }
                    c.execute(
                        "UPDATE dispatch_accounts SET cooldown_until_ms = ?3, cooldown_why = 'rate_limited',
                            cooldown_level = ?4, cooldown_set_ms = ?5
                         WHERE provider = ?1 AND account = ?2",
                        params![p, a, end, new_level, now_ms],
                    )?;
                    let detail = match until_ms {
                        Some(_) => format!("until {end} (provider's retry time)"),
                        None => format!("until {end} (backoff level {new_level})"),
                    };
                    log(c, now_ms, p, a, "rate_limited", &detail)?;
                    Ok(Change {
                        changed: true,
                        until_ms: Some(end),
                    })
                }
                // An exhausted quota outlasts whatever shorter hold is in place (a rate limit
                // another task saw first), and is recorded once however many tasks see it.
                Event::QuotaExhausted { until_ms }
                    if active.is_some_and(|u| u >= *until_ms)
                        || (already && why.as_deref() == Some("quota_exhausted")) =>
                {
                    Ok(unchanged)
                }
                Event::QuotaExhausted { until_ms } => {
                    c.execute(
                        "UPDATE dispatch_accounts SET cooldown_until_ms = ?3, cooldown_why = 'quota_exhausted',
                            cooldown_set_ms = ?4
                         WHERE provider = ?1 AND account = ?2",
                        params![p, a, until_ms, now_ms],
                    )?;
                    log(c, now_ms, p, a, "quota_exhausted", &format!("until {until_ms}"))?;
                    Ok(Change {
                        changed: true,
                        until_ms: Some(*until_ms),
                    })
                }
                Event::Rejected { fingerprint } => {
                    if fp.as_deref() == Some(fingerprint.as_str()) {
                        return Ok(unchanged);
                    }
                    c.execute(
                        "UPDATE dispatch_accounts SET rejected_fingerprint = ?3, rejected_ms = ?4
                         WHERE provider = ?1 AND account = ?2",
                        params![p, a, fingerprint, now_ms],
                    )?;
                    log(c, now_ms, p, a, "credential_rejected", "")?;
                    Ok(Change {
                        changed: true,
                        until_ms: None,
                    })
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&d.path().join("x.db")).expect("open");
        (d, s)
    }

    #[test]
    fn cooldowns_back_off_and_a_burst_counts_once() {
        let (_d, s) = store();
        let t0 = 1_000_000_000;
        // Three tasks started at t0 all hit a 429 at t0+5s.
        let first = s
            .record(
                "c",
                "a",
                &Event::RateLimited { until_ms: None },
                t0,
                t0 + 5000,
            )
            .expect("record");
        assert_eq!(
            first,
            Change {
                changed: true,
                until_ms: Some(t0 + 5000 + 60_000)
            }
        );
        for _ in 0..2 {
            let c = s
                .record(
                    "c",
                    "a",
                    &Event::RateLimited { until_ms: None },
                    t0,
                    t0 + 5100,
                )
                .expect("record");
            assert!(!c.changed);
        }
        let n: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM dispatch_events", [], |r| r.get(0))
            .expect("events");
        assert_eq!(n, 1);
        let st = s.load(&[("c", "a")], t0 + 6000).expect("load");
        assert_eq!(
            st[0].cooldown,
            Some(("rate_limited".to_string(), t0 + 65_000))
        );
        // Expired: not in cooldown. A new task's 429 doubles the backoff.
        let later = t0 + 70_000;
        assert_eq!(
            s.load(&[("c", "a")], later).expect("load")[0].cooldown,
            None
        );
        let c = s
            .record(
                "c",
                "a",
                &Event::RateLimited { until_ms: None },
                later,
                later + 1,
            )
            .expect("record");
        assert_eq!(c.until_ms, Some(later + 1 + 120_000));
        // A success after the cooldown resets the level.
        let after = later + 200_000;
        s.record(
            "c",
            "a",
            &Event::Success { duration_ms: 1000 },
            after,
            after + 1000,
        )
        .expect("record");
        let c = s
            .record(
                "c",
                "a",
                &Event::RateLimited { until_ms: None },
                after + 2000,
                after + 2000,
            )
            .expect("record");
        assert_eq!(c.until_ms, Some(after + 2000 + 60_000));
    }

    #[test]
    fn an_exhausted_quota_outlasts_a_shorter_hold_and_is_never_shortened() {
        let (_d, s) = store();
        let t0 = 2_000_000_000;
        let hour = 3_600_000;
        // Task A (started t0) is rate limited for 30 s; task B, in flight since t0 too, then
        // finds the quota exhausted for an hour: the hour wins.
        let a = s
            .record(
                "c",
                "a",
                &Event::RateLimited {
                    until_ms: Some(t0 + 30_000),
                },
                t0,
                t0 + 1000,
            )
            .expect("record");
        assert!(a.changed);
        let b = s
            .record(
                "c",
                "a",
                &Event::QuotaExhausted {
                    until_ms: t0 + hour,
                },
                t0,
                t0 + 2000,
            )
            .expect("record");
        assert_eq!(
            b,
            Change {
                changed: true,
                until_ms: Some(t0 + hour)
            }
        );
        // Others of the burst seeing the exhausted quota change nothing.
        let again = s
            .record(
                "c",
                "a",
                &Event::QuotaExhausted {
                    until_ms: t0 + hour + 5,
                },
                t0,
                t0 + 2500,
            )
            .expect("record");
        assert!(!again.changed);
        // A 429 seen afterwards, by a task that started after the hold, does not shorten it.
        let c = s
            .record(
                "c",
                "a",
                &Event::RateLimited {
                    until_ms: Some(t0 + 60_000),
                },
                t0 + 3000,
                t0 + 4000,
            )
            .expect("record");
        assert_eq!(c.until_ms, Some(t0 + hour));
        assert!(!c.changed);
        let st = s.load(&[("c", "a")], t0 + 5000).expect("load");
        assert_eq!(
            st[0].cooldown,
            Some(("quota_exhausted".to_string(), t0 + hour))
        );
    }

    #[test]
    fn latency_ewma_and_rejections() {
        let (_d, s) = store();
        s.record("c", "a", &Event::Success { duration_ms: 1000 }, 0, 10)
            .expect("r");
        s.record("c", "a", &Event::Success { duration_ms: 2000 }, 20, 30)
            .expect("r");
        let st = &s.load(&[("c", "a"), ("c", "b")], 40).expect("load");
        assert!((st[0].latency_ewma_ms.expect("ewma") - 1300.0).abs() < 1e-9);
        assert_eq!(st[0].latency_samples, 2);
        assert_eq!(st[0].last_used_ms, Some(30));
        assert_eq!(st[1], AccountState::default());
        let r = Event::Rejected {
            fingerprint: "f1".into(),
        };
        assert!(s.record("c", "a", &r, 50, 60).expect("r").changed);
        assert!(!s.record("c", "a", &r, 50, 61).expect("r").changed);
        assert_eq!(
            s.load(&[("c", "a")], 70).expect("l")[0]
                .rejected_fingerprint
                .as_deref(),
            Some("f1")
        );
    }

    #[test]
    fn leases_respect_max_and_dead_holders_are_reclaimed() {
        let (_d, s) = store();
        let l1 = s.acquire("c", "a", Some(2), 0).expect("a").expect("lease");
        let _l2 = s.acquire("c", "a", Some(2), 0).expect("a").expect("lease");
        assert_eq!(s.acquire("c", "a", Some(2), 0).expect("a"), None);
        assert_eq!(s.load(&[("c", "a")], 0).expect("l")[0].running, 2);
        s.release(l1).expect("release");
        assert!(s.acquire("c", "a", Some(2), 0).expect("a").is_some());
        // A lease of a process that no longer exists does not count.
        s.conn
            .execute(
                "INSERT INTO dispatch_leases (provider, account, pid, pid_start, started_ms) VALUES ('c', 'b', 2147483000, 1, 0)",
                [],
            )
            .expect("insert");
        assert_eq!(s.load(&[("c", "b")], 0).expect("l")[0].running, 0);
    }
}
