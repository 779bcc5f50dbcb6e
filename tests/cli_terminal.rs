//! The terminal commands against the real gateway and the mock provider: `openclaw agent`
//! (streamed answer, options, stdin, provider errors), `cron`, `sessions`, `models`, and the
//! generated shell completions and man pages.

mod common;

use std::io::Write;
use std::path::Path;
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

#[test]
fn ctrl_c_stops_the_agent_run_and_keeps_what_was_printed() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok", "slow-1000-30"]);
    let url = format!("ws://{}", gw.addr);
    let mut c = common::command(gw.state_path());
    c.args(["agent", "-m", "go", "--model", "mock/slow-1000-30", "--url", &url]);
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn openclaw agent");
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = out.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    common::wait_until("the first streamed ticks", std::time::Duration::from_secs(10), || {
        out.lock().unwrap().contains("tick tick").then_some(())
    });
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    // 1000 ticks at 30 ms would take 30 s: exiting within 10 s means the run was stopped.
    let status =
        common::wait_until("the agent command to exit after Ctrl-C", std::time::Duration::from_secs(10), || {
            child.try_wait().expect("try_wait")
        });
    reader.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopping the run") && err.contains("keeps what was said"), "{err}");
    let out = out.lock().unwrap().clone();
    assert!(out.starts_with("tick tick") && out.ends_with('\n'), "{out:?}");
}

