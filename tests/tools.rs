//! Agent tools end to end: the real gateway, the mock provider streaming tool calls, the real
//! protocol. The loop (split arguments, two calls in a turn, malformed arguments, the
//! iteration cap, abort during a tool), the exact `tool` events and transcript order, the
//! core tools' rules (read truncation, unique edits, .gitignore, the SSRF guard), the tool
//! policy (`rm` refused when disabled) and the exec-approvals file.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws, wait_until};
use serde_json::{Value, json};

const FULL_EXEC: &str = r#"{"version": 1, "defaults": {"security": "full"}}"#;
const MODELS: &[&str] = &[
    "tools-split",
    "tools-two",
    "tools-bad",
    "tools-loop",
    "call-exec",
    "call-read",
    "call-edit",
    "call-grep",
    "call-web_fetch",
    "call-process",
    "ok",
];

/// A gateway with the mock's tool models, `config`, and the approvals file if given.
/// A gateway whose sessions all run on the host (these tests are about the tools themselves;
/// `tests/sandbox.rs` covers sandboxed sessions).
fn start(mock: &MockProvider, config: &str, approvals: Option<&str>, env: &[(&str, &str)]) -> Gateway {
    let mut spawn =
        mock.install(Spawn::default().config(config), MODELS).env("OPENCLAW__AGENTS__DEFAULTS__SANDBOX__MODE", "off");
    if let Some(a) = approvals {
        std::fs::write(spawn.state.path().join("exec-approvals.json"), a).unwrap();
    }
    for (k, v) in env {
        spawn = spawn.env(k, v);
    }
    spawn.start()
}

fn workspace(gw: &Gateway) -> std::path::PathBuf {
    let w = gw.state_path().join("workspace");
    std::fs::create_dir_all(&w).unwrap();
    w
}

fn client(gw: &Gateway) -> Ws {
    let token = common::generated_token(gw.state_path());
    let mut ws = Ws::open(gw.addr);
    let hello = ws.connect(json!({"auth": {"token": token}})).expect("connect");
    assert_eq!(hello["ok"], true, "{hello}");
    ws
}

/// Runs `model` in session `agent:main:<key>` with `message`; returns the final response and
/// every event before it, in order.
fn run(ws: &mut Ws, key: &str, model: &str, message: &str) -> (Value, Vec<Value>) {
    let params = json!({"message": message, "model": format!("mock/{model}"), "sessionKey": format!("agent:main:{key}"),
                        "idempotencyKey": key});
    ws.send_text(&json!({"type": "req", "id": key, "method": "agent", "params": params}).to_string());
    let mut events = Vec::new();
    let mut responses = Vec::new();
    while responses.len() < 2 {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed during run {key}: {c:?}"));
        if v["type"] == "res" && v["id"] == key {
            responses.push(v);
        } else if v["type"] == "event" {
            events.push(v);
        }
    }
    assert_eq!(responses[0]["payload"]["status"], "accepted", "{}", responses[0]);
    (responses.pop().unwrap(), events)
}

/// The `tool` stream's data, in order.
fn tool_events(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["event"] == "agent" && e["payload"]["stream"] == "tool")
        .map(|e| e["payload"]["data"].clone())
        .collect()
}

fn text_of(data: &Value) -> &str {
    data["result"]["content"][0]["text"].as_str().unwrap_or_default()
}

