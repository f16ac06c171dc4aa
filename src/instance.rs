//! Instance directories: `<data>/instances/<provider>/<account>/`, one per account, holding the
//! files each tool reads when its home variables point there.
//!
//! Files rendered from the credential file are rewritten only when what xnai would write has
//! changed since it last wrote it. In between, the tool owns the file: Claude Code, Codex,
//! Gemini CLI and OpenCode refresh OAuth tokens and write them back, and overwriting a rotated
//! refresh token with the stale one from the credential file would log the account out.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::Account;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::paths::DataDir;

/// Name of xnai's bookkeeping file inside an instance.
const STATE_FILE: &str = ".xnai-instance.json";

/// A file to place in an instance.
pub struct NativeFile {
    /// Path relative to the instance root.
    pub rel: PathBuf,
    /// Its contents (usually holding a secret, hence zeroed on drop).
    pub contents: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for NativeFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFile")
            .field("rel", &self.rel)
            .field("bytes", &self.contents.len())
            .finish()
    }
}

/// One account's instance directory.
#[derive(Debug, Clone)]
pub struct Instance {
    root: PathBuf,
    /// xnai's data directory, when known: every directory from it down to the instance is
    /// checked, not just the instance itself.
    base: Option<PathBuf>,
}

/// What preparing or materialising an instance did, for the user.
#[derive(Debug, Default)]
pub struct Report {
    /// Things worth telling (permissions fixed, files updated).
    pub notes: Vec<String>,
}

impl Instance {
    /// The instance of `account` under `data`.
    pub fn of(data: &DataDir, account: &Account) -> Instance {
        Instance::named(data, &account.provider_id, &account.id)
    }

    /// The instance of `provider/account` under `data` (for accounts not loaded yet).
    pub fn named(data: &DataDir, provider: &str, account: &str) -> Instance {
        Instance {
            root: data.instances().join(provider).join(account),
            base: Some(data.root().to_path_buf()),
        }
    }

    /// An instance at an explicit directory (tests).
    pub fn at(root: impl Into<PathBuf>) -> Instance {
        Instance {
            root: root.into(),
            base: None,
        }
    }

    /// The instance directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the instance.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates the directory (0700) or checks an existing one, and every directory between
    /// xnai's data directory and it: a symlink or a directory owned by someone else is refused
    /// (credentials would be written through it); group/other permissions are removed and
    /// reported.
    pub fn prepare(&self) -> Result<Report> {
        let mut report = Report::default();
        let mut chain = Vec::new();
        if let Some(base) = &self.base
            && let Ok(rel) = self.root.strip_prefix(base)
        {
            chain.push(base.clone());
            let mut p = base.clone();
            for c in rel.components() {
                p.push(c);
                chain.push(p.clone());
            }
        } else {
            if let Some(parent) = self.root.parent() {
                fsutil::create_private_dir_all(parent)?;
            }
            chain.push(self.root.clone());
        }
        for dir in chain {
            secure_dir(&dir, &mut report)?;
        }
        Ok(report)
    }

    /// Creates directories (relative paths) inside the instance, 0700, checking each level as
    /// [`Instance::prepare`] does.
    pub fn create_dirs(&self, dirs: &[&str]) -> Result<Report> {
        let mut report = Report::default();
        for d in dirs {
            self.secure_subdirs(Path::new(d), &mut report)?;
        }
        Ok(report)
    }

    fn secure_subdirs(&self, rel: &Path, report: &mut Report) -> Result<()> {
        let rel = checked_relative(rel)?;
        let mut p = self.root.clone();
        for c in rel.components() {
            p.push(c);
            secure_dir(&p, report)?;
        }
        Ok(())
    }

