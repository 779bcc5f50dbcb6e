//! The session index: which session (and transcript file) each session key of an agent has.

use std::path::PathBuf;

use parking_lot::{MappedMutexGuard, MutexGuard};
use serde_json::{Value, json};

use super::{Agents, transcript};
use crate::state::StateError;

/// Why the session index (or a transcript it names) was not updated.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A turn could not record its session in the index.
    #[error("cannot record the session: {0}")]
    Record(StateError),
    /// A reset or delete could not save the index.
    #[error("{0}")]
    Save(StateError),
    #[error("{}: {source}", file.display())]
    DeleteTranscript { file: PathBuf, source: std::io::Error },
}

/// One field of a `sessions.patch`: left alone, cleared (`null`), or set.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change {
    #[default]
    Keep,
    Clear,
    Set(String),
}

impl Change {
    fn apply(&self, field: &mut Option<String>) {
        match self {
            Change::Keep => {}
            Change::Clear => *field = None,
            Change::Set(v) => *field = Some(v.clone()),
        }
    }
}

/// What a `sessions.patch` changes (values already checked by the caller).
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub label: Change,
    pub thinking_level: Change,
    pub verbose_level: Change,
    pub reasoning_level: Change,
}

impl SettingsPatch {
    pub fn apply(&self, s: &mut transcript::SessionSettings) {
        self.label.apply(&mut s.label);
        self.thinking_level.apply(&mut s.thinking_level);
        self.verbose_level.apply(&mut s.verbose_level);
        self.reasoning_level.apply(&mut s.reasoning_level);
    }
}

/// How many system events a session keeps waiting; older ones give way (upstream keeps 20 too).
pub const SYSTEM_EVENTS_MAX: usize = 20;

/// A turn's session: its id, its transcript, and the system events waiting for it.
pub struct TurnSession {
    pub id: String,
    pub file: PathBuf,
    pub system_events: Vec<transcript::SystemEvent>,
}

