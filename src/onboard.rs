//! Adding accounts without pasting secrets: `xnai import` takes an existing login from a tool's
//! own file, `xnai login` runs the tool's login inside a fresh instance. Both leave the login in
//! the instance (where the tool keeps it fresh) and describe the account in a machine-written
//! `accounts.d/<provider>.<account>.yaml` next to the credential file, which the loader merges:
//! the user's own file and its comments are never touched.

use std::path::{Path, PathBuf};

use crate::config::{self, Account, Config};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::instance::Instance;
use crate::paths::DataDir;
use crate::provider::{self, ImportSource, NativeLogin, Provider};

/// The provider kind and import source for a tool name (`gh`, `claude`, ...).
pub fn find_source(tool: &str) -> Result<(&'static dyn Provider, &'static ImportSource)> {
    for p in provider::ALL {
        if let Some(src) = p.import_sources().iter().find(|s| s.tool == tool) {
            return Ok((*p, src));
        }
    }
    let tools: Vec<&str> = provider::ALL
        .iter()
        .flat_map(|p| p.import_sources().iter().map(|s| s.tool))
        .collect();
    let hint = match crate::suggest::did_you_mean(tool, tools.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? Tools: {}", tools.join(", ")),
        None => format!("tools: {}", tools.join(", ")),
    };
    Err(Error::usage(
        format!("xnai cannot import from `{tool}`"),
        Some(hint),
    ))
}

/// Which provider section an account of `kind` goes into: `requested`, else the first section
/// of that kind, else a new section named after the kind.
pub fn section_for(
    config: &Config,
    kind: &'static dyn Provider,
    requested: Option<&str>,
) -> Result<String> {
    if let Some(id) = requested {
        if let Some(s) = config.provider(id)
            && s.kind.id() != kind.id()
        {
            return Err(Error::usage(
                format!(
                    "provider `{id}` is a {} section, not {}",
                    s.kind.id(),
                    kind.id()
                ),
                Some(format!("choose a {} section, or a new id", kind.id())),
            ));
        }
        if provider::by_id(id).is_some_and(|k| k.id() != kind.id()) {
            return Err(Error::usage(
                format!("`{id}` is the name of another kind"),
                Some("choose another provider id".to_string()),
            ));
        }
        return Ok(id.to_string());
    }
    Ok(config
        .providers
        .iter()
        .find(|p| p.kind.id() == kind.id())
        .map_or_else(|| kind.id().to_string(), |p| p.id.clone()))
}

/// An account that already holds this login, if any.
pub fn duplicate_of<'c>(
    config: &'c Config,
    kind: &'static dyn Provider,
    login: &NativeLogin,
) -> Option<&'c Account> {
    let new: Vec<String> = kind.identity(login);
    config
        .accounts()
        .filter(|a| a.kind.id() == kind.id())
        .find(|a| {
            let have = kind.identity(&NativeLogin::from_account(a));
            have.iter().any(|h| new.contains(h))
        })
}

/// Creates the credential file from the template when it does not exist yet, so `import`
/// and `login` work on a fresh machine. Returns a note when it did.
pub fn ensure_config(path: &Path) -> Result<Option<String>> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(None);
    }
    fsutil::write_atomic(path, config::template::TEMPLATE.as_bytes(), false)?;
    Ok(Some(format!(
        "created {} from the template (mode 0600)",
        path.display()
    )))
}

/// Quotes a YAML scalar as JSON, which YAML 1.2 reads identically.
fn yq(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Writes an accounts.d fragment at `path`, never over an existing file.
pub fn write_fragment(
    path: &Path,
    section: &str,
    kind: &'static dyn Provider,
    account: &str,
    credential_file: &Path,
    origin: &str,
    name: &str,
) -> Result<()> {
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir_all(dir)?;
    }
    let kind_line = if section == kind.id() {
        String::new()
    } else {
        format!("    kind: {}\n", kind.id())
    };
    let text = format!(
        "# Written by {origin} on {}.\n# The login itself is in credential_file, kept fresh by the tool. Edit or delete freely.\ncredentials:\n  {}:\n{kind_line}    accounts:\n      {}:\n        name: {}\n        credential_file: {}\n        imported_from: {}\n",
        jiff::Timestamp::now(),
        yq(section),
        yq(account),
        yq(name),
        yq(&credential_file.to_string_lossy()),
        yq(origin),
    );
    fsutil::write_atomic(path, text.as_bytes(), false).map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Error::usage(
                format!("{} already exists", path.display()),
                Some("remove it, or choose another account name".to_string()),
            )
        }
        other => other,
    })
}

