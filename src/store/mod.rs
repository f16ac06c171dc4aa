//! The SQLite ledger in xnai's data directory. One file, WAL mode, a busy timeout so several
//! xnai processes can write at once, migrations by `PRAGMA user_version`.
//!
//! Holds runs, usage events, file cursors, quota observations and snapshots; dispatch state
//! joins it in a later migration.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::fsutil;

mod dispatch;
mod quota;
mod usage;

pub use quota::{Snapshot, Sums};
pub use usage::{Cursor, SkippedLines, UsageRow};

/// Creates the ledger file empty and 0600 unless it exists, so SQLite's -wal and -shm files
/// get that mode too. Never by opening the ledger itself: closing any descriptor of a file
/// drops every POSIX lock the process holds on it, SQLite's own included, and another
/// process's SQLite would then take itself for the last user, checkpoint and delete the WAL
/// under a connection still writing to it. The file is made under a temporary name, closed,
/// then linked into place (never replacing one another thread or process made meanwhile).
fn create_private_file(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".xnai-tmp-")
        .permissions(std::fs::Permissions::from_mode(fsutil::FILE_MODE))
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a temporary file in", dir, e))?
        .into_temp_path();
    match tmp.persist_noclobber(path) {
        Ok(()) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("creating the ledger", path, e.error)),
    }
}

