//! One agent's memory index: the sync pass (new and changed files re-chunked, each in its own
//! transaction; removed files dropped; then every chunk without a vector embedded, through the
//! cache), and search (keyword candidates from FTS5, vector candidates from `vec0` when the
//! stored vectors are the current embedder's, fused by rank).
//!
//! The vectors' identity (provider, model, endpoint) is kept in the database. When it changes,
//! the old vectors are dropped at once and searches are keyword-only until the new ones are
//! all in: never a stale vector, never a mixed set.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::chunk::chunk;
use super::embed::{self, Endpoint};
use super::search;
use super::sources::{self, Roots};
use super::store::{FileRecord, NewChunk, Store};

/// Candidates taken from each list per result wanted (upstream's multiplier), at most 200.
const CANDIDATES_PER_RESULT: usize = 4;
/// A vector candidate less similar than this (cosine) is no candidate.
pub const VECTOR_FLOOR: f64 = 0.2;
/// Chunks embedded per round of the embedding pass.
const EMBED_ROUND: usize = 512;

/// What one agent's index is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub agent_id: String,
    pub db: PathBuf,
    pub roots: Roots,
    pub tokens: u32,
    pub overlap: u32,
    /// `Ok(None)`: none configured (keyword-only); `Err`: configured but unusable, why.
    pub embedder: Result<Option<Endpoint>, String>,
    pub max_results: usize,
    pub min_score: f64,
}

impl Settings {
    fn chunking(&self) -> String {
        format!("tokens={} overlap={}", self.tokens, self.overlap)
    }

    fn endpoint(&self) -> Option<&Endpoint> {
        self.embedder.as_ref().ok().and_then(Option::as_ref)
    }
}

/// The last and current sync, for status.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub running: bool,
    pub phase: String,
    pub done: u64,
    pub total: u64,
    pub last_sync_at_ms: Option<i64>,
    pub last_sync_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Files changed by the last sync.
    pub last_changed: u64,
}

/// A search result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f64,
    pub snippet: String,
    pub source: String,
}

pub struct Index {
    settings: RwLock<Arc<Settings>>,
    /// The searches' connection (opened when the database exists): status, and each search's
    /// keyword half, which runs on a thread of its own (shared with that thread).
    reader: Arc<Reader>,
    /// A second connection for each search's vector half, run meanwhile (opened by the first
    /// search with vectors): the two halves of a search at 100,000 chunks take a few
    /// milliseconds each, and in parallel a search costs the slower one.
    vector_reader: Reader,
    /// One sync at a time (each pass runs on its own thread and runtime).
    writer: tokio::sync::Mutex<()>,
    progress: Mutex<Progress>,
}

fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn record(meta: &std::fs::Metadata, hash: String) -> FileRecord {
    let mtime_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    FileRecord { hash, mtime_ms, size: meta.len() as i64 }
}

/// A search connection, opened when the database exists.
#[derive(Default)]
struct Reader(Mutex<Option<Store>>);

impl Reader {
    fn with<T>(&self, s: &Settings, f: impl FnOnce(&Store) -> Result<T, rusqlite::Error>) -> Result<Option<T>, String> {
        let mut r = self.0.lock();
        if r.is_none() {
            if !s.db.exists() {
                return Ok(None);
            }
            *r = Some(Store::open(&s.db).map_err(|e| format!("{}: {e}", s.db.display()))?);
        }
        f(r.as_ref().expect("just opened")).map(Some).map_err(|e| format!("{}: {e}", s.db.display()))
    }
}

/// A search's keyword candidates, best first: from the word index, the CJK trigram index and
/// the substring scan, interleaved.
fn keyword_candidates(st: &Store, k: &search::Keywords, candidates: usize) -> Result<Vec<i64>, rusqlite::Error> {
    let mut lists = Vec::new();
    let mut words = k.words.clone();
    let mut every = None;
    if k.terms.len() > 1 {
        let counts = k.terms.iter().map(|t| st.doc_count(t, search::is_prefix(t))).collect::<Result<Vec<_>, _>>()?;
        let total = st.chunk_total()?;
        let picked = search::selective(&k.terms, &counts, total);
        // None of the terms is rare, so "any of them" is most of the index, each chunk
        // scored: the chunks with all of them (far fewer) come first, and "any" only
        // tops the list up when they are too few.
        if search::all_common(&counts, total) {
            every = search::all_words_query(&picked);
        }
        words = search::word_query(&picked);
    }
    if let Some(q) = &words {
        let mut ids = match &every {
            Some(all) => st.words(all, candidates)?,
            None => Vec::new(),
        };
        if ids.len() < candidates {
            search::top_up(&mut ids, st.words(q, candidates)?, candidates);
        }
        lists.push(ids);
    }
    if let Some(q) = &k.cjk {
        lists.push(st.cjk(q, candidates)?);
    }
    if !k.substrings.is_empty() {
        lists.push(st.substring(&k.substrings, candidates)?);
    }
    Ok(search::interleave(&lists))
}

