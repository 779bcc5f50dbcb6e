//! The composition root: load config, take the state dir, set up logging, start the
//! supervisor with its children, handle signals, and return the exit code.

use std::sync::Arc;

use actix::Actor;

use crate::actors::supervisor::{self, ChildSpec, Supervisor};
use crate::actors::{auth, bonjour, config as config_actor, cron, lane, listener};
use crate::config::model::LogFormat;
use crate::config::{LoadOptions, Paths, load};
use crate::lifecycle::LIFECYCLE;
use crate::logging::Logging;
use crate::shared::Shared;
use crate::state::pidfile::{LockError, PidLock};
use crate::{exit, signals, state};

/// What `openclaw gateway` was asked to do.
pub struct GatewayOptions {
    pub load: LoadOptions,
    pub log_format: Option<LogFormat>,
    /// `--log-level` was given: it beats `RUST_LOG`.
    pub level_from_flag: bool,
}

/// The children, in start order. Later features add theirs here.
fn children(config_writer: crate::config::live::LiveWriter) -> Vec<ChildSpec> {
    let mut specs = vec![config_actor::spec(config_writer), auth::spec()];
    specs.extend(lane::IDS.map(lane::spec));
    specs.extend([cron::spec(), listener::spec(crate::http::routes), bonjour::spec()]);
    specs
}

/// Runs the gateway in the foreground until it is stopped; returns the process exit code.
pub fn run(opts: GatewayOptions) -> i32 {
    match crate::config::seed::apply(&opts.load) {
        Ok(crate::config::seed::Seeded::Copied) => {
            eprintln!("openclaw: copied the config seed into {}", opts.load.paths.config.display())
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("openclaw: {e}");
            return exit::CONFIG;
        }
    }
    let loaded = match load(&opts.load) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("openclaw: {e}\nFix these and start again (`openclaw config validate` checks without starting).");
            return exit::CONFIG;
        }
    };
    let paths = opts.load.paths.clone();
    if let Err(e) = state::ensure_dir(&paths.state_dir) {
        eprintln!("openclaw: cannot create the state directory {e}");
        return exit::CANTCREAT;
    }
    let cfg = &loaded.config;
    let logging = Logging::init(
        cfg.logging.level,
        opts.log_format.or(cfg.logging.format),
        crate::logging::log_file_path(cfg, &paths),
        opts.level_from_flag,
    );
    supervisor::install_panic_hook();
    let fd_limit = crate::lifecycle::raise_fd_limit();
    let lock = match PidLock::acquire(&paths.state_dir) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot take the state directory");
            eprintln!("openclaw: {e}");
            return match e {
                LockError::AlreadyRunning { .. } => exit::UNAVAILABLE,
                LockError::Io(_) => exit::CANTCREAT,
            };
        }
    };
    tracing::info!(
        target: LIFECYCLE,
        version = env!("CARGO_PKG_VERSION"), config = %paths.config.display(), config_exists = loaded.file_exists,
        state_dir = %paths.state_dir.display(), pid_file = %lock.pid_path().display(), fd_limit = ?fd_limit, "gateway starting"
    );
    // The gateway only reads models.json; making an empty one is a convenience that a
    // read-only agent directory (the production guide's EROFS case) must not turn fatal.
    match crate::agents::models::seed(&paths.state_dir, "main") {
        Ok(true) => tracing::info!(path = %crate::agents::models::path(&paths.state_dir, "main").display(),
            "created an empty model catalogue; add providers to it"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "model catalogue not created"),
    }
    let (shared, config_writer) = Shared::new(loaded, opts.load, Some(logging.clone()));
    subscribe_logging(&shared, logging, paths);
    wire_sessions(&shared);

    let system = actix::System::new();
    let setup = system.block_on(async {
        // `start` only schedules the supervisor; the signal handlers are in place before
        // its `started` runs, so a stop during start-up is already graceful.
        let addr = Supervisor::new(children(config_writer), shared.clone()).start();
        let hub = shared.clone();
        actix_rt::spawn(async move {
            let mut every = actix_rt::time::interval(PRESENCE_FLUSH);
            loop {
                every.tick().await;
                hub.sessions.flush_presence();
            }
        });
        signals::listen(shared.clone(), addr)
    });
    if let Err(e) = setup {
        eprintln!("openclaw: cannot install signal handlers: {e}");
        return exit::SOFTWARE;
    }
    let code = system.run_with_code().unwrap_or(exit::SOFTWARE);
    drop(lock);
    code
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
