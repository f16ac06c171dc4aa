//! The `xnai` binary end to end: exit codes, messages, init, accounts, check.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Home, examples_dir, github_token, run};
use serde_json::Value;
use xnai::token::anthropic::{Kind, make_key};

fn copy_examples(home: &Home) -> std::path::PathBuf {
    let dst = home.path().join("examples");
    std::fs::create_dir_all(dst.join("keys")).expect("mkdir");
    for f in ["credentials.yaml", "keys/iam-rs256.pub.pem"] {
        std::fs::copy(examples_dir().join(f), dst.join(f)).expect("copy");
    }
    let cfg = dst.join("credentials.yaml");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    cfg
}

#[test]
fn example_check_shows_the_mixed_table_and_exits_1() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let row = |label: &str| -> String {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no row {label} in\n{}", out.stdout))
            .to_string()
    };
    assert!(row("opencode/work").contains(" valid "));
    assert!(row("opencode/personal").contains(" expired "));
    assert!(row("copilot/octo_one").contains("checksum ok"));
    assert!(row("copilot/octo_two").contains(" invalid_format "));
    assert!(row("copilot/octo_two").contains("bad checksum"));
    assert!(row("cline/default").contains("Anthropic API key (sk-ant-api03)"));
    assert!(row("claude/max").contains("sk-ant-oat01"));
    assert!(row("xnai_iam/default").contains("JWT (RS256), signature verified"));
    assert!(row("xnai_iam_staging/default").contains(" invalid_signature "));
    assert!(row("local_llm/default").contains(" valid "));
    assert!(out.stdout.contains(
        "10 accounts checked: 1 expired, 1 invalid_format, 1 invalid_signature, 7 valid"
    ));
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(!out.stdout.contains('\x1b'), "NO_COLOR must disable colour");
}

#[test]
fn example_check_json() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "--json"]));
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["summary"]["valid"], 7);
    let results = v["results"].as_array().expect("results");
    let by = |p: &str, a: &str| -> &Value {
        results
            .iter()
            .find(|r| r["provider"] == p && r["account"] == a)
            .expect("result")
    };
    assert_eq!(by("opencode", "personal")["state"], "expired");
    assert!(
        by("opencode", "personal")["hours_until_expiry"]
            .as_f64()
            .expect("h")
            < 0.0
    );
    assert_eq!(
        by("opencode", "personal")["expires_at"],
        "2026-01-15T00:00:00Z"
    );
    assert_eq!(by("xnai_iam", "default")["state"], "valid");
    assert_eq!(by("xnai_iam", "default")["expiry_source"], "jwt exp");
    assert_eq!(
        by("xnai_iam", "default")["expires_at"],
        "2100-01-01T00:00:00Z"
    );
    assert_eq!(by("copilot", "octo_two")["state"], "invalid_format");
    assert_eq!(by("cline", "default")["credential"], "sk-ant-api03-…-xAA");
}

