//! Authentication against the real gateway: devices and pairing, token sources and rotation,
//! rate limiting, the local-direct rule behind proxies, HTTP `POST /rpc`.

mod common;

use std::time::Duration;

use common::{Spawn, Ws, wait_until};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};

/// A Host that is not a local name: the client counts as remote (an IP literal, which the
/// DNS-rebinding rule lets through).
const REMOTE: &[(&str, &str)] = &[("Host", "192.0.2.10:18789")];
const TOKEN_CFG: &str = "{ gateway: { auth: { mode: 'token', token: 'shared-1' } } }";

fn base(extra: Value) -> Value {
    let mut p = json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "cli", "version": "1.0", "platform": "linux", "mode": "cli"}, "scopes": ["operator.read", "operator.pairing"]});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// `params` plus a device proof signed by `id` (v2 when `nonce` is given).
fn with_device(id: &Identity, mut params: Value, token: &str, nonce: Option<&str>, signed_at: i64) -> Value {
    let parsed = openclaw::protocol::connect::parse(&params).unwrap();
    params["device"] = id.prove(&parsed, token, nonce, signed_at).to_json();
    params
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn connect_raw(ws: &mut Ws, params: Value) -> Value {
    ws.send_text(&json!({"type":"req","id":"c1","method":"connect","params": params}).to_string());
    ws.response().unwrap()
}

#[test]
fn device_signature_checks_expired_wrong_nonce_mismatched_id() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let id = Identity::generate();
    let auth = json!({"auth": {"token": "shared-1"}});
    // Expired.
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let n = ws.nonce();
    let r = connect_raw(&mut ws, with_device(&id, base(auth.clone()), "shared-1", Some(&n), now_ms() - 11 * 60 * 1000));
    assert_eq!(r["error"]["message"], "device signature expired");
    assert_eq!(ws.closed().0, 1008);
    // Wrong nonce.
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let r = connect_raw(&mut ws, with_device(&id, base(auth.clone()), "shared-1", Some("not-the-challenge"), now_ms()));
    assert_eq!(r["error"]["message"], "device nonce mismatch");
    // Remote without a nonce (v1).
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let r = connect_raw(&mut ws, with_device(&id, base(auth.clone()), "shared-1", None, now_ms()));
    assert_eq!(r["error"]["message"], "device nonce required");
    // Mismatched id.
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let n = ws.nonce();
    let mut p = with_device(&id, base(auth.clone()), "shared-1", Some(&n), now_ms());
    p["device"]["id"] = json!(Identity::generate().id());
    assert_eq!(connect_raw(&mut ws, p)["error"]["message"], "device identity mismatch");
    // Bad signature (signed over another token).
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let n = ws.nonce();
    let r = connect_raw(&mut ws, with_device(&id, base(auth.clone()), "other-token", Some(&n), now_ms()));
    assert_eq!(r["error"]["message"], "device signature invalid");
    // Valid: an unknown remote device must pair.
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let n = ws.nonce();
    let r = connect_raw(&mut ws, with_device(&id, base(auth), "shared-1", Some(&n), now_ms()));
    assert_eq!(r["error"]["code"], "NOT_PAIRED");
    assert_eq!(r["error"]["message"], "pairing required");
    assert!(r["error"]["details"]["requestId"].is_string());
    assert_eq!(ws.closed(), (1008, "pairing required".into()));
}

