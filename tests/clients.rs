//! The real agent CLIs against xnai's instances: gh (Debian), opencode-ai, Claude Code and
//! Codex (npm). `.ci/run` installs them and sets XNAI_REQUIRE_CLIS=1, so in CI a missing tool
//! fails the test instead of skipping it.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Home, Out, github_token, run};
use serde_json::Value;
use xnai::token::anthropic::{Kind, make_key};

fn have(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("XNAI_REQUIRE_CLIS").is_none(),
            "{tool} is required (XNAI_REQUIRE_CLIS is set) but not on PATH"
        );
        eprintln!("skipped: {tool} is not installed (.ci/run installs it)");
    }
    found
}

/// Removes ANSI colour sequences (opencode colours its output even with NO_COLOR).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn spawn_run(home: &Home, cfg: &Path, target: &str, cmd: &[&str]) -> std::process::Child {
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    std::process::Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .current_dir(home.path())
        .arg("--config")
        .arg(cfg)
        .args(["run", target, "--"])
        .args(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xnai")
}

fn finish(child: std::process::Child) -> Out {
    let o = child.wait_with_output().expect("wait");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn opencode_accounts_each_list_their_own_login_side_by_side() {
    if !have("opencode") {
        return;
    }
    let home = Home::new();
    let ya29 = format!("ya29.{}", "w".repeat(160));
    let key = make_key(Kind::ApiKey, 'p');
    let cfg = home.config(&format!(
        "credentials:\n  opencode:\n    accounts:\n      work:\n        provider: google\n        oauth_token: {ya29}\n        refresh_token: 1//refresh-work\n        token_expiry: 2099-01-01\n      personal:\n        provider: anthropic\n        api_key: {key}\n"
    ));
    // Both at the same time: each must see only its own instance.
    let work = spawn_run(&home, &cfg, "opencode/work", &["opencode", "auth", "list"]);
    let personal = spawn_run(
        &home,
        &cfg,
        "opencode/personal",
        &["opencode", "auth", "list"],
    );
    let (work, personal) = (finish(work), finish(personal));
    assert_eq!(work.code, 0, "{}", work.stderr);
    assert_eq!(personal.code, 0, "{}", personal.stderr);
    let w = strip_ansi(&work.stdout);
    let p = strip_ansi(&personal.stdout);
    assert!(
        w.contains("instances/opencode/work/data/opencode/auth.json"),
        "{w}"
    );
    assert!(w.contains("Google oauth"), "{w}");
    assert!(!w.contains("Anthropic"), "{w}");
    assert!(w.contains("1 credentials"), "{w}");
    assert!(
        p.contains("instances/opencode/personal/data/opencode/auth.json"),
        "{p}"
    );
    assert!(p.contains("Anthropic api"), "{p}");
    assert!(!p.contains("Google"), "{p}");
    // The user's own OpenCode login is untouched and unused.
    assert!(!home.path().join(".local/share/opencode/auth.json").exists());
}

#[test]
fn gh_prints_each_accounts_token() {
    if !have("gh") {
        return;
    }
    let home = Home::new();
    let a = github_token("ghu_", "aaaaaaaaaaAAAAAAAAAA0123456789");
    let b = github_token("gho_", "bbbbbbbbbbBBBBBBBBBB0123456789");
    let cfg = home.config(&format!(
        "credentials:\n  copilot:\n    accounts:\n      a: {{github_user: octo-a, oauth_token: {a}}}\n      b: {{github_user: octo-b, oauth_token: {b}}}\n"
    ));
    let ra = spawn_run(&home, &cfg, "copilot/a", &["gh", "auth", "token"]);
    let rb = spawn_run(&home, &cfg, "copilot/b", &["gh", "auth", "token"]);
    let (ra, rb) = (finish(ra), finish(rb));
    assert_eq!(
        (ra.code, ra.stdout.trim()),
        (0, a.as_str()),
        "{}",
        ra.stderr
    );
    assert_eq!(
        (rb.code, rb.stdout.trim()),
        (0, b.as_str()),
        "{}",
        rb.stderr
    );
    // Without the token variables gh reads the instance's hosts.yml, with the same result.
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "copilot/b",
        "--",
        "env",
        "-u",
        "GH_TOKEN",
        "-u",
        "GITHUB_TOKEN",
        "gh",
        "auth",
        "token",
    ]));
    assert_eq!(out.stdout.trim(), b, "{}", out.stderr);
    // A personal GH_TOKEN in the caller's environment does not win over the account's.
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "copilot/a", "--", "gh", "auth", "token"])
        .env("GH_TOKEN", "ghp_personal"));
    assert_eq!(out.stdout.trim(), a);
}

fn claude_status(home: &Home, cfg: &Path, target: &str, extra_env: &[(&str, &str)]) -> Value {
    let mut cmd = home.xnai();
    cmd.arg("--config")
        .arg(cfg)
        .args(["run", target, "--", "claude", "auth", "status", "--json"]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|_| panic!("claude auth status said: {}\n{}", out.stdout, out.stderr))
}

