//! Who is on the other end: the client address behind trusted proxies, and whether the
//! connection is local-direct (loopback, local Host, no forwarding from an untrusted peer).

use std::net::IpAddr;

/// What the HTTP upgrade request says about the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// The TCP peer.
    pub socket: Option<IpAddr>,
    pub host: Option<String>,
    pub forwarded_for: Option<String>,
    /// Any forwarding header at all (X-Forwarded-*, Forwarded, X-Real-IP).
    pub has_forwarding: bool,
    /// `Tailscale-User-Login`.
    pub tailscale_user: Option<String>,
}

/// The resolved view used by auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub ip: Option<IpAddr>,
    pub local_direct: bool,
    /// The socket peer is a configured trusted proxy.
    pub via_trusted_proxy: bool,
}

/// An address or CIDR from `gateway.trustedProxies`.
pub fn matches(entry: &str, ip: IpAddr) -> bool {
    let (net, bits) = match entry.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (entry, None),
    };
    let Ok(net) = net.trim().parse::<IpAddr>() else { return false };
    match (net, ip, bits) {
        (a, b, None) => a == b,
        (IpAddr::V4(n), IpAddr::V4(i), Some(b)) if b <= 32 => {
            let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i), Some(b)) if b <= 128 => {
            let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn host_is_local(host: Option<&str>) -> bool {
    let Some(h) = host else { return false };
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(h, |(n, _)| n)
    };
    matches!(name.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "::1") || name.ends_with(".ts.net")
}

pub fn resolve(info: &PeerInfo, trusted: &[String]) -> Peer {
    let via_trusted_proxy = info.socket.is_some_and(|s| trusted.iter().any(|t| matches(t, s)));
    let ip = if via_trusted_proxy {
        // Right-most X-Forwarded-For entry that is not itself a trusted proxy.
        let forwarded = info.forwarded_for.as_deref().and_then(|xff| {
            xff.split(',')
                .rev()
                .filter_map(|p| p.trim().parse::<IpAddr>().ok())
                .find(|a| !trusted.iter().any(|t| matches(t, *a)))
        });
        forwarded.or(info.socket)
    } else {
        info.socket
    };
    let forwarding_ok = !info.has_forwarding || via_trusted_proxy;
    let local_direct = ip.is_some_and(|a| a.is_loopback()) && host_is_local(info.host.as_deref()) && forwarding_ok;
    if info.has_forwarding && !via_trusted_proxy {
        tracing::warn!(peer = ?info.socket, "proxy headers from an untrusted address: not treated as local; configure gateway.trustedProxies if this is your proxy");
    }
    Peer { ip, local_direct, via_trusted_proxy }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(socket: &str, host: &str) -> PeerInfo {
        PeerInfo { socket: socket.parse().ok(), host: Some(host.into()), ..Default::default() }
    }

    #[test]
    fn loopback_with_local_host_is_local_direct() {
        assert!(resolve(&info("127.0.0.1", "127.0.0.1:18789"), &[]).local_direct);
        assert!(resolve(&info("::1", "[::1]:18789"), &[]).local_direct);
        assert!(resolve(&info("127.0.0.1", "localhost"), &[]).local_direct);
        assert!(!resolve(&info("127.0.0.1", "gateway.example.com"), &[]).local_direct);
        assert!(!resolve(&info("10.0.0.5", "localhost"), &[]).local_direct);
    }

    #[test]
    fn forwarding_from_an_untrusted_loopback_proxy_is_not_local() {
        let mut i = info("127.0.0.1", "localhost");
        i.has_forwarding = true;
        i.forwarded_for = Some("203.0.113.9".into());
        let p = resolve(&i, &[]);
        assert!(!p.local_direct);
        assert_eq!(p.ip, "127.0.0.1".parse().ok(), "untrusted headers are ignored");
    }

    #[test]
    fn a_trusted_proxy_passes_the_client_address() {
        let mut i = info("127.0.0.1", "localhost");
        i.has_forwarding = true;
        i.forwarded_for = Some("203.0.113.9, 127.0.0.1".into());
        let p = resolve(&i, &["127.0.0.1".into()]);
        assert_eq!(p.ip, "203.0.113.9".parse().ok());
        assert!(!p.local_direct, "a remote client behind the proxy is remote");
        i.forwarded_for = Some("127.0.0.1".into());
        assert!(resolve(&i, &["127.0.0.0/8".into()]).local_direct);
    }

    #[test]
    fn cidr_matching() {
        assert!(matches("10.0.0.0/8", "10.1.2.3".parse().unwrap()));
        assert!(!matches("10.0.0.0/8", "11.1.2.3".parse().unwrap()));
        assert!(matches("fd00::/8", "fd12::1".parse().unwrap()));
        assert!(matches("192.168.1.1", "192.168.1.1".parse().unwrap()));
        assert!(!matches("garbage", "192.168.1.1".parse().unwrap()));
    }
}
