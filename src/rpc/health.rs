//! The gateway's health facts in one place: the `/health` document (HTTP and the `health`
//! method, and the snapshot in `hello-ok`) and the `status` method's view of the same facts.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::actors::supervisor::ChildState;
use crate::config::redact::redact;
use crate::lifecycle::Phase;
use crate::shared::Shared;

/// `{active, total}` WebSocket sessions.
fn sessions(s: &Shared) -> Value {
    json!({"active": s.sessions.active(), "total": s.sessions.total.load(Ordering::Relaxed)})
}

fn listen(s: &Shared) -> Vec<String> {
    s.listen.read().iter().map(ToString::to_string).collect()
}

fn last_reload(s: &Shared) -> Value {
    redact(&serde_json::to_value(&*s.last_reload.read()).unwrap_or_default())
}

/// The deployment guide's §7.1 document plus children, reload state and listen addresses.
pub fn document(s: &Shared) -> Value {
    let phase = s.phase.get();
    let children = s.children.read().clone();
    let all_running = children.iter().all(|c| c.state == ChildState::Running);
    let status = match phase {
        Phase::Ready | Phase::Reloading if all_running => "ok",
        Phase::Ready | Phase::Reloading => "degraded",
        Phase::Starting => "starting",
        Phase::Draining | Phase::Stopped => "draining",
    };
    let live = s.config();
    let loaded = &live.loaded;
    json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": s.started.elapsed().as_secs(),
        "phase": phase,
        "pid": std::process::id(),
        "memory": { "rss": s.rss_bytes() },
        "sessions": sessions(s),
        "listen": listen(s),
        "children": children,
        "config": {
            "path": s.load_options.paths.config,
            "exists": loaded.file_exists,
            "hash": loaded.hash,
            "generation": live.generation,
            "reloadMode": loaded.config.gateway.reload.mode,
            "lastReload": last_reload(s),
            "reloads": {
                "applied": s.reloads.applied.load(Ordering::Relaxed),
                "unchanged": s.reloads.unchanged.load(Ordering::Relaxed),
                "rejected": s.reloads.rejected.load(Ordering::Relaxed),
            },
        },
        "logging": { "level": loaded.config.logging.level },
        "mdns": s.mdns.read().clone(),
        "lanes": s.lanes.snapshot(),
        "tls": match s.tls.read().as_ref() {
            Some(t) => json!({"enabled": true, "fingerprint": t.fingerprint(), "cert": t.files().0}),
            None => json!({"enabled": false}),
        },
    })
}

/// `status`: the same facts as the health document, in the RPC's own arrangement.
pub fn status(s: &Shared) -> Value {
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
        "config": {"path": s.load_options.paths.config, "hash": live.loaded.hash, "generation": live.generation,
                   "lastReload": last_reload(s)},
        "children": s.children.read().clone(),
        "lanes": s.lanes.snapshot(),
    })
}
