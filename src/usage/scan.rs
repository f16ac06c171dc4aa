//! The incremental scan: find each account's log files, read what is new since the last scan
//! (in parallel, in bounded memory), and store the results in the ledger.
//!
//! Per file the ledger remembers identity (device, inode), size, mtime and the offset after the
//! last complete line. An unchanged file is not opened; a grown one is read from that offset; a
//! replaced or truncated one from the start. Re-reading never double counts: events are keyed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Event, FileKind, FileState, LogFormat, Observation, Output};
use crate::error::Result;
use crate::store::{Cursor, Store};

/// A directory holding one format's logs.
#[derive(Clone)]
pub struct Source {
    /// The directory.
    pub root: PathBuf,
    /// Its format.
    pub format: &'static dyn LogFormat,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("root", &self.root)
            .field("tool", &self.format.tool())
            .finish()
    }
}

/// An account and where its logs are.
#[derive(Debug, Clone)]
pub struct Target {
    /// Provider section id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// Its log directories.
    pub sources: Vec<Source>,
}

/// What a scan did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    /// Log files found.
    pub files: u64,
    /// Files read (new, grown, replaced or changed).
    pub files_read: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Usage records found in what was read (before de-duplication).
    pub records: u64,
    /// Quota observations found.
    pub observations: u64,
    /// Lines or records that could not be parsed.
    pub corrupt: u64,
    /// Lines longer than the line limit, skipped.
    pub oversized: u64,
    /// Files that could not be read, with the reason; the scan went on without them.
    pub errors: Vec<String>,
}

/// Lines longer than this are skipped (a multi-megabyte assistant line does not exist in
/// practice; file-history snapshots that long carry no usage).
pub const MAX_LINE: usize = 16 * 1024 * 1024;
/// Read size for files larger than one read.
const CHUNK: usize = 4 * 1024 * 1024;

struct Work {
    target: usize,
    path: PathBuf,
    key: String,
    format: &'static dyn LogFormat,
    start: u64,
    state: FileState,
    meta: std::fs::Metadata,
}

struct Done {
    target: usize,
    key: String,
    tool: &'static str,
    cursor: Option<Cursor>,
    out: Output,
    bytes: u64,
    oversized: u64,
    error: Option<String>,
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec())
}

/// Lists the files under `root` that `format` wants. Directory symlinks inside the tree are not
/// followed (no loops, no double counting); the root itself may be a symlink.
fn walk(root: &Path, format: &dyn LogFormat, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                errors.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        for entry in rd.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let p = entry.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && format.wants(&p) {
                out.push(p);
            }
        }
    }
}

/// Scans `targets` and saves the results. `threads` bounds the parallelism.
pub fn scan(store: &mut Store, targets: &[Target], threads: usize) -> Result<Stats> {
    let mut stats = Stats::default();
    let mut account_ids = Vec::with_capacity(targets.len());
    let mut work = Vec::new();
    let mut unchanged = 0u64;
    for (ti, t) in targets.iter().enumerate() {
        let id = store.account_id(&t.provider, &t.account)?;
        account_ids.push(id);
        let cursors = store.cursors(id)?;
        for src in &t.sources {
            let mut files = Vec::new();
            walk(&src.root, src.format, &mut files, &mut stats.errors);
            for path in files {
                stats.files += 1;
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        stats.errors.push(format!("{}: {e}", path.display()));
                        continue;
                    }
                };
                let key = path.to_string_lossy().into_owned();
                let (start, state) = match cursors.get(&key) {
                    Some(c)
                        if c.dev == meta.dev()
                            && c.ino == meta.ino()
                            && c.size == meta.len()
                            && c.mtime_ns == mtime_ns(&meta) =>
                    {
                        unchanged += 1;
                        continue;
                    }
                    // Same file, grown: continue after the last complete line.
                    Some(c)
                        if src.format.kind() == FileKind::Lines
                            && c.dev == meta.dev()
                            && c.ino == meta.ino()
                            && meta.len() >= c.size
                            && meta.len() >= c.offset =>
                    {
                        (c.offset, c.state.clone())
                    }
                    // New, replaced, truncated, or a whole-file format: from the start.
                    _ => (0, FileState::new()),
                };
                work.push(Work {
                    target: ti,
                    path,
                    key,
                    format: src.format,
                    start,
                    state,
                    meta,
                });
            }
        }
    }
    let _ = unchanged;
    // Large files first, so one big file does not finish alone at the end.
    work.sort_by_key(|w| std::cmp::Reverse(w.meta.len().saturating_sub(w.start)));

    let done = run_parallel(&work, threads.max(1));

    // Merge per account: the largest revision of each key wins.
    let mut per_account: Vec<PerAccount> =
        (0..targets.len()).map(|_| PerAccount::default()).collect();
    for d in done {
        stats.bytes_read += d.bytes;
        stats.oversized += d.oversized;
        stats.corrupt += d.out.corrupt;
        if let Some(e) = d.error {
            stats.errors.push(e);
        }
        let acc = &mut per_account[d.target];
        if d.cursor.is_some() || d.bytes > 0 {
            stats.files_read += 1;
        }
        stats.records += d.out.events.len() as u64;
        stats.observations += d.out.observations.len() as u64;
        for e in d.out.events {
            match acc.events.get_mut(&e.key) {
                Some((_, have)) if have.revision >= e.revision => {}
                Some(slot) => *slot = (d.tool, e),
                None => {
                    acc.events.insert(e.key, (d.tool, e));
                }
            }
        }
        acc.observations
            .extend(d.out.observations.into_iter().map(|o| (d.tool, o)));
        if let Some(c) = d.cursor {
            acc.cursors.push((d.key, d.tool, c));
        }
    }
    for (ti, acc) in per_account.into_iter().enumerate() {
        let mut events: Vec<(&'static str, Event)> = acc.events.into_values().collect();
        if events.is_empty() && acc.cursors.is_empty() && acc.observations.is_empty() {
            continue;
        }
        store.save_scan(
            account_ids[ti],
            &mut events,
            &acc.cursors,
            &acc.observations,
        )?;
    }
    Ok(stats)
}

