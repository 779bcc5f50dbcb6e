//! Agent and chat methods: `agent` (two-stage), `agent.wait`, `chat.send`, `chat.history`,
//! `chat.abort`, `sessions.list|reset|delete`, `models.list`, `lanes.status`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Caller, Final, Params, Reply};
use crate::agents::{self, Run, RunRequest, Submitted, agent_of, models, transcript, valid_agent_id};
use crate::config::model::ThinkLevel;
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

/// Keys the original's `agent` accepts that this gateway takes and does not act on (no
/// channel delivery here): accepted so existing clients work unchanged.
const AGENT_KEYS: &[&str] = &[
    "message",
    "agentId",
    "to",
    "sessionId",
    "sessionKey",
    "thinking",
    "deliver",
    "attachments",
    "channel",
    "accountId",
    "replyTo",
    "replyChannel",
    "timeout",
    "lane",
    "extraSystemPrompt",
    "label",
    "spawnedBy",
    "idempotencyKey",
    "model",
    // Sent by the upstream CLI's `openclaw agent --reply-account`.
    "replyAccountId",
];

/// `chat.send`'s keys (`deliver` and `attachments`, sent by the Control UI, are not acted on).
const CHAT_SEND_KEYS: &[&str] =
    &["sessionKey", "message", "thinking", "deliver", "attachments", "timeoutMs", "idempotencyKey", "model"];

/// Longest idempotency key: it becomes the run id, in every event, log line and transcript
/// entry of the run (a UUID, what upstream clients send, is 36).
const KEY_MAX: usize = 256;

fn thinking(p: &Params) -> Result<Option<ThinkLevel>, ErrorShape> {
    match p.opt_str("thinking")? {
        None => Ok(None),
        Some(t) => serde_json::from_value(Value::String(t.clone())).map(Some).map_err(|_| {
            p.bad(&format!("at /thinking: must be one of off, minimal, low, medium, high, xhigh (got {t:?})"))
        }),
    }
}

fn agent_id(p: &Params, key: Option<&str>) -> Result<String, ErrorShape> {
    let id = match p.opt_str("agentId")? {
        Some(id) => id,
        None => key.map(|k| agent_of(k, "main")).unwrap_or_else(|| "main".into()),
    };
    if !valid_agent_id(&id) {
        return Err(p.bad("at /agentId: must match ^[A-Za-z0-9_-]{1,64}$"));
    }
    Ok(id)
}

fn lane(p: &Params) -> Result<&'static str, ErrorShape> {
    match p.opt_str("lane")?.as_deref() {
        None | Some("main") => Ok("main"),
        Some("subagent") => Ok("subagent"),
        Some("cron") => Ok("cron"),
        Some(other) => Err(p.bad(&format!("at /lane: must be main, subagent or cron (got {other:?})"))),
    }
}

fn follow(s: &Runtime, caller: &Caller, key: &str) {
    if let Some(conn) = &caller.conn {
        s.sessions.subscribe(conn, key);
    }
}

/// The run id: the client's `idempotencyKey`, as upstream, so clients match events and
/// answers by the key they sent. `POST /rpc` may leave it out; a fresh one is made then and
/// returned as `runId`.
fn run_id(p: &Params, caller: &Caller) -> Result<String, ErrorShape> {
    match p.opt_str("idempotencyKey")? {
        Some(k) if k.is_empty() => Err(p.bad("at /idempotencyKey: must NOT have fewer than 1 characters")),
        Some(k) if k.len() > KEY_MAX => {
            Err(p.bad(&format!("at /idempotencyKey: must NOT have more than {KEY_MAX} characters")))
        }
        Some(k) => Ok(k),
        None if caller.conn.is_none() => Ok(uuid::Uuid::new_v4().to_string()),
        None => Err(p.bad("must have required property 'idempotencyKey'")),
    }
}

/// A run's answer now (`in_flight`, or its outcome) as a response.
fn answer(run: &Run) -> Reply {
    match run.answer() {
        (payload, None) => Reply::Ok(payload),
        (payload, Some(e)) => Reply::Err(super::wire::run_error(&e), Some(payload)),
    }
}

