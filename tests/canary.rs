//! Canary: a unique secret in every secret field of every provider kind, through every command
//! in text and JSON, on success and error paths. It must never appear in stdout or stderr.

mod common;

use common::{Home, Out, github_token, run};
use xnai::provider::{self, FieldType};

const CANARY: &str = "CNRYq7Zx9Wv3Kp2M";

fn assert_clean(what: &str, out: &Out) {
    assert!(
        !out.stdout.contains(CANARY) && !out.stderr.contains(CANARY),
        "canary leaked by {what}:\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        !out.stderr.contains("panicked"),
        "{what} panicked: {}",
        out.stderr
    );
}

/// Every secret field of every kind, in a multi-account section per kind, generated from the
/// provider registry so new fields are covered automatically.
fn every_field_config() -> String {
    let mut y = String::from("credentials:\n");
    for p in provider::ALL {
        y.push_str(&format!("  {}:\n    accounts:\n      a:\n", p.id()));
        for f in p.account_fields() {
            if f.ty == FieldType::Secret {
                y.push_str(&format!(
                    "        {}: \"x-{CANARY}-{}-tail9876\"\n",
                    f.name, f.name
                ));
            }
        }
    }
    y
}

/// Real-format credentials with the canary inside them.
fn realistic_config() -> String {
    let ghu = github_token("ghu_", &format!("ab{CANARY}cdefghij0123"));
    let ya29 = format!("ya29.a0Af{CANARY}{}", "x".repeat(120));
    let api03 = format!("sk-ant-api03-{CANARY}{}AA", "y".repeat(93 - CANARY.len()));
    let oat = format!("sk-ant-oat01-{CANARY}{}AA", "z".repeat(80));
    let jwt = format!(
        "{}.{}.sig{CANARY}sig",
        xnai::token::jwt::b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        xnai::token::jwt::b64url(br#"{"sub":"dev","exp":4102444800}"#)
    );
    let aiza = format!("AIza{CANARY}{}", "k".repeat(35 - CANARY.len()));
    let proj = format!("sk-proj-{CANARY}{}", "p".repeat(60));
    format!(
        "credentials:
  opencode:
    accounts:
      w:
        oauth_token: {ya29}
        refresh_token: 1//{CANARY}abc
        token_expiry: 2099-01-01
  copilot:
    accounts:
      me: {{oauth_token: {ghu}}}
  cline:
    api_key: {api03}
  claude:
    accounts:
      max: {{oauth_token: {oat}, refresh_token: sk-ant-ort01-{CANARY}}}
  codex:
    accounts:
      key: {{api_key: {proj}}}
      chatgpt: {{access_token: {jwt}, id_token: {jwt}}}
  gemini:
    accounts:
      g: {{api_key: {aiza}}}
  xnai_iam:
    access_token: {jwt}
    jwt_secret: hs-{CANARY}-secret
  local_llm:
    api_key: local-{CANARY}-key
"
    )
}

fn run_everything(home: &Home, cfg: &std::path::Path, label: &str) {
    let mut cmds: Vec<Vec<String>> = vec![
        vec!["accounts".into()],
        vec!["accounts".into(), "--json".into()],
        vec!["check".into()],
        vec!["check".into(), "--json".into()],
        vec!["check".into(), "-v".into()],
        vec!["check".into(), "-v".into(), "--json".into()],
        vec!["check".into(), "no_such_provider".into()],
        vec!["check".into(), "cline/no_such_account".into()],
        vec!["init".into()],
        vec!["usage".into()],
        vec!["usage".into(), "--json".into(), "-v".into()],
        vec!["usage".into(), "--blocks".into(), "--json".into()],
        vec!["usage".into(), "cline/no_such_account".into()],
        vec!["audit".into()],
        vec![
            "audit".into(),
            "--json".into(),
            "--format".into(),
            "json".into(),
        ],
        vec!["status".into()],
        vec!["status".into(), "--json".into()],
        vec!["schedule".into(), "install".into(), "--dry-run".into()],
        vec![
            "schedule".into(),
            "install".into(),
            "--dry-run".into(),
            "--system".into(),
        ],
        vec!["schedule".into(), "status".into(), "--json".into()],
    ];
    for p in provider::ALL {
        cmds.push(vec!["check".into(), "-v".into(), p.id().to_string()]);
    }
    for args in cmds {
        let out = run(home.xnai().arg("--config").arg(cfg).args(&args));
        assert_clean(&format!("{label}: xnai {}", args.join(" ")), &out);
    }
    // Reports are files too: none may hold a secret.
    let reports = home.path().join(".local/share/xnai/reports");
    for e in std::fs::read_dir(&reports).expect("audit wrote reports") {
        let p = e.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("report");
        assert!(!text.contains(CANARY), "{label}: canary in {}", p.display());
    }
}

#[test]
fn every_secret_field_of_every_kind() {
    let home = Home::new();
    let cfg = home.config(&every_field_config());
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("accounts"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    run_everything(&home, &cfg, "every field");
}

#[test]
fn realistic_tokens() {
    let home = Home::new();
    let cfg = home.config(&realistic_config());
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    run_everything(&home, &cfg, "realistic");
}

#[test]
fn secrets_from_environment_overrides_and_expansion() {
    let home = Home::new();
    let cfg = home.config(
        "credentials:\n  cline:\n    api_key: ${CLINE_KEY}\n  copilot:\n    accounts:\n      me: {oauth_token: placeholder}\n",
    );
    let secret = format!("sk-ant-api03-{CANARY}-from-env-0000000000");
    for args in [
        vec!["accounts"],
        vec!["accounts", "--json"],
        vec!["check", "-v"],
        vec!["check", "--json", "-v"],
    ] {
        let out = run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .env("CLINE_KEY", &secret)
            .env("XNAI_COPILOT_ME_OAUTH_TOKEN", format!("ghu_{CANARY}"))
            .env(
                "XNAI_COPILOT_ME_TOKEN_EXPIRY",
                format!("not-a-date-{CANARY}"),
            ));
        assert_clean(&format!("env: {args:?}"), &out);
        assert_eq!(
            out.code, 2,
            "the bad expiry override is a config error: {}",
            out.stderr
        );
        assert!(out.stderr.contains("XNAI_COPILOT_ME_TOKEN_EXPIRY"));
    }
    for args in [
        vec!["accounts"],
        vec!["accounts", "--json"],
        vec!["check", "-v"],
        vec!["check", "--json", "-v"],
    ] {
        let out = run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .env("CLINE_KEY", &secret)
            .env("XNAI_COPILOT_ME_OAUTH_TOKEN", format!("ghu_{CANARY}")));
        assert_clean(&format!("env ok: {args:?}"), &out);
    }
}

