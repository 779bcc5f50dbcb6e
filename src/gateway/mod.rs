//! The composition root: builds the runtime state of one gateway, starts the supervisor with
//! its children, carries out stop/reload intents, and returns the exit code. [`run`] wraps it
//! in the process concerns of `openclaw gateway`; [`Gateway::serve`] runs one inside any
//! process (several at once in a test), stopped by a future instead of a signal.

mod process;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, Addr};
use tokio::sync::{mpsc, watch};

pub use self::process::{GatewayOptions, run};
use crate::actors::bonjour::{BonjourHandles, MdnsState};
use crate::actors::children::ChildRegistry;
use crate::actors::config::{ConfigHandles, ReloadOutcome, Trigger, request_reload};
use crate::actors::hub::SessionHub;
use crate::actors::listener::ListenerHandles;
use crate::actors::supervisor::{ChildSpec, RestartAll, Shutdown, Stopping, Supervisor, SupervisorHandles};
use crate::actors::{auth, bonjour, channels, config as config_actor, cron, lane, listener, memory};
use crate::agents::{AgentDeps, Agents};
use crate::auth::secret::Ahead;
use crate::config::live::{ConfigChanged, LiveConfig};
use crate::config::{LoadOptions, Loaded, Paths};
use crate::exit;
use crate::lanes::Lanes;
use crate::lifecycle::Phase;
use crate::logging::Logging;
use crate::metrics::Metrics;
use crate::net::tls::TlsStore;
use crate::rpc::Runtime;
use crate::topic::{Topic, topic};
use actix_web::dev::ServerHandle;

