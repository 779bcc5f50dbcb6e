//! `gateway.pid` guarded by an exclusive lock on `gateway.lock`: one gateway per state dir.
//!
//! The lock (not the pid file) decides: a pid file left by a crashed gateway has no lock
//! holder and is taken over; the kernel drops the lock when the process dies.
//!
//! The lock is an `flock`, which belongs to the open file: a child the gateway is spawning (the
//! sandbox probe, a tool's command) shares it until the child execs. A gateway killed in that
//! moment leaves its lock held for that moment past its death, so a start that finds the lock
//! held and the gateway named in the pid file gone waits a little for it. (A POSIX record lock,
//! which children do not share, is dropped when the process closes any descriptor of the file,
//! as an agent's `grep` over a tree holding the state dir would: two gateways on one state dir.)

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{FILE_MODE, StateError, replace_file};

pub const PID_FILE: &str = "gateway.pid";
pub const LOCK_FILE: &str = "gateway.lock";

/// How long a start waits for a lock whose gateway is gone (or has not yet written its pid):
/// a child of the dead gateway lets go when it execs, a starting gateway writes its pid at once.
const SETTLE: Duration = Duration::from_secs(1);

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
    #[error(
        "state dir {} is locked, but the gateway that locked it (pid {pid}) is gone: a process it started still holds {}; find it with `fuser -v {}` and stop it",
        dir.display(), lock.display(), lock.display()
    )]
    LeftHeld { dir: PathBuf, pid: String, lock: PathBuf },
    #[error(
        "state dir {} is locked by a process that names itself nowhere (no {PID_FILE}: a gateway whose pid file was removed?); find it with `fuser -v {}` and stop it, or use another --state-dir",
        dir.display(), lock.display()
    )]
    HeldUnnamed { dir: PathBuf, lock: PathBuf },
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
        take_or_wait(&lock, &lock_path, &pid_path, state_dir)?;
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

/// Takes the lock; while it is held by a gateway that is gone (or not yet named in the pid
/// file), tries again until [`SETTLE`] has passed.
fn take_or_wait(lock: &File, lock_path: &Path, pid_path: &Path, state_dir: &Path) -> Result<(), LockError> {
    let deadline = Instant::now() + SETTLE;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::Error(e)) => return Err(StateError::new(lock_path, e).into()),
            Err(TryLockError::WouldBlock) => {}
        }
        let pid = std::fs::read_to_string(pid_path).ok().map(|s| s.trim().to_string());
        let alive = pid.as_deref().and_then(|p| p.parse().ok()).is_some_and(exists);
        let dir = state_dir.to_path_buf();
        match pid {
            Some(pid) if alive => return Err(LockError::AlreadyRunning { dir, pid }),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Some(pid) => return Err(LockError::LeftHeld { dir, pid, lock: lock_path.to_path_buf() }),
            None => return Err(LockError::HeldUnnamed { dir, lock: lock_path.to_path_buf() }),
        }
    }
}

/// Whether process `pid` exists (one of another user's too).
fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const HELPER_DIR: &str = "OPENCLAW_PIDLOCK_HELPER_DIR";
    const HELPER_CHILD_MS: &str = "OPENCLAW_PIDLOCK_HELPER_CHILD_MS";
    const HELPER: &str = "state::pidfile::tests::helper_locks_forks_and_exits";

    /// Not a test: the process the tests below start, standing for a gateway killed while it
    /// spawns. It takes the lock, forks a child that keeps a copy of every descriptor for the
    /// given time, prints the child's pid and exits without letting go.
    #[test]
    #[ignore = "a helper process of the pid lock's tests"]
    fn helper_locks_forks_and_exits() {
        let dir = std::env::var_os(HELPER_DIR).expect("run by a test that sets the state dir");
        let ms: u32 = std::env::var(HELPER_CHILD_MS).expect("and the child's life").parse().unwrap();
        let lock = PidLock::acquire(Path::new(&dir)).expect("lock a fresh state dir");
        // SAFETY: the child only closes its output (so the test's read of it ends), sleeps and
        // exits: async-signal-safe calls only, as a child of a threaded process must.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe {
                libc::close(1);
                libc::close(2);
                libc::usleep(ms * 1000);
                libc::_exit(0);
            }
        }
        assert!(child > 0, "fork: {}", std::io::Error::last_os_error());
        println!("forked {child}");
        std::mem::forget(lock);
        std::process::exit(0);
    }

    /// Runs the helper on `dir` with a child living `child_ms`; the child's pid.
    fn dead_gateway_with_child(dir: &Path, child_ms: u32) -> i32 {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", HELPER, "--ignored", "--nocapture", "--test-threads=1"])
            .env(HELPER_DIR, dir)
            .env(HELPER_CHILD_MS, child_ms.to_string())
            .output()
            .expect("run the helper");
        String::from_utf8_lossy(&out.stdout)
            .split_once("forked ")
            .and_then(|(_, p)| p.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("the helper forked: {out:?}"))
    }

    #[test]
    fn a_dead_gateways_lock_held_by_its_child_for_a_moment_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let child = dead_gateway_with_child(dir.path(), 500);
        assert!(exists(child), "the child still holds the lock when the start tries");
        let lock = PidLock::acquire(dir.path()).expect("the lock is taken once the child lets go");
        assert!(
            !exists(child) || std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| s.contains(") Z"))
        );
        assert_eq!(std::fs::read_to_string(lock.pid_path()).unwrap(), format!("{}\n", std::process::id()));
    }

    #[test]
    fn a_lock_a_dead_gateways_child_keeps_is_named_with_how_to_find_it() {
        let dir = tempfile::tempdir().unwrap();
        let child = dead_gateway_with_child(dir.path(), 5_000);
        let e = PidLock::acquire(dir.path()).unwrap_err();
        // SAFETY: the helper's child, which only sleeps.
        unsafe { libc::kill(child, libc::SIGKILL) };
        assert!(matches!(e, LockError::LeftHeld { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("is gone") && msg.contains("fuser -v") && msg.contains(LOCK_FILE), "{msg}");
    }
}
