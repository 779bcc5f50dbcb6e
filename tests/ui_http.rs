//! The Control UI over plain HTTP (no browser): security headers, GET/HEAD only, the base
//! path redirect, the SPA fallback, hashed assets cached for good, the avatar route, an
//! operator's UI build from `controlUi.root` with its globals script allowed by hash, and
//! path traversal refused. The gateway's own routes and the WebSocket keep working.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use common::{Gateway, Spawn};
use sha2::{Digest, Sha256};

/// A response: status, lower-cased header lines, body.
struct Res {
    status: u16,
    head: String,
    body: String,
}

impl Res {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}: ", name.to_ascii_lowercase());
        self.head.lines().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower.starts_with(&prefix).then(|| l[prefix.len()..].trim())
        })
    }
}

fn req(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Res {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        extra.insert_str(0, "Host: localhost\r\n");
    }
    write!(s, "{method} {path} HTTP/1.1\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    Res { status, head: head.to_string(), body: body.to_string() }
}

fn get(gw: &Gateway, path: &str) -> Res {
    req(gw.addr, "GET", path, &[])
}

fn assert_hygiene(r: &Res) {
    let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("no CSP: {}", r.head));
    for part in ["default-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).expect("script-src");
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
}

/// The hashed asset URLs the page names.
fn asset_urls(html: &str) -> Vec<String> {
    html.split(['"', '\'']).filter(|s| s.contains("/assets/")).map(str::to_string).collect()
}

#[test]
fn the_page_is_served_with_security_headers_and_no_inline_script() {
    let gw = Spawn::default().start();
    let r = get(&gw, "/");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_hygiene(&r);
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!r.body.contains("<script>"), "no inline script: {}", r.body);
    // The gateway's own routes still answer as before.
    assert_eq!(get(&gw, "/healthz").body, "ok\n");
    assert_eq!(get(&gw, "/readyz").status, 200);
    assert_eq!(get(&gw, "/rpc").status, 404, "GET /rpc is not the page");
    assert_eq!(gw.health()["status"], "ok");
    // The request guard applies to the UI like to every route: a foreign Host (DNS
    // rebinding) is refused.
    let r = req(gw.addr, "GET", "/", &[("Host", "rebind.example")]);
    assert_eq!(r.status, 403, "{}", r.head);
    assert!(!r.body.contains("<oc-app>"));
    // And the WebSocket upgrade still reaches a session at `/`.
    let mut ws = gw.ws();
    assert_eq!(ws.call("health", serde_json::json!({}))["ok"], true);
}

#[test]
fn assets_have_hashed_names_and_are_cached_for_good() {
    let gw = Spawn::default().start();
    let page = get(&gw, "/").body;
    let urls = asset_urls(&page);
    assert!(urls.iter().any(|u| u.ends_with("/app.js")) && urls.iter().any(|u| u.ends_with("/style.css")), "{urls:?}");
    for u in &urls {
        let r = get(&gw, u);
        assert_eq!(r.status, 200, "{u}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"), "{u}");
        assert_hygiene(&r);
    }
    let js = urls.iter().find(|u| u.ends_with("/app.js")).unwrap();
    assert_eq!(get(&gw, js).header("content-type"), Some("text/javascript; charset=utf-8"));
    // A module the app imports, by a relative name in the same hashed directory.
    let gateway_js = js.replace("/app.js", "/gateway.js");
    assert!(get(&gw, &gateway_js).body.contains("connect.challenge"));
    // Another hash (an older build's) or an unknown file is not found, never today's file.
    assert_eq!(get(&gw, "/assets/000000000000/app.js").status, 404);
    assert_eq!(get(&gw, &js.replace("/app.js", "/nope.js")).status, 404);
}

