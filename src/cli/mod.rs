//! The command line: argument parsing and one file per subcommand. Subcommands turn library
//! results into tables or JSON; they hold no provider knowledge.

mod accounts;
mod audit;
mod check;
mod dispatch;
mod env;
mod import;
mod init;
mod login;
mod run;
mod schedule;
mod status;
mod usage;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, Loaded};
use crate::error::{Error, Result, exit};
use crate::output;

const EXIT_CODES: &str = "\
Environment:
  XNAI_CONFIG                        credential file, when --config is not given
  XNAI_DATA_DIR                      xnai's data directory, when --data-dir is not given
  XNAI_<PROVIDER>_<ACCOUNT>_<FIELD>  overrides one field of one account
  XNAI_SYSTEMCTL                     the systemctl `xnai schedule` runs
  NO_COLOR                           no colour in tables

Exit codes:
  0  success (check: every enabled account is valid, expiring_soon or unverifiable)
  1  findings (check: an enabled account is expired, not yet valid, invalid or empty;
     audit --fail-on: an alert at that level; schedule: not installed or not healthy)
  2  usage or configuration error (nothing was checked)
  run and dispatch pass on the command's own code; 125 is their own failure, and
  75 (dispatch, run auto) means no account can take the task now: try later";

/// xnai: one pool for all your AI coding-agent accounts.
#[derive(Debug, Parser)]
#[command(name = "xnai", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Credential file [default: $XNAI_CONFIG, else $XDG_CONFIG_HOME/xnai/credentials.yaml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Load the credential file even when other users can read it (prints a warning)
    #[arg(long, global = true)]
    pub insecure_permissions: bool,

    /// xnai's data directory: instances, ledger, reports [default: $XNAI_DATA_DIR, else
    /// $XDG_DATA_HOME/xnai]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Set the variables in FILE (NAME=value lines, taken literally, as systemd's
    /// EnvironmentFile= reads them) before anything else; skipped when FILE does not exist
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented credential file template (never overwrites)
    Init(init::Args),
    /// List every provider/account with its masked credential and where it came from
    Accounts(accounts::Args),
    /// Validate every credential offline: format, checksum, expiry, JWT signature
    Check(check::Args),
    /// Print the variables that log a shell into one account (eval "$(xnai env p/a)")
    Env(env::Args),
    /// Run a command logged into one account, in that account's instance directory
    Run(run::Args),
    /// Add an account from a tool's existing login (no secret to paste)
    Import(import::Args),
    /// Log an account in with the tool's own login command, inside its instance
    Login(login::Args),
    /// Token usage from the agents' own logs: totals by day/week/month/account/model, 5-hour blocks
    Usage(usage::Args),
    /// The daily audit: quota windows, burn rate, projections and alerts, written as a report
    Audit(audit::Args),
    /// Every account on one screen: credential, usage bar per quota window, burn, next reset
    Status(status::Args),
    /// Run the audit daily: a systemd timer (user or system), or a crontab line without systemd
    Schedule(schedule::Args),
    /// Run a task on the best account of a chain; rotate on rate limits, quota and auth failures
    Dispatch(dispatch::Args),
}

