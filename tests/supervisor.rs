//! Supervision of the real gateway: a child that panics is rebuilt fresh from its spec while
//! the rest keeps serving, and an exhausted restart budget ends the process with exit 70.
//! Needs `--features fault-injection` (the panic routes exist only in such builds).

mod common;

use std::time::Duration;

use common::{Spawn, http_get, http_post};

fn child<'a>(h: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    h["children"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()
}

#[test]
fn a_panicking_config_actor_is_restarted_fresh_and_reloads_still_work() {
    let gw = Spawn::default().config("{ gateway: { reload: { debounceMs: 50 } } }").start();
    assert_eq!(http_post(gw.addr, "/__fault/panic/config").unwrap().0, 202);
    let h = gw.wait_health("config child restarted", |h| {
        child(h, "config")["restarts"] == 1 && child(h, "config")["state"] == "running"
    });
    let failure = child(&h, "config")["lastFailure"]["reason"].as_str().unwrap().to_string();
    assert!(failure.contains("panicked") && failure.contains("injected fault"), "{failure}");
    assert_eq!(child(&h, "config")["incarnation"], 2);
    assert_eq!(child(&h, "listener")["restarts"], 0, "siblings are untouched");
    assert_eq!(h["status"], "ok");
    // The new incarnation re-armed the watcher and is the one the registry hands out.
    std::fs::write(gw.config_path(), "{ gateway: { reload: { debounceMs: 50 } }, logging: { level: 'warn' } }")
        .unwrap();
    gw.wait_health("file change after restart applied", |h| h["logging"]["level"] == "warn");
    gw.signal(libc::SIGHUP);
    gw.wait_health("SIGHUP after restart handled", |h| h["config"]["reloads"]["unchanged"] == 1);
}

#[test]
fn a_panicking_listener_is_restarted_on_the_same_port() {
    let gw = Spawn::default().config("{ gateway: { shutdownTimeoutMs: 500, auth: { token: 't' } } }").start();
    let mut ws = common::Ws::open(gw.addr);
    assert_eq!(ws.connect(serde_json::json!({"auth": {"token": "t"}})).unwrap()["ok"], true);
    assert_eq!(http_post(gw.addr, "/__fault/panic/listener").unwrap().0, 202);
    let h = gw.wait_health("listener restarted", |h| {
        child(h, "listener")["restarts"] == 1 && child(h, "listener")["state"] == "running"
    });
    assert!(child(&h, "listener")["lastFailure"]["reason"].as_str().unwrap().contains("panicked"));
    assert_eq!(h["listen"][0], gw.addr.to_string());
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200);
    // The WebSocket session opened before the panic is still served by the drained server.
    let restarted = std::time::Instant::now();
    common::wait_until("twice the shutdown budget to pass", Duration::from_secs(3), || {
        (restarted.elapsed() > Duration::from_millis(1000)).then_some(())
    });
    assert_eq!(ws.call("health", serde_json::json!({}))["ok"], true);
}

#[test]
fn an_exhausted_restart_budget_stops_the_gateway_with_exit_70() {
    let cfg = "{ gateway: { supervisor: { maxRestarts: 2, periodMs: 60000, backoffInitialMs: 10 } } }";
    let mut gw = Spawn::default().config(cfg).start();
    for n in 1..=2 {
        assert_eq!(http_post(gw.addr, "/__fault/panic/config").unwrap().0, 202);
        gw.wait_health("restart", |h| child(h, "config")["restarts"] == n && child(h, "config")["state"] == "running");
    }
    assert_eq!(http_post(gw.addr, "/__fault/panic/config").unwrap().0, 202);
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(70), "{}", gw.dump_logs());
    assert!(gw.has_log("restart budget exhausted"));
    assert!(!gw.state_path().join("gateway.pid").exists());
}

#[test]
fn failures_spread_beyond_the_period_do_not_exhaust_the_budget() {
    let cfg = "{ gateway: { supervisor: { maxRestarts: 1, periodMs: 300, backoffInitialMs: 10 } } }";
    let gw = Spawn::default().config(cfg).start();
    for n in 1..=3 {
        assert_eq!(http_post(gw.addr, "/__fault/panic/config").unwrap().0, 202);
        gw.wait_health("restart", |h| child(h, "config")["restarts"] == n && child(h, "config")["state"] == "running");
        // Let the failure age out of the 300 ms period before the next one.
        let failed_at = std::time::Instant::now();
        common::wait_until("the period to pass", Duration::from_secs(2), || {
            (failed_at.elapsed() > Duration::from_millis(350)).then_some(())
        });
    }
    assert_eq!(gw.health()["status"], "ok");
}

