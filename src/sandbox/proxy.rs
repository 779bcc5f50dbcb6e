//! The egress proxy: the only way out of a sandbox. It serves HTTP `CONNECT` (any TLS
//! traffic) and plain forward requests (`GET http://host/...`) on a Unix socket bound into
//! the sandbox, lets through only names on the domain allowlist that resolve to public
//! addresses, and never the gateway's own port. Everything else gets a 403 saying why, and a
//! log line.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;

use crate::tools::ssrf;

/// What the proxy lets through.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `allowlist.domains`: exact names, `*.suffix`, `*`.
    pub allow: Vec<String>,
    /// The gateway's configured ports: refused on every local address, whatever the name.
    pub gateway_ports: Vec<u16>,
}

/// Longest request head accepted from the sandbox.
const MAX_HEAD: usize = 16 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the proxy on `listener` until it fails; each connection on its own task. `bound` is
/// where the gateway actually listens, read per connection: the configured port says nothing
/// when it is 0 (an ephemeral port) or while a port change is being applied.
pub async fn serve(
    listener: UnixListener,
    policy: watch::Receiver<Arc<Policy>>,
    bound: watch::Receiver<Vec<SocketAddr>>,
) {
    loop {
        let Ok((conn, _)) = listener.accept().await else { return };
        let policy = policy.borrow().clone();
        let mut gateway_ports: Vec<u16> = bound.borrow().iter().map(SocketAddr::port).collect();
        gateway_ports.extend(policy.gateway_ports.iter().copied().filter(|&p| p != 0));
        tokio::spawn(async move {
            if let Err(e) = handle(conn, &policy, &gateway_ports).await {
                tracing::debug!(error = %e, "sandbox egress connection ended");
            }
        });
    }
}

/// A request that will not be carried, and what the sandbox is told.
struct Refusal {
    status: u16,
    reason: String,
}

async fn handle(mut conn: UnixStream, policy: &Policy, gateway_ports: &[u16]) -> io::Result<()> {
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut conn)).await {
        Ok(r) => r?,
        Err(_) => return Ok(()),
    };
    let target = match parse(&head) {
        Ok(t) => t,
        Err(reason) => return refuse(&mut conn, Refusal { status: 400, reason }).await,
    };
    match open(&target, policy, gateway_ports).await {
        Ok(mut upstream) => {
            if target.connect {
                conn.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
            } else {
                upstream.write_all(&target.forward_head).await?;
            }
            upstream.write_all(&rest).await?;
            tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
            Ok(())
        }
        Err(r) => {
            tracing::warn!(host = %target.host, port = target.port, status = r.status, reason = %r.reason, "sandbox egress refused");
            refuse(&mut conn, r).await
        }
    }
}

/// The request head (through its blank line) and any bytes read past it.
async fn read_head(conn: &mut UnixStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a request"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("request head too large"));
        }
    }
}

/// Where a request goes, and for a forward request the head to send upstream.
#[derive(Debug)]
struct Target {
    connect: bool,
    host: String,
    port: u16,
    forward_head: Vec<u8>,
}

fn parse(head: &[u8]) -> Result<Target, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("malformed request".into()),
    }
    let (method, uri) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_authority(uri, 443)?;
        return Ok(Target { connect: true, host, port, forward_head: Vec::new() });
    }
    let Some(after) = uri.strip_prefix("http://") else {
        return Err(format!("only CONNECT and absolute http:// requests go through this proxy, not {uri:?}"));
    };
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let (host, port) = split_authority(authority, 80)?;
    // Origin-form to the server; hop-by-hop and proxy headers dropped; one request per connection.
    let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if name.starts_with("proxy-") || name == "connection" || name == "keep-alive" {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Target { connect: false, host, port, forward_head: out })
}

fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("bad host in {authority:?}");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
        (h, tail.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => default_port,
    };
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// Checks the name, resolves it, refuses the gateway itself (on any of `gateway_ports`),
/// connects to the resolved address (the one checked: no second lookup an attacker's DNS could
/// answer differently).
async fn open(t: &Target, policy: &Policy, gateway_ports: &[u16]) -> Result<TcpStream, Refusal> {
    if !super::domain_allowed(&t.host, &policy.allow) {
        return Err(Refusal {
            status: 403,
            reason: format!(
                "{} is not on the sandbox's domain allowlist (agents.defaults.sandbox.allowlist.domains)",
                t.host
            ),
        });
    }
    let (addrs, overridden) = resolve(&t.host, t.port)
        .await
        .map_err(|e| Refusal { status: 502, reason: format!("cannot resolve {}: {e}", t.host) })?;
    let local = local_addresses();
    let allowed: Vec<SocketAddr> =
        addrs.into_iter().filter(|a| !(gateway_ports.contains(&a.port()) && is_local(a.ip(), &local))).collect();
    if allowed.is_empty() {
        return Err(Refusal { status: 403, reason: "the gateway itself is not reachable from the sandbox".into() });
    }
    // An allowlisted name must not lead to this host's or the LAN's services (a name the
    // operator trusts can still resolve anywhere); the whole answer is refused, as web_fetch
    // does. Only the tests' resolver override maps a name to a local address.
    if !overridden && let Some(bad) = allowed.iter().find(|a| !ssrf::is_public(a.ip())) {
        return Err(Refusal {
            status: 403,
            reason: format!(
                "{} resolves to {}, a private, loopback or link-local address; the sandbox reaches only public addresses",
                t.host,
                bad.ip()
            ),
        });
    }
    let mut last = None;
    for addr in allowed {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = Some(e.to_string()),
            Err(_) => last = Some("timed out".into()),
        }
    }
    Err(Refusal {
        status: 502,
        reason: format!("cannot connect to {}:{}: {}", t.host, t.port, last.unwrap_or_default()),
    })
}

/// The addresses of `host`, and whether they came from the tests' resolver override.
async fn resolve(host: &str, port: u16) -> io::Result<(Vec<SocketAddr>, bool)> {
    if let Some(ip) = ssrf::test_override(host) {
        return Ok((vec![SocketAddr::new(ip, port)], true));
    }
    Ok((tokio::net::lookup_host((host, port)).await?.collect(), false))
}

fn is_local(ip: IpAddr, local: &[IpAddr]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified() || local.contains(&ip)
}

/// This host's interface addresses.
fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap with a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut cur = ifap;
        while !cur.is_null() {
            let sa = (*cur).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(sa as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(sa as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

async fn refuse(conn: &mut UnixStream, r: Refusal) -> io::Result<()> {
    let text = match r.status {
        400 => "Bad Request",
        403 => "Forbidden",
        _ => "Bad Gateway",
    };
    let body = format!("{}\n", r.reason);
    let resp = format!(
        "HTTP/1.1 {} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        r.status,
        body.len()
    );
    conn.write_all(resp.as_bytes()).await?;
    conn.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_and_forward_requests_name_their_target() {
        let t = parse(b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n").unwrap();
        assert!(t.connect);
        assert_eq!((t.host.as_str(), t.port), ("api.example.com", 443));
        let t = parse(b"GET http://Example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: x\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(!t.connect);
        assert_eq!((t.host.as_str(), t.port), ("example.com", 8080));
        let head = String::from_utf8(t.forward_head).unwrap();
        assert!(head.starts_with("GET /a?b=1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Host: example.com\r\n"));
        assert!(!head.to_ascii_lowercase().contains("proxy-authorization"));
        assert!(head.ends_with("Connection: close\r\n\r\n"));
        assert_eq!(parse(b"GET http://[::1]/ HTTP/1.1\r\n\r\n").unwrap().host, "::1");
    }

    #[test]
    fn other_requests_are_refused_with_a_reason() {
        assert!(parse(b"GET /local HTTP/1.1\r\n\r\n").unwrap_err().contains("only CONNECT"));
        assert!(parse(b"GET https://x/ HTTP/1.1\r\n\r\n").is_err());
        assert!(parse(b"CONNECT :443 HTTP/1.1\r\n\r\n").is_err());
        assert!(parse(b"CONNECT host:notaport HTTP/1.1\r\n\r\n").is_err());
        assert!(parse(b"\x00\x01garbage\r\n\r\n").is_err());
    }

    #[test]
    fn the_gateway_port_is_local_on_every_local_address() {
        let local = vec!["192.168.1.5".parse().unwrap()];
        assert!(is_local("127.0.0.1".parse().unwrap(), &local));
        assert!(is_local("127.3.4.5".parse().unwrap(), &local));
        assert!(is_local("::1".parse().unwrap(), &local));
        assert!(is_local("::ffff:127.0.0.1".parse().unwrap(), &local));
        assert!(is_local("0.0.0.0".parse().unwrap(), &local));
        assert!(is_local("192.168.1.5".parse().unwrap(), &local));
        assert!(!is_local("93.184.216.34".parse().unwrap(), &local));
        assert!(local_addresses().iter().any(|a| a.is_loopback()), "lo is listed");
    }
}
