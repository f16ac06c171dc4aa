//! The daily audit: collect every account's usage (concurrently, each source under a
//! timeout), evaluate its quota windows and credential, raise alerts, and write
//! `ACCOUNT-TRACKING-YYYY-MM-DD.yaml` in the original report's shape.

mod collect;
pub mod report;

pub use collect::{Collected, collect};
pub use report::{Format, ReportDoc, build, file_name, render, write};

use serde::Serialize;

use crate::check::{self, CheckResult, State};
use crate::config::{Account, Config, QuotaUnit};
use crate::error::Result;
use crate::quota::{AccountQuota, Evaluator, Status, WindowQuota};
use crate::store::{Snapshot, Store};

/// Collects every account's usage (progress bar on a terminal) and evaluates it as of
/// `now_ms`: what `audit`, `status` and the dispatcher share. The audits are in the order of
/// `accounts`.
pub fn gather(
    cfg: &Config,
    accounts: &[&Account],
    data: &crate::paths::DataDir,
    now_ms: i64,
    jobs: usize,
    timeout_secs: u64,
    what: &'static str,
) -> Result<(Vec<AccountAudit>, Store)> {
    // Opened first so a ledger that cannot be created stops here with a clear error.
    let store = Store::open(&data.ledger())?;
    let targets = accounts
        .iter()
        .map(|a| crate::usage::target(a, data))
        .collect();
    let labels: Vec<String> = accounts.iter().map(|a| a.label()).collect();
    let collected = {
        let mut bar = crate::output::Progress::new(accounts.len(), what);
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        collect(
            data.ledger(),
            targets,
            jobs.max(1),
            cpus.div_ceil(jobs.max(1)).max(1),
            std::time::Duration::from_secs(timeout_secs.max(1)),
            &mut |i| bar.inc(labels.get(i).map_or("", String::as_str)),
        )
    };
    let audits = evaluate(cfg, accounts, collected, &store, now_ms)?;
    Ok((audits, store))
}

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Act soon.
    Warning,
    /// Act now: the account is unusable or about to be.
    Critical,
}

/// Something the user should act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// How serious.
    pub level: Level,
    /// Provider id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub action: String,
}

/// One account in the audit.
#[derive(Debug, Clone)]
pub struct AccountAudit {
    /// Provider id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// Display name.
    pub name: Option<String>,
    /// Provider kind.
    pub kind: &'static str,
    /// `enabled`.
    pub enabled: bool,
    /// The offline credential check.
    pub credential: CheckResult,
    /// Quota windows.
    pub quota: AccountQuota,
    /// What collecting its usage did.
    pub collected: Collected,
    /// Whether any scan of its usage has ever finished: if not, its usage is unknown.
    pub ever_scanned: bool,
    /// Lines of its logs skipped as they were read.
    pub skipped_lines: crate::store::SkippedLines,
}

/// Evaluates every account as of `now_ms`, in the order of `accounts` (callers pair the
/// results with their accounts by position).
pub fn evaluate(
    config: &Config,
    accounts: &[&Account],
    collected: Vec<Collected>,
    store: &Store,
    now_ms: i64,
) -> Result<Vec<AccountAudit>> {
    let now = jiff::Timestamp::from_millisecond(now_ms).unwrap_or_else(|_| jiff::Timestamp::now());
    let eval = Evaluator::new(store, config, now_ms);
    let buffer = config.token_validation.refresh_buffer_minutes;
    let mut out = Vec::with_capacity(accounts.len());
    for (a, c) in accounts.iter().zip(collected) {
        let id = store.find_account(&a.provider_id, &a.id)?;
        let ever_scanned = match id {
            Some(id) => store.last_scan_ms(id)?.is_some(),
            None => false,
        };
        let skipped_lines = match id {
            Some(id) => store.skipped_lines(id)?,
            None => crate::store::SkippedLines::default(),
        };
        let mut quota = eval.account(a, id)?;
        if !ever_scanned {
            quota.forget_usage(if c.timed_out {
                "usage unknown: the first collection of this account timed out"
            } else {
                "usage unknown: this account's usage has never been collected"
            });
        }
        out.push(AccountAudit {
            provider: a.provider_id.clone(),
            account: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind.id(),
            enabled: a.enabled,
            credential: check::check_account(a, buffer, now),
            quota,
            collected: c,
            ever_scanned,
            skipped_lines,
        });
    }
    Ok(out)
}