impl Index {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: RwLock::new(Arc::new(settings)),
            reader: Arc::default(),
            vector_reader: Reader::default(),
            writer: tokio::sync::Mutex::new(()),
            progress: Mutex::default(),
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// New settings; true when they differ (a sync is then due).
    pub fn update(&self, settings: Settings) -> bool {
        let mut s = self.settings.write();
        if **s == settings {
            return false;
        }
        if s.db != settings.db {
            *self.reader.0.lock() = None;
            *self.vector_reader.0.lock() = None;
        }
        *s = Arc::new(settings);
        true
    }

    pub fn progress(&self) -> Progress {
        self.progress.lock().clone()
    }

    fn set_progress(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress.lock());
    }

    /// Brings the index up to date with the files. `force` re-chunks every file. Runs the
    /// database work on the calling thread: call it off the gateway's threads.
    pub async fn sync(&self, force: bool) -> Result<(), String> {
        let _one = self.writer.lock().await;
        let s = self.settings();
        let started = Instant::now();
        self.set_progress(|p| {
            p.running = true;
            p.phase = "scanning".into();
            (p.done, p.total) = (0, 0);
        });
        let result = self.sync_pass(&s, force).await;
        self.set_progress(|p| {
            p.running = false;
            p.phase = "idle".into();
            p.last_sync_at_ms = Some(now_ms());
            p.last_sync_ms = Some(started.elapsed().as_millis() as u64);
            p.last_error = result.as_ref().err().cloned();
        });
        result
    }

    async fn sync_pass(&self, s: &Settings, force: bool) -> Result<(), String> {
        let files = s.roots.list();
        if files.is_empty() && !s.db.exists() {
            return Ok(());
        }
        if let Some(dir) = s.db.parent() {
            crate::state::ensure_dir(dir).map_err(|e| e.to_string())?;
        }
        let db = |e: rusqlite::Error| format!("{}: {e}", s.db.display());
        let store = Store::open(&s.db).map_err(db)?;
        let rechunk = force || store.meta("chunking").map_err(db)?.as_deref() != Some(&s.chunking());
        // The vectors' identity: a change drops them now, and searches stay keyword-only
        // until the embedding pass below has them all again.
        let identity = s.endpoint().map(Endpoint::identity);
        let stored = store.meta("vectors").map_err(db)?;
        if stored != identity {
            store.drop_vectors().map_err(db)?;
            store.set_meta("vectors", identity.as_deref()).map_err(db)?;
            store.set_meta("reindexing", identity.as_ref().map(|_| "1")).map_err(db)?;
            if identity.is_some() && stored.is_some() {
                tracing::info!(agent = %s.agent_id, embedder = identity.as_deref().unwrap_or(""),
                    "memory: the embedder changed; re-embedding in the background, searches are keyword-only until done");
            }
        }
        let known = store.files().map_err(db)?;
        let model = s.endpoint().map_or("", |e| e.model.as_str()).to_string();
        let use_cache = store.meta("reindexing").map_err(db)?.is_none() && store.dims().map_err(db)?.is_some();
        self.set_progress(|p| {
            p.phase = "chunking".into();
            p.total = files.len() as u64;
        });
        let mut changed = 0;
        for f in &files {
            self.set_progress(|p| p.done += 1);
            let Ok(meta) = std::fs::symlink_metadata(&f.abs) else { continue };
            let old = known.get(&f.key);
            let quick = record(&meta, String::new());
            if !rechunk && old.is_some_and(|o| o.mtime_ms == quick.mtime_ms && o.size == quick.size) {
                continue;
            }
            let Ok(text) = sources::text(f) else { continue };
            let rec = record(&meta, hash(&text));
            if !rechunk && old.is_some_and(|o| o.hash == rec.hash) {
                store.touch_file(&f.key, &rec).map_err(db)?;
                continue;
            }
            let pieces = chunk(&text, s.tokens, s.overlap);
            let hashes: Vec<String> = pieces.iter().map(|c| hash(&c.text)).collect();
            let mut cached = match (&s.endpoint(), use_cache) {
                (Some(ep), true) => {
                    let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
                    store.cached(&ep.provider, &ep.model, &refs).map_err(db)?
                }
                _ => Default::default(),
            };
            let new: Vec<NewChunk> = pieces
                .into_iter()
                .zip(hashes)
                .map(|(c, h)| NewChunk {
                    start_line: c.start_line,
                    end_line: c.end_line,
                    vector: cached.remove(&h),
                    hash: h,
                    text: c.text,
                })
                .collect();
            store.replace_file(&f.key, f.source, &rec, &model, &new).map_err(db)?;
            changed += 1;
        }
        let listed: std::collections::HashSet<&str> = files.iter().map(|f| f.key.as_str()).collect();
        for gone in known.keys().filter(|k| !listed.contains(k.as_str())) {
            store.remove_file(gone).map_err(db)?;
            changed += 1;
        }
        store.set_meta("chunking", Some(&s.chunking())).map_err(db)?;
        let total = store.chunk_count().map_err(db)?;
        store.set_meta("chunks", Some(&total.to_string())).map_err(db)?;
        self.set_progress(|p| p.last_changed = changed);
        if changed > 0 {
            tracing::info!(agent = %s.agent_id, files = changed, "memory: index updated");
        }
        if let Some(ep) = s.endpoint() {
            self.embed_pending(&store, ep).await.map_err(|e| format!("embeddings: {e}"))?;
        }
        // For `memory status` in another process (the CLI beside the gateway).
        store.set_meta("lastSyncAtMs", Some(&now_ms().to_string())).map_err(db)?;
        Ok(())
    }

    /// Embeds every chunk without a vector (cache first), round by round; the last round
    /// ends the reindexing state.
    async fn embed_pending(&self, store: &Store, ep: &Endpoint) -> Result<(), String> {
        let db = |e: rusqlite::Error| e.to_string();
        let total = store.pending_count().map_err(db)?;
        self.set_progress(|p| {
            p.phase = "embedding".into();
            (p.done, p.total) = (0, total);
        });
        loop {
            let pending = store.pending(EMBED_ROUND).map_err(db)?;
            if pending.is_empty() {
                break;
            }
            let hashes: Vec<&str> = pending.iter().map(|p| p.1.as_str()).collect();
            let mut cached = store.cached(&ep.provider, &ep.model, &hashes).map_err(db)?;
            let missing: Vec<&(i64, String, String)> = pending.iter().filter(|p| !cached.contains_key(&p.1)).collect();
            let texts: Vec<String> = missing.iter().map(|p| p.2.clone()).collect();
            let vectors = embed::embed(ep, &texts).await?;
            let fresh: Vec<(&str, &[f32])> =
                missing.iter().zip(&vectors).map(|(p, v)| (p.1.as_str(), v.as_slice())).collect();
            store.cache(&ep.provider, &ep.model, &fresh).map_err(db)?;
            for (p, v) in missing.iter().zip(vectors) {
                cached.insert(p.1.clone(), v);
            }
            let rows: Vec<(i64, Vec<f32>)> =
                pending.iter().filter_map(|p| cached.get(&p.1).map(|v| (p.0, v.clone()))).collect();
            if let Some(dims) = rows.first().map(|r| r.1.len()) {
                if rows.iter().any(|r| r.1.len() != dims) {
                    return Err(format!("{} answered vectors of different widths", ep.identity()));
                }
                store.ensure_vectors(dims).map_err(db)?;
            }
            store.set_vectors(&rows).map_err(db)?;
            self.set_progress(|p| p.done += rows.len() as u64);
        }
        if store.meta("reindexing").map_err(db)?.is_some() {
            store.set_meta("reindexing", None).map_err(db)?;
            tracing::info!(embedder = %ep.identity(), "memory: re-embedding finished; vector search is back");
        }
        Ok(())
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Store) -> Result<T, rusqlite::Error>) -> Result<Option<T>, String> {
        self.reader.with(&self.settings(), f)
    }

    /// Whether searches may use vectors now, and if not, why.
    fn vector_state(&self) -> Result<Result<(), String>, String> {
        let s = self.settings();
        let ep = match &s.embedder {
            Ok(Some(ep)) => ep.clone(),
            Ok(None) => return Ok(Err("no embedder configured (memory.remote or memory.provider)".into())),
            Err(e) => return Ok(Err(e.clone())),
        };
        let st = self.with_reader(|st| Ok((st.meta("vectors")?, st.meta("reindexing")?, st.dims()?)))?;
        Ok(match st {
            None => Err("nothing indexed yet".into()),
            Some((Some(id), None, Some(_))) if id == ep.identity() => Ok(()),
            Some((Some(id), _, _)) if id == ep.identity() => Err("re-embedding in progress".into()),
            Some(_) => Err("the stored vectors are another embedder's; reindex pending".into()),
        })
    }

    /// Hybrid search: `{results, provider, model, mode, fallback?}` (mode "hybrid" or "keyword").
    pub async fn search(&self, query: &str, max: Option<usize>, min: Option<f64>) -> Result<Value, String> {
        let s = self.settings();
        let max = max.unwrap_or(s.max_results).clamp(1, 100);
        let min = min.unwrap_or(s.min_score);
        let candidates = (max * CANDIDATES_PER_RESULT).min(200);
        let mut fallback = self.vector_state()?.err();
        let mut query_vec = None;
        // The keyword half starts now, on a thread of its own, while the query is embedded and
        // the vector half runs here.
        let keyword = {
            let (reader, s) = (self.reader.clone(), s.clone());
            let k = search::keywords(query);
            tokio::task::spawn_blocking(move || {
                let t = Instant::now();
                (reader.with(&s, |st| keyword_candidates(st, &k, candidates)), t.elapsed())
            })
        };
        let started = Instant::now();
        if fallback.is_none()
            && let Some(ep) = s.endpoint()
        {
            match embed::embed(ep, &[query.to_string()]).await {
                Ok(mut v) => query_vec = v.pop(),
                Err(e) => fallback = Some(format!("the query could not be embedded: {e}")),
            }
        }
        let embedded = started.elapsed();
        let vector = match (&query_vec, s.endpoint()) {
            (Some(v), Some(ep)) => self.vector_reader.with(&s, |st| {
                Ok(st
                    .nearest(v, candidates, (ep.provider.as_str(), ep.model.as_str()))?
                    .into_iter()
                    .filter(|(_, d)| 1.0 - d >= VECTOR_FLOOR)
                    .map(|r| r.0)
                    .collect::<Vec<i64>>())
            }),
            _ => Ok(None),
        };
        let vectors = started.elapsed() - embedded;
        let (keyword, keywords) = keyword.await.map_err(|e| format!("the keyword search failed: {e}"))?;
        tracing::debug!(
            agent = %s.agent_id,
            keyword_ms = keywords.as_secs_f64() * 1e3,
            embedding_ms = embedded.as_secs_f64() * 1e3,
            vector_ms = vectors.as_secs_f64() * 1e3,
            "memory search: the keyword half and the embedding plus the vector half ran side by side"
        );
        let (keyword, vector) = (keyword?, vector?);
        // No database yet: no candidates from either half.
        let (keyword, vector) = (keyword.unwrap_or_default(), vector.unwrap_or_default());
        let lists: Vec<&[i64]> = if query_vec.is_some() { vec![&keyword, &vector] } else { vec![&keyword] };
        let fused: Vec<(i64, f64)> = search::fuse(&lists).into_iter().filter(|(_, sc)| *sc >= min).take(max).collect();
        let ids: Vec<i64> = fused.iter().map(|f| f.0).collect();
        // The keyword half is done, so its connection is free (a keyword-only index never opens
        // the second one).
        let rows = self.reader.with(&s, |st| st.rows(&ids))?.unwrap_or_default();
        let found: Vec<Hit> = fused
            .into_iter()
            .filter_map(|(id, score)| {
                let r = rows.get(&id)?;
                Some(Hit {
                    path: r.path.clone(),
                    start_line: r.start_line,
                    end_line: r.end_line,
                    score: (score * 1000.0).round() / 1000.0,
                    snippet: search::snippet(&r.text),
                    source: r.source.clone(),
                })
            })
            .collect();
        let ep = s.endpoint();
        let mut out = json!({
            "results": found,
            "provider": ep.map(|e| e.provider.clone()),
            "model": ep.map(|e| e.model.clone()),
            "mode": if query_vec.is_some() { "hybrid" } else { "keyword" },
        });
        if let Some(f) = fallback {
            out["fallback"] = json!(f);
        }
        Ok(out)
    }

    /// `memory_get`: lines of a memory file (`from` 1-based, `lines` at most), refusing
    /// anything that is not one.
    pub fn get(&self, path: &str, from: Option<usize>, lines: Option<usize>) -> Result<Value, String> {
        let s = self.settings();
        let abs = s
            .roots
            .readable(path)
            .ok_or_else(|| format!("{path:?} is not a memory file (MEMORY.md, memory/**/*.md or memory.extraPaths)"))?;
        let text = std::fs::read_to_string(&abs).map_err(|e| format!("{path}: {e}"))?;
        let from = from.unwrap_or(1).max(1);
        let lines = lines.unwrap_or(2000).min(2000);
        let body: Vec<&str> = text.lines().skip(from - 1).take(lines).collect();
        let mut out = body.join("\n");
        let truncated = out.len() > 50 * 1024;
        if truncated {
            let mut cut = 50 * 1024;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        Ok(json!({"path": path, "from": from, "lines": body.len(), "text": out, "truncated": truncated}))
    }

    /// `memory status` for this agent.
    pub fn status(&self, enabled: bool) -> Value {
        let s = self.settings();
        let counts = self.with_reader(|st| st.counts());
        let (files, chunks, pending, cache) = match &counts {
            Ok(Some(c)) => *c,
            _ => (0, 0, 0, 0),
        };
        // Files changed since the last sync (listing and stat only).
        let known = self.with_reader(|st| st.files()).ok().flatten().unwrap_or_default();
        let listed = s.roots.list();
        let dirty_files = listed
            .iter()
            .filter(|f| {
                let now = std::fs::symlink_metadata(&f.abs).ok().map(|m| record(&m, String::new()));
                match (known.get(&f.key), now) {
                    (Some(k), Some(n)) => k.mtime_ms != n.mtime_ms || k.size != n.size,
                    _ => true,
                }
            })
            .count()
            + {
                let keys: std::collections::HashSet<&str> = listed.iter().map(|f| f.key.as_str()).collect();
                known.keys().filter(|k| !keys.contains(k.as_str())).count()
            };
        let vector = self.vector_state().unwrap_or_else(Err);
        let ep = s.endpoint();
        let db_bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|sfx| std::fs::metadata(format!("{}{sfx}", s.db.display())).ok())
            .map(|m| m.len())
            .sum();
        let mut sync = self.progress();
        if sync.last_sync_at_ms.is_none() {
            sync.last_sync_at_ms =
                self.with_reader(|st| st.meta("lastSyncAtMs")).ok().flatten().flatten().and_then(|t| t.parse().ok());
        }
        let mut v = json!({
            "agentId": s.agent_id,
            "enabled": enabled,
            "files": files,
            "chunks": chunks,
            "dirty": dirty_files as u64 + if ep.is_some() { pending } else { 0 },
            "dirtyFiles": dirty_files,
            "pendingEmbeddings": if ep.is_some() { pending } else { 0 },
            "provider": ep.map(|e| e.provider.clone()),
            "model": ep.map(|e| e.model.clone()),
            "mode": if vector.is_ok() { "hybrid" } else { "keyword" },
            "workspaceDir": s.roots.workspace,
            "extraPaths": s.roots.extra,
            "sources": if s.roots.sessions.is_some() { json!(["memory", "sessions"]) } else { json!(["memory"]) },
            "chunking": {"tokens": s.tokens, "overlap": s.overlap},
            "cache": {"entries": cache},
            "dbPath": s.db,
            "dbBytes": db_bytes,
            "sync": sync,
        });
        if let Err(why) = vector {
            v["fallback"] = json!(why);
        }
        if let Err(e) = &counts {
            v["error"] = json!(e);
        }
        v
    }
}
