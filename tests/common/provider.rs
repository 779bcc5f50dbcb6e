//! A local OpenAI-compatible chat-completions server for the tests (loopback only). What it
//! does is chosen by the requested model id:
//! - `ok`: streams "Hello" + ", world" with usage; `echo`: answers "turns=<n> last=<text>"
//! - `say`: answers the user's message itself; "long" gets [`LONG`]'s long answer with a code fence
//! - `slow-<n>-<ms>`: n deltas "tick " each `ms` apart
//! - `e500`, `e429`, `e400`: that status with an error body; `hang`: never answers
//! - `cut`: one delta, then the connection drops mid-stream
//! - tool calls (OpenAI function calling, streamed in pieces, `finish_reason: "tool_calls"`),
//!   made while the conversation's last message is the user's; once it is a tool result, the
//!   answer is `result: <that result>`:
//!   - `tools-split`: `read {"path": "hello.txt"}`, its arguments split across four chunks
//!   - `tools-two`: `write {"path": "two.txt", "content": "2"}` then `read {"path": "two.txt"}`
//!   - `tools-bad`: `read` with malformed JSON arguments
//!   - `tools-loop`: `ls {}`, every time, whatever it sees
//!   - `call-<tool>`: `<tool>` with the user's message as its arguments
//!
//! It records every request body and the most requests it had in flight at once.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The API key `install` sets (`${MOCK_API_KEY}` in models.json).
pub const API_KEY: &str = "sk-test";

#[derive(Default)]
pub struct Seen {
    pub bodies: Mutex<Vec<serde_json::Value>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// When each `slow-` delta was written (Unix ms), for delivery-latency checks.
    pub delta_sent_ms: Mutex<Vec<i64>>,
}

pub struct MockProvider {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

impl MockProvider {
    pub fn start() -> Self {
        let seen = Arc::new(Seen::default());
        let addr = super::loopback::serve("mock provider", seen.clone(), serve);
        Self { addr, seen }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The models.json of the production guide's shape, with one provider `mock` whose
    /// models are `ids`; its key comes from `${MOCK_API_KEY}`.
    pub fn models_json(&self, ids: &[&str]) -> String {
        let models: Vec<_> = ids
            .iter()
            .map(|id| {
                serde_json::json!({"id": id, "name": id, "contextWindow": 64000, "maxTokens": 512,
                                         "reasoning": id.starts_with("reason"), "input": ["text"],
                                         "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}})
            })
            .collect();
        serde_json::json!({"providers": {"mock": {"baseUrl": self.base_url(), "apiKey": "${MOCK_API_KEY}",
                                                   "api": "openai-completions", "models": models}}})
        .to_string()
    }

    /// `spawn` with this provider's models.json for the `main` agent (`ids` as its models) and
    /// the API key it names set in the gateway's environment.
    pub fn install(&self, spawn: super::Spawn, ids: &[&str]) -> super::Spawn {
        let dir = Self::agent_dir(&spawn);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("models.json"), self.models_json(ids)).unwrap();
        spawn.env("MOCK_API_KEY", API_KEY)
    }

    /// Where `spawn`'s `main` agent keeps models.json.
    pub fn agent_dir(spawn: &super::Spawn) -> std::path::PathBuf {
        spawn.state.path().join("agents/main/agent")
    }

    /// The models requested so far, in order.
    pub fn models_called(&self) -> Vec<String> {
        self.seen.bodies.lock().unwrap().iter().map(|b| b["model"].as_str().unwrap_or("").to_string()).collect()
    }
}

struct InFlight<'a>(&'a Seen);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, seen: &Seen) -> std::io::Result<()> {
    let (head, body) = super::loopback::read_request(&conn)?;
    let auth = super::loopback::header(&head, "authorization").unwrap_or("").to_string();
    let mut body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    body["_auth"] = serde_json::json!(auth);
    let model = body["model"].as_str().unwrap_or("").to_string();
    let turns = body["messages"].as_array().map_or(0, Vec::len);
    let last = body["messages"].as_array().and_then(|m| m.last()).map(|m| m["content"].clone()).unwrap_or_default();
    let last_role =
        body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["role"].as_str()).unwrap_or("").to_string();
    seen.bodies.lock().unwrap().push(body);
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(seen);
    let mut out = conn;
    match model.as_str() {
        "e500" | "e429" | "e400" => {
            let code = &model[1..];
            let text = format!("{{\"error\":{{\"message\":\"mock {code}\"}}}}");
            write!(
                out,
                "HTTP/1.1 {code} Mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            )?;
            return Ok(());
        }
        "hang" => {
            std::thread::sleep(Duration::from_secs(120));
            return Ok(());
        }
        _ => {}
    }
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )?;
    let delta = |out: &mut TcpStream, text: &str| -> std::io::Result<()> {
        let ev = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
        chunk(out, &format!("data: {ev}\n\n"))
    };
    let mut finish = "stop";
    let calls = tool_calls(&model, &last_role, &last);
    if !calls.is_empty() {
        for (index, (id, name, pieces)) in calls.iter().enumerate() {
            for (k, piece) in pieces.iter().enumerate() {
                // The first piece names the call; the rest only carry arguments.
                let mut d = serde_json::json!({"index": index, "function": {"arguments": piece}});
                if k == 0 {
                    d["id"] = serde_json::json!(id);
                    d["type"] = serde_json::json!("function");
                    d["function"]["name"] = serde_json::json!(name);
                }
                let ev =
                    serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [d]}, "finish_reason": null}]});
                chunk(&mut out, &format!("data: {ev}\n\n"))?;
            }
        }
        finish = "tool_calls";
    } else if last_role == "tool" && (model.starts_with("tools-") || model.starts_with("call-")) {
        delta(&mut out, &format!("result: {}", last.as_str().unwrap_or("")))?;
    } else if let Some(rest) = model.strip_prefix("slow-") {
        let mut it = rest.split('-');
        let n: usize = it.next().and_then(|v| v.parse().ok()).unwrap_or(10);
        let ms: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(100);
        for _ in 0..n {
            delta(&mut out, "tick ")?;
            seen.delta_sent_ms.lock().unwrap().push(unix_ms());
            std::thread::sleep(Duration::from_millis(ms));
        }
    } else if model == "cut" {
        delta(&mut out, "partial")?;
        return Ok(()); // dropped without the terminating chunk
    } else if model == "say" {
        let text = last.as_str().unwrap_or("");
        if text.trim() == "long" {
            for piece in long_answer().as_bytes().chunks(700) {
                delta(&mut out, std::str::from_utf8(piece).expect("ascii"))?;
            }
        } else {
            delta(&mut out, text)?;
        }
    } else if model == "echo" {
        delta(&mut out, &format!("turns={turns} last={}", last.as_str().unwrap_or("")))?;
    } else {
        delta(&mut out, "Hello")?;
        delta(&mut out, ", world")?;
    }
    // Done with this request before the gateway can see its end: a slot it frees is never
    // counted twice here.
    drop(_guard);
    let fin = serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]});
    chunk(&mut out, &format!("data: {fin}\n\n"))?;
    let usage =
        serde_json::json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
    chunk(&mut out, &format!("data: {usage}\n\ndata: [DONE]\n\n"))?;
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

