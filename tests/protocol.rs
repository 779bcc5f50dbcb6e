//! Protocol v3 against the real gateway: handshake rows, close codes, frames, events.

mod common;

use std::time::Duration;

use common::{Spawn, Ws};
use serde_json::json;

const TOKEN_CFG: &str = "{ gateway: { auth: { mode: 'token', token: 'test-token-1' } } }";

/// Remote-looking peer: a Host header that is not a local name (an IP literal passes the
/// DNS-rebinding rule), so the client is not local-direct.
const REMOTE: &[(&str, &str)] = &[("Host", "192.0.2.10:18789")];

#[test]
fn challenge_then_hello_ok_lists_exactly_what_is_served() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    assert!(ws.challenge["payload"]["nonce"].as_str().unwrap().len() >= 32);
    assert!(ws.challenge["payload"]["ts"].is_i64());
    let hello = ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    let p = &hello["payload"];
    assert_eq!(p["type"], "hello-ok");
    assert_eq!(p["protocol"], 3);
    assert_eq!(p["policy"], json!({"maxPayload": 524288, "maxBufferedBytes": 1572864, "tickIntervalMs": 30000}));
    let methods: Vec<&str> = p["features"]["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    for m in ["health", "status", "system-presence", "config.get", "config.set", "logs.tail", "device.pair.list"] {
        assert!(methods.contains(&m), "{m} not advertised");
        let r = ws.call(m, json!({}));
        assert_ne!(r["error"]["message"], format!("unknown method: {m}"), "advertised but not served: {m}");
    }
    assert!(p["snapshot"]["health"]["status"].is_string());
    assert_eq!(p["snapshot"]["sessionDefaults"]["mainSessionKey"], "agent:main:main");
    assert!(p.get("auth").is_none(), "no device, no auth block");
    assert_eq!(gw.health()["sessions"]["active"], 1);
}

#[test]
fn handshake_rows_and_close_codes() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    // Not JSON before the handshake: close 1000.
    let mut ws = Ws::open(gw.addr);
    ws.send_text("not json");
    assert_eq!(ws.closed().0, 1000);
    // JSON but not connect: error then 1008.
    let mut ws = Ws::open(gw.addr);
    ws.send_text(&json!({"type":"req","id":"1","method":"health"}).to_string());
    let r = ws.response().unwrap();
    assert_eq!(r["error"]["message"], "invalid handshake: first request must be connect");
    assert_eq!(ws.closed(), (1008, "invalid handshake: first request must be connect".into()));
    // Invalid params: 1008 with the path.
    let mut ws = Ws::open(gw.addr);
    let r = ws.connect(json!({"client": {"id": "nope", "version": "1", "platform": "x", "mode": "test"}})).unwrap();
    assert!(r["error"]["message"].as_str().unwrap().starts_with("invalid connect params: at /client/id"), "{r}");
    assert_eq!(ws.closed().0, 1008);
    // Protocol mismatch: 1002 with expectedProtocol.
    let mut ws = Ws::open(gw.addr);
    let r = ws.connect(json!({"minProtocol": 1, "maxProtocol": 2})).unwrap();
    assert_eq!(r["error"]["message"], "protocol mismatch");
    assert_eq!(r["error"]["details"]["expectedProtocol"], 3);
    assert_eq!(ws.closed(), (1002, "protocol mismatch".into()));
    // Invalid role: 1008.
    let mut ws = Ws::open(gw.addr);
    let r = ws.connect(json!({"role": "root", "auth": {"token": "test-token-1"}})).unwrap();
    assert_eq!(r["error"]["message"], "invalid role");
    assert_eq!(ws.closed().0, 1008);
    // A malformed request frame before the handshake: error then 1008.
    let mut ws = Ws::open(gw.addr);
    ws.send_text(&json!({"type":"req","id":"9"}).to_string());
    let r = ws.response().unwrap();
    assert_eq!(r["id"], "9");
    assert_eq!(r["error"]["message"], "invalid request frame: must have required property 'method'");
    assert_eq!(ws.closed().0, 1008);
}

