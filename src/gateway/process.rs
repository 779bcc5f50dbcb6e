//! `openclaw gateway` as a process: the config seed, the state directory and its pid lock,
//! logging, the panic hook, the fd limit, systemd and signals around one [`Gateway`].

use crate::config::model::LogFormat;
use crate::config::{LoadOptions, load};
use crate::exit;
use crate::gateway::Gateway;
use crate::lifecycle::LIFECYCLE;
use crate::logging::Logging;
use crate::state::pidfile::{LockError, PidLock};
use crate::{signals, state};

/// What `openclaw gateway` was asked to do.
pub struct GatewayOptions {
    pub load: LoadOptions,
    pub log_format: Option<LogFormat>,
    /// `--log-level` was given: it beats `RUST_LOG`.
    pub level_from_flag: bool,
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
    crate::actors::supervisor::install_panic_hook();
    let fd_limit = crate::lifecycle::raise_fd_limit();
    let lock = match PidLock::acquire(&paths.state_dir) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot take the state directory");
            eprintln!("openclaw: {e}");
            return match e {
                LockError::Io(_) => exit::CANTCREAT,
                // Another process holds the state dir.
                _ => exit::UNAVAILABLE,
            };
        }
    };
    sweep_temp_files(&paths);
    tracing::info!(
        target: LIFECYCLE,
        version = env!("CARGO_PKG_VERSION"), config = %paths.config.display(), config_exists = loaded.file_exists,
        state_dir = %paths.state_dir.display(), pid_file = %lock.pid_path().display(), fd_limit = ?fd_limit, "gateway starting"
    );
    let gateway = Gateway::new(loaded, opts.load, Some(logging));
    gateway.serve_as_service();
    let handle = gateway.handle();
    let pid_file = lock.pid_path().to_path_buf();
    // Signals are the process's producer of stop and reload intents; nothing else stops it.
    let code = gateway.serve_with(std::future::pending(), move || {
        signals::listen(handle, pid_file).map_err(|e| {
            eprintln!("openclaw: cannot install signal handlers: {e}");
            exit::SOFTWARE
        })
    });
    drop(lock);
    code
}

/// Removes the temp files of writers killed mid-write (the lock is ours: no gateway writes
/// meanwhile), in the state dir and next to a config file kept elsewhere.
fn sweep_temp_files(paths: &crate::config::Paths) {
    let mut removed = state::sweep_temp_files(&paths.state_dir, None);
    if let (Some(dir), Some(name)) = (paths.config.parent(), paths.config.file_name())
        && !dir.starts_with(&paths.state_dir)
    {
        removed += state::sweep_temp_files(dir, Some(&name.to_string_lossy()));
    }
    if removed > 0 {
        tracing::warn!(removed, "removed temp files that writers killed mid-write left behind");
    }
}
