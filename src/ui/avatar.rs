//! `GET {base}avatar/{agentId}` and `?meta=1` (`{avatarUrl}`), as upstream's chat tab
//! fetches them. Unauthenticated like upstream's: it tells only what `agent.identity.get`
//! would. An avatar that is an initial or an emoji has no image, so its URL is null.

use actix_web::HttpResponse;
use actix_web::http::header;
use serde_json::json;

use super::not_found;
use crate::agents::roster;
use crate::rpc::Runtime;

/// Upstream's agent id rule for this route: `^[a-z0-9][a-z0-9_-]{0,63}$`, any case.
fn valid(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The URL an avatar value can be shown from, if it is one.
fn url_of(avatar: &str) -> Option<&str> {
    let lower = avatar.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("data:image/"))
        .then_some(avatar)
}

pub fn respond(rt: &Runtime, id: &str, query: &str) -> HttpResponse {
    if !valid(id) || !roster::is_known(&rt.options.paths.state_dir, &id.to_ascii_lowercase()) {
        return not_found();
    }
    let who = roster::identity(&id.to_ascii_lowercase());
    let url = url_of(&who.avatar);
    if query.split('&').any(|kv| kv == "meta=1") {
        return HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .json(json!({"avatarUrl": url}));
    }
    match url {
        Some(u) => HttpResponse::Found().insert_header((header::LOCATION, u)).finish(),
        None => HttpResponse::NotFound().content_type("text/plain").body("this agent has no avatar image\n"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn agent_ids_follow_upstreams_rule() {
        for ok in ["main", "Main", "a", "a-b_c", &"x".repeat(64)] {
            assert!(super::valid(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "a.b", "a/b", &"x".repeat(65)] {
            assert!(!super::valid(bad), "{bad}");
        }
    }
}