#[test]
fn handshake_timeout_closes_1000() {
    let gw = Spawn::default().config("{ gateway: { handshakeTimeoutMs: 300, auth: { token: 't' } } }").start();
    let mut ws = Ws::open(gw.addr);
    let t0 = std::time::Instant::now();
    assert_eq!(ws.closed(), (1000, "handshake timeout".into()));
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn auth_outcome_messages() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let cases = [
        (json!({"auth": {"token": "wrong"}}), "unauthorized: gateway token mismatch (provide gateway auth token)"),
        (json!({}), "unauthorized: gateway token missing (provide gateway auth token"),
        (json!({"auth": "secret:wrong"}), "unauthorized: gateway token mismatch (provide gateway auth token)"),
        (json!({"auth": "device:abc:tok"}), "unauthorized: device token mismatch (rotate/reissue device token)"),
    ];
    for (params, msg) in cases {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        let r = ws.connect(params.clone()).unwrap();
        let got = r["error"]["message"].as_str().unwrap().to_string();
        // The missing-token message goes on to say where the token lives (never its value).
        assert!(got.starts_with(msg), "{params}: {got}");
        assert!(!got.contains("test-token-1"), "{got}");
        let (code, reason) = ws.closed();
        assert_eq!(code, 1008);
        assert!(got.starts_with(&reason), "the close reason is the message, cut to fit: {reason}");
    }
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    assert_eq!(ws.connect(json!({"auth": "secret:test-token-1"})).unwrap()["ok"], true);

    let gw = Spawn::default().config("{ gateway: { auth: { mode: 'password', password: 'pw' } } }").start();
    for (params, msg) in [
        (json!({"auth": {"password": "nope"}}), "unauthorized: gateway password mismatch"),
        (json!({}), "unauthorized: gateway password missing"),
    ] {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        let got = ws.connect(params).unwrap()["error"]["message"].as_str().unwrap().to_string();
        assert!(got.starts_with(msg), "{got}");
    }
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    assert_eq!(ws.connect(json!({"auth": {"password": "pw"}})).unwrap()["ok"], true);
}

#[test]
fn local_clients_need_the_token_too() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    let r = ws.connect(json!({})).unwrap();
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("unauthorized: gateway token missing (provide gateway auth token"), "{r}");
    assert!(msg.contains("gateway.auth.token in the gateway's config") && msg.contains("openclaw dashboard"), "{msg}");
    assert_eq!(ws.closed().0, 1008);
    let mut ws = Ws::open(gw.addr);
    assert_eq!(ws.connect(json!({"auth": {"token": "bad"}})).unwrap()["ok"], false);
    let mut ws = Ws::open(gw.addr);
    assert_eq!(ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap()["ok"], true);
}

#[test]
fn malformed_frames_after_the_handshake_keep_the_connection() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap();
    ws.send_text("{oops");
    let r = ws.response().unwrap();
    assert_eq!(r["id"], "invalid");
    assert!(r["error"]["message"].as_str().unwrap().starts_with("invalid request frame"));
    ws.send_text(&json!({"type":"req","id":"x1","method":"health","bogus":1}).to_string());
    let r = ws.response().unwrap();
    assert_eq!(r["id"], "x1");
    assert!(r["error"]["message"].as_str().unwrap().contains("additional properties"));
    ws.ws.send(tungstenite::Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(ws.response().unwrap()["error"]["code"], "INVALID_REQUEST");
    let r = ws.call("no.such.method", json!({}));
    assert_eq!(r["error"]["message"], "unknown method: no.such.method");
    let r = ws.call("logs.tail", json!({"limit": "many"}));
    assert_eq!(r["error"]["message"], "invalid logs.tail params: at /limit: must be integer");
    assert_eq!(ws.call("health", json!({}))["ok"], true, "still connected");
}

