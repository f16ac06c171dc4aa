//! `xnai env`: print what to `eval` to use an account in the current shell.

use super::Ctx;
use crate::check;
use crate::config;
use crate::error::{Error, Result, exit};
use crate::output;
use crate::session::{self, Policy};
use crate::shell::{self, ShellKind};

/// Arguments of `xnai env`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account: provider/account, or provider when it has one account
    #[arg(value_name = "PROVIDER[/ACCOUNT]", required_unless_present = "all")]
    pub target: Option<String>,

    /// Every valid account, as XNAI_<PROVIDER>_<ACCOUNT>_TOKEN variables
    #[arg(long, conflicts_with = "target")]
    pub all: bool,

    /// Output format [default: from $SHELL]
    #[arg(long, value_enum)]
    pub shell: Option<ShellKind>,

    /// Use invalid or expired credentials too
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let kind = args
        .shell
        .unwrap_or_else(|| ShellKind::from_shell_path(std::env::var("SHELL").ok().as_deref()));
    let (set, unset) = if args.all {
        (all_tokens(cfg, args.force)?, Vec::new())
    } else {
        let spec = args.target.as_deref().unwrap_or_default();
        let target = session::target(cfg, spec, &super::env_lookup)?;
        if let Some(from) = &target.forced_from {
            output::warn(&format!(
                "{}: using {} instead of {}",
                session::FORCE_ACCOUNT_VAR,
                target.account.label(),
                crate::config::show_name(from)
            ));
        }
        let data = ctx.data_dir()?;
        let act = session::activate(
            cfg,
            target.account,
            &data,
            jiff::Timestamp::now(),
            Policy::from(args.force, cfg),
            &super::caller_env_names(),
        )?;
        for n in &act.notes {
            output::warn(n);
        }
        let set = act
            .set
            .iter()
            .map(|v| (v.name.clone(), v.expose().to_string()))
            .collect();
        (set, act.unset)
    };
    let text = shell::render(kind, &set, &unset).map_err(|e| {
        let hint = if e.reason.contains("NUL") {
            "no environment variable can hold a NUL byte: fix the credential"
        } else {
            "use --shell json, or a shell format"
        };
        Error::usage(e.to_string(), Some(hint.to_string()))
    })?;
    // Plain stdout: this is for eval, and must not be touched by colour handling.
    output::print_raw(&text)?;
    Ok(exit::OK)
}

/// `XNAI_<PROVIDER>_<ACCOUNT>_TOKEN` for every enabled, valid account with a credential.
fn all_tokens(cfg: &config::Config, force: bool) -> Result<Vec<(String, String)>> {
    let now = jiff::Timestamp::now();
    let buffer = cfg.token_validation.refresh_buffer_minutes;
    let mut out = Vec::new();
    for a in cfg.accounts() {
        let Some((_, secret)) = a.primary_credential() else {
            continue;
        };
        if !a.enabled {
            output::warn(&format!("skipped {}: disabled", a.label()));
            continue;
        }
        let r = check::check_account(a, buffer, now);
        if r.state.is_failure() && !force {
            output::warn(&format!(
                "skipped {}: {} ({})",
                a.label(),
                r.state.as_str(),
                r.message
            ));
            continue;
        }
        out.push((
            config::env_name(&[&a.provider_id, &a.id, "TOKEN"]),
            secret.value.expose().to_string(),
        ));
    }
    Ok(out)
}