#[test]
fn claude_sees_the_instance_login() {
    if !have("claude") {
        return;
    }
    let home = Home::new();
    let oat = make_key(Kind::OAuthAccess, 'o');
    let key = make_key(Kind::ApiKey, 'k');
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      max:\n        oauth_token: {oat}\n        refresh_token: sk-ant-ort01-refresh\n        token_expiry: 2099-01-01\n        subscription_type: max\n      api:\n        api_key: {key}\n"
    ));
    let v = claude_status(
        &home,
        &cfg,
        "claude/max",
        &[("ANTHROPIC_API_KEY", "sk-ant-personal")],
    );
    assert_eq!(v["loggedIn"], true, "{v}");
    assert_eq!(v["authMethod"], "claude.ai", "{v}");
    assert_eq!(v["subscriptionType"], "max", "{v}");
    assert!(
        v.get("apiKeySource").is_none(),
        "the caller's key leaked in: {v}"
    );
    let v = claude_status(&home, &cfg, "claude/api", &[]);
    assert_eq!(v["authMethod"], "api_key", "{v}");
    assert_eq!(v["apiKeySource"], "ANTHROPIC_API_KEY", "{v}");
    let creds = home
        .path()
        .join(".local/share/xnai/instances/claude/max/claude/.credentials.json");
    assert!(creds.is_file());
}

#[test]
fn codex_sees_the_instance_login() {
    if !have("codex") {
        return;
    }
    let home = Home::new();
    let key = format!("sk-proj-{}", "c".repeat(40));
    let jwt = format!(
        "{}.{}.c2ln",
        xnai::token::jwt::b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        xnai::token::jwt::b64url(br#"{"exp":4102444800}"#)
    );
    let id = format!(
        "{}.{}.c2ln",
        xnai::token::jwt::b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        xnai::token::jwt::b64url(br#"{"email":"dev@example.com","exp":4102444800,"https://api.openai.com/auth":{"chatgpt_plan_type":"plus","chatgpt_account_id":"acc-1"}}"#)
    );
    let cfg = home.config(&format!(
        "credentials:\n  codex:\n    accounts:\n      key: {{api_key: {key}}}\n      chatgpt: {{access_token: {jwt}, id_token: {id}, refresh_token: rt_x, account_id: acc-1}}\n      no_id: {{access_token: {jwt}}}\n"
    ));
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "codex/key",
        "--",
        "codex",
        "login",
        "status",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("API key configured - sk-proj-***ccccc"),
        "{}",
        out.stderr
    );
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "codex/chatgpt",
        "--",
        "codex",
        "login",
        "status",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("Logged in using ChatGPT"),
        "{}",
        out.stderr
    );
    // Without an id_token Codex could not read the file: refused before running.
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "codex/no_id",
        "--",
        "codex",
        "login",
        "status",
    ]));
    assert_eq!(out.code, 125);
    assert!(out.stderr.contains("needs its id_token"), "{}", out.stderr);
}

#[test]
fn import_from_the_tools_own_files() {
    let home = Home::new();
    home.config("credentials: {}\n");
    // Claude Code's login, where Claude Code keeps it.
    let oat = make_key(Kind::OAuthAccess, 'i');
    let claude_dir = home.path().join(".claude");
    std::fs::create_dir_all(&claude_dir).expect("mkdir");
    let creds = format!(
        r#"{{"claudeAiOauth":{{"accessToken":"{oat}","refreshToken":"sk-ant-ort01-r","expiresAt":4102444800000,"scopes":["user:inference"],"subscriptionType":"pro"}}}}"#
    );
    std::fs::write(claude_dir.join(".credentials.json"), &creds).expect("write");
    let cfg = home.path().join("credentials.yaml");
    let out =
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["import", "claude", "--account", "mine"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("imported Claude pro login as claude/mine"),
        "{}",
        out.stdout
    );
    let fragment = home.path().join("accounts.d/claude@mine.yaml");
    assert!(fragment.is_file());
    // The user's file and its comments are untouched.
    assert_eq!(
        std::fs::read_to_string(&cfg).expect("cfg"),
        "credentials: {}\n"
    );
    let inst_creds = home
        .path()
        .join(".local/share/xnai/instances/claude/mine/claude/.credentials.json");
    assert_eq!(std::fs::read_to_string(&inst_creds).expect("copied"), creds);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&inst_creds).expect("m").mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&fragment).expect("m").mode() & 0o777,
        0o600
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "--json"]));
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["results"][0]["state"], "valid", "{v}");
    assert_eq!(v["results"][0]["expires_at"], "2100-01-01T00:00:00Z");

    // The same login again is detected.
    let out =
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["import", "claude", "--account", "again"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is already the account claude/mine"),
        "{}",
        out.stderr
    );
    assert!(!home.path().join("accounts.d/claude@again.yaml").exists());

    // The tool refreshes its token in the instance: xnai reads the new one.
    let fresh = make_key(Kind::OAuthAccess, 'f');
    std::fs::write(&inst_creds, creds.replace(&oat, &fresh)).expect("refresh");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["accounts", "--json"]));
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        v[0]["credential"],
        format!("sk-ant-oat01-…{}", &fresh[fresh.len() - 4..])
    );
    assert!(
        v[0]["source"]
            .as_str()
            .unwrap_or("")
            .starts_with("login file ")
    );
    // Running does not overwrite the refreshed file.
    run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "claude/mine", "--", "true"]));
    assert!(
        std::fs::read_to_string(&inst_creds)
            .expect("read")
            .contains(&fresh)
    );

    if have("claude") {
        let v = claude_status(&home, &cfg, "claude/mine", &[]);
        assert_eq!(v["loggedIn"], true, "{v}");
        assert_eq!(v["subscriptionType"], "pro", "{v}");
    }
}

