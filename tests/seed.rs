//! The read-only config seed (OPENCLAW_CONFIG_SEED): copied into the state dir at start,
//! re-applied by SIGHUP when it changed, and runtime edits survive a restart while it did not.

mod common;

use common::Spawn;
use serde_json::json;

#[test]
fn a_read_only_seed_is_copied_reapplied_on_sighup_and_runtime_edits_survive() {
    let seed_dir = tempfile::tempdir().unwrap();
    let seed = seed_dir.path().join("openclaw.json5");
    std::fs::write(&seed, "{ logging: { level: 'warn' } }").unwrap();
    let spawn = Spawn::default().env("OPENCLAW_CONFIG_SEED", seed.to_str().unwrap());
    let gw = spawn.read_only(seed_dir.path()).start();
    assert_eq!(gw.health()["logging"]["level"], "warn");
    assert!(gw.config_path().exists(), "copied into the state dir");

    // The operator changes the seed (read-only for the gateway) and sends SIGHUP.
    std::fs::write(&seed, "{ logging: { level: 'error' } }").unwrap();
    gw.signal(libc::SIGHUP);
    gw.wait_health("the changed seed applied", |h| h["logging"]["level"] == "error");

    // A runtime edit goes to the state copy and survives a restart while the seed is unchanged.
    let mut ws = gw.ws();
    let hash = ws.call("config.get", json!({}))["payload"]["hash"].clone();
    let r = ws.call("config.set", json!({"key": "logging.level", "value": "debug", "baseHash": hash}));
    assert_eq!(r["ok"], true, "{r}");
    drop(ws);
    let state = gw.stop_keep_state();
    let gw =
        Spawn::in_state(state).env("OPENCLAW_CONFIG_SEED", seed.to_str().unwrap()).read_only(seed_dir.path()).start();
    assert_eq!(gw.health()["logging"]["level"], "debug");
}

#[test]
fn a_missing_seed_is_a_config_error_naming_it() {
    let state = tempfile::tempdir().unwrap();
    let (code, _, err) = common::run(
        state.path(),
        &["gateway", "--port", "0"],
        &[("OPENCLAW_CONFIG_SEED", "/nonexistent/openclaw.json5")],
    );
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("/nonexistent/openclaw.json5") && err.contains("OPENCLAW_CONFIG_SEED"), "{err}");
}
