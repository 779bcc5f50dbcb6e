//! `gateway.controlUi.root`: an operator's Control UI build (upstream's `dist/control-ui`
//! layout: index.html and assets/) served from disk. Its page gets the inline script that
//! sets upstream's globals, allowed by the CSP through that script's hash and nothing else.

use std::path::{Path, PathBuf};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{content_type, csp, hygienic, not_found, text};
use crate::agents::roster;

/// What a request path resolves to inside the root.
#[derive(Debug, PartialEq)]
enum Target {
    /// A file to serve as is (relative to the root).
    File(PathBuf),
    /// The page (unknown paths too: the SPA fallback).
    Index,
    /// `..`, `.`, another dot-segment, a backslash, NUL or bad percent-encoding: never looked up.
    Refused,
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Maps the path below the base to a target. Any path with an `assets` segment maps to
/// `assets/...` from there (upstream's rule: the page is served at any depth).
fn target(rest: &str, exists: impl Fn(&Path) -> bool) -> Target {
    let Some(decoded) = decode(rest) else { return Target::Refused };
    let segs: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    // Hidden files (`.env`, `.git/`) are never part of a UI build: refused like `..`.
    if segs.iter().any(|s| s.starts_with('.') || s.contains(['\\', '\0'])) {
        return Target::Refused;
    }
    let from = segs.iter().position(|s| *s == "assets").unwrap_or(0);
    let rel: PathBuf = segs[from..].iter().collect();
    match segs.last() {
        None => Target::Index,
        Some(_) if rel == Path::new("index.html") => Target::Index,
        Some(_) if segs[from] == "assets" || exists(&rel) => Target::File(rel),
        Some(_) => Target::Index,
    }
}

/// JSON string literal safe inside `<script>` (no `</script>`, no `<!--`).
fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default().replace('<', "\\u003c")
}

/// The inline script with upstream's globals. Upstream's base path has no trailing slash
/// ("" at the root).
pub fn globals(base: &str, name: &str, avatar: &str) -> String {
    format!(
        "window.__OPENCLAW_CONTROL_UI_BASE_PATH__={};window.__OPENCLAW_ASSISTANT_NAME__={};window.__OPENCLAW_ASSISTANT_AVATAR__={};",
        js_string(base.trim_end_matches('/')),
        js_string(name),
        js_string(avatar)
    )
}

/// The page with `script` inserted before `</head>` (at the start when there is none).
fn inject(html: &str, script: &str) -> String {
    let tag = format!("<script>{script}</script>");
    match html.to_ascii_lowercase().find("</head>") {
        Some(at) => format!("{}{tag}{}", &html[..at], &html[at..]),
        None => format!("{tag}{html}"),
    }
}

/// The CSP source that allows exactly `script` inline.
fn hash_source(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

pub async fn respond(dir: PathBuf, rest: String, base: &str) -> HttpResponse {
    let who = roster::identity(roster::DEFAULT_AGENT);
    let script = globals(base, &who.name, &who.avatar);
    let read = web::block(move || -> Result<Option<(String, Vec<u8>)>, String> {
        if !dir.join("index.html").is_file() {
            return Err(format!(
                "Control UI assets not found: gateway.controlUi.root is {} and has no index.html\n",
                dir.display()
            ));
        }
        let file = match target(&rest, |rel| dir.join(rel).is_file()) {
            Target::Refused => return Ok(None),
            Target::Index => PathBuf::from("index.html"),
            Target::File(rel) => rel,
        };
        // A symlink inside the root may not lead out of it.
        let (Ok(root), Ok(full)) = (dir.canonicalize(), dir.join(&file).canonicalize()) else {
            return Ok(None);
        };
        if !full.starts_with(&root) {
            return Ok(None);
        }
        let bytes = std::fs::read(&full).map_err(|e| format!("cannot read {}: {e}\n", full.display()))?;
        Ok(Some((file.to_string_lossy().into_owned(), bytes)))
    })
    .await;
    let (name, bytes) = match read {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return not_found(),
        Ok(Err(message)) => return text(StatusCode::SERVICE_UNAVAILABLE, message),
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("Control UI: {e}\n")),
    };
    // Upstream's builds may set styles inline; only scripts are held to their hashes.
    let style = "'self' 'unsafe-inline'";
    if name == "index.html" {
        let policy = csp(&format!("'self' {}", hash_source(&script)), style);
        return hygienic(StatusCode::OK, &policy)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .content_type("text/html; charset=utf-8")
            .body(inject(&String::from_utf8_lossy(&bytes), &script));
    }
    // The build's file names are its own business: revalidate rather than trust them.
    hygienic(StatusCode::OK, &csp("'self'", style))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type(content_type(&name))
        .body(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rest: &str) -> Target {
        target(rest, |p| p == Path::new("favicon.svg"))
    }

    #[test]
    fn paths_map_to_assets_files_or_the_page() {
        assert_eq!(t(""), Target::Index);
        assert_eq!(t("index.html"), Target::Index);
        assert_eq!(t("chat"), Target::Index);
        assert_eq!(t("favicon.svg"), Target::File("favicon.svg".into()));
        assert_eq!(t("assets/index-abc.js"), Target::File("assets/index-abc.js".into()));
        assert_eq!(t("deep/page/assets/x.css"), Target::File("assets/x.css".into()));
    }

    #[test]
    fn traversal_is_refused_encoded_or_not() {
        for bad in [
            "../etc/passwd",
            "assets/../../x",
            "%2e%2e/x",
            "assets/%2E%2E/%2e%2e/x",
            "a\\b",
            "%00",
            "%zz",
            ".env",
            "assets/.git/config",
        ] {
            assert_eq!(t(bad), Target::Refused, "{bad}");
        }
    }

    #[test]
    fn the_globals_script_goes_before_head_end_and_cannot_close_itself() {
        let s = globals("/x/", "</script><b>", "A");
        assert!(s.starts_with("window.__OPENCLAW_CONTROL_UI_BASE_PATH__=\"/x\";"), "{s}");
        assert!(!s.contains("</"), "{s}");
        assert_eq!(globals("/", "n", "a").split(';').next().unwrap(), "window.__OPENCLAW_CONTROL_UI_BASE_PATH__=\"\"");
        let html = inject("<html><HEAD><title>t</title></HEAD><body></body></html>", "x()");
        assert_eq!(html, "<html><HEAD><title>t</title><script>x()</script></HEAD><body></body></html>");
    }
}
