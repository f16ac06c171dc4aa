//! `xnai init`: write the commented template, privately, never over an existing file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::Ctx;
use crate::config::template::TEMPLATE;
use crate::error::{Error, Result, exit};
use crate::{fsutil, output};

/// Arguments of `xnai init`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32> {
    let path = &ctx.config_path;
    if path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir() {
        return Err(Error::usage(
            format!("{} is a directory, not a file name", path.display()),
            Some(format!(
                "give the file itself, e.g. --config {}",
                path.join("credentials.yaml").display()
            )),
        ));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let what = if meta.file_type().is_symlink() && !path.exists() {
            "is a symbolic link to a file that does not exist"
        } else {
            "already exists"
        };
        return Err(Error::usage(
            format!("{} {what}; not overwriting it", path.display()),
            Some("edit it, or move it away first to get a fresh template".to_string()),
        ));
    }
    fsutil::write_atomic(path, TEMPLATE.as_bytes(), false)?;
    let msg = format!(
        "created {} (mode 0600)\nnext: add your accounts, then run `xnai accounts` and `xnai check`\n",
        path.display()
    );
    if let Some(dir) = path.parent()
        && let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        output::warn(&format!(
            "{} is accessible to other users (mode {:04o}); consider: chmod 700 {}",
            dir.display(),
            meta.permissions().mode() & 0o7777,
            fsutil::shell_quote(&dir.display().to_string())
        ));
    }
    if let Some(advice) = git_ignore_advice(path) {
        output::warn(&advice);
    }
    output::print(&msg)?;
    Ok(exit::OK)
}

/// When `path` is inside a git work tree and not ignored, says how to ignore it.
fn git_ignore_advice(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    let top = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let top = String::from_utf8_lossy(&top.stdout).trim().to_string();
    let ignored = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["check-ignore", "-q", "--"])
        .arg(path)
        .status()
        .ok()?;
    if ignored.success() {
        return None;
    }
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let rel = canonical
        .strip_prefix(&top)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    Some(format!(
        "{} is inside the git work tree {top} and is NOT ignored: a commit could publish your credentials.\n  ignore it with: echo {} >> {}",
        path.display(),
        fsutil::shell_quote(&format!("/{}", gitignore_escape(&rel))),
        fsutil::shell_quote(&format!("{top}/.gitignore")),
    ))
}

/// Escapes gitignore pattern characters so the line matches exactly this path.
fn gitignore_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '!' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    // Trailing spaces are ignored by git unless escaped.
    if out.ends_with(' ') {
        out.pop();
        out.push_str("\\ ");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::gitignore_escape;

    #[test]
    fn escapes_pattern_characters() {
        assert_eq!(gitignore_escape("conf/x*[1].yaml"), "conf/x\\*\\[1\\].yaml");
        assert_eq!(gitignore_escape("a/b.yaml"), "a/b.yaml");
        assert_eq!(gitignore_escape("a "), "a\\ ");
    }
}
