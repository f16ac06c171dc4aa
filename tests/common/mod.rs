//! Helpers shared by the CLI tests: a private temp home and an `xnai` command that sees only
//! the environment the test gives it.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary HOME with XDG directories under it.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Home {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A home outside /tmp (under cargo's target/tmp), for what a service with a private /tmp
    /// must see.
    pub fn outside_tmp() -> Self {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(base).expect("target tmp");
        Home {
            dir: tempfile::tempdir_in(base).expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a credential file with mode 0600 and returns its path.
    pub fn config(&self, text: &str) -> PathBuf {
        self.config_with_mode(text, 0o600)
    }

    pub fn config_with_mode(&self, text: &str, mode: u32) -> PathBuf {
        let p = self.path().join("credentials.yaml");
        std::fs::write(&p, text).expect("write config");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    /// `xnai` with a clean environment: PATH, HOME and XDG dirs inside this home, NO_COLOR.
    pub fn xnai(&self) -> Command {
        let mut c = Command::cargo_bin("xnai").expect("binary");
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join(".config"))
            .env("XDG_DATA_HOME", self.path().join(".local/share"))
            .env("NO_COLOR", "1")
            .current_dir(self.path());
        c
    }
}

impl Home {
    /// Like [`Home::xnai`], as a plain `std::process::Command` (to spawn several at once).
    pub fn xnai_std(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("xnai"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join(".config"))
            .env("XDG_DATA_HOME", self.path().join(".local/share"))
            .env("NO_COLOR", "1")
            .current_dir(self.path());
        c
    }
}

/// Output of a finished command as text.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Out {
    let o = cmd.output().expect("run xnai");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A checksum-valid GitHub token.
pub fn github_token(prefix: &str, random30: &str) -> String {
    xnai::token::github::make_token(prefix, random30)
}

/// The repository's examples directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}
