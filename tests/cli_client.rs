//! The CLI client against a running gateway: round trip, identity, clear failures.

mod common;

use common::{Spawn, Ws, run};
use serde_json::{Value, json};

fn port_cfg(port: u16, extra: &str) -> String {
    format!("{{ gateway: {{ port: {port}, {extra} }} }}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn cli_round_trip_against_a_running_gateway() {
    let gw = Spawn::default().config(&port_cfg(free_port(), "auth: { token: 'cli-token' }")).start();
    let dir = gw.state_path();
    let (code, out, err) = run(dir, &["health", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let h: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(h["status"], "ok");
    let (code, out, _) = run(dir, &["status"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("auth:    token"), "{out}");
    let (code, out, err) = run(dir, &["gateway", "call", "config.get", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("cli-token"), "secrets redacted");
    let (code, out, err) = run(dir, &["gateway", "call", "logs.tail", "--params", "{limit: 2}"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"lines\""));
    // The CLI has its own identity (0600), paired silently as a local client.
    use std::os::unix::fs::PermissionsExt;
    let ident = dir.join("identity/device.json");
    assert_eq!(std::fs::metadata(&ident).unwrap().permissions().mode() & 0o777, 0o600);
    let id: Value = serde_json::from_str(&std::fs::read_to_string(&ident).unwrap()).unwrap();
    let (code, out, _) = run(dir, &["devices", "list"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(id["deviceId"].as_str().unwrap()), "{out}");
    // A method error exits 1 with the gateway's message.
    let (code, _, err) = run(dir, &["gateway", "call", "no.such"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown method: no.such"), "{err}");
}

#[test]
fn the_cli_presents_its_device_token_and_falls_back_to_the_shared_one_when_it_is_stale() {
    let gw = Spawn::default().config(&port_cfg(free_port(), "auth: { token: 'cli-token' }")).start();
    let dir = gw.state_path();
    let paired = dir.join("devices").join("paired.json");
    let identity = dir.join("identity").join("device.json");
    let stored = |f: &std::path::Path| -> Value { serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap() };
    let (code, _, err) = run(dir, &["health"], &[]);
    assert_eq!(code, 0, "{err}");
    let issued = stored(&identity)["tokens"]["operator"]["token"].clone();
    assert!(issued.is_string(), "the gateway issued this CLI a device token");

    // The next commands present it: the gateway checks it and issues (and writes) nothing.
    let registry = std::fs::read(&paired).unwrap();
    for _ in 0..2 {
        let (code, _, err) = run(dir, &["health"], &[]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(std::fs::read(&paired).unwrap(), registry, "a device-token connect changed the registry");
    assert_eq!(stored(&identity)["tokens"]["operator"]["token"], issued);

    // A token the gateway does not know: the config's shared token gets a new one.
    let mut id = stored(&identity);
    id["tokens"]["operator"]["token"] = json!("stale-token");
    std::fs::write(&identity, id.to_string()).unwrap();
    let (code, _, err) = run(dir, &["health"], &[]);
    assert_eq!(code, 0, "{err}");
    let renewed = stored(&identity)["tokens"]["operator"]["token"].clone();
    assert!(renewed.is_string() && renewed != issued && renewed != "stale-token", "{renewed}");
    assert_ne!(std::fs::read(&paired).unwrap(), registry, "the new token is in the registry");
}

#[test]
fn gateway_not_running_is_named_with_exit_69() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.json5"), port_cfg(free_port(), "")).unwrap();
    let (code, _, err) = run(d.path(), &["health"], &[]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("no gateway is answering") && err.contains("openclaw gateway"), "{err}");
}

#[test]
fn a_gateway_that_never_says_hello_times_out_naming_the_flag_that_sets_the_wait() {
    // A WebSocket server that upgrades and then says nothing (no challenge).
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in server.incoming().flatten() {
            held.extend(tungstenite::accept(conn).ok());
        }
    });
    let d = tempfile::tempdir().unwrap();
    let (code, _, err) = run(d.path(), &["health", "--url", &url, "--token", "t", "--timeout", "300"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("timed out waiting for {url} (raise --timeout)")), "{err}");
    let (code, _, err) =
        run(d.path(), &["agent", "--message", "hi", "--url", &url, "--token", "t", "--connect-timeout", "300"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("timed out waiting for {url} (raise --connect-timeout)")), "{err}");
}

#[test]
fn token_mismatch_names_both_sources_but_never_the_tokens() {
    let gw = Spawn::default().config(&port_cfg(free_port(), "auth: { token: 'right-token' }")).start();
    let (code, _, err) = run(gw.state_path(), &["health", "--token", "wrong-token"], &[]);
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("token mismatch"), "{err}");
    assert!(err.contains("--token flag") && err.contains("gateway.auth.token in"), "{err}");
    assert!(!err.contains("right-token") && !err.contains("wrong-token"), "{err}");
}

#[test]
fn pairing_required_prints_the_exact_approve_command() {
    // On 127.0.0.2 the CLI's Host header is not a local name: it counts as remote.
    let port = free_port();
    let gw = Spawn::default().config(&port_cfg(port, "host: '127.0.0.2', auth: { token: 'pt' }")).start();
    let (code, _, err) = run(gw.state_path(), &["health", "--token", "pt"], &[]);
    assert_eq!(code, 77, "{err}");
    let cmd_line = err
        .lines()
        .find(|l| l.trim_start().starts_with("openclaw devices approve "))
        .unwrap_or_else(|| panic!("{err}"));
    let request_id = cmd_line.split_whitespace().last().unwrap().to_string();
    // An operator (local through the Host header) approves exactly that request.
    let mut op = Ws::open_with(gw.addr, &[("Host", "localhost")]);
    assert_eq!(op.connect(json!({"auth": {"token": "pt"}})).unwrap()["ok"], true);
    let r = op.call("device.pair.approve", json!({"requestId": request_id}));
    assert_eq!(r["ok"], true, "{r}");
    let (code, out, err) = run(gw.state_path(), &["health", "--token", "pt"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("status:   ok"));
}
