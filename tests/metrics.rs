//! `GET /metrics`: Prometheus text that `promtool check metrics` accepts, values that move
//! under load, and access rules (loopback free, others with the token).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Spawn, Ws, http_get};
use serde_json::json;

fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/setup installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The value of the sample `name{labels}` (labels as written, e.g. `method="health"`).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = if labels.is_empty() { name.to_string() } else { format!("{name}{{{labels}}}") };
    text.lines().find_map(|l| l.strip_prefix(&key)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn metrics_parse_with_promtool_and_move_under_load() {
    let gw = Spawn::default().config("{ gateway: { auth: { token: 'sekret-token' } } }").start();
    let (code, before) = http_get(gw.addr, "/metrics").unwrap();
    assert_eq!(code, 200, "{before}");
    let (ok, lint) = promtool(&before);
    assert!(ok, "promtool: {lint}\n{before}");
    for family in [
        "openclaw_queue_depth{lane=\"main\"}",
        "openclaw_build_info{version=",
        "openclaw_connections_active",
        "openclaw_child_restarts_total{child=\"lane.main\"}",
        "openclaw_reloads_total{outcome=\"applied\"}",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(before.contains(family), "{family} missing:\n{before}");
    }

    let mut ws = Ws::open(gw.addr);
    ws.connect(json!({"auth": {"token": "sekret-token"}})).unwrap();
    for _ in 0..20 {
        assert_eq!(ws.call("health", json!({}))["ok"], true);
    }
    ws.call("no.such.method", json!({}));
    let mut bad = Ws::open(gw.addr);
    // Not local-direct: a forwarded request from an untrusted peer must bring the token.
    let _ = bad.connect(json!({"auth": {"token": "wrong"}}));
    let (_, after) = http_get(gw.addr, "/metrics").unwrap();
    let (ok, lint) = promtool(&after);
    assert!(ok, "promtool: {lint}\n{after}");
    assert_eq!(sample(&after, "openclaw_requests_total", "method=\"health\""), Some(20.0), "{after}");
    assert_eq!(sample(&after, "openclaw_response_duration_seconds_count", "method=\"health\""), Some(20.0));
    assert_eq!(sample(&after, "openclaw_requests_total", "method=\"unknown\""), Some(1.0), "{after}");
    assert_eq!(sample(&after, "openclaw_errors_total", "code=\"INVALID_REQUEST\""), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, "openclaw_auth_failures_total", "reason=\"gateway_token_mismatch\""),
        Some(1.0),
        "{after}"
    );
    assert_eq!(sample(&after, "openclaw_connections_active", ""), Some(1.0), "{after}");
    assert_eq!(sample(&after, "openclaw_connections_total", ""), Some(1.0), "connected sessions: {after}");
}

#[test]
fn metrics_access_follows_the_config() {
    let gw = Spawn::default()
        .config("{ gateway: { auth: { token: 'sekret-token' }, metrics: { access: 'token' } } }")
        .start();
    let (code, body) = http_get(gw.addr, "/metrics").unwrap();
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("gateway.metrics.access"), "{body}");
    let (code, body) = common::http_get_with(gw.addr, "/metrics", &[("Authorization", "Bearer sekret-token")]).unwrap();
    assert_eq!(code, 200, "{body}");
    let (code, _) = common::http_get_with(gw.addr, "/metrics", &[("Authorization", "Bearer nope")]).unwrap();
    assert_eq!(code, 401);
    // A loopback client behind a proxy header is not local-direct: it needs the token too.
    let gw = Spawn::default().config("{ gateway: { auth: { token: 't0k' } } }").start();
    let (code, _) = common::http_get_with(gw.addr, "/metrics", &[("X-Forwarded-For", "203.0.113.9")]).unwrap();
    assert_eq!(code, 401);
    let gw = Spawn::default().config("{ gateway: { metrics: { enabled: false } } }").start();
    assert_eq!(http_get(gw.addr, "/metrics").unwrap().0, 404);
}
