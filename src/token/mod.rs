//! Token format knowledge shared by providers: prefixes, lengths, checksums, JWTs.
//!
//! Every function here works offline, on the value alone, and explains a rejection without
//! quoting the value.

pub mod anthropic;
pub mod github;
pub mod google;
pub mod jwt;
pub mod openai;

/// Recognises an API key of any vendor xnai knows by its prefix, for tools (OpenCode) that can
/// hold a key for several vendors.
pub fn check_any_api_key(key: &str) -> Result<String, String> {
    if key.starts_with("sk-ant-") {
        return anthropic::recognise(key).map(|k| k.label().to_string());
    }
    if key.starts_with("AIza") {
        return google::check_api_key(key);
    }
    if key.starts_with("sk-") {
        return openai::check_api_key(key);
    }
    Err(format!(
        "unrecognised API key format ({} characters; expected sk-ant-, sk- or AIza)",
        key.chars().count()
    ))
}
