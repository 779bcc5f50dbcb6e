//! The state directory: private directories, atomic files, and the single-instance pid lock.

pub mod archive;
pub mod pidfile;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
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
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| StateError::new(path, e))
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
