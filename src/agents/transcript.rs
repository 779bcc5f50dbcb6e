//! Session transcripts and the session index, under `<state>/agents/<agentId>/sessions/`:
//! `<sessionId>.jsonl` (one JSON object per line, appended and synced per turn) and
//! `sessions.json` (sessionKey -> sessionId and times, written atomically).
//!
//! A crash mid-turn can at worst leave a torn last line: readers skip it, and the next
//! append starts on a fresh line, so earlier turns are never damaged.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{self, FILE_MODE, StateError};

pub fn dir(state_dir: &Path, agent_id: &str) -> PathBuf {
    state_dir.join("agents").join(agent_id).join("sessions")
}

/// Appends one line and syncs it; a torn tail from a crash is closed off first.
pub fn append(file: &Path, entry: &Value) -> Result<(), StateError> {
    write(file, entry, true)
}

/// Appends one line without syncing: for the lines of a tool round before its last, which
/// that one's sync makes durable with it (a crash before it loses the round, never a turn).
pub fn append_unsynced(file: &Path, entry: &Value) -> Result<(), StateError> {
    write(file, entry, false)
}

fn write(file: &Path, entry: &Value, sync: bool) -> Result<(), StateError> {
    let err = |e| StateError::new(file, e);
    if let Some(parent) = file.parent() {
        state::ensure_dir(parent)?;
    }
    let mut f = OpenOptions::new().read(true).append(true).create(true).mode(FILE_MODE).open(file).map_err(err)?;
    let len = f.metadata().map_err(err)?.len();
    let mut line = String::new();
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1)).map_err(err)?;
        f.read_exact(&mut last).map_err(err)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    line.push_str(&entry.to_string());
    line.push('\n');
    f.write_all(line.as_bytes()).map_err(err)?;
    if sync { f.sync_data().map_err(err) } else { Ok(()) }
}

/// The entries of a transcript, oldest first, and how many lines could not be read.
pub fn read(file: &Path) -> (Vec<Value>, usize) {
    let Ok(text) = std::fs::read_to_string(file) else { return (Vec::new(), 0) };
    let mut damaged = 0;
    let entries = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) => Some(v),
            Err(_) => {
                damaged += 1;
                None
            }
        })
        .collect();
    (entries, damaged)
}

/// The chat messages of a transcript (for the provider and `chat.history`).
pub fn messages(entries: &[Value]) -> Vec<Value> {
    entries.iter().filter_map(|e| e.get("message").cloned()).collect()
}

/// The messages for display (`chat.history`): a failed tool result carries `isError: true`,
/// which the provider's copy leaves out (the entry records it beside the message).
pub fn messages_for_display(entries: &[Value]) -> Vec<Value> {
    entries
        .iter()
        .filter_map(|e| {
            let mut m = e.get("message").cloned()?;
            if e.get("isError") == Some(&Value::Bool(true))
                && let Some(o) = m.as_object_mut()
            {
                o.insert("isError".into(), Value::Bool(true));
            }
            Some(m)
        })
        .collect()
}

/// The result recorded for a tool call that never got one (abort, timeout, crash).
pub const NO_RESULT: &str = "aborted: the run ended before this tool call finished";

/// `messages` made valid for a provider: every assistant tool call is answered by a `tool`
/// message right after it (a synthetic error result where none was recorded, e.g. after a
/// crash), and `tool` messages that answer no call (their call cut off by the history
/// window) are dropped.
pub fn repair(messages: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len());
    let mut open: Vec<String> = Vec::new();
    let close = |out: &mut Vec<Value>, open: &mut Vec<String>| {
        for id in open.drain(..) {
            out.push(serde_json::json!({"role": "tool", "tool_call_id": id, "content": NO_RESULT}));
        }
    };
    for m in messages {
        if m.get("role").and_then(Value::as_str) == Some("tool") {
            let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or_default();
            if let Some(i) = open.iter().position(|o| o == id) {
                open.remove(i);
                out.push(m);
            }
            continue;
        }
        close(&mut out, &mut open);
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            open = calls.iter().filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string)).collect();
        }
        out.push(m);
    }
    close(&mut out, &mut open);
    out
}

/// One session in the index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    pub session_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub turns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What `sessions.patch` set (the Control UI's sessions tab).
    #[serde(default, flatten)]
    pub settings: SessionSettings,
    /// Notes waiting for the session's next turn (upstream's system events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_events: Vec<SystemEvent>,
}