/// Follows the run's session, then submits it. Following first: the run's first events may
/// come before `submit_as` returns.
fn start(s: &Arc<Runtime>, caller: &Caller, req: RunRequest, id: String) -> Result<Submitted, ErrorShape> {
    follow(s, caller, &req.session_key);
    agents::submit_as(&s.agents, req, id).map_err(|e| super::wire::submit_error(&e))
}

/// The same key again (a retry): this caller gets the run's events too, and its answer now.
fn known(s: &Runtime, caller: &Caller, run: &Run) -> Reply {
    follow(s, caller, &run.session_key);
    answer(run)
}

/// `agent`: `{runId, status:"accepted", acceptedAt, sessionKey}` now, the outcome later with
/// the same request id. A key already in use answers once: `in_flight`, or the outcome.
pub fn agent(s: &Arc<Runtime>, caller: &Caller, p: &Params) -> (Reply, Option<Final>) {
    let submitted = (|| {
        p.only(AGENT_KEYS)?;
        let message = p.str("message")?;
        let id = run_id(p, caller)?;
        let agent = agent_id(p, p.opt_str("sessionKey")?.as_deref())?;
        let key = p.opt_str("sessionKey")?.unwrap_or_else(|| format!("agent:{agent}:main"));
        let req = RunRequest {
            agent_id: agent,
            session_key: key,
            message,
            model: p.opt_str("model")?,
            thinking: thinking(p)?,
            timeout: p.opt_u64("timeout", 1, 86_400)?.map(Duration::from_secs),
            lane: lane(p)?,
            origin: "agent".into(),
        };
        start(s, caller, req, id)
    })();
    match submitted {
        Err(e) => (Reply::Err(e, None), None),
        Ok(Submitted::Known(run)) => (known(s, caller, &run), None),
        Ok(Submitted::Started(run)) => {
            let st = run.state();
            let accepted = json!({"runId": run.id, "status": "accepted", "acceptedAt": st.accepted_at,
                                  "sessionKey": run.session_key});
            let fut: Final = Box::pin(async move {
                run.wait(Duration::MAX).await;
                answer(&run)
            });
            (Reply::Ok(accepted), Some(fut))
        }
    }
}

pub async fn agent_wait(s: &Runtime, p: &Params<'_>) -> Result<Value, ErrorShape> {
    p.only(&["runId", "timeoutMs"])?;
    let id = p.str("runId")?;
    let limit = Duration::from_millis(p.opt_u64("timeoutMs", 0, 24 * 3_600_000)?.unwrap_or(30_000));
    let run = s.agents.run(&id).ok_or_else(|| ErrorShape::invalid(format!("unknown runId {id} (or forgotten)")))?;
    let st = run.wait(limit).await;
    Ok(run.wait_answer(&st))
}

/// `chat.send`: `{runId, status:"started"}`; the reply streams as `chat` events. A key
/// already in use answers `in_flight`, or the run's outcome once it is over.
pub fn chat_send(s: &Arc<Runtime>, caller: &Caller, p: &Params) -> Reply {
    let submitted = (|| {
        p.only(CHAT_SEND_KEYS)?;
        let key = p.str("sessionKey")?;
        let message = p.str("message")?;
        let id = run_id(p, caller)?;
        let agent = agent_of(&key, "main");
        if !valid_agent_id(&agent) {
            return Err(p.bad("at /sessionKey: the agent id in it must match ^[A-Za-z0-9_-]{1,64}$"));
        }
        let req = RunRequest {
            agent_id: agent,
            session_key: key,
            message,
            model: p.opt_str("model")?,
            thinking: thinking(p)?,
            timeout: p.opt_u64("timeoutMs", 1, 86_400_000)?.map(Duration::from_millis),
            lane: "main",
            origin: "chat.send".into(),
        };
        start(s, caller, req, id)
    })();
    match submitted {
        Err(e) => Reply::Err(e, None),
        Ok(Submitted::Known(run)) => known(s, caller, &run),
        Ok(Submitted::Started(run)) => Reply::Ok(json!({"runId": run.id, "status": "started"})),
    }
}

