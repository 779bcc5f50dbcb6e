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
    /// Opens a file a search came across (a host path under a resolved base) for reading,
    /// under the same confinement as [`FileRoot::read`].
    fn open(&self, path: &Path) -> io::Result<std::fs::File>;
    /// Writes the whole file (parents created), replacing it atomically.
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()>;
}

/// The unconfined host root: any path, except inside a guarded directory (the gateway's
/// state dir: its token, device keys, config), where only the workspace is reachable. A check
/// of the resolved path, not race-free against a symlink swapped in afterwards: confinement
/// that is belongs to the sandbox's root.
pub struct HostRoot {
    workspace: PathBuf,
    /// The workspace as the file system resolves it.
    canonical: PathBuf,
    guarded: Vec<PathBuf>,
}

impl HostRoot {
    /// A root at `workspace`, created (0700) if missing.
    pub fn new(workspace: PathBuf) -> io::Result<Self> {
        crate::state::ensure_dir(&workspace).map_err(|e| io::Error::other(e.to_string()))?;
        let canonical = workspace.canonicalize()?;
        Ok(Self { workspace, canonical, guarded: Vec::new() })
    }

    /// Refuses paths under `dir` (outside the workspace).
    pub fn guard(mut self, dir: &Path) -> Self {
        self.guarded.push(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
        self
    }

    fn check(&self, shown: &str, p: &Path) -> io::Result<()> {
        if self.guarded.is_empty() {
            return Ok(());
        }
        let resolved = resolved(p)?;
        if self.guarded.iter().any(|g| resolved.starts_with(g)) && !resolved.starts_with(&self.canonical) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{shown} is inside the gateway's state directory; tools may not reach it"),
            ));
        }
        Ok(())
    }
}

/// `p` as the file system resolves it: its longest existing ancestor canonicalized (symlinks
/// and `..` followed), then the rest, which may not climb (`..`).
fn resolved(p: &Path) -> io::Result<PathBuf> {
    let mut existing = p;
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(c) => {
                if rest.iter().any(|r: &&std::ffi::OsStr| *r == "..") {
                    return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", p.display())));
                }
                return Ok(rest.iter().rev().fold(c, |acc, r| acc.join(r)));
            }
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name);
                    existing = parent;
                }
                _ => return Ok(p.to_path_buf()),
            },
        }
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
        let p = if p.is_absolute() { p } else { self.workspace.join(p) };
        self.check(path, &p)?;
        Ok(p)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path)?)
    }

    fn open(&self, path: &Path) -> io::Result<std::fs::File> {
        self.check(&path.display().to_string(), path)?;
        std::fs::File::open(path)
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

    #[test]
    fn the_guarded_state_dir_is_refused_outside_the_workspace_symlinks_included() {
        let state = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(state.path().join("secrets")).unwrap();
        std::fs::write(state.path().join("secrets/gateway_token"), "t").unwrap();
        let r = HostRoot::new(state.path().join("workspace")).unwrap().guard(state.path());
        r.write("notes.txt", b"mine").unwrap();
        assert_eq!(r.read("notes.txt").unwrap(), b"mine");
        for bad in ["../secrets/gateway_token", "../config.json5", "..", "nope/../../secrets/gateway_token"] {
            let e = r.read(bad).unwrap_err();
            assert!(matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound), "{bad}: {e}");
        }
        let abs = state.path().join("secrets/gateway_token");
        assert!(r.read(abs.to_str().unwrap()).unwrap_err().to_string().contains("state directory"));
        std::os::unix::fs::symlink(state.path().join("secrets"), state.path().join("workspace/link")).unwrap();
        assert_eq!(r.read("link/gateway_token").unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        assert!(r.write("../secrets/new", b"x").is_err());
        assert!(r.resolve("/etc/hostname").is_ok(), "the rest of the host is not confined without a sandbox");
    }
}
