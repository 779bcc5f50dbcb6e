//! Where a tool's paths lead. [`FileRoot`] is the seam for confined file access: the host
//! root here resolves relative paths in the workspace and lets absolute ones through (as
//! upstream does with the sandbox off); a confined root (openat2 `RESOLVE_BENEATH`) for
//! sandboxed sessions implements the same trait.

use std::io;
use std::path::{Path, PathBuf};

/// File access for one agent's tools. Paths are as the model wrote them.
pub trait FileRoot: Send + Sync {
    /// The workspace: where relative paths resolve and commands start.
    fn workspace(&self) -> &Path;
    /// The host path a tool's `path` names (for messages, walking and `exec`'s workdir); an
    /// error when the root refuses it.
    fn resolve(&self, path: &str) -> io::Result<PathBuf>;
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// Writes the whole file (parents created), replacing it atomically.
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()>;
}

/// The unconfined host root.
pub struct HostRoot {
    workspace: PathBuf,
}

impl HostRoot {
    /// A root at `workspace`, created (0700) if missing.
    pub fn new(workspace: PathBuf) -> io::Result<Self> {
        crate::state::ensure_dir(&workspace).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self { workspace })
    }
}

/// `~` and `~/...` as the home directory.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

impl FileRoot for HostRoot {
    fn workspace(&self) -> &Path {
        &self.workspace
    }

    fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        if path.is_empty() {
            return Ok(self.workspace.clone());
        }
        let p = expand_home(path, std::env::var_os("HOME").as_deref().map(Path::new));
        Ok(if p.is_absolute() { p } else { self.workspace.join(p) })
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path)?)
    }

    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let p = self.resolve(path)?;
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Temp file beside it, then rename: a reader never sees half a file.
        let tmp = p.with_file_name(format!(
            ".{}.openclaw-{}.tmp",
            p.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
            std::process::id()
        ));
        std::fs::write(&tmp, bytes)?;
        if let Ok(meta) = std::fs::metadata(&p) {
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, &p).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_in_the_workspace_and_home_expands() {
        let d = tempfile::tempdir().unwrap();
        let r = HostRoot::new(d.path().join("ws")).unwrap();
        assert!(d.path().join("ws").is_dir(), "created on demand");
        assert_eq!(r.resolve("a/b.txt").unwrap(), d.path().join("ws/a/b.txt"));
        assert_eq!(r.resolve("/etc/hosts").unwrap(), PathBuf::from("/etc/hosts"));
        assert_eq!(expand_home("~/w", Some(Path::new("/h"))), PathBuf::from("/h/w"));
        assert_eq!(expand_home("~x/w", Some(Path::new("/h"))), PathBuf::from("~x/w"));
        r.write("deep/new.txt", b"hi").unwrap();
        assert_eq!(r.read("deep/new.txt").unwrap(), b"hi");
    }
}
