//! The gateway's one egress proxy: bound on first use in a private directory of the temp dir
//! (not the state dir: a socket there would be backed up, and the state dir may be a volume
//! that cannot hold one), its policy replaced by whoever builds a sandboxed toolbox (the
//! config may have changed).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::proxy::{self, Policy};

pub struct Egress {
    socket: PathBuf,
    policy: watch::Sender<Arc<Policy>>,
    /// Where the gateway listens (a read view of what its listener publishes): never reachable.
    bound: watch::Receiver<Vec<SocketAddr>>,
    started: Mutex<bool>,
}

impl Egress {
    pub fn new(state_dir: &Path, bound: watch::Receiver<Vec<SocketAddr>>) -> Self {
        let (policy, _) = watch::channel(Arc::new(Policy::default()));
        // One directory per state dir (one gateway per state dir: the pid file), so a restarted
        // gateway reuses it and nothing piles up.
        use sha2::Digest;
        let tag = crate::sys::hex(&sha2::Sha256::digest(state_dir.as_os_str().as_encoded_bytes())[..8]);
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("openclaw-{uid}-{tag}"));
        Self { socket: dir.join("egress.sock"), policy, bound, started: Mutex::new(false) }
    }

    /// Applies `policy` and makes sure the proxy is serving; returns its socket. Call from
    /// within the runtime (the proxy runs as a task on it).
    pub fn serve(&self, policy: Policy) -> io::Result<PathBuf> {
        self.policy.send_replace(Arc::new(policy));
        let mut started = self.started.lock();
        if !*started {
            let dir = self.socket.parent().unwrap_or(Path::new("."));
            private_dir(dir)?;
            // A socket left by an earlier gateway on this state dir (the pid file makes it ours).
            let _ = std::fs::remove_file(&self.socket);
            let listener = tokio::net::UnixListener::bind(&self.socket).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot bind the sandbox egress proxy at {}: {e}", self.socket.display()),
                )
            })?;
            tokio::spawn(proxy::serve(listener, self.policy.subscribe(), self.bound.clone()));
            *started = true;
        }
        Ok(self.socket.clone())
    }
}

/// `dir`, created 0700, and ours: a directory another user made in the shared temp dir is
/// refused (they could swap the socket).
fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))),
    }
    let m = std::fs::symlink_metadata(dir)?;
    // SAFETY: getuid has no preconditions.
    if !m.is_dir() || m.uid() != unsafe { libc::getuid() } || m.permissions().mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a private directory of this user; remove it", dir.display()),
        ));
    }
    Ok(())
}
