//! `xnai dispatch`: run a task on the best account of a chain of providers, rotating on rate
//! limits, exhausted quotas and rejected credentials. Also the account choice of
//! `xnai run auto`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use super::Ctx;
use crate::config::Config;
use crate::dispatch::engine::{self, Attempt, End, Request, Tier};
use crate::dispatch::{self, state::DispatchState};
use crate::error::{Error, Result};
use crate::exec;
use crate::output;
use crate::session;
use crate::store::Store;

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

    /// Lift the dispatcher's cooldown or rejection of PROVIDER/ACCOUNT (repeatable; `all` for
    /// every account) and exit
    #[arg(
        long,
        value_name = "PROVIDER/ACCOUNT",
        conflicts_with_all = ["prompt", "prompt_file", "dry_run", "explain", "chain", "provider", "context_tokens", "max_attempts", "timeout"]
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

    /// Stop an attempt's agent after this many seconds (SIGTERM, SIGKILL 10 s later) and exit
    /// 124 [default: dispatch_config.timeout_secs, else none]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::config::MAX_TIMEOUT_SECS)))]
    pub timeout: Option<u32>,

    /// The prompt, after --
    #[arg(last = true, value_name = "PROMPT")]
    pub prompt: Vec<OsString>,
}

fn explain(
    cfg: &Config,
    tiers: &[Tier<'_>],
    tokens: u64,
    source: &str,
    now_ms: i64,
    forced: bool,
) -> String {
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
        for (rank, r) in t.ranked(w).iter().enumerate() {
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
                Some(q) if c.critical => {
                    format!("critical: {:.0}% left after task", q * 100.0)
                }
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
    let forced_label = forced
        .then(|| tiers.iter().flat_map(|t| &t.cands).next())
        .flatten();
    match (forced_label, engine::next_pick(tiers, cfg, &[])) {
        (Some(c), _) => s.push_str(&format!(
            "choice: {} ({}, whatever its state)\n",
            c.label,
            session::FORCE_ACCOUNT_VAR
        )),
        (None, Some((t, i))) => {
            let c = &tiers[t].cands[i];
            let reserve = if c.critical {
                " (critical: no account below the critical threshold is eligible)"
            } else {
                ""
            };
            s.push_str(&format!("choice: {}{reserve}\n", c.label));
        }
        (None, None) => s.push_str("choice: none eligible\n"),
    }
    s
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

fn clear(ctx: &Ctx, cfg: &Config, targets: &[String]) -> Result<i32> {
    let data = ctx.data_dir()?;
    let store = Store::open(&data.ledger())?;
    let now = jiff::Timestamp::now().as_millisecond();
    let all = targets.iter().any(|t| t == "all") && cfg.provider("all").is_none();
    let accounts: Vec<&crate::config::Account> = if all {
        cfg.accounts().collect()
    } else {
        targets
            .iter()
            .map(|t| session::find(cfg, t))
            .collect::<Result<_>>()?
    };
    let mut cleared = 0;
    for a in &accounts {
        let what = if store.clear(&a.provider_id, &a.id, now)? {
            cleared += 1;
            "cleared"
        } else if all {
            continue;
        } else {
            "had no cooldown or rejection"
        };
        output::print(&format!("{}: {what}\n", a.label()))?;
    }
    if all {
        output::print(&format!(
            "cleared {cleared} of {} accounts\n",
            accounts.len()
        ))?;
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
    let req = Request {
        prompt: &prompt,
        tokens,
        chain: engine::chain_of(cfg, args.chain.as_deref(), &args.provider)?,
        forced: super::env_lookup(session::FORCE_ACCOUNT_VAR),
        max_attempts: args.max_attempts.unwrap_or(cfg.dispatch.max_attempts),
        timeout_secs: args.timeout.or(cfg.dispatch.timeout_secs),
        dry_run: args.dry_run,
        path: super::env_lookup("PATH"),
        caller_env: super::caller_env_names(),
    };
    let show_plan = args.explain || args.dry_run;
    let report = engine::dispatch(cfg, &data, &req, &mut |tiers, now| {
        if show_plan {
            let mut err = anstream::stderr();
            let forced = req.forced.as_deref().is_some_and(|v| !v.trim().is_empty());
            let text = explain(cfg, tiers, tokens, source, now, forced);
            let _ = err.write_all(text.as_bytes());
        }
    })?;
    let code = report.exit_code();
    if let End::DryRun(label) = &report.end {
        output::print(&format!("{label}\n"))?;
        return Ok(code);
    }
    summary(&report.attempts);
    let chain = report.chain.join(" → ");
    match report.end {
        End::Interrupted(sig) => exec::die_by(sig),
        End::AllRotated {
            untried: 0,
            temporary: true,
        } => output::error(
            &format!(
                "no account of {chain} finished the task: each attempt was rate limited, out of \
                 quota or refused"
            ),
            Some("try again later; `xnai status` shows when the cooldowns end"),
        ),
        End::AllRotated {
            untried: 0,
            temporary: false,
        } => output::error(
            &format!(
                "no account of {chain} finished the task: the provider rejected every \
                 credential tried"
            ),
            Some(
                "waiting will not help: log in again (xnai login PROVIDER/ACCOUNT) or replace \
                 the key; a changed credential is tried again",
            ),
        ),
        End::AllRotated { untried, .. } => output::error(
            &format!(
                "stopped after {} (--max-attempts), {}rate limited, out of quota or refused; \
                 {untried} eligible account{} of {chain} not tried",
                match report.attempts.len() {
                    1 => "1 attempt".to_string(),
                    n => format!("{n} attempts"),
                },
                if report.attempts.len() == 1 {
                    ""
                } else {
                    "each "
                },
                if untried == 1 { "" } else { "s" }
            ),
            Some(
                "run it again (the accounts tried are held back now), or raise --max-attempts \
                 or dispatch_config.max_attempts",
            ),
        ),
        End::NoAccount { reasons, .. } => output::error(
            &format!(
                "no account of {chain} can take the task now{}",
                reasons.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            Some("`xnai dispatch --explain --dry-run -- ...` shows every candidate"),
        ),
        End::Finished(_) | End::DryRun(_) => {}
    }
    Ok(code)
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
