//! `xnai run` and `xnai env` with real bash and small scripts: exit codes, signals, masking,
//! the run ledger, XNAI_FORCE_ACCOUNT, quoting round trips.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Home, run};
use proptest::prelude::*;

/// A config with two xnai_iam accounts whose tokens are plain strings (used with --force or
/// through XNAI_IAM_ACCESS_TOKEN only).
fn iam_config(home: &Home) -> std::path::PathBuf {
    home.config(
        "credentials:\n  xnai_iam:\n    accounts:\n      alpha: {access_token: alpha-token-value-123456}\n      beta: {access_token: beta-token-value-654321}\n",
    )
}

fn xnai_run(home: &Home, cfg: &std::path::Path, target: &str, script: &str) -> common::Out {
    run(home
        .xnai()
        .arg("--config")
        .arg(cfg)
        .args(["run", "--force", target, "--", "bash", "-c", script]))
}

#[test]
fn exit_code_is_the_childs() {
    let home = Home::new();
    let cfg = iam_config(&home);
    for code in [0, 1, 3, 42, 125, 255] {
        let out = xnai_run(&home, &cfg, "xnai_iam/alpha", &format!("exit {code}"));
        assert_eq!(out.code, code, "{}", out.stderr);
    }
}

#[test]
fn killed_by_signal_n_gives_128_plus_n() {
    let home = Home::new();
    let cfg = iam_config(&home);
    for (sig, n) in [("TERM", 15), ("KILL", 9), ("HUP", 1), ("SEGV", 11)] {
        let out = xnai_run(&home, &cfg, "xnai_iam/alpha", &format!("kill -{sig} $$"));
        assert_eq!(out.code, 128 + n, "{sig}: {}", out.stderr);
    }
}

#[test]
fn an_interrupted_command_interrupts_the_calling_script() {
    // A child killed by SIGINT or SIGQUIT ends xnai by the same signal: the shell reports
    // 128+N, and a script stops instead of running its next line.
    let home = Home::new();
    let cfg = iam_config(&home);
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    for (sig, n) in [("INT", 2), ("QUIT", 3)] {
        let script = format!(
            "'{}' --config '{}' run --force xnai_iam/alpha -- python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIG{sig})' 2>/dev/null; echo \"status $?\"",
            bin.display(),
            cfg.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("HOME", home.path())
            .output()
            .expect("bash");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("status {}", 128 + n)
        );
        let out = Command::new(&bin)
            .env("HOME", home.path())
            .arg("--config")
            .arg(&cfg)
            .args(["run", "--force", "xnai_iam/alpha", "--", "python3", "-c"])
            .arg(format!(
                "import os, signal; os.kill(os.getpid(), signal.SIG{sig})"
            ))
            .output()
            .expect("xnai");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(n), "xnai must end by SIG{sig}");
    }
}

#[test]
fn ignored_signals_stay_ignored_for_the_command() {
    // nohup: SIGHUP ignored by the caller is ignored by the command too.
    let home = Home::new();
    let cfg = iam_config(&home);
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    let script = format!(
        "trap '' HUP; '{}' --config '{}' run --force xnai_iam/alpha -- bash -c 'kill -HUP $$; echo survived' 2>/dev/null",
        bin.display(),
        cfg.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("HOME", home.path())
        .output()
        .expect("bash");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "survived");
}

#[test]
fn mask_does_not_wait_for_background_processes() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let start = Instant::now();
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "--force",
        "--mask",
        "xnai_iam/alpha",
        "--",
        "bash",
        "-c",
        "sleep 6 & echo hi",
    ]));
    assert_eq!(out.stdout, "hi\n");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "waited for the background sleep"
    );
}

#[test]
fn environment_and_instance() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let out = xnai_run(
        &home,
        &cfg,
        "xnai_iam/beta",
        "printf %s \"$XNAI_IAM_ACCESS_TOKEN\"",
    );
    assert_eq!(out.stdout, "beta-token-value-654321");
    // A token the user exported for another login does not leak into the instance's.
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args([
            "run",
            "--force",
            "xnai_iam/alpha",
            "--",
            "bash",
            "-c",
            "printf %s \"$XNAI_IAM_ACCESS_TOKEN\"",
        ])
        .env("XNAI_IAM_ACCESS_TOKEN", "personal-token"));
    assert_eq!(out.stdout, "alpha-token-value-123456");
    let inst = home
        .path()
        .join(".local/share/xnai/instances/xnai_iam/alpha");
    assert!(inst.is_dir());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&inst).expect("inst").mode() & 0o777,
        0o700
    );
}

