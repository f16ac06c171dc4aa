//! Usage from the agents' own logs: one reader per log format, normalised [`Event`]s, an
//! incremental scan into the ledger ([`scan`]), and totals and 5-hour blocks ([`report`]).
//!
//! Normalised token fields are disjoint billing categories, whatever the tool's convention:
//! `input` is uncached prompt tokens, `cache_read` and `cache_write` the cached ones, `output`
//! every generated token (reasoning included), and `reasoning` the part of `output` that was
//! reasoning. So `input + cache_read + cache_write + output` is the total.

pub mod claude;
pub mod cline;
pub mod codex;
pub mod copilot;
pub mod gemini;
pub mod opencode;
pub mod report;
pub mod scan;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

use crate::config::Account;
use crate::instance::Instance;
use crate::paths::DataDir;

/// One model response (or one cumulative session record, for tools that only write those).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Stable identity of the response within the tool (message id + request id, ...), hashed.
    pub key: u64,
    /// When two records share a key, the one with the larger revision wins (the last chunk of
    /// a streamed response, the latest cumulative record).
    pub revision: i64,
    /// When it happened, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The model (shared: a scan sees a handful of models across millions of records).
    pub model: Arc<str>,
    /// Uncached input tokens.
    pub input: u64,
    /// Generated tokens, reasoning included.
    pub output: u64,
    /// Tokens read from the prompt cache.
    pub cache_read: u64,
    /// Tokens written to the prompt cache.
    pub cache_write: u64,
    /// The reasoning part of `output`.
    pub reasoning: u64,
    /// Cost in USD, only when the tool recorded one.
    pub cost_usd: Option<f64>,
    /// Requests this record stands for.
    pub requests: u64,
}

/// A quota reading a tool logged (Codex's `rate_limits`, Claude Code's usage-limit notices).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// When it was logged, Unix milliseconds.
    pub observed_ms: i64,
    /// Which limit (`primary`, `secondary`, or the tool's limit id).
    pub window: String,
    /// Window length in minutes, when given.
    pub window_minutes: Option<i64>,
    /// Percentage used.
    pub used_percent: f64,
    /// When it resets, Unix milliseconds.
    pub resets_at_ms: Option<i64>,
}

/// The `window` of an [`Observation`] that says the limit is reached (Claude Code's "Claude AI
/// usage limit reached|<epoch>"): `used_percent` 100, `resets_at_ms` when it lifts, no length.
pub const LIMIT_REACHED: &str = "limit_reached";

/// The largest count one record may carry (about a trillion): far above any real response,
/// far below where sums of many records could overflow.
pub const MAX_TOKENS: u64 = 1 << 40;
/// Records before 2000-01-01 are not from an AI coding agent.
pub const MIN_TIME_MS: i64 = 946_684_800_000;
/// Nor after 2100-01-01.
pub const MAX_TIME_MS: i64 = 4_102_444_800_000;

/// What parsing a file produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Usage records.
    pub events: Vec<Event>,
    /// Quota readings.
    pub observations: Vec<Observation>,
    /// Lines or records that could not be read.
    pub corrupt: u64,
    /// Model names seen so far, shared between records. A scan sees a handful of models: a
    /// short list beats a hash map here.
    models: Vec<Arc<str>>,
}

impl Output {
    /// Adds a record. A streamed response's chunks are written one after another, so a record
    /// with the same key as the previous one replaces it when its revision is not smaller:
    /// most duplicates never reach the scan's de-duplication map.
    ///
    /// A record no tool could have written — more than [`MAX_TOKENS`] in one count, or a time
    /// outside [`MIN_TIME_MS`, `MAX_TIME_MS`) — is counted as unreadable instead: one absurd
    /// number must not swamp or overflow every total after it.
    pub fn push(&mut self, e: Event) {
        let counts = [
            e.input,
            e.output,
            e.cache_read,
            e.cache_write,
            e.reasoning,
            e.requests,
        ];
        if counts.iter().any(|c| *c > MAX_TOKENS)
            || !(MIN_TIME_MS..MAX_TIME_MS).contains(&e.timestamp_ms)
            || e.cost_usd
                .is_some_and(|c| !c.is_finite() || !(0.0..1e9).contains(&c))
        {
            self.corrupt += 1;
            return;
        }
        if let Some(last) = self.events.last_mut()
            && last.key == e.key
        {
            if e.revision >= last.revision {
                *last = e;
            }
            return;
        }
        self.events.push(e);
    }

    /// The shared copy of a model name.
    pub fn model(&mut self, name: &str) -> Arc<str> {
        if let Some(m) = self.models.iter().find(|m| ***m == *name) {
            return Arc::clone(m);
        }
        let m: Arc<str> = Arc::from(name);
        if self.models.len() < 256 {
            self.models.push(Arc::clone(&m));
        }
        m
    }
}

/// A streamed response's identity and progress, read from a line's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamKey<'l> {
    /// The identity: consecutive lines with equal ids are chunks of one response.
    pub id: (&'l [u8], &'l [u8]),
    /// How far along (output tokens so far).
    pub rank: u64,
}

/// A line or record that could not be parsed (counted, never fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// How a format's files grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Append-only JSON lines: re-scans read only what was appended.
    Lines,
    /// A document rewritten as a whole: re-read when it changes.
    Whole,
    /// A SQLite database, read through SQLite.
    Sqlite,
}

/// Per-file parsing state that must survive between scans (Codex's current model).
pub type FileState = std::collections::BTreeMap<String, String>;

/// One log format.
pub trait LogFormat: Sync + Send {
    /// The tool's name in the ledger.
    fn tool(&self) -> &'static str;