/// Broken files where the error is on, or next to, the secret's own line.
#[test]
fn error_paths_never_print_the_secret_or_its_line() {
    let s = format!("sk-ant-api03-{CANARY}0000000000");
    let broken = [
        format!("credentials:\n  cline:\n    api_key: \"{s}\n    name: x\n"),
        format!("credentials:\n  cline:\n    api_key: '{s}\n"),
        format!("credentials:\n  cline:\n    api_key: {s}: extra\n"),
        format!("credentials:\n  cline:\n    api_key: [{s}\n"),
        format!("credentials:\n  cline:\n    api_key: {{{s}\n"),
        format!("credentials:\n  cline:\n    api_key: {s}\n    api_key: {s}\n"),
        format!("credentials:\n  cline:\n    {s}: 1\n    {s}: 2\n"),
        format!("credentials:\n  cline:\n\tapi_key: {s}\n"),
        format!("credentials:\n  cline:\n    api_key: *{s}\n"),
        format!("credentials:\n  cline:\n    api_key: !!binary {s}\n"),
        format!("credentials:\n  cline:\n    api_key: !!int {s}\n"),
        format!("credentials:\n  cline:\n    api_key: {s}\n  - item\n"),
        format!("credentials:\n  cline:\n    api_kye: {s}\n"),
        format!("credentials:\n  cline:\n    {s}: value\n"),
        format!("credentials:\n  cline:\n    api_key: [{s}]\n"),
        format!("credentials:\n  cline:\n    api_key: {{k: {s}}}\n"),
        format!("credentials:\n  cline:\n    api_key: \"${{NOT_SET_VAR}}{s}\"\n"),
        format!("credentials:\n  cline:\n    api_key: \"{s}${{\"\n"),
        format!("credentials:\n  cline:\n    api_key: \"{s}${{1bad}}\"\n"),
        format!(
            "credentials:\n  opencode:\n    oauth_token: {s}\n    accounts:\n      a: {{name: x}}\n"
        ),
        format!("credentials:\n  cline:\n    api_key: {s}\n    enabled: {s}\n"),
        format!("credentials:\n  cline:\n    api_key: {s}\n    token_expiry: {s}\n"),
        format!("credentials:\n  cline:\n    api_key: {s}\n    kind: {s}\n"),
        format!(
            "credentials:\n  cline:\n    api_key: {s}\ntoken_validation: {{refresh_buffer_minutes: {s}}}\n"
        ),
        format!(
            "credentials:\n  cline:\n    api_key: {s}\ndispatch_config: {{fallback_chain: [{s}]}}\n"
        ),
        format!("credentials:\n  cline:\n    api_key: {s}\n\x00\n"),
        format!("credentials:\n  cline:\n    api_key: {s}\n---\nsecond: doc\n"),
        format!("{s}\n"),
        format!("- {s}\n"),
        // A token pasted inside ${...}: GitHub tokens and AIza keys are valid variable names.
        format!(
            "credentials:\n  copilot:\n    accounts:\n      a: {{oauth_token: \"${{ghu_{CANARY}abcdefghij0123\"}}\n"
        ),
        format!("credentials:\n  gemini:\n    api_key: ${{AIza{CANARY}xxxxxxxxxxxxxxxxxxx}}\n"),
        format!("credentials:\n  cline:\n    api_key: ${{{CANARY}}}\n"),
        // A comma typed for a colon turns a short secret into a key.
        format!("credentials:\n  xnai_iam: {{access_token: x, jwt_secret, {CANARY}}}\n"),
        // A secret written as a tag or anchor.
        format!("credentials:\n  xnai_iam:\n    access_token: a.b.c\n    jwt_secret: !{CANARY}\n"),
        format!("credentials:\n  xnai_iam:\n    access_token: a.b.c\n    jwt_secret: &{CANARY}\n"),
        // A secret as a provider or account id.
        format!("credentials:\n  {CANARY}:\n    api_key: x\n"),
        format!("credentials:\n  copilot:\n    kind: {CANARY}\n"),
    ];
    for (i, text) in broken.iter().enumerate() {
        let home = Home::new();
        let cfg = home.config(text);
        for args in [
            vec!["accounts"],
            vec!["accounts", "--json"],
            vec!["check"],
            vec!["check", "--json", "-v"],
        ] {
            let out = run(home.xnai().arg("--config").arg(&cfg).args(&args));
            assert_clean(&format!("broken file #{i} {args:?}"), &out);
            assert_eq!(
                out.code, 2,
                "broken file #{i} must be a config error:\n{text}\n{}",
                out.stderr
            );
            assert!(out.stderr.starts_with("error: "), "#{i}: {}", out.stderr);
        }
    }
}