/// The messages of session `agent:main:<key>`'s transcript, in order.
fn transcript(gw: &Gateway, key: &str) -> Vec<Value> {
    let dir = gw.state_path().join("agents/main/sessions");
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("sessions.json")).unwrap()).unwrap();
    let id = index[format!("agent:main:{key}")]["sessionId"].as_str().unwrap().to_string();
    std::fs::read_to_string(dir.join(format!("{id}.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["message"].clone())
        .collect()
}

/// The result text of the one tool call of a `call-<tool>` run, and whether it was an error.
fn one_call(ws: &mut Ws, key: &str, tool: &str, args: Value) -> (String, bool) {
    let (fin, events) = run(ws, key, &format!("call-{tool}"), &args.to_string());
    assert_eq!(fin["payload"]["status"], "ok", "{fin}");
    let t = tool_events(&events);
    let result = t.iter().find(|d| d["phase"] == "result").unwrap_or_else(|| panic!("no result event: {t:?}"));
    (text_of(result).to_string(), result["isError"].as_bool().unwrap())
}

#[test]
fn split_arguments_are_assembled_and_the_events_and_transcript_are_exact() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    std::fs::write(workspace(&gw).join("hello.txt"), "hi there\n").unwrap();
    let mut ws = client(&gw);
    let (fin, events) = run(&mut ws, "split", "tools-split", "read it");
    assert_eq!(fin["payload"]["result"]["payloads"], json!([{"text": "result: hi there\n"}]), "{fin}");
    assert_eq!(
        tool_events(&events),
        [
            json!({"phase": "start", "name": "read", "toolCallId": "call_split", "args": {"path": "hello.txt"}}),
            json!({"phase": "result", "name": "read", "toolCallId": "call_split",
                   "result": {"content": [{"type": "text", "text": "hi there\n"}]}, "isError": false}),
        ]
    );
    let call = json!({"id": "call_split", "type": "function",
                      "function": {"name": "read", "arguments": "{\"path\": \"hello.txt\"}"}});
    let expected = [
        json!({"role": "user", "content": "read it"}),
        json!({"role": "assistant", "content": null, "tool_calls": [call]}),
        json!({"role": "tool", "tool_call_id": "call_split", "content": "hi there\n"}),
        json!({"role": "assistant", "content": "result: hi there\n"}),
    ];
    assert_eq!(transcript(&gw, "split"), expected);
    // The provider was offered the tools, and saw the call and its result the second time.
    let bodies = mock.seen.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    let offered: Vec<&str> =
        bodies[0]["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(
        offered,
        ["read", "write", "edit", "exec", "process", "grep", "find", "ls", "web_fetch", "memory_search", "memory_get"]
    );
    assert_eq!(bodies[1]["messages"].as_array().unwrap()[..], expected[..3]);
}

#[test]
fn two_calls_in_one_turn_run_in_order_and_are_recorded_in_order() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    let mut ws = client(&gw);
    let (fin, events) = run(&mut ws, "two", "tools-two", "go");
    assert_eq!(fin["payload"]["result"]["payloads"][0]["text"], "result: 2\n", "the read saw the write: {fin}");
    let t = tool_events(&events);
    let seen: Vec<String> = t
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{}",
                d["phase"].as_str().unwrap(),
                d["name"].as_str().unwrap(),
                d["toolCallId"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(seen, ["start:write:call_w", "result:write:call_w", "start:read:call_r", "result:read:call_r"]);
    assert_eq!(t[1]["result"]["content"][0]["text"], "wrote 1 bytes to two.txt");
    assert_eq!(std::fs::read_to_string(workspace(&gw).join("two.txt")).unwrap(), "2");
    let roles: Vec<String> = transcript(&gw, "two")
        .iter()
        .map(|m| {
            format!(
                "{}{}",
                m["role"].as_str().unwrap(),
                m["tool_call_id"].as_str().map(|i| format!(":{i}")).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool:call_w", "tool:call_r", "assistant"]);
}

#[test]
fn malformed_arguments_go_back_to_the_model_as_a_tool_error() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    let mut ws = client(&gw);
    let (fin, events) = run(&mut ws, "bad", "tools-bad", "go");
    assert_eq!(fin["payload"]["status"], "ok", "the run goes on: {fin}");
    let t = tool_events(&events);
    assert_eq!(t[0]["args"], "{\"path\": ", "unparsable args are shown as sent: {t:?}");
    assert_eq!(t[1]["isError"], true);
    assert!(text_of(&t[1]).starts_with("invalid arguments for read: "), "{t:?}");
    let answer = fin["payload"]["result"]["payloads"][0]["text"].as_str().unwrap();
    assert!(answer.starts_with("result: invalid arguments for read"), "the model saw the error: {answer}");
    // The history marks the failed result for display; the provider's copy does not have it.
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:bad"}));
    let tool = &h["payload"]["messages"][2];
    assert_eq!((&tool["role"], &tool["isError"]), (&json!("tool"), &json!(true)), "{h}");
    assert!(mock.seen.bodies.lock().unwrap()[1]["messages"][2].get("isError").is_none());
}

#[test]
fn the_iteration_cap_ends_the_run_and_answers_the_last_calls() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{ agents: { defaults: { maxToolIterations: 3 } } }", None, &[]);
    let mut ws = client(&gw);
    let (fin, events) = run(&mut ws, "loop", "tools-loop", "go");
    assert_eq!(fin["ok"], false, "{fin}");
    let summary = fin["payload"]["summary"].as_str().unwrap();
    assert!(summary.contains("limit of 3 tool rounds") && summary.contains("maxToolIterations"), "{fin}");
    assert_eq!(mock.models_called().len(), 4, "three rounds run, the fourth's calls refused");
    let results: Vec<bool> = tool_events(&events)
        .iter()
        .filter(|d| d["phase"] == "result")
        .map(|d| d["isError"].as_bool().unwrap())
        .collect();
    assert_eq!(results, [false, false, false, true]);
    let msgs = transcript(&gw, "loop");
    assert_eq!(msgs.len(), 1 + 4 * 2, "user, then (assistant, tool) x 4: {msgs:?}");
    assert!(msgs.last().unwrap()["content"].as_str().unwrap().contains("maxToolIterations"));
}

#[test]
fn abort_during_a_tool_kills_it_and_records_a_synthetic_result() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", Some(FULL_EXEC), &[]);
    let ws_dir = workspace(&gw);
    let mut ws = client(&gw);
    let params = json!({"message": json!({"command": "echo $$ > pid; exec sleep 30"}).to_string(), "model": "mock/call-exec",
                        "sessionKey": "agent:main:abort", "idempotencyKey": "abort"});
    let r = ws.call("agent", params);
    assert_eq!(r["payload"]["status"], "accepted", "{r}");
    let start = wait_until("the exec tool to start", Duration::from_secs(10), || {
        let e = ws.event("agent").ok()?;
        (e["payload"]["stream"] == "tool" && e["payload"]["data"]["phase"] == "start").then_some(e)
    });
    assert_eq!(start["payload"]["data"]["name"], "exec");
    let pid: i32 = wait_until("the command to write its pid", Duration::from_secs(10), || {
        std::fs::read_to_string(ws_dir.join("pid")).ok()?.trim().parse().ok()
    });
    let a = ws.call("chat.abort", json!({"sessionKey": "agent:main:abort"}));
    assert_eq!(a["payload"]["runIds"], json!(["abort"]), "{a}");
    let w = ws.call("agent.wait", json!({"runId": "abort", "timeoutMs": 5000}));
    assert_eq!(w["payload"]["runStatus"], "aborted", "{w}");
    let result = wait_until("the synthetic tool result event", Duration::from_secs(5), || {
        let e = ws.event("agent").ok()?;
        (e["payload"]["stream"] == "tool" && e["payload"]["data"]["phase"] == "result").then_some(e)
    });
    assert_eq!(result["payload"]["data"]["isError"], true);
    assert_eq!(result["payload"]["data"]["toolCallId"], "call_1");
    let msgs = transcript(&gw, "abort");
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(msgs[2]["role"], "tool");
    assert_eq!(msgs[2]["tool_call_id"], "call_1");
    assert!(msgs[2]["content"].as_str().unwrap().starts_with("aborted"), "{msgs:?}");
    wait_until("the sleep to be killed with the run", Duration::from_secs(5), || {
        // SAFETY: signal 0 only checks that the process exists.
        (unsafe { libc::kill(pid, 0) } != 0).then_some(())
    });
    // The next turn sends the provider a valid conversation.
    let (fin, _) = run(&mut ws, "abort2", "ok", "again");
    assert_eq!(fin["payload"]["status"], "ok", "{fin}");
}

#[test]
fn rm_is_refused_when_disabled_and_the_refusal_says_why() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{ agents: { defaults: { tools: { disabled: ['rm'] } } } }", Some(FULL_EXEC), &[]);
    let w = workspace(&gw);
    std::fs::write(w.join("keep.txt"), "x").unwrap();
    let mut ws = client(&gw);
    for (i, cmd) in ["rm keep.txt", "ls && FOO=1 /bin/rm -f keep.txt", "sh -c 'rm keep.txt'", "touch new; rm keep.txt"]
        .iter()
        .enumerate()
    {
        let (text, is_error) = one_call(&mut ws, &format!("rm{i}"), "exec", json!({"command": cmd}));
        assert!(is_error, "{cmd}: {text}");
        assert!(
            text.contains("`") && text.contains("disabled by the tool policy") && text.contains("\"rm\""),
            "{text}"
        );
    }
    assert!(w.join("keep.txt").exists(), "nothing ran");
    assert!(!w.join("new").exists(), "a refused command runs none of its parts");
    let (text, is_error) = one_call(&mut ws, "rm-ok", "exec", json!({"command": "echo rmdir-is-not-rm"}));
    assert_eq!((text.as_str(), is_error), ("rmdir-is-not-rm\n", false));
}

