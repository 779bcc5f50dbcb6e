//! The Control UI in a real browser: headless Chromium (Debian's package) driven over the
//! DevTools protocol (`common::cdp`) against the real gateway. A failing test leaves a
//! screenshot in `<target>/ui-screenshots/`.

mod common;

use std::time::Duration;

use common::cdp::Browser;
use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};

fn url(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.addr)
}

/// The chat page, its history loaded (sending waits for it).
const CHAT_READY: &str = "document.querySelector('main oc-chat #send') && !document.querySelector('#send').disabled";

/// A browser signed in with the gateway token (typed into the UI, as a first visit does),
/// showing the overview.
fn signed_in(name: &str, gw: &Gateway, path: &str) -> Browser {
    let mut b = Browser::start(name);
    b.navigate(&url(gw, path));
    b.wait("the sign-in form", "document.querySelector('#token')");
    b.fill("#token", &gw.token());
    b.click("#unauthorized button[type=submit]");
    b.wait("the connection", "document.querySelector('#conn').dataset.state === 'connected'");
    b
}

#[test]
fn first_visit_asks_for_the_token_then_shows_health() {
    let gw = Spawn::default().start();
    let mut b = Browser::start("first_visit");
    b.navigate(&url(&gw, "/"));
    let text = b.wait("the sign-in form", "document.querySelector('#unauthorized') && document.body.innerText");
    assert!(text.as_str().unwrap().contains("openclaw dashboard"), "{text}");
    b.fill("#token", "wrong-token");
    b.click("#unauthorized button[type=submit]");
    b.wait(
        "the mismatch to be shown",
        "document.querySelector('#unauthorized .error')?.textContent.includes('token mismatch')",
    );
    b.fill("#token", &gw.token());
    b.click("#unauthorized button[type=submit]");
    let status = b.wait("the health status", "document.querySelector('#health-status')?.textContent");
    assert_eq!(status, "ok");
    assert_eq!(b.eval("document.querySelector('#health-version').textContent"), env!("CARGO_PKG_VERSION"));
    let listen = b.eval("document.querySelector('#health-listen').textContent");
    assert!(listen.as_str().unwrap().contains(&gw.addr.to_string()), "{listen}");
    // The token is kept in the browser, never shown, and a reload connects without asking.
    let body = b.eval("document.body.innerText");
    assert!(!body.as_str().unwrap().contains(&gw.token()), "the token is never displayed");
    b.navigate(&url(&gw, "/overview"));
    b.wait("the health status after a reload", "document.querySelector('#health-status')?.textContent === 'ok'");
    // Page load -> connected -> first data, from the browser's own clock (budget: 300 ms on
    // loopback; the bound here is looser because test machines are shared).
    let ms = b.wait("the first-data mark", "performance.getEntriesByName('openclaw:first-data')[0]?.startTime");
    eprintln!("page load to first data: {ms} ms");
    assert!(ms.as_f64().unwrap() < 1500.0, "{ms} ms");
    // In a secure context (loopback) the browser paired as a device and now holds its token.
    let stored = b.eval("JSON.parse(localStorage.getItem('openclaw.device.auth.v1') || 'null')?.token?.length > 0");
    assert_eq!(stored, true);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn a_dashboard_link_signs_in_and_leaves_no_token_in_the_url() {
    let gw = Spawn::default().start();
    let mut b = Browser::start("dashboard_link");
    b.navigate(&url(&gw, &format!("/#token={}", gw.token())));
    b.wait("the health status", "document.querySelector('#health-status')?.textContent === 'ok'");
    let href = b.eval("location.href");
    assert!(!href.as_str().unwrap().contains("token"), "{href}");
}

#[test]
fn a_chat_reply_streams_in_delta_by_delta() {
    let mock = MockProvider::start();
    let gw = mock.install(Spawn::default(), &["slow-6-150"]).start();
    let mut b = signed_in("chat", &gw, "/chat");
    b.wait("the chat page", CHAT_READY);
    b.wait("the session picker", "document.querySelector('#session').value === 'agent:main:main'");
    // Record when each delta reaches the screen (wall clock, as the provider's).
    b.eval(
        "window.__shown = []; new MutationObserver(() => { \
           const m = document.querySelector('.msg.assistant.streaming .text'); if (!m) return; \
           const n = (m.textContent.match(/tick/g) || []).length; \
           while (window.__shown.length < n) window.__shown.push(performance.timeOrigin + performance.now()); \
         }).observe(document.querySelector('#messages'), {subtree: true, childList: true, characterData: true})",
    );
    b.fill("#message", "hello there");
    b.click("#send");
    // A part of the answer shows while the run is still going: deltas, not only the end.
    let partial = b.wait(
        "a first delta on screen",
        "(() => { const m = document.querySelector('.msg.assistant.streaming .text'); return m && m.textContent.trim() ? m.textContent : ''; })()",
    );
    assert!(partial.as_str().unwrap().starts_with("tick"), "{partial}");
    assert_eq!(b.eval("document.querySelector('#abort').hidden"), false, "Stop shows while running");
    let done = b.wait_for(
        "the final answer",
        "document.querySelector('.msg.assistant.final .text')?.textContent",
        Duration::from_secs(20),
    );
    assert_eq!(done.as_str().unwrap().matches("tick").count(), 6, "{done}");
    // Provider write -> gateway -> WebSocket -> screen, per delta (budget: 20 ms; the bound
    // here is looser because test machines are shared).
    let shown: Vec<f64> = serde_json::from_value(b.eval("window.__shown")).unwrap();
    let sent = mock.seen.delta_sent_ms.lock().unwrap().clone();
    let lags: Vec<f64> = sent.iter().zip(&shown).map(|(s, d)| d - *s as f64).collect();
    eprintln!("delta to screen (ms): {lags:?}");
    assert_eq!(lags.len(), 6, "sent {sent:?}, shown {shown:?}");
    assert!(lags.iter().all(|l| *l < 250.0), "{lags:?}");
    assert!(done.as_str().unwrap().len() > partial.as_str().unwrap().len());
    assert_eq!(b.eval("document.querySelector('#abort').hidden"), true);
    // The history holds the turn after a reload.
    b.navigate(&url(&gw, "/chat"));
    let history = b.wait(
        "the history",
        "document.querySelectorAll('#messages .msg').length >= 2 && document.querySelector('#messages').innerText",
    );
    assert!(history.as_str().unwrap().contains("hello there"), "{history}");
    // A new session, with a thinking level for its first message.
    b.click("#new-session");
    let key = b.wait(
        "the new session selected",
        "document.querySelector('#session').value.startsWith('agent:main:ui-') && document.querySelector('#session').value",
    );
    assert_eq!(b.eval("document.querySelectorAll('#messages .msg').length"), 0, "a new session starts empty");
    b.wait("the new session's history", CHAT_READY);
    b.eval("document.querySelector('#thinking').value = 'low'");
    b.fill("#message", "second thread");
    b.click("#send");
    b.wait_for(
        "the answer in the new session",
        "document.querySelector('.msg.assistant.final')",
        Duration::from_secs(20),
    );
    let mut ws = gw.ws();
    let list = ws.call("sessions.list", json!({}));
    let keys: Vec<&str> =
        list["payload"]["sessions"].as_array().unwrap().iter().filter_map(|s| s["key"].as_str()).collect();
    assert!(keys.contains(&key.as_str().unwrap()) && keys.contains(&"agent:main:main"), "{keys:?}");
}

#[test]
fn chat_shows_a_compact_line_per_tool_call_live_and_in_the_history() {
    let mock = MockProvider::start();
    let spawn = Spawn::default().config("{ agents: { defaults: { model: 'mock/tools-split' } } }");
    std::fs::create_dir_all(spawn.state.path().join("workspace")).unwrap();
    std::fs::write(spawn.state.path().join("workspace/hello.txt"), "hi there\n").unwrap();
    let gw = mock.install(spawn, &["tools-split"]).start();
    let mut b = signed_in("chat_tools", &gw, "/chat");
    b.wait("the chat page", CHAT_READY);
    b.fill("#message", "read hello");
    b.click("#send");
    b.wait_for("the final answer", "document.querySelector('.msg.assistant.final')", Duration::from_secs(20));
    let line = b.eval("document.querySelector('#messages .tool.done')?.textContent");
    assert_eq!(line, "read {\"path\":\"hello.txt\"} → hi there", "{line}");
    // The tool line sits between the question and the answer.
    let order = b.eval("[...document.querySelectorAll('#messages > div')].map((d) => d.className.split(' ')[0] + (d.classList.contains('user') ? ':user' : '')).join(',')");
    assert_eq!(order, "msg:user,tool,msg");
    b.navigate(&url(&gw, "/chat"));
    let line = b.wait("the history's tool line", "document.querySelector('#messages .tool.done')?.textContent");
    assert_eq!(line, "read {\"path\": \"hello.txt\"} → hi there", "the recorded arguments, as sent");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

/// A CLI device connecting from elsewhere (a non-local Host), which must be paired: its
/// refusal (request id and code).
fn remote_cli_connect(gw: &Gateway, id: &Identity) -> Value {
    let token = gw.token();
    let mut ws = Ws::open_with(gw.addr, &[("Host", "192.0.2.10:18789")]);
    let mut params = json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.read"], "auth": {"token": token}});
    let parsed = openclaw::protocol::connect::parse(&params).expect("valid connect params");
    params["device"] = id.prove(&parsed, &token, Some(&ws.nonce()), chrono::Utc::now().timestamp_millis()).to_json();
    ws.send_text(&json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string());
    ws.response().expect("the connect response")
}

#[test]
fn pairing_requests_are_approved_or_rejected_from_the_devices_page() {
    let gw = Spawn::default().start();
    let mut b = signed_in("devices", &gw, "/devices");
    b.wait("the devices page", "document.querySelector('main oc-devices #pending')");
    let cli = Identity::generate();
    let refused = remote_cli_connect(&gw, &cli);
    assert_eq!(refused["error"]["code"], "NOT_PAIRED", "{refused}");
    let (request, code) = (
        refused["error"]["details"]["requestId"].as_str().unwrap().to_string(),
        refused["error"]["details"]["code"].as_str().unwrap().to_string(),
    );
    let row = format!("tr[data-request='{request}']");
    let shown = b.wait("the request with its code", &format!("document.querySelector(\"{row} .code\")?.textContent"));
    assert_eq!(shown, code.as_str());
    b.click(&format!("{row} .approve"));
    b.wait("the request to leave the list", &format!("!document.querySelector(\"{row}\")"));
    b.wait("the device among the paired", &format!("document.querySelector(\"tr[data-device='{}']\")", cli.id()));
    let hello = remote_cli_connect(&gw, &cli);
    assert_eq!(hello["ok"], true, "approved: {hello}");
    // Another one is rejected: it must ask again (a new request).
    let other = Identity::generate();
    let refused = remote_cli_connect(&gw, &other);
    let request = refused["error"]["details"]["requestId"].as_str().unwrap().to_string();
    let row = format!("tr[data-request='{request}']");
    b.wait("the second request", &format!("document.querySelector(\"{row}\")"));
    b.click(&format!("{row} button.danger"));
    b.wait("the rejected request to leave the list", &format!("!document.querySelector(\"{row}\")"));
    let again = remote_cli_connect(&gw, &other);
    assert_eq!(again["error"]["code"], "NOT_PAIRED", "{again}");
    assert_ne!(again["error"]["details"]["requestId"], request.as_str(), "a new request after the rejection");
}

#[test]
fn a_config_change_applies_and_health_shows_the_new_lane_limit() {
    let gw = Spawn::default().config("{ }").start();
    let mut b = signed_in("config", &gw, "/config");
    // The form generated from the schema: one field, saved as a patch.
    let field = "[data-path='agents.defaults.maxConcurrent']";
    b.wait("the settings form", &format!("document.querySelector(\"{field}\")"));
    b.eval("document.querySelector('details[data-group=agents]').open = true");
    // Secrets (uiHints `sensitive`) are masked fields that never hold the value.
    let secret = b.eval("(() => { const e = document.querySelector('[data-path=\"gateway.auth.token\"]'); return e && [e.type, e.value]; })()");
    assert_eq!(secret, json!(["password", ""]));
    b.fill(field, "7");
    b.click("#form-save");
    let hot = b.wait("the save result", "document.querySelector('#applied-hot')?.textContent");
    assert!(hot.as_str().unwrap().contains("agents.defaults.maxConcurrent"), "{hot}");
    assert_eq!(b.eval("document.querySelector('#applied-restart').textContent"), "nothing");
    gw.wait_health("the main lane limit to be 7", |h| h["lanes"]["main"]["limit"] == 7);
    // In the raw file, a bad value is refused with the path named; nothing is written.
    b.wait("the file with the change", "document.querySelector('#config-raw')?.value.includes('maxConcurrent')");
    b.eval(
        "(() => { const ta = document.querySelector('#config-raw'); const c = JSON.parse(ta.value); \
         c.agents.defaults.maxConcurrent = 'lots'; ta.value = JSON.stringify(c); })()",
    );
    b.click("#config-save");
    let issues = b.wait("the validation problems", "document.querySelector('#config-issues')?.textContent");
    assert!(issues.as_str().unwrap().contains("agents.defaults.maxConcurrent"), "{issues}");
    assert_eq!(gw.health()["lanes"]["main"]["limit"], 7);
}

#[test]
fn a_save_over_a_file_changed_underneath_shows_the_conflict_and_reloads() {
    let gw = Spawn::default().config("{ }").start();
    let mut b = signed_in("config_conflict", &gw, "/config");
    b.wait("the config text", "document.querySelector('#config-raw')?.value.trim().startsWith('{')");
    common::write_by_rename(&gw.config_path(), "{ logging: { level: 'debug' } }");
    b.eval(
        "document.querySelector('#config-raw').value = '{ \"agents\": { \"defaults\": { \"maxConcurrent\": 2 } } }'",
    );
    b.click("#config-save");
    b.wait("the conflict", "document.querySelector('#config-conflict')");
    let on_disk = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(on_disk.contains("debug") && !on_disk.contains("maxConcurrent"), "nothing overwritten: {on_disk}");
    b.click("#config-conflict button");
    b.wait("the reloaded file", "document.querySelector('#config-raw').value.includes('debug')");
    b.wait("the conflict to go", "!document.querySelector('#config-conflict')");
}

#[test]
fn logs_stream_into_the_page_and_filter() {
    let gw = Spawn::default().start();
    let mut b = signed_in("logs", &gw, "/logs");
    b.wait("the first log lines", "document.querySelectorAll('#log-lines .line').length > 0");
    // Something new happens: a WebSocket from a foreign origin is refused (and logged).
    let _ = Ws::try_open_with(gw.addr, &[("Origin", "https://evil.example")]);
    b.wait_for(
        "the refusal to reach the page",
        "document.querySelector('#log-lines').innerText.includes('https://evil.example')",
        Duration::from_secs(15),
    );
    b.fill("#log-search", "evil.example");
    let shown = b.eval("[...document.querySelectorAll('#log-lines .line')].map(l => l.textContent)");
    let shown = shown.as_array().unwrap();
    assert!(!shown.is_empty() && shown.iter().all(|l| l.as_str().unwrap().contains("evil.example")), "{shown:?}");
    b.eval("document.querySelector('#log-level').value = 'error'; document.querySelector('#log-level').dispatchEvent(new Event('change'))");
    assert_eq!(b.eval("document.querySelectorAll('#log-lines .line').length"), 0, "no errors logged");
}

#[test]
fn cron_jobs_run_now_toggle_and_edit_and_a_bad_schedule_is_refused() {
    let gw = Spawn::default().start();
    let mut ws = gw.ws();
    let added = ws.call(
        "cron.add",
        json!({"name": "ui-backup", "schedule": "0 3 * * *", "payload": {"kind": "backupSessions", "keep": 2}}),
    );
    let id = added["payload"]["job"]["id"].as_str().unwrap().to_string();
    let mut b = signed_in("cron", &gw, "/cron");
    let row = format!("tr[data-job='{id}']");
    b.wait("the job", &format!("document.querySelector(\"{row}\")"));
    b.click(&format!("{row} .run-now"));
    let status = b.wait_for(
        "the run in the history",
        "document.querySelector('#cron-history .run-status')?.textContent",
        Duration::from_secs(20),
    );
    assert_eq!(status, "ok");
    // Disable, then edit the schedule through the form.
    b.click(&format!("{row} input[type=checkbox]"));
    common::wait_until("the job to be disabled", Duration::from_secs(10), || {
        let list = ws.call("cron.list", json!({"includeDisabled": true}));
        (list["payload"]["jobs"][0]["enabled"] == false).then_some(())
    });
    b.wait(
        "the list to show it off",
        &format!("document.querySelector(\"{row} input[type=checkbox]\").checked === false"),
    );
    b.click(&format!("{row} .edit"));
    b.wait("the edit form", "document.querySelector('#cron-save').textContent === 'Save'");
    b.fill("#cron-schedule", "30 4 * * *");
    b.click("#cron-save");
    common::wait_until("the new schedule to be stored", Duration::from_secs(10), || {
        let list = ws.call("cron.list", json!({"includeDisabled": true}));
        (list["payload"]["jobs"][0]["schedule"] == "30 4 * * *").then_some(())
    });
    b.wait("the form to be back to adding", "document.querySelector('#cron-save').textContent === 'Add'");
    // The gateway checks the schedule: the form shows its refusal and nothing is added.
    b.fill("#cron-name", "bad");
    b.fill("#cron-schedule", "61 * * * *");
    b.click("#cron-save");
    let err = b.wait("the schedule refusal", "document.querySelector('#cron-error').textContent");
    assert!(err.as_str().unwrap().contains("not valid"), "{err}");
    let jobs = ws.call("cron.list", json!({"includeDisabled": true}));
    assert_eq!(jobs["payload"]["jobs"].as_array().unwrap().len(), 1, "{jobs}");
}

#[test]
fn the_ui_reconnects_after_a_gateway_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let gw = Spawn::default().arg("--port").arg(&port).start();
    let mut b = signed_in("reconnect", &gw, "/");
    b.wait("the health status", "document.querySelector('#health-status')?.textContent === 'ok'");
    let state = gw.stop_keep_state();
    b.wait("the reconnecting state", "document.querySelector('#reconnecting')");
    let gw = Spawn::in_state(state).arg("--port").arg(&port).start();
    b.wait_for(
        "the connection to come back",
        "document.querySelector('#conn').dataset.state === 'connected' && document.querySelector('#health-status')?.textContent === 'ok'",
        Duration::from_secs(30),
    );
    drop(gw);
}

#[test]
fn an_operators_ui_build_from_control_ui_root_gets_its_globals() {
    let root = format!("{}/tests/fixtures/control-ui", env!("CARGO_MANIFEST_DIR"));
    let cfg = format!("{{ gateway: {{ controlUi: {{ basePath: '/ui', root: '{root}' }} }} }}");
    let gw = Spawn::default().config(&cfg).start();
    let mut b = Browser::start("control_ui_root");
    b.navigate(&url(&gw, "/ui"));
    let out = b.wait(
        "the fixture to read the globals",
        "document.querySelector('#out')?.textContent.startsWith('{') && document.querySelector('#out').textContent",
    );
    let globals: Value = serde_json::from_str(out.as_str().unwrap()).unwrap();
    assert_eq!(globals, json!({"base": "/ui", "name": "Assistant", "avatar": "A"}));
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn a_browser_waiting_for_pairing_shows_the_approve_command_and_connects_once_approved() {
    // In device-pairing mode a device alone (no token) waits for an operator, local or not.
    let gw = Spawn::default().config("{ gateway: { auth: { mode: 'device-pairing' } } }").start();
    let mut b = Browser::start("pairing_state");
    b.navigate(&url(&gw, "/"));
    let command = b.wait("the pairing state", "document.querySelector('#pair-command')?.textContent");
    let code = b.eval("document.querySelector('#pair-code').textContent");
    assert!(code.as_str().unwrap().len() == 6, "{code}");
    let args: Vec<&str> = command.as_str().unwrap().split_whitespace().collect();
    assert_eq!(args[..3], ["openclaw", "devices", "approve"], "{command}");
    // The command as shown, run on the gateway host (pointed at this test's port).
    let gw_url = format!("ws://{}", gw.addr);
    let cli = [&args[1..2], &["--url", &gw_url], &args[2..]].concat();
    let (status, out, err) = common::run(gw.state_path(), &cli, &[]);
    assert_eq!(status, 0, "{out}{err}");
    b.wait_for(
        "the browser to connect after the approval",
        "document.querySelector('#conn').dataset.state === 'connected' && document.querySelector('#health-status')?.textContent === 'ok'",
        Duration::from_secs(20),
    );
}

/// Every page renders with data and without a script error. With `UI_SCREENSHOTS` set to a
/// directory, each page's screenshot is saved there (how docs/ screenshots are made).
#[test]
fn every_page_renders_without_errors() {
    let mock = MockProvider::start();
    let gw = mock.install(Spawn::default().config("{ }"), &["ok"]).start();
    let mut ws = gw.ws();
    ws.call(
        "cron.add",
        json!({"name": "nightly backup", "schedule": "0 3 * * *", "payload": {"kind": "backupSessions", "keep": 7}}),
    );
    let mut b = signed_in("every_page", &gw, "/");
    let shots = std::env::var_os("UI_SCREENSHOTS").map(std::path::PathBuf::from);
    let pages = [
        ("overview", "#health-status"),
        ("chat", "#session option"),
        ("sessions", "tr[data-key]"),
        ("cron", "tr[data-job]"),
        ("devices", "tr[data-device]"),
        ("memory", "tr[data-memory-agent]"),
        ("channels", "#channels-accounts > *"),
        ("config", "[data-path=\"agents.defaults.maxConcurrent\"]"),
        ("logs", "#log-lines .line"),
    ];
    for (page, ready) in pages {
        b.click(&format!("nav a[data-page={page}]"));
        b.wait(&format!("the {page} page with data"), &format!("document.querySelector('main oc-{page} {ready}')"));
        if page == "chat" {
            b.wait("the chat history", CHAT_READY);
            b.fill("#message", "What can you do?");
            b.click("#send");
            b.wait("the answer", "document.querySelector('.msg.assistant.final')");
        }
        if page == "config" {
            b.eval("document.querySelector('details[data-group=agents]').open = true");
        }
        assert_eq!(b.eval("location.pathname"), format!("/{page}"));
        assert_eq!(b.eval("document.querySelector(`main .status .error`)?.textContent ?? ''"), "", "{page}");
        if let Some(dir) = &shots {
            b.save_screenshot(dir, &format!("control-ui-{page}")).expect("screenshot");
        }
    }
    // The theme follows the system's colour scheme.
    let bg = "getComputedStyle(document.body).backgroundColor";
    let light = b.eval(bg);
    b.send("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}));
    let dark = b.eval(bg);
    assert_ne!(light, dark, "a dark background under prefers-color-scheme: dark");
    if let Some(dir) = &shots {
        b.click("nav a[data-page=overview]");
        b.wait("the overview", "document.querySelector('#health-status')");
        b.save_screenshot(dir, "control-ui-overview-dark").expect("screenshot");
    }
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn sessions_are_previewed_renamed_and_deleted_and_a_run_can_be_stopped() {
    let mock = MockProvider::start();
    let gw = mock.install(Spawn::default(), &["slow-40-100"]).start();
    let mut b = signed_in("sessions", &gw, "/chat");
    b.wait("the chat page", CHAT_READY);
    b.fill("#message", "count slowly");
    b.click("#send");
    b.wait("a first delta", "document.querySelector('.msg.assistant.streaming .text')?.textContent.trim()");
    b.click("#abort");
    b.wait("the stopped run", "document.querySelector('.msg.assistant.aborted')");
    assert_eq!(b.eval("document.querySelector('#abort').hidden"), true);

    b.click("nav a[data-page=sessions]");
    let row = "tr[data-key='agent:main:main']";
    b.wait("the session", &format!("document.querySelector(\"{row}\")"));
    b.click(&format!("{row} .preview"));
    let preview = b.wait("the preview", "document.querySelector('#preview')?.textContent");
    assert!(preview.as_str().unwrap().contains("count slowly"), "{preview}");
    b.fill(&format!("{row} input"), "slow counting");
    // The rename re-renders the list: mark this row so the next click waits for its successor.
    b.eval(&format!("document.querySelector(\"{row}\").dataset.before = '1'"));
    b.click(&format!("{row} .rename"));
    let mut ws = gw.ws();
    common::wait_until("the label to be stored", Duration::from_secs(10), || {
        let list = ws.call("sessions.list", json!({}));
        (list["payload"]["sessions"][0]["label"] == "slow counting").then_some(())
    });
    b.wait("the list shown again after the rename", &format!("!document.querySelector(\"{row}\")?.dataset.before"));
    b.click(&format!("{row} .delete"));
    b.click(&format!("{row} .delete"));
    b.wait("the session to be gone", &format!("!document.querySelector(\"{row}\")"));
    assert_eq!(ws.call("sessions.list", json!({}))["payload"]["count"], 0);
}

/// The overview follows the gateway: a child's crash shows as a restart with its reason.
#[cfg(feature = "fault-injection")]
#[test]
fn the_overview_shows_a_childs_restart_and_its_last_failure() {
    let gw = Spawn::default().start();
    let mut b = signed_in("overview_restart", &gw, "/");
    b.wait("the children", "document.querySelector('main oc-overview table td')");
    let lane = b.eval("document.querySelector('tr[data-lane=main] .limit').textContent");
    assert_eq!(lane, gw.health()["lanes"]["main"]["limit"].to_string());
    let (status, body) = common::http_post(gw.addr, "/__fault/panic/cron").expect("POST /__fault/panic/cron");
    assert_eq!(status, 202, "{body}");
    let row = b.wait_for(
        "the cron child's restart on the page",
        "[...document.querySelectorAll('main oc-overview tr')].map(r => r.innerText).find(t => t.startsWith('cron') && t.includes('\\t1\\t'))",
        Duration::from_secs(15),
    );
    assert!(row.as_str().unwrap().contains("panic"), "{row}");
}

#[test]
fn a_waiting_host_command_is_approved_from_the_approvals_page() {
    let mock = MockProvider::start();
    let gw = mock.install(Spawn::default(), &["call-exec"]).start();
    let mut b = signed_in("approvals", &gw, "/approvals");
    b.wait("the approvals page", "document.querySelector('main oc-approvals #approvals')");
    // An agent run in the main session (host exec; no approvals file: the miss is asked about).
    let mut ws = Ws::open(gw.addr);
    let hello = ws.connect(json!({"auth": {"token": gw.token()}})).unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    let params = json!({"message": json!({"command": "echo from-the-ui"}).to_string(), "model": "mock/call-exec",
                        "sessionKey": "agent:main:main", "idempotencyKey": "ui-approval"});
    ws.send_text(&json!({"type": "req", "id": "run", "method": "agent", "params": params}).to_string());
    let id = ws.event("exec.approval.requested").unwrap()["payload"]["id"].as_str().unwrap().to_string();
    let row = format!("tr[data-approval='{id}']");
    let shown = b.wait("the request on the page", &format!("document.querySelector(\"{row} .command\")?.textContent"));
    assert_eq!(shown, "echo from-the-ui");
    b.click(&format!("{row} .approve"));
    b.wait("the request to leave the list", &format!("!document.querySelector(\"{row}\")"));
    // The run's final answer (its "accepted" one went by while waiting for the request).
    let mut result = None;
    loop {
        let v = ws.recv().unwrap();
        if v["type"] == "res" && v["id"] == "run" && v["payload"]["status"] != "accepted" {
            break;
        } else if v["event"] == "agent" && v["payload"]["stream"] == "tool" && v["payload"]["data"]["phase"] == "result"
        {
            result = Some(v["payload"]["data"].clone());
        }
    }
    let r = result.expect("the tool's result");
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "from-the-ui\n");
}

#[test]
fn the_memory_page_shows_the_index_and_finds_a_note() {
    let spawn = Spawn::default().config("{ }");
    let ws_dir = spawn.state.path().join("workspace/memory");
    std::fs::create_dir_all(&ws_dir).unwrap();
    std::fs::write(ws_dir.join("2026-12-01.md"), "Standup moved to 9:30 on Mondays.\n").unwrap();
    std::fs::write(spawn.state.path().join("workspace/MEMORY.md"), "Prefers tea over coffee.\n").unwrap();
    let gw = spawn.start();
    let mut b = signed_in("memory", &gw, "/memory");
    let files = b.wait(
        "the index status with both files",
        "document.querySelector(\"main oc-memory tr[data-memory-agent='main'] .files\")?.textContent === '2' || null",
    );
    assert_eq!(files, true);
    let mode = b.eval("document.querySelector(\"tr[data-memory-agent='main'] .mode\").textContent");
    assert!(mode.as_str().unwrap().contains("keyword-only"), "{mode}");
    b.fill("#memory-query", "standup");
    b.click("#memory-search");
    let path = b.wait("a result", "document.querySelector('#memory-results .path')?.textContent");
    assert_eq!(path, "memory/2026-12-01.md:1-1");
    let snippet = b.eval("document.querySelector('#memory-results .snippet').textContent");
    assert_eq!(snippet, "Standup moved to 9:30 on Mondays.");
    b.fill("#memory-query", "zebra");
    b.click("#memory-search");
    b.wait("no results", "document.querySelector('#memory-none')");
}

#[test]
fn the_channels_page_shows_a_connected_channel_and_approves_a_pairing_code() {
    use common::discord::{FakeDiscord, MessageSpec};
    let fake = FakeDiscord::start("ui-token");
    let mock = MockProvider::start();
    let gw = mock
        .install(
            Spawn::default().config("{ agents: { defaults: { model: 'mock/say' } }, channels: { discord: {} } }"),
            &["say"],
        )
        .env("OPENCLAW_DISCORD_API_BASE", &fake.api_base())
        .env("OPENCLAW_DISCORD_GATEWAY_URL", &fake.gateway_url())
        .env("DISCORD_BOT_TOKEN", "ui-token")
        .start();
    fake.wait_ready_sessions(1, Duration::from_secs(15));
    fake.send(MessageSpec::dm("D5", "U5", "hello?"));
    let posts = fake.wait_posted(1, Duration::from_secs(15));
    assert!(posts[0].content.contains("Pairing code:"), "{posts:?}");
    let mut b = signed_in("channels", &gw, "/channels");
    b.wait(
        "the Discord account shown connected",
        "document.querySelector(\"main oc-channels tr[data-channel='discord'] .state\")?.textContent === 'connected' || null",
    );
    b.wait("the pairing request", "document.querySelector('#channels-pairing tr[data-code]')");
    b.click("#channels-pairing button.approve");
    b.wait("the request approved", "document.querySelector('#pairing-none')");
    b.click("#channels-probe");
    b.wait(
        "the probe's answer",
        "document.querySelector(\"tr[data-channel='discord'] .probe\")?.textContent.startsWith('ok') || null",
    );
    fake.send(MessageSpec::dm("D5", "U5", "answered now"));
    let posts = fake.wait_posted(2, Duration::from_secs(15));
    assert_eq!(posts[1].content, "answered now");
}
