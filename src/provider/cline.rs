//! Cline with an Anthropic API key.

use super::{FieldSpec, Inspection, Problem, ProblemKind, Provider, inspect_first_present};
use crate::config::Account;
use crate::token::anthropic::{self, Kind};

/// Cline (Anthropic API key).
#[derive(Debug)]
pub struct Cline;

const FIELDS: &[FieldSpec] = &[FieldSpec::secret("api_key")];

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
}
