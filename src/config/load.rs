//! Loading the credential file: permission check, YAML, schema walk with precise errors,
//! environment overrides and `${VAR}` expansion.
//!
//! Order of operations for an account field: an `XNAI_<PROVIDER>_<ACCOUNT>_<FIELD>` override
//! wins (its value is taken literally); otherwise the file's value is expanded. So a file whose
//! `${VAR}` is unset still loads when that field is overridden.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The longest attempt timeout accepted: a week.
pub const MAX_TIMEOUT_SECS: u32 = 7 * 86_400;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use zeroize::Zeroizing;

use super::expand::{ExpandError, expand};
use super::yaml::{self, Key, Node, Value};
use super::{
    Account, AccountDispatch, Config, ConfigError, ConfigErrorKind, DEFAULT_ACCOUNT_ID,
    DispatchConfig, FailurePatterns, Field, Lifetime, Origin, ProviderSection, QuotaLimit,
    QuotaManagement, QuotaUnit, QuotaWindow, RefreshPolicy, Security, SourceLocation, Thresholds,
    TokenValidation, Weights,
};
use crate::fsutil;
use crate::provider::{self, FieldType, Provider};
use crate::secret::Secret;
use crate::suggest::did_you_mean;

/// How to load the file.
pub struct LoadOptions<'a> {
    /// The credential file.
    pub path: PathBuf,
    /// Load even when group/others can read it (a warning is returned instead of an error).
    pub insecure_permissions: bool,
    /// Environment lookup; `std::env::var` in production.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A loaded configuration and the warnings produced on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Warnings for the user (e.g. loose permissions accepted with `--insecure-permissions`).
    pub warnings: Vec<String>,
}

/// The default credential file: `$XDG_CONFIG_HOME/xnai/credentials.yaml`, falling back to
/// `~/.config/xnai/credentials.yaml`.
pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty() && Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("xnai").join("credentials.yaml"))
}

/// Loads and validates the credential file at `opts.path`.
pub fn load(opts: &LoadOptions<'_>) -> Result<Loaded, ConfigError> {
    let path = &opts.path;
    let (bytes, mut warnings) = read_private_file(path, opts.insecure_permissions)?;
    let text = utf8(&bytes, path)?;
    let dir = fragments_dir(path);
    let mut fragments = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        for fp in paths {
            let (bytes, mut w) = read_private_file(&fp, opts.insecure_permissions)?;
            warnings.append(&mut w);
            let text = utf8(&bytes, &fp)?;
            fragments.push(parse_document(text, &fp, opts.env, &[], Part::Fragment)?);
        }
    }
    let extra_ids: Vec<String> = fragments
        .iter()
        .flat_map(|f| f.providers.iter().map(|p| p.id.clone()))
        .collect();
    let mut config = parse_document(text, path, opts.env, &extra_ids, Part::Main)?;
    for f in fragments {
        merge(&mut config, f)?;
    }
    check_override_collisions(&config.providers)?;
    Ok(Loaded { config, warnings })
}

/// Opens a credential file or fragment: a regular file, at most 16 MiB, owned by us and
/// private (or a warning with `--insecure-permissions`).
fn read_private_file(
    path: &Path,
    insecure_permissions: bool,
) -> Result<(Zeroizing<Vec<u8>>, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let mut file = match fsutil::open_regular(path, MAX_CONFIG_BYTES) {
        Ok(f) => f,
        Err(fsutil::OpenError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            let legacy = path.with_file_name("opencode-credentials.yaml");
            let dangling = std::fs::symlink_metadata(path).is_ok();
            let hint = if dangling {
                "it is a symbolic link to a file that does not exist: fix or remove the link"
                    .to_string()
            } else if legacy.exists() {
                format!(
                    "the prototype's file {} exists: pass it with --config, or rename it",
                    legacy.display()
                )
            } else {
                "run `xnai init` to create it, or point --config / XNAI_CONFIG at your file"
                    .to_string()
            };
            return Err(ConfigError::file(
                ConfigErrorKind::NotFound,
                path,
                "credential file not found",
                Some(hint),
            ));
        }
        Err(fsutil::OpenError::NotRegular(what)) => {
            return Err(ConfigError::file(
                ConfigErrorKind::Io,
                path,
                format!("{what}, not a credential file"),
                Some("pass the YAML file itself with --config".to_string()),
            ));
        }
        Err(e) => {
            return Err(ConfigError::file(
                ConfigErrorKind::Io,
                path,
                format!("cannot read: {e}"),
                None,
            ));
        }
    };
    let problems = fsutil::private_file_problems(&file.meta);
    if !problems.is_empty() {
        let what: Vec<String> = problems.iter().map(|p| p.describe()).collect();
        let fixes: Vec<String> = problems.iter().map(|p| p.hint(path)).collect();
        if insecure_permissions {
            warnings.push(format!(
                "{}: {}; loading anyway because of --insecure-permissions (fix: {})",
                path.display(),
                what.join(" and "),
                fixes.join(" && ")
            ));
        } else {
            return Err(ConfigError::file(
                ConfigErrorKind::Permissions,
                path,
                format!("refusing to read credentials: {}", what.join(" and ")),
                Some(if problems.iter().any(|p| p.root_reads_users_file()) {
                    format!(
                        "{}   (or pass --insecure-permissions to load it anyway)",
                        fixes.join("; ")
                    )
                } else {
                    format!(
                        "fix it with: {}   (or pass --insecure-permissions to load it anyway)",
                        fixes.join(" && ")
                    )
                }),
            ));
        }
    }
    let bytes = Zeroizing::new(
        fsutil::read_limited(&mut file, MAX_CONFIG_BYTES).map_err(|e| {
            ConfigError::file(ConfigErrorKind::Io, path, format!("cannot read: {e}"), None)
        })?,
    );
    Ok((bytes, warnings))
}

fn utf8<'b>(bytes: &'b [u8], path: &Path) -> Result<&'b str, ConfigError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(ConfigError::file(
            ConfigErrorKind::Syntax,
            path,
            "the file is UTF-16 text",
            Some("save it as UTF-8".to_string()),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        ConfigError::file(
            ConfigErrorKind::Syntax,
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
            Some("save the file as UTF-8".to_string()),
        )
    })
}

/// Parses and validates credential-file text. `path` is used for messages and to resolve
/// relative key paths.
pub fn load_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let config = parse_document(text, path, env, &[], Part::Main)?;
    check_override_collisions(&config.providers)?;
    Ok(config)
}

/// Which kind of file is being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The credential file.
    Main,
    /// An `accounts.d` fragment: only `credentials:`.
    Fragment,
}

fn parse_document(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    extra_ids: &[String],
    part: Part,
) -> Result<Config, ConfigError> {
    let root = yaml::parse(text).map_err(|e| ConfigError {
        kind: ConfigErrorKind::Syntax,
        location: Some(SourceLocation {
            path: path.to_path_buf(),
            line: e.line,
            col: e.col,
        }),
        message: format!("invalid YAML: {}", e.message),
        hint: e.hint,
    })?;
    // Relative key paths are relative to the credential file, wherever xnai runs from.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base_dir = absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let w = Walker {
        path,
        base_dir,
        env,
        missing: RefCell::new(Vec::new()),
        used_vars: RefCell::new(BTreeSet::new()),
        extra_ids: extra_ids.to_vec(),
    };
    let result = match part {
        Part::Main => w.config(&root),
        Part::Fragment => w.fragment(&root),
    };
    // Unset variables come first: other errors may only be their consequence.
    w.missing_error().map_or(result, Err)
}

/// The directory of machine-written account files merged into a credential file.
pub fn fragments_dir(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .join("accounts.d")
}

