//! `xnai check`: validate credentials offline and exit 1 when an enabled one is unusable.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Ctx;
use crate::check::{self, CheckResult, Selection, State};
use crate::clock::SystemClock;
use crate::error::{Error, Result, exit};
use crate::output::{self, Cell, Table, style};

/// Arguments of `xnai check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this provider, or provider/account
    #[arg(value_name = "PROVIDER[/ACCOUNT]")]
    pub target: Option<String>,

    /// Only this provider section
    #[arg(long, short = 'p', conflicts_with = "target")]
    pub provider: Option<String>,

    /// Only this account of the provider
    #[arg(long, short = 'a')]
    pub account: Option<String>,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Show what each credential was recognised as, its JWT claims and the key used
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    checked_at: String,
    ok: bool,
    summary: BTreeMap<&'static str, usize>,
    results: &'a [CheckResult],
}

/// The accounts named by `PROVIDER[/ACCOUNT]`, `-p` and `-a`.
fn selection(args: &Args) -> Result<Selection> {
    let (provider, account) = match &args.target {
        Some(t) => match t.split_once('/') {
            Some((p, a)) => (Some(p.to_string()), Some(a.to_string())),
            None => (Some(t.clone()), None),
        },
        None => (args.provider.clone(), None),
    };
    let account = match (account, &args.account) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "the account is given twice: as PROVIDER/ACCOUNT and with --account",
                Some("use one of them".to_string()),
            ));
        }
        (a, b) => a.or_else(|| b.clone()),
    };
    if account.is_some() && provider.is_none() {
        return Err(Error::usage(
            "--account needs a provider",
            Some("write PROVIDER/ACCOUNT, or add --provider".to_string()),
        ));
    }
    Ok(Selection { provider, account })
}

fn state_style(s: State) -> anstyle::Style {
    match s {
        State::Valid => style::OK,
        State::ExpiringSoon | State::Unverifiable => style::WARN,
        _ => style::BAD,
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let sel = selection(&args)?;
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let clock = SystemClock;
    let now = jiff::Timestamp::now();
    let results =
        check::check(cfg, &sel, &clock).map_err(|u| Error::usage(u.message, Some(u.hint)))?;
    let failed = results.iter().any(|r| r.enabled && r.state.is_failure());
    let mut summary: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &results {
        *summary.entry(r.state.as_str()).or_default() += 1;
    }
    if args.json {
        output::print_json(&Report {
            checked_at: now.to_string(),
            ok: !failed,
            summary,
            results: &results,
        })?;
        return Ok(if failed { exit::FINDINGS } else { exit::OK });
    }
    if results.is_empty() {
        output::print(&format!("no accounts to check in {}\n", cfg.path.display()))?;
        return Ok(exit::OK);
    }
    let mut headers = vec!["ACCOUNT", "KIND", "STATE", "EXPIRES", "IN", "DETAIL"];
    if args.verbose {
        headers.insert(3, "CREDENTIAL");
    }
    let mut t = Table::new(&headers);
    for r in &results {
        let label = if r.enabled {
            Cell::from(format!("{}/{}", r.provider, r.account))
        } else {
            Cell::styled(
                format!("{}/{} (disabled)", r.provider, r.account),
                style::DIM,
            )
        };
        let until = r
            .hours_until_expiry
            .map(|h| {
                let d = jiff::SignedDuration::from_secs((h * 3600.0) as i64);
                if h < 0.0 {
                    format!("-{}", check::human_span(d))
                } else {
                    check::human_span(d)
                }
            })
            .unwrap_or_else(|| "-".to_string());
        let mut row = vec![
            label,
            r.kind.into(),
            Cell::styled(r.state.as_str(), state_style(r.state)),
            r.expires_at
                .as_deref()
                .map(|e| e.get(..10).unwrap_or(e).to_string())
                .unwrap_or_else(|| "-".to_string())
                .into(),
            until.into(),
            r.message.clone().into(),
        ];
        if args.verbose {
            row.insert(
                3,
                r.credential
                    .as_ref()
                    .map(|m| format!("{}: {m}", r.credential_field.unwrap_or("credential")))
                    .unwrap_or_else(|| "-".to_string())
                    .into(),
            );
        }
        t.row(row);
    }
    let mut text = t.render();
    if args.verbose {
        for r in &results {
            if r.details.is_empty() && r.recognised.is_none() {
                continue;
            }
            text.push_str(&format!("\n{}/{}:\n", r.provider, r.account));
            if let Some(rec) = &r.recognised {
                text.push_str(&format!("  recognised: {}\n", output::sanitize(rec)));
            }
            if let Some(src) = r.expiry_source {
                text.push_str(&format!("  expiry from: {src}\n"));
            }
            for (k, v) in &r.details {
                // Claims come from the token: never let them start a new line or restyle the terminal.
                text.push_str(&format!("  {k}: {}\n", output::sanitize(v)));
            }
        }
    }
    let parts: Vec<String> = summary.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let disabled = results.iter().filter(|r| !r.enabled).count();
    text.push_str(&format!(
        "\n{} account{} checked: {}{}\n",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        parts.join(", "),
        if disabled > 0 {
            format!(" ({disabled} disabled, not counted in the exit code)")
        } else {
            String::new()
        }
    ));
    output::print(&text)?;
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}