#[test]
fn host_exec_follows_the_approvals_file_allowlist_by_default() {
    let mock = MockProvider::start();
    // Without asking (`ask: off`) a miss is refused at once; tests/approvals.rs covers asking.
    let gw = start(&mock, "{}", Some(r#"{"version": 1, "defaults": {"ask": "off"}}"#), &[]);
    let mut ws = client(&gw);
    let (text, is_error) = one_call(&mut ws, "ap1", "exec", json!({"command": "echo hi"}));
    assert!(is_error && text.contains("not on the exec allowlist") && text.contains("openclaw approvals"), "{text}");
    assert!(text.contains("exec-approvals.json"), "{text}");
    let file = gw.state_path().join("exec-approvals.json");
    std::fs::write(
        &file,
        r#"{"version":1,"defaults":{"ask":"off"},"agents":{"main":{"allowlist":[{"pattern":"echo"}]}}}"#,
    )
    .unwrap();
    assert_eq!(one_call(&mut ws, "ap2", "exec", json!({"command": "echo hi"})), ("hi\n".to_string(), false));
    let (text, is_error) = one_call(&mut ws, "ap3", "exec", json!({"command": "echo hi | wc -c"}));
    assert!(is_error && text.contains("`wc`"), "every program must be allowed: {text}");
    std::fs::write(
        &file,
        r#"{"version":1,"defaults":{"security":"deny"},"agents":{"main":{"allowlist":[{"pattern":"echo"}]}}}"#,
    )
    .unwrap();
    let (text, is_error) = one_call(&mut ws, "ap4", "exec", json!({"command": "echo hi"}));
    assert!(is_error && text.contains("security: deny"), "{text}");
}

#[test]
fn exec_output_is_tailed_and_background_jobs_are_reached_through_process() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", Some(FULL_EXEC), &[]);
    let mut ws = client(&gw);
    let (text, is_error) = one_call(&mut ws, "big", "exec", json!({"command": "seq 1 20000; echo last >&2"}));
    assert!(!is_error);
    assert!(text.starts_with("[output truncated: showing the last 32768 of"), "{}", &text[..80]);
    assert!(text.ends_with("20000\nlast\n"), "stderr joins stdout, the tail is kept");
    let (text, is_error) = one_call(&mut ws, "env", "exec", json!({"command": "env", "env": {"MINE": "yes"}}));
    assert!(!is_error && text.contains("MINE=yes") && text.contains("PATH="), "{text}");
    assert!(!text.contains("MOCK_API_KEY"), "the gateway's secrets stay out of commands: {text}");
    let (text, is_error) = one_call(&mut ws, "fail", "exec", json!({"command": "echo out; exit 3"}));
    assert!(is_error && text.contains("[exit code 3"), "{text}");
    let (text, _) =
        one_call(&mut ws, "bg", "exec", json!({"command": "read line; echo got $line", "background": true}));
    let id = text.split("job ").nth(1).unwrap().split(';').next().unwrap().trim().to_string();
    let (list, _) = one_call(&mut ws, "bg-list", "process", json!({"action": "list"}));
    assert!(list.contains(&id) && list.contains("running"), "{list}");
    let (w, is_error) =
        one_call(&mut ws, "bg-write", "process", json!({"action": "write", "id": id, "data": "hello\n"}));
    assert!(!is_error, "{w}");
    wait_until("the job to answer and exit", Duration::from_secs(10), || {
        let (log, _) =
            one_call(&mut ws, &format!("bg-poll-{}", uuid_suffix()), "process", json!({"action": "log", "id": id}));
        (log.contains("[exit 0]") && log.contains("got hello")).then_some(())
    });
}

#[test]
fn process_poll_returns_only_new_output_and_kill_ends_a_job() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", Some(FULL_EXEC), &[]);
    let mut ws = client(&gw);
    let job = |ws: &mut Ws, key: &str, command: &str| {
        let (text, is_error) = one_call(ws, key, "exec", json!({"command": command, "background": true}));
        assert!(!is_error, "{text}");
        text.split("job ").nth(1).unwrap().split(';').next().unwrap().trim().to_string()
    };
    let poll = |ws: &mut Ws, id: &str| {
        let (text, is_error) =
            one_call(ws, &format!("poll-{}", uuid_suffix()), "process", json!({"action": "poll", "id": id}));
        assert!(!is_error, "{text}");
        text
    };
    let id = job(&mut ws, "bg-poll", "echo first; read line; echo \"then $line\"");
    let seen = wait_until("the first poll to show the first line", Duration::from_secs(10), || {
        let text = poll(&mut ws, &id);
        text.contains("first").then_some(text)
    });
    assert!(seen.starts_with("[running]\n"), "{seen}");
    one_call(&mut ws, "bg-poll-write", "process", json!({"action": "write", "id": id, "data": "more\n"}));
    let rest = wait_until("a poll to show the job's end", Duration::from_secs(10), || {
        let text = poll(&mut ws, &id);
        text.contains("[exit 0]").then_some(text)
    });
    // Everything after the earlier poll, nothing before it (the earlier polls may have taken some).
    assert!(!rest.contains("first") && rest.starts_with("[exit 0]\n"), "{rest}");
    let log = one_call(&mut ws, "bg-poll-log", "process", json!({"action": "log", "id": id})).0;
    assert_eq!(log, "[exit 0]\nfirst\nthen more\n");

    let id = job(&mut ws, "bg-kill", "echo sleeping; sleep 300");
    let (text, is_error) = one_call(&mut ws, "bg-kill-it", "process", json!({"action": "kill", "id": id}));
    assert_eq!((text, is_error), (format!("job {id} killed"), false));
    let status = wait_until("the killed job to end", Duration::from_secs(10), || {
        let text = poll(&mut ws, &id);
        (!text.starts_with("[running]")).then_some(text)
    });
    assert!(status.starts_with("[killed by signal 9]"), "{status}");
    let (list, _) = one_call(&mut ws, "bg-kill-list", "process", json!({"action": "list"}));
    assert!(list.lines().any(|l| l.starts_with(&id) && l.contains("killed by signal 9")), "{list}");
}

