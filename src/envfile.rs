//! `NAME=value` files (`--env-file`, `schedule.env`) read the way systemd reads
//! `EnvironmentFile=`: one assignment per line, `#` and `;` comments, values taken literally
//! (no `$` expansion, no command substitution), one pair of surrounding quotes removed.

use std::path::Path;

use crate::error::{Error, Result};

/// The assignments in `text`, in order. A line that is not an assignment is an error naming
/// its line number (never its content: it may hold a secret).
pub fn parse(text: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let bad = |why: &str| {
            Error::usage(
                format!("{}:{}: {why}", path.display(), n + 1),
                Some("write NAME=value, one per line".to_string()),
            )
        };
        let Some((name, value)) = line.split_once('=') else {
            return Err(bad("not a NAME=value line"));
        };
        let name = name.trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(bad("the name must be letters, digits and _"));
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| {
                value
                    .strip_prefix(*q)
                    .and_then(|v| v.strip_suffix(*q))
                    .filter(|_| value.len() >= 2)
            })
            .unwrap_or(value);
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Reads `path` (at most 1 MiB, private to its owner like the credential file unless
/// `insecure`); `None` when it does not exist.
pub fn read(path: &Path, insecure: bool) -> Result<Option<Vec<(String, String)>>> {
    let bytes = match crate::fsutil::read_regular(path, 1 << 20) {
        Ok(b) => b,
        Err(crate::fsutil::OpenError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => {
            return Err(Error::usage(
                format!("cannot read {}: {e}", path.display()),
                None::<String>,
            ));
        }
    };
    if !insecure
        && let Ok(problems) = crate::fsutil::check_private_file(path)
        && let Some(p) = problems.first()
    {
        return Err(Error::usage(
            format!("{}: {} (it holds secrets)", path.display(), p.describe()),
            Some(p.hint(path)),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::usage(
            format!("{} is not UTF-8 text", path.display()),
            None::<String>,
        )
    })?;
    parse(&text, path).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_literal_and_quotes_come_off() {
        let v = parse(
            "# comment\n; other\n\nA=1\n B = two words \nC=\"q $HOME `id`\"\nD='x'\nE=\nF=a=b\n",
            Path::new("f"),
        )
        .expect("parse");
        let want = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "q $HOME `id`"),
            ("D", "x"),
            ("E", ""),
            ("F", "a=b"),
        ];
        assert_eq!(
            v,
            want.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn bad_lines_name_the_line_not_the_content() {
        let e = parse("A=1\nsk-ant-secret\n", Path::new("f")).expect_err("bad");
        assert!(e.to_string().contains("f:2:"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(parse("1A=x\n", Path::new("f")).is_err());
        assert!(parse("export A=x\n", Path::new("f")).is_err());
    }
}