/// A note for a session's next turn, such as a cron `systemEvent` job's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemEvent {
    pub ts: i64,
    pub text: String,
}

impl SystemEvent {
    /// The line the model reads, as upstream words it: `System: [time] text`.
    pub fn line(&self) -> String {
        let at = chrono::DateTime::from_timestamp_millis(self.ts).unwrap_or_default();
        format!("System: [{}] {}", at.format("%Y-%m-%d %H:%M:%S UTC"), self.text)
    }
}

/// The user's message with the waiting system events before it.
pub fn with_system_events(events: &[SystemEvent], message: &str) -> String {
    if events.is_empty() {
        return message.to_string();
    }
    let mut out: Vec<String> = events.iter().map(SystemEvent::line).collect();
    if !message.is_empty() {
        out.push(String::new());
        out.push(message.to_string());
    }
    out.join("\n")
}

/// A session's settings as `sessions.patch` sets them; kept across a reset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbose_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_level: Option<String>,
}

/// sessionKey -> session, for one agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    #[serde(flatten)]
    pub sessions: BTreeMap<String, SessionMeta>,
}

impl Index {
    pub fn path(state_dir: &Path, agent_id: &str) -> PathBuf {
        dir(state_dir, agent_id).join("sessions.json")
    }

    pub fn load(state_dir: &Path, agent_id: &str) -> Self {
        std::fs::read(Self::path(state_dir, agent_id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, state_dir: &Path, agent_id: &str) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        state::write_file(&Self::path(state_dir, agent_id), &bytes, FILE_MODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn system_events_come_before_the_message_with_their_time() {
        let ev = |ts, text: &str| SystemEvent { ts, text: text.into() };
        assert_eq!(with_system_events(&[], "hi"), "hi");
        let two = [ev(0, "backup done"), ev(86_400_000, "check the mail")];
        assert_eq!(
            with_system_events(&two, "hi"),
            "System: [1970-01-01 00:00:00 UTC] backup done\nSystem: [1970-01-02 00:00:00 UTC] check the mail\n\nhi"
        );
        assert_eq!(with_system_events(&two[..1], ""), "System: [1970-01-01 00:00:00 UTC] backup done");
    }

    #[test]
    fn repair_answers_every_open_call_and_drops_orphan_results() {
        let call = |ids: &[&str]| {
            let calls: Vec<Value> = ids.iter().map(|i| json!({"id": i, "type": "function"})).collect();
            json!({"role": "assistant", "content": null, "tool_calls": calls})
        };
        let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "ok"});
        let user = json!({"role": "user", "content": "next"});
        let got = repair(vec![result("orphan"), call(&["a", "b"]), result("a"), user.clone(), call(&["c"])]);
        let shape: Vec<String> = got
            .iter()
            .map(|m| match (m["role"].as_str().unwrap(), m["tool_call_id"].as_str()) {
                ("tool", Some(id)) => format!("tool:{id}:{}", m["content"].as_str().unwrap()),
                (role, _) => role.to_string(),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "assistant",
                "tool:a:ok",
                format!("tool:b:{NO_RESULT}").as_str(),
                "user",
                "assistant",
                format!("tool:c:{NO_RESULT}").as_str()
            ]
        );
        let valid = vec![user.clone(), call(&["x"]), result("x")];
        assert_eq!(repair(valid.clone()), valid);
    }

    #[test]
    fn a_torn_tail_is_skipped_and_the_next_append_starts_a_fresh_line() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("s/t.jsonl");
        append(&f, &serde_json::json!({"message": {"role": "user", "content": "one"}})).unwrap();
        // A crash half-way through the next line.
        let mut h = OpenOptions::new().append(true).open(&f).unwrap();
        h.write_all(b"{\"message\": {\"role\": \"assis").unwrap();
        let (entries, damaged) = read(&f);
        assert_eq!((entries.len(), damaged), (1, 1));
        append(&f, &serde_json::json!({"message": {"role": "user", "content": "two"}})).unwrap();
        let (entries, damaged) = read(&f);
        assert_eq!(damaged, 1);
        let texts: Vec<_> = messages(&entries).iter().map(|m| m["content"].as_str().unwrap().to_string()).collect();
        assert_eq!(texts, ["one", "two"]);
    }
}
