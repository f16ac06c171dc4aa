//! `xnai schedule install|uninstall|status`: the daily audit on a systemd timer, or a crontab
//! line where systemd does not run.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::{Ctx, env_lookup};
use crate::error::{Error, Result, exit};
use crate::fsutil;
use crate::output::{self, Cell, Table, style};
use crate::schedule::{self, At, MARKER, SERVICE, Scope, Spec, TIMER};

/// Arguments of `xnai schedule`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `xnai schedule` actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write xnai-quota-audit.service and .timer and enable the timer (where systemd does not
    /// run: print them and the matching crontab line, exit 1)
    Install(InstallArgs),
    /// Disable the timer and remove both units
    Uninstall(UninstallArgs),
    /// Whether the timer is installed, when it runs next, how the last run went, the latest report
    Status(StatusArgs),
}

/// `--user` / `--system`.
#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// Your own systemd manager, units in ~/.config/systemd/user (the default)
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// The system manager, units in /etc/systemd/system, running as the credential file's
    /// owner (needs root)
    #[arg(long)]
    pub system: bool,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        if self.system {
            Scope::System
        } else {
            Scope::User
        }
    }
}

/// Arguments of `xnai schedule install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    /// When the audit runs each day: HH:MM and a time zone (UTC unless named) [default:
    /// quota_management.audit_collection_time and .timezone, else 02:00 UTC]
    #[arg(long, value_name = "\"HH:MM [ZONE]\"")]
    at: Option<String>,
    /// Print the units and the crontab line; write and enable nothing
    #[arg(long)]
    dry_run: bool,
    /// Replace unit files of the same name that xnai did not write
    #[arg(long)]
    force: bool,
}

/// Arguments of `xnai schedule uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    /// Remove unit files of the same name that xnai did not write
    #[arg(long)]
    force: bool,
}

/// Arguments of `xnai schedule status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only your own systemd manager
    #[arg(long, conflicts_with = "system")]
    user: bool,
    /// Only the system manager
    #[arg(long)]
    system: bool,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

/// Runs `xnai schedule`.
pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    match args.action {
        Action::Install(a) => install(ctx, a),
        Action::Uninstall(a) => uninstall(a),
        Action::Status(a) => status(ctx, a),
    }
}

/// The `systemctl` to drive: `$XNAI_SYSTEMCTL` when set (a wrapper, or a container whose
/// manager is reached differently), else `systemctl` when the machine booted with systemd.
fn systemctl() -> Option<String> {
    env_lookup("XNAI_SYSTEMCTL")
        .filter(|v| !v.is_empty())
        .or_else(|| schedule::systemd_booted().then(|| "systemctl".to_string()))
}

struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run_systemctl(program: &str, scope: Scope, args: &[&str]) -> Result<Ran> {
    let out = Command::new(program)
        .arg(scope.systemctl_flag())
        .args(args)
        .output()
        .map_err(|e| Error::Refused {
            message: format!("cannot run {program}: {e}"),
            hint: Some(
                "is systemd's systemctl installed? XNAI_SYSTEMCTL names another".to_string(),
            ),
        })?;
    Ok(Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: output::sanitize(String::from_utf8_lossy(&out.stderr).trim()),
    })
}

fn systemctl_must(program: &str, scope: Scope, args: &[&str]) -> Result<Ran> {
    let r = run_systemctl(program, scope, args)?;
    if r.ok {
        return Ok(r);
    }
    let cmd = format!("systemctl {} {}", scope.systemctl_flag(), args.join(" "));
    let hint = match scope {
        Scope::User => "is your user manager running? `systemctl --user status` tells; over SSH \
                        or in a container, log in with a full session or run \
                        `loginctl enable-linger $USER` as root"
            .to_string(),
        Scope::System => "run it yourself to see systemd's full message".to_string(),
    };
    Err(Error::Refused {
        message: format!("`{cmd}` failed: {}", r.stderr),
        hint: Some(hint),
    })
}

fn unit_dir(scope: Scope) -> Result<PathBuf> {
    scope.unit_dir(&env_lookup).ok_or_else(|| {
        Error::usage(
            "cannot find the user unit directory: HOME is not set and XDG_CONFIG_HOME is unset or relative",
            Some("set HOME".to_string()),
        )
    })
}

