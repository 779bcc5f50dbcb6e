//! The built-in Control UI: files embedded in the binary, served under one content-hashed
//! directory (`{base}assets/<tag>/`) so relative module imports keep working and every
//! asset can be cached forever; the page itself is rendered per base path and never cached.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use sha2::{Digest, Sha256};

use super::{content_type, csp, hygienic, not_found};

/// The page; `{{base}}` and `{{assets}}` are filled in per request.
const INDEX: &str = include_str!("assets/index.html");

/// Every other embedded file, by the name the page and the modules use.
const FILES: &[(&str, &[u8])] = &[
    ("style.css", include_bytes!("assets/style.css")),
    ("app.js", include_bytes!("assets/app.js")),
    ("gateway.js", include_bytes!("assets/gateway.js")),
    ("device.js", include_bytes!("assets/device.js")),
    ("dom.js", include_bytes!("assets/dom.js")),
    ("chat.js", include_bytes!("assets/chat.js")),
    ("overview.js", include_bytes!("assets/overview.js")),
    ("sessions.js", include_bytes!("assets/sessions.js")),
    ("cron.js", include_bytes!("assets/cron.js")),
    ("devices.js", include_bytes!("assets/devices.js")),
    ("approvals.js", include_bytes!("assets/approvals.js")),
    ("memory.js", include_bytes!("assets/memory.js")),
    ("channels.js", include_bytes!("assets/channels.js")),
    ("config.js", include_bytes!("assets/config.js")),
    ("form.js", include_bytes!("assets/form.js")),
    ("logs.js", include_bytes!("assets/logs.js")),
    ("icon.svg", include_bytes!("assets/icon.svg")),
];

/// A year: the longest lifetime caches honour; the tag changes with any content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The first 12 hex digits of a hash over every embedded file, computed once.
pub fn tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, bytes) in FILES {
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        crate::sys::hex(&h.finalize())[..12].to_string()
    })
}

/// The page with its asset references pointing at the hashed directory under `base`.
fn page(base: &str) -> String {
    INDEX.replace("{{assets}}", &format!("{base}assets/{}", tag())).replace("{{base}}", base)
}

pub fn respond(rest: &str, base: &str) -> HttpResponse {
    let policy = csp("'self'", "'self'");
    let Some(asset) = rest.strip_prefix("assets/") else {
        // Any other path is a page of the app (client-side routes): the SPA fallback.
        return hygienic(StatusCode::OK, &policy)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .content_type("text/html; charset=utf-8")
            .body(page(base));
    };
    // An old tag names content this binary no longer has: not found, never today's file
    // under yesterday's immutable name.
    let found =
        asset.split_once('/').filter(|(t, _)| *t == tag()).and_then(|(_, name)| FILES.iter().find(|(n, _)| *n == name));
    match found {
        Some((name, bytes)) => hygienic(StatusCode::OK, &policy)
            .insert_header((header::CACHE_CONTROL, IMMUTABLE))
            .content_type(content_type(name))
            .body(*bytes),
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn the_embedded_ui_stays_under_250_kib_gzipped() {
        let mut total = 0;
        for bytes in FILES.iter().map(|(_, b)| *b).chain([INDEX.as_bytes()]) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(bytes).unwrap();
            total += gz.finish().unwrap().len();
        }
        assert!(total <= 250 * 1024, "{total} bytes gzipped");
    }

    #[test]
    fn the_page_names_hashed_assets_under_the_base_path() {
        let html = page("/x/");
        assert!(html.contains(&format!("/x/assets/{}/app.js", tag())), "{html}");
        assert!(!html.contains("{{"), "{html}");
        assert!(!html.contains("<script>"), "no inline script: {html}");
    }
}
