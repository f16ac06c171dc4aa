//! Where xnai keeps its own data: `$XDG_DATA_HOME/xnai` (else `~/.local/share/xnai`), holding
//! `instances/<provider>/<account>/` and the SQLite ledger.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// xnai's data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory from the environment: `$XDG_DATA_HOME/xnai` when that is absolute,
    /// else `$HOME/.local/share/xnai`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let base = env("XDG_DATA_HOME")
            .filter(|v| Path::new(v).is_absolute())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })
            .ok_or_else(|| {
                Error::usage(
                    "cannot find xnai's data directory: HOME is not set and XDG_DATA_HOME is unset or relative",
                    Some("set HOME or an absolute XDG_DATA_HOME".to_string()),
                )
            })?;
        Ok(DataDir {
            root: base.join("xnai"),
        })
    }

    /// A data directory at an explicit path (tests).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where instances live.
    pub fn instances(&self) -> PathBuf {
        self.root.join("instances")
    }

    /// The SQLite ledger (runs now; usage, quota and dispatch state later).
    pub fn ledger(&self) -> PathBuf {
        self.root.join("xnai.db")
    }
}
