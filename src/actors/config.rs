//! ConfigActor: owns config changes. Every reload path (SIGHUP, the file watcher, RPC, CLI)
//! sends the same [`ReloadConfig`]; the actor builds the new config completely, diffs it,
//! swaps it in and publishes [`ConfigChanged`], or keeps the old one and reports why.

use crate::config::live::LiveWriter;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use notify::{EventKind, RecursiveMode, Watcher};

use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, RestartInPlace, StartError, StopChild};
use crate::config::diff::{Apply, ConfigDiff};
use crate::config::edit;
use crate::config::load::load_candidate;
use crate::config::model::ReloadMode;
use crate::config::{LoadOptions, Problem, load};
use crate::protocol::ErrorShape;
use crate::shared::{ReloadRecord, Shared};
use crate::state::{self, FILE_MODE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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

pub use crate::config::live::{ConfigBus, ConfigChanged};

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

pub struct ConfigActor {
    shared: Arc<Shared>,
    /// The only write handle on the live config.
    writer: Arc<LiveWriter>,
    supervisor: Addr<super::supervisor::Supervisor>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: Vec<PathBuf>,
    debounce: Option<SpawnHandle>,
    _watch: ExitWatch,
}

/// The child spec: a permanent child that starts from the live config (never from a
/// half-applied state) and re-arms its file watcher. Every incarnation gets the config's
/// one write handle.
pub fn spec(writer: LiveWriter) -> ChildSpec {
    let writer = Arc::new(writer);
    ChildSpec::permanent(ID, Duration::from_secs(2), move |cx: &ChildContext| -> Result<Child, StartError> {
        let mut actor = ConfigActor {
            shared: cx.shared.clone(),
            writer: writer.clone(),
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
        let mut files = self.shared.config().loaded.files.clone();
        // A certificate renewal (certbot) is a reload too.
        if let Some(store) = self.shared.tls.read().as_ref() {
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
        match crate::config::seed::apply(&self.shared.load_options) {
            Ok(crate::config::seed::Seeded::Copied) => tracing::info!("config seed changed; copied into the state dir"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "config seed not applied; the state copy stays"),
        }
        let current = self.shared.config();
        let opts = LoadOptions { require_file: current.loaded.file_exists, ..self.shared.load_options.clone() };
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
                self.writer.swap(loaded);
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
        let live = self.writer.swap(loaded);
        self.shared.bus.publish(&ConfigChanged { live, diff: Arc::new(diff) });
        (outcome, rebuild_listener)
    }

    fn record(&self, trigger: Trigger, outcome: &ReloadOutcome) {
        let counters = &self.shared.reloads;
        let counter = match outcome {
            ReloadOutcome::Applied { .. } => &counters.applied,
            ReloadOutcome::Unchanged => &counters.unchanged,
            ReloadOutcome::Rejected { .. } => &counters.rejected,
            ReloadOutcome::Skipped { .. } => return,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        *self.shared.last_reload.write() = Some(ReloadRecord {
            at: Utc::now(),
            trigger: trigger.as_str().into(),
            outcome: outcome.label().into(),
            problems,
            changed,
            restart_required,
            listener,
            tls: None,
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
        if !self.shared.phase.begin_reload(&format!("Reloading ({})", trigger.as_str())) {
            let outcome = ReloadOutcome::Skipped { reason: "the gateway is not ready (starting or stopping)".into() };
            return Box::pin(actix::fut::ready(outcome));
        }
        let (outcome, rebuild_listener) = self.reload(trigger);
        let supervisor = self.supervisor.clone();
        let fut = async move {
            if !rebuild_listener {
                return None;
            }
            match supervisor.send(RestartInPlace { id: super::listener::ID }).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(e) => Some(format!("supervisor unavailable: {e}")),
            }
        };
        Box::pin(fut.into_actor(self).map(move |listener_error, act, ctx| {
            let mut outcome = outcome;
            if let ReloadOutcome::Applied { listener_error: slot, .. } = &mut outcome {
                *slot = listener_error.clone();
            }
            if rebuild_listener && let Some(rec) = act.shared.last_reload.write().as_mut() {
                rec.listener = Some(listener_error.unwrap_or_else(|| "rebuilt".into()));
            }
            if !rebuild_listener
                && let Some(tls) = act.shared.refresh_tls()
                && let Some(rec) = act.shared.last_reload.write().as_mut()
            {
                rec.tls = Some(tls);
            }
            act.arm_watcher(ctx);
            let listen: Vec<String> = act.shared.listen.read().iter().map(ToString::to_string).collect();
            act.shared.phase.end_reload(&format!("Ready: listening on {}", listen.join(", ")));
            outcome
        }))
    }
}

pub use crate::config::edit::ConfigEdit;

/// Command: validate, write atomically (keeping one `.bak`) and apply a config edit.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct WriteConfig {
    pub edit: ConfigEdit,
    pub base_hash: Option<String>,
}

impl Handler<WriteConfig> for ConfigActor {
    type Result = ResponseActFuture<Self, Result<Value, ErrorShape>>;

    fn handle(&mut self, msg: WriteConfig, _: &mut Context<Self>) -> Self::Result {
        let path = self.shared.load_options.paths.config.clone();
        let written = write_config(&self.shared, &msg);
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
fn write_config(shared: &Shared, msg: &WriteConfig) -> Result<String, ErrorShape> {
    let opts = &shared.load_options;
    let path = &opts.paths.config;
    let current = match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ErrorShape::unavailable(format!("cannot read {}: {e}", path.display()))),
    };
    let current_hash = current.as_deref().map(|b| crate::sys::hex(&Sha256::digest(b)));
    let text = edit::check_base(current_hash.as_deref(), msg.base_hash.as_deref(), &msg.edit)
        .and_then(|()| edit::apply(path, current.as_deref(), &msg.edit))
        .map_err(|e| match e.problem() {
            Some(p) => ErrorShape::invalid(e.to_string()).with_details(json!({"issues": [p]})),
            None => ErrorShape::invalid(e.to_string()),
        })?;
    if let Err(e) = load_candidate(opts, text.as_bytes()) {
        return Err(ErrorShape::invalid("invalid config").with_details(json!({"issues": e.problems})));
    }
    if let Some(old) = &current {
        let bak = path.with_extension(format!("{}.bak", path.extension().and_then(|e| e.to_str()).unwrap_or("json5")));
        state::atomic_write(&bak, old, FILE_MODE).map_err(|e| write_error(path, &e))?;
    }
    state::atomic_write(path, text.as_bytes(), FILE_MODE).map_err(|e| write_error(path, &e))?;
    tracing::info!(path = %path.display(), "config written");
    Ok(crate::sys::hex(&Sha256::digest(text.as_bytes())))
}

fn write_error(path: &std::path::Path, e: &state::StateError) -> ErrorShape {
    ErrorShape::unavailable(format!(
        "cannot write the config {}: {e}. Mount it writable, or point OPENCLAW_CONFIG_PATH at a writable copy",
        path.display()
    ))
}

impl Handler<FileChanged> for ConfigActor {
    type Result = ();

    fn handle(&mut self, _: FileChanged, ctx: &mut Context<Self>) {
        let cfg = &self.shared.config().loaded.config.gateway.reload;
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
pub async fn request_reload(shared: &Shared, trigger: Trigger) -> ReloadOutcome {
    match shared.registry.get::<ConfigActor>(ID) {
        Some(addr) => addr.send(ReloadConfig { trigger }).await.unwrap_or_else(|e| ReloadOutcome::Skipped {
            reason: format!("the config actor stopped during the reload: {e}"),
        }),
        None => ReloadOutcome::Skipped { reason: "the config actor is restarting; try again".into() },
    }
}
