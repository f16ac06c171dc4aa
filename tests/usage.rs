//! Usage readers on real-format files (../shared/fixtures/real, totals worked out by hand in
//! the comments), the benchmark generator at a small size, and the incremental scan.

mod common;

use std::path::{Path, PathBuf};

use xnai::store::{Store, UsageRow};
use xnai::usage::scan::{Source, Stats, Target, scan};
use xnai::usage::{self, LogFormat};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/real")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: ../shared must sit next to the repository",
        p.display()
    );
    p
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::copy(from, to).expect("copy");
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &t);
        } else {
            copy(&p, &t);
        }
    }
}

struct Ledger {
    _dir: tempfile::TempDir,
    store: Store,
}

fn ledger() -> Ledger {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("xnai.db")).expect("ledger");
    Ledger { _dir: dir, store }
}

fn run_scan(l: &mut Ledger, sources: Vec<Source>) -> Stats {
    let t = Target {
        provider: "p".to_string(),
        account: "a".to_string(),
        sources,
    };
    scan(&mut l.store, &[t], 2).expect("scan")
}

fn source(root: &Path, format: &'static dyn LogFormat) -> Source {
    Source {
        root: root.to_path_buf(),
        format,
    }
}

fn total(l: &Ledger) -> UsageRow {
    let id = l.store.find_account("p", "a").expect("q").expect("account");
    let rows = l
        .store
        .usage_totals(&[], None, None, &[id])
        .expect("totals");
    rows.into_iter().next().unwrap_or(UsageRow {
        group: vec![],
        input: 0,
        output: 0,
        cache_read: 0,
        cache_write: 0,
        reasoning: 0,
        cost_usd: None,
        requests: 0,
        events: 0,
    })
}

fn by_model(l: &Ledger) -> Vec<UsageRow> {
    let id = l.store.find_account("p", "a").expect("q").expect("account");
    l.store
        .usage_totals(&["d.model"], None, None, &[id])
        .expect("totals")
}

/// (events, input, output, cache_read, cache_write)
fn summary(r: &UsageRow) -> (u64, u64, u64, u64, u64) {
    (r.events, r.input, r.output, r.cache_read, r.cache_write)
}

#[test]
fn claude_code_fixtures() {
    let tmp = tempfile::tempdir().expect("tmp");
    let projects = tmp.path().join("claude/projects/-home-user-src");
    copy_tree(&shared("claude-code"), &projects);
    let mut l = ledger();
    let stats = run_scan(
        &mut l,
        vec![source(
            &tmp.path().join("claude/projects"),
            &usage::claude::FORMAT,
        )],
    );
    assert_eq!(stats.files, 11, "every .jsonl, subagents/ included");
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    // Per file (usage lines with any non-zero count, one per message id + request id, the
    // largest output kept):
    //   ccusage-project-alpha: 3 responses, input 100+200+300, output 50+75+125,
    //     cache write 25+50+0, cache read 10+20+40, cost 0.12+0.34+0.56
    //   ccviewer-v1.0.108: 28 usage lines streaming 20 responses; ccviewer-v1.0.98: 15 → 7
    //   catsyphon sidechain 3, catsyphon conversation 3, ccviewer sidechain 1,
    //   agentsessions v2.1 1 (10 in, 5 out), claude-code-log 5
    //   subagent layout and usage-limit-reached: no usage (synthetic, all zero)
    let t = total(&l);
    assert_eq!(summary(&t), (43, 1620, 5447, 427_748, 60_520));
    assert!(
        (t.cost_usd.unwrap_or(0.0) - 1.02).abs() < 1e-9,
        "{:?}",
        t.cost_usd
    );
    let models = by_model(&l);
    let sonnet4 = models
        .iter()
        .find(|r| r.group[0] == "claude-sonnet-4-20250514")
        .expect("sonnet 4");
    // alpha's two sonnet-4 responses + ccviewer's 1 + 20 + 7.
    assert_eq!(sonnet4.events, 2 + 1 + 20 + 7);
    // The usage-limit notice is a quota observation: out until 1791043200 (2026-10-03 16:00
    // UTC), logged at 11:40:02.118.
    assert_eq!(stats.observations, 1);
    let id = l.store.find_account("p", "a").expect("q").expect("account");
    let obs = l.store.latest_observations(id).expect("obs");
    assert_eq!(obs.len(), 1, "{obs:?}");
    assert_eq!(obs[0].0, "claude");
    assert_eq!(obs[0].1.window, usage::LIMIT_REACHED);
    assert_eq!(obs[0].1.resets_at_ms, Some(1_791_043_200_000));
    assert_eq!(obs[0].1.observed_ms, 1_791_027_602_118);
}

