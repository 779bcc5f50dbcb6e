//! `openclaw doctor`: each troubleshooting case is found and named with its fix, and no
//! token is ever printed.

mod common;

use common::Spawn;

#[test]
fn a_port_held_by_another_process_is_named() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("config.json5"), format!("{{ gateway: {{ port: {port} }} }}")).unwrap();
    let (code, out, err) = common::run(state.path(), &["doctor"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("{port} is in use")), "{out}");
    assert!(out.contains("fix:"), "{out}");
}

#[test]
fn a_token_mismatch_names_both_sources_and_never_the_tokens() {
    let gw = Spawn::default().config("{ gateway: { auth: { token: 'gateway-side-token-1234' } } }").start();
    let url = format!("ws://{}", gw.addr);
    let (code, out, err) =
        common::run(gw.state_path(), &["doctor", "--url", &url], &[("OPENCLAW_GATEWAY_TOKEN", "cli-side-token-5678")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("token mismatch"), "{out}");
    assert!(out.contains("came from the environment variable OPENCLAW_GATEWAY_TOKEN"), "{out}");
    assert!(!out.contains("gateway-side-token-1234") && !out.contains("cli-side-token-5678"), "{out}");
    // Same token: everything is fine.
    let (code, out, _) = common::run(gw.state_path(), &["doctor", "--url", &url], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("answers: ok"), "{out}");
}

#[test]
fn a_stale_service_unit_and_a_read_only_state_dir_are_reported() {
    let state = tempfile::tempdir().unwrap();
    let unit_dir = state.path().join(".config/systemd/user");
    std::fs::create_dir_all(&unit_dir).unwrap();
    std::fs::write(
        unit_dir.join("openclaw-gateway.service"),
        "[Service]\nEnvironment=OPENCLAW_GATEWAY_TOKEN=baked-in-secret\nExecStart=/nonexistent/openclaw gateway\n",
    )
    .unwrap();
    let (_, out, _) = common::run(state.path(), &["doctor"], &[]);
    assert!(
        out.contains("is stale") && out.contains("OPENCLAW_GATEWAY_TOKEN") && out.contains("/nonexistent/openclaw"),
        "{out}"
    );
    assert!(out.contains("openclaw gateway install"), "{out}");
    assert!(!out.contains("baked-in-secret"), "{out}");

    // A read-only state dir (bind-mounted ro in a private mount namespace).
    let script = format!(
        "mount --bind -o ro {dir} {dir} && exec {bin} --state-dir {dir} doctor",
        dir = state.path().display(),
        bin = common::BIN
    );
    let out = std::process::Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Read-only file system") && text.contains("read-only filesystem: mount a writable volume"),
        "{text}"
    );
}

#[test]
fn the_sandbox_is_checked_when_sessions_are_sandboxed() {
    let state = tempfile::tempdir().unwrap();
    let (_, out, _) = common::run(state.path(), &["doctor"], &[]);
    assert!(out.lines().any(|l| l.contains("sandbox") && l.contains("bubblewrap works")), "{out}");
    let (code, out, _) = common::run(state.path(), &["doctor"], &[("PATH", "/nonexistent")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sandboxed sessions' commands will be refused") && out.contains("apt-get install bubblewrap"),
        "{out}"
    );
    std::fs::write(state.path().join("config.json5"), "{ agents: { defaults: { sandbox: { mode: 'off' } } } }")
        .unwrap();
    let (_, out, _) = common::run(state.path(), &["doctor"], &[("PATH", "/nonexistent")]);
    assert!(!out.contains("sandbox"), "not checked when off: {out}");
}
