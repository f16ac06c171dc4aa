//! GitHub Copilot CLI: `<COPILOT_HOME>/session-state/<session>/events.jsonl`.
//!
//! Usage is in `session.shutdown` events: `data.modelMetrics` maps each model to its
//! cumulative `usage` {inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens,
//! reasoningTokens} and `requests.count` for the session. A session can shut down (and resume)
//! more than once; each shutdown repeats the totals so far, so the latest one wins: the key is
//! session + model, the revision the timestamp.

use std::path::Path;

use serde_json::Value;

use super::{Corrupt, Event, FileKind, FileState, LogFormat, Output, parse_ms, stable_hash};

/// The Copilot CLI events format.
#[derive(Debug)]
pub struct CopilotCli;

/// The only reader instance.
pub static FORMAT: CopilotCli = CopilotCli;

impl LogFormat for CopilotCli {
    fn tool(&self) -> &'static str {
        "copilot"
    }
    fn kind(&self) -> FileKind {
        FileKind::Lines
    }
    fn wants(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| n == "events.jsonl")
    }
    fn prefilter(&self) -> Option<&'static [u8]> {
        Some(b"session.shutdown")
    }
    fn parse_line(
        &self,
        line: &[u8],
        file: &Path,
        _state: &mut FileState,
        out: &mut Output,
    ) -> Result<(), Corrupt> {
        let v: Value = serde_json::from_slice(line).map_err(|_| Corrupt)?;
        if v.get("type").and_then(Value::as_str) != Some("session.shutdown") {
            return Ok(());
        }
        let ts = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms)
            .ok_or(Corrupt)?;
        let session = file
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(metrics) = v.pointer("/data/modelMetrics").and_then(Value::as_object) else {
            return Ok(());
        };
        // Some releases give per-model `usage`; others only session-wide `tokenDetails`,
        // which belong to the model when there is just one.
        let details = v
            .pointer("/data/tokenDetails")
            .filter(|_| metrics.len() == 1);
        for (model, m) in metrics {
            let n = |p: &str| m.pointer(p).and_then(Value::as_u64).unwrap_or(0);
            let d = |k: &str| {
                details
                    .and_then(|t| t.pointer(&format!("/{k}/tokenCount")))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            let (input, output, cr, cw) = if m.get("usage").is_some() {
                (
                    n("/usage/inputTokens"),
                    n("/usage/outputTokens"),
                    n("/usage/cacheReadTokens"),
                    n("/usage/cacheWriteTokens"),
                )
            } else {
                (d("input"), d("output"), d("cache_read"), d("cache_write"))
            };
            // `requests` is {count, ...} in newer releases and a plain number in older ones.
            let requests = m
                .get("requests")
                .and_then(|r| {
                    r.as_u64()
                        .or_else(|| r.get("count").and_then(Value::as_u64))
                })
                .unwrap_or(0);
            if super::sum(&[input, output, cr, cw, requests]) == 0 {
                continue;
            }
            let model = out.model(model);
            out.push(Event {
                key: stable_hash(&[b"copilot", session.as_bytes(), model.as_bytes()]),
                revision: ts,
                timestamp_ms: ts,
                model,
                input,
                output,
                cache_read: cr,
                cache_write: cw,
                reasoning: n("/usage/reasoningTokens"),
                cost_usd: None,
                requests,
            });
        }
        Ok(())
    }
}
