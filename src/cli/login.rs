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
    if let Some(note) = onboard::ensure_config(&ctx.config_path)? {
        output::note(&note);
    }
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let data = ctx.data_dir()?;
    let mut plan = onboard::plan_login(cfg, &data, &args.target)?;
    plan.argv.extend(args.args.iter().cloned());
    for n in plan.instance.prepare()?.notes {
        output::warn(&n);
    }
    plan.instance.create_dirs(plan.kind.instance_dirs())?;
    output::note(&format!(
        "running `{}` for {}/{} in {}",
        plan.argv.join(" "),
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
    });
    if let (Some((store, id)), Ok(o)) = (&ledger, &outcome) {
        let ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        let _ = store.finish_run(*id, ms, o.code, o.signal);
    }
    let outcome = outcome?;
    if outcome.exit_code() != 0 {
        output::error(
            &format!(
                "`{}` exited with {}; nothing was added",
                plan.argv.join(" "),
                outcome.exit_code()
            ),
            None,
        );
        return Ok(outcome.exit_code());
    }
    let (login, fragment) = onboard::finish_login(cfg, &plan)?;
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
