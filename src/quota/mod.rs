//! Quota: each account's limits, how much of each window is used (from the usage ledger, or
//! from what the provider itself reported), the burn rate, and when each window runs out.
//!
//! Nothing here is invented: a limit nobody configured is not assumed, a unit no log records
//! (completions) is "unknown", and a percentage exists only when both the limit and the usage
//! are known.

pub mod burn;
pub mod window;

use serde::Serialize;

use crate::config::{Account, Config, QuotaLimit, QuotaUnit, QuotaWindow, Thresholds};
use crate::error::Result;
use crate::store::{Store, Sums};
use crate::usage::Observation;
use crate::usage::report::blocks;
use burn::{Point, Projection};

const DAY_MS: i64 = 86_400_000;
/// Days of history the burn rate is fitted over.
pub const BURN_DAYS: i64 = 7;
/// An observation older than this says nothing about today.
const OBSERVATION_MAX_AGE_MS: i64 = 8 * DAY_MS;
/// The shortest elapsed time a 5-hour window's rate is extrapolated from.
const MIN_BLOCK_ELAPSED_MS: i64 = 15 * 60 * 1000;
/// The shortest span of provider reports a burn rate is fitted over.
const MIN_BURN_SPAN_MS: i64 = 15 * 60 * 1000;

/// Where a window stands. Ordered: a later variant is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No limit known, or no usage source for its unit.
    Unknown,
    /// Below the warning threshold.
    Active,
    /// At or above the warning threshold.
    Warning,
    /// At or above the critical threshold.
    Critical,
    /// At or above 100 %, or the provider says so.
    Exhausted,
}

impl Status {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Active => "active",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Exhausted => "exhausted",
        }
    }
}

/// `active < warning ≤ … < critical ≤ … < 100 % ≤ exhausted`.
pub fn classify(percent: f64, t: &Thresholds) -> Status {
    if percent >= 100.0 {
        Status::Exhausted
    } else if percent >= t.critical {
        Status::Critical
    } else if percent >= t.warning {
        Status::Warning
    } else {
        Status::Active
    }
}

/// One window of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowQuota {
    /// What it counts.
    pub unit: QuotaUnit,
    /// How it is measured.
    pub window: QuotaWindow,
    /// The limit, when configured (100 for a percentage the provider reports).
    pub limit: Option<f64>,
    /// Used in the current window; `None` when no source records this unit.
    pub used: Option<f64>,
    /// `limit - used`, not below 0.
    pub remaining: Option<f64>,
    /// `used / limit`, in percent.
    pub percent: Option<f64>,
    /// Status from the thresholds.
    pub status: Status,
    /// When the current window opened.
    pub start_ms: Option<i64>,
    /// When it resets.
    pub next_reset_ms: Option<i64>,
    /// Use per day over the last days (least squares).
    pub burn_rate_per_day: Option<f64>,
    /// The rate the projection assumes, per day: the burn rate, or for a 5-hour window the
    /// pace inside the window so far.
    pub pace_per_day: Option<f64>,
    /// When it runs out at that rate.
    pub projection: Option<Projection>,
    /// Where `used` comes from: `ledger`, or the provider's own report.
    pub source: String,
    /// Why something is unknown, or how to read it.
    pub note: Option<String>,
    /// The tool said the limit is reached (Claude Code's usage-limit notice): exhausted until
    /// then, whatever the figures say.
    pub exhausted_until_ms: Option<i64>,
}

impl WindowQuota {
    /// A window about which nothing is known yet: no usage, status unknown, no projection.
    pub fn unknown(
        unit: QuotaUnit,
        window: QuotaWindow,
        limit: Option<f64>,
        source: String,
    ) -> WindowQuota {
        WindowQuota {
            unit,
            window,
            limit,
            used: None,
            remaining: None,
            percent: None,
            status: Status::Unknown,
            start_ms: None,
            next_reset_ms: None,
            burn_rate_per_day: None,
            pace_per_day: None,
            projection: None,
            source,
            note: None,
            exhausted_until_ms: None,
        }
    }

    /// `unit/window`, the key of its snapshots.
    pub fn key(&self) -> String {
        format!("{}/{}", self.unit.name(), self.window.name())
    }
}

