//! `xnai usage`: scan the accounts' logs (only what changed since the last scan) and print
//! totals, or 5-hour blocks.

use serde::Serialize;

use super::Ctx;
use crate::check::{self, Selection};
use crate::error::{Error, Result, exit};
use crate::output::{self, Cell, Table, style, thousands};
use crate::store::{Store, UsageRow};
use crate::usage::report::{self, Dimension};
use crate::usage::scan::{self, Stats};

/// Arguments of `xnai usage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this provider, or provider/account
    #[arg(value_name = "PROVIDER[/ACCOUNT]")]
    pub target: Option<String>,

    /// Group by these, in order (comma-separated): account, provider, tool, model, day, week, month
    #[arg(long, value_delimiter = ',', default_value = "account,day")]
    pub by: Vec<Dimension>,

    /// From this day (YYYY-MM-DD, UTC) or instant (RFC 3339)
    #[arg(long)]
    pub since: Option<String>,

    /// Up to and including this day (YYYY-MM-DD, UTC), or before this instant (RFC 3339)
    #[arg(long)]
    pub until: Option<String>,

    /// 5-hour blocks per account instead of totals (as `ccusage blocks`)
    #[arg(long, conflicts_with = "by")]
    pub blocks: bool,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Show what the scan read: files, bytes, records, unreadable and oversized lines
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Read files with this many threads [default: the number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// Parses `--since`/`--until`: a day (UTC) or an RFC 3339 instant, as Unix ms. A day given to
/// `--until` includes the whole day.
fn bound(v: &str, end_of_day: bool) -> Result<i64> {
    super::parse_instant(v, end_of_day)
}

#[derive(Serialize)]
struct Totals<'a> {
    group_by: &'a [Dimension],
    since: Option<&'a str>,
    until: Option<&'a str>,
    rows: Vec<JsonRow<'a>>,
    totals: JsonRow<'a>,
    scan: &'a Stats,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    group: serde_json::Map<String, serde_json::Value>,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
    total: u64,
    cost_usd: Option<f64>,
    requests: u64,
    events: u64,
    #[serde(skip)]
    _p: std::marker::PhantomData<&'a ()>,
}

fn json_row<'a>(dims: &[Dimension], r: &UsageRow) -> JsonRow<'a> {
    let mut group = serde_json::Map::new();
    for (d, v) in dims.iter().zip(&r.group) {
        let key = serde_json::to_value(d)
            .ok()
            .and_then(|k| k.as_str().map(str::to_string))
            .unwrap_or_default();
        group.insert(key, serde_json::Value::String(v.clone()));
    }
    JsonRow {
        group,
        input: r.input,
        output: r.output,
        cache_read: r.cache_read,
        cache_write: r.cache_write,
        reasoning: r.reasoning,
        total: r.input + r.output + r.cache_read + r.cache_write,
        cost_usd: r.cost_usd,
        requests: r.requests,
        events: r.events,
        _p: std::marker::PhantomData,
    }
}

