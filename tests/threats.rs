//! The threat model of docs/security.md, one test per row: a web page in the user's browser
//! (request forgery, DNS rebinding, cross-site WebSocket), another local user (no token, no
//! entry), a LAN host (`/health` and `/metrics` without the token), a reverse proxy (only a
//! trusted one vouches for Host and client address), and the operator's own tools, which
//! keep working without flags.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Spawn, Ws};
use serde_json::{Value, json};

const EVIL: &str = "https://evil.example";

/// A raw HTTP request; returns (status, headers, body).
fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: localhost:{}\r\n", addr.port()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n{body}").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn cron_store(gw: &common::Gateway) -> Option<String> {
    std::fs::read_to_string(gw.state_path().join("cron/jobs.json")).ok()
}

/// What a forged write looks like from the gateway's side: the config and the cron store.
fn snapshot(gw: &common::Gateway) -> (String, Option<String>) {
    (std::fs::read_to_string(gw.config_path()).unwrap(), cron_store(gw))
}

const CONFIG_SET: &str = r#"{"method":"config.set","params":{"key":"agents.defaults.maxConcurrent","value":9}}"#;
const CRON_ADD: &str =
    r#"{"method":"cron.add","params":{"schedule":"every 1h","payload":{"kind":"agentTurn","message":"x"}}}"#;

#[test]
fn a_web_page_cannot_forge_writes_on_post_rpc() {
    let gw = Spawn::default().config("{ gateway: { auth: { token: 'page-token' } } }").start();
    let before = snapshot(&gw);
    let token = "Bearer page-token";
    for body in [CONFIG_SET, CRON_ADD] {
        // The attack as reported: a CORS "simple request" from another site, no token.
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let (status, _, resp) = send(gw.addr, "POST", "/rpc", &[("Origin", EVIL), ("Content-Type", ct)], body);
            assert_eq!(status, 403, "{ct}: {resp}");
            assert!(resp.contains("origin not allowed (https://evil.example)"), "{resp}");
        }
        // No Content-Type at all, or a non-JSON one, even without an Origin: 415.
        for headers in [
            &[][..],
            &[("Content-Type", "text/plain")][..],
            &[("Content-Type", "text/plain"), ("Authorization", token)][..],
        ] {
            let (status, _, resp) = send(gw.addr, "POST", "/rpc", headers, body);
            assert_eq!(status, 415, "{headers:?}: {resp}");
            assert!(resp.contains("Content-Type: application/json"), "{resp}");
        }
        // The right token does not make a foreign page's request acceptable.
        let h = [("Origin", EVIL), ("Content-Type", "application/json"), ("Authorization", token)];
        assert_eq!(send(gw.addr, "POST", "/rpc", &h, body).0, 403);
        let h = [("Sec-Fetch-Site", "cross-site"), ("Content-Type", "application/json"), ("Authorization", token)];
        assert_eq!(send(gw.addr, "POST", "/rpc", &h, body).0, 403);
        // JSON from loopback without a token: 401, like any other client.
        let (status, _, resp) = send(gw.addr, "POST", "/rpc", &[("Content-Type", "application/json")], body);
        assert_eq!(status, 401, "{resp}");
    }
    assert_eq!(snapshot(&gw), before, "nothing was written: config and cron store unchanged");

    // Same-origin JSON with the token: the key/value form and cron.add are accepted.
    let same = format!("http://localhost:{}", gw.addr.port());
    let h = [("Origin", same.as_str()), ("Content-Type", "application/json"), ("Authorization", token)];
    for body in [CONFIG_SET, CRON_ADD] {
        let (status, _, resp) = send(gw.addr, "POST", "/rpc", &h, body);
        assert_eq!(status, 200, "{body}: {resp}");
    }
    assert!(std::fs::read_to_string(gw.config_path()).unwrap().contains("maxConcurrent"));
    assert!(cron_store(&gw).is_some_and(|s| s.contains("every 1h")));
}

#[test]
fn the_key_value_form_of_config_set_checks_a_base_hash_when_given() {
    let gw = Spawn::default().config("{ gateway: { auth: { token: 'kv-token' } } }").start();
    let before = std::fs::read_to_string(gw.config_path()).unwrap();
    let h = [("Content-Type", "application/json"), ("Authorization", "Bearer kv-token")];
    let stale = r#"{"method":"config.set","params":{"key":"logging.level","value":"warn","baseHash":"0000"}}"#;
    let (status, _, resp) = send(gw.addr, "POST", "/rpc", &h, stale);
    assert_eq!(status, 409, "{resp}");
    assert_eq!(std::fs::read_to_string(gw.config_path()).unwrap(), before);
}

