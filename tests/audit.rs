//! `xnai audit` end to end on the bundled example (the README's first command), the report as
//! a snapshot, replacing a day's report, surviving a kill mid-write, and `--fail-on`.

mod common;

use std::path::{Path, PathBuf};

use common::{Home, Out, examples_dir, run};
use serde_json::Value;

const AS_OF: &str = "2026-11-28T18:00:00Z";

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &t);
        } else {
            std::fs::copy(&p, &t).expect("copy");
        }
    }
}

/// A copy of examples/ (without a ledger or reports a local run may have left).
fn example(home: &Home) -> (PathBuf, PathBuf) {
    let dst = home.path().join("examples");
    copy_tree(&examples_dir().join("keys"), &dst.join("keys"));
    copy_tree(
        &examples_dir().join("data/instances"),
        &dst.join("data/instances"),
    );
    let cfg = dst.join("credentials.yaml");
    std::fs::copy(examples_dir().join("credentials.yaml"), &cfg).expect("copy");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (cfg, dst.join("data"))
}

fn audit(home: &Home, cfg: &Path, data: &Path, extra: &[&str]) -> Out {
    run(home
        .xnai()
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(data)
        .args(["audit", "--as-of", AS_OF])
        .args(extra))
}

/// The report with what changes from run to run (times, the temp path) blanked.
fn normalised(text: &str, home: &Home) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("generated_at:") || t.starts_with("duration_ms:") {
                format!(
                    "{}{}",
                    &l[..l.len() - t.len()],
                    t.split(':').next().unwrap_or("").to_string() + ": <varies>"
                )
            } else {
                l.replace(&home.path().display().to_string(), "<home>")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_readme_example_gives_the_expected_report() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let out = audit(&home, &cfg, &data, &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for want in [
        "critical codex/pro: percent/rolling_5h at 93%",
        "critical opencode/personal: credential expired",
        "critical copilot/octo_two: credential invalid_format",
        "critical xnai_iam_staging/default: credential invalid_signature",
        "warning  claude/max: tokens/rolling_5h at 82.7% (2,481,220 of 3,000,000)",
        "warning  claude/max: tokens/rolling_5h runs out around 2026-11-28T18:50:10Z",
        "warning  copilot/octo_one: messages/monthly at 88% (44 of 50)",
        "warning  opencode/work: tokens/weekly at 85.8% (429,159 of 500,000)",
    ] {
        assert!(
            out.stdout.contains(want),
            "missing {want:?} in\n{}",
            out.stdout
        );
    }
    let report = data.join("reports/ACCOUNT-TRACKING-2026-11-28.yaml");
    let text = std::fs::read_to_string(&report).expect("report");
    let got = normalised(&text, &home);
    let snap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/example-audit.yaml");
    if std::env::var_os("XNAI_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &got).expect("write snapshot");
    }
    let want =
        std::fs::read_to_string(&snap).expect("snapshot (XNAI_UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(got, want, "report differs from {}", snap.display());
}

#[test]
fn json_format_and_fail_on() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let out = audit(
        &home,
        &cfg,
        &data,
        &["--format", "json", "--json", "--fail-on", "critical"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["summary"]["total_accounts"], 10);
    assert_eq!(v["summary"]["alerts"]["critical"], 4);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("reports/ACCOUNT-TRACKING-2026-11-28.json"))
            .expect("json report"),
    )
    .expect("json");
    assert_eq!(file["quotas"], v["quotas"]);
    let codex = v["quotas"]
        .as_array()
        .expect("quotas")
        .iter()
        .find(|q| q["provider"] == "codex")
        .expect("codex");
    assert_eq!(codex["status"], "critical");
    assert_eq!(codex["windows"][0]["unit"], "percent");
    assert_eq!(codex["windows"][0]["source"], "codex rate_limits");

    // Only credentials fail here; with every credential fine and nothing above 80 %, exit 0.
    let quiet = home.config(&format!(
        "credentials:\n  cline:\n    api_key: {}\n",
        xnai::token::anthropic::make_key(xnai::token::anthropic::Kind::ApiKey, 'q')
    ));
    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&quiet)
        .args(["audit", "--fail-on", "warning"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("no alerts"), "{}", out.stdout);
}