/// What an account used in one calendar period (UTC), from its start up to the evaluation
/// time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodUsage {
    /// When the period started (Unix ms).
    pub start_ms: i64,
    /// Tokens (input + output + cache read + cache write).
    pub tokens: u64,
    /// Requests.
    pub requests: u64,
    /// Recorded cost in USD; `None` when no event of the period carried one (xnai does not
    /// price tokens).
    pub cost_usd: Option<f64>,
    /// Events that carried a cost.
    pub cost_events: u64,
    /// Events.
    pub events: u64,
}

impl PeriodUsage {
    fn from_sums(start_ms: i64, s: &Sums) -> Self {
        PeriodUsage {
            start_ms,
            tokens: s.tokens,
            requests: s.requests,
            cost_usd: (s.cost_events > 0).then_some(s.cost),
            cost_events: s.cost_events,
            events: s.events,
        }
    }
}

/// An account's usage whatever its limits: today, this ISO week and this month (UTC), and
/// the tokens burned per day. Reported for every account, limited or not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageSummary {
    /// Since 00:00 UTC.
    pub today: PeriodUsage,
    /// Since Monday 00:00 UTC.
    pub week: PeriodUsage,
    /// Since the 1st, 00:00 UTC.
    pub month: PeriodUsage,
    /// Tokens per day over the last days (least squares), when measurable.
    pub tokens_burn_per_day: Option<f64>,
}

/// Every window of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountQuota {
    /// Configured limits first, in file order, then windows only the provider reported.
    pub windows: Vec<WindowQuota>,
    /// The worst window status (`unknown` without any known window).
    pub status: Status,
    /// Usage regardless of limits; `None` when unknown (the ledger has no record of the
    /// account).
    pub usage: Option<UsageSummary>,
}

impl AccountQuota {
    /// Drops every usage figure, for an account whose usage was never collected: the empty
    /// ledger would otherwise read as 0 % used. Calendar facts (window start, reset) and a
    /// limit the agent said was reached stay.
    pub fn forget_usage(&mut self, note: &str) {
        for w in &mut self.windows {
            if w.exhausted_until_ms.is_some() {
                continue;
            }
            w.used = None;
            w.remaining = None;
            w.percent = None;
            w.status = Status::Unknown;
            w.burn_rate_per_day = None;
            w.pace_per_day = None;
            w.projection = None;
            w.note = Some(note.to_string());
        }
        self.usage = None;
        self.status = self
            .windows
            .iter()
            .map(|w| w.status)
            .max()
            .unwrap_or(Status::Unknown);
    }

    /// The window that runs out first, or else the fullest one.
    pub fn tightest(&self) -> Option<&WindowQuota> {
        let soonest = self
            .windows
            .iter()
            .filter_map(|w| {
                w.projection
                    .and_then(|p| p.exhaustion_ms)
                    .filter(|_| w.status != Status::Unknown)
                    .map(|t| (t, w))
            })
            .min_by_key(|(t, _)| *t)
            .map(|(_, w)| w);
        soonest.or_else(|| {
            self.windows
                .iter()
                .filter(|w| w.percent.is_some())
                .max_by(|a, b| {
                    a.percent
                        .partial_cmp(&b.percent)
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
        })
    }
}

/// The limits that apply to an account: its own `quotas`, else its provider's.
pub fn limits_for<'c>(cfg: &'c Config, account: &'c Account) -> &'c [QuotaLimit] {
    if let Some(own) = &account.quotas {
        return own;
    }
    cfg.quota
        .quotas
        .iter()
        .find(|(p, _)| *p == account.provider_id)
        .map_or(&[][..], |(_, l)| l.as_slice())
}

/// The quota window a provider-reported window length corresponds to.
pub fn observed_window(minutes: Option<i64>) -> Option<QuotaWindow> {
    match minutes? {
        300 => Some(QuotaWindow::Rolling5h),
        1440 => Some(QuotaWindow::Daily),
        10080 => Some(QuotaWindow::Weekly),
        40320..=44640 => Some(QuotaWindow::Monthly),
        _ => None,
    }
}

fn unit_value(unit: QuotaUnit, s: &Sums) -> Option<f64> {
    match unit {
        QuotaUnit::Tokens => Some(s.tokens as f64),
        QuotaUnit::Requests | QuotaUnit::Messages => Some(s.requests as f64),
        QuotaUnit::Usd if s.cost_events > 0 || s.events == 0 => Some(s.cost),
        QuotaUnit::Usd | QuotaUnit::Completions | QuotaUnit::Percent => None,
    }
}

fn unit_note(unit: QuotaUnit, s: &Sums) -> Option<String> {
    match unit {
        QuotaUnit::Completions => {
            Some("no agent log records code completions: usage unknown".to_string())
        }
        QuotaUnit::Usd if s.events > 0 && s.cost_events == 0 => {
            Some("the tool logs no cost: usage unknown (xnai does not price tokens)".to_string())
        }
        QuotaUnit::Usd if s.cost_events < s.events => Some(format!(
            "cost recorded for {} of {} requests: a lower bound",
            s.cost_events, s.events
        )),
        QuotaUnit::Messages => Some("chat requests the agent logged".to_string()),
        _ => None,
    }
}

/// Computes quota for accounts as of one instant.
pub struct Evaluator<'a> {
    store: &'a Store,
    config: &'a Config,
    now_ms: i64,
}

impl<'a> Evaluator<'a> {
    /// Evaluates as of `now_ms`: usage after it is ignored.
    pub fn new(store: &'a Store, config: &'a Config, now_ms: i64) -> Self {
        Evaluator {
            store,
            config,
            now_ms,
        }
    }

