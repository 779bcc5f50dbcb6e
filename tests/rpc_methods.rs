//! RPC methods against the real gateway: config writes with optimistic concurrency,
//! logs, presence, and the slow-consumer rule.

mod common;

use std::time::Duration;

use common::{Spawn, Ws};
use serde_json::json;

const CFG: &str =
    "{\n  // the operator's comment\n  gateway: { auth: { token: 'shared-1' }, reload: { debounceMs: 50 } },\n}\n";

fn admin(gw: &common::Gateway) -> Ws {
    let mut ws = Ws::open(gw.addr);
    assert_eq!(ws.connect(json!({"auth": {"token": "shared-1"}})).unwrap()["ok"], true);
    ws
}

#[test]
fn config_get_redacts_and_set_with_a_stale_base_hash_writes_nothing() {
    let gw = Spawn::default().config(CFG).start();
    let mut ws = admin(&gw);
    let got = ws.call("config.get", json!({}));
    let p = &got["payload"];
    assert_eq!(p["exists"], true);
    assert_eq!(p["valid"], true);
    assert_eq!(p["parsed"]["gateway"]["auth"]["token"], "<redacted>");
    assert!(!got.to_string().contains("shared-1"), "no secret in config.get");
    let hash = p["hash"].as_str().unwrap().to_string();

    let before = std::fs::read_to_string(gw.config_path()).unwrap();
    let r = ws.call("config.set", json!({"raw": "{ logging: { level: 'warn' } }", "baseHash": "0000"}));
    assert_eq!(r["error"]["message"], "config changed since last load; re-run config.get and retry");
    let r = ws.call("config.set", json!({"raw": "{ logging: { level: 'warn' } }"}));
    assert_eq!(r["error"]["message"], "config base hash required; re-run config.get and retry");
    let r = ws.call("config.set", json!({"raw": "{ logging: { level: 'loud' } }", "baseHash": hash}));
    assert_eq!(r["error"]["message"], "invalid config");
    assert_eq!(r["error"]["details"]["issues"][0]["path"], "logging.level");
    assert_eq!(std::fs::read_to_string(gw.config_path()).unwrap(), before, "nothing written");

    // The redacted secret sent back keeps the stored value; the write applies at once.
    let raw = p["raw"].as_str().unwrap().replace("\"debounceMs\": 50", "\"debounceMs\": 60");
    let r = ws.call("config.set", json!({"raw": raw, "baseHash": hash}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["applied"]["hot"], json!(["gateway.reload.debounceMs"]));
    let written = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(written.contains("shared-1"), "secret restored on write: {written}");
    assert!(
        std::fs::read_dir(gw.state_path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".bak"))
    );
    let mut again = Ws::open_with(gw.addr, &[("Host", "192.0.2.10:18789")]);
    assert_eq!(again.connect(json!({"auth": {"token": "shared-1"}})).unwrap()["ok"], true, "token unchanged");
}

#[test]
fn two_concurrent_config_sets_with_the_same_base_exactly_one_wins() {
    let gw = Spawn::default().config(CFG).start();
    let mut a = admin(&gw);
    let mut b = admin(&gw);
    let hash = a.call("config.get", json!({}))["payload"]["hash"].as_str().unwrap().to_string();
    let raw =
        |level: &str| format!("{{ gateway: {{ auth: {{ token: 'shared-1' }} }}, logging: {{ level: '{level}' }} }}");
    let send = |ws: &mut Ws, id: &str, level: &str| {
        ws.send_text(
            &json!({"type":"req","id": id,"method":"config.set","params":{"raw": raw(level), "baseHash": hash}})
                .to_string(),
        )
    };
    send(&mut a, "a", "warn");
    send(&mut b, "b", "error");
    let ra = a.response().unwrap();
    let rb = b.response().unwrap();
    let wins = [&ra, &rb].iter().filter(|r| r["ok"] == true).count();
    assert_eq!(wins, 1, "{ra}\n{rb}");
    let loser = if ra["ok"] == true { &rb } else { &ra };
    assert_eq!(loser["error"]["message"], "config changed since last load; re-run config.get and retry");
}

