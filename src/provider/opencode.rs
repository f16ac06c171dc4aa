//! OpenCode, including Antigravity accounts (Google OAuth through an OpenCode plugin).
//!
//! OpenCode keeps its logins in `$XDG_DATA_HOME/opencode/auth.json`, a map from its provider id
//! to `{"type": "oauth", "refresh", "access", "expires" (ms)}` or `{"type": "api", "key"}`;
//! `opencode auth list` prints that file's providers. An instance sets `XDG_DATA_HOME` to
//! `<instance>/data`, which also keeps the account's sessions (its usage logs) apart.

use serde_json::{Map, Value, json};

use super::{
    EnvLookup, EnvVar, FieldSpec, ImportSource, Inspection, NativeError, NativeLogin, Provider,
    from_format, inspect_first_present,
};
use crate::config::Account;
use crate::instance::Instance;
use crate::secret::Secret;
use crate::token;

/// OpenCode / Antigravity.
#[derive(Debug)]
pub struct OpenCode;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::secret("api_key"),
    FieldSpec::secret("refresh_token"),
];

const AUTH_FILE: &str = "data/opencode/auth.json";

fn default_auth_path(env: &EnvLookup) -> Option<std::path::PathBuf> {
    let data = env("XDG_DATA_HOME")
        .filter(|v| v.starts_with('/'))
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share")))?;
    Some(data.join("opencode/auth.json"))
}

const IMPORTS: &[ImportSource] = &[ImportSource {
    tool: "opencode",
    description: "OpenCode's auth.json ($XDG_DATA_HOME/opencode/auth.json)",
    default_path: default_auth_path,
    parse: parse_auth_json,
    copy_verbatim: true,
}];

/// The provider id OpenCode files an API key under, from the key's prefix.
fn api_provider_for(key: &str) -> &'static str {
    if key.starts_with("sk-ant-") {
        "anthropic"
    } else if key.starts_with("AIza") {
        "google"
    } else {
        "openai"
    }
}

/// Reads auth.json. The account's credential is its Google OAuth login when there is one (the
/// Antigravity case), else its first OAuth login, else its first API key.
fn parse_auth_json(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let v: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| NativeError::json(&e, "OpenCode auth.json"))?;
    let str_of = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    let oauth = v
        .get_key_value("google")
        .filter(|(_, e)| e.get("type").and_then(Value::as_str) == Some("oauth"))
        .or_else(|| {
            v.iter()
                .find(|(_, e)| e.get("type").and_then(Value::as_str) == Some("oauth"))
        });
    let mut login = NativeLogin::default();
    if let Some((pid, e)) = oauth {
        let access = str_of(e, "access")
            .ok_or_else(|| NativeError::new(format!("auth.json: {pid} has no access token")))?;
        login.secrets.push(("oauth_token", Secret::new(access)));
        if let Some(r) = str_of(e, "refresh").filter(|r| !r.is_empty()) {
            login.secrets.push(("refresh_token", Secret::new(r)));
        }
        login.expires_at = e
            .get("expires")
            .and_then(Value::as_i64)
            .filter(|ms| *ms > 0)
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
        login.upstream = Some(pid.clone());
        login.description = format!("{pid} OAuth login");
    } else if let Some((pid, e)) = v
        .iter()
        .find(|(_, e)| e.get("type").and_then(Value::as_str) == Some("api"))
    {
        let key = str_of(e, "key")
            .ok_or_else(|| NativeError::new(format!("auth.json: {pid} has no key")))?;
        login.secrets.push(("api_key", Secret::new(key)));
        login.upstream = Some(pid.clone());
        login.description = format!("{pid} API key");
    } else {
        return Err(NativeError::new(
            "auth.json holds no OAuth login or API key (run `opencode auth login`)",
        ));
    }
    Ok(login)
}

