//! The gateway's health facts in one place: the `/health` document (HTTP and the `health`
//! method, and the snapshot in `hello-ok`) and the `status` method's view of the same facts.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::watch;

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

/// The deployment guide's §7.1 document plus children, reload state and listen addresses, as a
/// tree (`POST /rpc`; the socket and `GET /health` send the text): read back from the text, so
/// the moving facts are written in one place.
pub fn document(s: &Runtime) -> Value {
    serde_json::from_str(&document_text(s)).expect("the health document is valid JSON")
}

/// The document's facts that move with every connection and every second (the session
/// counters, the uptime, the RSS sample): kept out of the cached text and written into each
/// copy of it, so a burst of connections does not make every `health` call and every
/// `hello-ok` build the whole document again.
struct Moving {
    rss: u64,
    active: usize,
    total: u64,
    uptime: u64,
}

impl Moving {
    fn take(s: &Runtime) -> Self {
        Moving {
            rss: crate::sys::rss_bytes(),
            active: s.sessions.active(),
            total: s.sessions.total(),
            uptime: s.started.elapsed().as_secs(),
        }
    }

    /// The same members as JSON text, each preceded by a comma (they follow the settled ones).
    fn write_into(&self, out: &mut String) {
        use std::fmt::Write;
        let Moving { rss, active, total, uptime } = self;
        let _ = write!(
            out,
            r#","memory":{{"rss":{rss}}},"sessions":{{"active":{active},"total":{total}}},"uptime":{uptime}"#
        );
    }
}

/// Everything in the document but the [`Moving`] facts.
fn settled(s: &Runtime) -> Value {
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
        "phase": phase,
        "pid": std::process::id(),
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
/// agent were most of a `health` call), and the settled part of the last document rendered,
/// with what it was rendered from.
#[derive(Default)]
pub struct Cache {
    /// (config generation, mtime of `<state>/agents`, the tool sets).
    tools: parking_lot::Mutex<Option<(u64, Option<std::time::SystemTime>, Value)>>,
    rendered: parking_lot::Mutex<Option<Rendered>>,
    /// `<state>/agents` held open: its mtime by `fstat` walks no path (a `statx` of the path
    /// was about a tenth of the gateway's CPU in a `health` call). Opened again when it is a
    /// second old or the document is rendered, so a directory replaced is followed.
    agents_dir: parking_lot::Mutex<Option<(std::fs::File, std::time::Instant)>>,
}

struct Rendered {
    inputs: Inputs,
    watched: Watched,
    /// The settled members as JSON text, without the closing brace.
    text: Arc<str>,
}

/// The settled document's inputs that change without a notice (counters, the TLS pair a
/// refresh swaps in place), taken on every call and compared with the last document's.
#[derive(PartialEq)]
struct Inputs {
    phase: Phase,
    generation: u64,
    agents_mtime: Option<std::time::SystemTime>,
    lanes: crate::lanes::Figures,
    channels: serde_json::Map<String, Value>,
    tls: Option<String>,
}

impl Inputs {
    fn take(s: &Runtime) -> Self {
        Self {
            phase: s.phase.get(),
            generation: s.config().generation,
            agents_mtime: agents_mtime(s),
            lanes: s.lanes.figures(),
            channels: channels(s),
            tls: s.tls.borrow().as_ref().map(|t| t.fingerprint()),
        }
    }
}

/// The inputs published on watch channels, each seen as of the last document.
struct Watched {
    children: watch::Receiver<Vec<crate::actors::children::ChildStatus>>,
    reloads: watch::Receiver<crate::config::live::ReloadFacts>,
    listen: watch::Receiver<Vec<std::net::SocketAddr>>,
    tls: watch::Receiver<Option<Arc<crate::net::tls::TlsStore>>>,
    mdns: watch::Receiver<crate::actors::bonjour::MdnsState>,
}

impl Watched {
    /// Copies of the runtime's receivers, marked seen: what the document about to be rendered
    /// reads (a value sent after this is a change for the next call).
    fn seen_now(s: &Runtime) -> Self {
        let mut w = Self {
            children: s.children.clone(),
            reloads: s.reloads.clone(),
            listen: s.listen.clone(),
            tls: s.tls.clone(),
            mdns: s.mdns.clone(),
        };
        w.children.mark_unchanged();
        w.reloads.mark_unchanged();
        w.listen.mark_unchanged();
        w.tls.mark_unchanged();
        w.mdns.mark_unchanged();
        w
    }

    /// Whether any of them has a new value (a closed channel counts as one: never stale).
    fn changed(&self) -> bool {
        [
            self.children.has_changed(),
            self.reloads.has_changed(),
            self.listen.has_changed(),
            self.tls.has_changed(),
            self.mdns.has_changed(),
        ]
        .into_iter()
        .any(|c| c.unwrap_or(true))
    }
}

/// The document as JSON text: the settled part as last rendered while nothing it is made of
/// has changed (building it was most of a `health` call's cost; a client polling health mostly
/// asks again for the same facts), and the moving facts written in.
pub fn document_text(s: &Runtime) -> String {
    let mut out = String::new();
    write_document(s, &mut out);
    out
}

/// [`document_text`], appended to `out` (a response frame being written).
pub fn write_document(s: &Runtime, out: &mut String) {
    let settled = settled_text(s);
    out.reserve(settled.len() + 128);
    out.push_str(&settled);
    Moving::take(s).write_into(out);
    out.push('}');
}

fn settled_text(s: &Runtime) -> Arc<str> {
    let inputs = Inputs::take(s);
    let mut cache = s.health_cache.rendered.lock();
    if let Some(r) = cache.as_ref()
        && r.inputs == inputs
        && !r.watched.changed()
    {
        return r.text.clone();
    }
    let watched = Watched::seen_now(s);
    *s.health_cache.agents_dir.lock() = None;
    let mut text = settled(s).to_string();
    // The moving members and the closing brace follow (the settled part is never empty).
    text.pop();
    let text: Arc<str> = text.into();
    *cache = Some(Rendered { inputs, watched, text: text.clone() });
    text
}

fn agents_mtime(s: &Runtime) -> Option<std::time::SystemTime> {
    use std::os::unix::fs::MetadataExt;
    // A new agent is a new directory under agents/, which moves the directory's mtime.
    let mut dir = s.health_cache.agents_dir.lock();
    if let Some(meta) = dir
        .as_ref()
        .filter(|(_, opened)| opened.elapsed() < std::time::Duration::from_secs(1))
        .and_then(|(d, _)| d.metadata().ok())
        && meta.nlink() > 0
    {
        return meta.modified().ok();
    }
    *dir = std::fs::File::open(s.options.paths.state_dir.join("agents")).ok().map(|d| (d, std::time::Instant::now()));
    dir.as_ref()?.0.metadata().and_then(|m| m.modified()).ok()
}

/// Each agent's effective tool set (and the programs exec refuses, and its workspace).
pub fn tool_sets(s: &Runtime) -> Value {
    let live = s.config();
    let mtime = agents_mtime(s);
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
