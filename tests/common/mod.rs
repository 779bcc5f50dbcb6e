//! Test harness: start the real `openclaw` binary on 127.0.0.1:0 with its own state dir,
//! read its JSON logs, speak HTTP to it, send it signals. Every wait has a deadline.
#![allow(dead_code)]

pub mod cdp;
pub mod discord;
pub mod embedder;
pub mod hostile;
pub mod loopback;
pub mod provider;
pub mod slack;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// Polls `check` until it returns Some, or panics with `what` after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A command for the binary with a clean environment (no OPENCLAW_* from the host).
pub fn command(state: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", state)
        // A channel configured by a test without a fake talks to a closed loopback port, never
        // to Discord or Slack.
        .env("OPENCLAW_DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
        .env("OPENCLAW_DISCORD_GATEWAY_URL", "ws://127.0.0.1:9/gateway")
        .env("OPENCLAW_SLACK_API_BASE", "http://127.0.0.1:9/api")
        .arg("--state-dir")
        .arg(state);
    c
}

pub struct Gateway {
    pub child: Child,
    pub state: tempfile::TempDir,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
}

pub struct Spawn {
    pub state: tempfile::TempDir,
    pub config: Option<String>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// A directory the gateway sees read-only (a bind mount in a private mount namespace).
    pub read_only: Option<PathBuf>,
    /// A file the gateway sees as empty (/dev/null bound over it the same way): a library it
    /// cannot load.
    pub hidden: Option<PathBuf>,
}

impl Default for Spawn {
    fn default() -> Self {
        Self::in_state(tempfile::tempdir().expect("tempdir"))
    }
}

impl Spawn {
    /// A gateway on an existing state directory (a restart).
    pub fn in_state(state: tempfile::TempDir) -> Self {
        Self { state, config: None, env: Vec::new(), args: Vec::new(), read_only: None, hidden: None }
    }

    pub fn hide(mut self, file: &Path) -> Self {
        self.hidden = Some(file.to_path_buf());
        self
    }

    pub fn read_only(mut self, dir: &Path) -> Self {
        self.read_only = Some(dir.to_path_buf());
        self
    }

    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_string());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// Starts the gateway without waiting for it to become ready.
    pub fn spawn_raw(self) -> (Child, tempfile::TempDir, Arc<Mutex<Vec<String>>>) {
        if let Some(text) = &self.config {
            std::fs::write(self.state.path().join("config.json5"), text).expect("write config");
        }
        let mount = match (&self.read_only, &self.hidden) {
            (Some(dir), _) => Some(("mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"", dir)),
            (None, Some(file)) => Some(("mount --bind /dev/null \"$0\" && exec \"$@\"", file)),
            (None, None) => None,
        };
        let mut c = command(self.state.path());
        if let Some((script, path)) = mount {
            c = in_mount_namespace(&c, script, path);
        }
        c.args(["gateway", "--log-format", "json"]);
        let file_sets_port = self.config.as_deref().is_some_and(|c| c.contains("port:"));
        if !file_sets_port && !self.args.iter().any(|a| a == "--port") {
            c.args(["--port", "0"]);
        }
        c.args(&self.args).envs(self.env.iter().cloned()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn openclaw");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        (child, self.state, logs)
    }

    /// Starts the gateway and waits until it logs "gateway ready".
    pub fn start(self) -> Gateway {
        let (child, state, logs) = self.spawn_raw();
        // A gateway that never gets ready goes with the failed test, not left running.
        let mut guard = KillOnDrop(Some(child));
        let addr = wait_until("the gateway to log `gateway ready`", Duration::from_secs(20), || {
            let child = guard.0.as_mut().expect("the child until ready");
            if let Ok(Some(st)) = child.try_wait() {
                panic!("gateway exited early with {st}: {:#?}", logs.lock().unwrap());
            }
            let logs = logs.lock().unwrap();
            logs.iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                if v["fields"]["message"] != "gateway ready" {
                    return None;
                }
                v["fields"]["listen"].as_str()?.split(',').next()?.parse().ok()
            })
        });
        let child = guard.0.take().expect("the child until ready");
        Gateway { child, state, logs, addr }
    }
}

/// Kills (and reaps) the child it holds when dropped, as a panic unwinds.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            kill(c);
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `c` run by `sh -c script` in a private mount namespace (`$0` is `path`); unshare execs in
/// place, so the child is the command itself.
pub fn in_mount_namespace(c: &Command, script: &str, path: &Path) -> Command {
    let mut u = Command::new("unshare");
    u.env_clear().envs(c.get_envs().filter_map(|(k, v)| Some((k, v?)))).args(["-m", "sh", "-c", script]);
    u.arg(path).arg(c.get_program()).args(c.get_args());
    u
}

impl Gateway {
    pub fn state_path(&self) -> &Path {
        self.state.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.state.path().join("config.json5")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill({sig})");
    }

    /// The token the gateway generated (token mode with nothing configured).
    pub fn token(&self) -> String {
        generated_token(self.state_path())
    }

    /// A WebSocket session authenticated with the generated token.
    pub fn ws(&self) -> Ws {
        let mut ws = Ws::open(self.addr);
        let hello = ws.connect(serde_json::json!({"auth": {"token": self.token()}})).expect("connect");
        assert_eq!(hello["ok"], true, "{hello}");
        ws
    }

    pub fn health(&self) -> serde_json::Value {
        let (status, body) = self.get("/health").expect("GET /health");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("health is JSON")
    }

    /// Waits until `/health` satisfies `pred`.
    /// GET over plain HTTP, or over TLS when the gateway serves TLS.
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        match http_get(self.addr, path) {
            Ok(r) if r.0 != 400 || !self.dump_logs().contains("TLS certificate loaded") => Ok(r),
            _ => https_get(self.addr, path),
        }
    }

    pub fn wait_health(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        wait_until(what, Duration::from_secs(10), || {
            let h = self.get("/health").ok().and_then(|(_, b)| serde_json::from_str(&b).ok())?;
            pred(&h).then_some(h)
        })
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        wait_until("the gateway to exit", timeout, || child.try_wait().ok().flatten())
    }

    pub fn has_log(&self, needle: &str) -> bool {
        self.logs.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn wait_log(&self, needle: &str) {
        wait_until(&format!("a log line containing {needle:?}"), Duration::from_secs(10), || {
            self.has_log(needle).then_some(())
        });
    }

    pub fn dump_logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Gateway {
    /// Stops the gateway with SIGTERM (it must exit 0) and hands back its state directory.
    pub fn stop_keep_state(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGTERM);
        let st = self.wait_exit(Duration::from_secs(20));
        assert_eq!(st.code(), Some(0), "{}", self.dump_logs());
        std::mem::replace(&mut self.state, tempfile::tempdir().expect("tempdir"))
    }

    /// Kills the gateway with SIGKILL and hands back its state directory.
    pub fn kill_keep_state(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(10));
        std::mem::replace(&mut self.state, tempfile::tempdir().expect("tempdir"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// One HTTP/1.1 GET; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    http(addr, "GET", path)
}

/// One HTTPS GET (certificate not verified).
pub fn https_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).map_err(std::io::Error::other)?;
    b.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let mut s = b
        .build()
        .configure()
        .map_err(std::io::Error::other)?
        .verify_hostname(false)
        .connect("localhost", stream)
        .map_err(std::io::Error::other)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    parse_response(&raw)
}

/// One HTTP/1.1 POST with an empty JSON body (writes must be JSON: the forgery rule).
pub fn http_post(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "POST", path, &[("Content-Type", "application/json")])
}

fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, method, path, &[])
}

/// A GET with extra headers.
pub fn http_get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, headers)
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &str) -> std::io::Result<(u16, String)> {
    let bad = || std::io::Error::other(format!("bad HTTP response: {raw:?}"));
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// Writes `text` to `path` the way editors do: a temp file renamed over the original.
pub fn write_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("swp-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Runs the binary to completion with `args` in `state`.
pub fn run(state: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = command(state)
        .args(args)
        .envs(env.iter().map(|(a, b)| (a.to_string(), b.to_string())))
        .output()
        .expect("run openclaw");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A WebSocket client speaking protocol v3 (blocking, with read timeouts).
pub struct Ws {
    pub ws: tungstenite::WebSocket<TcpStream>,
    pub challenge: serde_json::Value,
    next_id: u64,
    /// Events read while waiting for a response, for `event()` to find later.
    skipped: std::collections::VecDeque<serde_json::Value>,
}

pub type WsResult = Result<serde_json::Value, (u16, String)>;

impl Ws {
    /// Connects and reads the `connect.challenge` event.
    pub fn open(addr: SocketAddr) -> Self {
        Self::open_with(addr, &[])
    }

    pub fn open_with(addr: SocketAddr, headers: &[(&str, &str)]) -> Self {
        Self::try_open_with(addr, headers).unwrap_or_else(|(status, body)| panic!("upgrade refused: {status} {body}"))
    }

    /// Connects, or returns the HTTP status and body of a refused upgrade.
    pub fn try_open_with(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Self, (u16, String)> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{addr}/")).unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                tungstenite::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut ws = match tungstenite::client(req, stream) {
            Ok((ws, _)) => ws,
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                let body = r.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                return Err((r.status().as_u16(), body));
            }
            Err(e) => panic!("websocket handshake: {e}"),
        };
        let challenge: serde_json::Value = match ws.read().expect("challenge") {
            tungstenite::Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected the challenge, got {other:?}"),
        };
        assert_eq!(challenge["event"], "connect.challenge");
        Ok(Self { ws, challenge, next_id: 0, skipped: Default::default() })
    }

    /// Like [`Ws::try_open_with`], but every failure (refused, reset, closed mid-handshake) is
    /// an `Err` with its text instead of a panic: for tests that kill the gateway under a client.
    pub fn dial(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Self, String> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{addr}/"))
            .map_err(|e| e.to_string())?;
        for (k, v) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                tungstenite::http::HeaderValue::from_str(v).map_err(|e| e.to_string())?,
            );
        }
        let (mut ws, _) = tungstenite::client(req, stream).map_err(|e| e.to_string())?;
        let challenge: serde_json::Value = match ws.read().map_err(|e| e.to_string())? {
            tungstenite::Message::Text(t) => serde_json::from_str(t.as_str()).map_err(|e| e.to_string())?,
            other => return Err(format!("expected the challenge, got {other:?}")),
        };
        Ok(Self { ws, challenge, next_id: 0, skipped: Default::default() })
    }

    /// A client over a WebSocket the caller opened itself, after its challenge.
    pub fn from_parts(ws: tungstenite::WebSocket<TcpStream>, challenge: serde_json::Value) -> Self {
        Self { ws, challenge, next_id: 0, skipped: Default::default() }
    }

    pub fn nonce(&self) -> String {
        self.challenge["payload"]["nonce"].as_str().unwrap().to_string()
    }

    pub fn send_text(&mut self, t: &str) {
        self.ws.send(tungstenite::Message::text(t)).expect("send");
    }

    /// Next JSON frame, or the close frame as Err((code, reason)).
    pub fn recv(&mut self) -> WsResult {
        loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => return Ok(serde_json::from_str(&t).unwrap()),
                Ok(tungstenite::Message::Close(c)) => {
                    return Err(c.map(|c| (u16::from(c.code), c.reason.to_string())).unwrap_or((1005, String::new())));
                }
                Ok(_) => continue,
                // A signal to this process (the in-process tests send SIGHUP to themselves)
                // interrupts the blocking read; nothing was consumed, so read again.
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                    return Err((1006, "closed".into()));
                }
                Err(e) => return Err((1006, format!("{e}"))),
            }
        }
    }

    /// Next response frame (skipping events).
    pub fn response(&mut self) -> WsResult {
        loop {
            let v = self.recv()?;
            if v["type"] == "res" {
                return Ok(v);
            }
            self.skipped.push_back(v);
        }
    }

    /// Next event named `name` (skipping others), including ones read during `call`.
    pub fn event(&mut self, name: &str) -> WsResult {
        if let Some(i) = self.skipped.iter().position(|v| v["event"] == name) {
            return Ok(self.skipped.remove(i).expect("index"));
        }
        loop {
            let v = self.recv()?;
            if v["type"] == "event" && v["event"] == name {
                return Ok(v);
            }
        }
    }

    /// Sends a request and returns its response.
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        self.send_text(&serde_json::json!({"type": "req", "id": id, "method": method, "params": params}).to_string());
        loop {
            let v = self.response().unwrap_or_else(|c| panic!("closed while waiting for {method}: {c:?}"));
            if v["id"] == id {
                return v;
            }
        }
    }

    /// Sends `connect` with these params merged over a valid base; returns the response.
    pub fn connect(&mut self, extra: serde_json::Value) -> WsResult {
        let mut params = serde_json::json!({"minProtocol": 3, "maxProtocol": 3,
            "client": {"id": "test", "version": "1.0", "platform": "linux", "mode": "test"}});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                p.insert(k.clone(), v.clone());
            }
        }
        self.send_text(
            &serde_json::json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string(),
        );
        self.response()
    }

    /// After a failed connect: the close frame.
    pub fn closed(&mut self) -> (u16, String) {
        loop {
            if let Err(c) = self.recv() {
                return c;
            }
        }
    }
}