/// What a running gateway can be asked to do. Signals are one producer (see `signals`), a
/// [`Handle`] and the shutdown future of [`Gateway::serve`] the others.
#[derive(Debug)]
pub enum Intent {
    /// Reopen the log file and reload the config; `by` names the asker in the log.
    Reload { by: &'static str },
    /// Stop gracefully: children in reverse order, exit code 0.
    Stop { reason: String },
    /// Rebuild every child in place.
    RestartAll,
}

/// How long after start the sandbox is probed for the start's warning.
const SANDBOX_PROBE_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// One gateway, built and not yet running: its parts and their handles are made and wired,
/// no actor runs.
pub struct Gateway {
    runtime: Arc<Runtime>,
    owners: Owners,
    logging: Option<Logging>,
    intents: mpsc::UnboundedSender<Intent>,
    inbox: mpsc::UnboundedReceiver<Intent>,
}

/// The write halves, each handed to the one child (or the supervisor) that owns the fact.
struct Owners {
    config: ConfigHandles,
    supervisor: SupervisorHandles,
    listen: watch::Sender<Vec<SocketAddr>>,
    tls: watch::Sender<Option<Arc<TlsStore>>>,
    mdns: watch::Sender<MdnsState>,
    server: watch::Sender<Option<ServerHandle>>,
    /// The token being resolved (and generated at first start) while the gateway starts.
    token: Ahead,
}

/// Reaches a gateway from any thread, before, while and after it runs.
#[derive(Clone)]
pub struct Handle {
    runtime: Arc<Runtime>,
    intents: mpsc::UnboundedSender<Intent>,
}

impl Gateway {
    /// Builds the runtime state from a loaded config. `logging` is the process's subscriber
    /// when this gateway owns it (it then follows config changes and SIGHUP); `None` leaves
    /// logging to whoever set up the process.
    pub fn new(loaded: Loaded, load_options: LoadOptions, logging: Option<Logging>) -> Self {
        let paths = load_options.paths.clone();
        let (config, writer) = LiveConfig::new(loaded);
        let live = config.get();
        let loaded = &live.loaded;
        let token = Ahead::start(live.clone(), paths.clone());
        // The gateway only reads models.json; making an empty one is a convenience that a
        // read-only agent directory (the production guide's EROFS case) must not turn fatal.
        match crate::agents::models::seed(&paths.state_dir, "main") {
            Ok(true) => tracing::info!(path = %crate::agents::models::path(&paths.state_dir, "main").display(),
                "created an empty model catalogue; add providers to it"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "model catalogue not created"),
        }
        if let Some(line) = crate::config::upstream::ignored_line(&loaded.ignored) {
            tracing::warn!(keys = %loaded.ignored.join(","), "config: {line}");
        }
        for note in &loaded.notes {
            tracing::info!("config: {note}");
        }
        let sandbox_mode = loaded.config.agents.defaults.sandbox.mode;
        if sandbox_mode != crate::config::model::SandboxMode::Off {
            // The probe runs bwrap once (about 20 ms, setting up namespaces): on a thread of its
            // own and a second after start, as it took a share of the CPUs from the start on a
            // small machine. A sandboxed run before then probes itself (the answer is kept).
            std::thread::spawn(move || {
                std::thread::sleep(SANDBOX_PROBE_DELAY);
                if let Some(w) = crate::sandbox::unavailable_warning(sandbox_mode, &crate::sandbox::backend()) {
                    tracing::warn!("sandbox: {w}");
                }
            });
        }
        let options = Arc::new(load_options);
        let lanes = Arc::new(Lanes::new(&loaded.config));
        let (phase_writer, reload_phase, phase) = crate::lifecycle::phase();
        let (children_tx, children) = watch::channel(Vec::new());
        let (reloads_tx, reloads) = watch::channel(Default::default());
        let (listen_tx, listen) = watch::channel(Vec::new());
        let (tls_tx, tls) = watch::channel(None);
        let (server_tx, server) = watch::channel(None);
        let (mdns_tx, mdns) = watch::channel(MdnsState::Starting);
        let (changes, change_topic) = topic::<ConfigChanged>();
        let (stopping, stop_topic) = topic::<Stopping>();
        let sessions = Arc::new(SessionHub::default());
        let registry = Arc::new(ChildRegistry::default());
        let memory = crate::memory::Memory::new(paths.state_dir.clone(), options.env.clone());
        let agents = Agents::new(AgentDeps {
            config: config.clone(),
            options: options.clone(),
            lanes: lanes.clone(),
            events: sessions.clone(),
            memory: Some(memory.clone()),
            listen: listen.clone(),
        });
        let runtime = Arc::new(Runtime {
            started: Instant::now(),
            config: config.clone(),
            options: options.clone(),
            phase,
            children,
            reloads,
            listen: listen.clone(),
            tls: tls.clone(),
            mdns,
            registry: registry.clone(),
            sessions,
            lanes,
            agents,
            memory,
            channels: crate::channels::status::Board::new(),
            metrics: Arc::new(Metrics::default()),
            connections: Arc::default(),
            health_cache: Default::default(),
        });
        let owners = Owners {
            config: ConfigHandles {
                writer,
                options,
                changes,
                reloads: reloads_tx,
                phase: reload_phase,
                tls,
                listen: listen.clone(),
                listener: listener::ID,
                server,
            },
            supervisor: SupervisorHandles {
                config,
                phase: phase_writer,
                listen,
                children: children_tx,
                registry,
                stopping,
            },
            listen: listen_tx,
            tls: tls_tx,
            mdns: mdns_tx,
            server: server_tx,
            token,
        };
        if let Some(logging) = &logging {
            follow_logging(&change_topic, logging.clone(), paths);
        }
        wire(&runtime, &change_topic, &stop_topic);
        let (intents, inbox) = mpsc::unbounded_channel();
        Self { runtime, owners, logging, intents, inbox }
    }

    /// Marks the gateway as the process's service: it speaks to systemd (sd_notify, the
    /// watchdog) and releases the binary's start-up pages. Only `openclaw gateway` does this.
    fn serve_as_service(&self) {
        self.owners.supervisor.phase.serve_as_service();
    }

    pub fn handle(&self) -> Handle {
        Handle { runtime: self.runtime.clone(), intents: self.intents.clone() }
    }

    /// Runs the gateway on the calling thread (its own actix system) until the supervisor
    /// ends on its own (a failed start, an exhausted restart budget) or `shutdown` resolves,
    /// which stops it gracefully like SIGTERM. Returns the exit code.
    pub fn serve(self, shutdown: impl Future<Output = ()> + 'static) -> i32 {
        self.serve_with(shutdown, || Ok(()))
    }

