//! `openclaw config ...` and start-up with bad config: each error class, precedence, the example.

mod common;

use common::run;
use serde_json::Value;

fn state_with(config: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.json5"), config).unwrap();
    d
}

fn validate_json(state: &tempfile::TempDir, env: &[(&str, &str)]) -> (i32, Value) {
    let (code, out, err) = run(state.path(), &["config", "validate", "--json"], env);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}")))
}

fn problem<'a>(v: &'a Value, path: &str) -> &'a Value {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("no problem at {path}: {v}"))
}

#[test]
fn syntax_error_names_file_line_and_column_and_exits_78() {
    let d = state_with("{\n  gateway: {\n    port: 18789,,\n  },\n}\n");
    let (code, out, err) = run(d.path(), &["config", "validate"], &[]);
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains("config.json5:3:"), "{err}");
    assert!(err.contains("JSON5 syntax error"), "{err}");
}

#[test]
fn unknown_key_is_rejected_with_a_suggestion_and_its_line() {
    let d = state_with("{\n  gateway: {\n    prot: 1,\n  },\n}\n");
    let (code, v) = validate_json(&d, &[]);
    assert_eq!(code, 78);
    let p = problem(&v, "gateway.prot");
    assert!(p["message"].as_str().unwrap().contains("did you mean \"port\""), "{p}");
    assert!(p["location"].as_str().unwrap().ends_with("config.json5:3"), "{p}");
}

#[test]
fn bad_enum_lists_the_allowed_values() {
    let d = state_with("{ gateway: { bind: 'wan' } }");
    let (code, v) = validate_json(&d, &[]);
    assert_eq!(code, 78);
    let msg = problem(&v, "gateway.bind")["message"].as_str().unwrap().to_string();
    for allowed in ["loopback", "lan", "tailnet", "auto", "custom"] {
        assert!(msg.contains(allowed), "{msg}");
    }
}

#[test]
fn out_of_range_values_are_rejected() {
    let d = state_with("{ gateway: { port: 70000 }, memory: { chunkSize: 1 } }");
    let (code, v) = validate_json(&d, &[]);
    assert_eq!(code, 78);
    assert!(problem(&v, "gateway.port")["message"].as_str().unwrap().contains("at most 65535"));
    assert!(problem(&v, "memory.chunkSize")["message"].as_str().unwrap().contains("at least 64"));
}

#[test]
fn missing_env_var_names_the_variable_and_the_config_path() {
    let d = state_with("{ channels: { slack: { botToken: '${SLACK_BOT_TOKEN}' } } }");
    let (code, v) = validate_json(&d, &[]);
    assert_eq!(code, 78);
    let msg = problem(&v, "channels.slack.botToken")["message"].as_str().unwrap().to_string();
    assert!(msg.contains("SLACK_BOT_TOKEN"), "{msg}");
    let (code, _) = validate_json(&d, &[("SLACK_BOT_TOKEN", "xoxb-1")]);
    assert_eq!(code, 0);
}

#[test]
fn escaped_variables_stay_literal() {
    let d = state_with("{ gateway: { auth: { token: '$${NOT_A_VAR}' } } }");
    let (code, out, err) = run(d.path(), &["config", "show", "--json"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    // The value is a secret, so it is redacted; it still must have validated without the variable.
    assert!(out.contains("<redacted>"));
}

#[test]
fn include_cycle_is_an_error_naming_the_chain() {
    let d = state_with("{ $include: './a.json5' }");
    std::fs::write(d.path().join("a.json5"), "{ $include: './b.json5' }").unwrap();
    std::fs::write(d.path().join("b.json5"), "{ $include: './a.json5' }").unwrap();
    let (code, v) = validate_json(&d, &[]);
    assert_eq!(code, 78);
    let msg = v["problems"][0]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("include cycle") && msg.contains("a.json5 -> ") && msg.contains("b.json5 -> "), "{msg}");
}

#[test]
fn includes_merge_with_sibling_keys_winning() {
    let d = state_with("{ $include: ['./base.json5'], gateway: { port: 2000 } }");
    std::fs::write(d.path().join("base.json5"), "{ gateway: { port: 1000, bind: 'lan' } }").unwrap();
    let (code, out, err) = run(d.path(), &["config", "show", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["gateway"]["port"], 2000);
    assert_eq!(v["config"]["gateway"]["bind"], "lan");
}

#[test]
fn every_problem_is_reported_at_once() {
    let d = state_with("{ gateway: { port: 0.5, bind: 'x', reload: { mode: 'sometimes' } }, nope: 1 }");
    let (code, v) = validate_json(&d, &[]);
    assert_eq!(code, 78);
    let paths: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    for p in ["gateway.port", "gateway.bind", "gateway.reload.mode", "nope"] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
}

#[test]
fn precedence_is_env_over_file_over_default_and_show_names_sources() {
    let d = state_with("{ gateway: { port: 1111, bind: 'lan' } }");
    let env = [("OPENCLAW_GATEWAY_PORT", "2222"), ("OPENCLAW__GATEWAY__RELOAD__DEBOUNCE_MS", "50")];
    let (code, out, err) = run(d.path(), &["config", "show", "--json"], &env);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["gateway"]["port"], 2222);
    assert_eq!(v["sources"]["gateway.port"], "env OPENCLAW_GATEWAY_PORT");
    assert_eq!(v["config"]["gateway"]["bind"], "lan");
    assert_eq!(v["sources"]["gateway.bind"], "file");
    assert_eq!(v["config"]["gateway"]["reload"]["debounceMs"], 50);
    assert_eq!(v["sources"]["gateway.reload.debounceMs"], "env OPENCLAW__GATEWAY__RELOAD__DEBOUNCE_MS");
    assert_eq!(v["config"]["gateway"]["shutdownTimeoutMs"], 10000);
    assert_eq!(v["sources"]["gateway.shutdownTimeoutMs"], "default");
}

#[test]
fn flags_beat_the_environment_and_show_says_so() {
    let d = state_with("{ gateway: { port: 1111 } }");
    let env = [("OPENCLAW_GATEWAY_PORT", "2222")];
    let (code, out, err) = run(d.path(), &["config", "show", "--json", "--port", "3333", "--log-level", "warn"], &env);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["gateway"]["port"], 3333);
    assert_eq!(v["sources"]["gateway.port"], "flag --port");
    assert_eq!(v["config"]["logging"]["level"], "warn");
    assert_eq!(v["sources"]["logging.level"], "flag --log-level");
}

