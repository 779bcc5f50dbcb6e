//! The CLI's gateway client: finds the local gateway from the config (or `--url`), keeps
//! its own Ed25519 identity in `<state>/identity/device.json`, connects with protocol v3 and
//! calls one method. Failures are explained: not running, token mismatch, pairing required.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::auth::device::Identity;
use crate::auth::secret::{self, SecretSource};
use crate::config::{LoadOptions, Loaded, load_for_client};
use crate::protocol::connect;
use crate::state::{self, FILE_MODE};

/// How the CLI failed; each has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    NotRunning(String),
    /// Refused by the gateway, or its certificate is not the pinned one.
    #[error("{message}")]
    Auth { refusal: Refusal, message: String },
    /// The gateway answered the call with an error: its stable code, its message, and the
    /// payload a failed agent run sends beside it.
    #[error("{method}: {message}")]
    Rpc { method: String, code: String, message: String, payload: Option<Box<Value>> },
    #[error("{0}")]
    Other(String),
}

/// Which refusal. The wire gives the token refusals one code and only its message tells them
/// apart, so the message is read once, at connect, and callers match this instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The gateway's certificate is not the expected fingerprint.
    Fingerprint,
    PairingRequired,
    /// The gateway does not know the device token this CLI stored (its registry was reset).
    DeviceToken,
    /// The shared token is wrong or missing.
    Token,
    Other,
}

impl ClientError {
    fn auth(refusal: Refusal, message: String) -> Self {
        Self::Auth { refusal, message }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NotRunning(_) => crate::exit::UNAVAILABLE,
            Self::Auth { .. } => 77,
            Self::Rpc { .. } => 1,
            Self::Other(_) => crate::exit::SOFTWARE,
        }
    }
}

/// Connection options from the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout: u64,
    /// The flag that sets `timeout`, for the message when it runs out (`--timeout` if unset).
    #[arg(skip)]
    pub timeout_flag: Option<&'static str>,
}

/// Which gateway to reach and how to prove who we are: every connecting command's flags but
/// the timeout (`agent` and `chat` call theirs `--connect-timeout`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GatewayArgs {
    /// Gateway URL (ws://host:port); default: the local gateway from the config.
    #[arg(long)]
    pub url: Option<String>,
    /// Shared token (default: the same sources the gateway reads).
    #[arg(long)]
    pub token: Option<String>,
    /// Password (password mode).
    #[arg(long)]
    pub password: Option<String>,
    /// Expected SHA-256 fingerprint of the gateway's certificate (wss://); by default the
    /// local gateway's certificate file, else the system's CA store.
    #[arg(long)]
    pub tls_fingerprint: Option<String>,
}

/// The connection under the WebSocket: plain TCP or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<openssl::ssl::SslStream<TcpStream>>),
}

impl std::io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// TLS to the gateway: pinned to `fingerprint` when known, else verified against the CAs.
fn tls_connect(stream: TcpStream, host: &str, fingerprint: Option<&str>) -> Result<Conn, ClientError> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let fail = |e: &dyn std::fmt::Display| ClientError::Other(format!("TLS to {host} failed: {e}"));
    let mut b = SslConnector::builder(SslMethod::tls()).map_err(|e| fail(&e))?;
    if fingerprint.is_some() {
        b.set_verify(SslVerifyMode::NONE); // pinned below instead
    }
    let mut cfg = b.build().configure().map_err(|e| fail(&e))?;
    if fingerprint.is_some() {
        cfg = cfg.verify_hostname(false);
    }
    let tls = cfg.connect(host, stream).map_err(|e| fail(&e))?;
    if let Some(expected) = fingerprint {
        let got = tls.ssl().peer_certificate().map(|c| crate::net::tls::fingerprint(&c)).unwrap_or_default();
        let normalized = expected.replace(':', "").to_ascii_lowercase();
        if got != normalized {
            return Err(ClientError::auth(
                Refusal::Fingerprint,
                format!(
                    "the gateway's TLS certificate fingerprint is {got}, not the expected {normalized}; if the certificate was renewed, update --tls-fingerprint"
                ),
            ));
        }
    }
    Ok(Conn::Tls(Box::new(tls)))
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredIdentity {
    version: u32,
    device_id: String,
    private_key_pem: String,
    created_at_ms: i64,
    /// Device tokens the gateway issued to this identity, by role.
    #[serde(default)]
    tokens: serde_json::Map<String, Value>,
}

