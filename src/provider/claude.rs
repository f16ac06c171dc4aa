//! Claude Code: a Claude.ai OAuth login (Pro/Max) or an Anthropic API key.
//!
//! `CLAUDE_CONFIG_DIR=<instance>/claude` moves Claude Code's whole configuration; on Linux the
//! OAuth login is `<dir>/.credentials.json`:
//! `{"claudeAiOauth": {"accessToken", "refreshToken", "expiresAt" (ms), "scopes", "subscriptionType"}}`
//! and `claude auth status --json` reads it offline. Its usage logs go to `<dir>/projects/`. An
//! API-key account gets `ANTHROPIC_API_KEY` instead.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{
    EnvLookup, EnvVar, FieldSpec, ImportSource, Inspection, NativeError, NativeLogin, Problem,
    ProblemKind, Provider, inspect_first_present,
};
use crate::config::Account;
use crate::instance::{Instance, NativeFile};
use crate::secret::Secret;
use crate::token::anthropic::{self, Kind};

/// Claude Code.
#[derive(Debug)]
pub struct Claude;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::secret("api_key"),
    FieldSpec::secret("refresh_token"),
    FieldSpec::text("subscription_type"),
];

const CREDENTIALS: &str = "claude/.credentials.json";
/// Claude Code's global state; created once so the interactive UI skips first-run onboarding,
/// then owned by Claude Code.
const STATE: &str = "claude/.claude.json";
/// The scope Claude Code requires to call the API with an OAuth token.
const SCOPES: &[&str] = &[
    "user:inference",
    "user:profile",
    "user:sessions:claude_code",
];

fn default_credentials(env: &EnvLookup) -> Option<PathBuf> {
    match env("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join(".credentials.json")),
        None => Some(PathBuf::from(env("HOME")?).join(".claude/.credentials.json")),
    }
}

const IMPORTS: &[ImportSource] = &[ImportSource {
    tool: "claude",
    description: "Claude Code's .credentials.json ($CLAUDE_CONFIG_DIR or ~/.claude)",
    default_path: default_credentials,
    parse: parse_credentials,
    copy_verbatim: true,
}];

fn parse_credentials(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| NativeError::json(&e, "Claude Code .credentials.json"))?;
    let o = v.get("claudeAiOauth").ok_or_else(|| {
        NativeError::new(".credentials.json has no claudeAiOauth login (run `claude auth login`)")
    })?;
    let access = o
        .get("accessToken")
        .and_then(Value::as_str)
        .ok_or_else(|| NativeError::new("claudeAiOauth has no accessToken"))?;
    let mut login = NativeLogin {
        description: "Claude.ai login".to_string(),
        ..NativeLogin::default()
    };
    login
        .secrets
        .push(("oauth_token", Secret::new(access.to_string())));
    if let Some(r) = o.get("refreshToken").and_then(Value::as_str) {
        login
            .secrets
            .push(("refresh_token", Secret::new(r.to_string())));
    }
    if let Some(t) = o.get("subscriptionType").and_then(Value::as_str) {
        login.settings.push(("subscription_type", t.to_string()));
        login.description = format!("Claude {t} login");
    }
    login.expires_at = o
        .get("expiresAt")
        .and_then(Value::as_i64)
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
    Ok(login)
}