    /// `serve`, with `before_start` run inside the runtime before the supervisor starts (so
    /// signal handlers are in place before a child runs); its `Err` is the exit code.
    fn serve_with(
        self,
        shutdown: impl Future<Output = ()> + 'static,
        before_start: impl FnOnce() -> Result<(), i32>,
    ) -> i32 {
        let stopper = self.handle();
        let Self { runtime, owners, logging, inbox, .. } = self;
        let system = actix::System::new();
        let setup = system.block_on(async {
            before_start()?;
            let Owners { config, supervisor, listen, tls, mdns, server, token } = owners;
            let specs = children(&runtime, config, listen, tls, mdns, server, token);
            let registry = runtime.registry.clone();
            let addr = Supervisor::new(specs, supervisor).start();
            actix_rt::spawn(carry_out(inbox, logging, registry, addr));
            actix_rt::spawn(async move {
                shutdown.await;
                stopper.stop("shutdown requested");
            });
            let (hub, connections) = (runtime.sessions.clone(), runtime.connections.clone());
            actix_rt::spawn(async move {
                let mut trim = TrimAfterBursts::default();
                loop {
                    // Nothing connected, nothing to say, nothing to give back: sleep until a
                    // connection or a presence change (an idle gateway does not wake for this).
                    let active = connections.held().max(hub.active());
                    if active == 0 && !hub.presence_pending() && trim.idle() {
                        tokio::select! {
                            _ = hub.activity.notified() => {}
                            _ = connections.activity.notified() => {}
                        }
                    }
                    actix_rt::time::sleep(PRESENCE_FLUSH).await;
                    hub.flush_presence();
                    // Held connections (each session is one): a burst of bare connections
                    // (a flood of half-open ones, refused or not) costs memory too.
                    let active = connections.held().max(hub.active());
                    if trim.due(active) {
                        let before = crate::sys::rss_bytes();
                        let released = crate::sys::release_free_memory();
                        crate::lifecycle::release_code_pages();
                        tracing::debug!(active, released, rss_before = before, "memory released after a burst");
                    }
                }
            });
            Ok(())
        });
        if let Err(code) = setup {
            return code;
        }
        system.run_with_code().unwrap_or(exit::SOFTWARE)
    }
}

/// The children, in start order, each given the handles it declares. Later features add
/// theirs here.
fn children(
    rt: &Arc<Runtime>,
    config: ConfigHandles,
    listen: watch::Sender<Vec<SocketAddr>>,
    tls: watch::Sender<Option<Arc<TlsStore>>>,
    mdns: watch::Sender<MdnsState>,
    server: watch::Sender<Option<ServerHandle>>,
    token: Ahead,
) -> Vec<ChildSpec> {
    let auth = auth::AuthHandles {
        config: rt.config.clone(),
        options: rt.options.clone(),
        listen: rt.listen.clone(),
        metrics: rt.metrics.clone(),
        sessions: rt.sessions.clone(),
        ahead: token,
    };
    let lanes = lane::LaneHandles { lanes: rt.lanes.clone(), phase: rt.phase.clone(), config: rt.config.clone() };
    let cron = cron::CronHandles {
        config: rt.config.clone(),
        options: rt.options.clone(),
        sessions: rt.sessions.clone(),
        registry: rt.registry.clone(),
        lanes: rt.lanes.clone(),
        agents: rt.agents.clone(),
    };
    let listener = ListenerHandles {
        config: rt.config.clone(),
        options: rt.options.clone(),
        registry: rt.registry.clone(),
        listen,
        tls,
        connections: rt.connections.clone(),
        server,
    };
    let bonjour = BonjourHandles {
        config: rt.config.clone(),
        options: rt.options.clone(),
        listen: rt.listen.clone(),
        tls: rt.tls.clone(),
        state: mdns,
    };
    let memory = memory::MemoryHandles { config: rt.config.clone(), memory: rt.memory.clone() };
    let channels = channels::ChannelsHandles {
        config: rt.config.clone(),
        options: rt.options.clone(),
        agents: rt.agents.clone(),
        board: rt.channels.clone(),
        metrics: rt.metrics.clone(),
    };
    let (for_routes, for_upgrade) = (rt.clone(), rt.clone());
    let edge = listener::Edge {
        routes: Arc::new(move |cfg| crate::http::routes(cfg, &for_routes)),
        upgrade: Arc::new(move |req, framed| Box::pin(crate::http::upgrade::serve(for_upgrade.clone(), req, framed))),
    };
    let mut specs = vec![config_actor::spec(config), auth::spec(auth)];
    specs.extend(lane::IDS.map(|id| lane::spec(id, lanes.clone())));
    specs.extend([
        cron::spec(cron),
        memory::spec(memory),
        channels::spec(channels),
        listener::spec(edge, listener),
        bonjour::spec(bonjour),
    ]);
    specs
}

impl Handle {
    /// The addresses the listener is bound to (empty until it is).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.runtime.listen.borrow().clone()
    }