#[test]
fn invalid_accounts_are_refused_unless_forced() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let out =
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["run", "xnai_iam/alpha", "--", "true"]));
    assert_eq!(out.code, 125, "xnai's own failure is 125: {}", out.stderr);
    assert!(
        out.stderr.contains("xnai_iam/alpha is invalid_format"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--force"));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["env", "xnai_iam/alpha"]));
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_account_lists_the_known_ones() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let out =
        run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["run", "xnai_iam/gamma", "--", "true"]));
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains("no account `gamma` under provider `xnai_iam`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("known accounts: xnai_iam/alpha, xnai_iam/beta"),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["env", "xnai_iam"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("provider `xnai_iam` has 2 accounts: name one"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_or_unexecutable_commands() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "--force",
        "xnai_iam/alpha",
        "--",
        "no-such-program-xyz",
    ]));
    assert_eq!(out.code, 127, "{}", out.stderr);
    assert!(out.stderr.contains("cannot run no-such-program-xyz"));
    let script = home.path().join("noexec.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("write");
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--force", "xnai_iam/alpha", "--"])
        .arg(&script));
    assert_eq!(out.code, 126, "{}", out.stderr);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "xnai_iam/alpha"]));
    assert_eq!(out.code, 125, "no command: xnai's own failure, like env(1)");
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "--bogus",
        "xnai_iam/alpha",
        "--",
        "true",
    ]));
    assert_eq!(out.code, 125);
}

#[test]
fn force_account_overrides_the_command_line() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args([
            "run",
            "--force",
            "xnai_iam/alpha",
            "--",
            "bash",
            "-c",
            "printf %s \"$XNAI_IAM_ACCESS_TOKEN\"",
        ])
        .env("XNAI_FORCE_ACCOUNT", "xnai_iam/beta"));
    assert_eq!(out.stdout, "beta-token-value-654321");
    assert!(
        out.stderr
            .contains("XNAI_FORCE_ACCOUNT: running as xnai_iam/beta instead of `xnai_iam/alpha`"),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--force", "xnai_iam/alpha", "--", "true"])
        .env("XNAI_FORCE_ACCOUNT", "xnai_iam/nope"));
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.contains("XNAI_FORCE_ACCOUNT: no account `nope`"),
        "{}",
        out.stderr
    );
}

#[test]
fn runs_are_recorded_without_arguments_or_secrets() {
    let home = Home::new();
    let cfg = iam_config(&home);
    xnai_run(
        &home,
        &cfg,
        "xnai_iam/alpha",
        "exit 7 # secret-argument-value",
    );
    run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--force", "xnai_iam/alpha", "--", "true"])
        .env("XNAI_FORCE_ACCOUNT", "xnai_iam/beta"));
    let db = home.path().join(".local/share/xnai/xnai.db");
    let store = xnai::store::Store::open(&db).expect("ledger");
    let runs = store.recent_runs(10).expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[1].account.as_str(), runs[1].program.as_str()),
        ("alpha", "bash")
    );
    assert_eq!(runs[1].exit_code, Some(7));
    assert!(runs[1].duration_ms.is_some());
    assert!(!runs[1].forced);
    assert_eq!(
        (runs[0].account.as_str(), runs[0].program.as_str()),
        ("beta", "true")
    );
    assert!(runs[0].forced);
    let raw = std::fs::read(&db).expect("db");
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains("secret-argument-value"));
    assert!(!raw.contains("alpha-token-value"));
}

#[test]
fn mask_replaces_secrets_while_streaming() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let out = run(home.xnai().arg("--config").arg(&cfg).args([
        "run",
        "--force",
        "--mask",
        "xnai_iam/alpha",
        "--",
        "bash",
        "-c",
        "echo \"out $XNAI_IAM_ACCESS_TOKEN end\"; echo \"err $XNAI_IAM_ACCESS_TOKEN\" >&2; printf 'alpha-token-'; sleep 0.2; printf 'value-123456\\n'",
    ]));
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "out …3456 end\n…3456\n");
    assert_eq!(out.stderr.lines().last(), Some("err …3456"));
    assert!(!out.stdout.contains("alpha-token-value") && !out.stderr.contains("alpha-token-value"));

    // Streaming: the first line arrives long before the command ends.
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .args(["--config"])
        .arg(&cfg)
        .args([
            "run",
            "--force",
            "--mask",
            "xnai_iam/alpha",
            "--",
            "bash",
            "-c",
            "echo first; sleep 3; echo second",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("line").expect("utf8");
    assert_eq!(first, "first");
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "output was buffered"
    );
    assert_eq!(lines.next().expect("line").expect("utf8"), "second");
    assert!(child.wait().expect("wait").success());
}

