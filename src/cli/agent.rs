//! `openclaw agent --message <text>`: one agent turn through the running gateway, the answer
//! streamed to stdout as it arrives; `--verbose` also shows each tool call (name, arguments,
//! outcome) on stderr, one line each. Upstream's options: `--agent`, `--session-id`,
//! `--thinking`, `--model`, `--timeout`, `--json`, and `--message -` for stdin.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::SIGINT;

use clap::Args;
use serde_json::{Value, json};

use super::client::{self, Client, ClientError};
use crate::config::LoadOptions;

/// Arguments shown per tool line, at most.
const ARGS_SHOWN: usize = 120;
/// How much longer than the run's own limit the CLI waits for its answer (the gateway ends a
/// run at its limit and answers; this covers the answer's way back).
const ANSWER_GRACE: Duration = Duration::from_secs(30);
/// How long a read waits before Ctrl-C is looked at again.
const POLL: Duration = Duration::from_millis(50);
/// Exit code after a second Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: i32 = 130;
/// The thinking levels the gateway takes.
pub const THINKING: [&str; 6] = ["off", "minimal", "low", "medium", "high", "xhigh"];

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The message to send; `-` reads it from stdin.
    #[arg(long, short)]
    pub message: String,
    /// The agent to run (default: main, or the one the session key names).
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// The session: a full key (agent:main:work) or a short name (work) under the agent
    /// [default: the agent's main session].
    #[arg(long = "session-id", visible_aliases = ["session", "session-key"], value_name = "KEY")]
    pub session: Option<String>,
    /// Thinking level for this turn.
    #[arg(long, value_parser = THINKING)]
    pub thinking: Option<String>,
    /// "provider/model" instead of the configured one.
    #[arg(long)]
    pub model: Option<String>,
    /// Longest the run may take, in seconds (the gateway stops it then).
    #[arg(long, visible_alias = "run-timeout", value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Show tool calls as they happen (on stderr).
    #[arg(long, short)]
    pub verbose: bool,
    /// Print the final payload as one line of JSON instead of the streamed text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: RunConnectArgs,
}

/// [`client::ConnectArgs`] for commands whose `--timeout` is the run's: the connect timeout
/// is `--connect-timeout` here.
#[derive(Args, Debug, Clone)]
pub struct RunConnectArgs {
    #[command(flatten)]
    pub gateway: client::GatewayArgs,
    /// Give up connecting after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub connect_timeout: u64,
}

impl RunConnectArgs {
    pub fn connect_args(&self) -> client::ConnectArgs {
        client::ConnectArgs {
            gateway: self.gateway.clone(),
            timeout: self.connect_timeout,
            timeout_flag: Some("--connect-timeout"),
        }
    }
}