#[test]
fn a_second_audit_the_same_day_replaces_the_report() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let first = audit(&home, &cfg, &data, &["--format", "json", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = audit(&home, &cfg, &data, &["--format", "json", "--json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let a: Value = serde_json::from_str(&first.stdout).expect("json");
    let b: Value = serde_json::from_str(&second.stdout).expect("json");
    // Nothing new to read, and the same figures.
    assert!(
        a["quotas"][0]["collection"]["files_read"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    for q in b["quotas"].as_array().expect("quotas") {
        assert_eq!(q["collection"]["files_read"], 0, "{q}");
    }
    let strip = |v: &Value| -> Vec<Value> {
        v["quotas"]
            .as_array()
            .expect("quotas")
            .iter()
            .map(|q| q["windows"].clone())
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    let reports: Vec<_> = std::fs::read_dir(data.join("reports"))
        .expect("reports")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        reports,
        vec!["ACCOUNT-TRACKING-2026-11-28.json".to_string()]
    );
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("reports/ACCOUNT-TRACKING-2026-11-28.json"))
            .expect("read"),
    )
    .expect("json");
    assert_eq!(
        on_disk["audit_metadata"]["generated_at"],
        b["audit_metadata"]["generated_at"]
    );
}

#[test]
fn an_audit_killed_mid_write_leaves_the_previous_report_whole() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let out = audit(&home, &cfg, &data, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = data.join("reports/ACCOUNT-TRACKING-2026-11-28.yaml");
    let first = normalised(&std::fs::read_to_string(&report).expect("report"), &home);
    // Later audits read nothing new: their report differs from the first in the collection
    // counts only. A report after a kill must be one of the two, whole.
    assert_eq!(audit(&home, &cfg, &data, &[]).code, 0);
    let steady = normalised(&std::fs::read_to_string(&report).expect("report"), &home);
    // Kill audits at many points of their run: the report is always a whole one.
    for delay_ms in [0u64, 2, 5, 10, 20, 30, 45, 60, 90, 130] {
        let mut child = home
            .xnai_std()
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(&data)
            .args(["audit", "--as-of", AS_OF])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let text = normalised(
            &std::fs::read_to_string(&report).expect("report still there"),
            &home,
        );
        assert!(
            text == first || text == steady,
            "report damaged after a kill at {delay_ms} ms:\n{text}"
        );
    }
    // No temporary files left visible as reports.
    for e in std::fs::read_dir(data.join("reports"))
        .expect("dir")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            name == "ACCOUNT-TRACKING-2026-11-28.yaml" || name.starts_with(".xnai-tmp-"),
            "{name}"
        );
    }
}

#[test]
fn report_and_output_hold_no_secret() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let secrets = [
        "EXAMPLE-xnai-not-a-real-oauth-token",
        "EXAMPLE-xnai-not-a-real-openai-key",
        "EXAMPLE-xnai-not-a-real-google-token",
        "EXAMPLE-xnai-not-a-real-key",
        "xnaiNotARealGitHubTok",
    ];
    for extra in [&[][..], &["--json"][..], &["--format", "json"][..]] {
        let out = audit(&home, &cfg, &data, extra);
        for s in secrets {
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s),
                "{s} leaked"
            );
        }
    }
    for name in [
        "ACCOUNT-TRACKING-2026-11-28.yaml",
        "ACCOUNT-TRACKING-2026-11-28.json",
    ] {
        let text = std::fs::read_to_string(data.join("reports").join(name)).expect("report");
        for s in secrets {
            assert!(!text.contains(s), "{s} in {name}");
        }
    }
}

