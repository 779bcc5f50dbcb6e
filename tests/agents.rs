//! Agent runs end to end: the real gateway, a local OpenAI-compatible streaming server, the
//! real protocol. Fallback order, abort, timeout, idempotent replay (the key is the run id),
//! the final payload over WebSocket and `POST /rpc`, transcripts, lanes.

mod common;

use std::time::Duration;

use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws, post_rpc, wait_until};
use serde_json::{Value, json};

/// A gateway whose `main` agent has the mock provider's `models`, with `config`.
fn gateway(mock: &MockProvider, models: &[&str], config: &str) -> Gateway {
    mock.install(Spawn::default().config(config), models).start()
}

/// A client authenticated with the gateway's token (loopback is not exempt).
fn client(gw: &Gateway) -> Ws {
    let token = common::generated_token(gw.state_path());
    let mut ws = Ws::open(gw.addr);
    let hello = ws.connect(json!({"auth": {"token": token}})).expect("connect");
    assert_eq!(hello["ok"], true, "{hello}");
    ws
}

/// Reads frames until the response with `id`, keeping events (in order) in `events`.
fn until_response(ws: &mut Ws, id: &str, events: &mut Vec<Value>) -> Value {
    loop {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed waiting for {id} after {} events: {c:?}", events.len()));
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
    // The run id is the client's key.
    assert_eq!(accepted["payload"]["runId"], "k1", "{accepted}");
    let fin = until_response(&mut ws, "a1", &mut events);
    assert_eq!(fin["ok"], true, "{fin}");
    assert_eq!(fin["payload"]["runId"], "k1");
    assert_eq!(fin["payload"]["status"], "ok");
    assert_eq!(fin["payload"]["summary"], "completed");
    assert_eq!(fin["payload"]["result"]["payloads"], json!([{"text": "Hello, world"}]), "{fin}");
    let meta = &fin["payload"]["result"]["meta"]["agentMeta"];
    assert_eq!(meta["usage"], json!({"input": 5, "output": 2, "total": 7}), "{fin}");
    assert_eq!((&meta["provider"], &meta["model"]), (&json!("mock"), &json!("ok")), "{fin}");
    let deltas: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "agent" && e["payload"]["stream"] == "assistant")
        .map(|e| e["payload"]["data"]["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(deltas, ["Hello", ", world"]);
    assert!(events.iter().all(|e| e["payload"]["runId"] == "k1"), "every event carries the key: {events:?}");
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
    assert_eq!(meta["sessionId"], sessions["payload"]["sessions"][0]["sessionId"], "{fin}");
    // The transcript records the run under the key too.
    let file = gw.state_path().join(format!("agents/main/sessions/{}.jsonl", meta["sessionId"].as_str().unwrap()));
    let (lines, _) = read_lines(&file);
    assert!(lines.iter().all(|l| l["runId"] == "k1"), "{lines:?}");
    let wait = ws.call("agent.wait", json!({"runId": "k1", "timeoutMs": 1000}));
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
}

#[test]
fn every_run_s_last_events_come_before_its_final_response() {
    // The run pushes its `lifecycle` end and `chat` final events, then ends; the session must
    // not answer the ended run ahead of events already queued for it (a race that lost them
    // behind the response, under load about once in a few hundred runs).
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{ agents: { defaults: { model: 'mock/ok' } } }");
    let mut ws = client(&gw);
    for i in 0..300 {
        let id = format!("r{i}");
        send(&mut ws, &id, "agent", json!({"message": "hi", "idempotencyKey": id}));
        let mut events = Vec::new();
        assert_eq!(until_response(&mut ws, &id, &mut events)["payload"]["status"], "accepted");
        let fin = until_response(&mut ws, &id, &mut events);
        assert_eq!(fin["payload"]["status"], "ok", "{fin}");
        let last: Vec<_> = events.iter().rev().take(2).map(|e| (&e["event"], &e["payload"]["runId"])).collect();
        assert_eq!(last, [(&json!("chat"), &json!(id)), (&json!("agent"), &json!(id))], "run {i}: {events:?}");
        assert_eq!(events.last().unwrap()["payload"]["state"], "final", "run {i}: {events:?}");
    }
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

    // A 400 is the request's fault: no fallback; the run ends as an error.
    let before = mock.models_called().len();
    send(&mut ws, "e1", "agent", json!({"message": "x", "model": "mock/e400", "idempotencyKey": "f2"}));
    let mut ev = Vec::new();
    assert_eq!(until_response(&mut ws, "e1", &mut ev)["payload"]["status"], "accepted");
    let fin = until_response(&mut ws, "e1", &mut ev);
    assert_eq!((&fin["ok"], &fin["error"]["code"]), (&json!(false), &json!("UNAVAILABLE")), "{fin}");
    assert_eq!(fin["payload"]["status"], "error", "{fin}");
    assert_eq!(fin["payload"]["runId"], "f2", "{fin}");
    let summary = fin["payload"]["summary"].as_str().unwrap();
    assert!(summary.contains("400"), "{fin}");
    assert_eq!(fin["error"]["message"], summary, "{fin}");
    assert_eq!(&mock.models_called()[before..], ["e400"]);
}

#[test]
fn the_same_key_during_a_run_is_in_flight_and_after_it_the_stored_outcome() {
    let mock = MockProvider::start();
    // Slow enough (2 s) that both repeats arrive while it runs, even on a loaded machine.
    let gw = gateway(&mock, &["slow-10-200"], "{}");
    let mut ws = client(&gw);
    let p = json!({"sessionKey": "agent:main:i", "message": "x", "idempotencyKey": "same"});
    let a = ws.call("chat.send", p.clone());
    assert_eq!(a["payload"], json!({"runId": "same", "status": "started"}));
    // Sent again while it runs, by `chat.send` or `agent`: nothing new starts.
    let b = ws.call("chat.send", p.clone());
    assert_eq!(b["payload"], json!({"runId": "same", "status": "in_flight", "sessionKey": "agent:main:i"}));
    let c = ws.call("agent", json!({"message": "x", "idempotencyKey": "same"}));
    assert_eq!(c["payload"]["status"], "in_flight", "{c}");
    let w = ws.call("agent.wait", json!({"runId": "same", "timeoutMs": 10000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    // After the run: the stored final payload, once, for either method.
    let d = ws.call("chat.send", p);
    assert_eq!(d["payload"]["status"], "ok", "{d}");
    assert_eq!(d["payload"]["result"]["payloads"], json!([{"text": "tick ".repeat(10)}]), "{d}");
    send(&mut ws, "x1", "agent", json!({"message": "y", "idempotencyKey": "same"}));
    let mut ev = Vec::new();
    let e = until_response(&mut ws, "x1", &mut ev);
    assert_eq!(e["payload"], d["payload"], "the same outcome");
    assert_eq!(mock.models_called().len(), 1, "one provider call for one key");
    // No second response follows the stored outcome: the next response is the probe's.
    send(&mut ws, "probe", "lanes.status", json!({}));
    loop {
        let v = ws.recv().expect("the probe's response");
        assert_ne!(v["id"], "x1", "a second response to a replayed key: {v}");
        if v["id"] == "probe" {
            break;
        }
    }
}

#[test]
fn the_same_key_from_several_connections_at_once_starts_one_run() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["slow-10-200"], "{}");
    let mut clients: Vec<Ws> = (0..4).map(|_| client(&gw)).collect();
    // Written before any answer is read: the requests race inside the gateway.
    for ws in &mut clients {
        send(ws, "r", "chat.send", json!({"sessionKey": "agent:main:race", "message": "x", "idempotencyKey": "race"}));
    }
    let mut statuses: Vec<String> = clients
        .iter_mut()
        .map(|ws| until_response(ws, "r", &mut Vec::new())["payload"]["status"].as_str().unwrap().to_string())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["in_flight", "in_flight", "in_flight", "started"]);
    let w = clients[0].call("agent.wait", json!({"runId": "race", "timeoutMs": 10000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    assert_eq!(mock.models_called().len(), 1);
}

#[test]
fn post_rpc_answers_the_final_payload_and_mints_a_run_id_when_none_is_given() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok", "e400"], "{ agents: { defaults: { model: 'mock/ok' } } }");
    let token = common::generated_token(gw.state_path());
    let (code, body) = post_rpc(&gw, &token, &json!({"method": "agent", "params": {"message": "hi"}}));
    assert_eq!(code, 200, "{body}");
    let p = &body["payload"];
    let run_id = p["runId"].as_str().unwrap();
    assert!(uuid_like(run_id), "{body}");
    assert_eq!((&p["status"], &p["summary"]), (&json!("ok"), &json!("completed")), "{body}");
    assert_eq!(p["result"]["payloads"], json!([{"text": "Hello, world"}]), "{body}");
    // The minted id is the run's id everywhere: agent.wait finds it.
    let (_, w) = post_rpc(&gw, &token, &json!({"method": "agent.wait", "params": {"runId": run_id}}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    // With a key: the key is the run id; the same key again is the stored outcome.
    let req = json!({"method": "agent", "params": {"message": "hi", "idempotencyKey": "h1"}});
    let (_, first) = post_rpc(&gw, &token, &req);
    let (_, again) = post_rpc(&gw, &token, &req);
    assert_eq!(first["payload"]["runId"], "h1");
    assert_eq!(first, again);
    // A failed run: the payload beside the error, with the error's HTTP status.
    let req = json!({"method": "agent", "params": {"message": "x", "model": "mock/e400", "idempotencyKey": "h2"}});
    let (code, body) = post_rpc(&gw, &token, &req);
    assert_eq!(code, 503, "{body}");
    assert_eq!((&body["ok"], &body["error"]["code"]), (&json!(false), &json!("UNAVAILABLE")), "{body}");
    assert_eq!((&body["payload"]["runId"], &body["payload"]["status"]), (&json!("h2"), &json!("error")), "{body}");
    assert_eq!(body["payload"]["summary"], body["error"]["message"], "{body}");
    // chat.send too mints an id when none is given.
    let req = json!({"method": "chat.send", "params": {"sessionKey": "agent:main:h", "message": "x"}});
    let (_, body) = post_rpc(&gw, &token, &req);
    assert_eq!(body["payload"]["status"], "started", "{body}");
    let run_id = body["payload"]["runId"].as_str().unwrap();
    assert!(uuid_like(run_id), "{body}");
    let (_, w) = post_rpc(&gw, &token, &json!({"method": "agent.wait", "params": {"runId": run_id}}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    assert_eq!(mock.models_called().len(), 4, "one provider call per run");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn abort_stops_a_streaming_run_and_keeps_what_was_said() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["slow-100-50"], "{}");
    let mut ws = client(&gw);
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:ab", "message": "go", "idempotencyKey": "a"}));
    let run = r["payload"]["runId"].as_str().unwrap().to_string();
    assert_eq!(run, "a", "the client's key is the run id");
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
    assert_eq!((&fin["payload"]["runId"], &fin["payload"]["status"]), (&json!("t"), &json!("error")), "{fin}");
    assert!(fin["payload"]["summary"].as_str().unwrap().contains("timed out after 1s"), "{fin}");
}

fn lane(ws: &mut Ws, name: &str) -> Value {
    ws.call("lanes.status", json!({}))["payload"]["lanes"][name].clone()
}

#[test]
fn a_thousand_concurrent_submissions_never_exceed_the_lane_limit() {
    let mock = MockProvider::start();
    let cfg = "{ agents: { defaults: { maxConcurrent: 3 } }, lanes: { main: { queueCapacity: 1000 }, \
               session: { queueCapacity: 1000 } } }";
    // Each run holds its slot 20 ms at the provider: long enough that three overlap there
    // even when the machine is busy (with 5 ms, a loaded CI machine finished runs before the
    // next reached the provider).
    let gw = gateway(&mock, &["slow-1-20"], cfg);
    let mut ws = client(&gw);
    // Pipelined: all 1,000 requests are written before any answer is read.
    for i in 0..1000 {
        let p =
            json!({"sessionKey": format!("agent:main:s{}", i % 20), "message": "m", "idempotencyKey": format!("k{i}")});
        send(&mut ws, &format!("q{i}"), "chat.send", p);
    }
    // Answers may come in any order (each request is handled as it arrives).
    let mut accepted = std::collections::HashSet::new();
    while accepted.len() < 1000 {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed after {} answers: {c:?}", accepted.len()));
        if v["type"] == "res" {
            assert_eq!(v["ok"], true, "{v}");
            accepted.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    let done = wait_until("1,000 runs to complete", Duration::from_secs(120), || {
        let main = lane(&mut ws, "main");
        (main["completed"] == 1000).then_some(main)
    });
    assert_eq!(done["rejected"], 0, "{done}");
    assert_eq!(done["limit"], 3);
    let most = mock.seen.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 3, "the provider saw {most} requests at once; the lane allows 3");
    assert_eq!(most, 3, "the lane ran at its limit");
    assert_eq!(mock.models_called().len(), 1000);
}

#[test]
fn a_full_lane_answers_unavailable_with_retry_after() {
    let mock = MockProvider::start();
    let cfg = "{ agents: { defaults: { maxConcurrent: 1 } }, lanes: { main: { queueCapacity: 2 } } }";
    let gw = gateway(&mock, &["slow-40-50"], cfg);
    let mut ws = client(&gw);
    let mut runs = Vec::new();
    for i in 0..3 {
        let r = ws.call(
            "chat.send",
            json!({"sessionKey": format!("agent:main:o{i}"), "message": "m", "idempotencyKey": format!("o{i}")}),
        );
        assert_eq!(r["ok"], true, "{r}");
        runs.push(r["payload"]["runId"].as_str().unwrap().to_string());
        if i == 0 {
            // The lane grants its slot asynchronously (its actor dispatches): on a loaded
            // machine the next two could otherwise find the first still queued, and the
            // third refused.
            wait_until("the first run to hold the lane's slot", Duration::from_secs(10), || {
                (lane(&mut ws, "main")["active"] == 1).then_some(())
            });
        }
    }
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:o3", "message": "m", "idempotencyKey": "o3"}));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "UNAVAILABLE");
    assert_eq!(r["error"]["retryable"], true);
    assert!(r["error"]["retryAfterMs"].as_u64().unwrap() >= 100, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("lanes.main.queueCapacity"), "{r}");
    // `agent` is refused before it is accepted.
    let a = ws.call("agent", json!({"message": "m", "sessionKey": "agent:main:o4", "idempotencyKey": "o4"}));
    assert_eq!(a["error"]["code"], "UNAVAILABLE", "{a}");
    let main = lane(&mut ws, "main");
    assert_eq!(
        (main["active"].as_u64(), main["queued"].as_u64(), main["rejected"].as_u64()),
        (Some(1), Some(2), Some(2))
    );
    // /health shows the same counters.
    assert_eq!(gw.health()["lanes"]["main"]["rejected"], 2);
    ws.call("chat.abort", json!({"sessionKey": "agent:main:o0"}));
}

#[test]
fn a_reloaded_limit_applies_at_once_in_both_directions() {
    let mock = MockProvider::start();
    let cfg = |n: u32| {
        format!("{{ gateway: {{ reload: {{ debounceMs: 50 }} }}, agents: {{ defaults: {{ maxConcurrent: {n} }} }} }}")
    };
    let gw = gateway(&mock, &["slow-30-50"], &cfg(1));
    let mut ws = client(&gw);
    for i in 0..8 {
        let r = ws.call(
            "chat.send",
            json!({"sessionKey": format!("agent:main:r{i}"), "message": "m", "idempotencyKey": format!("r{i}")}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    assert_eq!(lane(&mut ws, "main")["active"], 1);
    std::fs::write(gw.config_path(), cfg(3)).unwrap();
    gw.signal(libc::SIGHUP);
    let grown = wait_until("three runs active after raising the limit", Duration::from_secs(10), || {
        let l = lane(&mut ws, "main");
        (l["active"] == 3).then_some(l)
    });
    assert_eq!(grown["limit"], 3);
    std::fs::write(gw.config_path(), cfg(1)).unwrap();
    gw.signal(libc::SIGHUP);
    wait_until("the limit back at 1", Duration::from_secs(10), || (lane(&mut ws, "main")["limit"] == 1).then_some(()));
    // Running jobs are not killed; none start until fewer than one runs.
    wait_until("running jobs to drain to the new limit", Duration::from_secs(15), || {
        (lane(&mut ws, "main")["active"].as_u64() <= Some(1)).then_some(())
    });
    mock.seen.max_in_flight.store(0, std::sync::atomic::Ordering::SeqCst);
    let l = wait_until("two more runs to finish at the new limit", Duration::from_secs(20), || {
        let l = lane(&mut ws, "main");
        (l["completed"].as_u64() >= Some(5)).then_some(l)
    });
    assert!(l["active"].as_u64() <= Some(1), "{l}");
    assert_eq!(mock.seen.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Every finished run called the provider once; a started one may not have yet.
    let (called, done) = (mock.models_called().len() as u64, l["completed"].as_u64().unwrap());
    assert!(done <= called && called <= done + l["active"].as_u64().unwrap(), "{called} calls: {l}");
    for i in 0..8 {
        ws.call("chat.abort", json!({"sessionKey": format!("agent:main:r{i}")}));
    }
}

#[test]
fn shutdown_lets_the_running_run_finish_and_answers_queued_ones() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["slow-5-100"], "{ agents: { defaults: { maxConcurrent: 1 } } }");
    let mut ws = client(&gw);
    for i in 0..3 {
        let r = ws.call(
            "chat.send",
            json!({"sessionKey": format!("agent:main:d{i}"), "message": "m", "idempotencyKey": format!("d{i}")}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    ws.event("chat").expect("the first run is streaming");
    let logs = gw.logs.clone();
    let state = gw.stop_keep_state();
    let logs = logs.lock().unwrap().join("\n");
    assert!(logs.contains(r#""queued_answered":2"#), "{logs}");
    assert_eq!(logs.matches("gateway stopping: the job was queued and had not started").count(), 2, "{logs}");
    let dir = state.path().join("agents/main/sessions");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).unwrap()).unwrap();
    let id = index["agent:main:d0"]["sessionId"].as_str().unwrap();
    let (lines, _) = read_lines(&dir.join(format!("{id}.jsonl")));
    assert_eq!(lines.len(), 2, "the running turn finished before exit: {lines:?}");
    assert_eq!(lines[1]["message"]["content"], "tick tick tick tick tick ");
    assert_eq!(mock.models_called().len(), 1, "queued runs never started");
}

fn read_lines(path: &std::path::Path) -> (Vec<Value>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut bad = 0;
    let good = text
        .lines()
        .filter_map(|l| {
            serde_json::from_str(l).ok().or_else(|| {
                bad += 1;
                None
            })
        })
        .collect();
    (good, bad)
}

#[test]
fn kill_9_mid_stream_leaves_earlier_turns_intact() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["echo", "slow-100-50"], "{ agents: { defaults: { model: 'mock/echo' } } }");
    let mut ws = client(&gw);
    for (i, m) in ["one", "two"].iter().enumerate() {
        let r = ws
            .call("chat.send", json!({"sessionKey": "agent:main:k", "message": m, "idempotencyKey": format!("k{i}")}));
        let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 5000}));
        assert_eq!(w["payload"]["status"], "ok", "{w}");
    }
    let third = ws.call(
        "chat.send",
        json!({"sessionKey": "agent:main:k", "message": "three", "model": "mock/slow-100-50", "idempotencyKey": "k2"}),
    );
    wait_until("the third turn streaming", Duration::from_secs(10), || {
        let e = ws.event("chat").ok()?;
        (e["payload"]["runId"] == third["payload"]["runId"]).then_some(())
    });
    let state = gw.kill_keep_state();
    let dir = state.path().join("agents/main/sessions");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).unwrap()).unwrap();
    let file = dir.join(format!("{}.jsonl", index["agent:main:k"]["sessionId"].as_str().unwrap()));
    let (lines, bad) = read_lines(&file);
    assert_eq!(bad, 0, "every line is whole");
    let texts: Vec<_> = lines.iter().map(|l| l["message"]["content"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts, ["one", "turns=1 last=one", "two", "turns=3 last=two", "three"]);
    // The session carries on after a restart, with its history.
    let gw = Spawn::in_state(state)
        .env("MOCK_API_KEY", common::provider::API_KEY)
        .config("{ agents: { defaults: { model: 'mock/echo' } } }")
        .start();
    let mut ws = client(&gw);
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:k", "message": "four", "idempotencyKey": "k3"}));
    let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 5000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:k"}));
    let last = h["payload"]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"], "turns=6 last=four", "{h}");
}

#[test]
fn a_read_only_models_json_is_read_and_never_needed_writable() {
    let mock = MockProvider::start();
    let spawn = mock.install(Spawn::default(), &["ok"]);
    let dir = MockProvider::agent_dir(&spawn);
    let gw = spawn.read_only(&dir).start();
    let mut ws = client(&gw);
    let models = ws.call("models.list", json!({}));
    assert_eq!(models["payload"]["models"][0]["id"], "mock/ok", "{models}");
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:ro", "message": "x", "idempotencyKey": "ro"}));
    let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 5000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
}

#[test]
fn a_read_only_agent_dir_without_models_json_starts_and_says_how_to_fix_it() {
    let spawn = Spawn::default();
    let dir = spawn.state.path().join("agents/main/agent");
    std::fs::create_dir_all(&dir).unwrap();
    let gw = spawn.read_only(&dir).start();
    let line = gw.dump_logs().lines().find(|l| l.contains("model catalogue not created")).map(str::to_string);
    let line = line.unwrap_or_else(|| panic!("no warning: {}", gw.dump_logs()));
    assert!(line.contains("models.json") && line.contains("Read-only file system"), "{line}");
    assert!(line.contains("put the file there before start"), "{line}");
    assert_eq!(gw.health()["status"], "ok");
    let mut ws = client(&gw);
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:x", "message": "x", "idempotencyKey": "x"}));
    let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 5000}));
    assert!(w["payload"]["error"].as_str().unwrap().contains("add a provider to"), "{w}");
}

#[test]
fn bad_agent_params_are_rejected_with_the_field() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{}");
    let mut ws = client(&gw);
    let cases = [
        ("agent", json!({"message": "x"}), "idempotencyKey"),
        ("agent", json!({"message": "x", "idempotencyKey": ""}), "/idempotencyKey"),
        ("agent", json!({"message": "x", "idempotencyKey": "k".repeat(257)}), "/idempotencyKey"),
        ("chat.send", json!({"sessionKey": "s", "message": "x"}), "idempotencyKey"),
        ("agent", json!({"message": "x", "idempotencyKey": "a", "thinking": "max"}), "/thinking"),
        ("agent", json!({"message": "x", "idempotencyKey": "a", "lane": "fast"}), "/lane"),
        ("agent", json!({"message": "x", "idempotencyKey": "a", "agentId": "../etc"}), "/agentId"),
        ("agent", json!({"message": "x", "idempotencyKey": "a", "bogus": 1}), "bogus"),
        ("chat.send", json!({"sessionKey": "s", "idempotencyKey": "a"}), "message"),
        ("chat.history", json!({"sessionKey": "s", "limit": 5000}), "/limit"),
        ("agent.wait", json!({"runId": "nope"}), "unknown runId"),
        ("sessions.delete", json!({"key": "agent:main:none"}), "no session"),
    ];
    for (method, params, needle) in cases {
        let r = ws.call(method, params.clone());
        assert_eq!(r["ok"], false, "{method} {params}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains(needle), "{method} {params}: {r}");
    }
}

#[test]
fn sessions_reset_and_delete_and_reasoning_effort() {
    let mock = MockProvider::start();
    let cfg = "{ agents: { defaults: { thinkLevel: 'medium', model: 'deep', models: { 'mock/reason-1': { alias: 'deep' } } } } }";
    let gw = gateway(&mock, &["reason-1", "ok"], cfg);
    let mut ws = client(&gw);
    let mut sent = 0;
    let mut run = |ws: &mut Ws, key: &str, extra: Value| {
        sent += 1;
        let mut p = json!({"sessionKey": key, "message": "m", "idempotencyKey": format!("s{sent}")});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = ws.call("chat.send", p);
        let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 5000}));
        assert_eq!(w["payload"]["status"], "ok", "{w}");
    };
    run(&mut ws, "agent:main:a", json!({}));
    run(&mut ws, "agent:main:a", json!({"thinking": "xhigh"}));
    run(&mut ws, "agent:main:b", json!({"model": "mock/ok", "thinking": "high"}));
    let bodies = mock.seen.bodies.lock().unwrap().clone();
    assert_eq!(bodies[0]["model"], "reason-1", "the alias resolves");
    assert_eq!(bodies[0]["reasoning_effort"], "medium", "thinkLevel applies to reasoning models");
    assert_eq!(bodies[1]["reasoning_effort"], "high", "xhigh maps to high");
    assert!(bodies[2].get("reasoning_effort").is_none(), "not for models without reasoning");

    let list = ws.call("sessions.list", json!({}));
    assert_eq!(list["payload"]["count"], 2, "{list}");
    let a =
        list["payload"]["sessions"].as_array().unwrap().iter().find(|s| s["key"] == "agent:main:a").unwrap().clone();
    assert_eq!(a["turns"], 2);
    let old_file = gw.state_path().join(format!("agents/main/sessions/{}.jsonl", a["sessionId"].as_str().unwrap()));
    let reset = ws.call("sessions.reset", json!({"key": "agent:main:a"}));
    assert_eq!(reset["payload"]["previousSessionId"], a["sessionId"], "{reset}");
    let hist = ws.call("chat.history", json!({"sessionKey": "agent:main:a"}));
    assert_eq!(hist["payload"]["messages"], json!([]), "a reset session starts empty: {hist}");
    assert!(old_file.exists(), "reset keeps the old transcript");
    let del = ws.call("sessions.delete", json!({"key": "agent:main:b", "deleteTranscript": true}));
    assert_eq!(del["payload"]["transcriptDeleted"], true, "{del}");
    let list = ws.call("sessions.list", json!({}));
    assert_eq!(list["payload"]["count"], 1, "{list}");
    // `openclaw status` shows the lanes.
    let (code, out, err) = common::run(gw.state_path(), &["status", "--url", &format!("ws://{}", gw.addr)], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("lane main") && out.contains("active 0/4"), "{out}");
}

#[test]
fn a_session_lane_is_dropped_when_its_run_ends() {
    // Found by the soak: one lane per session key ever run stayed until a sweep at 1,024, so
    // memory grew with every new session.
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{}");
    let mut ws = client(&gw);
    for i in 0..5 {
        let key = format!("k{i}");
        let started = ws.call(
            "chat.send",
            json!({"sessionKey": format!("agent:main:s{i}"), "message": "x", "idempotencyKey": key}),
        );
        assert_eq!(started["ok"], true, "{started}");
        let w = ws.call("agent.wait", json!({"runId": key, "timeoutMs": 10000}));
        assert_eq!(w["payload"]["status"], "ok", "{w}");
    }
    wait_until("the session lanes to be dropped", Duration::from_secs(5), || {
        (lane(&mut ws, "session")["lanes"] == 0).then_some(())
    });
}
