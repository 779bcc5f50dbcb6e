//! The authentication decision without actors: from the auth mode, the shared secrets, the
//! device registry and what a client offered, a [`Grant`] or a typed [`AuthError`], plus the
//! [`Effect`]s the owner performs (broadcasts, rate limiter, metrics, logs). The AuthActor
//! (`actors::auth`) owns the state and maps [`AuthError`] to the wire.

use std::time::{Duration, Instant};

use super::device::{self, DeviceError};
use super::peer::Peer;
use super::registry::{DeviceRegistry, PairingAsk, PendingRequest};
use super::secret::Secret;
use super::secret_eq;
use crate::config::model::AuthMode;
use crate::protocol::connect::{ConnectParams, Role};
use crate::protocol::scope;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub method: AuthMethod,
    pub role: Role,
    pub scopes: Vec<String>,
    pub device_id: Option<String>,
    /// `(token, issuedAtMs)` for `hello-ok.auth`.
    pub device_token: Option<(String, i64)>,
}

/// Why a client is refused. The `Display` is the message the client reads (the wire adds the
/// `unauthorized: ` prefix where the protocol has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("too many failed authentication attempts; retry in {}s", .retry_after_ms.div_ceil(1000))]
    RateLimited { retry_after_ms: u64 },
    #[error(transparent)]
    DeviceProof(#[from] DeviceError),
    #[error("device token mismatch (rotate/reissue device token)")]
    DeviceTokenMismatch,
    #[error("gateway token mismatch (provide gateway auth token)")]
    TokenMismatch,
    /// `hint` names where the token lives (a [`SecretSource::hint`](super::secret::SecretSource::hint)), never a path.
    #[error(
        "gateway token missing (provide gateway auth token; the gateway reads it from {hint}; `openclaw dashboard` on the gateway host prints a tokenized URL)"
    )]
    TokenMissing { hint: String },
    #[error("gateway password mismatch")]
    PasswordMismatch,
    #[error(
        "gateway password missing (provide the password set by gateway.auth.password or OPENCLAW_GATEWAY_PASSWORD)"
    )]
    PasswordMissing,
    #[error(
        "tailscale identity required (connect through the trusted proxy, or provide the gateway token from {hint})"
    )]
    TailscaleIdentityRequired { hint: String },
    #[error("device identity required")]
    DeviceIdentityRequired,
    /// The device waits for an operator to approve `request_id` (or its 6-digit `code`).
    #[error("pairing required")]
    PairingRequired { request_id: String, code: String },
    /// The device registry could not be written (a [`RegistryError`](super::registry::RegistryError)'s
    /// message: the error is `Clone` and `Eq`, an I/O error is neither).
    #[error("{0}")]
    Registry(String),
}

/// What the owner of the state does after a decision, in order, whatever the result.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Count a failed attempt against the client's address (rate limiter, metrics, log).
    Failed,
    /// Clear the failures of the client's address.
    Succeeded,
    /// A new pairing request: tell the operators (`device.pair.requested`).
    PairingRequested(Box<PendingRequest>),
    /// A local-direct device was approved without an operator (`device.pair.resolved`).
    PairedSilently { request_id: String, device_id: String },
}

/// A decision and its effects.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<Grant, AuthError>,
    pub effects: Vec<Effect>,
}

/// The gateway's shared credentials: the token (with the one it replaced, until its grace
/// period ends) or the password.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub token: Option<Secret>,
    pub previous: Option<(String, Instant)>,
    pub password: Option<Secret>,
}

impl Secrets {
    /// Swaps in `token`. A replaced value stays valid for `grace` (not at all when it is zero),
    /// so clients can be updated. Returns whether the value changed.
    pub fn replace_token(&mut self, token: Option<Secret>, grace: Duration, now: Instant) -> bool {
        let old = self.token.take().map(|t| t.value);
        let changed = old.is_some() && old.as_deref() != token.as_ref().map(|t| t.value.as_str());
        if changed {
            self.previous = old.filter(|_| !grace.is_zero()).map(|o| (o, now + grace));
        }
        self.token = token;
        changed
    }