fn identity_path(state_dir: &Path) -> PathBuf {
    state_dir.join("identity").join("device.json")
}

fn load_identity(state_dir: &Path) -> Result<(Identity, StoredIdentity), ClientError> {
    let path = identity_path(state_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let stored: StoredIdentity = serde_json::from_str(&text).map_err(|e| {
            ClientError::Other(format!("{} is corrupt ({e}); move it aside to create a new identity", path.display()))
        })?;
        let id = Identity::from_pem(&stored.private_key_pem).ok_or_else(|| {
            ClientError::Other(format!("{} holds no valid Ed25519 key; move it aside", path.display()))
        })?;
        return Ok((id, stored));
    }
    let id = Identity::generate();
    let stored = StoredIdentity {
        version: 1,
        device_id: id.id(),
        private_key_pem: id.private_pem(),
        created_at_ms: chrono::Utc::now().timestamp_millis(),
        tokens: Default::default(),
    };
    save_identity(state_dir, &stored, true);
    Ok((id, stored))
}

/// Drops the device tokens this CLI stored (a "device token mismatch" after the gateway's
/// registry was reset or restored): the next connect uses the shared token and re-pairs.
pub fn forget_device_tokens(state_dir: &Path) -> Result<bool, String> {
    let path = identity_path(state_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(false) };
    let mut stored: StoredIdentity = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if stored.tokens.is_empty() {
        return Ok(false);
    }
    stored.tokens.clear();
    state::atomic_write(&path, &serde_json::to_vec_pretty(&stored).expect("json"), FILE_MODE)
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Saves the identity: durably when it is new (the key is the device), without fsyncs when only
/// its device token changed (the gateway issues one per shared-token connect; one lost to a
/// power cut is replaced at the next connect).
fn save_identity(state_dir: &Path, stored: &StoredIdentity, new_key: bool) {
    let path = identity_path(state_dir);
    let bytes = serde_json::to_vec_pretty(stored).expect("json");
    let result = state::ensure_dir(path.parent().expect("identity dir")).and_then(|_| {
        if new_key {
            state::atomic_write(&path, &bytes, FILE_MODE)
        } else {
            state::replace_file(&path, &bytes, FILE_MODE)
        }
    });
    if let Err(e) = result {
        eprintln!("openclaw: warning: cannot save the CLI identity: {e}");
    }
}

pub struct Client {
    ws: WebSocket<Conn>,
    url: String,
    deadline: Instant,
    timeout_flag: &'static str,
    next: u64,
}

/// What the CLI will present, and where it came from (for messages, never the value).
struct Creds {
    token: Option<String>,
    password: Option<String>,
    source: String,
}

fn credentials(args: &ConnectArgs, opts: &LoadOptions, loaded: Option<&Loaded>, stored: &StoredIdentity) -> Creds {
    if let Some(t) = &args.gateway.token {
        return Creds { token: Some(t.clone()), password: None, source: "the --token flag".into() };
    }
    if let Some(p) = &args.gateway.password {
        return Creds { token: None, password: Some(p.clone()), source: "the --password flag".into() };
    }
    if let Some(loaded) = loaded {
        if let Some(p) = secret::resolve_password(loaded) {
            return Creds { token: None, password: Some(p.value), source: p.source.to_string() };
        }
        if let Ok(Some(t)) = secret::resolve_token(loaded, &opts.paths, false) {
            return Creds { token: Some(t.value), password: None, source: t.source.to_string() };
        }
    }
    stored_creds(stored, None).unwrap_or(Creds {
        token: None,
        password: None,
        source: "nowhere (no token found)".into(),
    })
}

/// The device token this CLI stored, if any (issued by the gateway at `url` when given).
fn stored_creds(stored: &StoredIdentity, url: Option<&str>) -> Option<Creds> {
    let t = stored.tokens.get("operator").filter(|t| url.is_none_or(|u| t["url"] == u))?;
    Some(Creds { token: Some(t["token"].as_str()?.to_string()), password: None, source: STORED_TOKEN.into() })
}

/// Where a gateway started with this config would read its token (for mismatch messages).
fn gateway_token_source(opts: &LoadOptions, loaded: Option<&Loaded>) -> String {
    match loaded.and_then(|l| secret::resolve_token(l, &opts.paths, false).ok().flatten()) {
        Some(s) => s.source.to_string(),
        None => SecretSource::Generated(opts.paths.state_dir.join("secrets").join(secret::GENERATED)).to_string(),
    }
}

/// The address a client on this host reaches the configured gateway at (a wildcard bind
/// becomes loopback), and whether it speaks TLS.
pub fn local_target(opts: &LoadOptions) -> Result<(std::net::SocketAddr, bool), ClientError> {
    target_of(&load_for_client(opts).map_err(|e| ClientError::Other(format!("{e}")))?)
}

fn target_of(loaded: &Loaded) -> Result<(std::net::SocketAddr, bool), ClientError> {
    let addrs = crate::net::resolve(&loaded.config.gateway).map_err(|e| ClientError::Other(e.message))?;
    let mut a = *addrs.first().ok_or_else(|| ClientError::Other("the config names no address to connect to".into()))?;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    Ok((a, loaded.config.gateway.tls.enabled))
}

fn local_url(loaded: Result<&Loaded, String>) -> Result<String, ClientError> {
    let (a, tls) = target_of(loaded.map_err(ClientError::Other)?)?;
    // SocketAddr's Display brackets IPv6 hosts, as URLs need.
    Ok(format!("{}://{a}", if tls { "wss" } else { "ws" }))
}

/// The local gateway's certificate fingerprint (same host: its certificate file is trusted).
fn local_fingerprint(opts: &LoadOptions, loaded: Option<&Loaded>) -> Option<String> {
    let loaded = loaded?;
    let (cert, _, _) = crate::net::tls::pair_paths(&loaded.config.gateway.tls, &opts.paths).ok()?;
    let pem = std::fs::read(cert).ok()?;
    openssl::x509::X509::from_pem(&pem).ok().map(|c| crate::net::tls::fingerprint(&c))
}

/// Where and as whom [`Client::connect`] connects; one handshake per set of credentials.
struct Target<'a> {
    args: &'a ConnectArgs,
    opts: &'a LoadOptions,
    loaded: Option<&'a Loaded>,
    url: &'a str,
    identity: &'a Identity,
    deadline: Instant,
}

