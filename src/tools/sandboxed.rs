//! Commands of sandboxed sessions: [`SandboxExec`] runs each in bubblewrap (see
//! [`crate::sandbox`]); [`Unsandboxable`] refuses every command, with the reason, when this host
//! cannot sandbox. A sandboxed session never runs a command on the host.

use std::path::PathBuf;

use tokio::process::Command;

use super::exec::{ExecBackend, ExecRequest};
use crate::sandbox::{self, Bind, Spec};

pub struct SandboxExec {
    pub bwrap: PathBuf,
    /// This binary, bound in as the egress bridge.
    pub exe: PathBuf,
    pub workspace: PathBuf,
    pub binds: Vec<Bind>,
    pub proxy_socket: Option<PathBuf>,
}

impl ExecBackend for SandboxExec {
    fn name(&self) -> &'static str {
        "bwrap"
    }

    fn is_host(&self) -> bool {
        false
    }

    fn command(&self, req: &ExecRequest) -> Result<Command, String> {
        let spec = Spec {
            workspace: self.workspace.clone(),
            workdir: Some(req.cwd.clone()),
            binds: self.binds.clone(),
            proxy_socket: self.proxy_socket.clone(),
            env: req.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        let argv = ["/bin/sh".into(), "-c".into(), req.command.clone().into()];
        let mut c = Command::new(&self.bwrap);
        c.args(sandbox::bwrap::args(&spec, &self.exe, &argv));
        Ok(c)
    }
}

/// A sandboxed session on a host that cannot sandbox: fails closed.
pub struct Unsandboxable(pub String);

impl ExecBackend for Unsandboxable {
    fn name(&self) -> &'static str {
        "unavailable"
    }

    fn is_host(&self) -> bool {
        false
    }

    fn command(&self, _: &ExecRequest) -> Result<Command, String> {
        Err(format!("exec refused: this session is sandboxed and the sandbox is unavailable: {}", self.0))
    }
}
