//! The state directory: private directories, atomic files, and the single-instance pid lock.

pub mod archive;
pub mod pidfile;

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory the gateway creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files holding secrets or state.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and parents) with mode 0700; an existing directory keeps its mode.
pub fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(|e| StateError::new(dir, e))?;
    // DirBuilder honours the umask; make the leaf exactly 0700.
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(|e| StateError::new(dir, e))
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    atomic_write_from(path, &mut &*bytes, mode, None)
}

/// [`atomic_write`] of what `from` reads, streamed (a large file is not held in memory), with
/// `mtime` set on the file when given. A failure reading `from` leaves `path` as it was.
pub fn atomic_write_from(
    path: &Path,
    from: &mut dyn Read,
    mode: u32,
    mtime: Option<std::time::SystemTime>,
) -> Result<(), StateError> {
    write_via_temp(path, from, mode, mtime, true)
}

/// Like [`atomic_write`] (readers see the old or the new file, never a part) but without the
/// fsyncs: for files that mean nothing after a power cut (the pid file), where two fsyncs
/// were a millisecond or more of every start.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    write_via_temp(path, &mut &*bytes, mode, None, false)
}

/// Temp file `.<name>.<pid>.tmp` beside `path`, renamed over it; `durable`: the file and the
/// directory are fsynced, so the new content survives a power cut. The temp file is removed
/// on failure.
fn write_via_temp(
    path: &Path,
    from: &mut dyn Read,
    mode: u32,
    mtime: Option<std::time::SystemTime>,
    durable: bool,
) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        std::io::copy(from, &mut f)?;
        if let Some(t) = mtime {
            f.set_modified(t)?;
        }
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e: std::io::Error| StateError::new(path, e))
}

/// The pid in a temp file name of [`atomic_write`] or [`archive::write_tar_gz`]:
/// `.<name>.<pid>.tmp`.
fn temp_writer(name: &str) -> Option<i32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    rest.rsplit_once('.')?.1.parse().ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; EPERM means it does.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Removes what writers killed mid-write (`kill -9`, OOM, power cut) left of their temp files
/// under `dir` (recursively, symlinks not followed): a half-written file that nothing would
/// ever remove. Only files whose writer is gone: a CLI writing meanwhile (`token rotate`)
/// keeps its own. With `only` given, just the temp files of that file name, in `dir` alone
/// (a config file living outside the state dir). Returns how many were removed.
pub fn sweep_temp_files(dir: &Path, only: Option<&str>) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && only.is_none() {
            removed += sweep_temp_files(&e.path(), None);
        } else if ft.is_file()
            && only.is_none_or(|f| name.starts_with(&format!(".{f}.")))
            && temp_writer(&name).is_some_and(|pid| pid as u32 != std::process::id() && !alive(pid))
            && fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// [`atomic_write`] after creating the parent directory (0700) if it is missing.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    atomic_write(path, bytes, mode)
}

/// An I/O failure on a state path, with the path and the fix in its message.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}{}", path.display(), hint(source))]
pub struct StateError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl StateError {
    pub fn new(path: &Path, source: std::io::Error) -> Self {
        Self { path: path.to_path_buf(), source }
    }
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EROFS) => " (read-only file system: point OPENCLAW_STATE_DIR / --state-dir at a writable volume)",
        Some(libc::EACCES) | Some(libc::EPERM) => {
            " (permission denied: make it writable by this user, e.g. chown, or choose another --state-dir)"
        }
        Some(libc::ENOSPC) => " (disk full: free space on this volume)",
        Some(libc::ENOTDIR) => " (a parent of this path is a file: choose another --state-dir / OPENCLAW_STATE_DIR)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that no process has any more (a child of ours, reaped).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn temp_files_of_dead_writers_are_swept_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let sub = d.path().join("devices");
        fs::create_dir(&sub).unwrap();
        let stale = sub.join(format!(".paired.json.{dead}.tmp"));
        let of_live = sub.join(format!(".paired.json.{}.tmp", std::os::unix::process::parent_id()));
        let ours = sub.join(format!(".pending.json.{}.tmp", std::process::id()));
        let kept = [sub.join("paired.json"), d.path().join(".notes.tmp"), of_live.clone(), ours];
        for f in kept.iter().chain([&stale]) {
            fs::write(f, "x").unwrap();
        }
        assert_eq!(sweep_temp_files(d.path(), None), 1);
        assert!(!stale.exists());
        assert!(kept.iter().all(|f| f.exists()), "only a dead writer's temp file goes");

        // Next to a config file outside the state dir: that file's temp files only, there only.
        let config = d.path().join(format!(".config.json5.{dead}.tmp"));
        let bak = d.path().join(format!(".config.json5.bak.{dead}.tmp"));
        let other = d.path().join(format!(".other.json.{dead}.tmp"));
        let nested = sub.join(format!(".config.json5.{dead}.tmp"));
        for f in [&config, &bak, &other, &nested] {
            fs::write(f, "x").unwrap();
        }
        assert_eq!(sweep_temp_files(d.path(), Some("config.json5")), 2);
        assert!(!config.exists() && !bak.exists() && other.exists() && nested.exists());
    }

    #[test]
    fn a_write_whose_source_fails_leaves_the_file_as_it_was() {
        struct Cut;
        impl Read for Cut {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("cut"))
            }
        }
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("paired.json");
        fs::write(&f, "{}").unwrap();
        let mut half = (&b"{\"half\": "[..]).chain(Cut);
        assert!(atomic_write_from(&f, &mut half, FILE_MODE, None).is_err());
        assert_eq!(fs::read_to_string(&f).unwrap(), "{}");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temp file is left");
    }
}
