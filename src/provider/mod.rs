//! Providers: everything that differs between OpenCode, Copilot, Claude Code, ... lives behind
//! the [`Provider`] trait, one file per kind. The rest of xnai asks the trait and never matches
//! on a provider's name.

mod claude;
mod cline;
mod codex;
mod copilot;
mod gemini;
mod local_llm;
mod opencode;
mod xnai_iam;

use jiff::Timestamp;

use crate::config::Account;
use crate::instance::{Instance, NativeFile};
use crate::secret::Secret;

/// The type of an account field a provider adds to the common schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text.
    Text,
    /// A credential: held in a [`crate::secret::Secret`], masked everywhere.
    Secret,
    /// A file path; relative paths are resolved against the credential file's directory.
    Path,
}

/// One account field a provider understands beyond the common ones.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The key in the credential file.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
}

impl FieldSpec {
    /// A credential field.
    pub const fn secret(name: &'static str) -> Self {
        FieldSpec {
            name,
            ty: FieldType::Secret,
        }
    }
    /// A text field.
    pub const fn text(name: &'static str) -> Self {
        FieldSpec {
            name,
            ty: FieldType::Text,
        }
    }
    /// A path field.
    pub const fn path(name: &'static str) -> Self {
        FieldSpec {
            name,
            ty: FieldType::Path,
        }
    }
}

/// What was learned about an account's credential without contacting anybody.
#[derive(Debug, Default)]
pub struct Inspection {
    /// The field that was inspected (`oauth_token`, `api_key`, ...).
    pub field: Option<&'static str>,
    /// What the credential was recognised as, e.g. "Anthropic API key (sk-ant-api03)".
    pub recognised: Option<String>,
    /// A problem that makes the credential unusable or unconfirmed.
    pub problem: Option<Problem>,
    /// Expiry carried by the token itself (a JWT's `exp`).
    pub token_expires_at: Option<Timestamp>,
    /// Start of validity carried by the token itself (a JWT's `nbf`).
    pub not_before: Option<Timestamp>,
    /// Extra facts for `check -v` (algorithm, claims, key used). Never secret values.
    pub details: Vec<(String, String)>,
}

/// Why a credential is not simply valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The resulting state.
    pub state: ProblemKind,
    /// Why, in words; never contains the secret.
    pub message: String,
}

/// The kinds of problem an inspection can find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// No credential, or an empty one.
    Empty,
    /// Not in the provider's token format (wrong prefix, length, checksum, JSON, ...).
    InvalidFormat,
    /// A JWT whose signature does not verify with the configured key.
    InvalidSignature,
    /// Well-formed, but its signature could not be checked (no key configured).
    Unverifiable,
    /// The check itself failed, for instance a configured key file could not be read.
    Error,
}

impl Problem {
    /// Builds a problem.
    pub fn new(state: ProblemKind, message: impl Into<String>) -> Self {
        Problem {
            state,
            message: message.into(),
        }
    }
}

impl Inspection {
    /// An inspection of `field` that found `problem`.
    pub fn problem(
        field: Option<&'static str>,
        kind: ProblemKind,
        message: impl Into<String>,
    ) -> Self {
        Inspection {
            field,
            problem: Some(Problem::new(kind, message)),
            ..Inspection::default()
        }
    }
}

