//! The provider client: OpenAI-compatible chat completions (`"api": "openai-completions"`)
//! with streaming (server-sent events). It reports each text delta as it arrives and sorts
//! failures into those worth trying the next model for (connection, timeout, 5xx, 429) and
//! those that are not (other 4xx, a broken answer). Tool calls (OpenAI function calling) are
//! assembled from their streamed deltas by index, arguments arriving in pieces.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::models::Target;
use crate::config::model::ThinkLevel;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Try the next model: connection failure, timeout, 5xx, 429.
    Retryable(String),
    /// Do not: the request itself is wrong (other 4xx) or the answer is.
    Fatal(String),
}

impl ProviderError {
    pub fn message(&self) -> &str {
        match self {
            ProviderError::Retryable(m) | ProviderError::Fatal(m) => m,
        }
    }
}

/// What a finished completion produced.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub text: String,
    pub usage: Option<Value>,
    pub finish_reason: Option<String>,
    /// The tools the model called, in index order.
    pub tool_calls: Vec<ToolCall>,
}

/// One call the model made: its id, the tool's name and the arguments' raw JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl ToolCall {
    /// As OpenAI's assistant message carries it.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}})
    }
}

/// Streamed `delta.tool_calls` put together: the first piece of a call brings its id and
/// name, later ones (same `index`) more of its arguments.
#[derive(Debug, Default)]
pub struct ToolCallParts {
    calls: std::collections::BTreeMap<u64, ToolCall>,
}

impl ToolCallParts {
    pub fn push(&mut self, deltas: &Value) {
        for (i, d) in deltas.as_array().into_iter().flatten().enumerate() {
            let index = d.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
            let call = self.calls.entry(index).or_default();
            if let Some(id) = d.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                call.id = id.into();
            }
            if let Some(name) = d.pointer("/function/name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            if let Some(args) = d.pointer("/function/arguments").and_then(Value::as_str) {
                call.arguments.push_str(args);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls in index order; one without an id gets one (the provider must see the
    /// result answer its call).
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect()
    }
}

/// A chat-completions request. It borrows the conversation: serialized once, straight onto
/// the wire, never copied (the conversation grows with every round of the tool loop).
#[derive(Debug, serde::Serialize)]
pub struct Request<'a> {
    model: &'a str,
    messages: &'a [Value],
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tools: &'a [Value],
    stream: bool,
    stream_options: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
}

/// The request body for `target`: the conversation, the tools (if any), streaming on,
/// reasoning effort when the model reasons and a level is asked for.
pub fn body<'a>(target: &'a Target, messages: &'a [Value], tools: &'a [Value], think: ThinkLevel) -> Request<'a> {
    Request {
        model: &target.model.id,
        messages,
        tools,
        stream: true,
        stream_options: json!({"include_usage": true}),
        max_tokens: target.model.max_tokens,
        reasoning_effort: if target.model.reasoning { effort(think) } else { None },
    }
}

/// `thinkLevel` as OpenAI's `reasoning_effort` (which tops out at "high").
pub fn effort(level: ThinkLevel) -> Option<&'static str> {
    match level {
        ThinkLevel::Off => None,
        ThinkLevel::Minimal => Some("minimal"),
        ThinkLevel::Low => Some("low"),
        ThinkLevel::Medium => Some("medium"),
        ThinkLevel::High | ThinkLevel::Xhigh => Some("high"),
    }
}

/// The HTTP client for model calls: the thread's shared one (building one loads the CA bundle).
pub fn client() -> awc::Client {
    crate::net::client::shared(false)
}

