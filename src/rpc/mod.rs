//! RPC methods: the table of what is served (advertised verbatim in `hello-ok.features`),
//! scope checks, parameter checks, and dispatch. Used by WebSocket sessions and `POST /rpc`.

mod agent;
mod approvals;
mod channels;
mod cron;
pub mod health;
mod inventory;
mod logs;
mod memory;
mod roster;
mod runtime;
mod sessions;
mod usage;
pub mod wire;

pub use self::runtime::Runtime;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::actors::auth::{AuthActor, DeviceCommand};
use crate::actors::config::{ConfigActor, ConfigEdit, WriteConfig};
use crate::config::redact::redact;
use crate::protocol::connect::Role;
use crate::protocol::frames::{ok_response, ok_response_with};
use crate::protocol::methods::METHODS;
use crate::protocol::{ErrorShape, scope};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// Shared with the session that granted them: a call copies no scope.
    pub scopes: Arc<[String]>,
    /// The WebSocket connection calling (it receives the events of chat sessions it uses).
    pub conn: Option<Arc<str>>,
}

/// One response: a payload, or an error with, for a failed agent run, a payload beside it
/// (upstream answers `ok:false` with `{runId, status:"error", summary}` and the error).
#[derive(Debug)]
pub enum Reply {
    Ok(Value),
    Err(ErrorShape, Option<Value>),
}

impl Reply {
    pub fn error(&self) -> Option<&ErrorShape> {
        match self {
            Reply::Ok(_) => None,
            Reply::Err(e, _) => Some(e),
        }
    }

    /// The WebSocket `res` frame with request id `id`.
    pub fn frame(&self, id: &str) -> String {
        match self {
            Reply::Ok(payload) => ok_response(id, payload.clone()),
            Reply::Err(e, None) => crate::protocol::frames::err_response(id, e),
            Reply::Err(e, Some(payload)) => {
                json!({"type": "res", "id": id, "ok": false, "payload": payload, "error": e}).to_string()
            }
        }
    }

    /// The answer without a payload beside an error (callers that only take a `Result`).
    pub fn into_result(self) -> Result<Value, ErrorShape> {
        match self {
            Reply::Ok(v) => Ok(v),
            Reply::Err(e, _) => Err(e),
        }
    }
}

impl From<Result<Value, ErrorShape>> for Reply {
    fn from(r: Result<Value, ErrorShape>) -> Self {
        match r {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Err(e, None),
        }
    }
}

/// The second answer of a two-stage method (`agent`): the outcome, sent with the same id.
pub type Final = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// Node-role methods (none served yet: a node may call nothing else).
const NODE_METHODS: &[&str] = &["node.invoke.result", "node.event", "skills.bins"];

fn authorize(caller: &Caller, method: &str) -> Result<(), ErrorShape> {
    let Some(entry) = METHODS.iter().find(|m| m.name == method) else {
        return Err(ErrorShape::invalid(format!("unknown method: {method}")));
    };
    if caller.role == Role::Node && !NODE_METHODS.contains(&method) {
        return Err(ErrorShape::invalid(format!("unauthorized role: node may not call {method}")));
    }
    if !scope::allows(&caller.scopes, entry.scope) {
        return Err(ErrorShape::invalid(format!("missing scope: {}", entry.scope)));
    }
    Ok(())
}

/// [`call_now`]'s answer as the response frame for request `id`; `health`'s payload is its
/// document's kept JSON text (see [`health::write_document`]), not built again as a tree.
pub fn respond_now(
    rt: &Runtime,
    caller: &Caller,
    id: &str,
    method: &str,
    params: &Value,
) -> Option<Result<String, ErrorShape>> {
    if method == "health" {
        return Some(
            authorize(caller, method).map(|()| ok_response_with(id, 4096, |out| health::write_document(rt, out))),
        );
    }
    call_now(rt, caller, method, params).map(|r| r.map(|payload| ok_response(id, payload)))
}

/// Methods answered from rt state without waiting on an actor: `Some(result)`, or
/// `None` when `method` must go through [`call`].
pub fn call_now(rt: &Runtime, caller: &Caller, method: &str, params: &Value) -> Option<Result<Value, ErrorShape>> {
    if let Err(e) = authorize(caller, method) {
        return Some(Err(e));
    }
    let p = Params { method, value: params };
    Some(match method {
        "health" => Ok(health::document(rt)),
        "status" => Ok(health::status(rt)),
        "system-presence" => {
            Ok(json!({"presence": rt.sessions.presence(), "stateVersion": rt.sessions.state_version()}))
        }
        "logs.tail" => logs::tail(rt, &p),
        "config.get" => Ok(config_get(rt)),
        "config.schema" => Ok(config_schema()),
        "chat.history" => agent::chat_history(rt, caller, &p),
        "chat.abort" => agent::chat_abort(rt, &p),
        "sessions.list" => agent::sessions_list(rt, &p),
        "sessions.reset" => agent::sessions_forget(rt, &p, true),
        "sessions.delete" => agent::sessions_forget(rt, &p, false),
        "models.list" => agent::models_list(rt, &p),
        "lanes.status" => p.only(&[]).map(|()| json!({"lanes": rt.lanes.snapshot(), "tools": health::tool_sets(rt)})),
        "agents.list" => roster::agents_list(rt, &p),
        "agent.identity.get" => roster::identity_get(rt, &p),
        "node.list" => inventory::node_list(&p),
        "channels.pairing.list" => channels::pairing_list(rt, &p),
        "channels.pairing.approve" => channels::pairing_approve(rt, &p),
        "skills.status" => inventory::skills_status(rt, &p),
        "last-heartbeat" => inventory::last_heartbeat(&p),
        "sessions.preview" => sessions::preview(rt, &p),
        "sessions.patch" => sessions::patch(rt, &p),
        "usage.status" => usage::status(&p),
        "exec.approvals.get" => approvals::get(rt, &p),
        "exec.approvals.set" => approvals::set(rt, &p),
        "exec.approval.resolve" => approvals::resolve(rt, caller, &p),
        "exec.approval.list" => approvals::list(rt, &p),
        "memory.status" => memory::status(rt, &p),
        _ => return None,
    })
}