#[test]
fn pairing_approve_then_reconnect_with_the_device_token_then_revoke_closes_the_session() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    // An operator watching pairing events (local, full scopes).
    let mut op = Ws::open(gw.addr);
    let hello = op
        .connect(json!({"client": {"id": "test", "version": "1", "platform": "linux", "mode": "ui"}, "auth": {"token": "shared-1"}}))
        .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");

    let id = Identity::generate();
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let n = ws.nonce();
    let r = connect_raw(
        &mut ws,
        with_device(&id, base(json!({"auth": {"token": "shared-1"}})), "shared-1", Some(&n), now_ms()),
    );
    let request_id = r["error"]["details"]["requestId"].as_str().unwrap().to_string();
    let code = r["error"]["details"]["code"].as_str().unwrap().to_string();
    let ev = op.event("device.pair.requested").unwrap_or_else(|e| panic!("{e:?}\n{}", gw.dump_logs()));
    assert_eq!(ev["payload"]["requestId"], request_id.as_str());
    assert_eq!(ev["payload"]["deviceId"], id.id());

    let list = op.call("device.pair.list", json!({}));
    assert!(list["payload"]["pending"].as_array().unwrap().iter().any(|p| p["requestId"] == request_id.as_str()));
    // Approve by the 6-digit code.
    let ok = op.call("device.pair.approve", json!({"code": code}));
    assert_eq!(ok["payload"]["deviceId"], id.id(), "{ok}");
    assert_eq!(op.event("device.pair.resolved").unwrap()["payload"]["decision"], "approved");

    // Reconnect: paired now; hello-ok carries a device token.
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let n = ws.nonce();
    let hello = connect_raw(
        &mut ws,
        with_device(&id, base(json!({"auth": {"token": "shared-1"}})), "shared-1", Some(&n), now_ms()),
    );
    assert_eq!(hello["ok"], true, "{hello}");
    let device_token = hello["payload"]["auth"]["deviceToken"].as_str().unwrap().to_string();
    assert_eq!(hello["payload"]["auth"]["role"], "operator");
    assert!(!std::fs::read_to_string(gw.state_path().join("devices/paired.json")).unwrap().contains(&device_token));
    drop(ws);

    // The device token alone (no shared token) works, signed over it.
    let mut dev = Ws::open_with(gw.addr, REMOTE);
    let n = dev.nonce();
    let hello = connect_raw(
        &mut dev,
        with_device(&id, base(json!({"auth": {"token": device_token}})), &device_token, Some(&n), now_ms()),
    );
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(dev.call("health", json!({}))["ok"], true);

    // Revoke: the live session is closed 1008 and the token refused afterwards.
    let r = op.call("device.token.revoke", json!({"deviceId": id.id(), "role": "operator"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(dev.closed(), (1008, "device token revoked".into()));
    let mut again = Ws::open_with(gw.addr, REMOTE);
    let n = again.nonce();
    let r = connect_raw(
        &mut again,
        with_device(&id, base(json!({"auth": {"token": device_token}})), &device_token, Some(&n), now_ms()),
    );
    assert_eq!(r["error"]["message"], "unauthorized: device token mismatch (rotate/reissue device token)");
}

#[test]
fn local_devices_are_paired_silently_and_rotation_issues_a_new_token() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let id = Identity::generate();
    // Local-direct without the token: refused like anyone else (being local skips pairing only).
    let mut ws = Ws::open(gw.addr);
    let r = connect_raw(&mut ws, with_device(&id, base(json!({})), "", None, now_ms()));
    assert!(r["error"]["message"].as_str().unwrap().starts_with("unauthorized: gateway token missing"), "{r}");
    assert_eq!(ws.closed().0, 1008);
    assert!(!gw.state_path().join("devices/paired.json").exists(), "nothing paired");
    // With the token: v1 payload (no nonce) is accepted, pairing is silent.
    let mut ws = Ws::open(gw.addr);
    let auth = json!({"auth": {"token": "shared-1"}});
    let hello = connect_raw(&mut ws, with_device(&id, base(auth), "shared-1", None, now_ms()));
    assert_eq!(hello["ok"], true, "{hello}");
    let first = hello["payload"]["auth"]["deviceToken"].as_str().unwrap().to_string();
    let rotated = ws.call("device.token.rotate", json!({"deviceId": id.id(), "role": "operator"}));
    let second = rotated["payload"]["token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let paired = ws.call("device.pair.list", json!({}))["payload"]["paired"].clone();
    assert!(paired[0]["approvedAtMs"].is_i64());
    assert!(paired[0]["tokens"]["operator"].get("hash").is_none(), "hashes never leave the gateway");
}

#[test]
fn device_pairing_mode_requires_a_device() {
    let gw = Spawn::default().config("{ gateway: { auth: { mode: 'device-pairing' } } }").start();
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let r = connect_raw(&mut ws, base(json!({})));
    assert_eq!(r["error"]["code"], "NOT_PAIRED");
    assert_eq!(r["error"]["message"], "device identity required");
    assert_eq!(ws.closed().0, 1008);
}

#[test]
fn a_token_file_is_read_and_its_rewrite_applies_without_restart() {
    let spawn = Spawn::default();
    let file = spawn.state.path().join("token.txt");
    std::fs::write(&file, "from-file-1\n").unwrap();
    let gw = spawn.config(&format!("{{ gateway: {{ auth: {{ tokenFile: '{}' }} }} }}", file.display())).start();
    let try_token = |t: &str| {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        ws.connect(json!({"auth": {"token": t}})).unwrap()["ok"] == true
    };
    assert!(try_token("from-file-1"));
    // Same length on purpose: the change is noticed by content, not only size.
    std::fs::write(&file, "from-file-2\n").unwrap();
    wait_until("the rewritten token to apply", Duration::from_secs(5), || try_token("from-file-2").then_some(()));
    assert!(!try_token("from-file-1"), "the old token stops working (no grace configured)");
}

#[test]
fn the_previous_token_keeps_working_for_the_grace_period() {
    let cfg = |t: &str| {
        format!(
            "{{ gateway: {{ reload: {{ debounceMs: 20 }}, auth: {{ token: '{t}', previousTokenGraceMs: 60000 }} }} }}"
        )
    };
    let gw = Spawn::default().config(&cfg("old-token")).start();
    std::fs::write(gw.config_path(), cfg("new-token")).unwrap();
    gw.wait_health("token change applied", |h| h["config"]["generation"] == 2);
    for t in ["new-token", "old-token"] {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        assert_eq!(ws.connect(json!({"auth": {"token": t}})).unwrap()["ok"], true, "{t}");
    }
}

#[test]
fn a_missing_token_is_generated_into_the_state_dir_with_mode_0600() {
    let gw = Spawn::default().start();
    let path = gw.state_path().join("secrets/gateway_token");
    let token = common::generated_token(gw.state_path());
    assert_eq!(token.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(gw.has_log(&path.display().to_string()) && !gw.has_log(&token), "the path is logged, never the token");
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    assert_eq!(ws.connect(json!({"auth": {"token": token}})).unwrap()["ok"], true);
}

#[test]
fn rate_limit_locks_out_and_expires() {
    let cfg = "{ gateway: { auth: { token: 'rl', rateLimit: { maxAttempts: 3, windowMs: 60000, lockoutMs: 1500, exemptLoopback: false } } } }";
    let gw = Spawn::default().config(cfg).start();
    for _ in 0..3 {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        assert_eq!(ws.connect(json!({"auth": {"token": "bad"}})).unwrap()["ok"], false);
    }
    let mut ws = Ws::open_with(gw.addr, REMOTE);
    let r = ws.connect(json!({"auth": {"token": "rl"}})).unwrap();
    assert_eq!(r["error"]["code"], "RATE_LIMITED", "even the right token is refused while locked: {r}");
    assert!(r["error"]["retryAfterMs"].as_u64().unwrap() <= 1500);
    assert_eq!(ws.closed().0, 1008);
    // HTTP sees the same lockout.
    let (code, body) = post_rpc(gw.addr, Some("rl"), &json!({"method": "health"}), REMOTE);
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("retry-after") || body.contains("Retry-After"), "{body}");
    wait_until("the lockout to expire", Duration::from_secs(5), || {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        (ws.connect(json!({"auth": {"token": "rl"}})).unwrap()["ok"] == true).then_some(())
    });
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_not_local_and_a_trusted_proxy_is() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let proxied = &[("Host", "localhost"), ("X-Forwarded-For", "203.0.113.7")];
    let mut ws = Ws::open_with(gw.addr, proxied);
    let r = ws.connect(json!({})).unwrap();
    assert!(r["error"]["message"].as_str().unwrap().starts_with("unauthorized: gateway token missing"), "{r}");
    drop(gw);

    let cfg = "{ gateway: { trustedProxies: ['127.0.0.1'], auth: { token: 'shared-1', rateLimit: { maxAttempts: 1, exemptLoopback: true } } } }";
    let gw = Spawn::default().config(cfg).start();
    // Through the trusted proxy, the remote client is remote (token needed) and is the one rate limited.
    let mut ws = Ws::open_with(gw.addr, proxied);
    assert_eq!(ws.connect(json!({})).unwrap()["ok"], false);
    let mut ws = Ws::open_with(gw.addr, proxied);
    assert_eq!(ws.connect(json!({"auth": {"token": "shared-1"}})).unwrap()["error"]["code"], "RATE_LIMITED");
    // A local client through the same proxy is local-direct, and not locked out.
    let mut ws = Ws::open_with(gw.addr, &[("Host", "localhost"), ("X-Forwarded-For", "127.0.0.1")]);
    assert_eq!(ws.connect(json!({"auth": {"token": "shared-1"}})).unwrap()["ok"], true);
}

#[test]
fn auth_none_on_a_lan_bind_is_refused_with_exit_78() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.json5"), "{ gateway: { bind: 'lan', auth: { mode: 'none' } } }").unwrap();
    let (code, _, err) = common::run(d.path(), &["gateway", "--port", "0"], &[]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("\"none\"") && err.contains("loopback"), "{err}");
}

fn post_rpc(addr: std::net::SocketAddr, bearer: Option<&str>, body: &Value, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = body.to_string();
    let mut head = format!(
        "POST /rpc HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = bearer {
        head.push_str(&format!("Authorization: Bearer {b}\r\n"));
    }
    write!(s, "{head}\r\n{body}").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let code = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, raw)
}