fn pct(p: f64) -> String {
    let r = (p * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}%")
    } else {
        format!("{r:.1}%")
    }
}

/// An amount of `unit` for people: money with two decimals (`$8.53`), anything else rounded
/// to a whole number with thousands separators. Tables and alerts share it, so a budget never
/// shows as `$9` in one place and `8.53` in another.
pub fn amount(v: f64, unit: QuotaUnit) -> String {
    if unit == QuotaUnit::Usd {
        return format!("${v:.2}");
    }
    let r = v.round();
    if (0.0..1e15).contains(&r) {
        crate::output::thousands(r as u64)
    } else {
        format!("{r:.0}")
    }
}

/// The rate a window's RUNS OUT assumes, for the BURN/DAY column: the burn per day, or for a
/// 5-hour window its own pace per hour (`620,305/h`), as its alert says; `-` when unknown.
pub fn shown_rate(w: &WindowQuota) -> String {
    match (w.window, w.pace_per_day.or(w.burn_rate_per_day)) {
        (_, None) => "-".to_string(),
        (crate::config::QuotaWindow::Rolling5h, Some(p)) => {
            format!("{}/h", amount(p.max(0.0) / 24.0, w.unit))
        }
        (_, Some(b)) => amount(b.max(0.0), w.unit),
    }
}

fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "unknown".to_string(), crate::output::iso_ms)
}

/// The alerts of one account, most serious first.
pub fn alerts_for(a: &AccountAudit, config: &Config) -> Vec<Alert> {
    let mut out = Vec::new();
    if !a.enabled {
        return out;
    }
    let label = format!("{}/{}", a.provider, a.account);
    let alert = |level, message: String, action: String| Alert {
        level,
        provider: a.provider.clone(),
        account: a.account.clone(),
        message,
        action,
    };
    let c = &a.credential;
    match c.state {
        State::Valid | State::Unverifiable => {}
        State::ExpiringSoon => out.push(alert(
            Level::Warning,
            format!(
                "credential expires {} (within the {}-minute refresh buffer)",
                c.expires_at.as_deref().unwrap_or("soon"),
                config.token_validation.refresh_buffer_minutes
            ),
            format!("refresh it: xnai login {label}"),
        )),
        s => out.push(alert(
            Level::Critical,
            format!("credential {}: {}", s.as_str(), c.message),
            format!("check it with `xnai check {label} -v`, then log in again: xnai login {label}"),
        )),
    }
    for w in &a.quota.windows {
        let what = format!("{}/{}", w.unit.name(), w.window.name());
        let of = match (w.used, w.limit) {
            (Some(u), Some(l)) if w.unit != crate::config::QuotaUnit::Percent => {
                format!(" ({} of {})", amount(u, w.unit), amount(l, w.unit))
            }
            _ => String::new(),
        };
        let reset = w
            .next_reset_ms
            .map(|r| format!(" until the reset at {}", crate::output::iso_ms(r)))
            .unwrap_or_default();
        match w.status {
            Status::Exhausted if w.exhausted_until_ms.is_some() => out.push(alert(
                Level::Critical,
                format!(
                    "{what} exhausted: the agent reported its usage limit reached{}",
                    w.percent
                        .map(|p| format!(" (the ledger counts {}{of})", pct(p)))
                        .unwrap_or_default()
                ),
                format!("use another account{reset}"),
            )),
            Status::Exhausted => out.push(alert(
                Level::Critical,
                format!("{what} exhausted: {}{of}", pct(w.percent.unwrap_or(100.0))),
                format!("use another account{reset}"),
            )),
            Status::Critical => out.push(alert(
                Level::Critical,
                format!("{what} at {}{of}", pct(w.percent.unwrap_or(0.0))),
                format!("move work to another account{reset}"),
            )),
            Status::Warning => out.push(alert(
                Level::Warning,
                format!("{what} at {}{of}", pct(w.percent.unwrap_or(0.0))),
                format!("watch it; spread work across accounts{reset}"),
            )),
            Status::Active | Status::Unknown => {}
        }
        if w.status < Status::Exhausted
            && let Some(p) = w.projection
            && p.runs_out_before_reset
            && let Some(ex) = p.exhaustion_ms
        {
            let pace = w.pace_per_day.unwrap_or(0.0);
            let rate = if w.window == crate::config::QuotaWindow::Rolling5h {
                format!("this window's pace ({}/hour)", amount(pace / 24.0, w.unit))
            } else {
                format!("the current rate ({}/day)", amount(pace, w.unit))
            };
            out.push(alert(
                Level::Warning,
                format!(
                    "{what} runs out around {} at {rate}, before its reset at {}",
                    crate::output::iso_ms(ex),
                    when(w.next_reset_ms)
                ),
                "slow down or move work to another account".to_string(),
            ));
        }
    }
    out.extend(collection_alert(a));
    out
}

