//! `web_fetch {url, maxChars?}`: GET an http(s) URL through the address guard ([`super::ssrf`]),
//! following at most three redirects (each one checked again), and answer its readable text:
//! HTML rendered to plain text, other text as it is, anything else refused. In a sandboxed
//! session only hosts on the sandbox's domain allowlist, matched as the egress proxy does.

use std::time::Duration;

use serde::Deserialize;

use super::Output;
use super::ssrf::{GuardedResolver, refusal};

pub const DEFAULT_MAX_CHARS: usize = 50_000;
const MAX_REDIRECTS: usize = 3;
/// Bytes read from a response, whatever `maxChars` asks.
const MAX_BODY: usize = 5 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    pub url: String,
    #[serde(default)]
    pub max_chars: Option<usize>,
}

/// Refuses what is not http(s), hosts off a sandboxed session's domain allowlist (`domains`),
/// and IP literals outside public space (names are checked by the resolver, which the
/// connector skips for literals).
fn check_url(u: &url::Url, allow_private: bool, domains: Option<&[String]>) -> Result<(), String> {
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("web_fetch: only http and https URLs ({u})"));
    }
    if let Some(allow) = domains {
        let host = u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        if !crate::sandbox::domain_allowed(host, allow) {
            return Err(format!(
                "web_fetch refused: {host} is not on the sandbox's domain allowlist \
                 (agents.defaults.sandbox.allowlist.domains), and this session is sandboxed"
            ));
        }
    }
    match u.host() {
        Some(url::Host::Ipv4(ip)) => refusal(&ip.to_string(), ip.into(), allow_private).map_or(Ok(()), Err),
        Some(url::Host::Ipv6(ip)) => refusal(&ip.to_string(), ip.into(), allow_private).map_or(Ok(()), Err),
        Some(url::Host::Domain(_)) => Ok(()),
        None => Err(format!("web_fetch: no host in {u}")),
    }
}

pub async fn run(a: Args, allow_private: bool, domains: Option<&[String]>) -> Output {
    let max_chars = a.max_chars.unwrap_or(DEFAULT_MAX_CHARS).clamp(100, 1_000_000);
    let mut u = match url::Url::parse(&a.url) {
        Ok(u) => u,
        Err(e) => return Output::error(format!("web_fetch: bad URL {:?}: {e}", a.url)),
    };
    // The guarded resolver inside the TCP connector: the addresses it checked are the ones
    // connected to.
    let resolver = actix_tls::connect::Resolver::custom(GuardedResolver { allow_private });
    let connector =
        awc::Connector::new().connector(actix_tls::connect::Connector::new(resolver).service()).timeout(TIMEOUT);
    let client = awc::Client::builder().connector(connector).timeout(TIMEOUT).disable_redirects().finish();
    for _ in 0..=MAX_REDIRECTS {
        if let Err(e) = check_url(&u, allow_private, domains) {
            return Output::error(e);
        }
        let mut resp = match client.get(u.as_str()).insert_header(("user-agent", "openclaw-web-fetch")).send().await {
            Ok(r) => r,
            Err(e) => return Output::error(format!("web_fetch {u}: {e}")),
        };
        let status = resp.status();
        if status.is_redirection() {
            let next = resp.headers().get("location").and_then(|l| l.to_str().ok()).and_then(|l| u.join(l).ok());
            match next {
                Some(n) => {
                    u = n;
                    continue;
                }
                None => return Output::error(format!("web_fetch {u}: {status} without a usable Location")),
            }
        }
        let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let body = match resp.body().limit(MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return Output::error(format!("web_fetch {u}: reading the body failed: {e}")),
        };
        let text = match readable(&ctype, &body) {
            Ok(t) => t,
            Err(e) => return Output::error(format!("web_fetch {u}: {e}")),
        };
        let total = text.chars().count();
        let mut text: String = text.chars().take(max_chars).collect();
        if total > max_chars {
            text.push_str(&format!("\n[truncated: {max_chars} of {total} characters]"));
        }
        let head = format!("URL: {u}\nStatus: {}\nContent-Type: {ctype}\n\n", status.as_u16());
        let out = format!("{head}{text}");
        return if status.is_success() { Output::ok(out) } else { Output::error(out) };
    }
    Output::error(format!("web_fetch: more than {MAX_REDIRECTS} redirects"))
}

/// The readable text of a body.
pub fn readable(ctype: &str, body: &[u8]) -> Result<String, String> {
    let looks_html = ctype.contains("html") || (ctype.is_empty() && body.trim_ascii_start().starts_with(b"<"));
    if looks_html {
        return html2text::config::plain()
            .string_from_read(body, 100)
            .map_err(|e| format!("the page could not be rendered as text: {e}"));
    }
    let texty = ctype.is_empty()
        || ctype.starts_with("text/")
        || ["json", "xml", "javascript", "yaml", "csv"].iter().any(|t| ctype.contains(t));
    if !texty {
        return Err(format!("{ctype} is not text; not fetched"));
    }
    Ok(String::from_utf8_lossy(body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text_without_markup_or_scripts() {
        let t = readable("text/html; charset=utf-8", b"<html><head><script>evil()</script><style>p{}</style></head><body><h1>Title</h1><p>Hello <b>world</b></p></body></html>").unwrap();
        assert!(t.contains("Title") && t.contains("Hello world"), "{t}");
        assert!(!t.contains("evil") && !t.contains('<'), "{t}");
        assert!(readable("image/png", b"\x89PNG").is_err());
        assert_eq!(readable("application/json", b"{\"a\":1}").unwrap(), "{\"a\":1}");
    }

    #[test]
    fn only_http_urls_and_public_literals_pass_the_url_check() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(check_url(&u("file:///etc/passwd"), false, None).is_err());
        assert!(check_url(&u("http://127.0.0.1:8080/"), false, None).unwrap_err().contains("127.0.0.1"));
        assert!(check_url(&u("http://[::1]/"), false, None).is_err());
        assert!(check_url(&u("http://10.0.0.1/"), false, None).is_err());
        assert!(check_url(&u("http://169.254.169.254/latest/meta-data"), false, None).is_err());
        assert!(check_url(&u("http://127.0.0.1:8080/"), true, None).is_ok());
        assert!(check_url(&u("https://example.com/"), false, None).is_ok());
    }

    #[test]
    fn a_sandboxed_session_fetches_only_from_the_domain_allowlist() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let allow = ["docs.rs".to_string(), "*.github.com".to_string()];
        let sandboxed = Some(&allow[..]);
        assert!(check_url(&u("https://docs.rs/x"), false, sandboxed).is_ok());
        assert!(check_url(&u("https://raw.github.com/x"), false, sandboxed).is_ok());
        let e = check_url(&u("https://example.com/"), false, sandboxed).unwrap_err();
        assert!(e.contains("example.com is not on the sandbox's domain allowlist"), "{e}");
        assert!(check_url(&u("https://github.com/"), false, sandboxed).is_err(), "*.x is not x");
        assert!(check_url(&u("http://[2606:4700::1111]/"), false, sandboxed).is_err());
        assert!(check_url(&u("https://example.com/"), false, Some(&[])).is_err(), "an empty list allows nothing");
    }
}
