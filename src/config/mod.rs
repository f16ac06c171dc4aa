//! The credential file: its schema (types here), loading (`load`), `${VAR}` expansion
//! (`expand`), the YAML tree (`yaml`) and the `xnai init` template (`template`).
//!
//! The layout is the original system's: `credentials.<provider>.accounts.<id>` for
//! multi-account providers, credential fields directly under `credentials.<provider>` for
//! single-account ones (their account id is `default`), and the `token_validation`,
//! `dispatch_config`, `quota_management`, `security` and `metadata` sections.

pub mod expand;
mod load;
pub mod template;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

pub use load::{
    LoadOptions, Loaded, MAX_TIMEOUT_SECS, default_path, env_name, fragments_dir, load, load_str,
    override_collision, override_names, show as show_name, stray_override_warnings, valid_id,
};

use crate::provider::Provider;
use crate::secret::Secret;

/// The id given to the account of a single-account provider section.
pub const DEFAULT_ACCOUNT_ID: &str = "default";

/// Where a field's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Written in the credential file at this line, possibly through `${VAR}` expansion.
    File {
        /// 1-based line.
        line: u32,
        /// Variables the value was expanded from.
        vars: Vec<String>,
    },
    /// Set by an `XNAI_<PROVIDER>_<ACCOUNT>_<FIELD>` environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// Read from the tool's own login file (`credential_file`).
    LoginFile {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { line, vars } if vars.is_empty() => write!(f, "file:{line}"),
            Origin::File { line, vars } => write!(f, "file:{line} via ${}", vars.join(", $")),
            Origin::Env { var } => write!(f, "env {var}"),
            Origin::LoginFile { path } => write!(f, "login file {}", path.display()),
        }
    }
}

/// A value with its origin.
#[derive(Debug, Clone)]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

/// The whole credential file, validated.
#[derive(Debug)]
pub struct Config {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Provider sections, in file order.
    pub providers: Vec<ProviderSection>,
    /// `token_validation`.
    pub token_validation: TokenValidation,
    /// `dispatch_config`.
    pub dispatch: DispatchConfig,
    /// `quota_management`.
    pub quota: QuotaManagement,
    /// `security`.
    pub security: Security,
    /// `metadata`: free-form key/value pairs kept for the report.
    pub metadata: Vec<(String, String)>,
    /// Environment variables that `${...}` expansion read.
    pub expanded_vars: Vec<String>,
}

impl Config {
    /// Every account of every provider, in file order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.providers.iter().flat_map(|p| p.accounts.iter())
    }

    /// The provider section with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderSection> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// One `credentials.<id>` section.
#[derive(Debug)]
pub struct ProviderSection {
    /// The section's id (`opencode`, `copilot_work`, ...).
    pub id: String,
    /// Its kind, from the id or `kind:`.
    pub kind: &'static dyn Provider,
    /// `isolation_method`, as the original wrote it.
    pub isolation_method: Option<String>,
    /// True when the section holds its single account's fields directly (no `accounts:`).
    pub single_account: bool,
    /// Its accounts, in file order.
    pub accounts: Vec<Account>,
    /// Line of the section's key.
    pub line: u32,
}