    /// Every window of `account` (its ledger id, `None` if the ledger has never seen it).
    pub fn account(&self, account: &Account, id: Option<i64>) -> Result<AccountQuota> {
        let mut windows = Vec::new();
        let observations = match id {
            Some(id) => self
                .store
                .observations_since(id, self.now_ms - OBSERVATION_MAX_AGE_MS)?
                .into_iter()
                .filter(|(_, o)| o.observed_ms <= self.now_ms)
                .collect(),
            None => Vec::new(),
        };
        let mut used_observed: Vec<(String, String)> = Vec::new();
        for limit in limits_for(self.config, account) {
            let w = if limit.unit == QuotaUnit::Percent {
                let found = latest_for_window(&observations, limit.window);
                if let Some((src, o)) = &found {
                    used_observed.push((src.clone(), o.window.clone()));
                }
                self.observed(limit.window, Some(limit.limit), found, &observations)
            } else {
                self.ledger_window(limit, id)?
            };
            windows.push(w);
        }
        // Windows the provider reported that no configured limit covers.
        let mut seen: Vec<(String, String)> = Vec::new();
        for (src, o) in observations.iter().rev() {
            let k = (src.clone(), o.window.clone());
            if seen.contains(&k) || used_observed.contains(&k) {
                continue;
            }
            seen.push(k);
            let Some(win) = observed_window(o.window_minutes) else {
                continue;
            };
            if windows
                .iter()
                .any(|w: &WindowQuota| w.unit == QuotaUnit::Percent && w.window == win)
            {
                continue;
            }
            windows.push(self.observed(win, None, Some((src.clone(), o.clone())), &observations));
        }
        if let Some((src, notice)) = limit_reached(&observations, self.now_ms) {
            self.mark_limit_reached(&mut windows, &src, &notice);
        }
        let status = windows
            .iter()
            .map(|w| w.status)
            .max()
            .unwrap_or(Status::Unknown);
        let usage = match id {
            Some(id) => self.usage(id)?,
            None => None,
        };
        Ok(AccountQuota {
            windows,
            status,
            usage,
        })
    }

    /// Today's, this ISO week's and this month's usage (UTC) and the tokens burn rate.
    fn usage(&self, id: i64) -> Result<Option<UsageSummary>> {
        let now = self.now_ms;
        let Ok(utc) = window::default_reset(None) else {
            return Ok(None);
        };
        let period = |win: QuotaWindow| -> Result<Option<PeriodUsage>> {
            let Some(span) = window::calendar(win, &utc, now) else {
                return Ok(None);
            };
            let sums = self
                .store
                .usage_sums(id, span.start_ms, now.saturating_add(1))?;
            Ok(Some(PeriodUsage::from_sums(span.start_ms, &sums)))
        };
        let (Some(today), Some(week), Some(month)) = (
            period(QuotaWindow::Daily)?,
            period(QuotaWindow::Weekly)?,
            period(QuotaWindow::Monthly)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(UsageSummary {
            today,
            week,
            month,
            tokens_burn_per_day: self.ledger_burn(id, QuotaUnit::Tokens)?,
        }))
    }

