//! `xnai audit`: collect every account's usage, evaluate its quota windows and credential,
//! write `ACCOUNT-TRACKING-YYYY-MM-DD.yaml`, and show what needs attention.

use std::path::PathBuf;
use std::time::Instant;

use super::Ctx;
use crate::audit::{self, Format, Level, amount};
use crate::config::QuotaUnit;
use crate::error::{Result, exit};
use crate::output::{self, Cell, Table, style};
use crate::quota::Status;
use crate::store::Store;

/// Arguments of `xnai audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the report [default: <data dir>/reports]
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Report format
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,

    /// Exit 1 when an alert at this level or above is raised
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<Level>,

    /// Evaluate as of this day (its end, UTC) or RFC 3339 instant instead of now: usage after
    /// it is ignored, credentials are checked against it
    #[arg(long, value_name = "WHEN")]
    pub as_of: Option<String>,

    /// Accounts collected at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,

    /// Seconds one account's usage collection may take before the audit goes on without it
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub timeout: u64,

    /// Print the report as JSON on stdout instead of the summary (the file is written too)
    #[arg(long)]
    pub json: bool,
}

fn status_cell(s: Status) -> Cell {
    let st = match s {
        Status::Active => style::OK,
        Status::Warning => style::WARN,
        Status::Critical | Status::Exhausted => style::BAD,
        Status::Unknown => style::DIM,
    };
    Cell::styled(s.name(), st)
}

