//! Running a command inside an instance: environment, signal forwarding, exit status and
//! optional masking of secrets in its output.
//!
//! Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT must reach the child exactly once. The child
//! stays in xnai's process group so it keeps the terminal; a signal the terminal generates
//! (Ctrl-C) therefore reaches both processes at once, and xnai must not forward it again. A
//! signal another process sent to xnai alone (`kill <xnai pid>`) is forwarded. The kernel tells
//! the two apart in `siginfo.si_code` (SI_KERNEL vs SI_USER), which signal-hook exposes.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithRawSiginfo;

use crate::error::{Error, Result};

/// The signals forwarded to the child.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// What to run.
pub struct Spec {
    /// Program and arguments; never passed through a shell.
    pub argv: Vec<OsString>,
    /// Variables added to (or replacing) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
    /// Secret values to replace in stdout/stderr (`--mask`); empty means the child writes to
    /// the terminal directly.
    pub mask: Vec<(String, String)>,
    /// Keep the last bytes of stdout and stderr (passed on as they come) so the caller can
    /// classify a failure from what the command said.
    pub capture: bool,
    /// Give the command an empty stdin (/dev/null) instead of xnai's: for agents run
    /// unattended, which may otherwise wait for input or read what was meant for xnai.
    pub stdin_null: bool,
    /// Run the command in a process group of its own and signal that whole group: a signal
    /// to xnai then also stops what the command started (an agent's tool processes). Only
    /// for commands that do not read the terminal: they are no longer in its foreground.
    pub own_group: bool,
    /// Stop the command (SIGTERM, then SIGKILL after [`KILL_GRACE`]) once it has run this
    /// long.
    pub timeout: Option<std::time::Duration>,
}

/// How long a command stopped for its timeout has to exit after SIGTERM before SIGKILL.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What [`run_captured`] saw.
#[derive(Debug)]
pub struct Captured {
    /// How the command ended.
    pub outcome: Outcome,
    /// The last [`CAPTURE_TAIL`] bytes of its stdout and stderr (empty without `capture`).
    pub tail: Vec<u8>,
    /// The first SIGINT, SIGTERM, SIGHUP or SIGQUIT xnai itself received while the command
    /// ran: the user or the system wants everything to stop.
    pub interrupted: Option<i32>,
    /// The command was stopped because it reached `Spec::timeout`.
    pub timed_out: bool,
}

/// How many bytes of output [`run_captured`] keeps: rate-limit and auth messages are printed
/// last.
pub const CAPTURE_TAIL: usize = 64 * 1024;

/// The end of a command's output.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    fn push(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
        if self.bytes.len() > 2 * CAPTURE_TAIL {
            let cut = self.bytes.len() - CAPTURE_TAIL;
            self.bytes.drain(..cut);
        }
    }
}

/// Writes to `inner` and keeps a copy in the shared tail.
struct Tee<W> {
    inner: W,
    tail: Arc<Mutex<Tail>>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code if it exited.
    pub code: Option<i32>,
    /// Signal number if a signal killed it.
    pub signal: Option<i32>,
}

impl Outcome {
    /// The exit code xnai passes on: the child's, or 128+N for signal N, as shells do.
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 1,
        }
    }

    fn from_status(s: ExitStatus) -> Self {
        Outcome {
            code: s.code(),
            signal: s.signal(),
        }
    }
}

/// Runs `spec`, forwarding signals, and waits for it.
pub fn run(spec: &Spec) -> Result<Outcome> {
    run_captured(spec).map(|c| c.outcome)
}

