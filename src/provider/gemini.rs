//! Gemini CLI: Google OAuth (oauth_creds.json) or a Gemini API key.

use super::{FieldSpec, Inspection, Provider, from_format, inspect_first_present};
use crate::config::Account;
use crate::token;

/// Gemini CLI.
#[derive(Debug)]
pub struct Gemini;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::secret("api_key"),
    FieldSpec::secret("refresh_token"),
];

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
}
