//! Google credential formats.
//!
//! OAuth access tokens start with `ya29.`; the prototype also accepted any string of at least
//! 100 characters of `[A-Za-z0-9_-]` (opaque tokens from older flows), and so do we. Refresh
//! tokens start with `1//` and are not access tokens. API keys are `AIza` + 35 characters.

const ACCESS_PREFIX: &str = "ya29.";
const LEGACY_MIN_LEN: usize = 100;
/// Access tokens seen in practice are well over 100 characters; a `ya29.` token shorter than
/// this is a truncated copy.
const ACCESS_MIN_BODY_LEN: usize = 20;

fn url_safe(s: &str, extra: &[u8]) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || extra.contains(&b))
}

/// Checks a Google OAuth access token.
pub fn check_access_token(token: &str) -> Result<String, String> {
    if let Some(body) = token.strip_prefix(ACCESS_PREFIX) {
        if !url_safe(body, b".") {
            return Err("Google access token (ya29.) contains characters outside [A-Za-z0-9._-] (a space or newline pasted in?)".to_string());
        }
        if body.len() < ACCESS_MIN_BODY_LEN {
            return Err(format!(
                "Google access token (ya29.) is too short: {} characters after the prefix",
                body.len()
            ));
        }
        return Ok("Google OAuth access token (ya29.)".to_string());
    }
    if token.starts_with("1//") {
        return Err("this is a Google OAuth refresh token (1//), not an access token: store it as refresh_token".to_string());
    }
    if token.starts_with("AIza") {
        return Err(
            "this is a Google API key (AIza), not an OAuth access token: store it as api_key"
                .to_string(),
        );
    }
    let n = token.chars().count();
    if n >= LEGACY_MIN_LEN && url_safe(token, b"") {
        return Ok(format!(
            "opaque Google OAuth token ({n} characters of [A-Za-z0-9_-])"
        ));
    }
    Err(format!(
        "not a Google OAuth access token: expected the ya29. prefix or at least {LEGACY_MIN_LEN} characters of [A-Za-z0-9_-] (found {n} characters{})",
        if url_safe(token, b"") {
            ""
        } else {
            ", some outside that set"
        }
    ))
}

/// Checks a Google API key (Gemini API).
pub fn check_api_key(key: &str) -> Result<String, String> {
    match key.strip_prefix("AIza") {
        Some(body) if body.len() == 35 && url_safe(body, b"") => {
            Ok("Google API key (AIza)".to_string())
        }
        Some(body) => Err(format!(
            "Google API key (AIza) must have 35 characters of [A-Za-z0-9_-] after the prefix, found {}",
            body.len()
        )),
        None => Err("not a Google API key: expected the AIza prefix".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens() {
        let t = format!("ya29.{}", "a0AfH6SM-x_Y.z".repeat(10));
        assert!(check_access_token(&t).is_ok());
        assert!(
            check_access_token("ya29.short")
                .expect_err("short")
                .contains("too short")
        );
        let spaced = format!("ya29.{} {}", "a".repeat(30), "b".repeat(30));
        assert!(
            check_access_token(&spaced)
                .expect_err("space")
                .contains("outside")
        );
    }

    #[test]
    fn legacy_rule_is_at_least_100_url_safe_chars() {
        assert!(check_access_token(&"A".repeat(100)).is_ok());
        assert!(
            check_access_token(&"A".repeat(99))
                .expect_err("99")
                .contains("found 99")
        );
        let with_dot = format!("{}.", "A".repeat(120));
        assert!(
            check_access_token(&with_dot)
                .expect_err("dot")
                .contains("outside")
        );
    }

    #[test]
    fn refresh_tokens_and_api_keys_are_named() {
        assert!(
            check_access_token("1//0gabc")
                .expect_err("rt")
                .contains("refresh token")
        );
        assert!(
            check_access_token("AIzaSyA")
                .expect_err("key")
                .contains("API key")
        );
    }

    #[test]
    fn api_keys() {
        let k = format!("AIza{}", "S".repeat(35));
        assert!(check_api_key(&k).is_ok());
        assert!(
            check_api_key(&k[..38])
                .expect_err("short")
                .contains("found 34")
        );
        assert!(check_api_key("sk-abc").is_err());
    }
}
