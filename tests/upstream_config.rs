//! Upstream OpenClaw config files: an onboarding-written `openclaw.json` loads with its
//! unsupported keys listed, upstream's spellings mean what the guide's do, a truly unknown key
//! still fails with a suggestion, `models.providers` merges with models.json, and
//! `doctor --fix` rewrites the guide's spellings to upstream's.

mod common;

use common::provider::MockProvider;
use common::{Spawn, Ws, run};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/upstream-openclaw.json");
const ENV: &[(&str, &str)] = &[("DISCORD_BOT_TOKEN", "discord-secret"), ("OPENCLAW_GATEWAY_TOKEN", "gw-secret")];

fn state_with(config: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.json5"), config).unwrap();
    d
}

fn json_out(state: &tempfile::TempDir, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = run(state.path(), args, ENV);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}")))
}

#[test]
fn an_upstream_onboarding_config_loads_and_lists_what_it_ignores() {
    let d = state_with(FIXTURE);
    let (code, v) = json_out(&d, &["config", "validate", "--json"]);
    assert_eq!(code, 0, "{v}");
    let ignored: Vec<&str> = v["ignored"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for key in [
        "meta",
        "wizard",
        "auth",
        "commands",
        "messages.tts",
        "session.scope",
        "session.reset",
        "plugins",
        "skills",
        "hooks",
        "browser",
        "ui",
        // What is left of upstream's `tools` once allow/deny/profile are taken (`tools.web`).
        "tools",
        "models.mode",
        "gateway.mode",
        "gateway.tailscale",
        "gateway.http",
        "agents.list.0.default",
        "agents.list.0.identity",
        "cron.store",
    ] {
        assert!(ignored.contains(&key), "{key} not listed as ignored: {ignored:?}");
    }
    // Implemented now: the workspace, the tool policy, agents.list's ids and tools, the sandbox,
    // the Discord channel with its policies, the ack reaction's scope.
    for key in [
        "agents.defaults.workspace",
        "agents.defaults.tools",
        "agents.list",
        "agents.defaults.sandbox",
        "channels",
        "channels.discord",
        "channels.discord.guilds",
        "messages",
        "messages.ackReactionScope",
    ] {
        assert!(!ignored.contains(&key), "{key} is implemented, not ignored: {ignored:?}");
    }
    assert!(!ignored.contains(&"channels.discord.dm"), "covered by channels: {ignored:?}");
    // The text form says it in one line, with the wording operators grep for.
    let (code, out, _) = run(d.path(), &["config", "validate"], ENV);
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with("accepted, not supported by this gateway, ignored: ")).unwrap();
    assert!(line.contains("gateway.mode") && line.contains("meta"), "{line}");
}

#[test]
fn keys_this_gateway_implements_apply_under_either_spelling() {
    let d = state_with(FIXTURE);
    let (code, v) = json_out(&d, &["config", "show", "--json"]);
    assert_eq!(code, 0, "{v}");
    let c = &v["config"];
    assert_eq!(c["gateway"]["port"], 18789);
    assert_eq!(c["agents"]["defaults"]["maxConcurrent"], 4);
    assert_eq!(c["agents"]["defaults"]["subagent"]["maxConcurrent"], 8, "subagents is subagent: {c}");
    assert_eq!(c["agents"]["defaults"]["thinkLevel"], "low", "thinkingDefault is thinkLevel: {c}");
    assert_eq!(
        c["agents"]["defaults"]["tools"],
        json!({"profile": "coding", "enabled": ["read", "write", "edit", "exec"], "disabled": ["browser"]})
    );
    assert_eq!(c["agents"]["defaults"]["model"]["primary"], "local/qwen2.5-coder:7b");
    assert_eq!(c["channels"]["discord"]["botToken"], "<redacted>", "token is botToken, redacted: {c}");
    assert_eq!(c["models"]["providers"]["local"]["baseUrl"], "http://127.0.0.1:11434/v1");

    let spelled = |tls: &str, sandbox: &str| {
        let d = state_with(&format!(
            "{{ gateway: {{ tls: {{ {tls} }} }}, agents: {{ defaults: {{ sandbox: {{ mode: '{sandbox}' }} }} }} }}"
        ));
        let (code, v) = json_out(&d, &["config", "show", "--json"]);
        assert_eq!(code, 0, "{v}");
        (v["config"]["gateway"]["tls"].clone(), v["config"]["agents"]["defaults"]["sandbox"]["mode"].clone())
    };
    let upstream = spelled("certPath: '/c.pem', keyPath: '/k.pem', caPath: '/ca.pem'", "all");
    let guide = spelled("cert: '/c.pem', key: '/k.pem', ca: '/ca.pem'", "always");
    assert_eq!(upstream, guide);
    assert_eq!(upstream.1, "always");
}

