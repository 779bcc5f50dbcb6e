//! Memory index benchmark: indexing 10,000 chunks through the fake embeddings server (time,
//! chunks/s, database size), hybrid and keyword-only search latency at 10,000 and 100,000
//! chunks, the re-index after one file of a 1,000-file workspace changed, and what an open
//! index costs in memory while idle (measured in a child process of its own). Run:
//! `cargo bench --bench memory` (`OPENCLAW_BENCH_MEMORY_QUICK=1` for a smaller smoke run; see
//! bench/README.md). Writes bench/results/memory-index.json.

#[path = "../tests/common/embedder.rs"]
mod embedder;
#[path = "../tests/common/loopback.rs"]
mod loopback;

#[path = "stats.rs"]
mod stats;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use embedder::FakeEmbedder;
use openclaw::memory::chunk::chunk;
use openclaw::memory::embed::Endpoint;
use openclaw::memory::sources::Roots;
use openclaw::memory::{Index, Settings};
use serde_json::{Value, json};
use stats::summary;

const TOKENS: u32 = 400;
const OVERLAP: u32 = 80;
const MODEL: &str = "bench-embed";
/// Chunks per generated daily-notes file of the big workspaces.
const CHUNKS_PER_FILE: usize = 50;
/// Lines per file of the 1,000-file workspace (about four chunks).
const SMALL_FILE_LINES: usize = 60;
const REINDEX_RUNS: usize = 20;
const QUERIES: usize = 240;
const WARMUP: usize = 10;
const SHORT_QUERIES: usize = 10;
const TARGET_SEARCH_P50_MS: f64 = 5.0;
const TARGET_SEARCH_P99_MS: f64 = 20.0;
const TARGET_REINDEX_MS: f64 = 100.0;
/// Set in the child process that measures an open index's memory: the database directory.
const CHILD_ENV: &str = "OPENCLAW_BENCH_MEMORY_CHILD";

struct Sizes {
    small: usize,
    large: usize,
    files: usize,
}

fn sizes() -> Sizes {
    if std::env::var_os("OPENCLAW_BENCH_MEMORY_QUICK").is_some_and(|v| !v.is_empty() && v != "0") {
        Sizes { small: 1_000, large: 5_000, files: 100 }
    } else {
        Sizes { small: 10_000, large: 100_000, files: 1_000 }
    }
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const STOPWORDS: &[&str] = &[
    "the", "and", "of", "to", "in", "with", "for", "on", "we", "it", "that", "is", "was", "a", "at", "by", "from",
    "this", "not", "but", "so", "then", "after", "before", "about",
];
/// Real words, among them the fake embedder's synonyms.
const TOPICS: &[&str] = &[
    "deploy",
    "key",
    "database",
    "migration",
    "meeting",
    "budget",
    "release",
    "server",
    "backup",
    "invoice",
    "contract",
    "schedule",
    "dentist",
    "flight",
    "hotel",
    "garden",
    "recipe",
    "password",
    "certificate",
    "router",
    "car",
    "automobile",
    "vehicle",
    "doctor",
    "physician",
    "vacation",
    "holiday",
    "purchase",
    "buy",
    "huge",
    "enormous",
    "large",
    "kernel",
    "compiler",
    "benchmark",
    "latency",
    "customer",
    "roadmap",
    "quarterly",
    "birthday",
];
const CJK_LINES: &[&str] = &[
    "记忆索引的设计：每个代理一个数据库，关键词与向量混合检索。",
    "部署密钥在保险箱里，轮换周期为九十天。",
    "会议记录：预算审批推迟到下个季度。",
    "東京への出張は来月の第二週に決まった。",
    "데이터베이스 마이그레이션은 금요일 밤에 진행한다.",
];
const CJK_QUERIES: &[&str] = &["部署密钥", "记忆索引", "预算审批", "東京への出張", "마이그레이션"];
const SYNONYM_QUERIES: &[&str] = &[
    "enormous vehicle purchase",
    "physician appointment",
    "holiday plans",
    "buy a large automobile",
    "doctor visit before vacation",
    "huge car",
];

/// About `n` made-up words (two or three syllables), deterministic.
fn vocabulary(n: usize) -> Vec<String> {
    const ONSETS: &[&str] =
        &["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "gl"];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou"];
    const CODAS: &[&str] = &["", "", "n", "r", "s", "l", "x"];
    let mut rng = Rng(7);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let syllables = 2 + rng.below(2);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push_str(rng.pick(ONSETS));
            w.push_str(rng.pick(VOWELS));
        }
        w.push_str(rng.pick(CODAS));
        if seen.insert(w.clone()) {
            out.push(w);
        }
    }
    out
}

