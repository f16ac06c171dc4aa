//! The daily audit on a timer: `xnai-quota-audit.service` and `.timer` for systemd (user or
//! system manager), or the matching crontab line where systemd does not run.
//!
//! Units are rendered from a [`Spec`] so `install`, `status` (is what is installed still what
//! install would write?) and the tests (`systemd-analyze verify`) see the same text.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The service unit's file name.
pub const SERVICE: &str = "xnai-quota-audit.service";
/// The timer unit's file name.
pub const TIMER: &str = "xnai-quota-audit.timer";
/// First line of every unit xnai writes: uninstall removes only files that carry it.
pub const MARKER: &str = "# Written by `xnai schedule install`";

/// Which systemd manager runs the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The user's own manager (`systemctl --user`), units in `~/.config/systemd/user`.
    User,
    /// The system manager, units in `/etc/systemd/system`, run as the credential file's owner.
    System,
}

impl Scope {
    /// `user` or `system`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::System => "system",
        }
    }

    /// The flag `systemctl` takes for this manager.
    pub fn systemctl_flag(self) -> &'static str {
        match self {
            Scope::User => "--user",
            Scope::System => "--system",
        }
    }

    /// Where units for this manager live: `$XDG_CONFIG_HOME/systemd/user` (else
    /// `~/.config/systemd/user`), or `/etc/systemd/system`.
    pub fn unit_dir(self, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match self {
            Scope::System => Some(PathBuf::from("/etc/systemd/system")),
            Scope::User => env("XDG_CONFIG_HOME")
                .filter(|v| Path::new(v).is_absolute())
                .map(PathBuf::from)
                .or_else(|| {
                    env("HOME")
                        .filter(|h| !h.is_empty())
                        .map(|h| PathBuf::from(h).join(".config"))
                })
                .map(|c| c.join("systemd/user")),
        }
    }
}

/// The daily time the audit runs, in a named time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// IANA zone name (`UTC`, `Europe/Berlin`).
    pub zone: String,
}

impl At {
    /// Parses `HH:MM [ZONE]`; the zone defaults to UTC and must be in the time zone database.
    pub fn parse(s: &str) -> Result<At, String> {
        let mut words = s.split_whitespace();
        let time = words.next().ok_or("the time is empty")?;
        let zone = words.next().unwrap_or("UTC");
        if words.next().is_some() {
            return Err("expected `HH:MM` and at most one time zone".into());
        }
        let (h, m) = time
            .split_once(':')
            .ok_or("expected the time as HH:MM (24-hour)")?;
        if m.contains(':') {
            // systemd could take seconds, cron cannot: both must run the same schedule.
            return Err("seconds are not supported: expected HH:MM [ZONE], such as 02:00".into());
        }
        let digits = |t: &str, max_len: usize| {
            !t.is_empty() && t.len() <= max_len && t.bytes().all(|b| b.is_ascii_digit())
        };
        let hour: u8 = digits(h, 2)
            .then(|| h.parse().ok())
            .flatten()
            .filter(|h| *h < 24)
            .ok_or("the hour must be 0–23")?;
        let minute: u8 = (digits(m, 2) && m.len() == 2)
            .then(|| m.parse().ok())
            .flatten()
            .filter(|m| *m < 60)
            .ok_or("the minutes must be two digits, 00–59")?;
        // The database's spelling: systemd matches zone names case-sensitively.
        let (_, zone) = crate::quota::window::zone(zone)?;
        Ok(At { hour, minute, zone })
    }

    /// `02:00 UTC`.
    pub fn describe(&self) -> String {
        format!("{:02}:{:02} {}", self.hour, self.minute, self.zone)
    }

    /// The timer's `OnCalendar=` value: `*-*-* 02:00:00 UTC`.
    pub fn on_calendar(&self) -> String {
        format!("*-*-* {:02}:{:02}:00 {}", self.hour, self.minute, self.zone)
    }
}

impl Default for At {
    fn default() -> Self {
        At {
            hour: 2,
            minute: 0,
            zone: "UTC".to_string(),
        }
    }
}

/// Everything the units depend on.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Which manager.
    pub scope: Scope,
    /// Absolute path of the xnai binary.
    pub binary: PathBuf,
    /// Absolute path of the credential file.
    pub config: PathBuf,
    /// Absolute path of xnai's data directory (ledger, instances, reports): the one place the
    /// service may write.
    pub data_dir: PathBuf,
    /// Pass `--insecure-permissions` (the user installed with it).
    pub insecure_permissions: bool,
    /// When.
    pub at: At,
    /// System scope: the user the audit runs as (`None` = root).
    pub user: Option<String>,
}

/// Why a path cannot be written into a unit file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} cannot go into a unit file: {reason}", path.display())]
pub struct UnitPathError {
    /// The path.
    pub path: PathBuf,
    /// Why.
    pub reason: &'static str,
}

