//! The gateway's health facts in one place: the `/health` document (HTTP and the `health`
//! method, and the snapshot in `hello-ok`) and the `status` method's view of the same facts.

use serde_json::{Value, json};

use crate::actors::supervisor::ChildState;
use crate::config::redact::redact;
use crate::lifecycle::Phase;
use crate::rpc::Runtime;

/// `{active, total}` WebSocket sessions.
fn sessions(s: &Runtime) -> Value {
    json!({"active": s.sessions.active(), "total": s.sessions.total()})
}

fn listen(s: &Runtime) -> Vec<String> {
    s.listen.borrow().iter().map(ToString::to_string).collect()
}

fn last_reload(s: &Runtime) -> Value {
    redact(&serde_json::to_value(&s.reloads.borrow().last).unwrap_or_default())
}

/// The deployment guide's §7.1 document plus children, reload state and listen addresses.
pub fn document(s: &Runtime) -> Value {
    let phase = s.phase.get();
    let children = s.children.borrow().clone();
    let all_running = children.iter().all(|c| c.state == ChildState::Running);
    let channels = channels(s);
    let channels_ok = channels.values().all(|c| c["healthy"] == true);
    let status = match phase {
        Phase::Ready | Phase::Reloading if all_running && channels_ok => "ok",
        Phase::Ready | Phase::Reloading => "degraded",
        Phase::Starting => "starting",
        Phase::Draining | Phase::Stopped => "draining",
    };
    let live = s.config();
    let loaded = &live.loaded;
    let reloads = s.reloads.borrow().clone();
    json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": s.started.elapsed().as_secs(),
        "phase": phase,
        "pid": std::process::id(),
        "memory": { "rss": crate::sys::rss_bytes() },
        "sessions": sessions(s),
        "listen": listen(s),
        "children": children,
        "config": {
            "path": s.options.paths.config,
            "exists": loaded.file_exists,
            "hash": loaded.hash,
            "generation": live.generation,
            "reloadMode": loaded.config.gateway.reload.mode,
            "lastReload": last_reload(s),
            "reloads": {
                "applied": reloads.applied,
                "unchanged": reloads.unchanged,
                "rejected": reloads.rejected,
            },
        },
        "logging": { "level": loaded.config.logging.level },
        "mdns": s.mdns.borrow().clone(),
        "lanes": s.lanes.snapshot(),
        "channels": channels,
        "tools": tool_sets(s),
        "tls": match s.tls.borrow().as_ref() {
            Some(t) => json!({"enabled": true, "fingerprint": t.fingerprint(), "cert": t.files().0}),
            None => json!({"enabled": false}),
        },
    })
}

/// Each channel account ("discord:default"): running, connected, the last inbound message, and
/// healthy unless it is connected but silent past `channels.staleAfterSeconds` while traffic is
/// expected (a socket that looks fine and receives nothing).
fn channels(s: &Runtime) -> serde_json::Map<String, Value> {
    let stale_ms = i64::from(s.config().loaded.config.channels.stale_after_seconds) * 1000;
    let now = crate::sys::now_ms();
    s.channels
        .all()
        .into_iter()
        .map(|(channel, account, st)| {
            let stale = crate::channels::status::stale(&st, now, stale_ms);
            let v = json!({"running": st.running, "connected": st.connected, "lastInboundAt": st.last_inbound_at,
                           "lastError": st.last_error, "stale": stale, "healthy": !stale});
            (format!("{channel}:{account}"), v)
        })
        .collect()
}

/// What the health document keeps between calls: each agent's tool set, which depends only
/// on the config and on which agents exist (a directory listing and a policy evaluation per
/// agent were most of a `health` call).
#[derive(Default)]
pub struct Cache {
    /// (config generation, mtime of `<state>/agents`, the tool sets).
    tools: parking_lot::Mutex<Option<(u64, Option<std::time::SystemTime>, Value)>>,
}

/// Each agent's effective tool set (and the programs exec refuses, and its workspace).
pub fn tool_sets(s: &Runtime) -> Value {
    let live = s.config();
    // A new agent is a new directory under agents/, which moves the directory's mtime.
    let agents_dir = s.options.paths.state_dir.join("agents");
    let mtime = std::fs::metadata(&agents_dir).and_then(|m| m.modified()).ok();
    let mut cache = s.health_cache.tools.lock();
    if let Some((generation, at, v)) = cache.as_ref()
        && *generation == live.generation
        && *at == mtime
    {
        return v.clone();
    }
    let v = crate::agents::toolbox::tool_sets(&live.loaded.config, &s.options.paths.state_dir);
    *cache = Some((live.generation, mtime, v.clone()));
    v
}

/// `status`: the same facts as the health document, in the RPC's own arrangement.
pub fn status(s: &Runtime) -> Value {
    let live = s.config();
    let cfg = &live.loaded.config;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": s.started.elapsed().as_millis() as u64,
        "phase": s.phase.get(),
        "pid": std::process::id(),
        "host": crate::sys::hostname(),
        "bind": cfg.gateway.bind,
        "listen": listen(s),
        "auth": {"mode": cfg.gateway.auth.mode},
        "sessions": sessions(s),
        "config": {"path": s.options.paths.config, "hash": live.loaded.hash, "generation": live.generation,
                   "lastReload": last_reload(s)},
        "children": s.children.borrow().clone(),
        "lanes": s.lanes.snapshot(),
    })
}
