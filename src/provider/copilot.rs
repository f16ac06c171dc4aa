//! GitHub Copilot: GitHub OAuth / user-to-server tokens with a CRC32 checksum.
//!
//! The instance is a gh config directory (`GH_CONFIG_DIR=<instance>/gh`) whose `hosts.yml`
//! holds the account's token, in the layout both old gh (top-level `oauth_token`/`user`) and
//! gh ≥ 2.40 (`users:` map) read. The token is also exported as `GH_TOKEN`, `GITHUB_TOKEN` and
//! `COPILOT_GITHUB_TOKEN` (the GitHub Copilot CLI's first choice), or `GH_ENTERPRISE_TOKEN`
//! with `GH_HOST` for a GitHub Enterprise host. `COPILOT_HOME=<instance>/copilot` keeps the
//! Copilot CLI's own state and session logs per account.

use std::path::PathBuf;

use super::{
    EnvLookup, EnvVar, FieldSpec, ImportSource, Inspection, NativeError, NativeLogin, Problem,
    ProblemKind, Provider, from_format, inspect_first_present,
};
use crate::config::Account;
use crate::config::yaml::{self, Value};
use crate::instance::{Instance, fingerprint};
use crate::secret::Secret;
use crate::token;

/// GitHub Copilot.
#[derive(Debug)]
pub struct Copilot;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::text("github_user"),
    FieldSpec::text("github_host"),
];

const HOSTS_FILE: &str = "gh/hosts.yml";
const DEFAULT_HOST: &str = "github.com";

fn config_home(env: &EnvLookup) -> Option<PathBuf> {
    env("XDG_CONFIG_HOME")
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))
}

fn default_gh_hosts(env: &EnvLookup) -> Option<PathBuf> {
    match env("GH_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("hosts.yml")),
        None => Some(config_home(env)?.join("gh/hosts.yml")),
    }
}

fn default_copilot_apps(env: &EnvLookup) -> Option<PathBuf> {
    let dir = config_home(env)?.join("github-copilot");
    // Newer Copilot plugins write apps.json; older ones hosts.json.
    let apps = dir.join("apps.json");
    if apps.exists() {
        Some(apps)
    } else {
        Some(dir.join("hosts.json"))
    }
}

const IMPORTS: &[ImportSource] = &[
    ImportSource {
        tool: "gh",
        description: "GitHub CLI's hosts.yml ($GH_CONFIG_DIR or ~/.config/gh)",
        default_path: default_gh_hosts,
        parse: parse_hosts_yml,
        copy_verbatim: false,
    },
    ImportSource {
        tool: "github-copilot",
        description: "the Copilot editor plugins' apps.json or hosts.json (~/.config/github-copilot)",
        default_path: default_copilot_apps,
        parse: parse_copilot_apps,
        copy_verbatim: false,
    },
];

fn login_of(host: &str, user: Option<String>, token: String) -> NativeLogin {
    let mut l = NativeLogin {
        description: match &user {
            Some(u) => format!("{u} on {host}"),
            None => format!("a token for {host}"),
        },
        ..NativeLogin::default()
    };
    l.secrets.push(("oauth_token", Secret::new(token)));
    if let Some(u) = user {
        l.settings.push(("github_user", u));
    }
    if host != DEFAULT_HOST {
        l.settings.push(("github_host", host.to_string()));
    }
    l
}

/// Reads gh's hosts.yml: github.com (or the only host), its active `user`, and that user's
/// token (top level in old gh, under `users:` in new gh).
fn parse_hosts_yml(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| NativeError::new("hosts.yml is not UTF-8"))?;
    let root = yaml::parse(text).map_err(|e| NativeError {
        line: Some(e.line as usize),
        column: Some(e.col as usize),
        message: format!("hosts.yml is not valid YAML: {}", e.message),
    })?;
    let Value::Map(hosts) = &root.value else {
        return Err(NativeError::new(
            "hosts.yml holds no hosts (run `gh auth login`)",
        ));
    };
    let (host, entry) = hosts
        .iter()
        .find(|(k, _)| k.name == DEFAULT_HOST)
        .or_else(|| (hosts.len() == 1).then(|| &hosts[0]))
        .map(|(k, v)| (k.name.clone(), v))
        .ok_or_else(|| NativeError::new("hosts.yml has several hosts and none is github.com"))?;
    let get = |node: &yaml::Node, key: &str| -> Option<String> {
        match &node.value {
            Value::Map(m) => {
                m.iter()
                    .find(|(k, _)| k.name == key)
                    .and_then(|(_, v)| match &v.value {
                        Value::Str(s) => Some(s.to_string()),
                        _ => None,
                    })
            }
            _ => None,
        }
    };
    let user = get(entry, "user");
    let from_users = || -> Option<String> {
        let Value::Map(m) = &entry.value else {
            return None;
        };
        let (_, users) = m.iter().find(|(k, _)| k.name == "users")?;
        let Value::Map(um) = &users.value else {
            return None;
        };
        let (_, u) = match &user {
            Some(name) => um.iter().find(|(k, _)| &k.name == name)?,
            None => um.first()?,
        };
        get(u, "oauth_token")
    };
    let token = get(entry, "oauth_token")
        .or_else(from_users)
        .ok_or_else(|| NativeError {
            line: Some(entry.line as usize),
            column: Some(entry.col as usize),
            message: format!(
                "{host} has no oauth_token in hosts.yml: gh keeps it in the system keyring; \
                 log in again with `gh auth login --insecure-storage`, or use `xnai login`"
            ),
        })?;
    Ok(login_of(&host, user, token))
}