/// The kernel says ENOENT both for a missing program and for a script whose `#!` interpreter
/// is missing: name the second, or the user looks for a file that is there.
fn explain_not_found(program: &std::path::Path, e: std::io::Error) -> std::io::Error {
    use std::io::Read;
    if e.kind() != std::io::ErrorKind::NotFound {
        return e;
    }
    let path = std::env::var_os("PATH");
    let Some(file) = locate(program, path.as_deref(), &|f| f.is_file()) else {
        return e;
    };
    let mut head = [0u8; 256];
    let n = std::fs::File::open(&file)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let interpreter = head[..n]
        .split(|c| *c == b'\n')
        .next()
        .and_then(|l| l.strip_prefix(b"#!"))
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string);
    let why = match interpreter {
        Some(i) => format!("its interpreter {i} (the #! line) does not exist"),
        None => "the file exists but cannot be loaded (a missing interpreter or library)".into(),
    };
    std::io::Error::new(std::io::ErrorKind::NotFound, why)
}

/// Where `program` is: itself when it names a path (holds a `/`), else the first entry of the
/// `PATH`-style list `path` holding it; only files `ok` accepts count.
pub fn locate(
    program: &std::path::Path,
    path: Option<&std::ffi::OsStr>,
    ok: &dyn Fn(&std::path::Path) -> bool,
) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // execvp's rule: a name with a slash anywhere is a path, not looked up.
    if program.as_os_str().as_bytes().contains(&b'/') {
        return ok(program).then(|| program.to_path_buf());
    }
    std::env::split_paths(path?)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(program))
        .find(|f| ok(f))
}

