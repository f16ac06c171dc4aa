//! Cline (the VS Code extension's task history): `tasks/<task>/ui_messages.json`, an array of
//! UI messages. `say: "api_req_started"` messages hold, as JSON text, the request's
//! {tokensIn, tokensOut, cacheWrites, cacheReads, cost}; Anthropic's convention, so the four
//! counts are disjoint.

use std::path::Path;

use serde_json::Value;

use super::{Event, FileKind, LogFormat, Output, stable_hash};

/// The ui_messages.json format.
#[derive(Debug)]
pub struct ClineTasks;

/// The only reader instance.
pub static FORMAT: ClineTasks = ClineTasks;

impl LogFormat for ClineTasks {
    fn tool(&self) -> &'static str {
        "cline"
    }
    fn kind(&self) -> FileKind {
        FileKind::Whole
    }
    fn wants(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| n == "ui_messages.json")
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
        let task = path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for m in v.as_array().into_iter().flatten() {
            if m.get("say").and_then(Value::as_str) != Some("api_req_started") {
                continue;
            }
            let Some(ts) = m.get("ts").and_then(Value::as_i64) else {
                out.corrupt += 1;
                continue;
            };
            let Some(info) = m
                .get("text")
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
            else {
                out.corrupt += 1;
                continue;
            };
            let n = |k: &str| info.get(k).and_then(Value::as_u64).unwrap_or(0);
            let (input, output) = (n("tokensIn"), n("tokensOut"));
            let (cw, cr) = (n("cacheWrites"), n("cacheReads"));
            if super::sum(&[input, output, cw, cr]) == 0 {
                continue;
            }
            let model = out.model(info.get("model").and_then(Value::as_str).unwrap_or(""));
            out.push(Event {
                key: stable_hash(&[b"cline", task.as_bytes(), ts.to_string().as_bytes()]),
                revision: i64::try_from(super::sum(&[input, output, cw, cr])).unwrap_or(i64::MAX),
                timestamp_ms: ts,
                model,
                input,
                output,
                cache_read: cr,
                cache_write: cw,
                reasoning: 0,
                cost_usd: info.get("cost").and_then(Value::as_f64),
                requests: 1,
            });
        }
        Ok(())
    }
}