/// A session key from what the user typed: a full key as it is, a short name under `agent`.
pub fn session_key(agent: Option<&str>, given: &str) -> String {
    if given.starts_with("agent:") || given == "global" {
        given.to_string()
    } else {
        format!("agent:{}:{given}", agent.unwrap_or("main"))
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// The line `--verbose` prints for a `tool` event's data (`None` for updates).
pub fn tool_line(data: &Value) -> Option<String> {
    let name = data["name"].as_str().unwrap_or("?");
    match data["phase"].as_str()? {
        "start" => {
            let args = match &data["args"] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Some(format!("[tool] {name} {}", clip(&args, ARGS_SHOWN)))
        }
        "result" => {
            let text = data["result"]["content"][0]["text"].as_str().unwrap_or("");
            let first = clip(text.lines().next().unwrap_or(""), ARGS_SHOWN);
            let mark = if data["isError"] == true { "error" } else { "ok" };
            Some(format!("[tool] {name} {mark}: {first} ({} bytes)", text.len()))
        }
        _ => None,
    }
}

/// The message: the argument, or stdin for `-` (one trailing newline dropped).
fn message(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read the message from stdin: {e}"))?;
    let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string();
    if text.trim().is_empty() {
        return Err("--message - read an empty message from stdin; pipe the text in, e.g. `echo hi | openclaw agent --message -`".into());
    }
    Ok(text)
}

/// Sends `agent` and reads until its final answer, events to `on_event`. Once `interrupted`
/// is set (Ctrl-C), the run is aborted with `chat.abort` and its final answer still awaited.
fn stream_run(
    c: &mut Client,
    params: Value,
    limit: Duration,
    interrupted: &AtomicBool,
    key: &str,
    run_id: &str,
    on_event: &mut dyn FnMut(&Value),
) -> Result<Value, ClientError> {
    let deadline = Instant::now() + limit;
    c.send("agent", "agent", params)?;
    let mut aborting = false;
    loop {
        if Instant::now() > deadline {
            return Err(ClientError::Other(format!("no answer within {} s (raise --timeout)", limit.as_secs())));
        }
        if !aborting && interrupted.load(Ordering::Relaxed) {
            aborting = true;
            eprintln!("\nopenclaw: stopping the run (Ctrl-C again to leave at once)");
            c.send("abort", "chat.abort", json!({"sessionKey": key, "runId": run_id}))?;
        }
        let Some(v) = c.next_frame(POLL)? else { continue };
        if v["type"] == "event" {
            on_event(&v);
        } else if v["type"] == "res" && v["id"] == "agent" {
            if v["ok"] != true {
                return Err(client::rpc_error("agent", &v));
            }
            if v["payload"]["status"] != "accepted" {
                return Ok(v["payload"].clone());
            }
        }
    }
}

/// The answer's text in a final payload (what a run without streamed deltas said).
fn final_text(payload: &Value) -> String {
    payload["result"]["payloads"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["text"].as_str()).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

pub fn run(a: AgentArgs, opts: &LoadOptions) -> i32 {
    let text = match message(&a.message) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return crate::exit::USAGE;
        }
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut params = json!({"message": text, "idempotencyKey": run_id, "timeout": a.timeout});
    if let Some(agent) = &a.agent {
        params["agentId"] = json!(agent);
    }
    if let Some(s) = &a.session {
        params["sessionKey"] = json!(session_key(a.agent.as_deref(), s));
    }
    if let Some(m) = &a.model {
        params["model"] = json!(m);
    }
    if let Some(t) = &a.thinking {
        params["thinking"] = json!(t);
    }
    let (json_out, verbose) = (a.json, a.verbose);
    let key =
        params["sessionKey"].as_str().map(str::to_string).unwrap_or_else(|| session_key(a.agent.as_deref(), "main"));
    // Ctrl-C stops the run (chat.abort) and prints what was said; a second one leaves at once.
    let interrupted = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, INTERRUPTED, interrupted.clone());
    let _ = signal_hook::flag::register(SIGINT, interrupted.clone());
    // What was printed so far, to end it with exactly one newline.
    let mut printed = String::new();
    let limit = Duration::from_secs(a.timeout) + ANSWER_GRACE;
    let mut progress = None;
    let result = Client::connect(&a.conn.connect_args(), opts).and_then(|mut c| {
        let progress = progress.insert(super::out::Progress::start("waiting for the answer… (Ctrl-C stops it)"));
        let mut on_event = |ev: &Value| {
            let p = &ev["payload"];
            if ev["event"] != "agent" || p["runId"] != run_id.as_str() || json_out {
                return;
            }
            if matches!(p["stream"].as_str(), Some("assistant") | Some("tool")) {
                progress.clear();
            }
            match p["stream"].as_str() {
                Some("assistant") => {
                    let delta = p["data"]["delta"].as_str().unwrap_or("");
                    print!("{delta}");
                    let _ = std::io::stdout().flush();
                    printed.push_str(delta);
                }
                Some("tool") if verbose => {
                    if let Some(line) = tool_line(&p["data"]) {
                        eprintln!("{line}");
                    }
                }
                _ => {}
            }
        };
        stream_run(&mut c, params, limit, &interrupted, &key, &run_id, &mut on_event)
    });
    if let Some(p) = progress.as_mut() {
        p.clear();
    }
    let end_line = |printed: &str| {
        if !printed.is_empty() && !printed.ends_with('\n') {
            println!();
        }
    };
    match result {
        Ok(payload) => {
            if json_out {
                super::out::json(&payload);
            } else {
                if printed.is_empty() {
                    printed = final_text(&payload);
                    print!("{printed}");
                }
                end_line(&printed);
            }
            if interrupted.load(Ordering::Relaxed) {
                eprintln!("openclaw: the run was stopped; the session keeps what was said");
                return INTERRUPTED;
            }
            if payload["status"] == "ok" { crate::exit::OK } else { 1 }
        }
        Err(ClientError::Rpc { code, message, payload, .. }) => {
            if json_out {
                let mut v = payload.map(|p| *p).unwrap_or_else(|| json!({"status": "error"}));
                v["error"] = json!({"code": code, "message": message});
                super::out::json(&v);
            } else {
                end_line(&printed);
            }
            eprintln!("openclaw: the agent run failed: {code}: {message}");
            1
        }
        Err(e) => {
            end_line(&printed);
            eprintln!("openclaw: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_lines_show_the_call_and_the_first_line_of_its_outcome() {
        let start = json!({"phase": "start", "name": "read", "toolCallId": "c", "args": {"path": "a.txt"}});
        assert_eq!(tool_line(&start).unwrap(), "[tool] read {\"path\":\"a.txt\"}");
        let result = json!({"phase": "result", "name": "exec", "isError": true,
                            "result": {"content": [{"type": "text", "text": "exec refused: no\nmore"}]}});
        assert_eq!(tool_line(&result).unwrap(), "[tool] exec error: exec refused: no (21 bytes)");
        assert_eq!(tool_line(&json!({"phase": "update", "name": "exec"})), None);
    }

    #[test]
    fn short_session_names_live_under_the_agent() {
        assert_eq!(session_key(None, "work"), "agent:main:work");
        assert_eq!(session_key(Some("ops"), "work"), "agent:ops:work");
        assert_eq!(session_key(Some("ops"), "agent:main:x"), "agent:main:x");
    }
}
