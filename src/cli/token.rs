//! `openclaw token rotate [--grace 10m]`: a new random gateway token written atomically to the
//! source in use (token file, generated file, or `gateway.auth.token` through the running
//! gateway's `config.set`), the old token honoured for the grace period, the gateway told.

use std::time::Duration;

use serde_json::json;

use super::client::{Client, ConnectArgs};
use crate::auth::secret::{self, SecretSource};
use crate::config::LoadOptions;
use crate::exit;

/// `30s`, `10m`, `2h`, `1500ms`.
pub fn parse_grace(s: &str) -> Result<Duration, String> {
    crate::config::schedule::duration_ms(s)
        .map(|ms| Duration::from_millis(ms.max(0) as u64))
        .map_err(|e| format!("--grace: {e}"))
}

fn signal_gateway(opts: &LoadOptions) -> Option<i32> {
    let pid = crate::state::pidfile::running_pid(&opts.paths.state_dir)?;
    // SAFETY: kill(2) on the gateway named by our own pid file.
    (unsafe { libc::kill(pid, libc::SIGHUP) } == 0).then_some(pid)
}

pub fn rotate(grace: Option<&str>, conn: &ConnectArgs, opts: &LoadOptions) -> i32 {
    let loaded = match crate::config::load(opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return exit::CONFIG;
        }
    };
    let grace = match grace.map(parse_grace).transpose() {
        Ok(g) => g.unwrap_or(Duration::from_millis(loaded.config.gateway.auth.previous_token_grace_ms)),
        Err(e) => {
            eprintln!("openclaw: {e}");
            return exit::USAGE;
        }
    };
    let current = match secret::resolve_token(&loaded, &opts.paths, false) {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprintln!(
                "openclaw: no gateway token is in use (auth mode {:?} with none configured); start the gateway once \
                 in token mode to generate one",
                loaded.config.gateway.auth.mode
            );
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("openclaw: {e}");
            return exit::CONFIG;
        }
    };
    let new = crate::auth::random_token();
    // The grace the gateway should give the old token, read when it sees the change.
    if let Err(e) = secret::write_rotation(&opts.paths.state_dir, grace) {
        eprintln!("warning: grace period not recorded ({e}); gateway.auth.previousTokenGraceMs applies");
    }
    match &current.source {
        SecretSource::Flag | SecretSource::Env(_) => {
            eprintln!(
                "openclaw: the token comes from {}; a rotation cannot change it. Set a new value there (or move it \
                 to a file: gateway.auth.tokenFile) and restart the gateway",
                current.source
            );
            return exit::USAGE;
        }
        SecretSource::File(p) | SecretSource::Generated(p) => {
            if let Err(e) = crate::state::atomic_write(p, format!("{new}\n").as_bytes(), crate::state::FILE_MODE) {
                eprintln!("openclaw: {e}");
                return exit::CANTCREAT;
            }
            println!("wrote a new token to {}", p.display());
            match signal_gateway(opts) {
                Some(pid) => println!("told the gateway (pid {pid}, SIGHUP)"),
                None => {
                    println!("no gateway running on {}; it uses the new token at start", opts.paths.state_dir.display())
                }
            }
        }
        SecretSource::Config(path) => {
            // Through the running gateway: it writes its config atomically and keeps comments
            // of other keys intact as JSON (env-derived values are never written back).
            let done = Client::connect(conn, opts).and_then(|mut c| {
                let hash = c.call("config.get", json!({}))?["hash"].clone();
                c.call("config.set", json!({"key": "gateway.auth.token", "value": new, "baseHash": hash}))
            });
            match done {
                Ok(_) => println!("wrote a new gateway.auth.token to {} (through the running gateway)", path.display()),
                Err(e) => {
                    eprintln!(
                        "openclaw: the token is gateway.auth.token in {}; rotating it needs the running gateway ({e}). \
                         Start it, or move the token to a file (gateway.auth.tokenFile)",
                        path.display()
                    );
                    return e.exit_code();
                }
            }
        }
    }
    println!(
        "the old token stays valid for {} s; update every client that uses it (gateway.remote.token, \
         OPENCLAW_GATEWAY_TOKEN in their environment, saved dashboard URLs) before then",
        grace.as_secs()
    );
    exit::OK
}

#[cfg(test)]
mod tests {
    #[test]
    fn grace_durations() {
        assert_eq!(super::parse_grace("10m").unwrap().as_secs(), 600);
        assert_eq!(super::parse_grace("1500ms").unwrap().as_millis(), 1500);
        assert!(super::parse_grace("soon").unwrap_err().starts_with("--grace: "));
    }
}