/// One account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The provider section's id.
    pub provider_id: String,
    /// The account's id (`account_1`, or `default` for single-account sections).
    pub id: String,
    /// The provider kind.
    pub kind: &'static dyn Provider,
    /// Line where the account is defined.
    pub line: u32,
    /// `name`.
    pub name: Option<String>,
    /// `enabled` (default true).
    pub enabled: bool,
    /// `auth_method`.
    pub auth_method: Option<String>,
    /// `provider`: the upstream identity provider (`google` for Antigravity).
    pub upstream: Option<String>,
    /// `token_expiry`.
    pub token_expiry: Option<Field<Timestamp>>,
    /// `models`.
    pub models: Vec<String>,
    /// `quota_status`, as the original tracked it by hand.
    pub quota_status: Option<String>,
    /// `api_key_permanent`.
    pub api_key_permanent: Option<bool>,
    /// `last_rotated`.
    pub last_rotated: Option<String>,
    /// `rotation_schedule`.
    pub rotation_schedule: Option<String>,
    /// Credential fields declared by the provider, as present.
    pub secrets: Vec<(&'static str, Field<Secret>)>,
    /// Text and path fields declared by the provider, as present (paths made absolute).
    pub settings: Vec<(&'static str, Field<String>)>,
    /// `credential_file`: the tool's own credential file this account's login is read from
    /// (written by `xnai import` and `xnai login`; the tool keeps it fresh).
    pub credential_file: Option<PathBuf>,
    /// `usage_paths`: more tool homes whose logs count for this account (the user's own
    /// `~/.claude` for an imported login, say), absolute.
    pub usage_paths: Vec<PathBuf>,
    /// `quotas`: this account's limits, replacing its provider's from
    /// `quota_management.quotas` (written on the account or, as a default, on its section).
    pub quotas: Option<Vec<QuotaLimit>>,
    /// `command`, `max_concurrent`, `context_window`, `latency_prior_ms`, `failure_patterns`:
    /// how the dispatcher runs and judges this account (on the account or its section).
    pub dispatch: AccountDispatch,
    /// `imported_from`: where `xnai import` found the login.
    pub imported_from: Option<String>,
    /// Why `credential_file` could not be read; `check` reports it as an error.
    pub native_error: Option<String>,
    /// The file this account was defined in (the credential file or an `accounts.d` fragment).
    pub defined_in: PathBuf,
}

impl Account {
    /// An account with no fields yet (the target of `xnai login` before the tool wrote its
    /// login).
    pub fn placeholder(provider_id: &str, id: &str, kind: &'static dyn Provider) -> Account {
        Account {
            provider_id: provider_id.to_string(),
            id: id.to_string(),
            kind,
            line: 0,
            name: None,
            enabled: true,
            auth_method: None,
            upstream: None,
            token_expiry: None,
            models: Vec::new(),
            quota_status: None,
            api_key_permanent: None,
            last_rotated: None,
            rotation_schedule: None,
            secrets: Vec::new(),
            settings: Vec::new(),
            credential_file: None,
            usage_paths: Vec::new(),
            quotas: None,
            dispatch: AccountDispatch::default(),
            imported_from: None,
            native_error: None,
            defined_in: PathBuf::new(),
        }
    }

    /// `provider/account`, the name used on the command line.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider_id, self.id)
    }

    /// A credential field, if present.
    pub fn secret(&self, name: &str) -> Option<&Field<Secret>> {
        self.secrets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f)
    }

    /// A text or path field, if present and not empty.
    pub fn setting(&self, name: &str) -> Option<&Field<String>> {
        self.settings
            .iter()
            .find(|(n, f)| *n == name && !f.value.is_empty())
            .map(|(_, f)| f)
    }

    /// The credential the provider uses, if any: the first present credential field in the
    /// provider's order.
    pub fn primary_credential(&self) -> Option<(&'static str, &Field<Secret>)> {
        self.kind
            .credential_fields()
            .into_iter()
            .find_map(|name| self.secret(name).map(|f| (name, f)))
    }
}

/// `token_validation`.
#[derive(Debug, Clone)]
pub struct TokenValidation {
    /// `enabled`.
    pub enabled: bool,
    /// `check_validity_before_use`.
    pub check_validity_before_use: bool,
    /// `auto_refresh_if_expired`.
    pub auto_refresh_if_expired: bool,
    /// `refresh_buffer_minutes`: a credential expiring within this is "expiring soon".
    pub refresh_buffer_minutes: u32,
    /// `provider_refresh_policies`.
    pub provider_refresh_policies: Vec<RefreshPolicy>,
}

impl Default for TokenValidation {
    fn default() -> Self {
        TokenValidation {
            enabled: true,
            check_validity_before_use: true,
            auto_refresh_if_expired: false,
            refresh_buffer_minutes: 5,
            provider_refresh_policies: Vec::new(),
        }
    }
}

/// One entry of `provider_refresh_policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPolicy {
    /// The provider id it applies to.
    pub provider: String,
    /// How long a fresh credential lives.
    pub lifetime: Option<Lifetime>,
    /// `refresh_method` (oauth, gh_cli, manual_only, ...).
    pub refresh_method: Option<String>,
}

/// A credential lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `lifetime_hours`.
    Hours(u32),
    /// `lifetime_days`.
    Days(u32),
    /// `infinite`.
    Infinite,
}

/// `dispatch_config`.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// `account_rotation`.
    pub account_rotation: Option<String>,
    /// `least_used_prioritization`.
    pub least_used_prioritization: bool,
    /// `weights`.
    pub weights: Weights,
    /// `fallback_chain`: provider ids in order.
    pub fallback_chain: Vec<String>,
    /// `chains`: named chains of provider ids (`xnai dispatch --chain NAME`).
    pub chains: Vec<(String, Vec<String>)>,
    /// `max_attempts`: attempts per dispatch (default 3).
    pub max_attempts: u32,
    /// `timeout_secs`: how long one attempt's agent may run before it is stopped (none by
    /// default: agent tasks can take hours).
    pub timeout_secs: Option<u32>,
    /// `latency_prior_ms`: the run time assumed for an account with no history and no prior of
    /// its own.
    pub latency_prior_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            account_rotation: None,
            least_used_prioritization: true,
            weights: Weights::default(),
            fallback_chain: Vec::new(),
            chains: Vec::new(),
            max_attempts: 3,
            timeout_secs: None,
            latency_prior_ms: 60_000,
        }
    }
}

/// An account's dispatch settings; each falls back to the provider kind's default.
#[derive(Debug, Clone, Default)]
pub struct AccountDispatch {
    /// `command`: the agent command, `{prompt}` standing for the prompt as one argument.
    pub command: Option<Vec<String>>,
    /// `max_concurrent`: runs at once on this account (unlimited when absent).
    pub max_concurrent: Option<u32>,
    /// `context_window`: tokens the account's model takes.
    pub context_window: Option<u64>,
    /// `latency_prior_ms`: the run time assumed before any run was measured.
    pub latency_prior_ms: Option<u64>,
    /// `failure_patterns`: more patterns, added to the kind's defaults.
    pub failure_patterns: FailurePatterns,
}

