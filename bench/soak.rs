//! Soak harness: the release gateway under steady mixed load for `OPENCLAW_SOAK_SECS` (default
//! 300): 1,000 wss clients calling every second, a config reload every second, a listener restart
//! and a certificate rotation every minute, agent runs against a mock provider, device pairing
//! churn; memory and file descriptors sampled. Run: `cargo bench --bench soak` (see
//! bench/README.md). Writes bench/results/soak.json and exits non-zero when a check fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
const TOKEN: &str = "soak-token";
const CLIENTS: usize = 1_000;
/// TLS handshakes in flight while the clients connect (as many clients arriving would).
const OPENING: usize = 32;
const CALL_EVERY: Duration = Duration::from_secs(1);
const RELOAD_EVERY: Duration = Duration::from_secs(1);
/// In reloads (seconds): every 60th reload also toggles `gateway.tls.minVersion`, which
/// `config::diff` classifies as a listener restart.
const RESTART_EVERY: u64 = 60;
/// The certificate is rotated half-way between listener restarts.
const ROTATE_AT: u64 = 30;
const AGENT_EVERY: Duration = Duration::from_secs(3);
const PAIR_EVERY: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// Quiet time of the gateway's file watcher: short, so a reload a second fits easily.
const DEBOUNCE_MS: u64 = 100;
const CALL_DEADLINE: Duration = Duration::from_secs(10);
const OPEN_DEADLINE: Duration = Duration::from_secs(10);
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// A reload, listener rebuild or certificate refresh becoming visible in `health`.
const APPLY_DEADLINE: Duration = Duration::from_secs(10);
/// A Host that is not a local name: the device counts as remote and must pair.
const REMOTE_HOST: &str = "192.0.2.10:18789";
const RSS_BAND: f64 = 0.10;
/// Descriptors that come and go with the churn (pairing and probe connections, provider
/// requests, files being read) and may be open at any sampling instant.
const FD_SLACK: u64 = 16;
const DESCRIBED: usize = 10;

type Tls = tokio_openssl::SslStream<TcpStream>;
type Ws = tokio_tungstenite::WebSocketStream<Tls>;

/// What happened, counted by every task.
#[derive(Default)]
struct Stats {
    calls: AtomicU64,
    control_calls: AtomicU64,
    events: AtomicU64,
    errors: AtomicU64,
    drops: AtomicU64,
    reloads: AtomicU64,
    restarts: AtomicU64,
    rotations: AtomicU64,
    agent_runs: AtomicU64,
    pairings: AtomicU64,
    /// The first errors and drops, described.
    first: Mutex<Vec<String>>,
    start: OnceLock<Instant>,
}

impl Stats {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.describe(format!("error: {what}"));
    }

    fn dropped(&self, what: String) {
        self.drops.fetch_add(1, Ordering::Relaxed);
        self.describe(format!("dropped: {what}"));
    }

    fn describe(&self, what: String) {
        let at = self.start.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
        let line = format!("{at:.1}s {what}");
        eprintln!("soak: {line}");
        let mut first = self.first.lock().unwrap();
        if first.len() < DESCRIBED {
            first.push(line);
        }
    }

    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// `fut`, or an error naming `what` after `limit`.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {limit:?} waiting for {what}")))
}

fn connector(tls12_only: bool) -> &'static openssl::ssl::SslConnector {
    // Built once: creating a connector loads the system CA store. Certificates are not verified
    // by a CA: the harness compares fingerprints.
    static ANY: OnceLock<openssl::ssl::SslConnector> = OnceLock::new();
    static TLS12: OnceLock<openssl::ssl::SslConnector> = OnceLock::new();
    let build = || {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.set_verify(openssl::ssl::SslVerifyMode::NONE);
        if tls12_only {
            b.set_max_proto_version(Some(openssl::ssl::SslVersion::TLS1_2)).unwrap();
        }
        b.build()
    };
    if tls12_only { TLS12.get_or_init(build) } else { ANY.get_or_init(build) }
}

/// TCP and TLS; returns the stream and the fingerprint of the certificate presented.
async fn dial(addr: SocketAddr, tls12_only: bool) -> Result<(Tls, String), String> {
    within(OPEN_DEADLINE, "TCP connect and TLS handshake", async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).ok();
        let ssl = connector(tls12_only)
            .configure()
            .and_then(|c| c.verify_hostname(false).into_ssl("localhost"))
            .map_err(|e| e.to_string())?;
        let mut s = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
        Pin::new(&mut s).connect().await.map_err(|e| format!("TLS handshake: {e}"))?;
        let fp = s.ssl().peer_certificate().map(|c| openclaw::net::tls::fingerprint(&c)).unwrap_or_default();
        Ok((s, fp))
    })
    .await
}

