//! `cron.list`, `cron.status`, `cron.runs`, `cron.add`, `cron.update`, `cron.remove`,
//! `cron.run`: parameters checked here, answered by the CronActor.

use serde_json::Value;

use super::Params;
use crate::actors::cron::{CronActor, CronCall, CronCommand, ID};
use crate::protocol::ErrorShape;
use crate::shared::Shared;

fn id(p: &Params) -> Result<String, ErrorShape> {
    let id = p.opt_str("id")?.or(p.opt_str("jobId")?).ok_or_else(|| p.bad("must have required property 'id'"))?;
    if !crate::cron::valid_id(&id) {
        return Err(p.bad("at /id: must match ^[A-Za-z0-9._-]{1,128}$"));
    }
    Ok(id)
}

pub async fn call(s: &Shared, p: &Params<'_>) -> Result<Value, ErrorShape> {
    let cmd = match p.method {
        "cron.list" => {
            p.only(&["includeDisabled"])?;
            CronCommand::List {
                include_disabled: p.value.get("includeDisabled").and_then(Value::as_bool) == Some(true),
            }
        }
        "cron.status" => {
            p.only(&[])?;
            CronCommand::Status
        }
        "cron.runs" => {
            p.only(&["id", "jobId", "limit"])?;
            CronCommand::Runs { id: id(p)?, limit: p.opt_u64("limit", 1, 10_000)?.unwrap_or(50) as usize }
        }
        "cron.add" => {
            p.obj()?.ok_or_else(|| p.bad("must be object"))?;
            CronCommand::Add(p.value.clone())
        }
        "cron.update" => {
            p.only(&["id", "jobId", "patch"])?;
            let patch = p.value.get("patch").cloned().ok_or_else(|| p.bad("must have required property 'patch'"))?;
            CronCommand::Update { id: id(p)?, patch }
        }
        "cron.remove" => {
            p.only(&["id", "jobId"])?;
            CronCommand::Remove { id: id(p)? }
        }
        "cron.run" => {
            p.only(&["id", "jobId", "mode"])?;
            let force = match p.opt_str("mode")?.as_deref() {
                None | Some("force") => true,
                Some("due") => false,
                Some(m) => return Err(p.bad(&format!("at /mode: must be due or force (got {m:?})"))),
            };
            CronCommand::Run { id: id(p)?, force }
        }
        other => return Err(ErrorShape::invalid(format!("unknown method: {other}"))),
    };
    let addr = s
        .registry
        .get::<CronActor>(ID)
        .ok_or_else(|| ErrorShape::unavailable("the cron actor is restarting; retry").retry_after(500))?;
    addr.send(CronCall(cmd)).await.map_err(|e| ErrorShape::unavailable(format!("cron actor: {e}")))?
}