/// The alert about an account's usage collection, when it timed out, failed or skipped files:
/// its figures are then incomplete.
pub fn collection_alert(a: &AccountAudit) -> Option<Alert> {
    let label = format!("{}/{}", a.provider, a.account);
    let alert = |level, message: String, action: String| Alert {
        level,
        provider: a.provider.clone(),
        account: a.account.clone(),
        message,
        action,
    };
    let col = &a.collected;
    // Without a finished scan there is no previous figure to fall back on.
    let figures = if a.ever_scanned {
        "figures are from the previous scan"
    } else {
        "no scan of this account has finished yet: its usage is unknown"
    };
    if col.timed_out {
        Some(alert(
            Level::Warning,
            format!(
                "usage collection timed out after {} s: {figures}",
                col.timeout_secs
            ),
            format!("look for a slow or hanging log directory: xnai usage {label} -v"),
        ))
    } else if let Some(e) = &col.error {
        Some(alert(
            Level::Warning,
            format!("usage could not be collected: {e}; {figures}"),
            format!("xnai usage {label} -v"),
        ))
    } else if !col.unreadable.is_empty() {
        Some(alert(
            Level::Warning,
            format!(
                "{} log file{} could not be read (first: {})",
                col.unreadable.len(),
                if col.unreadable.len() == 1 { "" } else { "s" },
                col.unreadable[0]
            ),
            format!("xnai usage {label} -v"),
        ))
    } else if a.skipped_lines.corrupt + a.skipped_lines.oversized > 0 {
        let (corrupt, oversized) = (a.skipped_lines.corrupt, a.skipped_lines.oversized);
        let mut what = Vec::new();
        if corrupt > 0 {
            what.push(format!(
                "{corrupt} line{} could not be parsed",
                if corrupt == 1 { "" } else { "s" }
            ));
        }
        if oversized > 0 {
            what.push(format!(
                "{oversized} line{} over {} MiB {} skipped",
                if oversized == 1 { "" } else { "s" },
                crate::usage::scan::MAX_LINE >> 20,
                if oversized == 1 { "was" } else { "were" }
            ));
        }
        Some(alert(
            Level::Warning,
            format!(
                "in its logs {} (first in {}): usage they held is not counted",
                what.join(" and "),
                a.skipped_lines.first_file.as_deref().unwrap_or("?")
            ),
            "a line cut short by a crash is harmless; if figures look low, look at that file"
                .to_string(),
        ))
    } else {
        None
    }
}

/// Every alert, in a stable order: critical first, then by account and message.
pub fn all_alerts(audits: &[AccountAudit], config: &Config) -> Vec<Alert> {
    let mut all: Vec<Alert> = audits.iter().flat_map(|a| alerts_for(a, config)).collect();
    sort_alerts(&mut all);
    all
}

/// Critical first, then by provider, account and message.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(|x, y| {
        y.level.cmp(&x.level).then_with(|| {
            (&x.provider, &x.account, &x.message).cmp(&(&y.provider, &y.account, &y.message))
        })
    });
}

/// Records each account's windows as today's snapshots.
pub fn save_snapshots(store: &mut Store, audits: &[AccountAudit], now_ms: i64) -> Result<()> {
    for a in audits {
        let snaps: Vec<Snapshot> = a
            .quota
            .windows
            .iter()
            .filter_map(|w: &WindowQuota| {
                Some(Snapshot {
                    quota: w.key(),
                    taken_ms: now_ms,
                    window_start_ms: w.start_ms,
                    used: w.used?,
                    limit: w.limit,
                })
            })
            .collect();
        if snaps.is_empty() {
            continue;
        }
        let id = store.account_id(&a.provider, &a.account)?;
        store.save_snapshots(id, &snaps)?;
    }
    Ok(())
}
