//! `openclaw security audit` finds each planted problem, `--fix` clears the safe ones, a
//! critical finding keeps the exit code non-zero; `security report` writes Markdown.

mod common;

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

fn audit(state: &std::path::Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["security", "audit", "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = common::run(state, &args, &[]);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, v)
}

fn ids(v: &Value) -> Vec<String> {
    v["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn audit_finds_each_planted_problem_and_fix_clears_the_safe_ones() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    std::fs::write(
        s.join("config.json5"),
        "{ gateway: { bind: 'custom', host: '127.0.0.2', auth: { tokenFile: 'secrets/tok' } },\n  \
         channels: { slack: { enabled: true, botToken: 'xoxb-literal-secret' } },\n  \
         discovery: { mdns: { mode: 'full' } } }",
    )
    .unwrap();
    std::fs::create_dir_all(s.join("secrets")).unwrap();
    std::fs::write(s.join("secrets/tok"), "changeme\n").unwrap();
    std::fs::set_permissions(s.join("secrets/tok"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(s.join("config.json5"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let agent = s.join("agents/main/agent");
    std::fs::create_dir_all(&agent).unwrap();
    std::fs::write(
        agent.join("models.json"),
        r#"{"providers": {"deepseek": {"baseUrl": "https://x/v1", "apiKey": "sk-literal", "models": []}}}"#,
    )
    .unwrap();

    let (code, v) = audit(s, &[]);
    assert_eq!(code, 0, "no critical finding: {v}");
    let found = ids(&v);
    for id in [
        "weak-token",
        "token-file-mode",
        "dir-mode",
        "config-mode",
        "literal-secret",
        "literal-api-key",
        "mdns-full",
        "runs-as-root",
    ] {
        assert!(found.iter().any(|f| f == id), "{id} not found: {v:#}");
    }
    let sev = |id: &str| v["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap()["severity"].clone();
    assert_eq!(sev("weak-token"), "high");
    assert_eq!(sev("mdns-full"), "medium");

    let (code, v) = audit(s, &["--fix"]);
    assert_eq!(code, 0, "{v}");
    let fixed: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fixed"] == true)
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in ["weak-token", "token-file-mode", "dir-mode", "config-mode"] {
        assert!(fixed.contains(&id), "{id} not fixed: {v:#}");
    }
    assert_eq!(std::fs::metadata(s).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(s.join("secrets/tok")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(s.join("secrets/tok")).unwrap().trim().len(), 64);

    // A re-run finds only what --fix may not touch.
    let (_, v) = audit(s, &[]);
    let left = ids(&v);
    for id in ["weak-token", "token-file-mode", "dir-mode", "config-mode"] {
        assert!(!left.iter().any(|f| f == id), "{id} still there: {v:#}");
    }
    assert!(left.iter().any(|f| f == "literal-api-key"), "secrets in files are for the operator to move");
}

#[test]
fn auth_none_beyond_loopback_is_critical_and_fails_the_audit() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("config.json5"), "{ gateway: { bind: 'lan', auth: { mode: 'none' } } }").unwrap();
    let (code, v) = audit(state.path(), &[]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["critical"], true);
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["id"] == "auth-none").unwrap().clone();
    assert_eq!(f["severity"], "critical");
    assert!(ids(&v).iter().any(|i| i == "plaintext-lan"), "{v}");
    let (code, out, _) = common::run(state.path(), &["security", "audit"], &[]);
    assert_eq!(code, 2);
    assert!(out.contains("CRITICAL") && out.contains("fix:"), "{out}");
}

#[test]
fn auth_none_on_loopback_is_still_critical() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("config.json5"), "{ gateway: { auth: { mode: 'none' } } }").unwrap();
    let (code, v) = audit(state.path(), &[]);
    assert_eq!(code, 2, "{v}");
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["id"] == "auth-none").unwrap().clone();
    assert_eq!(f["severity"], "critical");
}

#[test]
fn audit_flags_public_endpoints_wildcard_origins_and_wide_proxy_ranges_on_a_lan_bind() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("config.json5"),
        "{ gateway: { bind: 'lan', health: { access: 'public' }, metrics: { access: 'public' },\n  \
         controlUi: { allowedOrigins: ['https://ui.example', '*'] }, trustedProxies: ['127.0.0.1', '10.0.0.0/8'] } }",
    )
    .unwrap();
    let (_, v) = audit(state.path(), &[]);
    let findings = v["findings"].as_array().unwrap();
    let public: Vec<&str> =
        findings.iter().filter(|f| f["id"] == "endpoint-public").map(|f| f["title"].as_str().unwrap()).collect();
    assert!(public.iter().any(|m| m.contains("gateway.health.access")), "{v:#}");
    assert!(public.iter().any(|m| m.contains("gateway.metrics.access")), "{v:#}");
    for id in ["origins-wildcard", "trusted-proxy-range"] {
        let f = findings.iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("{id}: {v:#}"));
        assert_eq!(f["severity"], "high", "{id}");
    }
    assert!(findings.iter().any(|f| f["title"].as_str().unwrap().contains("10.0.0.0/8")));

    // The same settings on a loopback bind, with a single proxy address: nothing to say.
    std::fs::write(
        state.path().join("config.json5"),
        "{ gateway: { health: { access: 'public' }, metrics: { access: 'public' }, trustedProxies: ['10.0.0.5', '127.0.0.0/8'] } }",
    )
    .unwrap();
    let (_, v) = audit(state.path(), &[]);
    for id in ["endpoint-public", "origins-wildcard", "trusted-proxy-range"] {
        assert!(!ids(&v).iter().any(|i| i == id), "{id}: {v:#}");
    }
}