impl Agents {
    /// `agent`'s session index, loaded on first use, locked while the guard lives.
    fn index(&self, state_dir: &std::path::Path, agent: &str) -> MappedMutexGuard<'_, transcript::Index> {
        MutexGuard::map(self.indexes.lock(), |idx| {
            idx.entry(agent.to_string()).or_insert_with(|| transcript::Index::load(state_dir, agent))
        })
    }

    /// The session for `key` (created on first use) and its transcript path, the turn counted.
    /// A wake (a turn with no message of its own) gets `None` when no system event waits: it has
    /// nothing to ask, so nothing is counted or written.
    pub fn session(
        &self,
        state_dir: &std::path::Path,
        agent: &str,
        key: &str,
        wake: bool,
    ) -> Result<Option<TurnSession>, SessionError> {
        let mut index = self.index(state_dir, agent);
        if wake && index.sessions.get(key).is_none_or(|m| m.system_events.is_empty()) {
            return Ok(None);
        }
        let now = chrono::Utc::now().timestamp_millis();
        let meta = match index.sessions.get_mut(key) {
            Some(m) => {
                m.updated_at = now;
                m.turns += 1;
                m.clone()
            }
            None => {
                let m = transcript::SessionMeta { turns: 1, ..new_session(now) };
                index.sessions.insert(key.to_string(), m.clone());
                m
            }
        };
        index.save(state_dir, agent).map_err(SessionError::Record)?;
        Ok(Some(TurnSession {
            file: transcript::dir(state_dir, agent).join(format!("{}.jsonl", meta.session_id)),
            id: meta.session_id,
            system_events: meta.system_events,
        }))
    }

    /// Queues `text` for the next turn of `key`'s session (made, with no turns, if there is none
    /// yet); returns how many now wait. Past [`SYSTEM_EVENTS_MAX`] the oldest is dropped, logged.
    pub fn queue_system_event(
        &self,
        state_dir: &std::path::Path,
        agent: &str,
        key: &str,
        text: &str,
    ) -> Result<usize, SessionError> {
        let mut index = self.index(state_dir, agent);
        let now = chrono::Utc::now().timestamp_millis();
        let meta = index.sessions.entry(key.to_string()).or_insert_with(|| new_session(now));
        meta.system_events.push(transcript::SystemEvent { ts: now, text: text.to_string() });
        if meta.system_events.len() > SYSTEM_EVENTS_MAX {
            let gone = meta.system_events.remove(0);
            tracing::warn!(session = key, dropped = %gone.text, "too many system events waiting; the oldest was dropped");
        }
        let n = meta.system_events.len();
        index.save(state_dir, agent).map_err(SessionError::Save)?;
        Ok(n)
    }

    /// Forgets the first `n` waiting system events of `key`: a turn has them in its transcript.
    /// Removed after the transcript has them, so a crash between delivers them twice rather than never.
    pub fn delivered_system_events(
        &self,
        state_dir: &std::path::Path,
        agent: &str,
        key: &str,
        n: usize,
    ) -> Result<(), SessionError> {
        let mut index = self.index(state_dir, agent);
        let Some(meta) = index.sessions.get_mut(key) else { return Ok(()) };
        meta.system_events.drain(..n.min(meta.system_events.len()));
        index.save(state_dir, agent).map_err(SessionError::Record)
    }

    /// The transcript of `key`, if the session exists.
    pub fn transcript_of(&self, state_dir: &std::path::Path, agent: &str, key: &str) -> Option<(String, PathBuf)> {
        let index = self.index(state_dir, agent);
        let m = index.sessions.get(key)?;
        Some((m.session_id.clone(), transcript::dir(state_dir, agent).join(format!("{}.jsonl", m.session_id))))
    }

    /// Every session of `agent`, newest first.
    pub fn list(&self, state_dir: &std::path::Path, agent: &str) -> Vec<Value> {
        let index = self.index(state_dir, agent);
        let mut out: Vec<Value> = index
            .sessions
            .iter()
            .map(|(k, m)| {
                let mut v = json!({"key": k, "agentId": agent, "sessionId": m.session_id, "createdAt": m.created_at,
                                   "updatedAt": m.updated_at, "turns": m.turns});
                if let (Value::Object(o), Ok(Value::Object(set))) = (&mut v, serde_json::to_value(&m.settings)) {
                    o.extend(set);
                }
                v
            })
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v["updatedAt"].as_i64().unwrap_or(0)));
        out
    }

    /// Applies `patch` to the session of `key` (made, with no turns, if there is none yet, as
    /// upstream does) and returns the entry now stored.
    pub fn patch(
        &self,
        state_dir: &std::path::Path,
        agent: &str,
        key: &str,
        patch: &SettingsPatch,
    ) -> Result<transcript::SessionMeta, SessionError> {
        let mut index = self.index(state_dir, agent);
        let now = chrono::Utc::now().timestamp_millis();
        let meta = index.sessions.entry(key.to_string()).or_insert_with(|| new_session(now));
        patch.apply(&mut meta.settings);
        let out = meta.clone();
        index.save(state_dir, agent).map_err(SessionError::Save)?;
        Ok(out)
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
    ) -> Result<Option<String>, SessionError> {
        let mut index = self.index(state_dir, agent);
        let Some(old) = index.sessions.remove(key) else { return Ok(None) };
        if reset {
            let now = chrono::Utc::now().timestamp_millis();
            index.sessions.insert(
                key.to_string(),
                transcript::SessionMeta {
                    settings: old.settings.clone(),
                    // Notes for the session's next turn outlive the conversation they came in.
                    system_events: old.system_events.clone(),
                    ..new_session(now)
                },
            );
        }
        index.save(state_dir, agent).map_err(SessionError::Save)?;
        if delete_transcript {
            let f = transcript::dir(state_dir, agent).join(format!("{}.jsonl", old.session_id));
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(SessionError::DeleteTranscript { file: f, source }),
            }
        }
        Ok(Some(old.session_id))
    }
}

/// A session with no turns yet.
fn new_session(now: i64) -> transcript::SessionMeta {
    transcript::SessionMeta {
        session_id: uuid::Uuid::new_v4().to_string(),
        created_at: now,
        updated_at: now,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sets_clears_and_keeps_fields() {
        let mut s = transcript::SessionSettings {
            label: Some("old".into()),
            verbose_level: Some("on".into()),
            ..Default::default()
        };
        let p = SettingsPatch { label: Change::Set("new".into()), verbose_level: Change::Clear, ..Default::default() };
        p.apply(&mut s);
        assert_eq!(s, transcript::SessionSettings { label: Some("new".into()), ..Default::default() });
    }

    #[test]
    fn settings_round_trip_flat_in_the_index() {
        let m = transcript::SessionMeta {
            session_id: "s".into(),
            settings: transcript::SessionSettings { thinking_level: Some("low".into()), ..Default::default() },
            ..Default::default()
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["thinkingLevel"], "low");
        assert!(v.get("label").is_none());
        let back: transcript::SessionMeta = serde_json::from_value(v).unwrap();
        assert_eq!(back.settings, m.settings);
    }
}
