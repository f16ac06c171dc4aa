//! `xnai import`: take an existing login from a tool's own file.

use std::path::PathBuf;

use super::Ctx;
use crate::error::{Result, exit};
use crate::onboard::{self, ImportRequest};
use crate::output;

/// Arguments of `xnai import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tool whose login to take: opencode, gh, github-copilot, claude, codex, gemini
    pub tool: String,

    /// The login file [default: where the tool keeps it]
    pub path: Option<PathBuf>,

    /// Name of the new account
    #[arg(long, short = 'a')]
    pub account: String,

    /// Provider section to add it to [default: the first of the tool's kind]
    #[arg(long, short = 'p')]
    pub provider: Option<String>,

    /// Import even if the same login is already an account
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    // Check the tool name before touching anything.
    onboard::find_source(&args.tool)?;
    let loaded = ctx.load_or_template()?;
    let data = ctx.data_dir()?;
    // On a fresh machine the credential file is created only once the import has succeeded.
    let create = !ctx.config_path.exists();
    let done = onboard::import(
        &loaded.config,
        &data,
        &ImportRequest {
            tool: &args.tool,
            path: args.path.clone(),
            account: &args.account,
            provider: args.provider.as_deref(),
            force: args.force,
        },
        &super::env_lookup,
    )?;
    if create && let Some(note) = onboard::ensure_config(&ctx.config_path)? {
        output::note(&note);
    }
    output::print(&format!(
        "imported {} as {}\n  login: {}\n  account: {}\nnext: xnai check {}\n",
        done.description,
        done.label,
        done.credential_file.display(),
        done.fragment.display(),
        done.label
    ))?;
    Ok(exit::OK)
}
