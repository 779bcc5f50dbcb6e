//! The wire contract's catalogue: every method this gateway serves with the scope it needs,
//! and every event it emits (`hello-ok.features`, authorization, per-method metrics).

use super::scope;

pub struct Method {
    pub name: &'static str,
    /// The scope needed (`operator.admin` satisfies all).
    pub scope: &'static str,
}

const fn m(name: &'static str, scope: &'static str) -> Method {
    Method { name, scope }
}

/// Every method this gateway serves.
pub const METHODS: &[Method] = &[
    m("health", scope::READ),
    m("status", scope::READ),
    m("system-presence", scope::READ),
    m("logs.tail", scope::READ),
    m("config.get", scope::ADMIN),
    m("config.schema", scope::ADMIN),
    m("config.set", scope::ADMIN),
    m("config.patch", scope::ADMIN),
    m("config.apply", scope::ADMIN),
    m("device.pair.list", scope::PAIRING),
    m("device.pair.approve", scope::PAIRING),
    m("device.pair.reject", scope::PAIRING),
    m("device.token.rotate", scope::PAIRING),
    m("device.token.revoke", scope::PAIRING),
    m("agent", scope::WRITE),
    m("agent.wait", scope::WRITE),
    m("chat.send", scope::WRITE),
    m("chat.history", scope::READ),
    m("chat.abort", scope::WRITE),
    m("sessions.list", scope::READ),
    m("sessions.reset", scope::ADMIN),
    m("sessions.delete", scope::ADMIN),
    m("sessions.preview", scope::READ),
    m("sessions.patch", scope::ADMIN),
    m("agents.list", scope::READ),
    m("agent.identity.get", scope::READ),
    m("node.list", scope::READ),
    m("channels.status", scope::READ),
    m("channels.pairing.list", scope::PAIRING),
    m("channels.pairing.approve", scope::PAIRING),
    m("skills.status", scope::READ),
    m("last-heartbeat", scope::READ),
    m("usage.status", scope::READ),
    m("usage.cost", scope::READ),
    m("exec.approvals.get", scope::ADMIN),
    m("exec.approvals.set", scope::ADMIN),
    m("exec.approval.resolve", scope::APPROVALS),
    m("exec.approval.list", scope::APPROVALS),
    m("models.list", scope::READ),
    m("memory.status", scope::READ),
    m("memory.search", scope::READ),
    m("lanes.status", scope::READ),
    m("cron.list", scope::READ),
    m("cron.status", scope::READ),
    m("cron.runs", scope::READ),
    m("cron.add", scope::ADMIN),
    m("cron.update", scope::ADMIN),
    m("cron.remove", scope::ADMIN),
    m("cron.run", scope::ADMIN),
];

/// Every event this gateway emits.
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "presence",
    "health",
    "shutdown",
    "device.pair.requested",
    "device.pair.resolved",
    "exec.approval.requested",
    "exec.approval.resolved",
    "agent",
    "chat",
    "cron",
];

/// `hello-ok.features` as JSON text: the same for every connection, so written once.
pub fn features_json() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let methods: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        serde_json::json!({"methods": methods, "events": EVENTS}).to_string()
    })
}