/// Streams one completion; `idle` bounds the wait for the answer and between chunks.
pub async fn stream(
    client: &awc::Client,
    target: &Target,
    body: &Request<'_>,
    idle: Duration,
    mut on_delta: impl FnMut(&str),
) -> Result<Completion, ProviderError> {
    let url = format!("{}/chat/completions", target.base_url.trim_end_matches('/'));
    let mut req = client.post(&url).timeout(idle).insert_header(("accept", "text/event-stream"));
    if let Some(key) = &target.api_key {
        req = req.bearer_auth(key);
    }
    for (k, v) in &target.headers {
        req = req.insert_header((k.as_str(), v.as_str()));
    }
    let who = &target.reference;
    let mut resp = req.send_json(body).await.map_err(|e| ProviderError::Retryable(format!("{who}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let text = match tokio::time::timeout(idle, resp.body().limit(16 * 1024)).await {
            Ok(Ok(b)) => String::from_utf8_lossy(&b).chars().take(300).collect::<String>(),
            _ => String::new(),
        };
        let msg = format!("{who}: provider answered {status}: {}", text.trim());
        return Err(if status.as_u16() == 429 || status.is_server_error() {
            ProviderError::Retryable(msg)
        } else {
            ProviderError::Fatal(msg)
        });
    }
    let mut sse = SseLines::default();
    let mut out = Completion::default();
    let mut calls = ToolCallParts::default();
    loop {
        let chunk = match tokio::time::timeout(idle, resp.next()).await {
            Err(_) => return Err(broken(&out, format!("{who}: no data for {} ms", idle.as_millis()))),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(broken(&out, format!("{who}: stream failed: {e}"))),
            Ok(Some(Ok(bytes))) => bytes,
        };
        for data in sse.push(&chunk) {
            if data == "[DONE]" {
                out.tool_calls = calls.finish();
                return Ok(out);
            }
            let v: Value = serde_json::from_str(&data)
                .map_err(|e| ProviderError::Fatal(format!("{who}: unreadable stream event ({e}): {data}")))?;
            if let Some(err) = v.get("error") {
                return Err(ProviderError::Fatal(format!("{who}: provider error: {err}")));
            }
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                out.usage = Some(u.clone());
            }
            if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
                if let Some(d) = choice.pointer("/delta/content").and_then(Value::as_str)
                    && !d.is_empty()
                {
                    out.text.push_str(d);
                    on_delta(d);
                }
                if let Some(t) = choice.pointer("/delta/tool_calls") {
                    calls.push(t);
                }
                if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                    out.finish_reason = Some(r.into());
                }
            }
        }
    }
    if out.finish_reason.is_none() && out.text.is_empty() && calls.is_empty() {
        return Err(ProviderError::Retryable(format!("{who}: the stream ended without an answer")));
    }
    out.tool_calls = calls.finish();
    Ok(out)
}

/// A stream that broke: before any text another model may answer; after some, the text
/// already sent to clients cannot be taken back.
fn broken(out: &Completion, msg: String) -> ProviderError {
    if out.text.is_empty() {
        ProviderError::Retryable(msg)
    } else {
        ProviderError::Fatal(format!("{msg} (after {} characters)", out.text.len()))
    }
}

/// Splits a server-sent event stream into its `data:` payloads.
#[derive(Default)]
pub struct SseLines {
    buf: Vec<u8>,
}

impl SseLines {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = line.strip_prefix("data:") {
                out.push(data.trim_start().to_string());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_survive_arbitrary_chunking() {
        let text = "data: {\"a\":1}\r\n\r\n: comment\nevent: x\ndata: [DONE]\n\n";
        for cut in 0..text.len() {
            let mut s = SseLines::default();
            let mut got = s.push(&text.as_bytes()[..cut]);
            got.extend(s.push(&text.as_bytes()[cut..]));
            assert_eq!(got, vec!["{\"a\":1}", "[DONE]"], "cut at {cut}");
        }
    }

    #[test]
    fn tool_calls_are_assembled_by_index_from_pieces() {
        let mut p = ToolCallParts::default();
        p.push(&json!([{"index": 0, "id": "a", "type": "function", "function": {"name": "read", "arguments": ""}}]));
        p.push(&json!([{"index": 1, "id": "b", "function": {"name": "ls", "arguments": "{}"}}]));
        p.push(&json!([{"index": 0, "function": {"arguments": "{\"pa"}}]));
        p.push(&json!([{"index": 0, "function": {"arguments": "th\": \"x\"}"}}]));
        p.push(&json!([{"index": 2, "function": {"name": "find", "arguments": "{}"}}]));
        let calls = p.finish();
        assert_eq!(
            calls,
            [
                ToolCall { id: "a".into(), name: "read".into(), arguments: "{\"path\": \"x\"}".into() },
                ToolCall { id: "b".into(), name: "ls".into(), arguments: "{}".into() },
                ToolCall { id: "call_2".into(), name: "find".into(), arguments: "{}".into() },
            ]
        );
        assert_eq!(calls[0].to_json()["function"]["name"], "read");
    }

    #[test]
    fn reasoning_effort_only_for_reasoning_models() {
        let mut t = Target {
            reference: "p/m".into(),
            model: super::super::models::ModelInfo {
                id: "m".into(),
                name: None,
                context_window: None,
                max_tokens: Some(10),
                reasoning: false,
                cost: None,
            },
            base_url: "http://x".into(),
            api_key: None,
            headers: Default::default(),
        };
        let b = serde_json::to_value(body(&t, &[], &[], ThinkLevel::High)).unwrap();
        assert!(b.get("reasoning_effort").is_none());
        assert_eq!(b["max_tokens"], 10);
        assert_eq!(b["stream"], true);
        t.model.reasoning = true;
        let v = |l| serde_json::to_value(body(&t, &[], &[], l)).unwrap();
        assert_eq!(v(ThinkLevel::Xhigh)["reasoning_effort"], "high");
        assert!(v(ThinkLevel::Off).get("reasoning_effort").is_none());
        assert!(v(ThinkLevel::Off).get("tools").is_none(), "no tools, no key");
    }
}
