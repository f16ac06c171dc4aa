//! Gemini CLI: a Google OAuth login (oauth_creds.json) or a Gemini API key.
//!
//! `GEMINI_CLI_HOME=<instance>/gemini` replaces the home directory Gemini CLI uses, so its files
//! live in `<instance>/gemini/.gemini/`: `oauth_creds.json` (google-auth-library's format:
//! `access_token`, `refresh_token`, `expiry_date` in ms, ...) and `settings.json`, whose
//! `security.auth.selectedType` picks the login. An API-key account gets `GEMINI_API_KEY`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{
    EnvLookup, EnvVar, FieldSpec, ImportSource, Inspection, NativeError, NativeLogin, Provider,
    from_format, inspect_first_present,
};
use crate::config::Account;
use crate::instance::{Instance, NativeFile};
use crate::secret::Secret;
use crate::token;

/// Gemini CLI.
#[derive(Debug)]
pub struct Gemini;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::secret("api_key"),
    FieldSpec::secret("refresh_token"),
];

const CREDS: &str = "gemini/.gemini/oauth_creds.json";
const SETTINGS: &str = "gemini/.gemini/settings.json";
/// The scopes Gemini CLI requests for its Google login.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid";

fn default_creds(env: &EnvLookup) -> Option<PathBuf> {
    let home = env("GEMINI_CLI_HOME")
        .filter(|v| !v.is_empty())
        .or_else(|| env("HOME"))?;
    Some(PathBuf::from(home).join(".gemini/oauth_creds.json"))
}

const IMPORTS: &[ImportSource] = &[ImportSource {
    tool: "gemini",
    description: "Gemini CLI's oauth_creds.json (~/.gemini)",
    default_path: default_creds,
    parse: parse_creds,
    copy_verbatim: true,
}];

fn parse_creds(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| NativeError::json(&e, "Gemini CLI oauth_creds.json"))?;
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            NativeError::new("oauth_creds.json has no access_token (sign in with `gemini`)")
        })?;
    let mut login = NativeLogin {
        description: "Google login".to_string(),
        ..NativeLogin::default()
    };
    login
        .secrets
        .push(("oauth_token", Secret::new(access.to_string())));
    if let Some(r) = v.get("refresh_token").and_then(Value::as_str) {
        login
            .secrets
            .push(("refresh_token", Secret::new(r.to_string())));
    }
    login.expires_at = v
        .get("expiry_date")
        .and_then(Value::as_i64)
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
    if let Some(email) = v
        .get("id_token")
        .and_then(Value::as_str)
        .and_then(|t| token::jwt::inspect(t).ok())
        .and_then(|i| i.sub)
    {
        login.description = format!("Google login {email}");
    }
    Ok(login)
}

fn settings(selected: &str) -> NativeFile {
    NativeFile {
        rel: SETTINGS.into(),
        contents: zeroize::Zeroizing::new(
            json!({"security": {"auth": {"selectedType": selected}}})
                .to_string()
                .into_bytes(),
        ),
    }
}

impl Provider for Gemini {
    fn id(&self) -> &'static str {
        "gemini"
    }
    fn display_name(&self) -> &'static str {
        "Gemini CLI"
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
            _ => from_format(token::google::check_api_key(value)),
        })
    }
    fn agent_command(&self) -> Option<&'static [&'static str]> {
        Some(&["gemini", "--prompt={prompt}"])
    }
    fn context_window(&self) -> Option<u64> {
        Some(1_048_576)
    }
    fn instance_dirs(&self) -> &'static [&'static str] {
        &["gemini/.gemini"]
    }
    fn credential_file(&self) -> Option<&'static str> {
        Some(CREDS)
    }
    fn render_login(&self, login: &NativeLogin) -> Result<Vec<u8>, String> {
        let access = login
            .secret("oauth_token")
            .ok_or("an API-key account has no oauth_creds.json")?;
        let mut v = json!({
            "access_token": access.expose(),
            "scope": SCOPE,
            "token_type": "Bearer",
        });
        if let Some(r) = login.secret("refresh_token") {
            v["refresh_token"] = json!(r.expose());
        }
        if let Some(t) = login.expires_at {
            v["expiry_date"] = json!(t.as_millisecond());
        }
        serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())
    }
    fn native_files(&self, account: &Account) -> Result<Vec<NativeFile>, String> {
        if account.secret("oauth_token").is_some() || account.credential_file.is_some() {
            let mut files = vec![settings("oauth-personal")];
            if account.secret("oauth_token").is_some() {
                files.push(NativeFile {
                    rel: CREDS.into(),
                    contents: zeroize::Zeroizing::new(
                        self.render_login(&NativeLogin::from_account(account))?,
                    ),
                });
            }
            Ok(files)
        } else if account.secret("api_key").is_some() {
            Ok(vec![settings("gemini-api-key")])
        } else {
            Ok(Vec::new())
        }
    }
    fn environment(&self, account: &Account, instance: &Instance) -> Vec<EnvVar> {
        let mut v = vec![EnvVar::path("GEMINI_CLI_HOME", &instance.path("gemini"))];
        if account.secret("oauth_token").is_none()
            && let Some(k) = account.secret("api_key")
        {
            v.push(EnvVar::secret("GEMINI_API_KEY", &k.value));
        }
        v
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        &[
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_GENAI_USE_GCA",
        ]
    }
    fn login_command(&self) -> Option<&'static [&'static str]> {
        // Gemini CLI signs in from its first interactive start.
        Some(&["gemini"])
    }
    fn usage_home(&self, instance: &Instance) -> Option<std::path::PathBuf> {
        Some(instance.path("gemini/.gemini"))
    }
    fn usage_sources(&self, home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        vec![
            crate::usage::scan::Source {
                root: home.join("tmp"),
                format: &crate::usage::gemini::JSON,
            },
            crate::usage::scan::Source {
                root: home.join("tmp"),
                format: &crate::usage::gemini::JSONL,
            },
        ]
    }
    fn import_sources(&self) -> &'static [ImportSource] {
        IMPORTS
    }
    fn parse_native(&self, bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        parse_creds(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_round_trip() {
        let l = parse_creds(br#"{"access_token":"ya29.x","refresh_token":"1//r","scope":"s","token_type":"Bearer","expiry_date":1893456000000}"#).expect("parse");
        assert_eq!(l.expires_at.map(|t| t.as_second()), Some(1_893_456_000));
        let again = parse_creds(&Gemini.render_login(&l).expect("render")).expect("reparse");
        assert_eq!(
            again.secret("refresh_token").map(|s| s.expose()),
            Some("1//r")
        );
    }
}
