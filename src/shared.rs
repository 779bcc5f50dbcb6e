//! The facts every part of the gateway reads: live config, phase, children, reload record,
//! listen addresses, counters. Written by their owners, read lock-free or briefly locked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};

use crate::actors::children::{ChildRegistry, ChildStatus};
use crate::actors::hub::SessionHub;
pub use crate::config::live::Live;
use crate::config::live::{ConfigBus, LiveConfig, LiveWriter};
use crate::config::{LoadOptions, Loaded, Problem};
use crate::lifecycle::PhaseCell;
use crate::logging::Logging;

/// The last reload and its outcome (for `/health` and the RPC).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadRecord {
    pub at: DateTime<Utc>,
    pub trigger: String,
    pub outcome: String,
    pub problems: Vec<Problem>,
    pub changed: Vec<String>,
    pub restart_required: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Certificate reload result, when the files changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
}

#[derive(Debug, Default)]
pub struct ReloadCounters {
    pub applied: AtomicU64,
    pub unchanged: AtomicU64,
    pub rejected: AtomicU64,
}

/// Shared runtime state; one per gateway process.
pub struct Shared {
    pub started: Instant,
    pub phase: PhaseCell,
    config: LiveConfig,
    /// What later reloads start from (paths, environment snapshot, flags).
    pub load_options: LoadOptions,
    pub children: RwLock<Vec<ChildStatus>>,
    pub last_reload: RwLock<Option<ReloadRecord>>,
    pub reloads: ReloadCounters,
    /// Live WebSocket sessions: counts, presence, event fan-out.
    pub sessions: SessionHub,
    pub listen: RwLock<Vec<SocketAddr>>,
    /// The live TLS certificate when `gateway.tls.enabled` (owned by the listener).
    pub tls: RwLock<Option<Arc<crate::net::tls::TlsStore>>>,
    /// mDNS advertisement state for `/health` (owned by the BonjourActor).
    pub mdns: RwLock<serde_json::Value>,
    pub bus: ConfigBus,
    pub registry: ChildRegistry,
    /// Work lanes (queues outlive the LaneActors that dispatch them).
    pub lanes: crate::lanes::Lanes,
    /// Agent runs and chat sessions.
    pub agents: crate::agents::Agents,
    pub metrics: crate::metrics::Metrics,
    pub logging: Option<Logging>,
    rss: Mutex<(Option<Instant>, u64)>,
    stop_hooks: Mutex<Vec<StopHook>>,
}

/// Called when the gateway begins to stop (`false`) or to restart in place (`true`).
pub type StopHook = Box<dyn Fn(bool) + Send + Sync>;

impl Shared {
    /// The shared facts and the one write handle of the live config (for the ConfigActor).
    pub fn new(loaded: Loaded, load_options: LoadOptions, logging: Option<Logging>) -> (Arc<Self>, LiveWriter) {
        let lanes = crate::lanes::Lanes::new(&loaded.config);
        let (config, writer) = LiveConfig::new(loaded);
        let shared = Arc::new(Self {
            started: Instant::now(),
            phase: PhaseCell::default(),
            config,
            load_options,
            children: RwLock::new(Vec::new()),
            last_reload: RwLock::new(None),
            reloads: ReloadCounters::default(),
            sessions: SessionHub::default(),
            listen: RwLock::new(Vec::new()),
            tls: RwLock::new(None),
            mdns: RwLock::new(serde_json::json!({"state": "starting"})),
            bus: ConfigBus::default(),
            registry: ChildRegistry::default(),
            lanes,
            agents: crate::agents::Agents::default(),
            metrics: crate::metrics::Metrics::default(),
            logging,
            rss: Mutex::new((None, 0)),
            stop_hooks: Mutex::new(Vec::new()),
        });
        (shared, writer)
    }

    /// The config in effect now.
    pub fn config(&self) -> Arc<Live> {
        self.config.get()
    }

    /// A read handle on the live config, for parts that keep one.
    pub fn live(&self) -> LiveConfig {
        self.config.clone()
    }

    pub fn on_stopping(&self, hook: impl Fn(bool) + Send + Sync + 'static) {
        self.stop_hooks.lock().push(Box::new(hook));
    }

    /// Fact: the gateway is stopping (or restarting every child); hooks tell their clients.
    pub fn stopping(&self, restarting: bool) {
        for h in self.stop_hooks.lock().iter() {
            h(restarting);
        }
    }

    /// Re-reads the certificate files (a renewal): new handshakes use them; a bad pair is
    /// reported and the previous one stays in use.
    pub fn refresh_tls(&self) -> Option<String> {
        let store = self.tls.read().clone()?;
        match store.refresh() {
            Ok(true) => {
                tracing::info!(fingerprint = %store.fingerprint(), "TLS certificate reloaded; new connections use it");
                Some(format!("reloaded ({})", store.fingerprint()))
            }
            Ok(false) => None,
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                Some(format!("not reloaded: {e}"))
            }
        }
    }

    /// The scrape-time values `/metrics` reports from the facts kept here.
    pub fn scrape(&self) -> crate::metrics::Scrape {
        use std::sync::atomic::Ordering::Relaxed;
        crate::metrics::Scrape {
            lanes: crate::lanes::NAMED.iter().filter_map(|n| Some((*n, self.lanes.get(n)?.stats()))).collect(),
            connections_active: self.sessions.active(),
            connections_total: self.sessions.total.load(Relaxed),
            reloads: [&self.reloads.applied, &self.reloads.unchanged, &self.reloads.rejected].map(|c| c.load(Relaxed)),
            child_restarts: self.children.read().iter().map(|c| (c.id, c.restarts)).collect(),
            rss_bytes: self.rss_bytes(),
        }
    }

    /// Resident set size, sampled at most once a second (no file read per request).
    pub fn rss_bytes(&self) -> u64 {
        let mut guard = self.rss.lock();
        if guard.0.is_none_or(|t| t.elapsed().as_secs() >= 1) {
            *guard = (Some(Instant::now()), read_rss().unwrap_or(guard.1));
        }
        guard.1
    }
}

fn read_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}