    /// Marks the window a usage-limit notice is about exhausted until it lifts: the 5-hour
    /// window, else the tightest, else the first; with no window at all, one is added for
    /// it (5-hour when it lifts within five hours of the notice, else weekly), so the account
    /// shows as out and the dispatcher leaves it alone.
    fn mark_limit_reached(&self, windows: &mut Vec<WindowQuota>, src: &str, o: &Observation) {
        let Some(until) = o.resets_at_ms else { return };
        let now = self.now_ms;
        let note = format!(
            "{src} reported its usage limit reached at {}; it lifts at {}",
            crate::output::iso_ms(o.observed_ms),
            crate::output::iso_ms(until)
        );
        let tightest = AccountQuota {
            windows: windows.clone(),
            status: Status::Unknown,
            usage: None,
        }
        .tightest()
        .map(WindowQuota::key);
        let at = windows
            .iter()
            .position(|w| w.window == QuotaWindow::Rolling5h)
            .or_else(|| tightest.and_then(|k| windows.iter().position(|w| w.key() == k)))
            .or_else(|| (!windows.is_empty()).then_some(0));
        let w = match at {
            Some(i) => &mut windows[i],
            None => {
                let five_hours = until - o.observed_ms <= 5 * 3_600_000 + 60_000;
                windows.push(WindowQuota::unknown(
                    QuotaUnit::Percent,
                    if five_hours {
                        QuotaWindow::Rolling5h
                    } else {
                        QuotaWindow::Weekly
                    },
                    None,
                    format!("{src} usage-limit notice"),
                ));
                let last = windows.len() - 1;
                &mut windows[last]
            }
        };
        w.status = Status::Exhausted;
        w.next_reset_ms = Some(until);
        w.exhausted_until_ms = Some(until);
        w.projection = Some(Projection {
            days_until_exhaustion: Some(0.0),
            exhaustion_ms: Some(now),
            runs_out_before_reset: true,
        });
        w.note = Some(match w.note.take() {
            Some(old) if w.source == "ledger" => format!("{note} ({old})"),
            _ => note,
        });
    }

    fn thresholds(&self) -> &Thresholds {
        &self.config.quota.thresholds
    }

    fn reset_rule(&self, limit: &QuotaLimit) -> Option<window::Reset> {
        let mut base = window::default_reset(self.config.quota.timezone.as_deref()).ok()?;
        if let Some(d) = limit.reset_day {
            base.day = i8::try_from(d).unwrap_or(1);
        }
        match &limit.reset {
            Some(text) => window::parse_reset(text, limit.window, &base).ok(),
            None => Some(base),
        }
    }

    fn ledger_window(&self, limit: &QuotaLimit, id: Option<i64>) -> Result<WindowQuota> {
        let now = self.now_ms;
        let mut w = WindowQuota::unknown(
            limit.unit,
            limit.window,
            Some(limit.limit),
            "ledger".to_string(),
        );
        let (span, block_events) = if limit.window == QuotaWindow::Rolling5h {
            // The 5-hour window open now, found from the blocks of the last two days.
            let events = match id {
                Some(id) => self
                    .store
                    .usage_events_ordered(&[id], Some(now - 2 * DAY_MS))?
                    .into_iter()
                    .map(|(_, e)| e)
                    .filter(|e| e.timestamp_ms <= now)
                    .collect(),
                None => Vec::new(),
            };
            let open = blocks(&events)
                .into_iter()
                .last()
                .filter(|b| now < b.end_ms)
                .map(|b| window::Span {
                    start_ms: b.start_ms,
                    end_ms: b.end_ms,
                });
            (open, true)
        } else {
            let Some(rule) = self.reset_rule(limit) else {
                w.note = Some("the reset rule cannot be applied".to_string());
                return Ok(w);
            };
            (window::calendar(limit.window, &rule, now), false)
        };
        let sums = match (id, span) {
            (Some(id), Some(s)) => self
                .store
                .usage_sums(id, s.start_ms, now.saturating_add(1))?,
            _ => Sums::default(),
        };
        w.start_ms = span.map(|s| s.start_ms);
        w.next_reset_ms = span.map(|s| s.end_ms);
        w.note = unit_note(limit.unit, &sums);
        if block_events && span.is_none() {
            w.note = Some("no 5-hour window open: the next request opens one".to_string());
        }
        w.used = unit_value(limit.unit, &sums);
        w.burn_rate_per_day = match id {
            Some(id) => self.ledger_burn(id, limit.unit)?,
            None => None,
        };
        let Some(used) = w.used else {
            return Ok(w);
        };
        w.remaining = Some((limit.limit - used).max(0.0));
        let percent = used / limit.limit * 100.0;
        w.percent = Some(percent);
        w.status = classify(percent, self.thresholds());
        w.projection = Some(match span {
            Some(s) if block_events => {
                // Within a 5-hour window the day's average says little: the window's own
                // pace does.
                let rate = window_pace(used, s.start_ms, now);
                w.pace_per_day = Some(rate);
                burn::project(used, limit.limit, Some(rate), now, Some(s.end_ms), None)
            }
            Some(s) => {
                w.pace_per_day = w.burn_rate_per_day;
                burn::project(
                    used,
                    limit.limit,
                    w.burn_rate_per_day,
                    now,
                    Some(s.end_ms),
                    Some(s.end_ms - s.start_ms),
                )
            }
            None => burn::project(used, limit.limit, None, now, None, None),
        });
        Ok(w)
    }

