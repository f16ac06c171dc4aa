//! Loading the credential file: the original layout, expansion, overrides, schema errors.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use xnai::config::{
    self, Config, ConfigError, ConfigErrorKind, Lifetime, LoadOptions, Origin, QuotaUnit,
    QuotaWindow, load_str,
};

/// The original system's credential file, provided next to the repository as `../shared`
/// (in CI too).
fn seed_path() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/seed-credentials.yaml");
    assert!(
        p.exists(),
        "{} is missing: the shared fixtures must sit next to the repository as ../shared",
        p.display()
    );
    p
}

fn seed_env() -> HashMap<String, String> {
    [
        (
            "XNAI_OPENCODE_ACCOUNT_1_OAUTH_TOKEN",
            "ya29.token-one-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "XNAI_OPENCODE_ACCOUNT_2_OAUTH_TOKEN",
            "ya29.token-two-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        ("XNAI_COPILOT_ACCOUNT_1_TOKEN", "ghu_x"),
        ("XNAI_CLINE_ANTHROPIC_API_KEY", "sk-ant-api03-x"),
        ("XNAI_IAM_ACCESS_TOKEN", "a.b.c"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn load_with(text: &str, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
    let lookup = |k: &str| env.get(k).cloned();
    load_str(text, Path::new("/cfg/credentials.yaml"), &lookup)
}

fn load(text: &str) -> Result<Config, ConfigError> {
    load_with(text, &HashMap::new())
}

fn err(text: &str) -> ConfigError {
    load(text).expect_err("must fail")
}

#[test]
fn seed_file_loads_as_is() {
    let text = std::fs::read_to_string(seed_path()).expect("seed file in ../shared");
    let env = seed_env();
    let cfg = load_with(&text, &env).expect("seed loads");
    let labels: Vec<String> = cfg.accounts().map(|a| a.label()).collect();
    assert_eq!(
        labels,
        [
            "opencode/account_1",
            "opencode/account_2",
            "copilot/account_1",
            "cline/default",
            "xnai_iam/default",
            "local_llm/default"
        ]
    );
    let a1 = cfg
        .provider("opencode")
        .expect("opencode")
        .accounts
        .first()
        .expect("a1");
    assert_eq!(a1.name.as_deref(), Some("Account 1"));
    assert_eq!(a1.upstream.as_deref(), Some("google"));
    assert_eq!(a1.models, ["gemini-3-pro", "claude-sonnet-4-5"]);
    assert_eq!(a1.quota_status.as_deref(), Some("active"));
    assert_eq!(
        a1.token_expiry
            .as_ref()
            .map(|t| t.value.to_string())
            .as_deref(),
        Some("2027-12-31T00:00:00Z")
    );
    let tok = a1.secret("oauth_token").expect("token");
    assert_eq!(
        tok.value.expose(),
        "ya29.token-one-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(
        tok.origin,
        Origin::Env {
            var: "XNAI_OPENCODE_ACCOUNT_1_OAUTH_TOKEN".into()
        }
    );
    assert_eq!(
        cfg.provider("opencode")
            .and_then(|p| p.isolation_method.clone())
            .as_deref(),
        Some("xdg_data_home")
    );

    let cop = cfg
        .provider("copilot")
        .expect("copilot")
        .accounts
        .first()
        .expect("c1");
    assert_eq!(
        cop.setting("github_user").map(|f| f.value.as_str()),
        Some("octo-one")
    );
    assert_eq!(
        cop.secret("oauth_token").map(|f| f.origin.clone()),
        Some(Origin::File {
            line: 30,
            vars: vec!["XNAI_COPILOT_ACCOUNT_1_TOKEN".into()]
        })
    );

    let cline = cfg.provider("cline").expect("cline");
    assert!(cline.single_account);
    let c = &cline.accounts[0];
    assert_eq!(c.id, "default");
    assert_eq!(c.api_key_permanent, Some(true));
    assert_eq!(c.rotation_schedule.as_deref(), Some("quarterly"));
    assert_eq!(
        c.secret("api_key").map(|s| s.value.expose()),
        Some("sk-ant-api03-x")
    );

    let iam = &cfg.provider("xnai_iam").expect("iam").accounts[0];
    // ${JWT_PUBLIC_KEY_PATH:-} expands to empty: no key configured.
    assert!(iam.setting("public_key_path").is_none());

    let tv = &cfg.token_validation;
    assert_eq!(tv.refresh_buffer_minutes, 5);
    assert!(tv.auto_refresh_if_expired);
    assert_eq!(tv.provider_refresh_policies.len(), 3);
    assert_eq!(
        tv.provider_refresh_policies[0].lifetime,
        Some(Lifetime::Days(30))
    );
    assert_eq!(
        tv.provider_refresh_policies[1].lifetime,
        Some(Lifetime::Hours(12))
    );
    assert_eq!(
        tv.provider_refresh_policies[2].lifetime,
        Some(Lifetime::Infinite)
    );
    assert_eq!(
        tv.provider_refresh_policies[1].refresh_method.as_deref(),
        Some("gh_cli")
    );

    assert_eq!(cfg.dispatch.weights.quota, 0.4);
    assert_eq!(
        cfg.dispatch.fallback_chain,
        ["opencode", "copilot", "cline", "local_llm"]
    );
    assert_eq!(cfg.quota.thresholds.warning, 80.0);
    assert_eq!(cfg.quota.thresholds.critical, 90.0);
    let (pid, limits) = &cfg.quota.quotas[0];
    assert_eq!(pid, "copilot");
    assert_eq!(limits.len(), 2);
    assert_eq!(limits[0].limit, 50.0);
    assert_eq!(limits[0].unit, QuotaUnit::Messages);
    assert_eq!(limits[0].window, QuotaWindow::Monthly);
    assert_eq!(limits[0].reset_day, Some(1));
    assert_eq!(limits[1].unit, QuotaUnit::Completions);
    assert_eq!(
        cfg.quota.quotas[1].1[0].reset.as_deref(),
        Some("sunday 00:00 UTC")
    );
    assert_eq!(cfg.security.file_permissions.as_deref(), Some("0600"));
    assert!(!cfg.security.external_api_calls);
    assert!(
        cfg.metadata
            .contains(&("status".to_string(), "template".to_string()))
    );
}

#[test]
fn seed_file_names_the_first_missing_variable_and_its_line() {
    let text = std::fs::read_to_string(seed_path()).expect("seed");
    let e = load(&text).expect_err("no env");
    assert_eq!(e.kind, ConfigErrorKind::MissingVariable);
    let loc = e.location.clone().expect("location");
    assert_eq!((loc.line, loc.col), (12, 22));
    assert!(
        e.message
            .contains("XNAI_OPENCODE_ACCOUNT_1_OAUTH_TOKEN is not set (used by credentials.opencode.accounts.account_1.oauth_token)"),
        "{}",
        e.message
    );
    assert!(e.to_string().starts_with("/cfg/credentials.yaml:12:22: "));
}

#[test]
fn expansion_happens_after_parsing() {
    // A value containing YAML syntax must stay a value.
    let mut env = HashMap::new();
    env.insert("EVIL".to_string(), "x\n  injected: true\n#".to_string());
    let cfg = load_with(
        "credentials:\n  cline:\n    api_key: ${EVIL}\n    name: \"${UNSET:-fallback name}\"\n",
        &env,
    )
    .expect("loads");
    let a = cfg.accounts().next().expect("account");
    assert_eq!(
        a.secret("api_key").map(|s| s.value.expose()),
        Some("x\n  injected: true\n#")
    );
    assert_eq!(a.name.as_deref(), Some("fallback name"));
}

#[test]
fn overrides_replace_fields_and_win_over_unset_variables() {
    let mut env = HashMap::new();
    env.insert(
        "XNAI_COPILOT_WORK_OAUTH_TOKEN".to_string(),
        "ghu_fromenv".to_string(),
    );
    env.insert(
        "XNAI_COPILOT_WORK_TOKEN_EXPIRY".to_string(),
        "2030-01-01".to_string(),
    );
    env.insert("XNAI_COPILOT_WORK_ENABLED".to_string(), "false".to_string());
    env.insert(
        "XNAI_CLINE_API_KEY".to_string(),
        "sk-ant-short-form".to_string(),
    );
    let cfg = load_with(
        "credentials:\n  copilot:\n    accounts:\n      work:\n        oauth_token: ${NOT_SET_ANYWHERE}\n  cline:\n    name: c\n",
        &env,
    )
    .expect("override wins over the unset variable");
    let w = cfg.accounts().next().expect("work");
    assert_eq!(
        w.secret("oauth_token").map(|s| s.value.expose()),
        Some("ghu_fromenv")
    );
    assert_eq!(
        w.token_expiry
            .as_ref()
            .map(|t| t.value.to_string())
            .as_deref(),
        Some("2030-01-01T00:00:00Z")
    );
    assert!(!w.enabled);
    let c = cfg.accounts().nth(1).expect("cline");
    assert_eq!(
        c.secret("api_key").map(|s| s.value.expose()),
        Some("sk-ant-short-form")
    );
    assert_eq!(
        c.secret("api_key").map(|s| s.origin.to_string()).as_deref(),
        Some("env XNAI_CLINE_API_KEY")
    );
}

#[test]
fn bad_override_value_names_the_variable() {
    let mut env = HashMap::new();
    env.insert(
        "XNAI_COPILOT_WORK_TOKEN_EXPIRY".to_string(),
        "soon".to_string(),
    );
    let e = load_with(
        "credentials:\n  copilot:\n    accounts:\n      work:\n        oauth_token: x\n",
        &env,
    )
    .expect_err("bad expiry");
    assert!(
        e.message
            .contains("from environment variable XNAI_COPILOT_WORK_TOKEN_EXPIRY"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_keys_have_paths_and_suggestions() {
    let e = err("credentials:\n  opencode:\n    accounts:\n      a1:\n        oauth_tokn: x\n");
    assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
    assert_eq!(
        e.message,
        "unknown key `credentials.opencode.accounts.a1.oauth_tokn`"
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `credentials.opencode.accounts.a1.oauth_token`?")
    );
    let loc = e.location.expect("loc");
    assert_eq!((loc.line, loc.col), (5, 9));

    let e = err("token_validaton:\n  enabled: true\n");
    assert_eq!(e.message, "unknown key `token_validaton`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `token_validation`?"));

    let e = err("security:\n  external_calls: false\n");
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `security.external_api_calls`?")
    );

    // A key that belongs to another kind is unknown here.
    let e = err("credentials:\n  cline:\n    github_user: me\n");
    assert_eq!(e.message, "unknown key `credentials.cline.github_user`");
}

#[test]
fn keys_that_look_like_credentials_are_not_echoed() {
    let e = err("credentials:\n  cline:\n    sk-ant-api03-SECRETSECRETSECRET: x\n");
    assert!(!e.to_string().contains("SECRETSECRET"), "{e}");
    assert!(
        e.message.contains("may be a pasted credential"),
        "{}",
        e.message
    );
}

#[test]
fn provider_kinds() {
    let e = err("credentials:\n  copilto:\n    oauth_token: x\n");
    assert_eq!(e.message, "unknown provider `copilto` under credentials");
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .starts_with("did you mean `copilot`?")
    );

    let cfg = load(
        "credentials:\n  copilot_work:\n    kind: copilot\n    accounts:\n      a: {oauth_token: x}\n      b: {oauth_token: y}\n",
    )
    .expect("explicit kind");
    let p = cfg.provider("copilot_work").expect("section");
    assert_eq!(p.kind.id(), "copilot");
    assert_eq!(p.accounts.len(), 2);

    let e = err("credentials:\n  mine:\n    kind: copliot\n");
    assert_eq!(
        e.message,
        "credentials.mine.kind: unknown provider kind `copliot`"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .starts_with("did you mean `copilot`?")
    );
}

#[test]
fn section_level_fields_are_defaults_but_credentials_are_not_shared() {
    let cfg = load(
        "credentials:\n  opencode:\n    models: [m1]\n    enabled: false\n    accounts:\n      a: {oauth_token: x}\n      b: {oauth_token: y, models: [m2], enabled: true}\n",
    )
    .expect("loads");
    let accts: Vec<_> = cfg.accounts().collect();
    assert_eq!(accts[0].models, ["m1"]);
    assert!(!accts[0].enabled);
    assert_eq!(accts[1].models, ["m2"]);
    assert!(accts[1].enabled);

    let e = err(
        "credentials:\n  opencode:\n    oauth_token: shared\n    accounts:\n      a: {name: x}\n",
    );
    assert!(
        e.message
            .contains("a credential at provider level cannot be shared"),
        "{}",
        e.message
    );
    assert!(!e.to_string().contains("shared\n"));
}

#[test]
fn wrong_types_and_values() {
    let e = err("credentials:\n  opencode:\n    accounts:\n      a:\n        models: gemini\n");
    assert_eq!(e.kind, ConfigErrorKind::WrongType);
    assert_eq!(
        e.message,
        "credentials.opencode.accounts.a.models: expected a list such as [a, b], found a string"
    );

    let e = err("credentials:\n  opencode:\n    accounts:\n      a:\n        token_expiry: soon\n");
    assert!(
        e.message
            .starts_with("credentials.opencode.accounts.a.token_expiry: expected an RFC 3339")
    );
    assert_eq!(e.location.map(|l| l.line), Some(5));

    let e = err("credentials:\n  cline:\n    enabled: maybe\n");
    assert_eq!(
        e.message,
        "credentials.cline.enabled: expected true or false"
    );

    let e = err("credentials:\n  opencode:\n    accounts: [a, b]\n");
    assert_eq!(
        e.message,
        "credentials.opencode.accounts: expected a mapping, found a list"
    );

    let e = err("credentials:\n  opencode:\n    accounts:\n      ../evil: {}\n");
    assert!(
        e.message.starts_with("invalid account id `../evil`"),
        "{}",
        e.message
    );
    assert_eq!(e.location.map(|l| l.line), Some(4));
}

#[test]
fn dispatch_and_quota_validation() {
    let e = err("dispatch_config:\n  weights: {quota: 0.5, latency: 0.3, context_fit: 0.3}\n");
    assert_eq!(
        e.message,
        "dispatch_config.weights: weights must sum to 1, they sum to 1.1"
    );
    // Thirds as written by people load, scaled to sum to exactly 1.
    let c =
        load("dispatch_config:\n  weights: {quota: 0.333, latency: 0.333, context_fit: 0.333}\n")
            .expect("thirds load");
    let w = c.dispatch.weights;
    assert!((w.quota + w.latency + w.context_fit - 1.0).abs() < 1e-12);
    assert!((w.quota - 1.0 / 3.0).abs() < 1e-12, "{w:?}");
    let e = err("dispatch_config:\n  weights: {quota: 0.4, latency: 0.3, context_fit: 0.29}\n");
    assert_eq!(
        e.message,
        "dispatch_config.weights: weights must sum to 1, they sum to 0.99"
    );
    let e = err(
        "credentials:\n  cline: {api_key: x}\ndispatch_config:\n  fallback_chain: [cline, cline]\n",
    );
    assert_eq!(
        e.message,
        "dispatch_config.fallback_chain: `cline` is listed twice"
    );
    assert_eq!(e.location.map(|l| (l.line, l.col)), Some((4, 27)));
    let e = err("dispatch_config:\n  timeout_secs: 0\n");
    assert_eq!(
        e.message,
        "dispatch_config.timeout_secs: expected a whole number from 1 to 604800"
    );
    assert_eq!(e.hint.as_deref(), Some("leave it out for no timeout"));
    let e = err("dispatch_config:\n  max_attempts: 0\n");
    assert_eq!(
        e.message,
        "dispatch_config.max_attempts: expected a whole number from 1 to 100"
    );
    let e = err("credentials:\n  cline:\n    max_concurrent: 0\n    api_key: x\n");
    assert_eq!(
        e.message,
        "credentials.cline.max_concurrent: expected a whole number from 1 to 10000"
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("use enabled: false to keep the account out")
    );
    let e = err("credentials:\n  cline: {api_key: x}\ndispatch_config:\n  chains: {'': [cline]}\n");
    assert!(e.message.contains("a chain needs a name"), "{}", e.message);
    let e = err("credentials:\n  cline:\n    command: [\"{prompt}\"]\n    api_key: x\n");
    assert!(
        e.message.contains("the first item is the program to run"),
        "{}",
        e.message
    );

    let e = err(
        "credentials:\n  cline: {api_key: x}\ndispatch_config:\n  fallback_chain: [cline, copliot]\n",
    );
    assert_eq!(
        e.message,
        "dispatch_config.fallback_chain: `copliot` is not a provider under credentials"
    );
    assert_eq!(e.location.map(|l| (l.line, l.col)), Some((4, 27)));

    let e = err(
        "quota_management:\n  alert_thresholds: {warning_percentage: 95, critical_percentage: 90}\n",
    );
    assert!(
        e.message
            .contains("need 0 < warning_percentage < critical_percentage <= 100")
    );

    let e = err(
        "credentials:\n  copilot: {accounts: {}}\nquota_management:\n  quotas:\n    copilot: [{limit: 50, unit: mesages, window: monthly}]\n",
    );
    assert_eq!(
        e.message,
        "quota_management.quotas.copilot[0].unit: unknown value `mesages`"
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `messages`?"));

    let e = err(
        "credentials:\n  copilot: {accounts: {}}\nquota_management:\n  quotas:\n    copilot: [{limit: 0, unit: messages, window: monthly}]\n",
    );
    assert_eq!(
        e.message,
        "quota_management.quotas.copilot[0].limit: must be greater than 0"
    );

    let e = err("quota_management:\n  quotas:\n    copliot: []\n");
    assert!(e.message.contains("`copliot` is not a provider"));

    // The range offered is the range accepted: 0 and 32 are both outside it.
    for bad in ["0", "32"] {
        let e = err(&format!(
            "credentials:\n  copilot: {{accounts: {{}}}}\nquota_management:\n  quotas:\n    copilot: [{{limit: 5, unit: messages, window: monthly, reset_day: {bad}}}]\n"
        ));
        assert_eq!(
            e.message,
            "quota_management.quotas.copilot[0].reset_day: expected a whole number from 1 to 31",
            "reset_day {bad}"
        );
    }

    let e = err(
        "credentials:\n  copilot: {accounts: {}}\nquota_management:\n  quotas:\n    copilot: [{limit: 5, unit: messages, window: monthly, reset_day: 3, reset: '15'}]\n",
    );
    assert_eq!(
        e.message,
        "quota_management.quotas.copilot[0]: reset_day and reset both give the day of the month"
    );
    let e = err("quota_management:\n  audit_collection_time: \"2am\"\n");
    assert!(e.message.contains("expected HH:MM"));

    let e = err("security:\n  file_permissions: \"0644\"\n");
    assert!(e.message.contains("without group or other access"));
}

#[test]
fn syntax_errors_have_line_and_column() {
    let e = err("credentials:\n  cline:\n    api_key: \"unterminated\n    name: x\n");
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    let loc = e.location.expect("loc");
    assert_eq!(loc.line, 3);
    assert!(loc.col > 0);
    assert_eq!(e.message, "invalid YAML: unclosed quote");

    let e = err("credentials:\n  cline:\n    api_key: a\n    api_key: b\n");
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    assert_eq!(e.location.map(|l| l.line), Some(4));
}

#[test]
fn empty_file_and_template_load() {
    let cfg = load("").expect("empty");
    assert_eq!(cfg.accounts().count(), 0);
    let cfg = load(config::template::TEMPLATE).expect("template loads as-is");
    assert_eq!(cfg.accounts().count(), 0);
    assert_eq!(cfg.token_validation.refresh_buffer_minutes, 5);
}

#[test]
fn relative_key_paths_resolve_against_the_file() {
    let cfg = load(
        "credentials:\n  xnai_iam:\n    access_token: a.b.c\n    public_key_path: keys/pub.pem\n",
    )
    .expect("loads");
    let a = cfg.accounts().next().expect("iam");
    assert_eq!(
        a.setting("public_key_path").map(|f| f.value.as_str()),
        Some("/cfg/keys/pub.pem")
    );
}

fn write_file(dir: &Path, mode: u32, text: &str) -> PathBuf {
    let p = dir.join("credentials.yaml");
    std::fs::write(&p, text).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

#[test]
fn permissions_are_enforced() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write_file(dir.path(), 0o644, "credentials: {}\n");
    let lookup = |_: &str| None;
    let opts = LoadOptions {
        path: p.clone(),
        insecure_permissions: false,
        env: &lookup,
    };
    let e = config::load(&opts).expect_err("0644 refused");
    assert_eq!(e.kind, ConfigErrorKind::Permissions);
    assert_eq!(
        e.message,
        "refusing to read credentials: it is accessible to its group and all other users (mode 0644)"
    );
    assert_eq!(
        e.hint,
        Some(format!(
            "fix it with: chmod 600 {}   (or pass --insecure-permissions to load it anyway)",
            p.display()
        ))
    );

    let loaded = config::load(&LoadOptions {
        insecure_permissions: true,
        ..opts
    })
    .expect("loads with override");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("--insecure-permissions"));

    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let loaded = config::load(&LoadOptions {
        path: p,
        insecure_permissions: false,
        env: &lookup,
    })
    .expect("private file loads");
    assert!(loaded.warnings.is_empty());
}

#[test]
fn missing_file_suggests_init_or_the_prototype_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let lookup = |_: &str| None;
    let opts = LoadOptions {
        path: dir.path().join("credentials.yaml"),
        insecure_permissions: false,
        env: &lookup,
    };
    let e = config::load(&opts).expect_err("missing");
    assert_eq!(e.kind, ConfigErrorKind::NotFound);
    assert!(e.hint.as_deref().unwrap_or("").contains("xnai init"));
    std::fs::write(dir.path().join("opencode-credentials.yaml"), "x").expect("write");
    let e = config::load(&opts).expect_err("missing");
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .contains("opencode-credentials.yaml")
    );
}

#[test]
fn default_path_follows_xdg() {
    let env: HashMap<&str, &str> = [("XDG_CONFIG_HOME", "/x/cfg"), ("HOME", "/home/u")].into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    assert_eq!(
        config::default_path(&lookup),
        Some(PathBuf::from("/x/cfg/xnai/credentials.yaml"))
    );
    let env: HashMap<&str, &str> = [("HOME", "/home/u"), ("XDG_CONFIG_HOME", "relative")].into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    assert_eq!(
        config::default_path(&lookup),
        Some(PathBuf::from("/home/u/.config/xnai/credentials.yaml"))
    );
}

#[test]
fn every_unset_variable_is_reported_at_once() {
    let text = std::fs::read_to_string(seed_path()).expect("seed");
    let e = load(&text).expect_err("no env");
    assert!(
        e.message.ends_with(
            "; also unset: XNAI_OPENCODE_ACCOUNT_2_OAUTH_TOKEN (line 20), XNAI_COPILOT_ACCOUNT_1_TOKEN (line 30), XNAI_CLINE_ANTHROPIC_API_KEY (line 36), XNAI_IAM_ACCESS_TOKEN (line 43)"
        ),
        "{}",
        e.message
    );
    let hint = e.hint.unwrap_or_default();
    assert!(
        hint.starts_with(
            "export XNAI_CLINE_ANTHROPIC_API_KEY=... XNAI_COPILOT_ACCOUNT_1_TOKEN=..."
        ),
        "{hint}"
    );
}

#[test]
fn disabled_accounts_may_reference_unset_variables() {
    let cfg = load(
        "credentials:\n  copilot:\n    accounts:\n      parked: {enabled: false, oauth_token: \"${PARKED_TOKEN}\"}\n      live: {oauth_token: x}\n",
    )
    .expect("a disabled account does not block loading");
    let parked = cfg.accounts().next().expect("parked");
    assert!(!parked.enabled);
    assert!(parked.secret("oauth_token").is_none());
    let e = err(
        "credentials:\n  copilot:\n    accounts:\n      live: {oauth_token: \"${LIVE_TOKEN}\"}\n",
    );
    assert_eq!(e.kind, ConfigErrorKind::MissingVariable);
}

#[test]
fn a_token_inside_braces_is_not_named_as_a_variable() {
    let e = err(
        "credentials:\n  copilot:\n    accounts:\n      a: {oauth_token: \"${ghu_SECRETsecret0123456789abcdefghij}\"}\n",
    );
    assert_eq!(e.kind, ConfigErrorKind::MissingVariable);
    assert!(!e.to_string().contains("SECRETsecret"), "{e}");
    assert!(e.message.contains("not a variable name"), "{}", e.message);
    assert_eq!(
        e.hint.as_deref(),
        Some("write the credential itself, without ${ and }")
    );
}

#[test]
fn override_name_collisions_are_refused() {
    let e = err(
        "credentials:\n  copilot:\n    accounts:\n      work-b: {oauth_token: x}\n      work_b: {oauth_token: y}\n",
    );
    assert_eq!(
        e.message,
        "accounts copilot/work-b and copilot/work_b would share the environment overrides XNAI_COPILOT_WORK_B_<FIELD>"
    );
    let e = err(
        "credentials:\n  copilot:\n    accounts:\n      work_a: {oauth_token: x}\n  copilot_work:\n    kind: copilot\n    accounts:\n      a: {oauth_token: y}\n",
    );
    assert!(
        e.message
            .starts_with("accounts copilot/work_a and copilot_work/a would share"),
        "{}",
        e.message
    );
}

#[test]
fn a_kind_named_section_cannot_hold_another_kind() {
    let e = err("credentials:\n  copilot:\n    kind: cline\n    api_key: x\n");
    assert_eq!(
        e.message,
        "credentials.copilot: the id `copilot` names the copilot kind, but kind says `cline`"
    );
    // Saying the same kind again is fine.
    assert!(load("credentials:\n  copilot:\n    kind: copilot\n    accounts: {}\n").is_ok());
}

#[test]
fn stray_overrides_are_warned_about() {
    let cfg = load("credentials:\n  copilot:\n    accounts:\n      a: {oauth_token: x}\n  cline:\n    api_key: ${XNAI_CLINE_ANTHROPIC_API_KEY:-k}\n").expect("loads");
    let names = [
        "XNAI_COPILOT_B_OAUTH_TOKEN",
        "XNAI_COPILOT_A_OAUTH_TOKEN",
        "XNAI_COPILOT_A_API_KEY",
        "XNAI_CONFIG",
        "PATH",
    ]
    .map(String::from);
    let w = config::stray_override_warnings(&cfg, names);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(
        w[0],
        "environment variable XNAI_COPILOT_B_OAUTH_TOKEN looks like an override but matches no account field (did you mean XNAI_COPILOT_A_OAUTH_TOKEN?); it is ignored"
    );
    assert!(w[1].starts_with("environment variable XNAI_COPILOT_A_API_KEY looks like an override"));
}

#[test]
fn values_lost_to_yaml_tags_are_errors() {
    let e = err("credentials:\n  xnai_iam:\n    access_token: a.b.c\n    jwt_secret: !s3cret\n");
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    assert!(e.message.contains("tag or anchor"), "{}", e.message);
    assert_eq!(e.hint.as_deref(), Some("put the value in quotes"));
    assert!(
        load("credentials:\n  xnai_iam:\n    access_token: a.b.c\n    jwt_secret: \"!s3cret\"\n")
            .is_ok()
    );
}
