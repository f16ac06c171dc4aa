//! The incremental scan: find each account's log files, read what is new since the last scan
//! (in parallel, in bounded memory), and store the results in the ledger.
//!
//! Per file the ledger remembers identity (device, inode), size, mtime and the offset after the
//! last complete line. An unchanged file is not opened; a grown one is read from that offset; a
//! replaced or truncated one from the start. Re-reading never double counts: events are keyed.

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
    /// Usage records found in what was read (a streamed response's chunks count once;
    /// copies in other files are de-duplicated later).
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
const CHUNK: usize = 1024 * 1024;

struct Work {
    target: usize,
    path: PathBuf,
    key: String,
    format: &'static dyn LogFormat,
    start: u64,
    state: FileState,
    /// The cursor's hash of the bytes before `start`, checked before reading on from there.
    tail_hash: Option<u64>,
    /// Lines skipped before `start` (unparsable, oversized), carried into the new cursor.
    prior_skipped: (u64, u64),
    id: FileId,
}

/// What identifies a file's version: device, inode, size, mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl FileId {
    /// A SQLite database in WAL mode changes in its `-wal` file first: both count.
    fn of(path: &Path, meta: &std::fs::Metadata, kind: FileKind) -> FileId {
        let mut id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: mtime_ns(meta),
        };
        if kind == FileKind::Sqlite {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            if let Ok(w) = std::fs::metadata(&wal) {
                id.size += w.len();
                id.mtime_ns = id.mtime_ns.max(mtime_ns(&w));
            }
        }
        id
    }
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec())
}