fn uuid_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[test]
fn read_truncates_edit_wants_a_unique_match_and_grep_respects_gitignore() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    let w = workspace(&gw);
    let big: String = (1..=3000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(w.join("big.txt"), big).unwrap();
    let mut ws = client(&gw);
    let (text, is_error) = one_call(&mut ws, "read", "read", json!({"path": "big.txt"}));
    assert!(!is_error);
    assert!(text.starts_with("line 1\n") && text.contains("line 2000\n") && !text.contains("line 2001\n"));
    assert!(text.ends_with("[truncated at 2000 lines: showing lines 1-2000 of 3000; read on with offset=2001]"));

    std::fs::write(w.join("e.txt"), "a = 1\nb = 1\n").unwrap();
    let (text, is_error) =
        one_call(&mut ws, "edit1", "edit", json!({"path": "e.txt", "oldText": "= 1", "newText": "= 2"}));
    assert!(is_error && text.contains("occurs 2 times"), "{text}");
    let (text, is_error) =
        one_call(&mut ws, "edit2", "edit", json!({"path": "e.txt", "oldText": "b = 1", "newText": "b = 2"}));
    assert!(!is_error, "{text}");
    assert_eq!(std::fs::read_to_string(w.join("e.txt")).unwrap(), "a = 1\nb = 2\n");

    std::fs::write(w.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir_all(w.join("build")).unwrap();
    std::fs::write(w.join("build/out.txt"), "needle\n").unwrap();
    std::fs::write(w.join("src.txt"), "a needle\n").unwrap();
    let (text, is_error) = one_call(&mut ws, "grep", "grep", json!({"pattern": "needle"}));
    assert_eq!((text.as_str(), is_error), ("src.txt:1:a needle", false));
}

/// A one-shot HTTP server answering `body` as HTML; returns its port.
fn page(body: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A local HTTP server answering each request with `respond(path, its own port)`, a whole
/// response; returns its port.
fn server(respond: impl Fn(&str, u16) -> String + Send + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            let _ = c.write_all(respond(&path, port).as_bytes());
        }
    });
    port
}

