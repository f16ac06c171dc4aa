//! A dispatch from start to end: the chain, the scored plan, the attempts and their outcomes.
//! The CLI reads the task and prints; everything decided lives here, so it runs (and is
//! tested) without the binary.

use std::ffi::OsString;
use std::time::Instant;

use super::state::{DispatchState, Event, Lease};
use super::{Candidate, Exclusion, Scored, Verdict};
use crate::audit::AccountAudit;
use crate::config::{Account, Config};
use crate::error::{Error, Result, exit};
use crate::exec;
use crate::output;
use crate::paths::DataDir;
use crate::session::{self, Policy};
use crate::store::Store;

/// Audits run at once while a dispatch checks its accounts.
const GATHER_JOBS: usize = 4;
/// Seconds one account's log collection may take before the dispatch goes on without it.
const GATHER_TIMEOUT_SECS: u64 = 30;

/// One provider of the chain with its scored accounts.
pub struct Tier<'c> {
    /// The provider id.
    pub provider: String,
    /// Its accounts, in configuration order.
    pub accounts: Vec<&'c Account>,
    /// Index of each account's audit.
    pub audits: Vec<usize>,
    /// Each account's candidate, in the same order.
    pub cands: Vec<Candidate>,
}

impl Tier<'_> {
    /// The eligible candidates, best first (what `--explain` lists).
    pub fn ranked(&self, w: &crate::config::Weights) -> Vec<Scored> {
        super::rank(&self.cands, w)
    }
}

/// The next account to run among `tiers` (see [`super::pick`]), skipping the labels in
/// `tried`: the tier's index and the candidate's.
pub fn next_pick(tiers: &[Tier<'_>], cfg: &Config, tried: &[String]) -> Option<(usize, usize)> {
    let cands: Vec<&[Candidate]> = tiers.iter().map(|t| t.cands.as_slice()).collect();
    let skip = |c: &Candidate| tried.contains(&c.label);
    super::pick(&cands, &cfg.dispatch.weights, &skip).map(|(t, s)| (t, s.index))
}

/// What is being placed, and when.
#[derive(Debug, Clone, Copy)]
pub struct Task {
    /// Estimated tokens.
    pub tokens: u64,
    /// The instant the plan is for (Unix ms).
    pub now_ms: i64,
    /// Accounts need an agent command (dispatch) or not (`run auto` brings its own).
    pub need_command: bool,
}

/// The chain's provider ids: `providers` when given, else the named chain, else
/// `dispatch_config.fallback_chain`.
pub fn chain_of(cfg: &Config, chain: Option<&str>, providers: &[String]) -> Result<Vec<String>> {
    let ids = || {
        cfg.providers
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !providers.is_empty() {
        for (i, p) in providers.iter().enumerate() {
            if providers[..i].contains(p) {
                return Err(Error::usage(
                    format!("--provider {} is given twice", crate::config::show_name(p)),
                    Some(
                        "each provider's accounts are all tried at its place in the chain"
                            .to_string(),
                    ),
                ));
            }
            if cfg.provider(p).is_none() {
                return Err(Error::usage(
                    format!("no provider {}", crate::config::show_name(p)),
                    Some(format!("providers: {}", ids())),
                ));
            }
        }
        return Ok(providers.to_vec());
    }
    if let Some(name) = chain {
        return cfg
            .dispatch
            .chains
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = cfg
                    .dispatch
                    .chains
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                Error::usage(
                    format!("no chain {}", crate::config::show_name(name)),
                    Some(if names.is_empty() {
                        "define one under dispatch_config.chains".to_string()
                    } else {
                        format!("chains: {}", names.join(", "))
                    }),
                )
            });
    }
    if cfg.dispatch.fallback_chain.is_empty() {
        return Err(Error::usage(
            "no providers to dispatch to",
            Some("pass --provider P (repeatable), --chain NAME, or set dispatch_config.fallback_chain".to_string()),
        ));
    }
    Ok(cfg.dispatch.fallback_chain.clone())
}

