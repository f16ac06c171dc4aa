//! Activating an account: pick it (`provider/account`, `XNAI_FORCE_ACCOUNT`), validate it,
//! prepare its instance and compute the environment a tool needs to run logged into it. Used
//! by `xnai env`, `xnai run` and `xnai login`.

use jiff::Timestamp;

use crate::check::{self, CheckResult};
use crate::config::{Account, Config, show_name};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::paths::DataDir;
use crate::provider::EnvVar;

/// The emergency switch of the original system: use this account whatever the command line
/// says.
pub const FORCE_ACCOUNT_VAR: &str = "XNAI_FORCE_ACCOUNT";

/// An account chosen on the command line, and whether `XNAI_FORCE_ACCOUNT` replaced it.
#[derive(Debug)]
pub struct Target<'c> {
    /// The account.
    pub account: &'c Account,
    /// Set when `XNAI_FORCE_ACCOUNT` chose it instead of the command line.
    pub forced_from: Option<String>,
}

/// Finds `provider/account` (or `provider` alone when it has exactly one account).
pub fn find<'c>(config: &'c Config, spec: &str) -> Result<&'c Account> {
    let (pid, aid) = match spec.split_once('/') {
        Some((p, a)) => (p, Some(a)),
        None => (spec, None),
    };
    let Some(section) = config.provider(pid) else {
        let ids: Vec<&str> = config.providers.iter().map(|p| p.id.as_str()).collect();
        let hint = match crate::suggest::did_you_mean(pid, ids.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? Providers: {}", ids.join(", ")),
            None if ids.is_empty() => "no providers are configured".to_string(),
            None => format!("providers: {}", ids.join(", ")),
        };
        return Err(Error::usage(
            format!("no provider {}", show_name(pid)),
            Some(hint),
        ));
    };
    let known = || {
        section
            .accounts
            .iter()
            .map(|a| format!("{}/{}", section.id, a.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match aid {
        Some(aid) => section
            .accounts
            .iter()
            .find(|a| a.id == aid)
            .ok_or_else(|| {
                let ids: Vec<&str> = section.accounts.iter().map(|a| a.id.as_str()).collect();
                let hint = match crate::suggest::did_you_mean(aid, ids.iter().copied()) {
                    Some(s) => format!("did you mean `{pid}/{s}`? Known accounts: {}", known()),
                    None if ids.is_empty() => format!("{pid} has no accounts"),
                    None => format!("known accounts: {}", known()),
                };
                Error::usage(
                    format!(
                        "no account {} under provider {}",
                        show_name(aid),
                        show_name(pid)
                    ),
                    Some(hint),
                )
            }),
        None if section.accounts.len() == 1 => Ok(&section.accounts[0]),
        None => Err(Error::usage(
            format!(
                "provider `{pid}` has {} accounts: name one",
                section.accounts.len()
            ),
            Some(format!("known accounts: {}", known())),
        )),
    }
}

/// Resolves the command line's `provider/account`, unless `XNAI_FORCE_ACCOUNT` names another.
pub fn target<'c>(
    config: &'c Config,
    spec: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target<'c>> {
    match env(FORCE_ACCOUNT_VAR).filter(|v| !v.trim().is_empty()) {
        Some(forced) => {
            let account = find(config, forced.trim()).map_err(|e| match e {
                Error::Usage { message, hint } => Error::Usage {
                    message: format!("{FORCE_ACCOUNT_VAR}: {message}"),
                    hint,
                },
                other => other,
            })?;
            // The command was written for one tool; an account of another kind would run it
            // with the wrong (or no) login.
            if let Ok(asked) = find(config, spec)
                && asked.kind.id() != account.kind.id()
            {
                return Err(Error::usage(
                    format!(
                        "{FORCE_ACCOUNT_VAR} names {} ({}), but the command line names {} ({})",
                        account.label(),
                        account.kind.id(),
                        asked.label(),
                        asked.kind.id()
                    ),
                    Some(format!(
                        "point {FORCE_ACCOUNT_VAR} at a {} account",
                        asked.kind.id()
                    )),
                ));
            }
            Ok(Target {
                account,
                forced_from: Some(spec.to_string()),
            })
        }
        None => Ok(Target {
            account: find(config, spec)?,
            forced_from: None,
        }),
    }
}

/// A validated account with its instance ready.
#[derive(Debug)]
pub struct Activation {
    /// The instance.
    pub instance: Instance,
    /// Variables to set.
    pub set: Vec<EnvVar>,
    /// Variables to remove (they would select another login).
    pub unset: Vec<String>,
    /// Pairs (secret, masked form) for `--mask`.
    pub mask: Vec<(String, String)>,
    /// The validation result.
    pub check: CheckResult,
    /// Things to tell the user (permissions fixed, files updated, expiring soon).
    pub notes: Vec<String>,
}

/// The account as the tool's refreshed login file in the instance describes it, when the tool
/// has updated that file since xnai wrote it.
fn refreshed(account: &Account, instance: &Instance) -> Option<Account> {
    if account.credential_file.is_some() {
        return None;
    }
    let rel = account.kind.credential_file()?;
    let bytes = instance.tool_updated(std::path::Path::new(rel))?;
    let login = account.kind.parse_native(&bytes).ok()?;
    let mut fresh = account.clone();
    let origin = crate::config::Origin::LoginFile {
        path: instance.path(rel),
    };
    for (name, secret) in login.secrets {
        let field = crate::config::Field {
            value: secret,
            origin: origin.clone(),
        };
        match fresh.secrets.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = field,
            None => fresh.secrets.push((name, field)),
        }
    }
    if let Some(t) = login.expires_at {
        fresh.token_expiry = Some(crate::config::Field { value: t, origin });
    }
    Some(fresh)
}