#[test]
fn a_key_in_neither_schema_still_fails_with_a_suggestion() {
    let cfg = FIXTURE.replacen("\"gateway\": {", "\"gateway\": {\n    \"prot\": 1,", 1);
    let d = state_with(&cfg);
    let (code, v) = json_out(&d, &["config", "validate", "--json"]);
    assert_eq!(code, 78, "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "only the unknown key, not the upstream ones: {v}");
    assert_eq!(problems[0]["path"], "gateway.prot");
    assert!(problems[0]["message"].as_str().unwrap().contains("did you mean \"port\""), "{v}");
    // A near miss of an upstream key is not waved through either.
    let d = state_with("{ wizzard: {} }");
    let (code, v) = json_out(&d, &["config", "validate", "--json"]);
    assert_eq!(code, 78, "{v}");
    assert_eq!(v["problems"][0]["path"], "wizzard");
}

#[test]
fn both_spellings_with_different_values_are_refused() {
    let d = state_with("{ gateway: { tls: { certPath: '/a.pem', cert: '/b.pem' } } }");
    let (code, v) = json_out(&d, &["config", "validate", "--json"]);
    assert_eq!(code, 78, "{v}");
    assert_eq!(v["problems"][0]["path"], "gateway.tls.certPath");
    assert!(v["problems"][0]["message"].as_str().unwrap().contains("keep one"), "{v}");
}

#[test]
fn the_gateway_starts_on_an_upstream_config_and_says_once_what_it_ignores() {
    let mut spawn = Spawn::default().config(FIXTURE);
    for (k, v) in ENV {
        spawn = spawn.env(k, v);
    }
    let gw = spawn.start();
    gw.wait_log("accepted, not supported by this gateway, ignored");
    let said = gw.dump_logs().matches("accepted, not supported by this gateway, ignored").count();
    assert_eq!(said, 1, "listed once at start");
    let mut ws = Ws::open(gw.addr);
    let hello = ws.connect(json!({"auth": {"token": "gw-secret"}})).expect("connect");
    assert_eq!(hello["ok"], true, "the config's token applies: {hello}");
}

#[test]
fn config_providers_merge_with_models_json_and_the_file_wins() {
    let mock = MockProvider::start();
    let base = format!("http://{}/v1", mock.addr);
    let cfg = json!({"models": {"providers": {
        // Also in models.json: the file's entry wins, so this model never shows.
        "mock": {"baseUrl": "http://127.0.0.1:9/v1", "models": [{"id": "from-config"}]},
        "cfgonly": {"baseUrl": base, "apiKey": "${MOCK_API_KEY}", "models": [{"id": "ok"}]},
    }}});
    let gw = mock.install(Spawn::default().config(&cfg.to_string()), &["ok"]).start();
    let token = common::generated_token(gw.state_path());
    let mut ws = Ws::open(gw.addr);
    assert_eq!(ws.connect(json!({"auth": {"token": token}})).expect("connect")["ok"], true);
    let models = ws.call("models.list", json!({}));
    let ids: Vec<&str> =
        models["payload"]["models"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["cfgonly/ok", "mock/ok"], "{models}");
    let r = ws.call(
        "chat.send",
        json!({"sessionKey": "agent:main:cfg", "message": "x", "model": "cfgonly/ok", "idempotencyKey": "cfg"}),
    );
    let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 10000}));
    assert_eq!(w["payload"]["status"], "ok", "a provider from the config answers: {w}");
}

#[test]
fn doctor_fix_rewrites_the_guides_spellings_to_upstreams_and_the_file_means_the_same() {
    let guide = "{ gateway: { tls: { cert: '/c.pem', key: '/k.pem' } },\n  agents: { defaults: { sandbox: { mode: 'always' }, subagent: { maxConcurrent: 3 }, tools: { enabled: ['read'] } } } }";
    let d = state_with(guide);
    let (_, before) = json_out(&d, &["config", "show", "--json"]);
    let (_, out, _) = run(d.path(), &["doctor"], &[]);
    assert!(out.contains("gateway.tls.cert -> gateway.tls.certPath"), "{out}");
    assert!(out.contains("doctor --fix rewrites them"), "{out}");
    let (_, out, _) = run(d.path(), &["doctor", "--fix"], &[]);
    assert!(out.contains("[fixed: rewritten to upstream's names"), "{out}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("config.json5")).unwrap()).unwrap();
    assert_eq!(written["gateway"]["tls"], json!({"certPath": "/c.pem", "keyPath": "/k.pem"}));
    assert_eq!(written["agents"]["defaults"]["sandbox"]["mode"], "all");
    assert_eq!(written["agents"]["defaults"]["subagents"], json!({"maxConcurrent": 3}));
    assert_eq!(written["tools"], json!({"allow": ["read"]}));
    assert_eq!(std::fs::read_to_string(d.path().join("config.json5.bak")).unwrap(), guide, "the original is kept");
    let (code, after) = json_out(&d, &["config", "show", "--json"]);
    assert_eq!(code, 0, "{after}");
    assert_eq!(after["config"], before["config"], "the same settings under upstream's names");
}

#[test]
fn the_guides_tool_names_work_with_a_note_naming_upstreams() {
    let d = state_with("{ agents: { defaults: { tools: { enabled: ['read', 'bash'], disabled: ['rm'] } } } }");
    let (code, out, _) = run(d.path(), &["config", "validate"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("note: agents.defaults.tools.enabled is the deployment guide's name for upstream's tools.allow"),
        "{out}"
    );
    assert!(
        out.contains("note: agents.defaults.tools.disabled is the deployment guide's name for upstream's tools.deny"),
        "{out}"
    );
    let (_, v) = json_out(&d, &["config", "validate", "--json"]);
    assert_eq!(v["notes"].as_array().map(Vec::len), Some(2), "{v}");
    // Upstream's names need no note.
    let d = state_with("{ tools: { allow: ['read'], deny: ['rm'] } }");
    let (_, v) = json_out(&d, &["config", "validate", "--json"]);
    assert_eq!(v["notes"], json!([]), "{v}");
}
