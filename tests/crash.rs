//! Crash consistency: the real gateway (and the CLI when the CLI is the writer) is `kill -9`ed
//! at a random moment of a stream of writes, 200 times per kind of write, on one state dir kept
//! across kills. After each restart every state file parses as what it is, none is half-written,
//! no temp file of a killed writer is left, and the last write acknowledged to the client (an
//! RPC answered ok, a CLI that exited 0) is there, on disk and in what the gateway serves.
//!
//! Each restart is the binary started again on the same state dir at once: the pid lock is an
//! flock, which dies with the killed process (and with a child it was spawning, which the
//! start waits for), so nothing waits for a stale lock.
//!
//! Kinds: `config.set`; the device registry (pair, approve, rotate, revoke); the cron store and
//! run history; the session index and transcripts (`agent`, `chat.send`); `openclaw token
//! rotate`; `openclaw backup restore`.
//!
//! Kill moments come from a seeded PRNG, uniform over a window a few writes long, so kills land
//! before, during and after writes. The seed is printed when a test fails and
//! `OPENCLAW_CRASH_SEED` replays it (timing still varies); `OPENCLAW_CRASH_KILLS` changes the
//! count per kind (default 200, the issue's number).
//!
//! JSONL files (transcripts, cron run history) are appended by `agents::transcript::append`,
//! which tolerates a torn last line by design: readers skip it and the next append starts a
//! fresh line (src/agents/transcript.rs). The checks accept such a line while it is the last
//! one, and once closed off by a later append, that same line only. Every other line parses.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::provider::{API_KEY, MockProvider};
use common::{Gateway, Spawn, Ws};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The issue's number of kills per kind of write.
const KILLS: usize = 200;

fn kills() -> usize {
    std::env::var("OPENCLAW_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(KILLS)
}

fn seed() -> u64 {
    match std::env::var("OPENCLAW_CRASH_SEED") {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("OPENCLAW_CRASH_SEED={v:?} is not a u64")),
        Err(_) => {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64;
            t ^ (u64::from(std::process::id()) << 32)
        }
    }
}

/// SplitMix64: seedable and small; only the spread of kill moments and choices matters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// How many writes long the kill window is, on average: enough for kills to land before the
/// first write, between writes, and in the middle of one.
const WRITES_PER_WINDOW: u32 = 4;

/// One kind's run: its PRNG, its counters and the torn JSONL tails accepted so far. It names
/// the seed if the test fails.
struct Campaign {
    kind: &'static str,
    seed: u64,
    rng: Rng,
    started: Instant,
    kills: usize,
    in_flight: usize,
    acked: usize,
    /// Time spent starting gateways, for the report.
    starting: Duration,
    /// How long an acknowledged write takes (a moving average): the window follows the
    /// machine's speed, so a loaded machine still sees several writes per lifetime.
    latency: Duration,
    torn: HashSet<(PathBuf, String)>,
}

impl Campaign {
    /// `latency`: a first guess of a write's duration, until writes are measured.
    fn new(kind: &'static str, latency: Duration) -> Self {
        let seed = seed();
        // Each kind draws its own stream from the one seed, so one value replays every kind.
        let salt = kind.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x1_0000_01b3));
        Self {
            kind,
            seed,
            rng: Rng(seed ^ salt),
            started: Instant::now(),
            kills: 0,
            in_flight: 0,
            acked: 0,
            starting: Duration::ZERO,
            latency,
            torn: HashSet::new(),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    /// A kill moment, uniform over `window`.
    fn delay(&mut self, window: Duration) -> Duration {
        Duration::from_micros(self.rng.below(window.as_micros() as u64))
    }

    /// The kill window: a few writes long.
    fn window(&self) -> Duration {
        self.latency * WRITES_PER_WINDOW
    }

    /// Starts the gateway of the next lifetime.
    fn start(&mut self, spawn: Spawn) -> Gateway {
        let t = Instant::now();
        let gw = spawn.start();
        self.starting += t.elapsed();
        gw
    }

    /// Counts a write acknowledged `took` after it was sent.
    fn acked(&mut self, took: Duration) {
        self.acked += 1;
        self.latency = (self.latency * 7 + took) / 8;
    }

    /// Counts a kill; `in_flight`: a write was sent before the kill and never answered.
    fn killed(&mut self, in_flight: bool) {
        self.kills += 1;
        self.in_flight += usize::from(in_flight);
    }

    fn report(&self) {
        eprintln!(
            "crash[{}]: {} kills ({} with a write in flight), {} writes acknowledged (~{:?} each), {} torn JSONL \
             tails, {:.1} s ({:.1} s starting gateways), seed {}",
            self.kind,
            self.kills,
            self.in_flight,
            self.acked,
            self.latency,
            self.torn.len(),
            self.started.elapsed().as_secs_f64(),
            self.starting.as_secs_f64(),
            self.seed
        );
        assert_eq!(self.kills, kills(), "every planned kill happened");
    }
}

impl Drop for Campaign {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash[{}]: failed after {} kills; replay with OPENCLAW_CRASH_SEED={}",
                self.kind, self.kills, self.seed
            );
        }
    }
}

/// What the killer shoots once its moment comes: the gateway, and the CLI running then.
#[derive(Default)]
struct Targets {
    gateway: Option<i32>,
    cli: Mutex<Option<i32>>,
    fired: AtomicBool,
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) on a child of this test that has not been reaped (its pid is still ours).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// SIGKILLs the targets after `delay` on a thread of its own. The sleep is the kill moment the
/// PRNG chose, not a wait for anything.
fn kill_after(delay: Duration, targets: Arc<Targets>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        // The CLI slot is held while signalling: its pid cannot be reaped (and reused) meanwhile.
        let cli = targets.cli.lock().unwrap();
        targets.fired.store(true, Ordering::SeqCst);
        if let Some(pid) = targets.gateway {
            sigkill(pid);
        }
        if let Some(pid) = *cli {
            sigkill(pid);
        }
    })
}

