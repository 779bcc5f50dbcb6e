//! The upstream Control UI's calls for its tabs, replayed over a WebSocket against the real
//! gateway (upstream-capabilities.md §1): `agent.identity.get`, `agents.list`, `node.list`,
//! `channels.status`, `skills.status`, `last-heartbeat`, `sessions.preview`, `sessions.patch`,
//! `usage.status`, `usage.cost`, `exec.approvals.get|set`, with the params the UI sends and
//! upstream's answer shapes; then bad input, stale base hashes and scopes.

mod common;

use std::time::Duration;

use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws, post_rpc, shape, wait_until};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};

const OPERATOR_SCOPES: [&str; 3] = ["operator.admin", "operator.approvals", "operator.pairing"];
const KEY: &str = "agent:main:main";

/// A gateway with the mock provider as its model and Discord enabled (channels.status).
fn gateway(mock: &MockProvider) -> Gateway {
    let cfg = "{ agents: { defaults: { model: 'mock/ok' } }, channels: { discord: { enabled: true, botToken: 'x' } } }";
    mock.install(Spawn::default().config(cfg), &["ok"]).start()
}

/// The Control UI's connect (`ui/gateway.ts`), with a device as in a secure context.
fn ui(gw: &Gateway, scopes: &[&str]) -> (Ws, Value) {
    let token = common::generated_token(gw.state_path());
    let mut ws = Ws::open_with(gw.addr, &[("Origin", &format!("http://{}", gw.addr))]);
    let mut params = json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "openclaw-control-ui", "version": "dev", "platform": "Linux x86_64", "mode": "webchat",
                   "instanceId": uuid::Uuid::new_v4().to_string()},
        "role": "operator", "scopes": scopes, "caps": [], "auth": {"token": token},
        "userAgent": "Mozilla/5.0", "locale": "en-US"});
    let parsed = openclaw::protocol::connect::parse(&params).expect("valid connect params");
    let id = Identity::generate();
    params["device"] = id.prove(&parsed, &token, Some(&ws.nonce()), chrono::Utc::now().timestamp_millis()).to_json();
    ws.send_text(&json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string());
    let hello = ws.response().expect("the connect response");
    assert_eq!(hello["ok"], true, "{hello}");
    (ws, hello["payload"].clone())
}

fn ok(ws: &mut Ws, method: &str, params: Value) -> Value {
    let r = ws.call(method, params.clone());
    assert_eq!((&r["type"], &r["ok"]), (&json!("res"), &json!(true)), "{method} {params}: {r}");
    r["payload"].clone()
}

/// The error of a call that must fail with INVALID_REQUEST and a message containing `want`.
fn refused(ws: &mut Ws, method: &str, params: Value, want: &str) {
    let r = ws.call(method, params.clone());
    assert_eq!((&r["ok"], &r["error"]["code"]), (&json!(false), &json!("INVALID_REQUEST")), "{method} {params}: {r}");
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(want), "{method} {params}: want {want:?} in {msg:?}");
}

/// One chat turn through `chat.send` (the UI's), to its final event.
fn chat(ws: &mut Ws, message: &str) {
    let key = uuid::Uuid::new_v4().to_string();
    ok(ws, "chat.send", json!({"sessionKey": KEY, "message": message, "deliver": false, "idempotencyKey": key}));
    loop {
        let e = ws.event("chat").expect("a chat event");
        if e["payload"]["runId"] == key.as_str() && e["payload"]["state"] == "final" {
            return;
        }
    }
}

#[test]
fn on_hello_the_ui_gets_identity_agents_nodes_and_the_tick_in_the_snapshot() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, hello) = ui(&gw, &OPERATOR_SCOPES);
    // The overview tab reads `snapshot.policy.tickIntervalMs`; the CLI reads the top level.
    assert_eq!(hello["snapshot"]["policy"]["tickIntervalMs"], 30000, "{hello}");
    assert_eq!(hello["snapshot"]["policy"], hello["policy"]);
    let methods = hello["features"]["methods"].as_array().unwrap();
    for m in [
        "agent.identity.get",
        "agents.list",
        "node.list",
        "channels.status",
        "skills.status",
        "last-heartbeat",
        "sessions.preview",
        "sessions.patch",
        "usage.status",
        "usage.cost",
        "exec.approvals.get",
        "exec.approvals.set",
    ] {
        assert!(methods.contains(&json!(m)), "{m} advertised");
    }
    assert_eq!(
        ok(&mut ws, "agent.identity.get", json!({"sessionKey": KEY})),
        json!({"agentId": "main", "name": "Assistant", "avatar": "A"})
    );
    assert_eq!(ok(&mut ws, "agent.identity.get", json!({}))["agentId"], "main");
    assert_eq!(
        ok(&mut ws, "agents.list", json!({})),
        json!({"defaultId": "main", "mainKey": "main", "scope": "per-sender", "agents": [{"id": "main"}]})
    );
    let nodes = ok(&mut ws, "node.list", json!({}));
    assert_eq!(shape(&nodes), json!({"ts": "number", "nodes": "array"}));
    assert_eq!(nodes["nodes"], json!([]));
    // Debug tab: no heartbeat runs here.
    assert_eq!(ok(&mut ws, "last-heartbeat", json!({})), Value::Null);
    let skills = ok(&mut ws, "skills.status", json!({}));
    assert_eq!(shape(&skills), json!({"workspaceDir": "string", "managedSkillsDir": "string", "skills": "array"}));
}

