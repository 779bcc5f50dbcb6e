//! The composition root: builds the runtime state of one gateway, starts the supervisor with
//! its children, carries out stop/reload intents, and returns the exit code. [`run`] wraps it
//! in the process concerns of `openclaw gateway`; [`Gateway::serve`] runs one inside any
//! process (several at once in a test), stopped by a future instead of a signal.

mod process;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use actix::{Actor, Addr};
use tokio::sync::mpsc;

pub use self::process::{GatewayOptions, run};
use crate::actors::config::{ReloadOutcome, Trigger, request_reload};
use crate::actors::supervisor::{ChildSpec, RestartAll, Shutdown, Supervisor};
use crate::actors::{auth, bonjour, config as config_actor, cron, lane, listener};
use crate::config::live::LiveWriter;
use crate::config::{LoadOptions, Loaded, Paths};
use crate::exit;
use crate::lifecycle::Phase;
use crate::logging::Logging;
use crate::shared::Shared;

/// The children, in start order. Later features add theirs here.
fn children(config_writer: LiveWriter) -> Vec<ChildSpec> {
    let mut specs = vec![config_actor::spec(config_writer), auth::spec()];
    specs.extend(lane::IDS.map(lane::spec));
    specs.extend([cron::spec(), listener::spec(crate::http::routes), bonjour::spec()]);
    specs
}

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

/// One gateway, built and not yet running: its shared state is wired, no actor runs.
pub struct Gateway {
    shared: Arc<Shared>,
    config_writer: LiveWriter,
    intents: mpsc::UnboundedSender<Intent>,
    inbox: mpsc::UnboundedReceiver<Intent>,
}

/// Reaches a gateway from any thread, before, while and after it runs.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    intents: mpsc::UnboundedSender<Intent>,
}

impl Gateway {
    /// Builds the runtime state from a loaded config. `logging` is the process's subscriber
    /// when this gateway owns it (it then follows config changes and SIGHUP); `None` leaves
    /// logging to whoever set up the process.
    pub fn new(loaded: Loaded, load_options: LoadOptions, logging: Option<Logging>) -> Self {
        let paths = load_options.paths.clone();
        // The gateway only reads models.json; making an empty one is a convenience that a
        // read-only agent directory (the production guide's EROFS case) must not turn fatal.
        match crate::agents::models::seed(&paths.state_dir, "main") {
            Ok(true) => tracing::info!(path = %crate::agents::models::path(&paths.state_dir, "main").display(),
                "created an empty model catalogue; add providers to it"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "model catalogue not created"),
        }
        let (shared, config_writer) = Shared::new(loaded, load_options, logging.clone());
        if let Some(logging) = logging {
            subscribe_logging(&shared, logging, paths);
        }
        wire_sessions(&shared);
        let (intents, inbox) = mpsc::unbounded_channel();
        Self { shared, config_writer, intents, inbox }
    }

    /// Marks the gateway as the process's service: it speaks to systemd (sd_notify, the
    /// watchdog) and releases the binary's start-up pages. Only `openclaw gateway` does this.
    fn serve_as_service(&self) {
        self.shared.phase.serve_as_service();
    }

    pub fn handle(&self) -> Handle {
        Handle { shared: self.shared.clone(), intents: self.intents.clone() }
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
        let Self { shared, config_writer, inbox, .. } = self;
        let system = actix::System::new();
        let setup = system.block_on(async {
            before_start()?;
            let addr = Supervisor::new(children(config_writer), shared.clone()).start();
            actix_rt::spawn(carry_out(inbox, shared.clone(), addr));
            actix_rt::spawn(async move {
                shutdown.await;
                stopper.stop("shutdown requested");
            });
            let hub = shared;
            actix_rt::spawn(async move {
                let mut every = actix_rt::time::interval(PRESENCE_FLUSH);
                loop {
                    every.tick().await;
                    hub.sessions.flush_presence();
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

impl Handle {
    /// The addresses the listener is bound to (empty until it is).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared.listen.read().clone()
    }

    pub fn phase(&self) -> Phase {
        self.shared.phase.get()
    }

    /// The listen addresses once every child has started and the gateway serves.
    pub fn ready(&self) -> Option<Vec<SocketAddr>> {
        self.phase().is_ready().then(|| self.local_addrs())
    }

    /// Where this gateway keeps its state.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.shared.load_options.paths.state_dir
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
async fn carry_out(mut inbox: mpsc::UnboundedReceiver<Intent>, shared: Arc<Shared>, supervisor: Addr<Supervisor>) {
    while let Some(intent) = inbox.recv().await {
        match intent {
            Intent::Reload { by } => {
                if let Some(l) = &shared.logging {
                    l.reopen();
                }
                let shared = shared.clone();
                actix_rt::spawn(async move {
                    if let ReloadOutcome::Skipped { reason } = request_reload(&shared, Trigger::Signal).await {
                        tracing::warn!(reason = %reason, "{by} reload skipped");
                    }
                });
            }
            Intent::Stop { reason } => supervisor.do_send(Shutdown { code: exit::OK, reason }),
            Intent::RestartAll => supervisor.do_send(RestartAll),
        }
    }
}

/// Presence changes are coalesced into at most one broadcast per this interval.
const PRESENCE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Who hears about a stop (sessions, lanes) and about config changes (Bonjour, lanes, cron, auth).
fn wire_sessions(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    shared.on_stopping(move |restarting| {
        if let Some(s) = weak.upgrade() {
            s.sessions.shutdown_all(restarting);
            if !restarting {
                // Nothing new starts once the stop begins; running jobs get the grace period
                // while the lane children stop (last, after the listener).
                s.lanes.drain_all(lane::DRAIN_REASON);
            }
        }
    });
    on_change(shared, &[], |s, _| {
        if let Some(b) = s.registry.get::<bonjour::BonjourActor>(bonjour::ID) {
            b.do_send(bonjour::Readvertise);
        }
    });
    on_change(shared, &["agents", "cron", "lanes"], |s, ev| s.lanes.apply(&ev.live.loaded.config));
    on_change(shared, &["cron"], |s, _| {
        if let Some(c) = s.registry.get::<cron::CronActor>(cron::ID) {
            c.do_send(cron::CronConfigChanged);
        }
    });
    on_change(shared, &["gateway.auth", "gateway.bind", "gateway.host"], |s, _| {
        if let Some(a) = s.registry.get::<auth::AuthActor>(auth::ID) {
            a.do_send(auth::AuthConfigChanged);
        }
    });
}

/// Calls `f` on config changes under any of `prefixes` (on every change when empty), for as
/// long as the gateway lives.
fn on_change(
    shared: &Arc<Shared>,
    prefixes: &'static [&'static str],
    f: impl Fn(&Shared, &config_actor::ConfigChanged) + Send + Sync + 'static,
) {
    let weak = Arc::downgrade(shared);
    shared.bus.subscribe(move |ev| {
        if (prefixes.is_empty() || prefixes.iter().any(|p| ev.diff.touches(p)))
            && let Some(s) = weak.upgrade()
        {
            f(&s, ev);
        }
    });
}

/// Logging follows config changes: this subscriber is the proof that `ConfigChanged` reaches
/// its subscribers end to end.
fn subscribe_logging(shared: &Arc<Shared>, logging: Logging, paths: Paths) {
    shared.bus.subscribe(move |ev| {
        let cfg = &ev.live.loaded.config;
        if ev.diff.touches("logging.level") {
            logging.set_level(cfg.logging.level);
        }
        if ev.diff.touches("logging.file") {
            logging.set_file(crate::logging::log_file_path(cfg, &paths));
        }
    });
}