#[test]
fn http_rpc_uses_the_same_auth_and_scopes() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let (code, raw) = post_rpc(gw.addr, Some("shared-1"), &json!({"method": "health"}), REMOTE);
    assert_eq!(code, 200, "{raw}");
    assert!(raw.contains("\"ok\":true"));
    let (code, raw) = post_rpc(gw.addr, Some("nope"), &json!({"method": "health"}), REMOTE);
    assert_eq!(code, 401, "{raw}");
    assert!(raw.contains("gateway token mismatch"));
    let (code, _) = post_rpc(gw.addr, None, &json!({"method": "health"}), REMOTE);
    assert_eq!(code, 401);
    let (code, raw) = post_rpc(gw.addr, Some("shared-1"), &json!({"method": "nope"}), REMOTE);
    assert_eq!(code, 404, "{raw}");
    let (code, _) = post_rpc(gw.addr, Some("shared-1"), &json!({"params": {}}), REMOTE);
    assert_eq!(code, 400);
    // Local-direct needs the token too, and the refusal says where it lives, not what it is.
    let (code, raw) = post_rpc(gw.addr, None, &json!({"method": "status"}), &[]);
    assert_eq!(code, 401, "{raw}");
    assert!(raw.contains("gateway.auth.token in the gateway's config"), "{raw}");
    assert!(!raw.contains("shared-1") && !raw.contains(gw.state_path().to_str().unwrap()), "{raw}");
    let (code, raw) = post_rpc(gw.addr, Some("shared-1"), &json!({"method": "status"}), &[]);
    assert_eq!(code, 200, "{raw}");
}

