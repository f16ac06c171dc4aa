//! Rendering environment variables for `eval` in each shell, quoted so that any value comes
//! back byte for byte. A value a format cannot hold is an error, never a broken line.

use std::fmt;

/// Output formats of `xnai env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShellKind {
    /// `export NAME='value'` (also right for sh, dash, ksh).
    Bash,
    /// Same syntax as bash.
    Zsh,
    /// `set -gx NAME 'value'`.
    Fish,
    /// PowerShell: `$env:NAME = 'value'`.
    Pwsh,
    /// `NAME='value'` lines for .env files.
    Dotenv,
    /// One JSON object.
    Json,
}

impl ShellKind {
    /// The format for `$SHELL` (its file name), bash-compatible when unknown.
    pub fn from_shell_path(shell: Option<&str>) -> ShellKind {
        let name = shell
            .and_then(|s| s.rsplit('/').next())
            .unwrap_or("")
            .to_ascii_lowercase();
        match name.as_str() {
            "zsh" => ShellKind::Zsh,
            "fish" => ShellKind::Fish,
            "pwsh" | "powershell" | "pwsh.exe" | "powershell.exe" => ShellKind::Pwsh,
            _ => ShellKind::Bash,
        }
    }
}

/// Why a variable cannot be written in a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// The variable.
    pub name: String,
    /// Why; never contains the value.
    pub reason: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write {}: {}", self.name, self.reason)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Renders `vars` for `kind`, then removes `unset` (variables that would select another
