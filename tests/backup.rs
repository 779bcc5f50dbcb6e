//! `openclaw backup create` / `restore` round-trip devices, sessions and cron jobs; restore
//! is refused while a gateway runs on the state dir; `openclaw logs` reads the file log.

mod common;

use common::Spawn;
use common::provider::MockProvider;
use serde_json::json;

#[test]
fn backup_then_restore_round_trips_devices_sessions_and_cron() {
    let mock = MockProvider::start();
    let gw = mock.install(Spawn::default(), &["ok"]).start();
    let url = format!("ws://{}", gw.addr);
    // The CLI connects with its device identity: a local device is paired silently.
    let (code, out, err) = common::run(gw.state_path(), &["status", "--url", &url], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let mut ws = gw.ws();
    let r = ws
        .call("chat.send", json!({"sessionKey": "agent:main:keep", "message": "remember me", "idempotencyKey": "b1"}));
    let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 5000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    let job =
        ws.call("cron.add", json!({"name": "nightly", "schedule": "0 3 * * *", "payload": {"kind": "backupSessions"}}));
    assert_eq!(job["ok"], true, "{job}");
    let devices = ws.call("device.pair.list", json!({}))["payload"]["paired"].clone();
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");

    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("state.tar.gz");
    let (code, out, err) = common::run(gw.state_path(), &["backup", "create", "--out", file.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = common::run(gw.state_path(), &["backup", "restore", file.to_str().unwrap()], &[]);
    assert_eq!(code, 69, "restore refused while the gateway runs: {err}");
    assert!(err.contains("stop it first"), "{err}");

    drop(ws);
    let state = gw.stop_keep_state();
    for d in ["devices", "agents", "cron"] {
        std::fs::remove_dir_all(state.path().join(d)).unwrap();
    }
    let (code, out, err) = common::run(state.path(), &["backup", "restore", file.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");

    let gw = Spawn::in_state(state).env("MOCK_API_KEY", common::provider::API_KEY).start();
    let mut ws = gw.ws();
    assert_eq!(ws.call("device.pair.list", json!({}))["payload"]["paired"], devices);
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:keep"}));
    assert_eq!(h["payload"]["messages"][0]["content"], "remember me", "{h}");
    let list = ws.call("cron.list", json!({}));
    assert_eq!(list["payload"]["jobs"][0]["name"], "nightly", "{list}");
}

#[test]
fn a_backup_leaves_logs_out_and_a_bad_file_is_refused() {
    let gw = Spawn::default().start();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("b.tar.gz");
    let (code, _, err) = common::run(gw.state_path(), &["backup", "create", "--out", file.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap()))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with("logs") && n != "gateway.pid"), "{names:?}");
    let state = gw.stop_keep_state();
    std::fs::write(out_dir.path().join("junk.tar.gz"), "not a backup").unwrap();
    let junk = out_dir.path().join("junk.tar.gz");
    let (code, _, err) = common::run(state.path(), &["backup", "restore", junk.to_str().unwrap()], &[]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn logs_prints_the_gateway_log() {
    let gw = Spawn::default().start();
    let url = format!("ws://{}", gw.addr);
    let (code, out, err) = common::run(gw.state_path(), &["logs", "--url", &url, "--lines", "50"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("gateway ready"), "{out}");
    let (code, out, _) = common::run(gw.state_path(), &["logs", "--json", "--url", &url], &[]);
    assert_eq!(code, 0);
    let first = out.lines().next().unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(first).is_ok(), "{first}");
}
