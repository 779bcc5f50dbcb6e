//! Agent runs: admission through the session's lane and a global lane, the turn itself
//! (transcript, model chain with fallback, streamed deltas as `agent` and `chat` events),
//! abort, timeout, `agent.wait`, idempotent replay, and the session index.
//!
//! A run's id is the client's `idempotencyKey` (upstream clients match events and answers
//! by it), so the book of runs is also the idempotency record: one run per key while the
//! run is going and for five minutes after it ended.

pub mod models;
pub mod provider;
pub mod transcript;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{AbortHandle, Abortable};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;

use self::provider::ProviderError;
use crate::config::model::ThinkLevel;
use crate::lanes::LaneError;
use crate::protocol::events::EventSink;
use crate::protocol::{ErrorCode, ErrorShape};
use crate::shared::Shared;

/// How long finished runs (and so their idempotency keys) are remembered, and how many.
const REMEMBER: Duration = Duration::from_secs(5 * 60);
const REMEMBER_MAX: usize = 1000;
/// Transcript messages sent to the provider (the most recent ones).
const HISTORY_MAX: usize = 200;

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub agent_id: String,
    pub session_key: String,
    pub message: String,
    pub model: Option<String>,
    pub thinking: Option<ThinkLevel>,
    pub timeout: Option<Duration>,
    /// The global lane: main, subagent or cron.
    pub lane: &'static str,
    /// Who asked (for logs): "agent", "chat.send", "cron:<job>".
    pub origin: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Ok,
    Error,
    Aborted,
    Timeout,
}

impl RunStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    pub status: RunStatus,
    pub accepted_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The session the turn was recorded in (known once the run started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// "provider/model": the one that answered, or the one being tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    pub text: String,
}

pub struct Run {
    pub id: String,
    pub session_key: String,
    pub agent_id: String,
    state: watch::Sender<RunState>,
    abort: AbortHandle,
    seq: Mutex<u64>,
}

impl Run {
    pub fn state(&self) -> RunState {
        self.state.borrow().clone()
    }

    /// Waits for the run to end, or `limit`; returns its state then.
    pub async fn wait(&self, limit: Duration) -> RunState {
        let mut rx = self.state.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|s| s.status.is_final())).await;
        self.state()
    }

    /// The `agent.wait` answer.
    pub fn wait_answer(&self, s: &RunState) -> Value {
        let status = match s.status {
            RunStatus::Ok => "ok",
            RunStatus::Queued | RunStatus::Running => "timeout",
            _ => "error",
        };
        json!({"runId": self.id, "status": status, "runStatus": s.status, "startedAt": s.started_at,
               "endedAt": s.ended_at, "error": s.error})
    }

    /// What the run answers now, in upstream's shapes: `{runId, status:"in_flight", sessionKey}`
    /// while it goes, then its outcome (the final `agent` payload), with the error to send
    /// beside the payload when it failed. A repeated idempotency key is answered with this too.
    pub fn answer(&self) -> (Value, Option<ErrorShape>) {
        let s = self.state();
        if !s.status.is_final() {
            return (json!({"runId": self.id, "status": "in_flight", "sessionKey": self.session_key}), None);
        }
        let mut p = json!({"runId": self.id, "sessionKey": self.session_key, "acceptedAt": s.accepted_at});
        let o = p.as_object_mut().expect("an object");
        for (k, v) in [("startedAt", s.started_at), ("endedAt", s.ended_at)] {
            if let Some(v) = v {
                o.insert(k.into(), v.into());
            }
        }
        match s.status {
            RunStatus::Error | RunStatus::Timeout => {
                let summary = s.error.clone().unwrap_or_else(|| "agent run failed".into());
                o.insert("status".into(), "error".into());
                o.insert("summary".into(), summary.clone().into());
                let code =
                    if s.status == RunStatus::Timeout { ErrorCode::AgentTimeout } else { ErrorCode::Unavailable };
                (p, Some(ErrorShape::new(code, summary)))
            }
            // An abort ends the run as upstream's does: what was said so far, `meta.aborted`.
            _ => {
                let aborted = s.status == RunStatus::Aborted;
                o.insert("status".into(), "ok".into());
                o.insert("summary".into(), if aborted { "aborted" } else { "completed" }.into());
                o.insert("result".into(), self.result(&s));
                (p, None)
            }
        }
    }

    /// `{payloads:[{text}], meta:{durationMs, agentMeta:{sessionId, sessionKey, provider, model,
    /// usage}, aborted?}}`: upstream's embedded-run result, with what this run knows.
    fn result(&self, s: &RunState) -> Value {
        let payloads = if s.text.is_empty() { json!([]) } else { json!([{"text": s.text}]) };
        let mut agent_meta = json!({"sessionKey": self.session_key});
        if let Some(id) = &s.session_id {
            agent_meta["sessionId"] = json!(id);
        }
        if let Some((provider, model)) = s.model.as_deref().and_then(|m| m.split_once('/')) {
            agent_meta["provider"] = json!(provider);
            agent_meta["model"] = json!(model);
        }
        if let Some(u) = &s.usage {
            agent_meta["usage"] = usage(u);
        }
        let duration = match (s.started_at, s.ended_at) {
            (Some(a), Some(b)) => (b - a).max(0),
            _ => 0,
        };
        let mut meta = json!({"durationMs": duration, "agentMeta": agent_meta});
        if s.status == RunStatus::Aborted {
            meta["aborted"] = json!(true);
        }
        json!({"payloads": payloads, "meta": meta})
    }

    fn next_seq(&self) -> u64 {
        let mut s = self.seq.lock();
        *s += 1;
        *s
    }
}

