//! The real gateway binary: probes, reload by SIGHUP and by file edits, rollback on bad
//! config, graceful stop, single instance, port in use, log reopening, sd_notify.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{Spawn, Ws, http_get, post_rpc, wait_until, write_by_rename};

const FAST_RELOAD: &str = "{ gateway: { reload: { debounceMs: 50 } }, logging: { level: 'info' } }";

fn level_config(level: &str) -> String {
    format!("{{ gateway: {{ reload: {{ debounceMs: 50 }} }}, logging: {{ level: '{level}' }} }}")
}

#[test]
fn probes_answer_and_health_has_the_documented_fields() {
    let gw = Spawn::default().start();
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200);
    let (code, body) = http_get(gw.addr, "/readyz").unwrap();
    assert_eq!(code, 200, "{body}");
    let h = gw.health();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["uptime"].is_u64());
    assert!(h["memory"]["rss"].as_u64().unwrap() > 0);
    assert_eq!(h["sessions"]["active"], 0);
    assert_eq!(h["sessions"]["total"], 0);
    let children: Vec<&str> = h["children"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        children,
        [
            "config",
            "auth",
            "lane.main",
            "lane.subagent",
            "lane.cron",
            "cron",
            "memory",
            "channels",
            "listener",
            "bonjour"
        ]
    );
    for lane in ["main", "subagent", "cron"] {
        for key in ["active", "limit", "queued", "capacity", "rejected"] {
            assert!(h["lanes"][lane][key].is_u64(), "lanes.{lane}.{key}: {h}");
        }
    }
    assert_eq!(h["lanes"]["main"]["limit"], 4);
    assert_eq!(h["lanes"]["subagent"]["limit"], 2);
    assert_eq!(h["lanes"]["cron"]["limit"], 1);
    assert!(h["children"].as_array().unwrap().iter().all(|c| c["state"] == "running"));
    assert_eq!(h["config"]["generation"], 1);
    assert_eq!(h["listen"][0], gw.addr.to_string());
}

#[test]
fn health_follows_each_change_at_once_though_its_document_is_kept_between_calls() {
    // The document is rendered again only when something in it changed: every change must
    // show in the very next call, within the same second.
    let gw = Spawn::default().config(FAST_RELOAD).start();
    let mut ws = gw.ws();
    let mut health = || {
        let r = ws.call("health", serde_json::json!({}));
        assert_eq!(r["ok"], true, "{r}");
        r["payload"].clone()
    };
    let first = health();
    assert_eq!(first["sessions"]["active"], 1, "{first}");
    let again = health();
    assert_eq!((&again["sessions"], &again["config"]), (&first["sessions"], &first["config"]));
    // A second session.
    let other = gw.ws();
    assert_eq!(health()["sessions"]["active"], 2);
    drop(other);
    wait_until("the second session to be gone from health", Duration::from_secs(5), || {
        (health()["sessions"]["active"] == 1).then_some(())
    });
    // A new agent (a directory under agents/) gets its tool set.
    assert!(first["tools"].get("ops").is_none(), "{first}");
    std::fs::create_dir_all(gw.state_path().join("agents/ops/agent")).unwrap();
    let h = health();
    assert!(h["tools"].get("ops").is_some(), "a new agent shows at once: {h}");
    // A reload: the generation and the new lane limit.
    write_by_rename(
        &gw.config_path(),
        "{ gateway: { reload: { debounceMs: 50 } }, logging: { level: 'info' }, agents: { defaults: { maxConcurrent: 3 } } }",
    );
    let h = wait_until("the reload to show in health", Duration::from_secs(10), || {
        let h = health();
        (h["config"]["generation"] == 2).then_some(h)
    });
    assert_eq!(h["lanes"]["main"]["limit"], 3, "{h}");
    assert_eq!(h["config"]["lastReload"]["outcome"], "applied", "{h}");
}