/// Starts `xnai run` on a script that counts the signals it receives, then signals xnai.
fn count_signals(signal: i32) -> (String, i32) {
    let home = Home::new();
    let cfg = iam_config(&home);
    let log = home.path().join("signals.log");
    let script = format!(
        // `sleep & wait`: a trapped signal interrupts the `wait` builtin at once. While waiting
        // for a foreground `sleep` that exits normally, bash may instead treat a SIGINT as the
        // child's to handle (wait-and-cooperative-exit) and skip the trap.
        "for s in INT TERM HUP QUIT; do trap \"echo $s >> {0}\" $s; done; echo ready; for i in $(seq 100); do sleep 0.05 & wait $!; done; exit 5",
        log.display()
    );
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .arg("--config")
        .arg(&cfg)
        .args([
            "run",
            "--force",
            "xnai_iam/alpha",
            "--",
            "bash",
            "-c",
            &script,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("ready").expect("utf8"), "ready");
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = child.wait().expect("wait");
    let got = std::fs::read_to_string(&log).unwrap_or_default();
    (got, status.code().unwrap_or(-1))
}

#[test]
fn signals_sent_to_xnai_reach_the_child_exactly_once() {
    for (sig, name) in [
        (libc::SIGINT, "INT"),
        (libc::SIGTERM, "TERM"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
    ] {
        let (got, code) = count_signals(sig);
        assert_eq!(got, format!("{name}\n"), "{name} delivered {got:?}");
        assert_eq!(code, 5, "the trap returns and the script exits 5");
    }
}

#[test]
fn ctrl_c_from_a_terminal_reaches_the_child_once() {
    // A real pseudo-terminal: ^C makes the tty driver signal the whole foreground group,
    // xnai and the child both. xnai must not forward it a second time.
    if Command::new("python3").arg("--version").output().is_err() {
        panic!("python3 is needed for the pty test");
    }
    let home = Home::new();
    let cfg = iam_config(&home);
    let log = home.path().join("signals.log");
    let script = format!(
        "trap 'echo INT >> {0}' INT; echo ready; for i in $(seq 100); do sleep 0.05; done; exit 5",
        log.display()
    );
    let bin = assert_cmd::cargo::cargo_bin("xnai");
    let py = r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf = b""
deadline = time.time() + 20
while b"ready" not in buf and time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            buf += os.read(fd, 1024)
        except OSError:
            break
os.write(fd, b"\x03")
while time.time() < deadline:
    try:
        if not os.read(fd, 1024):
            break
    except OSError:
        break
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(py)
        .arg(&bin)
        .arg("--config")
        .arg(&cfg)
        .args([
            "run",
            "--force",
            "xnai_iam/alpha",
            "--",
            "bash",
            "-c",
            &script,
        ])
        .env("HOME", home.path())
        .output()
        .expect("python");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let got = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        got,
        "INT\n",
        "child saw {got:?}; python said {code} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(code, "5");
}

fn eval_in(shell: &str, rendered: &str, var: &str) -> Vec<u8> {
    let script = match shell {
        "fish" => format!("eval (cat $argv[1] | string collect); printf '%s' \"${var}\""),
        _ => format!("eval \"$(cat \"$1\")\"; printf '%s' \"${var}\""),
    };
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("env");
    std::fs::write(&file, rendered).expect("write");
    let mut cmd = Command::new(shell);
    match shell {
        "fish" => cmd.args(["--no-config", "-c", &script]).arg(&file),
        _ => cmd.args(["-c", &script, "sh"]).arg(&file),
    };
    let out = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect(shell);
    assert!(
        out.status.success(),
        "{shell} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn shell_available(shell: &str) -> bool {
    let found = Command::new(shell).arg("-c").arg("true").output().is_ok();
    if !found && std::env::var_os("XNAI_REQUIRE_SHELLS").is_some() {
        panic!("{shell} is required (XNAI_REQUIRE_SHELLS is set) but not installed");
    }
    found
}

fn value_strategy() -> impl Strategy<Value = String> {
    // Any Unicode except NUL (no environment can hold it), weighted towards shell-special
    // characters.
    let special = prop::sample::select(vec![
        '\'',
        '"',
        '$',
        '`',
        '\\',
        '\n',
        '\t',
        ' ',
        '!',
        '*',
        '?',
        '[',
        ']',
        '{',
        '}',
        '(',
        ')',
        ';',
        '&',
        '|',
        '<',
        '>',
        '#',
        '~',
        '%',
        '\r',
        'é',
        '✓',
        '\u{202E}',
        '‘',
        '’',
        '\u{1F600}',
    ]);
    let any = any::<char>().prop_filter("no NUL", |c| *c != '\0');
    prop::collection::vec(prop_oneof![3 => special, 2 => any], 0..40)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The quoting itself, through real shells, many cases.
    #[test]
    fn render_round_trips_through_real_shells(value in value_strategy()) {
        let vars = [("XNAI_TEST_VALUE".to_string(), value.clone())];
        for (shell, kind) in [
            ("bash", xnai::shell::ShellKind::Bash),
            ("zsh", xnai::shell::ShellKind::Zsh),
            ("fish", xnai::shell::ShellKind::Fish),
        ] {
            if !shell_available(shell) {
                continue;
            }
            let rendered = xnai::shell::render(kind, &vars, &[]).expect("render");
            let back = eval_in(shell, &rendered, "XNAI_TEST_VALUE");
            prop_assert_eq!(back, value.as_bytes().to_vec(), "{} changed the value", shell);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// End to end: the value goes in through an override variable, out through
    /// `xnai env --shell bash`, and real bash must give back the same bytes.
    #[test]
    fn xnai_env_round_trips_through_bash(value in value_strategy()) {
        let home = Home::new();
        let cfg = home.config("credentials:\n  xnai_iam:\n    access_token: placeholder\n");
        let out = run(home
            .xnai()
            .arg("--config")
            .arg(&cfg)
            .args(["env", "--force", "--shell", "bash", "xnai_iam"])
            .env("XNAI_XNAI_IAM_ACCESS_TOKEN", &value));
        prop_assert_eq!(out.code, 0, "{}", out.stderr);
        let back = eval_in("bash", &out.stdout, "XNAI_IAM_ACCESS_TOKEN");
        prop_assert_eq!(back, value.as_bytes().to_vec());
    }
}

#[test]
fn env_formats() {
    let home = Home::new();
    let cfg = iam_config(&home);
    let env = |shell: &str| {
        run(home.xnai().arg("--config").arg(&cfg).args([
            "env",
            "--force",
            "--shell",
            shell,
            "xnai_iam/alpha",
        ]))
    };
    assert_eq!(
        env("bash").stdout,
        "export XNAI_IAM_ACCESS_TOKEN='alpha-token-value-123456'\n"
    );
    assert_eq!(
        env("fish").stdout,
        "set -gx XNAI_IAM_ACCESS_TOKEN 'alpha-token-value-123456'\n"
    );
    assert_eq!(
        env("pwsh").stdout,
        "$env:XNAI_IAM_ACCESS_TOKEN = 'alpha-token-value-123456'\n"
    );
    assert_eq!(
        env("dotenv").stdout,
        "XNAI_IAM_ACCESS_TOKEN='alpha-token-value-123456'\n"
    );
    let v: serde_json::Value = serde_json::from_str(&env("json").stdout).expect("json");
    assert_eq!(v["XNAI_IAM_ACCESS_TOKEN"], "alpha-token-value-123456");
    // Default from $SHELL.
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["env", "--force", "xnai_iam/alpha"])
        .env("SHELL", "/usr/bin/fish"));
    assert!(out.stdout.starts_with("set -gx "));
    // A NUL can't be represented: an error, not a broken line.
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["env", "--force", "--shell", "dotenv", "xnai_iam/alpha"])
        .env("XNAI_XNAI_IAM_ALPHA_ACCESS_TOKEN", "it's $HOME\nx"));
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("cannot write XNAI_IAM_ACCESS_TOKEN"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("$HOME"));
}

#[test]
fn env_all_uses_namespaced_names_and_skips_invalid_accounts() {
    let home = Home::new();
    let key = xnai::token::anthropic::make_key(xnai::token::anthropic::Kind::ApiKey, 'k');
    let cfg = home.config(&format!(
        "credentials:\n  cline:\n    api_key: {key}\n  xnai_iam:\n    accounts:\n      bad: {{access_token: nope}}\n  local_llm:\n    auth_method: none\n"
    ));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["env", "--all", "--shell", "bash"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("export XNAI_CLINE_DEFAULT_TOKEN='{key}'\n")
    );
    assert!(
        out.stderr.contains("skipped xnai_iam/bad: invalid_format"),
        "{}",
        out.stderr
    );
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["env", "--all", "--force", "--shell", "bash"]));
    assert!(out.stdout.contains("export XNAI_XNAI_IAM_BAD_TOKEN='nope'"));
}
