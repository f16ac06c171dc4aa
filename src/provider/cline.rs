//! Cline with an Anthropic API key.
//!
//! The Cline CLI keeps its provider settings in `<CLINE_DIR>/data/settings/providers.json`
//! (`providers.anthropic.settings.apiKey`); an instance sets `CLINE_DIR=<instance>/cline` and
//! also exports `ANTHROPIC_API_KEY` for other Anthropic-API tools.

use serde_json::{Value, json};

use super::{
    EnvVar, FieldSpec, Inspection, NativeError, NativeLogin, Problem, ProblemKind, Provider,
    inspect_first_present,
};
use crate::config::Account;
use crate::instance::{Instance, NativeFile};
use crate::secret::Secret;
use crate::token::anthropic::{self, Kind};

/// Cline (Anthropic API key).
#[derive(Debug)]
pub struct Cline;

const FIELDS: &[FieldSpec] = &[FieldSpec::secret("api_key")];

const PROVIDERS: &str = "cline/data/settings/providers.json";
/// Used when the account lists no model.
const DEFAULT_MODEL: &str = "claude-sonnet-4-5";

fn parse_providers(bytes: &[u8]) -> Result<NativeLogin, NativeError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| NativeError::json(&e, "Cline providers.json"))?;
    let key = v
        .pointer("/providers/anthropic/settings/apiKey")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            NativeError::new(
                "providers.json has no Anthropic API key (run `cline auth -p anthropic`)",
            )
        })?;
    let mut login = NativeLogin {
        description: "Anthropic API key".to_string(),
        ..NativeLogin::default()
    };
    login
        .secrets
        .push(("api_key", Secret::new(key.to_string())));
    Ok(login)
}

impl Provider for Cline {
    fn id(&self) -> &'static str {
        "cline"
    }
    fn display_name(&self) -> &'static str {
        "Cline (Anthropic API)"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn inspect(&self, account: &Account) -> Inspection {
        inspect_first_present(account, self, |_, value| {
            let mut ins = Inspection::default();
            match anthropic::recognise(value) {
                Ok(Kind::ApiKey) => ins.recognised = Some(Kind::ApiKey.label().to_string()),
                Ok(other) => {
                    ins.recognised = Some(other.label().to_string());
                    ins.problem = Some(Problem::new(
                        ProblemKind::InvalidFormat,
                        format!(
                            "{} cannot call the Messages API; Cline needs an sk-ant-api03- API key",
                            other.label()
                        ),
                    ));
                }
                Err(reason) => {
                    ins.problem = Some(Problem::new(ProblemKind::InvalidFormat, reason));
                }
            }
            ins
        })
    }
    fn context_window(&self) -> Option<u64> {
        Some(200_000)
    }
    fn instance_dirs(&self) -> &'static [&'static str] {
        &["cline"]
    }
    fn credential_file(&self) -> Option<&'static str> {
        Some(PROVIDERS)
    }
    fn native_files(&self, account: &Account) -> Result<Vec<NativeFile>, String> {
        let Some(key) = account.secret("api_key") else {
            return Ok(Vec::new());
        };
        let model = account.models.first().map_or(DEFAULT_MODEL, String::as_str);
        let v = json!({
            "version": 1,
            "lastUsedProvider": "anthropic",
            "modes": {},
            "providers": {"anthropic": {
                "settings": {"provider": "anthropic", "apiKey": key.value.expose(), "model": model},
                // Required by Cline's schema; fixed so the rendered file only changes with the key.
                "updatedAt": "1970-01-01T00:00:00.000Z",
                "tokenSource": "manual",
            }},
        });
        Ok(vec![NativeFile {
            rel: PROVIDERS.into(),
            contents: zeroize::Zeroizing::new(
                serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?,
            ),
        }])
    }
    fn environment(&self, account: &Account, instance: &Instance) -> Vec<EnvVar> {
        let mut v = vec![EnvVar::path("CLINE_DIR", &instance.path("cline"))];
        if let Some(k) = account.secret("api_key") {
            v.push(EnvVar::secret("ANTHROPIC_API_KEY", &k.value));
        }
        v
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        &[
            "ANTHROPIC_API_KEY",
            "CLINE_DATA_DIR",
            "CLINE_PROVIDER_SETTINGS_PATH",
        ]
    }
    fn login_command(&self) -> Option<&'static [&'static str]> {
        Some(&["cline", "auth"])
    }
    fn usage_home(&self, instance: &Instance) -> Option<std::path::PathBuf> {
        Some(instance.path("cline/data"))
    }
    fn usage_sources(&self, home: &std::path::Path) -> Vec<crate::usage::scan::Source> {
        vec![crate::usage::scan::Source {
            root: home.join("tasks"),
            format: &crate::usage::cline::FORMAT,
        }]
    }
    fn parse_native(&self, bytes: &[u8]) -> Result<NativeLogin, NativeError> {
        parse_providers(bytes)
    }
}