impl Provider for OpenCode {
    fn id(&self) -> &'static str {
        "opencode"
    }
    fn display_name(&self) -> &'static str {
        "OpenCode / Antigravity"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn credential_fields(&self) -> Vec<&'static str> {
        vec!["oauth_token", "api_key"]
    }
    fn inspect(&self, account: &Account) -> Inspection {
        inspect_first_present(account, self, |field, value| match field {
            "oauth_token" => from_format(token::google::check_access_token(value)),
            _ => from_format(token::check_any_api_key(value)),
        })
    }
    fn agent_command(&self) -> Option<&'static [&'static str]> {
        Some(&["opencode", "run", "--", "{prompt}"])
    }
    fn context_window(&self) -> Option<u64> {
        Some(200_000)
    }
    fn instance_dirs(&self) -> &'static [&'static str] {
        &["data"]
    }
    fn credential_file(&self) -> Option<&'static str> {
        Some(AUTH_FILE)
    }
    fn render_login(&self, login: &NativeLogin) -> Result<Vec<u8>, String> {
        let mut map = Map::new();
        if let Some(access) = login.secret("oauth_token") {
            let pid = login
                .upstream
                .clone()
                .unwrap_or_else(|| "google".to_string());
            map.insert(
                pid,
                json!({
                    "type": "oauth",
                    "refresh": login.secret("refresh_token").map(|s| s.expose()).unwrap_or(""),
                    "access": access.expose(),
                    "expires": login.expires_at.map(|t| t.as_millisecond()).unwrap_or(0),
                }),
            );
        } else if let Some(key) = login.secret("api_key") {
            let pid = login
                .upstream
                .clone()
                .unwrap_or_else(|| api_provider_for(key.expose()).to_string());
            map.insert(pid, json!({"type": "api", "key": key.expose()}));
        }
        serde_json::to_vec_pretty(&Value::Object(map)).map_err(|e| e.to_string())
    }
    fn environment(&self, _account: &Account, instance: &Instance) -> Vec<EnvVar> {
        vec![EnvVar::path("XDG_DATA_HOME", &instance.path("data"))]
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        // OpenCode prefers these over auth.json: a personal key would replace the account's.
        &[
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "GOOGLE_GENERATIVE_AI_API_KEY",
        ]
    }
    fn conflicts_with(&self, name: &str) -> bool {
        // OpenCode picks up any provider's key from the environment (OPENROUTER_API_KEY,
        // XAI_API_KEY, ...), listed beside auth.json's logins.
        self.conflicting_env().contains(&name) || name.ends_with("_API_KEY")
    }
    fn login_command(&self) -> Option<&'static [&'static str]> {
        Some(&["opencode", "auth", "login"])
    }
    fn usage_home(&self, instance: &Instance) -> Option<std::path::PathBuf> {
        Some(instance.path("data/opencode"))
    }
    fn usage_sources(&self, home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        vec![
            crate::usage::scan::Source {
                root: home.join("storage/message"),
                format: &crate::usage::opencode::STORAGE,
            },
            crate::usage::scan::Source {
                root: home.join("opencode.db"),
                format: &crate::usage::opencode::DB,
            },
        ]
    }
    fn import_sources(&self) -> &'static [ImportSource] {
        IMPORTS
    }
    fn parse_native(&self, bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        parse_auth_json(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_format() {
        let l = parse_auth_json(
            br#"{"anthropic":{"type":"api","key":"sk-ant-x"},"google":{"type":"oauth","refresh":"1//r","access":"ya29.a","expires":1830211200000}}"#,
        )
        .expect("parse");
        assert_eq!(l.secret("oauth_token").map(|s| s.expose()), Some("ya29.a"));
        assert_eq!(l.secret("refresh_token").map(|s| s.expose()), Some("1//r"));
        assert_eq!(l.upstream.as_deref(), Some("google"));
        assert_eq!(l.expires_at.map(|t| t.as_second()), Some(1_830_211_200));
        // The fixture from another project: an API key only.
        let fixture = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/real/opencode/crewbeacon-auth.json"),
        )
        .expect("fixture");
        let l = parse_auth_json(&fixture).expect("parse");
        assert_eq!(
            l.secret("api_key").map(|s| s.expose()),
            Some("test-opencode-go-key")
        );
        assert_eq!(l.upstream.as_deref(), Some("opencode-go"));
    }

    #[test]
    fn round_trips_through_render() {
        let l = parse_auth_json(
            br#"{"google":{"type":"oauth","refresh":"1//r","access":"ya29.a","expires":1830211200000}}"#,
        )
        .expect("parse");
        let bytes = OpenCode.render_login(&l).expect("render");
        let again = parse_auth_json(&bytes).expect("reparse");
        assert_eq!(
            again.secret("oauth_token").map(|s| s.expose()),
            Some("ya29.a")
        );
        assert_eq!(again.expires_at, l.expires_at);
    }

    #[test]
    fn errors_give_positions_not_contents() {
        let e = parse_auth_json(
            b"{\n  \"google\": {\"type\": \"oauth\", \"access\": \"ya29.SECRET\"\n",
        )
        .expect_err("eof");
        assert!(e.message.contains("ends too early"), "{e:?}");
        assert!(!e.message.contains("SECRET"));
        let e = parse_auth_json(b"{\"a\": 1,,}").expect_err("syntax");
        assert_eq!((e.line, e.column), (Some(1), Some(9)));
        assert!(parse_auth_json(b"{}").is_err());
    }
}
