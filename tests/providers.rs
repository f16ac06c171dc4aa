//! Each provider's offline check through the public API, with a fixed clock.

use std::path::Path;

use jiff::Timestamp;
use xnai::check::{State, check_account};
use xnai::config::load_str;
use xnai::token::anthropic::{Kind, make_key};
use xnai::token::github::make_token;

const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

fn state_of(section: &str) -> (State, String) {
    let yaml = format!("credentials:\n{section}");
    let cfg = load_str(&yaml, Path::new("/x/credentials.yaml"), &|_| None).expect("config");
    let a = cfg.accounts().next().expect("one account");
    let r = check_account(a, 5, Timestamp::from_second(NOW).expect("ts"));
    (r.state, r.message)
}

#[test]
fn opencode_google_tokens() {
    let ya = format!("ya29.{}", "a".repeat(150));
    assert_eq!(
        state_of(&format!("  opencode:\n    oauth_token: {ya}\n")).0,
        State::Valid
    );
    let legacy = "b".repeat(120);
    let (s, m) = state_of(&format!("  opencode:\n    oauth_token: {legacy}\n"));
    assert_eq!(s, State::Valid);
    assert!(
        m.contains("opaque Google OAuth token (120 characters"),
        "{m}"
    );
    let (s, m) = state_of("  opencode:\n    oauth_token: 1//0abcdef\n");
    assert_eq!(s, State::InvalidFormat);
    assert!(m.contains("refresh token"));
    // Expiry from the file.
    let (s, m) = state_of(&format!(
        "  opencode:\n    oauth_token: {ya}\n    token_expiry: \"2027-01-15T07:59:59Z\"\n"
    ));
    assert_eq!(s, State::Expired);
    assert_eq!(m, "expired 2027-01-15T07:59:59Z (1 s ago)");
    let (s, m) = state_of(&format!(
        "  opencode:\n    oauth_token: {ya}\n    token_expiry: \"2027-01-15T08:04:00Z\"\n"
    ));
    assert_eq!(s, State::ExpiringSoon);
    assert!(m.starts_with("expires in 4 min"), "{m}");
    // API key instead of OAuth.
    let key = make_key(Kind::ApiKey, 'q');
    let (s, m) = state_of(&format!("  opencode:\n    api_key: {key}\n"));
    assert_eq!(s, State::Valid);
    assert_eq!(m, "Anthropic API key (sk-ant-api03)");
}

#[test]
fn copilot_checksums() {
    let good = make_token("gho_", "0123456789abcdefghijABCDEFGHIJ");
    let (s, m) = state_of(&format!("  copilot:\n    oauth_token: {good}\n"));
    assert_eq!(s, State::Valid);
    assert_eq!(m, "GitHub OAuth access token (gho_), checksum ok");
    let mut bad = good.clone().into_bytes();
    bad[20] = if bad[20] == b'x' { b'y' } else { b'x' };
    let bad = String::from_utf8(bad).expect("ascii");
    let (s, m) = state_of(&format!("  copilot:\n    oauth_token: {bad}\n"));
    assert_eq!(s, State::InvalidFormat);
    assert!(m.contains("bad checksum"));
    let (s, m) = state_of("  copilot:\n    oauth_token: ghp_short\n");
    assert_eq!(s, State::InvalidFormat);
    assert!(m.contains("found 5 (truncated?)"), "{m}");
}

#[test]
fn cline_needs_an_api_key() {
    assert_eq!(
        state_of(&format!(
            "  cline:\n    api_key: {}\n",
            make_key(Kind::ApiKey, 'a')
        ))
        .0,
        State::Valid
    );
    let (s, m) = state_of(&format!(
        "  cline:\n    api_key: {}\n",
        make_key(Kind::AdminKey, 'a')
    ));
    assert_eq!(s, State::InvalidFormat);
    assert!(
        m.contains("Admin API key (sk-ant-admin01) cannot call the Messages API"),
        "{m}"
    );
    let (s, m) = state_of("  cline:\n    api_key: \"\"\n");
    assert_eq!(s, State::Empty);
    assert_eq!(m, "api_key is empty");
    let (s, m) = state_of("  cline:\n    name: nothing\n");
    assert_eq!(s, State::Empty);
    assert_eq!(m, "no credential configured (expected api_key)");
}

#[test]
fn claude_oauth_or_key() {
    let (s, m) = state_of(&format!(
        "  claude:\n    oauth_token: {}\n",
        make_key(Kind::OAuthAccess, 'o')
    ));
    assert_eq!(s, State::Valid);
    assert_eq!(m, "Anthropic OAuth access token (sk-ant-oat01)");
    let (s, m) = state_of(&format!(
        "  claude:\n    oauth_token: {}\n",
        make_key(Kind::OAuthRefresh, 'o')
    ));
    assert_eq!(s, State::InvalidFormat);
    assert!(m.contains("holds an Anthropic OAuth refresh token"), "{m}");
    assert_eq!(
        state_of(&format!(
            "  claude:\n    api_key: {}\n",
            make_key(Kind::ApiKey, 'k')
        ))
        .0,
        State::Valid
    );
}

#[test]
fn codex_key_or_chatgpt_jwt() {
    let (s, _) = state_of(&format!(
        "  codex:\n    api_key: sk-proj-{}\n",
        "p".repeat(64)
    ));
    assert_eq!(s, State::Valid);
    let jwt = |exp: i64| {
        format!(
            "{}.{}.c2ln",
            xnai::token::jwt::b64url(br#"{"alg":"RS256"}"#),
            xnai::token::jwt::b64url(format!(r#"{{"exp":{exp}}}"#).as_bytes())
        )
    };
    let (s, m) = state_of(&format!(
        "  codex:\n    access_token: {}\n",
        jwt(NOW + 86_400)
    ));
    assert_eq!(s, State::Valid);
    assert_eq!(m, "ChatGPT access token (JWT, RS256)");
    assert_eq!(
        state_of(&format!("  codex:\n    access_token: {}\n", jwt(NOW - 1))).0,
        State::Expired
    );
}

#[test]
fn gemini_oauth_or_api_key() {
    let key = format!("AIza{}", "G".repeat(35));
    assert_eq!(
        state_of(&format!("  gemini:\n    api_key: {key}\n")).0,
        State::Valid
    );
    let (s, m) = state_of(&format!("  gemini:\n    oauth_token: {key}\n"));
    assert_eq!(s, State::InvalidFormat);
    assert!(m.contains("Google API key (AIza), not an OAuth access token"));
}

#[test]
fn local_llm_needs_nothing() {
    let (s, m) = state_of("  local_llm:\n    auth_method: none\n");
    assert_eq!(s, State::Valid);
    assert_eq!(m, "no credential needed");
}