#[test]
fn non_utf8_and_loose_permissions() {
    let home = Home::new();
    let p = home.path().join("credentials.yaml");
    let mut bytes = format!("credentials:\n  cline:\n    api_key: {CANARY}").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(&p, bytes).expect("write");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let out = run(home.xnai().arg("--config").arg(&p).arg("check"));
    assert_clean("non-utf8", &out);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not UTF-8"));

    let cfg = home.config_with_mode(
        &format!("credentials:\n  cline:\n    api_key: {CANARY}\n"),
        0o644,
    );
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_clean("perms", &out);
    let out =
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["check", "--insecure-permissions", "-v"]));
    assert_clean("perms override", &out);
}

#[test]
fn debug_output_of_the_loaded_config_has_no_secret() {
    let cfg = xnai::config::load_str(
        &realistic_config(),
        std::path::Path::new("/x/credentials.yaml"),
        &|_| None,
    )
    .expect("loads");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains(CANARY), "Debug of Config leaks");
    assert!(dbg.contains("Secret([REDACTED])"));
    for a in cfg.accounts() {
        let r = xnai::check::check_account(a, 5, jiff::Timestamp::now());
        let json = serde_json::to_string(&r).expect("json");
        assert!(!json.contains(CANARY), "{json}");
        assert!(!format!("{r:?}").contains(CANARY));
    }
}