#[derive(Default)]
struct Book {
    /// runId (= the client's idempotencyKey) -> run: every running run, and finished ones
    /// until evicted, so a repeated key finds its run.
    runs: HashMap<String, Arc<Run>>,
    /// Finished runs, oldest first, for eviction.
    finished: VecDeque<(String, Instant)>,
}

impl Book {
    fn evict(&mut self) {
        let now = Instant::now();
        while let Some((_, at)) = self.finished.front()
            && (self.finished.len() > REMEMBER_MAX || now.duration_since(*at) > REMEMBER)
        {
            let (id, _) = self.finished.pop_front().expect("front exists");
            self.runs.remove(&id);
        }
    }
}

/// Every run of this gateway, and the session indexes.
#[derive(Default)]
pub struct Agents {
    book: Mutex<Book>,
    indexes: Mutex<HashMap<String, transcript::Index>>,
}

/// The agent a session key belongs to: `agent:<id>:<rest>`, else the given one.
pub fn agent_of(session_key: &str, fallback: &str) -> String {
    let mut parts = session_key.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("agent"), Some(id), Some(_)) if !id.is_empty() => id.to_string(),
        _ => fallback.to_string(),
    }
}

/// Agent ids become directory names: keep them to a safe alphabet.
pub fn valid_agent_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An OpenAI-style usage report in upstream's shape, `{input, output, cacheRead?, total}`:
/// `input` leaves out the cached prompt tokens, which `cacheRead` counts, so the parts add
/// up to `total` as in upstream's accounting.
pub fn usage(u: &Value) -> Value {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    let prompt = n(u.get("prompt_tokens")).unwrap_or(0);
    let output = n(u.get("completion_tokens")).unwrap_or(0);
    let cached = n(u.pointer("/prompt_tokens_details/cached_tokens"));
    let input = prompt.saturating_sub(cached.unwrap_or(0));
    let total = n(u.get("total_tokens")).unwrap_or(prompt + output);
    let mut out = json!({"input": input, "output": output, "total": total});
    if let Some(c) = cached {
        out["cacheRead"] = json!(c);
    }
    out
}

impl Agents {
    /// The run `id`, while it goes and for five minutes after (the latest 1000 finished).
    pub fn run(&self, id: &str) -> Option<Arc<Run>> {
        let mut b = self.book.lock();
        b.evict();
        b.runs.get(id).cloned()
    }

