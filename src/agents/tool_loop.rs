//! One round of the tool-call loop: the assistant's calls recorded in the transcript, run one
//! after another with `tool` events (`start`, `update`, `result`), each result recorded and
//! added to the conversation for the next model call. Calls left open by an abort or timeout
//! are answered with a synthetic result ([`close_open_calls`]).

use std::path::Path;

use serde_json::{Value, json};

use super::events::agent_event;
use super::provider::Completion;
use super::run::Run;
use super::{Agents, transcript};
use crate::tools::{self, Output, Toolbox};

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The result as upstream's events carry it: `{content: [{type: "text", text}]}`.
fn content(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}]})
}

fn append(file: &Path, entry: &Value, sync: bool) -> Result<(), String> {
    let written = if sync { transcript::append(file, entry) } else { transcript::append_unsynced(file, entry) };
    written.map_err(|e| format!("cannot write the transcript: {e}"))
}

/// The conversation a run builds: its transcript file and the messages for the next call.
pub(super) struct Conversation<'a> {
    pub file: &'a Path,
    pub messages: Vec<Value>,
}

/// Records `done`'s calls and runs them in order (or, with `refuse` set, answers each with that
/// error unrun); every result goes into `messages` and the transcript.
pub(super) async fn run_calls(
    agents: &Agents,
    run: &Run,
    tb: &Toolbox,
    conv: &mut Conversation<'_>,
    reference: &str,
    done: &Completion,
    refuse: Option<&str>,
) -> Result<(), String> {
    let calls: Vec<Value> = done.tool_calls.iter().map(|c| c.to_json()).collect();
    let text = if done.text.is_empty() { Value::Null } else { json!(done.text) };
    let assistant = json!({"role": "assistant", "content": text, "tool_calls": calls});
    append(
        conv.file,
        &json!({"type": "message", "ts": now(), "runId": run.id, "model": reference, "usage": done.usage,
                "stopReason": done.finish_reason, "message": assistant}),
        false,
    )?;
    conv.messages.push(assistant);
    // Recorded with its calls: an abort from here on must not record this text again.
    run.state.send_modify(|s| s.text.clear());
    *run.open_calls.lock() = done.tool_calls.iter().map(|c| (c.id.clone(), c.name.clone())).collect();
    let last = done.tool_calls.len().saturating_sub(1);
    for (i, c) in done.tool_calls.iter().enumerate() {
        let args = serde_json::from_str::<Value>(&c.arguments).unwrap_or_else(|_| json!(c.arguments));
        agent_event(agents, run, "tool", json!({"phase": "start", "name": c.name, "toolCallId": c.id, "args": args}));
        let out = match refuse {
            Some(why) => Output::error(why),
            None => {
                let update = |partial: &str| {
                    agent_event(
                        agents,
                        run,
                        "tool",
                        json!({"phase": "update", "name": c.name, "toolCallId": c.id, "partialResult": content(partial)}),
                    )
                };
                tools::call(tb, &c.name, &c.arguments, &update).await
            }
        };
        let result = json!({"role": "tool", "tool_call_id": c.id, "content": out.text});
        append(
            conv.file,
            &json!({"type": "message", "ts": now(), "runId": run.id, "toolName": c.name, "isError": out.is_error,
                    "message": result}),
            // One sync per round, after its last result (the next model call depends on it).
            i == last,
        )?;
        conv.messages.push(result);
        run.open_calls.lock().retain(|(id, _)| *id != c.id);
        agent_event(
            agents,
            run,
            "tool",
            json!({"phase": "result", "name": c.name, "toolCallId": c.id, "result": content(&out.text),
                   "isError": out.is_error}),
        );
    }
    Ok(())
}

/// Answers the calls an ended run left open with [`transcript::NO_RESULT`], in order.
pub(super) fn close_open_calls(agents: &Agents, run: &Run, file: &Path) {
    let open = std::mem::take(&mut *run.open_calls.lock());
    for (id, name) in open {
        let result = json!({"role": "tool", "tool_call_id": id, "content": transcript::NO_RESULT});
        let entry = json!({"type": "message", "ts": now(), "runId": run.id, "toolName": name, "isError": true,
                           "synthetic": true, "message": result});
        if let Err(e) = append(file, &entry, true) {
            tracing::warn!(run = %run.id, error = %e, "synthetic tool result not recorded");
        }
        agent_event(
            agents,
            run,
            "tool",
            json!({"phase": "result", "name": name, "toolCallId": id, "result": content(transcript::NO_RESULT),
                   "isError": true}),
        );
    }
}
