//! `xnai usage` end to end: the binary on a credential file whose accounts point at Claude Code
//! logs written here, with every total worked out by hand.

mod common;

use common::{Home, Out, run};
use serde_json::Value;

fn line(id: &str, req: &str, ts: &str, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","timestamp":"{ts}","requestId":"{req}","message":{{"id":"{id}","model":"claude-sonnet-4-5","usage":{{"input_tokens":10,"output_tokens":{output},"cache_creation_input_tokens":1,"cache_read_input_tokens":100}}}}}}"#
    )
}

/// Two Claude accounts:
/// - work: m1 streamed (5 then 12 output) on 2026-09-01 10:00Z, m2 at 16:30Z (6.5 h later: a
///   new block), m3 on 2026-09-02 09:00Z, and one truncated line;
/// - home: m4 on 2026-09-08 00:30Z (the next ISO week).
fn setup(home: &Home) -> std::path::PathBuf {
    let work = home.path().join("logs/work/projects/-src-app");
    let other = home.path().join("logs/home/projects/-src-site");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(
        work.join("s1.jsonl"),
        [
            line("m1", "r1", "2026-09-01T10:00:00.5Z", 5),
            line("m1", "r1", "2026-09-01T10:00:01.123456789Z", 12),
            "{\"type\":\"assistant\",\"message\":{\"usa".to_string(),
            line("m2", "r2", "2026-09-01T16:30:00Z", 7),
            line("m3", "r3", "2026-09-02T09:00:00Z", 3),
        ]
        .join("\n")
            + "\n",
    )
    .expect("write");
    std::fs::write(
        other.join("s2.jsonl"),
        line("m4", "r4", "2026-09-08T00:30:00Z", 20) + "\n",
    )
    .expect("write");
    home.config(&format!(
        "credentials:
  claude:
    accounts:
      work:
        oauth_token: sk-ant-oat01-{a}
        usage_paths: [{w}]
      home:
        oauth_token: sk-ant-oat01-{a}
        usage_paths: [{h}]
",
        a = "A".repeat(90),
        w = home.path().join("logs/work").display(),
        h = home.path().join("logs/home").display(),
    ))
}

fn usage(home: &Home, cfg: &std::path::Path, args: &[&str]) -> Out {
    run(home.xnai().arg("--config").arg(cfg).arg("usage").args(args))
}

fn json(out: &Out) -> Value {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("json")
}

/// events, input, output, cache read, cache write.
type Tokens = (u64, u64, u64, u64, u64);

fn tokens(v: &Value) -> Tokens {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    (
        n("events"),
        n("input"),
        n("output"),
        n("cache_read"),
        n("cache_write"),
    )
}

#[test]
fn totals_by_account_day_week_and_month() {
    let home = Home::new();
    let cfg = setup(&home);
    let v = json(&usage(&home, &cfg, &["--by", "account", "--json"]));
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["account"], "claude/home");
    assert_eq!(tokens(&rows[0]), (1, 10, 20, 100, 1));
    assert_eq!(rows[1]["account"], "claude/work");
    // m1 keeps its final 12, not 5 or 17.
    assert_eq!(tokens(&rows[1]), (3, 30, 22, 300, 3));
    assert_eq!(tokens(&v["totals"]), (4, 40, 42, 400, 4));
    assert_eq!(v["totals"]["total"], 40 + 42 + 400 + 4);
    assert_eq!(v["scan"]["corrupt"], 1);
    assert_eq!(v["scan"]["files_read"], 2);

    // A second run reads nothing and counts nothing twice.
    let again = json(&usage(&home, &cfg, &["--by", "account", "--json"]));
    assert_eq!(again["rows"], v["rows"]);
    assert_eq!(again["scan"]["files_read"], 0);
    assert_eq!(again["scan"]["bytes_read"], 0);

    let v = json(&usage(&home, &cfg, &["--by", "day", "--json"]));
    let days: Vec<(String, Tokens)> = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["day"].as_str().unwrap_or("").to_string(), tokens(r)))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-09-01".to_string(), (2, 20, 19, 200, 2)),
            ("2026-09-02".to_string(), (1, 10, 3, 100, 1)),
            ("2026-09-08".to_string(), (1, 10, 20, 100, 1)),
        ]
    );

    // ISO weeks are labelled by their Monday: 1 and 2 September 2026 are in the week of
    // 31 August, the 8th (a Tuesday) in the week of the 7th.
    let v = json(&usage(&home, &cfg, &["--by", "week,account", "--json"]));
    let weeks: Vec<(String, String, u64)> = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["week"].as_str().unwrap_or("").to_string(),
                r["account"].as_str().unwrap_or("").to_string(),
                r["events"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        vec![
            ("2026-08-31".to_string(), "claude/work".to_string(), 3),
            ("2026-09-07".to_string(), "claude/home".to_string(), 1),
        ]
    );

    let v = json(&usage(&home, &cfg, &["--by", "month,model", "--json"]));
    assert_eq!(v["rows"][0]["month"], "2026-09");
    assert_eq!(v["rows"][0]["model"], "claude-sonnet-4-5");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(1));
}