/// How [`credentials`] names the stored device token.
const STORED_TOKEN: &str = "this CLI's stored device token";

impl Target<'_> {
    /// Connects and says hello presenting `creds`; the client and the hello's payload.
    fn handshake(&self, creds: &Creds) -> Result<(Client, Value), ClientError> {
        let url = self.url;
        let timeout_flag = self.args.timeout_flag.unwrap_or("--timeout");
        let hostport =
            url.trim_start_matches("ws://").trim_start_matches("wss://").split('/').next().unwrap_or("").to_string();
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&hostport)
            .map_err(|e| ClientError::Other(format!("bad gateway URL {url}: {e}")))?
            .next()
            .ok_or_else(|| ClientError::Other(format!("bad gateway URL {url}")))?;
        let not_running = |e: &dyn std::fmt::Display| {
            ClientError::NotRunning(format!(
                "no gateway is answering at {url} ({e}). Start it with `openclaw gateway`, or pass --url to reach another one"
            ))
        };
        let stream =
            TcpStream::connect_timeout(&addr, Duration::from_millis(self.args.timeout)).map_err(|e| not_running(&e))?;
        stream.set_read_timeout(Some(Duration::from_millis(self.args.timeout))).ok();
        let conn = if url.starts_with("wss://") {
            let pin = self.args.gateway.tls_fingerprint.clone().or_else(|| {
                self.args.gateway.url.is_none().then(|| local_fingerprint(self.opts, self.loaded)).flatten()
            });
            let host = hostport.rsplit_once(':').map_or(hostport.as_str(), |(h, _)| h).trim_matches(['[', ']']);
            tls_connect(stream, host, pin.as_deref())?
        } else {
            Conn::Plain(stream)
        };
        let (mut ws, _) = tungstenite::client(url, conn).map_err(|e| not_running(&e))?;
        let challenge = read_json(&mut ws).map_err(|e| timed_out(e, url, timeout_flag))?;
        let nonce = challenge["payload"]["nonce"].as_str().unwrap_or_default().to_string();

        let mut params = json!({
            "minProtocol": 3, "maxProtocol": 3,
            "client": {"id": "cli", "version": env!("CARGO_PKG_VERSION"), "platform": std::env::consts::OS, "mode": "cli"},
            "role": "operator",
            "scopes": crate::protocol::scope::ALL,
        });
        if creds.token.is_some() || creds.password.is_some() {
            params["auth"] = json!({"token": creds.token, "password": creds.password});
        }
        let parsed = connect::parse(&params).map_err(|e| ClientError::Other(format!("{e:?}")))?;
        let now = chrono::Utc::now().timestamp_millis();
        let proof = self.identity.prove(&parsed, creds.token.as_deref().unwrap_or(""), Some(&nonce), now);
        params["device"] = proof.to_json();
        ws.send(Message::text(
            json!({"type": "req", "id": "connect", "method": "connect", "params": params}).to_string(),
        ))
        .map_err(|e| not_running(&e))?;
        let mut client = Client { ws, url: url.to_string(), deadline: self.deadline, timeout_flag, next: 0 };
        let hello = client.response("connect")?;
        if hello["ok"] != true {
            let err = &hello["error"];
            let msg = err["message"].as_str().unwrap_or("connect refused");
            return Err(match msg {
                "pairing required" => ClientError::auth(
                    Refusal::PairingRequired,
                    format!(
                        "pairing required: this CLI (device {}) is not paired with {url}. On the gateway host run:\n  openclaw devices approve {}\n(or approve code {} from a paired operator)",
                        &self.identity.id()[..12],
                        err["details"]["requestId"].as_str().unwrap_or("<request id>"),
                        err["details"]["code"].as_str().unwrap_or("?")
                    ),
                ),
                m if m.contains("token mismatch") || m.contains("token missing") => ClientError::auth(
                    if m.contains("device token mismatch") { Refusal::DeviceToken } else { Refusal::Token },
                    format!(
                        "{m}\nThe CLI's token came from {}; a gateway started with this config reads its token from {}. Make them the same (or pass --token).",
                        creds.source,
                        gateway_token_source(self.opts, self.loaded)
                    ),
                ),
                m => ClientError::auth(Refusal::Other, format!("the gateway refused the connection: {m}")),
            });
        }
        Ok((client, hello["payload"].clone()))
    }
}

