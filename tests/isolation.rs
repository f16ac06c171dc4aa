//! What keeps accounts apart: names that cannot escape or collide, variables that cannot leak
//! between accounts, instance files that belong to one account only.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Home, github_token, run};
use xnai::token::anthropic::{Kind, make_key};

fn claude_creds(home: &Home, name: &str, fill: char) -> std::path::PathBuf {
    let p = home.path().join(name);
    std::fs::write(
        &p,
        format!(
            r#"{{"claudeAiOauth":{{"accessToken":"{}","expiresAt":4102444800000,"scopes":["user:inference"]}}}}"#,
            make_key(Kind::OAuthAccess, fill)
        ),
    )
    .expect("write");
    p
}

#[test]
fn import_names_cannot_escape_or_hide() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let creds = claude_creds(&home, "c.json", 'a');
    for (provider, account) in [
        ("../../escape", "y"),
        ("a/b", "y"),
        ("", "y"),
        ("wörk", "y"),
        ("claude", "../y"),
        ("claude", "Y"),
        ("claude", "sk-ant-oat01-looks-like-a-token"),
    ] {
        let out = run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .arg("import")
            .arg("claude")
            .arg(&creds)
            .args(["--provider", provider, "--account", account]));
        assert_eq!(out.code, 2, "{provider}/{account}: {}", out.stderr);
        assert!(
            out.stderr.contains("invalid"),
            "{provider}/{account}: {}",
            out.stderr
        );
    }
    assert!(!home.path().join("escape").exists());
    assert!(!home.path().join("accounts.d").exists());
    assert!(!home.path().join(".local/share/xnai/instances").exists());
}

#[test]
fn import_refuses_names_that_would_share_override_variables() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let a = claude_creds(&home, "a.json", 'a');
    let b = claude_creds(&home, "b.json", 'b');
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("claude")
        .arg(&a)
        .args(["-a", "work_b"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("claude")
        .arg(&b)
        .args(["-a", "work-b"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("would share its XNAI_CLAUDE_WORK_B_* variables with claude/work_b"),
        "{}",
        out.stderr
    );
    // Nothing was written, and the configuration still loads.
    assert!(!home.path().join("accounts.d/claude@work-b.yaml").exists());
    assert!(
        !home
            .path()
            .join(".local/share/xnai/instances/claude/work-b")
            .exists()
    );
    assert_eq!(
        run(home.xnai().arg("--config").arg(&cfg).arg("accounts")).code,
        0
    );
}

#[test]
fn import_never_overwrites_another_accounts_instance() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let other = home.path().join("other/credentials.yaml");
    std::fs::create_dir_all(other.parent().expect("dir")).expect("mkdir");
    std::fs::write(&other, "credentials: {}\n").expect("write");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let a = claude_creds(&home, "a.json", 'a');
    let b = claude_creds(&home, "b.json", 'b');
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("claude")
        .arg(&a)
        .args(["-a", "max"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let inst = home
        .path()
        .join(".local/share/xnai/instances/claude/max/claude/.credentials.json");
    let before = std::fs::read(&inst).expect("read");
    // Same provider/account under another credential file: the instance is taken.
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&other)
        .arg("import")
        .arg("claude")
        .arg(&b)
        .args(["-a", "max"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("already holds a login"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&inst).expect("read"), before);
}

#[test]
fn unusable_logins_are_not_imported() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let p = home.path().join("empty.json");
    std::fs::write(&p, r#"{"claudeAiOauth":{"accessToken":""}}"#).expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("claude")
        .arg(&p)
        .args(["-a", "e"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not usable: oauth_token is empty"),
        "{}",
        out.stderr
    );
    std::fs::write(&p, r#"{"claudeAiOauth":{"accessToken":" sk-ant-oat01-x"}}"#).expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("claude")
        .arg(&p)
        .args(["-a", "e"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("starts with whitespace"),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("claude")
        .arg(&p)
        .args(["-a", "e", "--force"]));
    assert_eq!(out.code, 0, "--force imports it anyway: {}", out.stderr);
}

#[test]
fn a_fresh_machine_gets_a_credential_file_only_when_the_import_succeeds() {
    let home = Home::new();
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, "{").expect("write");
    let out = run(home
        .xnai()
        .arg("import")
        .arg("claude")
        .arg(&bad)
        .args(["-a", "x"]));
    assert_eq!(out.code, 2);
    let default = home.path().join(".config/xnai/credentials.yaml");
    assert!(!default.exists());
    let good = claude_creds(&home, "good.json", 'g');
    let out = run(home
        .xnai()
        .arg("import")
        .arg("claude")
        .arg(&good)
        .args(["-a", "x"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(default.exists());
    assert!(out.stderr.contains("created"), "{}", out.stderr);
}

#[test]
fn env_all_names_cannot_be_read_back_as_overrides() {
    let home = Home::new();
    let a = github_token("ghu_", "aaaaaaaaaaAAAAAAAAAA0123456789");
    let b = github_token("ghu_", "bbbbbbbbbbBBBBBBBBBB0123456789");
    // `env --all` would export XNAI_COPILOT_WORK_OAUTH_TOKEN for work_oauth: the same name
    // as work's oauth_token override. Refused when loading.
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      work: {{oauth_token: {a}}}\n      work_oauth: {{oauth_token: {b}}}\n"
    ));
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("accounts"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("would share the environment overrides"),
        "{}",
        out.stderr
    );
    // Without a clash, the exported names do not produce "stray override" warnings later.
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      work: {{oauth_token: {a}}}\n      home: {{oauth_token: {b}}}\n"
    ));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("accounts")
        .env("XNAI_COPILOT_WORK_TOKEN", &a)
        .env("XNAI_COPILOT_HOME_TOKEN", &b));
    assert_eq!(out.code, 0);
    assert!(
        !out.stderr.contains("looks like an override"),
        "{}",
        out.stderr
    );
}

#[test]
fn commands_do_not_inherit_other_logins() {
    let home = Home::new();
    let a = github_token("ghu_", "aaaaaaaaaaAAAAAAAAAA0123456789");
    let b = github_token("ghu_", "bbbbbbbbbbBBBBBBBBBB0123456789");
    let ya29 = format!("ya29.{}", "w".repeat(160));
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      work: {{oauth_token: {a}}}\n      home: {{oauth_token: {b}}}\n  opencode:\n    accounts:\n      w: {{oauth_token: {ya29}}}\n"
    ));
    let env_of = |target: &str| {
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["run", target, "--", "env"])
            .env("OPENROUTER_API_KEY", "personal-openrouter")
            .env("XAI_API_KEY", "personal-xai")
            .env("GH_TOKEN", "ghp_personal")
            .env("XNAI_COPILOT_HOME_TOKEN", &b)
            .env("XNAI_CONFIG_UNRELATED", "kept"))
        .stdout
    };
    let oc = env_of("opencode/w");
    assert!(
        !oc.contains("OPENROUTER_API_KEY") && !oc.contains("XAI_API_KEY"),
        "{oc}"
    );
    assert!(!oc.contains(&b), "another account's token leaked: {oc}");
    assert!(oc.contains("XNAI_CONFIG_UNRELATED=kept"));
    let cp = env_of("copilot/work");
    assert!(cp.contains(&format!("GH_TOKEN={a}")), "{cp}");
    assert!(!cp.contains(&b) && !cp.contains("ghp_personal"), "{cp}");
}

