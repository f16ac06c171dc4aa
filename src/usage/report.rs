//! Totals by day/week/month/account/provider/model, and 5-hour blocks as ccusage does them.
//!
//! Days, weeks (ISO, starting Monday) and months are in UTC: quota windows reset in UTC, and
//! the same totals must come out wherever the audit runs.

use serde::Serialize;

use super::Event;

/// A grouping dimension of `xnai usage --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// `provider/account`.
    Account,
    /// The provider section.
    Provider,
    /// The tool that wrote the log (claude, codex, ...).
    Tool,
    /// The model.
    Model,
    /// UTC day, `YYYY-MM-DD`.
    Day,
    /// ISO week, labelled by its Monday.
    Week,
    /// UTC month, `YYYY-MM`.
    Month,
}

impl Dimension {
    /// The SQL expression computing this dimension over `d JOIN accounts a`, where `d` has
    /// `day` (days since the epoch), `tool` and `model`.
    pub fn sql(self) -> &'static str {
        match self {
            Dimension::Account => "a.provider || '/' || a.account",
            Dimension::Provider => "a.provider",
            Dimension::Tool => "d.tool",
            Dimension::Model => "d.model",
            Dimension::Day => "date(d.day * 86400, 'unixepoch')",
            Dimension::Week => "date(d.day * 86400, 'unixepoch', '-6 days', 'weekday 1')",
            Dimension::Month => "strftime('%Y-%m', d.day * 86400, 'unixepoch')",
        }
    }

    /// The column header.
    pub fn header(self) -> &'static str {
        match self {
            Dimension::Account => "ACCOUNT",
            Dimension::Provider => "PROVIDER",
            Dimension::Tool => "TOOL",
            Dimension::Model => "MODEL",
            Dimension::Day => "DAY",
            Dimension::Week => "WEEK OF",
            Dimension::Month => "MONTH",
        }
    }
}

/// Length of a block.
pub const BLOCK_MS: i64 = 5 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;

/// A 5-hour block of activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// Start: the first event's hour, floored, UTC (Unix ms).
    pub start_ms: i64,
    /// End: start + 5 h.
    pub end_ms: i64,
    /// The last event in the block.
    pub last_event_ms: i64,
    /// Events in the block.
    pub events: u64,
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes.
    pub cache_write: u64,
    /// Recorded cost, when any event had one.
    pub cost_usd: Option<f64>,
    /// Models seen, sorted.
    pub models: Vec<String>,
}

impl Block {
    /// All tokens.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

/// Groups time-ordered events into 5-hour blocks: a block starts at its first event's hour
/// (floored, UTC) and lasts 5 hours; an event after the block's end, or more than 5 hours after
/// the previous event, starts a new block.
pub fn blocks(events: &[Event]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for e in events {
        let ts = e.timestamp_ms;
        let new_block = match out.last() {
            None => true,
            Some(b) => ts >= b.end_ms || ts - b.last_event_ms > BLOCK_MS,
        };
        if new_block {
            let start = ts.div_euclid(HOUR_MS) * HOUR_MS;
            out.push(Block {
                start_ms: start,
                end_ms: start + BLOCK_MS,
                last_event_ms: ts,
                events: 0,
                input: 0,
                output: 0,
                cache_read: 0,
                cache_write: 0,
                cost_usd: None,
                models: Vec::new(),
            });
        }
        if let Some(b) = out.last_mut() {
            b.last_event_ms = b.last_event_ms.max(ts);
            b.events += 1;
            b.input += e.input;
            b.output += e.output;
            b.cache_read += e.cache_read;
            b.cache_write += e.cache_write;
            if let Some(c) = e.cost_usd {
                b.cost_usd = Some(b.cost_usd.unwrap_or(0.0) + c);
            }
            if !e.model.is_empty() && !b.models.iter().any(|m| **m == *e.model) {
                b.models.push(e.model.to_string());
                b.models.sort();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: &str, output: u64) -> Event {
        Event {
            key: 0,
            revision: 0,
            timestamp_ms: super::super::parse_ms(ts).expect("ts"),
            model: std::sync::Arc::from("m"),
            input: 1,
            output,
            cache_read: 0,
            cache_write: 0,
            reasoning: 0,
            cost_usd: None,
            requests: 1,
        }
    }

    #[test]
    fn blocks_start_at_the_floored_hour_and_last_five_hours() {
        let b = blocks(&[
            ev("2026-09-01T10:17:00Z", 1),
            ev("2026-09-01T14:59:59Z", 2), // same block: before 15:00
            ev("2026-09-01T15:00:00Z", 4), // block ended at 15:00: new block from 15:00
            ev("2026-09-01T15:30:00Z", 8),
        ]);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0].start_ms,
            super::super::parse_ms("2026-09-01T10:00:00Z").expect("ts")
        );
        assert_eq!(
            b[0].end_ms,
            super::super::parse_ms("2026-09-01T15:00:00Z").expect("ts")
        );
        assert_eq!((b[0].events, b[0].output), (2, 3));
        assert_eq!(
            b[1].start_ms,
            super::super::parse_ms("2026-09-01T15:00:00Z").expect("ts")
        );
        assert_eq!((b[1].events, b[1].output), (2, 12));
    }

    #[test]
    fn a_long_gap_starts_a_new_block() {
        let b = blocks(&[ev("2026-09-01T00:10:00Z", 1), ev("2026-09-01T09:45:00Z", 1)]);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[1].start_ms,
            super::super::parse_ms("2026-09-01T09:00:00Z").expect("ts")
        );
    }
}