#[test]
fn codex_fixtures() {
    let tmp = tempfile::tempdir().expect("tmp");
    let codex = tmp.path().join("codex");
    for (i, f) in [
        "agentsessions-v0.146-many-record-types.jsonl",
        "agentsessions-v0.53-rate-limits.jsonl",
        "ccusage-session-alpha.jsonl",
        "quotaglance-v0.160-rate-limits-spark.jsonl",
    ]
    .iter()
    .enumerate()
    {
        copy(
            &shared(&format!("codex/{f}")),
            &codex.join(format!("sessions/2026/01/0{i}/rollout-{i}.jsonl")),
        );
    }
    copy(
        &shared("codex/codexbar-archived-fork-child.jsonl"),
        &codex.join("archived_sessions/rollout-fork.jsonl"),
    );
    let mut l = ledger();
    let sources = vec![
        source(&codex.join("sessions"), &usage::codex::FORMAT),
        source(&codex.join("archived_sessions"), &usage::codex::FORMAT),
    ];
    let stats = run_scan(&mut l, sources.clone());
    // OpenAI counts cached input inside input_tokens: input below is input - cached.
    //   v0.146: 1 turn, 16341 in (3584 cached), 81 out (63 reasoning); two records with a
    //     trimmed timestamp are unreadable
    //   v0.53: 1 turn, 12091 in (10880 cached), 182 out; a record with info null
    //   alpha: 1000/250/125 then 2500/500/300
    //   v0.160: a zero record, then 12873/9984/236 and 28334/20224/669
    //   fork child: 196 records, 2 repeat the previous total: 194 turns whose sum is the last
    //     running total, 26692274 in (25383936 cached), 109637 out (50455 reasoning)
    let t = total(&l);
    assert_eq!(t.events, 1 + 1 + 2 + 2 + 194);
    assert_eq!(t.input, 12_757 + 1_211 + 2_750 + 10_999 + 1_308_338);
    assert_eq!(t.cache_read, 3_584 + 10_880 + 750 + 30_208 + 25_383_936);
    assert_eq!(t.output, 81 + 182 + 425 + 905 + 109_637);
    assert_eq!(t.reasoning, 63 + 128 + 275 + 312 + 50_455);
    assert_eq!(stats.corrupt, 2);
    // Quota observations: v0.146 primary 1% (secondary null); v0.53 two token_counts with
    // primary+secondary and one account/rateLimits/updated; v0.160 primary+secondary, then
    // the Spark limit's primary.
    assert_eq!(stats.observations, 1 + 6 + 3);
    let id = l.store.find_account("p", "a").expect("q").expect("acc");
    let obs = l.store.latest_observations(id).expect("obs");
    let spark = obs
        .iter()
        .find(|(_, o)| o.window == "codex_bengalfox:primary")
        .expect("spark");
    assert_eq!(spark.1.used_percent, 12.0);
    assert_eq!(spark.1.resets_at_ms, Some(1_790_964_600_000));
    let models: Vec<String> = by_model(&l)
        .into_iter()
        .map(|r| r.group[0].clone())
        .collect();
    assert!(
        models.contains(&"gpt-5.5".to_string()) && models.contains(&"fixture-model".to_string())
    );
    // An archived copy of the same session counts once.
    copy(
        &shared("codex/codexbar-archived-fork-child.jsonl"),
        &codex.join("sessions/2030/01/01/rollout-fork.jsonl"),
    );
    run_scan(&mut l, sources);
    assert_eq!(total(&l).events, 200);
}