    pub fn phase(&self) -> Phase {
        self.runtime.phase.get()
    }

    /// The listen addresses once every child has started and the gateway serves.
    pub fn ready(&self) -> Option<Vec<SocketAddr>> {
        self.phase().is_ready().then(|| self.local_addrs())
    }

    /// Where this gateway keeps its state.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.runtime.options.paths.state_dir
    }

    /// Asks for `intent`; a gateway that has ended ignores it.
    pub fn send(&self, intent: Intent) {
        let _ = self.intents.send(intent);
    }

    /// What SIGHUP does: reopen the log file and reload the config (recorded as trigger
    /// `signal`).
    pub fn reload(&self) {
        self.send(Intent::Reload { by: "reload request" });
    }

    /// What SIGTERM does: a graceful stop with exit code 0.
    pub fn stop(&self, reason: impl Into<String>) {
        self.send(Intent::Stop { reason: reason.into() });
    }
}

/// Carries out intents, in the order they were asked, for as long as the gateway runs.
async fn carry_out(
    mut inbox: mpsc::UnboundedReceiver<Intent>,
    logging: Option<Logging>,
    registry: Arc<ChildRegistry>,
    supervisor: Addr<Supervisor>,
) {
    while let Some(intent) = inbox.recv().await {
        match intent {
            Intent::Reload { by } => {
                if let Some(l) = &logging {
                    l.reopen();
                }
                let registry = registry.clone();
                actix_rt::spawn(async move {
                    if let ReloadOutcome::Skipped { reason } = request_reload(&registry, Trigger::Signal).await {
                        tracing::warn!(reason = %reason, "{by} reload skipped");
                    }
                });
            }
            Intent::Stop { reason } => supervisor.do_send(Shutdown { code: exit::OK, reason }),
            Intent::RestartAll => supervisor.do_send(RestartAll),
        }
    }
}

/// Gives memory back after a burst: once the connection count has fallen to at most half of its
/// peak since the last release (and by at least `TRIM_MIN_DROP` sessions) and stayed there for
/// a few ticks, the allocator's free pages go back to the kernel. Checked once a second; a
/// release costs a few milliseconds, so it is not done on every close.
#[derive(Default)]
struct TrimAfterBursts {
    peak: usize,
    quiet_ticks: u32,
}

const TRIM_MIN_DROP: usize = 256;
const TRIM_QUIET_TICKS: u32 = 3;

impl TrimAfterBursts {
    /// Whether no drop in connections could make a release due (so no tick is needed).
    fn idle(&self) -> bool {
        self.peak < TRIM_MIN_DROP
    }

    /// One tick with `active` sessions: whether to release memory now.
    fn due(&mut self, active: usize) -> bool {
        if active > self.peak {
            self.peak = active;
            self.quiet_ticks = 0;
            return false;
        }
        if self.peak < active * 2 || self.peak - active < TRIM_MIN_DROP {
            self.quiet_ticks = 0;
            return false;
        }
        self.quiet_ticks += 1;
        if self.quiet_ticks < TRIM_QUIET_TICKS {
            return false;
        }
        (self.peak, self.quiet_ticks) = (active, 0);
        true
    }
}