/// login). Names must be `[A-Za-z_][A-Za-z0-9_]*`; values must not contain NUL (no environment
/// can hold one).
pub fn render(
    kind: ShellKind,
    vars: &[(String, String)],
    unset: &[String],
) -> Result<String, RenderError> {
    for name in unset {
        if !valid_name(name) {
            return Err(RenderError {
                name: name.clone(),
                reason: "not a valid variable name".to_string(),
            });
        }
    }
    for (name, value) in vars {
        if !valid_name(name) {
            return Err(RenderError {
                name: name.clone(),
                reason: "not a valid variable name".to_string(),
            });
        }
        if value.contains('\0') {
            return Err(RenderError {
                name: name.clone(),
                reason: "the value contains a NUL byte, which no environment variable can hold"
                    .to_string(),
            });
        }
    }
    if kind == ShellKind::Json {
        // null: remove the variable.
        let map: serde_json::Map<String, serde_json::Value> = vars
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .chain(unset.iter().map(|k| (k.clone(), serde_json::Value::Null)))
            .collect();
        let mut s = serde_json::to_string_pretty(&map).map_err(|e| RenderError {
            name: String::new(),
            reason: e.to_string(),
        })?;
        s.push('\n');
        return Ok(s);
    }
    let mut out = String::new();
    for (name, value) in vars {
        let line = match kind {
            ShellKind::Bash | ShellKind::Zsh => format!("export {name}={}", posix_quote(value)),
            ShellKind::Fish => format!("set -gx {name} {}", fish_quote(value)),
            ShellKind::Pwsh => format!("$env:{name} = {}", pwsh_quote(value)),
            ShellKind::Dotenv => format!("{name}={}", dotenv_quote(name, value)?),
            ShellKind::Json => unreachable!("handled above"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for name in unset {
        let line = match kind {
            ShellKind::Bash | ShellKind::Zsh => format!("unset {name}"),
            ShellKind::Fish => format!("set -e {name}"),
            ShellKind::Pwsh => {
                format!("Remove-Item Env:{name} -ErrorAction SilentlyContinue")
            }
            // A .env file can only set; say what `xnai run` would remove.
            ShellKind::Dotenv => format!("# {name} is removed by xnai run"),
            ShellKind::Json => unreachable!("handled above"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// POSIX single quotes: everything is literal except `'`, written `'\''`.
pub fn posix_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// fish single quotes: only `\\` and `\'` are escapes.
fn fish_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell single quotes: literal, with every single-quote character doubled. PowerShell
/// also takes the typographic quotes U+2018..U+201B as single quotes, so they are doubled too.
fn pwsh_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('\'');
    for c in v.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            s.push(c);
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// .env files have no single standard. Plain values go in single quotes, literal in
/// python-dotenv, Node's dotenv and docker compose; values with a quote, a backslash or a
/// newline use double quotes with `\\`, `\"` and `\n`, which those three read alike, unless `$`
/// would then be interpolated.
fn dotenv_quote(name: &str, v: &str) -> Result<String, RenderError> {
    // python-dotenv reads `\\` and `\'` as escapes even inside single quotes, so values with a
    // backslash go in double quotes too.
    if !v.contains(['\'', '\\', '\n', '\r']) {
        return Ok(format!("'{v}'"));
    }
    if v.contains('$') || v.contains('\r') {
        return Err(RenderError {
            name: name.to_string(),
            reason: "the value mixes a quote or line break with '$' (or holds a carriage return), \
                     which .env readers disagree about; use --shell json or a shell format"
                .to_string(),
        });
    }
    let escaped = v
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n");
    Ok(format!("\"{escaped}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: ShellKind, v: &str) -> Result<String, RenderError> {
        render(kind, &[("X".to_string(), v.to_string())], &[])
    }

    #[test]
    fn unsets() {
        let set = [("A".to_string(), "1".to_string())];
        let unset = ["B".to_string()];
        assert_eq!(
            render(ShellKind::Bash, &set, &unset).as_deref(),
            Ok("export A='1'\nunset B\n")
        );
        assert_eq!(
            render(ShellKind::Fish, &set, &unset).as_deref(),
            Ok("set -gx A '1'\nset -e B\n")
        );
        assert_eq!(
            render(ShellKind::Json, &set, &unset).as_deref(),
            Ok("{\n  \"A\": \"1\",\n  \"B\": null\n}\n")
        );
    }

    #[test]
    fn bash_quoting() {
        assert_eq!(
            one(ShellKind::Bash, "a b").as_deref(),
            Ok("export X='a b'\n")
        );
        assert_eq!(
            one(ShellKind::Bash, "it's $HOME `x` \\").as_deref(),
            Ok("export X='it'\\''s $HOME `x` \\'\n")
        );
    }

    #[test]
    fn fish_quoting() {
        assert_eq!(
            one(ShellKind::Fish, "it's a\\b").as_deref(),
            Ok("set -gx X 'it\\'s a\\\\b'\n")
        );
    }

    #[test]
    fn pwsh_quoting() {
        assert_eq!(
            one(ShellKind::Pwsh, "it's ‘x’ $env:Y").as_deref(),
            Ok("$env:X = 'it''s ‘‘x’’ $env:Y'\n")
        );
    }

    #[test]
    fn dotenv_quoting() {
        assert_eq!(one(ShellKind::Dotenv, "a $b").as_deref(), Ok("X='a $b'\n"));
        assert_eq!(
            one(ShellKind::Dotenv, "a\\b").as_deref(),
            Ok("X=\"a\\\\b\"\n")
        );
        assert_eq!(
            one(ShellKind::Dotenv, "it's\nok \\ \"q\"").as_deref(),
            Ok("X=\"it's\\nok \\\\ \\\"q\\\"\"\n")
        );
        assert!(one(ShellKind::Dotenv, "it's $x").is_err());
    }

    #[test]
    fn json() {
        assert_eq!(
            one(ShellKind::Json, "a\"\n").as_deref(),
            Ok("{\n  \"X\": \"a\\\"\\n\"\n}\n")
        );
    }

    #[test]
    fn unrepresentable_values_are_errors() {
        for k in [
            ShellKind::Bash,
            ShellKind::Fish,
            ShellKind::Pwsh,
            ShellKind::Dotenv,
            ShellKind::Json,
        ] {
            let e = one(k, "a\0b").expect_err("NUL");
            assert!(e.reason.contains("NUL"));
        }
        let e = render(ShellKind::Bash, &[("1X".into(), "v".into())], &[]).expect_err("name");
        assert_eq!(e.to_string(), "cannot write 1X: not a valid variable name");
    }

    #[test]
    fn shell_from_path() {
        assert_eq!(
            ShellKind::from_shell_path(Some("/usr/bin/fish")),
            ShellKind::Fish
        );
        assert_eq!(ShellKind::from_shell_path(Some("/bin/zsh")), ShellKind::Zsh);
        assert_eq!(
            ShellKind::from_shell_path(Some("/opt/pwsh")),
            ShellKind::Pwsh
        );
        assert_eq!(
            ShellKind::from_shell_path(Some("/bin/dash")),
            ShellKind::Bash
        );
        assert_eq!(ShellKind::from_shell_path(None), ShellKind::Bash);
    }
}
