//! Quota windows, thresholds, burn rate and projection on a real SQLite ledger, with a fixed
//! clock: every figure here is worked out by hand.

use std::path::Path;
use std::sync::Arc;

use xnai::config::{Config, QuotaUnit, QuotaWindow, load_str};
use xnai::quota::{Evaluator, Status, WindowQuota};
use xnai::store::Store;
use xnai::usage::{Event, Observation};

const H: i64 = 3_600_000;
const D: i64 = 24 * H;

fn ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn config(quotas: &str) -> Config {
    let text = format!(
        "credentials:
  claude:
    accounts:
      a:
        oauth_token: sk-ant-oat01-{tok}
        quotas:
{quotas}
quota_management:
  alert_thresholds: {{warning_percentage: 80, critical_percentage: 90}}
",
        tok = "A".repeat(90)
    );
    load_str(&text, Path::new("/cfg/credentials.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

struct Ledger {
    _dir: tempfile::TempDir,
    store: Store,
    id: i64,
}

fn ledger() -> Ledger {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("xnai.db")).expect("ledger");
    let id = store.account_id("claude", "a").expect("id");
    Ledger {
        _dir: dir,
        store,
        id,
    }
}

fn event(key: u64, at: i64, tokens: u64) -> Event {
    Event {
        key,
        revision: 0,
        timestamp_ms: at,
        model: Arc::from("m"),
        input: tokens,
        output: 0,
        cache_read: 0,
        cache_write: 0,
        reasoning: 0,
        cost_usd: None,
        requests: 1,
    }
}

/// Saves events of `tokens` each at the given instants.
fn record(l: &mut Ledger, at: &[(i64, u64)]) {
    let mut evs: Vec<(&'static str, Event)> = at
        .iter()
        .enumerate()
        .map(|(i, (t, n))| {
            (
                "claude",
                event(1000 + i as u64 + (*t as u64 % 1_000_000) * 1000, *t, *n),
            )
        })
        .collect();
    evs.sort_by_key(|(_, e)| e.key as i64);
    l.store
        .save_scan(l.id, evs.iter().map(|(t, e)| (*t, e)), &[], &[])
        .expect("save");
}

fn windows(cfg: &Config, l: &Ledger, now: i64) -> Vec<WindowQuota> {
    let account = cfg.accounts().next().expect("account");
    Evaluator::new(&l.store, cfg, now)
        .account(account, Some(l.id))
        .expect("evaluate")
        .windows
}

#[test]
fn weekly_window_resets_sunday_midnight_utc() {
    let cfg = config(
        "          - {limit: 1000, unit: tokens, window: weekly, reset: \"sunday 00:00 UTC\"}",
    );
    let mut l = ledger();
    // Saturday 5 December 2026 23:30 and Sunday 6 December 00:30.
    record(
        &mut l,
        &[
            (ms("2026-12-05T23:30:00Z"), 300),
            (ms("2026-12-06T00:30:00Z"), 50),
        ],
    );
    let before = &windows(&cfg, &l, ms("2026-12-05T23:59:59Z"))[0];
    assert_eq!(before.used, Some(300.0));
    assert_eq!(before.start_ms, Some(ms("2026-11-29T00:00:00Z")));
    assert_eq!(before.next_reset_ms, Some(ms("2026-12-06T00:00:00Z")));
    let after = &windows(&cfg, &l, ms("2026-12-06T01:00:00Z"))[0];
    assert_eq!(after.used, Some(50.0));
    assert_eq!(after.start_ms, Some(ms("2026-12-06T00:00:00Z")));
}

#[test]
fn monthly_window_at_month_end_and_on_a_leap_day() {
    let cfg = config("          - {limit: 50, unit: requests, window: monthly, reset_day: 31}");
    let mut l = ledger();
    record(
        &mut l,
        &[
            (ms("2028-01-31T12:00:00Z"), 1),
            (ms("2028-02-28T23:00:00Z"), 1),
            (ms("2028-02-29T00:00:01Z"), 1),
        ],
    );
    // Reset day 31 falls on 29 February in 2028: the window of the 28th started on 31 January.
    let w = &windows(&cfg, &l, ms("2028-02-28T23:30:00Z"))[0];
    assert_eq!(w.used, Some(2.0));
    assert_eq!(w.start_ms, Some(ms("2028-01-31T00:00:00Z")));
    assert_eq!(w.next_reset_ms, Some(ms("2028-02-29T00:00:00Z")));
    let w = &windows(&cfg, &l, ms("2028-02-29T12:00:00Z"))[0];
    assert_eq!(w.used, Some(1.0));
    assert_eq!(w.next_reset_ms, Some(ms("2028-03-31T00:00:00Z")));
}

#[test]
fn rolling_five_hours_opens_at_the_first_request_hour() {
    let cfg = config("          - {limit: 1000, unit: tokens, window: rolling_5h}");
    let mut l = ledger();
    record(
        &mut l,
        &[
            (ms("2026-12-03T10:05:00Z"), 100),
            (ms("2026-12-03T12:00:00Z"), 200),
            (ms("2026-12-03T16:10:00Z"), 40),
        ],
    );
    let w = &windows(&cfg, &l, ms("2026-12-03T13:00:00Z"))[0];
    assert_eq!(
        (w.used, w.start_ms),
        (Some(300.0), Some(ms("2026-12-03T10:00:00Z")))
    );
    assert_eq!(w.next_reset_ms, Some(ms("2026-12-03T15:00:00Z")));
    // 300 in 3 hours = 100/hour: the remaining 700 would take 7 hours, past the 15:00 end.
    let p = w.projection.expect("projection");
    assert!(!p.runs_out_before_reset);
    assert_eq!(p.exhaustion_ms, None);
    // Between windows: nothing open, nothing used.
    let w = &windows(&cfg, &l, ms("2026-12-03T15:30:00Z"))[0];
    assert_eq!(
        (w.used, w.start_ms, w.status),
        (Some(0.0), None, Status::Active)
    );
    // The next request opened a new one at 16:00.
    let w = &windows(&cfg, &l, ms("2026-12-03T16:30:00Z"))[0];
    assert_eq!(
        (w.used, w.start_ms),
        (Some(40.0), Some(ms("2026-12-03T16:00:00Z")))
    );
}

#[test]
fn thresholds_exactly_at_80_90_and_100_percent() {
    let cfg = config("          - {limit: 100, unit: tokens, window: daily}");
    let now = ms("2026-12-03T20:00:00Z");
    let status_at = |used: u64| {
        let mut l = ledger();
        record(&mut l, &[(ms("2026-12-03T09:00:00Z"), used)]);
        windows(&cfg, &l, now)[0].status
    };
    assert_eq!(status_at(79), Status::Active);
    assert_eq!(status_at(80), Status::Warning);
    assert_eq!(status_at(89), Status::Warning);
    assert_eq!(status_at(90), Status::Critical);
    assert_eq!(status_at(99), Status::Critical);
    assert_eq!(status_at(100), Status::Exhausted);
    assert_eq!(status_at(250), Status::Exhausted);
}

#[test]
fn burn_rate_and_projection_from_the_ledger() {
    let cfg = config("          - {limit: 1000, unit: tokens, window: weekly}");
    let mut l = ledger();
    // 100 tokens at noon every day from Monday 23 November to Thursday 3 December.
    let days: Vec<(i64, u64)> = (0..11)
        .map(|d| (ms("2026-11-23T12:00:00Z") + d * D, 100))
        .collect();
    record(&mut l, &days);
    // Thursday 3 December 18:00: the week (from Monday 30 November) has 400.
    let now = ms("2026-12-03T18:00:00Z");
    let w = &windows(&cfg, &l, now)[0];
    assert_eq!(w.used, Some(400.0));
    let burn = w.burn_rate_per_day.expect("burn");
    assert!((burn - 100.0).abs() < 2.0, "{burn}");
    // 600 left at ~100 a day: about 6 days, after the Monday reset 3.25 days away; a fresh
    // week of 1000 at 100 a day lasts longer than a week: never at this rate.
    let p = w.projection.expect("projection");
    assert!(!p.runs_out_before_reset);
    assert_eq!(p.exhaustion_ms, None);

    // A tighter limit: 500 a week. 100 left, out in about a day, before the reset.
    let cfg = config("          - {limit: 500, unit: tokens, window: weekly}");
    let w = &windows(&cfg, &l, now)[0];
    let p = w.projection.expect("projection");
    assert!(p.runs_out_before_reset);
    let days = p.days_until_exhaustion.expect("days");
    assert!((days - 1.0).abs() < 0.05, "{days}");
}

#[test]
fn units_without_a_source_and_accounts_without_limits_are_unknown() {
    let cfg = config(
        "          - {limit: 2000, unit: completions, window: monthly}
          - {limit: 10, unit: usd, window: monthly}",
    );
    let mut l = ledger();
    record(&mut l, &[(ms("2026-12-02T10:00:00Z"), 10)]);
    let ws = windows(&cfg, &l, ms("2026-12-03T00:00:00Z"));
    assert_eq!(ws[0].unit, QuotaUnit::Completions);
    assert_eq!(
        (ws[0].used, ws[0].percent, ws[0].status),
        (None, None, Status::Unknown)
    );
    assert!(ws[0].note.as_deref().unwrap_or("").contains("completions"));
    // The event has no cost: money used is unknown, not $0.
    assert_eq!((ws[1].used, ws[1].status), (None, Status::Unknown));

    let text = format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n",
        "A".repeat(90)
    );
    let bare = load_str(&text, Path::new("/c.yaml"), &|_| None).expect("config");
    let q = Evaluator::new(&l.store, &bare, ms("2026-12-03T00:00:00Z"))
        .account(bare.accounts().next().expect("a"), Some(l.id))
        .expect("evaluate");
    assert!(q.windows.is_empty());
    assert_eq!(q.status, Status::Unknown);
}

#[test]
fn provider_reported_percentages() {
    let text = format!(
        "credentials:\n  codex:\n    accounts:\n      pro:\n        api_key: sk-proj-{}\n",
        "k".repeat(60)
    );
    let cfg = load_str(&text, Path::new("/c.yaml"), &|_| None).expect("config");
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(&dir.path().join("xnai.db")).expect("ledger");
    let id = store.account_id("codex", "pro").expect("id");
    let obs = |at: &str, used: f64, resets: &str| Observation {
        observed_ms: ms(at),
        window: "primary".to_string(),
        window_minutes: Some(300),
        used_percent: used,
        resets_at_ms: Some(ms(resets)),
    };
    let weekly = Observation {
        observed_ms: ms("2026-12-03T11:00:00Z"),
        window: "secondary".to_string(),
        window_minutes: Some(10080),
        used_percent: 100.0,
        resets_at_ms: Some(ms("2026-12-07T00:00:00Z")),
    };
    store
        .save_scan(
            id,
            std::iter::empty(),
            &[],
            &[
                (
                    "codex",
                    obs("2026-12-03T10:00:00Z", 40.0, "2026-12-03T14:00:00Z"),
                ),
                (
                    "codex",
                    obs("2026-12-03T11:00:00Z", 85.0, "2026-12-03T14:00:00Z"),
                ),
                ("codex", weekly),
            ],
        )
        .expect("save");
    let account = cfg.accounts().next().expect("a");
    let q = Evaluator::new(&store, &cfg, ms("2026-12-03T11:30:00Z"))
        .account(account, Some(id))
        .expect("evaluate");
    let five = q
        .windows
        .iter()
        .find(|w| w.window == QuotaWindow::Rolling5h)
        .expect("5h");
    assert_eq!((five.percent, five.status), (Some(85.0), Status::Warning));
    assert_eq!(five.next_reset_ms, Some(ms("2026-12-03T14:00:00Z")));
    assert_eq!(five.start_ms, Some(ms("2026-12-03T09:00:00Z")));
    // The provider says the week is used up.
    let week = q
        .windows
        .iter()
        .find(|w| w.window == QuotaWindow::Weekly)
        .expect("weekly");
    assert_eq!(week.status, Status::Exhausted);
    assert_eq!(q.status, Status::Exhausted);
    // After the 5-hour reset with no report since: what a new window has used is unknown
    // (not the stale 85 %, nor an invented 0 %), and so are its start and reset, since it
    // opens with the next request.
    for as_of in ["2026-12-03T14:30:00Z", "2026-12-04T01:00:00Z"] {
        let q = Evaluator::new(&store, &cfg, ms(as_of))
            .account(account, Some(id))
            .expect("evaluate");
        let five = q
            .windows
            .iter()
            .find(|w| w.window == QuotaWindow::Rolling5h)
            .expect("5h");
        assert_eq!(
            (five.used, five.percent, five.status),
            (None, None, Status::Unknown),
            "{as_of}"
        );
        assert_eq!((five.start_ms, five.next_reset_ms), (None, None), "{as_of}");
        assert_eq!(
            (five.projection.as_ref(), five.burn_rate_per_day),
            (None, None),
            "{as_of}"
        );
    }
}

/// A Codex account whose ledger holds only `obs`.
fn codex_with(obs: &[Observation]) -> (tempfile::TempDir, Store, i64, Config) {
    let text = format!(
        "credentials:\n  codex:\n    accounts:\n      pro:\n        api_key: sk-proj-{}\n",
        "k".repeat(60)
    );
    let cfg = load_str(&text, Path::new("/c.yaml"), &|_| None).expect("config");
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(&dir.path().join("xnai.db")).expect("ledger");
    let id = store.account_id("codex", "pro").expect("id");
    let tagged: Vec<(&'static str, Observation)> =
        obs.iter().map(|o| ("codex", o.clone())).collect();
    store
        .save_scan(id, std::iter::empty(), &[], &tagged)
        .expect("save");
    (dir, store, id, cfg)
}

#[test]
fn reports_a_minute_apart_give_no_absurd_burn() {
    let o = |window: &str, minutes: i64, at: &str, used: f64, resets: &str| Observation {
        observed_ms: ms(at),
        window: window.to_string(),
        window_minutes: Some(minutes),
        used_percent: used,
        resets_at_ms: Some(ms(resets)),
    };
    let (_d, store, id, cfg) = codex_with(&[
        // A week that started on Monday 30 November, reported twice a minute apart.
        o(
            "secondary",
            10080,
            "2026-12-03T10:00:00Z",
            50.0,
            "2026-12-07T00:00:00Z",
        ),
        o(
            "secondary",
            10080,
            "2026-12-03T10:01:00Z",
            52.0,
            "2026-12-07T00:00:00Z",
        ),
        // A 5-hour window opened at 10:00, reported at 10:01 and 10:02.
        o(
            "primary",
            300,
            "2026-12-03T10:01:00Z",
            5.0,
            "2026-12-03T15:00:00Z",
        ),
        o(
            "primary",
            300,
            "2026-12-03T10:02:00Z",
            8.0,
            "2026-12-03T15:00:00Z",
        ),
    ]);
    let account = cfg.accounts().next().expect("a");
    let q = Evaluator::new(&store, &cfg, ms("2026-12-03T10:05:00Z"))
        .account(account, Some(id))
        .expect("evaluate");
    let week = q
        .windows
        .iter()
        .find(|w| w.window == QuotaWindow::Weekly)
        .expect("weekly");
    // Anchored at the week's start with 0 %: about 52 % in 3.4 days, not 2 % a minute
    // (2,880 % a day, out in 24 minutes).
    let burn = week.burn_rate_per_day.expect("burn");
    assert!((10.0..20.0).contains(&burn), "{burn}");
    let out = week
        .projection
        .and_then(|p| p.exhaustion_ms)
        .expect("runs out at this rate");
    assert!(out > ms("2026-12-05T00:00:00Z"), "{out}");
    // Anchored at 10:00, the 5-hour series spans 2 minutes: too short for a rate.
    let five = q
        .windows
        .iter()
        .find(|w| w.window == QuotaWindow::Rolling5h)
        .expect("5h");
    assert_eq!(five.burn_rate_per_day, None);
    assert_eq!(five.percent, Some(8.0));
}

#[test]
fn no_usage_means_an_unknown_burn_for_what_no_log_records() {
    let cfg = config(
        "          - {limit: 2000, unit: completions, window: monthly}
          - {limit: 1000, unit: tokens, window: monthly}",
    );
    let l = ledger();
    let ws = windows(&cfg, &l, ms("2026-12-03T00:00:00Z"));
    assert_eq!(ws[0].unit, QuotaUnit::Completions);
    assert_eq!(ws[0].burn_rate_per_day, None);
    // Tokens are logged: none used is a real 0 a day.
    assert_eq!(ws[1].burn_rate_per_day, Some(0.0));
}

/// Saves a Claude Code usage-limit notice logged at `at` that lifts at `lifts`.
fn notice(l: &mut Ledger, at: i64, lifts: i64) {
    let o = Observation {
        observed_ms: at,
        window: xnai::usage::LIMIT_REACHED.to_string(),
        window_minutes: None,
        used_percent: 100.0,
        resets_at_ms: Some(lifts),
    };
    l.store
        .save_scan(l.id, std::iter::empty(), &[], &[("claude", o)])
        .expect("save");
}

#[test]
fn a_usage_limit_notice_exhausts_the_five_hour_window_until_it_lifts() {
    let cfg = config(
        "          - {limit: 1000000, unit: tokens, window: weekly}
          - {limit: 1000, unit: tokens, window: rolling_5h}",
    );
    let mut l = ledger();
    record(&mut l, &[(ms("2026-10-03T11:00:00Z"), 400)]);
    notice(
        &mut l,
        ms("2026-10-03T11:40:02Z"),
        ms("2026-10-03T16:00:00Z"),
    );
    let ws = windows(&cfg, &l, ms("2026-10-03T12:00:00Z"));
    let (week, five) = (&ws[0], &ws[1]);
    assert_eq!(five.window, QuotaWindow::Rolling5h);
    // 40 % by the ledger's count, but the agent says it is out: exhausted until 16:00.
    assert_eq!(five.percent, Some(40.0));
    assert_eq!(five.status, Status::Exhausted);
    assert_eq!(five.next_reset_ms, Some(ms("2026-10-03T16:00:00Z")));
    assert_eq!(five.exhausted_until_ms, Some(ms("2026-10-03T16:00:00Z")));
    assert_eq!(week.status, Status::Active);
    assert_eq!(week.exhausted_until_ms, None);
    // Once it has lifted the notice says nothing.
    let ws = windows(&cfg, &l, ms("2026-10-03T16:00:01Z"));
    assert_eq!(
        (ws[1].status, ws[1].exhausted_until_ms),
        (Status::Active, None)
    );
    // Nor before it was logged (an audit as of an earlier time).
    let ws = windows(&cfg, &l, ms("2026-10-03T11:30:00Z"));
    assert_eq!(ws[1].status, Status::Active);
}

#[test]
fn a_usage_limit_notice_without_limits_adds_an_exhausted_window() {
    let text = format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n",
        "A".repeat(90)
    );
    let bare = load_str(&text, Path::new("/c.yaml"), &|_| None).expect("config");
    let mut l = ledger();
    notice(
        &mut l,
        ms("2026-10-03T11:40:02Z"),
        ms("2026-10-03T16:00:00Z"),
    );
    let q = Evaluator::new(&l.store, &bare, ms("2026-10-03T12:00:00Z"))
        .account(bare.accounts().next().expect("a"), Some(l.id))
        .expect("evaluate");
    assert_eq!(q.status, Status::Exhausted);
    assert_eq!(q.windows.len(), 1);
    let w = &q.windows[0];
    assert_eq!(
        (w.window, w.percent, w.next_reset_ms),
        (
            QuotaWindow::Rolling5h,
            None,
            Some(ms("2026-10-03T16:00:00Z"))
        )
    );
    let q = Evaluator::new(&l.store, &bare, ms("2026-10-03T17:00:00Z"))
        .account(bare.accounts().next().expect("a"), Some(l.id))
        .expect("evaluate");
    assert!(q.windows.is_empty());
}

#[test]
fn usage_is_reported_for_today_the_iso_week_and_the_month_whatever_the_limits() {
    // No limits at all: the usage still shows, and no percentage is made up.
    let text = format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n",
        "A".repeat(90)
    );
    let bare = load_str(&text, Path::new("/c.yaml"), &|_| None).expect("config");
    let mut l = ledger();
    let mut with_cost = event(9, ms("2026-12-01T09:00:00Z"), 200);
    with_cost.cost_usd = Some(0.5);
    let evs = [
        // Sunday 29 November: last ISO week, last month.
        event(1, ms("2026-11-29T12:00:00Z"), 1000),
        // Monday 30 November: this week, last month.
        event(2, ms("2026-11-30T10:00:00Z"), 100),
        with_cost,
        // Thursday 3 December, today.
        event(4, ms("2026-12-03T08:00:00Z"), 50),
        // After the evaluation time: ignored.
        event(5, ms("2026-12-03T20:00:00Z"), 7),
    ];
    let mut sorted: Vec<&Event> = evs.iter().collect();
    sorted.sort_by_key(|e| e.key as i64);
    l.store
        .save_scan(l.id, sorted.into_iter().map(|e| ("claude", e)), &[], &[])
        .expect("save");
    let q = Evaluator::new(&l.store, &bare, ms("2026-12-03T18:00:00Z"))
        .account(bare.accounts().next().expect("a"), Some(l.id))
        .expect("evaluate");
    assert!(q.windows.is_empty());
    let u = q.usage.expect("usage");
    assert_eq!(
        (u.today.start_ms, u.today.tokens, u.today.requests),
        (ms("2026-12-03T00:00:00Z"), 50, 1)
    );
    assert_eq!(
        (u.week.start_ms, u.week.tokens, u.week.requests),
        (ms("2026-11-30T00:00:00Z"), 350, 3)
    );
    assert_eq!(
        (u.month.start_ms, u.month.tokens, u.month.requests),
        (ms("2026-12-01T00:00:00Z"), 250, 2)
    );
    // Cost where the log records it: one of the month's two requests.
    assert_eq!(u.today.cost_usd, None);
    assert_eq!((u.month.cost_usd, u.month.cost_events), (Some(0.5), 1));
    assert!(u.tokens_burn_per_day.is_some_and(|b| b > 0.0));
    // An account the ledger has never seen: unknown, not zero.
    let q = Evaluator::new(&l.store, &bare, ms("2026-12-03T18:00:00Z"))
        .account(bare.accounts().next().expect("a"), None)
        .expect("evaluate");
    assert_eq!(q.usage, None);
}
