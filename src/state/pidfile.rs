//! `gateway.pid` guarded by an exclusive lock on `gateway.lock`: one gateway per state dir.
//!
//! The lock (not the pid file) decides: a pid file left by a crashed gateway has no lock
//! holder and is taken over; the kernel drops the lock when the process dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{FILE_MODE, StateError, replace_file};

pub const PID_FILE: &str = "gateway.pid";
pub const LOCK_FILE: &str = "gateway.lock";

/// Holds the instance lock; removes the pid file when dropped.
#[derive(Debug)]
pub struct PidLock {
    _lock: File,
    pid_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another gateway is already running on state dir {} (pid {pid}); stop it first (kill {pid}) or use another --state-dir",
        dir.display()
    )]
    AlreadyRunning { dir: PathBuf, pid: String },
    #[error(transparent)]
    Io(#[from] StateError),
}

impl PidLock {
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let lock_path = state_dir.join(LOCK_FILE);
        let pid_path = state_dir.join(PID_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&lock_path)
            .map_err(|e| StateError::new(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&pid_path)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "unknown".into());
                return Err(LockError::AlreadyRunning { dir: state_dir.to_path_buf(), pid });
            }
            Err(TryLockError::Error(e)) => return Err(StateError::new(&lock_path, e).into()),
        }
        if let Ok(old) = std::fs::read_to_string(&pid_path) {
            tracing::warn!(path = %pid_path.display(), old_pid = old.trim(), "taking over a stale pid file (its gateway is gone)");
        }
        replace_file(&pid_path, format!("{}\n", std::process::id()).as_bytes(), 0o644)?;
        Ok(Self { _lock: lock, pid_path })
    }

    pub fn pid_path(&self) -> &Path {
        &self.pid_path
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        remove_if_ours(&self.pid_path);
    }
}

/// The pid of the gateway running on `state_dir`, if its pid file names a live process.
pub fn running_pid(state_dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(state_dir.join(PID_FILE)).ok()?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    (pid > 0 && unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

/// Removes the pid file if it still names this process (also used on the immediate-exit path).
pub fn remove_if_ours(pid_path: &Path) {
    if std::fs::read_to_string(pid_path).is_ok_and(|s| s.trim() == std::process::id().to_string()) {
        let _ = std::fs::remove_file(pid_path);
    }
}