#[test]
fn force_account_must_be_the_same_kind() {
    let home = Home::new();
    let a = github_token("ghu_", "aaaaaaaaaaAAAAAAAAAA0123456789");
    let key = make_key(Kind::ApiKey, 'k');
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      work: {{oauth_token: {a}}}\n  cline:\n    api_key: {key}\n"
    ));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "copilot/work", "--", "true"])
        .env("XNAI_FORCE_ACCOUNT", "cline"));
    assert_eq!(out.code, 125);
    assert!(out.stderr.contains("XNAI_FORCE_ACCOUNT names cline/default (cline), but the command line names copilot/work (copilot)"), "{}", out.stderr);
}

#[test]
fn overrides_cannot_shadow_a_tool_owned_login() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let creds = claude_creds(&home, "c.json", 'a');
    assert_eq!(
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .arg("import")
            .arg("claude")
            .arg(&creds)
            .args(["-a", "work"]))
        .code,
        0
    );
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check").env(
        "XNAI_CLAUDE_WORK_OAUTH_TOKEN",
        make_key(Kind::OAuthAccess, 'z'),
    ));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("XNAI_CLAUDE_WORK_OAUTH_TOKEN cannot set"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_token_the_tool_refreshed_is_the_one_validated() {
    let home = Home::new();
    let old = make_key(Kind::OAuthAccess, 'o');
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      max: {{oauth_token: {old}, token_expiry: 2099-01-01}}\n"
    ));
    assert_eq!(
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["run", "claude/max", "--", "true"]))
        .code,
        0
    );
    // Claude Code refreshes: a new token, expired per the credential file but fresh per the
    // tool's own file. Here the refreshed login has already expired, which xnai must see.
    let inst = home
        .path()
        .join(".local/share/xnai/instances/claude/max/claude/.credentials.json");
    std::fs::write(
        &inst,
        format!(r#"{{"claudeAiOauth":{{"accessToken":"{}","expiresAt":1000,"scopes":["user:inference"]}}}}"#, make_key(Kind::OAuthAccess, 'n')),
    )
    .expect("refresh");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "claude/max", "--", "true"]));
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains("claude/max is expired"),
        "{}",
        out.stderr
    );
    // And the refreshed file was not overwritten by the stale token.
    assert!(!std::fs::read_to_string(&inst).expect("read").contains(&old));
}

#[test]
fn a_loose_ledger_is_made_private() {
    let home = Home::new();
    let cfg = home.config("credentials:\n  xnai_iam:\n    access_token: x\n");
    let db = home.path().join(".local/share/xnai/xnai.db");
    run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--force", "xnai_iam", "--", "true"]));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--force", "xnai_iam", "--", "true"]));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&db).expect("db").mode() & 0o777, 0o600);
}
