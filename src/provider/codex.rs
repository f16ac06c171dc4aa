//! OpenAI Codex CLI: an OpenAI API key, or ChatGPT sign-in tokens (JWTs).
//!
//! `CODEX_HOME=<instance>/codex` moves Codex's home; its login is `<home>/auth.json`:
//! `{"auth_mode": "apikey", "OPENAI_API_KEY": "sk-..."}` or
//! `{"auth_mode": "chatgpt", "tokens": {"id_token", "access_token", "refresh_token",
//! "account_id"}, "last_refresh"}`. `codex login status` reads it offline; sessions (usage
//! logs) go to `<home>/sessions/`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{
    EnvLookup, EnvVar, FieldSpec, ImportSource, Inspection, NativeError, NativeLogin, Problem,
    ProblemKind, Provider, from_format, inspect_first_present,
};
use crate::config::Account;
use crate::instance::Instance;
use crate::secret::Secret;
use crate::token::{jwt, openai};

/// Codex CLI.
#[derive(Debug)]
pub struct Codex;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("api_key"),
    FieldSpec::secret("access_token"),
    FieldSpec::secret("id_token"),
    FieldSpec::secret("refresh_token"),
    FieldSpec::text("account_id"),
];

const AUTH: &str = "codex/auth.json";

fn default_auth(env: &EnvLookup) -> Option<PathBuf> {
    match env("CODEX_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("auth.json")),
        None => Some(PathBuf::from(env("HOME")?).join(".codex/auth.json")),
    }
}

const IMPORTS: &[ImportSource] = &[ImportSource {
    tool: "codex",
    description: "Codex's auth.json ($CODEX_HOME or ~/.codex)",
    default_path: default_auth,
    parse: parse_auth,
    copy_verbatim: true,
}];

fn parse_auth(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| NativeError::json(&e, "Codex auth.json"))?;
    let mut login = NativeLogin::default();
    let tokens = v.get("tokens").filter(|t| t.is_object());
    if let Some(t) = tokens {
        let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
        let access = s("access_token")
            .ok_or_else(|| NativeError::new("auth.json tokens have no access_token"))?;
        login.expires_at = jwt::inspect(&access).ok().and_then(|i| i.exp);
        login.secrets.push(("access_token", Secret::new(access)));
        for k in ["id_token", "refresh_token"] {
            if let Some(x) = s(k) {
                login.secrets.push((k, Secret::new(x)));
            }
        }
        if let Some(a) = s("account_id") {
            login.settings.push(("account_id", a));
        }
        login.description = "ChatGPT login".to_string();
    } else if let Some(k) = v.get("OPENAI_API_KEY").and_then(Value::as_str) {
        login.secrets.push(("api_key", Secret::new(k.to_string())));
        login.description = "OpenAI API key".to_string();
    } else {
        return Err(NativeError::new(
            "auth.json holds neither ChatGPT tokens nor an API key (run `codex login`)",
        ));
    }
    Ok(login)
}