/// The gateway's generated token (token mode with nothing configured).
pub fn generated_token(state: &Path) -> String {
    std::fs::read_to_string(state.join("secrets/gateway_token")).expect("generated token").trim().to_string()
}

/// A wss connection (certificate not verified by a CA: the test pins the fingerprint) and the
/// SHA-256 fingerprint the server presented.
pub fn wss_open(addr: SocketAddr) -> (tungstenite::WebSocket<openssl::ssl::SslStream<TcpStream>>, String) {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    b.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let tls =
        b.build().configure().unwrap().verify_hostname(false).connect("localhost", stream).expect("TLS handshake");
    let cert = tls.ssl().peer_certificate().expect("server certificate");
    let fp = openclaw::net::tls::fingerprint(&cert);
    let (mut ws, _) = tungstenite::client(format!("wss://{addr}/"), tls).expect("websocket over TLS");
    let challenge = ws.read().expect("challenge");
    assert!(challenge.to_text().unwrap().contains("connect.challenge"));
    (ws, fp)
}

/// Sends `connect` then `health` on a wss connection; returns the health response.
pub fn wss_hello_and_health<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>, token: &str) -> serde_json::Value {
    let connect = serde_json::json!({"type":"req","id":"c","method":"connect","params":{"minProtocol":3,"maxProtocol":3,
        "client":{"id":"test","version":"1","platform":"linux","mode":"test"},"auth":{"token": token}}});
    ws.send(tungstenite::Message::text(connect.to_string())).unwrap();
    wss_call(ws, "health")
}

