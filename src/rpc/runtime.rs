//! What requests reach of a running gateway: read views of the facts their owners publish
//! (config, phase, children, reloads, listen addresses, TLS, mDNS) and the handles of the parts
//! requests act on (sessions, lanes, agents, metrics, the child registry). Built once by the
//! composition root; nothing here writes a fact another part owns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::actors::bonjour::MdnsState;
use crate::actors::children::{ChildRegistry, ChildStatus};
use crate::actors::hub::SessionHub;
use crate::agents::Agents;
use crate::config::LoadOptions;
use crate::config::live::{Live, LiveConfig, ReloadFacts};
use crate::lanes::Lanes;
use crate::lifecycle::PhaseView;
use crate::metrics::{Metrics, Scrape};
use crate::net::conn::Limit;
use crate::net::tls::TlsStore;

pub struct Runtime {
    pub started: Instant,
    pub config: LiveConfig,
    /// Where the config and the state live, the environment snapshot.
    pub options: Arc<LoadOptions>,
    pub phase: PhaseView,
    pub children: watch::Receiver<Vec<ChildStatus>>,
    pub reloads: watch::Receiver<ReloadFacts>,
    pub listen: watch::Receiver<Vec<SocketAddr>>,
    pub tls: watch::Receiver<Option<Arc<TlsStore>>>,
    pub mdns: watch::Receiver<MdnsState>,
    /// The current incarnation of each child, for requests that are its work.
    pub registry: Arc<ChildRegistry>,
    pub sessions: Arc<SessionHub>,
    pub lanes: Arc<Lanes>,
    pub agents: Arc<Agents>,
    /// The memory indexes (read: status and search; the memory actor keeps them current).
    pub memory: Arc<crate::memory::Memory>,
    /// What each channel account is doing (read; the channels actor and its accounts write it).
    pub channels: Arc<crate::channels::status::Board>,
    pub metrics: Arc<Metrics>,
    /// Open connections and refusals (counted by the listener's server).
    pub connections: Arc<crate::net::conn::Connections>,
    /// The parts of the health document that change only on events (written by `rpc::health`).
    pub health_cache: crate::rpc::health::Cache,
}

impl Runtime {
    /// The config in effect now.
    pub fn config(&self) -> Arc<Live> {
        self.config.get()
    }

    /// The scrape-time values `/metrics` reports from the facts other parts own.
    pub fn scrape(&self) -> Scrape {
        let reloads = self.reloads.borrow();
        Scrape {
            lanes: crate::lanes::NAMED.iter().filter_map(|n| Some((*n, self.lanes.get(n)?.stats()))).collect(),
            connections_active: self.sessions.active(),
            connections_total: self.sessions.total(),
            connections_open: self.connections.open(),
            connections_accepted: self.connections.accepted(),
            connections_refused: [Limit::Total, Limit::PerAddress].map(|l| (l.label(), self.connections.refused(l))),
            reloads: [reloads.applied, reloads.unchanged, reloads.rejected],
            child_restarts: self.children.borrow().iter().map(|c| (c.id, c.restarts)).collect(),
            rss_bytes: crate::sys::rss_bytes(),
        }
    }
}
