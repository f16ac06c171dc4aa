//! The one place that renders output: tables for people, JSON for scripts.
//!
//! Tables are written with ANSI styles through `anstream`, which drops them when stdout is not a
//! terminal, when `NO_COLOR` is set, or when `TERM=dumb` — so subcommands never decide colour.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::error::{Error, Result};

/// Styles used across commands.
pub mod style {
    use super::*;

    /// Good news.
    pub const OK: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
    /// Needs attention soon.
    pub const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    /// Broken.
    pub const BAD: Style = Style::new()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
        .bold();
    /// Secondary text.
    pub const DIM: Style = Style::new().dimmed();
    /// Table headers.
    pub const HEADER: Style = Style::new().bold();
    /// No style.
    pub const PLAIN: Style = Style::new();
}

/// One table cell.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    /// A cell with a style.
    pub fn styled(text: impl Into<String>, style: Style) -> Self {
        Cell {
            text: sanitize(&text.into()),
            style,
        }
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(t: T) -> Self {
        Cell::styled(t, style::PLAIN)
    }
}

/// Neutralises text from files and tokens before it reaches a terminal: control characters
/// (escape sequences, newlines) become spaces, and invisible or direction-changing format
/// characters (zero-width, bidi overrides, BOM) become `?`, so a value cannot move the cursor,
/// recolour the terminal, fake a line or read backwards.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else if is_invisible(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Unicode format characters that change how text looks without being visible.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// A table: headers and rows of cells, left-aligned, two spaces between columns.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are blank.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders with ANSI styles (stripped later where colour is off).
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.text.width());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: Vec<(&str, Style)>| {
            let last = cells.len().saturating_sub(1);
            for (i, (text, st)) in cells.into_iter().enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(&format!("{st}{text}{st:#}"));
                if i < last {
                    out.push_str(&" ".repeat(widths[i].saturating_sub(text.width())));
                }
            }
            out.push('\n');
        };
        line(
            &mut out,
            self.headers
                .iter()
                .map(|h| (h.as_str(), style::HEADER))
                .collect(),
        );
        for r in &self.rows {
            let cells = (0..n)
                .map(|i| {
                    r.get(i)
                        .map(|c| (c.text.as_str(), c.style))
                        .unwrap_or(("", style::PLAIN))
                })
                .collect();
            line(&mut out, cells);
        }
        out
    }
}

/// Like [`print`], telling whether anyone still reads: false once stdout's reader is gone
/// (a closed pipe), so a loop that redraws can stop.
pub fn print_live(text: &str) -> Result<bool> {
    let mut out = anstream::stdout();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::io("writing", "stdout", e)),
    }
}

/// Writes text to stdout, colour handled by `anstream`. A closed pipe (`xnai ... | head`) is
/// not an error.
pub fn print(text: &str) -> Result<()> {
    let mut out = anstream::stdout();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing", "stdout", e)),
    }
}

/// Writes text to stdout byte for byte (no colour processing): for output meant for `eval`.
pub fn print_raw(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing", "stdout", e)),
    }
}

/// Writes pretty JSON and a newline to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| Error::usage(format!("cannot encode JSON: {e}"), None))?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{s}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing", "stdout", e)),
    }
}

/// Writes a warning to stderr.
pub fn warn(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(
        err,
        "{}warning:{} {message}",
        style::WARN,
        style::WARN.render_reset()
    );
}

/// Writes a note (what xnai is doing) to stderr.
pub fn note(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(
        err,
        "{}note:{} {message}",
        style::DIM,
        style::DIM.render_reset()
    );
}

/// Writes an error and its hint to stderr.
pub fn error(message: &str, hint: Option<&str>) {
    let mut err = anstream::stderr();
    let _ = writeln!(
        err,
        "{}error:{} {message}",
        style::BAD,
        style::BAD.render_reset()
    );
    if let Some(h) = hint {
        let _ = writeln!(
            err,
            "  {}hint:{} {h}",
            style::DIM,
            style::DIM.render_reset()
        );
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal (scripts and
/// journals get nothing extra) and erased when done.
pub struct Progress {
    total: usize,
    done: usize,
    what: &'static str,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` items of `what`.
    pub fn new(total: usize, what: &'static str) -> Self {
        use std::io::IsTerminal;
        let enabled = std::io::stderr().is_terminal() && total > 0;
        let p = Progress {
            total,
            done: 0,
            what,
            enabled,
        };
        p.draw("");
        p
    }

    /// One more item finished.
    pub fn inc(&mut self, label: &str) {
        self.done += 1;
        self.draw(label);
    }

    fn draw(&self, label: &str) {
        if !self.enabled {
            return;
        }
        const WIDTH: usize = 24;
        let filled = (self.done * WIDTH).checked_div(self.total).unwrap_or(0);
        let bar: String = "#".repeat(filled) + &"-".repeat(WIDTH - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} [{bar}] {}/{} {}",
            self.what,
            self.done,
            self.total,
            sanitize(label)
        );
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Unix milliseconds as RFC 3339 UTC, whole seconds (`2026-12-03T02:00:00Z`).
pub fn iso_ms(ms: i64) -> String {
    jiff::Timestamp::from_second(ms.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A percentage shown as a whole number, rounded down: 79.99 % is below the 80 % warning
/// threshold and must not read "80%" next to an `active` status.
pub fn whole_percent(p: f64) -> String {
    if p.is_finite() {
        format!("{}", p.floor() as i64)
    } else {
        "?".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_percent_rounds_down() {
        assert_eq!(whole_percent(79.99), "79");
        assert_eq!(whole_percent(80.0), "80");
        assert_eq!(whole_percent(100.4), "100");
        assert_eq!(whole_percent(f64::NAN), "?");
    }

    #[test]
    fn aligns_columns_by_display_width() {
        let mut t = Table::new(&["A", "BB"]);
        t.row(vec!["x…y".into(), "1".into()]);
        t.row(vec!["long value".into(), Cell::styled("2", style::OK)]);
        let plain = anstream::adapter::strip_str(&t.render()).to_string();
        assert_eq!(plain, "A           BB\nx…y         1\nlong value  2\n");
    }

    #[test]
    fn invisible_characters_are_made_visible() {
        assert_eq!(sanitize("a\u{202E}b\u{200B}c\u{FEFF}"), "a?b?c?");
        assert_eq!(sanitize("ünïcødé ✓"), "ünïcødé ✓");
    }

    #[test]
    fn control_characters_are_neutralised() {
        let mut t = Table::new(&["A"]);
        t.row(vec!["a\x1b[31mb\nc".into()]);
        let plain = anstream::adapter::strip_str(&t.render()).to_string();
        assert_eq!(plain, "A\na [31mb c\n");
    }
}
