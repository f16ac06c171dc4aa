//! OpenCode, including Antigravity accounts (Google OAuth through an OpenCode plugin).

use super::{FieldSpec, Inspection, Provider, from_format, inspect_first_present};
use crate::config::Account;
use crate::token;

/// OpenCode / Antigravity.
#[derive(Debug)]
pub struct OpenCode;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::secret("api_key"),
    FieldSpec::secret("refresh_token"),
];

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
}