#[test]
fn config_schema_is_inlined_with_hints_the_form_reads() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, _) = ui(&gw, &OPERATOR_SCOPES);
    let got = ok(&mut ws, "config.schema", json!({}));
    assert_eq!(
        shape(&got),
        json!({"schema": "object", "uiHints": "object", "version": "string", "generatedAt": "string"})
    );
    let text = got["schema"].to_string();
    assert!(!text.contains("$ref") && !text.contains("$defs"), "the form cannot follow references");
    let gateway = &got["schema"]["properties"]["gateway"];
    assert_eq!(gateway["properties"]["auth"]["properties"]["token"]["type"], json!(["string", "null"]), "{gateway}");
    let token = &got["uiHints"]["gateway.auth.token"];
    assert_eq!((&token["sensitive"], &token["group"]), (&json!(true), &json!("Gateway")), "{token}");
    let max = &got["uiHints"]["agents.defaults.maxConcurrent"];
    assert_eq!(
        shape(max),
        json!({"label": "string", "help": "string", "group": "string", "order": "number",
                                  "placeholder": "string"})
    );
    assert_eq!(max["label"], "Max Concurrent");
}

#[test]
fn channels_status_reports_a_configured_channel_that_cannot_reach_its_platform() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, _) = ui(&gw, &OPERATOR_SCOPES);
    // Discord is configured with a token, and the test harness points it at a closed port.
    let st = wait_until("the connection failure in channels.status", Duration::from_secs(15), || {
        let st = ok(&mut ws, "channels.status", json!({"probe": false, "timeoutMs": 8000}));
        st["channels"]["discord"]["lastError"].is_string().then_some(st)
    });
    assert_eq!(
        shape(&st),
        json!({"ts": "number", "channelOrder": "array", "channelLabels": "object",
               "channelDetailLabels": "object", "channelSystemImages": "object", "channelMeta": "array",
               "channels": "object", "channelAccounts": "object", "channelDefaultAccountId": "object"})
    );
    assert_eq!(st["channelOrder"], json!(["discord"]));
    assert_eq!(st["channelLabels"]["discord"], "Discord");
    assert_eq!(st["channelMeta"][0]["detailLabel"], "Discord Bot");
    let d = &st["channels"]["discord"];
    assert_eq!(
        (&d["configured"], &d["running"], &d["connected"], &d["probe"]),
        (&json!(true), &json!(true), &json!(false), &Value::Null),
        "{d}"
    );
    assert_eq!(st["channelAccounts"]["discord"][0]["accountId"], "default");
    assert_eq!(st["channelDefaultAccountId"], json!({"discord": "default"}));
    let st = ok(&mut ws, "channels.status", json!({"probe": true, "timeoutMs": 8000}));
    let p = &st["channels"]["discord"]["probe"];
    assert_eq!(p["ok"], false, "{p}");
    assert!(p["error"].is_string(), "{p}");
}