/// What `import` did.
#[derive(Debug)]
pub struct Imported {
    /// `provider/account`.
    pub label: String,
    /// What the login is ("octocat on github.com").
    pub description: String,
    /// The login file in the instance.
    pub credential_file: PathBuf,
    /// The accounts.d fragment.
    pub fragment: PathBuf,
}

/// Options of an import.
pub struct ImportRequest<'a> {
    /// The tool (`gh`, `claude`, ...).
    pub tool: &'a str,
    /// The login file; the tool's default location when `None`.
    pub path: Option<PathBuf>,
    /// The new account's id.
    pub account: &'a str,
    /// The provider section; the kind's first section when `None`.
    pub provider: Option<&'a str>,
    /// Import even when the same login is already an account.
    pub force: bool,
}

/// Checks a provider or account name given on the command line for a new account: an id
/// (it becomes a directory and a file name), lower-case, not something that looks like a
/// pasted credential.
pub fn check_new_name(what: &str, name: &str) -> Result<()> {
    if config::valid_id(name) && config::show_name(name).starts_with('`') {
        return Ok(());
    }
    Err(Error::usage(
        format!("invalid {what} name {}", config::show_name(name)),
        Some(
            "use lower-case letters, digits, '_', '-' and '.', starting with a letter or digit"
                .to_string(),
        ),
    ))
}

/// Refuses a new `section/account` that exists or would share override variables.
fn check_free(config: &Config, section: &str, account: &str) -> Result<()> {
    if let Some(s) = config.provider(section) {
        if s.single_account {
            return Err(Error::usage(
                format!(
                    "credentials.{section} in {} is a single-account section",
                    config.path.display()
                ),
                Some("use another provider id with --provider".to_string()),
            ));
        }
        if s.accounts.iter().any(|a| a.id == account) {
            return Err(Error::usage(
                format!("{section}/{account} already exists"),
                Some("choose another account name".to_string()),
            ));
        }
    }
    if let Some(other) = config::override_collision(config, section, account) {
        return Err(Error::usage(
            format!(
                "{section}/{account} would share its XNAI_{}_* variables with {other}",
                config::env_name(&[section, account]).trim_start_matches("XNAI_")
            ),
            Some("choose a name that differs from it by more than case or punctuation".to_string()),
        ));
    }
    Ok(())
}

/// Where the accounts.d fragment of `section/account` goes. `@` cannot occur in ids, so the
/// name is unambiguous.
pub fn fragment_path(config_path: &Path, section: &str, account: &str) -> PathBuf {
    config::fragments_dir(config_path).join(format!("{section}@{account}.yaml"))
}

