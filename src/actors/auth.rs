//! AuthActor: owns the gateway's secrets (token or password, with a grace period for the
//! previous token), the per-address rate limiter and the device registry. Sessions and
//! `POST /rpc` ask it to authenticate: it checks the rate limit, asks `auth::policy`, performs
//! the decision's effects and answers in wire form. The device methods change the registry
//! through it. A rewritten token file reaches it through a watch on the file's directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use serde_json::{Value, json};

use super::hub::Push;
use super::hub::SessionHub;
use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::auth::peer::Peer;
use crate::auth::policy::{self, AuthError, ConnectRequest, Effect, Grant, Now, Outcome, Secrets};
use crate::auth::ratelimit::RateLimiter;
use crate::auth::registry::{DeviceRegistry, PendingRequest, RegistryError};
use crate::auth::secret::{self, Secret};
use crate::config::LoadOptions;
use crate::config::live::LiveConfig;
use crate::config::model::AuthMode;
use crate::exit;
use crate::metrics::Metrics;
use crate::protocol::connect::ConnectParams;
use crate::protocol::scope;
use crate::sys::now_ms;
use tokio::sync::watch;

pub const ID: &str = "auth";

/// Command: authenticate a WebSocket `connect`.
#[derive(Message)]
#[rtype(result = "Result<Grant, AuthError>")]
pub struct Authenticate {
    pub params: ConnectParams,
    pub peer: Peer,
    pub nonce: String,
    pub tailscale_user: Option<String>,
}

/// Command: authenticate an HTTP request (`Authorization: Bearer <token or password>`).
#[derive(Message)]
#[rtype(result = "Result<Grant, AuthError>")]
pub struct AuthenticateBearer {
    pub bearer: Option<String>,
    pub peer: Peer,
    pub tailscale_user: Option<String>,
}

/// Device registry commands (the `device.*` methods).
#[derive(Message)]
#[rtype(result = "Result<Value, RegistryError>")]
pub enum DeviceCommand {
    List,
    Approve { request: String },
    Reject { request: String },
    Rotate { device_id: String, role: String, scopes: Option<Vec<String>> },
    Revoke { device_id: String, role: String },
}

/// Internal: auth settings changed (config reload); re-resolve the secrets.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AuthConfigChanged;

/// Internal: something happened to the token file (sent from the watcher thread).
#[derive(Message)]
#[rtype(result = "()")]
struct TokenFileChanged;

/// Where the CLI should look to learn the token's source (never the token).
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct TokenSource;

/// How a rewritten token file reaches the actor.
enum TokenWatch {
    /// The token does not come from a file.
    Off,
    /// inotify on the file's directory, so an atomic rename over the file is seen too.
    Watching { file: PathBuf, _watcher: notify::RecommendedWatcher },
    /// No watcher could be set up: the file's stamp is checked on authenticate, at most once
    /// per [`POLL_EVERY`].
    Polling { file: PathBuf, checked: Instant },
}

const POLL_EVERY: Duration = Duration::from_secs(1);

impl TokenWatch {
    fn file(&self) -> Option<&Path> {
        match self {
            Self::Off => None,
            Self::Watching { file, .. } | Self::Polling { file, .. } => Some(file),
        }
    }
}

/// What the AuthActor reads and reaches.
pub struct AuthHandles {
    pub config: LiveConfig,
    /// The state directory (devices, the generated token, rotation grace).
    pub options: Arc<LoadOptions>,
    /// The listener's addresses (`none` is refused beyond loopback).
    pub listen: watch::Receiver<Vec<std::net::SocketAddr>>,
    pub metrics: Arc<Metrics>,
    /// Pairing events, and closing the sessions of a revoked device.
    pub sessions: Arc<SessionHub>,
    /// The token as resolved while the gateway was built, for the first start.
    pub ahead: secret::Ahead,
}

pub struct AuthActor {
    h: Arc<AuthHandles>,
    secrets: Secrets,
    token_watch: TokenWatch,
    limiter: RateLimiter,
    registry: DeviceRegistry,
    _watch: ExitWatch,
}

