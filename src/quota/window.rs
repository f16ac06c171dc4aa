//! Quota windows: when each one started and when it resets.
//!
//! Calendar windows (daily, weekly, monthly) reset at a wall-clock time in a time zone (UTC
//! unless `quota_management.timezone` or the limit's `reset` names another). `rolling_5h` is
//! Claude's five-hour session window as ccusage models it: it opens at the first request's hour
//! and closes five hours later; with no request in the last five hours there is no open window.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::config::QuotaWindow;

/// When a calendar window resets, parsed from `reset` (and `reset_day`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reset {
    /// Weekly: the weekday the window starts on.
    pub weekday: Weekday,
    /// Monthly: the day of the month (clamped to the month's last day).
    pub day: i8,
    /// The wall-clock time of the reset.
    pub time: Time,
    /// Where that wall clock hangs.
    pub tz: TimeZone,
    /// The zone's name as written, for reports.
    pub tz_name: String,
}

/// The defaults: Monday (ISO weeks), the 1st, midnight, UTC.
pub fn default_reset(tz_name: Option<&str>) -> Result<Reset, String> {
    let (tz, name) = zone(tz_name.unwrap_or("UTC"))?;
    Ok(Reset {
        weekday: Weekday::Monday,
        day: 1,
        time: Time::midnight(),
        tz,
        tz_name: name,
    })
}

/// A time zone by name (`UTC`, an IANA name in any case) with its canonical spelling.
pub fn zone(name: &str) -> Result<(TimeZone, String), String> {
    let n = name.trim();
    if n.eq_ignore_ascii_case("utc") || n.eq_ignore_ascii_case("z") || n == "GMT" {
        return Ok((TimeZone::UTC, "UTC".to_string()));
    }
    match TimeZone::get(n) {
        // The database's own spelling: systemd and other tools match names case-sensitively.
        Ok(tz) => {
            let canonical = tz.iana_name().unwrap_or(n).to_string();
            Ok((tz, canonical))
        }
        Err(_) => {
            // Echo only what looks like a zone name: text pasted into the wrong field is
            // often a credential.
            let zone_like = n.len() <= 40
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
                && (n.contains('/') || n.len() <= 8);
            let shown = if zone_like {
                format!("`{n}`")
            } else {
                "(not shown: it does not look like a zone name)".to_string()
            };
            Err(format!(
                "unknown time zone {shown} (use UTC or an IANA name such as Europe/Berlin)"
            ))
        }
    }
}

fn weekday(word: &str) -> Option<Weekday> {
    let w = word.to_ascii_lowercase();
    let all = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    all.iter()
        .find(|(name, _)| w.len() >= 3 && name.starts_with(&w))
        .map(|(_, d)| *d)
}

/// Whether `word`, which is not a weekday, stands where one would: a short word of letters
/// followed by the time (`funday 00:00`), or ending in "day". Only such words are echoed.
fn looks_like_weekday(word: &str, next: Option<&str>) -> bool {
    let letters =
        !word.is_empty() && word.len() <= 12 && word.chars().all(|c| c.is_ascii_alphabetic());
    letters && (next.is_some_and(|n| n.contains(':')) || word.to_ascii_lowercase().ends_with("day"))
}

