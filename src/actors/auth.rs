//! AuthActor: owns the gateway's secrets (token or password, with a grace period for the
//! previous token), the per-address rate limiter and the device registry. Sessions and
//! `POST /rpc` ask it to authenticate; the device methods change the registry through it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};

use super::hub::Push;
use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::auth::device::{self, DeviceError};
use crate::auth::peer::Peer;
use crate::auth::ratelimit::RateLimiter;
use crate::auth::registry::{PairingAsk, Registry};
use crate::auth::secret::{self, Secret};
use crate::auth::secret_eq;
use crate::config::model::AuthMode;
use crate::exit;
use crate::protocol::connect::{ConnectParams, Role};
use crate::protocol::{ErrorCode, ErrorShape, close, scope};
use crate::shared::Shared;

pub const ID: &str = "auth";

/// How a client proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    None,
    Token,
    Password,
    DeviceToken,
    Tailscale,
}

/// A successful authentication.
#[derive(Debug, Clone)]
pub struct Grant {
    pub method: AuthMethod,
    pub role: Role,
    pub scopes: Vec<String>,
    pub device_id: Option<String>,
    /// `(token, issuedAtMs)` for `hello-ok.auth`.
    pub device_token: Option<(String, i64)>,
}

/// A refusal: the error to answer and the close code.
#[derive(Debug, Clone)]
pub struct Denial {
    pub error: ErrorShape,
    pub close: u16,
}

impl Denial {
    fn policy(error: ErrorShape) -> Self {
        Self { error, close: close::POLICY }
    }
}

/// Command: authenticate a WebSocket `connect`.
#[derive(Message)]
#[rtype(result = "Result<Grant, Denial>")]
pub struct Authenticate {
    pub params: ConnectParams,
    pub peer: Peer,
    pub nonce: String,
    pub tailscale_user: Option<String>,
}

/// Command: authenticate an HTTP request (`Authorization: Bearer <token or password>`).
#[derive(Message)]
#[rtype(result = "Result<Grant, Denial>")]
pub struct AuthenticateBearer {
    pub bearer: Option<String>,
    pub peer: Peer,
    pub tailscale_user: Option<String>,
}

/// Device registry commands (the `device.*` methods).
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
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

/// Where the CLI should look to learn the token's source (never the token).
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct TokenSource;

pub struct AuthActor {
    shared: Arc<Shared>,
    token: Option<Secret>,
    previous: Option<(String, Instant)>,
    password: Option<Secret>,
    limiter: RateLimiter,
    registry: Registry,
    _watch: ExitWatch,
}

/// Resolves the secrets for the live config; `none` on a non-loopback bind is refused.
fn resolve(shared: &Shared) -> Result<(Option<Secret>, Option<Secret>), StartError> {
    let live = shared.config();
    let loaded = &live.loaded;
    let auth = &loaded.config.gateway.auth;
    let paths = &shared.load_options.paths;
    let bad = |m: String| StartError::new(exit::CONFIG, m);
    match auth.mode {
        AuthMode::None => {
            tracing::warn!(
                "gateway.auth.mode is \"none\": any process of any local user can control this gateway; set gateway.auth.mode to token"
            );
            let listen = shared.listen.read().clone();
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
            let token = secret::resolve_token(loaded, paths, generate).map_err(|e| StartError::new(exit::CONFIG, e))?;
            if let Some(t) = &token {
                tracing::info!(source = %t.source, "gateway token loaded");
            }
            Ok((token, None))
        }
    }
}