/// Resolves the secrets for the live config; `none` on a non-loopback bind is refused.
fn resolve(h: &AuthHandles) -> Result<(Option<Secret>, Option<Secret>), StartError> {
    let live = h.config.get();
    let loaded = &live.loaded;
    let auth = &loaded.config.gateway.auth;
    let paths = &h.options.paths;
    let bad = |m: String| StartError::new(exit::CONFIG, m);
    match auth.mode {
        AuthMode::None => {
            tracing::warn!(
                "gateway.auth.mode is \"none\": any process of any local user can control this gateway; set gateway.auth.mode to token"
            );
            let listen = h.listen.borrow().clone();
            let wanted = crate::net::resolve(&loaded.config.gateway).map_err(|e| bad(e.message))?;
            if wanted.iter().chain(listen.iter()).any(|a| !a.ip().is_loopback()) {
                return Err(bad(
                    "gateway.auth.mode is \"none\" but the gateway listens beyond loopback; set gateway.auth.mode to token or password, or bind loopback".into(),
                ));
            }
            Ok((None, None))
        }
        AuthMode::Password => {
            let pw = secret::resolve_password(loaded).ok_or_else(|| {
                bad("gateway.auth.mode is \"password\" but no password is set (set gateway.auth.password or OPENCLAW_GATEWAY_PASSWORD)".into())
            })?;
            Ok((None, Some(pw)))
        }
        AuthMode::Token | AuthMode::DevicePairing | AuthMode::Tailscale => {
            // Every mode that takes a token has one: local clients (the CLI) need it too.
            let generate = true;
            let token = match h.ahead.take(live.generation) {
                Some(answer) => answer,
                None => secret::resolve_token(loaded, paths, generate),
            }
            .map_err(|e| StartError::new(exit::CONFIG, e.to_string()))?;
            if let Some(t) = &token {
                tracing::info!(source = %t.source, "gateway token loaded");
            }
            Ok((token, None))
        }
    }
}

pub fn spec(handles: AuthHandles) -> ChildSpec {
    let handles = Arc::new(handles);
    ChildSpec::permanent(ID, Duration::from_secs(2), move |cx: &ChildContext| -> Result<Child, StartError> {
        let (token, password) = resolve(&handles)?;
        let registry = DeviceRegistry::load(&handles.options.paths.state_dir.join("devices"));
        let mut actor = AuthActor {
            h: handles.clone(),
            secrets: Secrets { token, previous: None, password },
            token_watch: TokenWatch::Off,
            limiter: RateLimiter::default(),
            registry,
            _watch: cx.watch(),
        };
        // Armed before the child counts as started: a rewrite right after "ready" is seen.
        Ok(cx.spawn(|ctx| {
            actor.arm_token_watch(ctx);
            actor
        }))
    })
}