#[test]
fn health_is_one_document_over_the_socket_over_http_and_in_hello_ok_with_its_counters_current() {
    // The socket's `health`, `GET /health` and `hello-ok` write the kept text with the moving
    // counters spliced in; `POST /rpc` answers the same as a tree. All four must agree.
    let gw = Spawn::default().start();
    // What settles on its own after start (mDNS finds it has nothing to advertise on loopback)
    // would differ between the four reads below.
    gw.wait_health("mDNS to settle", |h| {
        !["starting", "registering"].contains(&h["mdns"]["state"].as_str().unwrap_or(""))
    });
    let mut ws = Ws::open(gw.addr);
    let hello = ws.connect(serde_json::json!({"auth": {"token": gw.token()}})).expect("connect");
    let in_hello = hello["payload"]["snapshot"]["health"].clone();
    assert_eq!(in_hello["sessions"], serde_json::json!({"active": 1, "total": 1}), "{hello}");
    let mut over_ws = || {
        let r = ws.call("health", serde_json::json!({}));
        assert_eq!(r["ok"], true, "{r}");
        r["payload"].clone()
    };
    let socket = over_ws();
    let http = gw.health();
    let (code, tree) = post_rpc(&gw, &gw.token(), &serde_json::json!({"method": "health"}));
    assert_eq!(code, 200, "{tree}");
    let tree = tree["payload"].clone();
    // The uptime and the RSS sample may move between the calls; everything else is the same.
    let settled = |h: &serde_json::Value| {
        let mut h = h.clone();
        let o = h.as_object_mut().expect("an object");
        assert!(o.remove("uptime").is_some_and(|u| u.is_u64()), "uptime in {h}");
        assert!(o.remove("memory").is_some_and(|m| m["rss"].as_u64() > Some(0)), "memory.rss");
        h
    };
    assert_eq!(settled(&socket), settled(&http));
    assert_eq!(settled(&socket), settled(&tree));
    assert_eq!(settled(&socket), settled(&in_hello), "hello-ok's snapshot is the same document");
    // The counters follow each session in the very next call, the kept part unchanged.
    let others: Vec<Ws> = (0..3).map(|_| gw.ws()).collect();
    let now = over_ws();
    assert_eq!(now["sessions"], serde_json::json!({"active": 4, "total": 4}), "{now}");
    let mut before = settled(&socket);
    before["sessions"] = now["sessions"].clone();
    assert_eq!(settled(&now), before);
    drop(others);
}

#[test]
fn sigterm_stops_gracefully_with_exit_0_within_2s_and_removes_the_pid_file() {
    let mut gw = Spawn::default().start();
    let pid_file = gw.state_path().join("gateway.pid");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), gw.pid().to_string());
    let t0 = Instant::now();
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(2));
    assert_eq!(status.code(), Some(0), "{}", gw.dump_logs());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!pid_file.exists(), "pid file left behind");
    assert!(http_get(gw.addr, "/healthz").is_err(), "still accepting after exit");
}

#[test]
fn sigint_stops_like_sigterm() {
    let mut gw = Spawn::default().start();
    gw.signal(libc::SIGINT);
    assert_eq!(gw.wait_exit(Duration::from_secs(2)).code(), Some(0));
}

#[test]
fn sighup_reloads_the_config_and_the_log_level_follows() {
    // reload.mode off: only the signal applies the change (the watcher just logs it).
    let off = |level: &str| format!("{{ gateway: {{ reload: {{ mode: 'off' }} }}, logging: {{ level: '{level}' }} }}");
    let gw = Spawn::default().config(&off("info")).start();
    assert_eq!(gw.health()["logging"]["level"], "info");
    std::fs::write(gw.config_path(), off("debug")).unwrap();
    gw.signal(libc::SIGHUP);
    let h = gw.wait_health("debug level applied", |h| h["logging"]["level"] == "debug");
    assert_eq!(h["config"]["lastReload"]["outcome"], "applied");
    assert_eq!(h["config"]["lastReload"]["trigger"], "signal");
    assert!(h["config"]["lastReload"]["changed"].as_array().unwrap().iter().any(|c| c == "logging.level"));
    // The subscriber really changed the filter: the next reload logs at debug.
    assert!(!gw.has_log("\"level\":\"DEBUG\""), "no debug lines before the change");
    gw.signal(libc::SIGHUP);
    gw.wait_log("\"level\":\"DEBUG\"");
}

#[test]
fn an_edited_file_is_reloaded_without_a_signal() {
    let gw = Spawn::default().config(&level_config("info")).start();
    std::fs::write(gw.config_path(), level_config("warn")).unwrap();
    let h = gw.wait_health("file edit applied", |h| h["logging"]["level"] == "warn");
    assert_eq!(h["config"]["lastReload"]["trigger"], "file");
}

#[test]
fn an_editor_style_rename_over_the_file_is_reloaded() {
    let gw = Spawn::default().config(&level_config("info")).start();
    write_by_rename(&gw.config_path(), &level_config("error"));
    gw.wait_health("renamed file applied", |h| h["logging"]["level"] == "error");
    // The watcher survives the replaced inode: a second rename is seen too.
    write_by_rename(&gw.config_path(), &level_config("debug"));
    gw.wait_health("second rename applied", |h| h["logging"]["level"] == "debug");
}

