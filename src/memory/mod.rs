//! Memory: one index per agent of its notes (`MEMORY.md`, `memory/**/*.md`, extra paths) and,
//! when configured, its session transcripts, in `<state>/memory/<agentId>.sqlite`; kept current
//! by a debounced file watcher and an index pass at start; searched (keywords and vectors) by
//! the agent's memory tools, `openclaw memory` and `memory.status|search`.
//!
//! # Layout
//! - [`chunk`]: line-based chunking; [`search`]: query terms, rank fusion, snippets.
//! - [`store`]: the SQLite database (FTS5 trigram, sqlite-vec, embedding cache, meta).
//! - [`embed`]: the OpenAI-compatible embeddings client.
//! - [`sources`]: which files are indexed, and which memory_get may read.
//! - [`index`]: one agent's sync pass and search.
//!
//! [`Memory`] owns the indexes and the watcher; the gateway's memory actor applies config to
//! it, tools and RPC get read access through it.

pub mod chunk;
pub mod embed;
pub mod index;
pub mod rank;
pub mod search;
pub mod sources;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use self::embed::Endpoint;
pub use self::index::{Index, Settings};
use self::sources::Roots;
use crate::agents::{models, roster, toolbox, transcript};
use crate::config::Config;
use crate::config::env::EnvSnapshot;
use crate::config::model::MemorySource;

/// How long the watcher waits for quiet before a sync (upstream's 1.5 s).
pub const DEBOUNCE: Duration = Duration::from_millis(1500);

pub fn db_path(state_dir: &Path, agent_id: &str) -> PathBuf {
    state_dir.join("memory").join(format!("{agent_id}.sqlite"))
}

/// Every agent the gateway knows (the roster and `agents.list`).
pub fn agent_ids(cfg: &Config, state_dir: &Path) -> Vec<String> {
    let mut ids = roster::ids(state_dir);
    for e in &cfg.agents.list {
        if !ids.contains(&e.id) {
            ids.push(e.id.clone());
        }
    }
    ids
}

/// The embedder the config names for `agent_id`: `memory.remote`, else `memory.provider` from
/// models.json (and `models.providers`), else none.
fn embedder(cfg: &Config, state_dir: &Path, env: &EnvSnapshot, agent_id: &str) -> Result<Option<Endpoint>, String> {
    let m = &cfg.memory;
    if let Some(r) = &m.remote {
        return Ok(Some(Endpoint {
            provider: "remote".into(),
            base_url: r.base_url.clone(),
            api_key: r.api_key.clone(),
            headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            model: m.embedding_model.clone(),
        }));
    }
    let Some(provider) = &m.provider else { return Ok(None) };
    let file = models::path(state_dir, agent_id);
    let catalogue = models::load_merged(&file, &cfg.models.providers).map_err(|e| e.to_string())?;
    let t = catalogue
        .target(&format!("{provider}/{}", m.embedding_model), env, &file)
        .map_err(|e| format!("memory.provider {provider:?}: {e}"))?;
    Ok(Some(Endpoint {
        provider: provider.clone(),
        base_url: t.base_url,
        api_key: t.api_key,
        headers: t.headers.into_iter().collect(),
        model: m.embedding_model.clone(),
    }))
}

/// What `agent_id`'s index is built from under `cfg`.
pub fn settings(cfg: &Config, state_dir: &Path, env: &EnvSnapshot, agent_id: &str) -> Settings {
    let m = &cfg.memory;
    let home = env.get("HOME");
    let workspace = toolbox::workspace(cfg, state_dir, agent_id, home);
    let extra = m
        .extra_paths
        .iter()
        .map(|p| {
            let p = crate::tools::root::expand_home(p, home.map(Path::new));
            if p.is_absolute() { p } else { workspace.join(p) }
        })
        .collect();
    Settings {
        agent_id: agent_id.into(),
        db: db_path(state_dir, agent_id),
        roots: Roots {
            workspace,
            extra,
            sessions: m.sources.contains(&MemorySource::Sessions).then(|| transcript::dir(state_dir, agent_id)),
            memory: m.sources.contains(&MemorySource::Memory),
        },
        tokens: m.chunk_size,
        overlap: m.chunk_overlap,
        embedder: embedder(cfg, state_dir, env, agent_id),
        max_results: m.max_results as usize,
        min_score: m.min_score,
    }
}

