//! The agent sandbox, end to end: `openclaw sandbox exec` runs a command in bubblewrap exactly as
//! a sandboxed agent exec does. Every escape attempt fails; an allowlisted domain is reached
//! through the egress proxy (a test-only resolver maps it to a local server), others get 403.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use common::command;

/// `openclaw sandbox exec` with `sh -c script` in the state dir's default workspace.
fn sandboxed(state: &Path, extra: &[&str], env: &[(&str, &str)], script: &str) -> Output {
    let mut c = command(state);
    c.args(["sandbox", "exec"]).args(extra).args(["--", "sh", "-c", script]);
    c.envs(env.iter().copied());
    c.output().expect("run openclaw sandbox exec")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A local HTTP server answering every request with `body`; returns its port.
fn upstream(body: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut head = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            while r.read_line(&mut head).is_ok_and(|n| n > 2) {
                head.clear();
            }
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

#[test]
fn check_reports_the_backend() {
    let state = tempfile::tempdir().unwrap();
    let o = command(state.path()).args(["sandbox", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("bubblewrap"), "{}", text(&o));
}

#[test]
fn the_workspace_is_writable_and_the_command_runs_in_it() {
    let state = tempfile::tempdir().unwrap();
    let o = sandboxed(state.path(), &[], &[], "pwd; echo hello > note.txt; cat note.txt; exit 3");
    assert_eq!(o.status.code(), Some(3), "the command's status: {}", text(&o));
    let ws = state.path().join("workspace").canonicalize().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{}\nhello\n", ws.display()));
    assert_eq!(std::fs::read_to_string(ws.join("note.txt")).unwrap(), "hello\n");
}

#[test]
fn writes_outside_the_workspace_fail() {
    let state = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("escaped");
    // System paths are read-only; an absolute host path outside is not there at all.
    let script = format!(
        "for f in '{}' /usr/escaped /escaped /etc/escaped /run/escaped; do \
           if echo x > \"$f\" 2>/dev/null; then echo \"WROTE $f\"; fi; done; echo done",
        target.display()
    );
    let o = sandboxed(state.path(), &[], &[], &script);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "done\n", "{}", text(&o));
    assert!(!target.exists());
    // `../` from the workspace reaches only the sandbox's own directories (under its private
    // /tmp here, since the test's workspace is in /tmp): never the host's state dir.
    let o = sandboxed(state.path(), &[], &[], "echo x > ../escaped-up; echo x > ../../escaped-up2; ls ..; echo done");
    assert!(
        String::from_utf8_lossy(&o.stdout).ends_with("workspace\ndone\n"),
        "only the workspace above: {}",
        text(&o)
    );
    assert!(!state.path().join("escaped-up").exists(), "wrote into the host's state dir");
    assert!(!state.path().parent().unwrap().join("escaped-up2").exists(), "wrote above the state dir");
}

#[test]
fn the_state_dir_and_its_token_are_invisible_even_through_symlinks() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("gateway.token"), "secret-token-value").unwrap();
    let ws = state.path().join("workspace");
    std::fs::create_dir_all(&ws).unwrap();
    std::os::unix::fs::symlink(state.path().join("gateway.token"), ws.join("token-link")).unwrap();
    std::os::unix::fs::symlink("../gateway.token", ws.join("relative-link")).unwrap();
    let script = format!(
        "cat '{}/gateway.token' ../gateway.token token-link relative-link /proc/1/root/etc/hostname 2>/dev/null; ls / ; echo done",
        state.path().display()
    );
    let o = sandboxed(state.path(), &[], &[], &script);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("secret-token-value"), "{}", text(&o));
    assert!(out.ends_with("done\n"), "{}", text(&o));
    // Nothing of the host's root but the system directories.
    for hidden in ["home", "root", "var", "srv", "opt"] {
        assert!(!out.lines().any(|l| l == hidden), "/{hidden} visible: {out}");
    }
}

