//! The dispatcher: score the eligible accounts of a chain of providers, run the task on the
//! best, and on a rate limit, an exhausted quota or a rejected credential record it and move
//! to the next account, then the next provider.
//!
//! [`rank`] is a pure function of [`Candidate`]s (built from the credential check, the quota
//! evaluation and the shared [`state::DispatchState`]), so the same state always gives the
//! same choice and the selection can be benchmarked on its own.

pub mod engine;
pub mod outcome;
pub mod state;

use serde::Serialize;

use crate::config::Weights;

pub use outcome::{Failure, Verdict, classify};

/// Why an account cannot take the task now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Exclusion {
    /// `enabled: false`.
    Disabled,
    /// The credential check failed or it expires within the refresh buffer.
    Credential {
        /// The check's state (`expired`, `expiring_soon`, ...).
        state: String,
    },
    /// A quota window is exhausted.
    Exhausted {
        /// `unit/window`.
        window: String,
    },
    /// Cooling down after a rate limit, or waiting for a quota reset the agent reported.
    Cooldown {
        /// `rate_limited` or `quota_exhausted`.
        why: String,
        /// Until when (Unix ms).
        until_ms: i64,
    },
    /// The provider rejected this credential; it stays out until the credential changes.
    Rejected,
    /// `max_concurrent` runs are in flight.
    Busy {
        /// Runs in flight.
        running: u32,
        /// The limit.
        max: u32,
    },
    /// The task does not fit the model's context window.
    ContextTooLarge {
        /// Estimated tokens.
        tokens: u64,
        /// The window.
        window: u64,
    },
    /// No agent command for this kind and none configured.
    NoCommand,
    /// The agent command's program is not installed (not on PATH or not executable).
    AgentMissing {
        /// The program named by the command.
        program: String,
    },
}

impl Exclusion {
    /// One line for `--explain` and the summary; `now_ms` turns times into durations.
    pub fn describe(&self, now_ms: i64) -> String {
        match self {
            Exclusion::Disabled => "disabled".to_string(),
            Exclusion::Credential { state } => format!("credential {state}"),
            Exclusion::Exhausted { window } => format!("{window} exhausted"),
            Exclusion::Cooldown { why, until_ms } => {
                format!(
                    "{}, cooling down for {}",
                    why.replace('_', " "),
                    human_ms(until_ms - now_ms)
                )
            }
            Exclusion::Rejected => {
                "credential rejected by the provider (until it changes)".to_string()
            }
            Exclusion::Busy { running, max } => format!("busy: {running} of {max} runs"),
            Exclusion::ContextTooLarge { tokens, window } => format!(
                "task of ~{} tokens exceeds the {}-token context window",
                crate::output::thousands(*tokens),
                crate::output::thousands(*window)
            ),
            Exclusion::NoCommand => {
                "no agent command: set `command:` in its provider section".to_string()
            }
            Exclusion::AgentMissing { program } if program.contains('/') => {
                if std::path::Path::new(program).is_file() {
                    format!("agent `{program}` is not executable (chmod +x it)")
                } else {
                    format!("agent `{program}` does not exist")
                }
            }
            Exclusion::AgentMissing { program } => {
                format!("agent `{program}` is not installed (not found on PATH)")
            }
        }
    }
}

/// `1 h 5 min`, `42 s`, `0.3 s`.
pub fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        return format!("{:.1} s", ms as f64 / 1000.0);
    }
    let s = (ms + 999) / 1000;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

/// What the scorer needs to know about one account.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// `provider/account`.
    pub label: String,
    /// Why it is out, if it is.
    pub excluded: Option<Exclusion>,
    /// Remaining fraction (0–1) of its tightest known window after the task; `None` when no
    /// limit is known.
    pub quota_left: Option<f64>,
    /// A window is at or above the critical threshold.
    pub critical: bool,
    /// Expected run time: the EWMA of measured runs, else the prior.
    pub latency_ms: f64,
    /// Whether `latency_ms` was measured on this account.
    pub measured: bool,
    /// Not measured here but borrowed from the provider's measured accounts (an account never
    /// run is not starved behind them by a pessimistic prior).
    pub borrowed: bool,
    /// Runs in flight on it: among equal scores, the least busy goes first.
    pub running: u32,
    /// Estimated task tokens over the context window.
    pub context_ratio: f64,
    /// When it last ran a dispatched task (Unix ms).
    pub last_used_ms: Option<i64>,
}

