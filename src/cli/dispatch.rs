//! `xnai dispatch`: run a task on the best account of a chain of providers, rotating on rate
//! limits, exhausted quotas and rejected credentials. Also the account choice of
//! `xnai run auto`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use super::Ctx;
use crate::audit::AccountAudit;
use crate::config::{Account, Config};
use crate::dispatch::state::{DispatchState, Event};
use crate::dispatch::{self, Candidate, Exclusion, Scored, Verdict};
use crate::error::{Error, Result};
use crate::exec;
use crate::output;
use crate::session::{self, Policy};
use crate::store::Store;

/// Exit code when no account of the chain can take the task now (EX_TEMPFAIL: try later).
pub const NO_ACCOUNT: i32 = 75;

/// Arguments of `xnai dispatch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A named chain from dispatch_config.chains [default: dispatch_config.fallback_chain]
    #[arg(long, value_name = "NAME", conflicts_with = "provider")]
    pub chain: Option<String>,

    /// Providers to try, in order (repeat the flag): a chain for this task
    #[arg(long = "provider", short = 'p', value_name = "PROVIDER")]
    pub provider: Vec<String>,

    /// The task's context size in tokens [default: estimated from the prompt and --prompt-file]
    #[arg(long, value_name = "N")]
    pub context_tokens: Option<u64>,

    /// A file whose text is added to the task after the prompt (the whole prompt when none
    /// is given after --); `-` reads standard input
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,

    /// Lift the dispatcher's cooldown or rejection of PROVIDER/ACCOUNT (repeatable) and exit
    #[arg(
        long,
        value_name = "PROVIDER/ACCOUNT",
        conflicts_with_all = ["prompt", "prompt_file", "dry_run", "explain", "chain", "provider", "context_tokens", "max_attempts"]
    )]
    pub clear: Vec<String>,

    /// Print every candidate's score components, the weights and the exclusions (stderr)
    #[arg(long)]
    pub explain: bool,

    /// Choose and explain, but run nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Attempts before giving up [default: dispatch_config.max_attempts, else 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: Option<u32>,

    /// The prompt, after --
    #[arg(last = true, value_name = "PROMPT")]
    pub prompt: Vec<OsString>,
}

/// One provider of the chain with its scored accounts.
struct Tier<'c> {
    provider: String,
    accounts: Vec<&'c Account>,
    /// Index of each account's audit.
    audits: Vec<usize>,
    cands: Vec<Candidate>,
    ranked: Vec<Scored>,
}

/// What is being placed, and when.
#[derive(Clone, Copy)]
struct Task {
    /// Estimated tokens.
    tokens: u64,
    now_ms: i64,
    /// Accounts need an agent command (dispatch) or not (`run auto` brings its own).
    need_command: bool,
}