/// Watches the directory of `file` (a rename over it replaces the inode a file watch would
/// follow) and reports events that name it.
fn watch_token_file(file: &Path, addr: Addr<AuthActor>) -> notify::Result<notify::RecommendedWatcher> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name: Option<OsString> = file.file_name().map(Into::into);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        // Reads are noise; a finished write (close_write) is the surest sign the rewrite is whole.
        if matches!(ev.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) {
            return;
        }
        if ev.paths.iter().any(|p| p.file_name() == name.as_deref()) {
            addr.do_send(TokenFileChanged);
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

impl AuthActor {
    /// How long a replaced token stays valid: what `token rotate` asked for, else the config.
    fn grace(&self) -> Duration {
        crate::auth::secret::rotation_grace(&self.h.options.paths.state_dir).unwrap_or_else(|| {
            Duration::from_millis(self.h.config.get().loaded.config.gateway.auth.previous_token_grace_ms)
        })
    }

    fn mode(&self) -> AuthMode {
        self.h.config.get().loaded.config.gateway.auth.mode
    }

    /// Follows the file the token comes from (none, or another one after a config reload).
    fn arm_token_watch(&mut self, ctx: &mut Context<Self>) {
        let file = self.secrets.token.as_ref().and_then(Secret::file).map(Path::to_path_buf);
        if file.as_deref() == self.token_watch.file() {
            return;
        }
        self.token_watch = match file {
            None => TokenWatch::Off,
            Some(file) => match watch_token_file(&file, ctx.address()) {
                Ok(w) => TokenWatch::Watching { file, _watcher: w },
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "cannot watch the token file; checking it for changes at most once a second on authenticate instead");
                    TokenWatch::Polling { file, checked: Instant::now() }
                }
            },
        };
    }

    /// Applies a rewritten token file; the old token stays valid for the grace period.
    fn reread_token_file(&mut self) {
        let Some(fresh) = self.secrets.token.as_ref().and_then(Secret::reread) else { return };
        let grace = self.grace();
        if self.secrets.replace_token(Some(fresh), grace, Instant::now())
            && let Some(t) = &self.secrets.token
        {
            tracing::info!(source = %t.source, "gateway token changed on disk; new connections use the new token");
        }
    }

    /// The fallback when the token file cannot be watched.
    fn poll_token_file(&mut self) {
        let TokenWatch::Polling { checked, .. } = &mut self.token_watch else { return };
        if checked.elapsed() < POLL_EVERY {
            return;
        }
        *checked = Instant::now();
        if self.secrets.token.as_ref().is_some_and(Secret::changed_on_disk) {
            self.reread_token_file();
        }
    }

    fn rate_limit(&mut self, peer: &Peer) -> Result<(), AuthError> {
        let cfg = self.h.config.get().loaded.config.gateway.auth.rate_limit.clone();
        let Some(ip) = peer.ip else { return Ok(()) };
        let metrics = &self.h.metrics;
        self.limiter.check(ip, Instant::now(), &cfg).map_err(|wait| {
            metrics.auth_failed("rate limited");
            AuthError::RateLimited { retry_after_ms: wait.as_millis() as u64 }
        })
    }

    fn failed(&mut self, peer: &Peer, reason: &str) {
        let cfg = self.h.config.get().loaded.config.gateway.auth.rate_limit.clone();
        if let Some(ip) = peer.ip
            && let Some(lock) = self.limiter.fail(ip, Instant::now(), &cfg)
        {
            tracing::warn!(ip = %ip, lockout_ms = lock.as_millis() as u64, "address locked out after repeated authentication failures");
        }
        tracing::info!(ip = ?peer.ip, reason = %reason, "authentication failed");
        self.h.metrics.auth_failed(reason);
    }

    /// Performs a decision's effects and answers it.
    fn settle(&mut self, peer: &Peer, outcome: Outcome) -> Result<Grant, AuthError> {
        let answer = outcome.result;
        for effect in outcome.effects {
            match effect {
                Effect::Failed => {
                    let reason = answer.as_ref().err().map(ToString::to_string).unwrap_or_default();
                    self.failed(peer, &reason);
                }
                Effect::Succeeded => {
                    if let Some(ip) = peer.ip {
                        self.limiter.succeed(ip);
                    }
                }
                Effect::PairingRequested(req) => self.pairing_requested(&req),
                Effect::PairedSilently { request_id, device_id } => {
                    tracing::info!(device = %device_id, "local device paired silently");
                    self.resolved(&request_id, &device_id, "approved");
                }
            }
        }
        answer
    }

    fn authenticate(&mut self, m: Authenticate) -> Result<Grant, AuthError> {
        self.poll_token_file();
        self.rate_limit(&m.peer)?;
        let req = ConnectRequest {
            params: &m.params,
            peer: &m.peer,
            nonce: &m.nonce,
            tailscale_user: m.tailscale_user.as_deref(),
        };
        let outcome = policy::authenticate(self.mode(), &self.secrets, &mut self.registry, &req, Now::current());
        self.settle(&m.peer, outcome)
    }

    fn authenticate_bearer(&mut self, m: AuthenticateBearer) -> Result<Grant, AuthError> {
        self.poll_token_file();
        self.rate_limit(&m.peer)?;
        let outcome = policy::authenticate_bearer(
            self.mode(),
            &self.secrets,
            m.bearer.as_deref(),
            &m.peer,
            m.tailscale_user.as_deref(),
            Instant::now(),
        );
        self.settle(&m.peer, outcome)
    }

    fn pairing_requested(&self, req: &PendingRequest) {
        tracing::info!(device = %req.ask.device_id, request = %req.request_id, code = %req.code, "pairing requested; approve with `openclaw devices approve {}`", req.request_id);
        self.h.sessions.broadcast(Push::Event {
            name: "device.pair.requested",
            payload: Arc::new(serde_json::to_value(req).unwrap_or_default()),
            droppable: false,
            scope: Some(scope::PAIRING),
        });
    }

    fn resolved(&self, request_id: &str, device_id: &str, decision: &str) {
        self.h.sessions.broadcast(Push::Event {
            name: "device.pair.resolved",
            payload: Arc::new(
                json!({"requestId": request_id, "deviceId": device_id, "decision": decision, "ts": now_ms()}),
            ),
            droppable: false,
            scope: Some(scope::PAIRING),
        });
    }

    fn device_command(&mut self, cmd: DeviceCommand) -> Result<Value, RegistryError> {
        let now = now_ms();
        match cmd {
            DeviceCommand::List => {
                self.registry.prune(now);
                let paired: Vec<Value> = self
                    .registry
                    .paired
                    .values()
                    .map(|d| {
                        let mut v = serde_json::to_value(d).unwrap_or_default();
                        // Hashes stay inside the gateway; show only token metadata.
                        if let Some(tokens) = v.get_mut("tokens").and_then(Value::as_object_mut) {
                            for t in tokens.values_mut() {
                                if let Some(o) = t.as_object_mut() {
                                    o.remove("hash");
                                }
                            }
                        }
                        v
                    })
                    .collect();
                Ok(json!({"pending": self.registry.pending.values().collect::<Vec<_>>(), "paired": paired}))
            }
            DeviceCommand::Approve { request } => {
                let dev = self.registry.approve(&request, now)?;
                let request_id = request.clone();
                self.resolved(&request_id, &dev.device_id, "approved");
                tracing::info!(device = %dev.device_id, "device pairing approved");
                Ok(json!({"ok": true, "deviceId": dev.device_id, "roles": dev.roles, "scopes": dev.scopes}))
            }
            DeviceCommand::Reject { request } => {
                let req = self.registry.reject(&request)?;
                self.resolved(&req.request_id, &req.ask.device_id, "rejected");
                Ok(json!({"ok": true, "requestId": req.request_id, "deviceId": req.ask.device_id}))
            }
            DeviceCommand::Rotate { device_id, role, scopes } => {
                // Open sessions stay (the device may be rotating its own token); the old token
                // no longer authenticates new connections.
                let (token, scopes) = self.registry.issue_token(&device_id, &role, scopes, now)?;
                Ok(
                    json!({"ok": true, "deviceId": device_id, "role": role, "token": token, "scopes": scopes, "issuedAtMs": now}),
                )
            }
            DeviceCommand::Revoke { device_id, role } => {
                self.registry.revoke(&device_id, &role, now)?;
                self.h.sessions.close_device(&device_id, &role, "device token revoked");
                Ok(json!({"ok": true, "deviceId": device_id, "role": role, "revokedAtMs": now}))
            }
        }
    }
}

