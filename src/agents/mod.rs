//! Agent runs: admission through the session's lane and a global lane, the turn itself
//! (transcript, model chain with fallback, streamed deltas as `agent` and `chat` events),
//! abort, timeout, `agent.wait`, idempotent replay, the session index, and the tool-call loop
//! (the model's calls run through [`crate::tools`], results sent back until it answers).
//!
//! A run's id is the client's `idempotencyKey` (upstream clients match events and answers
//! by it), so the book of runs is also the idempotency record: one run per key while the
//! run is going and for five minutes after it ended.

pub mod approvals;
pub mod asks;
mod events;
pub mod models;
pub mod preview;
pub mod provider;
pub mod roster;
mod run;
mod sessions;
mod tool_loop;
pub mod toolbox;
pub mod transcript;
mod turn;
pub mod usage_report;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use self::run::Book;
pub use self::run::{Run, RunFailure, RunRequest, RunState, RunStatus, usage};
pub use self::sessions::{Change, SettingsPatch};
pub use self::turn::{SubmitError, Submitted, submit, submit_as};
use crate::config::LoadOptions;
use crate::config::live::LiveConfig;
use crate::lanes::Lanes;
use crate::protocol::events::EventSink;

/// Every run of this gateway, and the session indexes. Owned through this handle (the
/// composition root makes one and hands it to the edges and the cron actor).
pub struct Agents {
    book: Mutex<Book>,
    indexes: Mutex<HashMap<String, transcript::Index>>,
    /// Background jobs started by `exec` (owned here; tools get a handle).
    processes: Arc<crate::tools::ProcessTable>,
    /// The sandbox's egress proxy (bound on the first sandboxed toolbox).
    egress: crate::sandbox::egress::Egress,
    /// Host commands waiting for an operator's approval.
    asks: Arc<asks::Asks>,
    deps: AgentDeps,
}

/// What runs need from the rest of the gateway.
pub struct AgentDeps {
    pub config: LiveConfig,
    /// The state directory and the environment snapshot (provider keys).
    pub options: Arc<LoadOptions>,
    pub lanes: Arc<Lanes>,
    /// Where run events go (the session hub).
    pub events: Arc<dyn EventSink>,
    /// Every agent's memory, for the memory tools (a read handle; the gateway owns it).
    pub memory: Option<Arc<dyn crate::tools::memory::Memories>>,
    /// The addresses the gateway is bound to (a read view): the sandbox's proxy refuses them.
    pub listen: tokio::sync::watch::Receiver<Vec<std::net::SocketAddr>>,
}

impl Agents {
    pub fn new(deps: AgentDeps) -> Arc<Self> {
        let egress = crate::sandbox::egress::Egress::new(&deps.options.paths.state_dir, deps.listen.clone());
        let asks = asks::Asks::new(deps.events.clone(), deps.options.paths.state_dir.clone());
        Arc::new(Self {
            book: Mutex::default(),
            indexes: Mutex::default(),
            processes: Arc::default(),
            egress,
            asks,
            deps,
        })
    }

    /// The pending exec approvals (`exec.approval.list|resolve`).
    pub fn asks(&self) -> &Arc<asks::Asks> {
        &self.asks
    }

    /// Where sessions, transcripts and model catalogues live.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.deps.options.paths.state_dir
    }
}

/// The agent a session key belongs to: `agent:<id>:<rest>`, else the given one.
pub fn agent_of(session_key: &str, fallback: &str) -> String {
    let mut parts = session_key.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("agent"), Some(id), Some(_)) if !id.is_empty() => id.to_string(),
        _ => fallback.to_string(),
    }
}

/// Agent ids become directory names: keep them to a safe alphabet.
pub fn valid_agent_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
