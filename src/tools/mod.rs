//! Agent tools: what a run's model may call (files, commands, background processes, search,
//! web fetch), which of them an agent gets, and the seams a sandbox plugs into.
//!
//! # Layout
//! - [`catalog`]: each tool's name, description and JSON schema; [`call`] runs one call.
//! - [`policy`]: profiles, groups, allow/deny with globs (deny wins); the guide's command denials.
//! - [`command`]: the programs a shell command runs (for those denials and the approvals file).
//! - [`root`]: [`FileRoot`], where paths resolve (the agent's workspace) and how files are reached;
//!   [`confined`]: the sandboxed sessions' root (openat2 beneath the workspace and allowlisted paths).
//! - [`read`], [`write`], [`edit`]: the file tools.
//! - [`exec`]: [`ExecBackend`] (how a command is started; [`HostExec`] here), the runner with
//!   its output cap, and the host-exec approvals check; [`sandboxed`]: bubblewrap for sandboxed
//!   sessions. [`process`]: background jobs.
//! - [`search`]: grep, find and ls with ripgrep's libraries (.gitignore respected).
//! - [`web`]: web_fetch; [`ssrf`]: the address guard it connects through.
//! - [`memory`]: memory_search and memory_get, over the agent's [`memory::Recall`].
//!
//! Nothing here knows about actors, sessions or the wire: the agent loop builds a [`Toolbox`]
//! per run and turns [`Update`]s and [`Output`]s into events.

pub mod approval;
pub mod catalog;
pub mod command;
pub mod confined;
pub mod edit;
pub mod exec;
pub mod memory;
pub mod policy;
pub mod process;
pub mod read;
pub mod root;
pub mod sandboxed;
pub mod search;
pub mod ssrf;
pub mod web;
pub mod write;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use self::catalog::call;
pub use self::exec::{ExecBackend, HostExec};
pub use self::policy::Effective;
pub use self::process::ProcessTable;
pub use self::root::{FileRoot, HostRoot};

/// What a tool call produced: text for the model, and whether it is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    pub is_error: bool,
}

impl Output {
    pub fn ok(text: impl Into<String>) -> Self {
        Self { text: text.into(), is_error: false }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self { text: text.into(), is_error: true }
    }
}

/// Partial output while a call runs (an `exec`'s output so far).
pub type Update<'a> = &'a (dyn Fn(&str) + Sync);

/// Everything one run's tools reach. Built by the agent loop per run; cheap to clone.
#[derive(Clone)]
pub struct Toolbox {
    pub agent_id: String,
    /// Where file paths resolve and how files are reached.
    pub files: Arc<dyn FileRoot>,
    /// How commands are started.
    pub exec: Arc<dyn ExecBackend>,
    /// Background jobs (a handle; the table is the gateway's).
    pub processes: Arc<ProcessTable>,
    /// The tools this agent has and the programs `exec` refuses.
    pub policy: Arc<Effective>,
    /// `<state>/exec-approvals.json`, consulted by unsandboxed host exec.
    pub approvals_file: PathBuf,
    /// Asks an operator when the approvals file says so (none: a miss is refused).
    pub approver: Option<Arc<dyn approval::Approver>>,
    /// The run's session (shown in approval requests).
    pub session_key: String,
    /// Longest one call may take.
    pub timeout: Duration,
    /// Lets web_fetch reach private addresses (tests only; see [`ssrf::allow_private`]).
    pub allow_private_web: bool,
    /// A sandboxed session's domain allowlist, which web_fetch keeps to as the egress proxy
    /// does (it runs in the gateway, outside the sandbox); none: any public host.
    pub web_domains: Option<Vec<String>>,
    /// The agent's memory (none when memory is off).
    pub memory: Option<Arc<dyn memory::Recall>>,
}