#[test]
fn sessions_tab_previews_and_patches_and_usage_counts_the_turns() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, _) = ui(&gw, &OPERATOR_SCOPES);
    chat(&mut ws, "hi there");
    chat(&mut ws, "again");
    let missing = "agent:main:nothing";
    let pv = ok(&mut ws, "sessions.preview", json!({"keys": [KEY, missing], "limit": 3, "maxChars": 120}));
    assert_eq!(shape(&pv), json!({"ts": "number", "previews": "array"}));
    assert_eq!(
        pv["previews"],
        json!([
            {"key": KEY, "status": "ok", "items": [{"role": "assistant", "text": "Hello, world"},
                                                    {"role": "user", "text": "again"},
                                                    {"role": "assistant", "text": "Hello, world"}]},
            {"key": missing, "status": "missing", "items": []},
        ])
    );
    let pv = ok(&mut ws, "sessions.preview", json!({"keys": [KEY], "maxChars": 20}));
    assert_eq!(pv["previews"][0]["items"].as_array().map(Vec::len), Some(4), "{pv}");

    let patched = ok(
        &mut ws,
        "sessions.patch",
        json!({"key": KEY, "label": "Mine", "thinkingLevel": "low", "verboseLevel": "on", "reasoningLevel": "off"}),
    );
    assert_eq!(shape(&patched), json!({"ok": "bool", "path": "string", "key": "string", "entry": "object"}));
    assert_eq!((&patched["entry"]["label"], &patched["entry"]["verboseLevel"]), (&json!("Mine"), &json!("on")));
    let list = ok(&mut ws, "sessions.list", json!({}));
    let s = &list["sessions"][0];
    assert_eq!(
        (&s["key"], &s["label"], &s["thinkingLevel"], &s["verboseLevel"], &s["reasoningLevel"], &s["turns"]),
        (&json!(KEY), &json!("Mine"), &json!("low"), &json!("on"), &json!("off"), &json!(2)),
        "{list}"
    );
    // `null` clears a field; the others stay.
    let cleared = ok(&mut ws, "sessions.patch", json!({"key": KEY, "label": null}));
    assert!(cleared["entry"].get("label").is_none(), "{cleared}");
    assert_eq!(cleared["entry"]["thinkingLevel"], "low");
    // A key with no session yet gets one (upstream does), with no turns.
    let fresh = ok(&mut ws, "sessions.patch", json!({"key": "agent:main:new", "label": "Later"}));
    assert_eq!(fresh["entry"]["turns"], 0);

    // The mock reports 5 prompt + 2 completion tokens a turn.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for params in [json!({}), json!({"days": 7})] {
        let cost = ok(&mut ws, "usage.cost", params.clone());
        assert_eq!(
            shape(&cost),
            json!({"updatedAt": "number", "days": "number", "daily": "array", "totals": "object"})
        );
        assert_eq!(cost["days"], params.get("days").cloned().unwrap_or(json!(30)));
        assert_eq!(cost["daily"].as_array().map(Vec::len), Some(1), "{cost}");
        assert_eq!(cost["daily"][0]["date"], today.as_str());
        assert_eq!(
            cost["totals"],
            json!({"input": 10, "output": 4, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 14, "totalCost": 0.0})
        );
    }
    let st = ok(&mut ws, "usage.status", json!({}));
    assert_eq!(shape(&st), json!({"updatedAt": "number", "providers": "array"}));
}

#[test]
fn exec_approvals_round_trip_with_the_base_hash_rule() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, _) = ui(&gw, &OPERATOR_SCOPES);
    let first = ok(&mut ws, "exec.approvals.get", json!({}));
    assert_eq!(
        (&first["exists"], &first["hash"], &first["file"]),
        (&json!(false), &Value::Null, &json!({"version": 1})),
        "{first}"
    );
    assert!(first["path"].as_str().unwrap().ends_with("exec-approvals.json"));
    // No file yet: no base hash needed (as config).
    let file = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"},
                      "agents": {"main": {"allowlist": [{"pattern": "/usr/bin/ls"}]}}});
    let set = ok(&mut ws, "exec.approvals.set", json!({"file": file, "baseHash": first["hash"]}));
    assert_eq!((&set["exists"], &set["file"]), (&json!(true), &file));
    let got = ok(&mut ws, "exec.approvals.get", json!({}));
    assert_eq!((&got["hash"], &got["file"]), (&set["hash"], &file));
    let on_disk = gw.state_path().join("exec-approvals.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&on_disk).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let edited = json!({"version": 1, "defaults": {"security": "deny"}});
    refused(&mut ws, "exec.approvals.set", json!({"file": edited}), "exec approvals base hash required");
    refused(
        &mut ws,
        "exec.approvals.set",
        json!({"file": edited, "baseHash": first["hash"].as_str().unwrap_or("0".repeat(64).as_str())}),
        "exec approvals changed since last load; re-run exec.approvals.get and retry",
    );
    // Another editor wrote meanwhile: the hash the UI holds is stale.
    std::fs::write(&on_disk, "{\"version\": 1}\n").unwrap();
    refused(
        &mut ws,
        "exec.approvals.set",
        json!({"file": edited, "baseHash": got["hash"]}),
        "exec approvals changed since last load",
    );
    let now = ok(&mut ws, "exec.approvals.get", json!({}));
    let done = ok(&mut ws, "exec.approvals.set", json!({"file": edited, "baseHash": now["hash"]}));
    assert_eq!(done["file"], edited);
    assert_ne!(done["hash"], now["hash"]);
    // Over `POST /rpc` a stale base hash is a conflict, as for config.
    let token = common::generated_token(gw.state_path());
    let body = json!({"method": "exec.approvals.set", "params": {"file": edited, "baseHash": now["hash"]}});
    let (status, answer) = post_rpc(&gw, &token, &body);
    assert_eq!(status, 409, "{answer}");
}

