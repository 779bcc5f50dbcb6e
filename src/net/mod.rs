//! Which addresses the listener binds, and binding them with errors that name the fix.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};

use crate::config::model::{BindMode, Gateway};
use crate::exit;

/// A bind that cannot be done, with its exit code at boot.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BindError {
    pub code: i32,
    pub message: String,
}

/// The addresses `gateway.bind` / `gateway.host` / `gateway.port` ask for.
pub fn resolve(g: &Gateway) -> Result<Vec<SocketAddr>, BindError> {
    let port = u16::try_from(g.port).map_err(|_| config_error(format!("gateway.port {} is out of range", g.port)))?;
    if let Some(host) = &g.host {
        return resolve_host(host, port);
    }
    let ip = match g.bind {
        BindMode::Loopback | BindMode::Auto => IpAddr::V4(Ipv4Addr::LOCALHOST),
        BindMode::Lan => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        BindMode::Tailnet => match tailnet_ipv4() {
            Some(ip) => IpAddr::V4(ip),
            None => {
                tracing::warn!(
                    "gateway.bind is tailnet but no 100.64.0.0/10 address is up (is tailscale running?); binding loopback instead"
                );
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        },
        BindMode::Custom => {
            return Err(config_error(
                "gateway.bind is custom but gateway.host is not set: set gateway.host (or --host)".into(),
            ));
        }
    };
    Ok(vec![SocketAddr::new(ip, port)])
}

fn resolve_host(host: &str, port: u16) -> Result<Vec<SocketAddr>, BindError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| config_error(format!("gateway.host {host:?} does not resolve: {e}")))?
        .collect();
    // One address per family is enough; a name with many A records is one host.
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        if !out.iter().any(|o| o.is_ipv4() == a.is_ipv4()) {
            out.push(a);
        }
    }
    Ok(out)
}

fn config_error(message: String) -> BindError {
    BindError { code: exit::CONFIG, message }
}

/// Binds one address; the error says who to ask when the port is taken.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).map_err(|e| {
        let port = addr.port();
        let message = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {addr}: the address is already in use. Find its owner with `ss -ltnp 'sport = :{port}'` (or `lsof -i :{port}`), stop it, or choose another port (--port / OPENCLAW_GATEWAY_PORT)"
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "cannot listen on {addr}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE; choose a port above 1023)"
            ),
            std::io::ErrorKind::AddrNotAvailable => format!(
                "cannot listen on {addr}: that address is not on this machine (check gateway.host / --host)"
            ),
            _ => format!("cannot listen on {addr}: {e}"),
        };
        BindError { code: exit::UNAVAILABLE, message }
    })
}

/// The first IPv4 address in Tailscale's CGNAT range 100.64.0.0/10 on any interface.
pub fn tailnet_ipv4() -> Option<Ipv4Addr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() && i32::from(unsafe { (*ifa.ifa_addr).sa_family }) == libc::AF_INET {
            // SAFETY: the family is AF_INET, so the address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            if is_cgnat(ip) {
                found = Some(ip);
                break;
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    found
}

pub fn is_cgnat(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 100 && (64..128).contains(&o[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_hosts_resolve_to_addresses() {
        let mut g = Gateway { port: 1234, ..Gateway::default() };
        assert_eq!(resolve(&g).unwrap(), vec!["127.0.0.1:1234".parse().unwrap()]);
        g.bind = BindMode::Lan;
        assert_eq!(resolve(&g).unwrap(), vec!["0.0.0.0:1234".parse().unwrap()]);
        g.host = Some("::1".into());
        assert_eq!(resolve(&g).unwrap(), vec!["[::1]:1234".parse().unwrap()]);
        g.host = None;
        g.bind = BindMode::Custom;
        assert_eq!(resolve(&g).unwrap_err().code, exit::CONFIG);
    }

    #[test]
    fn cgnat_range_is_100_64_slash_10() {
        assert!(is_cgnat("100.64.0.1".parse().unwrap()));
        assert!(is_cgnat("100.127.255.254".parse().unwrap()));
        assert!(!is_cgnat("100.128.0.1".parse().unwrap()));
        assert!(!is_cgnat("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_taken_port_is_reported_with_how_to_find_its_owner() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind(held.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.code, exit::UNAVAILABLE);
        assert!(err.message.contains("already in use") && err.message.contains("ss -ltnp"), "{}", err.message);
    }
}