    /// Aborts the runs of a session (queued or running), or just `run_id`; returns their ids.
    pub fn abort(&self, session_key: &str, run_id: Option<&str>) -> Vec<String> {
        let b = self.book.lock();
        let mut out = Vec::new();
        for r in b.runs.values() {
            if r.session_key == session_key && run_id.is_none_or(|id| id == r.id) && !r.state.borrow().status.is_final()
            {
                r.abort.abort();
                out.push(r.id.clone());
            }
        }
        out
    }

    /// Runs not yet finished, per session key.
    pub fn active_runs(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for r in self.book.lock().runs.values().filter(|r| !r.state.borrow().status.is_final()) {
            out.entry(r.session_key.clone()).or_default().push(r.id.clone());
        }
        out
    }

    fn finished(&self, id: &str) {
        let mut b = self.book.lock();
        b.finished.push_back((id.to_string(), Instant::now()));
        b.evict();
    }

    /// The session for `key` (created on first use) and its transcript path.
    pub fn session(&self, state_dir: &std::path::Path, agent: &str, key: &str) -> Result<(String, PathBuf), String> {
        let mut idx = self.indexes.lock();
        let index = idx.entry(agent.to_string()).or_insert_with(|| transcript::Index::load(state_dir, agent));
        let now = chrono::Utc::now().timestamp_millis();
        let meta = match index.sessions.get_mut(key) {
            Some(m) => {
                m.updated_at = now;
                m.turns += 1;
                m.clone()
            }
            None => {
                let m = transcript::SessionMeta {
                    session_id: uuid::Uuid::new_v4().to_string(),
                    created_at: now,
                    updated_at: now,
                    turns: 1,
                    model: None,
                };
                index.sessions.insert(key.to_string(), m.clone());
                m
            }
        };
        index.save(state_dir, agent).map_err(|e| format!("cannot record the session: {e}"))?;
        Ok((meta.session_id.clone(), transcript::dir(state_dir, agent).join(format!("{}.jsonl", meta.session_id))))
    }

    /// The transcript of `key`, if the session exists.
    pub fn transcript_of(&self, state_dir: &std::path::Path, agent: &str, key: &str) -> Option<(String, PathBuf)> {
        let mut idx = self.indexes.lock();
        let index = idx.entry(agent.to_string()).or_insert_with(|| transcript::Index::load(state_dir, agent));
        let m = index.sessions.get(key)?;
        Some((m.session_id.clone(), transcript::dir(state_dir, agent).join(format!("{}.jsonl", m.session_id))))
    }

    /// Every session of `agent`, newest first.
    pub fn list(&self, state_dir: &std::path::Path, agent: &str) -> Vec<Value> {
        let mut idx = self.indexes.lock();
        let index = idx.entry(agent.to_string()).or_insert_with(|| transcript::Index::load(state_dir, agent));
        let mut out: Vec<Value> = index
            .sessions
            .iter()
            .map(|(k, m)| {
                json!({"key": k, "agentId": agent, "sessionId": m.session_id, "createdAt": m.created_at,
                                 "updatedAt": m.updated_at, "turns": m.turns})
            })
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v["updatedAt"].as_i64().unwrap_or(0)));
        out
    }

    /// Forgets the session of `key` (its transcript is kept unless `delete_transcript`);
    /// `reset` keeps the key with a fresh session id. Returns the old session id.
    pub fn forget(
        &self,
        state_dir: &std::path::Path,
        agent: &str,
        key: &str,
        reset: bool,
        delete_transcript: bool,
    ) -> Result<Option<String>, String> {
        let mut idx = self.indexes.lock();
        let index = idx.entry(agent.to_string()).or_insert_with(|| transcript::Index::load(state_dir, agent));
        let Some(old) = index.sessions.remove(key) else { return Ok(None) };
        if reset {
            let now = chrono::Utc::now().timestamp_millis();
            index.sessions.insert(
                key.to_string(),
                transcript::SessionMeta {
                    session_id: uuid::Uuid::new_v4().to_string(),
                    created_at: now,
                    updated_at: now,
                    turns: 0,
                    model: None,
                },
            );
        }
        index.save(state_dir, agent).map_err(|e| e.to_string())?;
        if delete_transcript {
            let f = transcript::dir(state_dir, agent).join(format!("{}.jsonl", old.session_id));
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", f.display())),
            }
        }
        Ok(Some(old.session_id))
    }
}

