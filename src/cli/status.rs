//! `xnai status`: every account on one screen — credential, a usage bar per quota window, burn
//! per day, when it runs out, the next reset — refreshed in place with `--watch`.

use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;

use super::Ctx;
use crate::audit::gather;
use crate::audit::{self, AccountAudit, amount};
use crate::check::{State, human_countdown};
use crate::config::QuotaUnit;
use crate::error::{Result, exit};
use crate::output::{self, Cell, Table, style};
use crate::quota::{Status, WindowQuota};

/// Arguments of `xnai status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Redraw every SECONDS seconds until interrupted
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,

    /// Print JSON instead of the table
    #[arg(long)]
    pub json: bool,

    /// Seconds one account's usage collection may take
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub timeout: u64,

    /// Show the state as of this day (its end, UTC) or RFC 3339 instant instead of now
    #[arg(long, value_name = "WHEN", conflicts_with = "watch")]
    pub as_of: Option<String>,
}

#[derive(Serialize)]
struct StatusJson {
    as_of: String,
    accounts: Vec<audit::report::QuotaEntry>,
    /// `provider/account` → the dispatcher's holds on it, for accounts that have any.
    cooldowns: std::collections::BTreeMap<String, Vec<Hold>>,
}

const BAR: usize = 16;

fn bar(w: &WindowQuota) -> Cell {
    let Some(p) = w.percent else {
        // The agent said the limit is reached, without a percentage.
        if w.status == Status::Exhausted {
            return Cell::styled(format!("{:<BAR$}  exhausted", ""), style::BAD);
        }
        return Cell::styled(format!("{:<BAR$}  unknown", ""), style::DIM);
    };
    // Rounded down like the figure beside it.
    let filled = ((p.clamp(0.0, 100.0) / 100.0) * BAR as f64).floor() as usize;
    let text = format!(
        "{}{} {:>4}%",
        "█".repeat(filled),
        "░".repeat(BAR - filled),
        output::whole_percent(p)
    );
    let st = match w.status {
        Status::Active => style::OK,
        Status::Warning => style::WARN,
        Status::Critical | Status::Exhausted => style::BAD,
        Status::Unknown => style::DIM,
    };
    Cell::styled(text, st)
}

fn span_from(now_ms: i64, t_ms: i64) -> String {
    let d = jiff::SignedDuration::from_millis(t_ms - now_ms);
    if t_ms <= now_ms {
        "now".to_string()
    } else {
        format!("in {}", human_countdown(d))
    }
}

/// The CREDENTIAL cell: the state with its expiry date (UTC), so a glance tells how long an
/// account stays usable; within 30 days also how long that is.
fn credential_text(state: State, expires_at: Option<&str>, now_ms: i64) -> String {
    let exp = expires_at.and_then(|e| e.parse::<jiff::Timestamp>().ok());
    let day = |t: jiff::Timestamp| t.strftime("%Y-%m-%d").to_string();
    let soon = |t: jiff::Timestamp| {
        let ms = t.as_millisecond();
        if ms - now_ms < 30 * 86_400_000 {
            format!(" ({})", span_from(now_ms, ms))
        } else {
            String::new()
        }
    };
    match (state, exp) {
        (State::Valid, Some(t)) => format!("valid until {}{}", day(t), soon(t)),
        (State::Valid, None) => "valid (no expiry)".to_string(),
        (State::ExpiringSoon, Some(t)) => {
            format!("expires {}{}", t.strftime("%Y-%m-%d %H:%M"), soon(t))
        }
        (State::Expired, Some(t)) => format!("expired {}", day(t)),
        (State::Unverifiable, Some(t)) => format!("unverifiable, until {}", day(t)),
        (s, _) => s.as_str().to_string(),
    }
}

fn credential(a: &AccountAudit, now_ms: i64) -> Cell {
    let state = a.credential.state;
    let text = credential_text(state, a.credential.expires_at.as_deref(), now_ms);
    let st = if state.is_failure() {
        style::BAD
    } else if state == State::ExpiringSoon {
        style::WARN
    } else {
        style::PLAIN
    };
    Cell::styled(text, st)
}

