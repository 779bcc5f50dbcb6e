//! `openclaw token rotate`: a new token in the source in use, the old one accepted through the
//! grace period only, and a clear refusal when the token lives in the environment.

mod common;

use std::time::{Duration, Instant};

use common::{Spawn, Ws, wait_until};
use serde_json::json;

fn accepted(addr: std::net::SocketAddr, token: &str) -> bool {
    let mut ws = Ws::open(addr);
    ws.connect(json!({"auth": {"token": token}})).is_ok_and(|r| r["ok"] == true)
}

#[test]
fn rotate_writes_the_token_file_and_the_old_token_works_through_the_grace_period_only() {
    let spawn = Spawn::default().config("{ gateway: { auth: { tokenFile: 'secrets/gw_token' } } }");
    let file = spawn.state.path().join("secrets/gw_token");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "old-token-0123456789abcdef0123456789abcdef\n").unwrap();
    let gw = spawn.start();
    let old = "old-token-0123456789abcdef0123456789abcdef";
    assert!(accepted(gw.addr, old));

    let (code, out, err) = common::run(gw.state_path(), &["token", "rotate", "--grace", "1500ms"], &[]);
    let rotated = Instant::now();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("told the gateway") && out.contains("update every client"), "{out}");
    let new = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_ne!(new, old);
    assert_eq!(new.len(), 64, "32 random bytes as hex");
    assert!(!out.contains(&new), "the token is not printed");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    assert!(accepted(gw.addr, &new), "the new token works at once");
    assert!(accepted(gw.addr, old), "the old token works during the grace period");
    let refused_at = wait_until("the old token to be refused after the grace period", Duration::from_secs(10), || {
        (!accepted(gw.addr, old)).then(Instant::now)
    });
    assert!(refused_at - rotated >= Duration::from_millis(1400), "refused after {:?}", refused_at - rotated);
    assert!(accepted(gw.addr, &new));
}

#[test]
fn a_token_from_the_environment_is_not_rotated() {
    let state = tempfile::tempdir().unwrap();
    let (code, _, err) =
        common::run(state.path(), &["token", "rotate"], &[("OPENCLAW_GATEWAY_TOKEN", "from-env-token")]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("OPENCLAW_GATEWAY_TOKEN") && err.contains("gateway.auth.tokenFile"), "{err}");
    let (code, _, err) = common::run(state.path(), &["token", "rotate", "--grace", "soon"], &[]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn a_config_token_is_rotated_through_the_running_gateway() {
    let gw = Spawn::default()
        .config("{ gateway: { auth: { token: 'cfg-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' } } }")
        .start();
    let url = format!("ws://{}", gw.addr);
    let (code, out, err) = common::run(gw.state_path(), &["token", "rotate", "--url", &url, "--grace", "10m"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let cfg = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(!cfg.contains("cfg-token-aaaa"), "{cfg}");
    let v: serde_json::Value = json5::from_str(&cfg).unwrap();
    let new = v["gateway"]["auth"]["token"].as_str().unwrap().to_string();
    wait_until("the new config token applied", Duration::from_secs(5), || accepted(gw.addr, &new).then_some(()));
    assert!(accepted(gw.addr, "cfg-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "within 10 minutes of grace");
}
