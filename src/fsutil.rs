//! The one place that decides file modes and how files are written.
//!
//! Everything xnai writes holds or sits next to credentials, so: files are 0600, directories
//! xnai creates are 0700, and every write goes to a temporary file in the same directory that is
//! synced and then renamed over the target, so a crash or a kill leaves either the old file or
//! the new one, never half of each.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Mode of every file xnai writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory xnai creates.
pub const DIR_MODE: u32 = 0o700;

/// Prefix of the temporary files [`write_atomic`] creates next to their target.
pub const TEMP_PREFIX: &str = ".xnai-tmp-";

/// Removes xnai's own temporary files (regular files named [`TEMP_PREFIX`]…, owned by us) in
/// `dir` that were last modified at least `max_age` ago, and returns how many. A writer killed
/// between creating its temporary file and renaming it (SIGKILL, power loss) leaves one
/// behind; a write takes milliseconds, so one that old has no live writer. Nothing else in
/// the directory is touched.
pub fn remove_stale_temp_files(dir: &Path, max_age: std::time::Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let (uid, _) = effective_ids();
    let mut removed = 0;
    for e in entries.flatten() {
        if !e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX))
        {
            continue;
        }
        let path = e.path();
        // Not following links: a link named like ours is not ours to judge by its target.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let stale = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= max_age);
        if meta.file_type().is_file()
            && meta.uid() == uid
            && stale
            && fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Creates `dir` and any missing parents with mode 0700. Existing directories are left as
/// they are (they may be shared, such as `~/.config`).
pub fn create_private_dir_all(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io("creating directory", dir, e))
}

/// Writes `contents` to `path` atomically with mode 0600. With `overwrite == false` an existing
/// file is never replaced, even one created by another process between check and rename.
pub fn write_atomic(path: &Path, contents: &[u8], overwrite: bool) -> Result<()> {
    write_atomic_mode(path, contents, overwrite, FILE_MODE)
}

/// [`write_atomic`] with another mode, for files other programs must read (systemd units).
pub fn write_atomic_mode(path: &Path, contents: &[u8], overwrite: bool, mode: u32) -> Result<()> {
    let dir = parent_dir(path);
    create_private_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .map_err(|e| Error::io("creating a temporary file in", &dir, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("writing", tmp.path().to_path_buf(), e))?;
    if overwrite {
        tmp.persist(path)
            .map_err(|e| Error::io("replacing", path, e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| Error::io("creating", path, e.error))?;
    }
    // The rename is durable only once the directory entry is on disk.
    if let Ok(d) = OpenOptions::new().read(true).open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Why a credential file is not private enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionProblem {
    /// Group or others have some access.
    TooOpen {
        /// The file's permission bits.
        mode: u32,
    },
    /// The file belongs to another user.
    WrongOwner {
        /// The file's owner.
        owner_uid: u32,
        /// Our effective uid.
        our_uid: u32,
        /// Our effective gid.
        our_gid: u32,
    },
}

impl PermissionProblem {
    /// A sentence describing the problem.
    pub fn describe(&self) -> String {
        match self {
            PermissionProblem::TooOpen { mode } => {
                let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
                    (true, true) => "its group and all other users",
                    (true, false) => "its group",
                    _ => "all other users",
                };
                format!("it is accessible to {who} (mode {:04o})", mode & 0o7777)
            }
            PermissionProblem::WrongOwner {
                owner_uid, our_uid, ..
            } => format!("it is owned by uid {owner_uid}, not by you (uid {our_uid})"),
        }
    }

    /// What to do about it: [`Self::fix_command`], except when root reads a file another
    /// user owns. Taking the file away from its owner (`chown 0:0`) would break their own xnai;
    /// run xnai as them, or give root a copy of its own.
    pub fn hint(&self, path: &Path) -> String {
        match self {
            PermissionProblem::WrongOwner { owner_uid, .. } if self.root_reads_users_file() => {
                let p = shell_quote(&path.display().to_string());
                let owner = crate::schedule::user_by_uid(*owner_uid)
                    .map_or_else(|| format!("'#{owner_uid}'"), |(name, _)| name);
                format!(
                    "run xnai as its owner: sudo -u {owner} xnai ...; or copy it to a file root \
                     owns (install -m 600 {p} /root/.config/xnai/credentials.yaml) and pass \
                     that with --config"
                )
            }
            _ => self.fix_command(path),
        }
    }

    /// Whether this is root reading a file another user owns.
    pub fn root_reads_users_file(&self) -> bool {
        matches!(self, PermissionProblem::WrongOwner { owner_uid, our_uid, .. }
            if *our_uid == 0 && *owner_uid != 0)
    }

    /// The exact command that fixes it.
    pub fn fix_command(&self, path: &Path) -> String {
        let p = shell_quote(&path.display().to_string());
        match self {
            PermissionProblem::TooOpen { .. } => format!("chmod 600 {p}"),
            PermissionProblem::WrongOwner {
                our_uid, our_gid, ..
            } => format!("sudo chown {our_uid}:{our_gid} {p}"),
        }
    }
}

/// Checks that `path` is owned by us and not accessible to group or others, like ssh does for
/// private keys. Returns every problem found (ownership first: chmod by a non-owner fails).
pub fn check_private_file(path: &Path) -> io::Result<Vec<PermissionProblem>> {
    Ok(private_file_problems(&fs::metadata(path)?))
}

/// [`check_private_file`] on metadata already obtained (from an open file, to avoid a race
/// between checking and reading).
pub fn private_file_problems(meta: &fs::Metadata) -> Vec<PermissionProblem> {
    let mut problems = Vec::new();
    let (uid, gid) = effective_ids();
    if meta.uid() != uid {
        problems.push(PermissionProblem::WrongOwner {
            owner_uid: meta.uid(),
            our_uid: uid,
            our_gid: gid,
        });
    }
    let mode = meta.mode();
    if mode & 0o077 != 0 {
        problems.push(PermissionProblem::TooOpen { mode });
    }
    problems
}

/// Why [`open_regular`] refused a path.
#[derive(Debug)]
pub enum OpenError {
    /// The OS refused (not found, permission denied, ...).
    Io(io::Error),
    /// A directory, device, FIFO or socket.
    NotRegular(&'static str),
    /// Larger than the limit.
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "{e}"),
            OpenError::NotRegular(what) => write!(f, "is {what}, not a regular file"),
            OpenError::TooLarge { size, limit } => write!(
                f,
                "is {} KiB, larger than the {} KiB limit",
                size / 1024,
                limit / 1024
            ),
        }
    }
}