fn render(audits: &[AccountAudit], cooldowns: &[String], now_ms: i64) -> String {
    let mut t = Table::new(&[
        "ACCOUNT",
        "CREDENTIAL",
        "WINDOW",
        "USAGE",
        "USED / LIMIT",
        "BURN/DAY",
        "RUNS OUT",
        "NEXT RESET",
        "COOLDOWN",
    ]);
    for (n, a) in audits.iter().enumerate() {
        let cooldown = cooldowns.get(n).cloned().unwrap_or_else(|| "-".to_string());
        let label = format!("{}/{}", a.provider, a.account);
        let first_cells = |t: &mut Table, rest: Vec<Cell>| {
            let mut cells: Vec<Cell> = vec![label.clone().into(), credential(a, now_ms)];
            cells.extend(rest);
            t.row(cells);
        };
        if !a.enabled {
            first_cells(
                &mut t,
                vec![Cell::styled("disabled", style::DIM)]
                    .into_iter()
                    .chain((0..6).map(|_| Cell::from("")))
                    .collect(),
            );
            continue;
        }
        if a.quota.windows.is_empty() {
            // No limit, so no percentage: what it used this (ISO, UTC) week and its burn.
            let (used, burn) = match &a.quota.usage {
                Some(u) => (
                    format!(
                        "{} this week",
                        amount(u.week.tokens as f64, QuotaUnit::Tokens)
                    ),
                    u.tokens_burn_per_day.map_or_else(
                        || "-".to_string(),
                        |b| amount(b.max(0.0), QuotaUnit::Tokens),
                    ),
                ),
                None => ("unknown".to_string(), "-".to_string()),
            };
            first_cells(
                &mut t,
                vec![
                    "tokens".into(),
                    Cell::styled(format!("{:<BAR$}  no limit", ""), style::DIM),
                    used.into(),
                    burn.into(),
                    "-".into(),
                    "-".into(),
                    cooldown.clone().into(),
                ],
            );
            continue;
        }
        for (i, w) in a.quota.windows.iter().enumerate() {
            let used = match (w.used, w.limit) {
                (Some(u), Some(l)) => format!("{} / {}", amount(u, w.unit), amount(l, w.unit)),
                (None, Some(l)) => format!("? / {}", amount(l, w.unit)),
                _ => "-".to_string(),
            };
            let runs_out = w
                .projection
                .and_then(|p| p.exhaustion_ms)
                .map_or_else(|| "-".to_string(), |t| span_from(now_ms, t));
            let cells = vec![
                w.key().into(),
                bar(w),
                used.into(),
                audit::shown_rate(w).into(),
                runs_out.into(),
                w.next_reset_ms
                    .map_or_else(|| "-".to_string(), |t| span_from(now_ms, t))
                    .into(),
                if i == 0 {
                    cooldown.clone()
                } else {
                    String::new()
                }
                .into(),
            ];
            if i == 0 {
                first_cells(&mut t, cells);
            } else {
                let mut row: Vec<Cell> = vec!["".into(), "".into()];
                row.extend(cells);
                t.row(row);
            }
        }
    }
    t.render()
}

/// One of the dispatcher's holds on an account.
#[derive(Serialize, Clone)]
struct Hold {
    /// `rate_limited`, `quota_exhausted` or `credential_rejected`.
    hold: String,
    /// When it ends (RFC 3339); none for a rejection, which lasts until the credential
    /// changes.
    until: Option<String>,
    #[serde(skip)]
    until_ms: Option<i64>,
}

impl Hold {
    fn describe(&self, now_ms: i64) -> String {
        let what = self.hold.replace('_', " ");
        match self.until_ms {
            Some(t) => format!("{what}, ends {}", span_from(now_ms, t)),
            None => what,
        }
    }
}

/// The dispatcher's holds on each account (COOLDOWN), and its runs in flight (`1 running`,
/// or `busy: 2 of 2 runs` at its `max_concurrent`). A ledger that cannot be read leaves them
/// empty: the usage figures still show.
fn holds(
    store: &crate::store::Store,
    accounts: &[&crate::config::Account],
    now_ms: i64,
) -> Vec<(Vec<Hold>, Option<String>)> {
    use crate::dispatch::state::DispatchState;
    let keys: Vec<(&str, &str)> = accounts
        .iter()
        .map(|a| (a.provider_id.as_str(), a.id.as_str()))
        .collect();
    let Ok(states) = store.load(&keys, now_ms) else {
        return vec![(Vec::new(), None); accounts.len()];
    };
    accounts
        .iter()
        .zip(states)
        .map(|(a, st)| {
            let mut out = Vec::new();
            if st.rejected_fingerprint.as_deref()
                == Some(crate::dispatch::credential_fingerprint(a).as_str())
            {
                out.push(Hold {
                    hold: "credential_rejected".to_string(),
                    until: None,
                    until_ms: None,
                });
            }
            if let Some((why, until)) = st.cooldown {
                out.push(Hold {
                    hold: why,
                    until: Some(output::iso_ms(until)),
                    until_ms: Some(until),
                });
            }
            let running = match (st.running, a.dispatch.max_concurrent) {
                (0, _) => None,
                (n, Some(max)) if n >= max => Some(format!("busy: {n} of {max} runs")),
                (n, _) => Some(format!("{n} running")),
            };
            (out, running)
        })
        .collect()
}