/// A wss connection up to the `connect.challenge` event (its nonce) and the certificate seen.
async fn open(addr: SocketAddr, host: Option<&str>) -> Result<(Ws, String, String), String> {
    let (tls, fp) = dial(addr, false).await?;
    within(OPEN_DEADLINE, "the WebSocket upgrade and the challenge", async {
        let mut req = format!("wss://{addr}/").into_client_request().map_err(|e| e.to_string())?;
        if let Some(h) = host {
            req.headers_mut().insert("Host", h.parse().map_err(|_| "bad host".to_string())?);
        }
        let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.map_err(|e| format!("upgrade: {e}"))?;
        let challenge = next_json(&mut ws).await?;
        let nonce = challenge["payload"]["nonce"].as_str().ok_or(format!("not a challenge: {challenge}"))?;
        Ok((ws, nonce.to_string(), fp))
    })
    .await
}

/// The next text frame as JSON; a close frame or the end of the stream is an error.
async fn next_json(ws: &mut Ws) -> Result<Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).map_err(|e| format!("bad JSON: {e}")),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection ended".into()),
        }
    }
}

fn connect_params(extra: Value) -> Value {
    let mut p = json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "cli", "version": "soak", "platform": "linux", "mode": "cli"}, "auth": {"token": TOKEN}});
    for (k, v) in extra.as_object().into_iter().flatten() {
        p[k] = v.clone();
    }
    p
}

/// A connection making one call at a time (the control, agent and pairing tasks, and devices).
struct Rpc {
    ws: Ws,
    next: u64,
}

impl Rpc {
    /// An operator connection with the shared token (loopback: all scopes).
    async fn operator(addr: SocketAddr) -> Result<Self, String> {
        let (ws, _, _) = open(addr, None).await?;
        let mut rpc = Self { ws, next: 0 };
        let hello = rpc.request("connect", connect_params(json!({})), CALL_DEADLINE).await?;
        if hello["ok"] != true {
            return Err(format!("connect refused: {hello}"));
        }
        Ok(rpc)
    }

    async fn send(&mut self, method: &str, params: Value) -> Result<String, String> {
        self.next += 1;
        let id = format!("{method}-{}", self.next);
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.send(Message::text(frame.to_string())).await.map_err(|e| format!("send {method}: {e}"))?;
        Ok(id)
    }

    /// The next response with `id` (events and other frames read on the way are skipped).
    async fn response(&mut self, id: &str, limit: Duration) -> Result<Value, String> {
        within(limit, &format!("the response to {id}"), async {
            loop {
                let v = next_json(&mut self.ws).await.map_err(|e| format!("waiting for {id}: {e}"))?;
                if v["type"] == "res" && v["id"] == id {
                    return Ok(v);
                }
            }
        })
        .await
    }

    async fn request(&mut self, method: &str, params: Value, limit: Duration) -> Result<Value, String> {
        let id = self.send(method, params).await?;
        self.response(&id, limit).await
    }

    /// A call that must succeed: its payload.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let r = self.request(method, params, CALL_DEADLINE).await?;
        if r["ok"] != true {
            return Err(format!("{method} failed: {}", r["error"]));
        }
        Ok(r["payload"].clone())
    }

    /// The close frame the gateway sends next: (code, reason).
    async fn closed(&mut self, what: &str) -> Result<(u16, String), String> {
        within(CALL_DEADLINE, what, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(Some(c)))) => return Ok((u16::from(c.code), c.reason.to_string())),
                    Some(Ok(Message::Close(None))) => return Ok((1005, String::new())),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("no close frame: {e}")),
                    None => return Err("no close frame: connection ended".into()),
                }
            }
        })
        .await
    }
}

