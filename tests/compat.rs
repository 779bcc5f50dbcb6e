//! Upstream clients, replayed: the frames OpenClaw 2026.1.30's CLI and Control UI send, as
//! the reference notes record them, against the real gateway and the mock provider. The
//! CLI's connect (with its device) and `openclaw agent` (expectFinal, `result.payloads`);
//! the Control UI's connects (with a device, and token-only), its chat (`chat.send`, `chat`
//! events matched by the idempotency key, Stop = `chat.abort`) and each tab's first calls.
//! Every exchange is checked frame by frame, in order, with its exact shapes.

mod common;

use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws, shape};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};

/// The scopes both upstream clients ask for.
const OPERATOR_SCOPES: [&str; 3] = ["operator.admin", "operator.approvals", "operator.pairing"];

fn gateway(mock: &MockProvider, models: &[&str], config: &str) -> Gateway {
    mock.install(Spawn::default().config(config), models).start()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `params` with a device block signed the way upstream clients sign it: v2 over the
/// challenge nonce and the token they send.
fn signed(ws: &Ws, id: &Identity, mut params: Value, token: &str) -> Value {
    let parsed = openclaw::protocol::connect::parse(&params).expect("valid connect params");
    params["device"] = id.prove(&parsed, token, Some(&ws.nonce()), now_ms()).to_json();
    params
}

/// The CLI's connect (`callGateway`: client `cli`, mode `cli`, a fresh instance id, its
/// device from `~/.openclaw/identity/device.json`).
fn cli_connect(ws: &mut Ws, token: &str, id: &Identity) -> Value {
    let params = json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "cli", "version": "2026.1.30", "platform": "linux", "mode": "cli",
                   "instanceId": uuid::Uuid::new_v4().to_string()},
        "caps": [], "auth": {"token": token}, "role": "operator", "scopes": OPERATOR_SCOPES});
    let params = signed(ws, id, params, token);
    ws.send_text(&json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string());
    ws.response().expect("the connect response")
}

/// The Control UI's connect (`ui/gateway.ts`): client `openclaw-control-ui`, mode `webchat`,
/// browser fields, and the device only in a secure context.
fn ui_connect(ws: &mut Ws, token: &str, device: Option<&Identity>) -> Value {
    let params = json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "openclaw-control-ui", "version": "dev", "platform": "Linux x86_64", "mode": "webchat",
                   "instanceId": uuid::Uuid::new_v4().to_string()},
        "role": "operator", "scopes": OPERATOR_SCOPES, "caps": [], "auth": {"token": token},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/144.0", "locale": "en-US"});
    let params = match device {
        Some(id) => signed(ws, id, params, token),
        None => params,
    };
    ws.send_text(&json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string());
    ws.response().expect("the connect response")
}

/// A WebSocket to the gateway as a page served by it opens one (its own Origin).
fn open_ui(gw: &Gateway) -> Ws {
    Ws::open_with(gw.addr, &[("Origin", &format!("http://{}", gw.addr))])
}

fn cli(gw: &Gateway) -> Ws {
    let token = common::generated_token(gw.state_path());
    let mut ws = Ws::open(gw.addr);
    let hello = cli_connect(&mut ws, &token, &Identity::generate());
    assert_eq!(hello["ok"], true, "{hello}");
    ws
}

fn ui(gw: &Gateway) -> Ws {
    let token = common::generated_token(gw.state_path());
    let mut ws = open_ui(gw);
    let hello = ui_connect(&mut ws, &token, Some(&Identity::generate()));
    assert_eq!(hello["ok"], true, "{hello}");
    ws
}

fn send(ws: &mut Ws, id: &str, method: &str, params: Value) {
    ws.send_text(&json!({"type": "req", "id": id, "method": method, "params": params}).to_string());
}