#[test]
fn copilot_cli_fixtures() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("copilot/session-state");
    copy_tree(&shared("copilot-cli/ccusage-rs-session-state"), &state);
    copy_tree(&shared("copilot-cli/agentsessions-session-state"), &state);
    copy(
        &shared("copilot-cli/agentsessions-events-many-types.jsonl"),
        &state.join("many/events.jsonl"),
    );
    let mut l = ledger();
    let stats = run_scan(&mut l, vec![source(&state, &usage::copilot::FORMAT)]);
    // session-a: a non-JSON first line, two cumulative shutdowns: the latest (200 in, 80 out,
    //   20 cache read, 30 cache write) wins.
    // session-credits: one shutdown, gpt-5.4 40 in 10 out, 2 requests.
    // agentsessions session: still open, no shutdown.
    // many-types: requests as a number (2), tokens only in tokenDetails (100/15/5/0).
    assert_eq!(stats.corrupt, 1);
    let t = total(&l);
    assert_eq!(summary(&t), (3, 200 + 40 + 100, 80 + 10 + 15, 20 + 5, 30));
    assert_eq!(t.requests, 2 + 2);
    // Nothing of the prompts reaches the ledger.
    let db = std::fs::read(l._dir.path().join("xnai.db")).expect("db");
    assert!(!String::from_utf8_lossy(&db).contains("do not expose"));
}

#[test]
fn gemini_cli_fixtures() {
    let tmp = tempfile::tempdir().expect("tmp");
    let chats = tmp.path().join(".gemini/tmp/0b7dfb12/chats");
    copy(
        &shared("gemini-cli/agentsessions-chat-small.json"),
        &chats.join("session-1.json"),
    );
    copy(
        &shared("gemini-cli/agentsessions-chat-v0.40.jsonl"),
        &chats.join("session-2.jsonl"),
    );
    let mut l = ledger();
    let root = tmp.path().join(".gemini/tmp");
    run_scan(
        &mut l,
        vec![
            source(&root, &usage::gemini::JSON),
            source(&root, &usage::gemini::JSONL),
        ],
    );
    // small: 10 in, 5 out. v0.40: 11855 in / 81 out, then 12069 in of which 11502 cached /
    // 147 out (Gemini counts cached inside input). Totals 11936 + 12216 + 15 all accounted.
    let t = total(&l);
    assert_eq!(summary(&t), (3, 10 + 11_855 + 567, 5 + 81 + 147, 11_502, 0));
    assert_eq!(t.input + t.output + t.cache_read, 15 + 11_936 + 12_216);
}

#[test]
fn opencode_fixtures_and_database() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("opencode");
    copy_tree(
        &shared("opencode/agentsessions-storage/message"),
        &data.join("storage/message"),
    );
    copy(
        &shared("opencode/tokscale-message-with-cache-tokens.json"),
        &data.join("storage/message/ses_test001/msg_test001.json"),
    );
    // The newer layout: opencode.db with OpenCode's own message table.
    let db = rusqlite::Connection::open(data.join("opencode.db")).expect("db");
    db.execute_batch(
        "CREATE TABLE `message` (`id` text PRIMARY KEY, `session_id` text NOT NULL, `time_created` integer NOT NULL, `time_updated` integer NOT NULL, `data` text NOT NULL);",
    )
    .expect("schema");
    db.execute(
        "INSERT INTO message VALUES ('msg_db1', 'ses_db', 1730000200000, 1730000260000, ?1)",
        [r#"{"id":"msg_db1","role":"assistant","modelID":"claude-sonnet-4-5","providerID":"anthropic","time":{"created":1730000200000,"completed":1730000260000},"tokens":{"input":300,"output":40,"reasoning":10,"cache":{"read":1000,"write":200}},"cost":0.0123}"#],
    )
    .expect("insert");
    db.execute(
        "INSERT INTO message VALUES ('msg_db0', 'ses_db', 1730000100000, 1730000100000, ?1)",
        [r#"{"id":"msg_db0","role":"user","time":{"created":1730000100000}}"#],
    )
    .expect("insert");
    drop(db);
    let mut l = ledger();
    run_scan(
        &mut l,
        vec![
            source(&data.join("storage/message"), &usage::opencode::STORAGE),
            source(&data.join("opencode.db"), &usage::opencode::DB),
        ],
    );
    // storage: one assistant message with tokens (120 in, 16 out; its cost is a breakdown
    // object, not USD); tokscale: 1000 in, 500 out, cache 200 read / 100 write.
    // database: 300 in, 40 out + 10 reasoning, cache 1000/200, $0.0123.
    let t = total(&l);
    assert_eq!(
        summary(&t),
        (3, 120 + 1000 + 300, 16 + 500 + 50, 200 + 1000, 100 + 200)
    );
    assert_eq!(t.reasoning, 10);
    assert_eq!(t.cost_usd, Some(0.0123));
}

#[test]
fn cline_tasks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cline/tasks");
    let mut l = ledger();
    run_scan(&mut l, vec![source(&root, &usage::cline::FORMAT)]);
    // Two api_req_started with counts (1200/340, cache 5000 written; 800/620, 1500 written,
    // 5000 read); a cancelled one carries none.
    let t = total(&l);
    assert_eq!(summary(&t), (2, 2000, 960, 5000, 6500));
    assert!((t.cost_usd.unwrap_or(0.0) - 0.0504).abs() < 1e-9);
}