/// The last line of the `say` model's long answer.
pub const LONG_END: &str = "END OF THE LONG ANSWER";

/// 40 lines of prose, a 30-line code fence, 10 more lines: longer than one Discord message in
/// characters and in lines, with a fence that must not be cut open.
pub fn long_answer() -> String {
    let mut s = String::new();
    for i in 0..40 {
        s.push_str(&format!("Line {i} of the answer, with some words to make it long enough to matter here.\n"));
    }
    s.push_str("```rust\n");
    for i in 0..30 {
        s.push_str(&format!("let value_{i} = compute({i}); // code line {i}\n"));
    }
    s.push_str("```\n");
    for i in 40..50 {
        s.push_str(&format!("Line {i} after the code.\n"));
    }
    s.push_str(LONG_END);
    s
}

/// The calls a tool model makes now: (id, name, argument pieces).
fn tool_calls(model: &str, last_role: &str, last: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let call = |id: &str, name: &str, pieces: &[&str]| {
        (id.to_string(), name.to_string(), pieces.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    };
    if model == "tools-loop" {
        return vec![call("call_loop", "ls", &["{}"])];
    }
    if last_role != "user" {
        return Vec::new();
    }
    match model {
        "tools-split" => vec![call("call_split", "read", &["{\"pa", "th\": \"hel", "lo.t", "xt\"}"])],
        "tools-two" => vec![
            call("call_w", "write", &["{\"path\": \"two.txt\", ", "\"content\": \"2\"}"]),
            call("call_r", "read", &["{\"path\": \"two.txt\"}"]),
        ],
        "tools-bad" => vec![call("call_bad", "read", &["{\"path\": "])],
        m => match m.strip_prefix("call-") {
            Some(tool) => vec![call("call_1", tool, &[last.as_str().unwrap_or("{}")])],
            None => Vec::new(),
        },
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn chunk(out: &mut TcpStream, data: &str) -> std::io::Result<()> {
    write!(out, "{:x}\r\n{data}\r\n", data.len())?;
    out.flush()
}