fn current_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("finding the running binary", "/proc/self/exe", e))?;
    if exe.to_string_lossy().ends_with(" (deleted)") || !exe.is_file() {
        return Err(Error::usage(
            format!(
                "the running xnai binary {} was replaced or removed since it started",
                exe.display()
            ),
            Some("run the install again with the binary you want the timer to use".to_string()),
        ));
    }
    Ok(exe)
}

/// The data directory the service writes: `--data-dir`/`XNAI_DATA_DIR`, else the usual one,
/// except that a system unit running as another user gets that user's default.
fn service_data_dir(ctx: &Ctx, run_as: Option<&(String, PathBuf)>) -> Result<PathBuf> {
    let explicit =
        ctx.data_dir.is_some() || env_lookup("XNAI_DATA_DIR").is_some_and(|v| !v.is_empty());
    match run_as {
        Some((_, home)) if !explicit => Ok(home.join(".local/share/xnai")),
        _ => clean_path(ctx.data_dir()?.root()),
    }
}

/// An absolute path without `.` or `..` (systemd ignores paths that are not normalised): the
/// real path when it exists, else the lexical one.
fn clean_path(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io("resolving", p, e))?;
    let dotted = abs.components().any(|c| {
        matches!(
            c,
            std::path::Component::CurDir | std::path::Component::ParentDir
        )
    });
    if !dotted {
        return Ok(abs);
    }
    if let Ok(real) = std::fs::canonicalize(&abs) {
        return Ok(real);
    }
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

fn build_spec(ctx: &Ctx, scope: Scope, at: At) -> Result<(Spec, Option<(String, PathBuf)>)> {
    let config = clean_path(&ctx.config_path)?;
    let owner = std::fs::metadata(&config)
        .map_err(|e| Error::io("reading", &config, e))?
        .uid();
    let run_as = match scope {
        // xnai refuses a credential file another user owns: the service runs as its owner.
        Scope::System if owner != 0 => Some(schedule::user_by_uid(owner).ok_or_else(|| {
            Error::usage(
                format!(
                    "{} belongs to uid {owner}, which has no entry in the password database",
                    config.display()
                ),
                Some("chown the file to the user the audit should run as".to_string()),
            )
        })?),
        _ => None,
    };
    let other_user = run_as
        .as_ref()
        .filter(|_| owner != fsutil::effective_ids().0);
    let data_dir = service_data_dir(ctx, other_user)?;
    let spec = Spec {
        scope,
        binary: current_binary()?,
        config,
        data_dir,
        insecure_permissions: ctx.insecure_permissions,
        at,
        user: run_as.as_ref().map(|(n, _)| n.clone()),
    };
    Ok((spec, run_as))
}

fn render(spec: &Spec) -> Result<(String, String)> {
    let svc = schedule::service_unit(spec).map_err(|e| {
        Error::usage(
            e.to_string(),
            Some("use paths without control characters or surrounding spaces".to_string()),
        )
    })?;
    Ok((svc, schedule::timer_unit(spec)))
}

fn crontab(spec: &Spec) -> String {
    let local = jiff::tz::TimeZone::system();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(local.clone())
        .date();
    schedule::crontab_line(spec, &local, today)
}

/// Warns about what would make the scheduled audit fail although it works from this shell:
/// `${VAR}`s and `XNAI_*` overrides the service does not see.
fn warn_environment(spec: &Spec) {
    let env_path = schedule::env_file(&spec.data_dir);
    let file_names = match std::fs::read_to_string(&env_path) {
        Ok(text) => {
            if let Ok(m) = std::fs::metadata(&env_path)
                && m.mode() & 0o077 != 0
            {
                output::warn(&format!(
                    "{} can be read by other users: chmod 600 {}",
                    env_path.display(),
                    fsutil::shell_quote(&env_path.to_string_lossy())
                ));
            }
            schedule::env_file_names(&text)
        }
        Err(_) => Vec::new(),
    };
    let service_has = |n: &str| {
        ["HOME", "USER", "LOGNAME", "SHELL", "PATH"].contains(&n)
            || file_names.iter().any(|f| f == n)
    };
    let lookup = |n: &str| service_has(n).then(|| env_lookup(n).unwrap_or_default());
    let hint = format!(
        "the service does not see this shell's variables: put NAME=value lines in {} (chmod 600)",
        env_path.display()
    );
    if let Err(e) = crate::config::load(&crate::config::LoadOptions {
        path: spec.config.clone(),
        // Permissions were checked already; only the variables matter here.
        insecure_permissions: true,
        env: &lookup,
    }) {
        output::warn(&format!(
            "the scheduled audit would fail to load the credential file: {e}"
        ));
        output::note(&hint);
        return;
    }
    let missing: Vec<String> = super::caller_env_names()
        .into_iter()
        .filter(|n| n.starts_with("XNAI_") && n.len() > 5)
        .filter(|n| {
            ![
                "XNAI_CONFIG",
                "XNAI_DATA_DIR",
                "XNAI_SYSTEMCTL",
                "XNAI_FORCE_ACCOUNT",
            ]
            .contains(&n.as_str())
        })
        .filter(|n| !service_has(n))
        .collect();
    if !missing.is_empty() {
        output::warn(&format!(
            "{} set in this shell will not reach the scheduled audit",
            missing.join(", ")
        ));
        output::note(&hint);
    }
}

