//! OpenAI API key formats (Codex with an API key).
//!
//! Project, service-account and admin keys are `sk-proj-`, `sk-svcacct-`, `sk-admin-` followed by
//! a long URL-safe body; legacy user keys are `sk-` + 48 characters. The exact lengths changed
//! over time, so only prefix, character set and a minimum length are checked.

const PREFIXES: &[(&str, &str)] = &[
    ("sk-proj-", "OpenAI project API key (sk-proj)"),
    ("sk-svcacct-", "OpenAI service account key (sk-svcacct)"),
    ("sk-admin-", "OpenAI admin key (sk-admin)"),
    ("sk-", "OpenAI API key (sk-)"),
];
const MIN_BODY_LEN: usize = 32;

/// Checks an OpenAI API key.
pub fn check_api_key(key: &str) -> Result<String, String> {
    if key.starts_with("sk-ant-") {
        return Err("this is an Anthropic key (sk-ant-), not an OpenAI key".to_string());
    }
    let Some((prefix, label)) = PREFIXES.iter().find(|(p, _)| key.starts_with(p)) else {
        return Err("not an OpenAI API key: expected the sk- prefix".to_string());
    };
    let body = &key[prefix.len()..];
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{label} contains characters outside [A-Za-z0-9_-] (a space or newline pasted in?)"
        ));
    }
    if body.len() < MIN_BODY_LEN {
        return Err(format!(
            "{label} is too short: {} characters after the prefix, expected at least {MIN_BODY_LEN}",
            body.len()
        ));
    }
    Ok((*label).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(
            check_api_key(&format!("sk-proj-{}", "a".repeat(100)))
                .expect("ok")
                .contains("project")
        );
        assert!(check_api_key(&format!("sk-{}", "a".repeat(48))).is_ok());
        assert!(
            check_api_key("sk-proj-abc")
                .expect_err("short")
                .contains("too short")
        );
        assert!(
            check_api_key("sk-ant-api03-x")
                .expect_err("ant")
                .contains("Anthropic")
        );
        assert!(check_api_key("pk-abc").is_err());
    }
}