    /// Use per day from the ledger's daily totals: the slope of cumulative use over the last
    /// [`BURN_DAYS`] days (or since the account's first use, if later).
    fn ledger_burn(&self, id: i64, unit: QuotaUnit) -> Result<Option<f64>> {
        // No log records these: a rate of 0 would claim nothing was used.
        if matches!(unit, QuotaUnit::Completions | QuotaUnit::Percent) {
            return Ok(None);
        }
        let now = self.now_ms;
        let today = now.div_euclid(DAY_MS);
        let Some(first) = self.store.first_usage_day(id)? else {
            return Ok(Some(0.0));
        };
        if first > today {
            return Ok(Some(0.0));
        }
        let from = first.max(today - BURN_DAYS);
        let days = self.store.daily_sums(id, from, today - 1)?;
        let mut points = vec![(from * DAY_MS, 0.0)];
        let mut total = 0.0;
        for d in from..today {
            if let Some((_, s)) = days.iter().find(|(day, _)| *day == d) {
                match unit_value(unit, s) {
                    Some(v) => total += v,
                    None => return Ok(None),
                }
            }
            points.push(((d + 1) * DAY_MS, total));
        }
        let today_sums = self
            .store
            .usage_sums(id, today * DAY_MS, now.saturating_add(1))?;
        let Some(v) = unit_value(unit, &today_sums) else {
            return Ok(None);
        };
        if now > today * DAY_MS {
            points.push((now, total + v));
        }
        Ok(burn::slope_per_day(&points))
    }