/// What [`submit_as`] did with a run id.
pub enum Submitted {
    /// A new run, admitted and started.
    Started(Arc<Run>),
    /// The id names a run already (running, or finished and still remembered): nothing was
    /// started; the caller answers with [`Run::answer`].
    Known(Arc<Run>),
}

/// Admits a run under a fresh id (cron and other callers without a client key).
pub fn submit(shared: &Arc<Shared>, req: RunRequest) -> Result<Arc<Run>, ErrorShape> {
    match submit_as(shared, req, uuid::Uuid::new_v4().to_string())? {
        Submitted::Started(run) | Submitted::Known(run) => Ok(run),
    }
}

/// Admits a run named `id` (session lane, then its global lane) and starts it on the
/// gateway's main arbiter; rejected at once when either lane is full or draining. An id
/// already in the book starts nothing: checked and claimed under one lock, so the same key
/// sent twice at once still makes one run.
pub fn submit_as(shared: &Arc<Shared>, req: RunRequest, id: String) -> Result<Submitted, ErrorShape> {
    let mut book = shared.agents.book.lock();
    book.evict();
    if let Some(run) = book.runs.get(&id) {
        return Ok(Submitted::Known(run.clone()));
    }
    let global = shared
        .lanes
        .get(req.lane)
        .cloned()
        .ok_or_else(|| ErrorShape::invalid(format!("unknown lane {:?} (main, subagent, cron)", req.lane)))?;
    global.admit().map_err(|e| e.to_error())?;
    let session_lane = shared.lanes.session(&req.session_key);
    let mut pending = session_lane.enqueue(format!("{} run {id}", req.origin)).map_err(|e| e.to_error())?;
    // An idle session is granted at once: queue on the global lane now, so a full lane is
    // answered to this request rather than failing the run later.
    let early = match pending.granted() {
        Some(Ok(slot)) => Some((slot, global.enqueue(format!("{} run {id}", req.origin)).map_err(|e| e.to_error())?)),
        Some(Err(e)) => return Err(e.to_error()),
        None => None,
    };
    let (abort, reg) = AbortHandle::new_pair();
    let state = RunState {
        status: RunStatus::Queued,
        accepted_at: chrono::Utc::now().timestamp_millis(),
        started_at: None,
        ended_at: None,
        error: None,
        session_id: None,
        model: None,
        usage: None,
        text: String::new(),
    };
    let run = Arc::new(Run {
        id: id.clone(),
        session_key: req.session_key.clone(),
        agent_id: req.agent_id.clone(),
        state: watch::Sender::new(state),
        abort,
        seq: Mutex::new(0),
    });
    book.runs.insert(id, run.clone());
    drop(book);
    let (s, r) = (shared.clone(), run.clone());
    // Runs live on the system arbiter, not on the connection's worker: a client that leaves
    // (or a listener restart) does not end them.
    actix::System::current().arbiter().spawn_fn(move || {
        actix_rt::spawn(async move {
            let label = format!("{} run {}", req.origin, r.id);
            let work = async {
                let (_session, queued) = match early {
                    Some((slot, queued)) => (slot, queued),
                    None => {
                        let slot = pending.slot().await?;
                        (slot, global.enqueue(label)?)
                    }
                };
                let _global = queued.slot().await?;
                r.state.send_modify(|st| {
                    st.status = RunStatus::Running;
                    st.started_at = Some(chrono::Utc::now().timestamp_millis());
                });
                let limit = req
                    .timeout
                    .unwrap_or(Duration::from_secs(s.config().loaded.config.agents.defaults.timeout_seconds));
                Ok::<_, LaneError>((limit, tokio::time::timeout(limit, execute(&s, &r, &req)).await))
            };
            let end = match Abortable::new(work, reg).await {
                Err(_) => End::Aborted,
                Ok(Err(lane)) => End::Failed(lane.to_error().message),
                Ok(Ok((limit, Err(_)))) => End::TimedOut(limit),
                Ok(Ok((_, Ok(Ok(()))))) => End::Done,
                Ok(Ok((_, Ok(Err(e))))) => End::Failed(e),
            };
            finish(&s, &r, end);
        });
    });
    Ok(Submitted::Started(run))
}