/// One of the 1,000: a handshake, then a call every second (health and status in turn) until
/// told to stop, reading every frame as it comes. Returns whether it was still open at the end.
async fn client(i: usize, mut ws: Ws, offset: Duration, stats: Arc<Stats>, mut stop: watch::Receiver<bool>) -> bool {
    let mut tick = tokio::time::interval_at(Instant::now() + offset, CALL_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut n = 0u64;
    // The call in flight: id, sent at, already reported late.
    let mut pending: Option<(String, Instant, bool)> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return true;
            }
            _ = tick.tick() => {
                if let Some((id, at, late)) = &mut pending {
                    if !*late && at.elapsed() > CALL_DEADLINE {
                        *late = true;
                        stats.error(format!("client {i}: no answer to {id} within {CALL_DEADLINE:?}"));
                    }
                    continue;
                }
                n += 1;
                let method = if n.is_multiple_of(2) { "status" } else { "health" };
                let id = format!("{method}-{n}");
                let frame = json!({"type": "req", "id": id, "method": method});
                if let Err(e) = ws.send(Message::text(frame.to_string())).await {
                    stats.dropped(format!("client {i}: send failed: {e}"));
                    return false;
                }
                pending = Some((id, Instant::now(), false));
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = match serde_json::from_str(&t) {
                        Ok(v) => v,
                        Err(e) => {
                            stats.error(format!("client {i}: bad JSON from the gateway: {e}"));
                            continue;
                        }
                    };
                    if v["type"] == "event" {
                        stats.events.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    match pending.take() {
                        Some((id, ..)) if v["id"] == id.as_str() => {
                            if v["ok"] == true {
                                stats.calls.fetch_add(1, Ordering::Relaxed);
                            } else {
                                stats.error(format!("client {i}: {id}: {}", v["error"]));
                            }
                        }
                        other => {
                            stats.error(format!("client {i}: unexpected frame {}", &t[..t.len().min(200)]));
                            pending = other;
                        }
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    stats.dropped(format!("client {i}: closed by the gateway: {c:?}"));
                    return false;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    stats.dropped(format!("client {i}: {e}"));
                    return false;
                }
                None => {
                    stats.dropped(format!("client {i}: connection ended"));
                    return false;
                }
            }
        }
    }
}

/// A client's handshake: challenge, `connect` with the token, `hello-ok`.
async fn open_client(addr: SocketAddr) -> Result<Ws, String> {
    let (ws, _, _) = open(addr, None).await?;
    let mut rpc = Rpc { ws, next: 0 };
    let hello = rpc.request("connect", connect_params(json!({})), CALL_DEADLINE).await?;
    if hello["ok"] != true {
        return Err(format!("connect refused: {hello}"));
    }
    Ok(rpc.ws)
}

/// The config of reload `k`: a new `handshakeTimeoutMs` every time (applied live), and
/// `tls.minVersion` toggled every `RESTART_EVERY` reloads (a listener restart in hybrid mode).
/// All 1,000 clients come from 127.0.0.1: the per-address connection cap is lifted.
fn config_text(k: u64) -> String {
    format!(
        "{{ gateway: {{ maxConnectionsPerAddress: 4096, auth: {{ token: '{TOKEN}' }}, reload: {{ mode: 'hybrid', debounceMs: {DEBOUNCE_MS} }}, \
         handshakeTimeoutMs: {}, tls: {{ enabled: true, cert: 'certs/soak.crt', key: 'certs/soak.key', minVersion: '{}' }} }}, \
         logging: {{ level: 'info', file: false }}, agents: {{ defaults: {{ model: 'mock/ok' }} }} }}",
        10_000 + k % 1000,
        min_version(k)
    )
}

fn min_version(k: u64) -> &'static str {
    if (k / RESTART_EVERY) % 2 == 1 { "1.3" } else { "1.2" }
}

