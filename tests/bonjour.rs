//! mDNS against a real avahi-daemon confined to loopback (scripts/avahi-loopback): the
//! advertisement and its exact TXT, changes after a reload, the tailnet name (looked up beside
//! the start), the disable variable, recovery after avahi restarts, `discover`, and withdrawal
//! at shutdown. The tests share the daemon,
//! so they run one at a time.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::{Spawn, run, wait_until};

static AVAHI: Mutex<()> = Mutex::new(());

fn avahi(cmd: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/avahi-loopback");
    let st = Command::new(script).arg(cmd).status().expect("scripts/avahi-loopback");
    assert!(
        st.success(),
        "scripts/avahi-loopback {cmd} failed (run the suite with scripts/test, which installs avahi)"
    );
}

/// The TXT of `instance` as avahi-browse resolves it, if advertised. One avahi-browse gets 5 s
/// (coreutils' `timeout`): it has hung resolving (for twelve minutes in one run), and the
/// waits that call this keep their deadlines only if each call returns.
fn browse(instance: &str) -> Option<BTreeMap<String, String>> {
    let out = Command::new("timeout").args(["5", "avahi-browse", "-rtp", "_openclaw-gw._tcp"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let escaped = instance.replace(' ', "\\032").replace('(', "\\040").replace(')', "\\041");
    text.lines().filter(|l| l.starts_with("=;")).find(|l| l.split(';').nth(3) == Some(escaped.as_str())).map(|l| {
        l.split(';')
            .nth(9)
            .unwrap_or("")
            .split("\" \"")
            .map(|kv| kv.trim_matches('"'))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

fn name(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

fn cfg(host: &str, extra: &str) -> String {
    format!(
        "{{ gateway: {{ reload: {{ debounceMs: 50 }} }}, discovery: {{ mdns: {{ hostname: '{host}', advertiseLoopback: true {extra} }} }} }}"
    )
}

#[test]
fn advertised_with_the_exact_txt_and_updated_after_a_reload() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let host = name("txt");
    let gw = Spawn::default().config(&cfg(&host, "")).start();
    let instance = format!("{host} (OpenClaw)");
    let txt = wait_until("the advertisement in avahi-browse", Duration::from_secs(10), || browse(&instance));
    let port = gw.addr.port().to_string();
    let expected: BTreeMap<String, String> = [
        ("role", "gateway"),
        ("gatewayPort", port.as_str()),
        ("lanHost", &format!("{host}.local")),
        ("displayName", instance.as_str()),
        ("transport", "gateway"),
        ("canvasPort", port.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(txt, expected);
    let h = gw.wait_health("the advertised state in /health", |h| h["mdns"]["state"] == "advertised");
    assert_eq!(h["mdns"]["name"], instance.as_str());
    // Full mode adds cliPath and sshPort.
    std::fs::write(gw.config_path(), cfg(&host, ", mode: 'full'")).unwrap();
    let txt = wait_until("the TXT to change after the reload", Duration::from_secs(10), || {
        browse(&instance).filter(|t| t.contains_key("sshPort"))
    });
    assert_eq!(txt["sshPort"], "22");
    assert!(txt["cliPath"].ends_with("openclaw"), "{txt:?}");
}

#[test]
fn the_disable_variable_and_loopback_only_advertise_nothing() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let host = name("off");
    let gw = Spawn::default().config(&cfg(&host, "")).env("OPENCLAW_DISABLE_BONJOUR", "1").start();
    let h = gw.wait_health("the mDNS decision", |h| h["mdns"]["state"] == "off");
    assert!(
        h["mdns"]["reason"].as_str().unwrap().contains("OPENCLAW_DISABLE_BONJOUR")
            || h["mdns"]["reason"].as_str().unwrap().contains("mode is off")
    );
    assert!(browse(&format!("{host} (OpenClaw)")).is_none());
    drop(gw);
    let plain = Spawn::default().config(&format!("{{ discovery: {{ mdns: {{ hostname: '{host}' }} }} }}")).start();
    let h = plain.wait_health("the mDNS decision", |h| h["mdns"]["state"] == "off");
    assert!(h["mdns"]["reason"].as_str().unwrap().contains("loopback only"));
}

#[test]
fn advertised_again_after_avahi_restarts_and_withdrawn_at_shutdown() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let host = name("restart");
    let mut gw = Spawn::default().config(&cfg(&host, "")).start();
    let instance = format!("{host} (OpenClaw)");
    wait_until("the first advertisement", Duration::from_secs(10), || browse(&instance));
    avahi("restart");
    wait_until("the advertisement after avahi restarted (within 10 s)", Duration::from_secs(10), || browse(&instance));
    assert!(gw.has_log("responder restarted"));
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(Duration::from_secs(5)).code(), Some(0));
    wait_until("the advertisement to be withdrawn", Duration::from_secs(5), || {
        browse(&instance).is_none().then_some(())
    });
}

#[test]
fn a_gateway_without_avahi_keeps_serving_and_advertises_once_avahi_is_back() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("stop");
    let host = name("noavahi");
    let gw = Spawn::default().config(&cfg(&host, "")).start();
    let h = gw.wait_health("mDNS unavailable reported", |h| h["mdns"]["state"] == "unavailable");
    assert_eq!(h["status"], "ok", "mDNS is never fatal");
    assert_eq!(
        gw.logs.lock().unwrap().iter().filter(|l| l.contains("mDNS advertisement unavailable")).count(),
        1,
        "one warning"
    );
    avahi("start");
    wait_until("the advertisement once avahi is back", Duration::from_secs(15), || {
        browse(&format!("{host} (OpenClaw)"))
    });
}

#[test]
fn discover_finds_the_gateway() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let host = name("disc");
    let gw = Spawn::default().config(&cfg(&host, "")).start();
    let instance = format!("{host} (OpenClaw)");
    wait_until("the advertisement", Duration::from_secs(10), || browse(&instance));
    let (code, out, err) = run(gw.state_path(), &["gateway", "discover", "--json", "--timeout", "2000"], &[]);
    assert_eq!(code, 0, "{err}");
    let found: serde_json::Value = serde_json::from_str(&out).unwrap();
    let me = found
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["instance"] == instance.as_str())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(me["port"], gw.addr.port());
    assert_eq!(me["url"], format!("ws://127.0.0.1:{}", gw.addr.port()));
    assert_eq!(me["tls"], false);
}

#[test]
fn a_name_taken_on_the_network_becomes_name_2() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let host = name("clash");
    let first = Spawn::default().config(&cfg(&host, "")).start();
    let instance = format!("{host} (OpenClaw)");
    wait_until("the first advertisement", Duration::from_secs(10), || browse(&instance));
    let second = Spawn::default().config(&cfg(&host, "")).start();
    let renamed = format!("{instance} (2)");
    let txt = wait_until("the second gateway under \"<name> (2)\"", Duration::from_secs(10), || browse(&renamed));
    assert_eq!(txt["gatewayPort"], second.addr.port().to_string());
    assert_eq!(browse(&instance).unwrap()["gatewayPort"], first.addr.port().to_string());
    assert!(second.has_log("name already taken"));
}

