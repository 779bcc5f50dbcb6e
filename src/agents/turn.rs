//! Admission and the turn: a run admitted through its session's lane and a global lane, then
//! the transcript, the model chain with fallback, streamed deltas as `agent` and `chat`
//! events, and how it ends (done, failed, aborted, timed out).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{AbortHandle, Abortable};
use parking_lot::Mutex;
use tokio::sync::watch;

use serde_json::{Value, json};

use super::Agents;
use super::events::{agent_event, assistant_message, chat_event};
use super::provider::{self, ProviderError};
use super::run::{Run, RunRequest, RunState, RunStatus};
use super::{models, tool_loop, transcript};
use crate::lanes::LaneError;

/// Transcript messages sent to the provider (the most recent ones).
const HISTORY_MAX: usize = 200;

/// What [`submit_as`] did with a run id.
pub enum Submitted {
    /// A new run, admitted and started.
    Started(Arc<Run>),
    /// The id names a run already (running, or finished and still remembered): nothing was
    /// started; the caller answers with [`Run::answer`].
    Known(Arc<Run>),
}

/// Why a run was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("unknown lane {0:?} (main, subagent, cron)")]
    UnknownLane(&'static str),
    #[error(transparent)]
    Lane(#[from] LaneError),
}

/// Admits a run under a fresh id (cron and other callers without a client key).
pub fn submit(agents: &Arc<Agents>, req: RunRequest) -> Result<Arc<Run>, SubmitError> {
    match submit_as(agents, req, uuid::Uuid::new_v4().to_string())? {
        Submitted::Started(run) | Submitted::Known(run) => Ok(run),
    }
}

/// Admits a run named `id` (session lane, then its global lane) and starts it on the
/// gateway's main arbiter; rejected at once when either lane is full or draining. An id
/// already in the book starts nothing: checked and claimed under one lock, so the same key
/// sent twice at once still makes one run.
pub fn submit_as(agents: &Arc<Agents>, req: RunRequest, id: String) -> Result<Submitted, SubmitError> {
    let mut book = agents.book.lock();
    book.evict();
    if let Some(run) = book.runs.get(&id) {
        return Ok(Submitted::Known(run.clone()));
    }
    let lanes = &agents.deps.lanes;
    let global = lanes.get(req.lane).cloned().ok_or(SubmitError::UnknownLane(req.lane))?;
    global.admit()?;
    let session_lane = lanes.session(&req.session_key);
    let mut pending = session_lane.enqueue(format!("{} run {id}", req.origin))?;
    // An idle session is granted at once: queue on the global lane now, so a full lane is
    // answered to this request rather than failing the run later.
    let early = match pending.granted() {
        Some(Ok(slot)) => Some((slot, global.enqueue(format!("{} run {id}", req.origin))?)),
        Some(Err(e)) => return Err(e.into()),
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
        outcome: Default::default(),
        abort,
        seq: Mutex::new(0),
        open_calls: Mutex::default(),
    });
    book.runs.insert(id, run.clone());
    drop(book);
    let (s, r) = (agents.clone(), run.clone());
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
                    .unwrap_or(Duration::from_secs(s.deps.config.get().loaded.config.agents.defaults.timeout_seconds));
                Ok::<_, LaneError>((limit, tokio::time::timeout(limit, execute(&s, &r, &req)).await))
            };
            let end = match Abortable::new(work, reg).await {
                Err(_) => End::Aborted,
                Ok(Err(lane)) => End::Failed(lane.to_string()),
                Ok(Ok((limit, Err(_)))) => End::TimedOut(limit),
                Ok(Ok((_, Ok(Ok(()))))) => End::Done,
                Ok(Ok((_, Ok(Err(e))))) => End::Failed(e),
            };
            finish(&s, &r, end);
            s.deps.lanes.release_session(&r.session_key);
        });
    });
    Ok(Submitted::Started(run))
}

pub(super) enum End {
    Done,
    Failed(String),
    Aborted,
    /// Over its limit (the request's `timeout`, else `agents.defaults.timeoutSeconds`).
    TimedOut(Duration),
}