/// Methods that start an agent run: their first answer (`accepted`, `started`) must reach the
/// client before the run's first events.
pub fn starts_run(method: &str) -> bool {
    matches!(method, "agent" | "chat.send")
}

/// Like [`call`], but a two-stage method answers at once and hands back its outcome to
/// send later with the same request id (WebSocket sessions use this).
pub async fn call_staged(rt: Arc<Runtime>, caller: Caller, method: &str, params: Value) -> (Reply, Option<Final>) {
    if starts_run(method) {
        if let Err(e) = authorize(&caller, method) {
            return (Reply::Err(e, None), None);
        }
        let p = Params { method, value: &params };
        return if method == "agent" {
            agent::agent(&rt, &caller, &p)
        } else {
            (agent::chat_send(&rt, &caller, &p), None)
        };
    }
    (plain(rt, caller, method, params).await.into(), None)
}

/// Checks the caller may call `method` and runs it; a two-stage method answers with its
/// outcome (`POST /rpc`).
pub async fn call_final(rt: Arc<Runtime>, caller: Caller, method: &str, params: Value) -> Reply {
    match call_staged(rt, caller, method, params).await {
        (_, Some(outcome)) => outcome.await,
        (first, None) => first,
    }
}

/// [`call_final`] as a `Result` (a failed run's payload is left out).
pub async fn call(rt: Arc<Runtime>, caller: Caller, method: &str, params: Value) -> Result<Value, ErrorShape> {
    call_final(rt, caller, method, params).await.into_result()
}

/// Every method but `agent` and `chat.send`, which [`call_staged`] answers.
async fn plain(rt: Arc<Runtime>, caller: Caller, method: &str, params: Value) -> Result<Value, ErrorShape> {
    if let Some(done) = call_now(&rt, &caller, method, &params) {
        return done;
    }
    let p = Params { method, value: &params };
    match method {
        "agent.wait" => agent::agent_wait(&rt, &p).await,
        "memory.search" => memory::search(&rt, &p).await,
        "channels.status" => channels::status(&rt, &p).await,
        "usage.cost" => {
            let days = usage::cost_days(&p)?;
            // Reads every transcript: off the event loop.
            let rt = rt.clone();
            tokio::task::spawn_blocking(move || usage::cost(&rt, days))
                .await
                .map_err(|e| ErrorShape::unavailable(format!("usage.cost: {e}")))
        }
        m if m.starts_with("cron.") => cron::call(&rt, &p).await,
        "config.set" => {
            p.only(&["raw", "baseHash", "key", "value"])?;
            let edit = match (p.opt_str("raw")?, p.opt_str("key")?) {
                (Some(raw), None) => ConfigEdit::Raw(raw),
                (None, Some(key)) => {
                    let value =
                        p.value.get("value").cloned().ok_or_else(|| p.bad("must have required property 'value'"))?;
                    ConfigEdit::Set { key, value }
                }
                _ => return Err(p.bad("must have either 'raw' or 'key' and 'value'")),
            };
            write(&rt, edit, p.opt_str("baseHash")?).await
        }
        "config.patch" | "config.apply" => {
            p.only(&["raw", "baseHash", "sessionKey", "note", "restartDelayMs"])?;
            let raw = p.str("raw")?;
            let edit = if method == "config.patch" { ConfigEdit::Patch(raw) } else { ConfigEdit::Raw(raw) };
            write(&rt, edit, p.opt_str("baseHash")?).await
        }
        "device.pair.list" => device(&rt, DeviceCommand::List).await,
        "device.pair.approve" | "device.pair.reject" => {
            p.only(&["requestId", "code"])?;
            let request = p
                .opt_str("requestId")?
                .or(p.opt_str("code")?)
                .ok_or_else(|| p.bad("must have required property 'requestId'"))?;
            let cmd = if method.ends_with("approve") {
                DeviceCommand::Approve { request }
            } else {
                DeviceCommand::Reject { request }
            };
            device(&rt, cmd).await
        }
        "device.token.rotate" => {
            p.only(&["deviceId", "role", "scopes"])?;
            let scopes = match p.value.get("scopes") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .map(|s| {
                            s.as_str().map(str::to_string).ok_or_else(|| p.bad("at /scopes: must be array of strings"))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Some(_) => return Err(p.bad("at /scopes: must be array")),
            };
            device(&rt, DeviceCommand::Rotate { device_id: p.str("deviceId")?, role: p.str("role")?, scopes }).await
        }
        "device.token.revoke" => {
            p.only(&["deviceId", "role"])?;
            device(&rt, DeviceCommand::Revoke { device_id: p.str("deviceId")?, role: p.str("role")? }).await
        }
        _ => Err(ErrorShape::invalid(format!("unknown method: {method}"))),
    }
}

/// Parameter access with `invalid <method> params: at /x: ...` messages.
pub struct Params<'a> {
    method: &'a str,
    value: &'a Value,
}

