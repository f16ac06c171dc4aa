//! Collecting usage for many accounts at once: a few worker threads, each scanning one
//! account's logs into the ledger with its own connection. An account whose scan takes longer
//! than the timeout is reported as timed out and the audit goes on without waiting for it (a
//! log on a hung network mount must not stop the daily report).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;
use crate::usage::scan::{self, Target};

/// What collecting one account's usage did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// Files read (new or changed since the last scan).
    pub files_read: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Usage records found.
    pub records: u64,
    /// Files that could not be read, with the reason.
    pub unreadable: Vec<String>,
    /// The scan failed as a whole (the ledger could not be written, say).
    pub error: Option<String>,
    /// The scan did not finish within the timeout.
    pub timed_out: bool,
    /// That timeout, in seconds.
    pub timeout_secs: u64,
    /// How long it took (up to the timeout), ms.
    pub duration_ms: u64,
}

enum Msg {
    Started(usize),
    Done(usize, Collected),
}

/// Scans each target (one per account) into the ledger at `ledger`, `jobs` at a time, each
/// under `timeout`. `progress` is called as each account finishes, with its index. Results
/// come back in the order of `targets`.
pub fn collect(
    ledger: PathBuf,
    targets: Vec<Target>,
    jobs: usize,
    threads_per_scan: usize,
    timeout: Duration,
    progress: &mut dyn FnMut(usize),
) -> Vec<Collected> {
    let n = targets.len();
    let mut results: Vec<Option<Collected>> = vec![None; n];
    if n == 0 {
        return Vec::new();
    }
    let queue: Arc<Mutex<VecDeque<(usize, Target)>>> =
        Arc::new(Mutex::new(targets.into_iter().enumerate().collect()));
    let (tx, rx) = mpsc::channel::<Msg>();
    let spawn = |queue: Arc<Mutex<VecDeque<(usize, Target)>>>, tx: mpsc::Sender<Msg>| {
        let ledger = ledger.clone();
        std::thread::spawn(move || {
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((i, target)) = next else { break };
                if tx.send(Msg::Started(i)).is_err() {
                    break;
                }
                let t0 = Instant::now();
                let mut c = Collected::default();
                match Store::open(&ledger)
                    .and_then(|mut store| scan::scan(&mut store, &[target], threads_per_scan))
                {
                    Ok(stats) => {
                        c.files_read = stats.files_read;
                        c.bytes_read = stats.bytes_read;
                        c.records = stats.records;
                        c.unreadable = stats.errors;
                    }
                    Err(e) => c.error = Some(e.to_string()),
                }
                c.duration_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
                if tx.send(Msg::Done(i, c)).is_err() {
                    break;
                }
            }
        });
    };
    let workers = jobs.clamp(1, n);
    for _ in 0..workers {
        spawn(Arc::clone(&queue), tx.clone());
    }
    let mut started: Vec<Option<Instant>> = vec![None; n];
    let mut finished = 0;
    while finished < n {
        // Wait until a message comes or the earliest running account's deadline passes.
        let wait = started
            .iter()
            .zip(&results)
            .filter_map(|(s, r)| match (s, r) {
                (Some(t), None) => Some((*t + timeout).saturating_duration_since(Instant::now())),
                _ => None,
            })
            .min()
            .unwrap_or(timeout);
        match rx.recv_timeout(wait) {
            Ok(Msg::Started(i)) => started[i] = Some(Instant::now()),
            Ok(Msg::Done(i, c)) => {
                if results[i].is_none() {
                    results[i] = Some(c);
                    finished += 1;
                    progress(i);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                for i in 0..n {
                    if results[i].is_none()
                        && let Some(t) = started[i]
                        && now.duration_since(t) >= timeout
                    {
                        results[i] = Some(Collected {
                            timed_out: true,
                            timeout_secs: timeout.as_secs(),
                            duration_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                            ..Collected::default()
                        });
                        finished += 1;
                        progress(i);
                        // That worker is stuck: another takes over the queue.
                        spawn(Arc::clone(&queue), tx.clone());
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Collected {
                error: Some("the collector stopped before this account".to_string()),
                ..Collected::default()
            })
        })
        .collect()
}
