//! OpenCode: `<data>/opencode/storage/message/**/*.json` (older releases) and
//! `<data>/opencode/opencode.db` (table `message`, JSON in `data`).
//!
//! Assistant messages carry `tokens` {input, output, reasoning, cache {read, write}}, `cost`
//! (USD), `modelID`, `providerID` and `time.created`. OpenCode counts reasoning apart from
//! output. A message is rewritten while it streams; its id is its key and the larger total wins.

use std::path::Path;

use serde_json::Value;

use super::{Corrupt, Event, FileKind, LogFormat, Output, stable_hash};

/// The per-message JSON files.
#[derive(Debug)]
pub struct OpenCodeStorage;

/// The SQLite database.
#[derive(Debug)]
pub struct OpenCodeDb;

/// Reader of storage/message files.
pub static STORAGE: OpenCodeStorage = OpenCodeStorage;
/// Reader of opencode.db.
pub static DB: OpenCodeDb = OpenCodeDb;

/// One message; `None` when it carries no usage.
fn event(m: &Value) -> Result<Option<Event>, Corrupt> {
    if m.get("role").and_then(Value::as_str) != Some("assistant") {
        return Ok(None);
    }
    let Some(t) = m.get("tokens").filter(|t| t.is_object()) else {
        return Ok(None);
    };
    let n = |p: &str| t.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let (input, output, reasoning) = (n("/input"), n("/output"), n("/reasoning"));
    let (cr, cw) = (n("/cache/read"), n("/cache/write"));
    let total = super::sum(&[input, output, reasoning, cr, cw]);
    if total == 0 {
        return Ok(None);
    }
    let ts = m
        .pointer("/time/created")
        .and_then(Value::as_i64)
        .ok_or(Corrupt)?;
    let id = m.get("id").and_then(Value::as_str).ok_or(Corrupt)?;
    let model = m
        .get("modelID")
        .or_else(|| m.pointer("/model/modelID"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok(Some(Event {
        key: stable_hash(&[b"opencode", id.as_bytes()]),
        revision: i64::try_from(total).unwrap_or(i64::MAX),
        timestamp_ms: ts,
        model: std::sync::Arc::from(model),
        input,
        output: output + reasoning,
        cache_read: cr,
        cache_write: cw,
        reasoning,
        // Only a number is a cost in USD; some versions write a breakdown object instead.
        cost_usd: m.get("cost").and_then(Value::as_f64),
        requests: 1,
    }))
}

impl LogFormat for OpenCodeStorage {
    fn tool(&self) -> &'static str {
        "opencode"
    }
    fn kind(&self) -> FileKind {
        FileKind::Whole
    }
    fn wants(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "json")
    }
    fn parse_file(&self, path: &Path, out: &mut Output) -> Result<(), String> {
        let bytes =
            crate::fsutil::read_regular(path, 64 * 1024 * 1024).map_err(|e| e.to_string())?;
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
        match event(&v) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(Corrupt) => out.corrupt += 1,
        }
        Ok(())
    }
}

impl LogFormat for OpenCodeDb {
    fn tool(&self) -> &'static str {
        "opencode"
    }
    fn kind(&self) -> FileKind {
        FileKind::Sqlite
    }
    fn wants(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| n == "opencode.db")
    }
    fn parse_file(&self, path: &Path, out: &mut Output) -> Result<(), String> {
        // Read-only, and without creating anything: OpenCode owns this database.
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| e.to_string())?;
        let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
        let mut st = conn
            .prepare("SELECT data FROM message")
            .map_err(|e| format!("no message table ({e})"))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        for row in rows {
            let Ok(text) = row else {
                out.corrupt += 1;
                continue;
            };
            match serde_json::from_str::<Value>(&text)
                .map_err(|_| Corrupt)
                .and_then(|v| event(&v))
            {
                Ok(Some(e)) => out.push(e),
                Ok(None) => {}
                Err(Corrupt) => out.corrupt += 1,
            }
        }
        Ok(())
    }
}
