//! `${VAR}` expansion in string values, applied after YAML parsing so that a variable's value
//! can never change the document's structure.
//!
//! Supported forms, as in POSIX shells and docker compose:
//! - `${NAME}`: the variable's value; an error when unset.
//! - `${NAME:-default}`: the default when NAME is unset or empty.
//! - `${NAME-default}`: the default only when NAME is unset.
//! - `$${`: a literal `${`.
//!
//! Defaults may themselves contain `${...}`. A lone `$` is left alone (passwords contain them).

use zeroize::Zeroizing;

/// Why a value could not be expanded. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` with NAME unset and no default.
    Missing {
        /// The variable's name.
        var: String,
    },
    /// `${` without its closing `}`.
    Unclosed,
    /// `${...}` whose name is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadName,
}

/// The expanded value and the variables it read.
#[derive(Debug)]
pub struct Expanded {
    /// The value after expansion.
    pub value: Zeroizing<String>,
    /// Every variable that was looked up and set, in order.
    pub vars: Vec<String>,
}

/// Expands `input`, reading variables through `lookup` (the process environment in
/// production, a map in tests).
pub fn expand(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, ExpandError> {
    let mut vars = Vec::new();
    let value = expand_into(input, lookup, &mut vars)?;
    Ok(Expanded { value, vars })
}

/// True when `input` contains something [`expand`] would act on.
pub fn has_expansion(input: &str) -> bool {
    input.contains("${")
}

fn expand_into(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    vars: &mut Vec<String>,
) -> Result<Zeroizing<String>, ExpandError> {
    let mut out = Zeroizing::new(String::with_capacity(input.len()));
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && input[i..].starts_with("$${") {
            out.push_str("${");
            i += 3;
            continue;
        }
        if bytes[i] == b'$' && input[i..].starts_with("${") {
            let body_start = i + 2;
            let body_end = matching_brace(input, body_start).ok_or(ExpandError::Unclosed)?;
            let body = &input[body_start..body_end];
            out.push_str(&expand_reference(body, lookup, vars)?);
            i = body_end + 1;
            continue;
        }
        // Copy one UTF-8 character.
        let ch_len = input[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&input[i..i + ch_len]);
        i += ch_len;
    }
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `start`, counting nested `${`.
fn matching_brace(input: &str, start: usize) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut depth = 1usize;
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn expand_reference(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    vars: &mut Vec<String>,
) -> Result<Zeroizing<String>, ExpandError> {
    let name_len = body
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    let name = &body[..name_len];
    let rest = &body[name_len..];
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_name {
        return Err(ExpandError::BadName);
    }
    let (default, empty_counts_as_unset) = if let Some(d) = rest.strip_prefix(":-") {
        (Some(d), true)
    } else if let Some(d) = rest.strip_prefix('-') {
        (Some(d), false)
    } else if rest.is_empty() {
        (None, false)
    } else {
        return Err(ExpandError::BadName);
    };
    let found = lookup(name).map(Zeroizing::new);
    match (found, default) {
        (Some(v), Some(_)) if empty_counts_as_unset && v.is_empty() => {
            expand_into(default.unwrap_or(""), lookup, vars)
        }
        (Some(v), _) => {
            vars.push(name.to_string());
            Ok(v)
        }
        (None, Some(d)) => expand_into(d, lookup, vars),
        (None, None) => Err(ExpandError::Missing {
            var: name.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(input: &str, e: &HashMap<String, String>) -> Result<String, ExpandError> {
        let lookup = |k: &str| e.get(k).cloned();
        expand(input, &lookup).map(|x| x.value.to_string())
    }

    #[test]
    fn plain_variable() {
        let e = env(&[("TOKEN", "abc$`\"'\\\n")]);
        assert_eq!(run("${TOKEN}", &e).as_deref(), Ok("abc$`\"'\\\n"));
        assert_eq!(run("x-${TOKEN}-y", &e).as_deref(), Ok("x-abc$`\"'\\\n-y"));
    }

    #[test]
    fn missing_variable_is_named() {
        let e = env(&[]);
        assert_eq!(
            run("${NOPE}", &e),
            Err(ExpandError::Missing {
                var: "NOPE".to_string()
            })
        );
    }

    #[test]
    fn defaults() {
        let e = env(&[("EMPTY", ""), ("SET", "v")]);
        assert_eq!(run("${UNSET:-octo-one}", &e).as_deref(), Ok("octo-one"));
        assert_eq!(run("${EMPTY:-d}", &e).as_deref(), Ok("d"));
        assert_eq!(run("${EMPTY-d}", &e).as_deref(), Ok(""));
        assert_eq!(run("${UNSET-d}", &e).as_deref(), Ok("d"));
        assert_eq!(run("${SET:-d}", &e).as_deref(), Ok("v"));
        assert_eq!(run("${UNSET:-}", &e).as_deref(), Ok(""));
        assert_eq!(run("${UNSET:-${SET}}", &e).as_deref(), Ok("v"));
        assert_eq!(run("${UNSET:-a:b-c}", &e).as_deref(), Ok("a:b-c"));
    }

    #[test]
    fn literals_and_escapes() {
        let e = env(&[("A", "1")]);
        assert_eq!(run("$${A}", &e).as_deref(), Ok("${A}"));
        assert_eq!(run("pa$$word$", &e).as_deref(), Ok("pa$$word$"));
        assert_eq!(run("ünï${A}cødé", &e).as_deref(), Ok("ünï1cødé"));
    }

    #[test]
    fn malformed_references() {
        let e = env(&[]);
        assert_eq!(run("${A", &e), Err(ExpandError::Unclosed));
        assert_eq!(run("${1A}", &e), Err(ExpandError::BadName));
        assert_eq!(run("${}", &e), Err(ExpandError::BadName));
        assert_eq!(run("${A B}", &e), Err(ExpandError::BadName));
    }

    #[test]
    fn records_variables_read() {
        let e = env(&[("A", "1"), ("B", "2")]);
        let lookup = |k: &str| e.get(k).cloned();
        let x = expand("${A}${C:-${B}}", &lookup).expect("expand");
        assert_eq!(x.value.as_str(), "12");
        assert_eq!(x.vars, vec!["A".to_string(), "B".to_string()]);
    }

    #[test]
    fn expanded_value_is_not_reexpanded() {
        // A variable whose value looks like a reference stays literal.
        let e = env(&[("A", "${B}")]);
        assert_eq!(run("${A}", &e).as_deref(), Ok("${B}"));
    }
}