/// Runs `index`'s sync on a thread of its own (an actix system for the embeddings client),
/// again if asked meanwhile.
fn run_sync(index: Arc<Index>, force: bool, again: impl Fn() -> bool + Send + 'static) {
    let spawned = std::thread::Builder::new().name("memory-index".into()).spawn(move || {
        let system = actix_rt::System::new();
        let mut force = force;
        loop {
            if let Err(e) = system.block_on(index.sync(force)) {
                tracing::warn!(agent = %index.settings().agent_id, error = %e, "memory: index pass failed");
            }
            force = false;
            if !again() {
                break;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "memory: cannot start the indexer thread");
    }
}

/// The gateway's memory: the indexes, their indexer threads and the watcher.
pub struct Memory {
    state_dir: PathBuf,
    env: EnvSnapshot,
    enabled: AtomicBool,
    indexes: RwLock<BTreeMap<String, Arc<Index>>>,
    /// Agents whose indexer runs; true when another pass is due after it.
    running: Mutex<HashMap<String, bool>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl Memory {
    pub fn new(state_dir: PathBuf, env: EnvSnapshot) -> Arc<Self> {
        Arc::new(Self {
            state_dir,
            env,
            enabled: AtomicBool::new(false),
            indexes: RwLock::default(),
            running: Mutex::default(),
            watcher: Mutex::default(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// `agent_id`'s index (there is one for every known agent once config is applied).
    pub fn index(&self, agent_id: &str) -> Option<Arc<Index>> {
        self.indexes.read().get(agent_id).cloned()
    }

    /// The index for `agent_id` under `cfg`, made if missing (the CLI's way in).
    pub fn index_for(&self, cfg: &Config, agent_id: &str) -> Arc<Index> {
        let s = settings(cfg, &self.state_dir, &self.env, agent_id);
        let mut all = self.indexes.write();
        let idx = all.entry(agent_id.to_string()).or_insert_with(|| Arc::new(Index::new(s.clone())));
        idx.update(s);
        idx.clone()
    }

    /// Applies `cfg`: settings for every agent, the watcher re-armed, and a sync for every
    /// index whose settings changed (all of them the first time). Off: watching stops.
    pub fn apply(self: &Arc<Self>, cfg: &Config) {
        let on = cfg.memory.index_enabled;
        self.enabled.store(on, Ordering::Relaxed);
        if !on {
            *self.watcher.lock() = None;
            return;
        }
        let mut due = Vec::new();
        for id in agent_ids(cfg, &self.state_dir) {
            let s = settings(cfg, &self.state_dir, &self.env, &id);
            let mut all = self.indexes.write();
            match all.get(&id) {
                Some(idx) => {
                    if idx.update(s) {
                        due.push(id);
                    }
                }
                None => {
                    all.insert(id.clone(), Arc::new(Index::new(s)));
                    due.push(id);
                }
            }
        }
        // A reload that changed nothing memory reads (the soak reloads every second) keeps
        // the watcher it has.
        if !due.is_empty() || self.watcher.lock().is_none() {
            self.watch();
        }
        for id in due {
            self.schedule(&id, false);
        }
    }

    /// Starts a sync of `agent_id` (or asks the running one for another pass).
    pub fn schedule(self: &Arc<Self>, agent_id: &str, force: bool) {
        let Some(index) = self.index(agent_id) else { return };
        {
            let mut running = self.running.lock();
            if let Some(again) = running.get_mut(agent_id) {
                *again = true;
                return;
            }
            running.insert(agent_id.to_string(), false);
        }
        let me = self.clone();
        let id = agent_id.to_string();
        run_sync(index, force, move || {
            let mut running = me.running.lock();
            match running.get_mut(&id) {
                Some(again) if *again => {
                    *again = false;
                    true
                }
                _ => {
                    running.remove(&id);
                    false
                }
            }
        });
    }

    /// Stops watching (the gateway is stopping); indexer threads finish their pass.
    pub fn stop(&self) {
        *self.watcher.lock() = None;
    }

    /// Watches every index's sources: each workspace (for MEMORY.md), its memory/ tree, the
    /// extra paths and the transcripts. A source that does not exist yet is watched through
    /// its nearest existing parent, and the watch is re-armed once it appears. Changes are
    /// debounced per agent.
    fn watch(self: &Arc<Self>) {
        use notify::{RecursiveMode, Watcher};
        let (tx, rx) = std::sync::mpsc::channel::<notify::Result<notify::Event>>();
        let mut w = match notify::recommended_watcher(tx) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "memory: cannot watch files; the index updates at start and on `openclaw memory index`");
                return;
            }
        };
        // (watched path, agent); and the sources still missing.
        let mut owners: Vec<(PathBuf, String)> = Vec::new();
        let mut missing: Vec<PathBuf> = Vec::new();
        for (id, idx) in self.indexes.read().iter() {
            let s = idx.settings();
            let r = &s.roots;
            let mut paths = vec![(r.workspace.clone(), RecursiveMode::NonRecursive)];
            if r.memory {
                paths.push((r.workspace.join("memory"), RecursiveMode::Recursive));
                paths.extend(r.extra.iter().map(|p| (p.clone(), RecursiveMode::Recursive)));
            }
            paths.extend(r.sessions.iter().map(|p| (p.clone(), RecursiveMode::NonRecursive)));
            for (p, mode) in paths {
                let (target, mode) = if p.exists() {
                    (p, mode)
                } else {
                    let Some(parent) = p.ancestors().skip(1).find(|a| a.exists()).map(Path::to_path_buf) else {
                        continue;
                    };
                    missing.push(p);
                    (parent, RecursiveMode::NonRecursive)
                };
                if owners.iter().any(|(q, _)| *q == target) || w.watch(&target, mode).is_ok() {
                    owners.push((target, id.clone()));
                }
            }
        }
        let me = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("memory-watch".into()).spawn(move || {
            let mut due: BTreeMap<String, std::time::Instant> = BTreeMap::new();
            loop {
                let wait = due.values().min().map(|t| t.saturating_duration_since(std::time::Instant::now()));
                let ev = match wait {
                    Some(d) => rx.recv_timeout(d),
                    None => rx.recv().map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
                };
                match ev {
                    Ok(Ok(ev)) => {
                        for p in &ev.paths {
                            // Every agent watching a root that holds the path.
                            for (_, id) in owners.iter().filter(|(root, _)| p.starts_with(root)) {
                                due.insert(id.clone(), std::time::Instant::now() + DEBOUNCE);
                            }
                        }
                    }
                    Ok(Err(_)) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
                let now = std::time::Instant::now();
                let ready: Vec<String> = due.iter().filter(|(_, t)| **t <= now).map(|(id, _)| id.clone()).collect();
                let Some(me) = me.upgrade() else { return };
                for id in &ready {
                    due.remove(id);
                    me.schedule(id, false);
                }
                if !ready.is_empty() && missing.iter().any(|p| p.exists()) {
                    // A source appeared: watch it itself (this thread ends with the old watcher).
                    me.watch();
                    return;
                }
            }
        });
        if spawned.is_ok() {
            *self.watcher.lock() = Some(w);
        }
    }
}

/// One index as the agent's tools reach it.
struct IndexRecall(Arc<Index>);

impl crate::tools::memory::Recall for IndexRecall {
    fn search(
        &self,
        query: String,
        max_results: Option<usize>,
        min_score: Option<f64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + 'static>> {
        let index = self.0.clone();
        Box::pin(async move { index.search(&query, max_results, min_score).await })
    }

    fn get(&self, path: &str, from: Option<usize>, lines: Option<usize>) -> Result<serde_json::Value, String> {
        self.0.get(path, from, lines)
    }
}

impl crate::tools::memory::Memories for Memory {
    fn recall(&self, agent_id: &str) -> Option<Arc<dyn crate::tools::memory::Recall>> {
        if !self.enabled() {
            return None;
        }
        self.index(agent_id).map(|i| Arc::new(IndexRecall(i)) as Arc<dyn crate::tools::memory::Recall>)
    }
}
