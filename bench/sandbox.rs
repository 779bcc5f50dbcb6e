//! Agent sandbox benchmark, on the release build: a sandboxed `exec` of `true` (bubblewrap,
//! spawn -> exit), without and with the egress proxy's bridge, against `true` spawned directly
//! and bubblewrap's bare isolation in the same run; and the latency the egress proxy adds to
//! one CONNECT + request/response on loopback. Run: `cargo bench --features fault-injection
//! --bench sandbox` (needs bubblewrap; see bench/README.md). Writes bench/results/sandbox.json.
//!
//! The proxy refuses loopback upstreams except through the test builds' resolver override, so
//! the bench reaches its loopback server as `bench.test` mapped by `OPENCLAW_TEST_RESOLVE`.

#[path = "stats.rs"]
mod stats;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use openclaw::sandbox::proxy::{self, Policy};
use openclaw::sandbox::{Spec, bwrap};
use serde_json::{Value, json};
use stats::summary;

const EXEC_RUNS: usize = 200;
const EXEC_WARMUP: usize = 10;
const PROXY_REQUESTS: usize = 500;
const PROXY_WARMUP: usize = 20;
const TARGET_EXEC_P50_MS: f64 = 15.0;
const TARGET_PROXY_ADDED_P50_MS: f64 = 1.0;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
/// The name the proxy is asked for; the override maps it to the loopback server.
const UPSTREAM_NAME: &str = "bench.test";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/// Spawn -> exit of `program args`, `EXEC_RUNS` times after `EXEC_WARMUP`; every run must succeed.
fn time_exec(program: &Path, args: &[OsString]) -> Value {
    let once = || {
        let t = Instant::now();
        let out = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(out.status.success(), "{} failed: {}", program.display(), String::from_utf8_lossy(&out.stderr));
        ms
    };
    for _ in 0..EXEC_WARMUP {
        once();
    }
    summary((0..EXEC_RUNS).map(|_| once()).collect())
}

/// The proxy on its own thread (a current-thread runtime, as in a sandboxed session) on a Unix
/// socket at `path`, letting through `allow`.
fn start_proxy(path: PathBuf, allow: &[&str]) {
    let policy = Arc::new(Policy { allow: allow.iter().map(|s| s.to_string()).collect(), gateway_ports: vec![] });
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let (_policy_tx, policy_rx) = tokio::sync::watch::channel(policy);
            let listener = tokio::net::UnixListener::bind(&path).expect("binding the proxy socket");
            ready_tx.send(()).unwrap();
            let (_bound_tx, bound_rx) = tokio::sync::watch::channel(Vec::new());
            proxy::serve(listener, policy_rx, bound_rx).await;
        });
    });
    ready_rx.recv().expect("the proxy thread did not start");
}

/// A loopback HTTP server answering each connection's one request with `RESPONSE`, a thread per
/// connection. Returns its port.
fn start_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let _ = conn.set_nodelay(true);
                if read_head(&mut conn).is_ok() {
                    let _ = conn.write_all(RESPONSE);
                }
            });
        }
    });
    port
}