/// The `crontab` command that edits the crontab the line belongs in: the service's user's,
/// when root installs for another user.
fn crontab_edit(spec: &Spec) -> String {
    match (&spec.user, spec.scope) {
        (Some(user), Scope::System) => format!("crontab -u {} -e", fsutil::shell_quote(user)),
        _ => "crontab -e".to_string(),
    }
}

/// Refuses `--user` as root for a credential file another user owns, before loading it:
/// root's own timer cannot read it (xnai refuses another user's file), and the usual fix for
/// that, chown, would take the file away from its owner.
fn refuse_root_user_scope_for_other(ctx: &Ctx, scope: Scope, config: &Path) -> Result<()> {
    let owner = std::fs::metadata(config)
        .map_err(|e| Error::io("reading", config, e))?
        .uid();
    if scope != Scope::User || fsutil::effective_ids().0 != 0 || owner == 0 {
        return Ok(());
    }
    if ctx.insecure_permissions {
        return Ok(());
    }
    let name = schedule::user_by_uid(owner).map_or_else(|| format!("'#{owner}'"), |(n, _)| n);
    let q = fsutil::shell_quote(&config.display().to_string());
    Err(Error::usage(
        format!(
            "{} belongs to {name}: a --user timer installed as root would be root's own and \
             could not read it",
            config.display()
        ),
        Some(format!(
            "install {name}'s own timer as {name}: sudo -u {name} xnai --config {q} schedule \
             install --user; or a system timer that runs as {name}: xnai --config {q} schedule \
             install --system; or copy the file to one root owns (install -m 600 {q} \
             /root/.config/xnai/credentials.yaml) and install with that"
        )),
    ))
}