/// Generated notes: lines of about 80 characters, a mix of stop words, topic words and made-up
/// words (skewed: some common, most rare), with headings, bullets and the odd CJK line.
struct Writer {
    rng: Rng,
    vocab: Vec<String>,
}

impl Writer {
    fn new(seed: u64) -> Self {
        Self { rng: Rng(seed), vocab: vocabulary(5_000) }
    }

    /// A made-up word, skewed towards the start of the vocabulary.
    fn word(&mut self) -> &str {
        let i = (self.vocab.len() as f64 * self.rng.unit().powf(2.5)) as usize;
        &self.vocab[i.min(self.vocab.len() - 1)]
    }

    fn line(&mut self) -> String {
        let r = self.rng.below(100);
        if r < 2 {
            return self.rng.pick(CJK_LINES).to_string();
        }
        let mut line = String::with_capacity(96);
        let target = if r < 8 {
            line.push_str("## ");
            30
        } else if r < 30 {
            line.push_str("- ");
            75
        } else {
            80
        };
        while line.len() < target {
            let k = self.rng.below(100);
            let w = if k < 35 {
                self.rng.pick(STOPWORDS).to_string()
            } else if k < 45 {
                self.rng.pick(TOPICS).to_string()
            } else {
                self.word().to_string()
            };
            if !line.is_empty() && !line.ends_with(' ') {
                line.push(' ');
            }
            line.push_str(&w);
            if self.rng.below(12) == 0 {
                line.push(if self.rng.below(2) == 0 { ',' } else { '.' });
            }
        }
        line
    }

    fn text(&mut self, lines: usize) -> String {
        let mut out = String::new();
        for _ in 0..lines {
            out.push_str(&self.line());
            out.push('\n');
        }
        out
    }