/// Presence changes are coalesced into at most one broadcast per this interval.
const PRESENCE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Who hears about a stop (sessions, lanes) and about config changes (Bonjour, lanes, cron,
/// auth). Subscriptions last as long as the gateway.
fn wire(rt: &Runtime, changes: &Topic<ConfigChanged>, stops: &Topic<Stopping>) {
    let (sessions, lanes) = (rt.sessions.clone(), rt.lanes.clone());
    stops
        .subscribe(move |stop| {
            sessions.shutdown_all(stop.restarting);
            if !stop.restarting {
                // Nothing new starts once the stop begins; running jobs get the grace period
                // while the lane children stop (last, after the listener).
                lanes.drain_all(lane::DRAIN_REASON);
            }
        })
        .forever();
    let registry = rt.registry.clone();
    on_change(changes, &[], move |_| {
        if let Some(b) = registry.get::<bonjour::BonjourActor>(bonjour::ID) {
            b.do_send(bonjour::Readvertise);
        }
    });
    let lanes = rt.lanes.clone();
    on_change(changes, &["agents", "cron", "lanes"], move |ev| lanes.apply(&ev.live.loaded.config));
    let registry = rt.registry.clone();
    on_change(changes, &["cron"], move |_| {
        if let Some(c) = registry.get::<cron::CronActor>(cron::ID) {
            c.do_send(cron::CronConfigChanged);
        }
    });
    let registry = rt.registry.clone();
    on_change(changes, &["memory", "agents", "models"], move |_| {
        if let Some(m) = registry.get::<memory::MemoryActor>(memory::ID) {
            m.do_send(memory::MemoryConfigChanged);
        }
    });
    let registry = rt.registry.clone();
    on_change(changes, &["channels", "messages", "session"], move |_| {
        if let Some(c) = registry.get::<channels::ChannelsActor>(channels::ID) {
            c.do_send(channels::ChannelsConfigChanged);
        }
    });
    let registry = rt.registry.clone();
    on_change(changes, &["gateway.auth", "gateway.bind", "gateway.host"], move |_| {
        if let Some(a) = registry.get::<auth::AuthActor>(auth::ID) {
            a.do_send(auth::AuthConfigChanged);
        }
    });
}

/// Calls `f` on config changes under any of `prefixes` (on every change when empty), for as
/// long as the gateway lives.
fn on_change(
    changes: &Topic<ConfigChanged>,
    prefixes: &'static [&'static str],
    f: impl Fn(&ConfigChanged) + Send + Sync + 'static,
) {
    changes
        .subscribe(move |ev| {
            if prefixes.is_empty() || prefixes.iter().any(|p| ev.diff.touches(p)) {
                f(ev);
            }
        })
        .forever();
}

/// Logging follows config changes: this subscriber is the proof that `ConfigChanged` reaches
/// its subscribers end to end.
fn follow_logging(changes: &Topic<ConfigChanged>, logging: Logging, paths: Paths) {
    on_change(changes, &["logging.level", "logging.file"], move |ev| {
        let cfg = &ev.live.loaded.config;
        if ev.diff.touches("logging.level") {
            logging.set_level(cfg.logging.level);
        }
        if ev.diff.touches("logging.file") {
            logging.set_file(crate::logging::log_file_path(cfg, &paths));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_released_once_a_burst_has_ended_and_not_during_one() {
        let mut t = TrimAfterBursts::default();
        let ticks =
            |t: &mut TrimAfterBursts, active: usize, n: usize| (0..n).map(|_| t.due(active)).collect::<Vec<_>>();
        assert!(ticks(&mut t, 10_000, 5).iter().all(|d| !d), "not while the burst holds");
        assert_eq!(ticks(&mut t, 10, 4), [false, false, true, false], "once, after three quiet ticks");
        assert!(ticks(&mut t, 200, 10).iter().all(|d| !d), "small swings never release");
        // A second burst after the first: released again once it ends.
        ticks(&mut t, 5_000, 1);
        assert_eq!(ticks(&mut t, 100, 3), [false, false, true]);
        // Fewer than TRIM_MIN_DROP sessions gone is not a burst, whatever the ratio.
        let mut small = TrimAfterBursts::default();
        ticks(&mut small, 100, 1);
        assert!(ticks(&mut small, 0, 10).iter().all(|d| !d));
    }
}