#[test]
fn a_deleted_file_keeps_the_running_config_until_it_is_recreated() {
    let gw = Spawn::default().config(&level_config("warn")).start();
    std::fs::remove_file(gw.config_path()).unwrap();
    let h = gw.wait_health("deletion reported", |h| h["config"]["lastReload"]["outcome"] == "rejected");
    assert_eq!(h["logging"]["level"], "warn", "a deleted file must not reset to defaults");
    assert!(h["config"]["lastReload"]["problems"][0]["message"].as_str().unwrap().contains("disappeared"));
    std::fs::write(gw.config_path(), level_config("error")).unwrap();
    gw.wait_health("re-created file applied", |h| h["logging"]["level"] == "error");
}

#[test]
fn an_invalid_reload_keeps_the_old_config_and_reports_every_problem() {
    let gw = Spawn::default().config(&level_config("warn")).start();
    let before = gw.health()["config"]["hash"].clone();
    std::fs::write(
        gw.config_path(),
        "{ gateway: { reload: { debounceMs: 50 }, prot: 1 }, logging: { level: 'loud' } }",
    )
    .unwrap();
    let h = gw.wait_health("rejected reload recorded", |h| h["config"]["reloads"]["rejected"] == 1);
    assert_eq!(h["logging"]["level"], "warn");
    assert_eq!(h["config"]["hash"], before);
    assert_eq!(h["config"]["generation"], 1);
    assert_eq!(h["status"], "ok", "a rejected reload does not degrade the gateway");
    let problems = h["config"]["lastReload"]["problems"].as_array().unwrap();
    let paths: Vec<&str> = problems.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"gateway.prot") && paths.contains(&"logging.level"), "{paths:?}");
    gw.wait_log("config reload rejected");
    // Fixing the file applies normally.
    std::fs::write(gw.config_path(), level_config("error")).unwrap();
    gw.wait_health("fixed file applied", |h| h["logging"]["level"] == "error");
}

#[test]
fn reload_mode_off_ignores_file_changes_but_sighup_still_applies() {
    let cfg = "{ gateway: { reload: { mode: 'off', debounceMs: 0 } }, logging: { level: 'info' } }";
    let gw = Spawn::default().config(cfg).start();
    std::fs::write(gw.config_path(), cfg.replace("'info'", "'warn'")).unwrap();
    gw.wait_log("gateway.reload.mode is off");
    assert_eq!(gw.health()["logging"]["level"], "info");
    gw.signal(libc::SIGHUP);
    gw.wait_health("SIGHUP applied in mode off", |h| h["logging"]["level"] == "warn");
}

#[test]
fn precedence_is_flag_over_env_over_file() {
    let file = level_config("warn");
    let gw = Spawn::default().config(&file).env("OPENCLAW_LOG_LEVEL", "error").start();
    assert_eq!(gw.health()["logging"]["level"], "error", "env beats file");
    drop(gw);
    let gw = Spawn::default().config(&file).env("OPENCLAW_LOG_LEVEL", "error").arg("--log-level").arg("debug").start();
    assert_eq!(gw.health()["logging"]["level"], "debug", "flag beats env");
    drop(gw);
    let gw = Spawn::default().config(&file).start();
    assert_eq!(gw.health()["logging"]["level"], "warn", "file beats default");
    drop(gw);
    let gw = Spawn::default().start();
    assert_eq!(gw.health()["logging"]["level"], "info", "default");
}

#[test]
fn a_second_gateway_on_the_same_state_dir_exits_69_naming_the_pid() {
    let gw = Spawn::default().start();
    let (code, _, err) = common::run(gw.state_path(), &["gateway", "--port", "0"], &[]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains(&format!("pid {}", gw.pid())), "{err}");
    assert_eq!(std::fs::read_to_string(gw.state_path().join("gateway.pid")).unwrap().trim(), gw.pid().to_string());
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200, "the first one keeps serving");
}

#[test]
fn a_second_gateway_says_how_to_find_the_lock_holder_when_the_pid_file_is_gone() {
    let gw = Spawn::default().start();
    std::fs::remove_file(gw.state_path().join("gateway.pid")).unwrap();
    let (code, _, err) = common::run(gw.state_path(), &["gateway", "--port", "0"], &[]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("fuser -v") && err.contains("gateway.lock"), "the error names how to find the holder: {err}");
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200, "the first one keeps serving");
}

