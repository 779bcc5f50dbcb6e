//! The one place signals are handled (actix-web's own handling is disabled): each becomes an
//! intent for the running gateway, sent through its [`Handle`] like any other asker's.
//!
//! | signal          | intent                                                        |
//! |-----------------|---------------------------------------------------------------|
//! | SIGHUP          | reopen the log file, reload the config                        |
//! | SIGTERM, SIGINT | graceful stop (exit 0); a second one exits at once (128+sig) |
//! | SIGUSR1         | restart every child in place                                  |

use std::path::PathBuf;

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_tokio::Signals;

use crate::gateway::{Handle, Intent};
use crate::state::pidfile;

/// Registers the handlers and spawns the loop on the current arbiter. `pid_file` is removed
/// (when still ours) before a second stop signal exits without draining.
pub fn listen(gateway: Handle, pid_file: PathBuf) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR1])?;
    actix_rt::spawn(async move {
        let mut stopping = false;
        while let Some(sig) = signals.next().await {
            match sig {
                SIGHUP => {
                    tracing::info!("SIGHUP: reopening the log file and reloading the config");
                    gateway.send(Intent::Reload { by: "SIGHUP" });
                }
                SIGTERM | SIGINT if !stopping => {
                    stopping = true;
                    let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                    gateway.stop(format!("{name} received"));
                }
                SIGTERM | SIGINT => {
                    tracing::warn!("second stop signal: exiting at once without draining");
                    pidfile::remove_if_ours(&pid_file);
                    std::process::exit(128 + sig);
                }
                SIGUSR1 => gateway.send(Intent::RestartAll),
                _ => {}
            }
        }
    });
    Ok(())
}
