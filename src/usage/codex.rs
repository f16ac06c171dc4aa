//! Codex: `<CODEX_HOME>/sessions/YYYY/MM/DD/rollout-*.jsonl` and `archived_sessions/`.
//!
//! `event_msg` lines of payload type `token_count` carry the session's running
//! `total_token_usage` (the difference from the previous record is the turn's usage; Codex
//! sometimes repeats a record, which then adds nothing) and `info.last_token_usage`, used for a
//! file's first record. They also carry
//! `rate_limits` {primary, secondary: used_percent, window_minutes, resets_at}, kept as quota
//! observations. The model comes from `turn_context` lines (or `info.model`), so it is part of
//! the file's state between scans. OpenAI counts cached input inside `input_tokens` and
//! reasoning inside `output_tokens`; they are split out here.
//!
//! Token counts have no id of their own. Their key is the timestamp with the running totals,
//! which an archived copy or a forked session repeats identically, so copies count once.

use std::path::Path;

use serde_json::Value;

use super::{
    Corrupt, Event, FileKind, FileState, LogFormat, Observation, Output, parse_ms, stable_hash,
};

/// The Codex rollout format.
#[derive(Debug)]
pub struct Codex;

/// The only reader instance.
pub static FORMAT: Codex = Codex;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    input: u64,
    cached: u64,
    cache_write: u64,
    output: u64,
    reasoning: u64,
}

impl Counts {
    fn from(v: &Value) -> Option<Counts> {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        v.is_object().then(|| Counts {
            input: n("input_tokens"),
            cached: n("cached_input_tokens"),
            cache_write: n("cache_write_input_tokens"),
            output: n("output_tokens"),
            reasoning: n("reasoning_output_tokens"),
        })
    }
    /// Whether `self` is a later reading of the same running total as `o`.
    fn covers(self, o: Counts) -> bool {
        self.input >= o.input
            && self.cached >= o.cached
            && self.cache_write >= o.cache_write
            && self.output >= o.output
            && self.reasoning >= o.reasoning
    }
    fn minus(self, o: Counts) -> Counts {
        Counts {
            input: self.input.saturating_sub(o.input),
            cached: self.cached.saturating_sub(o.cached),
            cache_write: self.cache_write.saturating_sub(o.cache_write),
            output: self.output.saturating_sub(o.output),
            reasoning: self.reasoning.saturating_sub(o.reasoning),
        }
    }
    fn encode(self) -> String {
        format!(
            "{} {} {} {} {}",
            self.input, self.cached, self.cache_write, self.output, self.reasoning
        )
    }
    fn decode(s: &str) -> Option<Counts> {
        let v: Vec<u64> = s.split(' ').filter_map(|x| x.parse().ok()).collect();
        (v.len() == 5).then(|| Counts {
            input: v[0],
            cached: v[1],
            cache_write: v[2],
            output: v[3],
            reasoning: v[4],
        })
    }
    fn is_zero(self) -> bool {
        self == Counts::default()
    }
}

fn observations(rl: &Value, at_ms: i64, out: &mut Output) {
    // Early releases wrote a flat object: primary_used_percent, primary_window_minutes, ...
    if rl.get("primary_used_percent").is_some() {
        for name in ["primary", "secondary"] {
            if let Some(used) = rl
                .get(format!("{name}_used_percent"))
                .and_then(Value::as_f64)
                .filter(|u| u.is_finite() && (0.0..=1000.0).contains(u))
            {
                out.observations.push(Observation {
                    observed_ms: at_ms,
                    window: name.to_string(),
                    window_minutes: rl
                        .get(format!("{name}_window_minutes"))
                        .and_then(Value::as_i64),
                    used_percent: used,
                    resets_at_ms: rl
                        .get(format!("{name}_resets_in_seconds"))
                        .and_then(Value::as_i64)
                        .and_then(|s| s.checked_mul(1000)?.checked_add(at_ms)),
                });
            }
        }
        return;
    }
    let prefix = rl
        .get("limit_id")
        .and_then(Value::as_str)
        .filter(|id| *id != "codex")
        .map(|id| format!("{id}:"))
        .unwrap_or_default();
    for name in ["primary", "secondary"] {
        let Some(w) = rl.get(name).filter(|w| w.is_object()) else {
            continue;
        };
        let Some(used) = w
            .get("used_percent")
            .and_then(Value::as_f64)
            .filter(|u| u.is_finite() && (0.0..=1000.0).contains(u))
        else {
            continue;
        };
        let resets = w
            .get("resets_at")
            .or_else(|| w.get("reset_at"))
            .and_then(Value::as_i64)
            .and_then(|s| s.checked_mul(1000))
            .or_else(|| {
                w.get("resets_in_seconds")
                    .and_then(Value::as_i64)
                    .and_then(|s| s.checked_mul(1000)?.checked_add(at_ms))
            });
        out.observations.push(Observation {
            observed_ms: at_ms,
            window: format!("{prefix}{name}"),
            window_minutes: w.get("window_minutes").and_then(Value::as_i64),
            used_percent: used,
            resets_at_ms: resets,
        });
    }
}

