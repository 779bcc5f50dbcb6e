//! What the supervisor publishes about its children: their status (for `/health`) and the
//! registry of their current addresses, updated on every (re)start, so callers always reach
//! the live incarnation and never hold a stale `Addr`. Only the supervisor writes either.

use std::any::Any;
use std::collections::HashMap;

use actix::{Actor, Addr};
use chrono::{DateTime, Utc};
use parking_lot::RwLock;

/// A child's state as shown in `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildState {
    Starting,
    Running,
    Restarting,
    Stopped,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildStatus {
    pub id: &'static str,
    pub state: ChildState,
    pub restarts: u64,
    pub incarnation: u64,
    pub last_failure: Option<Failure>,
}

#[derive(Default)]
pub struct ChildRegistry {
    map: RwLock<HashMap<&'static str, Box<dyn Any + Send + Sync>>>,
}

impl ChildRegistry {
    pub(in crate::actors) fn insert_any(&self, id: &'static str, addr: Box<dyn Any + Send + Sync>) {
        self.map.write().insert(id, addr);
    }

    pub(in crate::actors) fn remove(&self, id: &str) {
        self.map.write().remove(id);
    }

    /// The current incarnation of child `id`, if it is running and of type `A`.
    pub fn get<A: Actor>(&self, id: &str) -> Option<Addr<A>> {
        self.map.read().get(id).and_then(|a| a.downcast_ref::<Addr<A>>()).cloned()
    }
}