/// Runs the audit.
pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    // A file given as --output, or a path through one, is a mistake found now, not after
    // minutes of collection (and the table) have gone by; a directory that cannot be written
    // still fails only at the end, so the alerts are shown either way.
    if let Some(out) = &args.output
        && let Some(blocker) = out
            .ancestors()
            .skip(1)
            .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()))
    {
        return Err(crate::error::Error::usage(
            format!(
                "--output {}: {} is a file, so the directory cannot be made",
                out.display(),
                blocker.display()
            ),
            Some("--output takes the directory the reports go in".to_string()),
        ));
    }
    if let Some(out) = &args.output
        && let Ok(meta) = std::fs::metadata(out)
        && !meta.is_dir()
    {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| std::path::Path::new("."));
        return Err(crate::error::Error::usage(
            format!("--output {} is a file, not a directory", out.display()),
            Some(format!(
                "--output takes the directory the report goes in (as ACCOUNT-TRACKING-<date>.{}); \
                 for example --output {}",
                match args.format {
                    Format::Yaml => "yaml",
                    Format::Json => "json",
                },
                crate::fsutil::shell_quote(&parent.display().to_string())
            )),
        ));
    }
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let started = Instant::now();
    let generated_ms = jiff::Timestamp::now().as_millisecond();
    let now_ms = match &args.as_of {
        Some(v) => super::parse_as_of(v)?,
        None => generated_ms,
    };
    let data = ctx.data_dir()?;
    // Figures read from a damaged ledger may be silently wrong: stop before reporting them.
    Store::open(&data.ledger())?.quick_check()?;
    // Reports and tables list accounts by provider, then account: stable whatever the
    // file's order.
    let mut accounts: Vec<&crate::config::Account> = cfg.accounts().collect();
    accounts.sort_by(|x, y| (&x.provider_id, &x.id).cmp(&(&y.provider_id, &y.id)));
    let (audits, mut store) = audit::gather(
        cfg,
        &accounts,
        &data,
        now_ms,
        usize::try_from(args.jobs).unwrap_or(4),
        args.timeout,
        "auditing",
    )?;
    audit::save_snapshots(&mut store, &audits, now_ms)?;
    let mut alerts = audit::all_alerts(&audits, cfg);
    for w in crate::usage::source_warnings(&accounts, &data) {
        alerts.push(audit::Alert {
            level: Level::Warning,
            provider: w.provider,
            account: w.account,
            message: w.message,
            action: "fix usage_paths in the credential file".to_string(),
        });
    }
    audit::sort_alerts(&mut alerts);
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let doc = audit::build(cfg, &audits, alerts, now_ms, generated_ms, duration_ms);
    let text = audit::render(&doc, args.format)?;
    let dir = args
        .output
        .clone()
        .unwrap_or_else(|| data.root().join("reports"));
    // Written after the summary is shown: a report that cannot be written must not hide the
    // alerts (under a timer they would be lost).
    let written = audit::write(&dir, &doc.audit_metadata.report_date, args.format, &text);

    if args.json {
        output::print_json(&doc)?;
    } else {
        let mut t = Table::new(&[
            "ACCOUNT",
            "CREDENTIAL",
            "STATUS",
            "TIGHTEST WINDOW",
            "USED",
            "BURN/DAY",
            "RUNS OUT",
            "NEXT RESET",
        ]);
        for (a, q) in audits.iter().zip(&doc.quotas) {
            let tight = a.quota.tightest();
            let cred_style = if a.credential.state.is_failure() {
                style::BAD
            } else if a.credential.state == crate::check::State::ExpiringSoon {
                style::WARN
            } else {
                style::PLAIN
            };
            t.row(vec![
                format!("{}/{}", a.provider, a.account).into(),
                Cell::styled(a.credential.state.as_str(), cred_style),
                if a.enabled {
                    status_cell(a.quota.status)
                } else {
                    Cell::styled("disabled", style::DIM)
                },
                match tight {
                    Some(w) => w.key(),
                    // Usage is still shown for it, never a percentage.
                    None if a.quota.windows.is_empty() => "no limit".to_string(),
                    None => "-".to_string(),
                }
                .into(),
                match tight {
                    Some(w) => match (w.used, w.limit, w.percent) {
                        (Some(u), Some(l), Some(p)) if u >= 0.0 => {
                            format!("{}% of {}", output::whole_percent(p), amount(l, w.unit))
                        }
                        _ => "-".to_string(),
                    },
                    None if a.quota.windows.is_empty() => match &a.quota.usage {
                        Some(u) => format!(
                            "{} tokens this week",
                            amount(u.week.tokens as f64, QuotaUnit::Tokens)
                        ),
                        None => "unknown".to_string(),
                    },
                    None => "-".to_string(),
                }
                .into(),
                match tight {
                    Some(w) => Some(audit::shown_rate(w)),
                    None if a.quota.windows.is_empty() => a
                        .quota
                        .usage
                        .and_then(|u| u.tokens_burn_per_day)
                        .map(|b| amount(b.max(0.0), QuotaUnit::Tokens)),
                    None => None,
                }
                .unwrap_or_else(|| "-".to_string())
                .into(),
                q.exhaustion_date
                    .as_deref()
                    .map_or("-", |d| d.get(..10).unwrap_or(d))
                    .to_string()
                    .into(),
                q.next_reset
                    .as_deref()
                    .map_or("-", |d| d.get(..16).unwrap_or(d))
                    .replace('T', " ")
                    .into(),
            ]);
        }
        let mut out = t.render();
        if doc.alerts.is_empty() {
            out.push_str("\nno alerts\n");
        } else {
            out.push('\n');
            for a in &doc.alerts {
                let (word, st) = match a.level {
                    Level::Critical => ("critical", style::BAD),
                    Level::Warning => ("warning", style::WARN),
                };
                out.push_str(&format!(
                    "{st}{word:<8}{} {}/{}: {}\n         {}→ {}{}\n",
                    st.render_reset(),
                    a.provider,
                    a.account,
                    output::sanitize(&a.message),
                    style::DIM,
                    output::sanitize(&a.action),
                    style::DIM.render_reset()
                ));
            }
        }
        if let Ok(path) = &written {
            out.push_str(&format!("\nreport: {}\n", path.display()));
        }
        output::print(&out)?;
    }
    written?;
    let failed = args
        .fail_on
        .is_some_and(|lvl| doc.alerts.iter().any(|a| a.level >= lvl));
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}