/// Shared state for subcommands.
pub struct Ctx {
    /// Resolved credential file path.
    pub config_path: PathBuf,
    /// `--insecure-permissions`.
    pub insecure_permissions: bool,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// The process environment, as the library's lookups take it. A value that is not UTF-8 is
/// passed on with replacement characters, so it fails validation visibly instead of being
/// taken for unset.
pub(crate) fn env_lookup(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Names of the variables in the process environment.
pub(crate) fn caller_env_names() -> Vec<String> {
    std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect()
}

impl Ctx {
    /// Loads the credential file, or the template's settings when it does not exist yet
    /// (`import` and `login` on a fresh machine create it once they succeed).
    pub fn load_or_template(&self) -> Result<Loaded> {
        if std::fs::symlink_metadata(&self.config_path).is_ok() {
            return self.load();
        }
        let config = config::load_str(config::template::TEMPLATE, &self.config_path, &env_lookup)?;
        Ok(Loaded {
            config,
            warnings: Vec::new(),
        })
    }

    /// xnai's data directory (instances, ledger).
    pub fn data_dir(&self) -> Result<crate::paths::DataDir> {
        let explicit = self.data_dir.clone().or_else(|| {
            env_lookup("XNAI_DATA_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        match explicit {
            Some(p) if p.is_absolute() => Ok(crate::paths::DataDir::at(p)),
            Some(p) => {
                let cwd = std::env::current_dir()
                    .map_err(|e| Error::io("finding the current directory for", &p, e))?;
                Ok(crate::paths::DataDir::at(cwd.join(p)))
            }
            None => crate::paths::DataDir::from_env(&env_lookup),
        }
    }

    /// Loads the credential file, printing load warnings to stderr.
    pub fn load(&self) -> Result<Loaded> {
        let loaded = config::load(&config::LoadOptions {
            path: self.config_path.clone(),
            insecure_permissions: self.insecure_permissions,
            env: &env_lookup,
        })?;
        let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
        for w in loaded
            .warnings
            .iter()
            .cloned()
            .chain(config::stray_override_warnings(&loaded.config, names))
        {
            output::warn(&w);
        }
        Ok(loaded)
    }
}

/// Whether `v` is exactly `YYYY-MM-DD`. jiff's `Date` parser also accepts a whole RFC 3339
/// timestamp (taking its date part), so it cannot tell a day from an instant on its own.
fn is_plain_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// Parses a day (`YYYY-MM-DD`, UTC) or an RFC 3339 instant as Unix ms. A day is its start,
/// or with `end_of_day` the start of the next day.
pub(crate) fn parse_instant(v: &str, end_of_day: bool) -> Result<i64> {
    let v = v.trim();
    // Echo only what looks like an attempt at a date: anything else may be a pasted secret.
    // A short word (`now`, `yesterday`) is no secret either.
    let word = !v.is_empty() && v.len() <= 12 && v.chars().all(|c| c.is_ascii_alphabetic());
    let shown = if word
        || v.len() <= 40
            && v.chars()
                .all(|c| c.is_ascii_digit() || "-:TtZz.+ ".contains(c))
    {
        format!("`{v}`")
    } else {
        "the value given".to_string()
    };
    let out_of_range = || {
        Error::usage(
            format!(
                "{shown} is out of range: xnai handles instants up to {}",
                jiff::Timestamp::MAX.strftime("%Y-%m-%dT%H:%M:%SZ")
            ),
            Some("give a date in the range, for example 2026-09-01".to_string()),
        )
    };
    if is_plain_date(v) {
        if let Ok(d) = v.parse::<jiff::civil::Date>() {
            // A real calendar day whose midnight (UTC) jiff cannot represent: 9999-12-31.
            let Ok(z) = d
                .to_datetime(jiff::civil::Time::midnight())
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            else {
                return Err(out_of_range());
            };
            let ms = z.timestamp().as_millisecond();
            return Ok(if end_of_day { ms + 86_400_000 } else { ms });
        }
    } else if let Ok(ts) = v.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    } else if jiff::fmt::temporal::Pieces::parse(v).is_ok_and(|p| p.offset().is_some()) {
        // Well-formed, with an offset, yet no timestamp: beyond the representable range.
        return Err(out_of_range());
    }
    Err(Error::usage(
        format!("{shown} is not a date (YYYY-MM-DD) or an RFC 3339 time"),
        Some(if word {
            "words and relative times are not read; give a date or an instant, for example \
             2026-09-01 or 2026-09-01T12:00:00Z (`date -u -d yesterday +%F` prints yesterday's)"
                .to_string()
        } else {
            "for example 2026-09-01 or 2026-09-01T12:00:00Z".to_string()
        }),
    ))
}

/// `--as-of`: a day (exactly `YYYY-MM-DD`) means its last millisecond (the whole day's usage
/// counts), an RFC 3339 instant means itself.
pub(crate) fn parse_as_of(v: &str) -> Result<i64> {
    if is_plain_date(v.trim()) {
        return Ok(parse_instant(v, true)? - 1);
    }
    parse_instant(v, false)
}

/// The subcommand named on a command line that failed to parse (skipping global options).
fn subcommand_of(mut args: impl Iterator<Item = String>) -> Option<String> {
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "--data-dir" | "--env-file" => {
                args.next();
            }
            s if s.starts_with("--config=")
                || s.starts_with("--data-dir=")
                || s.starts_with("--env-file=")
                || s == "--insecure-permissions" => {}
            s => return Some(s.to_string()),
        }
    }
    None
}

fn resolve_config_path(cli: &Cli) -> Result<PathBuf> {
    if let Some(p) = &cli.config {
        return Ok(p.clone());
    }
    // An empty XNAI_CONFIG is unset, as shells treat `XNAI_CONFIG= xnai ...`.
    if let Some(p) = env_lookup("XNAI_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    config::default_path(&env_lookup).ok_or_else(|| {
        Error::usage(
            "cannot find the default credential file: HOME is not set, and XDG_CONFIG_HOME is \
             unset or relative (a relative one is ignored, as the XDG spec says)",
            Some("pass --config FILE or set XNAI_CONFIG".to_string()),
        )
    })
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if !e.use_stderr() {
                exit::OK
            } else if matches!(
                subcommand_of(std::env::args().skip(1)).as_deref(),
                Some("run" | "dispatch")
            ) {
                // `xnai run`'s own failures must not look like the command's exit code.
                run::OWN_FAILURE
            } else {
                exit::USAGE
            };
            let _ = e.print();
            // A prompt or command without `--` before it is the most common slip.
            if e.kind() == clap::error::ErrorKind::UnknownArgument {
                let tip = match subcommand_of(std::env::args().skip(1)).as_deref() {
                    Some("dispatch") => {
                        Some("the prompt goes after --: xnai dispatch -- \"fix the test\"")
                    }
                    Some("run") => {
                        Some("the command goes after --: xnai run PROVIDER/ACCOUNT -- claude")
                    }
                    Some("login") => Some("the login tool's own arguments go after --"),
                    _ => None,
                };
                if let Some(tip) = tip {
                    let _ = std::io::Write::write_fmt(
                        &mut anstream::stderr(),
                        format_args!("tip: {tip}\n"),
                    );
                }
            }
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            output::error(&e.to_string(), e.hint().as_deref());
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    if let Some(f) = &cli.env_file {
        for (name, value) in crate::envfile::read(f, cli.insecure_permissions)?.unwrap_or_default()
        {
            // SAFETY: xnai has started no thread yet, so nothing reads the environment
            // concurrently.
            unsafe { std::env::set_var(name, value) };
        }
    }
    let ctx = Ctx {
        config_path: resolve_config_path(&cli)?,
        insecure_permissions: cli.insecure_permissions,
        data_dir: cli.data_dir.clone(),
    };
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Accounts(a) => accounts::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Env(a) => env::run(&ctx, a),
        Command::Run(a) => run::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Login(a) => login::run(&ctx, a),
        Command::Usage(a) => usage::run(&ctx, a),
        Command::Audit(a) => audit::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Schedule(a) => schedule::run(&ctx, a),
        Command::Dispatch(a) => dispatch::run(&ctx, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or(i64::MIN)
    }