/// A login read from a tool's own credential file: the account fields it provides.
#[derive(Debug, Default)]
pub struct NativeLogin {
    /// Credential fields (`oauth_token`, `refresh_token`, ...).
    pub secrets: Vec<(&'static str, Secret)>,
    /// Other fields (`github_user`, `account_id`, ...).
    pub settings: Vec<(&'static str, String)>,
    /// When the access credential expires, if the file says.
    pub expires_at: Option<Timestamp>,
    /// The upstream identity provider (the account's `provider:` field), e.g. `google`.
    pub upstream: Option<String>,
    /// What it is, for people ("octocat on github.com"); never a secret.
    pub description: String,
}

impl NativeLogin {
    /// The login an account's fields describe.
    pub fn from_account(account: &Account) -> NativeLogin {
        NativeLogin {
            secrets: account
                .secrets
                .iter()
                .filter(|(_, f)| !f.value.is_blank())
                .map(|(n, f)| (*n, f.value.clone()))
                .collect(),
            settings: account
                .settings
                .iter()
                .map(|(n, f)| (*n, f.value.clone()))
                .collect(),
            expires_at: account.token_expiry.as_ref().map(|f| f.value),
            upstream: account.upstream.clone(),
            description: account.label(),
        }
    }

    /// A credential field of the login.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }

    /// A text field of the login.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.as_str())
    }
}

/// Why a native credential file could not be read. Positions only, never file contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl NativeError {
    /// An error without a position.
    pub fn new(message: impl Into<String>) -> Self {
        NativeError {
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A JSON syntax or shape error, keeping only its position: serde's own message can quote
    /// the file's values.
    pub fn json(e: &serde_json::Error, what: &str) -> Self {
        NativeError {
            line: Some(e.line()),
            column: Some(e.column()),
            message: match e.classify() {
                serde_json::error::Category::Io => format!("{what} could not be read"),
                serde_json::error::Category::Eof => format!("{what} ends too early (truncated?)"),
                serde_json::error::Category::Syntax => format!("{what} is not valid JSON"),
                serde_json::error::Category::Data => {
                    format!("{what} does not have the expected fields")
                }
            },
        }
    }

    /// `path:line:col: message`.
    pub fn at(&self, path: &std::path::Path) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: {}", path.display(), self.message),
            (Some(l), None) => format!("{}:{l}: {}", path.display(), self.message),
            _ => format!("{}: {}", path.display(), self.message),
        }
    }
}

/// An environment variable for an instance.
#[derive(Debug, Clone)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: EnvValue,
}

/// An environment value: plain (a directory) or a credential.
#[derive(Debug, Clone)]
pub enum EnvValue {
    /// Not secret.
    Plain(String),
    /// A credential.
    Secret(Secret),
}

impl EnvVar {
    /// A plain variable.
    pub fn plain(name: &str, value: impl Into<String>) -> Self {
        EnvVar {
            name: name.to_string(),
            value: EnvValue::Plain(value.into()),
        }
    }

    /// A path variable.
    pub fn path(name: &str, value: &std::path::Path) -> Self {
        EnvVar::plain(name, value.to_string_lossy().into_owned())
    }

    /// A credential variable.
    pub fn secret(name: &str, value: &Secret) -> Self {
        EnvVar {
            name: name.to_string(),
            value: EnvValue::Secret(value.clone()),
        }
    }

    /// The value, exposed: for the child's environment and `xnai env` only.
    pub fn expose(&self) -> &str {
        match &self.value {
            EnvValue::Plain(s) => s,
            EnvValue::Secret(s) => s.expose(),
        }
    }
}

/// A lookup in the environment (the process's in production, a map in tests).
pub type EnvLookup = dyn Fn(&str) -> Option<String>;

/// A login `xnai import` can read from a tool.
pub struct ImportSource {
    /// The tool name on the command line (`gh`, `claude`, ...).
    pub tool: &'static str,
    /// What the file is, for help and messages.
    pub description: &'static str,
    /// Where the tool keeps it, from the environment (HOME and the tool's own variables).
    pub default_path: fn(&EnvLookup) -> Option<std::path::PathBuf>,
    /// Reads it.
    pub parse: fn(&[u8]) -> Result<NativeLogin, NativeError>,
    /// Whether the file is copied into the instance as is (it is then the tool-owned
    /// [`Provider::credential_file`]); otherwise the instance file is rendered from the login.
    pub copy_verbatim: bool,
}

impl std::fmt::Debug for ImportSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSource")
            .field("tool", &self.tool)
            .finish_non_exhaustive()
    }
}

/// Everything provider-specific. One implementation per kind, in this directory.
pub trait Provider: Sync + Send + std::fmt::Debug {
    /// The kind's id, which is also the default provider id in the credential file.
    fn id(&self) -> &'static str;

    /// A name for people.
    fn display_name(&self) -> &'static str;

    /// Fields this kind adds to the common account schema (credentials first, in the order
    /// they are tried).
    fn account_fields(&self) -> &'static [FieldSpec];

