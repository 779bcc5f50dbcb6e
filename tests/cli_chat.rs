//! `openclaw chat` in a pseudo-terminal against the real gateway and the mock provider: a
//! message and its streamed answer, history on entry, `/new`, `/abort` and Ctrl-C mid-stream,
//! and a reconnect after a gateway restart that keeps what was being typed.

mod common;

use common::provider::MockProvider;
use common::{Gateway, Spawn};
use rexpect::session::PtySession;

/// Longest wait for any one expected piece of output.
const EXPECT_MS: u64 = 15_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A gateway on a fixed port (a restarted one is found at the same address), `model` the default.
fn gateway(mock: &MockProvider, spawn: Spawn, model: &str) -> Gateway {
    let port = free_port();
    let config = format!("{{ gateway: {{ port: {port} }}, agents: {{ defaults: {{ model: '{model}' }} }} }}");
    mock.install(spawn.config(&config), &["ok", "echo", "slow-200-30", "slow-3-1500"]).start()
}

/// `openclaw chat` with `args` in a pseudo-terminal, on `gw`'s state dir (its config, its token).
fn chat(state: &std::path::Path, args: &[&str]) -> PtySession {
    let mut c = common::command(state);
    c.arg("chat").args(args).env("TERM", "xterm");
    rexpect::session::spawn_command(c, Some(EXPECT_MS)).expect("spawn openclaw chat in a pty")
}

/// Waits (at most [`EXPECT_MS`]) for `needle` in the output; `what` names it on failure.
fn expect(p: &mut PtySession, what: &str, needle: &str) -> String {
    p.exp_string(needle).unwrap_or_else(|e| panic!("waiting for {what} ({needle:?}): {e}"))
}

/// Like [`expect`], for a regular expression.
fn expect_re(p: &mut PtySession, what: &str, re: &str) {
    p.exp_regex(re).unwrap_or_else(|e| panic!("waiting for {what} (/{re}/): {e}"));
}

/// Types `line` and Enter.
fn enter(p: &mut PtySession, line: &str) {
    p.send(&format!("{line}\r")).expect("type into the pty");
    p.flush().expect("flush the pty");
}

fn leave(mut p: PtySession) {
    enter(&mut p, "/exit");
    p.exp_eof().unwrap_or_else(|e| panic!("waiting for chat to exit after /exit: {e}"));
}

#[test]
fn a_message_streams_its_answer_and_new_starts_the_session_over() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, Spawn::default(), "mock/ok");
    let mut p = chat(gw.state_path(), &["--session", "pty"]);
    expect(&mut p, "the session line", "session agent:main:pty");
    expect(&mut p, "an empty history", "(no messages yet)");
    enter(&mut p, "hello");
    expect(&mut p, "the streamed answer", "Hello, world");

    enter(&mut p, "/model mock/echo");
    expect(&mut p, "the model switch", "model mock/echo for the next messages");
    enter(&mut p, "second");
    expect(&mut p, "the echo of a third turn", "turns=3 last=second");
    enter(&mut p, "/new");
    expect(&mut p, "the reset", "new session: agent:main:pty starts over");
    enter(&mut p, "again");
    expect(&mut p, "a first turn after /new", "turns=1 last=again");
    leave(p);

    // History on entry: the session as it is now.
    let mut p = chat(gw.state_path(), &["--session", "agent:main:pty"]);
    // (the role labels are bold: colour is on in a terminal)
    expect_re(&mut p, "the user's message in the history", r"you:(\x1b\[0m)? again");
    expect_re(&mut p, "the answer in the history", r"assistant:(\x1b\[0m)? turns=1 last=again");
    leave(p);
}

#[test]
fn an_unfinished_line_of_the_answer_shows_as_it_streams() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, Spawn::default(), "mock/slow-3-1500");
    let mut p = chat(gw.state_path(), &[]);
    expect(&mut p, "an empty history", "(no messages yet)");
    enter(&mut p, "go");
    // "tick tick tick " is far less than a row and has no newline: it must show word by word,
    // not once the answer ends.
    expect(&mut p, "the first word", "tick");
    let sent = mock.seen.delta_sent_ms.lock().unwrap().len();
    assert!(sent < 3, "the first word showed only after all {sent} deltas were sent");
    // Each later word rewrites the row in place: back up over it, clear it, print it longer.
    expect(&mut p, "the row rewritten with the second word", "\x1b[1A\r\x1b[Jtick tick ");
    expect(&mut p, "the row rewritten with the third word", "\x1b[1A\r\x1b[Jtick tick tick ");
    leave(p);
}