enum End {
    Done,
    Failed(String),
    Aborted,
    /// Over its limit (the request's `timeout`, else `agents.defaults.timeoutSeconds`).
    TimedOut(Duration),
}

fn event(shared: &Shared, run: &Run, name: &'static str, payload: Value) {
    let sink: &dyn EventSink = &shared.sessions;
    sink.to_followers(&run.session_key, name, Arc::new(payload));
}

fn agent_event(shared: &Shared, run: &Run, stream: &str, data: Value) {
    let seq = run.next_seq();
    let ts = chrono::Utc::now().timestamp_millis();
    event(shared, run, "agent", json!({"runId": run.id, "seq": seq, "stream": stream, "ts": ts, "data": data}));
}

fn chat_event(shared: &Shared, run: &Run, state: &str, extra: Value) {
    let seq = run.next_seq();
    let mut p = json!({"runId": run.id, "sessionKey": run.session_key, "seq": seq, "state": state});
    if let (Some(o), Value::Object(e)) = (p.as_object_mut(), extra) {
        o.extend(e);
    }
    event(shared, run, "chat", p);
}

fn assistant_message(text: &str) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}]})
}

/// One turn: transcript, models in order, streamed answer.
async fn execute(shared: &Arc<Shared>, run: &Arc<Run>, req: &RunRequest) -> Result<(), String> {
    let live = shared.config();
    let defaults = &live.loaded.config.agents.defaults;
    let state_dir = &shared.load_options.paths.state_dir;
    let (session_id, file) = shared.agents.session(state_dir, &req.agent_id, &req.session_key)?;
    run.state.send_modify(|s| s.session_id = Some(session_id.clone()));
    let (entries, damaged) = transcript::read(&file);
    if damaged > 0 {
        tracing::warn!(file = %file.display(), damaged, "transcript lines unreadable (torn by a crash?); skipped");
    }
    let mut messages = transcript::messages(&entries);
    let skip = messages.len().saturating_sub(HISTORY_MAX);
    messages.drain(..skip);
    let user = json!({"role": "user", "content": req.message});
    messages.push(user.clone());
    let ts = chrono::Utc::now().timestamp_millis();
    transcript::append(&file, &json!({"type": "message", "ts": ts, "runId": run.id, "message": user}))
        .map_err(|e| format!("cannot write the transcript: {e}"))?;
    agent_event(shared, run, "lifecycle", json!({"phase": "start", "sessionId": session_id}));

    let models_file = models::path(state_dir, &req.agent_id);
    let catalogue = models::load(&models_file)?;
    let chain = models::chain(req.model.as_deref(), req.lane, defaults, &catalogue);
    if chain.is_empty() {
        return Err(format!(
            "no model to use: add a provider to {} or set agents.defaults.model",
            models_file.display()
        ));
    }
    let think = req.thinking.unwrap_or(defaults.think_level);
    let idle = Duration::from_millis(defaults.provider_timeout_ms);
    let mut failures = Vec::new();
    for reference in &chain {
        let target = match catalogue.target(reference, &shared.load_options.env, &models_file) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(run = %run.id, model = %reference, error = %e, "model unusable; trying the next");
                failures.push(e);
                continue;
            }
        };
        // Recorded before the answer: an aborted run reports the model it was streaming from.
        run.state.send_modify(|s| s.model = Some(reference.clone()));
        let body = provider::body(&target, &messages, think);
        let result = provider::stream(&target, &body, idle, |delta| {
            let mut text = String::new();
            run.state.send_modify(|s| {
                s.text.push_str(delta);
                text = s.text.clone();
            });
            agent_event(shared, run, "assistant", json!({"delta": delta}));
            chat_event(shared, run, "delta", json!({"message": assistant_message(&text)}));
        })
        .await;
        match result {
            Ok(done) => {
                run.state.send_modify(|s| s.usage = done.usage.clone());
                let entry = json!({"type": "message", "ts": chrono::Utc::now().timestamp_millis(), "runId": run.id,
                                   "model": reference, "usage": done.usage, "stopReason": done.finish_reason,
                                   "message": {"role": "assistant", "content": done.text}});
                transcript::append(&file, &entry).map_err(|e| format!("cannot write the transcript: {e}"))?;
                return Ok(());
            }
            Err(ProviderError::Retryable(m)) => {
                tracing::warn!(run = %run.id, model = %reference, error = %m, "model failed; falling back");
                failures.push(m);
            }
            Err(ProviderError::Fatal(m)) => return Err(m),
        }
    }
    Err(format!("every model failed: {}", failures.join("; ")))
}

