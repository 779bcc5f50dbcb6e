//! `POST /rpc`: `Authorization: Bearer <token or password>`, body `{method, params}`,
//! answer `{ok, payload}` or `{ok:false, error}` with a fitting HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::State;
use crate::actors::auth::{AuthActor, AuthenticateBearer};
use crate::config::model::EndpointAccess;
use crate::protocol::{ErrorCode, ErrorShape, MAX_PAYLOAD};

/// Time a caller has to send its whole request body once the head is in.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
use crate::rpc::{self, Caller, Reply};

/// The `Authorization: Bearer` credential of a request, if any.
fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
}

/// Authenticates an HTTP request through the AuthActor (bearer token or password, tailscale
/// identity, rate limit); the refusal is the status and error to answer.
async fn authenticate(
    req: &HttpRequest,
    state: &State,
) -> Result<crate::auth::policy::Grant, (StatusCode, ErrorShape)> {
    let trusted = state.config().loaded.config.gateway.trusted_proxies.clone();
    let info = super::peer_info(req.headers(), req.peer_addr());
    let peer = crate::auth::peer::resolve(&info, &trusted);
    let Some(auth) = state.registry.get::<AuthActor>(crate::actors::auth::ID) else {
        let e = ErrorShape::unavailable("gateway auth is restarting; retry").retry_after(1000);
        return Err((StatusCode::SERVICE_UNAVAILABLE, e));
    };
    match auth.send(AuthenticateBearer { bearer: bearer(req), peer, tailscale_user: info.tailscale_user }).await {
        Ok(Ok(g)) => Ok(g),
        Ok(Err(e)) => {
            let denial = crate::rpc::wire::to_wire(&e);
            Err((status_of(&denial.error, true), denial.error))
        }
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, ErrorShape::unavailable(format!("auth actor: {e}")))),
    }
}

pub async fn http_rpc(req: HttpRequest, payload: web::Payload, state: State) -> HttpResponse {
    let grant = match authenticate(&req, &state).await {
        Ok(g) => g,
        Err((status, e)) => return reply(status, &e),
    };
    // The body is read only once the caller is known, within a deadline (the server times
    // only the request head) and up to the payload limit.
    let body = match actix_rt::time::timeout(BODY_TIMEOUT, payload.to_bytes_limited(MAX_PAYLOAD)).await {
        Ok(Ok(Ok(body))) => body,
        Ok(Err(_)) => {
            let e = ErrorShape::invalid(format!("request body over {MAX_PAYLOAD} bytes"));
            return reply(StatusCode::PAYLOAD_TOO_LARGE, &e);
        }
        Ok(Ok(Err(e))) => return reply(StatusCode::BAD_REQUEST, &ErrorShape::invalid(format!("request body: {e}"))),
        Err(_) => {
            let e = ErrorShape::invalid(format!("request body not received within {} s", BODY_TIMEOUT.as_secs()));
            return reply(StatusCode::REQUEST_TIMEOUT, &e);
        }
    };
    let (method, params) = match parse_body(&body) {
        Ok(call) => call,
        Err(e) => return reply(StatusCode::BAD_REQUEST, &e),
    };
    let caller = Caller { role: grant.role, scopes: grant.scopes.into(), conn: None };
    let t0 = std::time::Instant::now();
    // A two-stage method (`agent`) answers here with its outcome: the same final payload a
    // WebSocket client gets as its second response.
    let res = rpc::call_final(state.get_ref().clone(), caller, &method, params).await;
    state.metrics.observe(&method, t0.elapsed(), res.error().map(|e| e.code));
    match res {
        Reply::Ok(payload) => HttpResponse::Ok().json(json!({"ok": true, "payload": payload})),
        Reply::Err(e, None) => reply(status_of(&e, false), &e),
        // A failed run: its payload (`status: "error"`, `summary`) beside the error.
        Reply::Err(e, Some(payload)) => {
            HttpResponse::build(status_of(&e, false)).json(json!({"ok": false, "payload": payload, "error": e}))
        }
    }
}

/// The method and params of a `POST /rpc` body: a JSON object `{method, params?}` with no
/// other key; the error is the 400 to answer. Its own function so the fuzz tests can reach it.
pub fn parse_body(body: &[u8]) -> Result<(String, Value), ErrorShape> {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    match parsed.as_ref().ok().and_then(Value::as_object) {
        Some(o) => match (o.get("method").and_then(Value::as_str), o.keys().find(|k| *k != "method" && *k != "params"))
        {
            (Some(m), None) => Ok((m.to_string(), o.get("params").cloned().unwrap_or(Value::Null))),
            (None, _) => Err(ErrorShape::invalid("invalid request: must have required property 'method'")),
            (_, Some(k)) => {
                Err(ErrorShape::invalid(format!("invalid request: must NOT have additional properties ({k:?})")))
            }
        },
        None => Err(ErrorShape::invalid("invalid request: body must be a JSON object {method, params}")),
    }
}

/// The HTTP status for an error (auth failures are 401, lockouts 429).
fn status_of(e: &ErrorShape, auth: bool) -> StatusCode {
    match e.code {
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::NotPaired | ErrorCode::NotLinked => StatusCode::FORBIDDEN,
        ErrorCode::AgentTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::InvalidRequest if auth => StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidRequest if e.message.starts_with("unknown method") => StatusCode::NOT_FOUND,
        ErrorCode::InvalidRequest if e.message.starts_with("missing scope") => StatusCode::FORBIDDEN,
        ErrorCode::InvalidRequest
            if e.message.starts_with("config changed since")
                || e.message.starts_with("exec approvals changed since") =>
        {
            StatusCode::CONFLICT
        }
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
    }
}

fn reply(status: StatusCode, e: &ErrorShape) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if let Some(ms) = e.retry_after_ms.filter(|_| status == StatusCode::TOO_MANY_REQUESTS) {
        r.insert_header(("Retry-After", ms.div_ceil(1000).to_string()));
    }
    r.json(json!({"ok": false, "error": e}))
}

/// Who may read a read-only endpoint: `public` anyone; `loopback` local-direct clients freely
/// and others with a credential; `token` everyone with a credential. The refusal never
/// says more than the auth error.
pub async fn endpoint_access(
    req: &HttpRequest,
    state: &State,
    access: EndpointAccess,
    key: &str,
) -> Result<(), HttpResponse> {
    let free = match access {
        EndpointAccess::Public => true,
        EndpointAccess::Loopback => {
            let trusted = state.config().loaded.config.gateway.trusted_proxies.clone();
            crate::auth::peer::resolve(&super::peer_info(req.headers(), req.peer_addr()), &trusted).local_direct
        }
        EndpointAccess::Token => false,
    };
    if free {
        return Ok(());
    }
    authenticate(req, state).await.map(drop).map_err(|(status, mut e)| {
        let access = serde_json::to_value(access).unwrap_or_default();
        e.message = format!("{} (/{key} needs it: gateway.{key}.access is {access})", e.message);
        reply(status, &e)
    })
}

/// `GET /metrics`: Prometheus text. Who may read it: `gateway.metrics.access`.
pub async fn metrics(req: HttpRequest, state: State) -> HttpResponse {
    let cfg = state.config().loaded.config.gateway.metrics.clone();
    if !cfg.enabled {
        return HttpResponse::NotFound()
            .content_type("text/plain")
            .body("metrics disabled (gateway.metrics.enabled)\n");
    }
    if let Err(refused) = endpoint_access(&req, &state, cfg.access, "metrics").await {
        return refused;
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.scrape()))
}