/// The frames of one exchange, in arrival order: responses to `id` and the `agent` and
/// `chat` events (gateway-wide broadcasts such as `tick`, `presence` or `health` are not
/// part of it), up to and including the frame `last` accepts. The socket's read timeout
/// (10 s) is the deadline.
fn exchange(ws: &mut Ws, id: &str, mut last: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed or timed out after {out:#?}: {c:?}"));
        let ours = (v["type"] == "res" && v["id"] == id)
            || (v["type"] == "event" && (v["event"] == "agent" || v["event"] == "chat"));
        if ours {
            let done = last(&v);
            out.push(v);
            if done {
                return stable(out);
            }
        }
    }
}

/// Frames with what differs from run to run checked and replaced: event frames' `seq`
/// (counted per connection, so it includes broadcasts) must increase and becomes "<seq>";
/// times become "<ms>"; generated session ids become "<id>". The rest compares exactly.
fn stable(frames: Vec<Value>) -> Vec<Value> {
    let mut last_seq = 0;
    frames
        .into_iter()
        .map(|mut f| {
            if f["type"] == "event" {
                let seq = f["seq"].as_u64().unwrap_or_else(|| panic!("an event without seq: {f}"));
                assert!(seq > last_seq, "event seq goes {last_seq} -> {seq}: {f}");
                last_seq = seq;
                f["seq"] = json!("<seq>");
            }
            normalize(&f)
        })
        .collect()
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "acceptedAt" | "startedAt" | "endedAt" | "ts" | "durationMs" | "issuedAtMs" => {
                            assert!(v.is_u64(), "{k} is a time: {v}");
                            json!("<ms>")
                        }
                        "sessionId" if !v.is_null() => {
                            assert_eq!(v.as_str().map(str::len), Some(36), "{k} is a uuid: {v}");
                            json!("<id>")
                        }
                        _ => normalize(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn event(name: &str, payload: Value) -> Value {
    json!({"type": "event", "event": name, "payload": payload, "seq": "<seq>"})
}

fn text_message(text: &str) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}]})
}

