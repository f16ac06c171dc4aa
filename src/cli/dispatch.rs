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

    /// A file whose text is part of the task (the prompt when none is given after --)
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,

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
            t.cands.push(c);
            t.accounts.push(a);
            t.audits.push(i);
        }
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
            let lat = if c.measured {
                format!("measured {}", dispatch::human_ms(c.latency_ms as i64))
            } else {
                format!("prior {}", dispatch::human_ms(c.latency_ms as i64))
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

fn prompt_of(args: &Args) -> Result<(String, u64, &'static str)> {
    let given: Vec<String> = args
        .prompt
        .iter()
        .map(|p| {
            p.to_str()
                .map(str::to_string)
                .ok_or_else(|| Error::usage("the prompt is not valid UTF-8", None::<String>))
        })
        .collect::<Result<_>>()?;
    let mut prompt = given.join(" ");
    let mut extra = String::new();
    if let Some(f) = &args.prompt_file {
        let bytes = crate::fsutil::read_regular(f, 64 << 20).map_err(|e| {
            Error::usage(
                format!("cannot read --prompt-file {}: {e}", f.display()),
                None::<String>,
            )
        })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if prompt.trim().is_empty() {
            prompt = text;
        } else {
            extra = text;
        }
    }
    if prompt.trim().is_empty() {
        return Err(Error::usage(
            "no task given",
            Some("put the prompt after --: xnai dispatch -- \"fix the failing test\"".to_string()),
        ));
    }
    let (tokens, source) = match args.context_tokens {
        Some(n) => (n, "--context-tokens"),
        None => (
            dispatch::estimate_tokens(&prompt) + dispatch::estimate_tokens(&extra),
            "estimated at 4 characters per token",
        ),
    };
    Ok((prompt, tokens, source))
}

fn run_inner(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let (prompt, tokens, source) = prompt_of(&args)?;
    let data = ctx.data_dir()?;
    let forced = super::env_lookup(session::FORCE_ACCOUNT_VAR).filter(|v| !v.trim().is_empty());
    let chain = match &forced {
        // The emergency switch bypasses scoring: that account, once.
        Some(f) => vec![
            session::find(cfg, f.trim())
                .map_err(|e| match e {
                    Error::Usage { message, hint } => Error::Usage {
                        message: format!("{}: {message}", session::FORCE_ACCOUNT_VAR),
                        hint,
                    },
                    other => other,
                })?
                .provider_id
                .clone(),
        ],
        None => chain_of(cfg, args.chain.as_deref(), &args.provider)?,
    };
    let accounts: Vec<&Account> = cfg
        .accounts()
        .filter(|a| chain.contains(&a.provider_id))
        .filter(|a| match &forced {
            Some(f) => session::find(cfg, f.trim()).is_ok_and(|x| std::ptr::eq(x, *a)),
            None => true,
        })
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
    let mut last_code: Option<i32> = None;
    let mut explained = false;
    while history.len() < max_attempts as usize {
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
        let pick = match (pick, &forced) {
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
        let (code, output_tail, started, duration_ms) = result?;
        let done = now_ms();
        let pats = dispatch::outcome::patterns(
            &account.dispatch.failure_patterns,
            account.kind.failure_patterns(),
        );
        let verdict = dispatch::classify(code, &output_tail, &pats, done);
        let (event, what) = match verdict {
            Verdict::Success => (
                Event::Success { duration_ms },
                format!("ok in {}", dispatch::human_ms(duration_ms)),
            ),
            Verdict::Failed => (Event::Failed, format!("failed (exit {code})")),
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
        let change = state.record(&account.provider_id, &account.id, &event, started, done)?;
        let what = match change.until_ms {
            Some(u) if !matches!(verdict, Verdict::Success | Verdict::Failed) => {
                format!("{what} (out for {})", dispatch::human_ms(u - done))
            }
            _ => what,
        };
        history.push(Attempt { label, what });
        last_code = Some(code);
        if matches!(verdict, Verdict::Success | Verdict::Failed) {
            summary(&history);
            return Ok(code);
        }
    }
    summary(&history);
    match last_code {
        Some(code) => Ok(code),
        None => {
            output::error(
                &format!("no account of {} can take the task now", chain.join(" → ")),
                Some("`xnai dispatch --explain --dry-run -- ...` shows why each is excluded"),
            );
            Ok(NO_ACCOUNT)
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

/// Runs the agent once on `account`: (exit code, output tail, start ms, duration ms).
fn attempt(
    cfg: &Config,
    account: &Account,
    data: &crate::paths::DataDir,
    store: &Store,
    prompt: &str,
    forced: bool,
) -> Result<(i32, Vec<u8>, i64, i64)> {
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
    };
    let clock = Instant::now();
    let outcome = exec::run_captured(&spec);
    let duration = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Some(id) = run_id {
        let (code, signal) = match &outcome {
            Ok((o, _)) => (o.code, o.signal),
            Err(e) => (Some(e.exit_code()), None),
        };
        let _ = store.finish_run(id, duration, code, signal);
    }
    let (outcome, tail) = outcome?;
    exec::die_like(&outcome);
    Ok((
        outcome.exit_code(),
        tail,
        started.as_millisecond(),
        duration,
    ))
}

/// `xnai run auto --provider P`: the best account of P's chain now, by the dispatcher's rules
/// (no task size known: context fit is 1), with a lease held while the command runs.
pub(crate) fn choose<'c>(
    cfg: &'c Config,
    data: &crate::paths::DataDir,
    providers: &[String],
) -> Result<(&'c Account, Store, crate::dispatch::state::Lease)> {
    let chain = chain_of(cfg, None, providers)?;
    let accounts: Vec<&Account> = cfg
        .accounts()
        .filter(|a| chain.contains(&a.provider_id))
        .collect();
    let now = now_ms();
    let (audits, store) = super::audit::gather(cfg, &accounts, data, now, 4, 30, "checking")?;
    let tiers = build_tiers(
        cfg,
        &chain,
        &audits,
        &accounts,
        &store,
        Task {
            tokens: 0,
            now_ms: now,
            need_command: false,
        },
    )?;
    for t in &tiers {
        for r in &t.ranked {
            let a = t.accounts[r.index];
            if let Some(lease) =
                store.acquire(&a.provider_id, &a.id, a.dispatch.max_concurrent, now)?
            {
                return Ok((a, store, lease));
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
    Err(Error::Refused {
        message: format!("no account of {} can run now", chain.join(", ")),
        hint: Some(if reasons.is_empty() {
            "no accounts are configured for it".to_string()
        } else {
            reasons.join("; ")
        }),
    })
}
