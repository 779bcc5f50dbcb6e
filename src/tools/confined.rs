//! The file root of a sandboxed session: the workspace and the allowlisted paths, nothing
//! else, reached race-free. Every open goes through `openat2` with `RESOLVE_BENEATH` from a
//! descriptor of its root, so no `..`, absolute or swapped-in symlink leads out, whenever it
//! appears. Searches (grep, find, ls) list directories by path, not following links, and open
//! every file they read through the same `openat2`; a link swapped in during a walk can show
//! a name from outside, never its contents.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::FileRoot;
use crate::sandbox::Bind;

struct Root {
    /// As the file system resolves it.
    path: PathBuf,
    dir: OwnedFd,
    read_only: bool,
}

pub struct ConfinedRoot {
    workspace: PathBuf,
    /// The workspace first, then the allowlisted paths, longest first.
    roots: Vec<Root>,
}

impl ConfinedRoot {
    /// The workspace (created if missing) and `binds` (skipped when missing: the sandbox skips them too).
    pub fn new(workspace: &Path, binds: &[Bind]) -> io::Result<Self> {
        crate::state::ensure_dir(workspace).map_err(|e| io::Error::other(e.to_string()))?;
        let mut roots = vec![open_root(workspace, false)?];
        let mut extra: Vec<Root> = binds.iter().filter_map(|b| open_root(&b.path, b.read_only).ok()).collect();
        extra.sort_by_key(|r| std::cmp::Reverse(r.path.as_os_str().len()));
        roots.extend(extra);
        Ok(Self { workspace: roots[0].path.clone(), roots })
    }

    /// The root a path belongs to, and the path relative to it.
    fn pick(&self, path: &str) -> io::Result<(&Root, PathBuf)> {
        let p = Path::new(path);
        if p.is_relative() {
            return Ok((&self.roots[0], p.to_path_buf()));
        }
        // The workspace first: an allowlisted path may contain it.
        for r in &self.roots {
            if let Ok(rel) = p.strip_prefix(&r.path) {
                return Ok((r, rel.to_path_buf()));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{path} is outside the sandbox (the workspace and agents.defaults.sandbox.allowlist.paths)"),
        ))
    }
}

fn open_root(path: &Path, read_only: bool) -> io::Result<Root> {
    let path = path.canonicalize()?;
    let dir = open_at(libc::AT_FDCWD, &path, libc::O_PATH | libc::O_DIRECTORY, 0, 0)?;
    Ok(Root { path, dir, read_only })
}

/// The kernel's `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dirfd, rel, flags, mode)` resolving beneath `dirfd` (no magic links either).
fn open_beneath(dir: RawFd, rel: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    open_at(dir, rel, flags, mode, libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS)
}

fn open_at(dir: RawFd, path: &Path, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let how = OpenHow { flags: (flags | libc::O_CLOEXEC) as u64, mode: mode as u64, resolve };
    // SAFETY: openat2 reads a NUL-terminated path and a fully initialized open_how of the given size.
    let fd = unsafe {
        libc::syscall(libc::SYS_openat2, dir, c.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>())
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // EXDEV: the path would leave its root.
        return Err(if e.raw_os_error() == Some(libc::EXDEV) {
            io::Error::new(io::ErrorKind::PermissionDenied, format!("{} leads outside the sandbox", path.display()))
        } else {
            e
        });
    }
    // SAFETY: a descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Where an open descriptor really is (for messages, walking and an exec's workdir).
fn fd_path(fd: &OwnedFd) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The directory `rel` names under `root`, each missing component created beneath it.
fn make_dirs(root: &Root, rel: &Path) -> io::Result<OwnedFd> {
    if let Ok(fd) = open_beneath(root.dir.as_raw_fd(), rel, libc::O_PATH | libc::O_DIRECTORY, 0) {
        return Ok(fd);
    }
    let mut done = PathBuf::new();
    for comp in rel.components() {
        let next = done.join(comp);
        if open_beneath(root.dir.as_raw_fd(), &next, libc::O_PATH | libc::O_DIRECTORY, 0).is_err() {
            let Component::Normal(name) = comp else {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", next.display())));
            };
            let parent = open_beneath(root.dir.as_raw_fd(), &done, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            let c = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: mkdirat with a directory descriptor we own and a NUL-terminated single name.
            if unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), 0o755) } != 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
            }
        }
        done = next;
    }
    open_beneath(root.dir.as_raw_fd(), rel, libc::O_PATH | libc::O_DIRECTORY, 0)
}