#[test]
fn tailscale_identity_is_accepted_only_through_a_trusted_proxy() {
    let headers = &[
        ("Host", "gw.tailnet.ts.net"),
        ("X-Forwarded-For", "100.100.1.2"),
        ("Tailscale-User-Login", "alice@example.com"),
    ];
    let gw = Spawn::default().config("{ gateway: { auth: { mode: 'tailscale' } } }").start();
    // An untrusted peer's Host is not vouched for: a MagicDNS name on a loopback bind is refused.
    let (status, body) = Ws::try_open_with(gw.addr, headers).err().expect("refused");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("host not allowed (gw.tailnet.ts.net)"), "{body}");
    let mut ws = Ws::open_with(gw.addr, &[("Host", "100.100.1.1"), headers[1], headers[2]]);
    let r = ws.connect(json!({})).unwrap();
    assert!(r["error"]["message"].as_str().unwrap().contains("tailscale identity required"), "untrusted peer: {r}");
    drop(gw);
    let gw =
        Spawn::default().config("{ gateway: { trustedProxies: ['127.0.0.1'], auth: { mode: 'tailscale' } } }").start();
    let mut ws = Ws::open_with(gw.addr, headers);
    assert_eq!(ws.connect(json!({})).unwrap()["ok"], true);
    let mut ws = Ws::open_with(gw.addr, &headers[..2]);
    assert_eq!(ws.connect(json!({})).unwrap()["ok"], false, "no identity header");
}

#[test]
fn token_sources_flag_over_env_over_file_over_config() {
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("tok");
    std::fs::write(&file, "from-file").unwrap();
    let cfg = format!("{{ gateway: {{ auth: {{ token: 'from-config', tokenFile: '{}' }} }} }}", file.display());
    let spawn = Spawn::default();
    let ok = |gw: &common::Gateway, t: &str| {
        let mut ws = Ws::open_with(gw.addr, REMOTE);
        ws.connect(json!({"auth": {"token": t}})).unwrap()["ok"] == true
    };
    let gw = spawn.config(&cfg).env("OPENCLAW_GATEWAY_TOKEN", "from-env").arg("--token").arg("from-flag").start();
    assert!(ok(&gw, "from-flag") && !ok(&gw, "from-env"));
    drop(gw);
    let gw = Spawn::default().config(&cfg).env("OPENCLAW_GATEWAY_TOKEN", "from-env").start();
    assert!(ok(&gw, "from-env") && !ok(&gw, "from-file"));
    drop(gw);
    let gw = Spawn::default().config(&cfg).start();
    assert!(ok(&gw, "from-file") && !ok(&gw, "from-config"), "the token file beats gateway.auth.token");
    assert!(gw.has_log(&format!("the file {}", file.display())), "the source is logged");
}

#[test]
fn device_registry_files_are_private() {
    let gw = Spawn::default().config(TOKEN_CFG).start();
    let id = Identity::generate();
    let mut ws = Ws::open(gw.addr);
    let auth = json!({"auth": {"token": "shared-1"}});
    assert_eq!(connect_raw(&mut ws, with_device(&id, base(auth), "shared-1", None, now_ms()))["ok"], true);
    use std::os::unix::fs::PermissionsExt;
    for f in ["devices/paired.json", "devices/pending.json"] {
        let mode = std::fs::metadata(gw.state_path().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let mode = std::fs::metadata(gw.state_path().join("devices")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}