    fn query(&mut self, i: usize) -> String {
        match i % 10 {
            0..=3 => {
                // Two or three rarer made-up words.
                let n = 2 + self.rng.below(2);
                (0..n)
                    .map(|_| self.vocab[self.vocab.len() / 4 + self.rng.below(self.vocab.len() * 3 / 4)].clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            4..=6 => {
                let (a, b) = (self.word().to_string(), self.rng.pick(TOPICS));
                format!("what did we decide about the {b} and {a}")
            }
            7 | 8 => {
                let w = self.word().to_string();
                format!("{} {w}", self.rng.pick(SYNONYM_QUERIES))
            }
            _ => self.rng.pick(CJK_QUERIES).to_string(),
        }
    }
}

/// Writes a workspace of about `chunks` chunks (counted with the index's own chunker) into
/// `ws`: MEMORY.md and `memory/<year>/<day>.md` files of [`CHUNKS_PER_FILE`] chunks.
/// Returns (files, chunks, bytes).
fn write_workspace(ws: &Path, chunks: usize, seed: u64) -> (usize, usize, u64) {
    let mut w = Writer::new(seed);
    std::fs::create_dir_all(ws.join("memory")).unwrap();
    let (mut files, mut total, mut bytes) = (0, 0, 0u64);
    while total < chunks {
        let want = CHUNKS_PER_FILE.min(chunks - total);
        // About 16 new lines per chunk; grow until the chunker agrees.
        let mut text = w.text(want * 16);
        let mut n = chunk(&text, TOKENS, OVERLAP).len();
        while n < want {
            text.push_str(&w.text(16));
            n = chunk(&text, TOKENS, OVERLAP).len();
        }
        let path = if files == 0 {
            ws.join("MEMORY.md")
        } else {
            let dir = ws.join("memory").join((2000 + files / 365).to_string());
            std::fs::create_dir_all(&dir).unwrap();
            dir.join(format!("day-{:03}.md", files % 365))
        };
        std::fs::write(path, &text).unwrap();
        bytes += text.len() as u64;
        files += 1;
        total += n;
    }
    (files, total, bytes)
}

fn settings(dir: &Path, ws: &Path, db: &str, embedder: Option<&FakeEmbedder>) -> Settings {
    settings_url(dir, ws, db, embedder.map(FakeEmbedder::base_url))
}

fn settings_url(dir: &Path, ws: &Path, db: &str, base_url: Option<String>) -> Settings {
    Settings {
        agent_id: "main".into(),
        db: dir.join("memory").join(db),
        roots: Roots { workspace: ws.to_path_buf(), extra: vec![], sessions: None, memory: true },
        tokens: TOKENS,
        overlap: OVERLAP,
        embedder: Ok(base_url.map(|base_url| Endpoint {
            provider: "remote".into(),
            base_url,
            api_key: None,
            headers: vec![],
            model: MODEL.into(),
        })),
        max_results: 6,
        min_score: 0.0,
    }
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// Search latency over `queries` (after a warm-up), checking the mode; also the latency of
/// queries whose every term is too short for trigrams (a substring scan), apart.
fn search_latency(sys: &actix_rt::SystemRunner, index: &Index, queries: &[String], mode: &str) -> Value {
    let run = |q: &str| {
        let t = Instant::now();
        let v = sys.block_on(index.search(q, None, None)).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(v["mode"], mode, "{q:?}: {v}");
        (ms, v["results"].as_array().map_or(0, Vec::len))
    };
    for q in queries.iter().take(WARMUP) {
        run(q);
    }
    let mut all = Vec::new();
    let mut by_class: [Vec<f64>; 4] = Default::default();
    let mut hits = 0;
    for (i, q) in queries.iter().enumerate() {
        let (ms, n) = run(q);
        hits += n;
        all.push(ms);
        by_class[match i % 10 {
            0..=3 => 0,
            4..=6 => 1,
            7 | 8 => 2,
            _ => 3,
        }]
        .push(ms);
    }
    let short: Vec<f64> = (0..SHORT_QUERIES).map(|i| run(["CI", "db", "ok go", "QA", "v2"][i % 5]).0).collect();
    let [rare, natural, synonyms, cjk] = by_class.map(summary);
    json!({"all": summary(all), "mean_results": hits as f64 / queries.len() as f64,
           "by_class": {"rare_words": rare, "sentence_with_stop_words": natural, "synonyms": synonyms, "cjk": cjk},
           "short_terms_substring_scan": summary(short)})
}

/// Memory figures of this process (KiB).
fn memory() -> Value {
    let mut out = serde_json::Map::new();
    let mut grab = |file: &str, keys: &[(&str, &str)]| {
        let Ok(text) = std::fs::read_to_string(file) else { return };
        for line in text.lines() {
            for (k, name) in keys {
                if let Some(rest) = line.strip_prefix(&format!("{k}:")) {
                    let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    out.insert(name.to_string(), json!(kib));
                }
            }
        }
    };
    grab("/proc/self/status", &[("VmRSS", "rss_kib"), ("RssAnon", "anon_kib")]);
    grab("/proc/self/smaps_rollup", &[("Pss", "pss_kib"), ("Pss_Anon", "pss_anon_kib")]);
    Value::Object(out)
}

fn delta(before: &Value, after: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in after.as_object().unwrap() {
        if let (Some(a), Some(b)) = (v.as_i64(), before[k].as_i64()) {
            out.insert(k.clone(), json!(a - b));
        }
    }
    Value::Object(out)
}

/// The child: opens the index under `$OPENCLAW_BENCH_MEMORY_CHILD` (a workspace and a state
/// directory, the embedder at `$..._URL`), searches once, and prints memory before and after.
fn child(spec: &str) {
    let v: Value = serde_json::from_str(spec).unwrap();
    let (dir, ws) = (PathBuf::from(v["dir"].as_str().unwrap()), PathBuf::from(v["ws"].as_str().unwrap()));
    let s = settings_url(&dir, &ws, v["db"].as_str().unwrap(), v["url"].as_str().map(String::from));
    let queries: Vec<String> = serde_json::from_value(v["queries"].clone()).unwrap();
    let sys = actix_rt::System::new();
    // The runtime and the HTTP client are part of the process before the index is opened.
    sys.block_on(async {});
    let before = memory();
    let index = Index::new(s);
    let r = sys.block_on(index.search(&queries[0], None, None)).unwrap();
    assert_eq!(r["mode"], "hybrid", "{r}");
    let after_one = memory();
    for q in &queries {
        sys.block_on(index.search(q, None, None)).unwrap();
    }
    let after_all = memory();
    println!(
        "{}",
        json!({"before": before, "after_one_search": after_one, "after_searches": after_all,
                           "searches": queries.len() + 1})
    );
}

fn child_memory(dir: &Path, ws: &Path, db: &str, url: &str, queries: &[String]) -> Value {
    let spec = json!({"dir": dir, "ws": ws, "db": db, "url": url, "queries": queries}).to_string();
    let out = std::process::Command::new(std::env::current_exe().unwrap()).env(CHILD_ENV, spec).output().unwrap();
    assert!(out.status.success(), "memory child: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let idle_one = delta(&v["before"], &v["after_one_search"]);
    let idle_all = delta(&v["before"], &v["after_searches"]);
    json!({"before": v["before"], "after_one_search": v["after_one_search"], "after_searches": v["after_searches"],
           "searches": v["searches"], "delta_after_one_search_kib": idle_one, "delta_after_searches_kib": idle_all})
}

/// Builds a workspace of `chunks` chunks, indexes it through `fake` (timed), and measures
/// hybrid and keyword-only search on it.
fn big(sys: &actix_rt::SystemRunner, root: &Path, chunks: usize, fake: &FakeEmbedder, memory: bool) -> Value {
    let dir = root.join(format!("state-{chunks}"));
    let ws = root.join(format!("ws-{chunks}"));
    let t = Instant::now();
    let (files, made, bytes) = write_workspace(&ws, chunks, chunks as u64);
    let gen_s = t.elapsed().as_secs_f64();
    let (req0, in0) = (fake.requests(), fake.inputs());
    let index = Index::new(settings(&dir, &ws, "main.sqlite", Some(fake)));
    let t = Instant::now();
    sys.block_on(index.sync(false)).unwrap();
    let sync_s = t.elapsed().as_secs_f64();
    let st = index.status(true);
    assert_eq!(st["pendingEmbeddings"], 0, "{st}");
    assert_eq!(st["mode"], "hybrid", "{st}");
    let indexed = st["chunks"].as_u64().unwrap();
    let db_bytes = st["dbBytes"].as_u64().unwrap();
    let (requests, inputs) = (fake.requests() - req0, fake.inputs() - in0);
    println!(
        "{chunks:>7} chunks: {files} files, {:.1} MiB of text (written in {gen_s:.1} s); first sync {sync_s:.2} s \
         ({:.0} chunks/s), db {:.1} MiB, {requests} embedding requests / {inputs} inputs",
        bytes as f64 / 1048576.0,
        indexed as f64 / sync_s,
        db_bytes as f64 / 1048576.0
    );
    let mut w = Writer::new(chunks as u64 ^ 0x5eed);
    let queries: Vec<String> = (0..QUERIES).map(|i| w.query(i)).collect();
    let hybrid = search_latency(sys, &index, &queries, "hybrid");
    // Keyword-only: another index on the same database, never synced (a sync would drop the
    // vectors of the embedder it does not have).
    let keyword_index = Index::new(settings(&dir, &ws, "main.sqlite", None));
    let keyword = search_latency(sys, &keyword_index, &queries, "keyword");
    for (name, v) in [("hybrid", &hybrid), ("keyword", &keyword)] {
        let a = &v["all"];
        let c = &v["by_class"];
        println!(
            "         search {name:<7} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (p99 by class: rare {:.2}, \
             sentence {:.2}, synonyms {:.2}, cjk {:.2}; short-term scan p50 {:.2} ms; {:.1} results/query)",
            f(a, "p50_ms"),
            f(a, "p99_ms"),
            f(a, "max_ms"),
            f(&c["rare_words"], "p99_ms"),
            f(&c["sentence_with_stop_words"], "p99_ms"),
            f(&c["synonyms"], "p99_ms"),
            f(&c["cjk"], "p99_ms"),
            f(&v["short_terms_substring_scan"], "p50_ms"),
            f(v, "mean_results"),
        );
    }
    drop(keyword_index);
    drop(index);
    let mem = memory.then(|| {
        let m = child_memory(&dir, &ws, "main.sqlite", &fake.base_url(), &queries[..50]);
        let d = &m["delta_after_one_search_kib"];
        println!(
            "         open index, idle after one search: +{} KiB RSS, +{} KiB anonymous, +{} KiB PSS \
             (after 50 more searches: +{} KiB RSS, +{} KiB anonymous)",
            d["rss_kib"],
            d["anon_kib"],
            d["pss_kib"],
            m["delta_after_searches_kib"]["rss_kib"],
            m["delta_after_searches_kib"]["anon_kib"]
        );
        m
    });
    let out = json!({
        "chunks": indexed, "files": files, "text_bytes": bytes, "generated_chunks": made,
        "first_sync_s": sync_s, "chunks_per_s": indexed as f64 / sync_s,
        "db_bytes": db_bytes, "embedding_requests": requests, "embedding_inputs": inputs,
        "search_hybrid": hybrid, "search_keyword": keyword, "memory": mem,
    });
    std::fs::remove_dir_all(&ws).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

/// Appends a line to `path` and moves its mtime forward by `bump` seconds.
fn edit(path: &Path, line: &str, bump: u64) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(bump)).unwrap();
}

/// A `files`-file workspace indexed once, then one file edited and re-synced, [`REINDEX_RUNS`]
/// times: keyword-only (no embedding at all) and with the fake embedder.
fn reindex(sys: &actix_rt::SystemRunner, root: &Path, files: usize, fake: &FakeEmbedder) -> Value {
    let ws = root.join("ws-files");
    let dir = root.join("state-files");
    let mut w = Writer::new(1000);
    std::fs::create_dir_all(ws.join("memory/notes")).unwrap();
    let paths: Vec<PathBuf> = (0..files).map(|i| ws.join(format!("memory/notes/note-{i:04}.md"))).collect();
    for p in &paths {
        std::fs::write(p, w.text(SMALL_FILE_LINES)).unwrap();
    }
    let mut out = serde_json::Map::new();
    for (name, db, fake) in [("keyword_only", "keyword.sqlite", None), ("with_embedder", "embed.sqlite", Some(fake))] {
        let index = Index::new(settings(&dir, &ws, db, fake));
        let t = Instant::now();
        sys.block_on(index.sync(false)).unwrap();
        let first = t.elapsed().as_secs_f64();
        let chunks = index.status(true)["chunks"].as_u64().unwrap();
        // An unchanged pass: listing and stat of every file only.
        let t = Instant::now();
        sys.block_on(index.sync(false)).unwrap();
        let unchanged = t.elapsed().as_secs_f64() * 1e3;
        let req0 = fake.map_or(0, FakeEmbedder::requests);
        let mut ms = Vec::new();
        for run in 0..REINDEX_RUNS {
            let p = &paths[(run * 7919) % paths.len()];
            edit(p, &w.line(), 10 + run as u64);
            let t = Instant::now();
            sys.block_on(index.sync(false)).unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(index.progress().last_changed, 1);
        }
        let st = index.status(true);
        assert_eq!(st["dirtyFiles"], 0, "{st}");
        assert_eq!(st["pendingEmbeddings"], 0, "{st}");
        let requests = fake.map_or(0, FakeEmbedder::requests) - req0;
        let s = summary(ms);
        println!(
            "reindex one edited file of {files} ({chunks} chunks), {name}: p50 {:.2} ms  max {:.2} ms \
             (unchanged pass {unchanged:.2} ms; first sync {first:.2} s; {requests} embedding requests in {REINDEX_RUNS} edits)",
            f(&s, "p50_ms"),
            f(&s, "max_ms")
        );
        out.insert(
            name.into(),
            json!({"files": files, "chunks": chunks, "first_sync_s": first, "unchanged_pass_ms": unchanged,
                   "edit_sync": s, "embedding_requests": requests}),
        );
    }
    std::fs::remove_dir_all(&ws).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    Value::Object(out)
}

/// The fake embedder's vectors behave as the benchmark assumes.
fn check_embedder(fake: &FakeEmbedder) {
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let (a, b) = (embedder::vector("I bought a huge automobile"), embedder::vector("purchase of an enormous car"));
    assert!(cos(&a, &b) > 0.5, "synonyms are near: {}", cos(&a, &b));
    assert_eq!(embedder::vector(""), embedder::vector(" ,, "));
    let (m1, m2) = (embedder::vector_for("m1", "huge car"), embedder::vector_for("m2", "huge car"));
    assert!(cos(&m1, &m2) < 0.9, "models differ");
    assert!(fake.base_url().starts_with("http://127.0.0.1:"));
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let sz = sizes();
    let started = Instant::now();
    let root = tempfile::Builder::new().prefix("openclaw-bench-memory").tempdir().unwrap();
    let fake = FakeEmbedder::start();
    check_embedder(&fake);
    let sys = actix_rt::System::new();
    println!(
        "memory bench ({} build, {} CPUs{})",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if sz.small < 10_000 { ", quick mode" } else { "" }
    );
    let small = big(&sys, root.path(), sz.small, &fake, true);
    let large = big(&sys, root.path(), sz.large, &fake, false);
    let re = reindex(&sys, root.path(), sz.files, &fake);
    let results = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "quick": sz.small < 10_000,
        "settings": {"tokens": TOKENS, "overlap": OVERLAP, "dims": embedder::DIMS, "model": MODEL,
                     "queries": QUERIES, "warmup": WARMUP, "reindex_runs": REINDEX_RUNS},
        "index_small": small,
        "index_large": large,
        "reindex": re,
        "fake_embedder": {"requests": fake.requests(), "inputs": fake.inputs()},
        "targets": {"search_p50_ms": TARGET_SEARCH_P50_MS, "search_p99_ms": TARGET_SEARCH_P99_MS,
                    "reindex_ms": TARGET_REINDEX_MS},
        "total_s": started.elapsed().as_secs_f64(),
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/memory-index.json");
    std::fs::write(&out, serde_json::to_string_pretty(&results).unwrap() + "\n").unwrap();
    println!("total {:.0} s; wrote {}", started.elapsed().as_secs_f64(), out.display());
}
