//! A small Chrome DevTools Protocol client for the browser tests: starts Debian's headless
//! Chromium on a private profile, attaches to its page over the DevTools WebSocket (sync
//! tungstenite, like the rest of this harness), and navigates, evaluates (awaiting promises)
//! and captures screenshots. A failing test leaves a screenshot in `ui-screenshots/` beside
//! the target's tmp dir. No browser is downloaded: `/usr/bin/chromium` or `$CHROMIUM`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::wait_until;

/// One browser at a time: the machine's cores are shared, and Chromium is heavy.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long one CDP command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Where failing tests leave their screenshots (kept between runs).
pub fn screenshot_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("ui-screenshots"), |t| t.join("ui-screenshots"))
}

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<TcpStream>,
    next: u64,
    /// Uncaught exceptions, console errors and the browser's own errors (CSP violations,
    /// failed loads) of the page.
    pub errors: Vec<String>,
    /// The test's name: the screenshot's file name if it fails.
    name: String,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts Chromium and attaches to its first page. `name` names the failure screenshot.
    pub fn start(name: &str) -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let profile = tempfile::tempdir().expect("profile dir");
        // --no-sandbox: Chromium's sandbox cannot start as root, which these tests run as.
        let child = Command::new(chromium())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} (scripts/setup installs chromium)", chromium().display()));
        let port_file = profile.path().join("DevToolsActivePort");
        let port: u16 = wait_until("Chromium to write DevToolsActivePort", Duration::from_secs(30), || {
            std::fs::read_to_string(&port_file).ok()?.lines().next()?.trim().parse().ok()
        });
        let page_ws = wait_until("Chromium's page target", Duration::from_secs(10), || {
            let list: Value = serde_json::from_str(&http_get(port, "/json/list").ok()?).ok()?;
            list.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"].as_str().map(str::to_string)
        });
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (ws, _) = tungstenite::client(page_ws.as_str(), stream).expect("DevTools WebSocket");
        // Short reads from here on: `request` loops to its own deadline.
        ws.get_ref().set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut b = Self { child, _profile: profile, ws, next: 0, errors: Vec::new(), name: name.into(), _turn: turn };
        b.send("Page.enable", json!({}));
        b.send("Runtime.enable", json!({}));
        // The browser's own errors too: CSP violations, failed loads.
        b.send("Log.enable", json!({}));
        b
    }

    /// Sends one command and waits for its answer (events in between are noted).
    pub fn send(&mut self, method: &str, params: Value) -> Value {
        self.request(method, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`send`](Self::send) without panicking (for use while a test is already failing).
    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next += 1;
        let id = self.next;
        let cmd = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(cmd)).map_err(|e| format!("CDP send {method}: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if Instant::now() > deadline {
                return Err(format!("no answer to CDP {method} within {COMMAND_TIMEOUT:?}"));
            }
            let msg = match self.ws.read() {
                Ok(Message::Text(t)) => t,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => return Err(format!("CDP connection: {e}")),
            };
            let v: Value = serde_json::from_str(&msg).map_err(|e| format!("CDP JSON: {e}"))?;
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(format!("CDP {method}: {e}")),
                    None => Ok(v["result"].clone()),
                };
            }
            self.note(&v);
        }
    }

    fn note(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                self.errors.push(format!("exception: {}", v["params"]["exceptionDetails"]));
            }
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                self.errors.push(format!("console.error: {}", v["params"]["args"]));
            }
            Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => {
                let e = &v["params"]["entry"];
                self.errors.push(format!("{}: {} {}", e["source"], e["text"], e["url"]));
            }
            _ => {}
        }
    }

    /// Opens `url` and waits until the new document has loaded (the old one is marked, so
    /// its own "complete" does not count).
    pub fn navigate(&mut self, url: &str) {
        self.eval("window.__leaving = true");
        self.send("Page.navigate", json!({"url": url}));
        self.wait("the page to load", "!window.__leaving && document.readyState === 'complete'");
    }

    /// Evaluates `expr` in the page (awaiting a promise) and returns its JSON value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.send("Runtime.evaluate", json!({"expression": expr, "awaitPromise": true, "returnByValue": true}));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("page threw evaluating {expr:?}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy (returns it), or fails naming `what` after 15 s.
    pub fn wait(&mut self, what: &str, expr: &str) -> Value {
        self.wait_for(what, expr, Duration::from_secs(15))
    }

    pub fn wait_for(&mut self, what: &str, expr: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(expr);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText.slice(0, 2000) : ''");
                panic!(
                    "timed out after {timeout:?} waiting for: {what}\npage text: {text}\npage errors: {:?}",
                    self.errors
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the first element matching `selector` (it must exist).
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.click(); return true; }})()"
        ));
        assert_eq!(found, true, "no element {selector} to click");
    }

    /// Sets an input's value as typing would (an `input` event follows).
    pub fn fill(&mut self, selector: &str, value: &str) {
        let (sel, val) = (serde_json::to_string(selector).unwrap(), serde_json::to_string(value).unwrap());
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.value = {val}; e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
        ));
        assert_eq!(found, true, "no element {selector} to fill");
    }

    pub fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        let r = self.request("Page.captureScreenshot", json!({"format": "png"}))?;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .map_err(|e| format!("screenshot base64: {e}"))
    }

    /// Saves a screenshot as `<dir>/<name>.png`.
    pub fn save_screenshot(&mut self, dir: &std::path::Path, name: &str) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.screenshot()?).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let (dir, name) = (screenshot_dir(), self.name.clone());
            // Best effort, never a panic here: the browser may be what failed.
            match self.save_screenshot(&dir, &name) {
                Ok(path) => eprintln!("screenshot of the failing page: {}", path.display()),
                Err(e) => eprintln!("no screenshot: {e}"),
            }
            eprintln!("page errors: {:?}", self.errors);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET to the DevTools HTTP endpoint; the body. Its server keeps the connection open, so
/// the body is read to its Content-Length.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf)?;
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
            });
            if n == 0 || len.is_some_and(|len| body.len() >= len) {
                return Ok(body.to_string());
            }
        }
        if n == 0 {
            return Err(std::io::Error::other("DevTools closed the connection early"));
        }
    }
}
