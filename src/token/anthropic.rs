//! Anthropic credential formats.
//!
//! - `sk-ant-api03-` API keys: 93 characters of `[A-Za-z0-9_-]` then `AA`, 108 in total.
//! - `sk-ant-admin01-` Admin API keys: same body, 110 in total. They manage an organisation
//!   and cannot call the Messages API.
//! - `sk-ant-oat01-` OAuth access tokens (Claude Pro/Max, Claude Code): length is not fixed.
//! - `sk-ant-ort01-` OAuth refresh tokens: not an access token.

/// What an Anthropic credential was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `sk-ant-api03-`: an API key for the Messages API.
    ApiKey,
    /// `sk-ant-admin01-`: an Admin API key.
    AdminKey,
    /// `sk-ant-oat01-`: an OAuth access token.
    OAuthAccess,
    /// `sk-ant-ort01-`: an OAuth refresh token.
    OAuthRefresh,
}

impl Kind {
    /// The kind's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Kind::ApiKey => "Anthropic API key (sk-ant-api03)",
            Kind::AdminKey => "Anthropic Admin API key (sk-ant-admin01)",
            Kind::OAuthAccess => "Anthropic OAuth access token (sk-ant-oat01)",
            Kind::OAuthRefresh => "Anthropic OAuth refresh token (sk-ant-ort01)",
        }
    }
}

const API_PREFIX: &str = "sk-ant-api03-";
const ADMIN_PREFIX: &str = "sk-ant-admin01-";
const OAT_PREFIX: &str = "sk-ant-oat01-";
const ORT_PREFIX: &str = "sk-ant-ort01-";
/// Body length of API and admin keys, including the trailing `AA`.
const KEY_BODY_LEN: usize = 95;
/// OAuth tokens seen in the wild are ~95 characters after the prefix; anything much shorter is
/// a truncated copy.
const OAUTH_MIN_BODY_LEN: usize = 40;

fn body_charset_ok(body: &str) -> bool {
    body.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Recognises an Anthropic credential. `Err` explains what is wrong, never quoting the value.
pub fn recognise(token: &str) -> Result<Kind, String> {
    let (kind, prefix) = if token.starts_with(API_PREFIX) {
        (Kind::ApiKey, API_PREFIX)
    } else if token.starts_with(ADMIN_PREFIX) {
        (Kind::AdminKey, ADMIN_PREFIX)
    } else if token.starts_with(OAT_PREFIX) {
        (Kind::OAuthAccess, OAT_PREFIX)
    } else if token.starts_with(ORT_PREFIX) {
        (Kind::OAuthRefresh, ORT_PREFIX)
    } else if token.starts_with("sk-ant-") {
        return Err(
            "unknown Anthropic key version (expected sk-ant-api03-, sk-ant-oat01- or sk-ant-admin01-)"
                .to_string(),
        );
    } else {
        return Err(format!(
            "not an Anthropic key: expected the sk-ant- prefix (found {} characters)",
            token.chars().count()
        ));
    };
    let body = &token[prefix.len()..];
    if !body_charset_ok(body) {
        return Err(format!(
            "{} contains characters outside [A-Za-z0-9_-] (a space or newline pasted in?)",
            kind.label()
        ));
    }
    match kind {
        Kind::ApiKey | Kind::AdminKey => {
            let expected = prefix.len() + KEY_BODY_LEN;
            if token.len() != expected {
                return Err(format!(
                    "{} must be exactly {expected} characters, found {}",
                    kind.label(),
                    token.len()
                ));
            }
            if !body.ends_with("AA") {
                return Err(format!(
                    "{} must end in AA (the copy looks mangled)",
                    kind.label()
                ));
            }
        }
        Kind::OAuthAccess | Kind::OAuthRefresh => {
            if body.len() < OAUTH_MIN_BODY_LEN {
                return Err(format!(
                    "{} is too short ({} characters after the prefix, expected at least {OAUTH_MIN_BODY_LEN})",
                    kind.label(),
                    body.len()
                ));
            }
        }
    }
    Ok(kind)
}

/// Builds a well-formed key of `kind` from `fill` (tests, examples).
pub fn make_key(kind: Kind, fill: char) -> String {
    match kind {
        Kind::ApiKey => format!("{API_PREFIX}{}AA", fill.to_string().repeat(93)),
        Kind::AdminKey => format!("{ADMIN_PREFIX}{}AA", fill.to_string().repeat(93)),
        Kind::OAuthAccess => format!("{OAT_PREFIX}{}AA", fill.to_string().repeat(93)),
        Kind::OAuthRefresh => format!("{ORT_PREFIX}{}AA", fill.to_string().repeat(93)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_kind() {
        for k in [
            Kind::ApiKey,
            Kind::AdminKey,
            Kind::OAuthAccess,
            Kind::OAuthRefresh,
        ] {
            assert_eq!(recognise(&make_key(k, 'x')), Ok(k));
        }
        assert_eq!(make_key(Kind::ApiKey, 'x').len(), 108);
        assert_eq!(make_key(Kind::AdminKey, 'x').len(), 110);
    }

    #[test]
    fn api_key_length_is_exact() {
        let k = make_key(Kind::ApiKey, 'q');
        let short = format!("{}AA", &k[..k.len() - 3]);
        assert!(
            recognise(&short)
                .expect_err("short")
                .contains("exactly 108 characters, found 107")
        );
        let long = format!("{}xAA", &k[..k.len() - 2]);
        assert!(recognise(&long).expect_err("long").contains("found 109"));
    }

    #[test]
    fn mangled_keys() {
        let k = make_key(Kind::ApiKey, 'q');
        let no_aa = format!("{}QQ", &k[..k.len() - 2]);
        assert!(recognise(&no_aa).expect_err("AA").contains("end in AA"));
        let space = k.replacen('q', " ", 1);
        assert!(recognise(&space).expect_err("space").contains("outside"));
        assert!(
            recognise("sk-ant-api02-abc")
                .expect_err("version")
                .contains("unknown Anthropic key version")
        );
        assert!(
            recognise("sk-proj-abc")
                .expect_err("other")
                .contains("not an Anthropic key")
        );
        assert!(
            recognise("sk-ant-oat01-short")
                .expect_err("short")
                .contains("too short")
        );
    }
}