    /// Writes one file (relative path) atomically, 0600, its directories checked.
    pub fn write_file(&self, rel: &Path, contents: &[u8]) -> Result<Report> {
        let mut report = Report::default();
        let rel = checked_relative(rel)?;
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.secure_subdirs(parent, &mut report)?;
        }
        fsutil::write_atomic(&self.root.join(&rel), contents, true)?;
        Ok(report)
    }

    /// Writes `files` (relative paths) into the instance. A file is (re)written when it is
    /// missing or when its rendered contents differ from what xnai wrote last time; otherwise
    /// the tool's own updates are kept. Parent directories are created 0700, files are 0600.
    pub fn materialize(&self, files: &[NativeFile]) -> Result<Report> {
        let mut report = Report::default();
        let mut state = self.load_state();
        for f in files {
            let rel = checked_relative(&f.rel)?;
            let path = self.root.join(&rel);
            let digest = hex(&Sha256::digest(&f.contents[..]));
            let key = rel.to_string_lossy().into_owned();
            let exists = fs::symlink_metadata(&path).is_ok();
            let recorded = state.get(&key);
            if exists && recorded == Some(&digest) {
                continue;
            }
            // Another xnai wrote the same thing a moment ago (first runs in parallel): nothing
            // changed, so nothing to say.
            let changed = exists && recorded.is_some();
            report
                .notes
                .extend(self.write_file(&rel, &f.contents)?.notes);
            if changed {
                report.notes.push(format!(
                    "updated {} from the credential file",
                    path.display()
                ));
            }
            state.insert(key, digest);
        }
        self.save_state(&state)?;
        Ok(report)
    }

    /// The current contents of a rendered file (relative path) when the tool has changed it
    /// since xnai wrote it (a refreshed token): the freshest view of the login.
    pub fn tool_updated(&self, rel: &Path) -> Option<Zeroizing<Vec<u8>>> {
        let state = self.load_state();
        let recorded = state.get(&rel.to_string_lossy().into_owned())?;
        let bytes = Zeroizing::new(fsutil::read_regular(&self.root.join(rel), 1024 * 1024).ok()?);
        (hex(&Sha256::digest(&bytes[..])) != *recorded).then_some(bytes)
    }

    fn load_state(&self) -> BTreeMap<String, String> {
        fsutil::read_regular(&self.root.join(STATE_FILE), 1024 * 1024)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save_state(&self, state: &BTreeMap<String, String>) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| Error::usage(format!("cannot encode instance state: {e}"), None))?;
        fsutil::write_atomic(&self.root.join(STATE_FILE), &bytes, true)
    }
}

/// Makes sure `dir` is a real directory of ours, private: created 0700 when missing, refused
/// when a symlink, not a directory or someone else's, its mode fixed (and reported) when group
/// or others have access.
fn secure_dir(dir: &Path, report: &mut Report) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => {
            if meta.file_type().is_symlink() {
                return Err(Error::usage(
                    format!(
                        "{} is a symbolic link; refusing to write credentials through it",
                        dir.display()
                    ),
                    Some("remove the link; xnai recreates the directory".to_string()),
                ));
            }
            if !meta.is_dir() {
                return Err(Error::usage(
                    format!("{} is not a directory", dir.display()),
                    Some("move it away; xnai recreates the directory".to_string()),
                ));
            }
            let (uid, _) = fsutil::effective_ids();
            if meta.uid() != uid {
                return Err(Error::usage(
                    format!(
                        "{} is owned by uid {}, not by you (uid {uid}); refusing to use it",
                        dir.display(),
                        meta.uid()
                    ),
                    Some(format!(
                        "remove it, or give it back: sudo chown -R {uid} {}",
                        fsutil::shell_quote(&dir.display().to_string())
                    )),
                ));
            }
            let mode = meta.mode() & 0o7777;
            if mode & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(fsutil::DIR_MODE))
                    .map_err(|e| Error::io("fixing permissions of", dir, e))?;
                report.notes.push(format!(
                    "fixed permissions of {} (was {mode:04o}, now 0700)",
                    dir.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fsutil::create_private_dir_all(dir),
        Err(e) => Err(Error::io("inspecting", dir, e)),
    }
}