/// Where the dynamic loader finds libavahi-client.so.3 on this host (`ldconfig -p`).
/// `tailscale status` runs beside the start, not in its way: a tailscale that has not answered
/// (tailscaled busy) holds up neither the gateway nor its advertisement, and the tailnet name
/// joins the TXT when the answer comes.
#[test]
fn the_tailnet_name_joins_the_txt_when_tailscale_answers_and_never_holds_up_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let bin = tempfile::tempdir().unwrap();
    let answer = bin.path().join("answer");
    let tailscale = bin.path().join("tailscale");
    // Answers once the test says so (or gives up after 30 s, so a failed test leaves nothing).
    let script = format!(
        "#!/bin/sh\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n\
         echo '{{\"Self\":{{\"DNSName\":\"box.tail1234.ts.net.\"}}}}'\n",
        answer.display()
    );
    std::fs::write(&tailscale, script).unwrap();
    std::fs::set_permissions(&tailscale, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let host = name("tailnet");
    let gw = Spawn::default().config(&cfg(&host, "")).env("PATH", &path).start();
    let instance = format!("{host} (OpenClaw)");
    let txt =
        wait_until("the advertisement while tailscale has not answered", Duration::from_secs(10), || browse(&instance));
    assert!(!txt.contains_key("tailnetDns"), "no tailnet name before tailscale answers: {txt:?}");
    assert!(!answer.exists(), "tailscale was still waiting");
    std::fs::write(&answer, "").unwrap();
    let txt = wait_until("tailnetDns in the TXT once tailscale answered", Duration::from_secs(10), || {
        browse(&instance).filter(|t| t.contains_key("tailnetDns"))
    });
    assert_eq!(txt["tailnetDns"], "box.tail1234.ts.net");
    drop(gw);
}

fn libavahi_client() -> PathBuf {
    let out = std::process::Command::new("ldconfig").arg("-p").output().expect("run ldconfig -p");
    let listing = String::from_utf8_lossy(&out.stdout);
    let path = listing
        .lines()
        .filter(|l| l.trim_start().starts_with("libavahi-client.so.3 "))
        .find_map(|l| l.split_once("=> ").map(|(_, p)| p.trim().to_string()))
        .unwrap_or_else(|| panic!("ldconfig -p lists no libavahi-client.so.3 (scripts/setup installs it):\n{listing}"));
    std::fs::canonicalize(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// libavahi-client is opened when mDNS is first used, not linked: a host without it still
/// runs the gateway, and mDNS and `discover` say what to install.
#[test]
fn without_libavahi_the_gateway_serves_and_mdns_names_the_package() {
    let _g = AVAHI.lock().unwrap_or_else(|e| e.into_inner());
    avahi("start");
    let lib = &libavahi_client();
    let host = name("nolib");
    let gw = Spawn::default().config(&cfg(&host, "")).hide(lib).start();
    let h = gw.wait_health("mDNS unavailable reported", |h| h["mdns"]["state"] == "unavailable");
    assert_eq!(h["status"], "ok", "mDNS is never fatal");
    let reason = h["mdns"]["reason"].as_str().unwrap();
    assert!(reason.contains("libavahi-client.so.3") && reason.contains("apt install libavahi-client3"), "{reason}");
    gw.wait_log("mDNS advertisement unavailable");
    assert!(browse(&format!("{host} (OpenClaw)")).is_none(), "nothing advertised");

    let mut discover = common::command(gw.state_path());
    discover.args(["gateway", "discover", "--timeout", "500"]);
    let out = common::in_mount_namespace(&discover, "mount --bind /dev/null \"$0\" && exec \"$@\"", lib)
        .output()
        .expect("run discover");
    assert_eq!(out.status.code(), Some(69), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("install libavahi-client3"), "{err}");
}
