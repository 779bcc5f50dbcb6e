//! `cron.list`, `cron.status`, `cron.runs`, `cron.add`, `cron.update`, `cron.remove`,
//! `cron.run`: parameters checked and payloads shaped here, answered by the CronActor.

use serde_json::{Value, json};

use super::Params;
use crate::actors::cron::{CronActor, CronCall, CronCommand, CronReply, ID, JobView, StatusView};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

fn id(p: &Params) -> Result<String, ErrorShape> {
    let id = p.opt_str("id")?.or(p.opt_str("jobId")?).ok_or_else(|| p.bad("must have required property 'id'"))?;
    if !crate::cron::valid_id(&id) {
        return Err(p.bad("at /id: must match ^[A-Za-z0-9._-]{1,128}$"));
    }
    Ok(id)
}

pub async fn call(s: &Runtime, p: &Params<'_>) -> Result<Value, ErrorShape> {
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
    let reply = addr
        .send(CronCall(cmd))
        .await
        .map_err(|e| ErrorShape::unavailable(format!("cron actor: {e}")))?
        .map_err(|e| super::wire::cron_error(&e))?;
    Ok(payload(reply))
}

fn payload(reply: CronReply) -> Value {
    match reply {
        CronReply::List { enabled, jobs } => {
            json!({"enabled": enabled, "jobs": jobs.into_iter().map(job).collect::<Vec<_>>()})
        }
        CronReply::Status(StatusView { enabled, store_path, store_error, jobs, running, next_wake_at_ms }) => json!({
            "enabled": enabled,
            "storePath": store_path,
            "storeError": store_error,
            "jobs": jobs,
            "running": running,
            "nextWakeAtMs": next_wake_at_ms,
        }),
        CronReply::Saved(v) => json!({"ok": true, "job": job(*v)}),
        CronReply::Removed(id) => json!({"ok": true, "removed": id}),
        CronReply::Ran(None) => json!({"ok": true, "ran": false, "reason": "not due"}),
        CronReply::Ran(Some(id)) => json!({"ok": true, "ran": true, "jobId": id}),
        CronReply::Runs { id, runs } => json!({"jobId": id, "runs": runs}),
    }
}

/// A job as `cron.list`, `cron.add` and `cron.update` show it: the stored shape plus what the
/// scheduler knows.
fn job(v: JobView) -> Value {
    let mut out = serde_json::to_value(&v.spec).unwrap_or_default();
    out["source"] = json!(v.source);
    out["nextRunAtMs"] = json!(v.next_run_at_ms);
    out["lastRun"] = json!(v.last_run);
    out["running"] = json!(v.running);
    if let Some(err) = v.schedule_error {
        out["scheduleError"] = json!(err);
    }
    out
}
