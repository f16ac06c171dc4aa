//! The usage part of the ledger: accounts, events, file cursors, quota observations.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Store, db_err};
use crate::error::Result;
use crate::usage::{Event, FileState, Observation};

/// What xnai remembers about a log file between scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Device of the file when last read.
    pub dev: u64,
    /// Inode of the file when last read.
    pub ino: u64,
    /// Size when last read.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Offset after the last complete line read.
    pub offset: u64,
    /// The format's parsing state at `offset`.
    pub state: FileState,
}

/// One aggregated row of `xnai usage`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsageRow {
    /// The group's values, in the order asked for.
    pub group: Vec<String>,
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes.
    pub cache_write: u64,
    /// Reasoning (part of output).
    pub reasoning: u64,
    /// Sum of recorded costs (USD); `None` when no event recorded one.
    pub cost_usd: Option<f64>,
    /// Requests.
    pub requests: u64,
    /// Distinct events.
    pub events: u64,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// The ledger's id for an account, created on first use.
    pub fn account_id(&self, provider: &str, account: &str) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO accounts (provider, account) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![provider, account],
            )
            .map_err(|e| db_err(&self.path, e))?;
        self.conn
            .query_row(
                "SELECT id FROM accounts WHERE provider = ?1 AND account = ?2",
                params![provider, account],
                |r| r.get(0),
            )
            .map_err(|e| db_err(&self.path, e))
    }

    /// Every file cursor of an account, by path.
    pub fn cursors(&self, account: i64) -> Result<HashMap<String, Cursor>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT path, dev, ino, size, mtime_ns, offset, state FROM usage_files WHERE account = ?1",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map([account], |r| {
                let state: String = r.get(6)?;
                Ok((
                    r.get::<_, String>(0)?,
                    Cursor {
                        dev: u(r.get(1)?),
                        ino: u(r.get(2)?),
                        size: u(r.get(3)?),
                        mtime_ns: r.get(4)?,
                        offset: u(r.get(5)?),
                        state: serde_json::from_str(&state).unwrap_or_default(),
                    },
                ))
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<HashMap<_, _>, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    /// Stores a scan's results in one transaction: events (sorted by key for fast inserts;
    /// an existing event is replaced only by a larger revision), cursors and observations.
    pub fn save_scan(
        &mut self,
        account: i64,
        tool_events: &mut [(&'static str, Event)],
        cursors: &[(String, &'static str, Cursor)],
        observations: &[(&'static str, Observation)],
    ) -> Result<()> {
        tool_events.sort_unstable_by_key(|(_, e)| e.key as i64);
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO usage_events (account, key, tool, revision, ts_ms, model, input, output,
                        cache_read, cache_write, reasoning, cost, requests)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (account, key) DO UPDATE SET
                        tool = excluded.tool, revision = excluded.revision, ts_ms = excluded.ts_ms,
                        model = excluded.model, input = excluded.input, output = excluded.output,
                        cache_read = excluded.cache_read, cache_write = excluded.cache_write,
                        reasoning = excluded.reasoning, cost = excluded.cost, requests = excluded.requests
                     WHERE excluded.revision > usage_events.revision",
                )
                .map_err(|e| db_err(&path, e))?;
            for (tool, e) in tool_events.iter() {
                ins.execute(params![
                    account,
                    e.key as i64,
                    tool,
                    e.revision,
                    e.timestamp_ms,
                    e.model,
                    i(e.input),
                    i(e.output),
                    i(e.cache_read),
                    i(e.cache_write),
                    i(e.reasoning),
                    e.cost_usd,
                    i(e.requests),
                ])
                .map_err(|e| db_err(&path, e))?;
            }
            let mut cur = tx
                .prepare_cached(
                    "INSERT INTO usage_files (account, path, tool, dev, ino, size, mtime_ns, offset, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (account, path) DO UPDATE SET tool = excluded.tool, dev = excluded.dev,
                        ino = excluded.ino, size = excluded.size, mtime_ns = excluded.mtime_ns,
                        offset = excluded.offset, state = excluded.state",
                )
                .map_err(|e| db_err(&path, e))?;
            for (p, tool, c) in cursors {
                let state = serde_json::to_string(&c.state).unwrap_or_else(|_| "{}".to_string());
                cur.execute(params![
                    account,
                    p,
                    tool,
                    i(c.dev),
                    i(c.ino),
                    i(c.size),
                    c.mtime_ns,
                    i(c.offset),
                    state
                ])
                .map_err(|e| db_err(&path, e))?;
            }
            let mut obs = tx
                .prepare_cached(
                    "INSERT INTO quota_observations (account, source, window, observed_ms, used_percent,
                        window_minutes, resets_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )
                .map_err(|e| db_err(&path, e))?;
            for (tool, o) in observations {
                obs.execute(params![
                    account,
                    tool,
                    o.window,
                    o.observed_ms,
                    o.used_percent,
                    o.window_minutes,
                    o.resets_at_ms
                ])
                .map_err(|e| db_err(&path, e))?;
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }

    /// Totals grouped by SQL expressions over `usage_events e JOIN accounts a`, within
    /// [since, until) in Unix ms, optionally for some accounts only.
    pub fn usage_totals(
        &self,
        group_exprs: &[&str],
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        accounts: Option<&[i64]>,
    ) -> Result<Vec<UsageRow>> {
        let select_groups = if group_exprs.is_empty() {
            "'all'".to_string()
        } else {
            group_exprs.join(", ")
        };
        let group_by = if group_exprs.is_empty() {
            String::new()
        } else {
            format!(
                "GROUP BY {} ORDER BY {}",
                (1..=group_exprs.len())
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                (1..=group_exprs.len())
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let account_filter = match accounts {
            Some(ids) if !ids.is_empty() => format!(
                " AND e.account IN ({})",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
            Some(_) => " AND 0".to_string(),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {select_groups}, SUM(e.input), SUM(e.output), SUM(e.cache_read), SUM(e.cache_write),
                    SUM(e.reasoning), SUM(e.cost), COUNT(e.cost), SUM(e.requests), COUNT(*)
             FROM usage_events e JOIN accounts a ON a.id = e.account
             WHERE e.ts_ms >= ?1 AND e.ts_ms < ?2{account_filter} {group_by}"
        );
        let n = group_exprs.len().max(1);
        let mut st = self.conn.prepare(&sql).map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map(
                params![since_ms.unwrap_or(i64::MIN), until_ms.unwrap_or(i64::MAX)],
                |r| {
                    let mut group = Vec::with_capacity(n);
                    for k in 0..n {
                        let v: rusqlite::types::Value = r.get(k)?;
                        group.push(match v {
                            rusqlite::types::Value::Text(t) => t,
                            rusqlite::types::Value::Integer(i) => i.to_string(),
                            rusqlite::types::Value::Real(f) => f.to_string(),
                            _ => String::new(),
                        });
                    }
                    let costs: i64 = r.get(n + 6)?;
                    Ok(UsageRow {
                        group,
                        input: u(r.get::<_, Option<i64>>(n)?.unwrap_or(0)),
                        output: u(r.get::<_, Option<i64>>(n + 1)?.unwrap_or(0)),
                        cache_read: u(r.get::<_, Option<i64>>(n + 2)?.unwrap_or(0)),
                        cache_write: u(r.get::<_, Option<i64>>(n + 3)?.unwrap_or(0)),
                        reasoning: u(r.get::<_, Option<i64>>(n + 4)?.unwrap_or(0)),
                        cost_usd: if costs > 0 { r.get(n + 5)? } else { None },
                        requests: u(r.get::<_, Option<i64>>(n + 7)?.unwrap_or(0)),
                        events: u(r.get(n + 8)?),
                    })
                },
            )
            .map_err(|e| db_err(&self.path, e))?;
        let mut out: Vec<UsageRow> = rows
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| db_err(&self.path, e))?;
        // No events at all: an empty report rather than one row of zeros.
        out.retain(|r| r.events > 0);
        Ok(out)
    }

    /// Every event of some accounts in time order (for 5-hour blocks): (account id, ts, model,
    /// input, output, cache read, cache write, cost).
    pub fn usage_events_ordered(
        &self,
        accounts: &[i64],
        since_ms: Option<i64>,
    ) -> Result<Vec<(i64, Event)>> {
        let mut out = Vec::new();
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT account, key, revision, ts_ms, model, input, output, cache_read, cache_write,
                        reasoning, cost, requests
                 FROM usage_events WHERE account = ?1 AND ts_ms >= ?2 ORDER BY ts_ms",
            )
            .map_err(|e| db_err(&self.path, e))?;
        for a in accounts {
            let rows = st
                .query_map(params![a, since_ms.unwrap_or(i64::MIN)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        Event {
                            key: r.get::<_, i64>(1)? as u64,
                            revision: r.get(2)?,
                            timestamp_ms: r.get(3)?,
                            model: r.get(4)?,
                            input: u(r.get(5)?),
                            output: u(r.get(6)?),
                            cache_read: u(r.get(7)?),
                            cache_write: u(r.get(8)?),
                            reasoning: u(r.get(9)?),
                            cost_usd: r.get(10)?,
                            requests: u(r.get(11)?),
                        },
                    ))
                })
                .map_err(|e| db_err(&self.path, e))?;
            for row in rows {
                out.push(row.map_err(|e| db_err(&self.path, e))?);
            }
        }
        Ok(out)
    }

    /// The latest quota observation per (source, window) of an account.
    pub fn latest_observations(&self, account: i64) -> Result<Vec<(String, Observation)>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT source, window, MAX(observed_ms), used_percent, window_minutes, resets_at_ms
                 FROM quota_observations WHERE account = ?1 GROUP BY source, window ORDER BY source, window",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map([account], |r| {
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

    /// Ids of accounts known to the ledger, with their names.
    pub fn known_accounts(&self) -> Result<Vec<(i64, String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT id, provider, account FROM accounts ORDER BY provider, account")
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    /// The id of an account if the ledger knows it.
    pub fn find_account(&self, provider: &str, account: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT id FROM accounts WHERE provider = ?1 AND account = ?2",
                params![provider, account],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| db_err(&self.path, e))
    }
}