/// The account `XNAI_FORCE_ACCOUNT` names (`forced`, the variable's value), checked against
/// the kinds the chain runs: a task written for one agent must not run with another's login.
pub fn forced_account<'c>(
    cfg: &'c Config,
    chain: &[String],
    forced: Option<&str>,
) -> Result<Option<&'c Account>> {
    let Some(f) = forced.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let account = session::find(cfg, f).map_err(|e| match e {
        Error::Usage { message, hint } => Error::Usage {
            message: format!("{}: {message}", session::FORCE_ACCOUNT_VAR),
            hint,
        },
        other => other,
    })?;
    let kinds: Vec<&str> = chain
        .iter()
        .filter_map(|p| cfg.provider(p))
        .map(|p| p.kind.id())
        .collect();
    if !kinds.contains(&account.kind.id()) {
        return Err(Error::usage(
            format!(
                "{} names {} ({}), but the chain runs {}",
                session::FORCE_ACCOUNT_VAR,
                account.label(),
                account.kind.id(),
                kinds.join(", ")
            ),
            Some(format!(
                "point {} at an account of one of those kinds",
                session::FORCE_ACCOUNT_VAR
            )),
        ));
    }
    output::warn(&format!(
        "{}: running as {}, whatever its state",
        session::FORCE_ACCOUNT_VAR,
        account.label()
    ));
    Ok(Some(account))
}

/// Scores every account of every provider of `chain` as of `task.now_ms`. `path` is the
/// `PATH` agent commands are looked up on.
pub fn plan<'c>(
    cfg: &'c Config,
    chain: &[String],
    audits: &[AccountAudit],
    accounts: &[&'c Account],
    state: &dyn DispatchState,
    task: Task,
    path: Option<&str>,
) -> Result<Vec<Tier<'c>>> {
    let Task {
        tokens,
        now_ms,
        need_command,
    } = task;
    let keys: Vec<(&str, &str)> = accounts
        .iter()
        .map(|a| (a.provider_id.as_str(), a.id.as_str()))
        .collect();
    let states = state.load(&keys, now_ms)?;
    let mut tiers = Vec::new();
    for pid in chain {
        let mut t = Tier {
            provider: pid.clone(),
            accounts: Vec::new(),
            audits: Vec::new(),
            cands: Vec::new(),
        };
        for (i, a) in accounts.iter().enumerate() {
            if &a.provider_id != pid {
                continue;
            }
            let mut c = super::candidate(
                a,
                &audits[i],
                &states[i],
                tokens,
                cfg.dispatch.latency_prior_ms,
            );
            if !need_command && c.excluded == Some(Exclusion::NoCommand) {
                c.excluded = None;
            }
            if need_command
                && c.excluded.is_none()
                && let Some(program) = super::command_of(a).and_then(|cmd| cmd.first().cloned())
                && !super::program_available(&program, path)
            {
                c.excluded = Some(Exclusion::AgentMissing { program });
            }
            t.cands.push(c);
            t.accounts.push(a);
            t.audits.push(i);
        }
        super::borrow_latency(&mut t.cands);
        tiers.push(t);
    }
    Ok(tiers)
}

/// When an exhausted quota comes back: the time the agent printed, else the reset of the
/// account's fullest window, else in an hour.
pub fn quota_until(audit: &AccountAudit, said: Option<i64>, now_ms: i64) -> i64 {
    said.or_else(|| {
        audit
            .quota
            .windows
            .iter()
            .filter(|w| w.next_reset_ms.is_some_and(|r| r > now_ms))
            .max_by(|a, b| {
                a.percent
                    .unwrap_or(0.0)
                    .total_cmp(&b.percent.unwrap_or(0.0))
            })
            .and_then(|w| w.next_reset_ms)
    })
    .unwrap_or(now_ms + 3_600_000)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// What one attempt came to, for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `provider/account`.
    pub label: String,
    /// `ok in 2.1 s`, `rate limited (out for 1 min 0 s)`, ...
    pub what: String,
}

