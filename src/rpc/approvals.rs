//! `exec.approvals.get|set`: the exec-approvals policy file, with config's base-hash rule;
//! `exec.approval.resolve|list`: answering the host commands waiting for an operator.

use serde_json::Value;

use super::Params;
use crate::agents::approvals::{self, ApprovalsError};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

fn to_wire(e: &ApprovalsError) -> ErrorShape {
    match e {
        ApprovalsError::Io(_) => ErrorShape::unavailable(e.to_string()),
        _ => ErrorShape::invalid(e.to_string()),
    }
}

pub fn get(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    approvals::get(&s.options.paths.state_dir).map(|snap| snap.to_json()).map_err(|e| to_wire(&e))
}

pub fn set(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["file", "baseHash"])?;
    let file = match p.obj()?.and_then(|o| o.get("file")) {
        Some(f @ Value::Object(_)) => f.clone(),
        None | Some(Value::Null) => return Err(p.bad("must have required property 'file'")),
        Some(_) => return Err(p.bad("at /file: must be object")),
    };
    let base = p.opt_str("baseHash")?;
    approvals::set(&s.options.paths.state_dir, &file, base.as_deref())
        .map(|snap| snap.to_json())
        .map_err(|e| to_wire(&e))
}

/// `exec.approval.resolve {id, decision: allow-once | allow-always | deny}` -> `{ok: true}`.
pub fn resolve(s: &Runtime, caller: &super::Caller, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["id", "decision"])?;
    let id = p.str("id")?;
    let decision = p.str("decision")?;
    let Some(d) = crate::agents::asks::parse(&decision) else {
        return Err(p.bad("at /decision: must be one of allow-once, allow-always, deny"));
    };
    let by = caller.conn.clone().unwrap_or_else(|| "rpc".into());
    match s.agents.asks().resolve(&id, d, &by) {
        Ok(()) => Ok(serde_json::json!({"ok": true})),
        Err(e @ crate::agents::asks::ResolveError::Unknown) => Err(ErrorShape::invalid(e.to_string())),
        Err(e) => Err(ErrorShape::unavailable(e.to_string())),
    }
}

/// `exec.approval.list {}` -> `{pending: [<exec.approval.requested payload>...]}` (this
/// gateway's: a client that connects late sees what waits).
pub fn list(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    Ok(serde_json::json!({"pending": s.agents.asks().list()}))
}
