//! `xnai schedule`: the generated units pass `systemd-analyze verify` without a single warning
//! (user and system scope, awkward paths), the system service's exposure stays low, and
//! install/status/uninstall drive systemctl in the right order (a recording fake, since CI has
//! no running systemd). `.ci/run` installs systemd-analyze and sets XNAI_REQUIRE_CLIS=1.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Home, run};

const CONFIG: &str = "credentials:\n  cline:\n    api_key: sk-ant-api03-${TEST_KEY}\n";

fn analyze() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("systemd-analyze"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("XNAI_REQUIRE_CLIS").is_none(),
            "systemd-analyze is required (XNAI_REQUIRE_CLIS is set) but not on PATH"
        );
        eprintln!("skipping: systemd-analyze is not installed");
    }
    found
}

fn home_with_config() -> (Home, PathBuf) {
    // Not under /tmp: the service's private /tmp would hide it, and install refuses that.
    let h = Home::outside_tmp();
    let cfg = h.config(CONFIG);
    (h, cfg)
}

fn xnai(h: &Home, cfg: &Path) -> assert_cmd::Command {
    let mut c = h.xnai();
    c.env("TEST_KEY", format!("{}AA", "k".repeat(93)))
        .arg("--config")
        .arg(cfg);
    c
}

/// Splits `install --dry-run` output into (path, unit text) pairs.
fn units_of(dry_run: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in dry_run.lines() {
        if line.starts_with("# crontab line") {
            break;
        }
        if let Some(p) = line.strip_prefix("# /") {
            out.push((format!("/{p}"), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// Writes the units into `dir` under their own names and runs `systemd-analyze verify` on them.
fn verify(analyze: &Path, scope: &str, units: &[(String, String)], dir: &Path) -> String {
    let mut files = Vec::new();
    for (path, text) in units {
        let name = Path::new(path).file_name().expect("unit name");
        let f = dir.join(name);
        std::fs::write(&f, text).expect("write unit");
        files.push(f);
    }
    let runtime = tempfile::tempdir().expect("runtime dir");
    let mut cmd = Command::new(analyze);
    if scope == "user" {
        cmd.arg("--user");
    }
    let o = cmd
        .arg("verify")
        .arg("--man=no")
        .args(&files)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "verify failed:\n{said}");
    said
}

#[test]
fn generated_units_verify_without_warnings() {
    let Some(analyze) = analyze() else { return };
    let (h, cfg) = home_with_config();
    // Specifiers, spaces and a dollar in the data directory must survive systemd's parsing.
    let data = h.path().join("data dir %h $x");
    for scope in ["user", "system"] {
        let o = run(xnai(&h, &cfg).arg("--data-dir").arg(&data).args([
            "schedule",
            "install",
            "--dry-run",
            &format!("--{scope}"),
        ]));
        assert_eq!(o.code, 0, "{}", o.stderr);
        let units = units_of(&o.stdout);
        assert_eq!(units.len(), 2, "{}", o.stdout);
        assert!(units[0].0.ends_with("/xnai-quota-audit.service"));
        assert!(units[1].0.ends_with("/xnai-quota-audit.timer"));
        let dir = tempfile::tempdir().expect("tempdir");
        let said = verify(&analyze, scope, &units, dir.path());
        assert!(
            said.trim().is_empty(),
            "{scope} units: systemd-analyze said:\n{said}"
        );
        let svc = &units[0].1;
        assert!(
            svc.contains("ReadWritePaths=\"") && svc.contains("data dir %%h $x\"\n"),
            "{svc}"
        );
        assert!(
            svc.contains("data dir %%h $$x"),
            "ExecStart escapes `$`: {svc}"
        );
    }
}

#[test]
fn a_binary_in_an_awkward_directory_still_verifies() {
    let Some(analyze) = analyze() else { return };
    let (h, cfg) = home_with_config();
    // systemd takes the program path literally but for specifiers: `$` stays, `%` doubles.
    let dir = h.path().join("my bin $HOME %n");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bin = dir.join("xnai");
    std::fs::copy(assert_cmd::cargo::cargo_bin("xnai"), &bin).expect("copy binary");
    let o = Command::new(&bin)
        .env_clear()
        .env("HOME", h.path())
        .env("TEST_KEY", "x")
        .arg("--config")
        .arg(&cfg)
        .args(["schedule", "install", "--dry-run"])
        .output()
        .expect("run copy");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let units = units_of(&stdout);
    assert_eq!(units.len(), 2, "{stdout}");
    assert!(
        units[0].1.contains("my bin $HOME %%n/xnai\" --env-file"),
        "{}",
        units[0].1
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let said = verify(&analyze, "user", &units, tmp.path());
    assert!(said.trim().is_empty(), "systemd-analyze said:\n{said}");
}

#[test]
fn verify_catches_what_the_original_got_wrong() {
    // The test above is only worth something if verify reports these: the original timer's
    // RuntimeMaxSec and an unknown directive.
    let Some(analyze) = analyze() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let units = vec![(
        "/x/xnai-quota-audit.timer".to_string(),
        "[Timer]\nOnCalendar=daily\nRuntimeMaxSec=1h\n[Install]\nWantedBy=timers.target\n"
            .to_string(),
    )];
    let said = verify(&analyze, "system", &units, dir.path());
    assert!(said.contains("Unknown key 'RuntimeMaxSec'"), "{said}");
}

#[test]
fn system_service_exposure_is_low() {
    let Some(analyze) = analyze() else { return };
    let (h, cfg) = home_with_config();
    let o = run(xnai(&h, &cfg).args(["schedule", "install", "--dry-run", "--system"]));
    let units = units_of(&o.stdout);
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = dir.path().join("xnai-quota-audit.service");
    std::fs::write(&svc, &units[0].1).expect("write");
    let out = Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&svc)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("security");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for xnai-quota-audit.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    // systemd rates 0–10; "OK" is below 4.5. The README quotes the current value.
    assert!(level <= 2.0, "exposure {level}:\n{text}");
}

#[test]
fn at_sets_the_calendar_and_bad_values_are_usage_errors() {
    let (h, cfg) = home_with_config();
    let o = run(xnai(&h, &cfg).args([
        "schedule",
        "install",
        "--dry-run",
        "--at",
        "06:30 Europe/Berlin",
    ]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("\nOnCalendar=*-*-* 06:30:00 Europe/Berlin\n")
    );
    // Without --at: the original file's quota_management.audit_collection_time and timezone.
    let h2 = Home::new();
    let cfg2 = h2.config(&format!(
        "{CONFIG}quota_management:\n  audit_collection_time: \"05:45\"\n  timezone: America/New_York\n"
    ));
    let o = run(xnai(&h2, &cfg2).args(["schedule", "install", "--dry-run"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("\nOnCalendar=*-*-* 05:45:00 America/New_York\n"),
        "{}",
        o.stdout
    );
    for bad in ["25:00", "6:3", "06:30 Nowhere/Land", "sk-ant-api03-secret"] {
        let o = run(xnai(&h, &cfg).args(["schedule", "install", "--dry-run", "--at", bad]));
        assert_eq!(o.code, 2, "{bad}: {}", o.stderr);
        assert!(o.stderr.contains("--at:"), "{}", o.stderr);
        assert!(!o.stderr.contains("secret"), "echoed: {}", o.stderr);
    }
}

#[test]
fn install_warns_when_the_service_would_miss_a_variable() {
    let (h, cfg) = home_with_config();
    let data = h.path().join("data");
    let o =
        run(xnai(&h, &cfg)
            .arg("--data-dir")
            .arg(&data)
            .args(["schedule", "install", "--dry-run"]));
    assert_eq!(o.code, 0);
    assert!(
        o.stderr.contains("would fail to load") && o.stderr.contains("TEST_KEY"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("schedule.env"), "{}", o.stderr);
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("schedule.env"), "# for the timer\nTEST_KEY=kkk\n").expect("env");
    std::fs::set_permissions(
        data.join("schedule.env"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let o =
        run(xnai(&h, &cfg)
            .arg("--data-dir")
            .arg(&data)
            .args(["schedule", "install", "--dry-run"]));
    assert!(!o.stderr.contains("would fail"), "{}", o.stderr);
    assert!(!o.stderr.contains(&"k".repeat(93)), "secret echoed");
    // Under sudo the shell has none of the variables: schedule.env is enough.
    let o = run(xnai(&h, &cfg)
        .env_remove("TEST_KEY")
        .arg("--data-dir")
        .arg(&data)
        .args(["schedule", "install", "--dry-run"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("would fail"), "{}", o.stderr);
}

/// A `systemctl` that records its arguments and answers `show` like systemd does.
fn fake_systemctl(h: &Home, active: &str) -> (PathBuf, PathBuf) {
    let log = h.path().join("systemctl.log");
    let script = h.path().join("systemctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\necho \"$*\" >> '{}'\n\
             if [ \"$2\" = show ]; then\n\
               case \"$3\" in\n\
                 *.timer) printf 'UnitFileState=enabled\\nActiveState={active}\\nNextElapseUSecRealtime=Fri 2026-12-04 02:03:11 UTC\\nLastTriggerUSec=Thu 2026-12-03 02:01:40 UTC\\n' ;;\n\
                 *.service) printf 'Result=exit-code\\nExecMainStatus=2\\n' ;;\n\
               esac\n\
             fi\n",
            log.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

#[test]
fn install_status_uninstall_with_systemd() {
    let (h, cfg) = home_with_config();
    let (sc, log) = fake_systemctl(&h, "active");
    let data = h.path().join("data");
    let with = |c: &mut assert_cmd::Command| {
        c.env("XNAI_SYSTEMCTL", &sc).arg("--data-dir").arg(&data);
    };
    let mut c = xnai(&h, &cfg);
    with(&mut c);
    let o = run(c.args(["schedule", "install", "--user"]));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("Next run: Fri 2026-12-04 02:03:11 UTC."),
        "{}",
        o.stdout
    );
    let unit_dir = h.path().join(".config/systemd/user");
    let svc = unit_dir.join("xnai-quota-audit.service");
    let meta = std::fs::metadata(&svc).expect("service written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(unit_dir.join("xnai-quota-audit.timer").is_file());
    assert!(data.is_dir(), "data dir created for ReadWritePaths");
    let calls = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines[0], "--user daemon-reload");
    assert_eq!(lines[1], "--user enable --now xnai-quota-audit.timer");

    // The fake says the last run exited 2: status reports it and exits 1.
    let mut c = xnai(&h, &cfg);
    with(&mut c);
    let o = run(c.args(["schedule", "status", "--user", "--json"]));
    assert_eq!(o.code, 1, "{}", o.stdout);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json");
    let s = &v["scopes"][0];
    assert_eq!(s["installed"], true);
    assert_eq!(s["on_calendar"], "*-*-* 02:00:00 UTC");
    assert_eq!(s["binary_exists"], true);
    assert_eq!(s["timer_active"], "active");
    assert_eq!(s["last_result"], "exit-code (exit 2)");
    assert_eq!(s["next_run"], "Fri 2026-12-04 02:03:11 UTC");

    // A successful last run is healthy.
    let sc_ok = h.path().join("systemctl-ok");
    let text = std::fs::read_to_string(&sc).expect("read");
    std::fs::write(
        &sc_ok,
        text.replace(
            "Result=exit-code\\nExecMainStatus=2",
            "Result=success\\nExecMainStatus=0",
        ),
    )
    .expect("write");
    std::fs::set_permissions(&sc_ok, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let o = run(xnai(&h, &cfg)
        .env("XNAI_SYSTEMCTL", &sc_ok)
        .arg("--data-dir")
        .arg(&data)
        .args(["schedule", "status", "--user"]));
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("enabled, active"), "{}", o.stdout);
    assert!(o.stdout.contains("success"), "{}", o.stdout);

    // Reinstalling replaces xnai's own units without --force.
    let mut c = xnai(&h, &cfg);
    with(&mut c);
    assert_eq!(
        run(c.args(["schedule", "install", "--at", "03:15"])).code,
        0
    );
    let timer = std::fs::read_to_string(unit_dir.join("xnai-quota-audit.timer")).expect("timer");
    assert!(timer.contains("OnCalendar=*-*-* 03:15:00 UTC"));

    let mut c = xnai(&h, &cfg);
    with(&mut c);
    let o = run(c.args(["schedule", "uninstall"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!svc.exists() && !unit_dir.join("xnai-quota-audit.timer").exists());
    let calls = std::fs::read_to_string(&log).expect("log");
    let tail: Vec<&str> = calls.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "--user daemon-reload",
            "--user disable --now xnai-quota-audit.timer"
        ]
    );

    let mut c = xnai(&h, &cfg);
    with(&mut c);
    let o = run(c.args(["schedule", "uninstall"]));
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("Nothing to remove"), "{}", o.stdout);
}

#[test]
fn foreign_units_are_not_replaced_or_removed_without_force() {
    let (h, cfg) = home_with_config();
    let (sc, _) = fake_systemctl(&h, "active");
    let unit_dir = h.path().join(".config/systemd/user");
    std::fs::create_dir_all(&unit_dir).expect("mkdir");
    let theirs = "[Service]\nExecStart=/bin/true\n";
    std::fs::write(unit_dir.join("xnai-quota-audit.service"), theirs).expect("write");
    let o = run(xnai(&h, &cfg)
        .env("XNAI_SYSTEMCTL", &sc)
        .args(["schedule", "install"]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("not written by xnai"), "{}", o.stderr);
    let o = run(xnai(&h, &cfg)
        .env("XNAI_SYSTEMCTL", &sc)
        .args(["schedule", "uninstall"]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(unit_dir.join("xnai-quota-audit.service")).expect("read"),
        theirs
    );
    let o = run(xnai(&h, &cfg)
        .env("XNAI_SYSTEMCTL", &sc)
        .args(["schedule", "install", "--force"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn without_systemd_install_prints_units_and_crontab_and_writes_nothing() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipping: this machine runs systemd");
        return;
    }
    let (h, cfg) = home_with_config();
    let o = run(xnai(&h, &cfg).args(["schedule", "install"]));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("systemd is not running"), "{}", o.stderr);
    assert!(o.stdout.contains("[Timer]"));
    let cron = o
        .stdout
        .lines()
        .find(|l| l.starts_with("0 2 * * * "))
        .unwrap_or_else(|| panic!("no crontab line in:\n{}", o.stdout));
    assert!(
        cron.contains(" audit >>") && cron.ends_with("schedule.log 2>&1"),
        "{cron}"
    );
    // Run the line the way cron does: /bin/sh, an almost empty environment, `\%` meaning `%`.
    // The data directory does not exist yet and the key comes only from schedule.env.
    let data = h.path().join(".local/share/xnai");
    assert!(!data.exists());
    let line = cron
        .splitn(6, ' ')
        .nth(5)
        .expect("command")
        .replace("\\%", "%");
    let cron_sh = || {
        Command::new("sh")
            .arg("-c")
            .arg(&line)
            .env_clear()
            .env("HOME", h.path())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .expect("sh")
    };
    assert_eq!(
        cron_sh().status.code(),
        Some(2),
        "no key yet: a config error"
    );
    let log = std::fs::read_to_string(data.join("schedule.log")).expect("log");
    assert!(log.contains("TEST_KEY is not set"), "{log}");
    let env = data.join("schedule.env");
    std::fs::write(&env, format!("TEST_KEY={}AA\n", "k".repeat(93))).expect("env");
    // Readable by others: refused like the credential file (it holds secrets).
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(cron_sh().status.code(), Some(2));
    let log = std::fs::read_to_string(data.join("schedule.log")).expect("log");
    assert!(log.contains("chmod 600"), "{log}");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let o2 = cron_sh();
    assert_eq!(
        o2.status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(data.join("schedule.log")).unwrap_or_default()
    );
    let reports: Vec<_> = std::fs::read_dir(data.join("reports"))
        .expect("reports")
        .collect();
    assert_eq!(reports.len(), 1, "the cron line wrote a report");
    assert!(!h.path().join(".config/systemd").exists());
    let o = run(xnai(&h, &cfg).args(["schedule", "status"]));
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("not installed"), "{}", o.stdout);
}

#[test]
fn an_unset_variable_points_to_the_file_the_service_reads() {
    let (h, cfg) = home_with_config();
    let data = h.path().join("data");
    let o = run(xnai(&h, &cfg)
        .env_remove("TEST_KEY")
        .arg("--data-dir")
        .arg(&data)
        .args(["schedule", "install", "--dry-run"]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("TEST_KEY is not set"), "{}", o.stderr);
    // Exporting it in this shell would not reach the timer: schedule.env does.
    let env = data.join("schedule.env");
    assert!(
        o.stderr.contains(&env.display().to_string()) && !o.stderr.contains("export TEST_KEY"),
        "{}",
        o.stderr
    );
}

/// A credential file (and a schedule.env) owned by `nobody`, for the tests root can run.
fn owned_by_nobody() -> Option<(Home, PathBuf, PathBuf)> {
    if xnai::fsutil::effective_ids().0 != 0 {
        eprintln!("skipping: needs root to give a file to another user");
        return None;
    }
    let uid = 65534u32;
    xnai::schedule::user_by_uid(uid).filter(|(n, _)| n == "nobody")?;
    let (h, cfg) = home_with_config();
    let data = h.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let env = data.join("schedule.env");
    std::fs::write(&env, format!("TEST_KEY={}AA\n", "k".repeat(93))).expect("env");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    for p in [&cfg, &env] {
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).expect("chown");
    }
    Some((h, cfg, data))
}

#[test]
fn root_installing_for_another_user_uses_their_crontab() {
    let Some((h, cfg, data)) = owned_by_nobody() else {
        return;
    };
    let o = run(xnai(&h, &cfg)
        .env_remove("TEST_KEY")
        .arg("--data-dir")
        .arg(&data)
        .args(["schedule", "install", "--system", "--dry-run"]));
    // nobody's own schedule.env is read (root reading it is not a finding), and the crontab
    // line goes into nobody's crontab, not root's.
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("\nUser=nobody\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains("# crontab line (`crontab -u nobody -e`)"),
        "{}",
        o.stdout
    );
    assert!(!o.stderr.contains("chown 0:0"), "{}", o.stderr);
}

#[test]
fn root_is_not_told_to_take_another_users_file() {
    let Some((h, cfg, data)) = owned_by_nobody() else {
        return;
    };
    let o = run(xnai(&h, &cfg).arg("--data-dir").arg(&data).args([
        "schedule",
        "install",
        "--user",
        "--dry-run",
    ]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(!o.stderr.contains("chown 0:0"), "{}", o.stderr);
    assert!(
        o.stderr.contains("sudo -u nobody xnai") && o.stderr.contains("schedule install --user"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("install -m 600"), "copy it: {}", o.stderr);
    // Any other command reading it as root gets the same advice, not a chown.
    let o = run(xnai(&h, &cfg).arg("check"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        !o.stderr.contains("chown 0:0") && o.stderr.contains("sudo -u nobody xnai"),
        "{}",
        o.stderr
    );
}