/// Reads through the first blank line (what a head ends with); no body follows in this bench.
fn read_head(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if r.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// One request/response on an open connection.
fn round_trip(conn: &mut (impl Read + Write)) {
    conn.write_all(REQUEST).unwrap();
    let mut got = vec![0u8; RESPONSE.len()];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(got, RESPONSE);
}

/// Connect + request/response straight to the server.
fn direct(port: u16) -> f64 {
    let t = Instant::now();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_nodelay(true).unwrap();
    round_trip(&mut conn);
    t.elapsed().as_secs_f64() * 1e3
}

/// The same through the proxy: connect to its socket, CONNECT, the `200` head, request/response.
fn via_proxy(socket: &Path, port: u16) -> f64 {
    let t = Instant::now();
    let mut conn = UnixStream::connect(socket).unwrap();
    write!(conn, "CONNECT {UPSTREAM_NAME}:{port} HTTP/1.1\r\nHost: {UPSTREAM_NAME}:{port}\r\n\r\n").unwrap();
    let head = read_head(&mut conn).unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"), "proxy answered {}", String::from_utf8_lossy(&head));
    round_trip(&mut conn);
    t.elapsed().as_secs_f64() * 1e3
}

fn proxy_latency(socket: &Path) -> Value {
    let port = start_server();
    for _ in 0..PROXY_WARMUP {
        direct(port);
        via_proxy(socket, port);
    }
    // Interleaved, so both see the same load on this shared machine.
    let (mut a, mut b) = (Vec::with_capacity(PROXY_REQUESTS), Vec::with_capacity(PROXY_REQUESTS));
    for _ in 0..PROXY_REQUESTS {
        a.push(direct(port));
        b.push(via_proxy(socket, port));
    }
    let (a, b) = (summary(a), summary(b));
    let added = b["p50_ms"].as_f64().unwrap() - a["p50_ms"].as_f64().unwrap();
    json!({"requests": PROXY_REQUESTS, "direct": a, "via_proxy": b, "added_p50_ms": added,
           "added_p99_ms": b["p99_ms"].as_f64().unwrap() - a["p99_ms"].as_f64().unwrap()})
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; nothing to list.
    }
    let backend = match openclaw::sandbox::probe() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sandbox bench: no sandbox backend here: {e}\n(scripts/setup installs bubblewrap)");
            std::process::exit(1);
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    std::fs::create_dir(&workspace).unwrap();
    let socket = dir.path().join("egress.sock");
    // SAFETY: set before any other thread of this process starts.
    unsafe { std::env::set_var("OPENCLAW_TEST_RESOLVE", format!("{UPSTREAM_NAME}=127.0.0.1")) };
    start_proxy(socket.clone(), &[UPSTREAM_NAME]);

    let exe = Path::new(env!("CARGO_BIN_EXE_openclaw"));
    let spec = |proxy_socket: Option<PathBuf>| Spec {
        workspace: workspace.clone(),
        workdir: None,
        binds: vec![],
        proxy_socket,
        env: vec![],
    };
    let command = [OsString::from("true")];

    // 1. Spawn -> exit: the same-run references, then the sandbox without and with the bridge.
    let true_direct = time_exec(Path::new("/bin/true"), &[]);
    let bwrap_bare = time_exec(&backend.bwrap, &bwrap::probe_args());
    let sandboxed = time_exec(&backend.bwrap, &bwrap::args(&spec(None), exe, &command));
    let with_proxy = time_exec(&backend.bwrap, &bwrap::args(&spec(Some(socket.clone())), exe, &command));
    let exec = json!({"runs": EXEC_RUNS, "warmup": EXEC_WARMUP, "true_direct": true_direct,
                      "bwrap_bare": bwrap_bare, "sandbox": sandboxed, "sandbox_proxy": with_proxy});

    // 2. What the egress proxy adds to a CONNECT + request/response on loopback.
    let egress = proxy_latency(&socket);

    let out = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "exec_true_ms": exec,
        "proxy_connect_ms": egress,
        "targets": {"sandbox_exec_p50_ms": TARGET_EXEC_P50_MS, "proxy_added_p50_ms": TARGET_PROXY_ADDED_P50_MS},
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/sandbox.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
    print_table(&out);
}

fn print_table(out: &Value) {
    let row = |name: &str, v: &Value| {
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        println!("{name:<44} {:>8.2} {:>8.2} {:>8.2} {:>8.2}", f("min_ms"), f("p50_ms"), f("p99_ms"), f("max_ms"));
    };
    println!("{:<44} {:>8} {:>8} {:>8} {:>8}", "ms", "min", "p50", "p99", "max");
    let e = &out["exec_true_ms"];
    row("true, spawned directly", &e["true_direct"]);
    row("bwrap bare isolation, true", &e["bwrap_bare"]);
    row("sandboxed exec true (no proxy)", &e["sandbox"]);
    row("sandboxed exec true (proxy bridge)", &e["sandbox_proxy"]);
    let p = &out["proxy_connect_ms"];
    row("loopback connect + request, direct", &p["direct"]);
    row("same through the egress proxy (CONNECT)", &p["via_proxy"]);
    println!(
        "proxy added: p50 {:.3} ms, p99 {:.3} ms",
        p["added_p50_ms"].as_f64().unwrap(),
        p["added_p99_ms"].as_f64().unwrap()
    );
    println!(
        "targets: sandboxed exec p50 <= {TARGET_EXEC_P50_MS} ms, proxy added p50 <= {TARGET_PROXY_ADDED_P50_MS} ms; load {}",
        out["load_average"].as_str().unwrap_or("")
    );
}
