//! Which HTTP requests may reach the gateway at all: the Host rule (DNS rebinding), the Origin,
//! `Sec-Fetch-Site` and Content-Type rules (request forgery) and CORS. Pure: the HTTP edge
//! feeds it the headers and turns a refusal into a response.

use std::net::IpAddr;

/// What the rules look at, from the gateway's config and the running listener.
#[derive(Debug, Clone, Default)]
pub struct Policy<'a> {
    /// `gateway.host`.
    pub configured_host: Option<&'a str>,
    /// `gateway.allowedHosts` (a leading dot matches subdomains).
    pub allowed_hosts: &'a [String],
    /// `gateway.controlUi.allowedOrigins` ("*" allows any).
    pub allowed_origins: &'a [String],
    /// This machine's name (also answered as `<name>.local`, the mDNS name).
    pub machine: &'a str,
    /// The bind is `tailnet`: MagicDNS names (`*.ts.net`) reach it directly.
    pub tailnet: bool,
}

/// The headers of one request that the rules read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// A WebSocket upgrade (state-changing: it opens an RPC session).
    pub upgrade: bool,
    /// The socket peer is one of `gateway.trustedProxies`: it vouches for the Host it forwards.
    pub via_trusted_proxy: bool,
}

/// Why a request is refused; the HTTP edge maps each to a status and a message naming the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403: a Host this gateway does not answer to (a DNS-rebinding page).
    Host(String),
    /// 403: a browser request from another site.
    Origin(String),
    /// 403: `Sec-Fetch-Site: cross-site` without an allowed Origin.
    CrossSite,
    /// 415: a state-changing request that is not JSON (a CORS "simple request" could forge it).
    ContentType(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Self::ContentType(_) => 415,
            _ => 403,
        }
    }

    /// The message for the client: it names the fix, never a secret or a path.
    pub fn message(&self) -> String {
        match self {
            Self::Host(h) => format!(
                "host not allowed ({h}): this gateway answers to local names, IP addresses, gateway.host and this machine's name; add the name to gateway.allowedHosts, or put it behind a proxy listed in gateway.trustedProxies"
            ),
            Self::Origin(o) => format!("origin not allowed ({o}); add it to gateway.controlUi.allowedOrigins"),
            Self::CrossSite => {
                "cross-site request refused (Sec-Fetch-Site: cross-site); add the page's origin to gateway.controlUi.allowedOrigins".into()
            }
            Self::ContentType(t) => format!(
                "unsupported content type ({t}): send the request body as JSON with Content-Type: application/json"
            ),
        }
    }
}

/// The host name of a `Host` header or of an origin's authority, without port or brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match authority.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => n,
        _ => authority,
    }
}

/// Whether the gateway answers to this `Host`. A rebinding page's Host is the attacker's DNS
/// name; IP literals and local names cannot be rebound, so they always pass.
pub fn host_allowed(host: Option<&str>, via_trusted_proxy: bool, p: &Policy) -> bool {
    // No Host: not a browser (browsers always send it), so not a rebinding page.
    let Some(host) = host else { return true };
    if via_trusted_proxy {
        return true;
    }
    let name = host_name(host.trim()).trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    let is = |other: &str| name.eq_ignore_ascii_case(other.trim_end_matches('.'));
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || p.configured_host.is_some_and(is)
        || (!p.machine.is_empty() && (is(p.machine) || name == format!("{}.local", p.machine.to_ascii_lowercase())))
        || (p.tailnet && name.ends_with(".ts.net"))
        || p.allowed_hosts.iter().any(|a| match a.strip_prefix('.') {
            Some(suffix) => name.ends_with(&format!(".{}", suffix.to_ascii_lowercase())) || is(suffix),
            None => is(a),
        })
}

/// An origin listed in `gateway.controlUi.allowedOrigins` (exact scheme://host[:port], or "*").
pub fn origin_listed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    origin != "null" && allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The page's origin is the gateway itself: its authority equals the Host it sent.
pub fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest).trim_end_matches('/');
    host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
}

/// A browser's Origin is acceptable: the gateway's own, or listed. No Origin: not a browser.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    origin.is_none_or(|o| same_origin(o, host) || origin_listed(o, allowed))
}

fn safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.and_then(|t| t.split(';').next()).is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks one request. State-changing requests (anything but GET/HEAD/OPTIONS, and WebSocket
/// upgrades) must come from no browser, the gateway's own origin or an allowed one; those
/// with a body must be JSON. The Host rule applies to every request.
pub fn check(f: &Facts, p: &Policy) -> Result<(), Refusal> {
    if !host_allowed(f.host, f.via_trusted_proxy, p) {
        return Err(Refusal::Host(f.host.unwrap_or_default().to_string()));
    }
    if safe_method(f.method) && !f.upgrade {
        return Ok(());
    }
    if let Some(o) = f.origin
        && !origin_allowed(Some(o), f.host, p.allowed_origins)
    {
        return Err(Refusal::Origin(o.to_string()));
    }
    let listed = f.origin.is_some_and(|o| origin_listed(o, p.allowed_origins));
    if f.sec_fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) && !listed {
        return Err(Refusal::CrossSite);
    }
    if !f.upgrade && !is_json(f.content_type) {
        return Err(Refusal::ContentType(f.content_type.unwrap_or("none").to_string()));
    }
    Ok(())
}