/// A scored candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    /// Index into the candidates given to [`rank`].
    pub index: usize,
    /// The weighted sum.
    pub score: f64,
    /// Quota component.
    pub quota: f64,
    /// Latency component.
    pub latency: f64,
    /// Context-fit component.
    pub context_fit: f64,
}

/// Context fit: 1 up to 80 % of the window, falling linearly to 0 at 100 %.
pub fn context_fit(ratio: f64) -> f64 {
    if ratio <= 0.8 {
        1.0
    } else if ratio >= 1.0 {
        0.0
    } else {
        (1.0 - ratio) / 0.2
    }
}

/// Scores the eligible candidates, best first. Quota counts 0 for an account at or above the
/// critical threshold unless every eligible account is; latency is normalised against the
/// fastest eligible account. Ties go to the least recently used account, then to the order
/// given.
pub fn rank(cands: &[Candidate], w: &Weights) -> Vec<Scored> {
    let eligible = || {
        cands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.excluded.is_none())
    };
    let best_latency = eligible()
        .map(|(_, c)| c.latency_ms.max(1.0))
        .fold(f64::INFINITY, f64::min);
    let all_critical = eligible().all(|(_, c)| c.critical);
    let mut out: Vec<Scored> = eligible()
        .map(|(index, c)| {
            let quota = if c.critical && !all_critical {
                0.0
            } else {
                c.quota_left.unwrap_or(1.0).clamp(0.0, 1.0)
            };
            let latency = best_latency / c.latency_ms.max(1.0);
            let context_fit = context_fit(c.context_ratio);
            Scored {
                index,
                score: w.quota * quota + w.latency * latency + w.context_fit * context_fit,
                quota,
                latency,
                context_fit,
            }
        })
        .collect();
    out.sort_by(|a, b| better(cands, a, b));
    out
}

/// Only the best of [`rank`], in one pass (what a dispatch needs most of the time).
pub fn best(cands: &[Candidate], w: &Weights) -> Option<Scored> {
    best_among(cands, w, &|_| true)
}

/// The best eligible candidate among those `consider` accepts, in one pass with no
/// allocation, by the rules of [`rank`] applied to that subset (latency normalised against
/// its fastest, critical quotas zeroed unless all of it is critical).
pub fn best_among(
    cands: &[Candidate],
    w: &Weights,
    consider: &dyn Fn(&Candidate) -> bool,
) -> Option<Scored> {
    let mut best_latency = f64::INFINITY;
    let mut all_critical = true;
    for c in cands.iter().filter(|c| c.excluded.is_none() && consider(c)) {
        best_latency = best_latency.min(c.latency_ms.max(1.0));
        all_critical &= c.critical;
    }
    let mut top: Option<Scored> = None;
    for (index, c) in cands.iter().enumerate() {
        if c.excluded.is_some() || !consider(c) {
            continue;
        }
        let quota = if c.critical && !all_critical {
            0.0
        } else {
            c.quota_left.unwrap_or(1.0).clamp(0.0, 1.0)
        };
        let latency = best_latency / c.latency_ms.max(1.0);
        let context_fit = context_fit(c.context_ratio);
        let s = Scored {
            index,
            score: w.quota * quota + w.latency * latency + w.context_fit * context_fit,
            quota,
            latency,
            context_fit,
        };
        if top
            .as_ref()
            .is_none_or(|t| better(cands, &s, t) == std::cmp::Ordering::Less)
        {
            top = Some(s);
        }
    }
    top
}