/// Schema migrations, applied in order; index + 1 is the `user_version` after each.
const MIGRATIONS: &[&str] = &[
    // 1: the run ledger. Never arguments or environment: they can hold secrets.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        account TEXT NOT NULL,
        command TEXT NOT NULL,      -- run | login
        program TEXT NOT NULL,      -- file name of argv[0] only
        started_at TEXT NOT NULL,   -- RFC 3339, UTC
        started_ms INTEGER NOT NULL,
        duration_ms INTEGER,
        exit_code INTEGER,
        signal INTEGER,
        forced INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_account ON runs(provider, account, started_ms);",
    // 2: usage. Events are keyed per account by a stable hash of the tool's own identity of a
    // response, so re-scans and copies of a log never count twice; the larger revision wins.
    "CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        account TEXT NOT NULL,
        UNIQUE (provider, account)
    );
    CREATE TABLE usage_events (
        account INTEGER NOT NULL,
        key INTEGER NOT NULL,
        tool TEXT NOT NULL,
        revision INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        model TEXT NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        cache_write INTEGER NOT NULL,
        reasoning INTEGER NOT NULL,
        cost REAL,
        requests INTEGER NOT NULL,
        PRIMARY KEY (account, key)
    ) WITHOUT ROWID;
    CREATE TABLE usage_files (
        account INTEGER NOT NULL,
        path TEXT NOT NULL,
        tool TEXT NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (account, path)
    ) WITHOUT ROWID;
    CREATE TABLE quota_observations (
        account INTEGER NOT NULL,
        source TEXT NOT NULL,
        window TEXT NOT NULL,
        observed_ms INTEGER NOT NULL,
        used_percent REAL NOT NULL,
        window_minutes INTEGER,
        resets_at_ms INTEGER,
        PRIMARY KEY (account, source, window, observed_ms)
    ) WITHOUT ROWID;",
    // 3: daily totals per account, tool and model, kept in step with usage_events by the scan,
    // so reports read a few hundred rows instead of every event.
    "CREATE TABLE usage_daily (
        account INTEGER NOT NULL,
        day INTEGER NOT NULL,       -- days since 1970-01-01, UTC
        tool TEXT NOT NULL,
        model TEXT NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        cache_write INTEGER NOT NULL,
        reasoning INTEGER NOT NULL,
        cost REAL NOT NULL,
        cost_events INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (account, day, tool, model)
    ) WITHOUT ROWID;
    INSERT INTO usage_daily
        SELECT account, ts_ms / 86400000, tool, model, SUM(input), SUM(output), SUM(cache_read),
               SUM(cache_write), SUM(reasoning), TOTAL(cost), COUNT(cost), SUM(requests), COUNT(*)
        FROM usage_events GROUP BY 1, 2, 3, 4;",
    // 4: what each audit saw per quota window, one row per account, limit and day (the last
    // audit of a day wins). History that outlives the agents' own logs, which they prune.
    "CREATE TABLE quota_snapshots (
        account INTEGER NOT NULL,
        quota TEXT NOT NULL,        -- unit/window, such as tokens/weekly
        day INTEGER NOT NULL,       -- days since 1970-01-01, UTC, of taken_ms
        taken_ms INTEGER NOT NULL,
        window_start_ms INTEGER,
        used REAL NOT NULL,
        limit_value REAL,
        PRIMARY KEY (account, quota, day)
    ) WITHOUT ROWID;",
    // 5: a hash of the bytes just before each cursor's offset, so a log rewritten in place
    // (same inode, same or larger size) is read again from the start instead of from the old
    // offset.
    "ALTER TABLE usage_files ADD COLUMN tail_hash INTEGER;",
    // 6: the dispatcher's shared state: per account cooldown (rate limit or exhausted quota,
    // with its backoff level and when it was set, so a burst of failures from tasks already in
    // flight changes it once), a rejected credential's fingerprint, the run-time EWMA and last
    // use; leases of runs in flight (pid + its start time, so a dead holder's lease is
    // reclaimed); and a log of state changes.
    "CREATE TABLE dispatch_accounts (
        provider TEXT NOT NULL,
        account TEXT NOT NULL,
        cooldown_until_ms INTEGER,
        cooldown_why TEXT,
        cooldown_level INTEGER NOT NULL DEFAULT 0,
        cooldown_set_ms INTEGER,
        rejected_fingerprint TEXT,
        rejected_ms INTEGER,
        latency_ewma_ms REAL,
        latency_samples INTEGER NOT NULL DEFAULT 0,
        last_used_ms INTEGER,
        PRIMARY KEY (provider, account)
    ) WITHOUT ROWID;
    CREATE TABLE dispatch_leases (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        account TEXT NOT NULL,
        pid INTEGER NOT NULL,
        pid_start INTEGER NOT NULL,
        started_ms INTEGER NOT NULL
    );
    CREATE INDEX dispatch_leases_account ON dispatch_leases (provider, account);
    CREATE TABLE dispatch_events (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        provider TEXT NOT NULL,
        account TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT
    );",
    // 7: the process a lease's run started (pid + start time) and, for an agent in a process
    // group of its own, that group: a run outlives a dispatcher killed with SIGKILL while the
    // agent or what it started still runs, and its lease must hold until then.
    "ALTER TABLE dispatch_leases ADD COLUMN agent_pid INTEGER;
    ALTER TABLE dispatch_leases ADD COLUMN agent_start INTEGER;
    ALTER TABLE dispatch_leases ADD COLUMN agent_pgid INTEGER;",
    // 8: when each account's usage scan last finished. Until one has, the ledger's silence
    // about an account means "not read yet", not "nothing used" (a first scan that times out
    // must not show 0 %). Accounts with file cursors had finished one before (time unknown: 0).
    "CREATE TABLE usage_scans (
        account INTEGER PRIMARY KEY,
        completed_ms INTEGER NOT NULL
    );
    INSERT INTO usage_scans SELECT DISTINCT account, 0 FROM usage_files;",
    // 9: lines each file's reading skipped (unparsable, over the line limit), kept with its
    // cursor so every later audit still reports the usage they may have held, not only the
    // scan that met them.
    "ALTER TABLE usage_files ADD COLUMN corrupt INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage_files ADD COLUMN oversized INTEGER NOT NULL DEFAULT 0;",
];

/// An open ledger.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    /// Row id.
    pub id: i64,
    /// Provider section id.
    pub provider: String,
    /// Account id.
    pub account: String,
    /// `run` or `login`.
    pub command: String,
    /// The program's file name.
    pub program: String,
    /// Start time, RFC 3339.
    pub started_at: String,
    /// Duration in milliseconds, once finished.
    pub duration_ms: Option<i64>,
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Signal, if one killed it.
    pub signal: Option<i32>,
    /// Whether XNAI_FORCE_ACCOUNT chose the account.
    pub forced: bool,
}

