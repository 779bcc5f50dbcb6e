//! What a run's tools get: the agent's effective tool policy, its workspace, the exec backend
//! and the gateway's background-process table; and the tool sets `lanes.status` and `/health`
//! show. Sandboxed sessions get bubblewrap and the confined file root here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Agents, approvals, roster};
use crate::config::Config;
use crate::config::model::SandboxMode;
use crate::sandbox::{self, Bind, proxy::Policy};
use crate::tools::confined::ConfinedRoot;
use crate::tools::sandboxed::{SandboxExec, Unsandboxable};
use crate::tools::{self, Effective, ExecBackend, FileRoot, HostExec, HostRoot, Toolbox};

/// The tool policy in effect for `agent_id`.
/// Memory's tools are offered only while memory is on.
pub fn policy(cfg: &Config, agent_id: &str) -> Effective {
    let entry = cfg.agents.entry(agent_id).and_then(|e| e.tools.as_ref());
    let mut e = tools::policy::effective(&cfg.agents.defaults.tools, entry);
    if !cfg.memory.index_enabled {
        e.tools.retain(|t| !t.starts_with("memory_"));
    }
    e
}

/// `agent_id`'s workspace: its `agents.list` entry, else `agents.defaults.workspace`, else
/// `<state>/workspace`.
pub fn workspace(cfg: &Config, state_dir: &Path, agent_id: &str, home: Option<&str>) -> PathBuf {
    let configured = cfg.agents.entry(agent_id).and_then(|e| e.workspace.as_deref());
    match configured.or(cfg.agents.defaults.workspace.as_deref()) {
        Some(w) => {
            let p = tools::root::expand_home(w, home.map(Path::new));
            if p.is_absolute() { p } else { state_dir.join(p) }
        }
        None => state_dir.join("workspace"),
    }
}

/// Whether `session_key` of `agent_id` runs sandboxed: `all` (`always`) every session,
/// `non-main` every session but the agent's main one (cron, channel groups, subagents), `off` none.
pub fn sandboxed(cfg: &Config, agent_id: &str, session_key: &str) -> bool {
    match cfg.agents.defaults.sandbox.mode {
        SandboxMode::Off => false,
        SandboxMode::Always => true,
        SandboxMode::NonMain => session_key != format!("agent:{agent_id}:main") && session_key != "main",
    }
}

impl Agents {
    /// The toolbox for one run of `agent_id` in `session_key` (its workspace is created here if
    /// missing). A sandboxed session gets the confined file root and bubblewrap for commands
    /// (or, when this host cannot sandbox, commands refused with the reason); the others the
    /// host's.
    pub(super) fn toolbox(&self, cfg: &Config, agent_id: &str, session_key: &str) -> Result<Toolbox, String> {
        let env = &self.deps.options.env;
        let home = env.get("HOME");
        let dir = workspace(cfg, self.state_dir(), agent_id, home);
        let sandboxed = sandboxed(cfg, agent_id, session_key);
        let (files, exec): (Arc<dyn FileRoot>, Arc<dyn ExecBackend>) = if sandboxed {
            let sb = &cfg.agents.defaults.sandbox;
            let binds: Vec<Bind> = sb
                .allowlist
                .paths
                .iter()
                .map(|p| {
                    let b = Bind::parse(p);
                    Bind { path: tools::root::expand_home(&b.path.to_string_lossy(), home.map(Path::new)), ..b }
                })
                .collect();
            let files = ConfinedRoot::new(&dir, &binds)
                .map_err(|e| format!("cannot open the workspace {}: {e}", dir.display()))?;
            let workspace = files.workspace().to_path_buf();
            let policy = Policy { allow: sb.allowlist.domains.clone(), gateway_ports: vec![cfg.gateway.port as u16] };
            // With no domain allowed there is nothing to carry: no proxy, no bridge (a third of
            // a sandboxed command's start-up), no network at all.
            let proxy = if sb.allowlist.domains.is_empty() { Ok(None) } else { self.egress.serve(policy).map(Some) };
            let exec: Arc<dyn ExecBackend> = match (sandbox::backend(), proxy) {
                (Err(e), _) => Arc::new(Unsandboxable(e.to_string())),
                (_, Err(e)) => Arc::new(Unsandboxable(e.to_string())),
                (Ok(b), Ok(proxy_socket)) => Arc::new(SandboxExec {
                    bwrap: b.bwrap,
                    exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
                    workspace,
                    binds,
                    proxy_socket,
                }),
            };
            (Arc::new(files), exec)
        } else {
            let files = HostRoot::new(dir.clone())
                .map_err(|e| format!("cannot create the workspace {}: {e}", dir.display()))?
                // The gateway's token, device keys, config and approvals file are not the model's.
                .guard(self.state_dir());
            (Arc::new(files), Arc::new(HostExec))
        };
        Ok(Toolbox {
            agent_id: agent_id.into(),
            files,
            exec,
            processes: self.processes.clone(),
            policy: Arc::new(policy(cfg, agent_id)),
            approvals_file: approvals::path(self.state_dir()),
            approver: Some(Arc::new(super::asks::RunApprover {
                asks: self.asks.clone(),
                timeout: Duration::from_secs(cfg.agents.defaults.exec_approval_timeout_seconds),
            })),
            session_key: session_key.into(),
            timeout: Duration::from_secs(cfg.agents.defaults.tool_timeout_seconds),
            allow_private_web: tools::ssrf::allow_private(env.get(tools::ssrf::ALLOW_PRIVATE_ENV)),
            web_domains: sandboxed.then(|| cfg.agents.defaults.sandbox.allowlist.domains.clone()),
            memory: self.deps.memory.as_ref().and_then(|m| m.recall(agent_id)),
        })
    }
}

/// `{agentId: {tools, deniedCommands?, notes?, workspace}}` for every known agent (the roster
/// and `agents.list`).
pub fn tool_sets(cfg: &Config, state_dir: &Path) -> Value {
    let mut ids = roster::ids(state_dir);
    for e in &cfg.agents.list {
        if !ids.contains(&e.id) {
            ids.push(e.id.clone());
        }
    }
    let mut out = Map::new();
    for id in ids {
        let mut v = json!(policy(cfg, &id));
        v["workspace"] = json!(workspace(cfg, state_dir, &id, std::env::var("HOME").ok().as_deref()));
        out.insert(id, v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::AgentEntry;

    #[test]
    fn the_workspace_is_the_agents_then_the_defaults_then_the_state_dirs() {
        let mut cfg = Config::default();
        let s = Path::new("/state");
        assert_eq!(workspace(&cfg, s, "main", None), PathBuf::from("/state/workspace"));
        cfg.agents.defaults.workspace = Some("~/ws".into());
        assert_eq!(workspace(&cfg, s, "main", Some("/home/u")), PathBuf::from("/home/u/ws"));
        cfg.agents.list.push(AgentEntry { id: "ops".into(), workspace: Some("ops-ws".into()), tools: None });
        assert_eq!(workspace(&cfg, s, "ops", None), PathBuf::from("/state/ops-ws"));
    }
}