#[test]
fn since_until_and_one_account() {
    let home = Home::new();
    let cfg = setup(&home);
    // Days include the whole --until day.
    let v = json(&usage(
        &home,
        &cfg,
        &["--since", "2026-09-02", "--until", "2026-09-07", "--json"],
    ));
    assert_eq!(tokens(&v["totals"]), (1, 10, 3, 100, 1));
    // An instant cuts inside a day: only m2 is between 12:00 and 23:00 on the 1st.
    let v = json(&usage(
        &home,
        &cfg,
        &[
            "--since",
            "2026-09-01T12:00:00Z",
            "--until",
            "2026-09-01T23:00:00Z",
            "--json",
        ],
    ));
    assert_eq!(tokens(&v["totals"]), (1, 10, 7, 100, 1));
    let v = json(&usage(&home, &cfg, &["claude/home", "--json"]));
    assert_eq!(tokens(&v["totals"]), (1, 10, 20, 100, 1));
    let v = json(&usage(
        &home,
        &cfg,
        &["claude", "--json", "--by", "provider"],
    ));
    assert_eq!(v["rows"][0]["provider"], "claude");
    assert_eq!(tokens(&v["rows"][0]), (4, 40, 42, 400, 4));
}

#[test]
fn five_hour_blocks() {
    let home = Home::new();
    let cfg = setup(&home);
    let v = json(&usage(&home, &cfg, &["claude/work", "--blocks", "--json"]));
    let blocks = v.as_array().expect("blocks");
    let got: Vec<(String, String, u64, u64)> = blocks
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap_or("").to_string(),
                b["end"].as_str().unwrap_or("").to_string(),
                b["events"].as_u64().unwrap_or(0),
                b["output"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // m1 at 10:00 starts a block; m2 at 16:30 is past its end: a new block from 16:00; m3 the
    // next morning starts a third.
    assert_eq!(
        got,
        vec![
            (
                "2026-09-01T10:00:00Z".into(),
                "2026-09-01T15:00:00Z".into(),
                1,
                12
            ),
            (
                "2026-09-01T16:00:00Z".into(),
                "2026-09-01T21:00:00Z".into(),
                1,
                7
            ),
            (
                "2026-09-02T09:00:00Z".into(),
                "2026-09-02T14:00:00Z".into(),
                1,
                3
            ),
        ]
    );
    assert!(blocks.iter().all(|b| b["active"] == false));
    let out = usage(&home, &cfg, &["claude/work", "--blocks"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("2026-09-01"), "{}", out.stdout);
}

#[test]
fn table_verbose_and_errors() {
    let home = Home::new();
    let cfg = setup(&home);
    let out = usage(&home, &cfg, &["-v"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("ACCOUNT"), "{}", out.stdout);
    assert!(out.stdout.contains("claude/work"), "{}", out.stdout);
    // The TOTAL row: input + output + cache read + cache write = 486.
    let total = out
        .stdout
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .expect("total row");
    assert!(total.contains("486"), "{total}");
    assert!(out.stderr.contains("1 unreadable lines"), "{}", out.stderr);

    let out = usage(&home, &cfg, &["claude/nobody"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("nobody"), "{}", out.stderr);
    let out = usage(&home, &cfg, &["--since", "last tuesday"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("YYYY-MM-DD"), "{}", out.stderr);
    let out = usage(&home, &cfg, &["--by", "colour"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn nothing_recorded_is_not_an_error() {
    let home = Home::new();
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      fresh:\n        oauth_token: sk-ant-oat01-{}\n",
        "B".repeat(90)
    ));
    let out = usage(&home, &cfg, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("no usage recorded"), "{}", out.stdout);
    let v = json(&usage(&home, &cfg, &["--json"]));
    assert_eq!(tokens(&v["totals"]), (0, 0, 0, 0, 0));
}

#[test]
fn parallel_runs_wait_for_each_other() {
    let home = Home::new();
    let tree = home.path().join("gen");
    let o = std::process::Command::new("python3")
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/bench/gen-claude-logs.py"),
        )
        .arg(tree.join("projects"))
        .arg("3")
        .arg("7")
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected: Value = serde_json::from_slice(&o.stdout).expect("totals");
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n        usage_paths: [{}]\n",
        "C".repeat(90),
        tree.display()
    ));
    // Four cold scans of the same new logs at once: each must wait for the ledger, not fail.
    let children: Vec<_> = (0..4)
        .map(|_| {
            home.xnai_std()
                .arg("--config")
                .arg(&cfg)
                .args(["usage", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["totals"]["output"], expected["totals"]["output"]);
        assert_eq!(v["totals"]["events"], expected["totals"]["messages"]);
    }
}

#[test]
fn bad_ranges_repeated_dimensions_and_suspicious_sources_are_reported() {
    let home = Home::new();
    let cfg = setup(&home);
    let out = usage(
        &home,
        &cfg,
        &["--since", "2026-09-05", "--until", "2026-09-01"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not before --until"), "{}", out.stderr);
    let out = usage(&home, &cfg, &["--by", "day,day"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("listed twice"), "{}", out.stderr);
    let out = usage(&home, &cfg, &["--threads", "0"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // A pasted token is not echoed back.
    let tok = format!("sk-ant-oat01-{}", "Q".repeat(90));
    let out = usage(&home, &cfg, &["--since", &tok]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("QQQQ"), "{}", out.stderr);

    // One tool home in two accounts, a typo, and the wrong level of directory.
    let logs = home.path().join("logs/work");
    let cfg = home.config(&format!(
        "credentials:
  claude:
    accounts:
      work:
        oauth_token: sk-ant-oat01-{a}
        usage_paths: [{w}]
      twin:
        oauth_token: sk-ant-oat01-{a}
        usage_paths: [{w}, {typo}, {deep}]
",
        a = "A".repeat(90),
        w = logs.display(),
        typo = home.path().join("logs/wrok").display(),
        deep = logs.join("projects").display(),
    ));
    let out = usage(&home, &cfg, &["--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("is also counted for claude/work"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("wrok does not exist"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("has no projects inside: give the tool's home directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn blocks_ending_the_next_day_show_the_date() {
    let home = Home::new();
    let dir = home.path().join("logs/projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("s.jsonl"),
        format!(
            "\u{feff}  {}\n",
            line("m1", "r1", "2026-09-01T22:30:00Z", 5)
        ),
    )
    .expect("write");
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n        usage_paths: [{}]\n",
        "C".repeat(90),
        home.path().join("logs").display()
    ));
    let out = usage(&home, &cfg, &["--blocks"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A byte order mark and leading spaces do not make the line unreadable.
    assert!(
        out.stdout.contains("2026-09-01 22:00") && out.stdout.contains("2026-09-02 03:00"),
        "{}",
        out.stdout
    );
}

#[test]
fn records_dated_in_the_future_are_counted_with_a_warning() {
    let home = Home::new();
    let cfg = setup(&home);
    // A machine whose clock is years ahead wrote one more record.
    let work = home.path().join("logs/work/projects/-src-app");
    std::fs::write(
        work.join("s3.jsonl"),
        line("m9", "r9", "2099-01-01T00:00:00Z", 4) + "\n",
    )
    .expect("write");
    let o = usage(&home, &cfg, &["--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "claude/work: 1 usage record dated in the future (latest 2099-01-01T00:00:00Z)"
        ),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("claude/home:"), "{}", o.stderr);
    // Counted in the totals all the same: 12 + 7 + 3 + 20 + 4.
    assert_eq!(json(&o)["totals"]["output"], 46);
}
