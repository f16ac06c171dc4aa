//! Classifying a finished attempt from its exit status and the end of its output, and finding
//! when the provider says to come back.

use serde::Serialize;

use crate::config::FailurePatterns;

/// The failures that move a task to another account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Too many requests: cool down, then try this account again.
    RateLimited,
    /// A quota window is used up: out until it resets.
    QuotaExhausted,
    /// The provider refused the credential: out until it changes.
    CredentialRejected,
}

impl Failure {
    /// `rate_limited`, `quota_exhausted`, `credential_rejected`.
    pub fn name(self) -> &'static str {
        match self {
            Failure::RateLimited => "rate_limited",
            Failure::QuotaExhausted => "quota_exhausted",
            Failure::CredentialRejected => "credential_rejected",
        }
    }
}

/// Patterns every kind shares (matched case-insensitively; digits-only patterns only as a
/// whole number). Checked in this order: an exhausted quota often arrives as an HTTP 429,
/// and GitHub's secondary rate limit as a 403.
pub const COMMON: &[(Failure, &str)] = &[
    (Failure::QuotaExhausted, "quota exceeded"),
    (Failure::QuotaExhausted, "exceeded your current quota"),
    (Failure::QuotaExhausted, "insufficient_quota"),
    (Failure::QuotaExhausted, "usage_limit_reached"),
    (Failure::QuotaExhausted, "credit balance is too low"),
    (Failure::RateLimited, "429"),
    (Failure::RateLimited, "529"),
    (Failure::RateLimited, "overloaded_error"),
    (Failure::RateLimited, "rate limit"),
    (Failure::RateLimited, "rate_limit"),
    (Failure::RateLimited, "ratelimit"),
    (Failure::RateLimited, "too many requests"),
    (Failure::RateLimited, "resource_exhausted"),
    (Failure::CredentialRejected, "401"),
    (Failure::CredentialRejected, "403"),
    (Failure::CredentialRejected, "unauthorized"),
    (Failure::CredentialRejected, "invalid api key"),
    (Failure::CredentialRejected, "invalid_api_key"),
    (Failure::CredentialRejected, "invalid x-api-key"),
    (Failure::CredentialRejected, "authentication_error"),
    (Failure::CredentialRejected, "token expired"),
    (Failure::CredentialRejected, "token has expired"),
];

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// Exit status 0.
    Success,
    /// Rate limited; `until_ms` when the output said when to retry.
    RateLimited {
        /// Retry time the provider gave (Unix ms).
        until_ms: Option<i64>,
    },
    /// Quota exhausted; `until_ms` when the output said when it resets.
    QuotaExhausted {
        /// Reset time the provider gave (Unix ms).
        until_ms: Option<i64>,
    },
    /// The credential was refused.
    CredentialRejected,
    /// Any other failure: the user's to look at, no rotation.
    Failed,
}

/// The patterns for one account: its configured ones first, then its kind's, then [`COMMON`].
pub fn patterns(
    configured: &FailurePatterns,
    kind: &'static [(Failure, &'static str)],
) -> Vec<(Failure, String)> {
    let mut out: Vec<(Failure, String)> = Vec::new();
    for (f, list) in [
        (Failure::QuotaExhausted, &configured.quota_exhausted),
        (Failure::RateLimited, &configured.rate_limited),
        (Failure::CredentialRejected, &configured.credential_rejected),
    ] {
        out.extend(list.iter().map(|p| (f, p.to_lowercase())));
    }
    out.extend(kind.iter().map(|(f, p)| (*f, p.to_lowercase())));
    out.extend(COMMON.iter().map(|(f, p)| (*f, p.to_string())));
    // Quota before rate limit before credential, whichever list a pattern came from.
    out.sort_by_key(|(f, _)| match f {
        Failure::QuotaExhausted => 0,
        Failure::RateLimited => 1,
        Failure::CredentialRejected => 2,
    });
    out
}