fn generator() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/gen-claude-logs.py");
    assert!(p.exists(), "{} is missing", p.display());
    p
}

#[test]
fn generator_corpus_gives_its_printed_totals() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("projects");
    let o = std::process::Command::new("python3")
        .arg(generator())
        .arg(&out)
        .arg("4")
        .arg("11")
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("totals json");
    let t = &v["totals"];
    let mut l = ledger();
    let stats = run_scan(&mut l, vec![source(&out, &usage::claude::FORMAT)]);
    let got = total(&l);
    assert_eq!(got.events, t["messages"].as_u64().expect("n"));
    assert_eq!(got.input, t["input"].as_u64().expect("n"));
    assert_eq!(got.output, t["output"].as_u64().expect("n"));
    assert_eq!(got.cache_write, t["cache_create"].as_u64().expect("n"));
    assert_eq!(got.cache_read, t["cache_read"].as_u64().expect("n"));
    // The generator's truncated lines are the only unreadable ones.
    assert!(stats.corrupt > 0);
    // Days: the generator counts 91 days at 1 GiB; here, every day it wrote.
    let id = l.store.find_account("p", "a").expect("q").expect("acc");
    let days = l
        .store
        .usage_totals(&["d.day"], None, None, &[id])
        .expect("days");
    assert_eq!(days.len() as u64, v["days"].as_u64().expect("days"));
}

fn line(id: &str, req: &str, ts: &str, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","timestamp":"{ts}","requestId":"{req}","message":{{"id":"{id}","model":"claude-sonnet-4-5","usage":{{"input_tokens":10,"output_tokens":{output},"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}}}}}"#
    )
}

#[test]
fn incremental_scans() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let f = dir.join("s.jsonl");
    let src = || vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)];
    let mut l = ledger();

    // A streamed response seen partly, and a last line still being written.
    let first = format!(
        "{}\n{}\n{{\"type\":\"assistant\",\"broken\n{}",
        line("m1", "r1", "2026-09-01T10:00:00Z", 5),
        line("m1", "r1", "2026-09-01T10:00:01Z", 12),
        &line("m2", "r2", "2026-09-01T11:00:00Z", 7)[..40]
    );
    std::fs::write(&f, &first).expect("write");
    let s = run_scan(&mut l, src());
    assert_eq!((s.corrupt, s.records), (1, 1));
    assert_eq!(summary(&total(&l)), (1, 10, 12, 100, 0));

    // The same file again: nothing read, nothing counted twice.
    let s = run_scan(&mut l, src());
    assert_eq!((s.files_read, s.bytes_read), (0, 0));
    assert_eq!(summary(&total(&l)), (1, 10, 12, 100, 0));

    // It grows: the unfinished line is completed, the stream continues. Only new bytes are
    // read, and the response keeps its final size.
    let full_m2 = line("m2", "r2", "2026-09-01T11:00:00Z", 7);
    let appended = format!(
        "{}\n{}\n",
        &full_m2[40..],
        line("m1", "r1", "2026-09-01T10:00:02Z", 30)
    );
    let before = std::fs::metadata(&f).expect("meta").len();
    let mut text = first.clone();
    text.push_str(&appended);
    std::fs::write(&f, &text).expect("append");
    let s = run_scan(&mut l, src());
    let consumed_before = first.rfind('\n').expect("nl") as u64 + 1;
    assert_eq!(s.bytes_read, text.len() as u64 - consumed_before);
    assert!(s.bytes_read < text.len() as u64);
    assert!(before > consumed_before);
    assert_eq!(summary(&total(&l)), (2, 20, 37, 200, 0));

    // Truncated and rewritten (a new, shorter history): read again from the start, without
    // counting what is still there twice.
    std::fs::write(
        &f,
        format!("{}\n", line("m3", "r3", "2026-09-02T09:00:00Z", 3)),
    )
    .expect("rewrite");
    let s = run_scan(&mut l, src());
    assert_eq!(s.files_read, 1);
    assert_eq!(summary(&total(&l)), (3, 30, 40, 300, 0));

    // Replaced by another file (new inode) with a copy of the old content: nothing doubles.
    let g = dir.join("tmp");
    std::fs::write(&g, &text).expect("write");
    std::fs::rename(&g, &f).expect("replace");
    run_scan(&mut l, src());
    assert_eq!(summary(&total(&l)), (3, 30, 40, 300, 0));
}

