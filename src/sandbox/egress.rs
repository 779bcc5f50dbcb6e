//! The gateway's one egress proxy: bound on first use at `<state>/sandbox/egress.sock`, its
//! policy replaced by whoever builds a sandboxed toolbox (the config may have changed).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::proxy::{self, Policy};

pub struct Egress {
    socket: PathBuf,
    policy: watch::Sender<Arc<Policy>>,
    started: Mutex<bool>,
}

impl Egress {
    pub fn new(state_dir: &Path) -> Self {
        let (policy, _) = watch::channel(Arc::new(Policy::default()));
        Self { socket: state_dir.join("sandbox").join("egress.sock"), policy, started: Mutex::new(false) }
    }

    /// Applies `policy` and makes sure the proxy is serving; returns its socket. Call from
    /// within the runtime (the proxy runs as a task on it).
    pub fn serve(&self, policy: Policy) -> io::Result<PathBuf> {
        self.policy.send_replace(Arc::new(policy));
        let mut started = self.started.lock();
        if !*started {
            let dir = self.socket.parent().unwrap_or(Path::new("."));
            crate::state::ensure_dir(dir).map_err(|e| io::Error::other(e.to_string()))?;
            // A socket left by an earlier gateway on this state dir (the pid file makes it ours).
            let _ = std::fs::remove_file(&self.socket);
            let listener = tokio::net::UnixListener::bind(&self.socket).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot bind the sandbox egress proxy at {}: {e}", self.socket.display()),
                )
            })?;
            tokio::spawn(proxy::serve(listener, self.policy.subscribe()));
            *started = true;
        }
        Ok(self.socket.clone())
    }
}
