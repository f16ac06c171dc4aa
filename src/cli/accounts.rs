//! `xnai accounts`: what was loaded, with masked credentials and their origins.

use serde::Serialize;

use super::Ctx;
use crate::config::Account;
use crate::error::{Result, exit};
use crate::output::{self, Cell, Table, style};

/// Arguments of `xnai accounts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct SecretView {
    field: &'static str,
    masked: String,
    source: String,
}

#[derive(Serialize)]
struct AccountView {
    provider: String,
    account: String,
    kind: &'static str,
    name: Option<String>,
    enabled: bool,
    auth_method: Option<String>,
    credential_field: Option<&'static str>,
    credential: Option<String>,
    source: Option<String>,
    expires_at: Option<String>,
    expiry_source: Option<String>,
    models: Vec<String>,
    secrets: Vec<SecretView>,
}

fn view(a: &Account) -> AccountView {
    let primary = a.primary_credential();
    // The same rule as `check`: the earlier of token_expiry and the token's own exp.
    let token_exp = a.kind.inspect(a).token_expires_at;
    let expiry = match (a.token_expiry.as_ref(), token_exp) {
        (Some(f), Some(t)) if t < f.value => Some((t, "token exp".to_string())),
        (Some(f), _) => Some((f.value, f.origin.to_string())),
        (None, Some(t)) => Some((t, "token exp".to_string())),
        (None, None) => None,
    };
    AccountView {
        provider: a.provider_id.clone(),
        account: a.id.clone(),
        kind: a.kind.id(),
        name: a.name.clone(),
        enabled: a.enabled,
        auth_method: a.auth_method.clone(),
        credential_field: primary.map(|(f, _)| f),
        credential: primary.map(|(_, s)| s.value.masked()),
        source: primary.map(|(_, s)| s.origin.to_string()),
        expires_at: expiry.as_ref().map(|(t, _)| t.to_string()),
        expiry_source: expiry.map(|(_, s)| s),
        models: a.models.clone(),
        secrets: a
            .secrets
            .iter()
            .map(|(f, s)| SecretView {
                field: f,
                masked: s.value.masked(),
                source: s.origin.to_string(),
            })
            .collect(),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let loaded = ctx.load()?;
    let cfg = &loaded.config;
    let views: Vec<AccountView> = cfg.accounts().map(view).collect();
    if args.json {
        output::print_json(&views)?;
        return Ok(exit::OK);
    }
    if views.is_empty() {
        output::print(&format!(
            "no accounts in {}: add them under credentials: (see the comments in the file)\n",
            cfg.path.display()
        ))?;
        return Ok(exit::OK);
    }
    let mut t = Table::new(&[
        "ACCOUNT",
        "KIND",
        "NAME",
        "CREDENTIAL",
        "SOURCE",
        "EXPIRES",
        "ENABLED",
    ]);
    for v in &views {
        let cred = match (&v.credential_field, &v.credential) {
            (Some(f), Some(m)) => Cell::from(format!("{f}: {m}")),
            _ => Cell::styled("-", style::DIM),
        };
        t.row(vec![
            format!("{}/{}", v.provider, v.account).into(),
            v.kind.into(),
            v.name.clone().unwrap_or_default().into(),
            cred,
            v.source.clone().unwrap_or_else(|| "-".to_string()).into(),
            v.expires_at
                .clone()
                .unwrap_or_else(|| "-".to_string())
                .into(),
            if v.enabled {
                Cell::styled("yes", style::OK)
            } else {
                Cell::styled("no", style::DIM)
            },
        ]);
    }
    output::print(&t.render())?;
    Ok(exit::OK)
}