/// Reads the Copilot plugins' apps.json / hosts.json:
/// `{"github.com[:app id]": {"user": ..., "oauth_token": ...}}`.
fn parse_copilot_apps(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| NativeError::json(&e, "the Copilot apps file"))?;
    let (key, entry) = v
        .iter()
        .find(|(k, _)| k.split(':').next() == Some(DEFAULT_HOST))
        .or_else(|| v.iter().next())
        .ok_or_else(|| NativeError::new("the Copilot apps file holds no login"))?;
    let host = key.split(':').next().unwrap_or(DEFAULT_HOST);
    let token = entry
        .get("oauth_token")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| NativeError::new(format!("{key} has no oauth_token")))?;
    let user = entry
        .get("user")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    Ok(login_of(host, user, token.to_string()))
}

/// Quotes a YAML scalar as JSON, which YAML reads identically.
fn yq(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl Provider for Copilot {
    fn id(&self) -> &'static str {
        "copilot"
    }
    fn display_name(&self) -> &'static str {
        "GitHub Copilot"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn inspect(&self, account: &Account) -> Inspection {
        inspect_first_present(account, self, |_, value| {
            let mut ins = from_format(token::github::check(value));
            // Refresh tokens carry a valid checksum but cannot call the API.
            if ins.problem.is_none() && value.starts_with("ghr_") {
                ins.problem = Some(Problem::new(
                    ProblemKind::InvalidFormat,
                    "GitHub refresh token (ghr_): checksum ok, but it is not an access token; \
                     store the ghu_/gho_ access token as oauth_token",
                ));
            }
            ins
        })
    }
    fn agent_command(&self) -> Option<&'static [&'static str]> {
        Some(&["copilot", "--prompt={prompt}"])
    }
    fn context_window(&self) -> Option<u64> {
        Some(128_000)
    }
    fn failure_patterns(&self) -> &'static [(crate::dispatch::Failure, &'static str)] {
        use crate::dispatch::Failure;
        &[
            (Failure::QuotaExhausted, "premium requests"),
            (Failure::CredentialRejected, "bad credentials"),
        ]
    }
    fn instance_dirs(&self) -> &'static [&'static str] {
        &["gh", "copilot"]
    }
    fn credential_file(&self) -> Option<&'static str> {
        Some(HOSTS_FILE)
    }
    fn render_login(&self, login: &NativeLogin) -> Result<Vec<u8>, String> {
        let token = login
            .secret("oauth_token")
            .ok_or("the account has no oauth_token")?;
        let host = login.setting("github_host").unwrap_or(DEFAULT_HOST);
        let user = login.setting("github_user");
        let t = yq(token.expose());
        let mut y = format!("{}:\n", yq(host));
        if let Some(u) = user {
            y.push_str(&format!(
                "    users:\n        {}:\n            oauth_token: {t}\n    user: {}\n",
                yq(u),
                yq(u)
            ));
        }
        y.push_str(&format!("    oauth_token: {t}\n    git_protocol: https\n"));
        Ok(y.into_bytes())
    }
    fn environment(&self, account: &Account, instance: &Instance) -> Vec<EnvVar> {
        // gh reads GH_CONFIG_DIR; the Copilot CLI keeps its own login and session logs in
        // COPILOT_HOME (and falls back to gh's token).
        let mut v = vec![
            EnvVar::path("GH_CONFIG_DIR", &instance.path("gh")),
            EnvVar::path("COPILOT_HOME", &instance.path("copilot")),
        ];
        let Some(token) = account.secret("oauth_token") else {
            return v;
        };
        match account.setting("github_host").map(|f| f.value.as_str()) {
            Some(host) if host != DEFAULT_HOST => {
                v.push(EnvVar::plain("GH_HOST", host));
                v.push(EnvVar::secret("GH_ENTERPRISE_TOKEN", &token.value));
            }
            _ => {
                v.push(EnvVar::secret("GH_TOKEN", &token.value));
                v.push(EnvVar::secret("GITHUB_TOKEN", &token.value));
            }
        }
        v.push(EnvVar::secret("COPILOT_GITHUB_TOKEN", &token.value));
        v
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        &[
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "COPILOT_GITHUB_TOKEN",
            "GH_ENTERPRISE_TOKEN",
            "GITHUB_ENTERPRISE_TOKEN",
            "GH_HOST",
        ]
    }
    fn login_command(&self) -> Option<&'static [&'static str]> {
        // gh ≥ 2.40 keeps new logins in the system keyring unless told otherwise; parsing the
        // result explains that case (`--insecure-storage`), older gh writes hosts.yml.
        Some(&["gh", "auth", "login"])
    }
    fn identity(&self, login: &NativeLogin) -> Vec<String> {
        let mut ids = super::secret_fingerprints(login);
        if let Some(user) = login.setting("github_user") {
            let host = login.setting("github_host").unwrap_or(DEFAULT_HOST);
            ids.push(fingerprint(format!("github:{host}:{user}").as_bytes()));
        }
        ids
    }
    fn usage_home(&self, instance: &Instance) -> Option<std::path::PathBuf> {
        Some(instance.path("copilot"))
    }
    fn usage_sources(&self, home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        vec![crate::usage::scan::Source {
            root: home.join("session-state"),
            format: &crate::usage::copilot::FORMAT,
        }]
    }
    fn import_sources(&self) -> &'static [ImportSource] {
        IMPORTS
    }
    fn parse_native(&self, bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        parse_hosts_yml(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_old_and_new_hosts_yml() {
        // The real-format fixture: new gh with both the users map and the top-level token.
        let fixture = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/real/copilot-cli/quotaglance-gh-hosts.yml"),
        )
        .expect("fixture");
        let l = parse_hosts_yml(&fixture).expect("parse");
        assert_eq!(
            l.secret("oauth_token").map(|s| s.expose()),
            Some("gho_cliToken0123456789")
        );
        assert_eq!(l.setting("github_user"), Some("octocat"));
        assert_eq!(l.setting("github_host"), None);
        // gh >= 2.40 with the token only under users:
        let l = parse_hosts_yml(
            b"github.com:\n    users:\n        me:\n            oauth_token: gho_u\n    user: me\n",
        )
        .expect("parse");
        assert_eq!(l.secret("oauth_token").map(|s| s.expose()), Some("gho_u"));
        // Keyring storage: no token in the file.
        let e = parse_hosts_yml(b"github.com:\n    user: me\n    git_protocol: https\n")
            .expect_err("keyring");
        assert!(e.message.contains("system keyring"), "{e:?}");
        // A single enterprise host.
        let l = parse_hosts_yml(b"ghe.corp:\n    oauth_token: gho_e\n    user: me\n").expect("ghe");
        assert_eq!(l.setting("github_host"), Some("ghe.corp"));
    }

    #[test]
    fn rendered_hosts_yml_reads_back() {
        let l =
            parse_hosts_yml(b"github.com:\n    oauth_token: \"gho_x'y\"\n    user: \"we: ird\"\n")
                .expect("parse");
        let bytes = Copilot.render_login(&l).expect("render");
        let again = parse_hosts_yml(&bytes).expect("reparse");
        assert_eq!(
            again.secret("oauth_token").map(|s| s.expose()),
            Some("gho_x'y")
        );
        assert_eq!(again.setting("github_user"), Some("we: ird"));
    }

    #[test]
    fn reads_copilot_apps_json() {
        let l = parse_copilot_apps(br#"{"github.com:Iv1.b507a08c87ecfe98":{"user":"octo","oauth_token":"ghu_t","githubAppId":"Iv1.b507a08c87ecfe98"}}"#).expect("apps");
        assert_eq!(l.secret("oauth_token").map(|s| s.expose()), Some("ghu_t"));
        assert_eq!(l.setting("github_user"), Some("octo"));
        assert_eq!(l.description, "octo on github.com");
    }
}