/// What `openclaw agent` prints for a final payload (`agent-via-gateway.ts`): each payload's
/// text, else the summary, else "No reply from agent.".
fn cli_output(fin: &Value) -> String {
    let payloads = fin["result"]["payloads"].as_array().cloned().unwrap_or_default();
    if payloads.is_empty() {
        return fin["summary"].as_str().map_or("No reply from agent.".into(), str::to_string);
    }
    payloads.iter().filter_map(|p| p["text"].as_str()).map(|t| t.trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

/// `openclaw agent --agent main --message ...`'s request (the CLI resolves the session key
/// itself; `deliver`, `channel` and `timeout` are always sent).
fn cli_agent_params(message: &str, key: &str) -> Value {
    json!({"message": message, "agentId": "main", "sessionKey": "agent:main:main", "deliver": false,
           "channel": "whatsapp", "timeout": 600, "idempotencyKey": key})
}

#[test]
fn the_cli_connects_with_its_device_and_gets_a_device_token() {
    let gw = Spawn::default().start();
    let token = common::generated_token(gw.state_path());
    let id = Identity::generate();
    let mut ws = Ws::open(gw.addr);
    assert_eq!(ws.challenge["payload"]["nonce"].as_str().map(str::len), Some(36), "{}", ws.challenge);
    let hello = cli_connect(&mut ws, &token, &id);
    assert_eq!((&hello["type"], &hello["id"], &hello["ok"]), (&json!("res"), &json!("c1"), &json!(true)), "{hello}");
    let p = &hello["payload"];
    let mut keys: Vec<_> = p.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["auth", "features", "policy", "protocol", "server", "snapshot", "type"], "{hello}");
    assert_eq!((&p["type"], &p["protocol"]), (&json!("hello-ok"), &json!(3)));
    // Local devices are paired silently; the CLI stores this token for later connects.
    assert_eq!(p["auth"]["role"], "operator");
    assert_eq!(p["auth"]["scopes"], json!(OPERATOR_SCOPES));
    assert_eq!(p["auth"]["deviceToken"].as_str().map(|t| !t.is_empty()), Some(true), "{hello}");
    let methods = p["features"]["methods"].as_array().unwrap();
    for m in ["agent", "agent.wait", "chat.send", "chat.abort", "chat.history"] {
        assert!(methods.contains(&json!(m)), "{m} advertised: {methods:?}");
    }
    assert_eq!(p["policy"], json!({"maxPayload": 524288, "maxBufferedBytes": 1572864, "tickIntervalMs": 30000}));
}

#[test]
fn openclaw_agent_waits_for_the_final_payload_and_prints_result_payloads() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{ agents: { defaults: { model: 'mock/ok' } } }");
    let mut ws = cli(&gw);
    let key = uuid::Uuid::new_v4().to_string();
    send(&mut ws, "a1", "agent", cli_agent_params("hello there", &key));
    // expectFinal: the `accepted` response is skipped, the next one with the id resolves.
    let frames = exchange(&mut ws, "a1", |f| f["type"] == "res" && f["payload"]["status"] != "accepted");
    let session = "agent:main:main";
    let agent_ev = |seq: u64, stream: &str, data: Value| {
        event("agent", json!({"runId": key, "seq": seq, "stream": stream, "ts": "<ms>", "data": data}))
    };
    let chat_ev = |seq: u64, state: &str, extra: Value| {
        let mut p = json!({"runId": key, "sessionKey": session, "seq": seq, "state": state});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        event("chat", p)
    };
    let expected = vec![
        json!({"type": "res", "id": "a1", "ok": true,
               "payload": {"runId": key, "status": "accepted", "acceptedAt": "<ms>", "sessionKey": session}}),
        agent_ev(1, "lifecycle", json!({"phase": "start", "sessionId": "<id>"})),
        agent_ev(2, "assistant", json!({"delta": "Hello"})),
        chat_ev(3, "delta", json!({"message": text_message("Hello")})),
        agent_ev(4, "assistant", json!({"delta": ", world"})),
        chat_ev(5, "delta", json!({"message": text_message("Hello, world")})),
        agent_ev(6, "lifecycle", json!({"phase": "end"})),
        chat_ev(
            7,
            "final",
            json!({"message": text_message("Hello, world"), "model": "mock/ok",
                   "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        ),
        json!({"type": "res", "id": "a1", "ok": true, "payload": {
            "runId": key, "status": "ok", "summary": "completed", "sessionKey": session,
            "acceptedAt": "<ms>", "startedAt": "<ms>", "endedAt": "<ms>",
            "result": {"payloads": [{"text": "Hello, world"}],
                       "meta": {"durationMs": "<ms>",
                                "agentMeta": {"sessionId": "<id>", "sessionKey": session, "provider": "mock",
                                              "model": "ok", "usage": {"input": 5, "output": 2, "total": 7}}}}}}),
    ];
    assert_eq!(frames, expected, "{frames:#?}");
    assert_eq!(cli_output(&frames[8]["payload"]), "Hello, world");

    // agent.wait by the same id (the CLI's key).
    let w = ws.call("agent.wait", json!({"runId": key, "timeoutMs": 1000}));
    assert_eq!(
        normalize(&w["payload"]),
        json!({"runId": key, "status": "ok", "runStatus": "ok", "startedAt": "<ms>", "endedAt": "<ms>", "error": null})
    );
    // The transcript is recorded under the key too.
    let hist = ws.call("chat.history", json!({"sessionKey": session, "limit": 200}));
    assert_eq!(hist["payload"]["messages"].as_array().map(Vec::len), Some(2), "{hist}");
    assert_eq!(mock.models_called(), ["ok"]);
}

#[test]
fn a_failed_agent_run_answers_status_error_with_its_summary_and_the_error_code() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["e400"], "{ agents: { defaults: { model: 'mock/e400' } } }");
    let mut ws = cli(&gw);
    let key = uuid::Uuid::new_v4().to_string();
    send(&mut ws, "a1", "agent", cli_agent_params("hello there", &key));
    let frames = exchange(&mut ws, "a1", |f| f["type"] == "res" && f["payload"]["status"] != "accepted");
    let summary = frames.last().unwrap()["payload"]["summary"].as_str().unwrap_or_default().to_string();
    assert!(summary.contains("400") && summary.contains("mock 400"), "{frames:#?}");
    let session = "agent:main:main";
    let expected = vec![
        json!({"type": "res", "id": "a1", "ok": true,
               "payload": {"runId": key, "status": "accepted", "acceptedAt": "<ms>", "sessionKey": session}}),
        event(
            "agent",
            json!({"runId": key, "seq": 1, "stream": "lifecycle", "ts": "<ms>",
                              "data": {"phase": "start", "sessionId": "<id>"}}),
        ),
        event(
            "agent",
            json!({"runId": key, "seq": 2, "stream": "lifecycle", "ts": "<ms>",
                              "data": {"phase": "error", "error": summary}}),
        ),
        event(
            "chat",
            json!({"runId": key, "sessionKey": session, "seq": 3, "state": "error",
                             "errorMessage": summary}),
        ),
        // Upstream's failed `agent`: `ok:false`, the payload and the error side by side.
        json!({"type": "res", "id": "a1", "ok": false,
               "payload": {"runId": key, "status": "error", "summary": summary, "sessionKey": session,
                           "acceptedAt": "<ms>", "startedAt": "<ms>", "endedAt": "<ms>"},
               "error": {"code": "UNAVAILABLE", "message": summary}}),
    ];
    assert_eq!(frames, expected, "{frames:#?}");
    // The same key after the run: the stored outcome, the same frame again (and only it).
    send(&mut ws, "a2", "agent", cli_agent_params("hello there", &key));
    let again = exchange(&mut ws, "a2", |f| f["type"] == "res");
    let mut first = expected[4].clone();
    first["id"] = json!("a2");
    assert_eq!(again, [first]);
    assert_eq!(mock.models_called(), ["e400"]);
}

#[test]
fn the_control_ui_connects_with_a_device_or_with_the_token_alone() {
    let gw = Spawn::default().start();
    let token = common::generated_token(gw.state_path());
    let mut ws = open_ui(&gw);
    let hello = ui_connect(&mut ws, &token, Some(&Identity::generate()));
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["auth"]["scopes"], json!(OPERATOR_SCOPES), "{hello}");
    assert!(hello["payload"]["auth"]["deviceToken"].is_string(), "{hello}");
    // Token only (no secure context, so no device): connected, with no device token.
    let mut ws = open_ui(&gw);
    let hello = ui_connect(&mut ws, &token, None);
    assert_eq!(hello["ok"], true, "{hello}");
    assert!(hello["payload"].get("auth").is_none(), "{hello}");
    let status = ws.call("status", json!({}));
    assert_eq!(status["ok"], true, "{status}");
}