fn redirect_to(location: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn html(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn web_fetch_in_a_sandboxed_session_keeps_to_the_domain_allowlist() {
    let mock = MockProvider::start();
    // The private-address override is on so that only the allowlist decides here.
    let gw = mock
        .install(
            Spawn::default().config(
                "{ agents: { defaults: { sandbox: { mode: 'non-main', allowlist: { domains: ['localhost'] } } } } }",
            ),
            MODELS,
        )
        .env("OPENCLAW_DANGEROUS_WEB_FETCH_ALLOW_PRIVATE", "1")
        .start();
    let port = server(|path, port| match path {
        "/away" => redirect_to(&format!("http://127.0.0.1:{port}/")),
        _ => html("<p>the page</p>"),
    });
    let mut ws = client(&gw);
    let (text, is_error) =
        one_call(&mut ws, "sb-allowed", "web_fetch", json!({"url": format!("http://localhost:{port}/")}));
    assert!(!is_error && text.contains("the page"), "an allowlisted host: {text}");
    for (key, url) in
        [("sb-other", format!("http://127.0.0.1:{port}/")), ("sb-redirected", format!("http://localhost:{port}/away"))]
    {
        let (text, is_error) = one_call(&mut ws, key, "web_fetch", json!({"url": url}));
        assert!(is_error && text.contains("127.0.0.1 is not on the sandbox's domain allowlist"), "{url}: {text}");
        assert!(!text.contains("the page"), "{text}");
    }
    // The main session is not sandboxed: the allowlist is not its limit.
    let (text, is_error) = one_call(&mut ws, "main", "web_fetch", json!({"url": format!("http://127.0.0.1:{port}/")}));
    assert!(!is_error && text.contains("the page"), "{text}");
}

#[test]
fn web_fetch_gives_up_after_too_many_redirects() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[("OPENCLAW_DANGEROUS_WEB_FETCH_ALLOW_PRIVATE", "1")]);
    // Every hop redirects to the next one, forever.
    let port = server(|path, _| {
        let n: u32 = path.trim_start_matches("/r/").parse().unwrap_or(0);
        redirect_to(&format!("/r/{}", n + 1))
    });
    let mut ws = client(&gw);
    let (text, is_error) =
        one_call(&mut ws, "loop", "web_fetch", json!({"url": format!("http://localhost:{port}/r/0")}));
    assert!(is_error && text.contains("more than 3 redirects"), "{text}");
}

