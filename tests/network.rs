//! Binding: dual stack on loopback and (inside a private network namespace) on `lan`,
//! and a listener restart that keeps open WebSocket sessions working.

mod common;

use std::time::Duration;

use common::{Spawn, Ws, http_get, wait_until};
use serde_json::json;

#[test]
fn loopback_serves_both_ipv4_and_ipv6() {
    let gw = Spawn::default().start();
    let h = gw.health();
    let listen: Vec<&str> = h["listen"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let port = gw.addr.port();
    assert_eq!(listen, [format!("127.0.0.1:{port}"), format!("[::1]:{port}")]);
    let v6: std::net::SocketAddr = format!("[::1]:{port}").parse().unwrap();
    assert_eq!(http_get(v6, "/healthz").unwrap().0, 200);
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200);
}

/// `lan` binds 0.0.0.0 and :: (IPV6_V6ONLY): run it in a network namespace of its own so no
/// real interface is exposed, and check both families answer there.
#[test]
fn lan_mode_serves_both_families_inside_a_private_network_namespace() {
    let ns_ok = std::process::Command::new("unshare").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    assert!(ns_ok, "this test needs `unshare -n` (util-linux, root): scripts/setup installs it");
    let state = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
{bin} --state-dir {dir} gateway --bind lan --port 18789 >{dir}/out.log 2>&1 &
pid=$!
for i in $(seq 1 200); do curl -sf http://127.0.0.1:18789/healthz >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf http://127.0.0.1:18789/healthz && curl -sfg 'http://[::1]:18789/healthz'
curl -sf http://127.0.0.1:18789/health
kill -TERM $pid; wait $pid"#,
        bin = common::BIN,
        dir = state.path().display()
    );
    let out = std::process::Command::new("unshare").args(["-n", "sh", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(state.path().join("out.log")).unwrap_or_default()
    );
    assert_eq!(stdout.matches("ok\n").count(), 2, "{stdout}");
    assert!(stdout.contains("\"0.0.0.0:18789\"") && stdout.contains("\"[::]:18789\""), "{stdout}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_port_change_keeps_open_websocket_sessions_working() {
    // A short shutdown budget: the old listener must not cut sessions after it either.
    let cfg = |port: u16| {
        format!(
            "{{ gateway: {{ port: {port}, shutdownTimeoutMs: 500, auth: {{ token: 't' }}, reload: {{ debounceMs: 50 }} }} }}"
        )
    };
    let mut gw = Spawn::default().config(&cfg(free_port())).start();
    let old = gw.addr;
    let mut ws = Ws::open(old);
    assert_eq!(ws.connect(json!({"auth": {"token": "t"}})).unwrap()["ok"], true);
    let new_port = free_port();
    std::fs::write(gw.config_path(), cfg(new_port)).unwrap();
    let new: std::net::SocketAddr = format!("127.0.0.1:{new_port}").parse().unwrap();
    wait_until("the new port to answer", Duration::from_secs(10), || http_get(new, "/healthz").ok());
    wait_until("the old port to refuse", Duration::from_secs(10), || http_get(old, "/healthz").is_err().then_some(()));
    gw.addr = new;
    // The session opened on the old listener keeps working, also well past the stop budget.
    assert_eq!(ws.call("health", json!({}))["ok"], true);
    let moved = std::time::Instant::now();
    wait_until("twice the shutdown budget to pass", Duration::from_secs(3), || {
        (moved.elapsed() > Duration::from_millis(1000)).then_some(())
    });
    assert_eq!(ws.call("health", json!({}))["ok"], true);
    assert_eq!(gw.health()["sessions"]["active"], 1);
    let mut fresh = Ws::open(new);
    assert_eq!(fresh.connect(json!({"auth": {"token": "t"}})).unwrap()["ok"], true);
}

/// The nice value in a `/proc/.../stat` file, or None if the thread has ended.
fn nice_in(stat: &std::path::Path) -> Option<i32> {
    let stat = std::fs::read_to_string(stat).ok()?;
    // The name is in parentheses and may hold spaces: the fields follow the last ')'.
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(16)?.parse().ok()
}

/// The threads of process `pid`: name (`comm`) and nice value.
fn threads(pid: i32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        if let (Ok(comm), Some(nice)) =
            (std::fs::read_to_string(task.path().join("comm")), nice_in(&task.path().join("stat")))
        {
            out.push((comm.trim_end().to_string(), nice));
        }
    }
    out
}

#[test]
fn new_connections_are_accepted_below_the_workers_priority_also_after_a_listener_restart() {
    let cfg = |port: u16| format!("{{ gateway: {{ port: {port}, reload: {{ debounceMs: 50 }} }} }}");
    let mut gw = Spawn::default().config(&cfg(free_port())).start();
    // The main thread's (the test runner's, inherited): 0 unless the suite itself runs niced.
    let base = nice_in(std::path::Path::new(&format!("/proc/{}/stat", gw.pid()))).expect("the gateway's nice value");
    let lowered = |gw: &common::Gateway, what: &str| {
        wait_until(what, Duration::from_secs(10), || {
            let all = threads(gw.pid());
            let acceptors: Vec<i32> = all.iter().filter(|(n, _)| n == "actix-server ac").map(|t| t.1).collect();
            let workers: Vec<i32> = all.iter().filter(|(n, _)| n.starts_with("actix-rt|system")).map(|t| t.1).collect();
            (!acceptors.is_empty()
                && acceptors.iter().all(|&n| n == (base + 10).min(19))
                && workers.iter().all(|&n| n == base))
            .then_some(())
        })
    };
    lowered(&gw, "the accept thread 10 nice levels below the workers");
    let new_port = free_port();
    std::fs::write(gw.config_path(), cfg(new_port)).unwrap();
    let new: std::net::SocketAddr = format!("127.0.0.1:{new_port}").parse().unwrap();
    wait_until("the new port to answer", Duration::from_secs(10), || http_get(new, "/healthz").ok());
    gw.addr = new;
    lowered(&gw, "the new listener's accept thread lowered too");
    assert_eq!(http_get(new, "/healthz").unwrap().0, 200);
}