/// Imports an existing login. Everything is checked first (the file, the names, the login
/// itself, duplicates, the target paths); only then are the instance file and the fragment
/// written, and a failure of the second removes the first.
pub fn import(
    config: &Config,
    data: &DataDir,
    req: &ImportRequest<'_>,
    env: &provider::EnvLookup,
) -> Result<Imported> {
    let (kind, source) = find_source(req.tool)?;
    check_new_name("account", req.account)?;
    if let Some(p) = req.provider {
        check_new_name("provider", p)?;
    }
    let path = match &req.path {
        Some(p) => p.clone(),
        None => (source.default_path)(env).ok_or_else(|| {
            Error::usage(
                format!(
                    "cannot tell where {} keeps its login: HOME is not set",
                    req.tool
                ),
                Some("pass the file's path".to_string()),
            )
        })?,
    };
    let bytes =
        zeroize::Zeroizing::new(
            fsutil::read_regular(&path, 1024 * 1024).map_err(|e| match e {
                fsutil::OpenError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                    Error::usage(
                        format!("no {} login at {}", req.tool, path.display()),
                        Some(format!(
                            "log in with {} first, pass the file's path, or use `xnai login`",
                            req.tool
                        )),
                    )
                }
                other => Error::usage(format!("{}: {other}", path.display()), None),
            })?,
        );
    let login = (source.parse)(&bytes).map_err(|e| {
        Error::usage(
            e.at(&path),
            Some(format!(
                "is this {}? Nothing was imported",
                source.description
            )),
        )
    })?;
    let section = section_for(config, kind, req.provider)?;
    check_free(config, &section, req.account)?;
    if !req.force {
        check_login(kind, &login, &section, req.account)?;
        if let Some(dup) = duplicate_of(config, kind, &login) {
            return Err(Error::usage(
                format!(
                    "this login ({}) is already the account {}",
                    login.description,
                    dup.label()
                ),
                Some("use that account, or pass --force to import it again".to_string()),
            ));
        }
    }
    let rel = kind.credential_file().ok_or_else(|| {
        Error::usage(format!("{} keeps no login file", kind.display_name()), None)
    })?;
    let contents = if source.copy_verbatim {
        bytes.to_vec()
    } else {
        kind.render_login(&login)
            .map_err(|e| Error::usage(format!("cannot write the login: {e}"), None))?
    };
    let instance = Instance::named(data, &section, req.account);
    let credential_file = instance.path(rel);
    if std::fs::symlink_metadata(&credential_file).is_ok() {
        return Err(Error::usage(
            format!("{} already holds a login", credential_file.display()),
            Some(
                "it belongs to an account of another credential file or an earlier import: \
                 remove that instance, or choose another account name"
                    .to_string(),
            ),
        ));
    }
    let fragment = fragment_path(&config.path, &section, req.account);
    if std::fs::symlink_metadata(&fragment).is_ok() {
        return Err(Error::usage(
            format!("{} already exists", fragment.display()),
            Some("remove it, or choose another account name".to_string()),
        ));
    }

    // Checked: now write.
    instance.prepare()?;
    instance.create_dirs(kind.instance_dirs())?;
    instance.write_file(std::path::Path::new(rel), &contents)?;
    if let Err(e) = write_fragment(
        &fragment,
        &section,
        kind,
        req.account,
        &credential_file,
        &format!("xnai import {} {}", req.tool, path.display()),
        &login.description,
    ) {
        let _ = std::fs::remove_file(&credential_file);
        return Err(e);
    }
    Ok(Imported {
        label: format!("{section}/{}", req.account),
        description: login.description,
        credential_file,
        fragment,
    })
}

/// Refuses a login whose credential is empty or malformed (the provider's own check).
fn check_login(
    kind: &'static dyn Provider,
    login: &NativeLogin,
    section: &str,
    account: &str,
) -> Result<()> {
    let mut probe = Account::placeholder(section, account, kind);
    probe.secrets = login
        .secrets
        .iter()
        .map(|(n, s)| {
            (
                *n,
                config::Field {
                    value: s.clone(),
                    origin: config::Origin::LoginFile {
                        path: PathBuf::new(),
                    },
                },
            )
        })
        .collect();
    let ins = kind.inspect(&probe);
    match ins.problem {
        Some(p)
            if matches!(
                p.state,
                provider::ProblemKind::Empty | provider::ProblemKind::InvalidFormat
            ) =>
        {
            Err(Error::usage(
                format!("the login's credential is not usable: {}", p.message),
                Some("log in again with the tool, or pass --force to import it anyway".to_string()),
            ))
        }
        _ => Ok(()),
    }
}

/// A login about to run: the tool's command inside the account's instance.
#[derive(Debug)]
pub struct LoginPlan {
    /// Provider section id.
    pub section: String,
    /// Account id.
    pub account: String,
    /// The kind.
    pub kind: &'static dyn Provider,
    /// The instance.
    pub instance: Instance,
    /// The command.
    pub argv: Vec<String>,
    /// Variables to set (never a credential: the tool is logging in).
    pub set: Vec<(String, String)>,
    /// Variables to remove.
    pub unset: Vec<String>,
    /// Whether the account already exists (its login file is then refreshed in place).
    pub existing: bool,
}

