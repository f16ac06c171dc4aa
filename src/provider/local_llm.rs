//! A local model server: usually no credential at all.

use super::{FieldSpec, Inspection, Provider};
use crate::config::Account;

/// Local LLM (Ollama, llama.cpp, vLLM, ...).
#[derive(Debug)]
pub struct LocalLlm;

const FIELDS: &[FieldSpec] = &[FieldSpec::secret("api_key"), FieldSpec::text("base_url")];

impl Provider for LocalLlm {
    fn id(&self) -> &'static str {
        "local_llm"
    }
    fn display_name(&self) -> &'static str {
        "Local LLM"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn needs_credential(&self) -> bool {
        false
    }
    fn inspect(&self, account: &Account) -> Inspection {
        match account.secret("api_key") {
            Some(k) if !k.value.is_blank() => Inspection {
                field: Some("api_key"),
                recognised: Some("API key (local server, format not checked)".to_string()),
                ..Inspection::default()
            },
            _ => Inspection {
                recognised: Some("no credential needed".to_string()),
                ..Inspection::default()
            },
        }
    }
}
