//! A run's events to its session's followers: `agent` (`lifecycle`, `assistant`, `tool`
//! streams) and `chat`, each numbered by the run's sequence.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Agents;
use super::run::Run;

fn event(agents: &Agents, run: &Run, name: &'static str, payload: Value) {
    agents.deps.events.to_followers(&run.session_key, name, Arc::new(payload));
}

pub(super) fn agent_event(agents: &Agents, run: &Run, stream: &str, data: Value) {
    let seq = run.next_seq();
    let ts = chrono::Utc::now().timestamp_millis();
    event(agents, run, "agent", json!({"runId": run.id, "seq": seq, "stream": stream, "ts": ts, "data": data}));
}

pub(super) fn chat_event(agents: &Agents, run: &Run, state: &str, extra: Value) {
    let seq = run.next_seq();
    let mut p = json!({"runId": run.id, "sessionKey": run.session_key, "seq": seq, "state": state});
    if let (Some(o), Value::Object(e)) = (p.as_object_mut(), extra) {
        o.extend(e);
    }
    event(agents, run, "chat", p);
}

pub(super) fn assistant_message(text: &str) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}]})
}
