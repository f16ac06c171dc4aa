//! The audit report: the original `ACCOUNT-TRACKING-YYYY-MM-DD.yaml` shape —
//! `audit_metadata`, `quotas[]`, `summary`, `alerts[]` — with real numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{AccountAudit, Alert, Level};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::iso_ms;
use crate::quota::{PeriodUsage, Status, UsageSummary, WindowQuota};

/// Report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// YAML, as the original.
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct ReportDoc {
    /// When, for what, by what.
    pub audit_metadata: Metadata,
    /// One entry per account.
    pub quotas: Vec<QuotaEntry>,
    /// Counts.
    pub summary: Summary,
    /// What to act on.
    pub alerts: Vec<Alert>,
}

/// `audit_metadata`.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// The report's day (UTC).
    pub report_date: String,
    /// The instant the figures are for.
    pub as_of: String,
    /// When the audit ran.
    pub generated_at: String,
    /// xnai's version.
    pub xnai_version: &'static str,
    /// The credential file.
    pub config: String,
    /// Accounts audited.
    pub accounts: usize,
    /// Collection time, ms.
    pub duration_ms: u64,
    /// `quota_management.alert_thresholds`.
    pub alert_thresholds: Thresholds,
}

/// Thresholds, in percent.
#[derive(Debug, Serialize)]
pub struct Thresholds {
    /// Warning at or above.
    pub warning_percentage: f64,
    /// Critical at or above.
    pub critical_percentage: f64,
}

/// One account in `quotas[]`.
#[derive(Debug, Serialize)]
pub struct QuotaEntry {
    /// Provider id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Provider kind.
    pub kind: &'static str,
    /// `enabled`.
    pub enabled: bool,
    /// The worst window's status.
    pub status: Status,
    /// The credential check.
    pub credential: Credential,
    /// Each window.
    pub windows: Vec<WindowEntry>,
    /// Usage whatever the limits; `null` when unknown (never collected).
    pub usage: Option<UsageEntry>,
    /// The tightest window's burn rate.
    pub burn_rate_per_day: Option<f64>,
    /// The tightest window's days until it runs out.
    pub days_until_exhaustion: Option<f64>,
    /// When the tightest window runs out.
    pub exhaustion_date: Option<String>,
    /// The tightest window's next reset.
    pub next_reset: Option<String>,
    /// What collecting the usage did.
    pub collection: Collection,
}

/// The credential part of an entry.
#[derive(Debug, Serialize)]
pub struct Credential {
    /// `xnai check` state.
    pub state: &'static str,
    /// Its explanation.
    pub message: String,
    /// Expiry, when known.
    pub expires_at: Option<String>,
}

/// One quota window.
#[derive(Debug, Serialize)]
pub struct WindowEntry {
    /// What it counts.
    pub unit: &'static str,
    /// How it is measured.
    pub window: &'static str,
    /// The limit.
    pub limit: Option<f64>,
    /// Used now.
    pub used: Option<f64>,
    /// Left.
    pub remaining: Option<f64>,
    /// Used, in percent.
    pub percent: Option<f64>,
    /// Status.
    pub status: Status,
    /// When the window opened.
    pub window_start: Option<String>,
    /// When it resets.
    pub next_reset: Option<String>,
    /// Use per day.
    pub burn_rate_per_day: Option<f64>,
    /// The rate the projection assumes when it is not `burn_rate_per_day`: a 5-hour
    /// window's own pace, per day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection_rate_per_day: Option<f64>,
    /// Days until it runs out.
    pub days_until_exhaustion: Option<f64>,
    /// When.
    pub exhaustion_date: Option<String>,
    /// Whether that is before the reset.
    pub runs_out_before_reset: bool,
    /// Where the usage comes from.
    pub source: String,
    /// Why something is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The agent reported the limit reached: exhausted until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exhausted_until: Option<String>,
}

/// `usage` of an entry: calendar periods in UTC, up to the as-of time.
#[derive(Debug, Serialize)]
pub struct UsageEntry {
    /// Since 00:00 UTC.
    pub today: PeriodEntry,
    /// Since Monday 00:00 UTC (ISO week).
    pub this_week: PeriodEntry,
    /// Since the 1st, 00:00 UTC.
    pub this_month: PeriodEntry,
    /// Tokens per day over the last days; `null` when not measurable.
    pub tokens_burn_per_day: Option<f64>,
}

