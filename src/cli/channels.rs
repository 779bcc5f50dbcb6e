//! `openclaw channels status [--probe]` (the running gateway's `channels.status`) and
//! `openclaw pairing list|approve|reject`: DM pairing requests, read and answered in the state
//! directory directly, as upstream does (the gateway need not run; a file lock keeps the two
//! from losing each other's change).

use serde_json::{Value, json};

use super::client::ConnectArgs;
use crate::channels::pairing::Store;
use crate::channels::settings::{DISCORD, SLACK};
use crate::config::LoadOptions;
use crate::exit;

#[derive(clap::Subcommand, Debug)]
pub enum ChannelsCmd {
    /// Each channel account: configured, running, connected, last error, last message in and
    /// out; with --probe, whether Discord/Slack accept the token right now.
    Status {
        /// Ask each platform who the token belongs to (Discord GET /users/@me, Slack auth.test).
        #[arg(long)]
        probe: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum PairingCmd {
    /// Senders waiting for approval, with their codes (a code lives 1 h; at most 3 wait per channel).
    List {
        /// discord or slack (default: both).
        channel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Let the sender of a pairing code in: their next DM is answered.
    Approve {
        /// discord or slack.
        channel: String,
        /// The 8-character code the sender was given.
        code: String,
    },
    /// Drop a pairing request.
    Reject { channel: String, code: String },
}

fn ago(ms: i64) -> String {
    let s = (crate::sys::now_ms() - ms).max(0) / 1000;
    if s < 120 { format!("{s} s ago") } else { format!("{} min ago", s / 60) }
}

pub fn status(cmd: ChannelsCmd, opts: &LoadOptions) -> i32 {
    let ChannelsCmd::Status { probe, json, conn } = cmd;
    super::remote::with_client(&conn, opts, |c| {
        let v = c.call("channels.status", json!({"probe": probe}))?;
        if json {
            println!("{v}");
            return Ok(());
        }
        let order = v["channelOrder"].as_array().cloned().unwrap_or_default();
        if order.is_empty() {
            println!("no channels configured (channels.discord.token / channels.slack.botToken + appToken)");
        }
        for id in order.iter().filter_map(Value::as_str) {
            for a in v["channelAccounts"][id].as_array().cloned().unwrap_or_default() {
                let state = match (a["running"].as_bool(), a["connected"].as_bool()) {
                    (Some(true), Some(true)) => "connected",
                    (Some(true), _) => "connecting",
                    _ if a["configured"] == json!(false) => "not configured",
                    _ => "stopped",
                };
                println!("{id} ({}): {state}", a["accountId"].as_str().unwrap_or("default"));
                if let Some(e) = a["lastError"].as_str() {
                    println!("  last error: {e}");
                }
                for (k, label) in [("lastInboundAt", "last message in"), ("lastOutboundAt", "last message out")] {
                    if let Some(ms) = a[k].as_i64() {
                        println!("  {label}: {}", ago(ms));
                    }
                }
                if let Some(p) = a["probe"].as_object() {
                    match p.get("ok").and_then(Value::as_bool) {
                        Some(true) => {
                            println!("  probe: ok (bot {})", p.get("bot").map(Value::to_string).unwrap_or_default())
                        }
                        _ => println!("  probe: failed: {}", p.get("error").and_then(Value::as_str).unwrap_or("?")),
                    }
                }
            }
        }
        Ok(())
    })
}

fn channel_arg(c: &str) -> Result<&'static str, i32> {
    if let Some(known) = [DISCORD, SLACK].into_iter().find(|k| *k == c) {
        Ok(known)
    } else {
        eprintln!("openclaw: unknown channel {c:?}: use discord or slack");
        Err(exit::USAGE)
    }
}

pub fn pairing(cmd: PairingCmd, opts: &LoadOptions) -> i32 {
    let store = Store::new(&opts.paths.state_dir);
    let now = crate::sys::now_ms();
    let result = match cmd {
        PairingCmd::List { channel, json } => {
            let channels = match channel.as_deref().map(channel_arg) {
                Some(Ok(c)) => vec![c],
                Some(Err(code)) => return code,
                None => vec![DISCORD, SLACK],
            };
            let mut all = Vec::new();
            for c in channels {
                match store.pending(c, now) {
                    Ok(reqs) => all.extend(reqs.into_iter().map(|r| (c, r))),
                    Err(e) => {
                        eprintln!("openclaw: {e}");
                        return exit::CANTCREAT;
                    }
                }
            }
            if json {
                let list: Vec<Value> = all
                    .iter()
                    .map(|(c, r)| {
                        let mut v = serde_json::to_value(r).expect("serializes");
                        v["channel"] = json!(c);
                        v
                    })
                    .collect();
                println!("{}", json!({"requests": list}));
            } else if all.is_empty() {
                println!("no pairing requests waiting");
            } else {
                for (c, r) in &all {
                    let name = r.sender_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                    println!("{c}  {}  sender {}{name}  {}", r.code, r.sender_id, ago(r.created_at_ms));
                }
                println!("approve with: openclaw pairing approve <channel> <code>");
            }
            return exit::OK;
        }
        PairingCmd::Approve { channel, code } => match channel_arg(&channel) {
            Ok(c) => store.approve(c, &code.trim().to_uppercase(), now).map(|r| (c, "approved", r)),
            Err(code) => return code,
        },
        PairingCmd::Reject { channel, code } => match channel_arg(&channel) {
            Ok(c) => store.reject(c, &code.trim().to_uppercase(), now).map(|r| (c, "rejected", r)),
            Err(code) => return code,
        },
    };
    match result {
        Ok((c, done, Some(r))) => {
            println!("{done}: {c} sender {}", r.sender_id);
            exit::OK
        }
        Ok((c, _, None)) => {
            eprintln!(
                "openclaw: no pending {c} pairing request with that code (codes expire after 1 h); see openclaw pairing list"
            );
            exit::USAGE
        }
        Err(e) => {
            eprintln!("openclaw: {e}");
            exit::CANTCREAT
        }
    }
}