/// Words near a status code that show it is one (an HTTP status in an error message), not a
/// line number, a test's expected value or part of a path.
const STATUS_CONTEXT: &[&str] = &[
    "http",
    "status",
    "error",
    "api",
    "code",
    "too many",
    "unauthorized",
    "forbidden",
    "overloaded",
    "rate",
];

/// Marks of a test or a tool reporting on the user's code rather than the agent's own API
/// call: a line holding one of these never decides ("got status 401, want 200",
/// "AssertionError: HTTP 401 != 200", "npm ERR! 403", "3 tests failed: HTTP 429 handling").
/// Whole words, so "unexpected status 401" is still the agent's.
const NOT_THE_AGENT_WORDS: &[&str] = &[
    "expected", "test", "tests", "fixture", "fixtures", "received",
];
/// Word starts: "assert", "AssertionError", "assert_eq!".
const NOT_THE_AGENT_STARTS: &[&str] = &["assert"];
/// Anywhere in the line.
const NOT_THE_AGENT_MARKS: &[&str] = &["==", "!=", "npm err", "_test", "test_"];

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether `w` occurs in `line` starting a word (and, with `whole`, ending one).
fn has_word(line: &str, w: &str, whole: bool) -> bool {
    let b = line.as_bytes();
    line.match_indices(w).any(|(i, _)| {
        let starts = !i.checked_sub(1).is_some_and(|j| is_word_byte(b[j]));
        let ends = !b.get(i + w.len()).copied().is_some_and(is_word_byte);
        starts && (ends || !whole)
    })
}

/// Whether a (lower-case) line reads as a test or tool report rather than the agent's error.
fn reports_on_code(line: &str) -> bool {
    NOT_THE_AGENT_MARKS.iter().any(|m| line.contains(m))
        || NOT_THE_AGENT_STARTS.iter().any(|w| has_word(line, w, false))
        || NOT_THE_AGENT_WORDS.iter().any(|w| has_word(line, w, true))
        // Go's "got 401, want 200": both words, or it is just prose.
        || (has_word(line, "got", true) && has_word(line, "want", true))
}

/// The line of `hay` around byte `i`.
fn line_at(hay: &str, i: usize) -> &str {
    let start = hay[..i].rfind('\n').map_or(0, |p| p + 1);
    let end = hay[i..].find('\n').map_or(hay.len(), |p| i + p);
    &hay[start..end]
}

fn contains_pattern(hay: &str, pat: &str) -> bool {
    if pat.is_empty() {
        return false;
    }
    let b = hay.as_bytes();
    let word = is_word_byte;
    let agents_line = |i: usize| !reports_on_code(line_at(hay, i));
    if !pat.bytes().all(|c| c.is_ascii_digit()) {
        // A pattern starts a word: "rate_limit" in `"rate_limit_error"`, not in
        // "test_rate_limit.py".
        return hay
            .match_indices(pat)
            .any(|(i, _)| !i.checked_sub(1).is_some_and(|j| word(b[j])) && agents_line(i));
    }
    // A status code stands alone ("429" in "14290 tokens", "src/429.rs" or "lib.rs:401:5" is
    // not one) and comes with words that make it a status.
    hay.match_indices(pat).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + pat.len()).copied();
        let alone = !before.is_some_and(|c| word(c) || b"/.:-#".contains(&c))
            && !after.is_some_and(|c| {
                word(c)
                    || c == b'/'
                    || c == b':' && b.get(i + pat.len() + 1).is_some_and(u8::is_ascii_digit)
                    || c == b'.'
                        && b.get(i + pat.len() + 1)
                            .is_some_and(u8::is_ascii_alphanumeric)
            });
        if !alone || !agents_line(i) {
            return false;
        }
        let near =
            String::from_utf8_lossy(&b[i.saturating_sub(24)..(i + pat.len() + 24).min(b.len())]);
        STATUS_CONTEXT.iter().any(|w| near.contains(w))
    })
}