/// Parses a `reset` rule for `window`: `[WEEKDAY | DAY-OF-MONTH] [HH:MM] [ZONE]`, such as
/// `sunday 00:00 UTC`, `09:30 Europe/Berlin`, `15`. Parts not given come from `base` (the
/// defaults, with `reset_day` applied).
pub fn parse_reset(text: &str, window: QuotaWindow, base: &Reset) -> Result<Reset, String> {
    let mut r = base.clone();
    let mut words = text.split_whitespace().peekable();
    if window == QuotaWindow::Rolling5h {
        return Err(
            "a rolling_5h window has no reset time: it closes 5 hours after it opens".into(),
        );
    }
    let first = words.peek().copied().unwrap_or("");
    match window {
        QuotaWindow::Weekly => {
            if let Some(d) = weekday(first) {
                r.weekday = d;
                words.next();
            } else if looks_like_weekday(first, text.split_whitespace().nth(1)) {
                // In the weekday's place (before the time, or a word ending in "day"): reading
                // it as a time zone would blame the wrong part.
                return Err(format!(
                    "unknown weekday `{first}`: expected monday to sunday (or mon, tue, ...)"
                ));
            }
        }
        QuotaWindow::Monthly => {
            let digits = first.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            if !first.contains(':')
                && let Ok(d) = digits.parse::<i8>()
            {
                if !(1..=31).contains(&d) {
                    return Err(format!("day of the month {d}: expected 1 to 31"));
                }
                r.day = d;
                words.next();
            }
        }
        _ => {}
    }
    if window != QuotaWindow::Weekly && weekday(first).is_some() {
        return Err(format!(
            "`{first}`: a {} window has no weekday (only weekly windows do); expected {}",
            window.name(),
            if window == QuotaWindow::Monthly {
                "DAY HH:MM ZONE, such as `1 00:00 UTC`"
            } else {
                "HH:MM ZONE, such as `00:00 UTC`"
            }
        ));
    }
    if let Some(w) = words.peek().copied()
        && w.contains(':')
    {
        r.time = Time::strptime("%H:%M", w).map_err(|_| format!("`{w}`: expected HH:MM"))?;
        words.next();
    }
    if let Some(w) = words.next() {
        let (tz, name) = zone(w)?;
        r.tz = tz;
        r.tz_name = name;
    }
    if let Some(extra) = words.next() {
        let expected = match window {
            QuotaWindow::Weekly => "WEEKDAY HH:MM ZONE, such as `sunday 00:00 UTC`",
            QuotaWindow::Monthly => "DAY HH:MM ZONE, such as `1 00:00 UTC`",
            _ => "HH:MM ZONE, such as `00:00 UTC`",
        };
        return Err(format!("unexpected `{extra}`: expected {expected}"));
    }
    Ok(r)
}

/// A window: `[start, end)` in Unix ms. `end` is the next reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// When the window opened.
    pub start_ms: i64,
    /// When it resets.
    pub end_ms: i64,
}