    /// A window the provider reports as a percentage.
    fn observed(
        &self,
        win: QuotaWindow,
        limit: Option<f64>,
        latest: Option<(String, Observation)>,
        all: &[(String, Observation)],
    ) -> WindowQuota {
        let now = self.now_ms;
        let limit_v = limit.unwrap_or(100.0);
        let mut w =
            WindowQuota::unknown(QuotaUnit::Percent, win, Some(limit_v), "none".to_string());
        w.note = Some("no provider report of this window in the last 8 days".to_string());
        let Some((src, o)) = latest else {
            return w;
        };
        let window_ms = o.window_minutes.filter(|m| *m > 0).map(|m| m * 60_000);
        w.source = format!("{src} rate_limits");
        w.note = Some(format!(
            "reported by {src} at {}",
            crate::output::iso_ms(o.observed_ms)
        ));
        w.burn_rate_per_day = observed_burn(
            all.iter()
                .filter(|(s, x)| {
                    *s == src && x.window == o.window && x.observed_ms >= now - BURN_DAYS * DAY_MS
                })
                .map(|(_, x)| x),
            window_ms,
            limit_v,
        );
        if let Some(reset) = o.resets_at_ms.filter(|r| *r <= now) {
            // The window the report was about is over and the tool has not reported since: the
            // old percentage is stale, nothing says how much a new window has used, and a
            // provider window opens with the first request after the reset, so neither its
            // start nor its end is known either. A 5-hour window's old pace says nothing
            // about the next one.
            if win == QuotaWindow::Rolling5h {
                w.burn_rate_per_day = None;
            }
            w.note = Some(format!(
                "reset at {}; {src} has not reported since: usage unknown until it does (the \
                 next window opens with the next request)",
                crate::output::iso_ms(reset)
            ));
            return w;
        }
        w.start_ms = match (o.resets_at_ms, window_ms) {
            (Some(r), Some(len)) => Some(r - len),
            _ => None,
        };
        w.next_reset_ms = o.resets_at_ms;
        let used_percent = o.used_percent;
        let used = used_percent / 100.0 * limit_v;
        w.used = Some(used);
        w.remaining = Some((limit_v - used).max(0.0));
        w.percent = Some(used_percent);
        w.status = classify(used_percent, self.thresholds());
        // A 5-hour window is judged by its own pace, as with the ledger's.
        w.pace_per_day = match (win, w.start_ms) {
            (QuotaWindow::Rolling5h, Some(start)) => Some(window_pace(used, start, now)),
            // No 5-hour window open: nothing runs out until a request opens one.
            (QuotaWindow::Rolling5h, None) => None,
            _ => w.burn_rate_per_day,
        };
        w.projection = Some(burn::project(
            used,
            limit_v,
            w.pace_per_day,
            now,
            w.next_reset_ms,
            if win == QuotaWindow::Rolling5h {
                None
            } else {
                window_ms
            },
        ));
        w
    }
}

/// The burn rate of a provider-reported window, per day in units of `limit`, from its reports
/// over the last days (reset-aware). Each window's series is anchored at its start with
/// nothing used, since the percentage counts from there; and a series spanning less than
/// [`MIN_BURN_SPAN_MS`] gives no rate at all: two reports a minute apart would otherwise
/// extrapolate to thousands of percent a day.
fn observed_burn<'o>(
    history: impl Iterator<Item = &'o Observation>,
    window_ms: Option<i64>,
    limit: f64,
) -> Option<f64> {
    let mut points: Vec<Point> = history
        .map(|x| Point {
            t_ms: x.observed_ms,
            used: x.used_percent / 100.0 * limit,
            window_start_ms: match (x.resets_at_ms, window_ms) {
                (Some(r), Some(len)) => Some(r - len),
                _ => None,
            },
        })
        .collect();
    // Reports of one window can give its reset a few seconds apart (`resets_in_seconds` is
    // relative to the report): starts that close together are one window, not resets.
    let tolerance = window_ms.map_or(0, |len| (len / 2).min(10 * 60_000));
    let mut starts: Vec<i64> = points.iter().filter_map(|p| p.window_start_ms).collect();
    starts.sort_unstable();
    let mut canonical: Vec<i64> = Vec::new();
    for s in starts {
        if canonical.last().is_none_or(|c| s - c > tolerance) {
            canonical.push(s);
        }
    }
    for p in &mut points {
        if let Some(s) = p.window_start_ms {
            p.window_start_ms = canonical.iter().rev().find(|c| **c <= s).copied();
        }
    }
    for c in &canonical {
        let first = points
            .iter()
            .filter(|p| p.window_start_ms == Some(*c))
            .map(|p| p.t_ms)
            .min();
        if first.is_some_and(|t| *c <= t) {
            points.push(Point {
                t_ms: *c,
                used: 0.0,
                window_start_ms: Some(*c),
            });
        }
    }
    let first = points.iter().map(|p| p.t_ms).min()?;
    let last = points.iter().map(|p| p.t_ms).max()?;
    if last - first < MIN_BURN_SPAN_MS {
        return None;
    }
    burn::slope_per_day(&burn::cumulative(&points))
}

/// Use per day at the pace since a window opened (at least [`MIN_BLOCK_ELAPSED_MS`] counted, so
/// a window a minute old is not extrapolated from one request).
fn window_pace(used: f64, start_ms: i64, now_ms: i64) -> f64 {
    let elapsed = (now_ms - start_ms).max(MIN_BLOCK_ELAPSED_MS);
    used / (elapsed as f64 / DAY_MS as f64)
}

/// The latest usage-limit notice that still holds at `now_ms` (it lifts later), with its
/// source.
fn limit_reached(
    observations: &[(String, Observation)],
    now_ms: i64,
) -> Option<(String, Observation)> {
    observations
        .iter()
        .rev()
        .find(|(_, o)| o.window == crate::usage::LIMIT_REACHED)
        .filter(|(_, o)| o.resets_at_ms.is_some_and(|r| r > now_ms))
        .cloned()
}

fn latest_for_window(
    observations: &[(String, Observation)],
    win: QuotaWindow,
) -> Option<(String, Observation)> {
    observations
        .iter()
        .rev()
        .find(|(_, o)| observed_window(o.window_minutes) == Some(win))
        .cloned()
}
