//! One run per playbook name per journal. The lock is an advisory file lock (`flock`) on a
//! file beside the journal, so the kernel releases it when its holder dies however it dies
//! (`kill -9`, a reboot): a lock left by a dead process is simply free, with no stale pid
//! to judge. The file holds who took it, for the message the second run prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockHolder {
    pub run_id: String,
    pub pid: u32,
    pub host: String,
    pub started_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", held_message(.playbook, .holder.as_deref(), .path))]
    Held { playbook: String, holder: Option<Box<LockHolder>>, path: PathBuf },
    #[error("cannot take the lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn held_message(playbook: &str, holder: Option<&LockHolder>, path: &Path) -> String {
    match holder {
        Some(h) => format!(
            "another run of playbook `{playbook}` is in progress: run {} (pid {} on {}, started {}); lock file {}",
            h.run_id,
            h.pid,
            h.host,
            h.started_at,
            path.display()
        ),
        None => format!("another run of playbook `{playbook}` is in progress (lock file {})", path.display()),
    }
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// The lock file of `playbook` for the journal at `journal`.
    pub fn path_for(journal: &Path, playbook: &str) -> PathBuf {
        let name = journal.file_name().map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
        journal.with_file_name(format!("{name}.{playbook}.lock"))
    }

    /// Takes the lock at once, or says who holds it.
    pub fn acquire(path: &Path, playbook: &str, holder: &LockHolder) -> Result<Self, LockError> {
        let io = |source| LockError::Io { path: path.to_path_buf(), source };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    playbook: playbook.to_string(),
                    holder: read_holder(&mut file).map(Box::new),
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        let text = serde_json::to_string(holder).unwrap_or_default();
        // Not synced: other processes read it from the page cache, and after a crash or a
        // power cut the lock is free whatever the file says. An fsync here was one of a
        // one-call run's nine (0.5-1 ms each on a slow disk).
        file.write_all(text.as_bytes()).map_err(io)?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Whether someone holds the lock now (for `handoff runs`, to tell a running run from
    /// one whose process died).
    pub fn is_held(path: &Path) -> bool {
        let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else { return false };
        matches!(file.try_lock(), Err(TryLockError::WouldBlock))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty the file first, so nobody reads a holder that is gone.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(run_id: &str) -> LockHolder {
        LockHolder {
            run_id: run_id.into(),
            pid: std::process::id(),
            host: "here".into(),
            started_at: "now".into(),
        }
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = RunLock::path_for(&dir.path().join("journal.sqlite"), "nightly");
        assert!(path.ends_with("journal.sqlite.nightly.lock"));
        let first = RunLock::acquire(&path, "nightly", &holder("r1")).unwrap();
        assert!(RunLock::is_held(&path));
        match RunLock::acquire(&path, "nightly", &holder("r2")) {
            Err(LockError::Held { holder: Some(h), .. }) => assert_eq!(h.run_id, "r1"),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        drop(first);
        assert!(!RunLock::is_held(&path));
        RunLock::acquire(&path, "nightly", &holder("r3")).unwrap();
    }
}
