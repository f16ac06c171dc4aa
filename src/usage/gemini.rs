//! Gemini CLI: `<home>/.gemini/tmp/<project>/chats/` — `*.json` (a session document with
//! `messages[]`) and the newer `*.jsonl` (a header line, one line per message, `$set` lines).
//!
//! Messages of type `gemini` carry `tokens` {input, output, cached, thoughts, tool, total}.
//! Gemini counts cached tokens inside `input`, and thoughts and tool-use prompt tokens apart
//! from both: total = input + output + thoughts + tool.

use std::path::Path;

use serde_json::Value;

use super::{Corrupt, Event, FileKind, FileState, LogFormat, Output, parse_ms, stable_hash};

/// The JSON session documents.
#[derive(Debug)]
pub struct GeminiJson;

/// The JSONL session logs.
#[derive(Debug)]
pub struct GeminiJsonl;

/// Reader of `*.json` chats.
pub static JSON: GeminiJson = GeminiJson;
/// Reader of `*.jsonl` chats.
pub static JSONL: GeminiJsonl = GeminiJsonl;

fn in_chats(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "chats")
}

fn session_of(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One message; `None` when it carries no usage.
fn event(session: &str, m: &Value) -> Result<Option<Event>, Corrupt> {
    if m.get("type").and_then(Value::as_str) != Some("gemini") {
        return Ok(None);
    }
    let Some(t) = m.get("tokens").filter(|t| t.is_object()) else {
        return Ok(None);
    };
    let n = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (input, output, cached, thoughts, tool) = (
        n("input"),
        n("output"),
        n("cached"),
        n("thoughts"),
        n("tool"),
    );
    if super::sum(&[input, output, thoughts, tool]) == 0 {
        return Ok(None);
    }
    let ts = m
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_ms)
        .ok_or(Corrupt)?;
    let id = m.get("id").and_then(Value::as_str).unwrap_or("");
    let total = super::sum(&[input, output, thoughts, tool]);
    Ok(Some(Event {
        key: stable_hash(&[b"gemini", session.as_bytes(), id.as_bytes()]),
        revision: i64::try_from(total).unwrap_or(i64::MAX),
        timestamp_ms: ts,
        model: std::sync::Arc::from(m.get("model").and_then(Value::as_str).unwrap_or("")),
        input: input.saturating_sub(cached).saturating_add(tool),
        output: output + thoughts,
        cache_read: cached,
        cache_write: 0,
        reasoning: thoughts,
        cost_usd: None,
        requests: 1,
    }))
}

impl LogFormat for GeminiJson {
    fn tool(&self) -> &'static str {
        "gemini"
    }
    fn kind(&self) -> FileKind {
        FileKind::Whole
    }
    fn wants(&self, path: &Path) -> bool {
        in_chats(path) && path.extension().is_some_and(|e| e == "json")
    }
    fn parse_file(&self, path: &Path, out: &mut Output) -> Result<(), String> {
        let bytes =
            crate::fsutil::read_regular(path, 256 * 1024 * 1024).map_err(|e| e.to_string())?;
        let v: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                out.corrupt += 1;
                return Err(format!(
                    "not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ));
            }
        };
        let session = v
            .get("sessionId")
            .and_then(Value::as_str)
            .map_or_else(|| session_of(path), str::to_string);
        for m in v
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match event(&session, m) {
                Ok(Some(e)) => out.push(e),
                Ok(None) => {}
                Err(Corrupt) => out.corrupt += 1,
            }
        }
        Ok(())
    }
}

impl LogFormat for GeminiJsonl {
    fn tool(&self) -> &'static str {
        "gemini"
    }
    fn kind(&self) -> FileKind {
        FileKind::Lines
    }
    fn wants(&self, path: &Path) -> bool {
        in_chats(path) && path.extension().is_some_and(|e| e == "jsonl")
    }
    fn prefilter(&self) -> Option<&'static [u8]> {
        Some(b"\"tokens\"")
    }
    fn parse_line(
        &self,
        line: &[u8],
        file: &Path,
        state: &mut FileState,
        out: &mut Output,
    ) -> Result<(), Corrupt> {
        let v: Value = serde_json::from_slice(line).map_err(|_| Corrupt)?;
        let session = state
            .entry("session".to_string())
            .or_insert_with(|| session_of(file))
            .clone();
        if let Some(e) = event(&session, &v)? {
            out.push(e);
        }
        Ok(())
    }
}