#[test]
fn abort_and_ctrl_c_stop_an_answer_mid_stream() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, Spawn::default(), "mock/slow-200-30");
    let mut p = chat(gw.state_path(), &[]);
    expect(&mut p, "an empty history", "(no messages yet)");
    enter(&mut p, "go");
    expect(&mut p, "the first streamed row", "tick tick tick");
    enter(&mut p, "/abort");
    expect(&mut p, "the abort", "(aborted)");
    enter(&mut p, "go again");
    expect(&mut p, "the second answer streaming", "tick tick tick");
    p.send_control('c').expect("Ctrl-C");
    expect(&mut p, "the abort by Ctrl-C", "(aborted)");
    enter(&mut p, "/abort");
    expect(&mut p, "nothing left to abort", "nothing to abort");
    leave(p);
}

#[test]
fn chat_reconnects_after_a_gateway_restart_and_keeps_what_was_typed() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, Spawn::default(), "mock/echo");
    let mut p = chat(gw.state_path(), &["--session", "restart"]);
    expect(&mut p, "an empty history", "(no messages yet)");
    let port = gw.addr.port().to_string();
    let state = gw.stop_keep_state();
    expect(&mut p, "the lost connection", "reconnecting");
    // Half a message typed while the gateway is down.
    p.send("abc").expect("type");
    p.flush().expect("flush");
    let again = Spawn::in_state(state).arg("--port").arg(&port);
    let gw = mock.install(again, &["ok", "echo", "slow-200-30"]).start();
    expect(&mut p, "the reconnect", "reconnected");
    enter(&mut p, "def");
    expect(&mut p, "the whole message answered", "turns=1 last=abcdef");
    leave(p);
    drop(gw);
}

#[test]
fn a_pending_exec_approval_shows_inline_and_approve_lets_it_run() {
    let mock = MockProvider::start();
    let cfg = "{ agents: { defaults: { model: 'mock/call-exec', execApprovalTimeoutSeconds: 60 } } }";
    let gw = mock.install(Spawn::default().config(cfg), &["call-exec"]).start();
    let url = format!("ws://{}", gw.addr);
    let mut p = chat(gw.state_path(), &["--url", &url]);
    expect(&mut p, "an empty history", "(no messages yet)");
    enter(&mut p, r#"{"command": "echo approved-in-chat"}"#);
    let (_, asked) = p
        .exp_regex(r"approval needed [0-9a-f-]{36}")
        .unwrap_or_else(|e| panic!("waiting for the inline approval request: {e}"));
    let id = asked.rsplit(' ').next().unwrap().to_string();
    expect(&mut p, "the command in the request", "$ echo approved-in-chat");
    enter(&mut p, &format!("/approve {id}"));
    expect(&mut p, "the decision", &format!("{id}: allow-once"));
    expect(&mut p, "the command's output as the answer", "result: approved-in-chat");
    leave(p);
}

#[test]
fn without_a_terminal_chat_reads_stdin_and_prints_plain_text() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, Spawn::default(), "mock/ok");
    let url = format!("ws://{}", gw.addr);
    let mut c = common::command(gw.state_path());
    c.args(["chat", "--url", &url]).env("TERM", "xterm");
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn openclaw chat");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"hello\n").expect("write a line");
    }
    // The input ends after one line: chat leaves once its answer is complete.
    let status = common::wait_until("chat to exit after its input ended", std::time::Duration::from_secs(20), || {
        child.try_wait().expect("try_wait")
    });
    let out = child.wait_with_output().expect("chat output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("(no messages yet)") && text.contains("Hello, world"), "{text}");
    assert!(!text.contains('\x1b'), "no escape codes without a terminal: {text:?}");
}

#[test]
fn agent_in_a_terminal_shows_progress_on_stderr_and_wipes_it_before_the_answer() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, Spawn::default(), "mock/ok");
    let url = format!("ws://{}", gw.addr);
    let mut c = common::command(gw.state_path());
    c.args(["agent", "--message", "hi", "--url", &url]).env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(c, Some(EXPECT_MS)).expect("spawn openclaw agent in a pty");
    expect(&mut p, "the progress note", "waiting for the answer");
    expect(&mut p, "the note wiped, then the answer", "\r\x1b[KHello, world");
    p.exp_eof().unwrap_or_else(|e| panic!("waiting for the agent command to exit: {e}"));
}
