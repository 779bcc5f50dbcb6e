//! Exec approvals end to end: a host command the allowlist misses waits for an operator
//! (`exec.approval.requested` to approval clients), and `exec.approval.resolve` answers it:
//! allow-once, allow-always (written to the allowlist: the next run is not asked), deny; no
//! answer in time denies. The CLI (`openclaw approvals`) answers too.

mod common;

use std::time::Duration;

use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws, wait_until};
use serde_json::{Value, json};

/// A gateway whose main session runs host commands under the default approvals policy
/// (no file: allowlist, ask on a miss).
fn gateway(mock: &MockProvider, timeout_secs: u64) -> Gateway {
    let cfg = format!("{{ agents: {{ defaults: {{ execApprovalTimeoutSeconds: {timeout_secs} }} }} }}");
    mock.install(Spawn::default().config(&cfg), &["call-exec"]).start()
}

fn client(gw: &Gateway) -> Ws {
    let mut ws = Ws::open(gw.addr);
    let hello = ws.connect(json!({"auth": {"token": common::generated_token(gw.state_path())}})).expect("connect");
    assert_eq!(hello["ok"], true, "{hello}");
    ws
}

/// Starts an exec of `command` in the main session (the run's id is `id`).
fn start(ws: &mut Ws, id: &str, command: &str) {
    let params = json!({"message": json!({"command": command}).to_string(), "model": "mock/call-exec",
                        "sessionKey": "agent:main:main", "idempotencyKey": id});
    ws.send_text(&json!({"type": "req", "id": id, "method": "agent", "params": params}).to_string());
}

/// Reads run `id` to its end: the exec's result text, whether it failed, and whether an
/// approval was requested meanwhile (seen by this client, which has the approvals scope).
fn finish(ws: &mut Ws, id: &str) -> (String, bool, bool) {
    let (mut responses, mut result, mut asked) = (0, None, false);
    while responses < 2 {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed during run {id}: {c:?}"));
        if v["type"] == "res" && v["id"] == id {
            responses += 1;
        } else if v["event"] == "exec.approval.requested" {
            asked = true;
        } else if v["event"] == "agent" && v["payload"]["stream"] == "tool" && v["payload"]["data"]["phase"] == "result"
        {
            result = Some(v["payload"]["data"].clone());
        }
    }
    let r = result.unwrap_or_else(|| panic!("no tool result in run {id}"));
    (r["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string(), r["isError"] == true, asked)
}

/// The next approval request the operator sees.
fn requested(op: &mut Ws) -> Value {
    op.event("exec.approval.requested").expect("an exec.approval.requested event")["payload"].clone()
}

fn resolve(op: &mut Ws, id: &str, decision: &str) -> Value {
    op.call("exec.approval.resolve", json!({"id": id, "decision": decision}))
}

#[test]
fn a_miss_waits_for_an_operator_who_allows_once_denies_or_allows_always() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, 60);
    let (mut runner, mut op) = (client(&gw), client(&gw));

    // allow-once: the request names the command, the agent, the session, the program.
    start(&mut runner, "a1", "echo approved-once");
    let req = requested(&mut op);
    let id = req["id"].as_str().unwrap().to_string();
    assert_eq!(req["request"]["command"], "echo approved-once");
    assert_eq!(req["request"]["agentId"], "main");
    assert_eq!(req["request"]["sessionKey"], "agent:main:main");
    assert_eq!(req["request"]["host"], "gateway");
    assert!(req["request"]["resolvedPath"].as_str().unwrap().ends_with("/echo"), "{req}");
    assert!(req["expiresAtMs"].as_i64().unwrap() - req["createdAtMs"].as_i64().unwrap() == 60_000, "{req}");
    let listed = op.call("exec.approval.list", json!({}));
    assert_eq!(listed["payload"]["pending"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(resolve(&mut op, &id, "allow-once")["payload"]["ok"], true);
    let done = op.event("exec.approval.resolved").unwrap()["payload"].clone();
    assert_eq!((done["id"].as_str(), done["decision"].as_str()), (Some(id.as_str()), Some("allow-once")), "{done}");
    assert_eq!(finish(&mut runner, "a1"), ("approved-once\n".into(), false, true));
    assert!(!gw.state_path().join("exec-approvals.json").exists(), "allow-once writes nothing");
    // An answered request is gone.
    let again = resolve(&mut op, &id, "deny");
    assert!(again["error"]["message"].as_str().unwrap().contains("unknown approval id"), "{again}");

    // deny
    start(&mut runner, "a2", "echo never-runs");
    let id = requested(&mut op)["id"].as_str().unwrap().to_string();
    resolve(&mut op, &id, "deny");
    let (text, is_error, _) = finish(&mut runner, "a2");
    assert!(is_error && text.contains("denied by an operator"), "{text}");
    assert!(!text.contains("never-runs\n"));

    // A bad decision is refused and leaves the request waiting.
    start(&mut runner, "a3", "echo always");
    let id = requested(&mut op)["id"].as_str().unwrap().to_string();
    let bad = resolve(&mut op, &id, "sure");
    assert!(bad["error"]["message"].as_str().unwrap().contains("allow-once, allow-always, deny"), "{bad}");
    // allow-always: runs, and its program joins the agent's allowlist.
    resolve(&mut op, &id, "allow-always");
    assert_eq!(finish(&mut runner, "a3"), ("always\n".into(), false, true));
    let file: Value =
        serde_json::from_slice(&std::fs::read(gw.state_path().join("exec-approvals.json")).unwrap()).unwrap();
    let patterns: Vec<&str> = file["agents"]["main"]["allowlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pattern"].as_str().unwrap())
        .collect();
    assert!(patterns.len() == 1 && patterns[0].ends_with("/echo"), "{file}");
    // The next echo is not asked about.
    start(&mut runner, "a4", "echo no-question");
    assert_eq!(finish(&mut runner, "a4"), ("no-question\n".into(), false, false));
}

#[test]
fn no_answer_in_time_denies_and_says_so() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, 1);
    let (mut runner, mut op) = (client(&gw), client(&gw));
    start(&mut runner, "t1", "echo too-late");
    let id = requested(&mut op)["id"].as_str().unwrap().to_string();
    let (text, is_error, _) = finish(&mut runner, "t1");
    assert!(is_error && text.contains("no operator answered") && text.contains("askFallback: deny"), "{text}");
    let done = op.event("exec.approval.resolved").unwrap()["payload"].clone();
    assert_eq!(
        (done["id"].as_str(), done["decision"].as_str(), done["resolvedBy"].as_str()),
        (Some(id.as_str()), Some("deny"), Some("timeout"))
    );
    assert_eq!(op.call("exec.approval.list", json!({}))["payload"]["pending"], json!([]));
}