fn install(ctx: &Ctx, args: InstallArgs) -> Result<i32> {
    let scope = args.scope.scope();
    refuse_root_user_scope_for_other(ctx, scope, &clean_path(&ctx.config_path)?)?;
    let (spec, run_as) = build_spec(ctx, scope, At::default())?;
    // root installing a system timer for the file's owner: the service runs as that user.
    let for_other = scope == Scope::System
        && run_as.is_some()
        && fsutil::effective_ids().0 == 0
        && !ctx.insecure_permissions;
    let env_path = schedule::env_file(&spec.data_dir);
    if for_other && let Ok(meta) = std::fs::metadata(&env_path) {
        // The service reads it as the credential file's owner and, like xnai anywhere,
        // accepts it only if that user owns it and no one else can read it.
        let owner = std::fs::metadata(&spec.config)
            .map_err(|e| Error::io("reading", &spec.config, e))?
            .uid();
        let user = spec.user.as_deref().unwrap_or("its owner");
        let q = fsutil::shell_quote(&env_path.display().to_string());
        if meta.uid() != owner {
            return Err(Error::usage(
                format!(
                    "{} is owned by uid {}, not by {user}, whom the service runs as",
                    env_path.display(),
                    meta.uid()
                ),
                Some(format!("chown {user} {q}")),
            ));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(Error::usage(
                format!(
                    "{}: {} (it holds secrets)",
                    env_path.display(),
                    fsutil::PermissionProblem::TooOpen { mode: meta.mode() }.describe()
                ),
                Some(format!("chmod 600 {q}")),
            ));
        }
    }
    // The scheduled audit reads schedule.env: so does this check of the credential file,
    // for what this shell does not set itself (under sudo, say). For another user's service
    // the file is theirs: only that no one else can read it matters (checked above).
    for (name, value) in
        crate::envfile::read(&env_path, ctx.insecure_permissions || for_other)?.unwrap_or_default()
    {
        if std::env::var_os(&name).is_none() {
            // SAFETY: `install` has started no thread yet; nothing reads the environment
            // concurrently.
            unsafe { std::env::set_var(name, value) };
        }
    }
    // A timer that can only fail is worse than none: the file must load now.
    let loaded = if for_other {
        // root installs for the file's owner, who is the one the service runs as: the file must
        // be private to that user, and root reading it is not a finding.
        let problems = fsutil::check_private_file(&spec.config)
            .map_err(|e| Error::io("reading", &spec.config, e))?;
        if let Some(p) = problems
            .iter()
            .find(|p| matches!(p, fsutil::PermissionProblem::TooOpen { .. }))
        {
            return Err(Error::usage(
                format!("{}: {}", spec.config.display(), p.describe()),
                Some(p.fix_command(&spec.config)),
            ));
        }
        crate::config::load(&crate::config::LoadOptions {
            path: spec.config.clone(),
            insecure_permissions: true,
            env: &env_lookup,
        })
        .map_err(|e| for_the_service(e.into(), &env_path))?
    } else {
        ctx.load().map_err(|e| for_the_service(e, &env_path))?
    };
    let qm = &loaded.config.quota;
    let (at_text, from) = match &args.at {
        Some(v) => (v.clone(), "--at"),
        None => match &qm.audit_collection_time {
            Some(t) => (
                format!("{t} {}", qm.timezone.as_deref().unwrap_or("UTC")),
                "quota_management.audit_collection_time",
            ),
            None => ("02:00 UTC".to_string(), "--at"),
        },
    };
    let at = At::parse(&at_text).map_err(|why| {
        Error::usage(
            format!("{from}: {why}"),
            Some("for example --at \"02:00 UTC\" or --at \"06:30 Europe/Berlin\"".to_string()),
        )
    })?;
    let spec = Spec { at, ..spec };
    let (svc, timer) = render(&spec)?;
    let dir = unit_dir(scope)?;
    let svc_path = dir.join(SERVICE);
    let timer_path = dir.join(TIMER);
    let bin = spec.binary.to_string_lossy();
    // cargo keeps `.fingerprint/` next to the binaries it builds, wherever the target dir is.
    if spec
        .binary
        .parent()
        .is_some_and(|d| d.join(".fingerprint").is_dir())
    {
        output::warn(&format!(
            "the timer will run {bin}, a cargo build output that the next build or `cargo clean` \
             replaces; `cargo install --path .` and installing from there is steadier"
        ));
    }
    let in_tmp: Vec<String> = [
        ("the credential file", &spec.config),
        ("the data directory", &spec.data_dir),
        ("the binary", &spec.binary),
    ]
    .iter()
    .filter(|(_, p)| p.starts_with("/tmp") || p.starts_with("/var/tmp"))
    .map(|(what, p)| format!("{what} ({})", p.display()))
    .collect();
    warn_environment(&spec);
    let edit = crontab_edit(&spec);
    let print_units = || -> Result<()> {
        output::print_raw(&format!(
            "# {}\n{svc}\n# {}\n{timer}\n# crontab line (`{edit}`), where systemd does not run:\n{}",
            svc_path.display(),
            timer_path.display(),
            crontab(&spec)
        ))
    };
    if !in_tmp.is_empty() {
        output::warn(&format!(
            "the service runs with a private /tmp (PrivateTmp=yes): it would not see {}",
            in_tmp.join(", ")
        ));
    }
    if args.dry_run {
        print_units()?;
        return Ok(exit::OK);
    }
    let Some(sc) = systemctl() else {
        output::warn(&format!(
            "systemd is not running on this machine (PID 1 is another init): nothing was \
             installed. The units and the equivalent crontab line follow; add the line with \
             `{edit}`"
        ));
        print_units()?;
        return Ok(exit::FINDINGS);
    };
    if scope == Scope::System && fsutil::effective_ids().0 != 0 {
        return Err(Error::usage(
            "installing system units needs root",
            Some("sudo xnai schedule install --system, or --user for your own manager".to_string()),
        ));
    }
    for p in [&svc_path, &timer_path] {
        if let Ok(old) = std::fs::read_to_string(p)
            && !old.starts_with(MARKER)
            && !args.force
        {
            return Err(Error::usage(
                format!("{} exists and was not written by xnai", p.display()),
                Some("--force replaces it".to_string()),
            ));
        }
    }
    if !spec.data_dir.is_dir() {
        if run_as.is_some() && scope == Scope::System {
            return Err(Error::usage(
                format!(
                    "{} does not exist; the service may write only there",
                    spec.data_dir.display()
                ),
                Some(format!(
                    "run `xnai audit` once as {} to create it, then install again",
                    spec.user.as_deref().unwrap_or("its owner")
                )),
            ));
        }
        fsutil::create_private_dir_all(&spec.data_dir)?;
    }
    let mode = match scope {
        // systemctl reads system units client-side as any user (`systemctl cat`); they hold
        // paths, never secrets.
        Scope::System => 0o644,
        Scope::User => fsutil::FILE_MODE,
    };
    let before: Vec<(PathBuf, Option<String>)> = [&svc_path, &timer_path]
        .iter()
        .map(|p| ((*p).clone(), std::fs::read_to_string(p).ok()))
        .collect();
    // Either both units are in place and the timer is enabled, or what was there before is.
    let rollback = || {
        for (p, old) in &before {
            match old {
                Some(text) => {
                    let _ = fsutil::write_atomic_mode(p, text.as_bytes(), true, mode);
                }
                None => {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        let _ = run_systemctl(&sc, scope, &["daemon-reload"]);
    };
    let applied = fsutil::write_atomic_mode(&svc_path, svc.as_bytes(), true, mode)
        .and_then(|()| fsutil::write_atomic_mode(&timer_path, timer.as_bytes(), true, mode))
        .and_then(|()| systemctl_must(&sc, scope, &["daemon-reload"]))
        .and_then(|_| systemctl_must(&sc, scope, &["enable", "--now", TIMER]));
    if let Err(e) = applied {
        rollback();
        return Err(e);
    }
    let next = show(&sc, scope, TIMER, &["NextElapseUSecRealtime"])
        .into_iter()
        .find(|(k, _)| k == "NextElapseUSecRealtime")
        .map(|(_, v)| v);
    let flag = match scope {
        Scope::User => " --user",
        Scope::System => "",
    };
    output::print(&format!(
        "Installed {SERVICE} and {TIMER} in {} and enabled the timer ({} scope).\n\
         The audit runs daily at {} (within 5 minutes after; a missed run happens at the next boot)\n\
         and writes {}/reports/ACCOUNT-TRACKING-<date>.yaml.\n\
         {}Its output: journalctl{flag} -u {SERVICE}\n",
        dir.display(),
        scope.name(),
        spec.at.describe(),
        spec.data_dir.display(),
        next.map(|n| format!("Next run: {n}.\n"))
            .unwrap_or_default(),
    ))?;
    if scope == Scope::User
        && let Some((name, _)) = schedule::user_by_uid(fsutil::effective_ids().0)
        && !Path::new("/var/lib/systemd/linger").join(&name).exists()
    {
        output::note(&format!(
            "your user manager runs only while you are logged in; for audits on a server you \
             are not logged into, run `sudo loginctl enable-linger {name}`"
        ));
    }
    Ok(exit::OK)
}

/// A credential file that does not load because a `${VAR}` is unset: the service does not
/// see this shell's variables, so the place to set it is the environment file it reads.
fn for_the_service(e: Error, env_path: &Path) -> Error {
    match e {
        Error::Config(mut c) if c.kind == crate::config::ConfigErrorKind::MissingVariable => {
            c.hint = Some(format!(
                "the scheduled audit does not see this shell's variables: put NAME=value lines \
                 for them in {} (chmod 600), the file its --env-file reads; or give defaults in \
                 the credential file: ${{NAME:-default}}",
                env_path.display()
            ));
            Error::Config(c)
        }
        other => other,
    }
}

fn uninstall(args: UninstallArgs) -> Result<i32> {
    let scope = args.scope.scope();
    let dir = unit_dir(scope)?;
    let paths: Vec<PathBuf> = [SERVICE, TIMER]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if paths.is_empty() {
        output::print(&format!(
            "Nothing to remove: no {SERVICE} or {TIMER} in {}.\n",
            dir.display()
        ))?;
        if systemctl().is_none() {
            output::note("if you added the crontab line instead, remove it with `crontab -e`");
        }
        return Ok(exit::OK);
    }
    for p in &paths {
        let ours = std::fs::read_to_string(p).is_ok_and(|t| t.starts_with(MARKER));
        if !ours && !args.force {
            return Err(Error::usage(
                format!("{} was not written by xnai", p.display()),
                Some("--force removes it anyway".to_string()),
            ));
        }
    }
    let sc = systemctl();
    if let Some(sc) = &sc {
        // A timer that was never loaded cannot be disabled: that is not a failure here.
        let r = run_systemctl(sc, scope, &["disable", "--now", TIMER])?;
        if !r.ok && !r.stderr.contains("not loaded") && !r.stderr.contains("does not exist") {
            output::warn(&format!(
                "`systemctl {} disable --now {TIMER}` failed: {}",
                scope.systemctl_flag(),
                r.stderr
            ));
        }
    }
    for p in &paths {
        std::fs::remove_file(p).map_err(|e| Error::io("removing", p, e))?;
    }
    if let Some(sc) = &sc {
        systemctl_must(sc, scope, &["daemon-reload"])?;
    }
    output::print(&format!(
        "Removed {}.\n",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    ))?;
    Ok(exit::OK)
}

/// One manager's view in `xnai schedule status`.
#[derive(Debug, Serialize)]
struct ScopeStatus {
    scope: Scope,
    unit_dir: PathBuf,
    installed: bool,
    /// `OnCalendar=` of the installed timer.
    on_calendar: Option<String>,
    /// The binary `ExecStart=` runs, and whether it is still there.
    binary: Option<String>,
    binary_exists: Option<bool>,
    /// From systemd, when it runs here.
    timer_enabled: Option<String>,
    timer_active: Option<String>,
    next_run: Option<String>,
    last_run: Option<String>,
    last_result: Option<String>,
}

#[derive(Debug, Serialize)]
struct StatusDoc {
    systemd_running: bool,
    scopes: Vec<ScopeStatus>,
    latest_report: Option<PathBuf>,
    latest_report_date: Option<String>,
}

fn setting(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
}

/// The program `ExecStart=` names, undoing the quoting [`schedule::service_unit`] applies.
fn exec_program(exec: &str) -> String {
    let word = if let Some(rest) = exec.strip_prefix('"') {
        rest.split('"').next().unwrap_or_default().to_string()
    } else {
        exec.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // Only specifiers are escaped in the program's path (see schedule::service_unit).
    word.replace("%%", "%")
}

fn show(sc: &str, scope: Scope, unit: &str, props: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["show", unit];
    let joined = format!("--property={}", props.join(","));
    args.push(&joined);
    match run_systemctl(sc, scope, &args) {
        Ok(r) if r.ok => r
            .stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty() && v != "n/a")
            .collect(),
        _ => Vec::new(),
    }
}

fn scope_status(scope: Scope, sc: Option<&str>) -> Result<ScopeStatus> {
    let dir = unit_dir(scope)?;
    let svc = std::fs::read_to_string(dir.join(SERVICE)).ok();
    let timer = std::fs::read_to_string(dir.join(TIMER)).ok();
    let installed = svc.is_some() && timer.is_some();
    let binary = svc
        .as_deref()
        .and_then(|s| setting(s, "ExecStart"))
        .map(|e| exec_program(&e));
    let mut st = ScopeStatus {
        scope,
        unit_dir: dir,
        installed,
        on_calendar: timer.as_deref().and_then(|t| setting(t, "OnCalendar")),
        binary_exists: binary.as_ref().map(|b| Path::new(b).is_file()),
        binary,
        timer_enabled: None,
        timer_active: None,
        next_run: None,
        last_run: None,
        last_result: None,
    };
    if let (Some(sc), true) = (sc, installed) {
        let t = show(
            sc,
            scope,
            TIMER,
            &[
                "UnitFileState",
                "ActiveState",
                "NextElapseUSecRealtime",
                "LastTriggerUSec",
            ],
        );
        let s = show(sc, scope, SERVICE, &["Result", "ExecMainStatus"]);
        let get = |v: &[(String, String)], k: &str| {
            v.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        st.timer_enabled = get(&t, "UnitFileState");
        st.timer_active = get(&t, "ActiveState");
        st.next_run = get(&t, "NextElapseUSecRealtime");
        st.last_run = get(&t, "LastTriggerUSec");
        st.last_result = st.last_run.as_ref().and_then(|_| {
            let result = get(&s, "Result")?;
            Some(match get(&s, "ExecMainStatus") {
                Some(code) if code != "0" => format!("{result} (exit {code})"),
                _ => result,
            })
        });
    }
    Ok(st)
}

fn latest_report(ctx: &Ctx) -> Option<(PathBuf, String)> {
    let dir = ctx.data_dir().ok()?.root().join("reports");
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let date = name
                .strip_prefix("ACCOUNT-TRACKING-")?
                .split('.')
                .next()?
                .to_string();
            date.parse::<jiff::civil::Date>().ok()?;
            Some((e.path(), date))
        })
        .max_by(|a, b| a.1.cmp(&b.1))
}

fn status(ctx: &Ctx, args: StatusArgs) -> Result<i32> {
    let scopes = if args.user {
        vec![Scope::User]
    } else if args.system {
        vec![Scope::System]
    } else {
        vec![Scope::User, Scope::System]
    };
    let sc = systemctl();
    let mut all = Vec::new();
    for s in scopes {
        all.push(scope_status(s, sc.as_deref())?);
    }
    let report = latest_report(ctx);
    let healthy = all.iter().any(|s| {
        s.installed
            && s.binary_exists == Some(true)
            && (sc.is_none()
                || (s.timer_active.as_deref() == Some("active")
                    && s.last_result.as_deref().is_none_or(|r| r == "success")))
    });
    let doc = StatusDoc {
        systemd_running: sc.is_some(),
        latest_report_date: report.as_ref().map(|r| r.1.clone()),
        latest_report: report.map(|r| r.0),
        scopes: all,
    };
    if args.json {
        output::print_json(&doc)?;
    } else {
        let mut t = Table::new(&[
            "SCOPE", "UNITS", "SCHEDULE", "TIMER", "NEXT RUN", "LAST RUN", "RESULT",
        ]);
        let dash = || Cell::styled("-", style::DIM);
        let opt = |v: &Option<String>| v.clone().map(Cell::from).unwrap_or_else(dash);
        for s in &doc.scopes {
            let units = if !s.installed {
                Cell::styled("not installed", style::DIM)
            } else if s.binary_exists != Some(true) {
                Cell::styled("binary missing", style::BAD)
            } else {
                Cell::styled(s.unit_dir.display().to_string(), style::OK)
            };
            let timer = match (&s.timer_enabled, &s.timer_active) {
                (Some(e), Some(a)) => {
                    let st = if a == "active" {
                        style::OK
                    } else {
                        style::WARN
                    };
                    Cell::styled(format!("{e}, {a}"), st)
                }
                _ if s.installed && !doc.systemd_running => {
                    Cell::styled("systemd not running", style::WARN)
                }
                _ => dash(),
            };
            let result = match &s.last_result {
                Some(r) if r == "success" => Cell::styled(r.clone(), style::OK),
                Some(r) => Cell::styled(r.clone(), style::BAD),
                None => dash(),
            };
            t.row(vec![
                Cell::from(s.scope.name()),
                units,
                opt(&s.on_calendar),
                timer,
                opt(&s.next_run),
                opt(&s.last_run),
                result,
            ]);
        }
        let mut text = t.render();
        match (&doc.latest_report, &doc.latest_report_date) {
            (Some(p), Some(d)) => text.push_str(&format!("Latest report: {} ({d})\n", p.display())),
            _ => text.push_str("Latest report: none yet\n"),
        }
        if !doc.systemd_running {
            text.push_str(
                "systemd is not running on this machine: `xnai schedule install --dry-run` \
                 prints the crontab line to use instead.\n",
            );
        }
        output::print(&text)?;
    }
    Ok(if healthy { exit::OK } else { exit::FINDINGS })
}