#[test]
fn check_one_account_and_exit_0_when_valid() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "copilot/octo_one"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("1 account checked: 1 valid"));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "-p", "copilot"]));
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("2 accounts checked"));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "-p", "cline", "-a", "default", "-v"]));
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("api_key: sk-ant-api03-…-xAA"),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_provider_or_account_is_a_usage_error_listing_what_exists() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "copilto"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("error: no provider `copilto`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: did you mean `copilot`?"),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "copilot/octo_three"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("no account `octo_three` under provider `copilot`")
    );
    assert!(
        out.stderr
            .contains("accounts of copilot: octo_one, octo_two"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_flags_exit_2() {
    let home = Home::new();
    let out = run(home.xnai().args(["check", "--no-such-flag"]));
    assert_eq!(out.code, 2);
    let out = run(home.xnai().args(["frobnicate"]));
    assert_eq!(out.code, 2);
    let out = run(home.xnai().args(["check", "--account", "x"]));
    assert_eq!(out.code, 2, "--account needs --provider");
    let out = run(home.xnai().arg("--help"));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Exit codes:"));
}

#[test]
fn yaml_syntax_error_gives_file_line_col() {
    let home = Home::new();
    let cfg = home.config("credentials:\n  cline:\n    api_key: \"oops\n    name: x\n");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_eq!(out.code, 2);
    let expected = format!(
        "error: {}:3:14: invalid YAML: unclosed quote",
        cfg.display()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
}

#[test]
fn unknown_key_error() {
    let home = Home::new();
    let cfg =
        home.config("credentials:\n  copilot:\n    accounts:\n      me:\n        oauth_tokne: x\n");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("accounts"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains(":5:9: unknown key `credentials.copilot.accounts.me.oauth_tokne`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: did you mean `credentials.copilot.accounts.me.oauth_token`?")
    );
}

#[test]
fn missing_variable_error() {
    let home = Home::new();
    let cfg = home.config("credentials:\n  cline:\n    api_key: ${XNAI_TEST_UNSET_KEY}\n");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(&format!(
        "{}:3:14: environment variable XNAI_TEST_UNSET_KEY is not set (used by credentials.cline.api_key)",
        cfg.display()
    )), "{}", out.stderr);
    assert!(out.stderr.contains("export XNAI_TEST_UNSET_KEY=..."));
    // Set it, and the same file loads.
    let key = make_key(Kind::ApiKey, 'k');
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .env("XNAI_TEST_UNSET_KEY", &key));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn loose_permissions_are_refused_with_the_fix() {
    let home = Home::new();
    let cfg = home.config_with_mode("credentials: {}\n", 0o644);
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("accounts"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("refusing to read credentials: it is accessible to its group and all other users (mode 0644)"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("fix it with: chmod 600 {}", cfg.display()))
    );

    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["accounts", "--insecure-permissions"]));
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("warning:"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("loading anyway because of --insecure-permissions")
    );

    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("accounts"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("accessible to its group (mode 0640)"));
}