#[test]
fn import_gh_and_copilot_plugin_logins() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let tok = github_token("gho_", "ghimportTOKENabcdefghij0123456");
    let gh = home.path().join(".config/gh");
    std::fs::create_dir_all(&gh).expect("mkdir");
    std::fs::write(
        gh.join("hosts.yml"),
        format!("github.com:\n    oauth_token: {tok}\n    user: octo\n    git_protocol: https\n"),
    )
    .expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["import", "gh", "-a", "octo"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("imported octo on github.com as copilot/octo")
    );
    // The Copilot plugin's apps.json for the same GitHub user is the same login.
    let apps = home.path().join("apps.json");
    let tok2 = github_token("ghu_", "pluginTOKENabcdefghij012345678");
    std::fs::write(
        &apps,
        format!(
            r#"{{"github.com:Iv1.b507a08c87ecfe98":{{"user":"octo","oauth_token":"{tok2}"}}}}"#
        ),
    )
    .expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("github-copilot")
        .arg(&apps)
        .args(["-a", "plugin"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("already the account copilot/octo"),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("github-copilot")
        .arg(&apps)
        .args(["-a", "plugin", "--force", "-p", "copilot_plugin"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    if have("gh") {
        let out = run(home.xnai().arg("--config").arg(&cfg).args([
            "run",
            "copilot/octo",
            "--",
            "env",
            "-u",
            "GH_TOKEN",
            "-u",
            "GITHUB_TOKEN",
            "gh",
            "auth",
            "token",
        ]));
        assert_eq!(out.stdout.trim(), tok, "{}", out.stderr);
        let out = run(home.xnai().arg("--config").arg(&cfg).args([
            "run",
            "copilot_plugin/plugin",
            "--",
            "gh",
            "auth",
            "token",
        ]));
        assert_eq!(out.stdout.trim(), tok2, "{}", out.stderr);
    }
}

#[test]
fn malformed_native_files_name_the_position_and_write_nothing() {
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let bad = home.path().join("auth.json");
    std::fs::write(
        &bad,
        "{\n  \"google\": {\"type\": \"oauth\",, \"access\": \"ya29.SECRETVALUE\"}\n}\n",
    )
    .expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("import")
        .arg("opencode")
        .arg(&bad)
        .args(["-a", "x"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!("{}:2:", bad.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("is not valid JSON"), "{}", out.stderr);
    assert!(!out.stderr.contains("SECRETVALUE"));
    assert!(!home.path().join("accounts.d").exists());
    assert!(
        !home
            .path()
            .join(".local/share/xnai/instances/opencode/x")
            .exists()
    );
    // A missing default file says where it looked.
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["import", "codex", "-a", "y"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "no codex login at {}",
            home.path().join(".codex/auth.json").display()
        )),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["import", "claud", "-a", "y"]));
    assert!(
        out.stderr.contains("did you mean `claude`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn login_runs_the_tools_own_login_in_the_instance() {
    if !have("codex") {
        return;
    }
    let home = Home::new();
    let cfg = home.config("credentials: {}\n");
    let key = format!("sk-proj-{}", "L".repeat(40));
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    let mut child = std::process::Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .arg("--config")
        .arg(&cfg)
        .args(["login", "codex/fresh", "--", "--with-api-key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{key}\n").as_bytes())
        .expect("write");
    let out = finish(child);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("logged in codex/fresh: OpenAI API key"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&key) && !out.stderr.contains(&key));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["check", "codex/fresh"]));
    assert_eq!(out.code, 0, "{}", out.stdout);
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "codex/fresh",
        "--",
        "codex",
        "login",
        "status",
    ]));
    assert!(
        out.stderr.contains("API key configured - sk-proj-***LLLLL"),
        "{}",
        out.stderr
    );
    let store =
        xnai::store::Store::open(&home.path().join(".local/share/xnai/xnai.db")).expect("ledger");
    let runs = store.recent_runs(10).expect("runs");
    assert!(
        runs.iter()
            .any(|r| r.command == "login" && r.account == "fresh" && r.exit_code == Some(0))
    );
}