/// The account a dispatch runs next: `tiers` are the chain's providers in order, each with its
/// candidates; `skip` marks those already tried. The first provider with an eligible account
/// below the critical threshold, and its best; only when no provider of the chain has one, the
/// first with any eligible account (its last reserves are spent when nothing else can run).
/// Returns the tier's index and the scored candidate.
pub fn pick(
    tiers: &[&[Candidate]],
    w: &Weights,
    skip: &dyn Fn(&Candidate) -> bool,
) -> Option<(usize, Scored)> {
    for spend_reserves in [false, true] {
        for (t, cands) in tiers.iter().enumerate() {
            let consider = |c: &Candidate| !skip(c) && (spend_reserves || !c.critical);
            if let Some(s) = best_among(cands, w, &consider) {
                return Some((t, s));
            }
        }
    }
    None
}

/// Orders `a` before `b` when it is the better choice.
fn better(cands: &[Candidate], a: &Scored, b: &Scored) -> std::cmp::Ordering {
    const EPS: f64 = 1e-9;
    if (a.score - b.score).abs() > EPS {
        return b.score.total_cmp(&a.score);
    }
    // The least busy, then never used (i64::MIN), then the longest unused.
    let busy = |s: &Scored| cands[s.index].running;
    let lru = |s: &Scored| cands[s.index].last_used_ms.unwrap_or(i64::MIN);
    busy(a)
        .cmp(&busy(b))
        .then(lru(a).cmp(&lru(b)))
        .then(a.index.cmp(&b.index))
}

/// Estimated tokens of a prompt: about four characters per token, as the providers' own
/// rules of thumb say; `--context-tokens` gives the exact number when known.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// The agent command for an account: its `command:`, else its kind's default.
pub fn command_of(account: &crate::config::Account) -> Option<Vec<String>> {
    account.dispatch.command.clone().or_else(|| {
        account
            .kind
            .agent_command()
            .map(|c| c.iter().map(|s| (*s).to_string()).collect())
    })
}

/// `command` with `{prompt}` replaced by the prompt, inside whichever arguments hold it: each
/// stays one argument (no shell ever sees it).
pub fn fill_command(command: &[String], prompt: &str) -> Vec<String> {
    command
        .iter()
        .map(|a| a.replace("{prompt}", prompt))
        .collect()
}

/// The context window that applies to an account.
pub fn context_window_of(account: &crate::config::Account) -> Option<u64> {
    account
        .dispatch
        .context_window
        .or_else(|| account.kind.context_window())
}

/// A fingerprint of the account's current credential (a hash of hashes, never the secret), to
/// tell whether a credential the provider rejected has changed since.
pub fn credential_fingerprint(account: &crate::config::Account) -> String {
    let login = crate::provider::NativeLogin::from_account(account);
    crate::instance::fingerprint(
        crate::provider::secret_fingerprints(&login)
            .join("\n")
            .as_bytes(),
    )
}

/// Everything the scorer needs about one account, from its audit (credential, quota) and its
/// shared dispatch state. `tokens` is the task's estimated size.
pub fn candidate(
    account: &crate::config::Account,
    audit: &crate::audit::AccountAudit,
    state: &state::AccountState,
    tokens: u64,
    default_prior_ms: u64,
) -> Candidate {
    use crate::config::QuotaUnit;
    use crate::quota::Status;
    let window = context_window_of(account);
    let excluded = if !account.enabled {
        Some(Exclusion::Disabled)
    } else if audit.credential.state.is_failure()
        || audit.credential.state == crate::check::State::ExpiringSoon
    {
        Some(Exclusion::Credential {
            state: audit.credential.state.as_str().to_string(),
        })
    } else if let Some(w) = audit
        .quota
        .windows
        .iter()
        .find(|w| w.status == Status::Exhausted)
    {
        Some(Exclusion::Exhausted { window: w.key() })
    } else if let Some((why, until_ms)) = &state.cooldown {
        Some(Exclusion::Cooldown {
            why: why.clone(),
            until_ms: *until_ms,
        })
    } else if state.rejected_fingerprint.as_deref()
        == Some(credential_fingerprint(account).as_str())
    {
        Some(Exclusion::Rejected)
    } else if let Some(max) = account.dispatch.max_concurrent
        && state.running >= max
    {
        Some(Exclusion::Busy {
            running: state.running,
            max,
        })
    } else if let Some(w) = window
        && tokens > w
    {
        Some(Exclusion::ContextTooLarge { tokens, window: w })
    } else if command_of(account).is_none() {
        Some(Exclusion::NoCommand)
    } else {
        None
    };
    let quota_left = audit
        .quota
        .windows
        .iter()
        .filter_map(|w| {
            let limit = w.limit.filter(|l| *l > 0.0)?;
            let remaining = w.remaining?;
            let cost = match w.unit {
                QuotaUnit::Tokens => tokens as f64,
                QuotaUnit::Requests | QuotaUnit::Messages | QuotaUnit::Completions => 1.0,
                QuotaUnit::Percent | QuotaUnit::Usd => 0.0,
            };
            Some(((remaining - cost) / limit).clamp(0.0, 1.0))
        })
        .reduce(f64::min);
    let critical = audit
        .quota
        .windows
        .iter()
        .any(|w| w.status >= Status::Critical);
    let (latency_ms, measured) = match state.latency_ewma_ms {
        Some(ms) => (ms, true),
        None => (
            account
                .dispatch
                .latency_prior_ms
                .unwrap_or(default_prior_ms) as f64,
            false,
        ),
    };
    Candidate {
        label: account.label(),
        excluded,
        quota_left,
        critical,
        latency_ms,
        measured,
        borrowed: false,
        running: state.running,
        context_ratio: window.map_or(0.0, |w| tokens as f64 / w as f64),
        last_used_ms: state.last_used_ms,
    }
}