#[test]
fn unreadable_files_are_reported_and_the_scan_goes_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("good.jsonl"),
        format!("{}\n", line("m", "r", "2026-09-01T10:00:00Z", 4)),
    )
    .expect("w");
    // A JSON file OpenCode could not have written.
    let oc = tmp.path().join("storage/message/s");
    std::fs::create_dir_all(&oc).expect("mkdir");
    std::fs::write(oc.join("bad.json"), "{\"role\": \"assistant\",").expect("w");
    let mut l = ledger();
    let s = run_scan(
        &mut l,
        vec![
            source(&tmp.path().join("projects"), &usage::claude::FORMAT),
            source(
                &tmp.path().join("storage/message"),
                &usage::opencode::STORAGE,
            ),
        ],
    );
    assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
    assert!(
        s.errors[0].contains("bad.json") && s.errors[0].contains("not valid JSON"),
        "{:?}",
        s.errors
    );
    assert_eq!(total(&l).events, 1);
}

#[test]
fn spaced_json_and_fraction_digits() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut text = String::new();
    for (i, ts) in [
        "2026-09-01T10:00:00Z",
        "2026-09-01T10:00:00.1Z",
        "2026-09-01T10:00:00.123456789Z",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "{{ \"type\" : \"assistant\", \"timestamp\" : \"{ts}\", \"requestId\" : \"r{i}\", \"message\" : {{ \"id\" : \"m{i}\", \"usage\" : {{ \"input_tokens\" : 1, \"output_tokens\" : 2 }} }} }}\n"
        ));
    }
    std::fs::write(dir.join("s.jsonl"), text).expect("w");
    let mut l = ledger();
    let s = run_scan(
        &mut l,
        vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)],
    );
    assert_eq!(s.corrupt, 0);
    assert_eq!(summary(&total(&l)), (3, 3, 6, 0, 0));
}

#[test]
fn long_lines_grow_the_buffer_and_oversized_lines_are_skipped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A 6 MB snapshot line (longer than one read, shorter than the line limit), a usage line,
    // a 17 MB line past the limit, then two more usage lines: the first right after the
    // skipped line, in the same read.
    let snapshot = |n: usize| {
        format!(
            "{{\"type\":\"file-history-snapshot\",\"data\":\"{}\"}}",
            "x".repeat(n)
        )
    };
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        snapshot(6 << 20),
        line("m1", "r1", "2026-09-01T10:00:00Z", 5),
        snapshot(17 << 20),
        line("m2", "r2", "2026-09-01T10:00:01Z", 7),
        line("m3", "r3", "2026-09-01T10:00:02Z", 11),
    );
    std::fs::write(dir.join("s.jsonl"), &text).expect("write");
    let mut l = ledger();
    let s = run_scan(
        &mut l,
        vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)],
    );
    assert_eq!((s.oversized, s.corrupt, s.records), (1, 0, 3));
    assert_eq!(s.bytes_read, text.len() as u64);
    assert_eq!(summary(&total(&l)), (3, 30, 23, 300, 0));
    // Nothing left unread: a re-scan reads nothing.
    let s = run_scan(
        &mut l,
        vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)],
    );
    assert_eq!(s.bytes_read, 0);
}