#[test]
fn report_is_markdown_with_status_findings_and_auth_failures() {
    let gw = common::Spawn::default().config("{ gateway: { auth: { token: 'report-token' } } }").start();
    let mut ws = common::Ws::open(gw.addr);
    let _ = ws.connect(serde_json::json!({"auth": {"token": "wrong"}}));
    gw.wait_log("authentication failed");
    let out = gw.state_path().join("report.md");
    let (code, _, err) = common::run(gw.state_path(), &["security", "report", "--out", out.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(&out).unwrap();
    for h in [
        "# OpenClaw gateway security report",
        "## Status",
        "## Container",
        "## Findings",
        "## Recent authentication failures",
    ] {
        assert!(md.contains(h), "{h}: {md}");
    }
    assert!(md.contains("running (pid"), "{md}");
    assert!(md.contains("token-in-config") || md.contains("written in"), "{md}");
    assert!(md.contains("authentication failed"), "{md}");
    assert!(!md.contains("report-token"), "no secret in the report");
}

#[test]
fn deploy_init_lays_out_a_valid_audited_deployment_and_keeps_existing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = common::run(d, &["deploy", "init", "--dir", d.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");
    for p in ["config/secrets", "config/certs", "config/agents/main/agent"] {
        assert_eq!(std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777, 0o700, "{p}");
    }
    let token = std::fs::read_to_string(d.join("config/secrets/gateway_token")).unwrap();
    assert_eq!(token.trim().len(), 64);
    assert_eq!(std::fs::metadata(d.join("config/secrets/gateway_token")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(d.join("config/certs/server.key")).unwrap().permissions().mode() & 0o777, 0o600);
    let models = std::fs::read_to_string(d.join("config/agents/main/agent/models.json")).unwrap();
    assert!(models.contains("${DEEPSEEK_API_KEY}"), "{models}");
    assert!(d.join("compose.yaml").exists() && d.join("compose.prod.yaml").exists());
    assert!(out.contains("validated") && out.contains("compose -f compose.yaml -f compose.prod.yaml up -d"), "{out}");
    assert!(out.contains("no high or critical findings"), "{out}");
    assert!(!out.contains(token.trim()), "the token is not printed");
    // The starter config validates as the gateway would load it.
    let cfg = d.join("config/openclaw.json5");
    let (code, out, err) = common::run(d, &["--config", cfg.to_str().unwrap(), "config", "validate"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    // A second run keeps the token and the certificate.
    let (code, out, _) = common::run(d, &["deploy", "init", "--dir", d.to_str().unwrap()], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("kept") && out.contains("(your certificate)"), "{out}");
    assert_eq!(std::fs::read_to_string(d.join("config/secrets/gateway_token")).unwrap(), token);
}

#[test]
fn monitor_highlights_a_burst_of_auth_failures() {
    use std::io::{BufRead, BufReader};
    let gw = common::Spawn::default().config("{ gateway: { auth: { token: 'monitor-token' } } }").start();
    let mut child = common::command(gw.state_path())
        .args(["security", "monitor", "--url", &format!("ws://{}", gw.addr)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    err.read_line(&mut banner).unwrap();
    assert!(banner.contains("watching"), "{banner}");
    // The banner comes after the first poll: from here on, events are shown.
    for _ in 0..6 {
        let mut ws = common::Ws::open(gw.addr);
        let _ = ws.connect(serde_json::json!({"auth": {"token": "wrong"}}));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let burst = common::wait_until("a BURST line", std::time::Duration::from_secs(10), || {
        rx.try_iter().find(|l| l.contains("BURST"))
    });
    assert!(burst.contains("auth failure") && !burst.contains('\u{1b}'), "plain text when not a TTY: {burst}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn audit_flags_the_agents_unsandboxed_exec_full_approvals_any_domain_and_a_shared_workspace() {
    let state = tempfile::tempdir().unwrap();
    // The defaults: sandboxed non-main sessions, bubblewrap here, the workspace its own.
    let (_, v) = audit(state.path(), &[]);
    for id in
        ["sandbox-off-exec", "sandbox-unavailable", "exec-security-full", "sandbox-any-domain", "workspace-shared"]
    {
        assert!(!ids(&v).contains(&id.to_string()), "{id} on the defaults: {v}");
    }
    std::fs::write(
        state.path().join("config.json5"),
        "{ agents: { defaults: { workspace: '/tmp', sandbox: { mode: 'off', allowlist: { domains: ['*'] } } } } }",
    )
    .unwrap();
    std::fs::write(
        state.path().join("exec-approvals.json"),
        r#"{"version": 1, "agents": {"main": {"security": "full"}}}"#,
    )
    .unwrap();
    let (_, v) = audit(state.path(), &[]);
    for id in ["sandbox-off-exec", "exec-security-full", "sandbox-any-domain", "workspace-shared"] {
        assert!(ids(&v).contains(&id.to_string()), "{id} missing: {v}");
    }
    // Sandboxing asked for on a host that cannot: said, with the reason.
    std::fs::write(state.path().join("config.json5"), "{ agents: { defaults: { sandbox: { mode: 'all' } } } }")
        .unwrap();
    let (_, out, err) = common::run(state.path(), &["security", "audit", "--json"], &[("PATH", "/nonexistent")]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert!(ids(&v).contains(&"sandbox-unavailable".to_string()), "{v}");
    assert!(!ids(&v).contains(&"sandbox-off-exec".to_string()), "{v}");
}
