//! GitHub Copilot: GitHub OAuth / user-to-server tokens with a CRC32 checksum.

use super::{FieldSpec, Inspection, Provider, from_format, inspect_first_present};
use crate::config::Account;
use crate::token;

/// GitHub Copilot.
#[derive(Debug)]
pub struct Copilot;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::text("github_user"),
    FieldSpec::text("github_host"),
];

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
            from_format(token::github::check(value))
        })
    }
}
