//! Terminal CLI benchmark: the release binary against an in-bench OpenAI-compatible provider
//! on loopback. Run: `cargo bench --bench cli` (see bench/README.md). Writes
//! bench/results/cli.json.
//! - `agent`: `openclaw agent --message hi` against a provider that answers at once with two
//!   deltas: spawn -> first byte of the answer on the command's stdout (a pipe), and spawn ->
//!   exit; 3 warm-up runs, then 30. Next to it, the floor (`openclaw --version`, spawn -> exit)
//!   and where the time goes (spawn -> the provider's request; the provider's first delta
//!   written -> the first byte on stdout).
//! - `chat_keystroke`: `openclaw chat` in a pseudo-terminal; a key written to the pty -> its
//!   echo read back from the pty (what a terminal emulator would draw), 100 keys 15-25 ms apart,
//!   each erased again before the next. Three cases in the same chat: nothing arriving; an
//!   answer streaming a word every 5 ms (chat rewrites the unfinished row above the prompt, at
//!   most once per 16 ms frame); an answer streaming a line every 5 ms (rows printed above the
//!   prompt, and the prompt redrawn, as often).

#[path = "../tests/common/loopback.rs"]
mod loopback;
#[path = "stats.rs"]
mod stats;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rexpect::process::PtyProcess;
use serde_json::{Value, json};
use stats::summary;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
const AGENT_WARMUP: usize = 3;
const AGENT_RUNS: usize = 30;
const KEYS: usize = 100;
/// The keys typed, in turn: letters that appear nowhere else in chat's output (not in the
/// streamed text, the prompt, or the escape sequences rustyline writes).
const TYPED: [u8; 2] = [b'q', b'z'];
/// Each streamed delta this long after the last.
const DELTA_EVERY: Duration = Duration::from_millis(5);
/// Deltas in a streamed answer: 10 s, longer than the keystrokes take (it is aborted then).
const STREAM_DELTAS: usize = 2000;
const COLS: u16 = 80;
const ROWS: u16 = 24;
const T: Duration = Duration::from_secs(20);
const TARGET_AGENT_P50_MS: f64 = 30.0;
const TARGET_KEY_MS: f64 = 5.0;