/// How a dispatch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The last agent ran to an outcome that is the user's: success or the task's own
    /// failure, or (after nothing else ran) an agent that could not be started. The code is
    /// the agent's.
    Finished(i32),
    /// Every attempt was rate limited, out of quota or refused.
    AllRotated {
        /// Eligible accounts not tried because `max_attempts` was reached.
        untried: usize,
        /// Some hold will pass on its own (a cooldown, a quota reset, a busy slot); when
        /// every account was refused its credential, waiting does not help.
        temporary: bool,
    },
    /// No account could be tried at all; `temporary` when waiting helps (a cooldown ends, a
    /// window resets, a run finishes).
    NoAccount {
        /// Whether trying later can succeed.
        temporary: bool,
        /// Each excluded account and why (see [`exclusions`]).
        reasons: Option<String>,
    },
    /// xnai was told to stop, or a signal killed the agent: signal N.
    Interrupted(i32),
    /// `--dry-run`: the account that would have run.
    DryRun(String),
}

/// A task to dispatch.
pub struct Request<'a> {
    /// The prompt, as the agent gets it.
    pub prompt: &'a str,
    /// Its estimated size in tokens.
    pub tokens: u64,
    /// Provider ids in order.
    pub chain: Vec<String>,
    /// `XNAI_FORCE_ACCOUNT`'s value.
    pub forced: Option<String>,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Seconds one attempt's agent may run before it is stopped.
    pub timeout_secs: Option<u32>,
    /// Choose, but run nothing.
    pub dry_run: bool,
    /// `PATH` to find agents on.
    pub path: Option<String>,
    /// Names of the caller's environment variables (to warn about what an instance
    /// overrides).
    pub caller_env: Vec<String>,
}

/// What a dispatch did.
#[derive(Debug)]
pub struct Report {
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// How it ended.
    pub end: End,
    /// The chain it ran (after `XNAI_FORCE_ACCOUNT`).
    pub chain: Vec<String>,
}

impl Report {
    /// The exit code: the agent's, 75 when trying later may help, 125 when it cannot, 128+N
    /// after signal N.
    pub fn exit_code(&self) -> i32 {
        match &self.end {
            End::Finished(c) => *c,
            End::AllRotated { untried: 1.., .. }
            | End::AllRotated {
                temporary: true, ..
            }
            | End::NoAccount {
                temporary: true, ..
            } => exit::TRY_LATER,
            End::AllRotated { .. }
            | End::NoAccount {
                temporary: false, ..
            } => exit::OWN_FAILURE,
            End::Interrupted(sig) => 128 + sig,
            End::DryRun(_) => 0,
        }
    }
}