pub fn spec() -> ChildSpec {
    ChildSpec::permanent(ID, Duration::from_secs(2), |cx: &ChildContext| -> Result<Child, StartError> {
        let (token, password) = resolve(&cx.shared)?;
        let registry = Registry::load(&cx.shared.load_options.paths.state_dir.join("devices"));
        let actor = AuthActor {
            shared: cx.shared.clone(),
            token,
            previous: None,
            password,
            limiter: RateLimiter::default(),
            registry,
            _watch: cx.watch(),
        };
        Ok(Child::actor(actor.start()))
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn unauthorized(msg: &str) -> Denial {
    Denial::policy(ErrorShape::invalid(format!("unauthorized: {msg}")))
}

impl AuthActor {
    /// Picks up a rewritten token file; the old token stays valid for the grace period.
    /// How long a replaced token stays valid: what `token rotate` asked for, else the config.
    fn grace(&self) -> Duration {
        crate::auth::secret::rotation_grace(&self.shared.load_options.paths.state_dir).unwrap_or_else(|| {
            Duration::from_millis(self.shared.config().loaded.config.gateway.auth.previous_token_grace_ms)
        })
    }

    fn refresh_token(&mut self) {
        let Some(t) = self.token.as_mut() else { return };
        let old = t.value.clone();
        if t.refresh().is_some() {
            tracing::info!(source = %t.source, "gateway token changed on disk; new connections use the new token");
            let grace = self.grace();
            self.previous = (!grace.is_zero()).then(|| (old, Instant::now() + grace));
        }
    }

    fn token_matches(&self, given: &str) -> bool {
        let current = self.token.as_ref().is_some_and(|t| secret_eq(&t.value, given));
        let previous = self.previous.as_ref().is_some_and(|(p, until)| *until > Instant::now() && secret_eq(p, given));
        current || previous
    }

    fn rate_limit(&mut self, peer: &Peer) -> Result<(), Denial> {
        let cfg = self.shared.config().loaded.config.gateway.auth.rate_limit.clone();
        let Some(ip) = peer.ip else { return Ok(()) };
        let metrics = &self.shared.metrics;
        self.limiter.check(ip, Instant::now(), &cfg).map_err(|wait| {
            metrics.auth_failed("rate limited");
            let ms = wait.as_millis() as u64;
            Denial::policy(
                ErrorShape::new(
                    ErrorCode::RateLimited,
                    format!("too many failed authentication attempts; retry in {}s", ms.div_ceil(1000)),
                )
                .retry_after(ms),
            )
        })
    }

    fn failed(&mut self, peer: &Peer, denial: Denial) -> Denial {
        let cfg = self.shared.config().loaded.config.gateway.auth.rate_limit.clone();
        if let Some(ip) = peer.ip
            && let Some(lock) = self.limiter.fail(ip, Instant::now(), &cfg)
        {
            tracing::warn!(ip = %ip, lockout_ms = lock.as_millis() as u64, "address locked out after repeated authentication failures");
        }
        tracing::info!(ip = ?peer.ip, reason = %denial.error.message, "authentication failed");
        self.shared.metrics.auth_failed(&denial.error.message);
        denial
    }

    /// Shared-secret check for the mode; `None` when no shared credential was offered.
    fn shared_secret(
        &self,
        token: Option<&str>,
        password: Option<&str>,
        mode: AuthMode,
    ) -> Option<Result<AuthMethod, Denial>> {
        match mode {
            AuthMode::None => Some(Ok(AuthMethod::None)),
            AuthMode::Password => {
                let given = password.or(token)?;
                let ok = self.password.as_ref().is_some_and(|p| secret_eq(&p.value, given));
                Some(if ok { Ok(AuthMethod::Password) } else { Err(unauthorized("gateway password mismatch")) })
            }
            AuthMode::Token | AuthMode::DevicePairing | AuthMode::Tailscale => {
                let given = token?;
                Some(if self.token_matches(given) {
                    Ok(AuthMethod::Token)
                } else {
                    Err(unauthorized("gateway token mismatch (provide gateway auth token)"))
                })
            }
        }
    }

    /// The refusal for a client that offered no credential. Local clients are not exempt:
    /// being local only makes a device's pairing silent. The message names where the
    /// credential lives, never the credential or a path.
    fn missing(&self, mode: AuthMode) -> Denial {
        let source = self.token.as_ref().map_or_else(|| "the gateway's configuration".into(), |t| t.source.hint());
        match mode {
            AuthMode::Password => unauthorized(
                "gateway password missing (provide the password set by gateway.auth.password or OPENCLAW_GATEWAY_PASSWORD)",
            ),
            AuthMode::DevicePairing => {
                Denial::policy(ErrorShape::new(ErrorCode::NotPaired, "device identity required"))
            }
            AuthMode::Tailscale => unauthorized(&format!(
                "tailscale identity required (connect through the trusted proxy, or provide the gateway token from {source})"
            )),
            _ => unauthorized(&format!(
                "gateway token missing (provide gateway auth token; the gateway reads it from {source}; `openclaw dashboard` on the gateway host prints a tokenized URL)"
            )),
        }
    }

    fn authenticate(&mut self, m: Authenticate) -> Result<Grant, Denial> {
        self.refresh_token();
        self.rate_limit(&m.peer)?;
        let mode = self.shared.config().loaded.config.gateway.auth.mode;
        let p = &m.params;
        let local = m.peer.local_direct;
        let requested: Vec<String> = p.scopes.clone().unwrap_or_else(|| match p.role {
            Role::Operator => scope::ALL.iter().map(|s| s.to_string()).collect(),
            Role::Node => Vec::new(),
        });
        let now = now_ms();

        // 1. A device proof must be valid before anything else counts.
        let proof_token = p.auth.token.clone().or_else(|| p.auth.device_token.as_ref().map(|(_, t)| t.clone()));
        if let Some(d) = &p.device
            && let Err(e) = device::verify(p, d, proof_token.as_deref().unwrap_or(""), &m.nonce, now, local)
        {
            return Err(self.failed(&m.peer, Denial::policy(device_error(e))));
        }
        let device_id = p
            .device
            .as_ref()
            .map(|d| d.id.to_ascii_lowercase())
            .or_else(|| p.auth.device_token.as_ref().map(|(id, _)| id.clone()));

        // 2. A device token (`auth.token` or `device:<id>:<token>`) for this device and role.
        if let (Some(id), Some(tok)) = (&device_id, &proof_token)
            && let Some(token_scopes) = self.registry.check_token(id, p.role.as_str(), tok, now)
        {
            self.limiter_success(&m.peer);
            let scopes = requested.into_iter().filter(|s| token_scopes.contains(s)).collect();
            return Ok(Grant {
                method: AuthMethod::DeviceToken,
                role: p.role,
                scopes,
                device_id: Some(id.clone()),
                device_token: Some((tok.clone(), now)),
            });
        }
        if p.auth.device_token.is_some() {
            return Err(self.failed(&m.peer, unauthorized("device token mismatch (rotate/reissue device token)")));
        }

        // 3. Shared secret or tailscale identity; no one is exempt, local clients included.
        let tailscale = mode == AuthMode::Tailscale && m.peer.via_trusted_proxy && m.tailscale_user.is_some();
        let method = match self.shared_secret(p.auth.token.as_deref(), p.auth.password.as_deref(), mode) {
            Some(Ok(method)) => method,
            Some(Err(denial)) => {
                let paired = device_id.as_ref().is_some_and(|id| self.registry.paired.contains_key(id));
                let denial = if paired && p.auth.token.is_some() {
                    unauthorized("device token mismatch (rotate/reissue device token)")
                } else {
                    denial
                };
                return Err(self.failed(&m.peer, denial));
            }
            None if tailscale => AuthMethod::Tailscale,
            None if mode == AuthMode::DevicePairing && p.device.is_some() => AuthMethod::None,
            None => {
                let denial = self.missing(mode);
                return Err(self.failed(&m.peer, denial));
            }
        };

        // 4. Devices pair (local-direct ones silently); nodes must present one.
        let Some(d) = &p.device else {
            if p.role == Role::Node || mode == AuthMode::DevicePairing && method == AuthMethod::None {
                return Err(Denial::policy(ErrorShape::new(ErrorCode::NotPaired, "device identity required")));
            }
            self.limiter_success(&m.peer);
            return Ok(Grant { method, role: p.role, scopes: requested, device_id: None, device_token: None });
        };
        let id = d.id.to_ascii_lowercase();
        let paired_for_role =
            self.registry.paired.get(&id).is_some_and(|dev| dev.roles.iter().any(|r| r == p.role.as_str()));
        if !paired_for_role {
            let ask = PairingAsk {
                device_id: id.clone(),
                public_key: d.public_key.clone(),
                display_name: p.client.display_name.clone(),
                platform: Some(p.client.platform.clone()),
                client_id: Some(p.client.id.clone()),
                client_mode: Some(p.client.mode.clone()),
                role: p.role.as_str().into(),
                scopes: requested.clone(),
                remote_ip: m.peer.ip.map(|i| i.to_string()),
            };
            let (req, new) = self.registry.request(ask, now).map_err(|e| Denial::policy(ErrorShape::unavailable(e)))?;
            // Local-direct approves silently, but only a client that proved itself: a bare
            // device key in device-pairing mode still waits for an operator.
            let vouched = method != AuthMethod::None || mode == AuthMode::None;
            if local && vouched {
                self.registry.approve(&req.request_id, now).map_err(|e| Denial::policy(ErrorShape::unavailable(e)))?;
                tracing::info!(device = %id, "local device paired silently");
                self.resolved(&req.request_id, &id, "approved");
            } else {
                if new {
                    tracing::info!(device = %id, request = %req.request_id, code = %req.code, "pairing requested; approve with `openclaw devices approve {}`", req.request_id);
                    self.shared.sessions.broadcast(Push::Event {
                        name: "device.pair.requested",
                        payload: Arc::new(serde_json::to_value(&req).unwrap_or_default()),
                        droppable: false,
                        scope: Some(scope::PAIRING),
                    });
                }
                return Err(Denial::policy(
                    ErrorShape::new(ErrorCode::NotPaired, "pairing required")
                        .with_details(json!({"requestId": req.request_id, "code": req.code})),
                ));
            }
        }
        let approved = self.registry.paired.get(&id).map(|d| d.scopes.clone()).unwrap_or_default();
        let scopes: Vec<String> = requested.into_iter().filter(|s| approved.contains(s)).collect();
        self.registry.seen(&id, now);
        let (token, _) = self
            .registry
            .issue_token(&id, p.role.as_str(), Some(scopes.clone()), now)
            .map_err(|e| Denial::policy(ErrorShape::unavailable(e)))?;
        self.limiter_success(&m.peer);
        Ok(Grant { method, role: p.role, scopes, device_id: Some(id), device_token: Some((token, now)) })
    }

    fn limiter_success(&mut self, peer: &Peer) {
        if let Some(ip) = peer.ip {
            self.limiter.succeed(ip);
        }
    }

    fn resolved(&self, request_id: &str, device_id: &str, decision: &str) {
        self.shared.sessions.broadcast(Push::Event {
            name: "device.pair.resolved",
            payload: Arc::new(
                json!({"requestId": request_id, "deviceId": device_id, "decision": decision, "ts": now_ms()}),
            ),
            droppable: false,
            scope: Some(scope::PAIRING),
        });
    }

    fn device_command(&mut self, cmd: DeviceCommand) -> Result<Value, ErrorShape> {
        let now = now_ms();
        let fail = ErrorShape::invalid;
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
                let dev = self.registry.approve(&request, now).map_err(fail)?;
                let request_id = request.clone();
                self.resolved(&request_id, &dev.device_id, "approved");
                tracing::info!(device = %dev.device_id, "device pairing approved");
                Ok(json!({"ok": true, "deviceId": dev.device_id, "roles": dev.roles, "scopes": dev.scopes}))
            }
            DeviceCommand::Reject { request } => {
                let req = self.registry.reject(&request).map_err(fail)?;
                self.resolved(&req.request_id, &req.ask.device_id, "rejected");
                Ok(json!({"ok": true, "requestId": req.request_id, "deviceId": req.ask.device_id}))
            }
            DeviceCommand::Rotate { device_id, role, scopes } => {
                // Open sessions stay (the device may be rotating its own token); the old token
                // no longer authenticates new connections.
                let (token, scopes) = self.registry.issue_token(&device_id, &role, scopes, now).map_err(fail)?;
                Ok(
                    json!({"ok": true, "deviceId": device_id, "role": role, "token": token, "scopes": scopes, "issuedAtMs": now}),
                )
            }
            DeviceCommand::Revoke { device_id, role } => {
                self.registry.revoke(&device_id, &role, now).map_err(fail)?;
                self.shared.sessions.close_device(&device_id, &role, "device token revoked");
                Ok(json!({"ok": true, "deviceId": device_id, "role": role, "revokedAtMs": now}))
            }
        }
    }
}

fn device_error(e: DeviceError) -> ErrorShape {
    ErrorShape::invalid(e.to_string())
}

impl Actor for AuthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Keep the limiter and the pending list small.
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            let cfg = act.shared.config().loaded.config.gateway.auth.rate_limit.clone();
            act.limiter.prune(Instant::now(), &cfg);
            act.registry.prune(now_ms());
        });
    }
}

