//! What the Control UI asks about parts this gateway does not run yet, answered in upstream's
//! shapes so its tabs render: `node.list` (no nodes), `skills.status` (no skills),
//! `last-heartbeat` (no heartbeats).

use serde_json::{Value, json};

use super::Params;
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn node_list(p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    Ok(json!({"ts": now(), "nodes": []}))
}

pub fn last_heartbeat(p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    Ok(Value::Null)
}

pub fn skills_status(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["agentId"])?;
    p.opt_str("agentId")?;
    let state = &s.options.paths.state_dir;
    Ok(json!({"workspaceDir": state.join("workspace"), "managedSkillsDir": state.join("skills"), "skills": []}))
}
