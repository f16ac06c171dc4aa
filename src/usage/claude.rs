//! Claude Code: `<CLAUDE_CONFIG_DIR>/projects/**/*.jsonl`, nested session directories and
//! `subagents/` included.
//!
//! Usage lines carry `message.usage` {input_tokens, output_tokens, cache_creation_input_tokens,
//! cache_read_input_tokens}, `message.model`, `message.id`, `requestId` and `timestamp`. One
//! response is streamed as several lines with growing `output_tokens`: they share message id and
//! request id, and the largest wins (keeping the first undercounts output by about a third).
//! Sidechain replays of a parent's message carry the same ids and collapse the same way.
//! Chunks of one response are written one after another: only the last of such a run is parsed
//! (see [`LogFormat::stream_key`]), which halves the parsing on real logs.

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;

use super::{Corrupt, Event, FileKind, FileState, LogFormat, Output, parse_ms, stable_hash};

/// The Claude Code format.
#[derive(Debug)]
pub struct ClaudeCode;

/// The only reader instance.
pub static FORMAT: ClaudeCode = ClaudeCode;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "requestId", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "costUSD", default)]
    cost_usd: Option<f64>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl LogFormat for ClaudeCode {
    fn tool(&self) -> &'static str {
        "claude"
    }
    fn kind(&self) -> FileKind {
        FileKind::Lines
    }
    fn wants(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "jsonl")
    }
    fn prefilter(&self) -> Option<&'static [u8]> {
        Some(b"\"usage\"")
    }
    fn stream_key<'l>(&self, line: &'l [u8]) -> Option<&'l [u8]> {
        // `"requestId":"` cannot occur inside a JSON string (its quotes would be escaped),
        // only as a key; Claude Code writes one per line, and a streamed response repeats it
        // on each chunk.
        const KEY: &[u8] = b"\"requestId\":\"";
        // Built once: building a searcher per line cost more than the search itself.
        static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
            LazyLock::new(|| memchr::memmem::Finder::new(KEY));
        let at = FINDER.find(line)? + KEY.len();
        let len = memchr::memchr(b'"', &line[at..])?;
        Some(&line[at..at + len])
    }
    fn parse_line(
        &self,
        line: &[u8],
        _file: &Path,
        _state: &mut FileState,
        out: &mut Output,
    ) -> Result<(), Corrupt> {
        let l: Line = sonic_rs::from_slice(line).map_err(|_| Corrupt)?;
        let Some(msg) = l.message else { return Ok(()) };
        let Some(u) = msg.usage else { return Ok(()) };
        let ts = l.timestamp.as_deref().and_then(parse_ms).ok_or(Corrupt)?;
        let (input, output) = (u.input_tokens.unwrap_or(0), u.output_tokens.unwrap_or(0));
        let (cw, cr) = (
            u.cache_creation_input_tokens.unwrap_or(0),
            u.cache_read_input_tokens.unwrap_or(0),
        );
        if input + output + cw + cr == 0 {
            // Synthetic messages (API errors, usage-limit notices) carry no usage.
            return Ok(());
        }
        let key = match (msg.id.as_deref(), l.request_id.as_deref()) {
            (Some(id), Some(req)) => stable_hash(&[b"claude", id.as_bytes(), req.as_bytes()]),
            (Some(id), None) => stable_hash(&[b"claude", id.as_bytes()]),
            // No ids (very old logs): the line itself is the identity.
            _ => stable_hash(&[b"claude-line", line]),
        };
        let model = out.model(msg.model.as_deref().unwrap_or_default());
        out.push(Event {
            key,
            revision: i64::try_from(output).unwrap_or(i64::MAX),
            timestamp_ms: ts,
            model,
            input,
            output,
            cache_read: cr,
            cache_write: cw,
            reasoning: 0,
            cost_usd: l.cost_usd,
            requests: 1,
        });
        Ok(())
    }
}
