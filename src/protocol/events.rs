//! How domain code sends protocol events out without knowing who delivers them: the session
//! hub implements [`EventSink`]; agents, cron and the rest only see the trait.

use std::sync::Arc;

use serde_json::Value;

pub trait EventSink: Send + Sync {
    /// To the clients following chat session `key` (its runs' `agent` and `chat` events).
    fn to_followers(&self, key: &str, name: &'static str, payload: Arc<Value>);
    /// To every client whose scopes allow `scope` (all of them when `None`).
    fn broadcast(&self, name: &'static str, payload: Arc<Value>, scope: Option<&'static str>);
}