#[test]
fn web_fetch_refuses_a_redirect_to_a_private_address() {
    let mock = MockProvider::start();
    // The first hop is a test name mapped to the local server (the test-only resolver override);
    // the redirect's 127.0.0.1 gets no such pass.
    let port = server(|path, port| match path {
        "/secret" => html("<p>secret</p>"),
        _ => redirect_to(&format!("http://127.0.0.1:{port}/secret")),
    });
    let gw = start(&mock, "{}", None, &[("OPENCLAW_TEST_RESOLVE", "public.test=127.0.0.1")]);
    let mut ws = client(&gw);
    let (text, is_error) =
        one_call(&mut ws, "redir", "web_fetch", json!({"url": format!("http://public.test:{port}/")}));
    assert!(is_error && text.contains("127.0.0.1") && text.contains("private, loopback or link-local"), "{text}");
    assert!(!text.contains("secret</p>") && !text.contains("Status: 200"), "{text}");
    // The override's name itself is reached: the refusal above is the redirect's.
    let (text, is_error) =
        one_call(&mut ws, "direct", "web_fetch", json!({"url": format!("http://public.test:{port}/secret")}));
    assert!(!is_error && text.contains("secret"), "{text}");
}

#[test]
fn web_fetch_refuses_private_addresses_after_resolution() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    let port = page("<p>secret</p>");
    let mut ws = client(&gw);
    for (i, url) in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        "http://10.0.0.1/".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::1]/".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let (text, is_error) = one_call(&mut ws, &format!("wf{i}"), "web_fetch", json!({"url": url}));
        assert!(is_error && text.contains("private, loopback or link-local"), "{url}: {text}");
        assert!(!text.contains("secret"));
    }
}

