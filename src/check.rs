//! `xnai check`: the state of every account's credential, offline.
//!
//! The provider inspects the token (format, checksum, signature, embedded expiry); this module
//! adds the rules shared by every provider: expiry from `token_expiry` or the token, the
//! refresh buffer, and the order in which problems win.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{Account, Config, show_name};
use crate::provider::ProblemKind;

/// The state of one account's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Well-formed and not expiring soon.
    Valid,
    /// Valid, but expires within `refresh_buffer_minutes`.
    ExpiringSoon,
    /// Well-formed, but its signature could not be checked (no key configured).
    Unverifiable,
    /// Expired.
    Expired,
    /// A JWT whose `nbf` is in the future.
    NotYetValid,
    /// Not in the provider's format (prefix, length, checksum, JSON).
    InvalidFormat,
    /// A JWT whose signature does not verify, or uses a rejected algorithm.
    InvalidSignature,
    /// No credential, or an empty one.
    Empty,
    /// The check itself failed (e.g. a configured key file is unreadable).
    Error,
}

impl State {
    /// The name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::ExpiringSoon => "expiring_soon",
            State::Unverifiable => "unverifiable",
            State::Expired => "expired",
            State::NotYetValid => "not_yet_valid",
            State::InvalidFormat => "invalid_format",
            State::InvalidSignature => "invalid_signature",
            State::Empty => "empty",
            State::Error => "error",
        }
    }

    /// Whether this state makes `xnai check` exit 1. `expiring_soon` and `unverifiable` are
    /// warnings: the credential still works.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            State::Valid | State::ExpiringSoon | State::Unverifiable
        )
    }
}

/// The result for one account. Holds no secret: the credential appears only masked.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Provider section id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// Provider kind.
    pub kind: &'static str,
    /// Whether the account is enabled; disabled accounts do not affect the exit code.
    pub enabled: bool,
    /// The state.
    pub state: State,
    /// Why, in words.
    pub message: String,
    /// Which field holds the credential.
    pub credential_field: Option<&'static str>,
    /// The credential, masked.
    pub credential: Option<String>,
    /// What the credential was recognised as.
    pub recognised: Option<String>,
    /// When it expires (RFC 3339).
    pub expires_at: Option<String>,
    /// Where the expiry came from (`token_expiry`, `jwt exp`).
    pub expiry_source: Option<&'static str>,
    /// Hours until expiry, negative once expired.
    pub hours_until_expiry: Option<f64>,
    /// Extra facts for `-v` (JWT claims, key used); never secret values. A JSON object.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "pairs_as_object"
    )]
    pub details: Vec<(String, String)>,
}

/// Ordered pairs as a JSON object (the order is the one `-v` prints).
fn pairs_as_object<S: serde::Serializer>(
    pairs: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// Checks one account at `now`, with the refresh buffer in minutes.
pub fn check_account(account: &Account, buffer_minutes: u32, now: Timestamp) -> CheckResult {
    let mut ins = account.kind.inspect(account);
    if let Some(e) = &account.native_error {
        // The login lives in the tool's own file and that file is unreadable: nothing else
        // about the account can be trusted.
        ins.problem = Some(crate::provider::Problem::new(ProblemKind::Error, e.clone()));
    }
    let masked = ins
        .field
        .and_then(|f| account.secret(f))
        .map(|s| s.value.masked());

    let file_expiry = account.token_expiry.as_ref().map(|f| f.value);
    let (expires_at, expiry_source) = match (file_expiry, ins.token_expires_at) {
        (Some(a), Some(b)) if b < a => (Some(b), Some("jwt exp")),
        (Some(a), _) => (Some(a), Some("token_expiry")),
        (None, Some(b)) => (Some(b), Some("jwt exp")),
        (None, None) => (None, None),
    };
    let hours = expires_at.map(|e| {
        let h = (e.as_second() - now.as_second()) as f64 / 3600.0;
        (h * 100.0).round() / 100.0
    });
    let buffer = SignedDuration::from_mins(i64::from(buffer_minutes));

    // Order matters: a malformed or forged token's dates mean nothing, so format and signature
    // problems win; then time; then the soft "could not verify".
    let hard = ins
        .problem
        .as_ref()
        .filter(|p| !matches!(p.state, ProblemKind::Unverifiable));
    let (state, message) = if let Some(p) = hard {
        let state = match p.state {
            ProblemKind::Empty => State::Empty,
            ProblemKind::InvalidFormat => State::InvalidFormat,
            ProblemKind::InvalidSignature => State::InvalidSignature,
            ProblemKind::Error | ProblemKind::Unverifiable => State::Error,
        };
        (state, p.message.clone())
    } else if let Some(exp) = expires_at.filter(|e| *e <= now) {
        (
            State::Expired,
            format!("expired {} ({})", exp, human_ago(now.duration_since(exp))),
        )
    } else if let Some(nbf) = ins.not_before.filter(|n| *n > now) {
        (State::NotYetValid, format!("not valid before {nbf}"))
    } else if let Some(exp) = expires_at.filter(|e| e.duration_since(now) <= buffer) {
        (
            State::ExpiringSoon,
            format!(
                "expires in {} (inside the {buffer_minutes} min refresh buffer): refresh it now",
                human_span(exp.duration_since(now))
            ),
        )
    } else if let Some(p) = &ins.problem {
        (State::Unverifiable, p.message.clone())
    } else {
        (
            State::Valid,
            ins.recognised
                .clone()
                .unwrap_or_else(|| "valid".to_string()),
        )
    };

    CheckResult {
        provider: account.provider_id.clone(),
        account: account.id.clone(),
        kind: account.kind.id(),
        enabled: account.enabled,
        state,
        message,
        credential_field: ins.field,
        credential: masked,
        recognised: ins.recognised,
        expires_at: expires_at.map(|t| t.to_string()),
        expiry_source,
        hours_until_expiry: hours,
        details: ins.details,
    }
}

/// Which accounts to check.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Only this provider section.
    pub provider: Option<String>,
    /// Only this account (requires `provider`).
    pub account: Option<String>,
}

