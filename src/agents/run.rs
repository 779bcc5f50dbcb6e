//! Runs: what a run is asked to do, its state and its answers in upstream's shapes, the book
//! of runs (also the idempotency record), and admission through the lanes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::AbortHandle;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Agents;
use crate::config::model::ThinkLevel;

/// How long finished runs (and so their idempotency keys) are remembered, and how many.
const REMEMBER: Duration = Duration::from_secs(5 * 60);
const REMEMBER_MAX: usize = 1000;

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
    pub(super) state: watch::Sender<RunState>,
    /// The final state, set just before the final events go out (the watch above is set just
    /// after them, so a waiter it wakes has its events). A client that saw the final event and
    /// retries at once is answered from this, not "in flight".
    pub(super) outcome: std::sync::OnceLock<RunState>,
    pub(super) abort: AbortHandle,
    pub(super) seq: Mutex<u64>,
    /// Tool calls recorded in the transcript and not yet answered: (id, name). An abort or
    /// timeout answers them with a synthetic result so the transcript stays valid.
    pub(super) open_calls: Mutex<Vec<(String, String)>>,
}

/// How a finished run failed, with its summary (sent beside the payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunFailure {
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    TimedOut(String),
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
    pub fn answer(&self) -> (Value, Option<RunFailure>) {
        let s = self.outcome.get().cloned().unwrap_or_else(|| self.state());
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
                let failure = if s.status == RunStatus::Timeout {
                    RunFailure::TimedOut(summary)
                } else {
                    RunFailure::Failed(summary)
                };
                (p, Some(failure))
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

    pub(super) fn next_seq(&self) -> u64 {
        let mut s = self.seq.lock();
        *s += 1;
        *s
    }
}

#[derive(Default)]
pub(super) struct Book {
    /// runId (= the client's idempotencyKey) -> run: every running run, and finished ones
    /// until evicted, so a repeated key finds its run.
    pub(super) runs: HashMap<String, Arc<Run>>,
    /// Finished runs, oldest first, for eviction.
    finished: VecDeque<(String, Instant)>,
}

impl Book {
    pub(super) fn evict(&mut self) {
        let now = Instant::now();
        while let Some((_, at)) = self.finished.front()
            && (self.finished.len() > REMEMBER_MAX || now.duration_since(*at) > REMEMBER)
        {
            let (id, _) = self.finished.pop_front().expect("front exists");
            self.runs.remove(&id);
        }
    }
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

    pub(super) fn finished(&self, id: &str) {
        let mut b = self.book.lock();
        b.finished.push_back((id.to_string(), Instant::now()));
        b.evict();
    }
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
            outcome: Default::default(),
            abort: AbortHandle::new_pair().0,
            seq: Mutex::new(0),
            open_calls: Mutex::default(),
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
        assert_eq!(error, Some(RunFailure::Failed("every model failed: x".into())));
        let (_, error) = run_in(RunStatus::Timeout, |s| s.error = Some("timed out".into())).answer();
        assert_eq!(error, Some(RunFailure::TimedOut("timed out".into())));
    }

    #[test]
    fn a_run_still_going_answers_in_flight() {
        for status in [RunStatus::Queued, RunStatus::Running] {
            let (payload, error) = run_in(status, |_| {}).answer();
            assert_eq!(payload, json!({"runId": "key-1", "status": "in_flight", "sessionKey": "agent:main:main"}));
            assert_eq!(error, None);
        }
    }

    #[test]
    fn a_run_whose_final_events_are_going_out_answers_its_outcome() {
        let run = run_in(RunStatus::Running, |_| {});
        let mut done = run.state();
        (done.status, done.ended_at) = (RunStatus::Ok, Some(1300));
        let _ = run.outcome.set(done);
        let (payload, error) = run.answer();
        assert_eq!((payload["status"].as_str(), payload["endedAt"].as_i64(), error), (Some("ok"), Some(1300), None));
        assert!(!run.state().status.is_final(), "waiters are woken only after the events");
    }
}
