//! `xnai login`: run the tool's own login inside the account's instance.

use std::time::Instant;

use super::Ctx;
use crate::error::{Result, exit};
use crate::exec;
use crate::onboard;
use crate::output;
use crate::store::Store;

/// Arguments of `xnai login`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account to log in: provider/account (created when new)
    #[arg(value_name = "PROVIDER/ACCOUNT")]
    pub target: String,

    /// Extra arguments for the tool's login command, after -- (e.g. --device-auth)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load_or_template()?;
    let cfg = &loaded.config;
    let data = ctx.data_dir()?;
    let mut plan = onboard::plan_login(cfg, &data, &args.target)?;
    // What the user typed after -- may hold a key: it is passed on, never shown or stored.
    let shown = plan.argv.join(" ");
    plan.argv.extend(args.args.iter().cloned());
    let fresh = !plan.instance.root().exists();
    for n in plan.instance.prepare()?.notes {
        output::warn(&n);
    }
    for n in plan.instance.create_dirs(plan.kind.instance_dirs())?.notes {
        output::warn(&n);
    }
    output::note(&format!(
        "running `{shown}{}` for {}/{} in {}",
        if args.args.is_empty() { "" } else { " ..." },
        plan.section,
        plan.account,
        plan.instance.root().display()
    ));
    let started = jiff::Timestamp::now();
    let ledger = Store::open(&data.ledger()).ok().and_then(|s| {
        let program = plan.argv.first().cloned().unwrap_or_default();
        s.start_run(
            &plan.section,
            &plan.account,
            "login",
            &program,
            started,
            false,
        )
        .ok()
        .map(|id| (s, id))
    });
    let clock = Instant::now();
    let outcome = exec::run(&exec::Spec {
        argv: plan.argv.iter().map(Into::into).collect(),
        env: plan.set.clone(),
        env_remove: plan.unset.clone(),
        mask: Vec::new(),
        capture: false,
        stdin_null: false,
        own_group: false,
        timeout: None,
    });
    if let (Some((store, id)), Ok(o)) = (&ledger, &outcome) {
        let ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        let _ = store.finish_run(*id, ms, o.code, o.signal);
    }
    let cleanup = || {
        // A login that never happened leaves no empty instance behind.
        if fresh {
            let _ = std::fs::remove_dir_all(plan.instance.root());
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            cleanup();
            return Err(e);
        }
    };
    if outcome.exit_code() != 0 {
        cleanup();
        output::error(
            &format!(
                "`{shown}` exited with {}; nothing was added",
                outcome.exit_code()
            ),
            None,
        );
        return Ok(outcome.exit_code());
    }
    let (login, fragment, note) = match onboard::finish_login(cfg, &plan) {
        Ok(r) => r,
        Err(e) => {
            cleanup();
            return Err(e);
        }
    };
    if let Some(n) = note {
        output::note(&n);
    }
    let mut msg = format!(
        "logged in {}/{}: {}\n",
        plan.section, plan.account, login.description
    );
    if let Some(f) = fragment {
        msg.push_str(&format!("  account: {}\n", f.display()));
    }
    msg.push_str(&format!(
        "next: xnai check {}/{}\n",
        plan.section, plan.account
    ));
    output::print(&msg)?;
    Ok(exit::OK)
}
