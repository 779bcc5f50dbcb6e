//! Pending exec approvals: a host command waiting for an operator. The request goes to every
//! client with `operator.approvals` (`exec.approval.requested`), `exec.approval.resolve`
//! answers it (`allow-always` also adds its programs to the agent's allowlist in the file),
//! `exec.approval.resolved` tells them all. No answer in time is [`Decision::TimedOut`]; a run
//! aborted while waiting withdraws its request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::protocol::events::EventSink;
use crate::protocol::scope;
use crate::tools::approval::{Approver, AskRequest, Decision};

struct Pending {
    /// The `exec.approval.requested` payload (also what `exec.approval.list` shows).
    payload: Value,
    agent_id: String,
    patterns: Vec<String>,
    answer: oneshot::Sender<Decision>,
}

/// The pending requests; one owner (the agents), written here only.
pub struct Asks {
    pending: Mutex<HashMap<String, Pending>>,
    events: Arc<dyn EventSink>,
    state_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown approval id (already answered, expired or withdrawn)")]
    Unknown,
    #[error("the decision was taken, but the allowlist could not be written: {0}")]
    Persist(String),
}

impl Asks {
    pub fn new(events: Arc<dyn EventSink>, state_dir: PathBuf) -> Arc<Self> {
        Arc::new(Self { pending: Mutex::default(), events, state_dir })
    }

    /// The pending requests, oldest first.
    pub fn list(&self) -> Vec<Value> {
        let mut v: Vec<Value> = self.pending.lock().values().map(|p| p.payload.clone()).collect();
        v.sort_by_key(|p| p["createdAtMs"].as_i64().unwrap_or_default());
        v
    }

    /// Answers request `id`. `allow-always` appends its programs to the agent's allowlist first.
    pub fn resolve(&self, id: &str, decision: Decision, by: &str) -> Result<(), ResolveError> {
        let p = self.pending.lock().remove(id).ok_or(ResolveError::Unknown)?;
        let persisted = if decision == Decision::AllowAlways {
            super::approvals::allow_always(&self.state_dir, &p.agent_id, &p.patterns).map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        let _ = p.answer.send(decision);
        self.announce(id, wire(decision), by);
        persisted.map_err(ResolveError::Persist)
    }

    fn announce(&self, id: &str, decision: &str, by: &str) {
        let payload = json!({"id": id, "decision": decision, "resolvedBy": by, "ts": crate::sys::now_ms()});
        self.events.broadcast("exec.approval.resolved", Arc::new(payload), Some(scope::APPROVALS));
    }

    /// Asks the operators about `req`; waits at most `timeout`.
    pub fn ask_for(self: &Arc<Self>, req: AskRequest, timeout: Duration) -> BoxFuture<'static, Decision> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = crate::sys::now_ms();
        let payload = json!({
            "id": id,
            "request": {
                "command": req.command, "cwd": req.cwd, "host": "gateway",
                "security": req.security.as_str(), "ask": req.ask.as_str(),
                "agentId": req.agent_id, "resolvedPath": req.resolved_path, "sessionKey": req.session_key,
            },
            "createdAtMs": now,
            "expiresAtMs": now + timeout.as_millis() as i64,
        });
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(
            id.clone(),
            Pending { payload: payload.clone(), agent_id: req.agent_id, patterns: req.patterns, answer: tx },
        );
        tracing::info!(id = %id, command = %req.command, "exec approval requested");
        self.events.broadcast("exec.approval.requested", Arc::new(payload), Some(scope::APPROVALS));
        let guard = Withdraw { asks: self.clone(), id };
        Box::pin(async move {
            let decision = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(d)) => d,
                // The sender went away without an answer: nobody will decide.
                Ok(Err(_)) => Decision::TimedOut,
                Err(_) => Decision::TimedOut,
            };
            if decision == Decision::TimedOut && guard.asks.pending.lock().remove(&guard.id).is_some() {
                guard.asks.announce(&guard.id, "deny", "timeout");
            }
            decision
        })
    }
}

/// Withdraws a request whose waiter went away (the run was aborted).
struct Withdraw {
    asks: Arc<Asks>,
    id: String,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        if self.asks.pending.lock().remove(&self.id).is_some() {
            self.asks.announce(&self.id, "deny", "withdrawn");
        }
    }
}

/// The wire name of a decision.
pub fn wire(d: Decision) -> &'static str {
    match d {
        Decision::AllowOnce => "allow-once",
        Decision::AllowAlways => "allow-always",
        Decision::Deny | Decision::TimedOut => "deny",
    }
}

/// A decision from the wire.
pub fn parse(s: &str) -> Option<Decision> {
    match s {
        "allow-once" => Some(Decision::AllowOnce),
        "allow-always" => Some(Decision::AllowAlways),
        "deny" => Some(Decision::Deny),
        _ => None,
    }
}

/// The approver one run's toolbox uses: the gateway's requests, with the configured timeout.
pub struct RunApprover {
    pub asks: Arc<Asks>,
    pub timeout: Duration,
}

impl Approver for RunApprover {
    fn ask(&self, req: AskRequest) -> BoxFuture<'static, Decision> {
        self.asks.ask_for(req, self.timeout)
    }

    fn timeout_secs(&self) -> u64 {
        self.timeout.as_secs()
    }
}