/// An open regular file and its metadata.
pub struct RegularFile {
    /// The open file.
    pub file: fs::File,
    /// Its metadata, from the open descriptor.
    pub meta: fs::Metadata,
}

/// Opens `path` for reading only if it is a regular file (following symlinks) of at most
/// `limit` bytes. Opening never blocks: a FIFO is refused instead of waiting for a writer.
pub fn open_regular(path: &Path, limit: u64) -> Result<RegularFile, OpenError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(OpenError::Io)?;
    let meta = file.metadata().map_err(OpenError::Io)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else {
            "a special file"
        };
        return Err(OpenError::NotRegular(what));
    }
    if meta.len() > limit {
        return Err(OpenError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    Ok(RegularFile { file, meta })
}

/// Reads an open regular file, at most `limit` bytes (it may have grown since it was opened).
pub fn read_limited(f: &mut RegularFile, limit: u64) -> Result<Vec<u8>, OpenError> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(usize::try_from(f.meta.len()).unwrap_or(0));
    (&mut f.file)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(OpenError::Io)?;
    if buf.len() as u64 > limit {
        return Err(OpenError::TooLarge {
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Reads a small regular file (keys, native credential files) with a size limit.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, OpenError> {
    let mut f = open_regular(path, limit)?;
    read_limited(&mut f, limit)
}

/// The effective uid and gid of this process.
pub fn effective_ids() -> (u32, u32) {
    // SAFETY: geteuid/getegid take no arguments, cannot fail and touch no memory of ours.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Quotes `s` for a POSIX shell when it needs quoting, for commands shown to the user.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_creates_private_file_and_dirs() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("a/b/file.yaml");
        write_atomic(&p, b"hello", false).expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"hello");
        let mode = fs::metadata(&p).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(t.path().join("a/b")).expect("meta").mode() & 0o777;
        assert_eq!(dmode, 0o700);
    }

    #[test]
    fn noclobber_never_replaces() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("f");
        fs::write(&p, "old").expect("seed");
        assert!(write_atomic(&p, b"new", false).is_err());
        assert_eq!(fs::read_to_string(&p).expect("read"), "old");
        write_atomic(&p, b"new", true).expect("overwrite");
        assert_eq!(fs::read_to_string(&p).expect("read"), "new");
        // No temporary files left behind.
        let left: Vec<_> = fs::read_dir(t.path()).expect("ls").collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn permission_check() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("c.yaml");
        fs::write(&p, "x").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        let probs = check_private_file(&p).expect("check");
        assert_eq!(probs, vec![PermissionProblem::TooOpen { mode: 0o100644 }]);
        assert_eq!(
            probs[0].describe(),
            "it is accessible to its group and all other users (mode 0644)"
        );
        assert_eq!(
            probs[0].fix_command(Path::new("/x y/c.yaml")),
            "chmod 600 '/x y/c.yaml'"
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(check_private_file(&p).expect("check").is_empty());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(
            check_private_file(&p).expect("check")[0].describe(),
            "it is accessible to its group (mode 0640)"
        );
    }

    #[test]
    fn only_regular_files_are_opened() {
        let t = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            open_regular(t.path(), 10),
            Err(OpenError::NotRegular("a directory"))
        ));
        assert!(matches!(
            open_regular(Path::new("/dev/null"), 10),
            Err(OpenError::NotRegular("a device"))
        ));
        let fifo = t.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("cstr");
        // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            open_regular(&fifo, 10),
            Err(OpenError::NotRegular("a FIFO"))
        ));
        let big = t.path().join("big");
        fs::write(&big, vec![b'x'; 100]).expect("write");
        assert!(matches!(
            read_regular(&big, 99),
            Err(OpenError::TooLarge {
                size: 100,
                limit: 99
            })
        ));
        assert_eq!(read_regular(&big, 100).expect("read").len(), 100);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/home/a/b.yaml"), "/home/a/b.yaml");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
