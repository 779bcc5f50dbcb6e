//! `openclaw agent --message <text>`: one agent turn through the running gateway, the answer
//! streamed to stdout as it arrives; `--verbose` also shows each tool call (name, arguments,
//! outcome) on stderr, one line each.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::client::{self, Client};
use crate::config::LoadOptions;

/// Arguments shown per tool line, at most.
const ARGS_SHOWN: usize = 120;

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The message to send.
    #[arg(long, short)]
    pub message: String,
    /// Session key (default: the main agent's main session).
    #[arg(long)]
    pub session_key: Option<String>,
    /// "provider/model" instead of the configured one.
    #[arg(long)]
    pub model: Option<String>,
    /// Show tool calls as they happen (on stderr).
    #[arg(long, short)]
    pub verbose: bool,
    /// Print the final payload as JSON instead of the streamed text.
    #[arg(long)]
    pub json: bool,
    /// Longest wait for the run, in seconds.
    #[arg(long, default_value_t = 600)]
    pub run_timeout: u64,
    #[command(flatten)]
    pub conn: client::ConnectArgs,
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

pub fn run(a: AgentArgs, opts: &LoadOptions) -> i32 {
    let mut params = json!({"message": a.message, "idempotencyKey": uuid::Uuid::new_v4().to_string()});
    if let Some(k) = &a.session_key {
        params["sessionKey"] = json!(k);
    }
    if let Some(m) = &a.model {
        params["model"] = json!(m);
    }
    let (json_out, verbose) = (a.json, a.verbose);
    let result = Client::connect(&a.conn, opts).and_then(|mut c| {
        c.call_streaming("agent", params, Duration::from_secs(a.run_timeout + 30), |ev| {
            let p = &ev["payload"];
            if ev["event"] != "agent" || json_out {
                return;
            }
            match p["stream"].as_str() {
                Some("assistant") => {
                    print!("{}", p["data"]["delta"].as_str().unwrap_or(""));
                    let _ = std::io::stdout().flush();
                }
                Some("tool") if verbose => {
                    if let Some(line) = tool_line(&p["data"]) {
                        eprintln!("{line}");
                    }
                }
                _ => {}
            }
        })
    });
    match result {
        Ok(payload) => {
            if json_out {
                println!("{payload}");
            } else {
                println!();
            }
            if payload["status"] == "ok" { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("\nopenclaw: {e}");
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
}