fn unit_str(p: &Path) -> Result<&str, UnitPathError> {
    let err = |reason| UnitPathError {
        path: p.to_path_buf(),
        reason,
    };
    let s = p.to_str().ok_or_else(|| err("it is not UTF-8"))?;
    if !p.is_absolute() {
        return Err(err("it is not absolute"));
    }
    // A newline would start a new directive: never let a path write unit syntax.
    if s.chars().any(char::is_control) {
        return Err(err("it contains a control character"));
    }
    if s.trim() != s {
        return Err(err("it starts or ends with white space"));
    }
    Ok(s)
}

/// One word of a command line in `ExecStart=`: specifiers (`%`) and variables (`$`) escaped,
/// quoted when it holds white space or quotes.
fn exec_word(s: &str) -> String {
    let escaped = s.replace('%', "%%").replace('$', "$$");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || "\"'\\;".contains(c))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// A path in a whitespace-separated list setting such as `ReadWritePaths=`.
fn list_path(s: &str) -> String {
    let escaped = s.replace('%', "%%");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || "\"'\\".contains(c))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// The file of `NAME=value` lines the scheduled audit reads (`--env-file`) for the variables
/// the credential file's `${VAR}`s need: neither systemd nor cron passes the login shell's.
pub fn env_file(data_dir: &Path) -> PathBuf {
    data_dir.join("schedule.env")
}

/// The audit command the timer runs, as arguments.
pub fn command(spec: &Spec) -> Vec<String> {
    let mut args = vec![
        spec.binary.to_string_lossy().into_owned(),
        "--env-file".to_string(),
        env_file(&spec.data_dir).to_string_lossy().into_owned(),
        "--config".to_string(),
        spec.config.to_string_lossy().into_owned(),
        "--data-dir".to_string(),
        spec.data_dir.to_string_lossy().into_owned(),
    ];
    if spec.insecure_permissions {
        args.push("--insecure-permissions".to_string());
    }
    args.push("audit".to_string());
    args
}