#[test]
fn a_stale_pid_file_is_taken_over() {
    let spawn = Spawn::default();
    std::fs::write(spawn.state.path().join("gateway.pid"), "999999\n").unwrap();
    let gw = spawn.start();
    assert_eq!(std::fs::read_to_string(gw.state_path().join("gateway.pid")).unwrap().trim(), gw.pid().to_string());
    assert!(gw.has_log("taking over a stale pid file"));
}

#[test]
fn a_port_in_use_exits_69_naming_the_address_and_how_to_find_its_owner() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let d = tempfile::tempdir().unwrap();
    let (code, _, err) = common::run(d.path(), &["gateway", "--port", &port], &[]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("already in use"), "{err}");
    assert!(err.contains("ss -ltnp"), "{err}");
    assert!(!d.path().join("gateway.pid").exists(), "pid file removed after a failed start");
}

#[test]
fn sighup_reopens_the_log_file_for_logrotate() {
    let gw = Spawn::default().start();
    let log = gw.state_path().join("logs/gateway.log");
    wait_until("log file written", Duration::from_secs(5), || {
        std::fs::read_to_string(&log).ok().filter(|s| s.contains("gateway ready"))
    });
    let rotated = gw.state_path().join("logs/gateway.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    gw.signal(libc::SIGHUP);
    let fresh = wait_until("a new log file after SIGHUP", Duration::from_secs(5), || {
        std::fs::read_to_string(&log).ok().filter(|s| s.contains("config reloaded"))
    });
    assert!(!fresh.contains("gateway ready"), "the new file starts fresh");
    assert!(std::fs::read_to_string(&rotated).unwrap().contains("gateway ready"));
}

#[test]
fn sigusr1_restarts_every_child_in_place_on_the_same_port() {
    let gw = Spawn::default().start();
    gw.signal(libc::SIGUSR1);
    let h = gw.wait_health("children restarted", |h| {
        h["children"].as_array().unwrap().iter().all(|c| c["incarnation"] == 2 && c["state"] == "running")
    });
    assert_eq!(h["status"], "ok");
    assert_eq!(h["listen"][0], gw.addr.to_string());
    // The new ConfigActor incarnation is the one reloads reach.
    std::fs::write(gw.config_path(), level_config("warn")).unwrap();
    gw.signal(libc::SIGHUP);
    gw.wait_health("reload after restart", |h| h["logging"]["level"] == "warn");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn port_config(port: u16) -> String {
    format!("{{ gateway: {{ port: {port}, reload: {{ debounceMs: 50 }} }} }}")
}

#[test]
fn a_port_flag_beats_a_port_change_in_the_file() {
    let gw = Spawn::default().config(FAST_RELOAD).start();
    std::fs::write(gw.config_path(), port_config(free_port())).unwrap();
    let h = gw.wait_health("reload recorded", |h| h["config"]["reloads"]["unchanged"].as_u64() >= Some(1));
    assert_eq!(h["listen"][0], gw.addr.to_string());
}

#[test]
fn a_port_change_rebinds_the_listener_in_place_and_a_failed_rebind_keeps_the_old_port() {
    let mut gw = Spawn::default().config(&port_config(free_port())).start();
    let old = gw.addr;
    let new_port = free_port();
    let new: std::net::SocketAddr = format!("127.0.0.1:{new_port}").parse().unwrap();
    std::fs::write(gw.config_path(), port_config(new_port)).unwrap();
    wait_until("the new port to answer", Duration::from_secs(10), || http_get(new, "/healthz").ok());
    gw.addr = new;
    let h = gw.wait_health("listener rebuild recorded", |h| h["config"]["lastReload"]["listener"] == "rebuilt");
    assert_eq!(h["listen"][0], new.to_string());
    wait_until("the old port to refuse", Duration::from_secs(10), || http_get(old, "/healthz").is_err().then_some(()));

    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    std::fs::write(gw.config_path(), port_config(taken)).unwrap();
    let h = gw.wait_health("failed rebind recorded", |h| {
        h["config"]["lastReload"]["listener"].as_str().is_some_and(|l| l.contains("in use"))
    });
    assert_eq!(h["listen"][0], new.to_string());
    assert_eq!(http_get(new, "/healthz").unwrap().0, 200, "the old listener stays");
}

#[test]
fn sd_notify_reports_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut gw =
        Spawn::default().env("NOTIFY_SOCKET", sock_path.to_str().unwrap()).env("WATCHDOG_USEC", "200000").start();
    let mut buf = [0u8; 4096];
    let mut recv_until = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let n = sock
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no sd_notify message with {needle:?} ({e}); saw {seen:?}"));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.contains(needle) {
                return msg;
            }
            seen.push(msg);
        }
        panic!("no sd_notify message with {needle:?}; saw {seen:?}");
    };
    assert!(recv_until("READY=1").contains("STATUS=Ready"));
    recv_until("WATCHDOG=1");
    gw.signal(libc::SIGHUP);
    let reloading = recv_until("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    recv_until("READY=1");
    gw.signal(libc::SIGTERM);
    recv_until("STOPPING=1");
    assert_eq!(gw.wait_exit(Duration::from_secs(5)).code(), Some(0));
}