#[test]
fn the_control_ui_chat_matches_chat_events_by_its_idempotency_key_to_final() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{}");
    let mut ws = ui(&gw);
    let session = "agent:main:main";
    // The chat tab opens: history, then the session list.
    let hist = ws.call("chat.history", json!({"sessionKey": session, "limit": 200}));
    assert_eq!(
        hist["payload"],
        json!({"sessionKey": session, "sessionId": null, "messages": [], "thinkingLevel": "off"}),
        "{hist}"
    );
    let list = ws.call("sessions.list", json!({"activeMinutes": 120}));
    assert_eq!(list["payload"]["sessions"], json!([]), "{list}");
    // Send: the UI takes its idempotencyKey as the run id before it sends.
    let run_id = uuid::Uuid::new_v4().to_string();
    send(
        &mut ws,
        "s1",
        "chat.send",
        json!({"sessionKey": session, "message": "hello there", "deliver": false,
                                             "idempotencyKey": run_id}),
    );
    let frames = exchange(&mut ws, "s1", |f| f["event"] == "chat" && f["payload"]["state"] == "final");
    // What the UI reads: the response, then chat events whose runId is its key, to final.
    let chat: Vec<_> = frames.iter().filter(|f| f["type"] == "res" || f["event"] == "chat").cloned().collect();
    let chat_ev = |seq: u64, state: &str, extra: Value| {
        let mut p = json!({"runId": run_id, "sessionKey": session, "seq": seq, "state": state});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        event("chat", p)
    };
    let expected = vec![
        json!({"type": "res", "id": "s1", "ok": true, "payload": {"runId": run_id, "status": "started"}}),
        chat_ev(3, "delta", json!({"message": text_message("Hello")})),
        chat_ev(5, "delta", json!({"message": text_message("Hello, world")})),
        chat_ev(
            7,
            "final",
            json!({"message": text_message("Hello, world"), "model": "mock/ok",
                   "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        ),
    ];
    assert_eq!(chat, expected, "{frames:#?}");
    assert!(frames.iter().all(|f| f["type"] == "res" || f["payload"]["runId"] == run_id.as_str()), "{frames:#?}");
    // The tab reloads its history after the final event.
    let hist = ws.call("chat.history", json!({"sessionKey": session, "limit": 200}));
    assert_eq!(
        hist["payload"]["messages"],
        json!([{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "Hello, world"}]),
        "{hist}"
    );
    // The same key sent again (a retried send): one provider call, the stored outcome.
    let again = ws.call(
        "chat.send",
        json!({"sessionKey": session, "message": "hello there", "deliver": false,
                                             "idempotencyKey": run_id}),
    );
    assert_eq!((&again["payload"]["runId"], &again["payload"]["status"]), (&json!(run_id), &json!("ok")), "{again}");
    assert_eq!(mock.models_called(), ["ok"]);
}

#[test]
fn the_control_ui_stop_button_aborts_by_run_id_and_a_resend_is_in_flight_until_then() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["slow-50-100"], "{}");
    let mut ws = ui(&gw);
    let session = "agent:main:main";
    let run_id = uuid::Uuid::new_v4().to_string();
    let params = json!({"sessionKey": session, "message": "go", "deliver": false, "idempotencyKey": run_id});
    send(&mut ws, "s1", "chat.send", params.clone());
    let frames = exchange(&mut ws, "s1", |f| f["event"] == "chat");
    assert_eq!(frames[0]["payload"], json!({"runId": run_id, "status": "started"}), "{frames:#?}");
    // The same key while it runs: in flight, nothing new starts.
    let again = ws.call("chat.send", params.clone());
    assert_eq!(again["payload"], json!({"runId": run_id, "status": "in_flight", "sessionKey": session}));
    // Stop.
    send(&mut ws, "x1", "chat.abort", json!({"sessionKey": session, "runId": run_id}));
    let frames = exchange(&mut ws, "x1", |f| f["event"] == "chat" && f["payload"]["state"] != "delta");
    let (res, rest) = frames.split_first().unwrap();
    assert_eq!(
        res,
        &json!({"type": "res", "id": "x1", "ok": true,
                           "payload": {"ok": true, "aborted": true, "runIds": [run_id]}})
    );
    let last = rest.last().unwrap();
    assert_eq!(
        last,
        &event(
            "chat",
            json!({"runId": run_id, "sessionKey": session, "seq": last["payload"]["seq"], "state": "aborted"})
        )
    );
    assert!(rest.iter().all(|f| f["payload"]["runId"] == run_id.as_str()), "{frames:#?}");
    let w = ws.call("agent.wait", json!({"runId": run_id, "timeoutMs": 5000}));
    assert_eq!(
        normalize(&w["payload"]),
        json!({"runId": run_id, "status": "error", "runStatus": "aborted", "startedAt": "<ms>", "endedAt": "<ms>",
               "error": "aborted"})
    );
    // After the run the key answers the stored outcome: what was said, marked aborted.
    let after = ws.call("chat.send", params);
    let p = normalize(&after["payload"]);
    let said = p["result"]["payloads"][0]["text"].as_str().unwrap_or_default().to_string();
    assert!(said.starts_with("tick "), "{after}");
    assert_eq!(
        p,
        json!({"runId": run_id, "status": "ok", "summary": "aborted", "sessionKey": session,
               "acceptedAt": "<ms>", "startedAt": "<ms>", "endedAt": "<ms>",
               "result": {"payloads": [{"text": said}],
                          "meta": {"durationMs": "<ms>", "aborted": true,
                                   "agentMeta": {"sessionId": "<id>", "sessionKey": session,
                                                 "provider": "mock", "model": "slow-50-100"}}}})
    );
    assert_eq!(mock.models_called().len(), 1);
}

