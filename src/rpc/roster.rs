//! Agent roster methods: `agents.list` and `agent.identity.get` (the Control UI calls both
//! on connect to title the chat).

use serde_json::{Value, json};

use super::Params;
use crate::agents::{agent_of, roster};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

pub fn agents_list(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    let agents: Vec<Value> = roster::ids(&s.options.paths.state_dir).into_iter().map(|id| json!({"id": id})).collect();
    // Sessions are keyed per sender here, upstream's default scope.
    Ok(json!({"defaultId": roster::DEFAULT_AGENT, "mainKey": "main", "scope": "per-sender", "agents": agents}))
}

pub fn identity_get(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["agentId", "sessionKey"])?;
    let from_key = p.opt_str("sessionKey")?.map(|k| agent_of(&k, roster::DEFAULT_AGENT));
    let id = match (p.opt_str("agentId")?, from_key) {
        (Some(a), Some(k)) if a != k => {
            return Err(p.bad(&format!("agent {a:?} does not match the session key's agent {k:?}")));
        }
        (Some(a), _) => a,
        (None, Some(k)) => k,
        (None, None) => roster::DEFAULT_AGENT.to_string(),
    };
    if !roster::is_known(&s.options.paths.state_dir, &id) {
        return Err(ErrorShape::invalid(format!("unknown agent id: {id}")));
    }
    let who = roster::identity(&id);
    Ok(json!({"agentId": id, "name": who.name, "avatar": who.avatar}))
}