/// One turn: transcript, models in order, streamed answer; while the model calls tools, the
/// calls run and the conversation goes back to it (at most `maxToolIterations` rounds).
pub(super) async fn execute(agents: &Arc<Agents>, run: &Arc<Run>, req: &RunRequest) -> Result<(), String> {
    let live = agents.deps.config.get();
    let cfg = &live.loaded.config;
    let defaults = &cfg.agents.defaults;
    let state_dir = agents.state_dir();
    let wake = req.message.is_empty();
    let Some(session) = agents.session(state_dir, &req.agent_id, &req.session_key, wake).map_err(|e| e.to_string())?
    else {
        // A wake whose notes an earlier turn already read: nothing to ask the model.
        return Ok(());
    };
    let (session_id, file) = (session.id, session.file);
    run.state.send_modify(|s| s.session_id = Some(session_id.clone()));
    let (entries, damaged) = transcript::read(&file);
    if damaged > 0 {
        tracing::warn!(file = %file.display(), damaged, "transcript lines unreadable (torn by a crash?); skipped");
    }
    let mut messages = transcript::messages(&entries);
    let skip = messages.len().saturating_sub(HISTORY_MAX);
    messages.drain(..skip);
    let mut conv = tool_loop::Conversation { file: &file, messages: transcript::repair(messages) };
    let user = json!({"role": "user", "content": transcript::with_system_events(&session.system_events, &req.message)});
    conv.messages.push(user.clone());
    let ts = chrono::Utc::now().timestamp_millis();
    transcript::append(&file, &json!({"type": "message", "ts": ts, "runId": run.id, "message": user}))
        .map_err(|e| format!("cannot write the transcript: {e}"))?;
    if !session.system_events.is_empty() {
        agents
            .delivered_system_events(state_dir, &req.agent_id, &req.session_key, session.system_events.len())
            .map_err(|e| e.to_string())?;
    }
    agent_event(agents, run, "lifecycle", json!({"phase": "start", "sessionId": session_id}));

    let models_file = models::path(state_dir, &req.agent_id);
    let catalogue = models::load_merged(&models_file, &cfg.models.providers).map_err(|e| e.to_string())?;
    let chain = models::chain(req.model.as_deref(), req.lane, defaults, &catalogue);
    if chain.is_empty() {
        return Err(format!(
            "no model to use: add a provider to {} or set agents.defaults.model",
            models_file.display()
        ));
    }
    let toolbox = agents.toolbox(cfg, &req.agent_id, &req.session_key)?;
    let declared = crate::tools::catalog::declarations(&toolbox.policy.tools);
    let idle = Duration::from_millis(defaults.provider_timeout_ms);
    let call =
        Call { http: provider::client(), think: req.thinking.unwrap_or(defaults.think_level), idle, tools: &declared };
    let max_rounds = defaults.max_tool_iterations;
    // Later rounds start at the model that answered the last one.
    let mut first = 0;
    let mut rounds = 0;
    loop {
        let (at, done) =
            complete(agents, run, &chain[first..], &catalogue, &models_file, &conv.messages, &call).await?;
        first += at;
        let reference = &chain[first];
        if done.tool_calls.is_empty() {
            let entry = json!({"type": "message", "ts": chrono::Utc::now().timestamp_millis(), "runId": run.id,
                               "model": reference, "usage": done.usage, "stopReason": done.finish_reason,
                               "message": {"role": "assistant", "content": done.text}});
            transcript::append(&file, &entry).map_err(|e| format!("cannot write the transcript: {e}"))?;
            return Ok(());
        }
        if rounds >= max_rounds {
            let why = format!(
                "stopped: this run reached its limit of {max_rounds} tool rounds (agents.defaults.maxToolIterations)"
            );
            tool_loop::run_calls(agents, run, &toolbox, &mut conv, reference, &done, Some(&why)).await?;
            return Err(why);
        }
        rounds += 1;
        tool_loop::run_calls(agents, run, &toolbox, &mut conv, reference, &done, None).await?;
    }
}