#[test]
fn each_control_ui_tab_first_calls_answer_with_their_shapes() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"], "{}");
    let mut ws = ui(&gw);
    // Each tab's first calls (upstream-capabilities.md §1, "Per-tab calls"); the ones added for
    // the UI's other tabs (`agent.identity.get`, `channels.status`, ...) are in ui_compat.rs.
    let calls = [
        // on hello
        ("device.pair.list", json!({}), json!({"pending": "array", "paired": "array"})),
        // overview (and instances)
        ("system-presence", json!({}), json!({"presence": "array", "stateVersion": "object"})),
        ("sessions.list", json!({}), json!({"path": "string", "count": "number", "sessions": "array"})),
        (
            "cron.status",
            json!({}),
            json!({"enabled": "bool", "storePath": "string", "storeError": "null", "jobs": "number",
                   "running": "array", "nextWakeAtMs": "null"}),
        ),
        // channels, nodes, config
        (
            "config.schema",
            json!({}),
            json!({"schema": "object", "uiHints": "object", "version": "string", "generatedAt": "string"}),
        ),
        (
            "config.get",
            json!({}),
            json!({"path": "string", "exists": "bool", "raw": "string", "parsed": "object", "valid": "bool",
                   "config": "object", "hash": "string", "issues": "array", "warnings": "array"}),
        ),
        // cron
        ("cron.list", json!({"includeDisabled": true}), json!({"enabled": "bool", "jobs": "array"})),
        // chat
        (
            "chat.history",
            json!({"sessionKey": "agent:main:main", "limit": 200}),
            json!({"sessionKey": "string", "sessionId": "null", "messages": "array", "thinkingLevel": "string"}),
        ),
        // logs
        ("logs.tail", json!({"limit": 500, "maxBytes": 250000}), Value::Null),
    ];
    for (method, params, want) in calls {
        let r = ws.call(method, params.clone());
        assert_eq!((&r["type"], &r["ok"]), (&json!("res"), &json!(true)), "{method} {params}: {r}");
        if !want.is_null() {
            assert_eq!(shape(&r["payload"]), want, "{method}: {r}");
        }
    }
    // logs.tail: the shape depends on whether the file has been read before.
    let logs = ws.call("logs.tail", json!({"limit": 500, "maxBytes": 250000}));
    for k in ["file", "cursor", "size", "lines"] {
        assert!(logs["payload"].get(k).is_some(), "logs.tail has {k}: {logs}");
    }
    // debug: status, health, models.list (the tab calls them together).
    for (id, method) in [("d1", "status"), ("d2", "health"), ("d3", "models.list")] {
        send(&mut ws, id, method, json!({}));
    }
    let mut got = std::collections::BTreeMap::new();
    while got.len() < 3 {
        let r = ws.response().expect("a debug tab response");
        assert_eq!(r["ok"], true, "{r}");
        got.insert(r["id"].as_str().unwrap().to_string(), r["payload"].clone());
    }
    for k in ["version", "uptimeMs", "phase", "bind", "auth", "sessions", "lanes"] {
        assert!(got["d1"].get(k).is_some(), "status has {k}: {}", got["d1"]);
    }
    for k in ["status", "version", "uptime", "sessions", "lanes"] {
        assert!(got["d2"].get(k).is_some(), "health has {k}: {}", got["d2"]);
    }
    assert_eq!(got["d2"]["status"], "ok");
    assert_eq!(shape(&got["d3"]), json!({"path": "string", "models": "array", "chain": "array"}));
    assert_eq!(got["d3"]["models"][0]["id"], "mock/ok", "{}", got["d3"]);
}
