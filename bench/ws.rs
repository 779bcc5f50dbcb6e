//! WebSocket RPC benchmark: real protocol-v3 handshake, then `health` calls.
//! The same client runs against a minimal tokio-tungstenite echo server (the floor) in the
//! same run. Run: `cargo bench --bench ws` (see bench/README.md). Writes bench/results/ws.json.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
/// `POST /rpc` calls: one keep-alive connection, then several at once.
const RPC_CALLS: usize = 3_000;
const RPC_CONNS: usize = 8;
const RPC_SECS: u64 = 5;

/// The gateway binary: this build's, or `OPENCLAW_BENCH_BIN` (an earlier build, to compare
/// two versions with the same client on the same machine).
fn gateway_bin() -> String {
    std::env::var("OPENCLAW_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}
const TOKEN: &str = "bench-token";
const SEQ_CALLS: usize = 5_000;
/// The RTT ratios: rounds of echo, `health` and the cheapest method one after another, each a
/// fresh connection of `RTT_CALLS` calls. A single p50 of each moves by a third from one minute
/// to the next on a shared machine, the floor's too, and not together.
const RTT_ROUNDS: usize = 9;
const RTT_CALLS: usize = 2_000;
const CONNS: usize = 50;
const LOAD_SECS: u64 = 10;
const IDLE_CONNS: usize = 10_000;
const SERVER_THREADS: usize = 2;
const TLS_CLIENTS: usize = 4;
/// Measured after start-up has settled (the gateway releases start-up code 2 s after ready).
const SETTLE: Duration = Duration::from_secs(3);
const TLS_SECS: u64 = 5;

/// Plain TCP or TLS under the WebSocket.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}
type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// TCP (+ TLS when `tls`, certificate not verified: a benchmark, not a client).
async fn dial(addr: SocketAddr, tls: bool) -> Box<dyn Io> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    if !tls {
        return Box::new(stream);
    }
    // Built once: creating a connector loads the system CA store (tens of milliseconds).
    static CONNECTOR: std::sync::OnceLock<openssl::ssl::SslConnector> = std::sync::OnceLock::new();
    let connector = CONNECTOR.get_or_init(|| {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.set_verify(openssl::ssl::SslVerifyMode::NONE);
        b.build()
    });
    let ssl = connector.configure().unwrap().verify_hostname(false).into_ssl("localhost").unwrap();
    let mut s = tokio_openssl::SslStream::new(ssl, stream).unwrap();
    std::pin::Pin::new(&mut s).connect().await.expect("TLS handshake");
    Box::new(s)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Opens a connection and completes the handshake (against the echo server the
/// "challenge" is absent and the connect frame simply comes back).
async fn open(addr: SocketAddr, gateway: bool) -> Ws {
    open_with(addr, gateway, false).await
}

async fn open_with(addr: SocketAddr, gateway: bool, tls: bool) -> Ws {
    let stream = dial(addr, tls).await;
    let url = format!("{}://{addr}/", if tls { "wss" } else { "ws" });
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.expect("ws handshake");
    if gateway {
        next_text(&mut ws).await; // connect.challenge
    }
    let connect = json!({"type":"req","id":"c","method":"connect","params":{"minProtocol":3,"maxProtocol":3,
        "client":{"id":"cli","version":"bench","platform":"linux","mode":"cli"},"auth":{"token": TOKEN}}});
    ws.send(Message::text(connect.to_string())).await.unwrap();
    let hello = next_text(&mut ws).await;
    assert!(!gateway || hello.contains("hello-ok"), "handshake failed: {hello}");
    ws
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await.expect("stream open").expect("frame") {
            Message::Text(t) => return t.to_string(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

const HEALTH: &str = r#"{"type":"req","id":"h","method":"health"}"#;
/// The cheapest method there is (answers `null` from nothing): the RPC path itself, next to
/// `health`, whose document is most of its cost.
const CHEAPEST: &str = r#"{"type":"req","id":"h","method":"last-heartbeat"}"#;

async fn call(ws: &mut Ws) {
    call_with(ws, HEALTH).await
}

async fn call_with(ws: &mut Ws, req: &str) {
    ws.send(Message::text(req)).await.unwrap();
    // Skip events (tick, presence); the next response is ours.
    loop {
        let t = next_text(ws).await;
        if !t.starts_with(r#"{"event""#) && !t.contains(r#""type":"event""#) {
            return;
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn sequential(addr: SocketAddr, gateway: bool) -> serde_json::Value {
    sequential_with(addr, gateway, HEALTH, SEQ_CALLS).await
}

async fn sequential_with(addr: SocketAddr, gateway: bool, req: &'static str, calls: usize) -> serde_json::Value {
    let mut ws = open(addr, gateway).await;
    for _ in 0..200 {
        call_with(&mut ws, req).await; // warm-up
    }
    let mut us = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        call_with(&mut ws, req).await;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    json!({"calls": calls, "p50_us": pct(&mut us, 0.5), "p99_us": pct(&mut us, 0.99)})
}

/// Sequential p50 of the echo floor, `health` and the cheapest method in [`RTT_ROUNDS`] rounds
/// (the order turning each round, so drift falls on all three), and the median over the rounds
/// of each round's ratios to the floor.
async fn rtt_rounds(echo: SocketAddr, gateway: SocketAddr) -> serde_json::Value {
    // Echo (the floor), `health`, the cheapest method: the order of `p50` below.
    let kinds: [(SocketAddr, bool, &'static str); 3] =
        [(echo, false, HEALTH), (gateway, true, HEALTH), (gateway, true, CHEAPEST)];
    let mut p50 = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..RTT_ROUNDS {
        for k in 0..3 {
            let which = (round + k) % 3;
            let (addr, gw, req) = kinds[which];
            p50[which].push(sequential_with(addr, gw, req, RTT_CALLS).await["p50_us"].as_f64().unwrap());
        }
    }
    let ratios = |i: usize| p50[i].iter().zip(&p50[0]).map(|(x, e)| x / e).collect::<Vec<f64>>();
    let (health, cheapest) = (ratios(1), ratios(2));
    json!({"rounds": RTT_ROUNDS, "calls_per_round": RTT_CALLS,
           "p50_us": {"echo": p50[0], "health": p50[1], "cheapest": p50[2]},
           "ratio_per_round": {"health": health, "cheapest": cheapest},
           "median_ratio": {"health": pct(&mut health.clone(), 0.5), "cheapest": pct(&mut cheapest.clone(), 0.5)}})
}

async fn throughput(addr: SocketAddr, gateway: bool) -> serde_json::Value {
    throughput_with(addr, gateway, false, HEALTH).await
}

/// TLS handshakes per second: `TLS_CLIENTS` clients connecting in a loop for `TLS_SECS`.
async fn handshakes(addr: SocketAddr) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TLS_CLIENTS {
        let (stop, count) = (stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                drop(dial(addr, true).await);
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(TLS_SECS)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let n = count.load(Ordering::Relaxed) as f64;
    json!({"clients": TLS_CLIENTS, "handshakes_per_s": n / t0.elapsed().as_secs_f64()})
}

async fn throughput_with(addr: SocketAddr, gateway: bool, tls: bool, req: &'static str) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let (stop, count) = (stop.clone(), count.clone());
        let mut ws = open_with(addr, gateway, tls).await;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                call_with(&mut ws, req).await;
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                count.fetch_add(1, Ordering::Relaxed);
            }
            lat
        }));
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(LOAD_SECS)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = t0.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed) as f64;
    json!({"connections": CONNS, "seconds": secs, "calls_per_s": n / secs, "p50_us": pct(&mut all, 0.5), "p99_us": pct(&mut all, 0.99)})
}

fn rss_kib(pid: u32) -> u64 {
    memory_kib(pid).0
}

/// `GET /metrics` timed `n` times (a Prometheus scrape): p50/p99 ms and the body size.
fn scrapes(addr: SocketAddr, n: usize) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut ms = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let mut body = Vec::new();
        s.read_to_end(&mut body).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(body.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&body[..body.len().min(200)]));
        bytes = body.len();
    }
    ms.sort_by(f64::total_cmp);
    json!({"scrapes": n, "p50_ms": ms[n / 2], "p99_ms": ms[(n * 99) / 100], "bytes": bytes})
}

/// `n` authenticated connections, a few handshakes in flight at once as many clients would.
async fn open_many(addr: SocketAddr, n: usize) -> Vec<Ws> {
    let mut conns = Vec::with_capacity(n);
    let mut pending = futures_util::stream::FuturesUnordered::new();
    for i in 0..n {
        pending.push(open(addr, true));
        if pending.len() >= 64 || i + 1 == n {
            while let Some(ws) = pending.next().await {
                conns.push(ws);
                if pending.len() < 32 && i + 1 < n {
                    break;
                }
            }
        }
    }
    while let Some(ws) = pending.next().await {
        conns.push(ws);
    }
    conns
}

/// CPU time the process's threads have used, in microseconds (scheduler statistics); `None`
/// where the kernel keeps none. The gateway's threads live as long as it does.
fn cpu_us(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.flatten().collect()).unwrap_or(Vec::new());
    let ns: Vec<u64> = tasks
        .iter()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .collect();
    (!ns.is_empty()).then(|| ns.iter().sum::<u64>() as f64 / 1000.0)
}

async fn idle(addr: SocketAddr, pid: u32) -> serde_json::Value {
    let scrape_empty = tokio::task::spawn_blocking(move || scrapes(addr, 50)).await.unwrap();
    let before = rss_kib(pid);
    let (t0, cpu0) = (Instant::now(), cpu_us(pid));
    let conns = open_many(addr, IDLE_CONNS).await;
    let secs = t0.elapsed().as_secs_f64();
    // What a connection costs the gateway: accept, upgrade, challenge, connect, hello-ok.
    let cpu_per_open = cpu_us(pid).zip(cpu0).map(|(after, before)| (after - before) / conns.len().max(1) as f64);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    let scrape_loaded = tokio::task::spawn_blocking(move || scrapes(addr, 50)).await.unwrap();
    let n = conns.len();
    drop(conns);
    json!({"connections": n, "open_per_s": n as f64 / secs, "cpu_us_per_open": cpu_per_open,
           "rss_before_kib": before, "rss_after_kib": after,
           "kib_per_connection": (after.saturating_sub(before)) as f64 / n as f64,
           "metrics_scrape_idle": scrape_empty, "metrics_scrape_with_connections": scrape_loaded})
}

/// The floor: a minimal tokio-tungstenite echo server with the gateway's thread count.
fn echo_server(port: u16) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(SERVER_THREADS).enable_all().build().unwrap();
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                s.set_nodelay(true).ok();
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else { return };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn wait_port(addr: SocketAddr) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "server did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn spawn_gateway(state: &Path, port: u16, tls: bool) -> Child {
    spawn_binary(&gateway_bin(), state, port, tls)
}

fn spawn_binary(bin: &str, state: &Path, port: u16, tls: bool) -> Child {
    // Every client comes from 127.0.0.1: lift the per-address cap (this build's key; a binary
    // from before it, in a comparison, has no cap and would refuse the key:
    // OPENCLAW_BENCH_BIN_NO_CAPS=1).
    let caps = if bin == BIN || std::env::var_os("OPENCLAW_BENCH_BIN_NO_CAPS").is_none() {
        "maxConnectionsPerAddress: 1000000, "
    } else {
        ""
    };
    std::fs::write(
        state.join("config.json5"),
        format!(
            "{{ gateway: {{ {caps}port: {port}, tls: {{ enabled: {tls} }}, auth: {{ token: '{TOKEN}' }} }}, logging: {{ level: 'warn', file: false }} }}"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    // Allocator experiments, for the gateway only: OPENCLAW_BENCH_GATEWAY_<VAR> is passed as
    // <VAR>, e.g. _LD_PRELOAD (Debian's libjemalloc.so.2), _MALLOC_CONF, _GLIBC_TUNABLES.
    for (k, v) in std::env::vars() {
        if let Some(var) = k.strip_prefix("OPENCLAW_BENCH_GATEWAY_") {
            cmd.env(var, v);
        }
    }
    cmd.args(["--state-dir", state.to_str().unwrap(), "gateway"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// One `POST /rpc {"method":"health"}` on a keep-alive connection; returns when the whole
/// response (headers and `Content-Length` body) has been read.
fn rpc_call(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) {
    use std::io::{Read, Write};
    const BODY: &str = r#"{"method":"health"}"#;
    let req = format!(
        "POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    buf.clear();
    let mut chunk = [0u8; 16384];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        if buf.len() >= end + 4 + len {
            return;
        }
    }
}

/// `POST /rpc`: sequential p50/p99 on one keep-alive connection, then calls/s with
/// `RPC_CONNS` connections (one call in flight each) for `RPC_SECS`.
fn http_rpc(addr: SocketAddr) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    for _ in 0..200 {
        rpc_call(&mut s, &mut buf);
    }
    let mut us = Vec::with_capacity(RPC_CALLS);
    for _ in 0..RPC_CALLS {
        let t = Instant::now();
        rpc_call(&mut s, &mut buf);
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..RPC_CONNS)
        .map(|_| {
            let (stop, total) = (stop.clone(), total.clone());
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    rpc_call(&mut s, &mut buf);
                    total.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(RPC_SECS));
    stop.store(true, Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().unwrap());
    json!({
        "sequential_calls": RPC_CALLS,
        "p50_us": us[RPC_CALLS / 2],
        "p99_us": us[RPC_CALLS * 99 / 100],
        "connections": RPC_CONNS,
        "calls_per_s": total.load(Ordering::Relaxed) as f64 / RPC_SECS as f64,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--echo-server") {
        echo_server(args[i + 1].parse().unwrap());
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if let Some(baseline) = std::env::var_os("OPENCLAW_BENCH_COMPARE") {
        return compare(&rt, &baseline.to_string_lossy());
    }
    if std::env::var_os("OPENCLAW_BENCH_BURST").is_some() {
        return burst(&rt);
    }

    let echo_port = free_port();
    let mut echo =
        Command::new(std::env::current_exe().unwrap()).args(["--echo-server", &echo_port.to_string()]).spawn().unwrap();
    let echo_addr: SocketAddr = format!("127.0.0.1:{echo_port}").parse().unwrap();
    wait_port(echo_addr);
    let echo_seq = rt.block_on(sequential(echo_addr, false));
    let echo_tp = rt.block_on(throughput(echo_addr, false));

    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gw = spawn_gateway(state.path(), port, false);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(addr);
    // Steady state: the gateway releases its start-up code pages 2 s after it is ready.
    std::thread::sleep(SETTLE);
    let seq = rt.block_on(sequential(addr, true));
    let tp = rt.block_on(throughput(addr, true));
    let cheap_seq = rt.block_on(sequential_with(addr, true, CHEAPEST, SEQ_CALLS));
    let cheap_tp = rt.block_on(throughput_with(addr, true, false, CHEAPEST));
    let rounds = rt.block_on(rtt_rounds(echo_addr, addr));
    let _ = echo.kill();
    let _ = echo.wait();
    let rpc = http_rpc(addr);
    let idle = rt.block_on(idle(addr, gw.id()));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(gw.id() as i32, libc::SIGTERM) };
    let _ = gw.wait();

    // The same gateway with TLS: handshakes/s and wss throughput, next to ws in this run.
    let tls_state = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let mut tls_gw = spawn_gateway(tls_state.path(), tls_port, true);
    let tls_addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    wait_port(tls_addr);
    std::thread::sleep(SETTLE);
    let hs = rt.block_on(handshakes(tls_addr));
    let wss_tp = rt.block_on(throughput_with(tls_addr, true, true, HEALTH));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(tls_gw.id() as i32, libc::SIGTERM) };
    let _ = tls_gw.wait();

    let ratio = tp["calls_per_s"].as_f64().unwrap() / echo_tp["calls_per_s"].as_f64().unwrap();
    let cheap_ratio = cheap_tp["calls_per_s"].as_f64().unwrap() / echo_tp["calls_per_s"].as_f64().unwrap();
    let rtt = |v: &serde_json::Value| v["p50_us"].as_f64().unwrap();
    let rtt_ratios = json!({"health": rounds["median_ratio"]["health"], "cheapest": rounds["median_ratio"]["cheapest"],
                            "rounds": rounds,
                            "single_run": {"health": rtt(&seq) / rtt(&echo_seq), "cheapest": rtt(&cheap_seq) / rtt(&echo_seq)}});
    let wss_ratio = wss_tp["calls_per_s"].as_f64().unwrap() / tp["calls_per_s"].as_f64().unwrap();
    let result = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "binary": gateway_bin(),
        "gateway": {"sequential": seq, "throughput": tp, "http_rpc": rpc, "idle": idle},
        "echo_floor": {"sequential": echo_seq, "throughput": echo_tp},
        "throughput_ratio_vs_echo": ratio,
        "cheapest": {"method": "last-heartbeat", "sequential": cheap_seq, "throughput": cheap_tp,
                     "throughput_ratio_vs_echo": cheap_ratio},
        "sequential_p50_vs_echo": rtt_ratios,
        "tls": {"handshakes": hs, "wss_throughput": wss_tp, "wss_vs_ws_ratio": wss_ratio},
        "targets": {"calls_per_s": 50000, "p99_ms": 2, "sequential_p50_us": 100, "open_per_s": 2000, "kib_per_connection": 20},
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    println!("{text}");
    std::fs::write(out_path("ws.json"), text + "\n").unwrap();
}

/// `OPENCLAW_BENCH_COMPARE=<other binary>`: the sequential and throughput figures of that
/// build and this one, alternating, `COMPARE_ROUNDS` times, each gateway fresh: a before/after
/// comparison whose noise is measured in the same run. Writes bench/results/ws-compare.json.
fn compare(rt: &tokio::runtime::Runtime, baseline: &str) {
    const COMPARE_ROUNDS: usize = 5;
    let this = gateway_bin();
    let mut rounds = Vec::new();
    let mut figures: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..COMPARE_ROUNDS {
        // Alternate which goes first, so drift on the machine falls on both.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut row = serde_json::Map::new();
        for which in order {
            let bin = if which == 0 { baseline } else { this.as_str() };
            let state = tempfile::tempdir().unwrap();
            let port = free_port();
            let mut gw = spawn_binary(bin, state.path(), port, false);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            wait_port(addr);
            std::thread::sleep(SETTLE);
            let seq = rt.block_on(sequential(addr, true));
            let tp = rt.block_on(throughput(addr, true));
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(gw.id() as i32, libc::SIGTERM) };
            let _ = gw.wait();
            figures[which].push((seq["p50_us"].as_f64().unwrap(), tp["calls_per_s"].as_f64().unwrap()));
            row.insert(["baseline", "this"][which].into(), json!({"sequential": seq, "throughput": tp}));
        }
        eprintln!("round {}: {}", round + 1, serde_json::Value::Object(row.clone()));
        rounds.push(serde_json::Value::Object(row));
    }
    let median = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let summary = |v: &[(f64, f64)]| {
        json!({"sequential_p50_us": v.iter().map(|f| f.0).collect::<Vec<_>>(), "calls_per_s": v.iter().map(|f| f.1).collect::<Vec<_>>(),
               "median_sequential_p50_us": median(v, |f| f.0), "median_calls_per_s": median(v, |f| f.1)})
    };
    let result = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "baseline": {"binary": baseline, "figures": summary(&figures[0])},
        "this": {"binary": this, "figures": summary(&figures[1])},
        "rounds": rounds,
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    println!("{text}");
    std::fs::write(out_path("ws-compare.json"), text + "\n").unwrap();
}

/// Where results go: `bench/results/<name>`, or `OPENCLAW_BENCH_OUT` (a run of another build
/// that should not replace the recorded figures).
fn out_path(name: &str) -> std::path::PathBuf {
    std::env::var_os("OPENCLAW_BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results").join(name))
}

/// Resident memory of `pid` in KiB: (RSS, anonymous, PSS).
fn memory_kib(pid: u32) -> (u64, u64, u64) {
    let field = |text: &str, name: &str| {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    (field(&status, "VmRSS:"), field(&status, "RssAnon:"), field(&smaps, "Pss:"))
}

fn memory_json(pid: u32) -> serde_json::Value {
    let (rss, anon, pss) = memory_kib(pid);
    json!({"rss_kib": rss, "anon_kib": anon, "pss_kib": pss})
}

/// `OPENCLAW_BENCH_BURST=1`: does the gateway give memory back? Idle (3 s after start, then
/// after idling as long as it will after the burst, then once more after one client came and
/// went), then 10,000 connections opened and held, 1,000,000 calls over 50 of them, all
/// closed, then memory sampled every 5 s for `OPENCLAW_BENCH_BURST_WAIT` seconds (default 60).
/// Writes bench/results/memory.json.
fn burst(rt: &tokio::runtime::Runtime) {
    // Smaller bursts, to see which part leaves memory behind: OPENCLAW_BENCH_BURST_CONNS/_CALLS.
    let count = |var: &str, default: usize| std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let burst_conns = count("OPENCLAW_BENCH_BURST_CONNS", 10_000).max(CONNS);
    let burst_calls = count("OPENCLAW_BENCH_BURST_CALLS", 1_000_000);
    let wait: u64 = std::env::var("OPENCLAW_BENCH_BURST_WAIT").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gw = spawn_gateway(state.path(), port, false);
    let pid = gw.id();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(addr);
    std::thread::sleep(SETTLE);
    let idle_at_start = memory_json(pid);
    // The baseline the burst is compared with has idled as long as the gateway will after it:
    // an idle gateway's timers page some code back in over its first minute (about 0.2 MiB).
    std::thread::sleep(Duration::from_secs(wait).saturating_sub(SETTLE));
    let idle = memory_json(pid);
    let smaps_to = std::env::var_os("OPENCLAW_BENCH_SMAPS");
    if let Some(to) = &smaps_to {
        let _ = std::fs::copy(format!("/proc/{pid}/smaps"), format!("{}.idle", to.to_string_lossy()));
    }
    // Idle once it has served: one client connected, a few calls, gone. The code that serves
    // connections is paged in from here on, as it is in any gateway that has had a client.
    rt.block_on(async {
        let mut one = open_many(addr, 1).await;
        for ws in &mut one {
            for _ in 0..10 {
                call(ws).await;
            }
        }
    });
    std::thread::sleep(SETTLE);
    let served = memory_json(pid);
    let (conns, open_secs) = rt.block_on(async {
        let t0 = Instant::now();
        let c = open_many(addr, burst_conns).await;
        (c, t0.elapsed().as_secs_f64())
    });
    std::thread::sleep(Duration::from_secs(2));
    let held = memory_json(pid);
    let calls_secs = rt.block_on(async {
        let mut conns = conns;
        let busy: Vec<Ws> = conns.drain(..CONNS).collect();
        let done = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let tasks: Vec<_> = busy
            .into_iter()
            .map(|mut ws| {
                let done = done.clone();
                tokio::spawn(async move {
                    while done.fetch_add(1, Ordering::Relaxed) < burst_calls as u64 {
                        call(&mut ws).await;
                    }
                    ws
                })
            })
            .collect();
        let mut back = Vec::new();
        for t in tasks {
            back.push(t.await.unwrap());
        }
        let secs = t0.elapsed().as_secs_f64();
        drop(back);
        drop(conns);
        secs
    });
    let closed = memory_json(pid);
    let mut after = Vec::new();
    for s in (5..=wait).step_by(5) {
        std::thread::sleep(Duration::from_secs(5));
        after.push(json!({"seconds": s, "memory": memory_json(pid)}));
    }
    let last = memory_json(pid);
    // Where the memory that stayed lives, for a look at it: OPENCLAW_BENCH_SMAPS=<file> (and
    // <file>.idle, taken at idle).
    if let Some(to) = smaps_to {
        let _ = std::fs::copy(format!("/proc/{pid}/smaps"), to);
    }
    // OPENCLAW_BENCH_HOLD=<secs>: keep the gateway that long, to look inside (gdb, malloc_info).
    if let Some(secs) = std::env::var("OPENCLAW_BENCH_HOLD").ok().and_then(|v| v.parse().ok()) {
        eprintln!("holding gateway pid {pid} for {secs} s");
        std::thread::sleep(Duration::from_secs(secs));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = gw.wait();
    let ratio = |k: &str| last[k].as_f64().unwrap() / idle[k].as_f64().unwrap().max(1.0);
    let ratio_start = |k: &str| last[k].as_f64().unwrap() / idle_at_start[k].as_f64().unwrap().max(1.0);
    let ratio_served = |k: &str| last[k].as_f64().unwrap() / served[k].as_f64().unwrap().max(1.0);
    // Against the idle gateway that has served one client: code pages are not connections.
    let per_conn = |k: &str| (held[k].as_f64().unwrap() - served[k].as_f64().unwrap()) / burst_conns as f64;
    let result = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "binary": gateway_bin(),
        "connections": burst_conns, "open_seconds": open_secs,
        "calls": burst_calls, "calls_seconds": calls_secs,
        "idle": idle, "held": held, "closed": closed, "after": after, "final": last, "wait_seconds": wait,
        "final_over_idle": {"rss": ratio("rss_kib"), "anon": ratio("anon_kib"), "pss": ratio("pss_kib")},
        "idle_at_start": idle_at_start,
        "final_over_idle_at_start":
            {"rss": ratio_start("rss_kib"), "anon": ratio_start("anon_kib"), "pss": ratio_start("pss_kib")},
        "idle_after_one_client": served,
        "final_over_idle_after_one_client":
            {"rss": ratio_served("rss_kib"), "anon": ratio_served("anon_kib"), "pss": ratio_served("pss_kib")},
        "kib_per_connection": {"rss": per_conn("rss_kib"), "anon": per_conn("anon_kib"), "pss": per_conn("pss_kib")},
        "targets": {"final_over_idle_rss": 1.25, "kib_per_connection": 10},
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    println!("{text}");
    std::fs::write(out_path("memory.json"), text + "\n").unwrap();
}