#[test]
fn an_oversized_frame_closes_1009() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap();
    let big = format!(
        "{{\"type\":\"req\",\"id\":\"1\",\"method\":\"health\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(600 * 1024)
    );
    let _ = ws.ws.send(tungstenite::Message::text(big));
    assert_eq!(ws.closed().0, 1009);
}

#[test]
fn scopes_are_enforced() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({"auth": {"token": "test-token-1"}, "scopes": ["operator.read"]})).unwrap();
    assert_eq!(ws.call("health", json!({}))["ok"], true);
    assert_eq!(ws.call("config.get", json!({}))["error"]["message"], "missing scope: operator.admin");
    assert_eq!(ws.call("device.pair.list", json!({}))["error"]["message"], "missing scope: operator.pairing");
}

#[test]
fn stop_sends_shutdown_then_1012() {
    let mut gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap();
    gw.signal(libc::SIGTERM);
    let ev = ws.event("shutdown").unwrap();
    assert_eq!(ev["payload"], json!({"reason": "gateway stopping", "restartExpectedMs": null}));
    assert!(ev["seq"].as_u64().unwrap() >= 1);
    assert_eq!(ws.closed(), (1012, "service restart".into()));
    assert_eq!(gw.wait_exit(Duration::from_secs(5)).code(), Some(0));
}

#[test]
fn sigusr1_sends_shutdown_restarting_then_1012() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap();
    gw.signal(libc::SIGUSR1);
    let ev = ws.event("shutdown").unwrap();
    assert_eq!(ev["payload"]["reason"], "gateway restarting");
    assert_eq!(ev["payload"]["restartExpectedMs"], 1500);
    assert_eq!(ws.closed().0, 1012);
    let mut again = Ws::open(gw.addr);
    assert_eq!(again.connect(json!({"auth": {"token": "test-token-1"}})).unwrap()["ok"], true);
}

#[test]
fn a_foreign_origin_is_refused_at_the_upgrade_for_every_client() {
    let gw = Spawn::default()
        .config(
            "{ gateway: { auth: { token: 'test-token-1' }, controlUi: { allowedOrigins: ['https://ui.example'] } } }",
        )
        .start();
    let ui = json!({"client": {"id": "openclaw-control-ui", "version": "1", "platform": "web", "mode": "ui"}, "auth": {"token": "test-token-1"}});
    // A page on another site cannot open a session, whatever client it claims to be.
    for headers in [
        &[("Origin", "https://evil.example")][..],
        &[("Origin", "null")][..],
        &[("Sec-Fetch-Site", "cross-site")][..],
        &[("Origin", "http://localhost:1"), ("Host", "localhost:2")][..],
    ] {
        let (status, body) = Ws::try_open_with(gw.addr, headers).err().unwrap_or_else(|| panic!("{headers:?} let in"));
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("gateway.controlUi.allowedOrigins"), "{body}");
    }
    let host = format!("{}", gw.addr);
    let same = format!("http://{host}");
    for (origin, site) in [("https://ui.example", "cross-site"), (same.as_str(), "same-origin")] {
        let mut ws = Ws::open_with(gw.addr, &[("Origin", origin), ("Sec-Fetch-Site", site)]);
        assert_eq!(ws.connect(ui.clone()).unwrap()["ok"], true, "{origin}");
    }
}

#[test]
fn sessions_deregister_when_clients_leave() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let mut conns: Vec<Ws> = (0..5).map(|_| Ws::open(gw.addr)).collect();
    for ws in &mut conns {
        assert_eq!(ws.connect(json!({"auth": {"token": "test-token-1"}})).unwrap()["ok"], true);
    }
    assert_eq!(gw.health()["sessions"]["active"], 5);
    for mut ws in conns.drain(..2) {
        ws.ws.close(None).unwrap();
        let _ = ws.closed();
    }
    drop(conns); // the rest vanish without a close frame
    let h = gw.wait_health("every session deregistered", |h| h["sessions"]["active"] == 0);
    assert_eq!(h["sessions"]["total"], 5);
}