    /// How its files grow.
    fn kind(&self) -> FileKind;

    /// Whether a file under the format's root belongs to it.
    fn wants(&self, path: &Path) -> bool;

    /// For [`FileKind::Lines`]: bytes every interesting line contains. Other lines are skipped
    /// without being parsed, which is what makes multi-gigabyte logs fast.
    fn prefilter(&self) -> Option<&'static [u8]> {
        None
    }

    /// For [`FileKind::Lines`]: parses one line of `file`. `Err(Corrupt)` counts it.
    fn parse_line(
        &self,
        _line: &[u8],
        _file: &Path,
        _state: &mut FileState,
        _out: &mut Output,
    ) -> Result<(), Corrupt> {
        Ok(())
    }

    /// For [`FileKind::Lines`]: which streamed response a line is a chunk of, and how far
    /// along, found without parsing. Of consecutive lines of one response only the one with
    /// the highest rank is parsed (the later one on a tie). `None`: parse the line.
    fn stream_key<'l>(&self, _line: &'l [u8]) -> Option<StreamKey<'l>> {
        None
    }

    /// For [`FileKind::Whole`] and [`FileKind::Sqlite`]: parses the file at `path`.
    fn parse_file(&self, _path: &Path, _out: &mut Output) -> Result<(), String> {
        Ok(())
    }
}

/// Where `account`'s logs are: its instance's tool home and every `usage_paths` entry.
pub fn target(account: &Account, data: &DataDir) -> scan::Target {
    let kind = account.kind;
    let mut sources = Vec::new();
    if let Some(home) = kind.usage_home(&Instance::of(data, account)) {
        sources.extend(kind.usage_sources(&home));
    }
    for p in &account.usage_paths {
        sources.extend(kind.usage_sources(p));
    }
    scan::Target {
        provider: account.provider_id.clone(),
        account: account.id.clone(),
        sources,
    }
}

/// Problems with where accounts' usage comes from, for warnings: a `usage_paths` entry that
/// does not exist or holds none of its tool's log directories (a typo, or the wrong level),
/// and a log directory counted for two accounts (its usage then appears under both).
pub fn source_warnings(accounts: &[&Account], data: &DataDir) -> Vec<SourceWarning> {
    let mut out: Vec<SourceWarning> = Vec::new();
    let mut seen: Vec<(PathBuf, String)> = Vec::new();
    for a in accounts {
        let label = a.label();
        for p in &a.usage_paths {
            let sources = a.kind.usage_sources(p);
            if !p.exists() {
                out.push(SourceWarning::new(
                    a,
                    format!("usage_paths entry {} does not exist", p.display()),
                ));
            } else if !sources.is_empty() && !sources.iter().any(|s| s.root.exists()) {
                let wanted: Vec<String> = sources
                    .iter()
                    .filter_map(|s| s.root.strip_prefix(p).ok())
                    .map(|r| r.display().to_string())
                    .collect();
                out.push(SourceWarning::new(
                    a,
                    format!(
                        "usage_paths entry {} has no {} inside: give the tool's home directory",
                        p.display(),
                        wanted.join(" or ")
                    ),
                ));
            }
        }
        for src in &target(a, data).sources {
            let Ok(real) = src.root.canonicalize() else {
                continue;
            };
            if let Some((_, other)) = seen
                .iter()
                .find(|(r, other)| *other != label && (real.starts_with(r) || r.starts_with(&real)))
            {
                out.push(SourceWarning::new(
                    a,
                    format!(
                        "{} is also counted for {other}: its usage appears under both",
                        real.display()
                    ),
                ));
            }
            seen.push((real, label.clone()));
        }
    }
    out.dedup();
    out
}

/// A problem with one account's usage sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWarning {
    /// Provider id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// What is wrong.
    pub message: String,
}

impl SourceWarning {
    fn new(a: &Account, message: String) -> Self {
        SourceWarning {
            provider: a.provider_id.clone(),
            account: a.id.clone(),
            message,
        }
    }
}

/// The static name of a tool stored in the ledger (for reading rows back).
pub fn tool_name(name: &str) -> &'static str {
    [
        claude::FORMAT.tool(),
        codex::FORMAT.tool(),
        copilot::FORMAT.tool(),
        gemini::JSON.tool(),
        opencode::DB.tool(),
        cline::FORMAT.tool(),
    ]
    .into_iter()
    .find(|t| *t == name)
    .unwrap_or("other")
}

/// A sum of counts that saturates instead of overflowing on absurd input (which
/// [`Output::push`] then rejects).
pub fn sum(counts: &[u64]) -> u64 {
    counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
}

/// FNV-1a, 64 bit: event keys must hash the same in every xnai version and process, which
/// std's hasher does not promise.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // A separator so ("ab","c") and ("a","bc") differ.
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Parses an RFC 3339 timestamp (any number of fraction digits) to Unix milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_separates_parts() {
        // Fixed values: a change here would double count every ledger after an upgrade.
        assert_eq!(stable_hash(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    }

    #[test]
    fn timestamps_with_any_fraction() {
        assert_eq!(parse_ms("2026-09-01T00:00:00Z"), Some(1_788_220_800_000));
        assert_eq!(parse_ms("2026-09-01T00:00:00.5Z"), Some(1_788_220_800_500));
        assert_eq!(
            parse_ms("2026-09-01T00:00:00.123456789Z"),
            Some(1_788_220_800_123)
        );
        assert_eq!(
            parse_ms("2026-09-01T02:00:00.1+02:00"),
            Some(1_788_220_800_100)
        );
        assert_eq!(parse_ms("yesterday"), None);
    }
}