/// Classifies an attempt. Exit 0 is success whatever the output says; otherwise the first
/// matching pattern decides, and anything else is a plain failure.
pub fn classify(
    exit_code: i32,
    output: &[u8],
    patterns: &[(Failure, String)],
    now_ms: i64,
) -> Verdict {
    if exit_code == 0 {
        return Verdict::Success;
    }
    // Agents report the error that stopped them last; what they printed while working
    // (test output, file names) must not decide.
    let text = String::from_utf8_lossy(last_lines(output, 20)).to_lowercase();
    let Some((failure, _)) = patterns.iter().find(|(_, p)| contains_pattern(&text, p)) else {
        return Verdict::Failed;
    };
    match failure {
        // A rate limit passes within hours; a day-long "Retry-After" is a bogus header, or a
        // quota the patterns did not name, which a day's hold (then another) covers without
        // losing the account for a month. A `--clear` lifts it sooner.
        Failure::RateLimited => Verdict::RateLimited {
            until_ms: retry_at(&text, now_ms).map(|t| t.min(now_ms + MAX_RATE_LIMIT_MS)),
        },
        Failure::QuotaExhausted => Verdict::QuotaExhausted {
            until_ms: retry_at(&text, now_ms),
        },
        Failure::CredentialRejected => Verdict::CredentialRejected,
    }
}