/// Case-insensitive substrings of an agent's output that classify a failed run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailurePatterns {
    /// `rate_limited`.
    pub rate_limited: Vec<String>,
    /// `quota_exhausted`.
    pub quota_exhausted: Vec<String>,
    /// `credential_rejected`.
    pub credential_rejected: Vec<String>,
}

/// Dispatch score weights; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Weight of remaining quota.
    pub quota: f64,
    /// Weight of measured latency.
    pub latency: f64,
    /// Weight of context fit.
    pub context_fit: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            quota: 0.4,
            latency: 0.3,
            context_fit: 0.3,
        }
    }
}

/// `quota_management`.
#[derive(Debug, Clone, Default)]
pub struct QuotaManagement {
    /// `audit_collection_time` (HH:MM).
    pub audit_collection_time: Option<String>,
    /// `timezone`.
    pub timezone: Option<String>,
    /// `alert_thresholds`.
    pub thresholds: Thresholds,
    /// `quotas`: limits per provider id.
    pub quotas: Vec<(String, Vec<QuotaLimit>)>,
}

/// Alert thresholds in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `warning_percentage`.
    pub warning: f64,
    /// `critical_percentage`.
    pub critical: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning: 80.0,
            critical: 90.0,
        }
    }
}

/// One quota limit.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaLimit {
    /// `limit`.
    pub limit: f64,
    /// `unit`.
    pub unit: QuotaUnit,
    /// `window`.
    pub window: QuotaWindow,
    /// `reset_day`: day of month for monthly windows.
    pub reset_day: Option<u8>,
    /// `reset`: a reset rule such as "sunday 00:00 UTC".
    pub reset: Option<String>,
    /// Line in the file.
    pub line: u32,
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaUnit {
    /// Tokens.
    Tokens,
    /// API requests.
    Requests,
    /// Chat messages (premium requests).
    Messages,
    /// Code completions.
    Completions,
    /// A percentage reported by the provider.
    Percent,
    /// Money, in US dollars.
    Usd,
}

impl QuotaUnit {
    /// Every unit with its name in the file.
    pub const ALL: &'static [(&'static str, QuotaUnit)] = &[
        ("tokens", QuotaUnit::Tokens),
        ("requests", QuotaUnit::Requests),
        ("messages", QuotaUnit::Messages),
        ("completions", QuotaUnit::Completions),
        ("percent", QuotaUnit::Percent),
        ("usd", QuotaUnit::Usd),
    ];

    /// The name used in the file and in reports.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, u)| *u == self)
            .map_or("tokens", |(n, _)| n)
    }
}

/// How a quota window is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaWindow {
    /// The last five hours.
    Rolling5h,
    /// A calendar day.
    Daily,
    /// A calendar week.
    Weekly,
    /// A calendar month.
    Monthly,
}

impl QuotaWindow {
    /// Every window with its name in the file.
    pub const ALL: &'static [(&'static str, QuotaWindow)] = &[
        ("rolling_5h", QuotaWindow::Rolling5h),
        ("daily", QuotaWindow::Daily),
        ("weekly", QuotaWindow::Weekly),
        ("monthly", QuotaWindow::Monthly),
    ];

    /// The name used in the file and in reports.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, w)| *w == self)
            .map_or("daily", |(n, _)| n)
    }
}

/// `security`.
#[derive(Debug, Clone)]
pub struct Security {
    /// `file_permissions` as written ("0600"). xnai always requires no group/other access.
    pub file_permissions: Option<String>,
    /// `external_api_calls`: whether live checks may contact providers.
    pub external_api_calls: bool,
    /// `local_storage_only`.
    pub local_storage_only: bool,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            file_permissions: None,
            external_api_calls: false,
            local_storage_only: true,
        }
    }
}

/// What kind of configuration problem occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file does not exist.
    NotFound,
    /// The file could not be read.
    Io,
    /// The file is readable by others or owned by someone else.
    Permissions,
    /// The YAML is malformed.
    Syntax,
    /// A key the schema does not know.
    UnknownKey,
    /// A value of the wrong type.
    WrongType,
    /// A value of the right type that is not allowed.
    InvalidValue,
    /// `${VAR}` with VAR unset and no default.
    MissingVariable,
}

/// A position in the credential file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0: unknown).
    pub line: u32,
    /// 1-based column (0: unknown).
    pub col: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.col > 0 {
                write!(f, ":{}", self.col)?;
            }
        }
        Ok(())
    }
}

/// A problem with the credential file. Never contains a secret value.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// What kind of problem.
    pub kind: ConfigErrorKind,
    /// Where, when known.
    pub location: Option<SourceLocation>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl ConfigError {
    /// An error about a whole file.
    pub fn file(
        kind: ConfigErrorKind,
        path: &Path,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        ConfigError {
            kind,
            location: Some(SourceLocation {
                path: path.to_path_buf(),
                line: 0,
                col: 0,
            }),
            message: message.into(),
            hint,
        }
    }
}