impl Client {
    pub fn connect(args: &ConnectArgs, opts: &LoadOptions) -> Result<Self, ClientError> {
        let config = load_for_client(opts);
        let loaded = config.as_ref().ok();
        let url = match &args.gateway.url {
            Some(u) => u.clone(),
            None => local_url(config.as_ref().map_err(|e| e.to_string()))?,
        };
        let (identity, mut stored) = load_identity(&opts.paths.state_dir)?;
        let creds = credentials(args, opts, loaded, &stored);
        let at = Target {
            args,
            opts,
            loaded,
            url: &url,
            identity: &identity,
            deadline: Instant::now() + Duration::from_millis(args.timeout),
        };
        // Unless a flag names the credentials, the device token this gateway issued goes first:
        // the gateway checks it and writes nothing, where a shared token makes it issue (and
        // durably store) a new device token on every connect. One it no longer knows (revoked,
        // registry reset) falls back to the shared credentials, which issue a new one.
        let flagged = args.gateway.token.is_some() || args.gateway.password.is_some();
        let issued = stored_creds(&stored, Some(&url)).filter(|_| !flagged);
        let (client, hello) = match issued {
            Some(device) => match at.handshake(&device) {
                Err(ClientError::Auth { refusal: Refusal::DeviceToken | Refusal::Token, .. })
                    if (creds.token != device.token || creds.password.is_some()) =>
                {
                    at.handshake(&creds)?
                }
                r => r?,
            },
            None => at.handshake(&creds)?,
        };
        if let Some(tok) = hello["auth"]["deviceToken"].as_str()
            && stored.tokens.get("operator").is_none_or(|t| t["token"] != tok || t["url"] != url.as_str())
        {
            stored.tokens.insert(
                "operator".into(),
                json!({"token": tok, "issuedAtMs": hello["auth"]["issuedAtMs"], "url": url}),
            );
            save_identity(&opts.paths.state_dir, &stored, false);
        }
        Ok(client)
    }