/// Whether process group `pgid` still has a member.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(g) = i32::try_from(pgid) else {
        return false;
    };
    if g <= 1 {
        return false;
    }
    // SAFETY: signal 0 checks only whether the group exists; nothing is delivered.
    let r = unsafe { libc::kill(-g, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// [`run`], calling `on_spawn` with the command's pid as soon as it runs.
pub fn run_with(spec: &Spec, on_spawn: &mut dyn FnMut(u32)) -> Result<Outcome> {
    run_captured_with(spec, on_spawn).map(|c| c.outcome)
}

/// [`run`], also returning the last [`CAPTURE_TAIL`] bytes of stdout and stderr together when
/// `spec.capture` is set (empty otherwise).
pub fn run_captured(spec: &Spec) -> Result<Captured> {
    run_captured_with(spec, &mut |_| {})
}

/// [`run_captured`], calling `on_spawn` with the command's pid (with `own_group`, also its
/// process group's id) as soon as it runs.
pub fn run_captured_with(spec: &Spec, on_spawn: &mut dyn FnMut(u32)) -> Result<Captured> {
    let Some(program) = spec.argv.first() else {
        return Err(Error::usage(
            "no command given",
            Some("put the command after --, e.g. xnai run opencode/work -- opencode".to_string()),
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(&spec.argv[1..]);
    for k in &spec.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if spec.stdin_null {
        cmd.stdin(Stdio::null());
    }
    let masking = !spec.mask.is_empty() || spec.capture;
    if masking {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let tail = Arc::new(Mutex::new(Tail::default()));
    let own_group = spec.own_group;
    // SAFETY: prctl and setpgid are async-signal-safe and touch no memory of the parent. If
    // xnai dies (even by SIGKILL) the child gets SIGTERM instead of running on unsupervised.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if own_group {
                libc::setpgid(0, 0);
            }
            Ok(())
        });
    }
    // Signals go to the child alone, or to its whole group.
    let target = move |pid: i32| if own_group { -pid } else { pid };

    if let Some((name, _)) = spec.env.iter().find(|(_, v)| v.contains('\0')) {
        return Err(Error::usage(
            format!("cannot pass {name} to the command: its value contains a NUL byte"),
            Some("no environment variable can hold one: fix the credential".to_string()),
        ));
    }
    // A signal the caller ignores (nohup, `trap '' HUP`) stays ignored, for the child too:
    // catching it would reset it to the default in the child.
    let forwarded: Vec<i32> = FORWARDED
        .iter()
        .copied()
        .filter(|s| !is_ignored(*s))
        .collect();
    // Handlers first, so a signal arriving during spawn is queued rather than killing xnai.
    let mut signals = SignalsInfo::<WithRawSiginfo>::new(&forwarded)
        .map_err(|e| Error::io("installing signal handlers for", "xnai", e))?;
    let handle = signals.handle();
    let child_pid: Arc<Mutex<Option<i32>>> = Arc::new(Mutex::new(None));
    let pending: Arc<Mutex<Vec<i32>>> = Arc::new(Mutex::new(Vec::new()));
    let interrupted = Arc::new(std::sync::atomic::AtomicI32::new(0));
    // When a command in its own group was first told to stop (a forwarded signal, or its
    // timeout): what is left of the group is killed KILL_GRACE later.
    let stop_sent: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let forwarder = {
        let child_pid = Arc::clone(&child_pid);
        let pending = Arc::clone(&pending);
        let interrupted = Arc::clone(&interrupted);
        let stop_sent = Arc::clone(&stop_sent);
        thread::spawn(move || {
            for info in signals.forever() {
                let _ = interrupted.compare_exchange(
                    0,
                    info.si_signo,
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                );
                // Ctrl-C and friends come from the terminal driver (SI_KERNEL) to the whole
                // foreground process group, child included: forwarding would deliver them
                // twice. A child in its own group is not in it, and must be told.
                if info.si_code == libc::SI_KERNEL && !own_group {
                    continue;
                }
                let signal = info.si_signo;
                if own_group {
                    let mut s = stop_sent.lock().unwrap_or_else(|p| p.into_inner());
                    s.get_or_insert_with(Instant::now);
                }
                let guard = child_pid.lock().unwrap_or_else(|p| p.into_inner());
                match *guard {
                    // SAFETY: kill has no memory-safety preconditions.
                    Some(pid) => unsafe {
                        libc::kill(target(pid), signal);
                    },
                    None => pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(signal),
                }
            }
        })
    };

    let spawned = cmd.spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            handle.close();
            let _ = forwarder.join();
            return Err(Error::Spawn {
                program: program.to_string_lossy().into_owned(),
                source: explain_not_found(std::path::Path::new(program), e),
            });
        }
    };
    on_spawn(child.id());
    {
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let mut guard = child_pid.lock().unwrap_or_else(|p| p.into_inner());
        *guard = Some(pid);
        for sig in pending.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            // SAFETY: as above.
            unsafe {
                libc::kill(target(pid), sig);
            }
        }
    }

    // The watchdog: SIGTERM at the timeout; for a command in its own group, SIGKILL to the
    // group KILL_GRACE after it was told to stop (by the timeout or a forwarded signal), so
    // an agent that ignores SIGTERM cannot keep xnai waiting. It ends with the command (the
    // channel closes when this function stops waiting).
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (exited_tx, exited_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = (spec.timeout.is_some() || own_group).then(|| {
        let child_pid = Arc::clone(&child_pid);
        let timed_out = Arc::clone(&timed_out);
        let stop_sent = Arc::clone(&stop_sent);
        let limit = spec.timeout;
        thread::spawn(move || {
            use std::sync::mpsc::RecvTimeoutError;
            // How often a stop requested by a forwarded signal is noticed.
            const POLL: Duration = Duration::from_millis(200);
            let start = Instant::now();
            let signal = |sig: i32| {
                // The pid is cleared once reaped, so a reused pid is never signalled.
                let guard = child_pid.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(pid) = *guard {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe {
                        libc::kill(target(pid), sig);
                    }
                }
            };
            loop {
                let sent = *stop_sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let next = match (sent, limit) {
                    (Some(t), _) => t + KILL_GRACE,
                    (None, Some(l)) => start + l,
                    (None, None) => now + POLL,
                };
                let wait = next.saturating_duration_since(now).min(POLL);
                if exited_rx.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let now = Instant::now();
                match (sent, limit) {
                    (Some(t), _) if own_group && now >= t + KILL_GRACE => {
                        signal(libc::SIGKILL);
                        return;
                    }
                    (None, Some(l)) if now >= start + l => {
                        timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                        signal(libc::SIGTERM);
                        let mut s = stop_sent.lock().unwrap_or_else(|p| p.into_inner());
                        s.get_or_insert(now);
                        if !own_group {
                            // Alone, the command is not escalated further here.
                            return;
                        }
                    }
                    _ => {}
                }
            }
        })
    });

    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let mut copiers = 0;
    if masking {
        if let Some(out) = child.stdout.take() {
            let mask = spec.mask.clone();
            let tx = done_tx.clone();
            let tee = Tee {
                inner: std::io::stdout(),
                tail: Arc::clone(&tail),
            };
            copiers += 1;
            thread::spawn(move || {
                let _ = copy_masked(out, tee, &mask);
                let _ = tx.send(());
            });
        }
        if let Some(err) = child.stderr.take() {
            let mask = spec.mask.clone();
            let tx = done_tx.clone();
            let tee = Tee {
                inner: std::io::stderr(),
                tail: Arc::clone(&tail),
            };
            copiers += 1;
            thread::spawn(move || {
                let _ = copy_masked(err, tee, &mask);
                let _ = tx.send(());
            });
        }
    }
    drop(done_tx);
    let status = child.wait();
    // The pid is reaped and may be reused: stop forwarding to it before anything else.
    *child_pid.lock().unwrap_or_else(|p| p.into_inner()) = None;
    drop(exited_tx);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    // Told to stop, the agent may have exited while what it started lives on in its group
    // (a tool ignoring SIGTERM, say): those get the rest of the grace period, then SIGKILL.
    let sent = *stop_sent.lock().unwrap_or_else(|p| p.into_inner());
    let pgid = child.id();
    if own_group
        && let Some(t) = sent
        && let Ok(group) = i32::try_from(pgid)
    {
        while group_alive(pgid) && t.elapsed() < KILL_GRACE {
            thread::sleep(Duration::from_millis(50));
        }
        if group_alive(pgid) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
    handle.close();
    let _ = forwarder.join();
    // Finish copying the output, but do not wait for a background process the command left
    // holding the pipe: xnai ends when the command does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    for _ in 0..copiers {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let status = status.map_err(|e| Error::io("waiting for", program, e))?;
    let captured = if spec.capture {
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut t.bytes)
    } else {
        Vec::new()
    };
    Ok(Captured {
        outcome: Outcome::from_status(status),
        tail: captured,
        interrupted: Some(interrupted.load(std::sync::atomic::Ordering::SeqCst))
            .filter(|s| *s != 0),
        timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
    })
}