#[test]
fn the_guides_key_value_form_rotates_the_token_over_http_and_ws() {
    let gw = Spawn::default().config(CFG).start();
    let mut ws = admin(&gw);
    let r = ws.call("config.set", json!({"key": "gateway.auth.token", "value": "rotated-2"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["applied"]["hot"], json!(["gateway.auth.token"]));
    let mut remote = Ws::open_with(gw.addr, &[("Host", "192.0.2.10:18789")]);
    assert_eq!(remote.connect(json!({"auth": {"token": "rotated-2"}})).unwrap()["ok"], true);
    assert!(std::fs::read_to_string(gw.config_path()).unwrap().contains("rotated-2"));
}

#[test]
fn config_patch_merges_and_null_deletes() {
    let gw = Spawn::default().config(CFG).start();
    let mut ws = admin(&gw);
    let hash = ws.call("config.get", json!({}))["payload"]["hash"].as_str().unwrap().to_string();
    let r = ws.call(
        "config.patch",
        json!({"raw": "{ logging: { level: 'warn' }, gateway: { reload: null } }", "baseHash": hash}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let parsed = ws.call("config.get", json!({}))["payload"]["parsed"].clone();
    assert_eq!(parsed["logging"]["level"], "warn");
    assert!(parsed["gateway"].get("reload").is_none());
    assert_eq!(parsed["gateway"]["auth"]["token"], "<redacted>", "untouched keys stay");
    let r = ws.call("config.patch", json!({"raw": "[1]", "baseHash": r["payload"]["hash"]}));
    assert_eq!(r["error"]["message"], "config.patch raw must be an object");
}

#[test]
fn env_values_are_never_written_back() {
    let gw =
        Spawn::default().config(CFG).env("OPENCLAW_GATEWAY_PORT", "0").env("DISCORD_BOT_TOKEN", "from-env").start();
    let mut ws = admin(&gw);
    let r = ws.call("config.set", json!({"key": "logging.level", "value": "warn"}));
    assert_eq!(r["ok"], true, "{r}");
    let written = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(!written.contains("from-env") && !written.contains("\"port\""), "{written}");
}

#[test]
fn logs_tail_pages_through_the_file_log() {
    let gw = Spawn::default().config(CFG).start();
    let mut ws = admin(&gw);
    let first = ws.call("logs.tail", json!({"limit": 5}));
    let p = &first["payload"];
    assert!(p["lines"].as_array().unwrap().len() <= 5);
    assert!(
        p["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l.as_str().unwrap()).is_ok())
    );
    let cursor = p["cursor"].as_u64().unwrap();
    gw.signal(libc::SIGHUP);
    gw.wait_log("config reloaded");
    let next = common::wait_until("new log lines after the cursor", Duration::from_secs(5), || {
        let r = ws.call("logs.tail", json!({"cursor": cursor}));
        (!r["payload"]["lines"].as_array().unwrap().is_empty()).then_some(r)
    });
    assert!(next["payload"]["lines"].to_string().contains("SIGHUP"));
    let past = ws.call("logs.tail", json!({"cursor": 1u64 << 40}));
    assert_eq!(past["payload"]["reset"], true);
}

#[test]
fn presence_lists_connected_clients_and_ui_clients_get_presence_events() {
    let gw = Spawn::default().config(CFG).start();
    let mut ui = Ws::open(gw.addr);
    ui.connect(json!({"client": {"id": "openclaw-control-ui", "version": "1", "platform": "web", "mode": "ui"}, "auth": {"token": "shared-1"}})).unwrap();
    let mut app = Ws::open(gw.addr);
    app.connect(json!({"client": {"id": "openclaw-macos", "version": "1", "platform": "macos", "mode": "ui"}, "auth": {"token": "shared-1"}})).unwrap();
    let _cli = admin(&gw);
    let ev = ui.event("presence").unwrap();
    assert!(ev["stateVersion"]["presence"].as_u64().unwrap() >= 1);
    let list = ui.call("system-presence", json!({}));
    let modes: Vec<&str> =
        list["payload"]["presence"].as_array().unwrap().iter().map(|p| p["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["ui", "ui"], "the CLI is connected but not listed");
    assert_eq!(gw.health()["sessions"]["active"], 3);
}

#[test]
fn config_apply_replaces_the_file_and_reports_what_needs_a_restart() {
    let gw = Spawn::default().config(CFG).start();
    let mut ws = admin(&gw);
    let hash = ws.call("config.get", json!({}))["payload"]["hash"].as_str().unwrap().to_string();
    let raw =
        "{ gateway: { auth: { token: 'shared-1' }, canvasHost: { enabled: false } }, logging: { level: 'warn' } }";
    let r = ws.call("config.apply", json!({"raw": raw, "baseHash": hash}));
    assert_eq!(r["ok"], true, "{r}");
    let applied = &r["payload"]["applied"];
    assert!(applied["hot"].as_array().unwrap().contains(&json!("logging.level")), "{applied}");
    assert_eq!(applied["restart"], json!(["gateway.canvasHost.enabled"]));
    assert_eq!(std::fs::read_to_string(gw.config_path()).unwrap(), raw, "a whole file keeps its text");
    assert_eq!(gw.health()["logging"]["level"], "warn");
}