/// Rejects absolute paths and `..`: a provider's file must land inside the instance.
fn checked_relative(rel: &Path) -> Result<PathBuf> {
    let ok =
        !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(rel.to_path_buf())
    } else {
        Err(Error::usage(
            format!(
                "internal: instance file path {} escapes the instance",
                rel.display()
            ),
            None,
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes` as hex: used to recognise the same login imported twice without keeping
/// the secret itself.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, text: &str) -> NativeFile {
        NativeFile {
            rel: PathBuf::from(rel),
            contents: Zeroizing::new(text.as_bytes().to_vec()),
        }
    }

    #[test]
    fn materialize_writes_then_respects_tool_updates() {
        let t = tempfile::tempdir().expect("tmp");
        let inst = Instance::at(t.path().join("inst"));
        inst.prepare().expect("prepare");
        let r = inst
            .materialize(&[file("a/auth.json", "v1")])
            .expect("write");
        assert!(r.notes.is_empty());
        let p = inst.path("a/auth.json");
        assert_eq!(fs::read_to_string(&p).expect("read"), "v1");
        assert_eq!(fs::metadata(&p).expect("m").mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(inst.path("a")).expect("m").mode() & 0o777,
            0o700
        );

        // The tool refreshes its token: same source, so xnai leaves it alone.
        fs::write(&p, "refreshed by the tool").expect("tool write");
        inst.materialize(&[file("a/auth.json", "v1")])
            .expect("again");
        assert_eq!(
            fs::read_to_string(&p).expect("read"),
            "refreshed by the tool"
        );

        // The credential file changed: xnai rewrites and says so.
        let r = inst
            .materialize(&[file("a/auth.json", "v2")])
            .expect("changed");
        assert_eq!(fs::read_to_string(&p).expect("read"), "v2");
        assert_eq!(r.notes.len(), 1);

        // Deleted by the user: recreated.
        fs::remove_file(&p).expect("rm");
        inst.materialize(&[file("a/auth.json", "v2")])
            .expect("recreate");
        assert_eq!(fs::read_to_string(&p).expect("read"), "v2");
    }

    #[test]
    fn loose_permissions_are_fixed_and_symlinks_refused() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path().join("inst");
        fs::create_dir_all(&root).expect("mkdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        let r = Instance::at(&root).prepare().expect("prepare");
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("was 0755, now 0700"), "{:?}", r.notes);
        assert_eq!(fs::metadata(&root).expect("m").mode() & 0o777, 0o700);

        let link = t.path().join("link");
        std::os::unix::fs::symlink(&root, &link).expect("symlink");
        let e = Instance::at(&link).prepare().expect_err("symlink");
        assert!(e.to_string().contains("is a symbolic link"));

        // A symlink anywhere between the data directory and the instance is refused too, and
        // so is one inside the instance where a file is to be written.
        let data = DataDir::at(t.path().join("data"));
        std::fs::create_dir_all(data.instances()).expect("mkdir");
        std::os::unix::fs::symlink(t.path(), data.instances().join("copilot")).expect("symlink");
        let e = Instance::named(&data, "copilot", "work")
            .prepare()
            .expect_err("provider link");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        std::fs::remove_file(data.instances().join("copilot")).expect("rm");
        let inst = Instance::named(&data, "copilot", "work");
        inst.prepare().expect("prepare");
        std::os::unix::fs::symlink(t.path(), inst.path("gh")).expect("symlink");
        let e = inst
            .write_file(Path::new("gh/hosts.yml"), b"x")
            .expect_err("inner link");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        // Loose modes along the way are fixed.
        std::fs::set_permissions(data.instances(), fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let r = inst.prepare().expect("prepare");
        assert!(
            r.notes.iter().any(|n| n.contains("was 0777")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn paths_must_stay_inside() {
        let t = tempfile::tempdir().expect("tmp");
        let inst = Instance::at(t.path().join("inst"));
        inst.prepare().expect("prepare");
        assert!(inst.materialize(&[file("../evil", "x")]).is_err());
        assert!(inst.materialize(&[file("/etc/evil", "x")]).is_err());
    }
}