/// The binary: this build's, or `OPENCLAW_BENCH_BIN` (an earlier build, to compare two
/// versions on the same machine in the same session).
fn bin() -> String {
    std::env::var("OPENCLAW_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// Where results go: `bench/results/cli.json`, or `OPENCLAW_BENCH_OUT` (a run of another build
/// that should not replace the recorded figures).
fn out_path() -> PathBuf {
    std::env::var_os("OPENCLAW_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/cli.json"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// The provider

/// What the provider saw: when each request arrived and its first delta was written (in
/// order), the answers streaming now, and the deltas written by them.
#[derive(Default)]
struct Seen {
    marks: Mutex<Vec<(Instant, Instant)>>,
    streaming: AtomicUsize,
    deltas: AtomicUsize,
}

/// An OpenAI-compatible chat-completions server on 127.0.0.1:0, answering by model id:
/// `instant`: "Hello" + ", world" at once; `stream-words`: [`STREAM_DELTAS`] deltas "tick ",
/// one every [`DELTA_EVERY`]; `stream-lines`: the same with "tick\n".
fn provider() -> (SocketAddr, Arc<Seen>) {
    let seen: Arc<Seen> = Arc::default();
    (loopback::serve("provider", seen.clone(), answer), seen)
}

/// One HTTP chunk, written at once (with TCP_NODELAY: no wait for the previous one's ACK).
fn chunk(out: &mut TcpStream, data: &str) -> std::io::Result<()> {
    out.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
}

fn delta(out: &mut TcpStream, text: &str) -> std::io::Result<()> {
    let ev = json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    chunk(out, &format!("data: {ev}\n\n"))
}

struct Streaming<'a>(&'a Seen);

impl Drop for Streaming<'_> {
    fn drop(&mut self) {
        self.0.streaming.fetch_sub(1, Ordering::SeqCst);
    }
}

fn answer(conn: TcpStream, seen: &Seen) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let (_, body) = loopback::read_request(&conn)?;
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = body["model"].as_str().unwrap_or("").to_string();
    let mut out = conn;
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    )?;
    let streamed = match model.as_str() {
        "stream-words" => Some("tick "),
        "stream-lines" => Some("tick\n"),
        _ => None,
    };
    if let Some(text) = streamed {
        seen.streaming.fetch_add(1, Ordering::SeqCst);
        let _guard = Streaming(seen);
        for i in 0..STREAM_DELTAS {
            delta(&mut out, text)?;
            if i == 0 {
                seen.marks.lock().unwrap().push((arrived, Instant::now()));
            }
            seen.deltas.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(DELTA_EVERY);
        }
    } else {
        delta(&mut out, "Hello")?;
        seen.marks.lock().unwrap().push((arrived, Instant::now()));
        delta(&mut out, ", world")?;
    }
    let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
    chunk(&mut out, &format!("data: {fin}\n\ndata: {usage}\n\ndata: [DONE]\n\n"))?;
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

// ---------------------------------------------------------------------------------------------
// The gateway and the CLI

/// The binary with a clean environment on `state` (its config, its generated token).
fn command(state: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", state)
        .arg("--state-dir")
        .arg(state);
    c
}

struct Gateway {
    child: Child,
    state: tempfile::TempDir,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The gateway on 127.0.0.1:0 with the provider as `bench`, `bench/instant` the default model;
/// returns once it logged `gateway ready`.
fn gateway(provider: SocketAddr) -> Gateway {
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    std::fs::create_dir_all(s.join("agents/main/agent")).unwrap();
    let models: Vec<Value> = ["instant", "stream-words", "stream-lines"]
        .iter()
        .map(|id| json!({"id": id, "name": id, "contextWindow": 64000, "maxTokens": 512, "input": ["text"]}))
        .collect();
    let models = json!({"providers": {"bench": {"baseUrl": format!("http://{provider}/v1"),
                                                "api": "openai-completions", "models": models}}});
    std::fs::write(s.join("agents/main/agent/models.json"), models.to_string()).unwrap();
    std::fs::write(s.join("config.json5"), "{ agents: { defaults: { model: 'bench/instant' } } }").unwrap();
    let mut child = command(s)
        .args(["gateway", "--port", "0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openclaw (build with cargo bench)");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + T;
    let mut logs = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the gateway did not log `gateway ready`: {logs:#?}"));
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["fields"]["message"] == "gateway ready"
            && let Some(a) = v["fields"]["listen"].as_str().and_then(|l| l.split(',').next())
        {
            break a.to_string();
        }
        logs.push(line);
    };
    // Keep draining its logs.
    std::thread::spawn(move || rx.into_iter().for_each(drop));
    Gateway { child, state, url: format!("ws://{addr}") }
}

// ---------------------------------------------------------------------------------------------
// 1. openclaw agent --message

/// Spawn -> exit of `openclaw --version`: process start-up, dynamic linking, argument parsing.
fn process_floor() -> Vec<f64> {
    (0..AGENT_WARMUP + AGENT_RUNS)
        .map(|_| {
            let t0 = Instant::now();
            let out = Command::new(bin()).arg("--version").stdin(Stdio::null()).output().expect("openclaw --version");
            assert!(out.status.success());
            ms(t0.elapsed())
        })
        .skip(AGENT_WARMUP)
        .collect()
}

fn agent(gw: &Gateway, seen: &Seen) -> Value {
    let floor = process_floor();
    let (mut first, mut total, mut to_provider, mut back) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..AGENT_WARMUP + AGENT_RUNS {
        seen.marks.lock().unwrap().clear();
        let mut c = command(gw.state.path());
        c.args(["agent", "--message", "hi", "--url", &gw.url]);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let t0 = Instant::now();
        let mut child = c.spawn().expect("spawn openclaw agent");
        let mut stdout = child.stdout.take().unwrap();
        let mut text = vec![0u8; 4096];
        let n = stdout.read(&mut text).expect("read the answer");
        let first_at = Instant::now();
        text.truncate(n);
        stdout.read_to_end(&mut text).expect("read the answer");
        let out = child.wait_with_output().expect("openclaw agent");
        let end = Instant::now();
        let text = String::from_utf8_lossy(&text);
        assert!(
            out.status.success() && text == "Hello, world\n",
            "openclaw agent: {:?} {text:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let marks = seen.marks.lock().unwrap().clone();
        assert_eq!(marks.len(), 1, "one provider request per run");
        if run >= AGENT_WARMUP {
            let (arrived, delta_sent) = marks[0];
            first.push(ms(first_at - t0));
            total.push(ms(end - t0));
            to_provider.push(ms(arrived - t0));
            back.push(ms(first_at.saturating_duration_since(delta_sent)));
        }
    }
    let first = summary(first);
    let met = first["p50_ms"].as_f64().unwrap() <= TARGET_AGENT_P50_MS;
    json!({
        "runs": AGENT_RUNS,
        "first_delta_ms": first,
        "total_ms": summary(total),
        "process_floor_ms": summary(floor),
        "spawn_to_provider_request_ms": summary(to_provider),
        "provider_first_delta_to_stdout_ms": summary(back),
        "target_first_delta_p50_ms": TARGET_AGENT_P50_MS,
        "target_met": met,
    })
}

// ---------------------------------------------------------------------------------------------
// 2. openclaw chat in a pseudo-terminal

/// Everything read from the pty, and when each read returned (the offset it ended at).
#[derive(Default)]
struct Screen {
    bytes: Vec<u8>,
    reads: Vec<(usize, Instant)>,
    eof: bool,
}

struct Pty {
    process: PtyProcess,
    writer: File,
    screen: Arc<(Mutex<Screen>, Condvar)>,
}

impl Pty {
    fn spawn(c: Command) -> Self {
        let mut process = PtyProcess::new(c).expect("spawn openclaw chat in a pty");
        process.set_kill_timeout(Some(2000));
        let ws = libc::winsize { ws_row: ROWS, ws_col: COLS, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads the winsize we own; the fd is the pty's master.
        unsafe { libc::ioctl(process.pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        let writer = process.get_file_handle().unwrap();
        let mut reader = process.get_file_handle().unwrap();
        let screen: Arc<(Mutex<Screen>, Condvar)> = Arc::default();
        let s = screen.clone();
        // Reads as soon as anything is there, and stamps each read when it returns: the
        // measuring thread's own wake-up is not in the figures.
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let now = Instant::now();
                let mut sc = s.0.lock().unwrap();
                if n == 0 {
                    sc.eof = true;
                    s.1.notify_all();
                    return;
                }
                sc.bytes.extend_from_slice(&buf[..n]);
                let end = sc.bytes.len();
                sc.reads.push((end, now));
                s.1.notify_all();
            }
        });
        Self { process, writer, screen }
    }

    fn len(&self) -> usize {
        self.screen.0.lock().unwrap().bytes.len()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Waits for `needle` in what was read after offset `from`; returns when the read that
    /// brought its last byte returned.
    fn wait_for(&self, needle: &[u8], from: usize, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.screen;
        let mut sc = lock.lock().unwrap();
        loop {
            let hay = &sc.bytes[from.min(sc.bytes.len())..];
            if let Some(p) = hay.windows(needle.len()).position(|w| w == needle) {
                let end = from + p + needle.len();
                let i = sc.reads.partition_point(|(e, _)| *e < end);
                return sc.reads[i].1;
            }
            let now = Instant::now();
            if sc.eof || now > deadline {
                let tail = &sc.bytes[sc.bytes.len().saturating_sub(2000)..];
                panic!(
                    "waiting for {:?} in the chat's output ({}): ...{:?}",
                    String::from_utf8_lossy(needle),
                    if sc.eof { "it ended" } else { "timed out" },
                    String::from_utf8_lossy(tail)
                );
            }
            sc = cv.wait_timeout(sc, deadline - now).unwrap().0;
        }
    }

    /// Types `line` and Enter, and waits for `answer` after it.
    fn command(&mut self, line: &str, answer: &str) {
        let from = self.len();
        self.send(format!("{line}\r").as_bytes());
        self.wait_for(answer.as_bytes(), from, T);
    }
}

/// [`KEYS`] keystrokes: a key written -> its echo read back, in ms. Each key is erased
/// (Backspace) before the next, so the line is empty whenever a key is typed and the key's
/// letter shows up in the output only once the editor has taken it.
fn keystrokes(pty: &mut Pty) -> Vec<f64> {
    (0..KEYS)
        .map(|i| {
            let key = TYPED[i % TYPED.len()];
            let from = pty.len();
            let t0 = Instant::now();
            pty.send(&[key]);
            let at = pty.wait_for(&[key], from, T);
            // 15-25 ms between keys, spread so they do not keep one phase against the deltas.
            let gap = Duration::from_micros(15_000 + (i as u64 * 3_700) % 10_000);
            std::thread::sleep(gap / 2);
            pty.send(b"\x7f");
            std::thread::sleep(gap / 2);
            ms(at.saturating_duration_since(t0))
        })
        .collect()
}

/// Keystrokes while `model` streams its answer; the answer is aborted afterwards.
fn keystrokes_while_streaming(pty: &mut Pty, seen: &Seen, model: &str) -> Value {
    pty.command(&format!("/model {model}"), "for the next messages");
    pty.command("go", "tick");
    let (before, t0) = (seen.deltas.load(Ordering::SeqCst), Instant::now());
    let latencies = keystrokes(pty);
    let (deltas, secs) = (seen.deltas.load(Ordering::SeqCst) - before, t0.elapsed().as_secs_f64());
    assert!(seen.streaming.load(Ordering::SeqCst) > 0, "the answer was still streaming after the keystrokes");
    pty.command("/abort", "(aborted)");
    // The aborted answer's provider stream ends before the next case.
    let deadline = Instant::now() + T;
    while seen.streaming.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    json!({"keystroke_ms": summary(latencies), "deltas_during": deltas, "deltas_per_s": (deltas as f64 / secs).round()})
}

fn chat(gw: &Gateway, seen: &Seen) -> Value {
    let mut c = command(gw.state.path());
    c.args(["chat", "--session", "bench", "--url", &gw.url])
        .env("TERM", "xterm")
        .env("COLUMNS", COLS.to_string())
        .env("LINES", ROWS.to_string());
    let mut pty = Pty::spawn(c);
    pty.wait_for(b"(no messages yet)", 0, T);
    std::thread::sleep(Duration::from_millis(300));
    let idle = summary(keystrokes(&mut pty));
    let words = keystrokes_while_streaming(&mut pty, seen, "bench/stream-words");
    let lines = keystrokes_while_streaming(&mut pty, seen, "bench/stream-lines");
    pty.send(b"/exit\r");
    let deadline = Instant::now() + T;
    while !pty.screen.0.lock().unwrap().eof && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = pty.process.exit();
    let worst = |f: &str| [&words, &lines].iter().map(|v| v["keystroke_ms"][f].as_f64().unwrap()).fold(0.0, f64::max);
    json!({
        "keys": KEYS,
        "delta_every_ms": ms(DELTA_EVERY),
        "terminal": format!("{COLS}x{ROWS}"),
        "idle": {"keystroke_ms": idle},
        "stream_words": words,
        "stream_lines": lines,
        "target_ms": TARGET_KEY_MS,
        "target_met_p50": worst("p50_ms") <= TARGET_KEY_MS,
        "target_met_p99": worst("p99_ms") <= TARGET_KEY_MS,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (paddr, seen) = provider();
    let gw = gateway(paddr);
    let agent = agent(&gw, &seen);
    let chat = chat(&gw, &seen);
    let out = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "binary": bin(),
        "results": {"agent": agent, "chat_keystroke": chat},
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    std::fs::write(out_path(), format!("{text}\n")).unwrap();
    println!("{text}");
    let row = |name: &str, v: &Value| {
        println!(
            "{name:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  (min {:.2}, max {:.2}, n {})",
            v["p50_ms"].as_f64().unwrap(),
            v["p99_ms"].as_f64().unwrap(),
            v["min_ms"].as_f64().unwrap(),
            v["max_ms"].as_f64().unwrap(),
            v["n"]
        )
    };
    let a = &out["results"]["agent"];
    row("agent: spawn -> first delta on stdout", &a["first_delta_ms"]);
    row("agent: spawn -> exit", &a["total_ms"]);
    row("floor: openclaw --version spawn -> exit", &a["process_floor_ms"]);
    row("agent: spawn -> provider request", &a["spawn_to_provider_request_ms"]);
    row("agent: provider's first delta -> stdout", &a["provider_first_delta_to_stdout_ms"]);
    let c = &out["results"]["chat_keystroke"];
    row("chat keystroke -> echo, idle", &c["idle"]["keystroke_ms"]);
    row("chat keystroke -> echo, a word every 5 ms", &c["stream_words"]["keystroke_ms"]);
    row("chat keystroke -> echo, a line every 5 ms", &c["stream_lines"]["keystroke_ms"]);
    drop(gw);
}