#[test]
fn readiness_turns_503_while_draining_and_a_second_signal_exits_at_once() {
    let mut gw = Spawn::default().env("OPENCLAW_FAULT_STOP_DELAY_MS", "20000").start();
    gw.signal(libc::SIGTERM);
    common::wait_until("/readyz to answer 503 while the listener drains", Duration::from_secs(5), || {
        http_get(gw.addr, "/readyz").ok().filter(|(code, _)| *code == 503)
    });
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200, "still alive while draining");
    assert_eq!(gw.health()["status"], "draining");
    let t0 = std::time::Instant::now();
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{}", gw.dump_logs());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!gw.state_path().join("gateway.pid").exists());
}

#[test]
fn the_shutdown_budget_bounds_a_slow_stop() {
    let mut gw = Spawn::default()
        .config("{ gateway: { shutdownTimeoutMs: 300 } }")
        .env("OPENCLAW_FAULT_STOP_DELAY_MS", "20000")
        .start();
    let t0 = std::time::Instant::now();
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
    assert!(gw.has_log("shutdown budget"), "{}", gw.dump_logs());
}

/// The listener holds its stop (fault injection) past the budget: the children not stopped by
/// then are named in the log, and the final line counts them.
#[test]
fn children_still_running_at_the_shutdown_deadline_are_named_and_counted() {
    let mut gw = Spawn::default()
        .config("{ gateway: { shutdownTimeoutMs: 300 } }")
        .env("OPENCLAW_FAULT_STOP_DELAY_MS", "20000")
        .start();
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(Duration::from_secs(5)).code(), Some(0));
    gw.wait_log("gateway stopped");
    let fields = |needle: &str| {
        let logs = gw.logs.lock().unwrap().clone();
        let line = logs.iter().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {}", logs.join("\n")));
        serde_json::from_str::<serde_json::Value>(line).unwrap()["fields"].clone()
    };
    let report = fields("still running at the shutdown deadline");
    let named: Vec<&str> = report["children"].as_str().unwrap().split(',').collect();
    assert_eq!(named[0], "listener", "the child that ignored its stop comes first: {report}");
    assert!(!named.contains(&"bonjour"), "bonjour stopped before the listener: {report}");
    assert_eq!(report["count"], named.len());
    assert_eq!(fields("gateway stopped")["still_running"], named.len());
}

