//! GitHub Copilot: GitHub OAuth / user-to-server tokens with a CRC32 checksum.

use super::{
    FieldSpec, Inspection, Problem, ProblemKind, Provider, from_format, inspect_first_present,
};
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
}