/// Lists the files under `root` that `format` wants. Directory symlinks inside the tree are not
/// followed (no loops, no double counting); the root itself may be a symlink.
fn walk(root: &Path, format: &dyn LogFormat, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    // A source may name a single file (OpenCode's database).
    if std::fs::metadata(root).is_ok_and(|m| m.is_file()) {
        if format.wants(root) {
            out.push(root.to_path_buf());
        }
        return;
    }
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
                let key = path_key(&path);
                let id = FileId::of(&path, &meta, src.format.kind());
                let (start, state, tail_hash, prior_skipped) = match cursors.get(&key) {
                    Some(c)
                        if c.dev == id.dev
                            && c.ino == id.ino
                            && c.size == id.size
                            && c.mtime_ns == id.mtime_ns =>
                    {
                        continue;
                    }
                    // Same file, grown: continue after the last complete line.
                    Some(c)
                        if src.format.kind() == FileKind::Lines
                            && c.dev == id.dev
                            && c.ino == id.ino
                            && id.size >= c.size
                            && id.size >= c.offset =>
                    {
                        (
                            c.offset,
                            c.state.clone(),
                            c.tail_hash,
                            (c.corrupt, c.oversized),
                        )
                    }
                    // New, replaced, truncated, or a whole-file format: from the start.
                    _ => (0, FileState::new(), None, (0, 0)),
                };
                work.push(Work {
                    target: ti,
                    path,
                    key,
                    format: src.format,
                    start,
                    state,
                    tail_hash,
                    prior_skipped,
                    id,
                });
            }
        }
    }
    // Large files first, so one big file does not finish alone at the end.
    work.sort_by_key(|w| std::cmp::Reverse(w.id.size.saturating_sub(w.start)));

    let (files, mut accs) = run_parallel(&work, threads.max(1));

    let mut cursors: Vec<Vec<(String, &'static str, Cursor)>> = vec![Vec::new(); targets.len()];
    for f in files {
        stats.bytes_read += f.bytes;
        stats.oversized += f.oversized;
        stats.corrupt += f.corrupt;
        stats.records += f.records;
        stats.observations += f.observations;
        if let Some(e) = f.error {
            stats.errors.push(e);
        }
        if let Some(c) = f.cursor {
            stats.files_read += 1;
            cursors[f.target].push((f.key, f.tool, c));
        }
    }
    // Merge the threads' records: sorted by account and key, the largest revision of each key
    // wins. The sort also gives the ledger its in-order inserts. Appending to the largest
    // list (a realloc that moves pages, not bytes) keeps about one copy in memory.
    accs.sort_by_key(|a| std::cmp::Reverse(a.events.len()));
    let mut observations: Vec<(usize, &'static str, Observation)> = Vec::new();
    let mut all: Vec<(usize, &'static str, Event)> = Vec::new();
    for mut acc in accs {
        if all.is_empty() {
            all = std::mem::take(&mut acc.events);
        } else {
            all.append(&mut acc.events);
        }
        observations.extend(acc.observations);
    }
    all.sort_unstable_by_key(|(t, _, e)| (*t, e.key as i64, std::cmp::Reverse(e.revision)));
    all.dedup_by(|later, first| later.0 == first.0 && later.2.key == first.2.key);
    let mut obs: Vec<Vec<(&'static str, Observation)>> = vec![Vec::new(); targets.len()];
    for (target, tool, o) in observations {
        obs[target].push((tool, o));
    }
    let mut rest = all.as_slice();
    for ti in 0..targets.len() {
        let n = rest.partition_point(|(t, _, _)| *t == ti);
        let (events, after) = rest.split_at(n);
        rest = after;
        let now_ms = jiff::Timestamp::now().as_millisecond();
        if events.is_empty() && cursors[ti].is_empty() && obs[ti].is_empty() {
            store.mark_scanned(account_ids[ti], now_ms, false)?;
            continue;
        }
        let events = events.iter().map(|(_, tool, e)| (*tool, e));
        store.save_scan(account_ids[ti], events, &cursors[ti], &obs[ti])?;
        store.mark_scanned(account_ids[ti], now_ms, true)?;
    }
    Ok(stats)
}

/// What one thread gathered: events (each file's adjacent chunks of one response already
/// collapsed) and observations.
#[derive(Default)]
struct ThreadAcc {
    events: Vec<(usize, &'static str, Event)>,
    observations: Vec<(usize, &'static str, Observation)>,
}

/// What reading one file did.
struct FileDone {
    target: usize,
    key: String,
    tool: &'static str,
    cursor: Option<Cursor>,
    bytes: u64,
    oversized: u64,
    corrupt: u64,
    records: u64,
    observations: u64,
    error: Option<String>,
    /// The file was read again from its start (rewritten in place).
    restarted: bool,
}

fn run_parallel(work: &[Work], threads: usize) -> (Vec<FileDone>, Vec<ThreadAcc>) {
    let next = AtomicUsize::new(0);
    let results: Mutex<(Vec<FileDone>, Vec<ThreadAcc>)> =
        Mutex::new((Vec::with_capacity(work.len()), Vec::new()));
    let n = threads.min(work.len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let mut buf = Vec::new();
                let mut out = Output::default();
                let mut acc = ThreadAcc::default();
                let mut files = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(w) = work.get(i) else { break };
                    let mut done = process(w, &mut buf, &mut out);
                    done.records = out.events.len() as u64;
                    done.observations = out.observations.len() as u64;
                    done.corrupt = out.corrupt;
                    out.corrupt = 0;
                    let (pc, po) = if done.restarted {
                        (0, 0)
                    } else {
                        w.prior_skipped
                    };
                    if let Some(c) = done.cursor.as_mut() {
                        c.corrupt = pc + done.corrupt;
                        c.oversized = po + done.oversized;
                    }
                    acc.events
                        .extend(out.events.drain(..).map(|e| (w.target, done.tool, e)));
                    acc.observations
                        .extend(out.observations.drain(..).map(|o| (w.target, done.tool, o)));
                    files.push(done);
                }
                let mut r = results.lock().unwrap_or_else(|p| p.into_inner());
                r.0.extend(files);
                r.1.push(acc);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn process(w: &Work, buf: &mut Vec<u8>, out: &mut Output) -> FileDone {
    let tool = w.format.tool();
    let mut done = FileDone {
        target: w.target,
        key: w.key.clone(),
        tool,
        cursor: None,
        bytes: 0,
        oversized: 0,
        corrupt: 0,
        records: 0,
        observations: 0,
        error: None,
        restarted: false,
    };
    let cursor = |offset: u64, state: FileState, tail_hash: Option<u64>| Cursor {
        dev: w.id.dev,
        ino: w.id.ino,
        size: w.id.size,
        mtime_ns: w.id.mtime_ns,
        offset,
        state,
        tail_hash,
        corrupt: 0,
        oversized: 0,
    };
    match w.format.kind() {
        FileKind::Whole | FileKind::Sqlite => match w.format.parse_file(&w.path, out) {
            Ok(()) => {
                done.bytes = w.id.size;
                done.cursor = Some(cursor(w.id.size, FileState::new(), None));
            }
            Err(e) => done.error = Some(format!("{}: {e}", w.path.display())),
        },
        FileKind::Lines => {
            let mut state = w.state.clone();
            match read_lines(w, buf, &mut state, out, &mut done) {
                Ok((offset, tail)) => done.cursor = Some(cursor(offset, state, tail)),
                Err(e) => done.error = Some(format!("{}: {e}", w.path.display())),
            }
        }
    }
    done
}

/// How many bytes before a cursor's offset its fingerprint covers.
const TAIL: u64 = 4096;

/// The fingerprint of the bytes before `offset`: unchanged while a file is only appended to,
/// different (almost surely) once it was rewritten in place.
fn tail_hash(f: &File, offset: u64) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let from = offset.saturating_sub(TAIL);
    let mut b = vec![0u8; (offset - from) as usize];
    let mut got = 0;
    while got < b.len() {
        match f.read_at(&mut b[got..], from + got as u64) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(crate::usage::stable_hash(&[&b])))
}

/// The cursor key of a path: the path itself, or for a name that is not UTF-8 (which a lossy
/// conversion would confuse with another) `x:` and its bytes in hex. Scanned paths are
/// absolute, so the two never meet.
fn path_key(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    match p.to_str() {
        Some(s) => s.to_string(),
        None => {
            let bytes = p.as_os_str().as_bytes();
            let mut s = String::with_capacity(2 + bytes.len() * 2);
            s.push_str("x:");
            for b in bytes {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
    }
}

/// Reads the file from `w.start` (from the start when the bytes before it changed), parses
/// every complete line the prefilter selects, and returns the offset after the last complete
/// line with the fingerprint of the bytes before it.
fn read_lines(
    w: &Work,
    buf: &mut Vec<u8>,
    state: &mut FileState,
    out: &mut Output,
    done: &mut FileDone,
) -> std::io::Result<(u64, Option<u64>)> {
    let mut f = File::open(&w.path)?;
    let mut start = w.start;
    if start > 0 && w.tail_hash.is_some() && tail_hash(&f, start)? != w.tail_hash {
        // Rewritten in place: what was read before is gone; read it all again.
        start = 0;
        state.clear();
        done.restarted = true;
    }
    if start > 0 {
        f.seek(SeekFrom::Start(start))?;
    }
    let finder = w.format.prefilter().map(memchr::memmem::Finder::new);
    let mut consumed = start;
    // One plain read(2) per chunk straight into a reused buffer: most files fit in one read,
    // so a file costs two reads (its bytes, then end of file).
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut filled = 0;
    let mut skipping_long_line = false;
    loop {
        if filled == buf.len() {
            // No newline in a full buffer: one line longer than the buffer.
            if buf.len() < MAX_LINE {
                let grown = (buf.len() * 2).min(MAX_LINE);
                buf.resize(grown, 0);
            } else {
                done.oversized += 1;
                consumed += filled as u64;
                filled = 0;
                skipping_long_line = true;
            }
        }
        let n = match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        done.bytes += n as u64;
        filled += n;
        let mut from = 0;
        if skipping_long_line {
            match memchr::memchr(b'\n', &buf[..filled]) {
                Some(nl) => {
                    from = nl + 1;
                    skipping_long_line = false;
                }
                None => {
                    consumed += filled as u64;
                    filled = 0;
                    continue;
                }
            }
        }
        let complete = memchr::memrchr(b'\n', &buf[from..filled]).map_or(from, |i| from + i + 1);
        parse_region(
            &buf[from..complete],
            w.format,
            &w.path,
            finder.as_ref(),
            state,
            out,
        );
        consumed += complete as u64;
        buf.copy_within(complete..filled, 0);
        filled -= complete;
    }
    // A last line without its newline may still be being written: it is parsed only once
    // complete, so the cursor stays before it.
    Ok((consumed, tail_hash(&f, consumed)?))
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
            // Lines without the prefilter's bytes are never parsed, but a line that is not
            // even shaped like a JSON object (truncated, garbage) still counts as unreadable:
            // a cheap pass over the newlines.
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', region) {
                let l = trim(&region[start..nl]);
                if !l.is_empty() && !object_shaped(l) {
                    out.corrupt += 1;
                }
                start = nl + 1;
            }
            // Of a run of chunks of one streamed response, the furthest along, not parsed yet.
            let mut pending: Option<(&[u8], crate::usage::StreamKey<'_>)> = None;
            let mut pos = 0;
            while pos < region.len() {
                let Some(hit) = f.find(&region[pos..]) else {
                    break;
                };
                let at = pos + hit;
                let start = memchr::memrchr(b'\n', &region[pos..at]).map_or(pos, |i| pos + i + 1);
                let end = memchr::memchr(b'\n', &region[at..]).map_or(region.len(), |i| at + i);
                let l = trim(&region[start..end]);
                pos = end + 1;
                if !object_shaped(l) {
                    // Counted above already.
                    continue;
                }
                match format.stream_key(l) {
                    Some(key) => match pending {
                        Some((_, prev)) if prev.id == key.id => {
                            if key.rank >= prev.rank {
                                pending = Some((l, key));
                            }
                        }
                        _ => {
                            if let Some((prev, _)) = pending.replace((l, key)) {
                                parse(prev, state, out);
                            }
                        }
                    },
                    None => {
                        if let Some((prev, _)) = pending.take() {
                            parse(prev, state, out);
                        }
                        parse(l, state, out);
                    }
                }
            }
            if let Some((prev, _)) = pending {
                parse(prev, state, out);
            }
        }
        None => {
            for line in region.split(|b| *b == b'\n') {
                parse(line, state, out);
            }
        }
    }
}

/// Starts with `{` and ends with `}`: possibly a whole JSON object, not a truncated one.
fn object_shaped(l: &[u8]) -> bool {
    l.first() == Some(&b'{') && l.last() == Some(&b'}')
}

fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    if let [0xEF, 0xBB, 0xBF, rest @ ..] = l {
        // A byte order mark, as some editors write.
        l = rest;
    }
    while let [b' ' | b'\t', rest @ ..] = l {
        l = rest;
    }
    while let [rest @ .., b'\r' | b' ' | b'\t'] = l {
        l = rest;
    }
    l
}
