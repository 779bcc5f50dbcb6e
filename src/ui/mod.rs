//! The Control UI over HTTP: the built-in dashboard (embedded assets) or an operator's UI
//! build (`gateway.controlUi.root`), served under `gateway.controlUi.basePath`, plus the
//! agent avatar route. `http` hands it every request that is not a route or a WebSocket
//! upgrade; the live config is read per request, so every `controlUi` key is hot.

mod assets;
mod avatar;
mod root;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::rpc::Runtime;

/// Paths of the gateway's own routes: a wrong method on them is "not found" as before the UI
/// existed, never the SPA page.
const RESERVED: &[&str] = &["/healthz", "/readyz", "/health", "/rpc", "/metrics"];

/// Everything is same-origin; `script` is the script-src list (self, or self plus an inline
/// script's hash for an operator's UI build) and `style` the style-src list.
fn csp(script: &str, style: &str) -> String {
    format!(
        "default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data:; \
         connect-src 'self' ws: wss:; base-uri 'none'; object-src 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// A response with the headers every UI answer carries (framing, sniffing, referrer, CSP).
fn hygienic(status: StatusCode, csp: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    b
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    hygienic(status, &csp("'self'", "'self'"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().content_type("text/plain").body("not found\n")
}

/// Content type by file extension (`.map` is JSON, as upstream serves it).
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Answers a request no route took: the UI page, an asset, an avatar, a redirect to the base
/// path, 405 for methods other than GET/HEAD, or 404 outside the base path.
pub async fn respond(req: &HttpRequest, rt: &Runtime) -> HttpResponse {
    let ui = rt.config().loaded.config.gateway.control_ui.clone();
    let path = req.path();
    if !ui.enabled || RESERVED.contains(&path) {
        return not_found();
    }
    let base = ui.base();
    if base != "/" && path == base.trim_end_matches('/') {
        let location = match req.query_string() {
            "" => base,
            q => format!("{base}?{q}"),
        };
        return HttpResponse::Found().insert_header((header::LOCATION, location)).finish();
    }
    let Some(rest) = path.strip_prefix(base.as_str()) else { return not_found() };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .content_type("text/plain")
            .body("method not allowed: the Control UI answers GET and HEAD\n");
    }
    if let Some(agent) = rest.strip_prefix("avatar/") {
        return avatar::respond(rt, agent, req.query_string());
    }
    match &ui.root {
        Some(dir) => root::respond(dir.clone(), rest.to_string(), &base).await,
        None => assets::respond(rest, &base),
    }
}