#[test]
fn only_get_and_head_and_unknown_paths_get_the_page() {
    let gw = Spawn::default().start();
    let page = get(&gw, "/").body;
    for path in ["/chat", "/sessions/agent:main:main", "/some/deep/path?x=1"] {
        let r = get(&gw, path);
        assert_eq!((r.status, r.body.as_str()), (200, page.as_str()), "SPA fallback for {path}");
    }
    let head = req(gw.addr, "HEAD", "/chat", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{}", head.body);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = req(gw.addr, method, "/chat", &[("Content-Type", "application/json")]);
        assert_eq!(r.status, 405, "{method}: {}", r.head);
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn a_base_path_redirects_without_its_slash_and_owns_only_its_subtree() {
    let gw = Spawn::default().config("{ gateway: { controlUi: { basePath: '/openclaw' } } }").start();
    let r = get(&gw, "/openclaw?session=abc&x=1");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/openclaw/?session=abc&x=1"));
    assert_eq!(get(&gw, "/openclaw").header("location"), Some("/openclaw/"));
    let page = get(&gw, "/openclaw/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("content=\"/openclaw/\""), "{}", page.body);
    let urls = asset_urls(&page.body);
    assert!(!urls.is_empty() && urls.iter().all(|u| u.starts_with("/openclaw/assets/")), "{urls:?}");
    assert_eq!(get(&gw, &urls[0]).status, 200);
    assert_eq!(get(&gw, "/openclaw/cron").body, page.body);
    assert_eq!(get(&gw, "/").status, 404, "outside the base path");
    assert_eq!(get(&gw, "/openclawx").status, 404);
    assert_eq!(get(&gw, "/healthz").status, 200);
}

#[test]
fn a_base_path_that_could_climb_out_or_leave_the_origin_is_refused_by_validation() {
    for bad in ["/../x", "//evil.example", "/a/./b", "ui", "/a b"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json5"),
            format!("{{ gateway: {{ controlUi: {{ basePath: '{bad}' }} }} }}"),
        )
        .unwrap();
        let (code, out, err) = common::run(dir.path(), &["config", "validate"], &[]);
        assert_eq!(code, 78, "{bad}: {out}{err}");
        assert!(
            err.contains("gateway.controlUi.basePath") || out.contains("gateway.controlUi.basePath"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_ui_can_be_turned_off_live() {
    let gw = Spawn::default().start();
    assert_eq!(get(&gw, "/").status, 200);
    common::write_by_rename(&gw.config_path(), "{ gateway: { controlUi: { enabled: false } } }");
    common::wait_until("the UI to be off after the reload", Duration::from_secs(10), || {
        (get(&gw, "/").status == 404).then_some(())
    });
    assert_eq!(get(&gw, "/healthz").status, 200);
    let mut ws = gw.ws();
    assert_eq!(ws.call("health", serde_json::json!({}))["ok"], true, "the WebSocket does not depend on the UI");
}

#[test]
fn the_avatar_route_answers_meta_and_refuses_unknown_agents() {
    let gw = Spawn::default().start();
    let r = get(&gw, "/avatar/main?meta=1");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.body).unwrap(), serde_json::json!({"avatarUrl": null}));
    // The default identity's avatar is an initial: there is no image to serve.
    assert_eq!(get(&gw, "/avatar/main").status, 404);
    assert_eq!(get(&gw, "/avatar/MAIN?meta=1").status, 200, "ids are case-insensitive");
    assert_eq!(get(&gw, "/avatar/nobody?meta=1").status, 404);
    assert_eq!(get(&gw, "/avatar/-bad?meta=1").status, 404);
    assert_eq!(get(&gw, &format!("/avatar/{}?meta=1", "a".repeat(65))).status, 404);
}

/// The fixture directory standing in for upstream's `dist/control-ui`.
fn fixture() -> String {
    format!("{}/tests/fixtures/control-ui", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_root_directory_is_served_with_its_globals_script_allowed_by_hash() {
    let cfg = format!("{{ gateway: {{ controlUi: {{ basePath: '/ui', root: '{}' }} }} }}", fixture());
    let gw = Spawn::default().config(&cfg).start();
    let r = get(&gw, "/ui/");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_hygiene(&r);
    let script = "window.__OPENCLAW_CONTROL_UI_BASE_PATH__=\"/ui\";window.__OPENCLAW_ASSISTANT_NAME__=\"Assistant\";window.__OPENCLAW_ASSISTANT_AVATAR__=\"A\";";
    let tag = format!("<script>{script}</script></head>");
    assert!(r.body.contains(&tag), "{}", r.body);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains(&format!("script-src 'self' 'sha256-{hash}';")), "{csp}");
    // Assets at any depth map to assets/ (upstream's rule); unknown paths get the page.
    let js = get(&gw, "/ui/assets/index-fixture.js");
    assert_eq!((js.status, js.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    assert_eq!(get(&gw, "/ui/chat/assets/index-fixture.js").body, js.body);
    assert_eq!(get(&gw, "/ui/chat").body, r.body);
    assert_eq!(get(&gw, "/ui/assets/missing.js").status, 404);
}

#[test]
fn traversal_out_of_the_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ui");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(root.join("index.html"), "<html><head></head><body>ui</body></html>").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("assets/link.txt")).unwrap();
    let cfg = format!("{{ gateway: {{ controlUi: {{ root: '{}' }} }} }}", root.display());
    let gw = Spawn::default().config(&cfg).start();
    for path in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2E%2E/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/link.txt",
    ] {
        let r = get(&gw, path);
        assert!(!r.body.contains("SECRET"), "{path} leaked: {}", r.body);
        assert_eq!(r.status, 404, "{path}");
    }
}

#[test]
fn a_missing_root_is_a_503_naming_the_key() {
    let gw = Spawn::default().config("{ gateway: { controlUi: { root: '/nonexistent/control-ui' } } }").start();
    let r = get(&gw, "/");
    assert_eq!(r.status, 503);
    assert!(r.body.contains("gateway.controlUi.root") && r.body.contains("/nonexistent/control-ui"), "{}", r.body);
    assert_eq!(get(&gw, "/healthz").status, 200);
}

#[test]
fn the_dashboard_url_carries_the_base_path_and_the_token_in_the_fragment() {
    let gw = Spawn::default().config("{ gateway: { controlUi: { basePath: '/oc/' } } }").start();
    let (code, out, _) = common::run(gw.state_path(), &["dashboard", "--no-open"], &[]);
    assert_eq!(code, 0, "{out}");
    let url = out.trim();
    assert!(url.ends_with(&format!("/oc/#token={}", gw.token())), "{url}");
}
