//! ConfigActor: owns config changes. Every reload path (SIGHUP, the file watcher, RPC, CLI)
//! sends the same [`ReloadConfig`]; the actor builds the new config completely, diffs it,
//! swaps it in and publishes [`ConfigChanged`], or keeps the old one and reports why.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use notify::{EventKind, RecursiveMode, Watcher};

use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, RestartInPlace, StartError, StopChild};
use crate::config::diff::{Apply, ConfigDiff};
use crate::config::edit;
use crate::config::live::{LiveWriter, ReloadFacts, ReloadRecord};
use crate::config::load::load_candidate;
use crate::config::model::ReloadMode;
use crate::config::{LoadOptions, Problem, load};
use crate::lifecycle::ReloadPhase;
use crate::net::tls::TlsStore;
use crate::state::{self, FILE_MODE};
use crate::topic::Publisher;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub const ID: &str = "config";

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Signal,
    File,
    Rpc,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "signal",
            Self::File => "file",
            Self::Rpc => "rpc",
        }
    }
}

/// Command: re-read the config from disk and apply it.
#[derive(Message)]
#[rtype(result = "ReloadOutcome")]
pub struct ReloadConfig {
    pub trigger: Trigger,
}

/// The result of one reload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ReloadOutcome {
    /// Swapped in. `restart_required` lists paths that wait for a process restart.
    #[serde(rename_all = "camelCase")]
    Applied {
        hot: Vec<String>,
        listener: Vec<String>,
        restart_required: Vec<String>,
        /// Result of rebuilding the listener, when its settings changed.
        listener_error: Option<String>,
    },
    /// The new config equals the running one.
    Unchanged,
    /// Invalid: the old config stays live.
    Rejected { problems: Vec<Problem> },
    /// Not attempted (stopping, or `reload.mode = off` for file changes).
    Skipped { reason: String },
}

impl ReloadOutcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Unchanged => "unchanged",
            Self::Rejected { .. } => "rejected",
            Self::Skipped { .. } => "skipped",
        }
    }
}

pub use crate::config::live::ConfigChanged;

/// Command: watch the current set of files again (the listener sends it once the TLS
/// certificate files are known).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Rearm;

impl Handler<Rearm> for ConfigActor {
    type Result = ();

    fn handle(&mut self, _: Rearm, ctx: &mut Context<Self>) {
        self.arm_watcher(ctx);
    }
}

/// Internal: a watched file changed (sent from the watcher thread).
#[derive(Message)]
#[rtype(result = "()")]
struct FileChanged;

/// Test-only fault injection: panic inside a handler.
#[cfg(feature = "fault-injection")]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// What the ConfigActor reads, and the facts it alone writes (kept by its spec, so every
/// incarnation gets the same ones).
pub struct ConfigHandles {
    /// The only write handle on the live config (it reads it too).
    pub writer: LiveWriter,
    /// What reloads start from (paths, environment snapshot, flags).
    pub options: Arc<LoadOptions>,
    pub changes: Publisher<ConfigChanged>,
    pub reloads: watch::Sender<ReloadFacts>,
    pub phase: ReloadPhase,
    /// The listener's certificate (a renewal is a reload) and addresses (the status line).
    pub tls: watch::Receiver<Option<Arc<TlsStore>>>,
    pub listen: watch::Receiver<Vec<SocketAddr>>,
    /// The child rebuilt in place when listener settings change.
    pub listener: &'static str,
    /// The current listener's server, which stops accepting before it is replaced.
    pub server: watch::Receiver<Option<actix_web::dev::ServerHandle>>,
}

pub struct ConfigActor {
    h: Rc<ConfigHandles>,
    supervisor: Addr<super::supervisor::Supervisor>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: Vec<PathBuf>,
    debounce: Option<SpawnHandle>,
    _watch: ExitWatch,
}

/// The child spec: a permanent child that starts from the live config (never from a
/// half-applied state) and re-arms its file watcher. Every incarnation gets the config's
/// one write handle.
pub fn spec(handles: ConfigHandles) -> ChildSpec {
    let handles = Rc::new(handles);
    ChildSpec::permanent(ID, Duration::from_secs(2), move |cx: &ChildContext| -> Result<Child, StartError> {
        let mut actor = ConfigActor {
            h: handles.clone(),
            supervisor: cx.supervisor.clone(),
            watcher: None,
            watched: Vec::new(),
            debounce: None,
            _watch: cx.watch(),
        };
        // Armed before the child counts as started: an edit right after "ready" is seen.
        Ok(cx.spawn(|ctx| {
            actor.arm_watcher(ctx);
            actor
        }))
    })
}

