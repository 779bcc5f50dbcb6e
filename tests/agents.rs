//! Agent runs end to end: the real gateway, a local OpenAI-compatible streaming server, the
//! real protocol. Fallback order, abort, timeout, idempotent replay, transcripts, lanes.

mod common;

use std::time::Duration;

use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws, wait_until};
use serde_json::{Value, json};

/// A gateway whose `main` agent has the mock provider's `models`, with `config`.
fn gateway(mock: &MockProvider, models: &[&str], config: &str) -> Gateway {
    let spawn = Spawn::default().config(config).env("MOCK_API_KEY", "sk-test");
    let dir = spawn.state.path().join("agents/main/agent");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("models.json"), mock.models_json(models)).unwrap();
    spawn.start()
}

fn client(gw: &Gateway) -> Ws {
    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({})).expect("connect");
    ws
}

/// Reads frames until the response with `id`, keeping events (in order) in `events`.
fn until_response(ws: &mut Ws, id: &str, events: &mut Vec<Value>) -> Value {
    loop {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed waiting for {id}: {c:?}"));
        if v["type"] == "res" && v["id"] == id {
            return v;
        }
        if v["type"] == "event" {
            events.push(v);
        }
    }
}

fn send(ws: &mut Ws, id: &str, method: &str, params: Value) {
    ws.send_text(&json!({"type": "req", "id": id, "method": method, "params": params}).to_string());
}

#[test]
fn agent_is_two_stage_streams_deltas_and_records_the_transcript() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{ agents: { defaults: { model: 'mock/ok' } } }");
    let mut ws = client(&gw);
    send(&mut ws, "a1", "agent", json!({"message": "hi", "idempotencyKey": "k1"}));
    let mut events = Vec::new();
    let accepted = until_response(&mut ws, "a1", &mut events);
    assert_eq!(accepted["payload"]["status"], "accepted", "{accepted}");
    let run_id = accepted["payload"]["runId"].as_str().unwrap().to_string();
    let fin = until_response(&mut ws, "a1", &mut events);
    assert_eq!(fin["ok"], true, "{fin}");
    assert_eq!(fin["payload"]["runId"], run_id.as_str());
    assert_eq!(fin["payload"]["status"], "ok");
    assert_eq!(fin["payload"]["result"]["text"], "Hello, world");
    assert_eq!(fin["payload"]["result"]["usage"]["total_tokens"], 7);
    let deltas: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "agent" && e["payload"]["stream"] == "assistant")
        .map(|e| e["payload"]["data"]["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(deltas, ["Hello", ", world"]);
    let chat: Vec<_> = events.iter().filter(|e| e["event"] == "chat").map(|e| e["payload"]["state"].clone()).collect();
    assert_eq!(chat.first().unwrap(), "delta");
    // The chat final event is sent before the final response.
    assert_eq!(chat.last().unwrap(), "final", "{events:?}");
    // The provider saw the API key from ${MOCK_API_KEY} and the user's message.
    let body = mock.seen.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["_auth"], "Bearer sk-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["content"], "hi");

    let hist = ws.call("chat.history", json!({"sessionKey": "agent:main:main"}));
    let msgs = hist["payload"]["messages"].as_array().unwrap().clone();
    assert_eq!(msgs.len(), 2, "{hist}");
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(msgs[1]["content"], "Hello, world");
    let sessions = ws.call("sessions.list", json!({}));
    assert_eq!(sessions["payload"]["sessions"][0]["key"], "agent:main:main", "{sessions}");
    let wait = ws.call("agent.wait", json!({"runId": run_id, "timeoutMs": 1000}));
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
}

#[test]
fn falls_back_on_5xx_429_and_timeouts_in_order_but_not_on_other_4xx() {
    let mock = MockProvider::start();
    let cfg = "{ agents: { defaults: { providerTimeoutMs: 500, model: { primary: 'mock/e500', \
               fallbacks: ['mock/e429', 'mock/hang', 'mock/ok', 'mock/echo'] } } } }";
    let gw = gateway(&mock, &["e500", "e429", "hang", "ok", "echo"], cfg);
    let mut ws = client(&gw);
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:fb", "message": "x", "idempotencyKey": "f1"}));
    let run = r["payload"]["runId"].as_str().unwrap().to_string();
    let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 10000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    assert_eq!(mock.models_called(), ["e500", "e429", "hang", "ok"]);

    // A 400 is the request's fault: no fallback.
    let before = mock.models_called().len();
    let r = ws.call("agent", json!({"message": "x", "model": "mock/e400", "idempotencyKey": "f2"}));
    assert_eq!(r["payload"]["status"], "accepted");
    let mut ev = Vec::new();
    let fin = until_response(&mut ws, "r3", &mut ev);
    assert_eq!(fin["payload"]["status"], "error", "{fin}");
    assert!(fin["payload"]["error"].as_str().unwrap().contains("400"), "{fin}");
    assert_eq!(&mock.models_called()[before..], ["e400"]);
}

#[test]
fn idempotent_replay_returns_the_same_run_and_calls_the_provider_once() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{}");
    let mut ws = client(&gw);
    let a = ws.call("chat.send", json!({"sessionKey": "agent:main:i", "message": "x", "idempotencyKey": "same"}));
    let b = ws.call("chat.send", json!({"sessionKey": "agent:main:i", "message": "x", "idempotencyKey": "same"}));
    assert_eq!(a["payload"]["runId"], b["payload"]["runId"]);
    assert_eq!(b["payload"]["replayed"], true);
    let w = ws.call("agent.wait", json!({"runId": a["payload"]["runId"], "timeoutMs": 5000}));
    assert_eq!(w["payload"]["status"], "ok");
    // `agent` replays too: the same run id, accepted and then the same outcome.
    send(&mut ws, "x1", "agent", json!({"message": "y", "idempotencyKey": "ag"}));
    let mut ev = Vec::new();
    let first = until_response(&mut ws, "x1", &mut ev)["payload"]["runId"].clone();
    until_response(&mut ws, "x1", &mut ev);
    send(&mut ws, "x2", "agent", json!({"message": "y", "idempotencyKey": "ag"}));
    assert_eq!(until_response(&mut ws, "x2", &mut ev)["payload"]["runId"], first);
    let fin = until_response(&mut ws, "x2", &mut ev);
    assert_eq!(fin["payload"]["status"], "ok");
    assert_eq!(mock.models_called().len(), 2, "two runs, not four");
}