pub fn chat_history(s: &Runtime, caller: &Caller, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["sessionKey", "limit"])?;
    let key = p.str("sessionKey")?;
    let limit = p.opt_u64("limit", 1, 1000)?.unwrap_or(200) as usize;
    follow(s, caller, &key);
    let state_dir = &s.options.paths.state_dir;
    let agent = agent_of(&key, "main");
    // The Control UI shows the session's thinking level from here (upstream's shape).
    let thinking = s.config().loaded.config.agents.defaults.think_level;
    let Some((session_id, file)) = s.agents.transcript_of(state_dir, &agent, &key) else {
        return Ok(json!({"sessionKey": key, "sessionId": null, "messages": [], "thinkingLevel": thinking}));
    };
    let (entries, damaged) = transcript::read(&file);
    let mut messages = transcript::messages_for_display(&entries);
    let skip = messages.len().saturating_sub(limit);
    messages.drain(..skip);
    Ok(json!({"sessionKey": key, "sessionId": session_id, "messages": messages, "damagedLines": damaged,
              "thinkingLevel": thinking}))
}

pub fn chat_abort(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["sessionKey", "runId"])?;
    let key = p.str("sessionKey")?;
    let ids = s.agents.abort(&key, p.opt_str("runId")?.as_deref());
    Ok(json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids}))
}

pub fn sessions_list(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["limit", "activeMinutes", "includeGlobal", "includeUnknown", "label", "spawnedBy", "agentId"])?;
    let agent = agent_id(p, None)?;
    let limit = p.opt_u64("limit", 1, 100_000)?.unwrap_or(1000) as usize;
    let active_minutes = p.opt_u64("activeMinutes", 1, 525_600)?;
    let now = chrono::Utc::now().timestamp_millis();
    let running = s.agents.active_runs();
    let state_dir = &s.options.paths.state_dir;
    let sessions: Vec<Value> = s
        .agents
        .list(state_dir, &agent)
        .into_iter()
        .filter(|v| active_minutes.is_none_or(|m| now - v["updatedAt"].as_i64().unwrap_or(0) <= m as i64 * 60_000))
        .take(limit)
        .map(|mut v| {
            let key = v["key"].as_str().unwrap_or_default().to_string();
            v["activeRuns"] = json!(running.get(&key).cloned().unwrap_or_default());
            v
        })
        .collect();
    Ok(json!({"path": transcript::Index::path(state_dir, &agent), "count": sessions.len(), "sessions": sessions}))
}

pub fn sessions_forget(s: &Runtime, p: &Params, reset: bool) -> Result<Value, ErrorShape> {
    if reset {
        p.only(&["key"])?;
    } else {
        p.only(&["key", "deleteTranscript"])?;
    }
    let key = p.str("key")?;
    let delete = !reset && p.value.get("deleteTranscript").and_then(Value::as_bool).unwrap_or(false);
    let aborted = s.agents.abort(&key, None);
    let agent = agent_of(&key, "main");
    let old = s
        .agents
        .forget(&s.options.paths.state_dir, &agent, &key, reset, delete)
        .map_err(|e| ErrorShape::unavailable(e.to_string()))?;
    let Some(old) = old else {
        return Err(ErrorShape::invalid(format!("no session {key:?}")));
    };
    Ok(json!({"ok": true, "key": key, "previousSessionId": old, "abortedRuns": aborted,
              "transcriptDeleted": delete}))
}

pub fn models_list(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["agentId"])?;
    let agent = agent_id(p, None)?;
    let file = models::path(&s.options.paths.state_dir, &agent);
    let live = s.config();
    let catalogue = models::load_merged(&file, &live.loaded.config.models.providers)
        .map_err(|e| ErrorShape::unavailable(format!("cannot read models: {e}")))?;
    let defaults = &live.loaded.config.agents.defaults;
    Ok(json!({"path": file, "models": catalogue.list(), "chain": models::chain(None, "main", defaults, &catalogue)}))
}