#[test]
fn a_log_rewritten_in_place_is_read_again_from_the_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let f = dir.join("s.jsonl");
    let src = || vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)];
    let lines = |prefix: &str, n: usize, out: u64| -> String {
        (0..n)
            .map(|i| {
                line(
                    &format!("{prefix}{i}"),
                    &format!("r{prefix}{i}"),
                    "2026-09-01T10:00:00Z",
                    out,
                ) + "\n"
            })
            .collect()
    };
    let mut l = ledger();
    std::fs::write(&f, lines("a", 8, 100)).expect("write");
    run_scan(&mut l, src());
    assert_eq!(summary(&total(&l)), (8, 80, 800, 800, 0));

    // Same inode, truncated and rewritten longer: every new line counts, none is half-read.
    let mut h = std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .expect("open");
    h.set_len(0).expect("truncate");
    std::io::Write::write_all(&mut h, lines("b", 12, 1000).as_bytes()).expect("write");
    drop(h);
    let s = run_scan(&mut l, src());
    assert_eq!(s.corrupt, 0);
    assert_eq!(summary(&total(&l)), (20, 200, 800 + 12_000, 2000, 0));

    // Rewritten at exactly the same size (another mtime): read again too.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let same = lines("c", 12, 1000);
    assert_eq!(
        same.len(),
        std::fs::metadata(&f).expect("meta").len() as usize
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .and_then(|mut h| std::io::Write::write_all(&mut h, same.as_bytes()))
        .expect("rewrite");
    let s = run_scan(&mut l, src());
    assert_eq!(s.files_read, 1);
    assert_eq!(summary(&total(&l)).0, 32);
}

#[test]
fn absurd_numbers_and_times_are_unreadable_not_fatal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let raw = |id: &str, ts: &str, input: &str| {
        format!(
            r#"{{"type":"assistant","timestamp":"{ts}","requestId":"r{id}","message":{{"id":"{id}","model":"m","usage":{{"input_tokens":{input},"output_tokens":1}}}}}}"#
        ) + "\n"
    };
    let text = [
        raw("m1", "2026-09-01T10:00:00Z", "10"),
        raw("m2", "2026-09-01T10:00:00Z", "18446744073709551615"),
        raw("m3", "2026-09-01T10:00:00Z", "5000000000000000000"),
        raw("m4", "2026-09-01T10:00:00Z", "5000000000000000000"),
        raw("m5", "1969-12-31T23:00:00Z", "10"),
        raw("m6", "9999-12-31T23:59:59Z", "10"),
    ]
    .concat();
    std::fs::write(dir.join("s.jsonl"), text).expect("write");
    let mut l = ledger();
    let s = run_scan(
        &mut l,
        vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)],
    );
    assert_eq!((s.records, s.corrupt), (1, 5));
    assert_eq!(summary(&total(&l)), (1, 10, 1, 0, 0));
}

#[test]
fn chunks_of_one_response_keep_the_largest_and_other_responses_stay_apart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text = [
        // One response whose later chunk is smaller: the 400 counts.
        line("msg_B", "req_B", "2026-09-01T10:00:00Z", 400),
        line("msg_B", "req_B", "2026-09-01T10:00:01Z", 7),
        // Two messages under one request id: both count.
        line("msg_C1", "req_SAME", "2026-09-01T10:00:02Z", 100),
        line("msg_C2", "req_SAME", "2026-09-01T10:00:03Z", 200),
        // Spaced JSON, growing: the last counts.
        line("msg_D", "req_D", "2026-09-01T10:00:04Z", 1).replace("\":", "\": "),
        line("msg_D", "req_D", "2026-09-01T10:00:05Z", 50).replace("\":", "\": "),
    ]
    .join("\n")
        + "\n";
    std::fs::write(dir.join("s.jsonl"), text).expect("write");
    let mut l = ledger();
    run_scan(
        &mut l,
        vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)],
    );
    assert_eq!(summary(&total(&l)), (4, 40, 400 + 100 + 200 + 50, 400, 0));
}

#[test]
fn file_names_that_are_not_utf8_keep_their_own_cursors() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("projects/p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, id) in [(&b"\xff.jsonl"[..], "m1"), (&b"\xfe.jsonl"[..], "m2")] {
        std::fs::write(
            dir.join(std::ffi::OsStr::from_bytes(name)),
            line(id, id, "2026-09-01T10:00:00Z", 3) + "\n",
        )
        .expect("write");
    }
    let mut l = ledger();
    let src = || vec![source(&tmp.path().join("projects"), &usage::claude::FORMAT)];
    assert_eq!(run_scan(&mut l, src()).files_read, 2);
    assert_eq!(run_scan(&mut l, src()).files_read, 0);
    assert_eq!(total(&l).events, 2);
}
