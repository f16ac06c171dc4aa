//! The usage part of the ledger: accounts, events, file cursors, quota observations.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};

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
    /// Hash of the bytes just before `offset` (see [`crate::usage::scan`]): they never change
    /// in a file that is only appended to.
    pub tail_hash: Option<u64>,
    /// Lines up to `offset` that could not be parsed, since the file was last read from its
    /// start: usage they held is missing from the ledger.
    pub corrupt: u64,
    /// Lines up to `offset` skipped as longer than the line limit, likewise.
    pub oversized: u64,
}

/// Lines an account's log reading skipped (see [`Store::skipped_lines`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkippedLines {
    /// Lines that could not be parsed.
    pub corrupt: u64,
    /// Lines over the line limit.
    pub oversized: u64,
    /// The first file (by path) with any.
    pub first_file: Option<String>,
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

    /// Lines of an account's logs that were skipped as it was read (unparsable, oversized),
    /// summed over its files that still exist, with the first (by path) holding any. A log
    /// deleted since no longer counts: nothing can be done about it.
    pub fn skipped_lines(&self, account: i64) -> Result<SkippedLines> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT path, corrupt, oversized FROM usage_files
                 WHERE account = ?1 AND corrupt + oversized > 0 ORDER BY path",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map([account], |r| {
                Ok((r.get::<_, String>(0)?, u(r.get(1)?), u(r.get(2)?)))
            })
            .map_err(|e| db_err(&self.path, e))?;
        let mut out = SkippedLines::default();
        for row in rows {
            let (path, corrupt, oversized) = row.map_err(|e| db_err(&self.path, e))?;
            // `x:<hex>` keys name paths that are not UTF-8: kept, as they cannot be checked.
            if !path.starts_with("x:") && !std::path::Path::new(&path).exists() {
                continue;
            }
            out.corrupt += corrupt;
            out.oversized += oversized;
            out.first_file.get_or_insert(path);
        }
        Ok(out)
    }

    /// Every file cursor of an account, by path.
    pub fn cursors(&self, account: i64) -> Result<HashMap<String, Cursor>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT path, dev, ino, size, mtime_ns, offset, state, tail_hash, corrupt,
                        oversized
                 FROM usage_files WHERE account = ?1",
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
                        tail_hash: r.get::<_, Option<i64>>(7)?.map(|h| h as u64),
                        corrupt: u(r.get(8)?),
                        oversized: u(r.get(9)?),
                    },
                ))
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<HashMap<_, _>, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    /// Stores a scan's results in one transaction: events (an existing one is replaced only
    /// by a larger revision), the daily totals they change, cursors and observations.
    ///
    /// `events` come with the tool that logged them, each key once, in ascending order of
    /// `key as i64`: sorted keys turn B-tree inserts into appends, several times faster on a
    /// cold scan.
    pub fn save_scan<'e>(
        &mut self,
        account: i64,
        events: impl IntoIterator<Item = (&'static str, &'e Event)>,
        cursors: &[(String, &'static str, Cursor)],
        observations: &[(&'static str, Observation)],
    ) -> Result<()> {
        let tool_events = events.into_iter();
        let path = self.path.clone();
        // IMMEDIATE: take the write lock up front. A read transaction that later wants to
        // write fails at once when another process wrote in between; this one waits.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let mut daily: HashMap<(i64, &str, Arc<str>), Delta> = HashMap::new();
        let mut changed: Vec<(&'static str, &Event)> =
            Vec::with_capacity(tool_events.size_hint().0);
        {
            let any: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM usage_events WHERE account = ?1)",
                    [account],
                    |r| r.get(0),
                )
                .map_err(|e| db_err(&path, e))?;
            if !any {
                // First scan of this account: everything is new.
                for te in tool_events {
                    add(&mut daily, te.0, te.1, 1);
                    changed.push(te);
                }
            } else {
                let mut old = tx
                    .prepare_cached(
                        "SELECT revision, ts_ms, tool, model, input, output, cache_read, cache_write,
                                reasoning, cost, requests
                         FROM usage_events WHERE account = ?1 AND key = ?2",
                    )
                    .map_err(|e| db_err(&path, e))?;
                for te in tool_events {
                    let prev = old
                        .query_row(params![account, te.1.key as i64], |r| {
                            let tool: String = r.get(2)?;
                            Ok((
                                r.get::<_, i64>(0)?,
                                tool,
                                Event {
                                    key: te.1.key,
                                    revision: r.get(0)?,
                                    timestamp_ms: r.get(1)?,
                                    model: Arc::from(r.get::<_, String>(3)?.as_str()),
                                    input: u(r.get(4)?),
                                    output: u(r.get(5)?),
                                    cache_read: u(r.get(6)?),
                                    cache_write: u(r.get(7)?),
                                    reasoning: u(r.get(8)?),
                                    cost_usd: r.get(9)?,
                                    requests: u(r.get(10)?),
                                },
                            ))
                        })
                        .optional()
                        .map_err(|e| db_err(&path, e))?;
                    match prev {
                        None => {
                            add(&mut daily, te.0, te.1, 1);
                            changed.push(te);
                        }
                        Some((rev, tool, o)) if te.1.revision > rev => {
                            let tool: &'static str = crate::usage::tool_name(&tool);
                            add(&mut daily, tool, &o, -1);
                            add(&mut daily, te.0, te.1, 1);
                            changed.push(te);
                        }
                        Some(_) => {}
                    }
                }
            }
            insert_events(&tx, &path, account, &changed)?;
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO usage_daily (account, day, tool, model, input, output, cache_read,
                        cache_write, reasoning, cost, cost_events, requests, events)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (account, day, tool, model) DO UPDATE SET
                        input = input + excluded.input, output = output + excluded.output,
                        cache_read = cache_read + excluded.cache_read,
                        cache_write = cache_write + excluded.cache_write,
                        reasoning = reasoning + excluded.reasoning, cost = cost + excluded.cost,
                        cost_events = cost_events + excluded.cost_events,
                        requests = requests + excluded.requests, events = events + excluded.events",
                )
                .map_err(|e| db_err(&path, e))?;
            for ((day, tool, model), d) in &daily {
                up.execute(params![
                    account,
                    day,
                    tool,
                    &**model,
                    d.input,
                    d.output,
                    d.cache_read,
                    d.cache_write,
                    d.reasoning,
                    d.cost,
                    d.cost_events,
                    d.requests,
                    d.events
                ])
                .map_err(|e| db_err(&path, e))?;
            }
            tx.execute(
                "DELETE FROM usage_daily WHERE account = ?1 AND events <= 0",
                [account],
            )
            .map_err(|e| db_err(&path, e))?;
            let mut cur = tx
                .prepare_cached(
                    "INSERT INTO usage_files (account, path, tool, dev, ino, size, mtime_ns, offset, state,
                        tail_hash, corrupt, oversized)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (account, path) DO UPDATE SET tool = excluded.tool, dev = excluded.dev,
                        ino = excluded.ino, size = excluded.size, mtime_ns = excluded.mtime_ns,
                        offset = excluded.offset, state = excluded.state,
                        tail_hash = excluded.tail_hash, corrupt = excluded.corrupt,
                        oversized = excluded.oversized",
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
                    state,
                    c.tail_hash.map(|h| h as i64),
                    i(c.corrupt),
                    i(c.oversized)
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

    /// Totals grouped by SQL expressions over `usage_daily d JOIN accounts a` (with `day`
    /// in days since the epoch), within [since, until) in Unix ms, for some accounts. Bounds
    /// must fall on UTC midnights ([`Store::usage_totals_exact`] takes any instant).
    pub fn usage_totals(
        &self,
        group_exprs: &[&str],
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        accounts: &[i64],
    ) -> Result<Vec<UsageRow>> {
        let since = since_ms.map_or(i64::MIN, |m| m.div_euclid(DAY_MS));
        let until = until_ms.map_or(i64::MAX, |m| m.div_euclid(DAY_MS));
        self.totals(
            "usage_daily",
            "d.day",
            "SUM(d.input), SUM(d.output), SUM(d.cache_read), SUM(d.cache_write), SUM(d.reasoning),
             TOTAL(d.cost), SUM(d.cost_events), SUM(d.requests), SUM(d.events)",
            group_exprs,
            since,
            until,
            accounts,
        )
    }

    /// Like [`Store::usage_totals`] over every event (`usage_events d`, `d.day` computed), for
    /// bounds inside a day.
    pub fn usage_totals_exact(
        &self,
        group_exprs: &[&str],
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        accounts: &[i64],
    ) -> Result<Vec<UsageRow>> {
        self.totals(
            "(SELECT *, ts_ms / 86400000 AS day FROM usage_events)",
            "d.ts_ms",
            "SUM(d.input), SUM(d.output), SUM(d.cache_read), SUM(d.cache_write), SUM(d.reasoning),
             TOTAL(d.cost), COUNT(d.cost), SUM(d.requests), COUNT(*)",
            group_exprs,
            since_ms.unwrap_or(i64::MIN),
            until_ms.unwrap_or(i64::MAX),
            accounts,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn totals(
        &self,
        table: &str,
        time_col: &str,
        sums: &str,
        group_exprs: &[&str],
        since: i64,
        until: i64,
        accounts: &[i64],
    ) -> Result<Vec<UsageRow>> {
        let select_groups = if group_exprs.is_empty() {
            "'all'".to_string()
        } else {
            group_exprs.join(", ")
        };
        let positions = (1..=group_exprs.len())
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let group_by = if group_exprs.is_empty() {
            String::new()
        } else {
            format!("GROUP BY {positions} ORDER BY {positions}")
        };
        let ids = if accounts.is_empty() {
            "NULL".to_string()
        } else {
            accounts
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let sql = format!(
            "SELECT {select_groups}, {sums}
             FROM {table} d JOIN accounts a ON a.id = d.account
             WHERE {time_col} >= ?1 AND {time_col} < ?2 AND d.account IN ({ids}) {group_by}"
        );
        let n = group_exprs.len().max(1);
        let mut st = self.conn.prepare(&sql).map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map(params![since, until], |r| {
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
                let opt = |k: usize| -> rusqlite::Result<u64> {
                    Ok(u(r.get::<_, Option<i64>>(k)?.unwrap_or(0)))
                };
                let cost_events = opt(n + 6)?;
                Ok(UsageRow {
                    group,
                    input: opt(n)?,
                    output: opt(n + 1)?,
                    cache_read: opt(n + 2)?,
                    cache_write: opt(n + 3)?,
                    reasoning: opt(n + 4)?,
                    cost_usd: if cost_events > 0 { r.get(n + 5)? } else { None },
                    requests: opt(n + 7)?,
                    events: opt(n + 8)?,
                })
            })
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

    /// Records that a scan of `account`'s usage finished at `at_ms`. With `changed == false`
    /// (the scan found nothing new) only a first record is written, so an idle `status
    /// --watch` does not write the ledger every second.
    pub fn mark_scanned(&self, account: i64, at_ms: i64, changed: bool) -> Result<()> {
        if !changed && self.last_scan_ms(account)?.is_some() {
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT INTO usage_scans (account, completed_ms) VALUES (?1, ?2)
                 ON CONFLICT (account) DO UPDATE SET completed_ms = excluded.completed_ms",
                params![account, at_ms],
            )
            .map_err(|e| db_err(&self.path, e))?;
        Ok(())
    }

    /// When a scan of `account`'s usage last finished (0: before xnai recorded the time);
    /// `None` when none ever has.
    pub fn last_scan_ms(&self, account: i64) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT completed_ms FROM usage_scans WHERE account = ?1",
                [account],
                |r| r.get(0),
            )
            .optional()
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

const DAY_MS: i64 = 86_400_000;

/// A change to one daily total.
#[derive(Default)]
struct Delta {
    input: i64,
    output: i64,
    cache_read: i64,
    cache_write: i64,
    reasoning: i64,
    cost: f64,
    cost_events: i64,
    requests: i64,
    events: i64,
}

/// Adds (`sign` 1) or removes (`sign` -1) an event's counts to its day's total.
fn add(
    daily: &mut HashMap<(i64, &'static str, Arc<str>), Delta>,
    tool: &'static str,
    e: &Event,
    sign: i64,
) {
    let d = daily
        .entry((
            e.timestamp_ms.div_euclid(DAY_MS),
            tool,
            Arc::clone(&e.model),
        ))
        .or_default();
    d.input += sign * i(e.input);
    d.output += sign * i(e.output);
    d.cache_read += sign * i(e.cache_read);
    d.cache_write += sign * i(e.cache_write);
    d.reasoning += sign * i(e.reasoning);
    if let Some(c) = e.cost_usd {
        d.cost += sign as f64 * c;
        d.cost_events += sign;
    }
    d.requests += sign * i(e.requests);
    d.events += sign;
}

/// Rows per INSERT: many rows per statement cut SQLite's per-statement overhead.
const BATCH: usize = 64;
const COLUMNS: usize = 13;

fn insert_sql(rows: usize) -> String {
    let one = format!(
        "({})",
        (0..COLUMNS).map(|_| "?").collect::<Vec<_>>().join(",")
    );
    format!(
        "INSERT INTO usage_events (account, key, tool, revision, ts_ms, model, input, output,
            cache_read, cache_write, reasoning, cost, requests)
         VALUES {}
         ON CONFLICT (account, key) DO UPDATE SET
            tool = excluded.tool, revision = excluded.revision, ts_ms = excluded.ts_ms,
            model = excluded.model, input = excluded.input, output = excluded.output,
            cache_read = excluded.cache_read, cache_write = excluded.cache_write,
            reasoning = excluded.reasoning, cost = excluded.cost, requests = excluded.requests
         WHERE excluded.revision > usage_events.revision",
        vec![one; rows].join(",")
    )
}

fn insert_events(
    tx: &Transaction<'_>,
    path: &Path,
    account: i64,
    events: &[(&'static str, &Event)],
) -> Result<()> {
    for chunk in events.chunks(BATCH) {
        let mut st = tx
            .prepare_cached(&insert_sql(chunk.len()))
            .map_err(|e| db_err(path, e))?;
        let mut k = 1;
        for &(tool, e) in chunk {
            let bind =
                |st: &mut rusqlite::CachedStatement<'_>, k: usize, v: &dyn rusqlite::ToSql| {
                    st.raw_bind_parameter(k, v)
                };
            bind(&mut st, k, &account).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 1, &(e.key as i64)).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 2, &tool).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 3, &e.revision).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 4, &e.timestamp_ms).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 5, &&*e.model).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 6, &i(e.input)).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 7, &i(e.output)).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 8, &i(e.cache_read)).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 9, &i(e.cache_write)).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 10, &i(e.reasoning)).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 11, &e.cost_usd).map_err(|e| db_err(path, e))?;
            bind(&mut st, k + 12, &i(e.requests)).map_err(|e| db_err(path, e))?;
            k += COLUMNS;
        }
        st.raw_execute().map_err(|e| db_err(path, e))?;
    }
    Ok(())
}
