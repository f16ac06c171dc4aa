//! OpenAI Codex CLI: an OpenAI API key, or ChatGPT sign-in tokens (JWTs) from auth.json.

use super::{
    FieldSpec, Inspection, Problem, ProblemKind, Provider, from_format, inspect_first_present,
};
use crate::config::Account;
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
}