impl Actor for AuthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Keep the limiter and the pending list small.
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            let cfg = act.h.config.get().loaded.config.gateway.auth.rate_limit.clone();
            act.limiter.prune(Instant::now(), &cfg);
            act.registry.prune(now_ms());
        });
    }
}

impl Handler<Authenticate> for AuthActor {
    type Result = Result<Grant, AuthError>;

    fn handle(&mut self, m: Authenticate, _: &mut Context<Self>) -> Self::Result {
        self.authenticate(m)
    }
}

impl Handler<AuthenticateBearer> for AuthActor {
    type Result = Result<Grant, AuthError>;

    fn handle(&mut self, m: AuthenticateBearer, _: &mut Context<Self>) -> Self::Result {
        self.authenticate_bearer(m)
    }
}

impl Handler<DeviceCommand> for AuthActor {
    type Result = Result<Value, RegistryError>;

    fn handle(&mut self, cmd: DeviceCommand, _: &mut Context<Self>) -> Self::Result {
        self.device_command(cmd)
    }
}

impl Handler<AuthConfigChanged> for AuthActor {
    type Result = ();

    fn handle(&mut self, _: AuthConfigChanged, ctx: &mut Context<Self>) {
        let grace = self.grace();
        match resolve(&self.h) {
            Ok((token, password)) => {
                self.secrets.replace_token(token, grace, Instant::now());
                self.secrets.password = password;
                self.arm_token_watch(ctx);
                tracing::info!("auth settings reloaded");
            }
            Err(e) => tracing::error!(error = %e.message, "auth settings not applied; the previous ones stay"),
        }
    }
}

impl Handler<TokenFileChanged> for AuthActor {
    type Result = ();

    fn handle(&mut self, _: TokenFileChanged, _: &mut Context<Self>) {
        self.reread_token_file();
    }
}

impl Handler<TokenSource> for AuthActor {
    type Result = Option<String>;

    fn handle(&mut self, _: TokenSource, _: &mut Context<Self>) -> Option<String> {
        self.secrets.token.as_ref().map(|t| t.source.to_string())
    }
}

impl Handler<StopChild> for AuthActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