    fn response(&mut self, id: &str) -> Result<Value, ClientError> {
        loop {
            if Instant::now() > self.deadline {
                return Err(timed_out(ClientError::Other(TIMED_OUT.into()), &self.url, self.timeout_flag));
            }
            let v = read_json(&mut self.ws).map_err(|e| timed_out(e, &self.url, self.timeout_flag))?;
            if v["type"] == "res" && v["id"] == id {
                return Ok(v);
            }
        }
    }

    /// Calls one method; returns the payload or the gateway's error message.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.next += 1;
        let id = format!("cli-{}", self.next);
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.send(Message::text(frame.to_string())).map_err(|e| ClientError::Other(format!("send failed: {e}")))?;
        let r = self.response(&id)?;
        if r["ok"] == true { Ok(r["payload"].clone()) } else { Err(rpc_error(method, &r)) }
    }
}

impl Client {
    /// Sends a request frame without waiting for its answer (for clients that read the frames
    /// themselves, like `openclaw chat`).
    pub fn send(&mut self, id: &str, method: &str, params: Value) -> Result<(), ClientError> {
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.send(Message::text(frame.to_string())).map_err(|e| ClientError::Other(format!("send failed: {e}")))
    }

    /// The next frame, or `None` when none arrived within `wait` (a frame cut by the wait is
    /// kept for the next call).
    pub fn next_frame(&mut self, wait: Duration) -> Result<Option<Value>, ClientError> {
        let tcp = match self.ws.get_ref() {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        };
        tcp.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(|e| ClientError::Other(format!("connection lost: {e}")))?;
        match read_json(&mut self.ws) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Other(m)) if m == TIMED_OUT => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What [`read_json`] says when the read timeout passed with no complete frame.
const TIMED_OUT: &str = "timed out";

/// A read timeout as the user reads it.
fn timed_out(e: ClientError, url: &str, flag: &str) -> ClientError {
    match e {
        ClientError::Other(m) if m == TIMED_OUT => {
            ClientError::Other(format!("timed out waiting for {url} (raise {flag})"))
        }
        e => e,
    }
}

/// The error of a `res` frame with `ok: false`.
pub fn rpc_error(method: &str, res: &Value) -> ClientError {
    ClientError::Rpc {
        method: method.to_string(),
        code: res["error"]["code"].as_str().unwrap_or("UNKNOWN").to_string(),
        message: res["error"]["message"].as_str().unwrap_or("failed").to_string(),
        payload: res.get("payload").filter(|p| !p.is_null()).map(|p| Box::new(p.clone())),
    }
}

fn read_json(ws: &mut WebSocket<Conn>) -> Result<Value, ClientError> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                return serde_json::from_str(t.as_str()).map_err(|e| ClientError::Other(format!("bad frame: {e}")));
            }
            Ok(Message::Close(c)) => {
                let reason = c.map(|c| format!("{} {}", u16::from(c.code), c.reason)).unwrap_or_default();
                return Err(ClientError::Other(format!("the gateway closed the connection ({reason})")));
            }
            Ok(_) => continue,
            // A signal the CLI handles (Ctrl-C during `agent`): nothing was consumed; read again.
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                return Err(ClientError::Other(TIMED_OUT.into()));
            }
            Err(e) => return Err(ClientError::Other(format!("connection lost: {e}"))),
        }
    }
}
