//! `xnai dispatch` with fake agents (real bash scripts run inside real instances): rotation
//! order, cooldown expiry, exhausted accounts never chosen, context-window fallback, weights
//! changing the choice, the explain output, max_concurrent under concurrent dispatches, one
//! state change for a burst of 429s, no rotation on other failures, XNAI_FORCE_ACCOUNT, and
//! `xnai run auto`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{Home, Out, run};

/// A fake agent: what it does depends on a word inside the account's API key.
const AGENT: &str = r#"#!/bin/bash
key="$ANTHROPIC_API_KEY"
echo "$(date +%s.%N) start ${key:13:8}" >> "$AGENT_LOG"
case "$key" in
  *RATELIMT*) echo "Error: 429 Too Many Requests" >&2; echo "Retry-After: ${RETRY_AFTER:-30}" >&2; code=1 ;;
  *AUTHFAIL*) echo "API Error: 401 {\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}" >&2; code=1 ;;
  *AUTHTEST*) mkdir -p "$CLAUDE_CONFIG_DIR/projects/p"
    # The agent worked (its log records a model call); then the API the task calls said 401.
    printf '{"type":"assistant","timestamp":"%s","requestId":"req_%s","message":{"id":"msg_%s","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":5}}}\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$$" "$$" >> "$CLAUDE_CONFIG_DIR/projects/p/s.jsonl"
    echo "API Error: 401 {\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}" >&2; code=1 ;;
  *QUOTAOUT*) echo "Error: quota exceeded for this month" >&2; code=1 ;;
  *BROKENXX*) echo "SyntaxError: unexpected token" >&2; code=3 ;;
  *SLOWSLOW*) sleep "${SLOW_SECS:-1}"; echo "slow done"; code=0 ;;
  *BURSTXXX*) sleep 1; echo "429 rate limit" >&2; code=1 ;;
  *) echo "did: $1"; code=0 ;;
esac
echo "$(date +%s.%N) end ${key:13:8}" >> "$AGENT_LOG"
exit $code
"#;

/// An Anthropic API key of the real shape (108 characters, `AA` at the end) with a behaviour
/// word at its start.
fn key(word: &str, fill: char) -> String {
    assert_eq!(word.len(), 8);
    let body: String = std::iter::repeat_n(fill, 93 - 8).collect();
    format!("sk-ant-api03-{word}{body}AA")
}

struct Env {
    home: Home,
    cfg: PathBuf,
    log: PathBuf,
    agent: PathBuf,
}

impl Env {
    /// `accounts`: (id, behaviour word, extra YAML for the account).
    fn new(sections: &str) -> Env {
        let home = Home::new();
        let agent = home.path().join("agent.sh");
        std::fs::write(&agent, AGENT).expect("agent");
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let text = sections.replace("AGENT", &agent.display().to_string());
        let cfg = home.config(&text);
        let log = home.path().join("agent.log");
        Env {
            home,
            cfg,
            log,
            agent,
        }
    }

    fn xnai(&self) -> assert_cmd::Command {
        let mut c = self.home.xnai();
        c.env("AGENT_LOG", &self.log).arg("--config").arg(&self.cfg);
        c
    }

    fn std(&self) -> std::process::Command {
        let mut c = self.home.xnai_std();
        c.env("AGENT_LOG", &self.log).arg("--config").arg(&self.cfg);
        c
    }

    /// Which accounts the agent ran as, in order (by behaviour word).
    fn started(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" start "))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
            .collect()
    }

    /// Starts `xnai dispatch -- x` with the agent sleeping `slow_secs` (stdout dropped, stderr
    /// as given) and returns once the agent runs.
    fn spawn_running(&self, slow_secs: &str, stderr: std::process::Stdio) -> std::process::Child {
        let child = self
            .std()
            .env("SLOW_SECS", slow_secs)
            .args(["dispatch", "--", "x"])
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.started().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(self.started().len(), 1, "the agent never started");
        child
    }

    fn ledger(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.home.path().join(".local/share/xnai/xnai.db"))
            .expect("ledger")
    }
}

fn section(id: &str, accounts: &[(&str, &str, &str)], extra: &str) -> String {
    let mut s = format!(
        "  {id}:\n    kind: claude\n    command: [AGENT, \"{{prompt}}\"]\n{extra}    accounts:\n"
    );
    for (i, (name, word, more)) in accounts.iter().enumerate() {
        let fill = (b'a' + i as u8) as char;
        s.push_str(&format!(
            "      {name}:\n        api_key: {}\n{more}",
            key(word, fill)
        ));
    }
    s
}

fn config(sections: &[String], dispatch: &str) -> String {
    format!(
        "credentials:\n{}dispatch_config:\n{dispatch}",
        sections.concat()
    )
}