/// env/run/import/login: xnai's own messages (notes, warnings, errors, the ledger) never carry
/// the secret. `xnai env` prints it on purpose, for eval, and only on stdout.
#[test]
fn instance_commands_keep_secrets_out_of_their_own_output() {
    let home = Home::new();
    let cfg = home.config(&realistic_config());
    let run_cmd = |args: &[&str]| run(home.xnai().arg("--config").arg(&cfg).args(args));
    // Refused (invalid) accounts, forced runs, masked runs, unknown accounts.
    for target in [
        "copilot/me",
        "cline",
        "claude/max",
        "codex/key",
        "gemini/g",
        "xnai_iam",
        "opencode/w",
    ] {
        let out = run_cmd(&["run", target, "--", "true"]);
        assert_clean(&format!("run {target}"), &out);
        let out = run_cmd(&["run", "--force", target, "--", "true"]);
        assert_clean(&format!("run --force {target}"), &out);
        let out = run_cmd(&[
            "run",
            "--force",
            "--mask",
            target,
            "--",
            "bash",
            "-c",
            "env; cat */*/* */*/*/* 2>/dev/null",
        ]);
        assert_clean(&format!("run --mask {target}"), &out);
        let out = run_cmd(&["env", target]);
        if out.code == 0 {
            // A valid account: the secret is the point of stdout, never of stderr.
            assert!(
                !out.stderr.contains(CANARY),
                "env {target} stderr: {}",
                out.stderr
            );
        } else {
            assert_clean(&format!("env {target} (refused)"), &out);
        }
        let out = run_cmd(&["env", "--force", target, "--shell", "json"]);
        assert!(
            !out.stderr.contains(CANARY),
            "env --force {target} stderr: {}",
            out.stderr
        );
    }
    let out = run_cmd(&["env", "--all"]);
    assert!(
        !out.stderr.contains(CANARY),
        "env --all stderr: {}",
        out.stderr
    );
    let out = run_cmd(&["run", "cline/nope", "--", "true"]);
    assert_clean("unknown account", &out);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "cline", "--", "true"])
        .env("XNAI_FORCE_ACCOUNT", format!("copilot/{CANARY}")));
    assert_clean("forced unknown", &out);

    // Imports of files holding the canary: good, duplicate and broken.
    let claude = home.path().join("creds.json");
    std::fs::write(
        &claude,
        format!(r#"{{"claudeAiOauth":{{"accessToken":"sk-ant-oat01-{CANARY}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxAA","refreshToken":"sk-ant-ort01-{CANARY}"}}}}"#),
    )
    .expect("write");
    for args in [
        vec!["import", "claude", "-a", "one"],
        vec!["import", "claude", "-a", "two"],
        vec!["import", "claude", "-a", "three", "--force"],
    ] {
        let out = run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .arg(&claude));
        assert_clean(&format!("{args:?}"), &out);
    }
    let broken = home.path().join("broken.json");
    std::fs::write(
        &broken,
        format!("{{\"claudeAiOauth\": {{\"accessToken\": \"{CANARY}\",,}}}}"),
    )
    .expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["import", "claude", "-a", "b"])
        .arg(&broken));
    assert_clean("broken import", &out);
    assert_eq!(out.code, 2);
    let hosts = home.path().join("hosts.yml");
    std::fs::write(
        &hosts,
        format!("github.com:\n    oauth_token: \"{CANARY}\n"),
    )
    .expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["import", "gh", "-a", "g"])
        .arg(&hosts));
    assert_clean("broken hosts.yml", &out);
    for args in [
        vec!["accounts"],
        vec!["accounts", "--json"],
        vec!["check", "-v"],
        vec!["check", "--json", "-v"],
    ] {
        let out = run(home.xnai().arg("--config").arg(&cfg).args(&args));
        assert_clean(&format!("after imports: {args:?}"), &out);
    }
    // Login of a kind without a login command, and of an account defined in the file.
    for target in ["xnai_iam/new", "claude/max"] {
        let out = run_cmd(&["login", target]);
        assert_clean(&format!("login {target}"), &out);
    }
    // A key passed to the tool's login after -- is handed on, never shown or stored.
    let arg = format!("sk-proj-{CANARY}-0000000000000000000000");
    let out = run_cmd(&["login", "codex/argkey", "--", "--api-key", &arg]);
    assert_clean("login with a key argument", &out);
    for entry in walk(&home.path().join("accounts.d")) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(CANARY), "{}", entry.display());
    }
    // The ledger and xnai's bookkeeping files hold no secret.
    let data = home.path().join(".local/share/xnai");
    let db = data.join("xnai.db");
    let bytes = std::fs::read(&db).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&bytes).contains(CANARY),
        "the ledger holds the canary"
    );
    for entry in walk(&data) {
        if entry
            .file_name()
            .is_some_and(|n| n == ".xnai-instance.json")
        {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            assert!(!text.contains(CANARY), "{}", entry.display());
        }
    }
    for entry in walk(&home.path().join("accounts.d")) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(
            !text.contains(CANARY),
            "{} holds the canary",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn usage_ledger_and_output_never_hold_the_secret() {
    let home = Home::new();
    let logs = home.path().join("logs/projects/p");
    std::fs::create_dir_all(&logs).expect("mkdir");
    // A log that quotes the token (a user pasted it into a prompt), in a usage line and in a
    // truncated one.
    let oat = format!("sk-ant-oat01-{CANARY}{}AA", "z".repeat(80));
    std::fs::write(
        logs.join("s.jsonl"),
        format!(
            "{{\"type\":\"assistant\",\"timestamp\":\"2026-09-01T10:00:00Z\",\"requestId\":\"r\",\"message\":{{\"id\":\"m\",\"model\":\"claude-x\",\"content\":\"{oat}\",\"usage\":{{\"input_tokens\":1,\"output_tokens\":2}}}}}}\n{{\"type\":\"user\",\"text\":\"{oat}\n"
        ),
    )
    .expect("write");
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: {oat}\n        usage_paths: [{}]\n",
        home.path().join("logs").display()
    ));
    for args in [
        vec!["usage", "-v"],
        vec!["usage", "--json", "-v"],
        vec!["usage", "--by", "model,tool,day", "--json"],
        vec!["usage", "--blocks"],
    ] {
        let out = run(home.xnai().arg("--config").arg(&cfg).args(&args));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_clean(&format!("xnai {}", args.join(" ")), &out);
    }
    let ledger = home.path().join(".local/share/xnai");
    let files = walk(&ledger);
    assert!(
        !files.is_empty(),
        "no ledger written under {}",
        ledger.display()
    );
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "{} holds the secret",
            f.display()
        );
    }
}

#[test]
fn secrets_pasted_into_names_and_zones_are_not_echoed() {
    let home = Home::new();
    for text in [
        format!(
            "credentials:\n  cline:\n    api_key: x\n    quotas: [{{limit: 1, unit: tokens, window: weekly, reset: \"monday 00:00 sk-ant-oat01-{CANARY}\"}}]\n"
        ),
        format!(
            "credentials:\n  cline:\n    api_key: x\nquota_management:\n  timezone: \"sk-ant-oat01-{CANARY}\"\n"
        ),
        format!(
            "credentials:\n  copilot:\n    accounts:\n      ghp_{CANARY}abcdefghijklmnopqrstu:\n        oauth_token: x\n"
        ),
    ] {
        let cfg = home.config(&text);
        for args in [
            vec!["check"],
            vec!["audit"],
            vec!["status"],
            vec!["schedule", "install", "--dry-run"],
        ] {
            let out = run(home.xnai().arg("--config").arg(&cfg).args(&args));
            assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
            assert_clean(&format!("xnai {}", args.join(" ")), &out);
        }
    }
}
