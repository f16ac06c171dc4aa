//! The error every command returns, with the exit code and the hint the CLI prints.
//!
//! Module errors carry what happened and where; this type adds what to do next. Messages never
//! contain secret values: they are built from positions, key paths and masked forms only.

use std::path::PathBuf;

use crate::config::ConfigError;

/// Exit codes, documented in the README.
pub mod exit {
    /// Everything checked out.
    pub const OK: i32 = 0;
    /// The command ran and found problems (an invalid or expired credential, ...).
    pub const FINDINGS: i32 = 1;
    /// Bad usage or a configuration error: nothing was checked.
    pub const USAGE: i32 = 2;
    /// `dispatch` and `run auto`: no account can take the task now, try later (EX_TEMPFAIL).
    pub const TRY_LATER: i32 = 75;
    /// `dispatch`: the agent was stopped at `--timeout`, as timeout(1) exits.
    pub const TIMED_OUT: i32 = 124;
    /// `run`, `dispatch`: xnai itself failed, as env(1) and timeout(1) use 125; any other code
    /// is the command's.
    pub const OWN_FAILURE: i32 = 125;
}

/// An error that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credential file could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line names something that does not exist or cannot be done.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// An account was refused because its credential is unusable (expired, invalid, ...).
    #[error("{message}")]
    Refused {
        /// Which account and why.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// A program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What xnai was doing ("writing", "creating directory", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage { .. } => exit::USAGE,
            Error::Refused { .. } => exit::FINDINGS,
            // As env(1), timeout(1) and shells do.
            Error::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Error::Spawn { .. } => 126,
            Error::Io { .. } => exit::USAGE,
        }
    }

    /// What the user should do next, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config(e) => e.hint.clone(),
            Error::Usage { hint, .. } | Error::Refused { hint, .. } => hint.clone(),
            Error::Spawn { program, source } => match source.kind() {
                std::io::ErrorKind::NotFound => {
                    Some(format!("is `{program}` installed and on PATH?"))
                }
                std::io::ErrorKind::PermissionDenied => {
                    Some(format!("`{program}` is not executable"))
                }
                _ => None,
            },
            Error::Io { source, path, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => Some(format!(
                    "check the permissions of {} and its parent directory",
                    path.display()
                )),
                _ => None,
            },
        }
    }
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
