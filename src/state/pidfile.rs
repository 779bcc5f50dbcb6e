//! `gateway.pid` guarded by an exclusive lock on `gateway.lock`: one gateway per state dir.
//!
//! The lock (not the pid file) decides: a pid file left by a crashed gateway has no lock
//! holder and is taken over; the kernel drops the lock when the process dies.
//!
//! The lock is a POSIX record lock (`fcntl(F_SETLK)`), not an `flock`: an flock belongs to the
//! open file, which a child being spawned shares until it execs, so a gateway killed while
//! spawning (the sandbox probe, a tool run) could leave its lock held past its death. A record
//! lock belongs to the process alone. Its one trap, that closing any descriptor of the file
//! drops it, does not apply: nothing else in the gateway opens `gateway.lock`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
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
        match try_record_lock(&lock) {
            Ok(None) => {}
            Ok(Some(holder)) => {
                let pid = std::fs::read_to_string(&pid_path)
                    .map(|s| s.trim().to_string())
                    .ok()
                    .filter(|s| !s.is_empty())
                    .or_else(|| holder.map(|p| p.to_string()))
                    .unwrap_or_else(|| "unknown".into());
                return Err(LockError::AlreadyRunning { dir: state_dir.to_path_buf(), pid });
            }
            Err(e) => return Err(StateError::new(&lock_path, e).into()),
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

/// A write lock on the whole file, as `fcntl(cmd)` takes (`F_SETLK`) or asks about (`F_GETLK`).
fn whole_file_lock(file: &File, cmd: libc::c_int) -> io::Result<libc::flock> {
    // SAFETY: a zeroed `flock` is valid (start 0, length 0: the whole file).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl on a descriptor `file` owns, with a pointer to a live `flock`.
    match unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl) } {
        0 => Ok(fl),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Takes the lock: `Ok(None)`, or `Ok(Some(holder))` when another process holds it (its pid
/// when the kernel can name it: not across pid namespaces).
fn try_record_lock(file: &File) -> io::Result<Option<Option<libc::pid_t>>> {
    match whole_file_lock(file, libc::F_SETLK) {
        Ok(_) => Ok(None),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
            let holder = whole_file_lock(file, libc::F_GETLK).ok().map(|fl| fl.l_pid).filter(|&p| p > 0);
            Ok(Some(holder))
        }
        Err(e) => Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const HELPER_DIR: &str = "OPENCLAW_PIDLOCK_HELPER_DIR";
    const HELPER: &str = "state::pidfile::tests::helper_locks_forks_and_exits";

    /// Not a test: the process the test below starts. It takes the lock, forks a child that
    /// keeps a copy of every descriptor and sleeps, prints the child's pid and exits without
    /// letting go (as a killed gateway does).
    #[test]
    #[ignore = "a helper process of a_forked_child_does_not_keep_a_dead_gateways_lock"]
    fn helper_locks_forks_and_exits() {
        let dir = std::env::var_os(HELPER_DIR).expect("run by the test that sets the state dir");
        let lock = PidLock::acquire(Path::new(&dir)).expect("lock a fresh state dir");
        // SAFETY: the child only closes its output (so the test's read of it ends), sleeps and
        // exits: async-signal-safe calls only, as a child of a threaded process must.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe {
                libc::close(1);
                libc::close(2);
                libc::sleep(30);
                libc::_exit(0);
            }
        }
        assert!(child > 0, "fork: {}", io::Error::last_os_error());
        println!("forked {child}");
        std::mem::forget(lock);
        std::process::exit(0);
    }

    #[test]
    fn a_forked_child_does_not_keep_a_dead_gateways_lock() {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", HELPER, "--ignored", "--nocapture", "--test-threads=1"])
            .env(HELPER_DIR, dir.path())
            .output()
            .expect("run the helper");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let child: libc::pid_t = stdout
            .split_once("forked ")
            .and_then(|(_, p)| p.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("the helper forked: {out:?}"));
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(child, 0) } == 0;
        let taken = PidLock::acquire(dir.path());
        // SAFETY: the helper's child, which only sleeps.
        unsafe { libc::kill(child, libc::SIGKILL) };
        assert!(alive, "the forked child still lives, holding the lock file open");
        let lock = taken.expect("the lock died with its holder, though the holder's child lives");
        assert_eq!(std::fs::read_to_string(lock.pid_path()).unwrap(), format!("{}\n", std::process::id()));
    }
}
