//! The address guard web_fetch connects through: a name is resolved once, every address it
//! resolves to must be public (no loopback, private, link-local, shared, multicast or reserved
//! ranges, IPv4-mapped or NAT64 forms included), and the connection goes to exactly those
//! addresses, so a second lookup (DNS rebinding) cannot swap in another one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use futures_util::future::LocalBoxFuture;

/// The test-only override: with this variable set to `1`, a debug build (the test suite's)
/// lets web_fetch reach private addresses. Release builds ignore it.
pub const ALLOW_PRIVATE_ENV: &str = "OPENCLAW_DANGEROUS_WEB_FETCH_ALLOW_PRIVATE";

/// Whether the override is on (never in a release build).
pub fn allow_private(env_value: Option<&str>) -> bool {
    cfg!(debug_assertions) && env_value == Some("1")
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// Whether `ip` may be fetched from.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

/// Why `ip` may not be fetched, or `None`.
pub fn refusal(host: &str, ip: IpAddr, allow_private: bool) -> Option<String> {
    (!allow_private && !is_public(ip))
        .then(|| format!("web_fetch refused: {host} resolves to {ip}, a private, loopback or link-local address"))
}

/// Test builds only: `OPENCLAW_TEST_RESOLVE=name=ip,...` maps names to local fakes, for
/// web_fetch and the sandbox's egress proxy alike. A mapped name skips the address guard (the
/// test chose its address); nothing else reaches a private address that way.
#[cfg(feature = "fault-injection")]
pub fn test_override(host: &str) -> Option<IpAddr> {
    let v = std::env::var("OPENCLAW_TEST_RESOLVE").ok()?;
    v.split(',').find_map(|pair| pair.split_once('=').filter(|(n, _)| n.eq_ignore_ascii_case(host))?.1.parse().ok())
}

/// Without the `fault-injection` feature (every real build) no name is overridden.
#[cfg(not(feature = "fault-injection"))]
pub fn test_override(_host: &str) -> Option<IpAddr> {
    None
}

/// A resolver for awc's connector that drops nothing silently: a name with any non-public
/// address is refused whole (a mixed answer is an attack or a misconfiguration).
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            if let Some(ip) = test_override(host) {
                return Ok(vec![SocketAddr::new(ip, port)]);
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} did not resolve").into());
            }
            if let Some(why) = addrs.iter().find_map(|a| refusal(host, a.ip(), self.allow_private)) {
                return Err(why.into());
            }
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused_in_every_spelling() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101"] {
            assert!(is_public(good.parse().unwrap()), "{good} is public");
        }
    }

    #[test]
    fn the_override_is_only_honoured_as_exactly_1() {
        assert!(!allow_private(None));
        assert!(!allow_private(Some("yes")));
        assert_eq!(allow_private(Some("1")), cfg!(debug_assertions));
        assert!(refusal("x", "127.0.0.1".parse().unwrap(), false).unwrap().contains("127.0.0.1"));
        assert!(refusal("x", "127.0.0.1".parse().unwrap(), true).is_none());
    }
}
