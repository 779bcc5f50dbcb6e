//! tar.gz archives of state files, written like every state file: to a temp file in the
//! same directory, synced, then renamed into place.

use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{FILE_MODE, StateError};

/// Archives `files` (paths relative to `base`) into `out`; returns how many went in. Each
/// file is read whole, so one replaced meanwhile is archived as one version or the other,
/// never half of each; one removed meanwhile is left out.
pub fn write_tar_gz(out: &Path, base: &Path, files: &[PathBuf]) -> Result<usize, StateError> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = write(&tmp, base, files).and_then(|n| {
        std::fs::rename(&tmp, out).map_err(|e| StateError::new(out, e))?;
        Ok(n)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write(tmp: &Path, base: &Path, files: &[PathBuf]) -> Result<usize, StateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e| StateError::new(tmp, e);
    let f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(tmp).map_err(err)?;
    let mut tar = tar::Builder::new(GzEncoder::new(f, Compression::default()));
    let mut n = 0;
    for rel in files {
        let path = base.join(rel);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StateError::new(&path, e)),
        };
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(FILE_MODE);
        h.set_mtime(mtime);
        h.set_cksum();
        tar.append_data(&mut h, rel, bytes.as_slice()).map_err(err)?;
        n += 1;
    }
    tar.into_inner().map_err(err)?.finish().map_err(err)?.sync_all().map_err(err)?;
    Ok(n)
}
