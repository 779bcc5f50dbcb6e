//! The agent sandbox: where a sandboxed command runs (bubblewrap, one process per exec), whether
//! this host can run it, and the egress proxy that enforces the domain allowlist.
//!
//! A sandboxed command sees `/usr` (and the merged-/usr links) read-only, a few files of `/etc`
//! read-only, its workspace read-write, each allowlisted path, a private `/tmp`, and nothing else
//! of the host. Every namespace is unshared, so its network has only loopback: the one way out is
//! the gateway's egress proxy, reached through a Unix socket bound into the sandbox and bridged
//! to `127.0.0.1:3128` inside it (`HTTP_PROXY`/`HTTPS_PROXY` point there).

pub mod bridge;
pub mod bwrap;
pub mod egress;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::model::SandboxMode;

/// One path the sandbox may use besides the workspace (`allowlist.paths`: `PATH` read-write,
/// `PATH:ro` read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub path: PathBuf,
    pub read_only: bool,
}

impl Bind {
    /// Parses an `allowlist.paths` entry.
    pub fn parse(entry: &str) -> Bind {
        match entry.strip_suffix(":ro") {
            Some(p) => Bind { path: PathBuf::from(p), read_only: true },
            None => Bind { path: PathBuf::from(entry.strip_suffix(":rw").unwrap_or(entry)), read_only: false },
        }
    }
}

/// What one sandboxed command gets.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Read-write, and the working directory (at the same path as on the host).
    pub workspace: PathBuf,
    /// Where the command starts instead, inside the workspace or an allowlisted path.
    pub workdir: Option<PathBuf>,
    pub binds: Vec<Bind>,
    /// The egress proxy's socket on the host; without it the sandbox has no network at all.
    pub proxy_socket: Option<PathBuf>,
    /// Extra environment for the command (the sandbox starts from an empty one).
    pub env: Vec<(String, String)>,
}

/// Where the proxy socket and this binary appear inside the sandbox.
pub const INSIDE_DIR: &str = "/run/openclaw";
pub const INSIDE_SOCKET: &str = "/run/openclaw/egress.sock";
pub const INSIDE_BINARY: &str = "/run/openclaw/openclaw";
/// The bridge's port on the sandbox's own loopback.
pub const BRIDGE_PORT: u16 = 3128;

/// Why sandboxed commands cannot run here. Sandboxed runs fail closed with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error(
        "bubblewrap (bwrap) is not installed or not on PATH; install it (Debian/Ubuntu: apt-get install bubblewrap)"
    )]
    NoBwrap,
    #[error(
        "bubblewrap cannot create namespaces here ({0}); on a host, allow unprivileged user namespaces \
         (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0); in a container, \
         see the README's \"Agent sandbox in a container\" for the podman/docker flags"
    )]
    NoNamespaces(String),
}

/// The backend this host offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub bwrap: PathBuf,
}

/// The sandbox backend of this host, probed once (a trial `bwrap` run, about 20 ms) and remembered.
pub fn backend() -> Result<Backend, Unavailable> {
    static PROBED: OnceLock<Result<Backend, Unavailable>> = OnceLock::new();
    PROBED.get_or_init(probe).clone()
}

/// Probes without remembering (`doctor`, `sandbox check`: after an install, the answer changes).
pub fn probe() -> Result<Backend, Unavailable> {
    let bwrap = find_on_path("bwrap").ok_or(Unavailable::NoBwrap)?;
    let out = std::process::Command::new(&bwrap)
        .args(bwrap::probe_args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| Unavailable::NoNamespaces(e.to_string()))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Unavailable::NoNamespaces(if why.is_empty() { out.status.to_string() } else { why }));
    }
    Ok(Backend { bwrap })
}

/// What the config check and the gateway's start say when the config sandboxes sessions and
/// this host cannot (`probed` is [`probe`] or [`backend`]): those sessions' commands will be
/// refused, so the operator hears it before the first run does.
pub fn unavailable_warning(mode: SandboxMode, probed: &Result<Backend, Unavailable>) -> Option<String> {
    let mode = match mode {
        SandboxMode::Off => return None,
        SandboxMode::NonMain => "non-main",
        SandboxMode::Always => "all",
    };
    let e = probed.as_ref().err()?;
    Some(format!(
        "agents.defaults.sandbox.mode is {mode:?} but the sandbox is unavailable, so sandboxed sessions \
         will refuse to run commands: {e}"
    ))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `host` is on the domain allowlist: exact names, `*.suffix` for any name under the
/// suffix (not the suffix itself), and `*` for any name. Case-insensitive; a trailing dot is
/// ignored.
pub fn domain_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return false;
    }
    allow.iter().any(|p| {
        let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
        match p.strip_prefix("*.") {
            _ if p == "*" => true,
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host[..host.len() - suffix.len()].ends_with('.')
            }
            None => host == p,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn domains_match_exactly_or_under_a_suffix() {
        let allow = list(&["api.openai.com", "*.github.com", "Example.ORG."]);
        assert!(domain_allowed("api.openai.com", &allow));
        assert!(domain_allowed("API.OpenAI.com.", &allow));
        assert!(!domain_allowed("openai.com", &allow));
        assert!(!domain_allowed("evilapi.openai.com", &allow));
        assert!(domain_allowed("raw.github.com", &allow));
        assert!(domain_allowed("a.b.github.com", &allow));
        assert!(!domain_allowed("github.com", &allow), "*.x is names under x, not x itself");
        assert!(!domain_allowed("evilgithub.com", &allow));
        assert!(domain_allowed("example.org", &allow));
        assert!(!domain_allowed("", &allow));
        assert!(domain_allowed("anything.at.all", &list(&["*"])));
        assert!(!domain_allowed("anything", &[]));
    }

    #[test]
    fn an_unavailable_sandbox_is_a_warning_unless_the_mode_is_off() {
        let missing = Err(Unavailable::NoBwrap);
        assert_eq!(unavailable_warning(SandboxMode::Off, &missing), None);
        let w = unavailable_warning(SandboxMode::NonMain, &missing).unwrap();
        assert!(w.contains("\"non-main\"") && w.contains("apt-get install bubblewrap"), "{w}");
        assert!(unavailable_warning(SandboxMode::Always, &missing).unwrap().contains("\"all\""));
        let ok = Ok(Backend { bwrap: "/usr/bin/bwrap".into() });
        assert_eq!(unavailable_warning(SandboxMode::Always, &ok), None);
    }

    #[test]
    fn path_entries_are_read_write_unless_marked_ro() {
        assert_eq!(Bind::parse("/data"), Bind { path: "/data".into(), read_only: false });
        assert_eq!(Bind::parse("/data:ro"), Bind { path: "/data".into(), read_only: true });
        assert_eq!(Bind::parse("/data:rw"), Bind { path: "/data".into(), read_only: false });
    }
}