/// Prepares `xnai login provider/account`. An account whose credential is written in the
/// credential file is refused: the new login would be shadowed by the old token.
pub fn plan_login(config: &Config, data: &DataDir, spec: &str) -> Result<LoginPlan> {
    let Some((section, account)) = spec.split_once('/') else {
        return Err(Error::usage(
            format!(
                "{}: name the account as provider/account",
                config::show_name(spec)
            ),
            Some("e.g. xnai login claude/work".to_string()),
        ));
    };
    let kind = match config.provider(section) {
        Some(s) => s.kind,
        None => provider::by_id(section).ok_or_else(|| {
            Error::usage(
                format!(
                    "no provider {}, and it is not a kind",
                    config::show_name(section)
                ),
                Some(format!("kinds: {}", provider::kind_ids().join(", "))),
            )
        })?,
    };
    let argv = kind.login_command().ok_or_else(|| {
        Error::usage(
            format!("{} has no login command", kind.display_name()),
            Some("write its credential in the credential file".to_string()),
        )
    })?;
    let existing = config
        .provider(section)
        .and_then(|s| s.accounts.iter().find(|a| a.id == account));
    if let Some(a) = existing
        && a.credential_file.is_none()
        && !a.secrets.is_empty()
    {
        return Err(Error::usage(
            format!(
                "{} takes its credential from {}:{}",
                a.label(),
                a.defined_in.display(),
                a.line
            ),
            Some("remove the credential there first, or log in as a new account name".to_string()),
        ));
    }
    if existing.is_none() {
        // A new account: the same rules as an import.
        check_new_name("account", account)?;
        if config.provider(section).is_none() {
            check_new_name("provider", section)?;
        }
        check_free(config, section, account)?;
    }
    let instance = Instance::named(data, section, account);
    let placeholder;
    let acc = match existing {
        Some(a) => a,
        None => {
            placeholder = Account::placeholder(section, account, kind);
            &placeholder
        }
    };
    let vars = kind.environment(acc, &instance);
    // The tool is logging in: hand it no credential, only its directories.
    let set: Vec<(String, String)> = vars
        .iter()
        .filter(|v| matches!(v.value, provider::EnvValue::Plain(_)))
        .map(|v| (v.name.clone(), v.expose().to_string()))
        .collect();
    let unset = kind
        .conflicting_env()
        .iter()
        .chain(
            vars.iter()
                .filter(|v| matches!(v.value, provider::EnvValue::Secret(_)))
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .iter(),
        )
        .filter(|n| !set.iter().any(|(k, _)| k == *n))
        .map(|n| n.to_string())
        .collect();
    Ok(LoginPlan {
        section: section.to_string(),
        account: account.to_string(),
        kind,
        instance,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        set,
        unset,
        existing: existing.is_some(),
    })
}

/// After the tool's login exited successfully: reads the login it wrote and, for a new
/// account, writes its accounts.d fragment (creating the credential file first on a fresh
/// machine; the returned note says so).
pub fn finish_login(
    config: &Config,
    plan: &LoginPlan,
) -> Result<(NativeLogin, Option<PathBuf>, Option<String>)> {
    let rel = plan.kind.credential_file().ok_or_else(|| {
        Error::usage(
            format!("{} keeps no login file", plan.kind.display_name()),
            None,
        )
    })?;
    let file = plan.instance.path(rel);
    let bytes = zeroize::Zeroizing::new(fsutil::read_regular(&file, 1024 * 1024).map_err(|e| {
        Error::usage(
            format!(
                "the login finished but left no readable login at {}: {e}",
                file.display()
            ),
            Some("run the login again; nothing was added".to_string()),
        )
    })?);
    let login = plan
        .kind
        .parse_native(&bytes)
        .map_err(|e| Error::usage(e.at(&file), Some("nothing was added".to_string())))?;
    if plan.existing {
        return Ok((login, None, None));
    }
    let fragment = fragment_path(&config.path, &plan.section, &plan.account);
    let note = ensure_config(&config.path)?;
    write_fragment(
        &fragment,
        &plan.section,
        plan.kind,
        &plan.account,
        &file,
        "xnai login",
        &login.description,
    )?;
    Ok((login, Some(fragment), note))
}