pub fn wss_call<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>, method: &str) -> serde_json::Value {
    ws.send(tungstenite::Message::text(serde_json::json!({"type":"req","id": method,"method": method}).to_string()))
        .unwrap();
    loop {
        let m = ws.read().expect("response");
        let v: serde_json::Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        if v["id"] == method {
            return v;
        }
    }
}

/// Load options for a gateway run inside the test process on `state` (its `config.json5`,
/// `HOME` there, port 0), as `openclaw gateway --state-dir <state> --port 0` would make them.
pub fn inprocess_options(state: &Path) -> openclaw::config::LoadOptions {
    use openclaw::config::{LoadOptions, Paths, env::EnvSnapshot};
    let env = EnvSnapshot::from_pairs([("HOME".to_string(), state.display().to_string())]);
    LoadOptions {
        paths: Paths::resolve(None, Some(state), &env),
        env,
        flags: vec![("port".into(), "gateway.port".into(), serde_json::json!(0))],
        require_file: false,
    }
}

/// `POST /rpc` with the gateway token; the status and the JSON body.
pub fn post_rpc(gw: &Gateway, token: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.to_string();
    write!(
        s,
        "POST /rpc HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let code = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let json = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (code, serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {raw}")))
}

/// `{key: type}` of an object, to compare a payload's shape without its values.
pub fn shape(v: &serde_json::Value) -> serde_json::Value {
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    serde_json::Value::Object(
        v.as_object().expect("an object").iter().map(|(k, v)| (k.clone(), serde_json::json!(kind(v)))).collect(),
    )
}