/// The calendar window of `window` containing `now`.
pub fn calendar(window: QuotaWindow, reset: &Reset, now_ms: i64) -> Option<Span> {
    let now = Timestamp::from_millisecond(now_ms).ok()?;
    let local = now.to_zoned_datetime(reset.tz.clone());
    let today = local.date();
    // The reset on or before `now`, from candidates around today's date.
    let at = |d: Date| -> Option<i64> {
        d.to_datetime(reset.time)
            .to_zoned_datetime(reset.tz.clone())
            .ok()
            .map(|z| z.timestamp().as_millisecond())
    };
    let (start_date, next_date) = match window {
        QuotaWindow::Daily => {
            let s = if at(today)? <= now_ms {
                today
            } else {
                today.yesterday().ok()?
            };
            (s, s.tomorrow().ok()?)
        }
        QuotaWindow::Weekly => {
            let back = (i64::from(today.weekday().to_monday_zero_offset())
                - i64::from(reset.weekday.to_monday_zero_offset()))
            .rem_euclid(7);
            let mut s = today.checked_sub(back.days()).ok()?;
            if at(s)? > now_ms {
                s = s.checked_sub(7.days()).ok()?;
            }
            (s, s.checked_add(7.days()).ok()?)
        }
        QuotaWindow::Monthly => {
            let in_month = |y: i16, m: i8| -> Option<Date> {
                let first = Date::new(y, m, 1).ok()?;
                let day = reset.day.min(first.days_in_month());
                Date::new(y, m, day).ok()
            };
            let mut s = in_month(today.year(), today.month())?;
            if at(s)? > now_ms {
                let prev = today.first_of_month().checked_sub(1.month()).ok()?;
                s = in_month(prev.year(), prev.month())?;
            }
            let after = s.first_of_month().checked_add(1.month()).ok()?;
            (s, in_month(after.year(), after.month())?)
        }
        QuotaWindow::Rolling5h => return None,
    };
    Some(Span {
        start_ms: at(start_date)?,
        end_ms: at(next_date)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or(i64::MIN)
    }
    fn iso(ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
    fn span(w: QuotaWindow, r: &Reset, now: &str) -> (String, String) {
        let s = calendar(w, r, ms(now)).unwrap_or(Span {
            start_ms: 0,
            end_ms: 0,
        });
        (iso(s.start_ms), iso(s.end_ms))
    }
    fn utc() -> Reset {
        default_reset(None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn daily_windows() {
        let r = utc();
        assert_eq!(
            span(QuotaWindow::Daily, &r, "2026-12-31T23:59:59.999Z"),
            ("2026-12-31T00:00:00Z".into(), "2027-01-01T00:00:00Z".into())
        );
        let r = parse_reset("09:30", QuotaWindow::Daily, &utc()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            span(QuotaWindow::Daily, &r, "2026-03-01T09:29:00Z"),
            ("2026-02-28T09:30:00Z".into(), "2026-03-01T09:30:00Z".into())
        );
    }

    #[test]
    fn weekly_sunday_reset() {
        let r = parse_reset("sunday 00:00 UTC", QuotaWindow::Weekly, &utc())
            .unwrap_or_else(|e| panic!("{e}"));
        // 2026-12-06 is a Sunday.
        assert_eq!(
            span(QuotaWindow::Weekly, &r, "2026-12-05T23:59:59Z"),
            ("2026-11-29T00:00:00Z".into(), "2026-12-06T00:00:00Z".into())
        );
        assert_eq!(
            span(QuotaWindow::Weekly, &r, "2026-12-06T00:00:00Z"),
            ("2026-12-06T00:00:00Z".into(), "2026-12-13T00:00:00Z".into())
        );
        // The default is Monday 00:00 UTC (ISO weeks).
        assert_eq!(
            span(QuotaWindow::Weekly, &utc(), "2026-12-06T12:00:00Z"),
            ("2026-11-30T00:00:00Z".into(), "2026-12-07T00:00:00Z".into())
        );
    }

    #[test]
    fn monthly_month_end_and_leap_day() {
        let mut r = utc();
        assert_eq!(
            span(QuotaWindow::Monthly, &r, "2026-12-31T23:00:00Z"),
            ("2026-12-01T00:00:00Z".into(), "2027-01-01T00:00:00Z".into())
        );
        r.day = 31;
        // No 31 February: the reset falls on the month's last day, 29 in a leap year.
        assert_eq!(
            span(QuotaWindow::Monthly, &r, "2028-02-15T00:00:00Z"),
            ("2028-01-31T00:00:00Z".into(), "2028-02-29T00:00:00Z".into())
        );
        assert_eq!(
            span(QuotaWindow::Monthly, &r, "2028-02-29T00:00:00Z"),
            ("2028-02-29T00:00:00Z".into(), "2028-03-31T00:00:00Z".into())
        );
        assert_eq!(
            span(QuotaWindow::Monthly, &r, "2027-02-28T12:00:00Z"),
            ("2027-02-28T00:00:00Z".into(), "2027-03-31T00:00:00Z".into())
        );
        let r =
            parse_reset("15 06:00", QuotaWindow::Monthly, &utc()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            span(QuotaWindow::Monthly, &r, "2026-01-15T05:59:00Z"),
            ("2025-12-15T06:00:00Z".into(), "2026-01-15T06:00:00Z".into())
        );
    }

    #[test]
    fn time_zones_follow_daylight_saving() {
        let r = parse_reset("monday 00:00 Europe/Berlin", QuotaWindow::Weekly, &utc())
            .unwrap_or_else(|e| panic!("{e}"));
        // Summer time ends on 25 October 2026: the week starting 19 October is 169 hours long.
        let s = calendar(QuotaWindow::Weekly, &r, ms("2026-10-21T12:00:00Z"))
            .map(|s| (iso(s.start_ms), (s.end_ms - s.start_ms) / 3_600_000));
        assert_eq!(s, Some(("2026-10-18T22:00:00Z".into(), 169)));
    }

    #[test]
    fn bad_rules_are_explained() {
        let e = |t: &str, w| parse_reset(t, w, &utc()).err().unwrap_or_default();
        assert!(e("sunday 25:00", QuotaWindow::Weekly).contains("HH:MM"));
        assert!(e("sunday 00:00 Mars/Olympus", QuotaWindow::Weekly).contains("time zone"));
        let funday = e("funday 00:00 UTC", QuotaWindow::Weekly);
        assert!(funday.contains("unknown weekday `funday`"), "{funday}");
        assert!(!funday.contains("time zone"), "{funday}");
        assert!(e("caturday", QuotaWindow::Weekly).contains("unknown weekday"));
        // A zone alone is still a zone.
        assert!(parse_reset("Europe/Berlin", QuotaWindow::Weekly, &utc()).is_ok());
        assert!(e("32", QuotaWindow::Monthly).contains("1 to 31"));
        assert!(e("00:00", QuotaWindow::Rolling5h).contains("rolling_5h"));
        assert!(e("sunday 00:00 UTC now", QuotaWindow::Weekly).contains("unexpected `now`"));
        assert_eq!(
            e("monday", QuotaWindow::Daily),
            "`monday`: a daily window has no weekday (only weekly windows do); expected HH:MM \
             ZONE, such as `00:00 UTC`"
        );
        assert!(e("mon 00:00", QuotaWindow::Monthly).contains("a monthly window has no weekday"));
    }
}