impl Provider for Codex {
    fn id(&self) -> &'static str {
        "codex"
    }
    fn display_name(&self) -> &'static str {
        "OpenAI Codex CLI"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn credential_fields(&self) -> Vec<&'static str> {
        vec!["api_key", "access_token"]
    }
    fn inspect(&self, account: &Account) -> Inspection {
        inspect_first_present(account, self, |field, value| {
            if field == "api_key" {
                return from_format(openai::check_api_key(value));
            }
            // ChatGPT access tokens are JWTs signed by OpenAI; without OpenAI's key the
            // signature is not ours to check, but the format and exp are.
            match jwt::inspect(value) {
                Ok(info) => Inspection {
                    recognised: Some(format!("ChatGPT access token (JWT, {})", info.alg)),
                    token_expires_at: info.exp,
                    not_before: info.nbf,
                    details: vec![(
                        "signature".to_string(),
                        "not checked (issued by OpenAI)".to_string(),
                    )],
                    ..Inspection::default()
                },
                Err(reason) => Inspection {
                    problem: Some(Problem::new(ProblemKind::InvalidFormat, reason)),
                    ..Inspection::default()
                },
            }
        })
    }
    fn agent_command(&self) -> Option<&'static [&'static str]> {
        Some(&["codex", "exec", "--", "{prompt}"])
    }
    fn context_window(&self) -> Option<u64> {
        Some(272_000)
    }
    fn failure_patterns(&self) -> &'static [(crate::dispatch::Failure, &'static str)] {
        use crate::dispatch::Failure;
        &[
            // "You've hit your usage limit. … try again in 4 days 6 hours" / "try again at
            // Jul 5th, 2026 8:19 PM" (from after the apostrophe, which may be typographic).
            (Failure::QuotaExhausted, "hit your usage limit"),
            (Failure::CredentialRejected, "refresh_token_expired"),
        ]
    }
    fn instance_dirs(&self) -> &'static [&'static str] {
        &["codex"]
    }
    fn credential_file(&self) -> Option<&'static str> {
        Some(AUTH)
    }
    fn render_login(&self, login: &NativeLogin) -> Result<Vec<u8>, String> {
        let v = match login.secret("access_token") {
            Some(access) => json!({
                "auth_mode": "chatgpt",
                "OPENAI_API_KEY": null,
                "tokens": {
                    // Codex decodes the id_token's claims (plan, account): it cannot be left out.
                    "id_token": login.secret("id_token").map(|s| s.expose()).ok_or(
                        "a ChatGPT login needs its id_token too (or import it: xnai import codex)",
                    )?,
                    "access_token": access.expose(),
                    "refresh_token": login.secret("refresh_token").map(|s| s.expose()).unwrap_or(""),
                    "account_id": login.setting("account_id"),
                },
            }),
            None => {
                let key = login
                    .secret("api_key")
                    .ok_or("the account has no credential")?;
                json!({"auth_mode": "apikey", "OPENAI_API_KEY": key.expose()})
            }
        };
        serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())
    }
    fn environment(&self, _account: &Account, instance: &Instance) -> Vec<EnvVar> {
        vec![EnvVar::path("CODEX_HOME", &instance.path("codex"))]
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        // `codex exec` prefers these over auth.json.
        &["OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_ACCESS_TOKEN"]
    }
    fn login_command(&self) -> Option<&'static [&'static str]> {
        Some(&["codex", "login"])
    }
    fn usage_home(&self, instance: &Instance) -> Option<std::path::PathBuf> {
        Some(instance.path("codex"))
    }
    fn usage_sources(&self, home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        vec![
            crate::usage::scan::Source {
                root: home.join("sessions"),
                format: &crate::usage::codex::FORMAT,
            },
            crate::usage::scan::Source {
                root: home.join("archived_sessions"),
                format: &crate::usage::codex::FORMAT,
            },
        ]
    }
    fn import_sources(&self) -> &'static [ImportSource] {
        IMPORTS
    }
    fn parse_native(&self, bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        parse_auth(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_chatgpt_fixture() {
        let fixture = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/real/codex/quotaglance-auth.json"),
        )
        .expect("fixture");
        let l = parse_auth(&fixture).expect("parse");
        assert_eq!(
            l.setting("account_id"),
            Some("8f3c2a9e-5b1d-4e7f-a6c0-2d9b7e4f1a35")
        );
        assert_eq!(l.expires_at.map(|t| t.as_second()), Some(1_791_813_600));
        assert!(l.secret("refresh_token").is_some());
        let again = parse_auth(&Codex.render_login(&l).expect("render")).expect("reparse");
        assert_eq!(again.setting("account_id"), l.setting("account_id"));
    }

    #[test]
    fn api_key_form() {
        let l =
            parse_auth(br#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-proj-k"}"#).expect("parse");
        assert_eq!(l.secret("api_key").map(|s| s.expose()), Some("sk-proj-k"));
        let v: Value =
            serde_json::from_slice(&Codex.render_login(&l).expect("render")).expect("json");
        assert_eq!(v["auth_mode"], "apikey");
        assert!(parse_auth(br#"{"OPENAI_API_KEY":null}"#).is_err());
    }
}
