//! `openclaw logs [--follow] [--json]`: the gateway's file log through `logs.tail`, and the
//! reader `security monitor` follows it with.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::{Client, ClientError, ConnectArgs};
use crate::config::LoadOptions;
use crate::exit;

/// `openclaw logs [--follow] [--json]`.
pub fn logs(follow: bool, json_out: bool, lines: u64, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    let mut client = match Client::connect(args, opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return e.exit_code();
        }
    };
    let mut cursor: Option<u64> = None;
    loop {
        let (lines, reset) = match tail(&mut client, &mut cursor, lines.clamp(1, 5000)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("openclaw: {e}");
                return e.exit_code();
            }
        };
        if reset {
            eprintln!("-- log file rotated --");
        }
        for line in &lines {
            if json_out {
                println!("{line}");
            } else {
                println!("{}", pretty(line));
            }
        }
        if !follow {
            return exit::OK;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The file-log lines after `cursor` (the last `limit` when there is none yet), moving the
/// cursor on; also whether the log was rotated meanwhile.
pub fn tail(client: &mut Client, cursor: &mut Option<u64>, limit: u64) -> Result<(Vec<String>, bool), ClientError> {
    let mut params = json!({"limit": limit});
    if let Some(c) = cursor {
        params["cursor"] = json!(c);
    }
    let r = client.call("logs.tail", params)?;
    *cursor = r["cursor"].as_u64();
    let lines = r["lines"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    Ok((lines, r["reset"] == true))
}

/// One JSON log line as `time LEVEL message key=value ...`.
pub fn pretty(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(line) else { return line.to_string() };
    let fields = v["fields"].as_object();
    let msg = fields.and_then(|f| f.get("message")).and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = fields
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "message")
        .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    format!(
        "{} {:5} {msg} {}",
        v["timestamp"].as_str().unwrap_or(""),
        v["level"].as_str().unwrap_or(""),
        rest.join(" ")
    )
    .trim_end()
    .to_string()
}