/// Merges fragment sections into the main configuration. An account defined twice is an
/// error naming both files; a fragment section whose kind differs from the main one too.
fn merge(config: &mut Config, fragment: Config) -> Result<(), ConfigError> {
    config.expanded_vars.extend(fragment.expanded_vars);
    for section in fragment.providers {
        let Some(existing) = config.providers.iter_mut().find(|p| p.id == section.id) else {
            config.providers.push(section);
            continue;
        };
        if existing.kind.id() != section.kind.id() {
            let at = section
                .accounts
                .first()
                .map(|a| (a.defined_in.clone(), a.line));
            return Err(ConfigError {
                kind: ConfigErrorKind::InvalidValue,
                location: at.map(|(path, line)| SourceLocation { path, line, col: 0 }),
                message: format!(
                    "credentials.{}: kind {} here, but {} in {}",
                    section.id,
                    section.kind.id(),
                    existing.kind.id(),
                    config.path.display()
                ),
                hint: Some("use the same kind, or another provider id".to_string()),
            });
        }
        if existing.single_account && !section.accounts.is_empty() {
            return Err(ConfigError::file(
                ConfigErrorKind::InvalidValue,
                &section.accounts[0].defined_in,
                format!(
                    "credentials.{} is a single-account section in {}; accounts cannot be added to it",
                    section.id,
                    config.path.display()
                ),
                Some(format!(
                    "move its fields under credentials.{}.accounts.<id>",
                    section.id
                )),
            ));
        }
        for account in section.accounts {
            if let Some(other) = existing.accounts.iter().find(|a| a.id == account.id) {
                return Err(ConfigError {
                    kind: ConfigErrorKind::InvalidValue,
                    location: Some(SourceLocation {
                        path: account.defined_in.clone(),
                        line: account.line,
                        col: 0,
                    }),
                    message: format!(
                        "account {} is also defined in {}:{}",
                        account.label(),
                        other.defined_in.display(),
                        other.line
                    ),
                    hint: Some("remove one of the two definitions".to_string()),
                });
            }
            existing.accounts.push(account);
        }
    }
    Ok(())
}

/// Credential files are small; a larger file is a mistake (or `/dev/zero`), not a config.
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

const TOP_KEYS: &[&str] = &[
    "credentials",
    "token_validation",
    "dispatch_config",
    "quota_management",
    "security",
    "metadata",
];
const SECTION_KEYS: &[&str] = &["kind", "isolation_method", "accounts"];
const COMMON_ACCOUNT_KEYS: &[&str] = &[
    "credential_file",
    "imported_from",
    "name",
    "enabled",
    "auth_method",
    "provider",
    "token_expiry",
    "models",
    "quota_status",
    "api_key_permanent",
    "last_rotated",
    "rotation_schedule",
    "usage_paths",
    "quotas",
    "command",
    "max_concurrent",
    "context_window",
    "latency_prior_ms",
    "failure_patterns",
];

type Entries = [(Key, Node)];

/// A field's text and, when it came from the file, its node (for error positions).
type FieldAt<'n> = (Field<String>, Option<&'n Node>);

struct Walker<'a> {
    path: &'a Path,
    base_dir: PathBuf,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Unset `${VAR}`s seen so far: all are reported together, not one per run.
    missing: RefCell<Vec<Missing>>,
    /// Variables that expansion read, so `xnai` can tell stray `XNAI_*` variables from used ones.
    used_vars: RefCell<BTreeSet<String>>,
    /// Provider ids defined in `accounts.d` fragments, valid in `fallback_chain` and `quotas`.
    extra_ids: Vec<String>,
}

/// An unset `${VAR}` and where it was used.
struct Missing {
    var: String,
    path: String,
    line: u32,
    col: u32,
}

/// Where an account's fields are read from.
struct AccountScope<'n> {
    provider_id: &'n str,
    account_id: &'n str,
    single: bool,
    path: String,
    own: &'n Entries,
    /// Section-level entries that act as defaults for non-secret fields.
    inherited: Option<(&'n Entries, String)>,
}

fn get<'n>(entries: &'n Entries, key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, v)| k.name == key && !matches!(v.value, Value::Null))
        .map(|(_, v)| v)
}

/// `XNAI_` + the parts upper-cased, every other character as `_`.
pub fn env_name(parts: &[&str]) -> String {
    let mut s = String::from("XNAI");
    for p in parts {
        s.push('_');
        s.extend(p.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
    }
    s
}

/// The environment variables that override `field` of an account, most specific first.
pub(crate) fn override_vars(
    provider_id: &str,
    account_id: &str,
    field: &str,
    single: bool,
) -> Vec<String> {
    let mut v = vec![env_name(&[provider_id, account_id, field])];
    if single {
        v.push(env_name(&[provider_id, field]));
    }
    v
}

/// A key, id or enum value for a message: quoted when it looks like a lower-case name (every
/// key xnai knows is one), withheld otherwise, because text pasted into the wrong place is
/// often a credential.
pub fn show(v: &str) -> String {
    let name_like = !v.is_empty()
        && v.len() <= 48
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-./".contains(&b))
        && (!v.starts_with("gh") || v.len() <= 12)
        && !v.contains("sk-")
        && !v.starts_with("1//");
    if name_like {
        format!("`{v}`")
    } else {
        "(not shown: it is not a lower-case name, so it may be a pasted credential)".to_string()
    }
}

/// An environment variable name for a message, withheld when it does not look like one
/// (`${ghp_...}`: a token pasted inside the braces).
fn show_var(v: &str) -> Option<&str> {
    let upper = v
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    (upper && (v.contains('_') || v.len() <= 16)).then_some(v)
}

/// Every variable name that sets a field of some account (overrides and `env --all` names):
/// a command run for one account must not inherit another account's.
pub fn override_names(config: &Config) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for p in &config.providers {
        for a in &p.accounts {
            names.extend(
                account_override_vars(a, p.single_account)
                    .into_iter()
                    .map(|(v, _)| v),
            );
        }
    }
    names
}

/// The existing account whose override variables a new `provider/account` would share.
pub fn override_collision(config: &Config, provider: &str, account: &str) -> Option<String> {
    let new = env_name(&[provider, account]);
    config.providers.iter().find_map(|p| {
        if p.single_account && env_name(&[&p.id]) == new {
            return p.accounts.first().map(Account::label);
        }
        p.accounts
            .iter()
            .find(|a| env_name(&[&a.provider_id, &a.id]) == new)
            .map(Account::label)
    })
}

