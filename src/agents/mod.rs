//! Agent runs: admission through the session's lane and a global lane, the turn itself
//! (transcript, model chain with fallback, streamed deltas as `agent` and `chat` events),
//! abort, timeout, `agent.wait`, idempotent replay, and the session index.

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
use crate::actors::hub::Push;
use crate::config::model::ThinkLevel;
use crate::lanes::LaneError;
use crate::protocol::ErrorShape;
use crate::shared::Shared;

/// How long idempotency keys and finished runs are remembered, and how many.
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

    /// The final `agent` response (the second `res` with the request's id).
    pub fn final_answer(&self, s: &RunState) -> Result<Value, ErrorShape> {
        if s.status == RunStatus::Timeout {
            return Err(ErrorShape::new(
                crate::protocol::ErrorCode::AgentTimeout,
                s.error.clone().unwrap_or_else(|| "agent run timed out".into()),
            )
            .with_details(json!({"runId": self.id})));
        }
        let status = if s.status == RunStatus::Ok { "ok" } else { "error" };
        Ok(json!({"runId": self.id, "status": status, "runStatus": s.status, "sessionKey": self.session_key,
                  "result": {"text": s.text, "model": s.model, "usage": s.usage},
                  "error": s.error, "startedAt": s.started_at, "endedAt": s.ended_at}))
    }

    fn next_seq(&self) -> u64 {
        let mut s = self.seq.lock();
        *s += 1;
        *s
    }
}

#[derive(Default)]
struct Book {
    runs: HashMap<String, Arc<Run>>,
    /// Finished runs, oldest first, for eviction.
    finished: VecDeque<(String, Instant)>,
    /// (method, idempotencyKey) -> runId.
    idem: HashMap<(String, String), String>,
    idem_order: VecDeque<((String, String), Instant)>,
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
        while let Some((_, at)) = self.idem_order.front()
            && (self.idem_order.len() > REMEMBER_MAX || now.duration_since(*at) > REMEMBER)
        {
            let (k, _) = self.idem_order.pop_front().expect("front exists");
            self.idem.remove(&k);
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

impl Agents {
    pub fn run(&self, id: &str) -> Option<Arc<Run>> {
        self.book.lock().runs.get(id).cloned()
    }

    /// The run an earlier call with this key started, if remembered.
    pub fn replay(&self, method: &str, key: &str) -> Option<Arc<Run>> {
        let mut b = self.book.lock();
        b.evict();
        let id = b.idem.get(&(method.to_string(), key.to_string()))?.clone();
        b.runs.get(&id).cloned()
    }

    pub fn remember(&self, method: &str, key: &str, run: &Run) {
        let mut b = self.book.lock();
        let k = (method.to_string(), key.to_string());
        b.idem.insert(k.clone(), run.id.clone());
        b.idem_order.push_back((k, Instant::now()));
        b.evict();
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

/// Admits a run (session lane, then its global lane) and starts it on the gateway's main
/// arbiter; rejected at once when either lane is full or draining.
pub fn submit(shared: &Arc<Shared>, req: RunRequest) -> Result<Arc<Run>, ErrorShape> {
    let global = shared
        .lanes
        .get(req.lane)
        .cloned()
        .ok_or_else(|| ErrorShape::invalid(format!("unknown lane {:?} (main, subagent, cron)", req.lane)))?;
    global.admit().map_err(|e| e.to_error())?;
    let session_lane = shared.lanes.session(&req.session_key);
    let id = uuid::Uuid::new_v4().to_string();
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
    shared.agents.book.lock().runs.insert(id.clone(), run.clone());
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
                Ok::<_, LaneError>(tokio::time::timeout(limit, execute(&s, &r, &req)).await)
            };
            let end = match Abortable::new(work, reg).await {
                Err(_) => End::Aborted,
                Ok(Err(lane)) => End::Failed(lane.to_error().message),
                Ok(Ok(Err(_))) => End::TimedOut,
                Ok(Ok(Ok(Ok(())))) => End::Done,
                Ok(Ok(Ok(Err(e)))) => End::Failed(e),
            };
            finish(&s, &r, end);
        });
    });
    Ok(run)
}

enum End {
    Done,
    Failed(String),
    Aborted,
    TimedOut,
}

fn event(shared: &Shared, run: &Run, name: &'static str, payload: Value) {
    shared.sessions.to_followers(
        &run.session_key,
        Push::Event { name, payload: Arc::new(payload), droppable: false, scope: None },
    );
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
                run.state.send_modify(|s| {
                    s.model = Some(reference.clone());
                    s.usage = done.usage.clone();
                });
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
        End::TimedOut => (RunStatus::Timeout, Some("agent run timed out (agents.defaults.timeoutSeconds)".into())),
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