/// One period of [`UsageEntry`].
#[derive(Debug, Serialize)]
pub struct PeriodEntry {
    /// When the period started.
    pub since: String,
    /// Tokens.
    pub tokens: u64,
    /// Requests.
    pub requests: u64,
    /// Recorded cost in USD; `null` when the tool logs none.
    pub cost_usd: Option<f64>,
    /// When only some requests carried a cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_note: Option<String>,
}

fn period_entry(p: &PeriodUsage) -> PeriodEntry {
    PeriodEntry {
        since: iso_ms(p.start_ms),
        tokens: p.tokens,
        requests: p.requests,
        cost_usd: p.cost_usd.map(r2),
        cost_note: (p.cost_events > 0 && p.cost_events < p.events).then(|| {
            format!(
                "cost recorded for {} of {} requests: a lower bound",
                p.cost_events, p.events
            )
        }),
    }
}

fn usage_entry(u: &UsageSummary) -> UsageEntry {
    UsageEntry {
        today: period_entry(&u.today),
        this_week: period_entry(&u.week),
        this_month: period_entry(&u.month),
        tokens_burn_per_day: u.tokens_burn_per_day.map(r2),
    }
}

/// `collection` of an entry.
#[derive(Debug, Serialize)]
pub struct Collection {
    /// Files read this time.
    pub files_read: u64,
    /// Usage records found this time.
    pub records: u64,
    /// Files that could not be read.
    pub unreadable: Vec<String>,
    /// Lines of the account's logs that could not be parsed (over all scans of them).
    pub corrupt_lines: u64,
    /// Lines over the line limit, skipped (likewise).
    pub oversized_lines: u64,
    /// The scan failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The scan timed out.
    pub timed_out: bool,
    /// Scan time, ms.
    pub duration_ms: u64,
}

/// `summary`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Accounts.
    pub total_accounts: usize,
    /// Enabled accounts.
    pub enabled_accounts: usize,
    /// Accounts per status.
    pub by_status: BTreeMap<&'static str, usize>,
    /// Credentials per check state.
    pub credentials: BTreeMap<&'static str, usize>,
    /// Alerts per level.
    pub alerts: BTreeMap<&'static str, usize>,
}

/// Rounds for the report: two decimals are plenty, and fixed digits keep reports diffable.
fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn window_entry(w: &WindowQuota) -> WindowEntry {
    let p = w.projection;
    WindowEntry {
        unit: w.unit.name(),
        window: w.window.name(),
        limit: w.limit,
        used: w.used.map(r2),
        remaining: w.remaining.map(r2),
        percent: w.percent.map(r2),
        status: w.status,
        window_start: w.start_ms.map(iso_ms),
        next_reset: w.next_reset_ms.map(iso_ms),
        burn_rate_per_day: w.burn_rate_per_day.map(r2),
        projection_rate_per_day: w
            .pace_per_day
            .filter(|p| Some(*p) != w.burn_rate_per_day)
            .map(r2),
        days_until_exhaustion: p.and_then(|p| p.days_until_exhaustion).map(r2),
        exhaustion_date: p.and_then(|p| p.exhaustion_ms).map(iso_ms),
        runs_out_before_reset: p.is_some_and(|p| p.runs_out_before_reset),
        source: w.source.clone(),
        note: w.note.clone(),
        exhausted_until: w.exhausted_until_ms.map(iso_ms),
    }
}

