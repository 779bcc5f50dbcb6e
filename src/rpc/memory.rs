//! `memory.status` and `memory.search`: the agents' memory indexes, for the Control UI.

use serde_json::{Value, json};

use super::Params;
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

fn agent(rt: &Runtime, p: &Params) -> Result<String, ErrorShape> {
    let id = p.opt_str("agentId")?.unwrap_or_else(|| "main".into());
    if rt.memory.index(&id).is_none() && rt.memory.enabled() {
        return Err(ErrorShape::invalid(format!("unknown agent {id:?} (agents.list)")));
    }
    Ok(id)
}

fn off() -> ErrorShape {
    ErrorShape::unavailable("memory is off (memory.indexEnabled: false)")
}

/// `{enabled, agents: [status]}`; with `agentId`, that agent's only.
pub fn status(rt: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["agentId"])?;
    let enabled = rt.memory.enabled();
    let cfg = rt.config();
    let ids = match p.opt_str("agentId")? {
        Some(_) => vec![agent(rt, p)?],
        None => crate::memory::agent_ids(&cfg.loaded.config, &rt.options.paths.state_dir),
    };
    let agents: Vec<Value> = ids.iter().filter_map(|id| rt.memory.index(id)).map(|i| i.status(enabled)).collect();
    Ok(json!({"enabled": enabled, "agents": agents}))
}

/// `{query, agentId?, maxResults?, minScore?}` -> `{results, provider, model, mode, fallback?}`.
pub async fn search(rt: &Runtime, p: &Params<'_>) -> Result<Value, ErrorShape> {
    p.only(&["query", "agentId", "maxResults", "minScore"])?;
    let query = p.str("query")?;
    let max = p.opt_u64("maxResults", 1, 100)?.map(|n| n as usize);
    let min = match p.value.get("minScore") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Some(x),
            _ => return Err(p.bad("at /minScore: must be a number from 0 to 1")),
        },
    };
    if !rt.memory.enabled() {
        return Err(off());
    }
    let index = rt.memory.index(&agent(rt, p)?).ok_or_else(off)?;
    index.search(&query, max, min).await.map_err(ErrorShape::unavailable)
}
