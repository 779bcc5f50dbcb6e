//! Start-up, memory and reload-latency benchmark of the release binary.
//! Run: `cargo bench --bench gateway` (see bench/README.md). Writes bench/results/gateway.json.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// The gateway binary: this build's, or `OPENCLAW_BENCH_BIN` (an earlier build, to compare
/// two versions on the same machine in the same session).
fn gateway_bin() -> String {
    std::env::var("OPENCLAW_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}
const COLD_RUNS: usize = 20;
const SIGHUP_RUNS: usize = 100;
const FILE_RUNS: usize = 20;
const IDLE_WAIT: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(10);
const DEBOUNCE_MS: u64 = 300;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(state: &Path, port: u16) -> Child {
    spawn_as(state, port, Start::Service)
}

/// How the gateway is started: as the systemd unit `openclaw gateway install` writes and the
/// image start it (their environment gives the allocator setting), or in a terminal, where
/// `openclaw gateway` re-executes itself once to apply it.
#[derive(Clone, Copy)]
enum Start {
    Service,
    Foreground,
}

fn spawn_as(state: &Path, port: u16, how: Start) -> Child {
    let mut cmd = Command::new(gateway_bin());
    cmd.env_clear();
    if let Start::Service = how {
        cmd.env("GLIBC_TUNABLES", openclaw::lifecycle::MALLOC_TUNABLES);
    }
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", state)
        .args(["--state-dir", state.to_str().unwrap(), "gateway", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openclaw (build with cargo bench)")
}

fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, raw.split_once("\r\n\r\n")?.1.to_string()))
}

/// Polls until `f` is true; returns when it first was. Panics after DEADLINE.
fn poll(what: &str, f: impl FnMut() -> bool) -> Instant {
    poll_every(what, None, f)
}

/// [`poll`], pausing `pause` between tries (none: spinning).
fn poll_every(what: &str, pause: Option<Duration>, mut f: impl FnMut() -> bool) -> Instant {
    let start = Instant::now();
    loop {
        if f() {
            return Instant::now();
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        match pause {
            Some(p) => std::thread::sleep(p),
            None => std::hint::spin_loop(),
        }
    }
}

/// Between tries for the first `/healthz`: a client spinning on connect would take one of a
/// small machine's CPUs from the start it measures (as a probe never does); 0.2 ms is the
/// figure's resolution.
const START_POLL: Duration = Duration::from_micros(200);

fn generation(addr: SocketAddr) -> Option<u64> {
    let (_, body) = get(addr, "/health")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["config"]["generation"].as_u64()
}

fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    serde_json::json!({ "n": v.len(), "min": v[0], "median": pct(0.5), "p99": pct(0.99), "max": v[v.len() - 1] })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Spawn -> the instance resolved by `avahi-browse -rtp`, 5 runs; null without avahi.
fn mdns_visible() -> serde_json::Value {
    let browse_ok =
        Command::new("timeout").args(["5", "avahi-browse", "-at", "-p"]).output().is_ok_and(|o| o.status.success());
    if !browse_ok {
        eprintln!("avahi not running: skipping the mDNS figure (scripts/avahi-loopback start)");
        return serde_json::Value::Null;
    }
    let mut runs = Vec::new();
    for i in 0..5 {
        let state = tempfile::tempdir().unwrap();
        let host = format!("bench{}-{i}", std::process::id());
        std::fs::write(
            state.path().join("config.json5"),
            format!("{{ discovery: {{ mdns: {{ hostname: '{host}', advertiseLoopback: true }} }} }}"),
        )
        .unwrap();
        let t0 = Instant::now();
        let child = spawn(state.path(), free_port());
        let needle = format!("={host}");
        let t1 = poll("advertisement visible", || {
            Command::new("timeout").args(["5", "avahi-browse", "-rtp", "_openclaw-gw._tcp"]).output().is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.starts_with("=;") && l.replace(';', "=").contains(&needle))
            })
        });
        runs.push(ms(t1 - t0));
        stop(child);
    }
    stats(runs)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; nothing to list.
    }
    // 1. Cold start: spawn -> first /healthz 200, fresh state dir each time; started as a
    // service and in a terminal, alternating.
    let (mut cold, mut cold_foreground) = (Vec::new(), Vec::new());
    for _ in 0..COLD_RUNS {
        for (how, into) in [(Start::Service, &mut cold), (Start::Foreground, &mut cold_foreground)] {
            let state = tempfile::tempdir().unwrap();
            let port = free_port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let t0 = Instant::now();
            let child = spawn_as(state.path(), port, how);
            let t1 = poll_every("first /healthz 200", Some(START_POLL), || {
                get(addr, "/healthz").is_some_and(|(s, _)| s == 200)
            });
            into.push(ms(t1 - t0));
            stop(child);
        }
    }

    // 2. Idle RSS after 10 s, and 3. SIGHUP -> new config visible in /health.
    let state = tempfile::tempdir().unwrap();
    let cfg = state.path().join("config.json5");
    // reload.mode off: the watcher stays out of the way, only SIGHUP applies.
    let write_cfg = |i: u64, mode: &str| {
        std::fs::write(
            &cfg,
            format!("{{ gateway: {{ reload: {{ mode: '{mode}', debounceMs: {DEBOUNCE_MS} }} }}, memory: {{ chunkSize: {} }} }}", 100 + i % 8000),
        )
        .unwrap()
    };
    write_cfg(0, "off");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = spawn(state.path(), port);
    poll("ready", || get(addr, "/readyz").is_some_and(|(s, _)| s == 200));
    std::thread::sleep(IDLE_WAIT);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    let rss_kib = field("VmRSS:");
    let (anon_kib, file_kib) = (field("RssAnon:"), field("RssFile:"));

    let mut sighup = Vec::new();
    let mut gen_now = generation(addr).unwrap();
    for i in 1..=SIGHUP_RUNS as u64 {
        write_cfg(i, "off");
        let t0 = Instant::now();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        let t1 = poll("SIGHUP reload visible", || generation(addr).is_some_and(|g| g > gen_now));
        sighup.push(ms(t1 - t0));
        gen_now += 1;
    }

    // 4. File write -> visible (hybrid mode, default debounce).
    write_cfg(0, "hybrid");
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    poll("hybrid mode applied", || generation(addr).is_some_and(|g| g > gen_now));
    gen_now = generation(addr).unwrap();
    let mut file = Vec::new();
    for i in 1..=FILE_RUNS as u64 {
        let t0 = Instant::now();
        write_cfg(i, "hybrid");
        let t1 = poll("file write visible", || generation(addr).is_some_and(|g| g > gen_now));
        file.push(ms(t1 - t0));
        gen_now = generation(addr).unwrap();
    }
    stop(child);

    // 5. Start -> advertisement visible in avahi-browse (needs scripts/avahi-loopback start).
    let mdns = mdns_visible();

    let result = serde_json::json!({
        "mdns_visible_ms": mdns,
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cold_start_ms": stats(cold),
        "cold_start_foreground_ms": stats(cold_foreground),
        "idle_rss_mib": rss_kib as f64 / 1024.0,
        // Private memory vs. resident pages of the binary and shared libraries.
        "idle_rss_anon_mib": anon_kib as f64 / 1024.0,
        "idle_rss_file_mib": file_kib as f64 / 1024.0,
        "sighup_visible_ms": stats(sighup),
        "file_write_visible_ms": stats(file),
        "debounce_ms": DEBOUNCE_MS,
        "targets": {
            "cold_start_median_ms": 10, "idle_rss_mib": 12, "sighup_p99_ms": 20, "file_write_ms": DEBOUNCE_MS + 30,
        },
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    println!("{text}");
    // OPENCLAW_BENCH_OUT: somewhere else than the results file (a run of another build).
    let out = std::env::var_os("OPENCLAW_BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/gateway.json"));
    std::fs::write(out, text + "\n").unwrap();
}
