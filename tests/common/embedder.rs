//! A fake OpenAI-compatible embeddings server for the tests and the memory bench (loopback
//! only): `POST /v1/embeddings` answers deterministic vectors ([`vector`]: a hashed bag of
//! words, [`DIMS`] wide, L2-normalised, with a small synonym table so texts sharing no word
//! can still be near), different for every model. It counts requests and inputs, records the
//! models asked for, and can be told to fail (500) or to answer slowly.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The width of every vector.
pub const DIMS: usize = 64;

#[derive(Default)]
struct State {
    requests: AtomicUsize,
    inputs: AtomicUsize,
    models: Mutex<Vec<String>>,
    failing: AtomicBool,
    delay_ns: AtomicU64,
}

pub struct FakeEmbedder {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl FakeEmbedder {
    pub fn start() -> Self {
        let state = Arc::new(State::default());
        let addr = super::loopback::serve("fake embedder", state.clone(), serve);
        Self { addr, state }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `POST /v1/embeddings` requests answered, whatever the status.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Input texts embedded by successful requests.
    pub fn inputs(&self) -> usize {
        self.state.inputs.load(Ordering::SeqCst)
    }

    /// The `model` of each request, in order.
    pub fn models_seen(&self) -> Vec<String> {
        self.state.models.lock().unwrap().clone()
    }

    /// While on, every request is answered 500.
    pub fn set_failing(&self, on: bool) {
        self.state.failing.store(on, Ordering::SeqCst);
    }

    /// Waits `d` before answering each request.
    pub fn set_delay(&self, d: Duration) {
        self.state.delay_ns.store(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }
}

/// The word a synonym stands for.
fn canonical(word: &str) -> &str {
    match word {
        "car" | "cars" | "automobile" | "automobiles" | "vehicle" | "vehicles" => "car",
        "physician" | "physicians" | "doctor" | "doctors" => "doctor",
        "holiday" | "holidays" | "vacation" | "vacations" => "vacation",
        "purchase" | "purchased" | "buy" | "bought" => "buy",
        "huge" | "enormous" | "large" | "big" => "large",
        w => w,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff | 0x20000..=0x2fa1f)
}

/// The words of `text`: lower-cased runs of alphanumerics, each CJK character a word of its own.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// FNV-1a, 64 bits, with a final mix so the low bits depend on every byte.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// `text`'s embedding: each (canonical) word adds ±1 to a bucket, both chosen by its hash;
/// L2-normalised. Wordless text is the first unit vector. The server answers this vector
/// rearranged by the model ([`vector_for`]), so similarities between texts are the same under
/// every model, while vectors of two models are unrelated.
pub fn vector(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMS];
    for w in words(text) {
        let h = fnv1a(canonical(&w).as_bytes());
        let bucket = (h % DIMS as u64) as usize;
        v[bucket] += if (h >> 32) & 1 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
        return v;
    }
    v.iter().map(|x| x / norm).collect()
}

/// What the server answers for `text` under `model`: [`vector`] with its components permuted
/// and their signs flipped by a function of the model name (an orthogonal map, so norms and
/// cosines between texts of one model are kept).
pub fn vector_for(model: &str, text: &str) -> Vec<f32> {
    let base = vector(text);
    let mut seed = fnv1a(model.as_bytes()) | 1;
    let mut next = || {
        // xorshift64
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut order: Vec<usize> = (0..DIMS).collect();
    for i in (1..DIMS).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    order.iter().map(|&from| if next() & 1 == 0 { base[from] } else { -base[from] }).collect()
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn respond(out: &mut TcpStream, status: &str, body: &[u8], close: bool) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n",
        body.len(),
        if close { "close" } else { "keep-alive" }
    );
    // One write: a head and a body written apart would wait for the client's delayed ACK.
    let mut msg = head.into_bytes();
    msg.extend_from_slice(body);
    out.write_all(&msg)?;
    out.flush()
}

/// Reads a chunked body (`Transfer-Encoding: chunked`).
fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l)? == 0 || l.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let at = body.len();
        body.resize(at + size, 0);
        reader.read_exact(&mut body[at..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Answers the requests of one connection, until it closes or asks to.
fn serve(conn: TcpStream, state: &State) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let http10 = parts.next() == Some("HTTP/1.0");
        let (mut len, mut chunked, mut close) = (0usize, false, http10);
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = lower.strip_prefix("transfer-encoding:") {
                chunked = v.contains("chunked");
            } else if let Some(v) = lower.strip_prefix("connection:") {
                close = v.contains("close");
            }
        }
        let body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            body
        };
        let path = path.split('?').next().unwrap_or("");
        if method != "POST" || path != "/v1/embeddings" {
            respond(&mut out, "404 Not Found", br#"{"error":{"message":"not found"}}"#, close)?;
        } else {
            let (status, answer) = embeddings(&body, state);
            respond(&mut out, status, answer.as_bytes(), close)?;
        }
        if close {
            return Ok(());
        }
    }
}

/// One `POST /v1/embeddings`: (status line, body).
fn embeddings(body: &[u8], state: &State) -> (&'static str, String) {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let model = req["model"].as_str().unwrap_or("").to_string();
    state.models.lock().unwrap().push(model.clone());
    let delay = state.delay_ns.load(Ordering::SeqCst);
    if delay > 0 {
        std::thread::sleep(Duration::from_nanos(delay));
    }
    // Counted once the answer is decided, so a test that sees the count sees the outcome.
    let answer = if state.failing.load(Ordering::SeqCst) {
        ("500 Internal Server Error", json!({"error": {"message": "fake embedder: failing on purpose"}}).to_string())
    } else {
        let texts: Option<Vec<&str>> = match &req["input"] {
            Value::String(s) => Some(vec![s.as_str()]),
            Value::Array(a) => a.iter().map(Value::as_str).collect(),
            _ => None,
        };
        match texts {
            Some(texts) if !texts.is_empty() => {
                let tokens: usize = texts.iter().map(|t| words(t).len()).sum();
                let data: Vec<Value> = texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector_for(&model, t)}))
                    .collect();
                state.inputs.fetch_add(texts.len(), Ordering::SeqCst);
                let answer = json!({"object": "list", "data": data, "model": model,
                                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
                ("200 OK", answer.to_string())
            }
            _ => (
                "400 Bad Request",
                json!({"error": {"message": "fake embedder: `input` must be a string or an array of strings"}})
                    .to_string(),
            ),
        }
    };
    state.requests.fetch_add(1, Ordering::SeqCst);
    answer
}