impl Targets {
    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// Arms a killer for `gateway` (None: only the CLI of [`run_cli`]) at a moment drawn from
/// `window`.
fn arm(c: &mut Campaign, gateway: Option<&Gateway>, window: Duration) -> (Arc<Targets>, JoinHandle<()>) {
    let targets = Arc::new(Targets { gateway: gateway.map(Gateway::pid), ..Default::default() });
    let killer = kill_after(c.delay(window), targets.clone());
    (targets, killer)
}

/// Runs the CLI on `state` as one of the killer's targets: None when the killer fired before it
/// started, else its exit status and stderr. The wait is bounded by the killer's moment.
fn run_cli(state: &Path, args: &[&str], targets: &Targets) -> Option<(ExitStatus, String)> {
    let child = {
        let mut slot = targets.cli.lock().unwrap();
        if targets.fired.load(Ordering::SeqCst) {
            return None;
        }
        let child = common::command(state)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the CLI");
        *slot = Some(child.id() as i32);
        child
    };
    // Waits for the exit without reaping (WNOWAIT): the pid stays this child's until the slot
    // no longer names it, so the killer never signals a reused pid.
    loop {
        // SAFETY: waitid on our own child with a zeroed siginfo to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::waitid(libc::P_PID, child.id(), &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "waitid: {e}");
    }
    targets.cli.lock().unwrap().take();
    let out = child.wait_with_output().expect("reap the CLI");
    Some((out.status, String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// Waits for the killed gateway, which must have died of the SIGKILL and of nothing else, and
/// hands back its state dir for the next lifetime.
fn reap(mut gw: Gateway) -> TempDir {
    let st = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(st.signal(), Some(libc::SIGKILL), "the gateway died of something else: {st}\n{}", gw.dump_logs());
    std::mem::replace(&mut gw.state, tempfile::tempdir().expect("tempdir"))
}

/// The connection is gone: what a kill leaves a client with.
#[derive(Debug)]
struct Gone(#[allow(dead_code)] String);

/// A client a kill can cut: every step returns [`Gone`] instead of panicking.
struct Client {
    ws: Ws,
    next: u64,
    events: Vec<Value>,
}

impl Client {
    fn dial(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Self, Gone> {
        Ws::dial(addr, headers).map(|ws| Self { ws, next: 0, events: Vec::new() }).map_err(Gone)
    }

    /// The operator, with every scope. Opened before the killer starts.
    fn operator(gw: &Gateway, token: &str) -> Self {
        let mut c = Self::dial(gw.addr, &[]).unwrap_or_else(|e| panic!("{e:?}\n{}", gw.dump_logs()));
        let params = json!({"minProtocol": 3, "maxProtocol": 3, "auth": {"token": token},
            "client": {"id": "test", "version": "1.0", "platform": "linux", "mode": "test"}});
        let hello = c.connect(params).expect("connect");
        assert_eq!(hello["ok"], true, "{hello}");
        c
    }

    fn connect(&mut self, params: Value) -> Result<Value, Gone> {
        let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": params});
        self.ws.ws.send(tungstenite::Message::text(frame.to_string())).map_err(|e| Gone(e.to_string()))?;
        self.reply("c0")
    }

    fn send(&mut self, method: &str, params: Value) -> Result<String, Gone> {
        self.next += 1;
        let id = format!("q{}", self.next);
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.ws.send(tungstenite::Message::text(frame.to_string())).map_err(|e| Gone(e.to_string()))?;
        Ok(id)
    }

    fn recv(&mut self) -> Result<Value, Gone> {
        self.ws.recv().map_err(|(code, why)| Gone(format!("{code} {why}")))
    }

    /// The next response to `id`; events read meanwhile are kept for [`Client::event`].
    fn reply(&mut self, id: &str) -> Result<Value, Gone> {
        loop {
            let v = self.recv()?;
            if v["type"] == "res" && v["id"] == id {
                return Ok(v);
            }
            if v["type"] == "event" {
                self.events.push(v);
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, Gone> {
        let id = self.send(method, params)?;
        self.reply(&id)
    }

    /// The first event `pred` accepts, kept or next to come; others are dropped.
    fn event(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value, Gone> {
        if let Some(i) = self.events.iter().position(&pred) {
            return Ok(self.events.remove(i));
        }
        self.events.clear();
        loop {
            let v = self.recv()?;
            if v["type"] == "event" && pred(&v) {
                return Ok(v);
            }
        }
    }
}

/// The result of an answered call, which must be ok.
fn ok(r: Value, gw: &Gateway) -> Value {
    assert_eq!(r["ok"], true, "{r}\n{}", gw.dump_logs());
    r["payload"].clone()
}

// ---------------------------------------------------------------------------------------------
// What "every file parses" means, file by file.

/// Which temp files of atomic writes (`.<name>.<pid>.tmp`) may exist when the tree is checked.
#[derive(Clone, Copy)]
enum Temps {
    /// Only the running gateway's own, of a write it is making now: a restart sweeps the rest.
    OfGateway(u32),
    /// Any: the writer was just killed and nothing has restarted since.
    Any,
    /// None: a restore that exited 0 swept them and renamed its own.
    None,
}

/// Every file under `state` (logs aside: diagnostics, not state) parses as what it is.
fn check_tree(c: &mut Campaign, state: &Path, temps: Temps) {
    let mut stack = vec![state.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("read_dir").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(state).expect("inside").to_path_buf();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                if rel != Path::new("logs") {
                    stack.push(path);
                }
            } else {
                check_file(c, &path, &rel, temps);
            }
        }
    }
}

fn check_file(c: &mut Campaign, path: &Path, rel: &Path, temps: Temps) {
    let name = rel.file_name().expect("name").to_string_lossy().into_owned();
    if let Some(writer) = name.strip_suffix(".tmp").and_then(|n| n.rsplit_once('.')).map(|(_, pid)| pid) {
        let writer: u32 = writer.parse().unwrap_or_else(|_| panic!("{}: a temp file of no writer", rel.display()));
        match temps {
            Temps::Any => return,
            Temps::OfGateway(pid) if pid == writer => return,
            _ => panic!("{}: a temp file of a killed writer (pid {writer}) was left behind", rel.display()),
        }
    }
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
    let text = || String::from_utf8(bytes.clone()).unwrap_or_else(|_| panic!("{}: not UTF-8", rel.display()));
    let bad = |what: &str| -> ! {
        panic!("{}: {what}; it holds {:?}", rel.display(), String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]))
    };
    assert!(!name.contains(".corrupt-"), "{}: a corrupt file was moved aside", rel.display());
    if name == "gateway.lock" {
    } else if name == "gateway.pid" {
        let t = text();
        if t.trim().parse::<u32>().is_err() || !t.ends_with('\n') {
            bad("not a pid line");
        }
    } else if rel == Path::new("secrets/gateway_token") {
        if !is_token_line(&text()) {
            bad("not one token line");
        }
    } else if name.ends_with(".json") {
        if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
            bad(&format!("not JSON ({e})"));
        }
    } else if name.ends_with(".json5") || name.ends_with(".json5.bak") {
        if let Err(e) = json5::from_str::<Value>(&text()) {
            bad(&format!("not JSON5 ({e})"));
        }
    } else if name.ends_with(".jsonl") {
        check_jsonl(c, path, &text());
    } else if name.ends_with(".tar.gz") {
        if let Err(e) = read_tar_gz(&bytes) {
            bad(&format!("not a whole tar.gz ({e})"));
        }
    } else {
        panic!("{}: a state file of unknown kind; say in check_file how it must parse", rel.display());
    }
}

fn is_token_line(t: &str) -> bool {
    t.strip_suffix('\n').is_some_and(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Each line is JSON, but for a torn tail (see the module doc): accepted while last, and once
/// closed off by a later append, that same line only.
fn check_jsonl(c: &mut Campaign, path: &Path, text: &str) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.trim().is_empty() || serde_json::from_str::<Value>(body).is_ok() {
            continue;
        }
        let key = (path.to_path_buf(), body.to_string());
        if c.torn.contains(&key) {
            continue;
        }
        let is_tail = i + 1 == lines.len() && !line.ends_with('\n');
        assert!(is_tail, "{}: line {} is neither JSON nor a torn tail: {body:?}", path.display(), i + 1);
        c.torn.insert(key);
    }
}

/// The whole gzip stream (its CRC included), then every tar entry to its end.
fn read_tar_gz(bytes: &[u8]) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut raw)?;
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(raw.as_slice()).entries()? {
        let mut e = e?;
        let mut body = Vec::new();
        e.read_to_end(&mut body)?;
        out.insert(e.path()?.into_owned(), body);
    }
    Ok(out)
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The entries of a JSONL file that parse (the tree check has judged the others).
fn jsonl_entries(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// A new state dir with `config` as its config file.
fn fresh_state(config: &str) -> TempDir {
    let state = tempfile::tempdir().expect("tempdir");
    std::fs::write(state.path().join("config.json5"), config).expect("write the config");
    state
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---------------------------------------------------------------------------------------------
// config.set

/// A first guess of how long one write takes.
const CONFIG_WRITE: Duration = Duration::from_millis(15);
const TIMEOUT_KEY: &str = "agents.defaults.timeoutSeconds";

/// `agents.defaults.timeoutSeconds` in `file` (None: no file yet).
fn timeout_in(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: Value = json5::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    Some(v["agents"]["defaults"]["timeoutSeconds"].as_u64().unwrap_or_else(|| panic!("no {TIMEOUT_KEY} in {text}")))
}

#[test]
fn config_set_survives_kill_9() {
    let mut c = Campaign::new("config.set", CONFIG_WRITE);
    let mut state = tempfile::tempdir().unwrap();
    // The value of the last config.set answered ok, and of one sent but unanswered at the kill.
    let mut acked: Option<u64> = None;
    let mut in_flight: Option<u64> = None;
    let mut next = 600u64;
    for round in 0..=kills() {
        let gw = c.start(Spawn::in_state(state));
        check_tree(&mut c, gw.state_path(), Temps::OfGateway(gw.pid() as u32));
        let on_disk = timeout_in(&gw.config_path());
        assert!(
            on_disk == acked || (in_flight.is_some() && on_disk == in_flight),
            "config.json5 has {TIMEOUT_KEY} {on_disk:?}; acknowledged {acked:?}, in flight {in_flight:?}"
        );
        // The backup is the file before the latest write: never newer than the file.
        if let Some(bak) = timeout_in(&gw.state_path().join("config.json5.bak")) {
            assert!(Some(bak) <= on_disk, "config.json5.bak has {bak}, config.json5 {on_disk:?}");
        }
        let mut op = Client::operator(&gw, &gw.token());
        if let Some(v) = on_disk {
            let got = ok(op.call("config.get", json!({})).expect("config.get"), &gw);
            assert_eq!(got["config"]["agents"]["defaults"]["timeoutSeconds"], v, "the gateway serves the file");
            assert_eq!(got["valid"], true, "{got}");
        }
        acked = on_disk;
        if round == kills() {
            break;
        }
        let window = c.window();
        let (targets, killer) = arm(&mut c, Some(&gw), window);
        // Writes until the kill cuts one: the one sent and never answered, and whether it was
        // sent before the kill.
        let (cut, live) = loop {
            next += 1;
            let (live, sent) = (!targets.fired(), Instant::now());
            let Ok(id) = op.send("config.set", json!({"key": TIMEOUT_KEY, "value": next})) else { break (None, false) };
            let Ok(r) = op.reply(&id) else { break (Some(next), live) };
            ok(r, &gw);
            acked = Some(next);
            c.acked(sent.elapsed());
        };
        c.killed(cut.is_some() && live);
        in_flight = cut;
        killer.join().unwrap();
        state = reap(gw);
    }
    c.report();
}

// ---------------------------------------------------------------------------------------------
// The device registry

/// A first guess of how long one write takes.
const DEVICE_WRITE: Duration = Duration::from_millis(15);
const SHARED: &str = "shared-crash-token";
/// A Host that is not local: the device must be approved by an operator.
const REMOTE: &[(&str, &str)] = &[("Host", "192.0.2.10:18789")];

/// Where a device is in pair, approve, token, rotate, revoke.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    New,
    Requested(String),
    Approved,
    /// The operator token's hash.
    Token(String),
    Revoked,
}

/// A registry change sent to the gateway.
#[derive(Clone, Copy, Debug)]
enum DeviceOp {
    /// A remote connect: a pending request.
    Request,
    /// A local connect: request, approval and token at once (three saves).
    PairLocally,
    Approve,
    /// A connect of the approved device: its first token.
    Issue,
    Rotate,
    Revoke,
}

/// Whether `seen` on disk may follow a kill during `op` from `from`.
fn op_result(op: DeviceOp, from: &Step, seen: &Step) -> bool {
    match (op, seen) {
        (DeviceOp::Request, Step::Requested(_)) => true,
        (DeviceOp::PairLocally, Step::Requested(_) | Step::Approved | Step::Token(_)) => true,
        (DeviceOp::Approve, Step::Approved) => true,
        (DeviceOp::Issue, Step::Token(_)) => true,
        (DeviceOp::Rotate, Step::Token(h)) => *from != Step::Token(h.clone()),
        (DeviceOp::Revoke, Step::Revoked) => true,
        _ => false,
    }
}

/// The device's step as `devices/*.json` have it. The two files are written one after the
/// other (paired.json first): a kill between them leaves a request still pending for a device
/// already paired for its role, which is harmless (approving it again changes nothing, and it
/// expires), so the paired side decides.
fn step_on_disk(registry: &(Value, Value), id: &str) -> Step {
    let (paired, pending) = registry;
    let dev = &paired[id];
    let token = &dev["tokens"]["operator"];
    if token.is_object() {
        return if token["revokedAtMs"].is_i64() {
            Step::Revoked
        } else {
            Step::Token(token["hash"].as_str().expect("hash").to_string())
        };
    }
    if dev["roles"].as_array().is_some_and(|r| r.iter().any(|r| r == "operator")) {
        return Step::Approved;
    }
    let req = pending.as_object().into_iter().flatten().find(|(_, p)| p["deviceId"] == id && p["role"] == "operator");
    match req {
        Some((rid, _)) => Step::Requested(rid.clone()),
        None => Step::New,
    }
}

/// paired.json and pending.json.
fn registry_on_disk(state: &Path) -> (Value, Value) {
    let read = |f: &str| read_json(&state.join("devices").join(f)).unwrap_or(json!({}));
    (read("paired.json"), read("pending.json"))
}

/// Connect params of `dev` with a proof signed over `token` and the challenge's nonce.
fn device_params(dev: &Identity, token: &str, nonce: &str) -> Value {
    let mut p = json!({"minProtocol": 3, "maxProtocol": 3, "auth": {"token": token},
        "client": {"id": "cli", "version": "1.0", "platform": "linux", "mode": "cli"},
        "scopes": ["operator.read", "operator.pairing"]});
    let parsed = openclaw::protocol::connect::parse(&p).expect("connect params");
    p["device"] = dev.prove(&parsed, token, Some(nonce), now_ms()).to_json();
    p
}

/// One connect of `dev` (remote unless `local`), authenticated by `token`.
fn device_connect(addr: SocketAddr, dev: &Identity, token: &str, local: bool) -> Result<Value, Gone> {
    let mut c = Client::dial(addr, if local { &[] } else { REMOTE })?;
    let nonce = c.ws.nonce();
    c.connect(device_params(dev, token, &nonce))
}

#[test]
fn device_registry_survives_kill_9() {
    let mut c = Campaign::new("devices", DEVICE_WRITE);
    let mut state = fresh_state(&format!("{{ gateway: {{ auth: {{ mode: 'token', token: '{SHARED}' }} }} }}"));
    // The device going through its life now, its acknowledged step and its token in clear
    // (when the client got it); devices whose life ended (revoked).
    let mut dev = Identity::generate();
    let mut step = Step::New;
    let mut token: Option<String> = None;
    let mut retired: Vec<String> = Vec::new();
    let mut in_flight: Option<DeviceOp> = None;
    for round in 0..=kills() {
        let gw = c.start(Spawn::in_state(state));
        check_tree(&mut c, gw.state_path(), Temps::OfGateway(gw.pid() as u32));
        let registry = registry_on_disk(gw.state_path());
        let seen = step_on_disk(&registry, &dev.id());
        match in_flight {
            _ if seen == step => {}
            Some(op) if op_result(op, &step, &seen) => {
                // The unanswered change landed: its token, if any, never reached the client.
                step = seen;
                token = None;
            }
            _ => panic!("device {}: on disk {seen:?}; acknowledged {step:?}, in flight {in_flight:?}", dev.id()),
        }
        for id in &retired {
            assert_eq!(step_on_disk(&registry, id), Step::Revoked, "device {id} lost its revocation");
        }
        if step == Step::Revoked {
            retired.push(dev.id());
            (dev, step, token) = (Identity::generate(), Step::New, None);
        }
        // After a restart the acknowledged token still opens a session.
        if let Some(t) = &token {
            let hello = device_connect(gw.addr, &dev, t, false).expect("connect with the device token");
            assert_eq!(hello["ok"], true, "the acknowledged device token is refused after a restart: {hello}");
        }
        if round == kills() {
            break;
        }
        let mut op = Client::operator(&gw, SHARED);
        let window = c.window();
        let (targets, killer) = arm(&mut c, Some(&gw), window);
        // Changes until the kill cuts one (which may have landed: the gateway never answered).
        let (cut, live) = loop {
            let next = match &step {
                Step::New if c.below(3) == 0 => DeviceOp::PairLocally,
                Step::New => DeviceOp::Request,
                Step::Requested(_) => DeviceOp::Approve,
                Step::Approved => DeviceOp::Issue,
                Step::Token(_) if c.below(2) == 0 => DeviceOp::Rotate,
                Step::Token(_) => DeviceOp::Revoke,
                Step::Revoked => {
                    retired.push(dev.id());
                    (dev, step, token) = (Identity::generate(), Step::New, None);
                    continue;
                }
            };
            let (live, sent) = (!targets.fired(), Instant::now());
            let id = dev.id();
            let done = match next {
                DeviceOp::Request => device_connect(gw.addr, &dev, SHARED, false).map(|r| {
                    assert_eq!(r["error"]["code"], "NOT_PAIRED", "{r}");
                    (Step::Requested(r["error"]["details"]["requestId"].as_str().expect("requestId").into()), None)
                }),
                DeviceOp::PairLocally | DeviceOp::Issue => {
                    device_connect(gw.addr, &dev, SHARED, matches!(next, DeviceOp::PairLocally)).map(|r| {
                        let t = ok(r, &gw)["auth"]["deviceToken"].as_str().expect("deviceToken").to_string();
                        (Step::Token(openclaw::auth::token_hash(&t)), Some(t))
                    })
                }
                DeviceOp::Approve => {
                    let Step::Requested(rid) = &step else { unreachable!() };
                    op.call("device.pair.approve", json!({"requestId": rid})).map(|r| {
                        assert_eq!(ok(r, &gw)["deviceId"], id.as_str());
                        (Step::Approved, None)
                    })
                }
                DeviceOp::Rotate => {
                    op.call("device.token.rotate", json!({"deviceId": id, "role": "operator"})).map(|r| {
                        let t = ok(r, &gw)["token"].as_str().expect("token").to_string();
                        (Step::Token(openclaw::auth::token_hash(&t)), Some(t))
                    })
                }
                DeviceOp::Revoke => {
                    op.call("device.token.revoke", json!({"deviceId": id, "role": "operator"})).map(|r| {
                        ok(r, &gw);
                        (Step::Revoked, None)
                    })
                }
            };
            let Ok((s, t)) = done else { break (next, live) };
            (step, token) = (s, t);
            c.acked(sent.elapsed());
        };
        c.killed(live);
        in_flight = Some(cut);
        killer.join().unwrap();
        state = reap(gw);
    }
    eprintln!("crash[devices]: {} devices went through pair, approve, rotate and revoke", retired.len());
    c.report();
}

// ---------------------------------------------------------------------------------------------
// The cron store and run history

/// A first guess of how long one write takes.
const CRON_WRITE: Duration = Duration::from_millis(20);
/// Never due (2100-01-01): runs only when asked.
const NEVER: i64 = 4_102_444_800_000;

#[derive(Clone, Debug)]
enum CronOp {
    Add(String),
    Update(String, String),
    Remove(String),
    Run,
}

/// The stored jobs (id -> name) and the `ok` runs of `bk` (by runAtMs) as the files have them.
fn cron_on_disk(state: &Path) -> (BTreeMap<String, String>, HashSet<i64>) {
    let store = read_json(&state.join("cron/jobs.json")).unwrap_or(json!({"jobs": []}));
    let jobs = store["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| (j["id"].as_str().expect("id").to_string(), j["name"].as_str().expect("name").to_string()))
        .collect();
    let runs = jsonl_entries(&state.join("cron/runs/bk.jsonl"))
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| r["runAtMs"].as_i64().expect("runAtMs"))
        .collect();
    (jobs, runs)
}

#[test]
fn cron_store_and_run_history_survive_kill_9() {
    let mut c = Campaign::new("cron", CRON_WRITE);
    let mut state = fresh_state(&format!(
        "{{ cron: {{ jobs: [ {{ id: 'bk', schedule: {{ kind: 'at', atMs: {NEVER} }}, \
         payload: {{ kind: 'backupSessions', keep: 2 }} }} ] }} }}"
    ));
    // Sessions for the backup job to archive, so that its write takes a while.
    let sessions = state.path().join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    let line = json!({"type": "message", "message": {"role": "user", "content": "x".repeat(100)}}).to_string();
    std::fs::write(sessions.join("seed.jsonl"), format!("{line}\n").repeat(300)).unwrap();
    let mut jobs: BTreeMap<String, String> = BTreeMap::new();
    let mut runs: HashSet<i64> = HashSet::new();
    let mut in_flight: Option<CronOp> = None;
    let mut n = 0;
    for round in 0..=kills() {
        let gw = c.start(Spawn::in_state(state));
        check_tree(&mut c, gw.state_path(), Temps::OfGateway(gw.pid() as u32));
        let (disk_jobs, disk_runs) = cron_on_disk(gw.state_path());
        let explained = disk_jobs == jobs
            || match &in_flight {
                Some(CronOp::Add(name)) => {
                    let extra: Vec<_> = disk_jobs.iter().filter(|(id, _)| !jobs.contains_key(*id)).collect();
                    extra.len() == 1 && extra[0].1 == name && disk_jobs.len() == jobs.len() + 1
                }
                Some(CronOp::Update(id, name)) => {
                    let mut after = jobs.clone();
                    after.insert(id.clone(), name.clone());
                    disk_jobs == after
                }
                Some(CronOp::Remove(id)) => {
                    let mut after = jobs.clone();
                    after.remove(id);
                    disk_jobs == after
                }
                _ => false,
            };
        assert!(explained, "jobs.json has {disk_jobs:?}; acknowledged {jobs:?}, in flight {in_flight:?}");
        let missing: Vec<_> = runs.difference(&disk_runs).collect();
        assert!(missing.is_empty(), "acknowledged runs of bk missing from its history: {missing:?}");
        let extra = disk_runs.difference(&runs).count();
        assert!(extra == 0 || (extra == 1 && matches!(in_flight, Some(CronOp::Run))), "{extra} unknown runs");
        (jobs, runs) = (disk_jobs, disk_runs);
        // After a restart the gateway serves what is on disk.
        let mut op = Client::operator(&gw, &gw.token());
        let list = ok(op.call("cron.list", json!({"includeDisabled": true})).expect("cron.list"), &gw);
        let served: BTreeMap<String, String> = list["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter(|j| j["source"] == "store")
            .map(|j| (j["id"].as_str().unwrap().to_string(), j["name"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(served, jobs, "cron.list after a restart");
        let history = ok(op.call("cron.runs", json!({"id": "bk", "limit": 10000})).expect("cron.runs"), &gw);
        let served: HashSet<i64> = history["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter(|r| r["status"] == "ok")
            .filter_map(|r| r["runAtMs"].as_i64())
            .collect();
        assert_eq!(served, runs, "cron.runs after a restart");
        if round == kills() {
            break;
        }
        let window = c.window();
        let (targets, killer) = arm(&mut c, Some(&gw), window);
        // Changes and runs until the kill cuts one (which may have landed).
        let (cut, live) = loop {
            n += 1;
            let ids: Vec<String> = jobs.keys().cloned().collect();
            let pick = |c: &mut Campaign| ids[c.below(ids.len() as u64) as usize].clone();
            let next = match c.below(4) {
                1 | 2 if !ids.is_empty() && c.below(2) == 0 => CronOp::Remove(pick(&mut c)),
                1 | 2 if !ids.is_empty() => CronOp::Update(pick(&mut c), format!("job-{n}")),
                3 => CronOp::Run,
                _ if ids.len() >= 4 => CronOp::Update(pick(&mut c), format!("job-{n}")),
                _ => CronOp::Add(format!("job-{n}")),
            };
            let (live, sent) = (!targets.fired(), Instant::now());
            let done = match &next {
                CronOp::Add(name) => {
                    let job = json!({"name": name, "schedule": {"kind": "at", "atMs": NEVER},
                                     "payload": {"kind": "backupSessions", "keep": 2}});
                    op.call("cron.add", job).map(|r| {
                        let id = ok(r, &gw)["job"]["id"].as_str().expect("id").to_string();
                        jobs.insert(id, name.clone());
                    })
                }
                CronOp::Update(id, name) => {
                    op.call("cron.update", json!({"id": id, "patch": {"name": name}})).map(|r| {
                        ok(r, &gw);
                        jobs.insert(id.clone(), name.clone());
                    })
                }
                CronOp::Remove(id) => op.call("cron.remove", json!({"id": id})).map(|r| {
                    ok(r, &gw);
                    jobs.remove(id);
                }),
                // The run is acknowledged by its `finished` event, sent once the history has it.
                CronOp::Run => op.call("cron.run", json!({"id": "bk"})).and_then(|r| {
                    assert_eq!(ok(r, &gw)["ran"], true);
                    let fin = op.event(|e| {
                        e["event"] == "cron" && e["payload"]["jobId"] == "bk" && e["payload"]["action"] == "finished"
                    })?;
                    assert_eq!(fin["payload"]["status"], "ok", "{fin}");
                    runs.insert(fin["payload"]["runAtMs"].as_i64().expect("runAtMs"));
                    Ok(())
                }),
            };
            if done.is_err() {
                break (next, live);
            }
            c.acked(sent.elapsed());
        };
        c.killed(live);
        in_flight = Some(cut);
        killer.join().unwrap();
        state = reap(gw);
    }
    eprintln!("crash[cron]: {} runs of bk in the history, {} stored jobs", runs.len(), jobs.len());
    c.report();
}

// ---------------------------------------------------------------------------------------------
// The session index and transcripts

/// A first guess of how long one write takes.
const SESSION_WRITE: Duration = Duration::from_millis(40);
const SESSION_KEYS: [&str; 4] = ["agent:main:s0", "agent:main:s1", "agent:main:s2", "agent:main:s3"];

/// The transcript of `key` as the index names it: user messages in order, and the run ids
/// with an assistant answer.
fn transcript_on_disk(state: &Path, key: &str) -> (Vec<String>, HashSet<String>) {
    let dir = state.join("agents/main/sessions");
    let Some(index) = read_json(&dir.join("sessions.json")) else { return (Vec::new(), HashSet::new()) };
    let Some(sid) = index[key]["sessionId"].as_str() else { return (Vec::new(), HashSet::new()) };
    let entries = jsonl_entries(&dir.join(format!("{sid}.jsonl")));
    let users = entries
        .iter()
        .filter(|e| e["message"]["role"] == "user")
        .map(|e| e["message"]["content"].as_str().expect("content").to_string())
        .collect();
    let answered = entries
        .iter()
        .filter(|e| e["message"]["role"] == "assistant")
        .filter_map(|e| e["runId"].as_str().map(str::to_string))
        .collect();
    (users, answered)
}

/// Whether `want` appears in `have` in order (other items may come between).
fn in_order(want: &[String], have: &[String]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

#[test]
fn session_index_and_transcripts_survive_kill_9() {
    let mut c = Campaign::new("sessions", SESSION_WRITE);
    let mock = MockProvider::start();
    let spawn = Spawn::in_state(fresh_state("{ agents: { defaults: { model: 'mock/ok' } } }"));
    let mut state = mock.install(spawn, &["ok"]).state;
    // Per key, the acknowledged turns (message, run id) in order; messages of turns cut by a
    // kill, which may or may not have reached the transcript.
    let mut turns: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut cut: HashSet<String> = HashSet::new();
    let mut n = 0;
    for round in 0..=kills() {
        let gw = c.start(Spawn::in_state(state).env("MOCK_API_KEY", API_KEY));
        check_tree(&mut c, gw.state_path(), Temps::OfGateway(gw.pid() as u32));
        for key in SESSION_KEYS {
            let (users, answered) = transcript_on_disk(gw.state_path(), key);
            let acked = turns.get(key).map(Vec::as_slice).unwrap_or_default();
            let msgs: Vec<String> = acked.iter().map(|(m, _)| m.clone()).collect();
            assert!(in_order(&msgs, &users), "{key}: acknowledged {msgs:?}, transcript has {users:?}");
            for (m, run) in acked {
                assert!(answered.contains(run), "{key}: the acknowledged answer of {m} ({run}) is missing");
            }
            let unknown: Vec<_> = users.iter().filter(|u| !msgs.contains(u) && !cut.contains(*u)).collect();
            assert!(unknown.is_empty(), "{key}: messages nobody sent: {unknown:?}");
        }
        // After a restart the gateway serves the acknowledged turns of a session.
        let mut op = Client::operator(&gw, &gw.token());
        let key = SESSION_KEYS[c.below(SESSION_KEYS.len() as u64) as usize];
        if let Some(acked) = turns.get(key) {
            let h = ok(op.call("chat.history", json!({"sessionKey": key, "limit": 1000})).expect("history"), &gw);
            let users: Vec<String> = h["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .filter(|m| m["role"] == "user")
                .map(|m| m["content"].as_str().unwrap_or_default().to_string())
                .collect();
            let msgs: Vec<String> = acked.iter().map(|(m, _)| m.clone()).collect();
            assert!(in_order(&msgs, &users), "chat.history of {key} after a restart: {users:?}, acknowledged {msgs:?}");
        }
        if round == kills() {
            break;
        }
        let window = c.window();
        let (targets, killer) = arm(&mut c, Some(&gw), window);
        // Turns until the kill cuts one; whether it was sent before the kill.
        let live = loop {
            n += 1;
            let key = SESSION_KEYS[c.below(SESSION_KEYS.len() as u64) as usize];
            let (msg, run) = (format!("m{n}"), format!("run-{n}"));
            let params = json!({"sessionKey": key, "message": msg, "idempotencyKey": run});
            let (live, sent) = (!targets.fired(), Instant::now());
            // Acknowledged by the outcome: the final `agent` answer, or chat.send's final event.
            let done = if c.below(2) == 0 {
                op.send("agent", params).and_then(|id| {
                    cut.insert(msg.clone());
                    let first = op.reply(&id)?;
                    assert_eq!(first["payload"]["status"], "accepted", "{first}");
                    let fin = op.reply(&id)?;
                    assert_eq!(ok(fin, &gw)["status"], "ok");
                    Ok(())
                })
            } else {
                op.send("chat.send", params).and_then(|id| {
                    cut.insert(msg.clone());
                    ok(op.reply(&id)?, &gw);
                    let fin = op.event(|e| {
                        e["event"] == "chat"
                            && e["payload"]["runId"] == run.as_str()
                            && e["payload"]["state"] != "delta"
                    })?;
                    assert_eq!(fin["payload"]["state"], "final", "{fin}");
                    Ok(())
                })
            };
            if done.is_err() {
                break live && cut.contains(&msg);
            }
            cut.remove(&msg);
            turns.entry(key).or_default().push((msg, run));
            c.acked(sent.elapsed());
        };
        c.killed(live);
        killer.join().unwrap();
        state = reap(gw);
    }
    c.report();
}

// ---------------------------------------------------------------------------------------------
// openclaw token rotate

/// A first guess of how long one write takes.
const TOKEN_WRITE: Duration = Duration::from_millis(40);

#[test]
fn token_rotate_survives_kill_9() {
    let mut c = Campaign::new("token rotate", TOKEN_WRITE);
    let mut state = tempfile::tempdir().unwrap();
    // The token in the file after the last rotate that exited 0 (None: the generated one).
    let mut acked: Option<String> = None;
    let mut in_flight = false;
    for round in 0..=kills() {
        let gw = c.start(Spawn::in_state(state));
        check_tree(&mut c, gw.state_path(), Temps::OfGateway(gw.pid() as u32));
        let on_disk = gw.token();
        if let Some(a) = &acked {
            assert!(
                *a == on_disk || in_flight,
                "the acknowledged rotation is lost: the file has {on_disk}, the CLI wrote {a}"
            );
        }
        // After a restart the token in the file opens a session.
        let mut op = Client::operator(&gw, &gw.token());
        ok(op.call("health", json!({})).expect("health"), &gw);
        (acked, in_flight) = (Some(on_disk), false);
        if round == kills() {
            break;
        }
        // The rotating CLI is killed with the gateway: it is the writer of the token file.
        let window = c.window();
        let (targets, killer) = arm(&mut c, Some(&gw), window);
        loop {
            let sent = Instant::now();
            let Some((st, err)) = run_cli(gw.state_path(), &["token", "rotate", "--grace", "1s"], &targets) else {
                break;
            };
            if st.signal() == Some(libc::SIGKILL) {
                in_flight = true;
                break;
            }
            assert!(st.success(), "token rotate: {st}: {err}");
            acked = Some(gw.token());
            c.acked(sent.elapsed());
        }
        c.killed(in_flight);
        killer.join().unwrap();
        state = reap(gw);
    }
    c.report();
}

// ---------------------------------------------------------------------------------------------
// openclaw backup restore

/// What a backup holds and what the gateway must serve once it is restored.
struct Backup {
    file: PathBuf,
    files: BTreeMap<PathBuf, Vec<u8>>,
    timeout: u64,
    jobs: Vec<String>,
    last_message: String,
}

const RESTORE_KEY: &str = "agent:main:r";

/// Makes real state through a gateway (a turn, a cron job, a config value, a local device),
/// pads the session's transcript to `padding` lines so that restoring takes long enough to be
/// cut in the middle, and backs the state dir up into `out`.
fn make_backup(
    mock: &MockProvider,
    state: TempDir,
    out: &Path,
    timeout: u64,
    job: &str,
    padding: usize,
) -> (TempDir, Backup) {
    let gw = mock.install(Spawn::in_state(state), &["ok"]).start();
    let mut ws = gw.ws();
    let r = ws.call("chat.send", json!({"sessionKey": RESTORE_KEY, "message": job, "idempotencyKey": job}));
    let w = ws.call("agent.wait", json!({"runId": r["payload"]["runId"], "timeoutMs": 10000}));
    assert_eq!(w["payload"]["status"], "ok", "{w}");
    let added = ws.call(
        "cron.add",
        json!({"name": job, "schedule": {"kind": "at", "atMs": NEVER},
                                           "payload": {"kind": "backupSessions"}}),
    );
    assert_eq!(added["ok"], true, "{added}");
    assert_eq!(ws.call("config.set", json!({"key": TIMEOUT_KEY, "value": timeout}))["ok"], true);
    let hello = device_connect(gw.addr, &Identity::generate(), &gw.token(), true).expect("local device");
    assert_eq!(hello["ok"], true, "{hello}");
    let jobs = ws.call("cron.list", json!({}))["payload"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect();
    drop(ws);
    let state = gw.stop_keep_state();
    let index = read_json(&state.path().join("agents/main/sessions/sessions.json")).unwrap();
    let sid = index[RESTORE_KEY]["sessionId"].as_str().unwrap();
    let transcript = state.path().join(format!("agents/main/sessions/{sid}.jsonl"));
    let mut rng = Rng(timeout);
    let mut text = std::fs::read_to_string(&transcript).unwrap();
    let mut last_message = String::new();
    for i in 0..padding {
        // Random digits: padding that gzip cannot fold away, so the restore has bytes to write.
        last_message = format!("{job} padding {i} {:x}{:x}", rng.next(), rng.next());
        let e = json!({"type": "message", "ts": i, "runId": "padding", "message": {"role": "user", "content": last_message}});
        text.push_str(&format!("{e}\n"));
    }
    std::fs::write(&transcript, text).unwrap();
    let (code, stdout, err) = common::run(state.path(), &["backup", "create", "--out", out.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stdout}{err}");
    let files = read_tar_gz(&std::fs::read(out).unwrap()).unwrap();
    (state, Backup { file: out.to_path_buf(), files, timeout, jobs, last_message })
}

/// The files of either backup as they are on disk now (None: absent).
fn snapshot(state: &Path, paths: &HashSet<PathBuf>) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    paths.iter().map(|p| (p.clone(), std::fs::read(state.join(p)).ok())).collect()
}

/// A gateway on the restored state serves what the backup holds.
fn serves(c: &mut Campaign, state: TempDir, b: &Backup) -> TempDir {
    let gw = c.start(Spawn::in_state(state).env("MOCK_API_KEY", API_KEY));
    check_tree(c, gw.state_path(), Temps::OfGateway(gw.pid() as u32));
    let mut op = Client::operator(&gw, &gw.token());
    let cfg = ok(op.call("config.get", json!({})).expect("config.get"), &gw);
    assert_eq!(cfg["config"]["agents"]["defaults"]["timeoutSeconds"], b.timeout, "restored config");
    let list = ok(op.call("cron.list", json!({})).expect("cron.list"), &gw);
    let jobs: Vec<String> =
        list["jobs"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(jobs, b.jobs, "restored cron jobs");
    let h = ok(op.call("chat.history", json!({"sessionKey": RESTORE_KEY, "limit": 1})).expect("history"), &gw);
    assert_eq!(h["messages"][0]["content"], b.last_message.as_str(), "restored transcript");
    gw.signal(libc::SIGKILL);
    reap(gw)
}

#[test]
fn backup_restore_survives_kill_9() {
    let mut c = Campaign::new("backup restore", Duration::ZERO);
    let mock = MockProvider::start();
    let out = tempfile::tempdir().unwrap();
    let (state, a) = make_backup(&mock, tempfile::tempdir().unwrap(), &out.path().join("a.tar.gz"), 700, "a", 3000);
    let (mut state, b) = make_backup(&mock, state, &out.path().join("b.tar.gz"), 800, "b", 2000);
    let paths: HashSet<PathBuf> = a.files.keys().chain(b.files.keys()).cloned().collect();
    let t0 = Instant::now();
    let (code, _, err) = common::run(state.path(), &["backup", "restore", a.file.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    c.latency = t0.elapsed();
    for round in 1..=kills() {
        // One restore per kill: the window is a little longer than a whole restore.
        let window = c.latency * 5 / 4;
        let target = if c.below(2) == 0 { &a } else { &b };
        let before = snapshot(state.path(), &paths);
        let (targets, killer) = arm(&mut c, None, window);
        let sent = Instant::now();
        let outcome = run_cli(state.path(), &["backup", "restore", target.file.to_str().unwrap()], &targets);
        killer.join().unwrap();
        let (acked, cut) = match outcome {
            None => (false, false),
            Some((st, _)) if st.signal() == Some(libc::SIGKILL) => (false, true),
            Some((st, err)) => {
                assert!(st.success(), "backup restore: {st}: {err}");
                (true, false)
            }
        };
        c.killed(cut);
        if acked {
            c.acked(sent.elapsed());
        }
        check_tree(&mut c, state.path(), if acked { Temps::None } else { Temps::Any });
        let after = snapshot(state.path(), &paths);
        for p in &paths {
            let now = &after[p];
            let wanted = target.files.get(p);
            if acked && let Some(w) = wanted {
                assert!(now.as_ref() == Some(w), "{}: not the backup's after a restore that exited 0", p.display());
            }
            assert!(
                *now == before[p] || now.as_ref() == wanted,
                "{}: half-written by a killed restore (neither the old file nor the backup's)",
                p.display()
            );
        }
        // Now and then, and at the end: a gateway starts on a whole restore and serves it.
        if round % 50 == 0 {
            let target = if c.below(2) == 0 { &a } else { &b };
            let (code, _, err) = common::run(state.path(), &["backup", "restore", target.file.to_str().unwrap()], &[]);
            assert_eq!(code, 0, "{err}");
            state = serves(&mut c, state, target);
        }
    }
    c.report();
}