#[test]
fn abort_stops_a_streaming_run_and_keeps_what_was_said() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["slow-100-50"], "{}");
    let mut ws = client(&gw);
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:ab", "message": "go", "idempotencyKey": "a"}));
    let run = r["payload"]["runId"].as_str().unwrap().to_string();
    ws.event("chat").expect("a first delta");
    let a = ws.call("chat.abort", json!({"sessionKey": "agent:main:ab"}));
    assert_eq!(a["payload"]["runIds"], json!([run]), "{a}");
    let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 5000}));
    assert_eq!(w["payload"]["runStatus"], "aborted", "{w}");
    let aborted = wait_until("a chat aborted event", Duration::from_secs(5), || {
        let e = ws.event("chat").ok()?;
        (e["payload"]["state"] == "aborted").then_some(e)
    });
    assert_eq!(aborted["payload"]["runId"], run.as_str());
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:ab"}));
    let msgs = h["payload"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{h}");
    assert!(msgs[1]["content"].as_str().unwrap().starts_with("tick"), "{h}");
}

#[test]
fn a_run_over_its_time_limit_ends_with_agent_timeout() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["slow-100-50"], "{}");
    let mut ws = client(&gw);
    send(&mut ws, "t1", "agent", json!({"message": "go", "idempotencyKey": "t", "timeout": 1}));
    let mut ev = Vec::new();
    assert_eq!(until_response(&mut ws, "t1", &mut ev)["payload"]["status"], "accepted");
    let fin = until_response(&mut ws, "t1", &mut ev);
    assert_eq!(fin["ok"], false, "{fin}");
    assert_eq!(fin["error"]["code"], "AGENT_TIMEOUT", "{fin}");
}