#[test]
fn bad_params_and_unknown_agents_are_invalid_requests_with_clear_messages() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, _) = ui(&gw, &OPERATOR_SCOPES);
    let cases = [
        ("agent.identity.get", json!({"agentId": "nope"}), "unknown agent id: nope"),
        ("agent.identity.get", json!({"agentId": 5}), "at /agentId: must be string"),
        ("agent.identity.get", json!({"agentId": "main", "sessionKey": "agent:other:main"}), "does not match"),
        ("agent.identity.get", json!({"sessionKey": "agent:ghost:main"}), "unknown agent id: ghost"),
        ("agents.list", json!({"x": 1}), "must NOT have additional properties"),
        ("node.list", json!([]), "must be object"),
        ("channels.status", json!({"probe": "yes"}), "at /probe: must be boolean"),
        ("channels.status", json!({"timeoutMs": 10}), "at /timeoutMs: must be >= 1000"),
        ("skills.status", json!({"agentId": 1}), "at /agentId: must be string"),
        ("last-heartbeat", json!({"x": true}), "must NOT have additional properties"),
        ("sessions.preview", json!({}), "must have required property 'keys'"),
        ("sessions.preview", json!({"keys": []}), "at /keys: must NOT have fewer than 1 items"),
        ("sessions.preview", json!({"keys": "k"}), "at /keys: must be array"),
        ("sessions.preview", json!({"keys": [1]}), "at /keys: must be array of non-empty strings"),
        ("sessions.preview", json!({"keys": [KEY], "maxChars": 5}), "at /maxChars: must be >= 20"),
        ("sessions.patch", json!({"label": "x"}), "must have required property 'key'"),
        ("sessions.patch", json!({"key": 1}), "at /key: must be string"),
        ("sessions.patch", json!({"key": KEY, "thinkingLevel": "loud"}), "at /thinkingLevel: must be one of"),
        ("sessions.patch", json!({"key": KEY, "verboseLevel": true}), "at /verboseLevel: must be string or null"),
        ("sessions.patch", json!({"key": KEY, "label": "x".repeat(65)}), "at /label: must NOT have more than 64"),
        ("sessions.patch", json!({"key": KEY, "model": "x"}), "must NOT have additional properties"),
        ("usage.cost", json!({"days": 0}), "at /days: must be >= 1"),
        ("usage.cost", json!({"days": "7"}), "at /days: must be integer"),
        ("usage.status", json!({"x": 1}), "must NOT have additional properties"),
        ("exec.approvals.set", json!({}), "must have required property 'file'"),
        ("exec.approvals.set", json!({"file": "x"}), "at /file: must be object"),
        ("exec.approvals.set", json!({"file": {"version": 2}}), "invalid exec approvals file: at /version: must be 1"),
        ("exec.approvals.set", json!({"file": {"defaults": {"security": "nah"}}}), "at /defaults/security"),
        ("exec.approvals.set", json!({"file": {}, "baseHash": 3}), "at /baseHash: must be string"),
    ];
    for (method, params, want) in cases {
        refused(&mut ws, method, params, want);
    }
    // Nothing was written by the refused calls.
    assert!(!gw.state_path().join("exec-approvals.json").exists());
}

#[test]
fn reads_need_operator_read_and_writes_need_admin() {
    let mock = MockProvider::start();
    let gw = gateway(&mock);
    let (mut ws, _) = ui(&gw, &["operator.read"]);
    for m in ["agent.identity.get", "agents.list", "node.list", "channels.status", "skills.status", "usage.status"] {
        ok(&mut ws, m, json!({}));
    }
    ok(&mut ws, "sessions.preview", json!({"keys": [KEY]}));
    for (m, params) in [
        ("sessions.patch", json!({"key": KEY, "label": "x"})),
        ("exec.approvals.get", json!({})),
        ("exec.approvals.set", json!({"file": {}})),
    ] {
        refused(&mut ws, m, params, "missing scope: operator.admin");
    }
}
