//! Claude Code: a Claude.ai OAuth token (Pro/Max) or an Anthropic API key.

use super::{FieldSpec, Inspection, Problem, ProblemKind, Provider, inspect_first_present};
use crate::config::Account;
use crate::token::anthropic::{self, Kind};

/// Claude Code.
#[derive(Debug)]
pub struct Claude;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("oauth_token"),
    FieldSpec::secret("api_key"),
    FieldSpec::secret("refresh_token"),
];

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
}