/// A client that reads nothing while events pile up is cut with 1008 `slow consumer`;
/// droppable events are skipped instead, and other clients are unaffected.
#[test]
fn a_slow_consumer_is_cut_and_droppable_events_are_skipped() {
    use openclaw::protocol::MAX_BUFFERED_BYTES;
    use std::io::ErrorKind;
    use std::time::Instant;
    use tungstenite::Message;
    // Events of 64 KiB. The droppable flood (10 MiB) is more than a client that reads nothing
    // takes in (socket buffers plus the writer's 32-frame channel: about 6 MiB on loopback) plus
    // the 1.5 MiB buffer limit, so it leaves `slow` over the limit. The non-droppable flood
    // (1 MiB) is under the limit: it can cut only a client that is over it already. Each session
    // turns its whole burst into frames in one go on an HTTP worker (unoptimized in test builds);
    // 40 MiB per session kept `/healthz` behind that work past its 5 s timeout under load.
    const FRAME: usize = 64 * 1024;
    const DROPPABLE: usize = 160;
    const KEPT: usize = 16;
    const { assert!(KEPT * FRAME < MAX_BUFFERED_BYTES) };
    let gw = Spawn::default().config("{ gateway: { auth: { token: 't' } } }").start();
    let mut slow = common::Ws::open(gw.addr);
    slow.connect(serde_json::json!({"auth": {"token": "t"}})).unwrap();
    let mut other = common::Ws::open(gw.addr);
    other.connect(serde_json::json!({"auth": {"token": "t"}})).unwrap();
    // `other` reads all along on its own thread. Each time it is told to, it pings: the pong is
    // queued behind every event already pushed to it, so once the pong arrives it has read them
    // all, and it reports the flood events read since the last pong. (A ping, unlike a request,
    // is never answered with a cut while a backlog is over the limit.)
    let (ping, ping_rx) = std::sync::mpsc::channel::<()>();
    let (pong_tx, pong) = std::sync::mpsc::channel::<usize>();
    let reader = std::thread::spawn(move || {
        other.ws.get_ref().set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut floods, mut pongs) = ([0usize; 2], 0);
        while pongs < floods.len() {
            assert!(Instant::now() < deadline, "`other` to read both floods within 60 s: {floods:?}");
            if ping_rx.try_recv().is_ok() {
                other.ws.send(Message::Ping(tungstenite::Bytes::from_static(b"read"))).expect("ping");
            }
            match other.ws.read() {
                Ok(Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    floods[pongs] += usize::from(v["event"] == "test.flood");
                }
                Ok(Message::Pong(p)) if p.as_ref() == b"read" => {
                    pong_tx.send(floods[pongs]).unwrap();
                    pongs += 1;
                }
                Ok(Message::Close(c)) => panic!("`other` was closed: {c:?}"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("`other` lost its connection: {e}"),
            }
        }
        other.ws.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        other
    });
    let read_up_to_pong = |what: &str| {
        ping.send(()).unwrap();
        pong.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("`other` to read {what} (its ping answered) within 30 s: {e}"))
    };
    // Droppable: 10 MiB offered, nothing read by `slow`; the connection survives.
    assert_eq!(http_post(gw.addr, &format!("/__fault/flood/{DROPPABLE}/{FRAME}/true")).unwrap().0, 202);
    assert_eq!(http_get(gw.addr, "/healthz").unwrap().0, 200);
    let droppable = read_up_to_pong("the droppable flood");
    assert!(droppable >= MAX_BUFFERED_BYTES / FRAME, "`other` was served the flood: {droppable} of {DROPPABLE}");
    // Not droppable: `slow`, still over the limit, is cut; `other` has read its backlog, stays
    // under the limit, and is served every event.
    assert_eq!(http_post(gw.addr, &format!("/__fault/flood/{KEPT}/{FRAME}/false")).unwrap().0, 202);
    let (code, reason) = slow.closed();
    assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
    assert_eq!(read_up_to_pong("the non-droppable flood"), KEPT, "`other` received every non-droppable event");
    let mut other = reader.join().expect("`other` read both floods without being cut");
    assert_eq!(other.call("health", serde_json::json!({}))["ok"], true, "`other` is still connected and served");
    // A fresh client is served normally.
    let mut fresh = common::Ws::open(gw.addr);
    fresh.connect(serde_json::json!({"auth": {"token": "t"}})).unwrap();
    assert_eq!(fresh.call("health", serde_json::json!({}))["ok"], true);
}

#[test]
fn a_lane_restarted_after_a_panic_runs_each_queued_job_exactly_once() {
    let mock = common::provider::MockProvider::start();
    let spawn = Spawn::default().config("{ agents: { defaults: { maxConcurrent: 1 } } }");
    let gw = mock.install(spawn, &["slow-3-100"]).start();
    let mut ws = gw.ws();
    let mut runs = Vec::new();
    for i in 0..5 {
        let p = serde_json::json!({"sessionKey": format!("agent:main:p{i}"), "message": "m", "idempotencyKey": format!("p{i}")});
        runs.push(ws.call("chat.send", p)["payload"]["runId"].as_str().unwrap().to_string());
    }
    assert_eq!(http_post(gw.addr, "/__fault/panic/lane.main").unwrap().0, 202);
    let h = gw.wait_health("lane.main restarted", |h| {
        child(h, "lane.main")["restarts"] == 1 && child(h, "lane.main")["state"] == "running"
    });
    assert!(h["lanes"]["main"]["queued"].as_u64().unwrap() >= 3, "jobs still queued across the restart: {h}");
    for run in &runs {
        let w = ws.call("agent.wait", serde_json::json!({"runId": run, "timeoutMs": 15000}));
        assert_eq!(w["payload"]["status"], "ok", "{w}");
    }
    assert_eq!(mock.models_called().len(), 5, "each queued job ran once: none lost, none twice");
    assert_eq!(mock.seen.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_cron_actor_is_restarted_with_its_jobs() {
    let gw = Spawn::default()
        .config("{ cron: { jobs: [ { id: 'b', schedule: '0 3 * * *', command: 'backup-sessions' } ] } }")
        .start();
    assert_eq!(http_post(gw.addr, "/__fault/panic/cron").unwrap().0, 202);
    gw.wait_health("cron restarted", |h| child(h, "cron")["restarts"] == 1 && child(h, "cron")["state"] == "running");
    let mut ws = gw.ws();
    let list = ws.call("cron.list", serde_json::json!({}));
    assert_eq!(list["payload"]["jobs"][0]["id"], "b", "{list}");
}