pub(crate) fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let hint = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => Some(
            "another xnai process kept the ledger busy for more than 10 s; run this again when \
             it has finished"
                .to_string(),
        ),
        Some(C::NotADatabase | C::DatabaseCorrupt) => Some(format!(
            "the file is damaged: move it away (mv {0} {0}.bad) and xnai starts a new ledger; \
             usage is read again from the agents' logs",
            fsutil::shell_quote(&path.display().to_string())
        )),
        Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied) => Some(format!(
            "xnai needs to write {} and its directory: check their owner and permissions",
            path.display()
        )),
        Some(C::DiskFull) => Some("free some disk space and run this again".to_string()),
        _ => None,
    };
    Error::usage(format!("ledger {}: {e}", path.display()), hint)
}

impl Store {
    /// Opens (creating if needed, 0600 in a 0700 directory) and migrates the ledger.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            fsutil::create_private_dir_all(dir)?;
        }
        create_private_file(path)?;
        // An existing ledger made readable by someone else is made private again (by path:
        // see create_private_file for why no descriptor is opened here).
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ =
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(fsutil::FILE_MODE));
        }
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| db_err(path, e))?;
        // Larger pages for a new ledger (an existing one keeps its size): a first scan inserts
        // a few hundred thousand rows, and fewer, fuller B-tree pages save about a tenth.
        conn.pragma_update(None, "page_size", 16384)
            .map_err(|e| db_err(path, e))?;
        // Switching a new ledger to WAL needs an exclusive lock, and SQLite reports a clash
        // with another process doing the same at once as busy without waiting: retry.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(db_err(path, e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| db_err(path, e))?;
        // A first scan writes tens of MB at once. Copying the WAL into the database right after
        // (at commit, or when xnai exits) would add a third to its time; instead the copy
        // happens once the WAL passes 10,000 pages (160 MB at 16 KiB pages), during some later
        // write. As with any WAL database
        // at synchronous=NORMAL, a power cut may lose the latest commits but never corrupts
        // the ledger, and since cursors and events are committed together, the next scan simply
        // reads again what was lost.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)
            .map_err(|e| db_err(path, e))?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(|e| db_err(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_err(&path, e))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::usage(
                format!(
                    "ledger {} has schema version {version}, newer than this xnai ({known})",
                    path.display()
                ),
                Some("upgrade xnai".to_string()),
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).map_err(|e| db_err(&path, e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| db_err(&path, e))?;
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }

    /// Records the start of a run and returns its id.
    pub fn start_run(
        &self,
        provider: &str,
        account: &str,
        command: &str,
        program: &str,
        started: Timestamp,
        forced: bool,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO runs (provider, account, command, program, started_at, started_ms, forced)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    provider,
                    account,
                    command,
                    program,
                    started.to_string(),
                    started.as_millisecond(),
                    forced
                ],
            )
            .map_err(|e| db_err(&self.path, e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        id: i64,
        duration_ms: i64,
        exit_code: Option<i32>,
        signal: Option<i32>,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET duration_ms = ?2, exit_code = ?3, signal = ?4 WHERE id = ?1",
                params![id, duration_ms, exit_code, signal],
            )
            .map_err(|e| db_err(&self.path, e))?;
        Ok(())
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, provider, account, command, program, started_at, duration_ms,
                        exit_code, signal, forced
                 FROM runs ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    provider: r.get(1)?,
                    account: r.get(2)?,
                    command: r.get(3)?,
                    program: r.get(4)?,
                    started_at: r.get(5)?,
                    duration_ms: r.get(6)?,
                    exit_code: r.get(7)?,
                    signal: r.get(8)?,
                    forced: r.get(9)?,
                })
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    /// Fails when SQLite finds the ledger damaged (`PRAGMA quick_check`): figures read from a
    /// damaged file may be silently wrong, so the audit stops instead.
    pub fn quick_check(&self) -> Result<()> {
        let mut st = self
            .conn
            .prepare("PRAGMA quick_check(3)")
            .map_err(|e| db_err(&self.path, e))?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| db_err(&self.path, e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| db_err(&self.path, e))?;
        if rows.len() == 1 && rows[0] == "ok" {
            return Ok(());
        }
        Err(Error::usage(
            format!(
                "the ledger {} is damaged: {}",
                self.path.display(),
                rows.join("; ")
            ),
            Some(format!(
                "move it aside (mv {0} {0}.damaged): the next run rebuilds it from the agents' \
                 logs (history older than the logs and dispatch cooldowns are lost)",
                crate::fsutil::shell_quote(&self.path.to_string_lossy())
            )),
        ))
    }

    /// The schema version (tests).
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .optional()
            .map_err(|e| db_err(&self.path, e))
            .map(|v| v.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Another program reading the ledger (sqlite3, a backup) while xnai holds it open must
    /// not take the WAL away from xnai's connection: opening the ledger a second time in the
    /// same process (as the audit's collector threads do) must leave the first connection's
    /// locks in place.
    #[test]
    fn a_second_open_and_another_reader_leave_the_wal_to_the_first_connection() {
        if std::process::Command::new("python3")
            .arg("-V")
            .output()
            .is_err()
        {
            eprintln!("python3 not installed: skipped");
            return;
        }
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path().join("xnai.db");
        let a = Store::open(&p).expect("open");
        let at = Timestamp::from_second(1_800_000_000).expect("ts");
        a.start_run("claude", "a", "dispatch", "claude", at, false)
            .expect("first write");
        drop(Store::open(&p).expect("second open"));
        let read = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('select count(*) from runs').fetchall()\nc.close()",
            ])
            .arg(&p)
            .status()
            .expect("python3");
        assert!(read.success());
        assert!(
            t.path().join("xnai.db-wal").exists(),
            "the reader took the WAL away from a live connection"
        );
        a.start_run("claude", "b", "dispatch", "claude", at, false)
            .expect("second write");
        drop(a);
        let again = Store::open(&p).expect("reopen");
        assert_eq!(again.recent_runs(10).expect("runs").len(), 2);
    }

    #[test]
    fn records_runs_in_a_private_file() {
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path().join("d/xnai.db");
        let s = Store::open(&p).expect("open");
        assert_eq!(s.schema_version().expect("v"), MIGRATIONS.len() as i64);
        let id = s
            .start_run(
                "copilot",
                "work",
                "run",
                "gh",
                Timestamp::from_second(1_800_000_000).expect("ts"),
                false,
            )
            .expect("start");
        s.finish_run(id, 1234, None, Some(15)).expect("finish");
        let runs = s.recent_runs(10).expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].program, "gh");
        assert_eq!(runs[0].started_at, "2027-01-15T08:00:00Z");
        assert_eq!(runs[0].duration_ms, Some(1234));
        assert_eq!(runs[0].signal, Some(15));
        assert_eq!(std::fs::metadata(&p).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(t.path().join("d")).expect("meta").mode() & 0o777,
            0o700
        );
        // Reopening does not re-run migrations.
        drop(s);
        let s = Store::open(&p).expect("reopen");
        assert_eq!(s.recent_runs(10).expect("runs").len(), 1);
    }

    #[test]
    fn a_ledger_from_before_scan_records_counts_accounts_with_cursors_as_scanned() {
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path().join("xnai.db");
        {
            // A version-7 ledger: account 1 was scanned (it has a cursor), account 2 not.
            let c = Connection::open(&p).expect("open");
            for sql in &MIGRATIONS[..7] {
                c.execute_batch(sql).expect("migrate");
            }
            c.execute_batch(
                "PRAGMA user_version = 7;
                 INSERT INTO accounts (id, provider, account) VALUES (1, 'p', 'a'), (2, 'p', 'b');
                 INSERT INTO usage_files (account, path, tool, dev, ino, size, mtime_ns, offset, state)
                     VALUES (1, '/l.jsonl', 'claude', 1, 2, 3, 4, 3, '{}');",
            )
            .expect("seed");
        }
        let s = Store::open(&p).expect("upgrade");
        assert_eq!(s.last_scan_ms(1).expect("q"), Some(0));
        assert_eq!(s.last_scan_ms(2).expect("q"), None);
        s.mark_scanned(2, 5, false).expect("mark");
        s.mark_scanned(2, 9, false)
            .expect("idle re-scan keeps the first");
        assert_eq!(s.last_scan_ms(2).expect("q"), Some(5));
        s.mark_scanned(2, 9, true).expect("mark");
        assert_eq!(s.last_scan_ms(2).expect("q"), Some(9));
    }
}
