//! Claude Code: `<CLAUDE_CONFIG_DIR>/projects/**/*.jsonl`, nested session directories and
//! `subagents/` included.
//!
//! Usage lines carry `message.usage` {input_tokens, output_tokens, cache_creation_input_tokens,
//! cache_read_input_tokens}, `message.model`, `message.id`, `requestId` and `timestamp`. One
//! response is streamed as several lines with growing `output_tokens`: they share message id and
//! request id, and the largest wins (keeping the first undercounts output by about a third).
//! Sidechain replays of a parent's message carry the same ids and collapse the same way.
//!
//! When the account's limit is reached, Claude Code logs a synthetic assistant message (model
//! `<synthetic>`, all-zero usage) whose text is `Claude AI usage limit reached|<epoch seconds>`:
//! kept as a quota observation ([`crate::usage::LIMIT_REACHED`]) that lifts at that time.

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::Deserialize;

use super::{
    Corrupt, Event, FileKind, FileState, LIMIT_REACHED, LogFormat, Observation, Output, StreamKey,
    parse_ms, stable_hash,
};

/// What Claude Code writes as the text of a synthetic message when the account's limit is
/// reached, followed by the Unix time (seconds) it lifts.
const LIMIT_NOTICE: &[u8] = b"Claude AI usage limit reached|";

/// When the limit lifts (Unix ms), from a line holding a usage-limit notice.
fn limit_lifts_ms(line: &[u8]) -> Option<i64> {
    static NOTICE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(LIMIT_NOTICE));
    let at = NOTICE.find(line)? + LIMIT_NOTICE.len();
    let digits: Vec<u8> = line[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .take(12)
        .collect();
    let secs: i64 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
    let ms = secs.checked_mul(1000)?;
    (super::MIN_TIME_MS..super::MAX_TIME_MS)
        .contains(&ms)
        .then_some(ms)
}

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
    fn stream_key<'l>(&self, line: &'l [u8]) -> Option<StreamKey<'l>> {
        // Keys are searched as `"key":` followed by a value: inside a JSON string the quotes
        // would be escaped, so a match is a real key. `requestId` and the message id (`msg_`)
        // occur once per line; `output_tokens` is the first after `"usage":`.
        static REQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"requestId\":\""));
        static MSG: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"id\":\"msg_"));
        static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\":"));
        static OUT: LazyLock<Finder<'static>> =
            LazyLock::new(|| Finder::new(b"\"output_tokens\":"));
        let string_at = |f: &Finder<'_>, skip: usize| -> Option<&'l [u8]> {
            let at = f.find(line)? + f.needle().len() - skip;
            let len = memchr::memchr(b'"', &line[at..])?;
            Some(&line[at..at + len])
        };
        let req = string_at(&REQ, 0)?;
        let msg = string_at(&MSG, 4)?;
        let usage = USAGE.find(line)?;
        let o = usage + OUT.find(&line[usage..])? + OUT.needle().len();
        let digits = line[o..].iter().skip_while(|b| **b == b' ');
        let mut rank: u64 = 0;
        let mut any = false;
        for b in digits.take_while(|b| b.is_ascii_digit()) {
            rank = rank.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            any = true;
        }
        any.then_some(StreamKey {
            id: (req, msg),
            rank,
        })
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
        if input
            .saturating_add(output)
            .saturating_add(cw)
            .saturating_add(cr)
            == 0
        {
            // Synthetic messages (API errors, usage-limit notices) carry no usage; a notice
            // says until when the account is out.
            if let Some(lifts) = limit_lifts_ms(line) {
                out.observations.push(Observation {
                    observed_ms: ts,
                    window: LIMIT_REACHED.to_string(),
                    window_minutes: None,
                    used_percent: 100.0,
                    resets_at_ms: Some(lifts),
                });
            }
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
