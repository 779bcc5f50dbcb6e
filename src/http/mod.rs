//! HTTP routes on the gateway port: liveness, readiness, the health document, `POST /rpc`,
//! and the WebSocket upgrade, all behind `guard`; any other path is the Control UI's (`ui`).
//! Probes read published facts only (no disk I/O per request); `/healthz` and `/readyz` are
//! public and say only ok / not ready.

pub mod guard;
pub mod inbound;
mod rpc;
pub mod session;
pub mod upgrade;

/// Public for `tests/fuzz.rs`, which feeds it arbitrary bodies; the route stays private.
pub use self::rpc::parse_body;

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::peer::PeerInfo;
use serde_json::json;

use crate::rpc::Runtime;

type State = web::Data<Arc<Runtime>>;

/// Every route, behind the request guard, reaching `rt`; the listener mounts this.
pub fn routes(cfg: &mut web::ServiceConfig, rt: &Arc<Runtime>) {
    cfg.app_data(web::Data::new(rt.clone()));
    let scope = web::scope("")
        .wrap(actix_web::middleware::from_fn(guard::guard))
        .app_data(web::PayloadConfig::new(crate::protocol::MAX_PAYLOAD))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/health", web::get().to(health))
        .route("/rpc", web::post().to(rpc::http_rpc))
        .route("/metrics", web::get().to(rpc::metrics));
    #[cfg(feature = "fault-injection")]
    let scope = scope
        .route("/__fault/panic/{child}", web::post().to(fault_panic))
        .route("/__fault/flood/{count}/{bytes}/{droppable}", web::post().to(fault_flood));
    cfg.service(scope.default_service(web::to(control_ui)));
}

/// WebSocket upgrades never reach the routes: the server hands them to `upgrade` (on any path).
/// Any other request no route takes is the Control UI's (it answers 404 outside its base path).
async fn control_ui(req: HttpRequest, state: State) -> HttpResponse {
    crate::ui::respond(&req, &state).await
}

/// What a request says about its peer (for the local-direct and proxy rules).
pub fn peer_info(headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> PeerInfo {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let forwarding = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip"];
    PeerInfo {
        socket: peer.map(|a| a.ip()),
        host: h("host"),
        forwarded_for: h("x-forwarded-for"),
        has_forwarding: forwarding.iter().any(|f| headers.contains_key(*f)),
        tailscale_user: h("tailscale-user-login"),
    }
}

/// 200 while the process serves requests.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// 200 when ready; 503 while starting and while draining.
async fn readyz(state: State) -> HttpResponse {
    let phase = state.phase.get();
    let body = json!({ "ready": phase.is_ready(), "phase": phase });
    if phase.is_ready() { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// The full document names paths, hashes, the pid and addresses: `gateway.health.access`.
async fn health(req: HttpRequest, state: State) -> HttpResponse {
    let access = state.config().loaded.config.gateway.health.access;
    match rpc::endpoint_access(&req, &state, access, "health").await {
        Ok(()) => HttpResponse::Ok().content_type("application/json").body(crate::rpc::health::document_text(&state)),
        Err(refused) => refused,
    }
}

/// Test builds only: push `count` events of `bytes` each to every session.
#[cfg(feature = "fault-injection")]
async fn fault_flood(state: State, p: web::Path<(usize, usize, bool)>) -> HttpResponse {
    use crate::actors::hub::Push;
    let (count, bytes, droppable) = p.into_inner();
    let payload = std::sync::Arc::new(json!({"pad": "x".repeat(bytes)}));
    for _ in 0..count {
        state.sessions.broadcast(Push::Event { name: "test.flood", payload: payload.clone(), droppable, scope: None });
    }
    HttpResponse::Accepted().finish()
}

/// Test builds only: make a child panic inside a handler.
#[cfg(feature = "fault-injection")]
async fn fault_panic(state: State, child: web::Path<String>) -> HttpResponse {
    use crate::actors::config::{ConfigActor, InjectPanic};
    use crate::actors::listener::ListenerActor;
    let sent = match child.as_str() {
        "config" => state.registry.get::<ConfigActor>("config").map(|a| a.do_send(InjectPanic)),
        "listener" => state.registry.get::<ListenerActor>("listener").map(|a| a.do_send(InjectPanic)),
        "cron" => state.registry.get::<crate::actors::cron::CronActor>("cron").map(|a| a.do_send(InjectPanic)),
        lane if lane.starts_with("lane.") => {
            state.registry.get::<crate::actors::lane::LaneActor>(lane).map(|a| a.do_send(InjectPanic))
        }
        _ => None,
    };
    match sent {
        Some(()) => HttpResponse::Accepted().finish(),
        None => HttpResponse::NotFound().body("no such running child\n"),
    }
}