    /// The credential fields, in the order they are tried. Defaults to every secret field.
    fn credential_fields(&self) -> Vec<&'static str> {
        self.account_fields()
            .iter()
            .filter(|f| f.ty == FieldType::Secret)
            .map(|f| f.name)
            .collect()
    }

    /// Whether an account of this kind needs a credential at all.
    fn needs_credential(&self) -> bool {
        true
    }

    /// Validates the account's credential offline: format, checksum, signature, embedded
    /// expiry. Expiry from `token_expiry` and the refresh buffer are applied by the caller.
    fn inspect(&self, account: &Account) -> Inspection;

    /// The tool's own login file inside an instance (relative path), when it keeps one. For
    /// an account whose `credential_file` is this file, the tool owns it and xnai never
    /// rewrites it.
    fn credential_file(&self) -> Option<&'static str> {
        None
    }

    /// The contents of [`Provider::credential_file`] for a login, for accounts written in the
    /// credential file and for imports that are not copied as they are.
    fn render_login(&self, _login: &NativeLogin) -> Result<Vec<u8>, String> {
        Err(format!(
            "xnai cannot write {} credential files",
            self.display_name()
        ))
    }

    /// Directories the tool expects to exist in an instance (Codex refuses a missing
    /// `CODEX_HOME`), created 0700 before the tool runs.
    fn instance_dirs(&self) -> &'static [&'static str] {
        &[]
    }

    /// Files the tool needs in an instance for `account`: by default its credential file,
    /// rendered from the account's fields.
    fn native_files(&self, account: &Account) -> Result<Vec<NativeFile>, String> {
        let Some(rel) = self.credential_file() else {
            return Ok(Vec::new());
        };
        let login = NativeLogin::from_account(account);
        if login.secrets.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![NativeFile {
            rel: rel.into(),
            contents: zeroize::Zeroizing::new(self.render_login(&login)?),
        }])
    }

    /// Variables that point the tool at the instance and pass the credential.
    fn environment(&self, _account: &Account, _instance: &Instance) -> Vec<EnvVar> {
        Vec::new()
    }

    /// Variables of the caller's environment that would make the tool use another login
    /// than the instance's (a personal `ANTHROPIC_API_KEY`, say); removed unless set above.
    fn conflicting_env(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the caller's variable `name` would make the tool use another login; by default
    /// the names in [`Provider::conflicting_env`].
    fn conflicts_with(&self, name: &str) -> bool {
        self.conflicting_env().contains(&name)
    }

    /// The agent command `xnai dispatch` runs for this kind, `{prompt}` standing for the task
    /// as one argument; `None` when the kind has no headless agent (`command:` is then needed).
    /// The prompt follows `--` or sits inside `--prompt=`, so one starting with `-` (a diff)
    /// is never taken for an option.
    fn agent_command(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Context window, in tokens, of the kind's usual model when the account does not say.
    fn context_window(&self) -> Option<u64> {
        None
    }

    /// Output patterns, beyond the common ones, that classify this kind's failed runs.
    fn failure_patterns(&self) -> &'static [(crate::dispatch::Failure, &'static str)] {
        &[]
    }

    /// The tool's own login command, run inside the instance by `xnai login`.
    fn login_command(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Hashed facts that identify a login, to notice the same login imported twice: by
    /// default its credentials (the same token is the same login).
    fn identity(&self, login: &NativeLogin) -> Vec<String> {
        secret_fingerprints(login)
    }

    /// Where the tool writes its session logs inside an instance (its home), if it does.
    fn usage_home(&self, _instance: &Instance) -> Option<std::path::PathBuf> {
        None
    }

    /// The log directories under a tool home (an instance's, or one in `usage_paths`), each
    /// with its format.
    fn usage_sources(&self, _home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        Vec::new()
    }

    /// Logins `xnai import` can take from this tool.
    fn import_sources(&self) -> &'static [ImportSource] {
        &[]
    }

    /// Reads the tool's own credential file (the format of [`Provider::credential_file`]) for
    /// an account with `credential_file:`.
    fn parse_native(&self, _bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        Err(NativeError::new(format!(
            "xnai cannot read {} credential files",
            self.display_name()
        )))
    }
}

/// Every provider kind xnai knows, in the order they are listed to users.
pub static ALL: &[&dyn Provider] = &[
    &opencode::OpenCode,
    &copilot::Copilot,
    &cline::Cline,
    &xnai_iam::XnaiIam,
    &claude::Claude,
    &codex::Codex,
    &gemini::Gemini,
    &local_llm::LocalLlm,
];