impl LogFormat for Codex {
    fn tool(&self) -> &'static str {
        "codex"
    }
    fn kind(&self) -> FileKind {
        FileKind::Lines
    }
    fn wants(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "jsonl")
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("rollout-"))
    }
    fn parse_line(
        &self,
        line: &[u8],
        _file: &Path,
        state: &mut FileState,
        out: &mut Output,
    ) -> Result<(), Corrupt> {
        let v: Value = serde_json::from_slice(line).map_err(|_| Corrupt)?;
        let payload = v.get("payload").unwrap_or(&Value::Null);
        let ts = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_ms);
        match v.get("type").and_then(Value::as_str) {
            Some("turn_context") => {
                if let Some(m) = payload.get("model").and_then(Value::as_str) {
                    state.insert("model".to_string(), m.to_string());
                }
                Ok(())
            }
            Some("event_msg") => {
                let kind = payload.get("type").and_then(Value::as_str).unwrap_or("");
                if kind == "account/rateLimits/updated" {
                    if let (Some(rl), Some(ts)) = (payload.get("rate_limits"), ts) {
                        observations(rl, ts, out);
                    }
                    return Ok(());
                }
                if kind != "token_count" {
                    return Ok(());
                }
                let ts = ts.ok_or(Corrupt)?;
                if let Some(rl) = payload.get("rate_limits").filter(|r| r.is_object()) {
                    observations(rl, ts, out);
                }
                let Some(info) = payload.get("info").filter(|i| i.is_object()) else {
                    return Ok(());
                };
                let total = info.get("total_token_usage").and_then(Counts::from);
                let previous = state.get("total").and_then(|s| Counts::decode(s));
                let last = info.get("last_token_usage").and_then(Counts::from);
                // The running total is the ground truth: Codex repeats a token_count (same
                // total, same last_token_usage) after some turns, and counting `last` again
                // would double it. `last` serves for the first record of a file (the total
                // may include an earlier session's) and after the total went backwards.
                let turn = match (total, previous, last) {
                    (Some(t), Some(p), _) if t.covers(p) => t.minus(p),
                    (_, _, Some(last)) => last,
                    (Some(t), _, None) => t,
                    (None, _, None) => return Ok(()),
                };
                if let Some(t) = total {
                    state.insert("total".to_string(), t.encode());
                }
                if let Some(m) = info.get("model").and_then(Value::as_str) {
                    state.insert("model".to_string(), m.to_string());
                }
                if turn.is_zero() {
                    return Ok(());
                }
                let identity = format!(
                    "{ts} {} {}",
                    total.map(Counts::encode).unwrap_or_default(),
                    turn.encode()
                );
                let model = out.model(state.get("model").map_or("", String::as_str));
                out.push(Event {
                    key: stable_hash(&[b"codex", identity.as_bytes()]),
                    revision: 0,
                    timestamp_ms: ts,
                    model,
                    input: turn.input.saturating_sub(turn.cached),
                    output: turn.output,
                    cache_read: turn.cached,
                    cache_write: turn.cache_write,
                    reasoning: turn.reasoning,
                    cost_usd: None,
                    requests: 1,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