/// `openclaw approvals ARGS` against `gw`: exit code, stdout, stderr.
fn approvals_cli(gw: &common::Gateway, args: &[&str]) -> (i32, String, String) {
    let url = format!("ws://{}", gw.addr);
    let token = common::generated_token(gw.state_path());
    let mut all = vec!["approvals", "--url", &url, "--token", &token];
    all.extend_from_slice(args);
    common::run(gw.state_path(), &all, &[])
}

/// The id of the request `openclaw approvals list --json` shows once there is one.
fn cli_pending_id(gw: &common::Gateway) -> String {
    wait_until("the CLI to list the pending request", Duration::from_secs(10), || {
        let (code, out, err) = approvals_cli(gw, &["list", "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["pending"][0]["id"].as_str().map(str::to_string)
    })
}

#[test]
fn the_cli_lists_and_answers_approvals() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, 60);
    let mut runner = client(&gw);
    start(&mut runner, "c1", "echo via-cli");
    let cli = |args: &[&str]| approvals_cli(&gw, args);
    let id = cli_pending_id(&gw);
    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("$ echo via-cli"), "{out}");
    let (code, out, err) = cli(&["allow", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(finish(&mut runner, "c1"), ("via-cli\n".into(), false, true));
    let (code, _, err) = cli(&["deny", &id]);
    assert_ne!(code, 0, "an answered request cannot be answered again");
    assert!(err.contains("unknown approval id"), "{err}");
}

#[test]
fn the_cli_allow_always_adds_the_program_to_the_allowlist() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, 60);
    let mut runner = client(&gw);
    start(&mut runner, "k1", "echo always-via-cli");
    let cli = |args: &[&str]| approvals_cli(&gw, args);
    let id = cli_pending_id(&gw);
    let (code, out, err) = cli(&["allow", &id, "--always"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(finish(&mut runner, "k1"), ("always-via-cli\n".into(), false, true));
    let file: Value =
        serde_json::from_slice(&std::fs::read(gw.state_path().join("exec-approvals.json")).unwrap()).unwrap();
    let patterns: Vec<&str> = file["agents"]["main"]["allowlist"]
        .as_array()
        .unwrap_or_else(|| panic!("no allowlist: {file}"))
        .iter()
        .filter_map(|e| e["pattern"].as_str())
        .collect();
    assert!(patterns.len() == 1 && patterns[0].ends_with("/echo"), "{file}");
    // Persisted: the next echo runs without a question.
    start(&mut runner, "k2", "echo no-question");
    assert_eq!(finish(&mut runner, "k2"), ("no-question\n".into(), false, false));
}
