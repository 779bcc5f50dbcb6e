//! The session hub: a WebSocket session registers here once its `connect` is accepted (not
//! when the socket opens) and leaves when its actor has stopped (`stopped`). It feeds
//! `/health` session counts and presence, and fans events out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix::dev::SendError;
use actix::prelude::*;
use parking_lot::RwLock;
use serde_json::{Value, json};

/// Something for one session to send.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum Push {
    /// An event; `droppable` ones are skipped for slow consumers, others close them.
    Event { name: &'static str, payload: Arc<Value>, droppable: bool, scope: Option<&'static str> },
    /// Close with this code and reason.
    Close { code: u16, reason: String },
    /// `shutdown` event, then close 1012.
    Shutdown { reason: &'static str, restart_expected_ms: Option<u64> },
}

pub struct SessionEntry {
    pub addr: Recipient<Push>,
    pub role: &'static str,
    pub scopes: crate::protocol::scope::ScopeSet,
    pub device_id: Option<String>,
    pub presence: Value,
    /// UIs, apps, nodes and backends are listed in presence and get `presence` events;
    /// CLIs and probes ask with `system-presence`.
    pub wants_presence: bool,
}

#[derive(Default)]
pub struct SessionHub {
    sessions: RwLock<HashMap<String, SessionEntry>>,
    presence_version: AtomicU64,
    health_version: AtomicU64,
    presence_dirty: AtomicBool,
    total: AtomicU64,
    /// Chat session key -> connections that follow it (`chat`/`agent` events).
    subs: RwLock<HashMap<String, Vec<String>>>,
    /// Woken when presence changes, so the flusher can sleep while nothing happens.
    pub activity: tokio::sync::Notify,
}

impl SessionHub {
    pub fn register(&self, conn_id: &str, entry: SessionEntry) {
        let listed = entry.wants_presence;
        self.sessions.write().insert(conn_id.to_string(), entry);
        self.total.fetch_add(1, Ordering::Relaxed);
        if listed {
            self.presence_changed();
        }
    }

    pub fn deregister(&self, conn_id: &str) {
        let removed = {
            let mut map = self.sessions.write();
            let removed = map.remove(conn_id);
            // A map never shrinks on its own: after a burst of connections its table would stay
            // sized for the peak. Halving when a quarter full keeps the work amortized.
            if map.capacity() > 64 && map.len() * 4 < map.capacity() {
                let keep = map.len() * 2;
                map.shrink_to(keep);
            }
            removed
        };
        if removed.is_some() {
            self.subs.write().retain(|_, conns| {
                conns.retain(|c| c != conn_id);
                !conns.is_empty()
            });
        }
        if removed.is_some_and(|s| s.wants_presence) {
            self.presence_changed();
        }
    }

    pub fn active(&self) -> usize {
        self.sessions.read().len()
    }

    /// Sessions accepted since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn state_version(&self) -> Value {
        json!({"presence": self.presence_version.load(Ordering::Relaxed), "health": self.health_version.load(Ordering::Relaxed)})
    }

    /// Presence lists long-lived clients (UIs, apps, nodes, backends); CLIs, probes and
    /// tests come and go and would make every `hello-ok` snapshot O(connections).
    pub fn presence(&self) -> Vec<Value> {
        self.sessions.read().values().filter(|s| s.wants_presence).map(|s| s.presence.clone()).collect()
    }

    fn presence_changed(&self) {
        self.presence_version.fetch_add(1, Ordering::Relaxed);
        self.presence_dirty.store(true, Ordering::Relaxed);
        self.activity.notify_one();
    }

    /// Whether a presence change waits for the next flush.
    pub fn presence_pending(&self) -> bool {
        self.presence_dirty.load(Ordering::Relaxed)
    }

    /// Sends one coalesced `presence` event if anything changed since the last flush
    /// (called about once a second, so a burst of connects costs one broadcast).
    pub fn flush_presence(&self) {
        if !self.presence_dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let payload = Arc::new(json!({"presence": self.presence()}));
        let push = Push::Event { name: "presence", payload, droppable: true, scope: None };
        for s in self.sessions.read().values().filter(|s| s.wants_presence) {
            deliver(s, push.clone());
        }
    }

    /// `conn` follows chat session `key` from now on (until it disconnects).
    pub fn subscribe(&self, conn: &str, key: &str) {
        let mut subs = self.subs.write();
        let conns = subs.entry(key.to_string()).or_default();
        if !conns.iter().any(|c| c == conn) {
            conns.push(conn.to_string());
        }
    }

    /// Sends to the followers of chat session `key`.
    pub fn to_followers(&self, key: &str, push: Push) {
        let Some(conns) = self.subs.read().get(key).cloned() else { return };
        let sessions = self.sessions.read();
        for c in conns {
            if let Some(s) = sessions.get(&c) {
                deliver(s, push.clone());
            }
        }
    }

    /// Sends to every session; a full mailbox is a slow consumer and is cut.
    pub fn broadcast(&self, push: Push) {
        for s in self.sessions.read().values() {
            if let Push::Event { scope: Some(needed), .. } = &push
                && !s.scopes.allows(needed)
            {
                continue;
            }
            deliver(s, push.clone());
        }
    }

    /// Closes the sessions of one device role (token revoked).
    pub fn close_device(&self, device_id: &str, role: &str, reason: &str) {
        for s in self.sessions.read().values() {
            if s.device_id.as_deref() == Some(device_id) && s.role == role {
                let _ = s.addr.try_send(Push::Close { code: crate::protocol::close::POLICY, reason: reason.into() });
            }
        }
    }

    /// Tells every session the gateway is stopping or restarting.
    pub fn shutdown_all(&self, restarting: bool) {
        let (reason, restart_expected_ms) =
            if restarting { ("gateway restarting", Some(1500)) } else { ("gateway stopping", None) };
        self.broadcast(Push::Shutdown { reason, restart_expected_ms });
    }
}

/// Queues `push` for one session; an event that must not be dropped and cannot be queued
/// cuts the client (slow consumer).
fn deliver(s: &SessionEntry, push: Push) {
    if let Err(SendError::Full(p)) = s.addr.try_send(push)
        && matches!(p, Push::Event { droppable: false, .. })
    {
        s.addr.do_send(Push::Close { code: crate::protocol::close::POLICY, reason: "slow consumer".into() });
    }
}
impl crate::protocol::events::EventSink for SessionHub {
    fn to_followers(&self, key: &str, name: &'static str, payload: Arc<Value>) {
        SessionHub::to_followers(self, key, Push::Event { name, payload, droppable: false, scope: None });
    }

    fn broadcast(&self, name: &'static str, payload: Arc<Value>, scope: Option<&'static str>) {
        SessionHub::broadcast(self, Push::Event { name, payload, droppable: false, scope });
    }
}