#[test]
fn web_fetch_reaches_a_local_page_only_with_the_debug_build_override() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[("OPENCLAW_DANGEROUS_WEB_FETCH_ALLOW_PRIVATE", "1")]);
    let port = page("<html><body><h1>Title</h1><script>x()</script><p>Hello <b>there</b></p></body></html>");
    let mut ws = client(&gw);
    let (text, is_error) = one_call(&mut ws, "wf", "web_fetch", json!({"url": format!("http://localhost:{port}/")}));
    assert!(!is_error, "{text}");
    assert!(text.contains("Status: 200") && text.contains("Title") && text.contains("Hello there"), "{text}");
    assert!(!text.contains("x()") && !text.contains("<p>"), "{text}");
}

#[test]
fn lanes_status_and_health_show_each_agents_tool_set() {
    let mock = MockProvider::start();
    let cfg = "{ tools: { profile: 'coding', deny: ['rm'] }, agents: { list: [{ id: 'ops', tools: { allow: ['read', 'exec'] } }] } }";
    let gw = start(&mock, cfg, None, &[]);
    let mut ws = client(&gw);
    let l = ws.call("lanes.status", json!({}));
    let tools = &l["payload"]["tools"];
    assert_eq!(
        tools["main"]["tools"],
        json!(["read", "write", "edit", "exec", "process", "grep", "find", "ls", "memory_search", "memory_get"]),
        "{l}"
    );
    assert_eq!(tools["main"]["deniedCommands"], json!(["rm"]), "{l}");
    assert_eq!(tools["ops"]["tools"], json!(["read", "exec"]), "{l}");
    let h = gw.health();
    assert_eq!(h["tools"], *tools, "{h}");
}

#[test]
fn the_cli_agent_command_streams_the_answer_and_shows_tool_calls_with_verbose() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    std::fs::write(workspace(&gw).join("hello.txt"), "hi there\n").unwrap();
    let url = format!("ws://{}", gw.addr);
    let args = ["agent", "--message", "{\"path\": \"hello.txt\"}", "--model", "mock/call-read", "--url", &url];
    let (code, out, err) = common::run(gw.state_path(), &args, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out, "result: hi there\n", "the answer ends with one newline");
    assert!(!err.contains("[tool]"), "tool lines only with --verbose: {err}");
    let (code, out, err) = common::run(gw.state_path(), &[&args[..], &["--verbose"]].concat(), &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("[tool] read {\"path\":\"hello.txt\"}\n[tool] read ok: hi there (9 bytes)"), "{err}");
}