#[test]
fn preflights_and_cors_headers_go_to_listed_origins_only() {
    let gw = Spawn::default()
        .config("{ gateway: { auth: { token: 'cors' }, controlUi: { allowedOrigins: ['https://ui.example'] } } }")
        .start();
    let ask = |origin: &str| {
        send(
            gw.addr,
            "OPTIONS",
            "/rpc",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization, content-type"),
            ],
            "",
        )
    };
    let (status, head, _) = ask(EVIL);
    assert_eq!(status, 403);
    assert!(!head.contains("access-control-"), "no CORS headers for a foreign origin: {head}");
    let (status, head, _) = ask("https://ui.example");
    assert_eq!(status, 204, "{head}");
    assert!(head.contains("access-control-allow-origin: https://ui.example"), "{head}");
    assert!(head.contains("access-control-allow-headers: authorization, content-type"), "{head}");
    // The listed origin's real request gets its header; a foreign one's read gets none.
    let h = [("Origin", "https://ui.example"), ("Content-Type", "application/json"), ("Authorization", "Bearer cors")];
    let (status, head, _) = send(gw.addr, "POST", "/rpc", &h, r#"{"method":"health"}"#);
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: https://ui.example"), "{head}");
    let (_, head, _) = send(gw.addr, "GET", "/healthz", &[("Origin", EVIL)], "");
    assert!(!head.contains("access-control-"), "{head}");
}

