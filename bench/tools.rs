//! Agent tools benchmark. Run: `cargo bench --bench tools` (see bench/README.md); writes
//! bench/results/tools.json.
//! - `loop_iteration_ms`: the gateway's own time per round of the tool-call loop, the provider
//!   excluded: the release binary runs against a local provider that always answers with one
//!   `ls {}` call, and each sample is the time from the provider's last byte of answer N to the
//!   arrival of request N+1 (parse the stream, `tool` events, record the call, run `ls`, record
//!   the result, build and send the next request). 3 runs of 200 rounds.
//! - `read_1mib_ms`: the `read` tool on a 1 MiB text file: the tool itself, and through
//!   `tools::call` (argument parsing, policy check, the blocking-pool hop). 200 reads each.

#[path = "../tests/common/loopback.rs"]
mod loopback;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openclaw::tools::{self, HostExec, HostRoot, ProcessTable, Toolbox};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
const RUNS: usize = 3;
const ROUNDS: u32 = 200;
const READS: usize = 200;
const TOKEN: &str = "bench-token";

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    json!({"n": v.len(), "min": v[0], "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": v[v.len() - 1]})
}

/// (request arrived, answer finished) per provider request, in order.
type Marks = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// A provider that answers every request with one streamed `ls {}` call.
fn provider() -> (SocketAddr, Marks) {
    let marks: Marks = Arc::default();
    (loopback::serve("provider", marks.clone(), answer), marks)
}

fn answer(conn: TcpStream, marks: &Mutex<Vec<(Instant, Instant)>>) -> std::io::Result<()> {
    loopback::read_request(&conn)?;
    let arrived = Instant::now();
    let call = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c", "type": "function",
                      "function": {"name": "ls", "arguments": "{}"}}]}, "finish_reason": null}]});
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    let sse = format!("data: {call}\n\ndata: {fin}\n\ndata: [DONE]\n\n");
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{sse}",
        sse.len()
    )?;
    out.flush()?;
    marks.lock().unwrap().push((arrived, Instant::now()));
    Ok(())
}

fn spawn(state: &Path, port: u16) -> Child {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", state)
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .args(["--state-dir", state.to_str().unwrap(), "gateway", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openclaw (build with cargo bench)")
}

fn post_rpc(addr: SocketAddr, body: &Value) -> Option<Value> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let body = body.to_string();
    write!(
        s,
        "POST /rpc HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    serde_json::from_str(raw.split_once("\r\n\r\n")?.1).ok()
}

fn loop_iteration() -> Value {
    let (paddr, marks) = provider();
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    std::fs::create_dir_all(s.join("agents/main/agent")).unwrap();
    let models = json!({"providers": {"mock": {"baseUrl": format!("http://{paddr}/v1"), "api": "openai-completions",
                                                "models": [{"id": "loop", "name": "loop"}]}}});
    std::fs::write(s.join("agents/main/agent/models.json"), models.to_string()).unwrap();
    std::fs::write(
        s.join("config.json5"),
        format!("{{ agents: {{ defaults: {{ model: 'mock/loop', maxToolIterations: {ROUNDS} }} }} }}"),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = spawn(s, port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "the gateway did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut gaps = Vec::new();
    for run in 0..RUNS {
        marks.lock().unwrap().clear();
        let key = format!("bench-{run}");
        let r = post_rpc(
            addr,
            &json!({"method": "agent", "params": {"message": "go", "idempotencyKey": key,
                                                                          "sessionKey": format!("agent:main:{key}")}}),
        );
        let summary = r.as_ref().map(|v| v["payload"]["summary"].clone());
        let m = marks.lock().unwrap().clone();
        assert_eq!(m.len(), ROUNDS as usize + 1, "every round reached the provider: {summary:?}");
        gaps.extend(m.windows(2).map(|w| w[1].0.duration_since(w[0].1).as_secs_f64() * 1000.0));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    stats(gaps)
}

fn read_1mib() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("{}\n", "x".repeat(99));
    std::fs::write(dir.path().join("big.txt"), line.repeat(1024 * 1024 / line.len())).unwrap();
    let root = Arc::new(HostRoot::new(dir.path().to_path_buf()).unwrap());
    let direct: Vec<f64> = (0..READS)
        .map(|_| {
            let t = Instant::now();
            let out = tools::read::run(&*root, tools::read::Args { path: "big.txt".into(), offset: None, limit: None });
            assert!(!out.is_error && out.text.contains("[truncated"));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let tb = Toolbox {
        agent_id: "main".into(),
        files: root,
        exec: Arc::new(HostExec),
        processes: Arc::new(ProcessTable::default()),
        policy: Arc::new(tools::policy::effective(&Default::default(), None)),
        approvals_file: dir.path().join("exec-approvals.json"),
        approver: None,
        session_key: "agent:main:main".into(),
        timeout: Duration::from_secs(60),
        allow_private_web: false,
        web_domains: None,
        memory: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let via_call: Vec<f64> = (0..READS)
        .map(|_| {
            let t = Instant::now();
            let out = rt.block_on(tools::call(&tb, "read", "{\"path\": \"big.txt\"}", &|_| {}));
            assert!(!out.is_error);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    json!({"direct": stats(direct), "call": stats(via_call)})
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let results = json!({"loop_iteration_ms": loop_iteration(), "read_1mib_ms": read_1mib()});
    let out = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "results": results,
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/tools.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
