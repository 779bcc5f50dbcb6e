//! `openclaw gateway call`, `health`, `status`, `devices ...`, `approvals ...`: one RPC each, against the local
//! gateway (or `--url`), with human output or `--json`.

use serde_json::{Value, json};

use super::client::{Client, ClientError, ConnectArgs};
use crate::config::LoadOptions;

#[derive(clap::Subcommand, Debug)]
pub enum DevicesCmd {
    /// Pending pairing requests and paired devices.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a pairing request by its id or 6-digit code.
    Approve { request: String },
    /// Reject a pairing request by its id or 6-digit code.
    Reject { request: String },
    /// Revoke a device's token (its sessions are closed).
    Revoke {
        device_id: String,
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// Issue a new token for a device (printed once).
    Rotate {
        device_id: String,
        #[arg(long, default_value = "operator")]
        role: String,
        /// Comma-separated scopes for the new token (default: the approved ones).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ApprovalsCmd {
    /// Host commands waiting for an operator.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Let a waiting command run (`--always`: and add its programs to the agent's allowlist).
    Allow {
        id: String,
        #[arg(long)]
        always: bool,
    },
    /// Refuse a waiting command.
    Deny { id: String },
}

/// `openclaw approvals`: list and answer pending exec approvals (`exec.approval.list|resolve`).
pub fn approvals(cmd: ApprovalsCmd, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    with_client(args, opts, |c| match cmd {
        ApprovalsCmd::List { json } => {
            let v = c.call("exec.approval.list", json!({}))?;
            if json {
                println!("{v}");
                return Ok(());
            }
            let pending = v["pending"].as_array().cloned().unwrap_or_default();
            println!("pending ({}):", pending.len());
            let now = crate::sys::now_ms();
            for p in &pending {
                let r = &p["request"];
                println!(
                    "  {}  agent {}  session {}  expires in {} s\n      $ {}\n      in {} ({})",
                    p["id"].as_str().unwrap_or("?"),
                    r["agentId"].as_str().unwrap_or("?"),
                    r["sessionKey"].as_str().unwrap_or("?"),
                    (p["expiresAtMs"].as_i64().unwrap_or(now) - now).max(0) / 1000,
                    r["command"].as_str().unwrap_or("?"),
                    r["cwd"].as_str().unwrap_or("?"),
                    r["resolvedPath"].as_str().unwrap_or("?"),
                );
            }
            Ok(())
        }
        ApprovalsCmd::Allow { id, always } => {
            let decision = if always { "allow-always" } else { "allow-once" };
            c.call("exec.approval.resolve", json!({"id": id, "decision": decision}))?;
            println!("{id}: {decision}");
            Ok(())
        }
        ApprovalsCmd::Deny { id } => {
            c.call("exec.approval.resolve", json!({"id": id, "decision": "deny"}))?;
            println!("{id}: deny");
            Ok(())
        }
    })
}

/// Runs `f` with a connected client; maps failures to exit codes with their message.
pub(super) fn with_client(
    args: &ConnectArgs,
    opts: &LoadOptions,
    f: impl FnOnce(&mut Client) -> Result<(), ClientError>,
) -> i32 {
    let result = Client::connect(args, opts).and_then(|mut c| f(&mut c));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("openclaw: {e}");
            e.exit_code()
        }
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn call(method: &str, params: Option<&str>, json_out: bool, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    let params: Value = match params.map(json5::from_str::<Value>) {
        None => json!({}),
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            eprintln!("openclaw: --params is not valid JSON: {e}");
            return crate::exit::USAGE;
        }
    };
    with_client(args, opts, |c| {
        let v = c.call(method, params)?;
        if json_out {
            println!("{v}")
        } else {
            print(&v)
        }
        Ok(())
    })
}

pub fn health(json_out: bool, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    with_client(args, opts, |c| {
        let h = c.call("health", json!({}))?;
        if json_out {
            println!("{h}");
            return Ok(());
        }
        println!("status:   {}", h["status"].as_str().unwrap_or("?"));
        println!("version:  {}", h["version"].as_str().unwrap_or("?"));
        println!("uptime:   {}s", h["uptime"]);
        println!("listen:   {}", join(&h["listen"]));
        println!("sessions: {} active, {} total", h["sessions"]["active"], h["sessions"]["total"]);
        println!("memory:   {:.1} MiB RSS", h["memory"]["rss"].as_f64().unwrap_or(0.0) / 1048576.0);
        for c in h["children"].as_array().into_iter().flatten() {
            let failure =
                c["lastFailure"]["reason"].as_str().map(|r| format!(" (last failure: {r})")).unwrap_or_default();
            println!(
                "child:    {:<9} {} restarts={}{failure}",
                c["id"].as_str().unwrap_or("?"),
                c["state"].as_str().unwrap_or("?"),
                c["restarts"]
            );
        }
        let reload = &h["config"]["lastReload"];
        if !reload.is_null() {
            println!(
                "reload:   {} ({}) at {}",
                reload["outcome"].as_str().unwrap_or("?"),
                reload["trigger"].as_str().unwrap_or("?"),
                reload["at"].as_str().unwrap_or("?")
            );
        }
        Ok(())
    })
}

pub fn status(json_out: bool, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    with_client(args, opts, |c| {
        let s = c.call("status", json!({}))?;
        if json_out {
            println!("{s}");
            return Ok(());
        }
        println!(
            "gateway {} (pid {}) on {}: {}",
            s["version"].as_str().unwrap_or("?"),
            s["pid"],
            s["host"].as_str().unwrap_or("?"),
            s["phase"].as_str().unwrap_or("?")
        );
        println!("listen:  {} (bind {})", join(&s["listen"]), s["bind"].as_str().unwrap_or("?"));
        println!("auth:    {}", s["auth"]["mode"].as_str().unwrap_or("?"));
        println!("config:  {} (generation {})", s["config"]["path"].as_str().unwrap_or("?"), s["config"]["generation"]);
        println!("clients: {} connected", s["sessions"]["active"]);
        for lane in ["main", "subagent", "cron", "session"] {
            let l = &s["lanes"][lane];
            println!(
                "lane {lane:<9} active {}/{}  queued {}/{}  rejected {}",
                l["active"],
                l["limit"],
                l["queued"],
                l["capacity"],
                l.get("rejected").cloned().unwrap_or(Value::from(0))
            );
        }
        Ok(())
    })
}

pub fn devices(cmd: DevicesCmd, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    with_client(args, opts, |c| match cmd {
        DevicesCmd::List { json } => {
            let v = c.call("device.pair.list", json!({}))?;
            if json {
                println!("{v}");
                return Ok(());
            }
            let pending = v["pending"].as_array().cloned().unwrap_or_default();
            println!("pending ({}):", pending.len());
            for p in &pending {
                println!(
                    "  {}  code {}  device {}  {} {}  from {}",
                    p["requestId"].as_str().unwrap_or("?"),
                    p["code"].as_str().unwrap_or("?"),
                    short(&p["deviceId"]),
                    p["clientId"].as_str().unwrap_or("?"),
                    p["platform"].as_str().unwrap_or(""),
                    p["remoteIp"].as_str().unwrap_or("?")
                );
            }
            let paired = v["paired"].as_array().cloned().unwrap_or_default();
            println!("paired ({}):", paired.len());
            for d in &paired {
                println!(
                    "  {}  roles {}  scopes {}",
                    d["deviceId"].as_str().unwrap_or("?"),
                    join(&d["roles"]),
                    join(&d["scopes"])
                );
            }
            Ok(())
        }
        DevicesCmd::Approve { request } => {
            let v = c.call("device.pair.approve", json!({"requestId": request}))?;
            println!("approved device {}", v["deviceId"].as_str().unwrap_or("?"));
            Ok(())
        }
        DevicesCmd::Reject { request } => {
            c.call("device.pair.reject", json!({"requestId": request}))?;
            println!("rejected {request}");
            Ok(())
        }
        DevicesCmd::Revoke { device_id, role } => {
            c.call("device.token.revoke", json!({"deviceId": device_id, "role": role}))?;
            println!("revoked the {role} token of {device_id}; its sessions were closed");
            Ok(())
        }
        DevicesCmd::Rotate { device_id, role, scopes } => {
            let v = c.call("device.token.rotate", json!({"deviceId": device_id, "role": role, "scopes": scopes}))?;
            // Printed once: the gateway keeps only its hash.
            println!("{}", v["token"].as_str().unwrap_or(""));
            eprintln!("new {role} token for {device_id} (shown once; the gateway stores only its hash)");
            Ok(())
        }
    })
}

fn join(v: &Value) -> String {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

fn short(v: &Value) -> String {
    v.as_str().map(|s| s.chars().take(12).collect()).unwrap_or_default()
}