/// The provider kind with this id.
pub fn by_id(id: &str) -> Option<&'static dyn Provider> {
    ALL.iter().copied().find(|p| p.id() == id)
}

/// Every kind id, for messages.
pub fn kind_ids() -> Vec<&'static str> {
    ALL.iter().map(|p| p.id()).collect()
}

/// Inspects the first credential field that is present, in the provider's order. Shared by
/// providers whose credential is a single token checked by a format function.
pub(crate) fn inspect_first_present(
    account: &Account,
    provider: &dyn Provider,
    check: impl Fn(&'static str, &str) -> Inspection,
) -> Inspection {
    for field in provider.credential_fields() {
        if let Some(secret) = account.secret(field) {
            if secret.value.is_blank() {
                return Inspection::problem(
                    Some(field),
                    ProblemKind::Empty,
                    format!("{field} is empty"),
                );
            }
            if let Some(reason) = stray_characters(secret.value.expose()) {
                return Inspection::problem(
                    Some(field),
                    ProblemKind::InvalidFormat,
                    format!("{field} {reason}"),
                );
            }
            let mut ins = check(field, secret.value.expose());
            ins.field = Some(field);
            return ins;
        }
    }
    Inspection::problem(
        None,
        ProblemKind::Empty,
        format!(
            "no credential configured (expected {})",
            provider.credential_fields().join(" or ")
        ),
    )
}

/// Whitespace or invisible characters a copy-paste can add around or inside a token. No
/// provider's token contains them, and they make every format message below misleading.
fn stray_characters(value: &str) -> Option<String> {
    if value.starts_with(char::is_whitespace) {
        return Some("starts with whitespace (a copy-paste slip? remove it)".to_string());
    }
    if value.ends_with(char::is_whitespace) {
        return Some("ends with whitespace (a copy-paste slip? remove it)".to_string());
    }
    value
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_whitespace() || c.is_control() || crate::output::is_invisible(*c))
        .map(|(i, c)| {
            format!(
                "contains {} at character {} (a copy-paste slip? remove it)",
                match c {
                    '\u{FEFF}' => "a byte-order mark (U+FEFF)".to_string(),
                    c if c.is_whitespace() => format!("whitespace (U+{:04X})", c as u32),
                    c => format!("an invisible character (U+{:04X})", c as u32),
                },
                i + 1
            )
        })
}

/// Fingerprints of every credential of a login.
pub fn secret_fingerprints(login: &NativeLogin) -> Vec<String> {
    login
        .secrets
        .iter()
        .filter(|(_, s)| !s.is_blank())
        .map(|(_, s)| crate::instance::fingerprint(s.expose().as_bytes()))
        .collect()
}

/// Turns a token-format result into an inspection.
pub(crate) fn from_format(result: Result<String, String>) -> Inspection {
    match result {
        Ok(recognised) => Inspection {
            recognised: Some(recognised),
            ..Inspection::default()
        },
        Err(reason) => Inspection {
            problem: Some(Problem::new(ProblemKind::InvalidFormat, reason)),
            ..Inspection::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::stray_characters;

    #[test]
    fn stray_characters_are_named_with_their_position() {
        assert_eq!(stray_characters("ghp_abc"), None);
        assert_eq!(
            stray_characters(" ghp_abc").as_deref(),
            Some("starts with whitespace (a copy-paste slip? remove it)")
        );
        assert_eq!(
            stray_characters("ghp_abc\n").as_deref(),
            Some("ends with whitespace (a copy-paste slip? remove it)")
        );
        assert_eq!(
            stray_characters("ghp_a\u{200B}bc").as_deref(),
            Some(
                "contains an invisible character (U+200B) at character 6 (a copy-paste slip? remove it)"
            )
        );
        assert_eq!(
            stray_characters("\u{FEFF}ghp").as_deref(),
            Some(
                "contains a byte-order mark (U+FEFF) at character 1 (a copy-paste slip? remove it)"
            )
        );
        assert_eq!(
            stray_characters("ghp\u{00A0}x").as_deref(),
            Some("contains whitespace (U+00A0) at character 4 (a copy-paste slip? remove it)")
        );
    }
}