fn cost(c: Option<f64>) -> String {
    c.map_or_else(|| "-".to_string(), |c| format!("${c:.2}"))
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let sel = match &args.target {
        Some(t) => match t.split_once('/') {
            Some((p, a)) => Selection {
                provider: Some(p.to_string()),
                account: Some(a.to_string()),
            },
            None => Selection {
                provider: Some(t.clone()),
                account: None,
            },
        },
        None => Selection::default(),
    };
    let accounts = check::select(cfg, &sel).map_err(|u| Error::usage(u.message, Some(u.hint)))?;
    let since = args.since.as_deref().map(|v| bound(v, false)).transpose()?;
    let until = args.until.as_deref().map(|v| bound(v, true)).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(Error::usage(
            "--since is not before --until: the range is empty",
            Some("swap them".to_string()),
        ));
    }
    for (i, d) in args.by.iter().enumerate() {
        if args.by[..i].contains(d) {
            return Err(Error::usage(
                format!("`{}` is listed twice in --by", d.header().to_lowercase()),
                None,
            ));
        }
    }
    let data = ctx.data_dir()?;
    let mut store = Store::open(&data.ledger())?;
    let targets: Vec<scan::Target> = accounts
        .iter()
        .map(|a| crate::usage::target(a, &data))
        .collect();
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let stats = scan::scan(&mut store, &targets, threads)?;
    if args.verbose {
        output::note(&format!(
            "scanned {} files: read {} ({} bytes), {} usage records, {} quota observations, {} unreadable lines, {} oversized lines",
            stats.files,
            stats.files_read,
            stats.bytes_read,
            stats.records,
            stats.observations,
            stats.corrupt,
            stats.oversized
        ));
    }
    for e in &stats.errors {
        output::warn(&format!("could not read {e}"));
    }
    for w in crate::usage::source_warnings(&accounts, &data) {
        output::warn(&format!("{}/{}: {}", w.provider, w.account, w.message));
    }
    let ids: Vec<i64> = accounts
        .iter()
        .filter_map(|a| store.find_account(&a.provider_id, &a.id).ok().flatten())
        .collect();
    // Records from the future (a wrong clock where they were written) count in these totals
    // but in no quota window until their time comes: say so rather than leave the two apart.
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let future_counted = until.is_none_or(|u| u > now_ms);
    for a in accounts.iter().filter(|_| future_counted) {
        if let Some(id) = store.find_account(&a.provider_id, &a.id)?
            && let (n @ 1.., Some(latest)) = store.events_after(id, now_ms + 3_600_000)?
        {
            output::warn(&format!(
                "{}: {n} usage record{} dated in the future (latest {}): counted here, but in \
                 no quota window until then; is the clock of the machine that wrote them right?",
                a.label(),
                if n == 1 { "" } else { "s" },
                output::iso_ms(latest)
            ));
        }
    }

    if args.blocks {
        return print_blocks(&store, &accounts, &ids, since, until, args.json);
    }

    let exprs: Vec<&str> = args.by.iter().map(|d| d.sql()).collect();
    // Day-aligned bounds read the daily totals; others every event.
    let aligned = [since, until]
        .iter()
        .all(|b| b.is_none_or(|ms| ms % 86_400_000 == 0));
    let totals = |exprs: &[&str]| {
        if aligned {
            store.usage_totals(exprs, since, until, &ids)
        } else {
            store.usage_totals_exact(exprs, since, until, &ids)
        }
    };
    let rows = totals(&exprs)?;
    let total = totals(&[])?.into_iter().next().unwrap_or(UsageRow {
        group: vec![],
        input: 0,
        output: 0,
        cache_read: 0,
        cache_write: 0,
        reasoning: 0,
        cost_usd: None,
        requests: 0,
        events: 0,
    });
    if args.json {
        output::print_json(&Totals {
            group_by: &args.by,
            since: args.since.as_deref(),
            until: args.until.as_deref(),
            rows: rows.iter().map(|r| json_row(&args.by, r)).collect(),
            totals: json_row(&[], &total),
            scan: &stats,
        })?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        output::print(&format!(
            "no usage recorded for {} account{} in this period\n",
            accounts.len(),
            if accounts.len() == 1 { "" } else { "s" }
        ))?;
        return Ok(exit::OK);
    }
    let mut headers: Vec<&str> = args.by.iter().map(|d| d.header()).collect();
    headers.extend([
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "CACHE WRITE",
        "TOTAL",
        "COST",
        "REQUESTS",
    ]);
    let mut t = Table::new(&headers);
    let numbers = |r: &UsageRow| -> Vec<Cell> {
        vec![
            thousands(r.input).into(),
            thousands(r.output).into(),
            thousands(r.cache_read).into(),
            thousands(r.cache_write).into(),
            Cell::styled(
                thousands(r.input + r.output + r.cache_read + r.cache_write),
                style::HEADER,
            ),
            cost(r.cost_usd).into(),
            thousands(r.requests).into(),
        ]
    };
    for r in &rows {
        let mut cells: Vec<Cell> = r.group.iter().map(|g| Cell::from(g.clone())).collect();
        cells.extend(numbers(r));
        t.row(cells);
    }
    let mut cells: Vec<Cell> = args
        .by
        .iter()
        .enumerate()
        .map(|(i, _)| Cell::styled(if i == 0 { "TOTAL" } else { "" }, style::HEADER))
        .collect();
    cells.extend(numbers(&total));
    t.row(cells);
    output::print(&t.render())?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct BlockJson {
    account: String,
    start: String,
    end: String,
    active: bool,
    events: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    total: u64,
    cost_usd: Option<f64>,
    models: Vec<String>,
}

fn print_blocks(
    store: &Store,
    accounts: &[&crate::config::Account],
    ids: &[i64],
    since: Option<i64>,
    until: Option<i64>,
    json: bool,
) -> Result<i32> {
    let now = jiff::Timestamp::now().as_millisecond();
    let mut out = Vec::new();
    for a in accounts {
        let Some(id) = store.find_account(&a.provider_id, &a.id)? else {
            continue;
        };
        if !ids.contains(&id) {
            continue;
        }
        let events: Vec<_> = store
            .usage_events_ordered(&[id], since)?
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| until.is_none_or(|u| e.timestamp_ms < u))
            .collect();
        for b in report::blocks(&events) {
            let ts = |ms: i64| {
                jiff::Timestamp::from_millisecond(ms)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            };
            out.push(BlockJson {
                account: a.label(),
                start: ts(b.start_ms),
                end: ts(b.end_ms),
                active: now < b.end_ms,
                events: b.events,
                input: b.input,
                output: b.output,
                cache_read: b.cache_read,
                cache_write: b.cache_write,
                total: b.total(),
                cost_usd: b.cost_usd,
                models: b.models.clone(),
            });
        }
    }
    if json {
        output::print_json(&out)?;
        return Ok(exit::OK);
    }
    if out.is_empty() {
        output::print("no usage recorded in this period\n")?;
        return Ok(exit::OK);
    }
    let mut t = Table::new(&[
        "ACCOUNT", "START", "END", "", "EVENTS", "TOTAL", "COST", "MODELS",
    ]);
    for b in &out {
        t.row(vec![
            b.account.clone().into(),
            b.start
                .get(..16)
                .unwrap_or(&b.start)
                .replace('T', " ")
                .into(),
            // The time alone when the block ends the day it started.
            if b.end.get(..10) == b.start.get(..10) {
                b.end.get(11..16).unwrap_or(&b.end).to_string()
            } else {
                b.end.get(..16).unwrap_or(&b.end).replace('T', " ")
            }
            .into(),
            if b.active {
                Cell::styled("active", style::OK)
            } else {
                Cell::from("")
            },
            thousands(b.events).into(),
            thousands(b.total).into(),
            cost(b.cost_usd).into(),
            b.models.join(", ").into(),
        ]);
    }
    output::print(&t.render())?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(13_600_910_004), "13,600,910,004");
    }

    #[test]
    fn bounds() {
        assert_eq!(bound("2026-09-01", false).ok(), Some(1_788_220_800_000));
        assert_eq!(bound("2026-09-01", true).ok(), Some(1_788_307_200_000));
        assert_eq!(
            bound("2026-09-01T12:00:00Z", true).ok(),
            Some(1_788_264_000_000)
        );
        assert!(bound("last week", false).is_err());
    }
}