/// Builds the report.
#[allow(clippy::too_many_arguments)]
pub fn build(
    config: &Config,
    audits: &[AccountAudit],
    alerts: Vec<Alert>,
    as_of_ms: i64,
    generated_ms: i64,
    duration_ms: u64,
) -> ReportDoc {
    let quotas: Vec<QuotaEntry> = audits
        .iter()
        .map(|a| {
            let tight = a.quota.tightest();
            let tp = tight.and_then(|w| w.projection);
            QuotaEntry {
                provider: a.provider.clone(),
                account: a.account.clone(),
                name: a.name.clone(),
                kind: a.kind,
                enabled: a.enabled,
                status: a.quota.status,
                credential: Credential {
                    state: a.credential.state.as_str(),
                    message: a.credential.message.clone(),
                    expires_at: a.credential.expires_at.clone(),
                },
                windows: a.quota.windows.iter().map(window_entry).collect(),
                usage: a.quota.usage.as_ref().map(usage_entry),
                burn_rate_per_day: tight.and_then(|w| w.burn_rate_per_day).map(r2),
                days_until_exhaustion: tp.and_then(|p| p.days_until_exhaustion).map(r2),
                exhaustion_date: tp.and_then(|p| p.exhaustion_ms).map(iso_ms),
                next_reset: tight.and_then(|w| w.next_reset_ms).map(iso_ms),
                collection: Collection {
                    files_read: a.collected.files_read,
                    records: a.collected.records,
                    unreadable: a.collected.unreadable.clone(),
                    corrupt_lines: a.skipped_lines.corrupt,
                    oversized_lines: a.skipped_lines.oversized,
                    error: a.collected.error.clone(),
                    timed_out: a.collected.timed_out,
                    duration_ms: a.collected.duration_ms,
                },
            }
        })
        .collect();
    let mut by_status = BTreeMap::new();
    let mut credentials = BTreeMap::new();
    for a in audits {
        *by_status.entry(a.quota.status.name()).or_insert(0) += 1;
        *credentials.entry(a.credential.state.as_str()).or_insert(0) += 1;
    }
    let mut counts = BTreeMap::new();
    counts.insert("critical", 0);
    counts.insert("warning", 0);
    for al in &alerts {
        let k = match al.level {
            Level::Critical => "critical",
            Level::Warning => "warning",
        };
        *counts.entry(k).or_insert(0) += 1;
    }
    let report_date = iso_ms(as_of_ms).get(..10).unwrap_or_default().to_string();
    ReportDoc {
        audit_metadata: Metadata {
            report_date,
            as_of: iso_ms(as_of_ms),
            generated_at: iso_ms(generated_ms),
            xnai_version: env!("CARGO_PKG_VERSION"),
            config: config.path.display().to_string(),
            accounts: audits.len(),
            duration_ms,
            alert_thresholds: Thresholds {
                warning_percentage: config.quota.thresholds.warning,
                critical_percentage: config.quota.thresholds.critical,
            },
        },
        summary: Summary {
            total_accounts: audits.len(),
            enabled_accounts: audits.iter().filter(|a| a.enabled).count(),
            by_status,
            credentials,
            alerts: counts,
        },
        quotas,
        alerts,
    }
}

/// The report as text.
pub fn render(doc: &ReportDoc, format: Format) -> Result<String> {
    match format {
        Format::Yaml => serde_saphyr::to_string(doc)
            .map_err(|e| Error::usage(format!("cannot encode the report as YAML: {e}"), None)),
        Format::Json => serde_json::to_string_pretty(doc)
            .map(|s| s + "\n")
            .map_err(|e| Error::usage(format!("cannot encode the report as JSON: {e}"), None)),
    }
}

/// How old a temporary file in the reports directory must be before it is taken as left
/// behind by a killed audit.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// `ACCOUNT-TRACKING-YYYY-MM-DD.yaml`.
pub fn file_name(date: &str, format: Format) -> String {
    format!("ACCOUNT-TRACKING-{date}.{}", format.ext())
}

/// Writes the report into `dir` atomically, replacing that day's earlier report.
pub fn write(dir: &Path, date: &str, format: Format, text: &str) -> Result<PathBuf> {
    let path = dir.join(file_name(date, format));
    // An audit killed mid-write (the timer's TimeoutStartSec, SIGKILL) leaves its temporary
    // file; the reports directory is the one place they would pile up, one a day.
    crate::fsutil::remove_stale_temp_files(dir, STALE_TEMP_AGE);
    crate::fsutil::write_atomic(&path, text.as_bytes(), true)?;
    Ok(path)
}