/// What every model call of a run shares.
struct Call<'a> {
    http: awc::Client,
    think: crate::config::model::ThinkLevel,
    idle: Duration,
    tools: &'a [Value],
}

/// One completion from the first model of `chain` that gives one (falling back on retryable
/// failures); returns its index in `chain` and what it produced.
async fn complete(
    agents: &Arc<Agents>,
    run: &Arc<Run>,
    chain: &[String],
    catalogue: &models::Catalogue,
    models_file: &std::path::Path,
    messages: &[Value],
    call: &Call<'_>,
) -> Result<(usize, provider::Completion), String> {
    let mut failures = Vec::new();
    for (i, reference) in chain.iter().enumerate() {
        let target = match catalogue.target(reference, &agents.deps.options.env, models_file) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(run = %run.id, model = %reference, error = %e, "model unusable; trying the next");
                failures.push(e.to_string());
                continue;
            }
        };
        // Recorded before the answer: an aborted run reports the model it was streaming from.
        run.state.send_modify(|s| {
            s.model = Some(reference.clone());
            s.text.clear();
        });
        let body = provider::body(&target, messages, call.tools, call.think);
        let result = provider::stream(&call.http, &target, &body, call.idle, |delta| {
            let mut text = String::new();
            run.state.send_modify(|s| {
                s.text.push_str(delta);
                text = s.text.clone();
            });
            agent_event(agents, run, "assistant", json!({"delta": delta}));
            chat_event(agents, run, "delta", json!({"message": assistant_message(&text)}));
        })
        .await;
        match result {
            Ok(done) => {
                run.state.send_modify(|s| s.usage = done.usage.clone());
                return Ok((i, done));
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

pub(super) fn finish(agents: &Arc<Agents>, run: &Arc<Run>, end: End) {
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
    // The outcome first (answers to a retry), then the events, then the state: a caller woken
    // by the final state has its events already.
    let mut st = run.state();
    st.status = status;
    st.error = error;
    st.ended_at = Some(chrono::Utc::now().timestamp_millis());
    let _ = run.outcome.set(st.clone());
    let transcript = agents.transcript_of(agents.state_dir(), &run.agent_id, &run.session_key);
    // Tool calls the run left unanswered get a result, so the transcript stays valid.
    if let Some((_, file)) = &transcript {
        tool_loop::close_open_calls(agents, run, file);
    }
    // What was streamed before an abort or timeout is kept, marked as such.
    if matches!(status, RunStatus::Aborted | RunStatus::Timeout)
        && !st.text.is_empty()
        && let Some((_, file)) = &transcript
    {
        let entry = json!({"type": "message", "ts": st.ended_at, "runId": run.id, "stopReason": status,
                           "message": {"role": "assistant", "content": st.text}});
        if let Err(e) = transcript::append(file, &entry) {
            tracing::warn!(run = %run.id, error = %e, "partial answer not recorded");
        }
    }
    match status {
        RunStatus::Ok => {
            agent_event(agents, run, "lifecycle", json!({"phase": "end"}));
            chat_event(
                agents,
                run,
                "final",
                json!({"message": assistant_message(&st.text), "usage": st.usage, "model": st.model}),
            );
            tracing::info!(run = %run.id, session = %run.session_key, model = ?st.model, "agent run finished");
        }
        RunStatus::Aborted => {
            agent_event(agents, run, "lifecycle", json!({"phase": "end", "aborted": true}));
            chat_event(agents, run, "aborted", json!({}));
            tracing::info!(run = %run.id, session = %run.session_key, "agent run aborted");
        }
        _ => {
            agent_event(agents, run, "lifecycle", json!({"phase": "error", "error": st.error}));
            chat_event(agents, run, "error", json!({"errorMessage": st.error}));
            tracing::warn!(run = %run.id, session = %run.session_key, error = ?st.error, "agent run failed");
        }
    }
    run.state.send_replace(st);
    agents.finished(&run.id);
}