impl Params<'_> {
    fn bad(&self, m: &str) -> ErrorShape {
        ErrorShape::invalid(format!("invalid {} params: {m}", self.method))
    }

    fn obj(&self) -> Result<Option<&serde_json::Map<String, Value>>, ErrorShape> {
        match self.value {
            Value::Null => Ok(None),
            Value::Object(o) => Ok(Some(o)),
            _ => Err(self.bad("must be object")),
        }
    }

    fn only(&self, keys: &[&str]) -> Result<(), ErrorShape> {
        if let Some(o) = self.obj()?
            && let Some(k) = o.keys().find(|k| !keys.contains(&k.as_str()))
        {
            return Err(self.bad(&format!("must NOT have additional properties ({k:?})")));
        }
        Ok(())
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, ErrorShape> {
        match self.obj()?.and_then(|o| o.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(&format!("at /{key}: must be string"))),
        }
    }

    fn str(&self, key: &str) -> Result<String, ErrorShape> {
        self.opt_str(key)?.ok_or_else(|| self.bad(&format!("must have required property '{key}'")))
    }

    fn opt_u64(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ErrorShape> {
        match self.obj()?.and_then(|o| o.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                Some(_) => Err(self.bad(&format!("at /{key}: must be >= {min} and <= {max}"))),
                None => Err(self.bad(&format!("at /{key}: must be integer"))),
            },
        }
    }
}

/// The schema as forms read it (references inlined), with hints per dotted path. Built per
/// call (a few ms, for a page opened rarely) rather than kept in memory.
fn config_schema() -> Value {
    let schema = crate::config::form::inlined(&crate::config::validate::schema_value());
    let hints = Value::Object(crate::config::form::ui_hints(&schema));
    json!({
        "schema": schema,
        "uiHints": hints,
        "version": env!("CARGO_PKG_VERSION"),
        "generatedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

fn config_get(s: &Runtime) -> Value {
    let path = &s.options.paths.config;
    let bytes = std::fs::read(path).ok();
    let hash = bytes.as_deref().map(|b| crate::sys::hex(&<sha2::Sha256 as sha2::Digest>::digest(b)));
    let parsed = bytes.as_deref().map(|b| crate::config::load::parse_file(path, &String::from_utf8_lossy(b)));
    let (parsed_value, parse_issue) = match parsed {
        Some(Ok(v)) => (Some(redact(&v)), None),
        Some(Err(p)) => (None, Some(p)),
        None => (None, None),
    };
    let checked = crate::config::load(&s.options);
    let mut issues: Vec<crate::config::Problem> = parse_issue.into_iter().collect();
    if let Err(e) = &checked {
        issues.extend(e.problems.iter().cloned());
    }
    issues.dedup();
    json!({
        "path": path,
        "exists": bytes.is_some(),
        // Secrets are redacted here too; sending `<redacted>` back keeps the stored value.
        "raw": parsed_value.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default()),
        "parsed": parsed_value,
        "valid": issues.is_empty(),
        "config": redact(&s.config().loaded.effective),
        "hash": hash,
        "issues": issues,
        "warnings": [],
    })
}

async fn write(s: &Runtime, edit: ConfigEdit, base_hash: Option<String>) -> Result<Value, ErrorShape> {
    let addr = s
        .registry
        .get::<ConfigActor>(crate::actors::config::ID)
        .ok_or_else(|| ErrorShape::unavailable("the config actor is restarting; retry").retry_after(500))?;
    addr.send(WriteConfig { edit, base_hash })
        .await
        .map_err(|e| ErrorShape::unavailable(format!("config actor: {e}")))?
        .map_err(|e| wire::write_error(&e))
}

async fn device(s: &Runtime, cmd: DeviceCommand) -> Result<Value, ErrorShape> {
    let addr = s
        .registry
        .get::<AuthActor>(crate::actors::auth::ID)
        .ok_or_else(|| ErrorShape::unavailable("the auth actor is restarting; retry").retry_after(500))?;
    let reply = addr.send(cmd).await.map_err(|e| ErrorShape::unavailable(format!("auth actor: {e}")))?;
    reply.map_err(|e| ErrorShape::invalid(e.to_string()))
}
