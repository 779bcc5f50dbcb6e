//! The one place signals are handled (actix-web's own handling is disabled): each becomes an
//! intent for the supervisor or the ConfigActor.
//!
//! | signal          | intent                                                        |
//! |-----------------|---------------------------------------------------------------|
//! | SIGHUP          | reopen the log file, reload the config                        |
//! | SIGTERM, SIGINT | graceful stop (exit 0); a second one exits at once (128+sig) |
//! | SIGUSR1         | restart every child in place                                  |

use std::sync::Arc;

use actix::Addr;
use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_tokio::Signals;

use crate::actors::config::{ReloadOutcome, Trigger, request_reload};
use crate::actors::supervisor::{RestartAll, Shutdown, Supervisor};
use crate::exit;
use crate::shared::Shared;
use crate::state::pidfile;

/// Registers the handlers and spawns the loop on the current arbiter.
pub fn listen(shared: Arc<Shared>, supervisor: Addr<Supervisor>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR1])?;
    actix_rt::spawn(async move {
        let mut stopping = false;
        while let Some(sig) = signals.next().await {
            match sig {
                SIGHUP => {
                    tracing::info!("SIGHUP: reopening the log file and reloading the config");
                    if let Some(l) = &shared.logging {
                        l.reopen();
                    }
                    let shared = shared.clone();
                    actix_rt::spawn(async move { log_outcome(request_reload(&shared, Trigger::Signal).await) });
                }
                SIGTERM | SIGINT if !stopping => {
                    stopping = true;
                    let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                    supervisor.do_send(Shutdown { code: exit::OK, reason: format!("{name} received") });
                }
                SIGTERM | SIGINT => {
                    tracing::warn!("second stop signal: exiting at once without draining");
                    pidfile::remove_if_ours(&shared.load_options.paths.state_dir.join(pidfile::PID_FILE));
                    std::process::exit(128 + sig);
                }
                SIGUSR1 => supervisor.do_send(RestartAll),
                _ => {}
            }
        }
    });
    Ok(())
}

fn log_outcome(outcome: ReloadOutcome) {
    if let ReloadOutcome::Skipped { reason } = outcome {
        tracing::warn!(reason = %reason, "SIGHUP reload skipped");
    }
}