/// Whether the process currently ignores `sig`.
fn is_ignored(sig: i32) -> bool {
    // SAFETY: querying the disposition (null new action) writes only into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Ends xnai the way the command ended when a terminal-style interrupt (SIGINT, SIGQUIT)
/// killed it: by the same signal, so a calling shell script stops too instead of running its
/// next line. The shell reports 128+N either way.
pub fn die_like(outcome: &Outcome) {
    if let Some(sig) = outcome.signal {
        die_by(sig);
    }
}

/// Ends xnai by `sig` when it is SIGINT or SIGQUIT (see [`die_like`]); returns otherwise.
pub fn die_by(sig: i32) {
    if sig == SIGINT || sig == SIGQUIT {
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let _ = signal_hook::low_level::emulate_default_handler(sig);
    }
}

/// Copies `input` to `output`, replacing every occurrence of each secret with its mask as the
/// bytes stream through. Only a tail that could be the start of a secret is held back, so
/// output (prompts included) appears as soon as it is written.
pub fn copy_masked(
    mut input: impl Read,
    mut output: impl Write,
    mask: &[(String, String)],
) -> std::io::Result<()> {
    let mut secrets: Vec<(&[u8], &[u8])> = mask
        .iter()
        .filter(|(s, _)| !s.is_empty())
        .map(|(s, m)| (s.as_bytes(), m.as_bytes()))
        .collect();
    // Longest first: when one secret contains another, the whole one is masked.
    secrets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        let (ready, keep) = mask_ready(&buf, &secrets);
        if !ready.is_empty() {
            output.write_all(&ready)?;
            output.flush()?;
        }
        buf.drain(..buf.len() - keep);
    }
    let (mut ready, keep) = mask_ready(&buf, &secrets);
    ready.extend_from_slice(&buf[buf.len() - keep..]);
    output.write_all(&ready)?;
    output.flush()
}