/// The CORS answer for a cross-origin request: `Some(origin)` to echo in
/// `Access-Control-Allow-Origin` only for a listed origin; nothing (no CORS headers) otherwise.
pub fn cors_origin<'a>(origin: Option<&'a str>, host: Option<&str>, allowed: &[String]) -> Option<&'a str> {
    origin.filter(|o| !same_origin(o, host) && origin_listed(o, allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy<'a>(hosts: &'a [String], origins: &'a [String]) -> Policy<'a> {
        Policy {
            configured_host: Some("gw.internal"),
            allowed_hosts: hosts,
            allowed_origins: origins,
            machine: "kitchen",
            tailnet: false,
        }
    }

    fn post<'a>(host: &'a str, origin: Option<&'a str>, ct: Option<&'a str>) -> Facts<'a> {
        Facts { method: "POST", host: Some(host), origin, content_type: ct, ..Default::default() }
    }

    #[test]
    fn hosts_that_cannot_be_rebound_pass_and_foreign_names_do_not() {
        let hosts = vec!["gw.example.com".to_string(), ".home.arpa".to_string()];
        let p = policy(&hosts, &[]);
        for ok in [
            "localhost:18789",
            "127.0.0.1:18789",
            "[::1]:18789",
            "192.168.1.20",
            "app.localhost",
            "gw.internal:443",
            "KITCHEN",
            "kitchen.local:18789",
            "gw.example.com",
            "box.home.arpa",
            "home.arpa",
        ] {
            assert!(host_allowed(Some(ok), false, &p), "{ok}");
        }
        for bad in ["evil.example", "evil.example:18789", "localhost.evil.example", "kitchen.evil", "x.ts.net", ""] {
            assert!(!host_allowed(Some(bad), false, &p), "{bad}");
        }
        assert!(host_allowed(Some("evil.example"), true, &p), "a trusted proxy vouches for its Host");
        assert!(host_allowed(None, false, &p));
        assert!(host_allowed(Some("x.ts.net"), false, &Policy { tailnet: true, ..p }));
    }

    #[test]
    fn forged_posts_are_refused() {
        let p = policy(&[], &[]);
        let evil = Some("https://evil.example");
        assert_eq!(
            check(&post("localhost:18789", evil, Some("text/plain")), &p),
            Err(Refusal::Origin("https://evil.example".into()))
        );
        assert_eq!(check(&post("localhost:18789", evil, Some("application/json")), &p).unwrap_err().status(), 403);
        for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data"), None] {
            let r = check(&post("localhost:18789", None, ct), &p).unwrap_err();
            assert_eq!(r.status(), 415, "{ct:?}");
        }
        let cross =
            Facts { sec_fetch_site: Some("cross-site"), ..post("localhost:18789", None, Some("application/json")) };
        assert_eq!(check(&cross, &p), Err(Refusal::CrossSite));
        assert_eq!(
            check(&post("localhost:18789", Some("null"), Some("application/json")), &p).unwrap_err().status(),
            403
        );
    }

    #[test]
    fn same_origin_and_listed_origins_pass() {
        let origins = vec!["https://ui.example".to_string()];
        let p = policy(&[], &origins);
        let json = Some("application/json; charset=utf-8");
        assert_eq!(check(&post("localhost:18789", Some("http://localhost:18789"), json), &p), Ok(()));
        assert_eq!(check(&post("localhost:18789", None, json), &p), Ok(()), "no Origin: not a browser");
        let listed =
            Facts { sec_fetch_site: Some("cross-site"), ..post("localhost:18789", Some("https://ui.example"), json) };
        assert_eq!(check(&listed, &p), Ok(()));
        assert_eq!(check(&post("localhost:18789", Some("http://localhost:9999"), json), &p).unwrap_err().status(), 403);
    }

    #[test]
    fn upgrades_are_checked_like_writes_and_reads_are_not() {
        let p = policy(&[], &[]);
        let ws = Facts {
            method: "GET",
            host: Some("localhost"),
            origin: Some("https://evil.example"),
            upgrade: true,
            ..Default::default()
        };
        assert_eq!(check(&ws, &p), Err(Refusal::Origin("https://evil.example".into())));
        assert_eq!(check(&Facts { origin: None, ..ws }, &p), Ok(()), "an upgrade needs no content type");
        let read = Facts { upgrade: false, ..ws };
        assert_eq!(check(&read, &p), Ok(()), "a read gets no CORS headers, so the page cannot see it");
        let rebinding = Facts { host: Some("evil.example"), ..read };
        assert_eq!(check(&rebinding, &p), Err(Refusal::Host("evil.example".into())));
    }

    #[test]
    fn cors_is_granted_only_to_listed_cross_origins() {
        let origins = vec!["https://ui.example".to_string()];
        assert_eq!(cors_origin(Some("https://ui.example"), Some("localhost"), &origins), Some("https://ui.example"));
        assert_eq!(cors_origin(Some("https://evil.example"), Some("localhost"), &origins), None);
        assert_eq!(cors_origin(Some("http://localhost"), Some("localhost"), &origins), None, "same origin needs none");
        assert_eq!(cors_origin(Some("null"), Some("localhost"), &["*".into()]), None);
    }
}