impl Provider for Claude {
    fn id(&self) -> &'static str {
        "claude"
    }
    fn display_name(&self) -> &'static str {
        "Claude Code"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn credential_fields(&self) -> Vec<&'static str> {
        vec!["oauth_token", "api_key"]
    }
    fn inspect(&self, account: &Account) -> Inspection {
        inspect_first_present(account, self, |field, value| {
            let expected = if field == "oauth_token" {
                Kind::OAuthAccess
            } else {
                Kind::ApiKey
            };
            let mut ins = Inspection::default();
            match anthropic::recognise(value) {
                Ok(k) if k == expected => ins.recognised = Some(k.label().to_string()),
                Ok(k) => {
                    ins.recognised = Some(k.label().to_string());
                    ins.problem = Some(Problem::new(
                        ProblemKind::InvalidFormat,
                        format!(
                            "{field} holds an {}; expected an {}",
                            k.label(),
                            expected.label()
                        ),
                    ));
                }
                Err(reason) => ins.problem = Some(Problem::new(ProblemKind::InvalidFormat, reason)),
            }
            ins
        })
    }
    fn agent_command(&self) -> Option<&'static [&'static str]> {
        Some(&["claude", "-p", "--", "{prompt}"])
    }
    fn context_window(&self) -> Option<u64> {
        Some(200_000)
    }
    fn failure_patterns(&self) -> &'static [(crate::dispatch::Failure, &'static str)] {
        use crate::dispatch::Failure;
        &[
            // Claude Code: "Claude AI usage limit reached|<reset epoch>".
            (Failure::QuotaExhausted, "usage limit reached"),
            // "5-hour limit reached ∙ resets 3pm", "weekly limit reached" (not OpenAI's
            // "Rate limit reached", a rate limit).
            (Failure::QuotaExhausted, "5-hour limit reached"),
            (Failure::QuotaExhausted, "weekly limit reached"),
            // Claude Code 2.x: "You've hit your limit · resets 8pm (Europe/Berlin)", "You've
            // hit your session limit · resets …", "… weekly limit …" (the apostrophe may be
            // typographic, so the pattern starts after it).
            (Failure::QuotaExhausted, "hit your limit"),
            (Failure::QuotaExhausted, "hit your session limit"),
            (Failure::QuotaExhausted, "hit your weekly limit"),
            (Failure::CredentialRejected, "oauth token has expired"),
            (Failure::CredentialRejected, "please run /login"),
        ]
    }
    fn instance_dirs(&self) -> &'static [&'static str] {
        &["claude"]
    }
    fn credential_file(&self) -> Option<&'static str> {
        Some(CREDENTIALS)
    }
    fn render_login(&self, login: &NativeLogin) -> Result<Vec<u8>, String> {
        let access = login
            .secret("oauth_token")
            .ok_or("an API-key account has no .credentials.json")?;
        let mut o = json!({
            "accessToken": access.expose(),
            "scopes": SCOPES,
        });
        if let Some(r) = login.secret("refresh_token") {
            o["refreshToken"] = json!(r.expose());
        }
        if let Some(t) = login.expires_at {
            o["expiresAt"] = json!(t.as_millisecond());
        }
        if let Some(s) = login.setting("subscription_type") {
            o["subscriptionType"] = json!(s);
        }
        serde_json::to_vec_pretty(&json!({ "claudeAiOauth": o })).map_err(|e| e.to_string())
    }
    fn native_files(&self, account: &Account) -> Result<Vec<NativeFile>, String> {
        let mut files = vec![NativeFile {
            rel: STATE.into(),
            contents: zeroize::Zeroizing::new(br#"{"hasCompletedOnboarding": true}"#.to_vec()),
        }];
        if account.secret("oauth_token").is_some() {
            let login = NativeLogin::from_account(account);
            files.push(NativeFile {
                rel: CREDENTIALS.into(),
                contents: zeroize::Zeroizing::new(self.render_login(&login)?),
            });
        }
        Ok(files)
    }
    fn environment(&self, account: &Account, instance: &Instance) -> Vec<EnvVar> {
        let mut v = vec![EnvVar::path("CLAUDE_CONFIG_DIR", &instance.path("claude"))];
        if account.secret("oauth_token").is_none()
            && let Some(k) = account.secret("api_key")
        {
            v.push(EnvVar::secret("ANTHROPIC_API_KEY", &k.value));
        }
        v
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        // Each would make Claude Code use another login than the instance's.
        &[
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_SECURESTORAGE_CONFIG_DIR",
            // Route to Bedrock / Vertex with the caller's cloud credentials instead.
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
        ]
    }
    fn login_command(&self) -> Option<&'static [&'static str]> {
        Some(&["claude", "auth", "login"])
    }
    fn usage_home(&self, instance: &Instance) -> Option<std::path::PathBuf> {
        Some(instance.path("claude"))
    }
    fn usage_sources(&self, home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        vec![crate::usage::scan::Source {
            root: home.join("projects"),
            format: &crate::usage::claude::FORMAT,
        }]
    }
    fn import_sources(&self) -> &'static [ImportSource] {
        IMPORTS
    }
    fn parse_native(&self, bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        parse_credentials(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip() {
        let src = br#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-a","refreshToken":"sk-ant-ort01-r","expiresAt":1893456000000,"scopes":["user:inference"],"subscriptionType":"max"}}"#;
        let l = parse_credentials(src).expect("parse");
        assert_eq!(
            l.secret("oauth_token").map(|s| s.expose()),
            Some("sk-ant-oat01-a")
        );
        assert_eq!(l.setting("subscription_type"), Some("max"));
        assert_eq!(l.expires_at.map(|t| t.as_second()), Some(1_893_456_000));
        let again = parse_credentials(&Claude.render_login(&l).expect("render")).expect("reparse");
        assert_eq!(
            again.secret("refresh_token").map(|s| s.expose()),
            Some("sk-ant-ort01-r")
        );
        assert_eq!(again.expires_at, l.expires_at);
        assert!(
            parse_credentials(b"{}")
                .expect_err("empty")
                .message
                .contains("claude auth login")
        );
    }
}