impl ConfigActor {
    /// Watches the directories of the config file and its includes, so a file replaced by
    /// an editor (rename over) or deleted and re-created is still seen.
    fn arm_watcher(&mut self, ctx: &mut Context<Self>) {
        let mut files = self.h.writer.get().loaded.files.clone();
        // A certificate renewal (certbot) is a reload too.
        if let Some(store) = self.h.tls.borrow().as_ref() {
            let (cert, key) = store.files();
            files.extend([cert, key]);
        }
        if self.watcher.is_some() && files == self.watched {
            return;
        }
        self.watcher = None;
        let targets: HashSet<PathBuf> = files.iter().cloned().collect();
        let addr = ctx.address();
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            if matches!(ev.kind, EventKind::Access(_)) {
                return;
            }
            if ev.paths.iter().any(|p| targets.contains(p)) {
                addr.do_send(FileChanged);
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "config file watching unavailable; SIGHUP still reloads");
                return;
            }
        };
        let dirs: HashSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(PathBuf::from)).collect();
        for dir in dirs {
            if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch config directory; SIGHUP still reloads");
            }
        }
        self.watcher = Some(watcher);
        self.watched = files;
    }

    /// Load, validate, diff, swap, publish. Returns the outcome and whether the listener
    /// must be rebuilt.
    fn reload(&mut self, trigger: Trigger) -> (ReloadOutcome, bool) {
        // A changed read-only seed is copied in first, so this reload applies it.
        match crate::config::seed::apply(&self.h.options) {
            Ok(crate::config::seed::Seeded::Copied) => tracing::info!("config seed changed; copied into the state dir"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "config seed not applied; the state copy stays"),
        }
        let current = self.h.writer.get();
        let opts = LoadOptions { require_file: current.loaded.file_exists, ..(*self.h.options).clone() };
        let loaded = match load(&opts) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(
                    trigger = trigger.as_str(), file = %e.file.display(), problems = %e.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                    "config reload rejected; the running config stays"
                );
                let outcome = ReloadOutcome::Rejected { problems: e.problems };
                self.record(trigger, &outcome);
                return (outcome, false);
            }
        };
        let diff = ConfigDiff::between(&current.loaded.effective, &loaded.effective);
        if diff.is_empty() {
            if loaded.hash != current.loaded.hash || loaded.files != current.loaded.files {
                // Comments or layout changed: keep the hash (baseHash) and watch list current.
                self.h.writer.swap(loaded);
            }
            tracing::info!(trigger = trigger.as_str(), "config reloaded: nothing changed");
            self.record(trigger, &ReloadOutcome::Unchanged);
            return (ReloadOutcome::Unchanged, false);
        }
        let mode = loaded.config.gateway.reload.mode;
        let hot = diff.paths(Apply::Hot);
        let listener = diff.paths(Apply::ListenerRestart);
        let mut restart_required = diff.paths(Apply::ProcessRestart);
        let rebuild_listener = !listener.is_empty() && mode == ReloadMode::Hybrid;
        let listener = if rebuild_listener {
            listener
        } else {
            if !listener.is_empty() {
                tracing::warn!(paths = %listener.join(","), "listener settings changed but reload.mode is hot; they apply at the next restart");
            }
            restart_required.extend(listener);
            Vec::new()
        };
        tracing::info!(
            trigger = trigger.as_str(), generation = current.generation + 1, hot = %hot.join(","), listener = %listener.join(","),
            restart_required = %restart_required.join(","), "config reloaded"
        );
        if !restart_required.is_empty() {
            tracing::warn!(paths = %restart_required.join(","), "some changes need a process restart to take effect");
        }
        let outcome = ReloadOutcome::Applied { hot, listener, restart_required, listener_error: None };
        // Recorded before the swap, so /health never shows a new config with an old record.
        self.record(trigger, &outcome);
        let live = self.h.writer.swap(loaded);
        self.h.changes.publish(&ConfigChanged { live, diff: Arc::new(diff) });
        (outcome, rebuild_listener)
    }

    fn record(&self, trigger: Trigger, outcome: &ReloadOutcome) {
        if matches!(outcome, ReloadOutcome::Skipped { .. }) {
            return;
        }
        let (problems, changed, restart_required, listener) = match outcome {
            ReloadOutcome::Rejected { problems } => (problems.clone(), vec![], vec![], None),
            ReloadOutcome::Applied { hot, listener, restart_required, listener_error } => (
                vec![],
                hot.iter().chain(listener).cloned().collect(),
                restart_required.clone(),
                (!listener.is_empty()).then(|| listener_error.clone().unwrap_or_else(|| "rebuilding".into())),
            ),
            _ => (vec![], vec![], vec![], None),
        };
        let record = ReloadRecord {
            at: Utc::now(),
            trigger: trigger.as_str().into(),
            outcome: outcome.label().into(),
            problems,
            changed,
            restart_required,
            listener,
            tls: None,
        };
        self.h.reloads.send_modify(|f| {
            match outcome {
                ReloadOutcome::Applied { .. } => f.applied += 1,
                ReloadOutcome::Unchanged => f.unchanged += 1,
                _ => f.rejected += 1,
            }
            f.last = Some(record);
        });
    }

    /// Amends the record of the reload in progress (listener rebuild, certificate refresh).
    fn amend(&self, edit: impl FnOnce(&mut ReloadRecord)) {
        self.h.reloads.send_modify(|f| {
            if let Some(rec) = f.last.as_mut() {
                edit(rec);
            }
        });
    }
}