#[test]
fn a_new_state_dir_is_created_private() {
    let parent = tempfile::tempdir().unwrap();
    let state = parent.path().join("nested/state");
    let mut c = common::command(&state);
    c.args(["gateway", "--port", "0", "--log-format", "json"]).stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let log = state.join("logs/gateway.log");
    wait_until("gateway ready in the file log", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).ok().filter(|l| l.contains("gateway ready"))
    });
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(state.join("logs")).unwrap().permissions().mode() & 0o777, 0o700);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn an_unwritable_state_dir_exits_73_naming_the_path() {
    // A regular file as parent: not creatable, even for root.
    let parent = tempfile::NamedTempFile::new().unwrap();
    let state = parent.path().join("state");
    let (code, _, err) = common::run(&state, &["gateway", "--port", "0"], &[]);
    assert_eq!(code, 73, "{err}");
    assert!(err.contains(&state.display().to_string()), "{err}");
}

#[test]
fn an_unwritable_log_file_is_a_warning_not_a_failure() {
    let spawn = Spawn::default();
    // A directory where the log file should be: it cannot be opened as a file.
    std::fs::create_dir_all(spawn.state.path().join("logs/gateway.log")).unwrap();
    let gw = spawn.start();
    assert!(gw.has_log("file logging disabled"), "{}", gw.dump_logs());
    assert_eq!(gw.health()["status"], "ok");
}

#[test]
fn hot_mode_applies_live_changes_and_records_listener_changes_as_needing_a_restart() {
    let port = free_port();
    let cfg = |port: u16, level: &str| {
        format!(
            "{{ gateway: {{ port: {port}, reload: {{ mode: 'hot', debounceMs: 50 }} }}, logging: {{ level: '{level}' }} }}"
        )
    };
    let gw = Spawn::default().config(&cfg(port, "info")).start();
    let other = free_port();
    std::fs::write(gw.config_path(), cfg(other, "warn")).unwrap();
    let h = gw.wait_health("hot reload recorded", |h| h["config"]["reloads"]["applied"] == 1);
    assert_eq!(h["logging"]["level"], "warn", "live-safe change applied");
    assert_eq!(h["listen"][0], gw.addr.to_string(), "listener untouched in hot mode");
    assert_eq!(h["config"]["lastReload"]["restartRequired"], serde_json::json!(["gateway.port"]));
    assert!(h["config"]["lastReload"]["listener"].is_null());
}

/// The daemon's environment as it was started (after its re-execution).
fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read /proc/<pid>/environ");
    raw.split(|b| *b == 0).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

#[test]
fn the_daemon_runs_with_its_allocator_tuning_unless_the_operator_set_tunables() {
    let gw = Spawn::default().start();
    let env = environ(gw.pid());
    assert!(
        env.iter().any(|v| v == &format!("GLIBC_TUNABLES={}", openclaw::lifecycle::MALLOC_TUNABLES)),
        "re-executed with the tunables (same pid): {env:?}"
    );
    assert_eq!(gw.health()["status"], "ok");
    drop(gw);
    // An operator's own tunables are theirs: no re-execution, nothing added.
    let gw = Spawn::default().env("GLIBC_TUNABLES", "glibc.malloc.tcache_count=7").start();
    let env = environ(gw.pid());
    assert!(env.iter().any(|v| v == "GLIBC_TUNABLES=glibc.malloc.tcache_count=7"), "{env:?}");
    assert!(!env.iter().any(|v| v.starts_with("OPENCLAW_MALLOC_TUNED")), "{env:?}");
    assert_eq!(gw.health()["status"], "ok");
}
