//! The gate in front of every route: connections over a cap (answered 503/429), the Host rule (DNS rebinding), the request-forgery rules
//! for writes and WebSocket upgrades, CORS preflights, and CORS headers for listed origins only.
//! The rules themselves live in `auth::request`; this module applies them to actix requests.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::auth::request::{self, Facts, Policy, Refusal};
use crate::config::model::BindMode;
use crate::net::conn::{Conn, Limit};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

/// This machine's name, read once (it is part of the Host rule).
fn machine() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(crate::sys::hostname)
}

pub fn refused(r: &Refusal) -> HttpResponse {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::FORBIDDEN);
    HttpResponse::build(status).json(json!({"ok": false, "error": ErrorShape::invalid(r.message())}))
}

/// A connection over a cap: 503 (total) or 429 (per address), naming the setting; the
/// connection is closed after the answer.
pub fn over_cap(limit: Limit, cap: usize) -> HttpResponse {
    let status = StatusCode::from_u16(limit.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let error = ErrorShape::unavailable(limit.message(cap)).retry_after(OVER_CAP_RETRY_SECS * 1000);
    HttpResponse::build(status)
        .force_close()
        .insert_header((header::RETRY_AFTER, OVER_CAP_RETRY_SECS.to_string()))
        .json(json!({"ok": false, "error": error}))
}

/// Seconds a client over a connection cap is told to wait.
const OVER_CAP_RETRY_SECS: u64 = 5;

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(conn) = req.conn_data::<Conn>() {
        if let Some((limit, cap)) = conn.refused() {
            return Ok(req.into_response(over_cap(limit, cap)).map_into_right_body());
        }
        conn.request_started();
    }
    let res = checked(req, next).await?;
    if res.status() != StatusCode::SWITCHING_PROTOCOLS
        && let Some((next_head, socket)) = res.request().conn_data::<Conn>().and_then(|c| c.response_done(NEXT_HEAD))
    {
        actix_rt::spawn(next_head.watch(socket));
    }
    Ok(res)
}

/// Time a kept-alive connection has to send its next whole request head after a response
/// (a client dribbling it would otherwise hold the connection forever).
const NEXT_HEAD: std::time::Duration = std::time::Duration::from_secs(10);

/// What the gateway's rules say of a request from its method, headers and peer: the refusal,
/// if any, and the origin CORS headers name (a listed one only). The WebSocket upgrade, which
/// is served outside the routes, is screened by the same rules.
pub struct Screened {
    pub refusal: Option<Refusal>,
    pub cors: Option<String>,
    pub origin: Option<String>,
}

pub fn screen(rt: &Runtime, method: &Method, headers: &header::HeaderMap, peer: Option<SocketAddr>) -> Screened {
    let live = rt.config();
    let gw = &live.loaded.config.gateway;
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let policy = Policy {
        configured_host: gw.host.as_deref(),
        allowed_hosts: &gw.allowed_hosts,
        allowed_origins: &gw.control_ui.allowed_origins,
        machine: machine(),
        tailnet: gw.bind == BindMode::Tailnet,
    };
    let (host, origin) = (h(header::HOST), h(header::ORIGIN));
    let facts = Facts {
        method: method.as_str(),
        host,
        origin,
        sec_fetch_site: headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        content_type: h(header::CONTENT_TYPE),
        upgrade: h(header::UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        via_trusted_proxy: peer
            .is_some_and(|a| gw.trusted_proxies.iter().any(|t| crate::auth::peer::matches(t, a.ip()))),
    };
    let cors = request::cors_origin(origin, host, policy.allowed_origins).map(str::to_string);
    Screened { refusal: request::check(&facts, &policy).err(), cors, origin: origin.map(str::to_string) }
}

async fn checked(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(rt) = req.app_data::<web::Data<Arc<Runtime>>>().map(|d| d.get_ref().clone()) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let Screened { refusal, cors, origin } = screen(&rt, req.method(), req.headers(), req.peer_addr());
    if let Some(r) = refusal {
        tracing::info!(reason = %r.message(), peer = ?req.peer_addr(), path = %req.path(), "request refused");
        return Ok(req.into_response(refused(&r)).map_into_right_body());
    }
    if req.method() == Method::OPTIONS {
        // A preflight is granted to listed origins only; others get no CORS headers at all.
        let resp = match &cors {
            Some(o) => HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.as_str()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type"))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"))
                .finish(),
            None => refused(&Refusal::Origin(origin.unwrap_or_else(|| "none".into()))),
        };
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if let Some(o) = cors
        && let Ok(v) = header::HeaderValue::from_str(&o)
    {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        res.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Origin"));
    }
    Ok(res.map_into_left_body())
}