/// Writes `text` the way editors and certbot do: a temp file renamed over the original.
fn write_by_rename(path: &Path, text: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("soak-tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("rename to {}: {e}", path.display()))
}

/// A new self-signed EC P-256 pair for localhost, written key first then certificate, each by
/// rename. Returns the certificate's fingerprint.
fn rotate_pair(state: &Path) -> Result<String, String> {
    use openssl::{asn1::Asn1Time, bn::BigNum, ec, hash::MessageDigest, nid::Nid, pkey::PKey, x509};
    let e = |e: openssl::error::ErrorStack| e.to_string();
    let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(e)?;
    let key = PKey::from_ec_key(ec::EcKey::generate(&group).map_err(e)?).map_err(e)?;
    let mut name = x509::X509NameBuilder::new().map_err(e)?;
    name.append_entry_by_text("CN", "localhost").map_err(e)?;
    let name = name.build();
    let mut b = x509::X509::builder().map_err(e)?;
    b.set_version(2).map_err(e)?;
    let mut serial = BigNum::new().map_err(e)?;
    serial.rand(128, openssl::bn::MsbOption::MAYBE_ZERO, false).map_err(e)?;
    let serial = serial.to_asn1_integer().map_err(e)?;
    b.set_serial_number(&serial).map_err(e)?;
    b.set_subject_name(&name).map_err(e)?;
    b.set_issuer_name(&name).map_err(e)?;
    b.set_pubkey(&key).map_err(e)?;
    let (from, until) = (Asn1Time::days_from_now(0).map_err(e)?, Asn1Time::days_from_now(2).map_err(e)?);
    b.set_not_before(&from).map_err(e)?;
    b.set_not_after(&until).map_err(e)?;
    let san = x509::extension::SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .map_err(e)?;
    b.append_extension(san).map_err(e)?;
    b.sign(&key, MessageDigest::sha256()).map_err(e)?;
    let cert = b.build();
    let dir = state.join("certs");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    write_by_rename(&dir.join("soak.key"), &key.private_key_to_pem_pkcs8().map_err(e)?)?;
    write_by_rename(&dir.join("soak.crt"), &cert.to_pem().map_err(e)?)?;
    Ok(openclaw::net::tls::fingerprint(&cert))
}

/// Calls `health` on `ctl` until `pred` holds.
async fn wait_health(ctl: &mut Rpc, what: &str, pred: impl Fn(&Value) -> bool) -> Result<Value, String> {
    within(APPLY_DEADLINE, what, async {
        loop {
            let h = ctl.call("health", json!({})).await?;
            if pred(&h) {
                return Ok(h);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Reloads every second, a listener restart and a certificate rotation every minute; each one
/// checked applied. Reload `k` happens `k` seconds into the run.
async fn control(addr: SocketAddr, state: PathBuf, stats: Arc<Stats>, mut stop: watch::Receiver<bool>) {
    let mut ctl = match Rpc::operator(addr).await {
        Ok(c) => c,
        Err(e) => return stats.error(format!("control connection: {e}")),
    };
    let mut generation = match ctl.call("health", json!({})).await {
        Ok(h) => h["config"]["generation"].as_u64().unwrap_or(0),
        Err(e) => return stats.error(format!("control: {e}")),
    };
    let mut tick = tokio::time::interval_at(Instant::now() + RELOAD_EVERY, RELOAD_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for k in 1.. {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        generation += 1;
        match reload(&mut ctl, addr, &state, k, generation).await {
            Ok(()) => {
                stats.reloads.fetch_add(1, Ordering::Relaxed);
                if k.is_multiple_of(RESTART_EVERY) {
                    stats.restarts.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                stats.error(format!("reload {k}: {e}"));
                // Resynchronise with what the gateway has, so one failure is reported once.
                if let Ok(h) = ctl.call("health", json!({})).await {
                    generation = h["config"]["generation"].as_u64().unwrap_or(generation);
                }
            }
        }
        if k % RESTART_EVERY == ROTATE_AT {
            match rotate(&mut ctl, addr, &state).await {
                Ok(()) => {
                    stats.rotations.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => stats.error(format!("certificate rotation at reload {k}: {e}")),
            }
        }
        stats.control_calls.store(ctl.next, Ordering::Relaxed);
    }
}

async fn reload(ctl: &mut Rpc, addr: SocketAddr, state: &Path, k: u64, generation: u64) -> Result<(), String> {
    write_by_rename(&state.join("config.json5"), config_text(k).as_bytes())?;
    let h = wait_health(ctl, "the new generation in health", |h| {
        h["config"]["generation"].as_u64().is_some_and(|g| g >= generation)
    })
    .await?;
    let cfg = &h["config"];
    if cfg["generation"] != generation {
        return Err(format!("generation {} where {generation} was expected", cfg["generation"]));
    }
    if cfg["lastReload"]["outcome"] != "applied" || cfg["reloads"]["rejected"] != 0 {
        return Err(format!("not applied: {}", cfg["lastReload"]));
    }
    if !k.is_multiple_of(RESTART_EVERY) {
        return Ok(());
    }
    // A listener restart: rebuilt in place, and the new minimum TLS version in force.
    let h = wait_health(ctl, "the listener rebuild to finish", |h| {
        h["config"]["lastReload"]["listener"].as_str().is_some_and(|l| l != "rebuilding")
    })
    .await?;
    let rebuilt = &h["config"]["lastReload"]["listener"];
    if rebuilt != "rebuilt" {
        return Err(format!("listener not rebuilt: {rebuilt}"));
    }
    let tls12 = dial(addr, true).await;
    match (min_version(k), tls12) {
        ("1.2", Err(e)) => Err(format!("a TLS 1.2 client is refused with minVersion 1.2: {e}")),
        ("1.3", Ok(_)) => Err("a TLS 1.2 client is accepted after minVersion became 1.3".into()),
        _ => Ok(()),
    }
}

/// New certificate files in place (no signal): health reports the new fingerprint, the reload
/// record says it was reloaded, and a new handshake presents it.
async fn rotate(ctl: &mut Rpc, addr: SocketAddr, state: &Path) -> Result<(), String> {
    let fp = rotate_pair(state)?;
    let reloaded = format!("reloaded ({fp})");
    wait_health(ctl, "the rotated certificate in health", |h| {
        h["tls"]["fingerprint"] == fp.as_str() && h["config"]["lastReload"]["tls"] == reloaded.as_str()
    })
    .await?;
    let (_, seen) = dial(addr, false).await?;
    if seen != fp {
        return Err(format!("a new handshake presents {seen}, not the rotated {fp}"));
    }
    Ok(())
}

/// An `agent` run every few seconds on its own session, waited for to its final outcome, then
/// the session deleted (so state stays bounded however long the soak).
async fn agents(addr: SocketAddr, stats: Arc<Stats>, mut stop: watch::Receiver<bool>) {
    let mut rpc = match Rpc::operator(addr).await {
        Ok(c) => c,
        Err(e) => return stats.error(format!("agent connection: {e}")),
    };
    let mut tick = tokio::time::interval(AGENT_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 1.. {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        match agent_run(&mut rpc, n).await {
            Ok(()) => {
                stats.agent_runs.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => stats.error(format!("agent run {n}: {e}")),
        }
    }
}

async fn agent_run(rpc: &mut Rpc, n: u64) -> Result<(), String> {
    let key = format!("agent:main:soak-{n}");
    let id = rpc
        .send(
            "agent",
            json!({"message": format!("soak {n}"), "idempotencyKey": format!("soak-{n}"), "sessionKey": key}),
        )
        .await?;
    let accepted = rpc.response(&id, CALL_DEADLINE).await?;
    if accepted["ok"] != true || accepted["payload"]["status"] != "accepted" {
        return Err(format!("not accepted: {accepted}"));
    }
    let done = rpc.response(&id, RUN_DEADLINE).await?;
    let p = &done["payload"];
    if done["ok"] != true || p["status"] != "ok" || p["result"]["payloads"][0]["text"] != "Hello, world" {
        return Err(format!("run failed: {done}"));
    }
    rpc.call("sessions.delete", json!({"key": key, "deleteTranscript": true})).await.map(drop)
}

/// Every few seconds a new device identity pairs (remote: request, approve by RPC), connects
/// with its device token, and has it revoked (its session closed by the gateway).
async fn pairing(addr: SocketAddr, stats: Arc<Stats>, mut stop: watch::Receiver<bool>) {
    let mut op = match Rpc::operator(addr).await {
        Ok(c) => c,
        Err(e) => return stats.error(format!("pairing operator connection: {e}")),
    };
    let mut tick = tokio::time::interval(PAIR_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 1.. {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        match pair_once(addr, &mut op).await {
            Ok(()) => {
                stats.pairings.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => stats.error(format!("pairing {n}: {e}")),
        }
    }
}

/// A remote device's connect params, signed over the challenge nonce.
fn device_params(id: &Identity, nonce: &str) -> Result<Value, String> {
    let mut p = connect_params(json!({"scopes": ["operator.read"]}));
    let parsed = openclaw::protocol::connect::parse(&p).map_err(|_| "connect params do not parse".to_string())?;
    p["device"] = id.prove(&parsed, TOKEN, Some(nonce), chrono::Utc::now().timestamp_millis()).to_json();
    Ok(p)
}

async fn device_connect(addr: SocketAddr, id: &Identity) -> Result<(Rpc, Value), String> {
    let (ws, nonce, _) = open(addr, Some(REMOTE_HOST)).await?;
    let mut dev = Rpc { ws, next: 0 };
    let r = dev.request("connect", device_params(id, &nonce)?, CALL_DEADLINE).await?;
    Ok((dev, r))
}

async fn pair_once(addr: SocketAddr, op: &mut Rpc) -> Result<(), String> {
    let id = Identity::generate();
    let (mut dev, r) = device_connect(addr, &id).await?;
    if r["error"]["code"] != "NOT_PAIRED" {
        return Err(format!("an unknown remote device was not asked to pair: {r}"));
    }
    let request = r["error"]["details"]["requestId"].as_str().ok_or(format!("no requestId: {r}"))?.to_string();
    let close = dev.closed("the close after `pairing required`").await?;
    if close.0 != 1008 {
        return Err(format!("pairing required closed with {close:?}"));
    }
    let approved = op.call("device.pair.approve", json!({"requestId": request})).await?;
    if approved["deviceId"] != id.id() {
        return Err(format!("approved another device: {approved}"));
    }
    let (mut dev, hello) = device_connect(addr, &id).await?;
    if hello["ok"] != true || !hello["payload"]["auth"]["deviceToken"].is_string() {
        return Err(format!("the paired device was refused: {hello}"));
    }
    dev.call("health", json!({})).await?;
    op.call("device.token.revoke", json!({"deviceId": id.id(), "role": "operator"})).await?;
    let close = dev.closed("the revoked device's session to close").await?;
    if close != (1008, "device token revoked".to_string()) {
        return Err(format!("revoked session closed with {close:?}"));
    }
    Ok(())
}

/// A local OpenAI-compatible chat-completions server: every request streams "Hello", ", world",
/// the finish and usage chunks, then `[DONE]`.
fn mock_provider() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock provider");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve_completion(conn);
            });
        }
    });
    addr
}

fn serve_completion(conn: std::net::TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(CALL_DEADLINE))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut len = 0usize;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim_end().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    reader.read_exact(&mut vec![0; len])?;
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )?;
    let events = [
        json!({"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {"content": ", world"}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
    ];
    for ev in events {
        let data = format!("data: {ev}\n\n");
        write!(out, "{:x}\r\n{data}\r\n", data.len())?;
    }
    let done = "data: [DONE]\n\n";
    write!(out, "{:x}\r\n{done}\r\n0\r\n\r\n", done.len())?;
    out.flush()
}

/// What the gateway logged: warnings and errors (the first few kept), all lines to a file.
#[derive(Default)]
struct GatewayLog {
    warnings: u64,
    errors: u64,
    first: Vec<String>,
}

/// Starts the gateway on 127.0.0.1, port 0, and returns it with the address it logged as ready.
fn spawn_gateway(
    state: &Path,
    provider: SocketAddr,
    log_path: &Path,
    log: Arc<Mutex<GatewayLog>>,
) -> (Child, SocketAddr) {
    let agent_dir = state.join("agents/main/agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let models = json!({"providers": {"mock": {"baseUrl": format!("http://{provider}/v1"), "apiKey": "${MOCK_API_KEY}",
        "api": "openai-completions", "models": [{"id": "ok", "name": "ok", "contextWindow": 64000, "maxTokens": 512,
        "reasoning": false, "input": ["text"], "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}}]}}});
    std::fs::write(agent_dir.join("models.json"), models.to_string()).unwrap();
    rotate_pair(state).expect("the first certificate pair");
    std::fs::write(state.join("config.json5"), config_text(0)).unwrap();
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", state)
        .env("MOCK_API_KEY", "sk-soak")
        .args(["--state-dir", state.to_str().unwrap(), "gateway", "--port", "0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openclaw (build with cargo bench)");
    let file = Arc::new(Mutex::new(std::fs::File::create(log_path).unwrap()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let (file, log, ready_tx) = (file.clone(), log.clone(), ready_tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writeln!(file.lock().unwrap(), "{line}");
                let v: Value = serde_json::from_str(&line).unwrap_or_default();
                if v["fields"]["message"] == "gateway ready"
                    && let Some(addr) = v["fields"]["listen"].as_str().and_then(|l| l.split(',').next()?.parse().ok())
                {
                    let _ = ready_tx.send(addr);
                }
                let mut log = log.lock().unwrap();
                match v["level"].as_str() {
                    Some("WARN") => log.warnings += 1,
                    Some("ERROR") => log.errors += 1,
                    _ => continue,
                }
                if log.first.len() < DESCRIBED {
                    log.first.push(line);
                }
            }
        });
    }
    let addr: SocketAddr = ready_rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("timed out after 20 s waiting for the gateway to log `gateway ready` (log: {})", log_path.display())
    });
    (child, addr)
}

/// One sample of the gateway's memory (KiB), descriptors and threads.
#[derive(Clone, Copy, serde::Serialize)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    anon_kib: u64,
    pss_kib: u64,
    fds: u64,
    threads: u64,
}

fn sample(pid: u32, at_s: f64) -> Sample {
    let field = |text: &str, name: &str| {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Sample {
        at_s,
        rss_kib: field(&status, "VmRSS:"),
        anon_kib: field(&status, "RssAnon:"),
        pss_kib: field(&smaps, "Pss:"),
        fds,
        threads: field(&status, "Threads:"),
    }
}

/// min / max / first / last of one figure over `samples`.
fn summary(samples: &[Sample], f: fn(&Sample) -> u64) -> Value {
    let v: Vec<u64> = samples.iter().map(f).collect();
    json!({"min": v.iter().min(), "max": v.iter().max(), "first": v.first(), "last": v.last()})
}

fn out_path() -> PathBuf {
    std::env::var_os("OPENCLAW_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/soak.json"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; nothing to list.
    }
    let secs: u64 = std::env::var("OPENCLAW_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    // Warm-up: the first 20 % of the run, and at least until just after the first listener
    // restart (at most half the run). Allocator arenas and caches fill, and that restart adds a
    // second server (its worker threads and descriptors) beside the first, which keeps draining
    // the 1,000 clients for the rest of the run: a one-time step, not growth.
    let warmup = (secs / 5).max(RESTART_EVERY + SAMPLE_EVERY.as_secs()).min(secs / 2);
    let state = tempfile::tempdir().unwrap();
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak-gateway.log");
    let log = Arc::new(Mutex::new(GatewayLog::default()));
    let provider = mock_provider();
    let (mut gw, addr) = spawn_gateway(state.path(), provider, &log_path, log.clone());
    let pid = gw.id();
    eprintln!("soak: gateway pid {pid} on {addr}, {secs} s, warm-up {warmup} s, log {}", log_path.display());

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut samples: Vec<Sample> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut gateway_exit = None;

    let (open_secs, open_at_end) = rt.block_on(async {
        let t0 = Instant::now();
        let opened: Vec<Result<Ws, String>> =
            futures_util::stream::iter(0..CLIENTS).map(|_| open_client(addr)).buffer_unordered(OPENING).collect().await;
        let open_secs = t0.elapsed().as_secs_f64();
        let mut conns = Vec::with_capacity(CLIENTS);
        for c in opened {
            match c {
                Ok(ws) => conns.push(ws),
                Err(e) => stats.error(format!("opening a client: {e}")),
            }
        }
        eprintln!("soak: {} clients connected in {open_secs:.1} s", conns.len());
        let start = Instant::now();
        stats.start.set(start).ok();
        let clients: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, ws)| {
                // Spread over the second, so calls arrive evenly rather than in a burst.
                let offset = CALL_EVERY * i as u32 / CLIENTS as u32;
                tokio::spawn(client(i, ws, offset, stats.clone(), stop.clone()))
            })
            .collect();
        let others = vec![
            tokio::spawn(control(addr, state.path().to_path_buf(), stats.clone(), stop.clone())),
            tokio::spawn(agents(addr, stats.clone(), stop.clone())),
            tokio::spawn(pairing(addr, stats.clone(), stop.clone())),
        ];

        let end = start + Duration::from_secs(secs);
        let mut next_sample = start;
        let mut next_progress = start + PROGRESS_EVERY;
        while Instant::now() < end {
            let now = Instant::now();
            if now >= next_sample {
                let s = sample(pid, now.duration_since(start).as_secs_f64());
                samples.push(s);
                next_sample += SAMPLE_EVERY;
            }
            if now >= next_progress {
                next_progress += PROGRESS_EVERY;
                let s = samples.last().copied().unwrap_or_else(|| sample(pid, 0.0));
                eprintln!(
                    "soak: {:>5.0}s calls {} errors {} drops {} reloads {} restarts {} rotations {} agent runs {} pairings {} | RSS {} KiB anon {} KiB fds {} threads {}",
                    now.duration_since(start).as_secs_f64(),
                    Stats::get(&stats.calls),
                    Stats::get(&stats.errors),
                    Stats::get(&stats.drops),
                    Stats::get(&stats.reloads),
                    Stats::get(&stats.restarts),
                    Stats::get(&stats.rotations),
                    Stats::get(&stats.agent_runs),
                    Stats::get(&stats.pairings),
                    s.rss_kib,
                    s.anon_kib,
                    s.fds,
                    s.threads,
                );
            }
            if let Ok(Some(st)) = gw.try_wait() {
                gateway_exit = Some(st);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = stop_tx.send(true);
        let mut open_at_end = 0;
        for c in clients {
            match tokio::time::timeout(CALL_DEADLINE, c).await {
                Ok(Ok(true)) => open_at_end += 1,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => stats.error(format!("a client task failed: {e}")),
                Err(_) => stats.error(format!("a client did not stop within {CALL_DEADLINE:?}")),
            }
        }
        for t in others {
            // A reload or run in progress finishes first (each bounded by its own deadline).
            if tokio::time::timeout(RUN_DEADLINE + APPLY_DEADLINE, t).await.is_err() {
                stats.error("a control task did not stop in time".into());
            }
        }
        (open_secs, open_at_end)
    });

    if let Some(st) = gateway_exit {
        problems.push(format!("the gateway exited during the run: {st}"));
    } else {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let t0 = std::time::Instant::now();
        loop {
            match gw.try_wait() {
                Ok(Some(st)) if st.success() => break,
                Ok(Some(st)) => {
                    problems.push(format!("the gateway exited with {st} after SIGTERM"));
                    break;
                }
                _ if t0.elapsed() > Duration::from_secs(30) => {
                    problems.push("the gateway did not exit within 30 s of SIGTERM".into());
                    let _ = gw.kill();
                    let _ = gw.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    // Checks.
    let errors = Stats::get(&stats.errors);
    let drops = Stats::get(&stats.drops);
    let log = log.lock().unwrap();
    if drops > 0 || open_at_end != CLIENTS {
        problems
            .push(format!("{drops} connections dropped by the gateway; {open_at_end} of {CLIENTS} open at the end"));
    }
    if errors > 0 {
        problems.push(format!("{errors} errors"));
    }
    if log.errors > 0 {
        problems.push(format!("the gateway logged {} errors", log.errors));
    }
    // How many of an activity due at `first`, `first + every`, ... seconds fall before the end.
    let expected = |first: u64, every: u64| if secs > first { (secs - 1 - first) / every + 1 } else { 0 };
    let counts = [
        ("reloads", Stats::get(&stats.reloads), expected(1, 1)),
        ("listener restarts", Stats::get(&stats.restarts), expected(RESTART_EVERY, RESTART_EVERY)),
        ("certificate rotations", Stats::get(&stats.rotations), expected(ROTATE_AT, RESTART_EVERY)),
        ("agent runs", Stats::get(&stats.agent_runs), expected(0, AGENT_EVERY.as_secs())),
        ("pairings", Stats::get(&stats.pairings), expected(0, PAIR_EVERY.as_secs())),
    ];
    // Each activity must have kept pace (a loaded machine may lose a few ticks to delays).
    for (name, done, want) in counts {
        if done * 10 < want * 9 {
            problems.push(format!("only {done} {name} of about {want}"));
        }
    }
    let post: Vec<Sample> = samples.iter().copied().filter(|s| s.at_s >= warmup as f64).collect();
    let rss_verdict = match post.first() {
        None => {
            problems.push("no memory sample after the warm-up".into());
            "no samples".to_string()
        }
        Some(level) => {
            let lo = level.rss_kib as f64 * (1.0 - RSS_BAND);
            let hi = level.rss_kib as f64 * (1.0 + RSS_BAND);
            match post.iter().find(|s| (s.rss_kib as f64) < lo || (s.rss_kib as f64) > hi) {
                None => format!("pass: within ±10 % of {} KiB", level.rss_kib),
                Some(s) => {
                    let v = format!(
                        "fail: {} KiB at {:.0} s, outside ±10 % of the post-warm-up level {} KiB",
                        s.rss_kib, s.at_s, level.rss_kib
                    );
                    problems.push(format!("RSS {v}"));
                    v
                }
            }
        }
    };
    let fd_verdict = {
        let (min, max) = (post.iter().map(|s| s.fds).min().unwrap_or(0), post.iter().map(|s| s.fds).max().unwrap_or(0));
        if max - min <= FD_SLACK {
            format!("pass: {min}-{max} after the warm-up (slack {FD_SLACK})")
        } else {
            let v = format!("fail: {min}-{max} after the warm-up, more than {FD_SLACK} apart");
            problems.push(format!("file descriptors {v}"));
            v
        }
    };

    let first = stats.first.lock().unwrap().clone();
    let result = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "binary": BIN,
        "seconds": secs,
        "warmup_seconds": warmup,
        "clients": CLIENTS,
        "clients_open_seconds": open_secs,
        "clients_open_at_end": open_at_end,
        "counts": {
            "calls": Stats::get(&stats.calls),
            "control_calls": Stats::get(&stats.control_calls),
            "events": Stats::get(&stats.events),
            "reloads": Stats::get(&stats.reloads),
            "listener_restarts": Stats::get(&stats.restarts),
            "cert_rotations": Stats::get(&stats.rotations),
            "agent_runs": Stats::get(&stats.agent_runs),
            "pairings": Stats::get(&stats.pairings),
        },
        "dropped": drops,
        "errors": errors,
        "first_errors_and_drops": first,
        "gateway_log": {"path": log_path, "warnings": log.warnings, "errors": log.errors, "first": log.first},
        "memory": {
            "rss_kib": summary(&post, |s| s.rss_kib),
            "anon_kib": summary(&post, |s| s.anon_kib),
            "pss_kib": summary(&post, |s| s.pss_kib),
            "rss_verdict": rss_verdict,
        },
        "fds": {"after_warmup": summary(&post, |s| s.fds), "verdict": fd_verdict},
        "threads": summary(&post, |s| s.threads),
        "samples": samples,
        "pass": problems.is_empty(),
        "problems": problems,
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    println!("{text}");
    std::fs::write(out_path(), text + "\n").unwrap();
    if !problems.is_empty() {
        eprintln!("soak: FAILED");
        for p in &problems {
            eprintln!("soak: - {p}");
        }
        for f in &first {
            eprintln!("soak:   {f}");
        }
        std::process::exit(1);
    }
    eprintln!("soak: passed");
}