#[test]
fn a_symlink_swapped_in_after_a_check_still_cannot_escape() {
    // The sandbox has no view of the host: whatever a link points to is resolved inside it.
    let state = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "outside-secret").unwrap();
    let script = format!(
        "mkdir -p d; echo inside > d/secret; cat d/secret; rm -rf d; ln -s '{}' d; cat d/secret 2>/dev/null; echo x > d/new 2>/dev/null; echo done",
        outside.path().display()
    );
    let o = sandboxed(state.path(), &[], &[], &script);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "inside\ndone\n", "{}", text(&o));
    assert!(!outside.path().join("new").exists());
}

#[test]
fn direct_connections_out_fail() {
    let state = tempfile::tempdir().unwrap();
    let port = upstream("direct");
    let o = sandboxed(
        state.path(),
        &["--allow-domain", "*"],
        &[],
        &format!("curl -sS -m 3 --noproxy '*' http://127.0.0.1:{port}/; echo \"curl=$?\""),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("direct"), "{}", text(&o));
    assert!(out.contains("curl=7"), "connection refused inside the sandbox's own network: {}", text(&o));
}

#[test]
fn allowed_domains_go_through_the_proxy_and_others_get_403() {
    let state = tempfile::tempdir().unwrap();
    let port = upstream("from-upstream");
    let env = [("OPENCLAW_TEST_RESOLVE", "allowed.test=127.0.0.1,denied.test=127.0.0.1")];
    // A plain forward request, and a CONNECT tunnel, to an allowed name.
    let o = sandboxed(
        state.path(),
        &["--allow-domain", "allowed.test"],
        &env,
        &format!(
            "curl -sS -m 5 http://allowed.test:{port}/a; echo; curl -sS -m 5 --proxytunnel http://allowed.test:{port}/b"
        ),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-upstream\nfrom-upstream", "{}", text(&o));
    // A name not on the list: 403 with the reason, for both kinds.
    let o = sandboxed(
        state.path(),
        &["--allow-domain", "allowed.test"],
        &env,
        &format!(
            "curl -sS -m 5 -w ' %{{http_code}}' http://denied.test:{port}/; echo; \
             curl -sS -m 5 --proxytunnel http://denied.test:{port}/ 2>&1; echo"
        ),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("denied.test is not on the sandbox's domain allowlist") && out.contains(" 403"),
        "{}",
        text(&o)
    );
    assert!(out.contains("CONNECT tunnel failed, response 403"), "{}", text(&o));
    assert!(!out.contains("from-upstream"), "{}", text(&o));
}

#[test]
fn the_gateway_port_is_refused_through_the_proxy() {
    let state = tempfile::tempdir().unwrap();
    let gw = common::Spawn::in_state(tempfile::tempdir().unwrap()).start();
    let port = gw.addr.port();
    std::fs::write(state.path().join("config.json5"), format!("{{ gateway: {{ port: {port} }} }}")).unwrap();
    let o = sandboxed(
        state.path(),
        &["--allow-domain", "*"],
        &[("OPENCLAW_TEST_RESOLVE", "gw.test=127.0.0.1")],
        &format!("curl -sS -m 5 -w ' %{{http_code}}' http://gw.test:{port}/healthz"),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("the gateway itself is not reachable from the sandbox") && out.ends_with(" 403"),
        "{}",
        text(&o)
    );
}

#[test]
fn without_bwrap_it_fails_closed_and_says_why() {
    let state = tempfile::tempdir().unwrap();
    let mut c = command(state.path());
    let o = c.env("PATH", "/nonexistent").args(["sandbox", "exec", "--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing to run the command unsandboxed") && err.contains("apt-get install bubblewrap"),
        "{err}"
    );
    let o = command(state.path()).env("PATH", "/nonexistent").args(["sandbox", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
}

// Agent sessions: `non-main` (the default) sandboxes every session but the agent's main one.

const FULL_EXEC: &str = r#"{"version": 1, "defaults": {"security": "full"}}"#;

fn agent_gateway(mock: &common::provider::MockProvider, config: &str, env: &[(&str, &str)]) -> common::Gateway {
    let mut spawn = mock.install(common::Spawn::default().config(config), &["call-exec", "call-read", "call-write"]);
    std::fs::write(spawn.state.path().join("exec-approvals.json"), FULL_EXEC).unwrap();
    for (k, v) in env {
        spawn = spawn.env(k, v);
    }
    spawn.start()
}

fn agent_client(gw: &common::Gateway) -> common::Ws {
    let mut ws = common::Ws::open(gw.addr);
    let hello = ws.connect(serde_json::json!({"auth": {"token": common::generated_token(gw.state_path())}})).unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    ws
}

/// One `call-<tool>` run in `session`: the tool result's text and whether it is an error.
fn tool_call(ws: &mut common::Ws, session: &str, id: &str, tool: &str, args: serde_json::Value) -> (String, bool) {
    let params = serde_json::json!({"message": args.to_string(), "model": format!("mock/call-{tool}"),
                                    "sessionKey": session, "idempotencyKey": id});
    ws.send_text(&serde_json::json!({"type": "req", "id": id, "method": "agent", "params": params}).to_string());
    let mut result = None;
    let mut responses = 0;
    while responses < 2 {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed during run {id}: {c:?}"));
        if v["type"] == "res" && v["id"] == id {
            responses += 1;
        } else if v["event"] == "agent" && v["payload"]["stream"] == "tool" && v["payload"]["data"]["phase"] == "result"
        {
            result = Some(v["payload"]["data"].clone());
        }
    }
    let r = result.unwrap_or_else(|| panic!("no tool result in run {id}"));
    (r["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string(), r["isError"] == true)
}

#[test]
fn non_main_sessions_run_commands_in_the_sandbox_and_the_main_session_on_the_host() {
    let mock = common::provider::MockProvider::start();
    let port = upstream("via-proxy");
    let gw = agent_gateway(
        &mock,
        "{ agents: { defaults: { sandbox: { mode: 'non-main', allowlist: { domains: ['allowed.test'] } } } } }",
        &[("OPENCLAW_TEST_RESOLVE", "allowed.test=127.0.0.1")],
    );
    let mut ws = agent_client(&gw);
    let state = gw.state_path().display().to_string();
    let probe = format!("test -e '{state}/config.json5' && echo host || echo sandboxed");
    let main = tool_call(&mut ws, "agent:main:main", "m1", "exec", serde_json::json!({"command": probe}));
    assert_eq!(main, ("host\n".to_string(), false), "the main session runs on the host");
    let other = tool_call(&mut ws, "agent:main:work", "o1", "exec", serde_json::json!({"command": probe}));
    assert_eq!(other, ("sandboxed\n".to_string(), false), "another session runs in the sandbox");
    // Its token is out of reach; the network is the proxy, which lets the allowlisted name through.
    let (text, _) = tool_call(
        &mut ws,
        "agent:main:work",
        "o2",
        "exec",
        serde_json::json!({"command": format!("cat '{state}/secrets/gateway_token' ../secrets/gateway_token 2>&1; \
            curl -sS -m 5 http://allowed.test:{port}/; echo; curl -sS -m 5 -o /dev/null -w '%{{http_code}}' http://other.test:{port}/")}),
    );
    assert!(!text.contains(&gw.token()), "{text}");
    assert!(text.contains("via-proxy\n403"), "{text}");
    // File tools of the sandboxed session are confined to the workspace too.
    for path in
        ["../secrets/gateway_token".to_string(), format!("{state}/secrets/gateway_token"), "/etc/hostname".into()]
    {
        let (text, is_error) = tool_call(
            &mut ws,
            "agent:main:work",
            &format!("r-{}", path.len()),
            "read",
            serde_json::json!({"path": path}),
        );
        assert!(is_error && text.contains("sandbox"), "{path}: {text}");
    }
}

#[test]
fn a_cron_run_is_sandboxed_under_non_main() {
    let mock = common::provider::MockProvider::start();
    let gw = agent_gateway(&mock, "{}", &[]);
    let mut ws = agent_client(&gw);
    let state = gw.state_path().display().to_string();
    let cmd = format!("(test -e '{state}/config.json5' && echo host || echo sandboxed) > cron-ran.txt");
    let added = ws.call(
        "cron.add",
        serde_json::json!({"name": "probe", "schedule": "every 1h",
            "payload": {"kind": "agentTurn", "message": serde_json::json!({"command": cmd}).to_string(), "model": "mock/call-exec"}}),
    );
    let id = added["payload"]["job"]["id"].as_str().unwrap_or_else(|| panic!("{added}")).to_string();
    assert_eq!(ws.call("cron.run", serde_json::json!({"id": id}))["payload"]["ran"], true);
    let out = gw.state_path().join("workspace/cron-ran.txt");
    let text =
        common::wait_until("the cron run's command to write its answer", std::time::Duration::from_secs(20), || {
            std::fs::read_to_string(&out).ok().filter(|t| !t.is_empty())
        });
    assert_eq!(text, "sandboxed\n");
}

#[test]
fn sandboxed_sessions_fail_closed_without_bwrap() {
    let mock = common::provider::MockProvider::start();
    let gw = agent_gateway(
        &mock,
        "{ agents: { defaults: { sandbox: { mode: 'all' } } } }",
        &[("PATH", "/usr/local/nonexistent")],
    );
    let mut ws = agent_client(&gw);
    let (text, is_error) =
        tool_call(&mut ws, "agent:main:main", "x1", "exec", serde_json::json!({"command": "echo ran"}));
    assert!(is_error, "{text}");
    assert!(text.contains("sandbox is unavailable") && text.contains("bubblewrap"), "{text}");
    assert!(!text.contains("ran\n"));
}

#[test]
fn a_sandboxed_session_cannot_reach_the_gateways_own_ephemeral_port_through_the_proxy() {
    // The gateway is on `--port 0`: the configured port is 0, only the bound one says where it is.
    let mock = common::provider::MockProvider::start();
    let gw = agent_gateway(
        &mock,
        "{ agents: { defaults: { sandbox: { mode: 'non-main', allowlist: { domains: ['*'] } } } } }",
        &[("OPENCLAW_TEST_RESOLVE", "gw.test=127.0.0.1")],
    );
    let mut ws = agent_client(&gw);
    let port = gw.addr.port();
    let (text, _) = tool_call(
        &mut ws,
        "agent:main:work",
        "gw1",
        "exec",
        serde_json::json!({"command": format!(
            "curl -sS -m 5 -w ' %{{http_code}}' http://gw.test:{port}/healthz; echo; \
             curl -sS -m 5 --proxytunnel http://gw.test:{port}/healthz 2>&1; echo")}),
    );
    assert!(text.contains("the gateway itself is not reachable from the sandbox") && text.contains(" 403"), "{text}");
    assert!(text.contains("CONNECT tunnel failed, response 403"), "{text}");
    gw.wait_log("sandbox egress refused");
    assert!(
        gw.logs.lock().unwrap().iter().any(|l| l.contains("sandbox egress refused") && l.contains(&port.to_string())),
        "{}",
        gw.dump_logs()
    );
}

#[test]
fn an_allowlisted_name_or_literal_that_is_local_is_refused_by_the_proxy() {
    // Real resolution, no test override: `localhost` is allowlisted but resolves to loopback.
    let state = tempfile::tempdir().unwrap();
    let port = upstream("local-service");
    let o = sandboxed(
        state.path(),
        &["--allow-domain", "localhost", "--allow-domain", "127.0.0.1"],
        &[],
        &format!(
            "curl -sS -m 5 -w ' %{{http_code}}' http://localhost:{port}/; echo; \
             curl -sS -m 5 -w ' %{{http_code}}' http://127.0.0.1:{port}/; echo; \
             curl -sS -m 5 --proxytunnel http://localhost:{port}/ 2>&1; echo"
        ),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("local-service"), "{}", text(&o));
    assert!(out.contains("localhost resolves to") && out.contains("127.0.0.1 resolves to 127.0.0.1"), "{}", text(&o));
    assert_eq!(out.matches("the sandbox reaches only public addresses\n 403\n").count(), 2, "{}", text(&o));
    assert!(out.contains("CONNECT tunnel failed, response 403"), "{}", text(&o));
}