    fn token_matches(&self, given: &str, now: Instant) -> bool {
        let current = self.token.as_ref().is_some_and(|t| secret_eq(&t.value, given));
        let previous = self.previous.as_ref().is_some_and(|(p, until)| *until > now && secret_eq(p, given));
        current || previous
    }

    /// Where the token lives, for refusals: the source, never the token or a path.
    fn hint(&self) -> String {
        self.token.as_ref().map_or_else(|| "the gateway's configuration".into(), |t| t.source.hint())
    }
}

/// The time both ways: wall-clock milliseconds for signatures and the registry, monotonic
/// for the previous token's grace period.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub ms: i64,
    pub at: Instant,
}

impl Now {
    pub fn current() -> Self {
        Self { ms: chrono::Utc::now().timestamp_millis(), at: Instant::now() }
    }
}

/// A WebSocket `connect` as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRequest<'a> {
    pub params: &'a ConnectParams,
    pub peer: &'a Peer,
    /// The challenge nonce sent to this connection.
    pub nonce: &'a str,
    /// `Tailscale-User-Login`, counted only from a trusted proxy.
    pub tailscale_user: Option<&'a str>,
}

/// Decides a WebSocket `connect`. Pairing requests, approvals and issued device tokens are
/// written to `registry`; everything else the caller performs from [`Outcome::effects`].
pub fn authenticate(
    mode: AuthMode,
    secrets: &Secrets,
    registry: &mut DeviceRegistry,
    req: &ConnectRequest<'_>,
    now: Now,
) -> Outcome {
    let mut effects = Vec::new();
    let result = connect(mode, secrets, registry, req, now, &mut effects);
    Outcome { result, effects }
}

/// Decides an HTTP request carrying `Authorization: Bearer <token or password>`: an operator
/// with every scope, or a refusal.
pub fn authenticate_bearer(
    mode: AuthMode,
    secrets: &Secrets,
    bearer: Option<&str>,
    peer: &Peer,
    tailscale_user: Option<&str>,
    now: Instant,
) -> Outcome {
    let method = match shared_secret(mode, secrets, bearer, bearer, now) {
        Some(result) => result,
        None if tailscale(mode, peer, tailscale_user) => Ok(AuthMethod::Tailscale),
        None => Err(missing(mode, secrets)),
    };
    let result = method.map(|method| Grant {
        method,
        role: Role::Operator,
        scopes: scope::ALL.iter().map(|s| s.to_string()).collect(),
        device_id: None,
        device_token: None,
    });
    let effects = vec![if result.is_ok() { Effect::Succeeded } else { Effect::Failed }];
    Outcome { result, effects }
}

fn failed(effects: &mut Vec<Effect>, e: AuthError) -> AuthError {
    effects.push(Effect::Failed);
    e
}

/// A tailscale identity counts only when a trusted proxy vouches for the header.
fn tailscale(mode: AuthMode, peer: &Peer, user: Option<&str>) -> bool {
    mode == AuthMode::Tailscale && peer.via_trusted_proxy && user.is_some()
}

/// Shared-secret check for the mode; `None` when no shared credential was offered.
fn shared_secret(
    mode: AuthMode,
    secrets: &Secrets,
    token: Option<&str>,
    password: Option<&str>,
    now: Instant,
) -> Option<Result<AuthMethod, AuthError>> {
    match mode {
        AuthMode::None => Some(Ok(AuthMethod::None)),
        AuthMode::Password => {
            let given = password.or(token)?;
            let ok = secrets.password.as_ref().is_some_and(|p| secret_eq(&p.value, given));
            Some(if ok { Ok(AuthMethod::Password) } else { Err(AuthError::PasswordMismatch) })
        }
        AuthMode::Token | AuthMode::DevicePairing | AuthMode::Tailscale => {
            let given = token?;
            Some(if secrets.token_matches(given, now) { Ok(AuthMethod::Token) } else { Err(AuthError::TokenMismatch) })
        }
    }
}