/// The service unit.
pub fn service_unit(spec: &Spec) -> Result<String, UnitPathError> {
    unit_str(&spec.binary)?;
    unit_str(&spec.config)?;
    let data = unit_str(&spec.data_dir)?;
    let env_path = env_file(&spec.data_dir);
    unit_str(&env_path)?;
    let bin = unit_str(&spec.binary)?;
    if bin.contains(['"', '\'', '\\']) {
        return Err(UnitPathError {
            path: spec.binary.clone(),
            reason: "systemd refuses quotes and backslashes in the program's path",
        });
    }
    // The program is taken literally except for specifiers; the arguments also expand `$`.
    let program = bin.replace('%', "%%");
    let program = if program.contains(char::is_whitespace) {
        format!("\"{program}\"")
    } else {
        program
    };
    let exec = std::iter::once(program)
        .chain(command(spec).iter().skip(1).map(|w| exec_word(w)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut u = format!(
        "{MARKER} ({scope} scope); `xnai schedule uninstall --{scope}` removes it.\n\
         [Unit]\n\
         Description=xnai daily quota audit\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={exec}\n",
        scope = spec.scope.name()
    );
    if let Some(user) = &spec.user {
        u.push_str(&format!("User={user}\n"));
    }
    u.push_str(&format!(
        "TimeoutStartSec=2h\n\
         StandardOutput=journal\n\
         StandardError=journal\n\
         SyslogIdentifier=xnai-audit\n\
         Nice=10\n\
         IOSchedulingClass=idle\n\
         UMask=0077\n\
         \n\
         # Sandbox: read-only everywhere except xnai's data directory (ledger, reports).\n\
         NoNewPrivileges=yes\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         PrivateMounts=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=read-only\n\
         ReadWritePaths={data}\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectKernelLogs=yes\n\
         ProtectControlGroups=yes\n\
         ProtectHostname=yes\n\
         RestrictNamespaces=yes\n\
         RestrictRealtime=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         MemoryDenyWriteExecute=yes\n\
         # The audit reads logs and writes SQLite: no network yet.\n\
         PrivateNetwork=yes\n\
         RestrictAddressFamilies=AF_UNIX\n\
         SystemCallArchitectures=native\n\
         SystemCallFilter=@system-service\n\
         SystemCallFilter=~@privileged @resources\n\
         SystemCallErrorNumber=EPERM\n",
        data = list_path(data),
    ));
    if spec.scope == Scope::System {
        // A user manager cannot drop capabilities it never had, has no device cgroup or IP
        // firewall and already runs in its own user namespace: these only apply to PID 1.
        u.push_str(
            "CapabilityBoundingSet=\n\
             AmbientCapabilities=\n\
             PrivateUsers=yes\n\
             ProtectClock=yes\n\
             ProtectProc=invisible\n\
             ProcSubset=pid\n\
             DevicePolicy=closed\n\
             IPAddressDeny=any\n\
             RemoveIPC=yes\n\
             KeyringMode=private\n",
        );
    }
    Ok(u)
}

/// The timer unit.
pub fn timer_unit(spec: &Spec) -> String {
    format!(
        "{MARKER} ({scope} scope); `xnai schedule uninstall --{scope}` removes it.\n\
         [Unit]\n\
         Description=xnai daily quota audit at {when}\n\
         \n\
         [Timer]\n\
         OnCalendar={cal}\n\
         Persistent=true\n\
         RandomizedDelaySec=5min\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        scope = spec.scope.name(),
        when = spec.at.describe(),
        cal = spec.at.on_calendar(),
    )
}

/// The crontab line that runs the same audit, in `local` (cron's zone: the machine's), with a
/// comment when the requested zone differs. The audit's output is appended to
/// `<data dir>/schedule.log`.
pub fn crontab_line(spec: &Spec, local: &jiff::tz::TimeZone, today: jiff::civil::Date) -> String {
    let want = jiff::tz::TimeZone::get(&spec.at.zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let civil = today.at(spec.at.hour as i8, spec.at.minute as i8, 0, 0);
    let (hour, minute, note) = match civil.to_zoned_datetime(want.clone()) {
        Ok(z) => {
            let here = z.with_time_zone(local.clone());
            let differs =
                here.hour() as u8 != spec.at.hour || here.minute() as u8 != spec.at.minute;
            // Daylight saving time in either zone moves the local hour twice a year.
            let offset = |tz: &jiff::tz::TimeZone, m: i8| {
                jiff::civil::date(today.year(), m, 1)
                    .at(12, 0, 0, 0)
                    .to_zoned_datetime(tz.clone())
                    .map(|z| z.offset())
                    .ok()
            };
            let shifts =
                offset(local, 1) != offset(local, 7) || offset(&want, 1) != offset(&want, 7);
            let note = differs.then(|| {
                format!(
                    "# cron runs in this machine's time zone ({}): {} is {:02}:{:02} here today{}\n",
                    local.iana_name().unwrap_or("local"),
                    spec.at.describe(),
                    here.hour(),
                    here.minute(),
                    if shifts {
                        "; adjust the line when daylight saving time changes"
                    } else {
                        ""
                    }
                )
            });
            (here.hour() as u8, here.minute() as u8, note)
        }
        Err(_) => (spec.at.hour, spec.at.minute, None),
    };
    // cron hands the line to /bin/sh and turns an unescaped % into a newline.
    let sh = |s: &str| crate::fsutil::shell_quote(s).replace('%', "\\%");
    let cmd = command(spec)
        .iter()
        .map(|w| sh(w))
        .collect::<Vec<_>>()
        .join(" ");
    let data = sh(&spec.data_dir.to_string_lossy());
    let log = sh(&spec.data_dir.join("schedule.log").to_string_lossy());
    // The data directory must exist before the redirect opens the log. The environment file
    // is read by xnai itself (`--env-file`, literally, as in the service; a shell sourcing it
    // would expand `$` and run backticks inside secrets).
    format!(
        "# xnai daily quota audit at {}\n{}{minute} {hour} * * * mkdir -p -m 700 {data} && exec {cmd} >>{log} 2>&1\n",
        spec.at.describe(),
        note.unwrap_or_default()
    )
}

/// Whether this machine was booted with systemd (`sd_booted()`: `/run/systemd/system` exists).
pub fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// A user's name and home directory from the password database.
pub fn user_by_uid(uid: u32) -> Option<(String, PathBuf)> {
    use std::ffi::CStr;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: `passwd` is plain old data; zeroed is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the reads below.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so both are NUL-terminated strings inside `buf`.
    let (name, dir) = unsafe { (CStr::from_ptr(pwd.pw_name), CStr::from_ptr(pwd.pw_dir)) };
    Some((
        name.to_str().ok()?.to_string(),
        PathBuf::from(dir.to_str().ok()?),
    ))
}

/// Names assigned in an environment file (`NAME=value` lines, `#`/`;` comments).
pub fn env_file_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scope: Scope) -> Spec {
        Spec {
            scope,
            binary: "/usr/local/bin/xnai".into(),
            config: "/home/a/.config/xnai/credentials.yaml".into(),
            data_dir: "/home/a/.local/share/xnai".into(),
            insecure_permissions: false,
            at: At::default(),
            user: None,
        }
    }

    #[test]
    fn at_parses_times_and_zones() {
        assert_eq!(At::parse("02:00 UTC").unwrap(), At::default());
        assert_eq!(At::parse("2:00").unwrap(), At::default());
        assert_eq!(At::parse("02:00 utc").unwrap().zone, "UTC");
        let b = At::parse("23:59 Europe/Berlin").unwrap();
        assert_eq!(
            (b.hour, b.minute, b.zone.as_str()),
            (23, 59, "Europe/Berlin")
        );
        assert_eq!(b.on_calendar(), "*-*-* 23:59:00 Europe/Berlin");
        for bad in [
            "",
            "24:00",
            "02:60",
            "02:5",
            "0200",
            "02:00 Mars/Olympus",
            "1:00 UTC x",
            "-1:00",
        ] {
            assert!(At::parse(bad).is_err(), "{bad:?} parsed");
        }
        let e = At::parse("02:00:30").err().unwrap_or_default();
        assert!(
            e.contains("seconds are not supported") && e.contains("HH:MM [ZONE]"),
            "{e}"
        );
    }

    #[test]
    fn units_carry_the_required_settings() {
        let s = spec(Scope::User);
        let svc = service_unit(&s).unwrap();
        assert!(svc.starts_with(MARKER));
        for line in [
            "Type=oneshot",
            "ExecStart=/usr/local/bin/xnai --env-file /home/a/.local/share/xnai/schedule.env --config /home/a/.config/xnai/credentials.yaml --data-dir /home/a/.local/share/xnai audit",
            "TimeoutStartSec=2h",
            "StandardOutput=journal",
            "UMask=0077",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            "ReadWritePaths=/home/a/.local/share/xnai",
            "SystemCallFilter=@system-service",
        ] {
            assert!(svc.lines().any(|l| l == line), "missing {line}:\n{svc}");
        }
        assert!(!svc.contains("CapabilityBoundingSet"));
        let sys = service_unit(&Spec {
            user: Some("a".into()),
            ..spec(Scope::System)
        })
        .unwrap();
        assert!(sys.lines().any(|l| l == "User=a"));
        assert!(sys.lines().any(|l| l == "CapabilityBoundingSet="));
        let t = timer_unit(&s);
        for line in [
            "OnCalendar=*-*-* 02:00:00 UTC",
            "Persistent=true",
            "RandomizedDelaySec=5min",
            "WantedBy=timers.target",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line}:\n{t}");
        }
    }

    #[test]
    fn paths_are_escaped_or_refused() {
        let s = Spec {
            binary: "/opt/my tools/x%n$ai".into(),
            data_dir: "/data dir/%h".into(),
            ..spec(Scope::User)
        };
        let svc = service_unit(&s).unwrap();
        assert!(
            svc.contains("ExecStart=\"/opt/my tools/x%%n$ai\" --env-file"),
            "{svc}"
        );
        assert!(svc.contains("ReadWritePaths=\"/data dir/%%h\"\n"), "{svc}");
        for bad in [
            "/a\nExecStartPre=/bin/evil",
            "/a\"b",
            "/a\\b",
            "/it's",
            "relative/xnai",
            "/a\t",
            " /lead",
        ] {
            let s = Spec {
                binary: bad.into(),
                ..spec(Scope::User)
            };
            assert!(service_unit(&s).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn crontab_line_converts_to_the_machine_zone() {
        let s = spec(Scope::User);
        let day = jiff::civil::date(2026, 7, 1);
        let utc = crontab_line(&s, &jiff::tz::TimeZone::UTC, day);
        assert!(
            utc.contains(
                "\n0 2 * * * mkdir -p -m 700 /home/a/.local/share/xnai && \
                 exec /usr/local/bin/xnai --env-file /home/a/.local/share/xnai/schedule.env \
                 --config"
            ),
            "{utc}"
        );
        assert!(
            utc.trim_end()
                .ends_with(">>/home/a/.local/share/xnai/schedule.log 2>&1")
        );
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let b = crontab_line(&s, &berlin, day);
        assert!(b.contains("\n0 4 * * * "), "summer time is UTC+2: {b}");
        assert!(b.contains("Europe/Berlin") && b.contains("daylight saving"));
        let kolkata = jiff::tz::TimeZone::get("Asia/Kolkata").unwrap();
        let k = crontab_line(&s, &kolkata, day);
        assert!(k.contains("\n30 7 * * * "), "UTC+5:30: {k}");
        assert!(!k.contains("daylight saving"), "{k}");
        let pct = crontab_line(
            &Spec {
                binary: "/opt/x%y".into(),
                ..spec(Scope::User)
            },
            &jiff::tz::TimeZone::UTC,
            day,
        );
        assert!(pct.contains(" /opt/x\\%y "), "{pct}");
    }

    #[test]
    fn env_file_names_skip_comments() {
        assert_eq!(
            env_file_names("# c\nA=1\n  B = x=y\n;x=1\nnoeq\n=v\n"),
            vec!["A".to_string(), "B".to_string()]
        );
    }
}