/// The chain's provider ids: --provider, --chain, else fallback_chain.
fn chain_of(cfg: &Config, chain: Option<&str>, providers: &[String]) -> Result<Vec<String>> {
    let ids = || {
        cfg.providers
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !providers.is_empty() {
        for p in providers {
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

fn build_tiers<'c>(
    cfg: &'c Config,
    chain: &[String],
    audits: &[AccountAudit],
    accounts: &[&'c Account],
    state: &dyn DispatchState,
    task: Task,
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
            ranked: Vec::new(),
        };
        for (i, a) in accounts.iter().enumerate() {
            if &a.provider_id != pid {
                continue;
            }
            let mut c = dispatch::candidate(
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
                && let Some(program) = dispatch::command_of(a).and_then(|cmd| cmd.first().cloned())
                && !dispatch::program_available(&program, super::env_lookup("PATH").as_deref())
            {
                c.excluded = Some(Exclusion::AgentMissing { program });
            }
            t.cands.push(c);
            t.accounts.push(a);
            t.audits.push(i);
        }
        dispatch::borrow_latency(&mut t.cands);
        t.ranked = dispatch::rank(&t.cands, &cfg.dispatch.weights);
        tiers.push(t);
    }
    Ok(tiers)
}

fn explain(cfg: &Config, tiers: &[Tier<'_>], tokens: u64, source: &str, now_ms: i64) -> String {
    let w = &cfg.dispatch.weights;
    let mut s = format!(
        "dispatch: task ~{} tokens ({source}); score = {:.2}·quota + {:.2}·latency + {:.2}·context_fit\n",
        output::thousands(tokens),
        w.quota,
        w.latency,
        w.context_fit
    );
    s.push_str(&format!(
        "chain: {}\n",
        tiers
            .iter()
            .map(|t| t.provider.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    ));
    for t in tiers {
        s.push_str(&format!("  {}\n", t.provider));
        let mut table = output::Table::new(&[
            "", "ACCOUNT", "SCORE", "QUOTA", "LATENCY", "CONTEXT", "NOTE",
        ]);
        for (rank, r) in t.ranked.iter().enumerate() {
            let c = &t.cands[r.index];
            let ms = dispatch::human_ms(c.latency_ms as i64);
            let lat = if c.measured {
                format!("measured {ms}")
            } else if c.borrowed {
                format!("no runs yet: provider's best {ms}")
            } else {
                format!("prior {ms}")
            };
            let lat = if c.running > 0 {
                format!("{lat}; {} running", c.running)
            } else {
                lat
            };
            let quota = match c.quota_left {
                None => "no limit known".to_string(),
                Some(_) if c.critical && r.quota == 0.0 => "critical".to_string(),
                Some(q) => format!("{:.0}% left after task", q * 100.0),
            };
            table.row(vec![
                format!("{}", rank + 1).into(),
                c.label.clone().into(),
                format!("{:.3}", r.score).into(),
                format!("{:.2}", r.quota).into(),
                format!("{:.2}", r.latency).into(),
                format!("{:.2}", r.context_fit).into(),
                format!("{quota}; {lat}").into(),
            ]);
        }
        for c in t.cands.iter().filter(|c| c.excluded.is_some()) {
            let why = c
                .excluded
                .as_ref()
                .map(|e| e.describe(now_ms))
                .unwrap_or_default();
            table.row(vec![
                "-".into(),
                c.label.clone().into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("excluded: {why}").into(),
            ]);
        }
        for line in table.render().lines() {
            s.push_str("    ");
            s.push_str(line.trim_end());
            s.push('\n');
        }
    }
    s
}

/// When an exhausted quota comes back: the time the agent printed, else the reset of the
/// account's fullest window, else in an hour.
fn quota_until(audit: &AccountAudit, said: Option<i64>, now_ms: i64) -> i64 {
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
struct Attempt {
    label: String,
    what: String,
}

/// Runs `xnai dispatch`.
pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    match run_inner(ctx, args) {
        Ok(code) => Ok(code),
        Err(e) => {
            output::error(&e.to_string(), e.hint().as_deref());
            Ok(super::run::OWN_FAILURE)
        }
    }
}

/// Reads `--prompt-file`: a regular file or a pipe (`<(git diff)`), or `-` for stdin; at most
/// 64 MiB.
fn read_prompt_file(f: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    const LIMIT: u64 = 64 << 20;
    let shown = || {
        let s = f.to_string_lossy();
        // Paths are echoed only when they look like paths: a pasted key is not one.
        if s.len() <= 200 && (s.contains('/') || s.contains('.')) && !s.starts_with("sk-") {
            format!("--prompt-file {s}")
        } else {
            "--prompt-file".to_string()
        }
    };
    let mut buf = Vec::new();
    let read = if f.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(LIMIT + 1)
            .read_to_end(&mut buf)
    } else {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(f) {
            Ok(m) if m.is_file() || m.file_type().is_fifo() => {
                std::fs::File::open(f).and_then(|file| file.take(LIMIT + 1).read_to_end(&mut buf))
            }
            Ok(_) => {
                return Err(Error::usage(
                    format!("{}: not a file or a pipe", shown()),
                    None::<String>,
                ));
            }
            Err(e) => Err(e),
        }
    };
    read.map_err(|e| Error::usage(format!("cannot read {}: {e}", shown()), None::<String>))?;
    if buf.len() as u64 > LIMIT {
        return Err(Error::usage(
            format!("{} is larger than 64 MiB", shown()),
            None::<String>,
        ));
    }
    Ok(buf)
}

fn prompt_of(args: &Args) -> Result<(String, u64, &'static str)> {
    let mut parts: Vec<String> = Vec::new();
    let given: Vec<String> = args
        .prompt
        .iter()
        .map(|p| {
            p.to_str()
                .map(str::to_string)
                .ok_or_else(|| Error::usage("the prompt is not valid UTF-8", None::<String>))
        })
        .collect::<Result<_>>()?;
    let given = given.join(" ");
    if !given.trim().is_empty() {
        parts.push(given);
    }
    if let Some(f) = &args.prompt_file {
        let bytes = read_prompt_file(f)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::usage(
                "--prompt-file is not valid UTF-8 text",
                Some("agents take text prompts; convert it first (iconv)".to_string()),
            )
        })?;
        if !text.trim().is_empty() {
            parts.push(text);
        }
    }
    // The prompt, then the file (a diff to review, say), as the agent will read them.
    let prompt = parts.join("\n\n");
    if prompt.trim().is_empty() {
        return Err(Error::usage(
            "no task given",
            Some("put the prompt after --: xnai dispatch -- \"fix the failing test\"".to_string()),
        ));
    }
    if prompt.contains('\0') {
        return Err(Error::usage(
            "the prompt contains a NUL byte, which no program argument can hold",
            None::<String>,
        ));
    }
    if prompt.len() > dispatch::MAX_ARG_BYTES {
        return Err(Error::usage(
            format!(
                "the prompt is {} bytes; Linux passes at most {} bytes in one argument",
                output::thousands(prompt.len() as u64),
                output::thousands(dispatch::MAX_ARG_BYTES as u64)
            ),
            Some(
                "put the long part in a file in the project and name it in the prompt \
                 (\"review the diff in changes.patch\"): the agent reads it itself"
                    .to_string(),
            ),
        ));
    }
    let (tokens, source) = match args.context_tokens {
        Some(n) => (n, "--context-tokens"),
        None => (
            dispatch::estimate_tokens(&prompt),
            "estimated at 4 characters per token",
        ),
    };
    Ok((prompt, tokens, source))
}

/// `XNAI_FORCE_ACCOUNT`, checked against the kinds the chain runs: a task written for one
/// agent must not run with another's login.
fn forced_account<'c>(cfg: &'c Config, chain: &[String]) -> Result<Option<&'c Account>> {
    let Some(f) = super::env_lookup(session::FORCE_ACCOUNT_VAR).filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let account = session::find(cfg, f.trim()).map_err(|e| match e {
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

fn clear(ctx: &Ctx, cfg: &Config, targets: &[String]) -> Result<i32> {
    let data = ctx.data_dir()?;
    let store = Store::open(&data.ledger())?;
    let now = now_ms();
    for t in targets {
        let a = session::find(cfg, t)?;
        let what = if store.clear(&a.provider_id, &a.id, now)? {
            "cleared"
        } else {
            "had no cooldown or rejection"
        };
        output::print(&format!("{}: {what}\n", a.label()))?;
    }
    Ok(0)
}

fn run_inner(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    if !args.clear.is_empty() {
        return clear(ctx, cfg, &args.clear);
    }
    let (prompt, tokens, source) = prompt_of(&args)?;
    let data = ctx.data_dir()?;
    let mut chain = chain_of(cfg, args.chain.as_deref(), &args.provider)?;
    let forced = forced_account(cfg, &chain)?;
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
        args.max_attempts.unwrap_or(cfg.dispatch.max_attempts)
    };
    let start = now_ms();
    let (audits, store) = super::audit::gather(cfg, &accounts, &data, start, 4, 30, "checking")?;
    let state: &dyn DispatchState = &store;
    let mut tried: Vec<String> = Vec::new();
    let mut history: Vec<Attempt> = Vec::new();
    // How the last attempt ended: its exit code, and whether it asked for rotation.
    let mut last: Option<(i32, bool)> = None;
    // The previous attempt's rejection: the account, and the end of its output.
    let mut prev_rejection: Option<(&Account, Vec<u8>)> = None;
    let mut explained = false;
    while history.len() < max_attempts as usize {
        let now = now_ms();
        let task = Task {
            tokens,
            now_ms: now,
            need_command: true,
        };
        let tiers = build_tiers(cfg, &chain, &audits, &accounts, state, task)?;
        if (args.explain || args.dry_run) && !explained {
            let mut err = anstream::stderr();
            let _ = err.write_all(explain(cfg, &tiers, tokens, source, now).as_bytes());
            explained = true;
        }
        // The first tier with an untried eligible account; within it the best one.
        let pick = tiers.iter().find_map(|t| {
            t.ranked
                .iter()
                .find(|r| !tried.contains(&t.cands[r.index].label))
                .map(|r| (t, r.index))
        });
        let pick = match (pick, forced) {
            (Some(p), _) => p,
            // A forced account is used whatever its state.
            (None, Some(_)) => match tiers.iter().find(|t| !t.accounts.is_empty()) {
                Some(t) if tried.is_empty() => (t, 0),
                _ => break,
            },
            (None, None) => break,
        };
        let (tier, i) = pick;
        let account = tier.accounts[i];
        let audit = &audits[tier.audits[i]];
        let label = account.label();
        tried.push(label.clone());
        if args.dry_run {
            output::print(&format!("{label}\n"))?;
            return Ok(0);
        }
        let Some(lease) = state.acquire(
            &account.provider_id,
            &account.id,
            account.dispatch.max_concurrent,
            now,
        )?
        else {
            // Another process took the last slot since the state was read.
            history.push(Attempt {
                label,
                what: "busy".to_string(),
            });
            continue;
        };
        let result = attempt(cfg, account, &data, &store, &prompt, forced.is_some());
        let _ = state.release(lease);
        let ran = match result {
            Ok(r) => r,
            Err(e @ Error::Spawn { .. }) => {
                // The agent could not start: nothing ran, try the next account.
                history.push(Attempt {
                    label,
                    what: format!("not run ({e})"),
                });
                last = Some((e.exit_code(), false));
                continue;
            }
            Err(e) => return Err(e),
        };
        let done = now_ms();
        let code = ran.outcome.exit_code();
        // Stopped by a signal, or xnai was told to stop: the user's call, not the account's
        // fault. Record nothing against it and try nothing else.
        if ran.interrupted.is_some() || ran.outcome.signal.is_some() {
            let _ = state.record(
                &account.provider_id,
                &account.id,
                &Event::Ran,
                ran.started_ms,
                done,
            );
            let what = match (ran.interrupted, ran.outcome.signal) {
                (_, Some(sig)) => format!("stopped by signal {sig}"),
                (Some(sig), None) => format!("interrupted by signal {sig} (agent exit {code})"),
                (None, None) => String::new(),
            };
            history.push(Attempt { label, what });
            summary(&history);
            // Whatever the agent made of it, the caller asked xnai to stop: its exit says so
            // (an agent that catches Ctrl-C and exits 0 must not let `&& git commit` run).
            let sig = ran
                .interrupted
                .or(ran.outcome.signal)
                .unwrap_or(libc::SIGTERM);
            exec::die_by(sig);
            return Ok(128 + sig);
        }
        let pats = dispatch::outcome::patterns(
            &account.dispatch.failure_patterns,
            account.kind.failure_patterns(),
        );
        let mut verdict = dispatch::classify(code, &ran.tail, &pats, done);
        // Two different credentials "rejected" with the very same words: that is the task's
        // own output (a failing auth test, say), not the accounts. Undo the first hold and
        // stop instead of locking every account of the pool.
        if verdict == Verdict::CredentialRejected {
            let tail = dispatch::outcome::last_lines(&ran.tail, 20).to_vec();
            if let Some((prev, prev_tail)) = &prev_rejection
                && *prev_tail == tail
            {
                let _ = state.clear(&prev.provider_id, &prev.id, done);
                verdict = Verdict::Failed;
                output::warn(&format!(
                    "{} and {} failed with the same output: taken as the task's own failure, \
                     not two rejected credentials",
                    prev.label(),
                    account.label()
                ));
            } else {
                prev_rejection = Some((account, tail));
            }
        }
        let (event, what) = match verdict {
            Verdict::Success => (
                Event::Success {
                    duration_ms: ran.duration_ms,
                },
                format!("ok in {}", dispatch::human_ms(ran.duration_ms)),
            ),
            Verdict::Failed => (Event::Ran, format!("failed (exit {code})")),
            Verdict::RateLimited { until_ms } => {
                (Event::RateLimited { until_ms }, "rate limited".to_string())
            }
            Verdict::QuotaExhausted { until_ms } => (
                Event::QuotaExhausted {
                    until_ms: quota_until(audit, until_ms, done),
                },
                "quota exhausted".to_string(),
            ),
            Verdict::CredentialRejected => (
                Event::Rejected {
                    fingerprint: dispatch::credential_fingerprint(account),
                },
                "credential rejected".to_string(),
            ),
        };
        let change = state.record(
            &account.provider_id,
            &account.id,
            &event,
            ran.started_ms,
            done,
        )?;
        let rotate = !matches!(verdict, Verdict::Success | Verdict::Failed);
        let what = match change.until_ms {
            Some(u) if rotate => format!("{what} (out for {})", dispatch::human_ms(u - done)),
            _ => what,
        };
        history.push(Attempt { label, what });
        last = Some((code, rotate));
        if !rotate {
            summary(&history);
            return Ok(code);
        }
    }
    summary(&history);
    match last {
        // Only launch failures: the agent is not installed or not executable.
        Some((code, false)) => Ok(code),
        Some((_, true)) => {
            output::error(
                &format!(
                    "no account of {} finished the task: each attempt was rate limited, out of \
                     quota or refused",
                    chain.join(" → ")
                ),
                Some("try again later; `xnai status` shows when the cooldowns end"),
            );
            Ok(NO_ACCOUNT)
        }
        None => {
            // Try later only when something will pass on its own (a cooldown ends, a window
            // resets, a run finishes); otherwise the configuration or the task must change.
            let now = now_ms();
            let tiers = build_tiers(
                cfg,
                &chain,
                &audits,
                &accounts,
                state,
                Task {
                    tokens,
                    now_ms: now,
                    need_command: true,
                },
            )?;
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
            output::error(
                &format!("no account of {} can take the task now", chain.join(" → ")),
                Some("`xnai dispatch --explain --dry-run -- ...` shows why each is excluded"),
            );
            Ok(if temporary {
                NO_ACCOUNT
            } else {
                super::run::OWN_FAILURE
            })
        }
    }
}

fn summary(history: &[Attempt]) {
    if history.is_empty() {
        return;
    }
    let line = history
        .iter()
        .map(|a| format!("{} {}", a.label, a.what))
        .collect::<Vec<_>>()
        .join(" → ");
    let mut err = anstream::stderr();
    let _ = writeln!(err, "xnai dispatch: {line}");
}

/// One attempt's result.
struct Ran {
    outcome: exec::Outcome,
    tail: Vec<u8>,
    interrupted: Option<i32>,
    started_ms: i64,
    duration_ms: i64,
}

/// Runs the agent once on `account`.
fn attempt(
    cfg: &Config,
    account: &Account,
    data: &crate::paths::DataDir,
    store: &Store,
    prompt: &str,
    forced: bool,
) -> Result<Ran> {
    let started = jiff::Timestamp::now();
    let act = session::activate(
        cfg,
        account,
        data,
        started,
        Policy::from(forced, cfg),
        &super::caller_env_names(),
    )?;
    for n in &act.notes {
        output::warn(n);
    }
    let command = dispatch::command_of(account).ok_or_else(|| {
        Error::usage(
            format!("{}: no agent command", account.label()),
            Some(
                "set `command: [program, args..., \"{prompt}\"]` in its provider section"
                    .to_string(),
            ),
        )
    })?;
    let argv = dispatch::fill_command(&command, prompt);
    if argv.iter().any(|a| a.len() > dispatch::MAX_ARG_BYTES) {
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
        mask: act.mask.clone(),
        capture: true,
        // The task is the prompt: an agent must not wait on (or eat) xnai's stdin, and a
        // retry on another account must see the same input.
        stdin_null: true,
        // Stopping a dispatch stops the agent's tool processes too.
        own_group: true,
    };
    let clock = Instant::now();
    let captured = exec::run_captured(&spec);
    let duration = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Some(id) = run_id {
        let (code, signal) = match &captured {
            Ok(c) => (c.outcome.code, c.outcome.signal),
            Err(e) => (Some(e.exit_code()), None),
        };
        let _ = store.finish_run(id, duration, code, signal);
    }
    let c = captured?;
    Ok(Ran {
        outcome: c.outcome,
        tail: c.tail,
        interrupted: c.interrupted,
        started_ms: started.as_millisecond(),
        duration_ms: duration,
    })
}

/// The account `xnai run auto` runs on, the ledger, and its lease (none when forced).
pub(crate) type Choice<'c> = (&'c Account, Store, Option<crate::dispatch::state::Lease>);

/// Why `xnai run auto` found no account.
pub(crate) struct NoAccount(pub String, pub String);

/// `xnai run auto --provider P`: the best account of P's chain now, by the dispatcher's rules
/// (no task size known: context fit is 1), with a lease held while the command runs.
/// `XNAI_FORCE_ACCOUNT` (of a matching kind) replaces the choice.
pub(crate) fn choose<'c>(
    cfg: &'c Config,
    data: &crate::paths::DataDir,
    providers: &[String],
) -> Result<std::result::Result<Choice<'c>, NoAccount>> {
    let chain = chain_of(cfg, None, providers)?;
    if let Some(a) = forced_account(cfg, &chain)? {
        return Ok(Ok((a, Store::open(&data.ledger())?, None)));
    }
    let accounts: Vec<&Account> = cfg
        .accounts()
        .filter(|a| chain.contains(&a.provider_id))
        .collect();
    let now = now_ms();
    let (audits, store) = super::audit::gather(cfg, &accounts, data, now, 4, 30, "checking")?;
    let task = Task {
        tokens: 0,
        now_ms: now,
        need_command: false,
    };
    let tiers = build_tiers(cfg, &chain, &audits, &accounts, &store, task)?;
    for t in &tiers {
        for r in &t.ranked {
            let a = t.accounts[r.index];
            if let Some(lease) =
                store.acquire(&a.provider_id, &a.id, a.dispatch.max_concurrent, now)?
            {
                return Ok(Ok((a, store, Some(lease))));
            }
        }
    }
    let reasons: Vec<String> = tiers
        .iter()
        .flat_map(|t| t.cands.iter())
        .filter_map(|c| {
            c.excluded
                .as_ref()
                .map(|e| format!("{}: {}", c.label, e.describe(now)))
        })
        .collect();
    Ok(Err(NoAccount(
        format!("no account of {} can run now", chain.join(", ")),
        if reasons.is_empty() {
            "every account is busy".to_string()
        } else {
            reasons.join("; ")
        },
    )))
}