/// Shows the status once, or every `--watch` seconds.
pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let data = ctx.data_dir()?;
    // Reports and tables list accounts by provider, then account: stable whatever the
    // file's order.
    let mut accounts: Vec<&crate::config::Account> = cfg.accounts().collect();
    accounts.sort_by(|x, y| (&x.provider_id, &x.id).cmp(&(&y.provider_id, &y.id)));
    let tty = std::io::stdout().is_terminal();
    let as_of = args.as_of.as_deref().map(super::parse_as_of).transpose()?;
    crate::store::Store::open(&data.ledger())?.quick_check()?;
    loop {
        let now_ms = as_of.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
        let (audits, store) = gather(cfg, &accounts, &data, now_ms, 4, args.timeout, "collecting")?;
        let holds = holds(&store, &accounts, now_ms);
        let cooldowns: Vec<String> = holds
            .iter()
            .map(|(h, r)| {
                let mut parts: Vec<String> = h.iter().map(|x| x.describe(now_ms)).collect();
                parts.extend(r.clone());
                if parts.is_empty() {
                    "-".to_string()
                } else {
                    parts.join("; ")
                }
            })
            .collect();
        if args.json {
            let doc = audit::build(cfg, &audits, Vec::new(), now_ms, now_ms, 0);
            let doc = StatusJson {
                as_of: output::iso_ms(now_ms),
                accounts: doc.quotas,
                cooldowns: accounts
                    .iter()
                    .zip(&holds)
                    .filter(|(_, (h, _))| !h.is_empty())
                    .map(|(a, (h, _))| (a.label(), h.clone()))
                    .collect(),
            };
            if args.watch.is_some() {
                // One document per line (JSON Lines) so a reader can take them one at a time.
                let line = serde_json::to_string(&doc).map_err(|e| {
                    crate::error::Error::usage(format!("JSON: {e}"), None::<String>)
                })?;
                if !output::print_live(&format!("{line}\n"))? {
                    return Ok(exit::OK);
                }
            } else {
                output::print_json(&doc)?;
            }
        } else {
            let mut table = render(&audits, &cooldowns, now_ms);
            // Incomplete figures are marked: the same warnings the audit raises.
            for a in audits.iter().filter_map(audit::collection_alert) {
                table.push_str(&format!(
                    "warning: {}/{}: {}\n",
                    a.provider,
                    a.account,
                    output::sanitize(&a.message)
                ));
            }
            let frame = match args.watch {
                // Home, clear the screen: the table redraws in place.
                Some(secs) if tty => format!(
                    "\x1b[H\x1b[2J{}  (every {secs} s; Ctrl-C to stop)\n\n{table}",
                    output::iso_ms(now_ms)
                ),
                Some(_) => format!("{}\n{table}\n", output::iso_ms(now_ms)),
                None => table,
            };
            if !output::print_live(&frame)? {
                // Nobody reads any more (`| head`): stop instead of collecting forever.
                return Ok(exit::OK);
            }
        }
        match args.watch {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs)),
            None => return Ok(exit::OK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn cooldowns_are_not_truncated_to_the_minute() {
        let h = Hold {
            hold: "rate_limited".to_string(),
            until: None,
            until_ms: Some(NOW + 117_000),
        };
        assert_eq!(h.describe(NOW), "rate limited, ends in 1m 57s");
    }

    #[test]
    fn the_credential_column_shows_the_expiry_date() {
        let c = |s, e: Option<&str>| credential_text(s, e, NOW);
        assert_eq!(
            c(State::Expired, Some("2026-01-15T00:00:00Z")),
            "expired 2026-01-15"
        );
        assert_eq!(
            c(State::Valid, Some("2099-06-30T12:00:00Z")),
            "valid until 2099-06-30"
        );
        assert_eq!(c(State::Valid, None), "valid (no expiry)");
        // Soon: the date and how long is left.
        let in_20_days = jiff::Timestamp::from_millisecond(NOW + 20 * 86_400_000)
            .map(|t| t.to_string())
            .unwrap_or_default();
        assert!(
            c(State::Valid, Some(&in_20_days)).ends_with("(in 20d 0h)"),
            "{}",
            c(State::Valid, Some(&in_20_days))
        );
        assert_eq!(
            c(State::InvalidFormat, Some("2099-06-30T12:00:00Z")),
            "invalid_format"
        );
    }
}