#[derive(Default)]
struct PerAccount {
    events: HashMap<u64, (&'static str, Event)>,
    cursors: Vec<(String, &'static str, Cursor)>,
    observations: Vec<(&'static str, Observation)>,
}

fn run_parallel(work: &[Work], threads: usize) -> Vec<Done> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::with_capacity(work.len()));
    let n = threads.min(work.len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let mut buf = Vec::new();
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(w) = work.get(i) else { break };
                    local.push(process(w, &mut buf));
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(local);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn process(w: &Work, buf: &mut Vec<u8>) -> Done {
    let tool = w.format.tool();
    let mut done = Done {
        target: w.target,
        key: w.key.clone(),
        tool,
        cursor: None,
        out: Output::default(),
        bytes: 0,
        oversized: 0,
        error: None,
    };
    let cursor = |offset: u64, state: FileState| Cursor {
        dev: w.meta.dev(),
        ino: w.meta.ino(),
        size: w.meta.len(),
        mtime_ns: mtime_ns(&w.meta),
        offset,
        state,
    };
    match w.format.kind() {
        FileKind::Whole | FileKind::Sqlite => match w.format.parse_file(&w.path, &mut done.out) {
            Ok(()) => {
                done.bytes = w.meta.len();
                done.cursor = Some(cursor(w.meta.len(), FileState::new()));
            }
            Err(e) => done.error = Some(format!("{}: {e}", w.path.display())),
        },
        FileKind::Lines => {
            let mut state = w.state.clone();
            match read_lines(w, buf, &mut state, &mut done) {
                Ok(offset) => done.cursor = Some(cursor(offset, state)),
                Err(e) => done.error = Some(format!("{}: {e}", w.path.display())),
            }
        }
    }
    done
}

/// Reads the file from `w.start`, parses every complete line the prefilter selects, and returns
/// the offset after the last complete line.
fn read_lines(
    w: &Work,
    buf: &mut Vec<u8>,
    state: &mut FileState,
    done: &mut Done,
) -> std::io::Result<u64> {
    let mut f = File::open(&w.path)?;
    if w.start > 0 {
        f.seek(SeekFrom::Start(w.start))?;
    }
    let finder = w.format.prefilter().map(memchr::memmem::Finder::new);
    let mut consumed = w.start;
    buf.clear();
    let mut skipping_long_line = false;
    loop {
        let want = if buf.len() < CHUNK { CHUNK } else { buf.len() };
        let before = buf.len();
        buf.reserve(want);
        let n = (&mut f).take(want as u64).read_to_end(buf)?;
        done.bytes += n as u64;
        let eof = n == 0 || buf.len() == before;
        if skipping_long_line {
            match memchr::memchr(b'\n', buf) {
                Some(nl) => {
                    consumed += (nl + 1) as u64;
                    buf.drain(..=nl);
                    skipping_long_line = false;
                }
                None => {
                    consumed += buf.len() as u64;
                    buf.clear();
                    if eof {
                        break;
                    }
                    continue;
                }
            }
        }
        let complete = match memchr::memrchr(b'\n', buf) {
            Some(nl) => nl + 1,
            None => 0,
        };
        parse_region(
            &buf[..complete],
            w.format,
            &w.path,
            finder.as_ref(),
            state,
            &mut done.out,
        );
        consumed += complete as u64;
        buf.drain(..complete);
        if eof {
            // A last line without its newline may still be being written: it is parsed only
            // once complete, so the cursor stays before it.
            break;
        }
        if buf.len() >= MAX_LINE {
            done.oversized += 1;
            consumed += buf.len() as u64;
            buf.clear();
            skipping_long_line = true;
        }
    }
    Ok(consumed)
}

/// Parses the complete lines in `region` (which ends with a newline, or is empty).
fn parse_region(
    region: &[u8],
    format: &dyn LogFormat,
    file: &Path,
    finder: Option<&memchr::memmem::Finder<'_>>,
    state: &mut FileState,
    out: &mut Output,
) {
    let parse = |line: &[u8], state: &mut FileState, out: &mut Output| {
        let line = trim(line);
        if !line.is_empty() && format.parse_line(line, file, state, out).is_err() {
            out.corrupt += 1;
        }
    };
    match finder {
        Some(f) => {
            let mut pos = 0;
            while pos < region.len() {
                let Some(hit) = f.find(&region[pos..]) else {
                    break;
                };
                let at = pos + hit;
                let start = memchr::memrchr(b'\n', &region[pos..at]).map_or(pos, |i| pos + i + 1);
                let end = memchr::memchr(b'\n', &region[at..]).map_or(region.len(), |i| at + i);
                parse(&region[start..end], state, out);
                pos = end + 1;
            }
        }
        None => {
            for line in region.split(|b| *b == b'\n') {
                parse(line, state, out);
            }
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let [rest @ .., b'\r' | b' ' | b'\t'] = l {
        l = rest;
    }
    l
}