/// Gives accounts of one provider that have never run the best run time of those that have,
/// instead of the prior: optimistic, so each gets tried once (as the least recently used)
/// rather than being starved behind the first measured account.
pub fn borrow_latency(cands: &mut [Candidate]) {
    let measured: Vec<f64> = cands
        .iter()
        .filter(|c| c.measured)
        .map(|c| c.latency_ms)
        .collect();
    if measured.is_empty() {
        return;
    }
    let best = measured.iter().copied().fold(f64::INFINITY, f64::min);
    for c in cands.iter_mut().filter(|c| !c.measured) {
        c.latency_ms = best;
        c.borrowed = true;
    }
}

/// Linux refuses a single argument longer than this (`MAX_ARG_STRLEN`, 32 pages).
pub const MAX_ARG_BYTES: usize = 131_072 - 1;

/// Whether `program` (a path, or a name looked up on `path`) is an executable file.
pub fn program_available(program: &str, path: Option<&str>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let ok = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    crate::exec::locate(
        std::path::Path::new(program),
        Some(std::ffi::OsStr::new(path.unwrap_or_default())),
        &ok,
    )
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(label: &str, quota: Option<f64>, latency: f64, ratio: f64) -> Candidate {
        Candidate {
            label: label.into(),
            excluded: None,
            quota_left: quota,
            critical: false,
            latency_ms: latency,
            measured: true,
            borrowed: false,
            running: 0,
            context_ratio: ratio,
            last_used_ms: None,
        }
    }

    const W: Weights = Weights {
        quota: 0.4,
        latency: 0.3,
        context_fit: 0.3,
    };

    #[test]
    fn components_and_weights() {
        let c = vec![
            cand("a", Some(0.5), 2000.0, 0.1),
            cand("b", Some(0.9), 4000.0, 0.9),
        ];
        let r = rank(&c, &W);
        // a: 0.4*0.5 + 0.3*1 + 0.3*1 = 0.8; b: 0.4*0.9 + 0.3*0.5 + 0.3*0.5 = 0.66
        assert_eq!(r[0].index, 0);
        assert!((r[0].score - 0.8).abs() < 1e-9, "{r:?}");
        assert!((r[1].score - 0.66).abs() < 1e-9, "{r:?}");
        assert!((r[1].context_fit - 0.5).abs() < 1e-9);
        // All weight on quota: b wins.
        let q = Weights {
            quota: 1.0,
            latency: 0.0,
            context_fit: 0.0,
        };
        assert_eq!(rank(&c, &q)[0].index, 1);
        assert_eq!(best(&c, &q).map(|s| s.index), Some(1));
        assert_eq!(best(&c, &W).map(|s| s.index), Some(0));
    }

    #[test]
    fn critical_counts_zero_unless_all_are() {
        let mut c = vec![
            cand("a", Some(0.05), 1000.0, 0.0),
            cand("b", Some(0.3), 1000.0, 0.0),
        ];
        c[0].critical = true;
        let r = rank(&c, &W);
        assert_eq!(r[1].index, 0);
        assert_eq!(r[1].quota, 0.0);
        c[1].critical = true;
        let r = rank(&c, &W);
        assert!(
            (r[1].quota - 0.05).abs() < 1e-9,
            "all critical: real fractions"
        );
    }

    #[test]
    fn critical_accounts_are_the_chains_last_reserve() {
        let mut first = vec![cand("p/a", Some(0.05), 1000.0, 0.0)];
        first[0].critical = true;
        let second = vec![
            cand("q/b", Some(0.5), 9000.0, 0.0),
            cand("q/c", Some(0.6), 9000.0, 0.0),
        ];
        let tiers: Vec<&[Candidate]> = vec![&first, &second];
        let none = |_: &Candidate| false;
        let (t, s) = pick(&tiers, &W, &none).expect("a choice");
        assert_eq!(
            (t, s.index),
            (1, 1),
            "a healthy account of the next provider"
        );
        // With both healthy ones tried, the critical account is spent, at its real fraction.
        let tried = |c: &Candidate| c.label.starts_with("q/");
        let (t, s) = pick(&tiers, &W, &tried).expect("a choice");
        assert_eq!((t, s.index), (0, 0));
        assert!((s.quota - 0.05).abs() < 1e-9, "{s:?}");
        let all = |_: &Candidate| true;
        assert!(pick(&tiers, &W, &all).is_none());
    }

    #[test]
    fn best_among_normalises_over_what_it_considers() {
        let c = vec![cand("a", None, 1000.0, 0.0), cand("b", None, 4000.0, 0.0)];
        let not_a = |c: &Candidate| c.label != "a";
        let s = best_among(&c, &W, &not_a).expect("b");
        assert_eq!(s.index, 1);
        assert_eq!(s.latency, 1.0, "b is the fastest of what is left");
    }

    #[test]
    fn ties_go_to_least_recently_used_then_order() {
        let mut c = vec![cand("a", None, 1000.0, 0.0), cand("b", None, 1000.0, 0.0)];
        assert_eq!(rank(&c, &W)[0].index, 0);
        c[0].last_used_ms = Some(2_000);
        c[1].last_used_ms = Some(1_000);
        assert_eq!(rank(&c, &W)[0].index, 1);
        assert_eq!(best(&c, &W).map(|s| s.index), Some(1));
        c[0].last_used_ms = None;
        assert_eq!(best(&c, &W).map(|s| s.index), Some(0), "never used first");
        c[0].running = 1;
        assert_eq!(
            best(&c, &W).map(|s| s.index),
            Some(1),
            "the least busy first"
        );
    }

    #[test]
    fn unmeasured_accounts_borrow_their_peers_latency() {
        let mut c = vec![
            cand("a", None, 2000.0, 0.0),
            cand("b", None, 60_000.0, 0.0),
            cand("c", None, 4000.0, 0.0),
        ];
        c[1].measured = false;
        borrow_latency(&mut c);
        assert_eq!(c[1].latency_ms, 2000.0);
        assert!(c[1].borrowed && !c[0].borrowed);
    }

    #[test]
    fn excluded_are_not_ranked() {
        let mut c = vec![cand("a", None, 1.0, 0.0), cand("b", None, 5000.0, 0.0)];
        c[0].excluded = Some(Exclusion::Rejected);
        let r = rank(&c, &W);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].latency, 1.0, "normalised against eligible only");
    }

    #[test]
    fn context_fit_is_flat_then_linear() {
        assert_eq!(context_fit(0.8), 1.0);
        assert!((context_fit(0.9) - 0.5).abs() < 1e-9);
        assert_eq!(context_fit(1.0), 0.0);
        assert_eq!(estimate_tokens("abcdefgh1"), 3);
    }
}