/// Masks complete occurrences in `buf` and returns the bytes that can be written plus how many
/// trailing bytes must wait (a proper prefix of some secret).
fn mask_ready(buf: &[u8], secrets: &[(&[u8], &[u8])]) -> (Vec<u8>, usize) {
    let hold = secrets
        .iter()
        .map(|(s, _)| longest_suffix_prefix(buf, s))
        .max()
        .unwrap_or(0);
    let end = buf.len() - hold;
    let mut out = Vec::with_capacity(end);
    let mut i = 0;
    'scan: while i < end {
        for (s, m) in secrets {
            // A match may run into the held tail only if it is complete within `buf`.
            if buf[i..].starts_with(s) {
                out.extend_from_slice(m);
                i += s.len();
                continue 'scan;
            }
        }
        out.push(buf[i]);
        i += 1;
    }
    // A match that consumed part of the held tail means nothing needs holding there.
    let consumed_past = i.saturating_sub(end);
    (out, hold.saturating_sub(consumed_past))
}

/// Length of the longest proper prefix of `secret` that `buf` ends with.
fn longest_suffix_prefix(buf: &[u8], secret: &[u8]) -> usize {
    let max = secret.len().saturating_sub(1).min(buf.len());
    (1..=max)
        .rev()
        .find(|&k| buf.ends_with(&secret[..k]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(input: &[&[u8]], mask: &[(&str, &str)]) -> String {
        struct Chunks<'a>(Vec<&'a [u8]>);
        impl Read for Chunks<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                match self.0.first() {
                    None => Ok(0),
                    Some(c) => {
                        let n = c.len().min(out.len());
                        out[..n].copy_from_slice(&c[..n]);
                        if n == c.len() {
                            self.0.remove(0);
                        } else {
                            self.0[0] = &c[n..];
                        }
                        Ok(n)
                    }
                }
            }
        }
        let mask: Vec<(String, String)> = mask
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let mut out = Vec::new();
        copy_masked(Chunks(input.to_vec()), &mut out, &mask).expect("copy");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn masks_whole_and_split_secrets() {
        let m = [("SECRET123", "S…123")];
        assert_eq!(masked(&[b"a SECRET123 b"], &m), "a S…123 b");
        assert_eq!(masked(&[b"a SEC", b"RET1", b"23 b"], &m), "a S…123 b");
        assert_eq!(masked(&[b"SECRET123SECRET123"], &m), "S…123S…123");
        assert_eq!(masked(&[b"SECRET12"], &m), "SECRET12");
        assert_eq!(masked(&[b"SECSECRET123"], &m), "SECS…123");
        assert_eq!(masked(&[b"no secret here\n"], &m), "no secret here\n");
    }

    #[test]
    fn several_secrets() {
        let m = [("aaaa-token", "A"), ("bbbb-key", "B")];
        assert_eq!(masked(&[b"x aaaa-", b"token bbbb-key y"], &m), "x A B y");
    }

    #[test]
    fn output_is_not_held_back_without_reason() {
        let secrets: Vec<(&[u8], &[u8])> = vec![(b"SECRET", b"S")];
        let (ready, keep) = mask_ready(b"Password: ", &secrets);
        assert_eq!(ready, b"Password: ");
        assert_eq!(keep, 0);
        let (ready, keep) = mask_ready(b"value SEC", &secrets);
        assert_eq!(ready, b"value ");
        assert_eq!(keep, 3);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            Outcome {
                code: Some(3),
                signal: None
            }
            .exit_code(),
            3
        );
        assert_eq!(
            Outcome {
                code: None,
                signal: Some(15)
            }
            .exit_code(),
            143
        );
    }
}