impl Handler<Authenticate> for AuthActor {
    type Result = Result<Grant, Denial>;

    fn handle(&mut self, m: Authenticate, _: &mut Context<Self>) -> Self::Result {
        self.authenticate(m)
    }
}

impl Handler<AuthenticateBearer> for AuthActor {
    type Result = Result<Grant, Denial>;

    fn handle(&mut self, m: AuthenticateBearer, _: &mut Context<Self>) -> Self::Result {
        self.refresh_token();
        self.rate_limit(&m.peer)?;
        let mode = self.shared.config().loaded.config.gateway.auth.mode;
        let all: Vec<String> = scope::ALL.iter().map(|s| s.to_string()).collect();
        let tailscale = mode == AuthMode::Tailscale && m.peer.via_trusted_proxy && m.tailscale_user.is_some();
        let bearer = m.bearer.as_deref();
        let method = match self.shared_secret(bearer, bearer, mode) {
            Some(Ok(method)) => method,
            Some(Err(d)) => return Err(self.failed(&m.peer, d)),
            None if tailscale => AuthMethod::Tailscale,
            None => {
                let denial = self.missing(mode);
                return Err(self.failed(&m.peer, denial));
            }
        };
        self.limiter_success(&m.peer);
        Ok(Grant { method, role: Role::Operator, scopes: all, device_id: None, device_token: None })
    }
}

impl Handler<DeviceCommand> for AuthActor {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, cmd: DeviceCommand, _: &mut Context<Self>) -> Self::Result {
        self.device_command(cmd)
    }
}

impl Handler<AuthConfigChanged> for AuthActor {
    type Result = ();

    fn handle(&mut self, _: AuthConfigChanged, _: &mut Context<Self>) {
        let grace = self.grace();
        match resolve(&self.shared) {
            Ok((token, password)) => {
                let old = self.token.as_ref().map(|t| t.value.clone());
                if old.is_some() && old != token.as_ref().map(|t| t.value.clone()) && !grace.is_zero() {
                    self.previous = old.map(|o| (o, Instant::now() + grace));
                }
                self.token = token;
                self.password = password;
                tracing::info!("auth settings reloaded");
            }
            Err(e) => tracing::error!(error = %e.message, "auth settings not applied; the previous ones stay"),
        }
    }
}

impl Handler<TokenSource> for AuthActor {
    type Result = Option<String>;

    fn handle(&mut self, _: TokenSource, _: &mut Context<Self>) -> Option<String> {
        self.token.as_ref().map(|t| t.source.to_string())
    }
}

impl Handler<StopChild> for AuthActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