#[test]
fn show_redacts_secrets_from_file_and_env() {
    let d = state_with("{ gateway: { auth: { token: 'file-secret' } } }");
    let (code, out, _) = run(d.path(), &["config", "show"], &[("DISCORD_BOT_TOKEN", "env-secret")]);
    assert_eq!(code, 0);
    assert!(!out.contains("file-secret") && !out.contains("env-secret"), "{out}");
    assert!(out.contains("channels.discord.botToken = \"<redacted>\"  # env DISCORD_BOT_TOKEN"), "{out}");
}

#[test]
fn config_path_follows_flags_and_environment() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, _) = run(d.path(), &["config", "path"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), d.path().join("config.json5").display().to_string());
    std::fs::write(d.path().join("openclaw.json"), "{}").unwrap();
    let (_, out, _) = run(d.path(), &["config", "path"], &[]);
    assert_eq!(out.trim(), d.path().join("openclaw.json").display().to_string());
    let (_, out, _) = run(d.path(), &["config", "path"], &[("OPENCLAW_CONFIG_PATH", "/etc/x.json5")]);
    assert_eq!(out.trim(), "/etc/x.json5");
}

#[test]
fn a_named_config_file_that_does_not_exist_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.json5");
    let (code, _, err) = run(d.path(), &["--config", missing.to_str().unwrap(), "config", "validate"], &[]);
    assert_eq!(code, 78);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn schema_is_json_schema_of_the_config() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, _) = run(d.path(), &["config", "schema"], &[]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["$schema"].as_str().unwrap().contains("json-schema.org"));
    assert!(v["properties"]["gateway"].is_object());
}

#[test]
fn the_example_config_validates() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/config.example.json5");
    let d = tempfile::tempdir().unwrap();
    let env = [("SLACK_BOT_TOKEN", "xoxb-test"), ("DISCORD_BOT_TOKEN", "discord-test")];
    let (code, out, err) = run(d.path(), &["--config", example, "config", "validate"], &env);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(d.path(), &["--config", example, "config", "validate"], &[]);
    assert_eq!(code, 78, "without its variables the example must fail: {err}");
}

#[test]
fn usage_errors_exit_64_and_version_exits_0() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(run(d.path(), &["gateway", "--port", "notanumber"], &[]).0, 64);
    assert_eq!(run(d.path(), &["frobnicate"], &[]).0, 64);
    let (code, out, _) = run(d.path(), &["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn gateway_refuses_to_start_on_invalid_config_with_exit_78() {
    let d = state_with("{ gateway: { bind: 'everywhere' } }");
    let (code, _, err) = run(d.path(), &["gateway", "--port", "0"], &[]);
    assert_eq!(code, 78);
    assert!(err.contains("gateway.bind") && err.contains("loopback"), "{err}");
    assert!(!d.path().join("gateway.pid").exists());
}

#[test]
fn a_missing_bwrap_is_a_warning_of_the_config_check_and_of_the_gateways_start() {
    // The tests hide bwrap with a PATH that has none; the default mode (non-main) sandboxes.
    let no_bwrap = [("PATH", "/nonexistent")];
    let d = state_with("{}");
    let (code, out, err) = run(d.path(), &["config", "validate"], &no_bwrap);
    assert_eq!(code, 0, "a warning, not an invalid config: {out}{err}");
    assert!(
        err.contains("warning:")
            && err.contains("sandbox is unavailable")
            && err.contains("apt-get install bubblewrap"),
        "{err}"
    );
    let (code, v) = validate_json(&d, &no_bwrap);
    assert_eq!(code, 0);
    assert!(v["warnings"][0].as_str().is_some_and(|w| w.contains("apt-get install bubblewrap")), "{v}");
    // With the sandbox off there is nothing to warn about.
    let off = state_with("{ agents: { defaults: { sandbox: { mode: 'off' } } } }");
    let (code, _, err) = run(off.path(), &["config", "validate"], &no_bwrap);
    assert_eq!(code, 0);
    assert!(!err.contains("warning:"), "{err}");
    assert_eq!(validate_json(&off, &no_bwrap).1["warnings"], serde_json::json!([]));

    let gw = common::Spawn::default().env("PATH", "/nonexistent").start();
    gw.wait_log("sandbox is unavailable");
    assert!(gw.has_log("apt-get install bubblewrap"), "{}", gw.dump_logs());
}
