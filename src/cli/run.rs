//! `xnai run`: run a command logged into one account, in its instance.

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use super::Ctx;
use crate::dispatch::engine;
use crate::error::{Error, Result};
use crate::exec;
use crate::output;
use crate::session::{self, Policy};
use crate::store::Store;

/// Arguments of `xnai run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account: provider/account, provider when it has one account, or `auto` with
    /// --provider to let the dispatcher pick
    #[arg(value_name = "PROVIDER[/ACCOUNT]|auto")]
    pub target: String,

    /// With `auto`: the providers to choose from, in order (repeat the flag)
    #[arg(long = "provider", short = 'p', value_name = "PROVIDER")]
    pub provider: Vec<String>,

    /// Replace the account's secrets in the command's output with their masked form
    #[arg(long)]
    pub mask: bool,

    /// Use an invalid or expired credential anyway
    #[arg(long)]
    pub force: bool,

    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Exit code for xnai's own failures.
pub const OWN_FAILURE: i32 = crate::error::exit::OWN_FAILURE;

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    match run_inner(ctx, &args) {
        Ok(code) => Ok(code),
        Err(e @ Error::Spawn { .. }) => {
            output::error(&e.to_string(), e.hint().as_deref());
            Ok(e.exit_code())
        }
        Err(e) => {
            output::error(&e.to_string(), e.hint().as_deref());
            Ok(OWN_FAILURE)
        }
    }
}

fn run_inner(ctx: &Ctx, args: &Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let data = ctx.data_dir()?;
    let auto = args.target == "auto";
    if auto && args.provider.is_empty() {
        return Err(Error::usage(
            "`auto` needs --provider P (repeatable) to choose from",
            Some("xnai run auto --provider copilot -- copilot -p \"...\"".to_string()),
        ));
    }
    if !auto && !args.provider.is_empty() {
        return Err(Error::usage(
            "--provider goes with `auto` only",
            Some(format!(
                "xnai run auto --provider {} -- ...",
                args.provider[0]
            )),
        ));
    }
    // `auto` chooses like the dispatcher and holds a lease while the command runs;
    // XNAI_FORCE_ACCOUNT (of a matching kind) replaces the choice.
    let mut lease = None;
    let target = if auto {
        let forced = super::env_lookup(session::FORCE_ACCOUNT_VAR);
        match engine::choose(cfg, &data, &args.provider, forced.as_deref())? {
            Ok((account, store, l)) => {
                output::note(&format!("auto: {}", account.label()));
                lease = Some((store, l));
                session::Target {
                    account,
                    forced_from: None,
                }
            }
            Err(engine::NoAccount(message, why)) => {
                output::error(&message, Some(&why));
                return Ok(crate::error::exit::TRY_LATER);
            }
        }
    } else {
        session::target(cfg, &args.target, &super::env_lookup)?
    };
    let account = target.account;
    if let Some(from) = &target.forced_from {
        output::warn(&format!(
            "{}: running as {} instead of {}",
            session::FORCE_ACCOUNT_VAR,
            account.label(),
            crate::config::show_name(from)
        ));
    }
    let started = jiff::Timestamp::now();
    let act = session::activate(
        cfg,
        account,
        &data,
        started,
        Policy::from(args.force, cfg),
        &super::caller_env_names(),
    )?;
    for n in &act.notes {
        output::warn(n);
    }
    let spec = exec::Spec {
        argv: args.command.clone(),
        env: act
            .set
            .iter()
            .map(|v| (v.name.clone(), v.expose().to_string()))
            .collect(),
        env_remove: act.unset.clone(),
        mask: if args.mask {
            act.mask.clone()
        } else {
            Vec::new()
        },
        capture: false,
        stdin_null: false,
        own_group: false,
        timeout: None,
    };
    let program = args
        .command
        .first()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap_or(p.as_os_str())
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    // A ledger problem must not stop the user's work: warn and run anyway.
    let ledger = match Store::open(&data.ledger()) {
        Ok(s) => s
            .start_run(
                &account.provider_id,
                &account.id,
                "run",
                &program,
                started,
                target.forced_from.is_some(),
            )
            .map(|id| (s, id))
            .map_err(|e| output::warn(&format!("run not recorded: {e}")))
            .ok(),
        Err(e) => {
            output::warn(&format!("run not recorded: {e}"));
            None
        }
    };
    let clock = Instant::now();
    let outcome = exec::run_with(&spec, &mut |pid| {
        // A lease of `run auto` lasts as long as the command, even if xnai is killed outright.
        if let Some((store, Some(l))) = &lease {
            use crate::dispatch::state::DispatchState;
            let _ = store.attach(*l, pid, false);
        }
    });
    let duration = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Some((store, id)) = &ledger {
        let (code, signal) = match &outcome {
            Ok(o) => (o.code, o.signal),
            Err(e) => (Some(e.exit_code()), None),
        };
        if let Err(e) = store.finish_run(*id, duration, code, signal) {
            output::warn(&format!("run end not recorded: {e}"));
        }
    }
    if let Some((store, l)) = lease {
        use crate::dispatch::state::{DispatchState, Event};
        if let Some(l) = l {
            let _ = store.release(l);
        }
        // Only the last use counts: an arbitrary command's run time (an interactive session,
        // say) says nothing about the agent's speed.
        let now = jiff::Timestamp::now().as_millisecond();
        let _ = store.record(
            &account.provider_id,
            &account.id,
            &Event::Ran,
            started.as_millisecond(),
            now,
        );
    }
    let outcome = outcome?;
    exec::die_like(&outcome);
    Ok(outcome.exit_code())
}