#[test]
fn file_owned_by_someone_else_is_refused() {
    let (uid, gid) = xnai::fsutil::effective_ids();
    if uid != 0 {
        eprintln!("skipped: changing a file's owner needs root (CI runs as root)");
        return;
    }
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    std::os::unix::fs::chown(&cfg, Some(4242), Some(4242)).expect("chown");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("accounts"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("it is owned by uid 4242, not by you (uid 0)"),
        "{}",
        out.stderr
    );
    // Root taking the file over (`chown 0:0`) would lock its owner out of their own file:
    // run xnai as the owner (a uid without a name, quoted for the shell), or copy it.
    assert!(
        !out.stderr.contains(&format!("chown {uid}:{gid}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("sudo -u '#4242' xnai"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("install -m 600 {}", cfg.display())),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_file_suggests_init() {
    let home = Home::new();
    let out = run(home.xnai().arg("accounts"));
    assert_eq!(out.code, 2);
    let expected = home.path().join(".config/xnai/credentials.yaml");
    assert!(
        out.stderr.contains(&format!(
            "error: {}: credential file not found",
            expected.display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("run `xnai init`"));
}

#[test]
fn init_writes_a_private_template_and_never_overwrites() {
    let home = Home::new();
    let out = run(home.xnai().arg("init"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let path = home.path().join(".config/xnai/credentials.yaml");
    assert!(
        out.stdout
            .contains(&format!("created {} (mode 0600)", path.display()))
    );
    assert_eq!(
        std::fs::metadata(&path).expect("file").mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(path.parent().expect("dir"))
            .expect("dir")
            .mode()
            & 0o777,
        0o700
    );
    // The template loads as-is.
    let out = run(home.xnai().arg("accounts"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("no accounts in"));
    let out = run(home.xnai().arg("check"));
    assert_eq!(out.code, 0);

    std::fs::write(&path, "# mine\ncredentials: {}\n").expect("edit");
    let out = run(home.xnai().arg("init"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("already exists; not overwriting it"));
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "# mine\ncredentials: {}\n"
    );
}

#[test]
fn init_inside_a_git_work_tree_says_how_to_ignore() {
    let home = Home::new();
    let repo = home.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let git = std::process::Command::new("git")
        .arg("init")
        .arg("-q")
        .arg(&repo)
        .status()
        .expect("git");
    assert!(git.success());
    let target = repo.join("conf/credentials.yaml");
    let out = run(home.xnai().arg("--config").arg(&target).arg("init"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let canon_repo = repo.canonicalize().expect("canon");
    assert!(out.stderr.contains("is NOT ignored"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "ignore it with: echo /conf/credentials.yaml >> {}/.gitignore",
            canon_repo.display()
        )),
        "{}",
        out.stderr
    );

    std::fs::write(repo.join(".gitignore"), "/conf/other.yaml\n").expect("ignore");
    let ignored = repo.join("conf/other.yaml");
    let out = run(home.xnai().arg("--config").arg(&ignored).arg("init"));
    assert_eq!(out.code, 0);
    assert!(!out.stderr.contains("NOT ignored"), "{}", out.stderr);
}

#[test]
fn accounts_lists_masked_credentials_and_sources() {
    let home = Home::new();
    let tok = github_token("ghu_", "abcdefghijABCDEFGHIJ0123456789");
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      me:\n        oauth_token: {tok}\n        token_expiry: 2030-01-01\n      you:\n        enabled: false\n        oauth_token: ${{YOU_TOKEN}}\n  cline:\n    name: keyed\n"
    ));
    let key = make_key(Kind::ApiKey, 'z');
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("accounts")
        .env("YOU_TOKEN", &tok)
        .env("XNAI_CLINE_API_KEY", &key));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ACCOUNT"));
    let tail = &tok[tok.len() - 4..];
    assert!(
        lines[1].contains(&format!("oauth_token: ghu_…{tail}")),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("file:5"));
    assert!(lines[1].contains("2030-01-01T00:00:00Z"));
    assert!(lines[2].contains("file:9 via $YOU_TOKEN"), "{}", lines[2]);
    assert!(lines[2].trim_end().ends_with("no"));
    assert!(lines[3].contains("env XNAI_CLINE_API_KEY"), "{}", lines[3]);
    assert!(!out.stdout.contains(&tok));
    assert!(!out.stdout.contains(&key));

    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["accounts", "--json"])
        .env("YOU_TOKEN", &tok)
        .env("XNAI_CLINE_API_KEY", &key));
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v[0]["credential"], format!("ghu_…{tail}"));
    assert_eq!(v[0]["source"], "file:5");
    assert_eq!(v[1]["enabled"], false);
    assert_eq!(v[2]["source"], "env XNAI_CLINE_API_KEY");
    assert_eq!(v[2]["secrets"][0]["field"], "api_key");
}

#[test]
fn expiring_soon_is_a_warning_not_a_failure() {
    let home = Home::new();
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(2);
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
    let tok = github_token("ghu_", "abcdefghijABCDEFGHIJ0123456789");
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      soon: {{oauth_token: {tok}, token_expiry: \"{soon}\"}}\n      later: {{oauth_token: {tok}, token_expiry: \"{later}\"}}\ntoken_validation:\n  refresh_buffer_minutes: 5\n"
    ));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["results"][0]["state"], "expiring_soon");
    assert_eq!(v["results"][1]["state"], "valid");
    let h = v["results"][1]["hours_until_expiry"]
        .as_f64()
        .expect("hours");
    assert!((47.9..=48.0).contains(&h), "{h}");
    // With a 3-day buffer both are expiring soon.
    let text = std::fs::read_to_string(&cfg)
        .expect("read")
        .replace("minutes: 5", "minutes: 4320");
    std::fs::write(&cfg, text).expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "--json"]));
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["results"][1]["state"], "expiring_soon");
}

#[test]
fn disabled_accounts_do_not_fail_the_check() {
    let home = Home::new();
    let cfg = home.config("credentials:\n  copilot:\n    accounts:\n      old: {enabled: false, oauth_token: ghp_nope}\n");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("copilot/old (disabled)"));
    assert!(out.stdout.contains("invalid_format"));
}

#[test]
fn config_from_environment_and_default_location() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home.xnai().arg("accounts").env("XNAI_CONFIG", &cfg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("opencode/work"));
    let default = home.path().join(".config/xnai");
    std::fs::create_dir_all(&default).expect("mkdir");
    std::fs::copy(&cfg, default.join("credentials.yaml")).expect("copy");
    let out = run(home.xnai().arg("accounts"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("copilot/octo_two"));
}

#[test]
fn colour_follows_the_environment() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1"));
    assert!(out.stdout.contains("\x1b["), "forced colour expected");
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert!(!out.stdout.contains('\x1b'));
}