/// Runs `req` on the best account of its chain, rotating on rate limits, exhausted quotas
/// and rejected credentials, up to `max_attempts`. `on_plan` sees the first plan (for
/// `--explain`).
pub fn dispatch(
    cfg: &Config,
    data: &DataDir,
    req: &Request<'_>,
    on_plan: &mut dyn FnMut(&[Tier<'_>], i64),
) -> Result<Report> {
    let mut chain = req.chain.clone();
    let forced = forced_account(cfg, &chain, req.forced.as_deref())?;
    if let Some(f) = forced {
        // The emergency switch bypasses scoring: that account, once.
        chain = vec![f.provider_id.clone()];
    }
    let accounts: Vec<&Account> = cfg
        .accounts()
        .filter(|a| chain.contains(&a.provider_id))
        .filter(|a| forced.is_none_or(|f| std::ptr::eq(f, *a)))
        .collect();
    let max_attempts = if forced.is_some() {
        1
    } else {
        req.max_attempts
    };
    let (audits, store) = crate::audit::gather(
        cfg,
        &accounts,
        data,
        now_ms(),
        GATHER_JOBS,
        GATHER_TIMEOUT_SECS,
        "checking",
    )?;
    let state: &dyn DispatchState = &store;
    let path = req.path.as_deref();
    let mut tried: Vec<String> = Vec::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    let done = |attempts, end| Report {
        attempts,
        end,
        chain: chain.clone(),
    };
    // How the last attempt ended: its exit code, and whether it asked for rotation.
    let mut last: Option<(i32, bool)> = None;
    let mut planned = false;
    // Eligible accounts left untried when the attempts ran out.
    let mut untried = 0;
    // Whether some attempt met a hold that passes on its own.
    let mut temporary = false;
    loop {
        let now = now_ms();
        let task = Task {
            tokens: req.tokens,
            now_ms: now,
            need_command: true,
        };
        let tiers = plan(cfg, &chain, &audits, &accounts, state, task, path)?;
        if !planned {
            on_plan(&tiers, now);
            planned = true;
        }
        let pick = next_pick(&tiers, cfg, &tried);
        if attempts.len() >= max_attempts as usize {
            untried = tiers
                .iter()
                .flat_map(|t| &t.cands)
                .filter(|c| c.excluded.is_none() && !tried.contains(&c.label))
                .count();
            break;
        }
        let (t, i) = match (pick, forced) {
            (Some(p), _) => p,
            // A forced account is used whatever its state.
            (None, Some(_)) => match tiers.iter().position(|t| !t.accounts.is_empty()) {
                Some(t) if tried.is_empty() => (t, 0),
                _ => break,
            },
            (None, None) => break,
        };
        let tier = &tiers[t];
        let account = tier.accounts[i];
        let audit = &audits[tier.audits[i]];
        let label = account.label();
        tried.push(label.clone());
        if req.dry_run {
            return Ok(done(attempts, End::DryRun(label)));
        }
        // The emergency switch is not held back by max_concurrent either; its lease still
        // counts against the others.
        let max = if forced.is_some() {
            None
        } else {
            account.dispatch.max_concurrent
        };
        let Some(lease) = state.acquire(&account.provider_id, &account.id, max, now)? else {
            // Another process took the last slot since the state was read.
            temporary = true;
            attempts.push(Attempt {
                label,
                what: "busy".to_string(),
            });
            continue;
        };
        let result = attempt(
            cfg,
            account,
            data,
            &store,
            req,
            forced.is_some(),
            &mut |pid| {
                // The agent leads a process group of its own (see attempt): the lease lives while
                // anything in it does.
                let _ = state.attach(lease, pid, true);
            },
        );
        let _ = state.release(lease);
        let ran = match result {
            Ok(Tried::Ran(r)) => r,
            Ok(Tried::NotRun(why)) => {
                // The account's instance could not be prepared (its credential changed since
                // the check, a file is unwritable): the next account may do.
                attempts.push(Attempt {
                    label,
                    what: format!("not run ({why})"),
                });
                last = Some((exit::OWN_FAILURE, false));
                continue;
            }
            Err(e @ Error::Spawn { .. }) => {
                // The agent could not start: nothing ran. Accounts with the same command would
                // fail the same way; try the next account with another.
                let program = super::command_of(account).and_then(|c| c.first().cloned());
                for a in &accounts {
                    if super::command_of(a).and_then(|c| c.first().cloned()) == program
                        && !tried.contains(&a.label())
                    {
                        tried.push(a.label());
                    }
                }
                attempts.push(Attempt {
                    label,
                    what: format!("not run ({e})"),
                });
                last = Some((e.exit_code(), false));
                continue;
            }
            Err(e) => return Err(e),
        };
        let finished = now_ms();
        let code = ran.outcome.exit_code();
        // Stopped (for its timeout, by a signal, or because xnai was told to stop): nothing
        // the account did, so only the run is recorded against it and nothing else is tried.
        let stopped = ran.timed_out || ran.interrupted.is_some() || ran.outcome.signal.is_some();
        if stopped {
            let _ = state.record(
                &account.provider_id,
                &account.id,
                &Event::Ran,
                ran.started_ms,
                finished,
            );
        }
        // Stopped for running too long: neither the user's interrupt nor the account's fault
        // that anything shows (a long task, or an agent retrying in silence). Returned like
        // timeout(1) does, without rotating: another account would run as long.
        if ran.timed_out && ran.interrupted.is_none() {
            attempts.push(Attempt {
                label,
                what: format!(
                    "timed out at {} s (--timeout; stopped)",
                    req.timeout_secs.unwrap_or_default()
                ),
            });
            return Ok(done(attempts, End::Finished(exit::TIMED_OUT)));
        }
        // Stopped by a signal, or xnai was told to stop: the user's call.
        if stopped {
            let what = match (ran.interrupted, ran.outcome.signal) {
                (_, Some(sig)) => format!("stopped by signal {sig}"),
                (Some(sig), None) => format!("interrupted by signal {sig} (agent exit {code})"),
                (None, None) => String::new(),
            };
            attempts.push(Attempt { label, what });
            // Whatever the agent made of it, the caller asked xnai to stop: its exit says so
            // (an agent that catches Ctrl-C and exits 0 must not let `&& git commit` run).
            let sig = ran
                .interrupted
                .or(ran.outcome.signal)
                .unwrap_or(libc::SIGTERM);
            return Ok(done(attempts, End::Interrupted(sig)));
        }
        let pats = super::outcome::patterns(
            &account.dispatch.failure_patterns,
            account.kind.failure_patterns(),
        );
        let mut verdict = super::classify(code, &ran.tail, &pats, finished);
        // A credential the provider refused serves no model calls. When the agent's own logs
        // show calls made during this run, the "401" or "invalid api key" came from the task
        // (a failing auth test, an API the task calls), not from the account's login.
        if verdict == Verdict::CredentialRejected
            && served_calls(account, data, ran.started_ms, finished)
        {
            verdict = Verdict::Failed;
            output::warn(&format!(
                "{}: the output reports a rejected credential, but the agent's logs show model \
                 calls during the run: taken as the task's own failure",
                account.label()
            ));
        }
        let (event, what) = match verdict {
            Verdict::Success => (
                Event::Success {
                    duration_ms: ran.duration_ms,
                },
                format!("ok in {}", super::human_ms(ran.duration_ms)),
            ),
            Verdict::Failed => (Event::Ran, format!("failed (exit {code})")),
            Verdict::RateLimited { until_ms } => {
                (Event::RateLimited { until_ms }, "rate limited".to_string())
            }
            Verdict::QuotaExhausted { until_ms } => (
                Event::QuotaExhausted {
                    until_ms: quota_until(audit, until_ms, finished),
                },
                "quota exhausted".to_string(),
            ),
            Verdict::CredentialRejected => (
                Event::Rejected {
                    fingerprint: super::credential_fingerprint(account),
                },
                "credential rejected".to_string(),
            ),
        };
        let change = state.record(
            &account.provider_id,
            &account.id,
            &event,
            ran.started_ms,
            finished,
        )?;
        let rotate = !matches!(verdict, Verdict::Success | Verdict::Failed);
        temporary |= matches!(
            verdict,
            Verdict::RateLimited { .. } | Verdict::QuotaExhausted { .. }
        );
        let what = match change.until_ms {
            Some(u) if rotate => format!("{what} (out for {})", super::human_ms(u - finished)),
            _ => what,
        };
        attempts.push(Attempt { label, what });
        last = Some((code, rotate));
        if !rotate {
            return Ok(done(attempts, End::Finished(code)));
        }
    }
    let end = match last {
        // Only launch failures: the agent is not installed or not executable.
        Some((code, false)) => End::Finished(code),
        Some((_, true)) => End::AllRotated { untried, temporary },
        None => {
            // Try later only when something will pass on its own (a cooldown ends, a window
            // resets, a run finishes); otherwise the configuration or the task must change.
            let task = Task {
                tokens: req.tokens,
                now_ms: now_ms(),
                need_command: true,
            };
            let tiers = plan(cfg, &chain, &audits, &accounts, state, task, path)?;
            let reasons = exclusions(&tiers, task.now_ms);
            let temporary = tiers.iter().flat_map(|t| &t.cands).any(|c| {
                matches!(
                    c.excluded,
                    Some(
                        Exclusion::Cooldown { .. }
                            | Exclusion::Busy { .. }
                            | Exclusion::Exhausted { .. }
                    )
                )
            });
            End::NoAccount { temporary, reasons }
        }
    };
    Ok(done(attempts, end))
}

/// Whether `account`'s agent logs record model calls in `[since_ms, until_ms]` (a second of
/// slack each side for clock rounding in the logs). Scans its instance first, so what the
/// run just wrote counts; a ledger or log that cannot be read counts as no evidence.
fn served_calls(account: &Account, data: &DataDir, since_ms: i64, until_ms: i64) -> bool {
    let Ok(mut store) = Store::open(&data.ledger()) else {
        return false;
    };
    let target = crate::usage::target(account, data);
    if target.sources.is_empty()
        || crate::usage::scan::scan(&mut store, std::slice::from_ref(&target), 1).is_err()
    {
        return false;
    }
    store
        .find_account(&account.provider_id, &account.id)
        .ok()
        .flatten()
        .and_then(|id| store.usage_sums(id, since_ms - 1000, until_ms + 1001).ok())
        .is_some_and(|s| s.events > 0)
}

/// One attempt's result.
struct Ran {
    outcome: exec::Outcome,
    tail: Vec<u8>,
    interrupted: Option<i32>,
    timed_out: bool,
    started_ms: i64,
    duration_ms: i64,
}

/// Runs the agent once on `account`.
fn attempt(
    cfg: &Config,
    account: &Account,
    data: &DataDir,
    store: &Store,
    req: &Request<'_>,
    forced: bool,
    on_spawn: &mut dyn FnMut(u32),
) -> Result<Tried> {
    let started = jiff::Timestamp::now();
    let act = session::activate(
        cfg,
        account,
        data,
        started,
        Policy::from(forced, cfg),
        &req.caller_env,
    );
    let act = match act {
        Ok(a) => a,
        Err(e) => return Ok(Tried::NotRun(e.to_string())),
    };
    for n in &act.notes {
        output::warn(n);
    }
    let command = super::command_of(account).ok_or_else(|| {
        Error::usage(
            format!("{}: no agent command", account.label()),
            Some(
                "set `command: [program, args..., \"{prompt}\"]` in its provider section"
                    .to_string(),
            ),
        )
    })?;
    let argv = super::fill_command(&command, req.prompt);
    if argv.iter().any(|a| a.len() > super::MAX_ARG_BYTES) {
        return Err(Error::usage(
            "the prompt does not fit in one program argument (Linux allows 128 KiB)",
            Some("shorten it; put long material in a file the agent reads".to_string()),
        ));
    }
    let program = std::path::Path::new(&argv[0])
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let run_id = store
        .start_run(
            &account.provider_id,
            &account.id,
            "dispatch",
            &program,
            started,
            forced,
        )
        .ok();
    let spec = exec::Spec {
        argv: argv.into_iter().map(OsString::from).collect(),
        env: act
            .set
            .iter()
            .map(|v| (v.name.clone(), v.expose().to_string()))
            .collect(),
        env_remove: act.unset.clone(),
        // Every secret of the pool, not only this account's: an agent working in a repository
        // may come across another account's key (a credential file, an environment dump).
        mask: pool_mask(cfg, &act.mask),
        capture: true,
        // The task is the prompt: an agent must not wait on (or eat) xnai's stdin, and a
        // retry on another account must see the same input.
        stdin_null: true,
        // Stopping a dispatch stops the agent's tool processes too.
        own_group: true,
        timeout: req
            .timeout_secs
            .map(|s| std::time::Duration::from_secs(u64::from(s))),
    };
    let clock = Instant::now();
    let captured = exec::run_captured_with(&spec, on_spawn);
    let duration = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Some(id) = run_id {
        let (code, signal) = match &captured {
            Ok(c) => (c.outcome.code, c.outcome.signal),
            Err(e) => (Some(e.exit_code()), None),
        };
        let _ = store.finish_run(id, duration, code, signal);
    }
    let c = captured?;
    Ok(Tried::Ran(Ran {
        outcome: c.outcome,
        tail: c.tail,
        interrupted: c.interrupted,
        timed_out: c.timed_out,
        started_ms: started.as_millisecond(),
        duration_ms: duration,
    }))
}

/// `own` (the account's secrets with their masked forms) plus every other secret in `cfg`.
fn pool_mask(cfg: &Config, own: &[(String, String)]) -> Vec<(String, String)> {
    let mut mask = own.to_vec();
    for a in cfg.accounts() {
        for (_, f) in &a.secrets {
            if !f.value.is_blank() && !mask.iter().any(|(s, _)| s == f.value.expose()) {
                mask.push((f.value.expose().to_string(), f.value.masked()));
            }
        }
    }
    mask
}

/// Whether an attempt ran the agent.
enum Tried {
    /// It did.
    Ran(Ran),
    /// The account's instance could not be prepared: why.
    NotRun(String),
}

/// The account `xnai run auto` runs on, the ledger, and its lease (none when forced).
pub type Choice<'c> = (&'c Account, Store, Option<Lease>);

/// Why `xnai run auto` found no account: what, and each account's reason.
#[derive(Debug)]
pub struct NoAccount(pub String, pub String);

/// `xnai run auto --provider P`: the best account of P's chain now, by the dispatcher's rules
/// (no task size known: context fit is 1), with a lease held while the command runs.
/// `forced` (`XNAI_FORCE_ACCOUNT`, of a matching kind) replaces the choice.
pub fn choose<'c>(
    cfg: &'c Config,
    data: &DataDir,
    providers: &[String],
    forced: Option<&str>,
) -> Result<std::result::Result<Choice<'c>, NoAccount>> {
    let chain = chain_of(cfg, None, providers)?;
    if let Some(a) = forced_account(cfg, &chain, forced)? {
        return Ok(Ok((a, Store::open(&data.ledger())?, None)));
    }
    let accounts: Vec<&Account> = cfg
        .accounts()
        .filter(|a| chain.contains(&a.provider_id))
        .collect();
    let now = now_ms();
    let (audits, store) = crate::audit::gather(
        cfg,
        &accounts,
        data,
        now,
        GATHER_JOBS,
        GATHER_TIMEOUT_SECS,
        "checking",
    )?;
    let task = Task {
        tokens: 0,
        now_ms: now,
        need_command: false,
    };
    let tiers = plan(cfg, &chain, &audits, &accounts, &store, task, None)?;
    // In the dispatcher's order; an account whose last slot another process just took is
    // passed over.
    let mut taken: Vec<String> = Vec::new();
    while let Some((t, i)) = next_pick(&tiers, cfg, &taken) {
        let a = tiers[t].accounts[i];
        if let Some(lease) = store.acquire(&a.provider_id, &a.id, a.dispatch.max_concurrent, now)? {
            return Ok(Ok((a, store, Some(lease))));
        }
        taken.push(a.label());
    }
    Ok(Err(NoAccount(
        format!("no account of {} can run now", chain.join(", ")),
        exclusions(&tiers, now).unwrap_or_else(|| "every account is busy".to_string()),
    )))
}

/// Every excluded account with its reason, `; `-separated; `None` when none is excluded.
pub fn exclusions(tiers: &[Tier<'_>], now_ms: i64) -> Option<String> {
    let reasons: Vec<String> = tiers
        .iter()
        .flat_map(|t| t.cands.iter())
        .filter_map(|c| {
            c.excluded
                .as_ref()
                .map(|e| format!("{}: {}", c.label, e.describe(now_ms)))
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}
