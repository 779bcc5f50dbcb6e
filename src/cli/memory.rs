//! `openclaw memory status|index|search`: the agents' memory indexes, read and updated from
//! the state directory directly (the gateway need not run; SQLite's locking lets both work on
//! one index).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;

use crate::config::LoadOptions;
use crate::exit;
use crate::memory::{Index, Memory};

#[derive(Subcommand, Debug)]
pub enum MemoryCmd {
    /// Files and chunks indexed, what is waiting, the embedder and mode (hybrid or
    /// keyword-only, and why), the database and the last sync.
    Status {
        /// One agent (default: every agent).
        #[arg(long)]
        agent: Option<String>,
        /// Every agent's status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring the index up to date now (a progress bar on a terminal).
    Index {
        /// One agent (default: every agent).
        #[arg(long)]
        agent: Option<String>,
        /// Re-chunk and re-index every file, changed or not.
        #[arg(long)]
        force: bool,
    },
    /// Search an agent's memory (keywords and, with an embedder, meaning).
    Search {
        /// What to look for: words, a sentence, or CJK text.
        query: String,
        /// The agent whose memory is searched.
        #[arg(long, default_value = "main")]
        agent: String,
        /// At most this many results (default memory.maxResults, 6).
        #[arg(long)]
        max_results: Option<usize>,
        /// 0..1; results scoring below are left out (default memory.minScore, 0).
        #[arg(long)]
        min_score: Option<f64>,
        /// The answer as JSON: {results: [{path, startLine, endLine, score, snippet, source}], mode, ...}.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: MemoryCmd, opts: &LoadOptions) -> i32 {
    let loaded = match crate::config::load(opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return exit::CONFIG;
        }
    };
    let cfg = &loaded.config;
    let state = &opts.paths.state_dir;
    let memory = Memory::new(state.clone(), opts.env.clone());
    let known = crate::memory::agent_ids(cfg, state);
    let pick = |agent: Option<&str>| -> Result<Vec<Arc<Index>>, i32> {
        match agent {
            Some(a) if !known.iter().any(|k| k == a) => {
                eprintln!("memory: unknown agent {a:?} (known: {})", known.join(", "));
                Err(exit::USAGE)
            }
            Some(a) => Ok(vec![memory.index_for(cfg, a)]),
            None => Ok(known.iter().map(|a| memory.index_for(cfg, a)).collect()),
        }
    };
    let enabled = cfg.memory.index_enabled;
    let off = || {
        eprintln!("memory: off (memory.indexEnabled: false); set it to true to index and search");
        exit::UNAVAILABLE
    };
    match cmd {
        MemoryCmd::Status { agent, json } => {
            let indexes = match pick(agent.as_deref()) {
                Ok(i) => i,
                Err(code) => return code,
            };
            let all: Vec<Value> = indexes.iter().map(|i| i.status(enabled)).collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"enabled": enabled, "agents": all})).unwrap()
                );
            } else {
                if !enabled {
                    println!("memory: off (memory.indexEnabled: false)");
                }
                for s in &all {
                    print_status(s);
                }
            }
            exit::OK
        }
        MemoryCmd::Index { agent, force } => {
            if !enabled {
                return off();
            }
            let indexes = match pick(agent.as_deref()) {
                Ok(i) => i,
                Err(code) => return code,
            };
            let mut code = exit::OK;
            for index in indexes {
                if let Err(e) = index_one(&index, force) {
                    eprintln!("memory: {}: {e}", index.settings().agent_id);
                    code = exit::UNAVAILABLE;
                }
            }
            code
        }
        MemoryCmd::Search { query, agent, max_results, min_score, json } => {
            if !enabled {
                return off();
            }
            let index = match pick(Some(&agent)) {
                Ok(mut i) => i.remove(0),
                Err(code) => return code,
            };
            let found = actix_rt::System::new().block_on(index.search(&query, max_results, min_score));
            match found {
                Ok(v) if json => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap());
                    exit::OK
                }
                Ok(v) => {
                    print_results(&v);
                    exit::OK
                }
                Err(e) => {
                    eprintln!("memory: {e}");
                    exit::UNAVAILABLE
                }
            }
        }
    }
}

fn index_one(index: &Arc<Index>, force: bool) -> Result<(), String> {
    let id = index.settings().agent_id.clone();
    let worker = index.clone();
    let job = std::thread::spawn(move || actix_rt::System::new().block_on(worker.sync(force)));
    let tty = std::io::stderr().is_terminal();
    while !job.is_finished() {
        if tty {
            let p = index.progress();
            let frac = if p.total > 0 { p.done as f64 / p.total as f64 } else { 0.0 };
            let bar = (frac * 30.0).round() as usize;
            eprint!(
                "\r{id}: [{}{}] {}/{} {:<10}",
                "#".repeat(bar),
                " ".repeat(30 - bar.min(30)),
                p.done,
                p.total,
                p.phase
            );
            let _ = std::io::stderr().flush();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if tty {
        eprint!("\r{}\r", " ".repeat(60));
    }
    job.join().map_err(|_| "the indexer panicked".to_string())??;
    let s = index.status(true);
    println!(
        "{id}: {} files, {} chunks indexed ({} changed), mode {}{}",
        s["files"],
        s["chunks"],
        s["sync"]["lastChanged"],
        s["mode"].as_str().unwrap_or(""),
        s["fallback"].as_str().map(|f| format!(" ({f})")).unwrap_or_default()
    );
    Ok(())
}

fn print_status(s: &Value) {
    let str = |k: &str| s[k].as_str().unwrap_or("").to_string();
    println!("memory: agent {}", str("agentId"));
    match s["fallback"].as_str() {
        None => println!("  mode:      hybrid (keywords + vectors from {} {})", str("provider"), str("model")),
        Some(why) => println!("  mode:      keyword-only: {why}"),
    }
    println!(
        "  indexed:   {} files, {} chunks; dirty {} ({} files changed, {} chunks awaiting embeddings)",
        s["files"], s["chunks"], s["dirty"], s["dirtyFiles"], s["pendingEmbeddings"]
    );
    println!("  workspace: {}", str("workspaceDir"));
    println!("  database:  {} ({} KiB)", str("dbPath"), s["dbBytes"].as_u64().unwrap_or(0) / 1024);
    let sync = &s["sync"];
    match sync["lastSyncAtMs"].as_i64().and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => println!("  last sync: {}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => println!("  last sync: never (openclaw memory index, or start the gateway)"),
    }
    if let Some(e) = sync["lastError"].as_str() {
        println!("  error:     {e}");
    }
}

fn print_results(v: &Value) {
    let results = v["results"].as_array().cloned().unwrap_or_default();
    if let Some(f) = v["fallback"].as_str() {
        println!("(keyword-only: {f})");
    }
    if results.is_empty() {
        println!("no results");
    }
    for r in results {
        println!(
            "{}:{}-{}  score {}  [{}]",
            r["path"].as_str().unwrap_or(""),
            r["startLine"],
            r["endLine"],
            r["score"],
            r["source"].as_str().unwrap_or("")
        );
        for line in r["snippet"].as_str().unwrap_or("").lines().take(6) {
            println!("    {line}");
        }
    }
}
