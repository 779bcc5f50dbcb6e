//! Whole gateways inside the test process through `Gateway::serve`: start, speak HTTP and
//! WebSocket, reload through the handle, stop by resolving the shutdown future.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{Ws, generated_token, http_get, http_get_with, wait_until};
use openclaw::config::load;
use openclaw::gateway::{Gateway, Handle};
use serde_json::json;

fn level_config(level: &str) -> String {
    // reload.mode off: only the handle's reload applies an edit, not the file watcher.
    format!("{{ gateway: {{ reload: {{ mode: 'off' }} }}, logging: {{ level: '{level}' }} }}")
}

/// A gateway running on its own thread, with the sender that resolves its shutdown future.
struct InProcess {
    state: tempfile::TempDir,
    handle: Handle,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<i32>>,
}

impl InProcess {
    /// Starts a gateway on 127.0.0.1:0 with a fresh state dir and `config`, and waits until ready.
    fn start(config: &str) -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        std::fs::write(state.path().join("config.json5"), config).expect("write config");
        let options = common::inprocess_options(state.path());
        let loaded = load(&options).expect("config loads");
        let gateway = Gateway::new(loaded, options, None);
        let handle = gateway.handle();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            gateway.serve(async {
                let _ = rx.await;
            })
        });
        let addr = wait_until("the in-process gateway to be ready", Duration::from_secs(20), || {
            assert!(!thread.is_finished(), "the gateway ended during start-up");
            handle.ready()?.first().copied()
        });
        Self { state, handle, addr, shutdown: Some(tx), thread: Some(thread) }
    }

    fn token(&self) -> String {
        generated_token(self.state.path())
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.state.path().join("config.json5")
    }

    fn health(&self) -> serde_json::Value {
        let auth = format!("Bearer {}", self.token());
        let (status, body) = http_get_with(self.addr, "/health", &[("Authorization", &auth)]).expect("GET /health");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("health is JSON")
    }

    /// `/healthz` over HTTP, then `connect` with the token and `health` over WebSocket.
    fn assert_answers(&self) {
        assert_eq!(http_get(self.addr, "/healthz").expect("GET /healthz").0, 200);
        let mut ws = Ws::open(self.addr);
        let hello = ws.connect(json!({"auth": {"token": self.token()}})).expect("connect");
        assert_eq!(hello["ok"], true, "{hello}");
        let health = ws.call("health", json!({}));
        assert_eq!(health["ok"], true, "{health}");
    }

    /// Resolves the shutdown future; returns the exit code once `serve` returns.
    fn stop(&mut self) -> i32 {
        self.shutdown.take().expect("not yet stopped").send(()).expect("the gateway is still running");
        let thread = self.thread.take().expect("running");
        wait_until("serve to return after the shutdown future resolved", Duration::from_secs(10), || {
            thread.is_finished().then_some(())
        });
        thread.join().expect("the gateway thread did not panic")
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        // A failed test must not leave a gateway serving in the test process.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn assert_ports_closed(addrs: &[SocketAddr]) {
    assert!(!addrs.is_empty());
    for &addr in addrs {
        wait_until(&format!("{addr} to refuse connections after the stop"), Duration::from_secs(5), || {
            http_get(addr, "/healthz").is_err().then_some(())
        });
    }
}

fn state_of(gw: &InProcess) -> &Path {
    gw.state.path()
}

#[test]
fn start_reload_and_shutdown_in_process() {
    let mut gw = InProcess::start(&level_config("info"));
    gw.assert_answers();
    let h = gw.health();
    assert_eq!(h["config"]["generation"], 1, "{h}");
    assert_eq!(h["logging"]["level"], "info", "{h}");
    assert_eq!(h["listen"][0], gw.addr.to_string(), "{h}");

    std::fs::write(gw.config_path(), level_config("warn")).expect("edit config");
    gw.handle.reload();
    let h = wait_until("the reload through the handle to apply", Duration::from_secs(10), || {
        let h = gw.health();
        (h["config"]["generation"] == 2).then_some(h)
    });
    assert_eq!(h["logging"]["level"], "warn", "{h}");
    assert_eq!(h["config"]["lastReload"]["outcome"], "applied", "{h}");
    assert_eq!(h["config"]["lastReload"]["trigger"], "signal", "{h}");

    let addrs = gw.handle.local_addrs();
    assert_eq!(gw.stop(), 0);
    assert_ports_closed(&addrs);
}

#[test]
fn two_gateways_run_side_by_side_in_one_process() {
    let mut a = InProcess::start(&level_config("info"));
    let mut b = InProcess::start(&level_config("warn"));
    assert_ne!(a.addr, b.addr);
    assert_ne!(state_of(&a), state_of(&b));
    assert_ne!(a.token(), b.token(), "each gateway generates its own token in its own state dir");
    a.assert_answers();
    b.assert_answers();
    assert_eq!(a.health()["logging"]["level"], "info");
    assert_eq!(b.health()["logging"]["level"], "warn");

    let (addrs_a, addrs_b) = (a.handle.local_addrs(), b.handle.local_addrs());
    assert_eq!(a.stop(), 0);
    assert_ports_closed(&addrs_a);
    // Stopping one leaves the other serving.
    b.assert_answers();
    assert_eq!(b.stop(), 0);
    assert_ports_closed(&addrs_b);
}