fn finish(shared: &Arc<Shared>, run: &Arc<Run>, end: End) {
    let (status, error) = match end {
        End::Done => (RunStatus::Ok, None),
        End::Failed(e) => (RunStatus::Error, Some(e)),
        End::Aborted => (RunStatus::Aborted, Some("aborted".to_string())),
        End::TimedOut(limit) => (
            RunStatus::Timeout,
            Some(format!(
                "agent run timed out after {limit:?} (the request's timeout, else agents.defaults.timeoutSeconds)"
            )),
        ),
    };
    // Events first, the state last: a caller woken by the final state has its events already.
    let mut st = run.state();
    st.status = status;
    st.error = error;
    st.ended_at = Some(chrono::Utc::now().timestamp_millis());
    // What was streamed before an abort or timeout is kept, marked as such.
    if matches!(status, RunStatus::Aborted | RunStatus::Timeout) && !st.text.is_empty() {
        let state_dir = &shared.load_options.paths.state_dir;
        if let Some((_, file)) = shared.agents.transcript_of(state_dir, &run.agent_id, &run.session_key) {
            let entry = json!({"type": "message", "ts": st.ended_at, "runId": run.id, "stopReason": status,
                               "message": {"role": "assistant", "content": st.text}});
            if let Err(e) = transcript::append(&file, &entry) {
                tracing::warn!(run = %run.id, error = %e, "partial answer not recorded");
            }
        }
    }
    match status {
        RunStatus::Ok => {
            agent_event(shared, run, "lifecycle", json!({"phase": "end"}));
            chat_event(
                shared,
                run,
                "final",
                json!({"message": assistant_message(&st.text), "usage": st.usage, "model": st.model}),
            );
            tracing::info!(run = %run.id, session = %run.session_key, model = ?st.model, "agent run finished");
        }
        RunStatus::Aborted => {
            agent_event(shared, run, "lifecycle", json!({"phase": "end", "aborted": true}));
            chat_event(shared, run, "aborted", json!({}));
            tracing::info!(run = %run.id, session = %run.session_key, "agent run aborted");
        }
        _ => {
            agent_event(shared, run, "lifecycle", json!({"phase": "error", "error": st.error}));
            chat_event(shared, run, "error", json!({"errorMessage": st.error}));
            tracing::warn!(run = %run.id, session = %run.session_key, error = ?st.error, "agent run failed");
        }
    }
    run.state.send_replace(st);
    shared.agents.finished(&run.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in(status: RunStatus, edit: impl FnOnce(&mut RunState)) -> Run {
        let mut st = RunState {
            status,
            accepted_at: 1000,
            started_at: Some(1010),
            ended_at: Some(1250),
            error: None,
            session_id: Some("s-1".into()),
            model: Some("deepseek/deepseek-chat".into()),
            usage: Some(json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})),
            text: "Hello".into(),
        };
        edit(&mut st);
        Run {
            id: "key-1".into(),
            session_key: "agent:main:main".into(),
            agent_id: "main".into(),
            state: watch::Sender::new(st),
            abort: AbortHandle::new_pair().0,
            seq: Mutex::new(0),
        }
    }

    #[test]
    fn usage_is_reported_in_upstreams_shape_with_cached_tokens_apart() {
        assert_eq!(
            usage(&json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})),
            json!({"input": 5, "output": 2, "total": 7})
        );
        let cached = json!({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                            "prompt_tokens_details": {"cached_tokens": 60}});
        assert_eq!(usage(&cached), json!({"input": 40, "output": 10, "cacheRead": 60, "total": 110}));
        assert_eq!(usage(&json!({})), json!({"input": 0, "output": 0, "total": 0}));
    }

    #[test]
    fn a_finished_run_answers_upstreams_final_shape() {
        let (payload, error) = run_in(RunStatus::Ok, |_| {}).answer();
        assert_eq!(error, None);
        assert_eq!(
            payload,
            json!({"runId": "key-1", "status": "ok", "summary": "completed", "sessionKey": "agent:main:main",
                   "acceptedAt": 1000, "startedAt": 1010, "endedAt": 1250,
                   "result": {"payloads": [{"text": "Hello"}],
                              "meta": {"durationMs": 240,
                                       "agentMeta": {"sessionId": "s-1", "sessionKey": "agent:main:main",
                                                     "provider": "deepseek", "model": "deepseek-chat",
                                                     "usage": {"input": 5, "output": 2, "total": 7}}}}})
        );
    }

    #[test]
    fn an_aborted_run_keeps_what_was_said_and_says_it_was_aborted() {
        let (payload, error) = run_in(RunStatus::Aborted, |s| s.usage = None).answer();
        assert_eq!(error, None);
        assert_eq!((&payload["status"], &payload["summary"]), (&json!("ok"), &json!("aborted")));
        assert_eq!(payload["result"]["payloads"], json!([{"text": "Hello"}]));
        assert_eq!(payload["result"]["meta"]["aborted"], true);
        // Aborted while queued: no text, no model, no session yet.
        let (payload, _) = run_in(RunStatus::Aborted, |s| {
            (s.text, s.model, s.session_id, s.started_at, s.usage) = (String::new(), None, None, None, None);
        })
        .answer();
        assert_eq!(
            payload["result"],
            json!({"payloads": [], "meta": {"durationMs": 0, "aborted": true,
                                            "agentMeta": {"sessionKey": "agent:main:main"}}})
        );
    }

    #[test]
    fn a_failed_run_answers_status_error_with_its_summary_and_the_error_code() {
        let (payload, error) = run_in(RunStatus::Error, |s| s.error = Some("every model failed: x".into())).answer();
        assert_eq!(
            payload,
            json!({"runId": "key-1", "status": "error", "summary": "every model failed: x",
                   "sessionKey": "agent:main:main", "acceptedAt": 1000, "startedAt": 1010, "endedAt": 1250})
        );
        assert_eq!(error, Some(ErrorShape::new(ErrorCode::Unavailable, "every model failed: x")));
        let (_, error) = run_in(RunStatus::Timeout, |s| s.error = Some("timed out".into())).answer();
        assert_eq!(error.map(|e| e.code), Some(ErrorCode::AgentTimeout));
    }

    #[test]
    fn a_run_still_going_answers_in_flight() {
        for status in [RunStatus::Queued, RunStatus::Running] {
            let (payload, error) = run_in(status, |_| {}).answer();
            assert_eq!(payload, json!({"runId": "key-1", "status": "in_flight", "sessionKey": "agent:main:main"}));
            assert_eq!(error, None);
        }
    }
}
