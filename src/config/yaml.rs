//! A YAML document as a tree of nodes that remember their line and column.
//!
//! The YAML grammar is handled by `serde-saphyr`; this module only keeps the result in a shape
//! the schema walker can use for precise errors (`file:line:col`, key paths, "did you mean").
//! Parser messages are rewritten so that they never quote the document: a syntax error on the
//! line that holds a secret must not print the secret.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use zeroize::Zeroizing;

/// One YAML node with its position (1-based line and column).
#[derive(Debug)]
pub struct Node {
    /// The node's value.
    pub value: Value,
    /// 1-based line of the node, 0 when unknown.
    pub line: u32,
    /// 1-based column of the node, 0 when unknown.
    pub col: u32,
    /// The node's source text for plain scalars that YAML typed as numbers or booleans, so a
    /// string field given `version: 2.0` keeps "2.0" rather than the float's spelling.
    pub raw: Option<String>,
    /// Byte offset of a null value, to tell `key:` from `key: !tag`.
    null_offset: Option<usize>,
}

/// A mapping key with its position.
#[derive(Debug)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// A YAML value.
#[derive(Debug)]
pub enum Value {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string; zeroed on drop because it may be a credential.
    Str(Zeroizing<String>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// What kind of value this is, for "expected a string, found a mapping" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error, already stripped of any quoted document text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line, 0 when the parser gave none.
    pub line: u32,
    /// 1-based column, 0 when the parser gave none.
    pub col: u32,
    /// What is wrong, without document text.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Parses one YAML document. An empty document gives `Value::Null`.
pub fn parse(src: &str) -> Result<Node, SyntaxError> {
    let opts = serde_saphyr::options! { with_snippet: false };
    match serde_saphyr::from_str_with_options::<Option<Spanned<RawNode>>>(src, opts) {
        Ok(Some(root)) => {
            let node = convert(root, src);
            match find_tagged_null(&node, src) {
                Some((line, col)) => Err(SyntaxError {
                    line,
                    col,
                    message: "a value starting with '!' or '&' is read by YAML as a tag or \
                              anchor, which leaves the value empty"
                        .to_string(),
                    hint: Some("put the value in quotes".to_string()),
                }),
                None => Ok(node),
            }
        }
        Ok(None) => Ok(Node {
            value: Value::Null,
            line: 1,
            col: 1,
            raw: None,
            null_offset: None,
        }),
        Err(err) => {
            let (line, col) = err
                .location()
                .map(|l| (clamp(l.line()), clamp(l.column())))
                .unwrap_or((0, 0));
            let (message, hint) = explain(&sanitize_parser_message(&err.to_string()));
            Err(SyntaxError {
                line,
                col,
                message,
                hint,
            })
        }
    }
}

/// Rewrites the parser's developer-facing messages (which name its own API) for users.
fn explain(msg: &str) -> (String, Option<String>) {
    let syntax_hint = Some(
        "fix the YAML syntax at that position (quote values containing ': ' or ' #')".to_string(),
    );
    let rules: &[(&str, &str, &str)] = &[
        (
            "multiple YAML documents",
            "the file holds more than one YAML document",
            "remove the '---' separator and keep a single document",
        ),
        (
            "recursive references",
            "an alias refers to itself",
            "remove the recursive '*alias'",
        ),
        (
            "budget breached",
            "the document is too large or too deeply nested (limits that protect against alias bombs)",
            "simplify the file: fewer aliases, less nesting",
        ),
        (
            "cannot deserialize null",
            "a mapping key is empty or null (~)",
            "give every key a name",
        ),
        (
            "non-finite float",
            "infinite or NaN numbers are not allowed",
            "write a finite number, or quote the value",
        ),
        (
            "duplicate mapping key",
            "the same key appears twice in one mapping",
            "remove or rename one of them",
        ),
    ];
    for (needle, message, hint) in rules {
        if msg.contains(needle) {
            return (message.to_string(), Some(hint.to_string()));
        }
    }
    (msg.to_string(), syntax_hint)
}

/// The position of a null value written as a bare tag or anchor (`key: !secret` or
/// `key: &secret`): YAML takes the text for a tag, and the user's value silently vanishes.
fn find_tagged_null(node: &Node, src: &str) -> Option<(u32, u32)> {
    match &node.value {
        Value::Null => {
            let offset = node.null_offset?;
            let before = src.get(..offset)?;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let last = before[line_start..].split_whitespace().last()?;
            let last = last.trim_start_matches(['{', '[', ',']);
            (last.starts_with('!') || last.starts_with('&')).then_some((node.line, node.col))
        }
        Value::Seq(items) => items.iter().find_map(|n| find_tagged_null(n, src)),
        Value::Map(entries) => entries.iter().find_map(|(_, n)| find_tagged_null(n, src)),
        _ => None,
    }
}

fn clamp(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Keeps only the parser's own words. Parser messages may embed document text after a colon
/// (`duplicate mapping key: <key>`) or in quotes; both are cut, and the position suffix is
/// dropped because we print our own `file:line:col`.
fn sanitize_parser_message(msg: &str) -> String {
    let mut s = msg;
    if let Some(i) = s.find(" at line ") {
        s = &s[..i];
    }
    if let Some(i) = s.find(": ") {
        s = &s[..i];
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' || c == '`' {
            // Keep a quoted single character (`'['`), drop anything longer.
            let quoted: String = chars.by_ref().take_while(|&d| d != c).collect();
            if quoted.chars().count() <= 1 {
                out.push(c);
                out.push_str(&quoted);
                out.push(c);
            } else {
                out.push_str("(text omitted)");
            }
        } else {
            out.push(c);
        }
    }
    let out = out.trim().to_string();
    if out.is_empty() {
        "invalid YAML".to_string()
    } else {
        out
    }
}

fn convert(sp: Spanned<RawNode>, src: &str) -> Node {
    let line = clamp(sp.referenced.line());
    let col = clamp(sp.referenced.column());
    let span = sp.referenced.span();
    let raw_text = || -> Option<String> {
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        src.get(start..start.checked_add(len)?).map(str::to_string)
    };
    let null_offset = matches!(sp.value, RawNode::Null)
        .then(|| span.byte_offset().and_then(|o| usize::try_from(o).ok()))
        .flatten();
    let (value, raw) = match sp.value {
        RawNode::Null => (Value::Null, None),
        RawNode::Bool(b) => (Value::Bool(b), raw_text()),
        RawNode::Int(i) => (Value::Int(i), raw_text()),
        RawNode::Float(f) => (Value::Float(f), raw_text()),
        RawNode::Str(s) => (Value::Str(s), None),
        RawNode::Seq(items) => (
            Value::Seq(items.into_iter().map(|n| convert(n, src)).collect()),
            None,
        ),
        RawNode::Map(entries) => (
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = Key {
                            name: k.value,
                            line: clamp(k.referenced.line()),
                            col: clamp(k.referenced.column()),
                        };
                        (key, convert(v, src))
                    })
                    .collect(),
            ),
            None,
        ),
    };
    Node {
        value,
        line,
        col,
        raw,
        null_offset,
    }
}

/// The serde-facing tree; `Spanned` captures positions while `serde-saphyr` drives it.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Zeroizing<String>),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<String>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawNode::Int(i),
            Err(_) => RawNode::Str(Zeroizing::new(v.to_string())),
        })
    }
    fn visit_i128<E>(self, v: i128) -> Result<RawNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawNode::Int(i),
            Err(_) => RawNode::Str(Zeroizing::new(v.to_string())),
        })
    }
    fn visit_u128<E>(self, v: u128) -> Result<RawNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawNode::Int(i),
            Err(_) => RawNode::Str(Zeroizing::new(v.to_string())),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(Zeroizing::new(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(Zeroizing::new(v)))
    }
    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> Result<RawNode, E> {
        Err(E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = a.next_key::<Spanned<String>>()? {
            let value = a.next_value()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_get<'a>(n: &'a Node, k: &str) -> &'a Node {
        match &n.value {
            Value::Map(m) => &m.iter().find(|(key, _)| key.name == k).expect("key").1,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_are_recorded() {
        let n = parse("a:\n  b: hello\n  c: [1, 2]\n").expect("parse");
        let b = map_get(map_get(&n, "a"), "b");
        assert_eq!((b.line, b.col), (2, 6));
        assert!(matches!(&b.value, Value::Str(s) if s.as_str() == "hello"));
        let c = map_get(map_get(&n, "a"), "c");
        assert!(matches!(&c.value, Value::Seq(v) if v.len() == 2));
    }

    #[test]
    fn numbers_keep_their_source_spelling() {
        let n = parse("version: 2.0\nlimit: 050\n").expect("parse");
        let v = map_get(&n, "version");
        assert!(matches!(v.value, Value::Float(_)));
        assert_eq!(v.raw.as_deref(), Some("2.0"));
    }

    #[test]
    fn empty_document_is_null() {
        assert!(matches!(parse("").expect("parse").value, Value::Null));
        assert!(matches!(
            parse("# only a comment\n").expect("parse").value,
            Value::Null
        ));
    }

    #[test]
    fn syntax_errors_never_quote_the_document() {
        let cases = [
            "a:\n  b: \"sk-CANARY-1234\n  c: 1\n",
            "a:\n  b: sk-CANARY-1234: x: y\n",
            "a:\n  b: [sk-CANARY-1234\n",
            "sk-CANARY-1234: 1\nsk-CANARY-1234: 2\n",
            "a: *sk-CANARY-1234\n",
            "a: !!int sk-CANARY-1234\n",
            "a:\n\tb: sk-CANARY-1234\n",
        ];
        for src in cases {
            let err = parse(src).expect_err(src);
            assert!(!err.message.contains("CANARY"), "{src:?} -> {err:?}");
            assert!(err.line >= 1, "{src:?} -> {err:?}");
        }
    }

    #[test]
    fn values_swallowed_as_tags_or_anchors_are_errors() {
        for src in [
            "a: !CANARYsecret\n",
            "a: &CANARYsecret\nb: 1\n",
            "a: {x: !CANARYsecret}\n",
            "a: [!CANARYsecret]\n",
            "a: &x !CANARYsecret\n",
        ] {
            let err = parse(src).expect_err(src);
            assert!(err.message.contains("tag or anchor"), "{src:?}: {err:?}");
            assert!(!err.message.contains("CANARY"));
            assert_eq!(err.hint.as_deref(), Some("put the value in quotes"));
        }
        // Plain nulls and quoted values are fine.
        for src in [
            "a:\nb: ~\nc: null\n",
            "a: \"!x\"\n",
            "a: '&x'\n",
            "a: [~, 1]\n",
        ] {
            assert!(parse(src).is_ok(), "{src:?}");
        }
    }

    #[test]
    fn parser_messages_are_rewritten_for_users() {
        let e = parse("a: 1\n---\nb: 2\n").expect_err("two docs");
        assert_eq!(e.message, "the file holds more than one YAML document");
        let e = parse("a: 1\na: 2\n").expect_err("dup");
        assert_eq!(e.message, "the same key appears twice in one mapping");
        let e = parse("a: .nan\n").expect_err("nan");
        assert_eq!(e.message, "infinite or NaN numbers are not allowed");
    }

    #[test]
    fn many_comments_are_fine() {
        let mut src = String::from("credentials:\n");
        for i in 0..500 {
            src.push_str(&format!("  # comment {i}\n"));
        }
        src.push_str("  cline:\n    api_key: x\n");
        let n = parse(&src).expect("parse");
        assert!(matches!(
            map_get(map_get(&n, "credentials"), "cline").value,
            Value::Map(_)
        ));
    }

    #[test]
    fn syntax_error_position() {
        let err = parse("a:\n  b: \"unterminated\n").expect_err("must fail");
        assert_eq!(err.line, 2);
        assert_eq!(err.message, "unclosed quote");
    }
}