/// A Claude account with 850 of 1,000 tokens used in the open 5-hour window (logs written
/// relative to now, as `status` has no fixed clock).
fn recent(home: &Home) -> PathBuf {
    let dir = home.path().join("logs/projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let now = jiff::Timestamp::now();
    let at = |mins: i64| (now - jiff::SignedDuration::from_mins(mins)).to_string();
    let line = |id: &str, ts: String, input: u64| {
        format!(
            r#"{{"type":"assistant","timestamp":"{ts}","requestId":"r{id}","message":{{"id":"{id}","model":"m","usage":{{"input_tokens":{input},"output_tokens":0}}}}}}"#
        ) + "\n"
    };
    std::fs::write(
        dir.join("s.jsonl"),
        line("m1", at(40), 500) + &line("m2", at(20), 350),
    )
    .expect("write");
    home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n        usage_paths: [{}]\n        quotas: [{{limit: 1000, unit: tokens, window: rolling_5h}}]\n  cline:\n    api_key: {}\n",
        "A".repeat(90),
        home.path().join("logs").display(),
        xnai::token::anthropic::make_key(xnai::token::anthropic::Kind::ApiKey, 'z')
    ))
}

#[test]
fn status_shows_a_bar_per_window() {
    let home = Home::new();
    let cfg = recent(&home);
    let out = run(home.xnai().arg("--config").arg(&cfg).arg("status"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("claude/a "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(row.contains("tokens/rolling_5h"), "{row}");
    assert!(row.contains("█████████████░░░   85%"), "{row}");
    assert!(row.contains("850 / 1,000"), "{row}");
    // The cline account has no limit: its usage shows all the same, never a percentage.
    let cline = out
        .stdout
        .lines()
        .find(|l| l.starts_with("cline/default "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        cline.contains(" tokens ") && cline.contains("no limit") && cline.contains("0 this week"),
        "{cline}"
    );
    assert!(!cline.contains('%'), "{cline}");
    assert!(!out.stdout.contains('\x1b'), "NO_COLOR");

    let out = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["status", "--json"]));
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let w = &v["accounts"][0]["windows"][0];
    assert_eq!(w["percent"], 85.0);
    assert_eq!(w["status"], "warning");
    assert_eq!(v["accounts"][1]["provider"], "cline");
    assert_eq!(v["accounts"][1]["windows"], serde_json::json!([]));
    // Every account carries its usage, limited or not: claude/a's 500 + 350 tokens, 40 and
    // 20 minutes ago, count for today unless UTC midnight came between.
    let usage = &v["accounts"][0]["usage"];
    let now = jiff::Timestamp::now();
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let on_today = |mins: i64, n: u64| {
        let t = (now - jiff::SignedDuration::from_mins(mins))
            .to_zoned_datetime(jiff::tz::TimeZone::UTC);
        if t.date() == today { n } else { 0 }
    };
    assert_eq!(
        usage["today"]["tokens"].as_u64(),
        Some(on_today(40, 500) + on_today(20, 350)),
        "{usage}"
    );
    assert_eq!(usage["today"]["cost_usd"], Value::Null, "{usage}");
    assert_eq!(v["accounts"][1]["usage"]["this_month"]["tokens"], 0);
    assert_eq!(v["accounts"][1]["usage"]["tokens_burn_per_day"], 0.0);
}

#[test]
fn status_watch_redraws_until_stopped() {
    let home = Home::new();
    let cfg = recent(&home);
    let mut child = home
        .xnai_std()
        .arg("--config")
        .arg(&cfg)
        .args(["status", "--watch", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let _ = child.kill();
    let o = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&o.stdout);
    // Not a terminal: frames one after another, each with its time, no screen control codes.
    let frames = text.matches("ACCOUNT ").count();
    assert!(frames >= 2, "{text}");
    assert!(!text.contains('\x1b'), "{text}");
}

#[test]
fn a_damaged_ledger_stops_the_audit_instead_of_reporting_wrong_numbers() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    assert_eq!(audit(&home, &cfg, &data, &[]).code, 0);
    let db = data.join("xnai.db");
    {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
    }
    // Overwrite the middle of every third page after the first.
    let mut bytes = std::fs::read(&db).expect("read");
    let page = 16384;
    let mut p = page;
    while p + page <= bytes.len() {
        if (p / page) % 3 == 1 {
            for b in &mut bytes[p + 100..p + 400] {
                *b = 0xA5;
            }
        }
        p += page;
    }
    std::fs::write(&db, &bytes).expect("write");
    let o = audit(&home, &cfg, &data, &[]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("is damaged"), "{}", o.stderr);
    assert!(
        o.stderr.contains(".damaged"),
        "the hint says what to do: {}",
        o.stderr
    );
    let s = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .arg("status"));
    assert_eq!(s.code, 2, "{}", s.stderr);
}

#[test]
fn an_unwritable_output_still_shows_the_alerts() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    // No one, root included, can make a directory in /proc.
    let o = audit(&home, &cfg, &data, &["--output", "/proc/xnai-reports"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stdout.contains("critical codex/pro"), "{}", o.stdout);
    assert!(!o.stdout.contains("report: "), "{}", o.stdout);
    // A path through a file is refused before anything is collected.
    let file = home.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let o = audit(
        &home,
        &cfg,
        &data,
        &["--output", &file.join("reports").to_string_lossy()],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stdout, "", "nothing collected or shown");
    assert!(
        o.stderr.contains(&format!(
            "{} is a file, so the directory cannot be made",
            file.display()
        )),
        "{}",
        o.stderr
    );
}

/// A home whose one Claude account reads its usage from `logs/` (with `quotas`, a YAML list,
/// when given): the log directory to write to, and the credential file.
fn claude_logs(home: &Home, quotas: Option<&str>) -> (PathBuf, PathBuf) {
    let dir = home.path().join("logs/projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cfg = home.config(&format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n        usage_paths: [{}]\n{}",
        "A".repeat(90),
        home.path().join("logs").display(),
        quotas.map(|q| format!("        quotas: {q}\n")).unwrap_or_default(),
    ));
    (dir, cfg)
}