/// The last `n` non-empty lines of `output` (at most 8 KiB).
pub fn last_lines(output: &[u8], n: usize) -> &[u8] {
    let tail = &output[output.len().saturating_sub(8192)..];
    let mut seen = 0;
    let mut end = tail.len();
    while end > 0 && tail[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let mut i = end;
    while i > 0 {
        if tail[i - 1] == b'\n' {
            seen += 1;
            if seen == n {
                return &tail[i..end];
            }
        }
        i -= 1;
    }
    &tail[..end]
}

/// Longest hold for a rate limit.
const MAX_RATE_LIMIT_MS: i64 = 86_400_000;

/// Latest sensible retry time: a month ahead at most.
const MAX_AHEAD_MS: i64 = 31 * 86_400_000;

/// When the output says to come back: `Retry-After: 120`, "try again in 4 hours 12 minutes",
/// "retry after 30s", "resets at 2026-12-03T20:00:00Z", Claude Code's "limit reached|<epoch>".
/// `text` is lower-case.
pub fn retry_at(text: &str, now_ms: i64) -> Option<i64> {
    // In the future; beyond a month means "a month" (the quota will have reset by then).
    let sane = |t: i64| (t > now_ms).then_some(t.min(now_ms + MAX_AHEAD_MS));
    // Retry-After header: seconds, or an HTTP date.
    for (i, _) in text.match_indices("retry-after") {
        let rest = text[i + "retry-after".len()..].trim_start_matches([':', ' ', '"', '=']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            if let Ok(secs) = digits.parse::<i64>()
                && let Some(t) = sane(now_ms.saturating_add(secs.saturating_mul(1000)))
            {
                return Some(t);
            }
            continue;
        }
        let line = rest
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('"');
        // "Wed, 21 Oct 2026 07:28:00 GMT" (RFC 9110 IMF-fixdate, an RFC 2822 date).
        if let Ok(z) = jiff::fmt::rfc2822::parse(&title_case(line))
            && let Some(t) = sane(z.timestamp().as_millisecond())
        {
            return Some(t);
        }
    }
    for phrase in [
        "try again in",
        "retry in",
        "retry after",
        "resets in",
        "reset in",
        "wait",
    ] {
        for (i, _) in text.match_indices(phrase) {
            if let Some(ms) = duration_prefix(&text[i + phrase.len()..])
                && let Some(t) = sane(now_ms.saturating_add(ms))
            {
                return Some(t);
            }
        }
    }
    // A clock time: Claude Code's "resets 8pm (Europe/Berlin)", "resets May 5 at 9pm
    // (America/New_York)", Codex's "try again at Jul 5th, 2026 8:19 PM" (the local zone when
    // none is named).
    for phrase in [
        "resets at",
        "reset at",
        "resets",
        "try again at",
        "retry at",
    ] {
        for (i, _) in text.match_indices(phrase) {
            let starts_word = !i
                .checked_sub(1)
                .is_some_and(|j| is_word_byte(text.as_bytes()[j]));
            if starts_word
                && let Some(t) = clock_at(&text[i + phrase.len()..], now_ms)
                && let Some(t) = sane(t)
            {
                return Some(t);
            }
        }
    }
    // An instant anywhere in the message (reset times are printed as RFC 3339).
    for word in text.split(|c: char| c.is_whitespace() || "\"',()[]{}<>".contains(c)) {
        let w = word.trim_end_matches(['.', ';']);
        if w.len() >= 20
            && let Ok(ts) = w.to_uppercase().parse::<jiff::Timestamp>()
            && let Some(t) = sane(ts.as_millisecond())
        {
            return Some(t);
        }
    }
    // Claude Code: "Claude AI usage limit reached|1764792000".
    for (i, _) in text.match_indices("reached|") {
        let digits: String = text[i + 8..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(secs) = digits.parse::<i64>()
            && let Some(t) = sane(secs.saturating_mul(1000))
        {
            return Some(t);
        }
    }
    None
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `"may 5"`, `"february 16"`: the month (1–12) and what follows its name.
fn month_prefix(s: &str) -> Option<(i8, &str)> {
    let name: String = s.chars().take_while(char::is_ascii_alphabetic).collect();
    if name.len() < 3 {
        return None;
    }
    let m = MONTHS.iter().position(|m| name.starts_with(m))?;
    let full_ok = name.len() == 3
        || "january february march april may june july august september october november december"
            .split(' ')
            .any(|f| f.starts_with(name.as_str()));
    full_ok.then(|| {
        (
            i8::try_from(m + 1).unwrap_or(1),
            s[name.len()..].trim_start_matches('.'),
        )
    })
}

/// An IANA zone named in lower case (the text was lower-cased for matching).
fn zone_named(name: &str) -> Option<jiff::tz::TimeZone> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    if let Ok(tz) = jiff::tz::TimeZone::get(name) {
        return Some(tz);
    }
    // "america/new_york" → "America/New_York"
    let mut titled = String::with_capacity(name.len());
    let mut start = true;
    for c in name.chars() {
        titled.push(if start { c.to_ascii_uppercase() } else { c });
        start = matches!(c, '/' | '_' | '-');
    }
    jiff::tz::TimeZone::get(&titled).ok()
}

/// The next instant a clock time at the start of `s` names: `8pm`, `12:50am (europe/berlin)`,
/// `may 5 at 9pm`, `feb 16, 11am`, `jul 5th, 2026 8:19 pm`, `15:30`. A bare number is not a
/// time; without a zone in parentheses the machine's own applies.
fn clock_at(s: &str, now_ms: i64) -> Option<i64> {
    use jiff::civil;
    let digits = |s: &str| -> String { s.chars().take_while(char::is_ascii_digit).collect() };
    let mut rest = s.trim_start();
    let mut date: Option<(Option<i16>, i8, i8)> = None;
    if let Some((month, after)) = month_prefix(rest) {
        let after = after.trim_start();
        let d = digits(after);
        let day: i8 = d.parse().ok()?;
        let mut r = &after[d.len()..];
        for suffix in ["st", "nd", "rd", "th"] {
            r = r.strip_prefix(suffix).unwrap_or(r);
        }
        r = r.trim_start_matches([',', ' ']);
        let y = digits(r);
        let year = if y.len() == 4 && !r[4..].starts_with(':') {
            r = r[4..].trim_start_matches([',', ' ']);
            Some(y.parse::<i16>().ok()?)
        } else {
            None
        };
        r = r.strip_prefix("at ").unwrap_or(r);
        date = Some((year, month, day));
        rest = r.trim_start();
    }
    let h = digits(rest);
    if h.is_empty() || h.len() > 2 {
        return None;
    }
    let mut hour: i8 = h.parse().ok()?;
    let mut r = &rest[h.len()..];
    let mut minute: i8 = 0;
    let mut has_minutes = false;
    if let Some(x) = r.strip_prefix(':') {
        let mm = digits(x);
        if mm.len() != 2 {
            return None;
        }
        minute = mm.parse().ok()?;
        r = &x[2..];
        has_minutes = true;
    }
    let t = r.trim_start();
    let pm = if t.starts_with("am") || t.starts_with("a.m.") {
        Some(false)
    } else if t.starts_with("pm") || t.starts_with("p.m.") {
        Some(true)
    } else {
        None
    };
    match pm {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour = hour % 12 + if pm { 12 } else { 0 };
            r = t.trim_start_matches(|c: char| "apm.".contains(c));
        }
        None if !has_minutes => return None,
        None => {}
    }
    if hour > 23 || minute > 59 {
        return None;
    }
    let zone = r
        .trim_start()
        .strip_prefix('(')
        .and_then(|z| z.split(')').next())
        .and_then(zone_named)
        .unwrap_or_else(jiff::tz::TimeZone::system);
    let now = jiff::Timestamp::from_millisecond(now_ms)
        .ok()?
        .to_zoned_datetime(zone.clone());
    let time = civil::time(hour, minute, 0, 0);
    let at = |d: civil::Date| d.to_datetime(time).to_zoned_datetime(zone.clone()).ok();
    let when = match date {
        None => {
            let today = at(now.date())?;
            if today.timestamp() > now.timestamp() {
                today
            } else {
                at(now.date().tomorrow().ok()?)?
            }
        }
        Some((year, month, day)) => {
            let y = year.unwrap_or(now.year());
            let first = at(civil::Date::new(y, month, day).ok()?)?;
            // "resets Jan 2" seen on Dec 30 is next year's.
            if year.is_none() && first.timestamp().as_millisecond() < now_ms - 86_400_000 {
                at(civil::Date::new(y + 1, month, day).ok()?)?
            } else {
                first
            }
        }
    };
    Some(when.timestamp().as_millisecond())
}

/// `wed, 21 oct 2026` → `Wed, 21 Oct 2026` (the text was lower-cased for matching; RFC 2822
/// parsing wants the names as written).
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_ascii_alphabetic() {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_ascii_alphabetic();
    }
    out.replace("Gmt", "GMT").replace("Utc", "UTC")
}