/// A selection that names something that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSelection {
    /// What is wrong.
    pub message: String,
    /// The names that exist.
    pub hint: String,
}

/// The accounts a selection picks, in file order.
pub fn select<'c>(
    config: &'c Config,
    sel: &Selection,
) -> Result<Vec<&'c Account>, UnknownSelection> {
    let Some(pid) = &sel.provider else {
        return Ok(config.accounts().collect());
    };
    let Some(section) = config.provider(pid) else {
        let ids: Vec<&str> = config.providers.iter().map(|p| p.id.as_str()).collect();
        let hint = match crate::suggest::did_you_mean(pid, ids.iter().copied()) {
            Some(s) => format!(
                "did you mean `{s}`? Configured providers: {}",
                ids.join(", ")
            ),
            None if ids.is_empty() => "no providers are configured".to_string(),
            None => format!("configured providers: {}", ids.join(", ")),
        };
        return Err(UnknownSelection {
            message: format!(
                "no provider {} in {}",
                show_name(pid),
                config.path.display()
            ),
            hint,
        });
    };
    match &sel.account {
        None => Ok(section.accounts.iter().collect()),
        Some(aid) => match section.accounts.iter().find(|a| &a.id == aid) {
            Some(a) => Ok(vec![a]),
            None => {
                let ids: Vec<&str> = section.accounts.iter().map(|a| a.id.as_str()).collect();
                Err(UnknownSelection {
                    message: format!(
                        "no account {} under provider {}",
                        show_name(aid),
                        show_name(pid)
                    ),
                    hint: format!("accounts of {pid}: {}", ids.join(", ")),
                })
            }
        },
    }
}

/// Checks the selected accounts.
pub fn check(
    config: &Config,
    sel: &Selection,
    clock: &dyn Clock,
) -> Result<Vec<CheckResult>, UnknownSelection> {
    let now = clock.now();
    let buffer = config.token_validation.refresh_buffer_minutes;
    Ok(select(config, sel)?
        .into_iter()
        .map(|a| check_account(a, buffer, now))
        .collect())
}

/// "3d 4h", "12 min", "40 s": a short span for people.
pub fn human_span(d: SignedDuration) -> String {
    let s = d.as_secs().abs();
    let (days, hours, mins) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if days >= 365 {
        format!("{}y", days / 365)
    } else if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins} min")
    } else {
        format!("{s} s")
    }
}

/// A time left, for countdowns (cooldowns, resets, run-outs): under 10 minutes to the second
/// (`1m 57s`: truncated to "1 min" it would read as half the wait), then rounded to the
/// nearest minute (`1h 5m`), and from a day on to the nearest hour (`1d 6h`).
pub fn human_countdown(d: SignedDuration) -> String {
    let s = d.as_secs().abs();
    if s < 60 {
        return format!("{s} s");
    }
    if s < 600 {
        return format!("{}m {:02}s", s / 60, s % 60);
    }
    let mins = (s + 30) / 60;
    if mins < 60 {
        return format!("{mins} min");
    }
    if mins < 24 * 60 {
        return format!("{}h {}m", mins / 60, mins % 60);
    }
    let hours = (mins + 30) / 60;
    format!("{}d {}h", hours / 24, hours % 24)
}

fn human_ago(d: SignedDuration) -> String {
    format!("{} ago", human_span(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(human_span(SignedDuration::from_secs(40)), "40 s");
        assert_eq!(human_span(SignedDuration::from_mins(12)), "12 min");
        assert_eq!(human_span(SignedDuration::from_hours(26)), "1d 2h");
        assert_eq!(human_span(SignedDuration::from_hours(24 * 800)), "2y");
    }

    #[test]
    fn countdowns_round_instead_of_truncating() {
        let c = |secs: i64| human_countdown(SignedDuration::from_secs(secs));
        assert_eq!(c(40), "40 s");
        assert_eq!(c(117), "1m 57s");
        assert_eq!(c(600), "10 min");
        assert_eq!(c(50 * 60 + 10), "50 min");
        assert_eq!(c(59 * 60 + 40), "1h 0m");
        assert_eq!(c(3600 + 29 * 60 + 31), "1h 30m");
        assert_eq!(c(86_400 + 6 * 3600 + 31 * 60), "1d 7h");
    }

    #[test]
    fn failure_states() {
        assert!(!State::Valid.is_failure());
        assert!(!State::ExpiringSoon.is_failure());
        assert!(!State::Unverifiable.is_failure());
        for s in [
            State::Expired,
            State::NotYetValid,
            State::InvalidFormat,
            State::InvalidSignature,
            State::Empty,
            State::Error,
        ] {
            assert!(s.is_failure(), "{s:?}");
        }
    }
}