    #[test]
    fn as_of_takes_an_instant_with_an_offset_as_that_instant() {
        // Read as a date, this was the last millisecond of 29 November: a whole day later.
        assert_eq!(
            parse_as_of("2026-11-29T00:00:00+00:00").ok(),
            Some(ms("2026-11-29T00:00:00Z"))
        );
        assert_eq!(
            parse_as_of("2026-11-29T01:00:00+01:00").ok(),
            Some(ms("2026-11-29T00:00:00Z"))
        );
        assert_eq!(
            parse_as_of("2026-11-28").ok(),
            Some(ms("2026-11-29T00:00:00Z") - 1)
        );
        // A civil time without an offset is neither: refused, not taken for its date.
        assert!(parse_as_of("2026-11-29T00:00:00").is_err());
    }

    #[test]
    fn a_date_beyond_the_range_is_out_of_range_not_malformed() {
        for v in ["9999-12-31", "9999-12-31T12:00:00Z"] {
            let e = parse_as_of(v)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("out of range"), "{v}: {e}");
            assert!(!e.contains("not a date"), "{v}: {e}");
        }
        let e = parse_as_of("2026-13-01").err().map(|e| e.to_string());
        assert!(
            e.as_deref().unwrap_or_default().contains("not a date"),
            "{e:?}"
        );
    }

    #[test]
    fn a_word_is_named_but_a_pasted_secret_is_not() {
        let e = parse_as_of("yesterday").err();
        assert_eq!(
            e.as_ref().map(ToString::to_string).as_deref(),
            Some("`yesterday` is not a date (YYYY-MM-DD) or an RFC 3339 time")
        );
        assert!(
            e.and_then(|e| e.hint())
                .is_some_and(|h| h.contains("relative times"))
        );
        let e = parse_as_of("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            e,
            "the value given is not a date (YYYY-MM-DD) or an RFC 3339 time"
        );
    }
}
