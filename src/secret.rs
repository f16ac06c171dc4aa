//! The [`Secret`] type: every credential value lives in one of these.
//!
//! A `Secret` never prints itself: `Debug` and `Display` show a fixed placeholder, it does not
//! implement `Serialize`, and its heap buffer is zeroed when it is dropped (via `secrecy`).
//! When a person needs to recognise which credential is which, [`Secret::masked`] shows the
//! known prefix and the last four characters, the way GitHub and Anthropic consoles do.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroize;

/// A credential value. Cheap to clone (the clone is zeroed on drop too).
#[derive(Clone)]
pub struct Secret(SecretString);

/// Prefixes that identify a token's kind without revealing anything about the secret part.
/// Longest first, so `sk-ant-api03-` wins over `sk-`.
const KNOWN_PREFIXES: &[&str] = &[
    "sk-ant-admin01-",
    "sk-ant-api03-",
    "sk-ant-oat01-",
    "sk-ant-ort01-",
    "github_pat_",
    "sk-svcacct-",
    "sk-proj-",
    "sk-admin-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "ya29.",
    "AIza",
    "1//",
    "eyJ",
    "sk-",
];

/// Secrets shorter than this are masked completely: showing four characters of an
/// eight-character password would give half of it away.
const MIN_LEN_FOR_SUFFIX: usize = 16;

impl Secret {
    /// Takes ownership of `value`. The original `String` buffer is zeroed, not just dropped.
    pub fn new(mut value: String) -> Self {
        // Copy into an exact-size box ourselves: `String::into_boxed_str` may reallocate and
        // free the old buffer without zeroing it.
        let boxed: Box<str> = Box::from(value.as_str());
        value.zeroize();
        Secret(SecretString::from(boxed))
    }

    /// Builds a secret from a borrowed string (tests, fixtures).
    pub fn from_str_value(value: &str) -> Self {
        Secret(SecretString::from(value))
    }

    /// The secret value. Call sites are the few places that must hand the value to a
    /// validator or (later) to a child process; grep for `expose` to audit them.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// True when the value is empty or only whitespace.
    pub fn is_blank(&self) -> bool {
        self.expose().trim().is_empty()
    }

    /// Length in characters, safe to show.
    pub fn char_len(&self) -> usize {
        self.expose().chars().count()
    }

    /// The masked form for display: known prefix + `…` + last four characters,
    /// e.g. `sk-ant-api03-…x9Qa`. Short or empty values reveal nothing.
    pub fn masked(&self) -> String {
        mask(self.expose())
    }
}

/// Masks a secret value for display. See [`Secret::masked`].
pub fn mask(value: &str) -> String {
    if value.is_empty() {
        return "(empty)".to_string();
    }
    let prefix = KNOWN_PREFIXES
        .iter()
        .find(|p| value.starts_with(**p))
        .copied()
        .unwrap_or("");
    let rest = &value[prefix.len()..];
    let rest_chars = rest.chars().count();
    if value.chars().count() < MIN_LEN_FOR_SUFFIX || rest_chars < 8 {
        return format!("{prefix}…");
    }
    let tail: String = rest.chars().skip(rest_chars - 4).collect();
    format!("{prefix}…{tail}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        // Not constant-time: secrets are compared only to detect duplicates in local files.
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnx9QaAA";

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("CANARY-value-123456789".to_string());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(
            format!("{:#?}", Some(&s)),
            "Some(\n    Secret([REDACTED]),\n)"
        );
    }

    #[test]
    fn masks_keep_known_prefix_and_last_four() {
        assert_eq!(mask(KEY), "sk-ant-api03-…QaAA");
        assert_eq!(
            mask("ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1A2b3C"),
            "ghp_…2b3C"
        );
        assert_eq!(mask("ya29.a0AfH6SMBxxxxxxxxxxxxxxxxxx9Zz1"), "ya29.…9Zz1");
        assert_eq!(mask("plainsecretvalue-unknown-kind-WXYZ"), "…WXYZ");
    }

    #[test]
    fn short_values_reveal_nothing() {
        assert_eq!(mask(""), "(empty)");
        assert_eq!(mask("hunter2"), "…");
        assert_eq!(mask("sk-ant-oat01-abc"), "sk-ant-oat01-…");
        assert_eq!(mask("ghp_1234567"), "ghp_…");
    }

    #[test]
    fn masked_form_never_contains_the_secret_part() {
        let s = Secret::from_str_value(KEY);
        let m = s.masked();
        assert!(!m.contains("abcdefghijklmnop"));
        assert!(m.len() < 24);
    }

    #[test]
    fn blank_detection() {
        assert!(Secret::from_str_value("  ").is_blank());
        assert!(!Secret::from_str_value("x").is_blank());
    }
}