#[test]
fn cron_commands_round_trip_a_job_and_name_a_bad_schedule() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"]);
    // A bad schedule: the gateway's own error, exit 1, nothing stored.
    let (code, _, err) = cli(&gw, &["cron", "add", "--name", "bad", "--cron", "61 * * * *", "--message", "x"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cron.add") && err.contains("61 * * * *") && err.contains("not valid"), "{err}");
    let (code, _, err) = cli(&gw, &["cron", "add", "--every", "5 parsecs", "--message", "x"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown unit"), "{err}");
    let (code, _, err) = cli(&gw, &["cron", "add", "--at", "tomorrow-ish", "--message", "x"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("RFC 3339"), "{err}");
    let (code, _, err) = cli(&gw, &["cron", "add", "--message", "x"]);
    assert_eq!(code, 64, "a schedule is required: {err}");
    assert!(cli_json(&gw, &["cron", "list", "--all", "--json"])["jobs"].as_array().unwrap().is_empty());

    let added = cli_json(
        &gw,
        &[
            "cron",
            "add",
            "--name",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--tz",
            "Europe/Berlin",
            "--message",
            "status?",
            "--json",
        ],
    );
    let job = &added["job"];
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["schedule"], json!({"kind": "cron", "expr": "0 3 * * *", "tz": "Europe/Berlin"}), "{added}");
    assert_eq!(job["payload"], json!({"kind": "agentTurn", "message": "status?"}), "{added}");
    assert!(job["nextRunAtMs"].as_i64().unwrap() > 0, "{added}");

    let (code, out, err) = cli(&gw, &["cron", "list"]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("SCHEDULE"), "{out}");
    assert!(out.contains("nightly") && out.contains("cron 0 3 * * * (Europe/Berlin)"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when stdout is not a terminal: {out:?}");

    let edited = cli_json(
        &gw,
        &["cron", "edit", &id, "--name", "hourly", "--every", "1h", "--message", "again?", "--disable", "--json"],
    );
    assert_eq!(edited["job"]["name"], "hourly", "{edited}");
    assert_eq!(edited["job"]["schedule"], "every 1h", "{edited}");
    assert_eq!(edited["job"]["payload"]["message"], "again?", "{edited}");
    assert_eq!(edited["job"]["enabled"], false, "{edited}");
    assert!(cli_json(&gw, &["cron", "list", "--json"])["jobs"].as_array().unwrap().is_empty(), "disabled is hidden");
    let (code, _, err) = cli(&gw, &["cron", "edit", &id, "--cron", "0 0 31 2 * * * *"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("8 fields"), "{err}");
    let (code, _, err) = cli(&gw, &["cron", "edit", "no-such-job", "--enable"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no cron job") && err.contains("cron list --all"), "{err}");
    let (code, _, err) = cli(&gw, &["cron", "edit", &id]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("nothing to change"), "{err}");

    let due = cli_json(&gw, &["cron", "run", &id, "--due", "--json"]);
    assert_eq!(due["ran"], false, "{due}");
    let ran = cli_json(&gw, &["cron", "run", &id, "--json"]);
    assert_eq!(ran["ran"], true, "{ran}");
    let runs = common::wait_until("the forced run in `cron runs`", std::time::Duration::from_secs(10), || {
        let v = cli_json(&gw, &["cron", "runs", "--id", &id, "--json"]);
        v["runs"].as_array().filter(|r| !r.is_empty()).map(|_| v.clone())
    });
    assert_eq!((&runs["runs"][0]["status"], &runs["runs"][0]["reason"]), (&json!("ok"), &json!("manual")), "{runs}");
    let (code, out, err) = cli(&gw, &["cron", "runs", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("manual") && out.contains("Hello, world"), "{out}");

    let status = cli_json(&gw, &["cron", "status", "--json"]);
    assert_eq!((&status["enabled"], &status["jobs"]), (&json!(true), &json!(1)), "{status}");
    let removed = cli_json(&gw, &["cron", "rm", &id, "--json"]);
    assert_eq!(removed["removed"], id.as_str(), "{removed}");
    let (code, out, _) = cli(&gw, &["cron", "list", "--all"]);
    assert_eq!(code, 0);
    assert!(out.contains("no cron jobs"), "{out}");
}

#[test]
fn cron_add_system_event_queues_a_note_or_wakes_the_main_session() {
    let mock = MockProvider::start();
    let gw =
        mock.install(Spawn::default().config("{ agents: { defaults: { model: 'mock/echo' } } }"), &["echo"]).start();
    for (args, why) in [
        (&["cron", "add", "--every", "1h", "--message", "x", "--wake", "now"][..], "--wake applies to --system-event"),
        (&["cron", "add", "--every", "1h", "--system-event", "x", "--model", "mock/echo"][..], "--message jobs"),
        (&["cron", "add", "--every", "1h", "--system-event", "x", "--wake", "soon"][..], "possible values"),
        (&["cron", "add", "--every", "1h", "--system-event", "x", "--message", "y"][..], "cannot be used with"),
    ] {
        let (code, _, err) = cli(&gw, args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let queued = cli_json(&gw, &["cron", "add", "--every", "1h", "--system-event", "check the mail", "--json"]);
    assert_eq!(queued["job"]["payload"], json!({"kind": "systemEvent", "text": "check the mail"}), "{queued}");
    let woke = cli_json(
        &gw,
        &["cron", "add", "--every", "1h", "--system-event", "stand up", "--wake", "now", "--name", "wake", "--json"],
    );
    assert_eq!(woke["job"]["wakeMode"], "now", "{woke}");
    let (queued, woke) = (queued["job"]["id"].as_str().unwrap(), woke["job"]["id"].as_str().unwrap());

    cli_json(&gw, &["cron", "run", queued, "--json"]);
    let runs = common::wait_until("the queued note in `cron runs`", std::time::Duration::from_secs(10), || {
        let v = cli_json(&gw, &["cron", "runs", queued, "--json"]);
        v["runs"].as_array().filter(|r| !r.is_empty()).map(|_| v.clone())
    });
    assert!(runs["runs"][0]["summary"].as_str().unwrap().contains("queued for the next turn"), "{runs}");
    // The wake's turn reads both notes, the older first.
    cli_json(&gw, &["cron", "run", woke, "--json"]);
    let runs = common::wait_until("the wake's turn in `cron runs`", std::time::Duration::from_secs(10), || {
        let v = cli_json(&gw, &["cron", "runs", woke, "--json"]);
        v["runs"].as_array().filter(|r| !r.is_empty()).map(|_| v.clone())
    });
    let summary = runs["runs"][0]["summary"].as_str().unwrap();
    let (mail, stand) = (summary.find("] check the mail").unwrap(), summary.find("] stand up").unwrap());
    assert!(mail < stand, "{runs}");

    let edited =
        cli_json(&gw, &["cron", "edit", woke, "--system-event", "sit down", "--wake", "next-heartbeat", "--json"]);
    assert_eq!(edited["job"]["payload"]["text"], "sit down", "{edited}");
    assert_eq!(edited["job"]["wakeMode"], "next-heartbeat", "{edited}");
    let (code, _, err) = cli(&gw, &["cron", "edit", woke, "--message", "x"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not an agent turn"), "{err}");
}

#[test]
fn sessions_list_filter_reset_and_delete() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"]);
    let (code, out, _) = cli(&gw, &["sessions"]);
    assert_eq!(code, 0);
    assert!(out.contains("no sessions yet"), "{out}");
    for s in ["one", "two"] {
        let (code, _, err) = cli(&gw, &["agent", "-m", "hi", "--session", s]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = cli(&gw, &["sessions", "--active", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().starts_with("KEY"), "{out}");
    assert!(out.contains("agent:main:one") && out.contains("agent:main:two"), "{out}");
    let listed = cli_json(&gw, &["sessions", "list", "--active", "5", "--json"]);
    assert_eq!(listed["count"], 2, "{listed}");
    let before = listed["sessions"].as_array().unwrap().iter().find(|s| s["key"] == "agent:main:one").unwrap().clone();

    let reset = cli_json(&gw, &["sessions", "reset", "one", "--json"]);
    assert_eq!(
        (&reset["key"], &reset["previousSessionId"]),
        (&json!("agent:main:one"), &before["sessionId"]),
        "{reset}"
    );
    let (code, out, err) = cli(&gw, &["sessions", "delete", "agent:main:two"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("agent:main:two deleted"), "{out}");
    let after = cli_json(&gw, &["sessions", "--json"]);
    let keys: Vec<&str> = after["sessions"].as_array().unwrap().iter().filter_map(|s| s["key"].as_str()).collect();
    assert!(!keys.contains(&"agent:main:two"), "{after}");
    let (code, _, err) = cli(&gw, &["sessions", "delete", "agent:main:two"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no session"), "{err}");
}

#[test]
fn models_list_and_status_show_the_catalogue_and_the_chain() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok", "echo"]);
    let (code, out, err) = cli(&gw, &["models", "list"]);
    assert_eq!(code, 0, "{err}");
    let ok = out.lines().find(|l| l.starts_with("mock/ok")).unwrap_or_else(|| panic!("{out}"));
    assert!(ok.ends_with("default"), "{out}");
    assert!(out.contains("mock/echo"), "{out}");
    let list = cli_json(&gw, &["models", "list", "--json"]);
    assert_eq!(list["models"].as_array().unwrap().len(), 2, "{list}");
    let status = cli_json(&gw, &["models", "status", "--json"]);
    assert_eq!((&status["default"], &status["models"]), (&json!("mock/ok"), &json!(2)), "{status}");
    assert_eq!(status["unknown"], json!([]), "{status}");
    let (code, out, _) = cli(&gw, &["models", "status"]);
    assert_eq!(code, 0);
    assert!(out.contains("default:   mock/ok"), "{out}");
}

#[test]
fn tables_fit_the_width_given_by_columns() {
    let mock = MockProvider::start();
    let gw = gateway(&mock, &["ok"]);
    let long = "a job with a very long name that would never fit into a narrow terminal window at all";
    let (code, _, err) = cli(&gw, &["cron", "add", "--name", long, "--every", "1h", "--message", "x"]);
    assert_eq!(code, 0, "{err}");
    let mut c = common::command(gw.state_path());
    let url = format!("ws://{}", gw.addr);
    let out = c.args(["cron", "list", "--url", &url]).env("COLUMNS", "60").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    assert!(text.contains('…'), "the long name is cut: {text}");
}

fn completion(shell: &str, dir: &Path) -> String {
    let (code, out, err) = common::run(dir, &["completion", shell], &[]);
    assert_eq!(code, 0, "{shell}: {err}");
    for sub in ["agent", "cron", "sessions", "models", "completion"] {
        assert!(out.contains(sub), "{shell} completion names {sub}");
    }
    out
}

/// `shell` reads `script` without a syntax error (scripts/setup installs the three shells).
fn parses(shell: &str, flags: &[&str], script: &str, dir: &Path) {
    let file = dir.join(format!("openclaw.{shell}"));
    std::fs::write(&file, script).unwrap();
    let check = std::process::Command::new(shell)
        .args(flags)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{shell} ({e}): scripts/setup installs it"));
    assert!(check.status.success(), "{shell} {flags:?}: {}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let d = tempfile::tempdir().unwrap();
    let bash = completion("bash", d.path());
    assert!(bash.contains("complete -F _openclaw"), "{bash}");
    parses("bash", &["-n"], &bash, d.path());
    let zsh = completion("zsh", d.path());
    assert!(zsh.starts_with("#compdef openclaw"), "{zsh}");
    parses("zsh", &["-n"], &zsh, d.path());
    let fish = completion("fish", d.path());
    assert!(fish.contains("complete -c openclaw") && fish.contains("__fish_openclaw"), "{fish}");
    parses("fish", &["--no-execute"], &fish, d.path());
    let (code, _, err) = common::run(d.path(), &["completion", "tcsh"], &[]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn man_pages_render_with_man_l() {
    let d = tempfile::tempdir().unwrap();
    let out_dir = d.path().join("man1");
    let (code, _, err) = common::run(d.path(), &["man", "--out", out_dir.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    for page in ["openclaw.1", "openclaw-agent.1", "openclaw-cron-add.1", "openclaw-sessions.1"] {
        assert!(out_dir.join(page).is_file(), "{page} written: {err}");
    }
    let rendered = std::process::Command::new("man")
        .arg("-l")
        .arg(out_dir.join("openclaw-cron-add.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .expect("man (package man-db; scripts/setup installs it)");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "man -l: {}", String::from_utf8_lossy(&rendered.stderr));
    assert!(text.contains("openclaw-cron-add") && text.contains("--every"), "{text}");
    // Without --out: the top page on stdout.
    let (code, page, _) = common::run(d.path(), &["man"], &[]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH openclaw 1"), "{page}");
}

#[test]
fn the_service_install_puts_completions_and_man_pages_in_place_and_uninstall_removes_them() {
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let (code, out, err) = common::run(state.path(), &["gateway", "install", "--root", r, "--completions"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    // A user install: below the user's home (HOME is the state dir here), under --root.
    let home = root.path().join(state.path().strip_prefix("/").unwrap());
    let bash = home.join(".local/share/bash-completion/completions/openclaw");
    let check = std::process::Command::new("bash").arg("-n").arg(&bash).output().expect("bash");
    assert!(check.status.success(), "bash -n {}: {}", bash.display(), String::from_utf8_lossy(&check.stderr));
    assert!(std::fs::read_to_string(home.join(".local/share/zsh/site-functions/_openclaw")).unwrap().contains("cron"));
    assert!(std::fs::read_to_string(home.join(".config/fish/completions/openclaw.fish")).unwrap().contains("cron"));
    let man = home.join(".local/share/man/man1");
    assert!(man.join("openclaw.1").is_file() && man.join("openclaw-chat.1").is_file(), "{out}");
    let (code, out, err) = common::run(state.path(), &["gateway", "uninstall", "--root", r, "--completions"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!bash.exists() && !man.join("openclaw.1").exists(), "{out}");
}