#[test]
fn broken_pipe_is_not_an_error() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; NO_COLOR=1 '{}' --config '{}' accounts | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
            bin.display(),
            cfg.display()
        ))
        .output()
        .expect("bash");
    let code = String::from_utf8_lossy(&status.stdout).trim().to_string();
    assert!(code == "0" || code == "141", "xnai exited {code}");
    assert!(!String::from_utf8_lossy(&status.stderr).contains("panicked"));
}

#[test]
fn positional_provider_with_account_flag() {
    let home = Home::new();
    let cfg = copy_examples(&home);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "opencode", "-a", "work"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 account checked: 1 valid"));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "cline", "-a", "nope"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("no account `nope` under provider `cline`")
    );
    let out =
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["check", "cline/default", "-a", "x"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("the account is given twice"));
}

#[test]
fn empty_xnai_config_means_unset() {
    let home = Home::new();
    let out = run(home.xnai().arg("accounts").env("XNAI_CONFIG", ""));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("credential file not found"),
        "{}",
        out.stderr
    );
}

#[test]
fn special_files_are_not_credential_files() {
    let home = Home::new();
    for (path, what) in [
        ("/dev/null", "a device"),
        ("/dev/zero", "a device"),
        ("/tmp", "a directory"),
    ] {
        for extra in [&[][..], &["--insecure-permissions"][..]] {
            let out = run(home.xnai().args(["--config", path, "check"]).args(extra));
            assert_eq!(out.code, 2, "{path}");
            assert!(
                out.stderr
                    .contains(&format!("{path}: {what}, not a credential file")),
                "{}",
                out.stderr
            );
            assert!(!out.stderr.contains("chmod"), "no chmod advice for {path}");
        }
    }
    let fifo = home.path().join("fifo.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&fifo)
        .arg("check")
        .timeout(std::time::Duration::from_secs(10)));
    assert_eq!(out.code, 2, "a FIFO must be refused, not waited on");
    assert!(out.stderr.contains("a FIFO, not a credential file"));
}

#[test]
fn a_private_key_as_public_key_is_called_out() {
    let home = Home::new();
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys/rsa_private.pem");
    let cfg = home.config(&format!(
        "credentials:\n  xnai_iam:\n    access_token: eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln\n    public_key_path: {}\n",
        keys.display()
    ));
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("check"));
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains(" error "), "{}", out.stdout);
    assert!(out.stdout.contains("holds a PRIVATE key"), "{}", out.stdout);
}

#[test]
fn init_refuses_directories_and_dangling_links() {
    let home = Home::new();
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(format!("{}/newdir/", home.path().display()))
        .arg("init"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is a directory, not a file name"),
        "{}",
        out.stderr
    );
    let link = home.path().join("link.yaml");
    std::os::unix::fs::symlink(home.path().join("nowhere.yaml"), &link).expect("symlink");
    let out = run(home.xnai().arg("--config").arg(&link).arg("check"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("symbolic link to a file that does not exist"),
        "{}",
        out.stderr
    );
    let out = run(home.xnai().arg("--config").arg(&link).arg("init"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("is a symbolic link to a file that does not exist; not overwriting it")
    );
}

#[test]
fn pasted_whitespace_is_named() {
    let home = Home::new();
    let tok = github_token("ghu_", "abcdefghijABCDEFGHIJ0123456789");
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      lead: {{oauth_token: \" {tok}\"}}\n      zw: {{oauth_token: \"{}\\u200B{}\"}}\n      rt: {{oauth_token: {}}}\n",
        &tok[..10],
        &tok[10..],
        github_token("ghr_", "abcdefghijABCDEFGHIJ0123456789")
    ));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "--json"]));
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        v["results"][0]["message"],
        "oauth_token starts with whitespace (a copy-paste slip? remove it)"
    );
    assert_eq!(
        v["results"][1]["message"],
        "oauth_token contains an invisible character (U+200B) at character 11 (a copy-paste slip? remove it)"
    );
    assert_eq!(v["results"][2]["state"], "invalid_format");
    assert!(
        v["results"][2]["message"]
            .as_str()
            .unwrap_or("")
            .contains("refresh token (ghr_)")
    );
}