/// Ids map to override names with `_` for any other character, so `work-a` and `work_a`,
/// or `copilot.work_a` and `copilot_work.a`, would share one variable: refuse that.
fn check_override_collisions(providers: &[ProviderSection]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for p in providers {
        for a in &p.accounts {
            let label = a.label();
            for (var, field) in account_override_vars(a, p.single_account) {
                let prefix = var
                    .get(..var.len().saturating_sub(field.len()))
                    .unwrap_or(&var);
                match seen.get(&var) {
                    Some(other) if *other != label => {
                        return Err(ConfigError {
                            kind: ConfigErrorKind::InvalidValue,
                            location: Some(SourceLocation {
                                path: a.defined_in.clone(),
                                line: a.line,
                                col: 0,
                            }),
                            message: format!(
                                "accounts {other} and {label} would share the environment overrides {prefix}<FIELD>"
                            ),
                            hint: Some(
                                "override names use _ for every non-alphanumeric character: rename one of the ids"
                                    .to_string(),
                            ),
                        });
                    }
                    _ => {
                        seen.insert(var, label.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every override variable of an account, with the field it sets.
fn account_override_vars(a: &Account, single: bool) -> Vec<(String, &'static str)> {
    COMMON_ACCOUNT_KEYS
        .iter()
        .copied()
        .filter(|f| {
            !matches!(
                *f,
                "models"
                    | "usage_paths"
                    | "quotas"
                    | "command"
                    | "max_concurrent"
                    | "context_window"
                    | "latency_prior_ms"
                    | "failure_patterns"
            )
        })
        .chain(a.kind.account_fields().iter().map(|f| f.name))
        // `xnai env --all` exports XNAI_<PROVIDER>_<ACCOUNT>_TOKEN: it must not be another
        // account's override once evaluated in a shell.
        .chain(std::iter::once("token"))
        .flat_map(|field| {
            override_vars(&a.provider_id, &a.id, field, single)
                .into_iter()
                .map(move |v| (v, field))
        })
        .collect()
}

/// Warnings for environment variables that look like overrides of a configured provider
/// (`XNAI_<PROVIDER>_...`) but set no field and are not read by `${...}` either: usually a
/// typo in the account or field name, which would otherwise be ignored in silence.
pub fn stray_override_warnings(
    config: &Config,
    env_names: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut known: BTreeSet<String> = config.expanded_vars.iter().cloned().collect();
    for p in &config.providers {
        for a in &p.accounts {
            known.extend(
                account_override_vars(a, p.single_account)
                    .into_iter()
                    .map(|(v, _)| v),
            );
        }
    }
    let prefixes: Vec<String> = config
        .providers
        .iter()
        .map(|p| format!("{}_", env_name(&[&p.id])))
        .collect();
    let mut out = Vec::new();
    for name in env_names {
        if known.contains(&name) || !prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            continue;
        }
        let hint = did_you_mean(&name, known.iter().map(String::as_str))
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        out.push(format!(
            "environment variable {name} looks like an override but matches no account field{hint}; it is ignored"
        ));
    }
    out
}

/// Reads an account's `credential_file` through its provider. The error names the file and
/// position, never its contents.
fn read_native(
    kind: &'static dyn Provider,
    path: &Path,
) -> Result<crate::provider::NativeLogin, String> {
    let bytes = Zeroizing::new(
        fsutil::read_regular(path, 1024 * 1024)
            .map_err(|e| format!("credential file {}: {e}", path.display()))?,
    );
    kind.parse_native(&bytes)
        .map_err(|e| format!("credential file {}", e.at(path)))
}

/// Whether `id` can name a provider or account: letters, digits, `_`, `-`, `.`, starting with a
/// letter or digit (ids become directory names and `provider/account` on the command line).
/// Whether an id looks like a credential: a known token prefix, or longer than any name.
pub fn looks_like_credential(id: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "sk-",
        "ya29.",
        "AIza",
        "1//",
        "eyJ",
    ];
    id.len() > 48 || PREFIXES.iter().any(|p| id.starts_with(p))
}

/// Whether `id` can name a provider or an account.
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

impl Walker<'_> {
    fn err(
        &self,
        line: u32,
        col: u32,
        kind: ConfigErrorKind,
        message: String,
        hint: Option<String>,
    ) -> ConfigError {
        ConfigError {
            kind,
            location: Some(SourceLocation {
                path: self.path.to_path_buf(),
                line,
                col,
            }),
            message,
            hint,
        }
    }

    fn err_at(
        &self,
        node: &Node,
        kind: ConfigErrorKind,
        message: String,
        hint: Option<String>,
    ) -> ConfigError {
        self.err(node.line, node.col, kind, message, hint)
    }

    fn wrong_type(&self, node: &Node, path: &str, expected: &str) -> ConfigError {
        self.err_at(
            node,
            ConfigErrorKind::WrongType,
            format!(
                "{path}: expected {expected}, found {}",
                node.value.type_name()
            ),
            None,
        )
    }

    fn entries<'n>(&self, node: &'n Node, path: &str) -> Result<&'n Entries, ConfigError> {
        match &node.value {
            Value::Map(m) => Ok(m.as_slice()),
            Value::Null => Ok(&[]),
            _ => Err(self.wrong_type(node, path, "a mapping")),
        }
    }

    fn check_keys(
        &self,
        entries: &Entries,
        path: &str,
        known: &[&[&str]],
    ) -> Result<(), ConfigError> {
        for (k, _) in entries {
            if known.iter().any(|set| set.contains(&k.name.as_str())) {
                continue;
            }
            let all: Vec<&str> = known.iter().flat_map(|s| s.iter().copied()).collect();
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}.")
            };
            let hint = match did_you_mean(&k.name, all.iter().copied()) {
                Some(s) => format!("did you mean `{prefix}{s}`?"),
                None => format!("known keys here: {}", all.join(", ")),
            };
            let message = if show(&k.name).starts_with('`') {
                format!("unknown key `{prefix}{}`", k.name)
            } else {
                format!("unknown key under {path} {}", show(&k.name))
            };
            return Err(self.err(
                k.line,
                k.col,
                ConfigErrorKind::UnknownKey,
                message,
                Some(hint),
            ));
        }
        Ok(())
    }

    /// A scalar as text, after `${VAR}` expansion. `None` for null.
    fn text(&self, node: &Node, path: &str) -> Result<Option<Field<String>>, ConfigError> {
        let origin_line = node.line;
        match &node.value {
            Value::Null => Ok(None),
            Value::Str(s) => {
                let exp = match expand(s, self.env) {
                    Ok(exp) => exp,
                    Err(ExpandError::Missing { var }) => {
                        self.missing.borrow_mut().push(Missing {
                            var,
                            path: path.to_string(),
                            line: node.line,
                            col: node.col,
                        });
                        return Ok(None);
                    }
                    Err(e) => return Err(self.expand_error(node, path, e)),
                };
                self.used_vars.borrow_mut().extend(exp.vars.iter().cloned());
                let mut value = exp.value;
                Ok(Some(Field {
                    value: std::mem::take(&mut *value),
                    origin: Origin::File {
                        line: origin_line,
                        vars: exp.vars,
                    },
                }))
            }
            Value::Bool(b) => Ok(Some(self.literal(node, b.to_string()))),
            Value::Int(i) => Ok(Some(self.literal(node, i.to_string()))),
            Value::Float(f) => Ok(Some(self.literal(node, f.to_string()))),
            Value::Seq(_) | Value::Map(_) => Err(self.wrong_type(node, path, "a single value")),
        }
    }

    fn literal(&self, node: &Node, fallback: String) -> Field<String> {
        Field {
            value: node.raw.clone().unwrap_or(fallback),
            origin: Origin::File {
                line: node.line,
                vars: Vec::new(),
            },
        }
    }

    /// The error listing every unset variable, if any.
    fn missing_error(&self) -> Option<ConfigError> {
        let missing = self.missing.borrow();
        let first = missing.first()?;
        let name = |m: &Missing| -> String {
            show_var(&m.var).map_or_else(
                || "(a name that looks like a credential, not shown)".to_string(),
                str::to_string,
            )
        };
        let mut message = match show_var(&first.var) {
            Some(v) => format!(
                "environment variable {v} is not set (used by {})",
                first.path
            ),
            None => format!(
                "{} uses ${{...}} around something that is not a variable name (not shown: it looks like a credential)",
                first.path
            ),
        };
        if missing.len() > 1 {
            let rest: Vec<String> = missing[1..]
                .iter()
                .map(|m| format!("{} (line {})", name(m), m.line))
                .collect();
            message.push_str(&format!("; also unset: {}", rest.join(", ")));
        }
        let exports: Vec<String> = missing
            .iter()
            .filter_map(|m| show_var(&m.var))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|v| format!("{v}=..."))
            .collect();
        let hint = if exports.is_empty() {
            "write the credential itself, without ${ and }".to_string()
        } else {
            format!(
                "export {}, or give defaults in the file: ${{NAME:-default}}",
                exports.join(" ")
            )
        };
        Some(self.err(
            first.line,
            first.col,
            ConfigErrorKind::MissingVariable,
            message,
            Some(hint),
        ))
    }

    fn expand_error(&self, node: &Node, path: &str, e: ExpandError) -> ConfigError {
        match e {
            ExpandError::Missing { .. } => self.err_at(
                node,
                ConfigErrorKind::MissingVariable,
                format!("{path}: unset environment variable"),
                None,
            ),
            ExpandError::Unclosed => self.err_at(
                node,
                ConfigErrorKind::InvalidValue,
                format!("{path}: unclosed ${{ in the value"),
                Some("close it with }, or write $${ for a literal ${".to_string()),
            ),
            ExpandError::BadName => self.err_at(
                node,
                ConfigErrorKind::InvalidValue,
                format!("{path}: invalid ${{...}} reference in the value"),
                Some(
                    "variable names are letters, digits and _; defaults are written ${NAME:-default}"
                        .to_string(),
                ),
            ),
        }
    }

    fn plain_text(&self, node: Option<&Node>, path: &str) -> Result<Option<String>, ConfigError> {
        match node {
            Some(n) => Ok(self.text(n, path)?.map(|f| f.value)),
            None => Ok(None),
        }
    }

    fn bool(&self, node: Option<&Node>, path: &str) -> Result<Option<bool>, ConfigError> {
        let Some(n) = node else { return Ok(None) };
        match &n.value {
            Value::Bool(b) => Ok(Some(*b)),
            _ => match self.text(n, path)? {
                None => Ok(None),
                Some(f) => parse_bool(&f.value).map(Some).ok_or_else(|| {
                    self.err_at(
                        n,
                        ConfigErrorKind::WrongType,
                        format!("{path}: expected true or false"),
                        None,
                    )
                }),
            },
        }
    }

    fn number(&self, node: Option<&Node>, path: &str) -> Result<Option<f64>, ConfigError> {
        let Some(n) = node else { return Ok(None) };
        let v = match &n.value {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            _ => match self.text(n, path)? {
                None => return Ok(None),
                Some(f) => f.value.trim().parse::<f64>().map_err(|_| {
                    self.err_at(
                        n,
                        ConfigErrorKind::WrongType,
                        format!("{path}: expected a number"),
                        None,
                    )
                })?,
            },
        };
        if !v.is_finite() {
            return Err(self.err_at(
                n,
                ConfigErrorKind::InvalidValue,
                format!("{path}: expected a finite number"),
                None,
            ));
        }
        Ok(Some(v))
    }

    fn uint(&self, node: Option<&Node>, path: &str, max: u32) -> Result<Option<u32>, ConfigError> {
        self.uint_from(node, path, 0, max, None)
    }

    /// A whole number in `min..=max`; the message names that range, so it never offers a
    /// value that is then refused. `zero_hint` is added when 0 was given.
    fn uint_from(
        &self,
        node: Option<&Node>,
        path: &str,
        min: u32,
        max: u32,
        zero_hint: Option<&str>,
    ) -> Result<Option<u32>, ConfigError> {
        let Some(n) = node else { return Ok(None) };
        match self.number(Some(n), path)? {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && v >= f64::from(min) && v <= f64::from(max) => {
                Ok(Some(v as u32))
            }
            Some(v) => Err(self.err_at(
                n,
                ConfigErrorKind::InvalidValue,
                format!("{path}: expected a whole number from {min} to {max}"),
                (v == 0.0).then(|| zero_hint.map(str::to_string)).flatten(),
            )),
        }
    }

    fn text_list(&self, node: Option<&Node>, path: &str) -> Result<Vec<String>, ConfigError> {
        let Some(n) = node else {
            return Ok(Vec::new());
        };
        match &n.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(f) = self.text(item, &format!("{path}[{i}]"))? {
                        out.push(f.value);
                    }
                }
                Ok(out)
            }
            _ => Err(self.wrong_type(n, path, "a list such as [a, b]")),
        }
    }

    fn config(&self, root: &Node) -> Result<Config, ConfigError> {
        let top = self.entries(root, "the document")?;
        self.check_keys(top, "", &[TOP_KEYS])?;
        let providers = match get(top, "credentials") {
            Some(n) => self.credentials(n)?,
            None => Vec::new(),
        };
        let mut ids: Vec<&str> = providers.iter().map(|p| p.id.as_str()).collect();
        ids.extend(self.extra_ids.iter().map(String::as_str));
        let token_validation = match get(top, "token_validation") {
            Some(n) => self.token_validation(n, &ids)?,
            None => TokenValidation::default(),
        };
        let dispatch = match get(top, "dispatch_config") {
            Some(n) => self.dispatch(n, &ids)?,
            None => DispatchConfig::default(),
        };
        let quota = match get(top, "quota_management") {
            Some(n) => self.quota(n, &ids)?,
            None => QuotaManagement::default(),
        };
        let security = match get(top, "security") {
            Some(n) => self.security(n)?,
            None => Security::default(),
        };
        let metadata = match get(top, "metadata") {
            Some(n) => self.metadata(n)?,
            None => Vec::new(),
        };
        Ok(Config {
            expanded_vars: self.used_vars.borrow().iter().cloned().collect(),
            path: self.path.to_path_buf(),
            providers,
            token_validation,
            dispatch,
            quota,
            security,
            metadata,
        })
    }

    /// An `accounts.d` fragment: `credentials:` only, since settings belong in the main file.
    fn fragment(&self, root: &Node) -> Result<Config, ConfigError> {
        let top = self.entries(root, "the document")?;
        self.check_keys(top, "", &[&["credentials"]])?;
        let providers = match get(top, "credentials") {
            Some(n) => self.credentials(n)?,
            None => Vec::new(),
        };
        Ok(Config {
            path: self.path.to_path_buf(),
            providers,
            token_validation: TokenValidation::default(),
            dispatch: DispatchConfig::default(),
            quota: QuotaManagement::default(),
            security: Security::default(),
            metadata: Vec::new(),
            expanded_vars: self.used_vars.borrow().iter().cloned().collect(),
        })
    }

    fn credentials(&self, node: &Node) -> Result<Vec<ProviderSection>, ConfigError> {
        let entries = self.entries(node, "credentials")?;
        let mut out = Vec::with_capacity(entries.len());
        for (key, section) in entries {
            out.push(self.section(key, section)?);
        }
        Ok(out)
    }

    fn check_id(&self, key: &Key, what: &str) -> Result<(), ConfigError> {
        if looks_like_credential(&key.name) {
            // The id is printed everywhere (tables, reports, instance paths): refuse it.
            return Err(self.err(
                key.line,
                key.col,
                ConfigErrorKind::InvalidValue,
                format!("invalid {what} id (not shown: it looks like a pasted credential)"),
                Some("ids are short names such as work or personal".to_string()),
            ));
        }
        if valid_id(&key.name) {
            return Ok(());
        }
        let shown = show(&key.name);
        Err(self.err(
            key.line,
            key.col,
            ConfigErrorKind::InvalidValue,
            format!("invalid {what} id {shown}"),
            Some(
                "ids start with a letter or digit and use only letters, digits, '_', '-' and '.'"
                    .to_string(),
            ),
        ))
    }

    fn section(&self, key: &Key, node: &Node) -> Result<ProviderSection, ConfigError> {
        self.check_id(key, "provider")?;
        let id = key.name.as_str();
        let path = format!("credentials.{id}");
        let entries = self.entries(node, &path)?;
        let kind = self.kind(id, entries, &path, key)?;
        let fields: Vec<&str> = kind.account_fields().iter().map(|f| f.name).collect();
        self.check_keys(
            entries,
            &path,
            &[SECTION_KEYS, COMMON_ACCOUNT_KEYS, &fields],
        )?;
        let isolation_method = self.plain_text(
            get(entries, "isolation_method"),
            &format!("{path}.isolation_method"),
        )?;
        let mut accounts = Vec::new();
        let single = get(entries, "accounts").is_none()
            && !entries.iter().any(|(k, _)| k.name == "accounts");
        if single {
            let scope = AccountScope {
                provider_id: id,
                account_id: DEFAULT_ACCOUNT_ID,
                single: true,
                path: path.clone(),
                own: entries,
                inherited: None,
            };
            accounts.push(self.account(&scope, kind, key.line)?);
        } else {
            // Credentials at section level would be shared by every account: refuse that.
            for spec in kind.account_fields() {
                if spec.ty == FieldType::Secret
                    && let Some((k, _)) = entries.iter().find(|(k, _)| k.name == spec.name)
                {
                    return Err(self.err(
                        k.line,
                        k.col,
                        ConfigErrorKind::InvalidValue,
                        format!(
                            "{path}.{}: a credential at provider level cannot be shared by the accounts under {path}.accounts",
                            spec.name
                        ),
                        Some(format!("move it under {path}.accounts.<id>")),
                    ));
                }
            }
            let acc_path = format!("{path}.accounts");
            let acc_node = entries
                .iter()
                .find(|(k, _)| k.name == "accounts")
                .map(|(_, v)| v);
            let acc_entries = match acc_node {
                Some(n) => self.entries(n, &acc_path)?,
                None => &[],
            };
            for (akey, anode) in acc_entries {
                self.check_id(akey, "account")?;
                let apath = format!("{acc_path}.{}", akey.name);
                let own = self.entries(anode, &apath)?;
                self.check_keys(own, &apath, &[COMMON_ACCOUNT_KEYS, &fields])?;
                let scope = AccountScope {
                    provider_id: id,
                    account_id: &akey.name,
                    single: false,
                    path: apath,
                    own,
                    inherited: Some((entries, path.clone())),
                };
                accounts.push(self.account(&scope, kind, akey.line)?);
            }
        }
        Ok(ProviderSection {
            id: id.to_string(),
            kind,
            isolation_method,
            single_account: single,
            accounts,
            line: key.line,
        })
    }

    fn kind(
        &self,
        id: &str,
        entries: &Entries,
        path: &str,
        key: &Key,
    ) -> Result<&'static dyn Provider, ConfigError> {
        let kinds = provider::kind_ids();
        if let Some(n) = get(entries, "kind") {
            let k = self
                .text(n, &format!("{path}.kind"))?
                .map(|f| f.value)
                .unwrap_or_default();
            if let Some(named) = provider::by_id(id)
                && named.id() != k
                && provider::by_id(&k).is_some()
            {
                return Err(self.err_at(
                    n,
                    ConfigErrorKind::InvalidValue,
                    format!(
                        "{path}: the id `{id}` names the {id} kind, but kind says {}",
                        show(&k)
                    ),
                    Some(format!(
                        "rename the section (e.g. `{k}_{id}`), or remove `kind:`"
                    )),
                ));
            }
            return provider::by_id(&k).ok_or_else(|| {
                let hint = match did_you_mean(&k, kinds.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? Kinds: {}", kinds.join(", ")),
                    None => format!("kinds: {}", kinds.join(", ")),
                };
                self.err_at(
                    n,
                    ConfigErrorKind::InvalidValue,
                    format!("{path}.kind: unknown provider kind {}", show(&k)),
                    Some(hint),
                )
            });
        }
        provider::by_id(id).ok_or_else(|| {
            let hint = match did_you_mean(id, kinds.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? To use your own id, add `kind: <{}>` to the section",
                    kinds.join("|")
                ),
                None => format!(
                    "add `kind:` with one of {} to the section to use your own id",
                    kinds.join(", ")
                ),
            };
            self.err(
                key.line,
                key.col,
                ConfigErrorKind::UnknownKey,
                format!("unknown provider {} under credentials", show(id)),
                Some(hint),
            )
        })
    }

    /// Reads one account field: environment override first, then the account's own entry,
    /// then (for non-secret fields) the section-level default.
    fn account_field<'n>(
        &self,
        scope: &AccountScope<'n>,
        field: &str,
        inheritable: bool,
    ) -> Result<Option<FieldAt<'n>>, ConfigError> {
        for var in override_vars(scope.provider_id, scope.account_id, field, scope.single) {
            if let Some(v) = (self.env)(&var) {
                return Ok(Some((
                    Field {
                        value: v,
                        origin: Origin::Env { var },
                    },
                    None,
                )));
            }
        }
        let own_path = format!("{}.{field}", scope.path);
        if let Some(n) = get(scope.own, field) {
            return Ok(self.text(n, &own_path)?.map(|f| (f, Some(n))));
        }
        if inheritable
            && let Some((entries, section_path)) = &scope.inherited
            && let Some(n) = get(entries, field)
        {
            return Ok(self
                .text(n, &format!("{section_path}.{field}"))?
                .map(|f| (f, Some(n))));
        }
        Ok(None)
    }

    /// Error for a field value that does not parse; the location is the file position, or the
    /// environment variable when the value came from an override.
    fn field_error(
        &self,
        scope: &AccountScope<'_>,
        field: &str,
        f: &Field<String>,
        node: Option<&Node>,
        what: &str,
    ) -> ConfigError {
        let path = format!("{}.{field}", scope.path);
        match (&f.origin, node) {
            (Origin::Env { var }, _) => ConfigError {
                kind: ConfigErrorKind::InvalidValue,
                location: None,
                message: format!("{path} (from environment variable {var}): {what}"),
                hint: Some(format!("fix or unset {var}")),
            },
            (_, Some(n)) => self.err_at(
                n,
                ConfigErrorKind::InvalidValue,
                format!("{path}: {what}"),
                None,
            ),
            (_, None) => ConfigError::file(
                ConfigErrorKind::InvalidValue,
                self.path,
                format!("{path}: {what}"),
                None,
            ),
        }
    }

    fn account(
        &self,
        scope: &AccountScope<'_>,
        kind: &'static dyn Provider,
        line: u32,
    ) -> Result<Account, ConfigError> {
        let missing_before = self.missing.borrow().len();
        let text = |field: &str| -> Result<Option<String>, ConfigError> {
            Ok(self
                .account_field(scope, field, true)?
                .map(|(f, _)| f.value))
        };
        let boolean = |field: &str| -> Result<Option<bool>, ConfigError> {
            match self.account_field(scope, field, true)? {
                None => Ok(None),
                Some((f, node)) => match parse_bool(&f.value) {
                    Some(b) => Ok(Some(b)),
                    None => Err(self.field_error(scope, field, &f, node, "expected true or false")),
                },
            }
        };
        let token_expiry = match self.account_field(scope, "token_expiry", true)? {
            None => None,
            Some((f, node)) if f.value.trim().is_empty() => {
                let _ = node;
                None
            }
            Some((f, node)) => match parse_timestamp(&f.value) {
                Ok(ts) => Some(Field {
                    value: ts,
                    origin: f.origin,
                }),
                Err(why) => return Err(self.field_error(scope, "token_expiry", &f, node, &why)),
            },
        };
        let models = {
            let own = get(scope.own, "models");
            match (own, &scope.inherited) {
                (Some(n), _) => self.text_list(Some(n), &format!("{}.models", scope.path))?,
                (None, Some((entries, sp))) => {
                    self.text_list(get(entries, "models"), &format!("{sp}.models"))?
                }
                (None, None) => Vec::new(),
            }
        };
        let usage_paths: Vec<PathBuf> = {
            let own = get(scope.own, "usage_paths");
            let list = match (own, &scope.inherited) {
                (Some(n), _) => self.text_list(Some(n), &format!("{}.usage_paths", scope.path))?,
                (None, Some((entries, sp))) => {
                    self.text_list(get(entries, "usage_paths"), &format!("{sp}.usage_paths"))?
                }
                (None, None) => Vec::new(),
            };
            list.iter()
                .filter(|p| !p.is_empty())
                .map(|p| self.absolute(p))
                .collect()
        };
        let quotas = match (get(scope.own, "quotas"), &scope.inherited) {
            (Some(n), _) => Some(self.quota_limits(n, &format!("{}.quotas", scope.path))?),
            (None, Some((entries, sp))) => match get(entries, "quotas") {
                Some(n) => Some(self.quota_limits(n, &format!("{sp}.quotas"))?),
                None => None,
            },
            (None, None) => None,
        };
        let dispatch = self.account_dispatch(scope)?;
        let mut secrets: Vec<(&'static str, Field<Secret>)> = Vec::new();
        let mut settings: Vec<(&'static str, Field<String>)> = Vec::new();
        for spec in kind.account_fields() {
            let inheritable = spec.ty != FieldType::Secret;
            let Some((f, _node)) = self.account_field(scope, spec.name, inheritable)? else {
                continue;
            };
            match spec.ty {
                FieldType::Secret => secrets.push((
                    spec.name,
                    Field {
                        value: Secret::new(f.value),
                        origin: f.origin,
                    },
                )),
                FieldType::Text => settings.push((spec.name, f)),
                FieldType::Path => {
                    let value = if f.value.is_empty() {
                        f.value
                    } else {
                        self.absolute(&f.value).to_string_lossy().into_owned()
                    };
                    settings.push((
                        spec.name,
                        Field {
                            value,
                            origin: f.origin,
                        },
                    ));
                }
            }
        }
        let enabled = boolean("enabled")?.unwrap_or(true);
        let credential_file = match self.account_field(scope, "credential_file", false)? {
            Some((f, _)) if !f.value.is_empty() => Some(self.absolute(&f.value)),
            _ => None,
        };
        if let Some(cf) = &credential_file
            && let Some((name, field)) = secrets
                .iter()
                .find(|(_, f)| matches!(f.origin, Origin::Env { .. }))
        {
            let var = match &field.origin {
                Origin::Env { var } => var.clone(),
                _ => String::new(),
            };
            return Err(ConfigError {
                kind: ConfigErrorKind::InvalidValue,
                location: None,
                message: format!(
                    "{var} cannot set {}.{name}: that account's login is the tool's own file {}",
                    scope.path,
                    cf.display()
                ),
                hint: Some(format!(
                    "unset {var}; to change the login, log in again (xnai login {}/{})",
                    scope.provider_id, scope.account_id
                )),
            });
        }
        let mut native_error = None;
        let mut native_upstream = None;
        let mut token_expiry = token_expiry;
        if let Some(cf) = &credential_file {
            let origin = Origin::LoginFile { path: cf.clone() };
            match read_native(kind, cf) {
                Ok(login) => {
                    for (name, secret) in login.secrets {
                        if !secrets.iter().any(|(n, _)| *n == name) {
                            secrets.push((
                                name,
                                Field {
                                    value: secret,
                                    origin: origin.clone(),
                                },
                            ));
                        }
                    }
                    for (name, value) in login.settings {
                        if !settings.iter().any(|(n, _)| *n == name) {
                            settings.push((
                                name,
                                Field {
                                    value,
                                    origin: origin.clone(),
                                },
                            ));
                        }
                    }
                    if native_upstream.is_none() {
                        native_upstream = login.upstream;
                    }
                    if token_expiry.is_none() {
                        token_expiry = login.expires_at.map(|value| Field {
                            value,
                            origin: origin.clone(),
                        });
                    }
                }
                Err(e) => native_error = Some(e),
            }
        }
        let account = Account {
            provider_id: scope.provider_id.to_string(),
            id: scope.account_id.to_string(),
            kind,
            line,
            name: text("name")?,
            enabled,
            auth_method: text("auth_method")?,
            upstream: text("provider")?.or(native_upstream),
            token_expiry,
            models,
            quota_status: text("quota_status")?,
            api_key_permanent: boolean("api_key_permanent")?,
            last_rotated: text("last_rotated")?,
            rotation_schedule: text("rotation_schedule")?,
            secrets,
            settings,
            credential_file,
            usage_paths,
            quotas,
            dispatch,
            imported_from: text("imported_from")?,
            native_error,
            defined_in: self.path.to_path_buf(),
        };
        if !enabled {
            // A disabled account may reference variables that are not set (a parked login):
            // its unset fields are simply absent.
            self.missing.borrow_mut().truncate(missing_before);
        }
        Ok(account)
    }

    /// A path from the file: `~/` expanded, relative paths taken from the file's directory.
    fn absolute(&self, value: &str) -> PathBuf {
        let p = expand_tilde(value, self.env);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }

    fn known_provider(&self, key: &Key, path: &str, ids: &[&str]) -> Result<(), ConfigError> {
        if ids.contains(&key.name.as_str()) || provider::by_id(&key.name).is_some() {
            return Ok(());
        }
        let hint = match did_you_mean(&key.name, ids.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if ids.is_empty() => "no providers are configured under credentials".to_string(),
            None => format!("configured providers: {}", ids.join(", ")),
        };
        Err(self.err(
            key.line,
            key.col,
            ConfigErrorKind::InvalidValue,
            format!(
                "{path}: {} is not a provider under credentials",
                show(&key.name)
            ),
            Some(hint),
        ))
    }

    fn token_validation(&self, node: &Node, ids: &[&str]) -> Result<TokenValidation, ConfigError> {
        let p = "token_validation";
        let e = self.entries(node, p)?;
        self.check_keys(
            e,
            p,
            &[&[
                "enabled",
                "check_validity_before_use",
                "auto_refresh_if_expired",
                "refresh_buffer_minutes",
                "provider_refresh_policies",
            ]],
        )?;
        let d = TokenValidation::default();
        let mut policies = Vec::new();
        if let Some(n) = get(e, "provider_refresh_policies") {
            let pp = format!("{p}.provider_refresh_policies");
            for (k, v) in self.entries(n, &pp)? {
                self.known_provider(k, &pp, ids)?;
                let kp = format!("{pp}.{}", k.name);
                let pe = self.entries(v, &kp)?;
                self.check_keys(
                    pe,
                    &kp,
                    &[&["lifetime_days", "lifetime_hours", "refresh_method"]],
                )?;
                let lifetime = match (get(pe, "lifetime_days"), get(pe, "lifetime_hours")) {
                    (Some(n), _) => {
                        Some(self.lifetime(n, &format!("{kp}.lifetime_days"), Lifetime::Days)?)
                    }
                    (None, Some(n)) => {
                        Some(self.lifetime(n, &format!("{kp}.lifetime_hours"), Lifetime::Hours)?)
                    }
                    (None, None) => None,
                };
                policies.push(RefreshPolicy {
                    provider: k.name.clone(),
                    lifetime,
                    refresh_method: self
                        .plain_text(get(pe, "refresh_method"), &format!("{kp}.refresh_method"))?,
                });
            }
        }
        Ok(TokenValidation {
            enabled: self
                .bool(get(e, "enabled"), &format!("{p}.enabled"))?
                .unwrap_or(d.enabled),
            check_validity_before_use: self
                .bool(
                    get(e, "check_validity_before_use"),
                    &format!("{p}.check_validity_before_use"),
                )?
                .unwrap_or(d.check_validity_before_use),
            auto_refresh_if_expired: self
                .bool(
                    get(e, "auto_refresh_if_expired"),
                    &format!("{p}.auto_refresh_if_expired"),
                )?
                .unwrap_or(d.auto_refresh_if_expired),
            refresh_buffer_minutes: self
                .uint(
                    get(e, "refresh_buffer_minutes"),
                    &format!("{p}.refresh_buffer_minutes"),
                    10_080,
                )?
                .unwrap_or(d.refresh_buffer_minutes),
            provider_refresh_policies: policies,
        })
    }

    fn lifetime(
        &self,
        node: &Node,
        path: &str,
        unit: fn(u32) -> Lifetime,
    ) -> Result<Lifetime, ConfigError> {
        if let Value::Str(s) = &node.value
            && s.trim().eq_ignore_ascii_case("infinite")
        {
            return Ok(Lifetime::Infinite);
        }
        match self.uint(Some(node), path, 100_000) {
            Ok(Some(v)) => Ok(unit(v)),
            _ => Err(self.err_at(
                node,
                ConfigErrorKind::InvalidValue,
                format!("{path}: expected a whole number or `infinite`"),
                None,
            )),
        }
    }

    /// The account's value of `key`, else its section's, with the path to name in errors.
    fn own_or_inherited<'n>(
        &self,
        scope: &'n AccountScope<'n>,
        key: &str,
    ) -> Option<(&'n Node, String)> {
        match get(scope.own, key) {
            Some(n) => Some((n, format!("{}.{key}", scope.path))),
            None => scope
                .inherited
                .as_ref()
                .and_then(|(e, sp)| get(e, key).map(|n| (n, format!("{sp}.{key}")))),
        }
    }

    fn account_dispatch(&self, scope: &AccountScope<'_>) -> Result<AccountDispatch, ConfigError> {
        let mut d = AccountDispatch::default();
        if let Some((n, p)) = self.own_or_inherited(scope, "command") {
            let argv = match &n.value {
                Value::Seq(_) => self.text_list(Some(n), &p)?,
                _ => {
                    return Err(self.err_at(
                        n,
                        ConfigErrorKind::WrongType,
                        format!("{p}: expected a list of arguments, such as [claude, -p, \"{{prompt}}\"]"),
                        Some("it is run without a shell: one list item per argument".to_string()),
                    ));
                }
            };
            if argv.first().is_none_or(|a| a.trim().is_empty()) {
                return Err(self.err_at(
                    n,
                    ConfigErrorKind::InvalidValue,
                    format!("{p}: the first item must name the program"),
                    None,
                ));
            }
            if argv.first().is_some_and(|a| a.contains("{prompt}")) {
                return Err(self.err_at(
                    n,
                    ConfigErrorKind::InvalidValue,
                    format!("{p}: the first item is the program to run; it cannot hold {{prompt}}"),
                    Some("for example [claude, -p, \"{prompt}\"]".to_string()),
                ));
            }
            if !argv.iter().any(|a| a.contains("{prompt}")) {
                return Err(self.err_at(
                    n,
                    ConfigErrorKind::InvalidValue,
                    format!(
                        "{p}: no argument holds {{prompt}}, so the task would never reach the agent"
                    ),
                    Some("for example [opencode, run, \"{prompt}\"]".to_string()),
                ));
            }
            d.command = Some(argv);
        }
        if let Some((n, p)) = self.own_or_inherited(scope, "max_concurrent") {
            d.max_concurrent = self.uint_from(
                Some(n),
                &p,
                1,
                10_000,
                Some("use enabled: false to keep the account out"),
            )?;
        }
        for (key, slot) in [
            ("context_window", &mut d.context_window),
            ("latency_prior_ms", &mut d.latency_prior_ms),
        ] {
            if let Some((n, p)) = self.own_or_inherited(scope, key) {
                match self.number(Some(n), &p)? {
                    Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= 1e12 => *slot = Some(v as u64),
                    Some(_) => {
                        return Err(self.err_at(
                            n,
                            ConfigErrorKind::InvalidValue,
                            format!("{p}: expected a whole number of at least 1"),
                            None,
                        ));
                    }
                    None => {}
                }
            }
        }
        if let Some((n, p)) = self.own_or_inherited(scope, "failure_patterns") {
            let e = self.entries(n, &p)?;
            self.check_keys(
                e,
                &p,
                &[&["rate_limited", "quota_exhausted", "credential_rejected"]],
            )?;
            let list = |k: &str| -> Result<Vec<String>, ConfigError> {
                Ok(self
                    .text_list(get(e, k), &format!("{p}.{k}"))?
                    .into_iter()
                    .filter(|s| !s.trim().is_empty())
                    .collect())
            };
            d.failure_patterns = FailurePatterns {
                rate_limited: list("rate_limited")?,
                quota_exhausted: list("quota_exhausted")?,
                credential_rejected: list("credential_rejected")?,
            };
        }
        Ok(d)
    }

    fn dispatch(&self, node: &Node, ids: &[&str]) -> Result<DispatchConfig, ConfigError> {
        let p = "dispatch_config";
        let e = self.entries(node, p)?;
        self.check_keys(
            e,
            p,
            &[&[
                "account_rotation",
                "least_used_prioritization",
                "weights",
                "fallback_chain",
                "chains",
                "max_attempts",
                "timeout_secs",
                "latency_prior_ms",
            ]],
        )?;
        let d = DispatchConfig::default();
        let weights = match get(e, "weights") {
            None => d.weights,
            Some(wn) => {
                let wp = format!("{p}.weights");
                let we = self.entries(wn, &wp)?;
                self.check_keys(we, &wp, &[&["quota", "latency", "context_fit"]])?;
                let mut w = [0.0f64; 3];
                for (i, k) in ["quota", "latency", "context_fit"].iter().enumerate() {
                    let n = get(we, k);
                    let v = self.number(n, &format!("{wp}.{k}"))?.unwrap_or(0.0);
                    if !(0.0..=1.0).contains(&v) {
                        return Err(self.err_at(
                            n.unwrap_or(wn),
                            ConfigErrorKind::InvalidValue,
                            format!("{wp}.{k}: must be between 0 and 1"),
                            None,
                        ));
                    }
                    w[i] = v;
                }
                let sum: f64 = w.iter().sum();
                // Thirds written as 0.333 are meant to sum to 1; anything further off is a typo.
                if (sum - 1.0).abs() > 1e-3 {
                    return Err(self.err_at(
                        wn,
                        ConfigErrorKind::InvalidValue,
                        format!(
                            "{wp}: weights must sum to 1, they sum to {}",
                            (sum * 1e6).round() / 1e6
                        ),
                        Some(
                            "the defaults are quota 0.4, latency 0.3, context_fit 0.3".to_string(),
                        ),
                    ));
                }
                // Scaled to sum to exactly 1, so scores stay within 0..1.
                Weights {
                    quota: w[0] / sum,
                    latency: w[1] / sum,
                    context_fit: w[2] / sum,
                }
            }
        };
        let chain_path = format!("{p}.fallback_chain");
        let fallback_chain = self.chain(get(e, "fallback_chain"), &chain_path, ids)?;
        let mut chains = Vec::new();
        if let Some(cn) = get(e, "chains") {
            let cp = format!("{p}.chains");
            for (k, v) in self.entries(cn, &cp)? {
                let kp = format!("{cp}.{}", k.name);
                if k.name.trim().is_empty() {
                    return Err(self.err_at(
                        v,
                        ConfigErrorKind::InvalidValue,
                        format!("{cp}: a chain needs a name (--chain NAME selects it)"),
                        None,
                    ));
                }
                let chain = self.chain(Some(v), &kp, ids)?;
                if chain.is_empty() {
                    return Err(self.err_at(
                        v,
                        ConfigErrorKind::InvalidValue,
                        format!("{kp}: a chain needs at least one provider"),
                        None,
                    ));
                }
                chains.push((k.name.clone(), chain));
            }
        }
        let max_attempts = self
            .uint_from(
                get(e, "max_attempts"),
                &format!("{p}.max_attempts"),
                1,
                100,
                None,
            )?
            .unwrap_or(d.max_attempts);
        let timeout_secs = self.uint_from(
            get(e, "timeout_secs"),
            &format!("{p}.timeout_secs"),
            1,
            MAX_TIMEOUT_SECS,
            Some("leave it out for no timeout"),
        )?;
        let latency_prior_ms =
            match self.number(get(e, "latency_prior_ms"), &format!("{p}.latency_prior_ms"))? {
                None => d.latency_prior_ms,
                Some(v) if (1.0..=1e12).contains(&v) => v as u64,
                Some(_) => {
                    return Err(self.err(
                        node.line,
                        node.col,
                        ConfigErrorKind::InvalidValue,
                        format!("{p}.latency_prior_ms: expected milliseconds, at least 1"),
                        None,
                    ));
                }
            };
        Ok(DispatchConfig {
            account_rotation: self
                .plain_text(get(e, "account_rotation"), &format!("{p}.account_rotation"))?,
            least_used_prioritization: self
                .bool(
                    get(e, "least_used_prioritization"),
                    &format!("{p}.least_used_prioritization"),
                )?
                .unwrap_or(d.least_used_prioritization),
            weights,
            fallback_chain,
            chains,
            max_attempts,
            timeout_secs,
            latency_prior_ms,
        })
    }

    /// A list of provider ids that must all be configured.
    fn chain(
        &self,
        node: Option<&Node>,
        path: &str,
        ids: &[&str],
    ) -> Result<Vec<String>, ConfigError> {
        let chain = self.text_list(node, path)?;
        if let Some(Value::Seq(items)) = node.map(|n| &n.value) {
            for (i, (item, id)) in items.iter().zip(&chain).enumerate() {
                if chain[..i].contains(id) {
                    return Err(self.err_at(
                        item,
                        ConfigErrorKind::InvalidValue,
                        format!("{path}: {} is listed twice", show(id)),
                        Some(
                            "a provider's accounts are all tried at its place in the chain"
                                .to_string(),
                        ),
                    ));
                }
                if !ids.contains(&id.as_str()) {
                    let hint = match did_you_mean(id, ids.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if ids.is_empty() => {
                            "no providers are configured under credentials".to_string()
                        }
                        None => format!("configured providers: {}", ids.join(", ")),
                    };
                    return Err(self.err_at(
                        item,
                        ConfigErrorKind::InvalidValue,
                        format!("{path}: {} is not a provider under credentials", show(id)),
                        Some(hint),
                    ));
                }
            }
        }
        Ok(chain)
    }

    fn quota(&self, node: &Node, ids: &[&str]) -> Result<QuotaManagement, ConfigError> {
        let p = "quota_management";
        let e = self.entries(node, p)?;
        self.check_keys(
            e,
            p,
            &[&[
                "audit_collection_time",
                "timezone",
                "alert_thresholds",
                "quotas",
            ]],
        )?;
        let audit_collection_time = self.plain_text(
            get(e, "audit_collection_time"),
            &format!("{p}.audit_collection_time"),
        )?;
        if let (Some(t), Some(n)) = (&audit_collection_time, get(e, "audit_collection_time"))
            && jiff::civil::Time::strptime("%H:%M", t.trim()).is_err()
        {
            return Err(self.err_at(
                n,
                ConfigErrorKind::InvalidValue,
                format!("{p}.audit_collection_time: expected HH:MM, such as 02:00"),
                None,
            ));
        }
        let mut thresholds = Thresholds::default();
        if let Some(tn) = get(e, "alert_thresholds") {
            let tp = format!("{p}.alert_thresholds");
            let te = self.entries(tn, &tp)?;
            self.check_keys(te, &tp, &[&["warning_percentage", "critical_percentage"]])?;
            if let Some(v) = self.number(
                get(te, "warning_percentage"),
                &format!("{tp}.warning_percentage"),
            )? {
                thresholds.warning = v;
            }
            if let Some(v) = self.number(
                get(te, "critical_percentage"),
                &format!("{tp}.critical_percentage"),
            )? {
                thresholds.critical = v;
            }
            if !(thresholds.warning > 0.0
                && thresholds.warning < thresholds.critical
                && thresholds.critical <= 100.0)
            {
                return Err(self.err_at(
                    tn,
                    ConfigErrorKind::InvalidValue,
                    format!(
                        "{tp}: need 0 < warning_percentage < critical_percentage <= 100 (got {} and {})",
                        round3(thresholds.warning),
                        round3(thresholds.critical)
                    ),
                    None,
                ));
            }
        }
        let timezone = self.plain_text(get(e, "timezone"), &format!("{p}.timezone"))?;
        if let (Some(tz), Some(n)) = (&timezone, get(e, "timezone"))
            && let Err(why) = crate::quota::window::default_reset(Some(tz))
        {
            return Err(self.err_at(
                n,
                ConfigErrorKind::InvalidValue,
                format!("{p}.timezone: {why}"),
                None,
            ));
        }
        let mut quotas = Vec::new();
        if let Some(qn) = get(e, "quotas") {
            let qp = format!("{p}.quotas");
            for (k, v) in self.entries(qn, &qp)? {
                self.known_provider(k, &qp, ids)?;
                let kp = format!("{qp}.{}", k.name);
                quotas.push((k.name.clone(), self.quota_limits(v, &kp)?));
            }
        }
        Ok(QuotaManagement {
            audit_collection_time,
            timezone,
            thresholds,
            quotas,
        })
    }

    /// A list of limits (or a single one).
    fn quota_limits(&self, v: &Node, path: &str) -> Result<Vec<QuotaLimit>, ConfigError> {
        let items: Vec<&Node> = match &v.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Map(_) => vec![v],
            Value::Null => Vec::new(),
            _ => return Err(self.wrong_type(v, path, "a list of limits")),
        };
        let mut limits = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            limits.push(self.quota_limit(item, &format!("{path}[{i}]"))?);
        }
        Ok(limits)
    }

    fn quota_limit(&self, node: &Node, path: &str) -> Result<QuotaLimit, ConfigError> {
        let e = self.entries(node, path)?;
        self.check_keys(
            e,
            path,
            &[&["limit", "unit", "window", "reset_day", "reset"]],
        )?;
        let limit_node = get(e, "limit");
        let limit = match self.number(limit_node, &format!("{path}.limit"))? {
            Some(v) if v > 0.0 => v,
            Some(_) => {
                return Err(self.err_at(
                    limit_node.unwrap_or(node),
                    ConfigErrorKind::InvalidValue,
                    format!("{path}.limit: must be greater than 0"),
                    None,
                ));
            }
            None => {
                return Err(self.err_at(
                    node,
                    ConfigErrorKind::InvalidValue,
                    format!("{path}: `limit` is required"),
                    None,
                ));
            }
        };
        let unit = self.enum_value(
            get(e, "unit"),
            node,
            &format!("{path}.unit"),
            QuotaUnit::ALL,
        )?;
        let window = self.enum_value(
            get(e, "window"),
            node,
            &format!("{path}.window"),
            QuotaWindow::ALL,
        )?;
        let reset_day_node = get(e, "reset_day");
        let reset_day = self
            .uint_from(reset_day_node, &format!("{path}.reset_day"), 1, 31, None)?
            .map(|d| d as u8);
        let reset = self.plain_text(get(e, "reset"), &format!("{path}.reset"))?;
        if window == QuotaWindow::Rolling5h && reset_day.is_some() {
            return Err(self.err_at(
                reset_day_node.unwrap_or(node),
                ConfigErrorKind::InvalidValue,
                format!("{path}.reset_day: a rolling_5h window has no reset day"),
                None,
            ));
        }
        if reset_day.is_some() && window != QuotaWindow::Monthly {
            return Err(self.err_at(
                reset_day_node.unwrap_or(node),
                ConfigErrorKind::InvalidValue,
                format!("{path}.reset_day: only monthly windows have a reset day"),
                None,
            ));
        }
        if let (Some(_), Some(text)) = (reset_day, &reset)
            && text
                .split_whitespace()
                .next()
                .is_some_and(|w| !w.contains(':') && w.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err(self.err_at(
                get(e, "reset").unwrap_or(node),
                ConfigErrorKind::InvalidValue,
                format!("{path}: reset_day and reset both give the day of the month"),
                Some("give it once: reset_day: 15, or reset: \"15 00:00 UTC\"".to_string()),
            ));
        }
        if let Some(text) = &reset {
            // Checked here so a bad rule names its line; applied when windows are computed.
            let base = crate::quota::window::default_reset(None).map_err(|why| {
                self.err_at(
                    node,
                    ConfigErrorKind::InvalidValue,
                    format!("{path}: {why}"),
                    None,
                )
            })?;
            if let Err(why) = crate::quota::window::parse_reset(text, window, &base) {
                return Err(self.err_at(
                    get(e, "reset").unwrap_or(node),
                    ConfigErrorKind::InvalidValue,
                    format!("{path}.reset: {why}"),
                    None,
                ));
            }
        }
        Ok(QuotaLimit {
            limit,
            unit,
            window,
            reset_day,
            reset,
            line: node.line,
        })
    }

    fn enum_value<T: Copy>(
        &self,
        node: Option<&Node>,
        parent: &Node,
        path: &str,
        all: &[(&'static str, T)],
    ) -> Result<T, ConfigError> {
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        let Some(n) = node else {
            return Err(self.err_at(
                parent,
                ConfigErrorKind::InvalidValue,
                format!("{path} is required (one of {})", names.join(", ")),
                None,
            ));
        };
        let v = self.text(n, path)?.map(|f| f.value).unwrap_or_default();
        all.iter()
            .find(|(name, _)| *name == v.trim())
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let hint = match did_you_mean(&v, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("one of {}", names.join(", ")),
                };
                self.err_at(
                    n,
                    ConfigErrorKind::InvalidValue,
                    format!("{path}: unknown value {}", show(&v)),
                    Some(hint),
                )
            })
    }

    fn security(&self, node: &Node) -> Result<Security, ConfigError> {
        let p = "security";
        let e = self.entries(node, p)?;
        self.check_keys(
            e,
            p,
            &[&[
                "file_permissions",
                "external_api_calls",
                "local_storage_only",
            ]],
        )?;
        let d = Security::default();
        let file_permissions =
            self.plain_text(get(e, "file_permissions"), &format!("{p}.file_permissions"))?;
        if let (Some(fp), Some(n)) = (&file_permissions, get(e, "file_permissions")) {
            match u32::from_str_radix(fp.trim(), 8) {
                Ok(mode) if mode & 0o077 == 0 && mode <= 0o700 => {}
                _ => {
                    return Err(self.err_at(
                        n,
                        ConfigErrorKind::InvalidValue,
                        format!("{p}.file_permissions: must be an octal mode without group or other access, such as \"0600\""),
                        Some("xnai never reads a credential file other users can read".to_string()),
                    ));
                }
            }
        }
        Ok(Security {
            file_permissions,
            external_api_calls: self
                .bool(
                    get(e, "external_api_calls"),
                    &format!("{p}.external_api_calls"),
                )?
                .unwrap_or(d.external_api_calls),
            local_storage_only: self
                .bool(
                    get(e, "local_storage_only"),
                    &format!("{p}.local_storage_only"),
                )?
                .unwrap_or(d.local_storage_only),
        })
    }

    fn metadata(&self, node: &Node) -> Result<Vec<(String, String)>, ConfigError> {
        // Free-form by design: the original kept version/status/notes here.
        let e = self.entries(node, "metadata")?;
        let mut out = Vec::new();
        for (k, v) in e {
            let value = match &v.value {
                Value::Seq(_) | Value::Map(_) => "(nested)".to_string(),
                _ => self
                    .text(v, &format!("metadata.{}", k.name))?
                    .map(|f| f.value)
                    .unwrap_or_default(),
            };
            out.push((k.name.clone(), value));
        }
        Ok(out)
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parses `token_expiry`: RFC 3339 (`2027-12-31T00:00:00Z`), a date (`2027-12-31`, midnight
/// UTC) or Unix time in seconds or milliseconds.
pub(crate) fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    // "2027-12-31 00:00:00" with or without a zone: a space for the T, UTC when no zone.
    if t.len() >= 19 && t.as_bytes().get(10) == Some(&b' ') {
        let with_t = format!("{}T{}", &t[..10], &t[11..]);
        for candidate in [with_t.clone(), format!("{with_t}Z")] {
            if let Ok(ts) = candidate.parse::<Timestamp>() {
                return Ok(ts);
            }
        }
    }
    if t.parse::<jiff::civil::Date>().is_ok()
        && let Ok(ts) = format!("{t}T00:00:00Z").parse::<Timestamp>()
    {
        return Ok(ts);
    }
    if let Ok(n) = t.parse::<i64>() {
        // Values beyond year 5138 in seconds are milliseconds (OpenCode writes ms).
        let r = if n.abs() >= 100_000_000_000 {
            Timestamp::from_millisecond(n)
        } else {
            Timestamp::from_second(n)
        };
        return r.map_err(|_| "Unix time out of range".to_string());
    }
    Err(
        "expected an RFC 3339 timestamp such as 2027-12-31T00:00:00Z, a date such as 2027-12-31, or Unix seconds"
            .to_string(),
    )
}

fn expand_tilde(p: &str, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = env("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_upper_case_with_underscores() {
        assert_eq!(
            override_vars("opencode", "account_1", "oauth_token", false),
            vec!["XNAI_OPENCODE_ACCOUNT_1_OAUTH_TOKEN".to_string()]
        );
        assert_eq!(
            override_vars("copilot-work", "me.2", "oauth_token", false),
            vec!["XNAI_COPILOT_WORK_ME_2_OAUTH_TOKEN".to_string()]
        );
        assert_eq!(
            override_vars("cline", "default", "api_key", true),
            vec![
                "XNAI_CLINE_DEFAULT_API_KEY".to_string(),
                "XNAI_CLINE_API_KEY".to_string()
            ]
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2027-12-31T00:00:00Z").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert_eq!(
            parse_timestamp("2027-12-31").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert_eq!(
            parse_timestamp("2027-12-31T01:00:00+01:00").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert_eq!(
            parse_timestamp("1830211200").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert_eq!(
            parse_timestamp("1830211200000").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert_eq!(
            parse_timestamp("2027-12-31 00:00:00").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert_eq!(
            parse_timestamp("2027-12-31 01:00:00+01:00").map(|t| t.as_second()),
            Ok(1_830_211_200)
        );
        assert!(parse_timestamp("tomorrow").is_err());
    }

    #[test]
    fn ids() {
        assert!(valid_id("account_1"));
        assert!(valid_id("work.2-b"));
        assert!(!valid_id("../etc"));
        assert!(!valid_id(".hidden"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(""));
    }
}
