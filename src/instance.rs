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
        Instance {
            root: data
                .instances()
                .join(&account.provider_id)
                .join(&account.id),
        }
    }

    /// An instance at an explicit directory (tests).
    pub fn at(root: impl Into<PathBuf>) -> Instance {
        Instance { root: root.into() }
    }

    /// The instance directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the instance.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates the directory (0700) or checks an existing one: a symlink or a directory owned
    /// by someone else is refused; group/other permissions on ours are removed and reported.
    pub fn prepare(&self) -> Result<Report> {
        let mut report = Report::default();
        if let Some(parent) = self.root.parent() {
            fsutil::create_private_dir_all(parent)?;
        }
        match fs::symlink_metadata(&self.root) {
            Ok(meta) => {
                if meta.file_type().is_symlink() {
                    return Err(Error::usage(
                        format!(
                            "instance {} is a symbolic link; refusing to write credentials through it",
                            self.root.display()
                        ),
                        Some("remove the link; xnai recreates the directory".to_string()),
                    ));
                }
                if !meta.is_dir() {
                    return Err(Error::usage(
                        format!("instance {} is not a directory", self.root.display()),
                        Some("move it away; xnai recreates the directory".to_string()),
                    ));
                }
                let (uid, _) = fsutil::effective_ids();
                if meta.uid() != uid {
                    return Err(Error::usage(
                        format!(
                            "instance {} is owned by uid {}, not by you (uid {uid}); refusing to use it",
                            self.root.display(),
                            meta.uid()
                        ),
                        Some(format!(
                            "remove it, or give it back: sudo chown -R {uid} {}",
                            fsutil::shell_quote(&self.root.display().to_string())
                        )),
                    ));
                }
                let mode = meta.mode() & 0o7777;
                if mode & 0o077 != 0 {
                    fs::set_permissions(&self.root, fs::Permissions::from_mode(fsutil::DIR_MODE))
                        .map_err(|e| Error::io("fixing permissions of", &self.root, e))?;
                    report.notes.push(format!(
                        "fixed permissions of {} (was {mode:04o}, now 0700)",
                        self.root.display()
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fsutil::create_private_dir_all(&self.root)?;
            }
            Err(e) => return Err(Error::io("inspecting", &self.root, e)),
        }
        Ok(report)
    }

    /// Creates directories (relative paths) inside the instance, 0700.
    pub fn create_dirs(&self, dirs: &[&str]) -> Result<()> {
        for d in dirs {
            let rel = checked_relative(Path::new(d))?;
            fsutil::create_private_dir_all(&self.root.join(rel))?;
        }
        Ok(())
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
            let unchanged = state.get(&key) == Some(&digest);
            if exists && unchanged {
                continue;
            }
            if let Some(dir) = path.parent() {
                fsutil::create_private_dir_all(dir)?;
            }
            fsutil::write_atomic(&path, &f.contents, true)?;
            if exists {
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
