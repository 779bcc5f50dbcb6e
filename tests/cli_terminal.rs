//! The terminal commands against the real gateway and the mock provider: `openclaw agent`
//! (streamed answer, options, stdin, provider errors), `cron`, `sessions`, `models`, and the
//! generated shell completions and man pages.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::provider::MockProvider;
use common::{Gateway, Spawn};
use serde_json::{Value, json};

/// A gateway whose `main` agent has the mock provider's `models`, `mock/ok` the default.
fn gateway(mock: &MockProvider, models: &[&str]) -> Gateway {
    mock.install(Spawn::default().config("{ agents: { defaults: { model: 'mock/ok' } } }"), models).start()
}

/// Runs the CLI against `gw` (its state dir, so its token; its address); exit code, stdout, stderr.
fn cli(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    cli_stdin(gw, args, None)
}

fn cli_stdin(gw: &Gateway, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let url = format!("ws://{}", gw.addr);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--url", &url]);
    let mut c = common::command(gw.state_path());
    c.args(&all).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("run openclaw");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("openclaw output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Like [`cli`], but it must exit 0 and print one JSON document.
fn cli_json(gw: &Gateway, args: &[&str]) -> Value {
    let (code, out, err) = cli(gw, args);
    assert_eq!(code, 0, "{args:?}: {out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

#[test]
fn agent_prints_the_streamed_answer_and_exits_0() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok", "echo"]);
    let (code, out, err) = cli(&gw, &["agent", "--message", "hi"]);
    assert_eq!((code, out.as_str()), (0, "Hello, world\n"), "{err}");

    // Upstream's options reach the run: the agent, a short session name, the model, thinking.
    let args =
        ["agent", "-m", "x", "--agent", "main", "--session-id", "work", "--model", "mock/echo", "--thinking", "low"];
    let (code, out, err) = cli(&gw, &args);
    assert_eq!((code, out.as_str()), (0, "turns=1 last=x\n"), "{err}");
    let body = mock.seen.bodies.lock().unwrap().last().cloned().unwrap();
    assert_eq!(body["model"], "echo");
    let sessions = cli_json(&gw, &["sessions", "--json"]);
    let keys: Vec<&str> = sessions["sessions"].as_array().unwrap().iter().filter_map(|s| s["key"].as_str()).collect();
    assert!(keys.contains(&"agent:main:work") && keys.contains(&"agent:main:main"), "{sessions}");

    // --session-key stays an alias, and the same session continues.
    let (code, out, err) =
        cli(&gw, &["agent", "-m", "again", "--session-key", "agent:main:work", "--model", "mock/echo"]);
    assert_eq!((code, out.as_str()), (0, "turns=3 last=again\n"), "{err}");
}

#[test]
fn agent_reads_the_message_from_stdin_with_a_dash() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok", "echo"]);
    let (code, out, err) =
        cli_stdin(&gw, &["agent", "--message", "-", "--model", "mock/echo"], Some("from a pipe\nsecond line\n"));
    assert_eq!((code, out.as_str()), (0, "turns=1 last=from a pipe\nsecond line\n"), "{err}");
    let (code, _, err) = cli_stdin(&gw, &["agent", "--message", "-"], Some("\n"));
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("empty message from stdin"), "{err}");
}

#[test]
fn agent_json_prints_only_the_final_payload_on_stdout() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"]);
    let v = cli_json(&gw, &["agent", "--message", "hi", "--json", "--timeout", "30"]);
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["result"]["payloads"], json!([{"text": "Hello, world"}]), "{v}");
}

#[test]
fn a_provider_error_exits_non_zero_with_its_code_and_message() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok", "e400"]);
    let (code, out, err) = cli(&gw, &["agent", "--message", "x", "--model", "mock/e400"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(err.contains("UNAVAILABLE") && err.contains("400") && err.contains("mock 400"), "{err}");

    // With --json the error is a JSON document on stdout too.
    let (code, out, _) = cli(&gw, &["agent", "--message", "x", "--model", "mock/e400", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((&v["status"], &v["error"]["code"]), (&json!("error"), &json!("UNAVAILABLE")), "{v}");
}