impl Actor for ConfigActor {
    type Context = Context<Self>;
}

impl Handler<ReloadConfig> for ConfigActor {
    type Result = ResponseActFuture<Self, ReloadOutcome>;

    fn handle(&mut self, msg: ReloadConfig, _ctx: &mut Context<Self>) -> Self::Result {
        self.reload_flow(msg.trigger)
    }
}

impl ConfigActor {
    /// The one reload path: phase Reloading, load/diff/swap/publish, rebuild the listener if
    /// needed, record, back to Ready.
    fn reload_flow(&mut self, trigger: Trigger) -> ResponseActFuture<Self, ReloadOutcome> {
        tracing::debug!(trigger = trigger.as_str(), "config reload requested");
        if !self.h.phase.begin_reload(&format!("Reloading ({})", trigger.as_str())) {
            let outcome = ReloadOutcome::Skipped { reason: "the gateway is not ready (starting or stopping)".into() };
            return Box::pin(actix::fut::ready(outcome));
        }
        let (outcome, rebuild_listener) = self.reload(trigger);
        let supervisor = self.supervisor.clone();
        let listener_id = self.h.listener;
        let old = self.h.server.borrow().clone();
        let fut = async move {
            if !rebuild_listener {
                return None;
            }
            // The old server stops accepting first (connections wait in the shared socket's
            // backlog), so none lands on it with the old settings once the reload is reported.
            if let Some(old) = &old {
                old.pause().await;
            }
            let error = match supervisor.send(RestartInPlace { id: listener_id }).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("supervisor unavailable: {e}")),
            };
            if error.is_some()
                && let Some(old) = &old
            {
                old.resume().await; // the old listener stays
            }
            error
        };
        Box::pin(fut.into_actor(self).map(move |listener_error, act, ctx| {
            let mut outcome = outcome;
            if let ReloadOutcome::Applied { listener_error: slot, .. } = &mut outcome {
                *slot = listener_error.clone();
            }
            if rebuild_listener {
                act.amend(|rec| rec.listener = Some(listener_error.unwrap_or_else(|| "rebuilt".into())));
            }
            let store = act.h.tls.borrow().clone();
            if !rebuild_listener && let Some(tls) = store.and_then(|s| crate::net::tls::refresh(&s)) {
                act.amend(|rec| rec.tls = Some(tls));
            }
            act.arm_watcher(ctx);
            let listen: Vec<String> = act.h.listen.borrow().iter().map(ToString::to_string).collect();
            act.h.phase.end_reload(&format!("Ready: listening on {}", listen.join(", ")));
            outcome
        }))
    }
}

pub use crate::config::edit::ConfigEdit;

/// Why a config edit was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The edit itself (base hash, key, syntax).
    #[error(transparent)]
    Edit(#[from] edit::EditError),
    /// The edited file would not load.
    #[error("invalid config")]
    Invalid(Vec<Problem>),
    #[error("cannot write the config {}: {source}. Mount it writable, or point OPENCLAW_CONFIG_PATH at a writable copy", path.display())]
    Write { path: PathBuf, source: state::StateError },
}

