//! `openclaw gateway install ...`: units rendered from the templates pass
//! `systemd-analyze verify`, the plist parses with every key, `--root` installs are idempotent,
//! `--dry-run` writes nothing, and no token ever lands in a unit.

mod common;

use std::path::Path;
use std::process::Command;

const TOKEN: &str = "tok-4f9a2c81d7e3b5a6c0d9e8f7a1b2c3d4";

fn install(state: &Path, root: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["gateway", "install", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    common::run(state, &args, &[("OPENCLAW_GATEWAY_TOKEN", TOKEN), ("USER", "nobody-lingers")])
}

fn verify(unit: &Path) {
    let out =
        Command::new("systemd-analyze").arg("verify").arg(unit).output().expect("systemd-analyze (package systemd)");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !all.contains(unit.file_name().unwrap().to_str().unwrap()), "{all}");
}

#[test]
fn user_and_system_units_verify_hold_no_secret_and_reinstall_cleanly() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("config.json5"), format!("{{ gateway: {{ auth: {{ token: '{TOKEN}' }} }} }}"))
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let (code, out, err) = install(state.path(), root.path(), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("loginctl enable-linger nobody-lingers"), "{err}");
    // HOME is the state dir in the test harness.
    let user =
        root.path().join(state.path().strip_prefix("/").unwrap()).join(".config/systemd/user/openclaw-gateway.service");
    let text = std::fs::read_to_string(&user).unwrap_or_else(|e| panic!("{}: {e}; {out}", user.display()));
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=always",
        "RestartSec=5",
        "KillMode=process",
        "After=network-online.target",
        "Wants=network-online.target",
        "WantedBy=default.target",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    assert!(text.contains("ExecStartPre=") && text.contains("config validate"), "{text}");
    assert!(!text.contains(TOKEN), "a token in the unit:\n{text}");
    verify(&user);

    // A second install changes nothing.
    let before = std::fs::metadata(&user).unwrap().modified().unwrap();
    let (code, out, _) = install(state.path(), root.path(), &[]);
    assert_eq!(code, 0);
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(std::fs::metadata(&user).unwrap().modified().unwrap(), before);

    let (code, out, err) =
        install(state.path(), root.path(), &["--system", "--token-file", "/etc/openclaw/gateway_token"]);
    assert_eq!(code, 0, "{out}{err}");
    let system = root.path().join("etc/systemd/system/openclaw-gateway.service");
    let text = std::fs::read_to_string(&system).unwrap();
    for line in [
        "User=openclaw",
        "StateDirectory=openclaw",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "CapabilityBoundingSet=",
        "UMask=0077",
        "WantedBy=multi-user.target",
        "LoadCredential=gateway_token:/etc/openclaw/gateway_token",
        "Environment=OPENCLAW_GATEWAY_TOKEN_FILE=%d/gateway_token",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    let families = text.lines().find(|l| l.starts_with("RestrictAddressFamilies=")).unwrap();
    assert!(families.contains("AF_UNIX") && families.contains("AF_INET6"), "{families}");
    assert!(!text.contains(TOKEN));
    verify(&system);

    let (code, out, _) =
        common::run(state.path(), &["gateway", "uninstall", "--root", root.path().to_str().unwrap()], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("removed") && !user.exists(), "{out}");
}

#[test]
fn the_launchd_plist_parses_and_has_every_key() {
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (code, out, err) = install(state.path(), root.path(), &["--manager", "launchd"]);
    assert_eq!(code, 0, "{out}{err}");
    let plist = root
        .path()
        .join(state.path().strip_prefix("/").unwrap())
        .join("Library/LaunchAgents/ai.openclaw.gateway.plist");
    let script = r#"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], 'rb'))
for k in ['Label', 'ProgramArguments', 'RunAtLoad', 'KeepAlive', 'WorkingDirectory', 'EnvironmentVariables',
          'StandardOutPath', 'StandardErrorPath']:
    assert k in p, k
assert p['Label'] == 'ai.openclaw.gateway'
assert p['ProgramArguments'][1:] == ['gateway'], p['ProgramArguments']
assert p['KeepAlive'] == {'SuccessfulExit': False}
assert p['RunAtLoad'] is True
assert '/Library/Logs/openclaw/' in p['StandardOutPath'] and '/Library/Logs/openclaw/' in p['StandardErrorPath']
assert p['EnvironmentVariables']['OPENCLAW_STATE_DIR'] == sys.argv[2]
print('ok')
"#;
    let out = Command::new("python3").args(["-c", script]).arg(&plist).arg(state.path()).output().expect("python3");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!std::fs::read_to_string(&plist).unwrap().contains(TOKEN));
}

#[test]
fn dry_run_writes_nothing_and_prints_the_unit_and_commands() {
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) =
        common::run(state.path(), &["gateway", "install", "--dry-run"], &[("OPENCLAW_GATEWAY_TOKEN", TOKEN)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Type=notify") && out.contains("# would run: systemctl --user enable --now"), "{out}");
    assert!(!out.contains(TOKEN));
    assert!(!state.path().join(".config").exists(), "nothing written");
    let (code, out, _) = common::run(state.path(), &["gateway", "start", "--dry-run"], &[]);
    assert_eq!(code, 69, "start before install: {out}");
}

#[test]
fn service_status_shows_config_pid_listen_and_the_rpc_probe() {
    let gw = common::Spawn::default().start();
    let root = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run(
        gw.state_path(),
        &["gateway", "status", "--root", root.path().to_str().unwrap(), "--url", &format!("ws://{}", gw.addr)],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not installed") && out.contains("RPC probe: ok"), "{out}");
    assert!(out.contains(&format!("pid:     {}", gw.pid())), "{out}");
    assert!(out.contains(&gw.addr.to_string()), "{out}");
}