impl FileRoot for ConfinedRoot {
    fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// Checks beneath its root what exists of the path and returns where that really is, with
    /// the rest (not yet existing) appended.
    fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let (root, rel) = self.pick(path)?;
        let mut existing = rel.clone();
        let mut rest = Vec::new();
        loop {
            match open_beneath(root.dir.as_raw_fd(), &existing, libc::O_PATH, 0) {
                Ok(fd) => {
                    let real = fd_path(&fd)?;
                    if rest.iter().any(|c: &std::ffi::OsString| c == "..") {
                        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{path} does not exist")));
                    }
                    return Ok(rest.into_iter().rev().fold(real, |acc, c| acc.join(c)));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match (existing.parent(), existing.file_name()) {
                    (Some(parent), Some(name)) => {
                        rest.push(name.to_os_string());
                        existing = parent.to_path_buf();
                    }
                    _ => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let (root, rel) = self.pick(path)?;
        let mut f = File::from(open_beneath(root.dir.as_raw_fd(), &rel, libc::O_RDONLY, 0)?);
        let mut out = Vec::new();
        f.read_to_end(&mut out)?;
        Ok(out)
    }

    fn open(&self, path: &Path) -> io::Result<File> {
        let (root, rel) = self.pick(&path.to_string_lossy())?;
        Ok(File::from(open_beneath(root.dir.as_raw_fd(), &rel, libc::O_RDONLY, 0)?))
    }

    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let (root, rel) = self.pick(path)?;
        if root.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{path} is in a read-only allowlisted path"),
            ));
        }
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{path} names no file")))?;
        let dir = make_dirs(root, rel.parent().unwrap_or(Path::new("")))?;
        let tmp = format!(".{}.openclaw-{}.tmp", name.to_string_lossy(), uuid::Uuid::new_v4().simple());
        let mode = open_beneath(dir.as_raw_fd(), Path::new(name), libc::O_RDONLY, 0)
            .ok()
            .and_then(|fd| File::from(fd).metadata().ok())
            .map_or(0o644, |m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777);
        let mut f = File::from(open_beneath(
            dir.as_raw_fd(),
            Path::new(&tmp),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            mode,
        )?);
        let (ctmp, cname) = (
            CString::new(tmp.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        );
        let unlink = || {
            // SAFETY: unlinkat of the temp file we created in a directory descriptor we own.
            unsafe { libc::unlinkat(dir.as_raw_fd(), ctmp.as_ptr(), 0) };
        };
        if let Err(e) = f.write_all(bytes) {
            unlink();
            return Err(e);
        }
        // SAFETY: renameat within one directory descriptor we own, both names NUL-terminated.
        if unsafe { libc::renameat(dir.as_raw_fd(), ctmp.as_ptr(), dir.as_raw_fd(), cname.as_ptr()) } != 0 {
            let e = io::Error::last_os_error();
            unlink();
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, ConfinedRoot) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("state/secrets")).unwrap();
        std::fs::write(d.path().join("state/secrets/token"), "secret").unwrap();
        std::fs::create_dir_all(d.path().join("ref")).unwrap();
        std::fs::write(d.path().join("ref/doc"), "reference").unwrap();
        let r = ConfinedRoot::new(
            &d.path().join("state/workspace"),
            &[Bind::parse(&format!("{}:ro", d.path().join("ref").display()))],
        )
        .unwrap();
        (d, r)
    }

    #[test]
    fn the_workspace_reads_and_writes_and_parents_are_made() {
        let (_d, r) = setup();
        r.write("a/b/c.txt", b"hi").unwrap();
        assert_eq!(r.read("a/b/c.txt").unwrap(), b"hi");
        r.write("a/b/c.txt", b"again").unwrap();
        assert_eq!(r.read("a/b/../b/c.txt").unwrap(), b"again", ".. inside the root is fine");
        let abs = r.workspace().join("a/b/c.txt");
        assert_eq!(r.read(abs.to_str().unwrap()).unwrap(), b"again");
        assert_eq!(r.resolve("a/new/x").unwrap(), r.workspace().join("a/new/x"));
    }

    #[test]
    fn nothing_leads_out() {
        let (d, r) = setup();
        let ws = r.workspace().to_path_buf();
        std::os::unix::fs::symlink(d.path().join("state/secrets"), ws.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../secrets", ws.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("/", ws.join("root")).unwrap();
        for bad in ["../secrets/token", "abs-link/token", "rel-link/token", "root/etc/hostname", "/etc/hostname"] {
            assert!(r.read(bad).is_err(), "{bad} was read");
            assert!(r.write(bad, b"x").is_err(), "{bad} was written");
        }
        assert!(r.write("abs-link/new", b"x").is_err());
        assert!(!d.path().join("state/secrets/new").exists());
        assert!(r.resolve("../secrets").is_err());
        assert!(r.read(&format!("{}/state/secrets/token", d.path().display())).is_err());
    }

    #[test]
    fn a_directory_swapped_for_a_link_after_a_check_does_not_lead_out() {
        let (d, r) = setup();
        r.write("dir/f", b"inside").unwrap();
        let checked = r.resolve("dir/f").unwrap();
        assert!(checked.starts_with(r.workspace()));
        let ws = r.workspace().to_path_buf();
        std::fs::remove_dir_all(ws.join("dir")).unwrap();
        std::os::unix::fs::symlink(d.path().join("state/secrets"), ws.join("dir")).unwrap();
        std::fs::write(d.path().join("state/secrets/f"), "outside").unwrap();
        assert!(r.read("dir/f").is_err(), "the open itself refuses the swapped link");
        assert!(r.write("dir/f", b"x").is_err());
        assert_eq!(std::fs::read_to_string(d.path().join("state/secrets/f")).unwrap(), "outside");
    }

    #[test]
    fn searches_do_not_read_outside_through_links() {
        let (d, r) = setup();
        let ws = r.workspace().to_path_buf();
        std::fs::write(ws.join("mine.txt"), "needle inside\n").unwrap();
        std::os::unix::fs::symlink(d.path().join("state/secrets/token"), ws.join("token-link")).unwrap();
        std::os::unix::fs::symlink(d.path().join("state/secrets"), ws.join("secrets-link")).unwrap();
        std::fs::write(d.path().join("state/secrets/token"), "needle secret\n").unwrap();
        let grep = |path: Option<&str>| {
            crate::tools::search::grep(
                &r,
                crate::tools::search::GrepArgs { pattern: "needle".into(), path: path.map(Into::into), glob: None },
            )
        };
        let all = grep(None);
        assert!(all.text.contains("needle inside") && !all.text.contains("secret"), "{}", all.text);
        assert!(grep(Some("secrets-link")).is_error, "a linked directory outside is refused");
        assert!(grep(Some("token-link")).is_error, "a linked file outside is refused");
        // The search's own opens are beneath the root too.
        assert!(r.open(&d.path().join("state/secrets/token")).is_err());
        assert!(r.open(&ws.join("token-link")).is_err());
        assert!(r.open(&ws.join("mine.txt")).is_ok());
    }

    #[test]
    fn allowlisted_paths_are_reachable_read_only_when_marked() {
        let (d, r) = setup();
        let doc = d.path().join("ref/doc").canonicalize().unwrap();
        assert_eq!(r.read(doc.to_str().unwrap()).unwrap(), b"reference");
        let e = r.write(doc.to_str().unwrap(), b"x").unwrap_err();
        assert!(e.to_string().contains("read-only"), "{e}");
    }
}
