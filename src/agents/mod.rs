//! Agent runs: admission through the session's lane and a global lane, the turn itself
//! (transcript, model chain with fallback, streamed deltas as `agent` and `chat` events),
//! abort, timeout, `agent.wait`, idempotent replay, and the session index.
//!
//! A run's id is the client's `idempotencyKey` (upstream clients match events and answers
//! by it), so the book of runs is also the idempotency record: one run per key while the
//! run is going and for five minutes after it ended.

pub mod models;
pub mod provider;
mod run;
mod sessions;
pub mod transcript;
mod turn;

use std::collections::HashMap;

use parking_lot::Mutex;

use self::run::Book;
pub use self::run::{Run, RunRequest, RunState, RunStatus, usage};
pub use self::turn::{Submitted, submit, submit_as};

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