/// The refusal for a client that offered no credential. Local clients are not exempt:
/// being local only makes a device's pairing silent.
fn missing(mode: AuthMode, secrets: &Secrets) -> AuthError {
    match mode {
        AuthMode::Password => AuthError::PasswordMissing,
        AuthMode::DevicePairing => AuthError::DeviceIdentityRequired,
        AuthMode::Tailscale => AuthError::TailscaleIdentityRequired { hint: secrets.hint() },
        AuthMode::None | AuthMode::Token => AuthError::TokenMissing { hint: secrets.hint() },
    }
}

fn connect(
    mode: AuthMode,
    secrets: &Secrets,
    registry: &mut DeviceRegistry,
    req: &ConnectRequest<'_>,
    now: Now,
    fx: &mut Vec<Effect>,
) -> Result<Grant, AuthError> {
    let p = req.params;
    let local = req.peer.local_direct;
    let requested: Vec<String> = p.scopes.clone().unwrap_or_else(|| match p.role {
        Role::Operator => scope::ALL.iter().map(|s| s.to_string()).collect(),
        Role::Node => Vec::new(),
    });

    // 1. A device proof must be valid before anything else counts.
    let proof_token = p.auth.token.clone().or_else(|| p.auth.device_token.as_ref().map(|(_, t)| t.clone()));
    if let Some(d) = &p.device
        && let Err(e) = device::verify(p, d, proof_token.as_deref().unwrap_or(""), req.nonce, now.ms, local)
    {
        return Err(failed(fx, e.into()));
    }
    let device_id = p
        .device
        .as_ref()
        .map(|d| d.id.to_ascii_lowercase())
        .or_else(|| p.auth.device_token.as_ref().map(|(id, _)| id.clone()));

    // 2. A device token (`auth.token` or `device:<id>:<token>`) for this device and role.
    if let (Some(id), Some(tok)) = (&device_id, &proof_token)
        && let Some(token_scopes) = registry.check_token(id, p.role.as_str(), tok, now.ms)
    {
        fx.push(Effect::Succeeded);
        let scopes = requested.into_iter().filter(|s| token_scopes.contains(s)).collect();
        return Ok(Grant {
            method: AuthMethod::DeviceToken,
            role: p.role,
            scopes,
            device_id: Some(id.clone()),
            device_token: Some((tok.clone(), now.ms)),
        });
    }
    if p.auth.device_token.is_some() {
        return Err(failed(fx, AuthError::DeviceTokenMismatch));
    }

    // 3. Shared secret or tailscale identity; no one is exempt, local clients included.
    let method = match shared_secret(mode, secrets, p.auth.token.as_deref(), p.auth.password.as_deref(), now.at) {
        Some(Ok(method)) => method,
        Some(Err(e)) => {
            // A paired device offering a wrong token most likely holds a stale device token.
            let paired = device_id.as_ref().is_some_and(|id| registry.paired.contains_key(id));
            let e = if paired && p.auth.token.is_some() { AuthError::DeviceTokenMismatch } else { e };
            return Err(failed(fx, e));
        }
        None if tailscale(mode, req.peer, req.tailscale_user) => AuthMethod::Tailscale,
        None if mode == AuthMode::DevicePairing && p.device.is_some() => AuthMethod::None,
        None => return Err(failed(fx, missing(mode, secrets))),
    };

    // 4. Devices pair (local-direct ones silently); nodes must present one.
    let Some(d) = &p.device else {
        if p.role == Role::Node || mode == AuthMode::DevicePairing && method == AuthMethod::None {
            return Err(AuthError::DeviceIdentityRequired);
        }
        fx.push(Effect::Succeeded);
        return Ok(Grant { method, role: p.role, scopes: requested, device_id: None, device_token: None });
    };
    let id = d.id.to_ascii_lowercase();
    let paired_for_role = registry.paired.get(&id).is_some_and(|dev| dev.roles.iter().any(|r| r == p.role.as_str()));
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
            remote_ip: req.peer.ip.map(|i| i.to_string()),
        };
        let (pending, new) = registry.request(ask, now.ms).map_err(|e| AuthError::Registry(e.to_string()))?;
        // Local-direct approves silently, but only a client that proved itself: a bare
        // device key in device-pairing mode still waits for an operator.
        let vouched = method != AuthMethod::None || mode == AuthMode::None;
        if local && vouched {
            registry.approve(&pending.request_id, now.ms).map_err(|e| AuthError::Registry(e.to_string()))?;
            fx.push(Effect::PairedSilently { request_id: pending.request_id, device_id: id.clone() });
        } else {
            let refusal =
                AuthError::PairingRequired { request_id: pending.request_id.clone(), code: pending.code.clone() };
            if new {
                fx.push(Effect::PairingRequested(Box::new(pending)));
            }
            return Err(refusal);
        }
    }
    let approved = registry.paired.get(&id).map(|d| d.scopes.clone()).unwrap_or_default();
    let scopes: Vec<String> = requested.into_iter().filter(|s| approved.contains(s)).collect();
    registry.seen(&id, now.ms);
    let (token, _) = registry
        .issue_token(&id, p.role.as_str(), Some(scopes.clone()), now.ms)
        .map_err(|e| AuthError::Registry(e.to_string()))?;
    fx.push(Effect::Succeeded);
    Ok(Grant { method, role: p.role, scopes, device_id: Some(id), device_token: Some((token, now.ms)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::device::Identity;
    use crate::auth::secret::SecretSource;
    use crate::protocol::connect::parse;
    use serde_json::{Value, json};

    const NONCE: &str = "challenge-1";
    const FLAG_HINT: &str = "the gateway's --token flag";

    fn token(value: &str) -> Secrets {
        Secrets { token: Some(Secret::new(value, SecretSource::Flag)), ..Default::default() }
    }

    fn remote() -> Peer {
        Peer { ip: "203.0.113.9".parse().ok(), local_direct: false, via_trusted_proxy: false }
    }

    fn local() -> Peer {
        Peer { ip: "127.0.0.1".parse().ok(), local_direct: true, via_trusted_proxy: false }
    }

    fn proxied() -> Peer {
        Peer { ip: "203.0.113.9".parse().ok(), local_direct: false, via_trusted_proxy: true }
    }

    fn now() -> Now {
        Now { ms: 1_700_000_000_000, at: Instant::now() }
    }

    /// Connect params with `extra` merged into a minimal operator connect.
    fn params(extra: Value) -> ConnectParams {
        let mut v = json!({"minProtocol": 3, "maxProtocol": 3,
            "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}});
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        parse(&v).expect("valid connect params")
    }

    /// Adds a device proof signed over the credential the policy checks it against.
    fn signed(id: &Identity, mut p: ConnectParams) -> ConnectParams {
        let proof_token = p.auth.token.clone().or_else(|| p.auth.device_token.as_ref().map(|(_, t)| t.clone()));
        p.device = Some(id.prove(&p, proof_token.as_deref().unwrap_or(""), Some(NONCE), now().ms));
        p
    }

    /// The mode, secrets and a registry in a temporary directory.
    struct Gate {
        mode: AuthMode,
        secrets: Secrets,
        registry: DeviceRegistry,
        _dir: tempfile::TempDir,
    }

    impl Gate {
        fn new(mode: AuthMode, secrets: Secrets) -> Self {
            let dir = tempfile::tempdir().unwrap();
            Self { mode, secrets, registry: DeviceRegistry::load(dir.path()), _dir: dir }
        }

        fn connect(&mut self, p: &ConnectParams, peer: &Peer) -> Outcome {
            self.connect_as(p, peer, None)
        }

        fn connect_as(&mut self, p: &ConnectParams, peer: &Peer, tailscale_user: Option<&str>) -> Outcome {
            let req = ConnectRequest { params: p, peer, nonce: NONCE, tailscale_user };
            authenticate(self.mode, &self.secrets, &mut self.registry, &req, now())
        }

        fn bearer(&self, bearer: Option<&str>, peer: &Peer, tailscale_user: Option<&str>) -> Outcome {
            authenticate_bearer(self.mode, &self.secrets, bearer, peer, tailscale_user, Instant::now())
        }
    }

    fn refused(o: &Outcome) -> AuthError {
        o.result.clone().expect_err("refused")
    }

    fn granted(o: &Outcome) -> Grant {
        o.result.clone().expect("granted")
    }

    #[test]
    fn the_token_is_required_and_must_match_for_remote_and_local_clients() {
        let mut g = Gate::new(AuthMode::Token, token("tok-1"));
        let o = g.connect(&params(json!({"auth": {"token": "tok-1"}})), &remote());
        let grant = granted(&o);
        assert_eq!((grant.method, grant.role, grant.device_token), (AuthMethod::Token, Role::Operator, None));
        assert_eq!(grant.scopes, scope::ALL.map(String::from));
        assert_eq!(o.effects, [Effect::Succeeded]);

        for peer in [remote(), local()] {
            let o = g.connect(&params(json!({})), &peer);
            assert_eq!(refused(&o), AuthError::TokenMissing { hint: FLAG_HINT.into() });
            assert_eq!(o.effects, [Effect::Failed]);
        }
        let missing = refused(&g.connect(&params(json!({})), &remote())).to_string();
        assert!(missing.contains("the gateway reads it from the gateway's --token flag;"), "{missing}");
        let o = g.connect(&params(json!({"auth": {"token": "tok-2"}})), &remote());
        assert_eq!((refused(&o), o.effects), (AuthError::TokenMismatch, vec![Effect::Failed]));

        assert_eq!(granted(&g.bearer(Some("tok-1"), &remote(), None)).method, AuthMethod::Token);
        assert_eq!(refused(&g.bearer(None, &local(), None)), AuthError::TokenMissing { hint: FLAG_HINT.into() });
        let o = g.bearer(Some("tok-2"), &remote(), None);
        assert_eq!((refused(&o), o.effects), (AuthError::TokenMismatch, vec![Effect::Failed]));
    }

    #[test]
    fn a_replaced_token_works_through_its_grace_period_only() {
        let mut s = token("old");
        let t0 = Instant::now();
        assert!(s.replace_token(Some(Secret::new("new", SecretSource::Flag)), Duration::from_secs(10), t0));
        let bearer = |s: &Secrets, t: &str, at: Instant| {
            authenticate_bearer(AuthMode::Token, s, Some(t), &remote(), None, at).result.map(|g| g.method)
        };
        let within = t0 + Duration::from_secs(5);
        assert_eq!(bearer(&s, "old", within), Ok(AuthMethod::Token));
        assert_eq!(bearer(&s, "new", within), Ok(AuthMethod::Token));
        let after = t0 + Duration::from_secs(11);
        assert_eq!(bearer(&s, "old", after), Err(AuthError::TokenMismatch));
        assert_eq!(bearer(&s, "new", after), Ok(AuthMethod::Token));

        // The WebSocket path honours the same window.
        let mut g = Gate::new(AuthMode::Token, s.clone());
        assert!(g.connect(&params(json!({"auth": {"token": "old"}})), &remote()).result.is_ok());

        assert!(!s.replace_token(Some(Secret::new("new", SecretSource::Flag)), Duration::ZERO, t0), "same value");
        assert_eq!(bearer(&s, "old", within), Ok(AuthMethod::Token), "an unchanged token keeps the grace");
        assert!(s.replace_token(Some(Secret::new("newer", SecretSource::Flag)), Duration::ZERO, t0));
        assert_eq!(bearer(&s, "new", t0), Err(AuthError::TokenMismatch), "no grace: refused at once");
        assert_eq!(bearer(&s, "old", within), Err(AuthError::TokenMismatch));
    }

    #[test]
    fn password_mode_takes_the_password_in_either_field() {
        let secrets = Secrets { password: Some(Secret::new("pw", SecretSource::Flag)), ..Default::default() };
        let mut g = Gate::new(AuthMode::Password, secrets);
        for auth in [json!({"password": "pw"}), json!({"token": "pw"})] {
            assert_eq!(granted(&g.connect(&params(json!({"auth": auth})), &remote())).method, AuthMethod::Password);
        }
        let o = g.connect(&params(json!({"auth": {"password": "nope"}})), &remote());
        assert_eq!((refused(&o), o.effects), (AuthError::PasswordMismatch, vec![Effect::Failed]));
        assert_eq!(refused(&g.connect(&params(json!({})), &local())), AuthError::PasswordMissing);
        assert_eq!(granted(&g.bearer(Some("pw"), &remote(), None)).method, AuthMethod::Password);
        assert_eq!(refused(&g.bearer(Some("tok"), &remote(), None)), AuthError::PasswordMismatch);
        assert_eq!(refused(&g.bearer(None, &remote(), None)), AuthError::PasswordMissing);
    }

    #[test]
    fn device_pairing_mode_wants_a_device_or_the_token() {
        let mut g = Gate::new(AuthMode::DevicePairing, token("tok"));
        let o = g.connect(&params(json!({})), &remote());
        assert_eq!((refused(&o), o.effects), (AuthError::DeviceIdentityRequired, vec![Effect::Failed]));

        let id = Identity::generate();
        let o = g.connect(&signed(&id, params(json!({}))), &remote());
        let AuthError::PairingRequired { request_id, code } = refused(&o) else { panic!("{o:?}") };
        assert_eq!(code.len(), 6);
        let [Effect::PairingRequested(req)] = o.effects.as_slice() else { panic!("{o:?}") };
        assert_eq!((req.request_id.as_str(), req.ask.device_id.as_str()), (request_id.as_str(), id.id().as_str()));
        assert_eq!(req.ask.remote_ip.as_deref(), Some("203.0.113.9"));

        let grant = granted(&g.connect(&params(json!({"auth": {"token": "tok"}})), &remote()));
        assert_eq!((grant.method, grant.device_id), (AuthMethod::Token, None));
    }

    #[test]
    fn a_local_direct_device_pairs_silently_only_with_a_credential() {
        let mut g = Gate::new(AuthMode::DevicePairing, token("tok"));
        let id = Identity::generate();
        let o = g.connect(&signed(&id, params(json!({}))), &local());
        let AuthError::PairingRequired { request_id, .. } = refused(&o) else { panic!("a bare key waits: {o:?}") };
        assert!(matches!(o.effects.as_slice(), [Effect::PairingRequested(_)]), "{o:?}");

        let o = g.connect(&signed(&id, params(json!({"auth": {"token": "tok"}}))), &local());
        let grant = granted(&o);
        assert_eq!((grant.method, grant.device_id.as_deref()), (AuthMethod::Token, Some(id.id().as_str())));
        assert!(grant.device_token.is_some());
        assert_eq!(
            o.effects,
            [Effect::PairedSilently { request_id, device_id: id.id() }, Effect::Succeeded],
            "the pending request is the one approved"
        );
        assert!(g.registry.paired.contains_key(&id.id()) && g.registry.pending.is_empty());
    }

    #[test]
    fn a_remote_device_waits_for_approval_then_is_granted() {
        let mut g = Gate::new(AuthMode::Token, token("tok"));
        let id = Identity::generate();
        let p = signed(&id, params(json!({"auth": {"token": "tok"}, "scopes": ["operator.read", "operator.write"]})));
        let first = g.connect(&p, &remote());
        let AuthError::PairingRequired { request_id, .. } = refused(&first) else { panic!("{first:?}") };
        assert!(matches!(first.effects.as_slice(), [Effect::PairingRequested(_)]));
        let again = g.connect(&p, &remote());
        assert!(matches!(refused(&again), AuthError::PairingRequired { request_id: r, .. } if r == request_id));
        assert!(again.effects.is_empty(), "told the operators once, not counted as a failure");

        g.registry.approve(&request_id, now().ms).unwrap();
        let o = g.connect(&p, &remote());
        let grant = granted(&o);
        assert_eq!((grant.method, grant.device_id.as_deref()), (AuthMethod::Token, Some(id.id().as_str())));
        assert_eq!(grant.scopes, ["operator.read", "operator.write"]);
        assert!(grant.device_token.is_some());
        assert_eq!(o.effects, [Effect::Succeeded]);
    }

    #[test]
    fn device_tokens_are_accepted_and_a_wrong_one_is_named() {
        let mut g = Gate::new(AuthMode::Token, token("tok"));
        let id = Identity::generate();
        let p = signed(&id, params(json!({"auth": {"token": "tok"}})));
        let AuthError::PairingRequired { request_id, .. } = refused(&g.connect(&p, &remote())) else { panic!() };
        g.registry.approve(&request_id, now().ms).unwrap();
        let (device_token, _) = granted(&g.connect(&p, &remote())).device_token.unwrap();

        let by_string = params(json!({"auth": format!("device:{}:{device_token}", id.id())}));
        let grant = granted(&g.connect(&by_string, &remote()));
        assert_eq!((grant.method, grant.device_id.as_deref()), (AuthMethod::DeviceToken, Some(id.id().as_str())));
        let with_proof = signed(&id, params(json!({"auth": {"token": device_token}})));
        assert_eq!(granted(&g.connect(&with_proof, &remote())).method, AuthMethod::DeviceToken);

        let wrong = params(json!({"auth": format!("device:{}:nope", id.id())}));
        let o = g.connect(&wrong, &remote());
        assert_eq!((refused(&o), o.effects), (AuthError::DeviceTokenMismatch, vec![Effect::Failed]));
        // A paired device offering a token that is neither: most likely a stale device token.
        let stale = signed(&id, params(json!({"auth": {"token": "stale"}})));
        assert_eq!(refused(&g.connect(&stale, &remote())), AuthError::DeviceTokenMismatch);
        // A proof signed for another challenge fails before any credential counts.
        let mut replayed = signed(&id, params(json!({"auth": {"token": "tok"}})));
        replayed.device.as_mut().unwrap().nonce = Some("other".into());
        let o = g.connect(&replayed, &remote());
        assert_eq!((refused(&o), o.effects), (DeviceError::NonceMismatch.into(), vec![Effect::Failed]));
    }

    #[test]
    fn a_node_without_a_device_is_refused_even_with_the_token() {
        let mut g = Gate::new(AuthMode::Token, token("tok"));
        let o = g.connect(&params(json!({"role": "node", "auth": {"token": "tok"}})), &local());
        assert_eq!(refused(&o), AuthError::DeviceIdentityRequired);
        assert!(o.effects.is_empty(), "the credential was right: not a failed attempt");
    }

    #[test]
    fn a_tailscale_identity_counts_only_through_a_trusted_proxy() {
        let mut g = Gate::new(AuthMode::Tailscale, token("tok"));
        let no_auth = params(json!({}));
        let refusal = AuthError::TailscaleIdentityRequired { hint: FLAG_HINT.into() };
        assert_eq!(granted(&g.connect_as(&no_auth, &proxied(), Some("a@example.com"))).method, AuthMethod::Tailscale);
        assert_eq!(refused(&g.connect_as(&no_auth, &remote(), Some("a@example.com"))), refusal);
        assert_eq!(refused(&g.connect_as(&no_auth, &proxied(), None)), refusal);
        assert_eq!(granted(&g.bearer(None, &proxied(), Some("a@example.com"))).method, AuthMethod::Tailscale);
        assert_eq!(refused(&g.bearer(None, &remote(), Some("a@example.com"))), refusal);
        let with_token = params(json!({"auth": {"token": "tok"}}));
        assert_eq!(granted(&g.connect_as(&with_token, &remote(), None)).method, AuthMethod::Token);
        // Another mode ignores the header even from the proxy.
        let g = Gate::new(AuthMode::Token, token("tok"));
        assert!(matches!(refused(&g.bearer(None, &proxied(), Some("a@example.com"))), AuthError::TokenMissing { .. }));
    }

    #[test]
    fn mode_none_grants_everyone_and_local_devices_pair_silently() {
        let mut g = Gate::new(AuthMode::None, Secrets::default());
        let grant = granted(&g.connect(&params(json!({})), &remote()));
        assert_eq!((grant.method, grant.scopes.len()), (AuthMethod::None, scope::ALL.len()));
        assert_eq!(granted(&g.bearer(None, &remote(), None)).method, AuthMethod::None);
        let id = Identity::generate();
        let o = g.connect(&signed(&id, params(json!({}))), &local());
        assert_eq!(granted(&o).device_id, Some(id.id()));
        assert!(matches!(o.effects.as_slice(), [Effect::PairedSilently { .. }, Effect::Succeeded]), "{o:?}");
    }
}