/// The duration at the start of `s` ("4 hours 12 minutes", "30s", "1h30m"), in ms.
fn duration_prefix(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut found = false;
    let mut rest = s.trim_start();
    loop {
        let int: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if int.is_empty() {
            break;
        }
        let frac: String = rest[int.len()..]
            .strip_prefix('.')
            .map(|r| r.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        let digits = if frac.is_empty() {
            int
        } else {
            format!("{int}.{frac}")
        };
        let n: f64 = digits.parse().ok()?;
        rest = rest[digits.len()..].trim_start();
        let unit: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        let ms = match unit.as_str() {
            "ms" | "millisecond" | "milliseconds" => 1.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000.0,
            "d" | "day" | "days" => 86_400_000.0,
            _ => break,
        };
        total = total.saturating_add((n * ms) as i64);
        found = true;
        rest = rest[unit.len()..].trim_start_matches([' ', ',']);
        rest = rest.strip_prefix("and ").unwrap_or(rest);
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    fn p() -> Vec<(Failure, String)> {
        patterns(&FailurePatterns::default(), &[])
    }

    #[test]
    fn exit_zero_is_success_whatever_it_says() {
        assert_eq!(
            classify(0, b"HTTP 429 rate limit", &p(), NOW),
            Verdict::Success
        );
    }

    #[test]
    fn classes_from_default_patterns() {
        assert_eq!(
            classify(
                1,
                b"Error: 429 Too Many Requests\nRetry-After: 120",
                &p(),
                NOW
            ),
            Verdict::RateLimited {
                until_ms: Some(NOW + 120_000)
            }
        );
        assert_eq!(
            classify(1, b"{\"error\":{\"type\":\"usage_limit_reached\",\"resets_in_seconds\":60}} try again in 4 hours 12 minutes", &p(), NOW),
            Verdict::QuotaExhausted {
                until_ms: Some(NOW + (4 * 60 + 12) * 60_000)
            }
        );
        assert_eq!(
            classify(1, b"status: RESOURCE_EXHAUSTED", &p(), NOW),
            Verdict::RateLimited { until_ms: None }
        );
        assert_eq!(
            classify(
                1,
                b"RESOURCE_EXHAUSTED: Quota exceeded for metric",
                &p(),
                NOW
            ),
            Verdict::QuotaExhausted { until_ms: None }
        );
        assert_eq!(
            classify(1, b"401 Unauthorized", &p(), NOW),
            Verdict::CredentialRejected
        );
        assert_eq!(
            classify(
                1,
                b"403: You have exceeded a secondary rate limit",
                &p(),
                NOW
            ),
            Verdict::RateLimited { until_ms: None },
            "GitHub's secondary limit is a 403"
        );
        assert_eq!(
            classify(1, b"used 14290 tokens; syntax error", &p(), NOW),
            Verdict::Failed
        );
        assert_eq!(classify(2, b"", &p(), NOW), Verdict::Failed);
        assert_eq!(
            classify(
                1,
                b"429 Too Many Requests\nRetry-After: 99999999999",
                &p(),
                NOW
            ),
            Verdict::RateLimited {
                until_ms: Some(NOW + 86_400_000)
            },
            "a rate limit holds a day at most"
        );
    }

    #[test]
    fn configured_and_kind_patterns_apply() {
        let cfg = FailurePatterns {
            rate_limited: vec!["Slow Down Please".into()],
            ..Default::default()
        };
        let kind: &[(Failure, &str)] = &[(Failure::QuotaExhausted, "usage limit reached")];
        let pats = patterns(&cfg, kind);
        assert_eq!(
            classify(1, b"server says: slow down please", &pats, NOW),
            Verdict::RateLimited { until_ms: None }
        );
        let epoch = (NOW / 1000) + 3600;
        let msg = format!("Claude AI usage limit reached|{epoch}");
        assert_eq!(
            classify(1, msg.as_bytes(), &pats, NOW),
            Verdict::QuotaExhausted {
                until_ms: Some(epoch * 1000)
            }
        );
    }

    #[test]
    fn retry_times() {
        assert_eq!(retry_at("please retry after 30s.", NOW), Some(NOW + 30_000));
        assert_eq!(retry_at("try again in 1h30m", NOW), Some(NOW + 5_400_000));
        assert_eq!(
            retry_at("try again in 2 days, 3 hours", NOW),
            Some(NOW + 2 * 86_400_000 + 3 * 3_600_000)
        );
        let at = jiff::Timestamp::from_millisecond(NOW + 600_000).unwrap();
        assert_eq!(
            retry_at(&format!("limit resets at {at}.").to_lowercase(), NOW),
            Some(NOW + 600_000)
        );
        assert_eq!(
            retry_at("retry-after: 99999999999", NOW),
            Some(NOW + MAX_AHEAD_MS),
            "capped at a month"
        );
        let when = jiff::Timestamp::from_millisecond(NOW + 3_600_000).unwrap();
        let http = when
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
            .to_lowercase();
        assert_eq!(
            retry_at(&format!("retry-after: {http}\n"), NOW),
            Some(NOW + 3_600_000)
        );
        assert_eq!(retry_at("try again later", NOW), None);
    }

    fn utc_ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>()
            .map_or(0, |t| t.as_millisecond())
    }

    #[test]
    fn clock_times_in_reset_messages() {
        // NOW is 2025-11-24T16:00:00Z, a Monday.
        let now = utc_ms("2025-11-24T16:00:00Z");
        assert_eq!(now, NOW);
        // Claude Code: later today in the zone it names, or tomorrow when that time has passed.
        assert_eq!(
            retry_at("you've hit your limit · resets 8pm (europe/berlin)", NOW),
            Some(utc_ms("2025-11-24T19:00:00Z"))
        );
        assert_eq!(
            retry_at(
                "you've hit your session limit · resets 12:50am (america/los_angeles)",
                NOW
            ),
            Some(utc_ms("2025-11-25T08:50:00Z"))
        );
        assert_eq!(
            retry_at("you've hit your limit · resets 3pm (utc)", NOW),
            Some(utc_ms("2025-11-25T15:00:00Z")),
            "3 pm UTC has passed today"
        );
        assert_eq!(
            retry_at(
                "you've hit your limit · resets nov 27 at 9pm (america/new_york)",
                NOW
            ),
            Some(utc_ms("2025-11-28T02:00:00Z"))
        );
        assert_eq!(
            retry_at(
                "you've hit your limit · resets dec 16, 11am (europe/berlin)",
                NOW
            ),
            Some(utc_ms("2025-12-16T10:00:00Z"))
        );
        assert_eq!(
            retry_at(
                "you've hit your limit · resets feb 16, 11am (europe/berlin)",
                NOW
            ),
            Some(NOW + MAX_AHEAD_MS),
            "beyond a month: a month"
        );
        // Codex, with a year; in a zone named explicitly here to keep the test machine-free.
        assert_eq!(
            retry_at("or try again at dec 5th, 2025 8:19 pm (utc).", NOW),
            Some(utc_ms("2025-12-05T20:19:00Z"))
        );
        assert_eq!(
            retry_at("limits will reset at 17:30 (utc)", NOW),
            Some(utc_ms("2025-11-24T17:30:00Z"))
        );
        // Not clock times.
        assert_eq!(retry_at("resets 5 (utc)", NOW), None);
        assert_eq!(retry_at("presets 8pm (utc)", NOW), None);
        assert_eq!(retry_at("resets 13pm (utc)", NOW), None);
    }

    #[test]
    fn claude_and_codex_limit_messages_are_exhausted_quotas() {
        let kind = |id: &str| {
            crate::provider::by_id(id)
                .map(|k| k.failure_patterns())
                .unwrap_or_default()
        };
        let claude = patterns(&FailurePatterns::default(), kind("claude"));
        assert_eq!(
            classify(
                1,
                "You\u{2019}ve hit your session limit · resets 8pm (Europe/Berlin)\n/login to switch to an API usage-billed account.".as_bytes(),
                &claude,
                NOW
            ),
            Verdict::QuotaExhausted {
                until_ms: Some(utc_ms("2025-11-24T19:00:00Z"))
            }
        );
        let codex = patterns(&FailurePatterns::default(), kind("codex"));
        assert_eq!(
            classify(
                1,
                "\u{25a0} You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try again in 2 days 17 hours 14 minutes.".as_bytes(),
                &codex,
                NOW
            ),
            Verdict::QuotaExhausted {
                until_ms: Some(NOW + ((2 * 24 + 17) * 60 + 14) * 60_000)
            }
        );
    }

    #[test]
    fn test_reports_and_prose_are_told_apart() {
        let pats = p();
        let c = |s: &str| classify(1, s.as_bytes(), &pats, NOW);
        // The agent's own errors, even with words a test report would use inside others.
        assert_eq!(
            c("ERROR: unexpected status 401 Unauthorized: Missing bearer"),
            Verdict::CredentialRejected
        );
        assert_eq!(
            c("unexpected status 429 Too Many Requests"),
            Verdict::RateLimited { until_ms: None }
        );
        assert_eq!(
            c("rate limit exceeded, want to retry in 30s"),
            Verdict::RateLimited {
                until_ms: Some(NOW + 30_000)
            }
        );
        // Reports on the user's code.
        assert_eq!(c("got status 401, want 200"), Verdict::Failed);
        assert_eq!(c("expected 200, got HTTP 401"), Verdict::Failed);
        assert_eq!(c("AssertionError: HTTP 429 != 200"), Verdict::Failed);
        assert_eq!(
            c("fatal: tests failed: 3 failed, HTTP 429 handling in src/retry.rs is wrong"),
            Verdict::Failed
        );
        assert_eq!(c("npm ERR! code E403 forbidden"), Verdict::Failed);
    }
}