#[test]
fn file_tools_cannot_reach_the_gateways_state_dir() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", None, &[]);
    let mut ws = client(&gw);
    let token = gw.state_path().join("secrets/gateway_token");
    for (i, path) in ["../secrets/gateway_token", token.to_str().unwrap()].iter().enumerate() {
        let (text, is_error) = one_call(&mut ws, &format!("sr{i}"), "read", json!({"path": path}));
        assert!(is_error && text.contains("state directory"), "{path}: {text}");
        assert!(!text.contains(&gw.token()), "{text}");
    }
    // Nor can the model grant itself exec rights.
    let (text, is_error) =
        one_call(&mut ws, "sw", "write", json!({"path": "../exec-approvals.json", "content": FULL_EXEC}));
    assert!(is_error && text.contains("state directory"), "{text}");
    assert!(!gw.state_path().join("exec-approvals.json").exists());
    let (text, is_error) = one_call(&mut ws, "sg", "grep", json!({"pattern": ".", "path": ".."}));
    assert!(is_error && text.contains("state directory"), "{text}");
}

#[test]
fn a_running_command_sends_its_output_so_far_as_update_events() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", Some(FULL_EXEC), &[]);
    let mut ws = client(&gw);
    let cmd = json!({"command": "echo first; sleep 0.5; echo second; sleep 0.5; echo third"});
    let (_, events) = run(&mut ws, "upd", "call-exec", &cmd.to_string());
    let phases: Vec<String> = tool_events(&events).iter().map(|d| d["phase"].as_str().unwrap().to_string()).collect();
    assert_eq!(phases.first().map(String::as_str), Some("start"));
    assert_eq!(phases.last().map(String::as_str), Some("result"));
    let updates: Vec<String> = tool_events(&events)
        .iter()
        .filter(|d| d["phase"] == "update")
        .map(|d| d["partialResult"]["content"][0]["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!updates.is_empty(), "{phases:?}");
    assert!(updates[0].starts_with("first\nsecond\n"), "the output so far: {updates:?}");
}

#[test]
fn a_denied_tool_is_neither_offered_nor_run_and_calls_are_bounded_by_the_tool_timeout() {
    let mock = MockProvider::start();
    let cfg = "{ tools: { deny: ['group:web', 'write'] }, agents: { defaults: { toolTimeoutSeconds: 1 } } }";
    let gw = start(&mock, cfg, Some(FULL_EXEC), &[]);
    let mut ws = client(&gw);
    let (text, is_error) = one_call(&mut ws, "den", "web_fetch", json!({"url": "https://example.com/"}));
    assert!(is_error && text.contains("not available to this agent"), "{text}");
    let offered: Vec<String> = mock.seen.bodies.lock().unwrap()[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered, ["read", "edit", "exec", "process", "grep", "find", "ls", "memory_search", "memory_get"]);
    let started = std::time::Instant::now();
    let (text, is_error) = one_call(&mut ws, "slow", "exec", json!({"command": "echo begun; sleep 20"}));
    assert!(is_error && text.contains("begun") && text.contains("timed out after 1s"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn the_run_timeout_bounds_a_tool_and_leaves_its_call_answered() {
    let mock = MockProvider::start();
    let gw = start(&mock, "{}", Some(FULL_EXEC), &[]);
    let mut ws = client(&gw);
    let params = json!({"message": json!({"command": "sleep 30"}).to_string(), "model": "mock/call-exec",
                        "sessionKey": "agent:main:to", "idempotencyKey": "to", "timeout": 1});
    ws.send_text(&json!({"type": "req", "id": "to", "method": "agent", "params": params}).to_string());
    let started = std::time::Instant::now();
    let fin = wait_until("the run's final answer", Duration::from_secs(15), || {
        let v = ws.response().ok()?;
        (v["id"] == "to" && v["payload"]["status"] != "accepted").then_some(v)
    });
    assert_eq!(fin["error"]["code"], "AGENT_TIMEOUT", "{fin}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let msgs = transcript(&gw, "to");
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"], "{msgs:?}");
    assert!(msgs[2]["content"].as_str().unwrap().starts_with("aborted"), "{msgs:?}");
}