/// `xnai audit --json --as-of AS_OF` with `cfg`, which must succeed.
fn audit_json(home: &Home, cfg: &Path, as_of: &str) -> Value {
    let o = run(home
        .xnai()
        .arg("--config")
        .arg(cfg)
        .args(["audit", "--json", "--as-of", as_of]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).expect("json")
}

#[test]
fn a_claude_usage_limit_notice_makes_the_account_exhausted_until_it_lifts() {
    let home = Home::new();
    let (dir, cfg) = claude_logs(
        &home,
        Some("[{limit: 1000, unit: tokens, window: rolling_5h}]"),
    );
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/real/claude-code/quotaglance-usage-limit-reached.jsonl");
    assert!(
        fixture.exists(),
        "../shared must sit next to the repository"
    );
    std::fs::copy(&fixture, dir.join("s.jsonl")).expect("copy");
    let at = |as_of: &str| audit_json(&home, &cfg, as_of);
    // Logged at 11:40:02 UTC: out until 1791043200, 16:00 UTC.
    let v = at("2026-10-03T12:00:00Z");
    let q = &v["quotas"][0];
    assert_eq!(q["status"], "exhausted", "{q}");
    assert_eq!(q["windows"][0]["window"], "rolling_5h");
    assert_eq!(q["windows"][0]["exhausted_until"], "2026-10-03T16:00:00Z");
    assert_eq!(q["next_reset"], "2026-10-03T16:00:00Z");
    let alert = v["alerts"][0]["message"].as_str().unwrap_or_default();
    assert!(alert.contains("usage limit reached"), "{alert}");
    // After it lifted: no longer exhausted.
    let v = at("2026-10-03T16:30:00Z");
    assert_eq!(v["quotas"][0]["status"], "active", "{}", v["quotas"][0]);
    assert!(
        v["quotas"][0]["windows"][0]
            .get("exhausted_until")
            .is_none()
    );
}

#[test]
fn the_audit_table_shows_money_with_cents() {
    let home = Home::new();
    let (dir, cfg) = claude_logs(&home, Some("[{limit: 10, unit: usd, window: monthly}]"));
    // $1.25 a day from 25 to 28 November.
    let lines: String = (25..=28)
        .map(|d| {
            format!(
                r#"{{"type":"assistant","timestamp":"2026-11-{d}T09:00:00Z","requestId":"r{d}","costUSD":1.25,"message":{{"id":"m{d}","model":"m","usage":{{"input_tokens":10,"output_tokens":5}}}}}}"#
            ) + "\n"
        })
        .collect();
    std::fs::write(dir.join("s.jsonl"), lines).expect("write");
    let o = run(home
        .xnai()
        .arg("--config")
        .arg(&cfg)
        .args(["audit", "--as-of", AS_OF]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let row = o
        .stdout
        .lines()
        .find(|l| l.starts_with("claude/a "))
        .unwrap_or_else(|| panic!("{}", o.stdout));
    assert!(row.contains("50% of $10.00"), "{row}");
    // The burn is about $1.3 a day: shown with cents, not rounded to "1".
    let burn = row
        .split_whitespace()
        .find(|w| w.starts_with('$') && *w != "$10.00")
        .unwrap_or_else(|| panic!("no money burn in {row}"));
    let cents = burn.trim_start_matches('$');
    assert!(
        cents
            .split_once('.')
            .is_some_and(|(d, c)| d == "1" && c.len() == 2),
        "{burn} in {row}"
    );
}

/// Collects `cfg`'s one account while another connection holds the ledger's write lock, so the
/// collection times out, and evaluates it as of `now` while the lock is still held (the
/// stuck worker finishes only after).
fn timed_out_audit(
    cfg: &xnai::config::Config,
    ledger: &Path,
    store: &xnai::store::Store,
    now: i64,
) -> xnai::audit::AccountAudit {
    let accounts: Vec<&xnai::config::Account> = cfg.accounts().collect();
    let lock = rusqlite::Connection::open(ledger).expect("open");
    lock.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let target = xnai::usage::scan::Target {
        provider: "claude".to_string(),
        account: "a".to_string(),
        sources: Vec::new(),
    };
    let collected = xnai::audit::collect(
        ledger.to_path_buf(),
        vec![target],
        1,
        1,
        std::time::Duration::from_millis(300),
        &mut |_| {},
    );
    assert!(collected[0].timed_out, "{:?}", collected[0]);
    let audits = xnai::audit::evaluate(cfg, &accounts, collected, store, now).expect("evaluate");
    lock.execute_batch("ROLLBACK").expect("unlock");
    drop(lock);
    // Let the stuck worker finish before the directory goes.
    std::thread::sleep(std::time::Duration::from_millis(300));
    audits.into_iter().next().expect("one account")
}

#[test]
fn a_first_collection_that_times_out_leaves_the_usage_unknown() {
    let text = format!(
        "credentials:\n  claude:\n    accounts:\n      a:\n        oauth_token: sk-ant-oat01-{}\n        quotas: [{{limit: 1000, unit: tokens, window: weekly}}]\n",
        "A".repeat(90)
    );
    let cfg = xnai::config::load_str(&text, Path::new("/c.yaml"), &|_| None).expect("config");
    let dir = tempfile::tempdir().expect("tmp");
    let ledger = dir.path().join("xnai.db");
    let mut store = xnai::store::Store::open(&ledger).expect("ledger");
    // The account is known (a scan started once) but no scan of it ever finished.
    store.account_id("claude", "a").expect("id");
    let now = jiff::Timestamp::now().as_millisecond();
    let a = timed_out_audit(&cfg, &ledger, &store, now);
    let w = &a.quota.windows[0];
    assert_eq!(
        (w.used, w.percent, w.status),
        (None, None, xnai::quota::Status::Unknown),
        "{w:?}"
    );
    assert_eq!(a.quota.usage, None);
    let alert = xnai::audit::collection_alert(&a).expect("alert");
    assert!(
        alert.message.contains("usage is unknown"),
        "{}",
        alert.message
    );
    assert!(
        !alert.message.contains("previous scan"),
        "{}",
        alert.message
    );

    // Once a scan has finished, a timed-out one falls back on its figures (0 of 1,000 here).
    xnai::usage::scan::scan(
        &mut store,
        &[xnai::usage::scan::Target {
            provider: "claude".to_string(),
            account: "a".to_string(),
            sources: Vec::new(),
        }],
        1,
    )
    .expect("scan");
    let a = timed_out_audit(&cfg, &ledger, &store, now);
    assert_eq!(a.quota.windows[0].percent, Some(0.0));
    assert!(a.quota.usage.is_some());
    let alert = xnai::audit::collection_alert(&a).expect("alert");
    assert!(alert.message.contains("previous scan"), "{}", alert.message);
}

#[test]
fn an_output_that_is_a_file_fails_before_anything_is_collected() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let file = home.path().join("report.yaml");
    std::fs::write(&file, "keep me").expect("write");
    let o = audit(&home, &cfg, &data, &["--output", &file.to_string_lossy()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stdout.is_empty(), "no table: {}", o.stdout);
    assert!(
        o.stderr.contains("is a file, not a directory"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains(&format!("for example --output {}", home.path().display())),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
    // Nothing was collected.
    assert!(!data.join("xnai.db").exists());
}

#[test]
fn writing_a_report_removes_temporary_files_a_killed_audit_left() {
    let home = Home::new();
    let (cfg, data) = example(&home);
    let reports = data.join("reports");
    std::fs::create_dir_all(&reports).expect("mkdir");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let make = |name: &str, old: bool| {
        let p = reports.join(name);
        let f = std::fs::File::create(&p).expect("create");
        if old {
            f.set_modified(two_hours_ago).expect("mtime");
        }
        p
    };
    let stale = make(".xnai-tmp-AbC123", true);
    // A write in progress right now, and files that are not ours.
    let fresh = make(".xnai-tmp-XyZ789", false);
    let other = make(".other-tmp-AbC123", true);
    let undotted = make("xnai-tmp-AbC123", true);
    assert_eq!(audit(&home, &cfg, &data, &[]).code, 0);
    assert!(!stale.exists(), "a temporary file two hours old is removed");
    for kept in [&fresh, &other, &undotted] {
        assert!(kept.exists(), "{} kept", kept.display());
    }
    assert!(reports.join("ACCOUNT-TRACKING-2026-11-28.yaml").exists());
}

#[test]
fn skipped_log_lines_are_reported_by_every_later_audit() {
    let home = Home::new();
    let (dir, cfg) = claude_logs(&home, None);
    let good = |d: u32| {
        format!(
            r#"{{"type":"assistant","timestamp":"2026-11-{d}T09:00:00Z","requestId":"r{d}","message":{{"id":"m{d}","model":"m","usage":{{"input_tokens":10,"output_tokens":5}}}}}}"#
        ) + "\n"
    };
    // A usage line cut short in the middle: its usage is lost.
    let broken =
        r#"{"type":"assistant","timestamp":"2026-11-26T09:00:00Z","message":{"usage":{"input_tok"#;
    let file = dir.join("s.jsonl");
    std::fs::write(&file, format!("{}{broken}\n{}", good(25), good(27))).expect("write");
    let audit = || audit_json(&home, &cfg, AS_OF);
    let expected = format!(
        "in its logs 1 line could not be parsed (first in {}): usage they held is not counted",
        file.display()
    );
    for run_no in 1..=2 {
        // The second audit reads nothing new, and still says so.
        let v = audit();
        let q = &v["quotas"][0];
        assert_eq!(q["collection"]["corrupt_lines"], 1, "run {run_no}: {q}");
        assert_eq!(q["collection"]["oversized_lines"], 0, "run {run_no}: {q}");
        assert_eq!(q["usage"]["this_month"]["tokens"], 30, "run {run_no}: {q}");
        let alerts: Vec<&str> = v["alerts"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["message"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            alerts.contains(&expected.as_str()),
            "run {run_no}: {alerts:?}"
        );
    }
    // Appending a good line keeps the count; rewriting the file without the bad line clears it.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, good(28).as_bytes()))
        .expect("append");
    assert_eq!(audit()["quotas"][0]["collection"]["corrupt_lines"], 1);
    std::fs::write(&file, format!("{}{}", good(25), good(27))).expect("rewrite");
    assert_eq!(audit()["quotas"][0]["collection"]["corrupt_lines"], 0);
    // A log with a broken line that is then deleted stops counting: nothing can be done.
    let other = dir.join("t.jsonl");
    std::fs::write(&other, format!("{broken}\n")).expect("write");
    assert_eq!(audit()["quotas"][0]["collection"]["corrupt_lines"], 1);
    std::fs::remove_file(&other).expect("rm");
    assert_eq!(audit()["quotas"][0]["collection"]["corrupt_lines"], 0);
}
