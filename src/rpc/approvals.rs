//! `exec.approvals.get|set`: the exec-approvals policy file, with config's base-hash rule.

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