#[test]
fn a_rebinding_host_is_refused_on_every_route() {
    let gw = Spawn::default().config("{ gateway: { auth: { token: 'rb' }, allowedHosts: ['gw.home.arpa'] } }").start();
    let evil = [("Host", "evil.example:18789")];
    for (method, path) in
        [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/health"), ("GET", "/metrics"), ("GET", "/")]
    {
        let (status, _, body) = send(gw.addr, method, path, &evil, "");
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("host not allowed (evil.example:18789)") && body.contains("gateway.allowedHosts"));
    }
    let h = [evil[0], ("Content-Type", "application/json"), ("Authorization", "Bearer rb")];
    assert_eq!(send(gw.addr, "POST", "/rpc", &h, r#"{"method":"health"}"#).0, 403, "even with the token");
    let (status, _) = Ws::try_open_with(gw.addr, &evil).err().expect("upgrade refused");
    assert_eq!(status, 403);
    // Names the gateway answers to: an allowed host, this machine's name, IP literals.
    for host in ["gw.home.arpa", "127.0.0.1", "[::1]:1"] {
        assert_eq!(send(gw.addr, "GET", "/healthz", &[("Host", host)], "").0, 200, "{host}");
    }
    let machine = openclaw::sys::hostname();
    assert_eq!(send(gw.addr, "GET", "/healthz", &[("Host", &format!("{machine}.local"))], "").0, 200);
}

#[test]
fn another_local_user_gets_nothing_without_the_token_and_the_cli_needs_no_flags() {
    // The CLI finds the gateway through the config, so the port is fixed there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gw = Spawn::default().config(&format!("{{ gateway: {{ port: {port} }} }}")).start();
    // A local process that cannot read the state dir: WebSocket and HTTP both refuse it.
    let mut ws = Ws::open(gw.addr);
    let r = ws.connect(json!({})).unwrap();
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("unauthorized: gateway token missing"), "{r}");
    assert!(msg.contains("the token file the gateway generated in its state directory"), "{msg}");
    assert!(!msg.contains(&gw.token()) && !msg.contains(gw.state_path().to_str().unwrap()), "{msg}");
    let h = [("Content-Type", "application/json")];
    assert_eq!(send(gw.addr, "POST", "/rpc", &h, r#"{"method":"status"}"#).0, 401);
    // The operator's tools read the token from the gateway's own sources: no flags needed.
    let (code, out, err) = common::run(gw.state_path(), &["health", "--json"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = common::run(gw.state_path(), &["gateway", "call", "status"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = common::run(gw.state_path(), &["healthcheck"], &[]);
    assert_eq!(code, 0, "{err}");
    // scripts/run's probe: plain /healthz, no token.
    assert_eq!(common::http_get(gw.addr, "/healthz").unwrap(), (200, "ok\n".into()));
    // The browser's way in: the dashboard URL carries the token in its fragment.
    let (code, out, err) = common::run(gw.state_path(), &["dashboard", "--no-open"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("http://127.0.0.1:{}/#token={}", gw.addr.port(), gw.token()));
    assert!(err.contains("treat it like a password"), "{err}");
}

#[test]
fn auth_none_is_loopback_only_and_warns_at_start() {
    let gw = Spawn::default().config("{ gateway: { auth: { mode: 'none' } } }").start();
    assert!(gw.has_log("gateway.auth.mode is \\\"none\\\""), "{}", gw.dump_logs());
    let mut ws = Ws::open(gw.addr);
    assert_eq!(ws.connect(json!({})).unwrap()["ok"], true, "explicitly configured: open on loopback");
}

#[test]
fn health_answers_a_lan_peer_only_with_the_token_and_the_refusal_leaks_nothing() {
    let ns_ok = std::process::Command::new("unshare").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    assert!(ns_ok, "this test needs `unshare -n` (util-linux, root): scripts/setup installs it");
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("config.json5"), "{ gateway: { auth: { token: 'lan-token-1' } } }").unwrap();
    // A private namespace with a LAN-like interface: the peer's address is 10.9.0.2, not loopback.
    let script = format!(
        r#"set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.9.0.1/24 dev v0
ip addr add 10.9.0.2/24 dev v1
ip link set v0 up
ip link set v1 up
{bin} --state-dir {dir} gateway --bind lan --port 18789 >{dir}/out.log 2>&1 &
pid=$!
for i in $(seq 1 200); do curl -sf http://127.0.0.1:18789/healthz >/dev/null 2>&1 && break; sleep 0.05; done
peer="curl -s --interface 10.9.0.2 -w \n%{{http_code}}\n"
echo "== healthz"; $peer http://10.9.0.1:18789/healthz
echo "== readyz"; $peer http://10.9.0.1:18789/readyz
echo "== health"; $peer http://10.9.0.1:18789/health
echo "== metrics"; $peer http://10.9.0.1:18789/metrics
echo "== wrong"; $peer -H 'Authorization: Bearer nope' http://10.9.0.1:18789/health
echo "== token"; $peer -H 'Authorization: Bearer lan-token-1' http://10.9.0.1:18789/health
echo "== local"; curl -s -w '\n%{{http_code}}\n' http://127.0.0.1:18789/health
echo "== pid $pid"
kill -TERM $pid; wait $pid"#,
        bin = common::BIN,
        dir = state.path().display()
    );
    let out = std::process::Command::new("unshare").args(["-n", "sh", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = std::fs::read_to_string(state.path().join("out.log")).unwrap_or_default();
    assert!(out.status.success(), "{stdout}\n{}\n{log}", String::from_utf8_lossy(&out.stderr));
    let section = |name: &str| -> (u16, String) {
        let part = stdout.split(&format!("== {name}\n")).nth(1).unwrap_or_else(|| panic!("{name}: {stdout}"));
        let part = part.split("\n== ").next().unwrap().trim_end();
        let (body, code) = part.rsplit_once('\n').unwrap_or(("", part));
        (code.trim().parse().unwrap_or_else(|_| panic!("{name}: {part}")), body.trim_end().to_string())
    };
    assert_eq!(section("healthz"), (200, "ok".into()));
    let (code, body) = section("readyz");
    assert_eq!(code, 200);
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready.as_object().unwrap().keys().collect::<Vec<_>>(), ["phase", "ready"], "{body}");
    let pid = stdout.split("== pid ").nth(1).unwrap().trim().to_string();
    for name in ["health", "metrics", "wrong"] {
        let (code, body) = section(name);
        assert_eq!(code, 401, "{name}: {body}");
        for secret in [
            state.path().to_str().unwrap(),
            "config.json5",
            "lan-token-1",
            "10.9.0",
            "0.0.0.0",
            "18789",
            "hash",
            "children",
            pid.as_str(),
            "/tmp",
        ] {
            assert!(!body.contains(secret), "{name} leaks {secret:?}: {body}");
        }
    }
    let (code, body) = section("token");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"children\""), "{body}");
    let (code, body) = section("local");
    assert_eq!(code, 200, "loopback reads the document without the token (gateway.health.access: loopback): {body}");
}

#[test]
fn health_access_token_and_public() {
    let gw = Spawn::default().config("{ gateway: { auth: { token: 'h' }, health: { access: 'token' } } }").start();
    let (status, body) = common::http_get(gw.addr, "/health").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("gateway.health.access is \\\"token\\\""), "{body}");
    let (status, _) = common::http_get_with(gw.addr, "/health", &[("Authorization", "Bearer h")]).unwrap();
    assert_eq!(status, 200);
    let gw = Spawn::default().config("{ gateway: { health: { access: 'public' } } }").start();
    let (status, _) = common::http_get_with(gw.addr, "/health", &[("X-Forwarded-For", "203.0.113.9")]).unwrap();
    assert_eq!(status, 200);
}