/// Command: validate, write atomically (keeping one `.bak`) and apply a config edit.
#[derive(Message)]
#[rtype(result = "Result<Value, WriteError>")]
pub struct WriteConfig {
    pub edit: ConfigEdit,
    pub base_hash: Option<String>,
}

impl Handler<WriteConfig> for ConfigActor {
    type Result = ResponseActFuture<Self, Result<Value, WriteError>>;

    fn handle(&mut self, msg: WriteConfig, _: &mut Context<Self>) -> Self::Result {
        let path = self.h.options.paths.config.clone();
        let written = write_config(&self.h.options, &msg);
        let Ok(hash) = written else {
            return Box::pin(actix::fut::ready(Err(written.unwrap_err())));
        };
        Box::pin(self.reload_flow(Trigger::Rpc).map(move |outcome, _, _| {
            let (hot, restart, listener_error) = match &outcome {
                ReloadOutcome::Applied { hot, listener, restart_required, listener_error } => {
                    (hot.iter().chain(listener).cloned().collect(), restart_required.clone(), listener_error.clone())
                }
                _ => (vec![], vec![], None),
            };
            Ok(json!({
                "ok": true, "path": path, "hash": hash,
                "applied": {"hot": hot, "restart": restart},
                "listenerError": listener_error,
                "outcome": outcome,
            }))
        }))
    }
}

/// Checks the base hash, builds and validates the new file, writes it. Returns the new hash.
fn write_config(opts: &LoadOptions, msg: &WriteConfig) -> Result<String, WriteError> {
    let path = &opts.paths.config;
    let current = match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(WriteError::Read { path: path.clone(), source }),
    };
    let current_hash = current.as_deref().map(|b| crate::sys::hex(&Sha256::digest(b)));
    let text = edit::check_base(current_hash.as_deref(), msg.base_hash.as_deref(), &msg.edit)
        .and_then(|()| edit::apply(path, current.as_deref(), &msg.edit))?;
    if let Err(e) = load_candidate(opts, text.as_bytes()) {
        return Err(WriteError::Invalid(e.problems));
    }
    if let Some(old) = &current {
        let bak = path.with_extension(format!("{}.bak", path.extension().and_then(|e| e.to_str()).unwrap_or("json5")));
        state::atomic_write(&bak, old, FILE_MODE).map_err(|e| write_error(path, e))?;
    }
    state::atomic_write(path, text.as_bytes(), FILE_MODE).map_err(|e| write_error(path, e))?;
    tracing::info!(path = %path.display(), "config written");
    Ok(crate::sys::hex(&Sha256::digest(text.as_bytes())))
}

fn write_error(path: &std::path::Path, e: state::StateError) -> WriteError {
    WriteError::Write { path: path.to_path_buf(), source: e }
}

impl Handler<FileChanged> for ConfigActor {
    type Result = ();

    fn handle(&mut self, _: FileChanged, ctx: &mut Context<Self>) {
        let cfg = &self.h.writer.get().loaded.config.gateway.reload;
        if cfg.mode == ReloadMode::Off {
            tracing::info!(
                "config file changed; gateway.reload.mode is off, so it is not applied (send SIGHUP to apply)"
            );
            return;
        }
        if let Some(h) = self.debounce.take() {
            ctx.cancel_future(h);
        }
        let delay = Duration::from_millis(cfg.debounce_ms);
        self.debounce = Some(ctx.run_later(delay, |act, ctx| {
            act.debounce = None;
            ctx.address().do_send(ReloadConfig { trigger: Trigger::File });
        }));
    }
}

impl Handler<StopChild> for ConfigActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        self.watcher = None;
        ctx.stop();
    }
}

#[cfg(feature = "fault-injection")]
impl Handler<InjectPanic> for ConfigActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, _: &mut Context<Self>) {
        panic!("injected fault in the config actor");
    }
}

/// The internal reload API (RPC and CLI call this): reaches the current ConfigActor
/// incarnation through the registry.
pub async fn request_reload(registry: &super::children::ChildRegistry, trigger: Trigger) -> ReloadOutcome {
    match registry.get::<ConfigActor>(ID) {
        Some(addr) => addr.send(ReloadConfig { trigger }).await.unwrap_or_else(|e| ReloadOutcome::Skipped {
            reason: format!("the config actor stopped during the reload: {e}"),
        }),
        None => ReloadOutcome::Skipped { reason: "the config actor is restarting; try again".into() },
    }
}