/// Whether an unusable credential stops activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Refuse invalid or expired credentials (the default).
    Validate,
    /// `--force`: use it anyway, with a note.
    Force,
}

impl Policy {
    /// `--force`, or validation switched off in `token_validation` (`enabled` or
    /// `check_validity_before_use` false).
    pub fn from(force: bool, config: &Config) -> Policy {
        let tv = &config.token_validation;
        if force || !(tv.enabled && tv.check_validity_before_use) {
            Policy::Force
        } else {
            Policy::Validate
        }
    }
}

/// Validates `account` (refusing an unusable one unless the policy forces it), prepares its
/// instance and writes the files its tool reads.
pub fn activate(
    config: &Config,
    account: &Account,
    data: &DataDir,
    now: Timestamp,
    policy: Policy,
    caller_env: &[String],
) -> Result<Activation> {
    let force = policy == Policy::Force;
    let instance = Instance::of(data, account);
    // The tool may have refreshed the login in the instance since xnai rendered it: validate
    // what it will actually use.
    let fresher = refreshed(account, &instance);
    let result = check::check_account(
        fresher.as_ref().unwrap_or(account),
        config.token_validation.refresh_buffer_minutes,
        now,
    );
    let mut notes = Vec::new();
    if result.state.is_failure() {
        if !force {
            return Err(Error::Refused {
                message: format!(
                    "{} is {}: {}",
                    account.label(),
                    result.state.as_str(),
                    result.message
                ),
                hint: Some(
                    "fix the credential (xnai check shows the details), or pass --force to use it anyway"
                        .to_string(),
                ),
            });
        }
        notes.push(format!(
            "using {} although it is {} (--force, or validation off in token_validation)",
            account.label(),
            result.state.as_str()
        ));
    } else if result.state == check::State::ExpiringSoon {
        notes.push(format!("{}: {}", account.label(), result.message));
    }
    if !account.enabled {
        notes.push(format!(
            "{} is disabled in the credential file",
            account.label()
        ));
    }

    notes.extend(instance.prepare()?.notes);
    notes.extend(instance.create_dirs(account.kind.instance_dirs())?.notes);
    let owned = account
        .credential_file
        .as_deref()
        .and_then(|p| p.strip_prefix(instance.root()).ok())
        .map(std::path::Path::to_path_buf);
    let files: Vec<_> = account
        .kind
        .native_files(account)
        .map_err(|e| {
            Error::usage(
                format!("cannot prepare the instance of {}: {e}", account.label()),
                None,
            )
        })?
        .into_iter()
        // The tool keeps its own login file fresh: never overwrite it.
        .filter(|f| owned.as_deref() != Some(f.rel.as_path()))
        .collect();
    notes.extend(instance.materialize(&files)?.notes);

    let set = account.kind.environment(account, &instance);
    // Remove what would select another login: the tool's conflicting variables, and every
    // account's override variables (they carry other accounts' secrets).
    let overrides = crate::config::override_names(config);
    let unset = caller_env
        .iter()
        .filter(|name| !set.iter().any(|v| &v.name == *name))
        .filter(|name| account.kind.conflicts_with(name) || overrides.contains(*name))
        .cloned()
        .collect();
    let mask = account
        .secrets
        .iter()
        .filter(|(_, f)| !f.value.is_blank())
        .map(|(_, f)| (f.value.expose().to_string(), f.value.masked()))
        .collect();
    Ok(Activation {
        instance,
        set,
        unset,
        mask,
        check: result,
        notes,
    })
}