#[test]
fn rotates_past_rate_limit_and_rejected_credential_then_remembers() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[
                ("a", "RATELIMT", ""),
                ("b", "AUTHFAIL", ""),
                ("c", "OKOKOKOK", ""),
            ],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "fix it"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "did: fix it\n");
    assert_eq!(e.started(), ["RATELIMT", "AUTHFAIL", "OKOKOKOK"]);
    let summary = o.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        summary
            .split(" → ")
            .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "xnai dispatch: claude/a",
            "claude/b credential rejected",
            "claude/c ok in"
        ],
        "{summary}"
    );
    assert!(
        summary.contains("claude/a rate limited (out for 30 s)"),
        "{summary}"
    );
    // Both stay out: the next task goes straight to c.
    let o = run(e.xnai().args(["dispatch", "--explain", "--", "again"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(e.started().len(), 4);
    assert_eq!(e.started()[3], "OKOKOKOK");
    assert!(
        o.stderr.contains(
            "claude/a  -      -      -        -        excluded: rate limited, cooling down for"
        ),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("excluded: credential rejected by the provider (until it changes)")
    );
    // status shows the dispatcher's holds, in the table and as data.
    let o = run(e.xnai().args(["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(v["cooldowns"]["claude/a"][0]["hold"], "rate_limited", "{v}");
    assert!(
        v["cooldowns"]["claude/a"][0]["until"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    assert_eq!(v["cooldowns"]["claude/b"][0]["hold"], "credential_rejected");
    assert_eq!(
        v["cooldowns"]["claude/b"][0]["until"],
        serde_json::Value::Null
    );
    assert!(v["cooldowns"].get("claude/c").is_none());
    let o = run(e.xnai().args(["status"]));
    assert!(o.stdout.contains("rate limited, ends in "), "{}", o.stdout);
    assert!(o.stdout.contains("credential rejected"), "{}", o.stdout);
}

#[test]
fn cooldown_expires_at_the_retry_time() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "RATELIMT", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e
        .xnai()
        .env("RETRY_AFTER", "1")
        .args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(e.xnai().args(["dispatch", "--dry-run", "--", "x"]));
    assert_eq!(o.stdout, "claude/b\n", "a cools down");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    // a is eligible again; it never completed a run, so it takes b's run time, and the tie
    // goes to it as the one used longest ago.
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert_eq!(o.stdout, "claude/a\n", "{}", o.stderr);
    assert!(!o.stderr.contains("excluded"), "{}", o.stderr);
}

/// A Claude Code log line with one response at `ts`.
fn claude_line(id: usize, ts: &str) -> String {
    format!(
        "{{\"type\":\"assistant\",\"timestamp\":\"{ts}\",\"requestId\":\"req_{id}\",\"sessionId\":\"s\",\"message\":{{\"id\":\"msg_{id}\",\"model\":\"claude-sonnet-4-5\",\"role\":\"assistant\",\"usage\":{{\"input_tokens\":10,\"output_tokens\":5}}}}}}\n"
    )
}

fn write_requests(home: &Home, provider: &str, account: &str, n: usize) {
    let dir = home.path().join(format!(
        ".local/share/xnai/instances/{provider}/{account}/claude/projects/p"
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let now = jiff::Timestamp::now();
    let ts = now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let text: String = (0..n).map(|i| claude_line(i, &ts)).collect();
    std::fs::write(dir.join(format!("{account}.jsonl")), text).expect("log");
}

#[test]
fn an_exhausted_account_is_never_chosen() {
    let quota = "        quotas: [{limit: 3, unit: requests, window: monthly}]\n";
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "OKOKOKOK", quota), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    write_requests(&e.home, "claude", "a", 3);
    for _ in 0..3 {
        let o = run(e.xnai().args(["dispatch", "--explain", "--", "x"]));
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(o.stderr.contains("claude/b ok"), "{}", o.stderr);
        assert!(
            o.stderr.contains("excluded: requests/monthly exhausted"),
            "{}",
            o.stderr
        );
    }
    // Exhausted as the agent reports it: out until the reset, never tried again.
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "QUOTAOUT", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert!(
        o.stderr.contains("claude/a quota exhausted (out for"),
        "{}",
        o.stderr
    );
    for _ in 0..2 {
        assert_eq!(run(e.xnai().args(["dispatch", "--", "x"])).code, 0);
    }
    assert_eq!(
        e.started(),
        ["QUOTAOUT", "OKOKOKOK", "OKOKOKOK", "OKOKOKOK"]
    );
}

#[test]
fn context_window_falls_back_along_the_chain() {
    let e = Env::new(&config(
        &[
            section(
                "small",
                &[("a", "OKOKOKOK", "")],
                "    context_window: 1000\n",
            ),
            section(
                "big",
                &[("a", "OKOKOKOK", "")],
                "    context_window: 200000\n",
            ),
        ],
        "  fallback_chain: [small, big]\n",
    ));
    let o = run(e.xnai().args([
        "dispatch",
        "--dry-run",
        "--context-tokens",
        "700",
        "--",
        "x",
    ]));
    assert_eq!(o.stdout, "small/a\n");
    let o = run(e.xnai().args([
        "dispatch",
        "--dry-run",
        "--explain",
        "--context-tokens",
        "1500",
        "--",
        "x",
    ]));
    assert_eq!(o.stdout, "big/a\n", "{}", o.stderr);
    assert!(
        o.stderr
            .contains("excluded: task of ~1,500 tokens exceeds the 1,000-token context window"),
        "{}",
        o.stderr
    );
    // A prompt file counts too: 5,000 characters ≈ 1,250 tokens.
    let f = e.home.path().join("big.txt");
    std::fs::write(&f, "x".repeat(5000)).expect("write");
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--prompt-file"])
        .arg(&f)
        .args(["--", "review this"]));
    assert_eq!(o.stdout, "big/a\n", "{}", o.stderr);
    // Nothing fits, and waiting will not help: 125, not 75 ("try later").
    let o = run(e
        .xnai()
        .args(["dispatch", "--context-tokens", "300000", "--", "x"]));
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("no account of small → big can take the task now")
    );
}

#[test]
fn weights_change_the_choice() {
    // a: fast but 8 of 10 requests used; b: slow, no limit.
    let a_extra = "        quotas: [{limit: 10, unit: requests, window: monthly}]\n        latency_prior_ms: 1000\n";
    let b_extra = "        latency_prior_ms: 10000\n";
    let sections = [section(
        "claude",
        &[("a", "OKOKOKOK", a_extra), ("b", "OKOKOKOK", b_extra)],
        "",
    )];
    let default = Env::new(&config(&sections, "  fallback_chain: [claude]\n"));
    write_requests(&default.home, "claude", "a", 8);
    // a = 0.4·0.1 + 0.3·1 + 0.3·1 = 0.64; b = 0.4·1 + 0.3·0.1 + 0.3·1 = 0.73
    let o = run(default
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert_eq!(o.stdout, "claude/b\n", "{}", o.stderr);
    assert!(o.stderr.contains("claude/b  0.730"), "{}", o.stderr);
    assert!(o.stderr.contains("claude/a  0.640"), "{}", o.stderr);
    let fast = Env::new(&config(
        &sections,
        "  fallback_chain: [claude]\n  weights: {quota: 0.1, latency: 0.9, context_fit: 0.0}\n",
    ));
    write_requests(&fast.home, "claude", "a", 8);
    let o = run(fast.xnai().args(["dispatch", "--dry-run", "--", "x"]));
    assert_eq!(o.stdout, "claude/a\n", "{}", o.stderr);
}

#[test]
fn explain_output_snapshot() {
    let e = Env::new(&config(
        &[
            section(
                "claude",
                &[
                    ("a", "OKOKOKOK", "        latency_prior_ms: 2000\n"),
                    ("b", "OKOKOKOK", "        latency_prior_ms: 4000\n"),
                    ("off", "OKOKOKOK", "        enabled: false\n"),
                ],
                "",
            ),
            section("tiny", &[("x", "OKOKOKOK", "")], "    context_window: 10\n"),
        ],
        "  chains:\n    review: [tiny, claude]\n",
    ));
    let o = run(e.xnai().args([
        "dispatch",
        "--chain",
        "review",
        "--explain",
        "--dry-run",
        "--context-tokens",
        "50",
        "--",
        "x",
    ]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let snap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/dispatch-explain.txt");
    if std::env::var_os("XNAI_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &o.stderr).expect("write snapshot");
    }
    let want =
        std::fs::read_to_string(&snap).expect("snapshot (XNAI_UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(o.stderr, want);
    assert_eq!(o.stdout, "claude/a\n");
}

#[test]
fn concurrent_dispatches_respect_max_concurrent() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "SLOWSLOW", ""), ("b", "SLOWSLOW", "")],
            "    max_concurrent: 1\n",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let kids: Vec<_> = (0..3)
        .map(|_| {
            e.std()
                .env("SLOW_SECS", "2")
                .args(["dispatch", "--", "x"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let codes: Vec<i32> = kids
        .into_iter()
        .map(|k| {
            k.wait_with_output()
                .expect("wait")
                .status
                .code()
                .unwrap_or(-1)
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 0, 75], "two slots, three tasks: {codes:?}");
    // Each account ran once: the two runs were on different accounts.
    let log = std::fs::read_to_string(&e.log).expect("log");
    let starts: Vec<&str> = log.lines().filter(|l| l.contains(" start ")).collect();
    assert_eq!(starts.len(), 2, "{log}");
    // Leases are gone once the runs end.
    let n: i64 = e
        .ledger()
        .query_row("SELECT COUNT(*) FROM dispatch_leases", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0);
}

#[test]
fn a_burst_of_429s_changes_the_state_once() {
    let e = Env::new(&config(
        &[section("claude", &[("a", "BURSTXXX", "")], "")],
        "  fallback_chain: [claude]\n",
    ));
    let kids: Vec<_> = (0..4)
        .map(|_| {
            e.std()
                .args(["dispatch", "--max-attempts", "1", "--", "x"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for k in kids {
        let _ = k.wait_with_output();
    }
    assert_eq!(e.started().len(), 4, "all four were in flight");
    let db = e.ledger();
    let events: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM dispatch_events WHERE event = 'rate_limited'",
            [],
            |r| r.get(0),
        )
        .expect("events");
    assert_eq!(events, 1);
    let level: i64 = db
        .query_row("SELECT cooldown_level FROM dispatch_accounts", [], |r| {
            r.get(0)
        })
        .expect("level");
    assert_eq!(level, 1, "backoff did not double for the same burst");
}

#[test]
fn other_failures_are_returned_without_rotation() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "BROKENXX", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 3);
    assert_eq!(e.started(), ["BROKENXX"]);
    assert!(
        o.stderr
            .ends_with("xnai dispatch: claude/a failed (exit 3)\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn force_account_bypasses_scoring_and_run_auto_chooses() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "RATELIMT", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    assert_eq!(run(e.xnai().args(["dispatch", "--", "x"])).code, 0);
    // a cools down, but the emergency switch uses it anyway, once.
    let o = run(e
        .xnai()
        .env("XNAI_FORCE_ACCOUNT", "claude/a")
        .args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 75, "rate limited again: try later: {}", o.stderr);
    assert!(
        o.stderr.contains("XNAI_FORCE_ACCOUNT: running as claude/a"),
        "{}",
        o.stderr
    );
    assert_eq!(e.started().last().map(String::as_str), Some("RATELIMT"));
    let o = run(e.xnai().env("XNAI_FORCE_ACCOUNT", "claude/a").args([
        "dispatch",
        "--dry-run",
        "--",
        "x",
    ]));
    assert!(
        o.stderr
            .contains("choice: claude/a (XNAI_FORCE_ACCOUNT, whatever its state)"),
        "{}",
        o.stderr
    );
    // run auto: b, the one not cooling down; the command sees b's key (masked nowhere: it
    // is the command's own environment).
    let o = run(e.xnai().args([
        "run",
        "auto",
        "--provider",
        "claude",
        "--",
        "bash",
        "-c",
        "echo ${ANTHROPIC_API_KEY:13:8}",
    ]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "OKOKOKOK\n");
    assert!(o.stderr.contains("auto: claude/b"), "{}", o.stderr);
    let o = run(e.xnai().args(["run", "auto", "--", "true"]));
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("needs --provider"), "{}", o.stderr);
    // run auto records no run time: `true` is not the agent.
    let ewma: Option<f64> = e
        .ledger()
        .query_row(
            "SELECT latency_ewma_ms FROM dispatch_accounts WHERE account = 'b'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    let before = ewma;
    assert_eq!(
        run(e.xnai().args(["run", "auto", "-p", "claude", "--", "true"])).code,
        0
    );
    let after: Option<f64> = e
        .ledger()
        .query_row(
            "SELECT latency_ewma_ms FROM dispatch_accounts WHERE account = 'b'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(before, after);
}

#[test]
fn force_account_must_match_the_chains_kind() {
    let mut text = config(
        &[section("claude", &[("a", "OKOKOKOK", "")], "")],
        "  fallback_chain: [claude]\n",
    );
    text = text.replace(
        "dispatch_config:",
        &format!(
            "  cline:\n    api_key: {}\ndispatch_config:",
            key("CLINEKEY", 'z')
        ),
    );
    let e = Env::new(&text);
    for args in [
        vec!["dispatch", "--", "x"],
        vec!["run", "auto", "-p", "claude", "--", "true"],
    ] {
        let o = run(e.xnai().env("XNAI_FORCE_ACCOUNT", "cline").args(&args));
        assert!(o.code == 125, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("but the chain runs claude"),
            "{}",
            o.stderr
        );
    }
    assert!(e.started().is_empty());
}

#[test]
fn a_signal_stops_the_dispatch_without_rotating() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "SLOWSLOW", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    // The agent prints a 429 line first, as Claude Code does while it retries, then works.
    std::fs::write(
        &e.agent,
        AGENT.replace(
            "*SLOWSLOW*) sleep",
            "*SLOWSLOW*) echo 'API Error (429) retrying' >&2; sleep",
        ),
    )
    .expect("agent");
    let child = e.spawn_running("30", std::process::Stdio::piped());
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_eq!(e.started(), ["SLOWSLOW"], "b never ran");
    assert!(stderr.contains("claude/a stopped by signal 15"), "{stderr}");
    let events: i64 = e
        .ledger()
        .query_row("SELECT COUNT(*) FROM dispatch_events", [], |r| r.get(0))
        .expect("events");
    assert_eq!(events, 0, "no cooldown for an interrupted run");
}

#[test]
fn prompt_file_reaches_the_agent_and_long_prompts_are_refused() {
    let e = Env::new(&config(
        &[section("claude", &[("a", "OKOKOKOK", "")], "")],
        "  fallback_chain: [claude]\n",
    ));
    let f = e.home.path().join("change.patch");
    std::fs::write(&f, "--- a/x\n+++ b/x\n").expect("write");
    let o = run(e
        .xnai()
        .args(["dispatch", "--prompt-file"])
        .arg(&f)
        .args(["--", "review this"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "did: review this\n\n--- a/x\n+++ b/x\n\n");
    // From stdin; the agent itself gets none.
    let o = run(e
        .xnai()
        .args(["dispatch", "--prompt-file", "-"])
        .write_stdin("from stdin"));
    assert_eq!(o.stdout, "did: from stdin\n", "{}", o.stderr);
    std::fs::write(&f, "x".repeat(200_000)).expect("write");
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--prompt-file"])
        .arg(&f)
        .args(["--", "x"]));
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("at most 131,071 bytes in one argument"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_missing_agent_is_excluded_and_the_chain_moves_on() {
    let text = config(
        &[
            section("first", &[("a", "OKOKOKOK", "")], ""),
            section("second", &[("a", "OKOKOKOK", "")], ""),
        ],
        "  fallback_chain: [first, second]\n",
    );
    // The first provider's agent is not installed.
    let text = text.replacen("command: [AGENT,", "command: [no-such-agent-xnai,", 1);
    let e = Env::new(&text);
    let o = run(e.xnai().args(["dispatch", "--explain", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("agent `no-such-agent-xnai` is not installed"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("xnai dispatch: second/a ok"),
        "{}",
        o.stderr
    );
    // A path that is there but not executable says so.
    std::fs::set_permissions(&e.agent, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = run(e
        .xnai()
        .args(["dispatch", "--explain", "--dry-run", "--", "x"]));
    assert!(
        o.stderr.contains(&format!(
            "agent `{}` is not executable (chmod +x it)",
            e.agent.display()
        )),
        "{}",
        o.stderr
    );
}

#[test]
fn when_every_account_rotates_away_the_exit_says_try_later_and_clear_lifts_holds() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "RATELIMT", ""), ("b", "AUTHFAIL", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 75, "{}", o.stderr);
    assert!(
        o.stderr.contains("no account of claude finished the task"),
        "{}",
        o.stderr
    );
    let o = run(e.xnai().args(["dispatch", "--dry-run", "--", "x"]));
    assert_eq!(o.code, 75);
    let o = run(e
        .xnai()
        .args(["dispatch", "--clear", "claude/b", "--clear", "claude/a"]));
    assert_eq!(
        o.stdout, "claude/b: cleared\nclaude/a: cleared\n",
        "{}",
        o.stderr
    );
    let o = run(e.xnai().args(["dispatch", "--dry-run", "--", "x"]));
    assert_eq!(o.stdout, "claude/a\n", "{}", o.stderr);
    // Held again, then all lifted at once.
    assert_eq!(run(e.xnai().args(["dispatch", "--", "x"])).code, 75);
    let o = run(e.xnai().args(["dispatch", "--clear", "all"]));
    assert_eq!(
        o.stdout, "claude/a: cleared\nclaude/b: cleared\ncleared 2 of 2 accounts\n",
        "{}",
        o.stderr
    );
    let o = run(e.xnai().args(["dispatch", "--clear", "all"]));
    assert_eq!(o.stdout, "cleared 0 of 2 accounts\n");
}

#[test]
fn accounts_never_run_are_not_starved_by_the_prior() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "OKOKOKOK", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    assert_eq!(run(e.xnai().args(["dispatch", "--", "x"])).code, 0);
    // a ran (measured); b borrows a's mean, so the tie goes to b, the one never used.
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert_eq!(o.stdout, "claude/b\n", "{}", o.stderr);
    assert!(
        o.stderr.contains("no runs yet: provider's best"),
        "{}",
        o.stderr
    );
}

#[test]
fn dispatch_never_prints_a_secret() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "AUTHFAIL", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    // The agent prints its own key, and another account's it came across: dispatch masks
    // every secret of the pool in its output.
    std::fs::write(
        &e.agent,
        AGENT.replace(
            "echo \"did: $1\"",
            &format!(
                "echo \"did: $1 with $ANTHROPIC_API_KEY, saw {}\"",
                key("AUTHFAIL", 'a')
            ),
        ),
    )
    .expect("agent");
    for args in [
        vec!["dispatch", "--explain", "--", "x"],
        vec!["dispatch", "--explain", "--dry-run", "--", "x"],
        vec!["dispatch", "--chain", "nope", "--", "x"],
    ] {
        let o = run(e.xnai().args(&args));
        for k in [key("AUTHFAIL", 'a'), key("OKOKOKOK", 'b')] {
            assert!(
                !o.stdout.contains(&k[13..40]) && !o.stderr.contains(&k[13..40]),
                "{args:?}: {}{}",
                o.stdout,
                o.stderr
            );
        }
    }
}

#[test]
fn a_killed_dispatcher_holds_its_lease_until_the_agent_ends() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "SLOWSLOW", "")],
            "    max_concurrent: 1\n",
        )],
        "  fallback_chain: [claude]\n",
    ));
    // Wait for the agent to start: the lease is held.
    let mut child = e.spawn_running("8", std::process::Stdio::null());
    let busy = |o: &Out| o.code == 75 && o.stderr.contains("excluded: busy: 1 of 1 runs");
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert!(busy(&o), "busy while the run lasts: {}", o.stderr);
    child.kill().expect("kill -9");
    let _ = child.wait();
    // Nothing released it and its holder is gone, but the agent it started still works.
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert!(busy(&o), "the agent outlives its dispatcher: {}", o.stderr);
    // Once the agent's process group is empty, the account is free again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let o = run(e.xnai().args(["dispatch", "--dry-run", "--", "x"]));
        if o.code == 0 {
            assert_eq!(o.stdout, "claude/a\n", "{}", o.stderr);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still held after the agent ended: {}",
            o.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn the_same_rejection_on_two_accounts_rotates_to_the_third() {
    // Two revoked keys get the provider's very same 401 text: both are rejected.
    let e = Env::new(&config(
        &[section(
            "claude",
            &[
                ("a", "AUTHFAIL", ""),
                ("b", "AUTHFAIL", ""),
                ("c", "OKOKOKOK", ""),
            ],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(e.started(), ["AUTHFAIL", "AUTHFAIL", "OKOKOKOK"]);
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert_eq!(
        o.stderr.matches("excluded: credential rejected").count(),
        2,
        "{}",
        o.stderr
    );
}

#[test]
fn a_rejection_after_model_calls_is_the_tasks_own_failure() {
    // The agent's log shows it worked with this login; the 401 is the task's.
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "AUTHTEST", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(e.started(), ["AUTHTEST"], "stopped, b untouched");
    assert!(
        o.stderr.contains("taken as the task's own failure"),
        "{}",
        o.stderr
    );
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert!(!o.stderr.contains("excluded"), "not held: {}", o.stderr);
}

#[test]
fn an_agent_that_swallows_the_signal_still_ends_the_dispatch_with_it() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "SLOWSLOW", ""), ("b", "OKOKOKOK", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    std::fs::write(
        &e.agent,
        AGENT.replace(
            "*SLOWSLOW*) sleep \"${SLOW_SECS:-1}\"",
            "*SLOWSLOW*) trap 'exit 0' TERM; sleep \"${SLOW_SECS:-1}\" & wait",
        ),
    )
    .expect("agent");
    let child = e.spawn_running("30", std::process::Stdio::piped());
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "not the agent's 0: {stderr}");
    assert!(
        stderr.contains("interrupted by signal 15 (agent exit 0)"),
        "{stderr}"
    );
    assert_eq!(e.started(), ["SLOWSLOW"]);
}

#[test]
fn stopping_a_dispatch_stops_what_the_agent_started() {
    let e = Env::new(&config(
        &[section("claude", &[("a", "SLOWSLOW", "")], "")],
        "  fallback_chain: [claude]\n",
    ));
    let pidfile = e.home.path().join("tool.pid");
    // The agent starts a tool process of its own and waits for it.
    std::fs::write(
        &e.agent,
        AGENT.replace(
            "*SLOWSLOW*) sleep \"${SLOW_SECS:-1}\"",
            &format!(
                "*SLOWSLOW*) sleep 30 & echo $! > '{}'; wait",
                pidfile.display()
            ),
        ),
    )
    .expect("agent");
    let child = e
        .std()
        .args(["dispatch", "--", "x"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !pidfile.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let tool: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: signalling our own child.
    assert_eq!(
        unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGTERM) },
        0
    );
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143));
    // The tool process went with the agent (give the kernel a moment to reap it).
    let mut alive = true;
    for _ in 0..40 {
        let stat = std::fs::read_to_string(format!("/proc/{tool}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init.
        alive = !stat.is_empty() && !stat.contains(") Z ");
        if !alive {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive, "the agent's `sleep 30` survived the dispatch");
}

#[test]
fn an_agent_that_cannot_start_skips_every_account_with_that_command() {
    let text = config(
        &[
            section("first", &[("a", "OKOKOKOK", ""), ("b", "OKOKOKOK", "")], ""),
            section("second", &[("a", "OKOKOKOK", "")], ""),
        ],
        "  fallback_chain: [first, second]\n",
    );
    let e0 = Env::new(&text);
    // Installed and executable, but its interpreter is missing: exec fails.
    let broken = e0.home.path().join("broken-agent");
    std::fs::write(&broken, "#!/nonexistent/interpreter\n").expect("write");
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let text = text.replacen(
        "command: [AGENT,",
        &format!("command: [{},", broken.display()),
        1,
    );
    let e = Env::new(&text);
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let summary = o.stderr.lines().last().unwrap_or_default();
    assert!(summary.starts_with("xnai dispatch: first/"), "{summary}");
    assert_eq!(summary.matches(" not run (").count(), 1, "{summary}");
    assert!(
        summary.contains("its interpreter /nonexistent/interpreter (the #! line) does not exist"),
        "{summary}"
    );
    assert!(summary.contains(" → second/a ok in "), "{summary}");
    assert_eq!(e.started(), ["OKOKOKOK"]);
}

#[test]
fn max_attempts_says_how_many_accounts_were_left() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[
                ("a", "RATELIMT", ""),
                ("b", "RATELIMT", ""),
                ("c", "OKOKOKOK", ""),
            ],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    // Equal scores and none used yet: configuration order, a then b then c.
    let o = run(e
        .xnai()
        .args(["dispatch", "--max-attempts", "2", "--", "x"]));
    assert_eq!(o.code, 75, "{}", o.stderr);
    assert_eq!(e.started(), ["RATELIMT", "RATELIMT"]);
    assert!(
        o.stderr.contains(
            "stopped after 2 attempts (--max-attempts), each rate limited, out of quota or \
             refused; 1 eligible account of claude not tried"
        ),
        "{}",
        o.stderr
    );
    // The next dispatch goes straight to the one left.
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn force_account_is_not_held_back_by_max_concurrent() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "SLOWSLOW", "")],
            "    max_concurrent: 1\n",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let mut child = e.spawn_running("20", std::process::Stdio::null());
    let o = run(e.xnai().env("SLOW_SECS", "0").args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 75, "busy without the switch: {}", o.stderr);
    assert!(
        o.stderr.contains("claude/a: busy: 1 of 1 runs"),
        "{}",
        o.stderr
    );
    let o = run(e.xnai().env("COLUMNS", "300").args(["status"]));
    let row = o
        .stdout
        .lines()
        .find(|l| l.starts_with("claude/a"))
        .unwrap_or_default();
    assert!(row.ends_with("busy: 1 of 1 runs"), "{}", o.stdout);
    let o = run(e
        .xnai()
        .env("SLOW_SECS", "0")
        .env("XNAI_FORCE_ACCOUNT", "claude/a")
        .args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 0, "the switch runs it anyway: {}", o.stderr);
    assert_eq!(o.stdout, "slow done\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_prompt_without_the_double_dash_gets_a_tip() {
    let e = Env::new(&config(
        &[section("claude", &[("a", "OKOKOKOK", "")], "")],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "fix it"]));
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("tip: the prompt goes after --: xnai dispatch -- \"fix the test\""),
        "{}",
        o.stderr
    );
    assert!(e.started().is_empty());
}

#[test]
fn account_state_stays_with_its_account_whatever_the_files_order() {
    // Not in alphabetical order: zclaude before aclaude, zed before amy; aclaude/bob holds a
    // malformed key.
    let text = format!(
        "credentials:\n  zclaude:\n    kind: claude\n    command: [AGENT, \"{{prompt}}\"]\n    accounts:\n      zed:\n        api_key: {}\n      amy:\n        api_key: {}\n  aclaude:\n    kind: claude\n    command: [AGENT, \"{{prompt}}\"]\n    accounts:\n      bob:\n        api_key: sk-ant-api03-short\n      cat:\n        api_key: {}\ndispatch_config:\n  fallback_chain: [zclaude, aclaude]\n",
        key("OKOKOKOK", 'a'),
        key("OKOKOKOK", 'c'),
        key("RATELIMT", 'b'),
    );
    let e = Env::new(&text);
    let o = run(e
        .xnai()
        .args(["dispatch", "--dry-run", "--explain", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "zclaude/zed\n", "{}", o.stderr);
    let bob = o
        .stderr
        .lines()
        .find(|l| l.contains("aclaude/bob"))
        .unwrap_or_default();
    assert!(bob.contains("excluded: credential"), "{}", o.stderr);
    assert_eq!(o.stderr.matches("excluded").count(), 1, "{}", o.stderr);
    // cat is rate limited once; status shows the hold on cat's row, not on another's.
    let o = run(e
        .xnai()
        .args(["dispatch", "--provider", "aclaude", "--", "x"]));
    assert_eq!(o.code, 75, "{}", o.stderr);
    let o = run(e.xnai().env("COLUMNS", "300").args(["status"]));
    let row = |label: &str| {
        o.stdout
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("aclaude/cat").contains("rate limited"), "{}", o.stdout);
    for other in ["aclaude/bob", "zclaude/zed", "zclaude/amy"] {
        assert!(!row(other).contains("rate limited"), "{}", o.stdout);
    }
}

#[test]
fn an_attempt_past_its_timeout_is_stopped_and_exits_124() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "SLOWSLOW", ""), ("b", "SLOWSLOW", "")],
            "",
        )],
        "  fallback_chain: [claude]\n  timeout_secs: 1\n",
    ));
    let started = std::time::Instant::now();
    let o = run(e
        .xnai()
        .env("SLOW_SECS", "30")
        .args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 124, "{}", o.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "stopped, not waited for"
    );
    let summary = o.stderr.lines().last().unwrap_or_default();
    assert!(
        summary == "xnai dispatch: claude/a timed out at 1 s (--timeout; stopped)",
        "{summary}"
    );
    assert_eq!(
        e.started(),
        ["SLOWSLOW"],
        "no rotation: b would run as long"
    );
    // Nothing held against a; the flag overrides the configured second.
    let o = run(e
        .xnai()
        .env("SLOW_SECS", "2")
        .args(["dispatch", "--timeout", "20", "--", "x"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "slow done\n");
}

#[test]
fn when_every_credential_is_rejected_waiting_is_not_advised() {
    let e = Env::new(&config(
        &[section(
            "claude",
            &[("a", "AUTHFAIL", ""), ("b", "AUTHFAIL", "")],
            "",
        )],
        "  fallback_chain: [claude]\n",
    ));
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("the provider rejected every credential tried"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("waiting will not help"), "{}", o.stderr);
    // And the next dispatch agrees: nothing can take it until a credential changes.
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 125, "{}", o.stderr);
}

/// Whether process `pid` still runs two seconds on (gone, or a zombie waiting for init, counts
/// as not): a signal just sent takes a moment to land.
fn running(pid: i32) -> bool {
    for _ in 0..40 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    true
}

/// An env whose SLOWSLOW agent starts a tool that ignores SIGTERM (its pid in the returned
/// file), then waits for it; `agent_ignores` makes the agent ignore SIGTERM too.
fn stubborn(agent_ignores: bool, dispatch: &str) -> (Env, PathBuf) {
    let e = Env::new(&config(
        &[section("claude", &[("a", "SLOWSLOW", "")], "")],
        &format!("  fallback_chain: [claude]\n{dispatch}"),
    ));
    let pidfile = e.home.path().join("tool.pid");
    std::fs::write(
        &e.agent,
        AGENT.replace(
            "*SLOWSLOW*) sleep \"${SLOW_SECS:-1}\"",
            &format!(
                "*SLOWSLOW*) {}(trap '' TERM; exec sleep 1000) & echo $! > '{}'; wait",
                if agent_ignores { "trap '' TERM; " } else { "" },
                pidfile.display()
            ),
        ),
    )
    .expect("agent");
    (e, pidfile)
}

fn wait_for_pid(pidfile: &Path) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(pidfile).map_or(true, |s| s.trim().is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::read_to_string(pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid")
}

#[test]
fn a_timeout_kills_what_survives_the_agent() {
    let (e, pidfile) = stubborn(false, "  timeout_secs: 1\n");
    let started = std::time::Instant::now();
    let o = run(e.xnai().args(["dispatch", "--", "x"]));
    assert_eq!(o.code, 124, "{}", o.stderr);
    let tool = wait_for_pid(&pidfile);
    // The agent died at SIGTERM; its tool ignored it and got SIGKILL after the grace period,
    // before xnai returned.
    assert!(!running(tool), "the tool outlived the dispatch");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(10),
        "SIGKILL came only after the grace period"
    );
}

#[test]
fn a_stop_signal_is_escalated_when_the_agent_ignores_it() {
    let (e, pidfile) = stubborn(true, "");
    let child = e
        .std()
        .args(["dispatch", "--", "x"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let tool = wait_for_pid(&pidfile);
    // SAFETY: signalling our own child.
    assert_eq!(
        unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGTERM) },
        0
    );
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143), "ends as told to, by SIGTERM");
    assert!(!running(tool), "the tool outlived the dispatch");
}
