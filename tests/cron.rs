//! Cron end to end: jobs from config and from `cron.add`, firing through the cron lane,
//! run history, `cron` events, catch-up of runs missed while the gateway was down, the
//! backup-sessions command, agentTurn payloads and systemEvent notes for the main session.

mod common;

use std::time::{Duration, Instant};

use common::provider::MockProvider;
use common::{Spawn, Ws, wait_until};
use serde_json::{Value, json};

fn client(gw: &common::Gateway) -> Ws {
    gw.ws()
}

/// The next `cron` event with `action: finished` for `job`.
fn finished(ws: &mut Ws, job: &str) -> Value {
    loop {
        let e = ws.event("cron").expect("a cron event");
        if e["payload"]["jobId"] == job && e["payload"]["action"] == "finished" {
            return e["payload"].clone();
        }
    }
}

fn backups(state: &std::path::Path) -> usize {
    std::fs::read_dir(state.join("backups"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tar.gz")).count())
        .unwrap_or(0)
}

#[test]
fn a_config_job_fires_through_the_cron_lane_and_keeps_history() {
    let gw = Spawn::default()
        .config("{ cron: { jobs: [ { id: 'bk', schedule: '* * * * * *', payload: { kind: 'backupSessions', keep: 2 } } ] } }")
        .start();
    let mut ws = client(&gw);
    let first = finished(&mut ws, "bk");
    assert_eq!(first["status"], "ok", "{first}");
    assert!(first["summary"].as_str().unwrap().contains("backups/sessions-"), "{first}");
    assert!(first["nextRunAtMs"].as_i64().is_some(), "{first}");
    finished(&mut ws, "bk");
    finished(&mut ws, "bk");
    assert_eq!(backups(gw.state_path()), 2, "retention keeps 2");
    let runs = ws.call("cron.runs", json!({"id": "bk"}));
    let list = runs["payload"]["runs"].as_array().unwrap();
    assert!(list.len() >= 3, "{runs}");
    assert!(list.iter().all(|r| r["status"] == "ok" && r["reason"] == "schedule"), "{runs}");
    let lanes = ws.call("lanes.status", json!({}));
    assert!(lanes["payload"]["lanes"]["cron"]["completed"].as_u64().unwrap() >= 3, "{lanes}");
    // Config jobs are changed in the config file, not through RPC.
    let r = ws.call("cron.remove", json!({"id": "bk"}));
    assert!(r["error"]["message"].as_str().unwrap().contains("config file"), "{r}");
}

#[test]
fn jobs_added_by_rpc_are_stored_listed_updated_run_and_removed() {
    let gw = Spawn::default().start();
    let mut ws = client(&gw);
    let bad = ws.call(
        "cron.add",
        json!({"name": "x", "schedule": "61 * * * *", "payload": {"kind": "backupSessions", "keep": 1}}),
    );
    assert!(bad["error"]["message"].as_str().unwrap().contains("not valid"), "{bad}");
    let bad = ws.call("cron.add", json!({"schedule": "every 1h", "payload": {"kind": "shellCommand", "text": "x"}}));
    assert!(bad["error"]["message"].as_str().unwrap().contains("unknown variant"), "{bad}");
    let bad = ws.call(
        "cron.add",
        json!({"schedule": "every 1h", "sessionTarget": "isolated", "payload": {"kind": "systemEvent", "text": "x"}}),
    );
    assert!(bad["error"]["message"].as_str().unwrap().contains("main session"), "{bad}");
    let bad = ws.call(
        "cron.add",
        json!({"schedule": "every 1h", "wakeMode": "later", "payload": {"kind": "systemEvent", "text": "x"}}),
    );
    assert!(bad["error"]["message"].as_str().unwrap().contains("unknown variant `later`"), "{bad}");

    let added = ws.call(
        "cron.add",
        json!({"name": "nightly", "schedule": {"kind": "cron", "expr": "0 3 * * *", "tz": "Europe/Berlin"},
               "payload": {"kind": "backupSessions", "keep": 3}}),
    );
    let id = added["payload"]["job"]["id"].as_str().unwrap().to_string();
    assert!(added["payload"]["job"]["nextRunAtMs"].as_i64().unwrap() > 0, "{added}");
    let stored = std::fs::read_to_string(gw.state_path().join("cron/jobs.json")).unwrap();
    assert!(stored.contains("nightly"), "{stored}");

    let up = ws.call("cron.update", json!({"id": id, "patch": {"enabled": false}}));
    assert_eq!(up["payload"]["job"]["enabled"], false, "{up}");
    let list = ws.call("cron.list", json!({}));
    assert_eq!(list["payload"]["jobs"].as_array().unwrap().len(), 0, "disabled jobs are hidden by default");
    let list = ws.call("cron.list", json!({"includeDisabled": true}));
    assert_eq!(list["payload"]["jobs"][0]["source"], "store");

    let due = ws.call("cron.run", json!({"id": id, "mode": "due"}));
    assert_eq!(due["payload"]["ran"], false, "{due}");
    assert_eq!(ws.call("cron.run", json!({"id": id}))["payload"]["ran"], true);
    let done = finished(&mut ws, &id);
    assert_eq!((done["status"].as_str(), done["reason"].as_str()), (Some("ok"), Some("manual")), "{done}");
    assert_eq!(backups(gw.state_path()), 1);

    let st = ws.call("cron.status", json!({}));
    assert_eq!(st["payload"]["enabled"], true);
    assert_eq!(ws.call("cron.remove", json!({"id": id}))["payload"]["removed"], id.as_str());
    assert!(
        ws.call("cron.runs", json!({"id": "../../etc"}))["error"]["message"].as_str().unwrap().contains("must match")
    );
}

#[test]
fn missed_runs_are_caught_up_once_or_recorded_as_skipped() {
    let gw = Spawn::default().start();
    let mut ws = client(&gw);
    for (name, catch_up) in [("catch", true), ("skip", false)] {
        let r = ws.call(
            "cron.add",
            json!({"name": name, "schedule": "every 1h", "catchUp": catch_up,
                   "payload": {"kind": "backupSessions", "keep": 5}}),
        );
        assert!(r["ok"] == true, "{r}");
    }
    drop(ws);
    let state = gw.stop_keep_state();
    // Pretend the jobs were added, and the gateway stopped, three hours ago.
    let three_hours = 3 * 3_600_000 - 60_000;
    let file = state.path().join("cron/state.json");
    let mut st: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for (_, job) in st.as_object_mut().unwrap() {
        job["seenAtMs"] = json!(job["seenAtMs"].as_i64().unwrap() - three_hours);
    }
    std::fs::write(&file, st.to_string()).unwrap();
    let file = state.path().join("cron/jobs.json");
    let mut jobs: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for job in jobs["jobs"].as_array_mut().unwrap() {
        job["createdAtMs"] = json!(job["createdAtMs"].as_i64().unwrap() - three_hours);
    }
    std::fs::write(&file, jobs.to_string()).unwrap();

    let gw = Spawn::in_state(state).start();
    let mut ws = client(&gw);
    let list = ws.call("cron.list", json!({}));
    let id = |name: &str| {
        list["payload"]["jobs"].as_array().unwrap().iter().find(|j| j["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (catch, skip) = (id("catch"), id("skip"));
    let runs_of = |ws: &mut Ws, id: &str| ws.call("cron.runs", json!({"id": id}))["payload"]["runs"].clone();
    let caught = wait_until("the catch-up run to finish", Duration::from_secs(10), || {
        let runs = runs_of(&mut ws, &catch);
        runs.as_array().filter(|r| !r.is_empty()).map(|_| runs.clone())
    });
    assert_eq!(caught.as_array().unwrap().len(), 1, "one catch-up run, not two: {caught}");
    assert_eq!(caught[0]["reason"], "catch-up", "{list}");
    assert_eq!(caught[0]["status"], "ok");
    let skipped = runs_of(&mut ws, &skip);
    assert_eq!(skipped[0]["status"], "skipped", "{skipped}");
    assert!(skipped[0]["error"].as_str().unwrap().contains("missed 2 run(s)"), "{skipped}");
    assert_eq!(backups(gw.state_path()), 1);
}

#[test]
fn an_agent_turn_job_runs_an_agent_on_the_cron_lane() {
    let mock = MockProvider::start();
    let spawn = Spawn::default().config(
        "{ cron: { jobs: [ { id: 'hello', schedule: 'every 1s', payload: { kind: 'agentTurn', message: 'status?' } } ] } }",
    );
    let gw = mock.install(spawn, &["ok"]).start();
    let mut ws = client(&gw);
    let started = Instant::now();
    let done = finished(&mut ws, "hello");
    assert_eq!(done["status"], "ok", "{done}");
    assert!(done["summary"].as_str().unwrap().contains("Hello, world"), "{done}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:cron:hello"}));
    assert_eq!(h["payload"]["messages"][0]["content"], "status?", "{h}");
    let lanes = ws.call("lanes.status", json!({}));
    assert!(lanes["payload"]["lanes"]["cron"]["completed"].as_u64().unwrap() >= 1, "{lanes}");
    assert_eq!(lanes["payload"]["lanes"]["main"]["started"], 0, "{lanes}");
}

#[test]
fn a_bad_schedule_in_the_config_file_is_a_config_error_with_its_line() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("config.json5"),
        "{\n  cron: {\n    jobs: [\n      { schedule: '0 0 31 2 * * * *', command: 'backup-sessions' },\n    ],\n  },\n}\n",
    )
    .unwrap();
    let (code, out, err) = common::run(state.path(), &["config", "validate"], &[]);
    assert_eq!(code, 78, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("cron.jobs.0.schedule") && all.contains("8 fields"), "{all}");
    assert!(all.contains("config.json5:4"), "{all}");
}

#[test]
fn a_run_asked_for_while_one_is_running_is_skipped_and_the_next_after_finished_runs() {
    let mock = MockProvider::start();
    let gw = mock.install(Spawn::default(), &["slow-20-100", "ok"]).start();
    let mut ws = client(&gw);
    let slow = ws.call(
        "cron.add",
        json!({"name": "slow", "schedule": "every 24h",
               "payload": {"kind": "agentTurn", "message": "x", "model": "mock/slow-20-100"}}),
    );
    let slow = slow["payload"]["job"]["id"].as_str().expect("a job id").to_string();
    assert_eq!(ws.call("cron.run", json!({"id": slow}))["payload"]["ran"], true);
    // Each refusal is a skip; a skip must not clear the mark of the run still going.
    for _ in 0..2 {
        ws.call("cron.run", json!({"id": slow}));
        let skipped = finished(&mut ws, &slow);
        assert_eq!(skipped["status"], "skipped", "{skipped}");
        assert!(skipped["error"].as_str().unwrap().contains("still running"), "{skipped}");
    }
    let done = finished(&mut ws, &slow);
    assert_eq!(done["status"], "ok", "{done}");
    assert_eq!(mock.models_called().len(), 1, "one run reached the provider");

    // A client that starts the next run as soon as it hears `finished` is never told the
    // previous one is still running.
    let quick = ws.call(
        "cron.add",
        json!({"name": "quick", "schedule": "every 24h",
                                           "payload": {"kind": "backupSessions", "keep": 1}}),
    );
    let quick = quick["payload"]["job"]["id"].as_str().expect("a job id").to_string();
    for i in 0..30 {
        assert_eq!(ws.call("cron.run", json!({"id": quick}))["payload"]["ran"], true);
        let done = finished(&mut ws, &quick);
        assert_eq!(done["status"], "ok", "run {i}: {done}");
    }
}

/// The user message the `echo` model was last sent, as its answer repeats it.
fn echoed(answer: &str) -> &str {
    answer.split_once(" last=").map(|(_, last)| last).unwrap_or_else(|| panic!("not an echo answer: {answer}"))
}

/// Sends `message` to the main session and waits for the answer.
fn say(ws: &mut Ws, key: &str, message: &str) -> String {
    let r = ws.call("chat.send", json!({"sessionKey": "agent:main:main", "message": message, "idempotencyKey": key}));
    let run = r["payload"]["runId"].as_str().unwrap_or_else(|| panic!("no run: {r}")).to_string();
    let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 10000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:main"}));
    let msgs = h["payload"]["messages"].as_array().expect("messages").clone();
    msgs.last().and_then(|m| m["content"].as_str()).expect("an answer").to_string()
}

/// A gateway whose default model is the mock's `echo` (it answers with what it was sent).
fn echo_gateway() -> (MockProvider, common::Gateway) {
    let mock = MockProvider::start();
    let spawn = Spawn::default().config("{ agents: { defaults: { model: 'mock/echo' } } }");
    let gw = mock.install(spawn, &["echo"]).start();
    (mock, gw)
}

/// Adds a daily systemEvent job with `text` and the fields of `job`; its id.
fn add_event(ws: &mut Ws, mut job: Value, text: &str) -> String {
    job["schedule"] = json!("every 24h");
    job["payload"] = json!({"kind": "systemEvent", "text": text});
    let added = ws.call("cron.add", job);
    added["payload"]["job"]["id"].as_str().unwrap_or_else(|| panic!("{added}")).to_string()
}

#[test]
fn a_system_event_waits_for_the_main_sessions_next_turn_across_a_restart() {
    let (mock, gw) = echo_gateway();
    let mut ws = client(&gw);
    let id = add_event(&mut ws, json!({"name": "note"}), "backup finished");
    for _ in 0..2 {
        assert_eq!(ws.call("cron.run", json!({"id": id}))["payload"]["ran"], true);
        let done = finished(&mut ws, &id);
        assert_eq!(done["status"], "ok", "{done}");
        assert!(done["summary"].as_str().unwrap().contains("queued for the next turn of agent:main:main"), "{done}");
    }
    assert!(mock.models_called().is_empty(), "next-heartbeat starts no turn");

    // The notes are on disk: a restart keeps them.
    drop(ws);
    let gw = mock.install(Spawn::in_state(gw.stop_keep_state()), &["echo"]).start();
    let mut ws = client(&gw);
    let answer = say(&mut ws, "n1", "hello");
    let lines: Vec<&str> = echoed(&answer).lines().collect();
    assert_eq!(lines.len(), 4, "{answer}");
    for l in &lines[..2] {
        assert!(l.starts_with("System: [") && l.ends_with("UTC] backup finished"), "{answer}");
    }
    assert_eq!(&lines[2..], ["", "hello"], "{answer}");
    // Read once: the next turn has only its own message.
    assert_eq!(echoed(&say(&mut ws, "n2", "again")), "again");
}

#[test]
fn a_system_event_with_wake_now_starts_a_turn_of_the_main_session_that_reads_it() {
    let (_mock, gw) = echo_gateway();
    let mut ws = client(&gw);
    let id = add_event(&mut ws, json!({"wakeMode": "now"}), "stand up");
    assert_eq!(ws.call("cron.run", json!({"id": id}))["payload"]["ran"], true);
    let done = finished(&mut ws, &id);
    assert_eq!(done["status"], "ok", "{done}");
    let summary = done["summary"].as_str().unwrap();
    assert!(summary.contains("last=System: [") && summary.ends_with("UTC] stand up"), "{done}");
    let lanes = ws.call("lanes.status", json!({}));
    assert_eq!(lanes["payload"]["lanes"]["cron"]["completed"], 1, "the turn ran on the cron lane: {lanes}");
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:main"}));
    assert_eq!(h["payload"]["messages"].as_array().map(Vec::len), Some(2), "{h}");
    // Delivered: the next message carries no note.
    assert_eq!(echoed(&say(&mut ws, "w1", "next")), "next");
}

#[test]
fn a_wake_that_finds_its_note_already_read_counts_no_turn() {
    // Two wake-now notes queued while the main session is busy: the first wake reads both; the
    // second has nothing to ask and leaves the session as it was.
    let (mock, gw) = echo_gateway();
    let mut ws = client(&gw);
    let a = add_event(&mut ws, json!({"name": "a", "wakeMode": "now"}), "first");
    let b = add_event(&mut ws, json!({"name": "b", "wakeMode": "now"}), "second");
    let busy = ws.call(
        "chat.send",
        json!({"sessionKey": "agent:main:main", "message": "busy", "idempotencyKey": "busy",
               "model": "mock/slow-5-100"}),
    );
    assert!(busy["payload"]["runId"].is_string(), "{busy}");
    wait_until("the busy turn to reach the provider", Duration::from_secs(10), || {
        (mock.models_called().len() == 1).then_some(())
    });
    for id in [&a, &b] {
        assert_eq!(ws.call("cron.run", json!({"id": id}))["payload"]["ran"], true);
    }
    for id in [&a, &b] {
        let done = finished(&mut ws, id);
        assert_eq!(done["status"], "ok", "{done}");
    }
    assert_eq!(mock.models_called().len(), 2, "the busy turn and one wake reached the provider");
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:main"}));
    let msgs = h["payload"]["messages"].as_array().expect("messages");
    let notes = msgs.iter().filter_map(|m| m["content"].as_str()).filter(|c| c.starts_with("System: [")).count();
    assert_eq!(notes, 1, "one turn read the notes: {h}");
    let list = ws.call("sessions.list", json!({}));
    let main = list["payload"]["sessions"].as_array().and_then(|s| s.iter().find(|s| s["key"] == "agent:main:main"));
    assert_eq!(main.map(|m| m["turns"].clone()), Some(json!(2)), "{list}");
}
