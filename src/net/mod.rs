//! Which addresses the listener binds, and binding them with errors that name the fix.

#[cfg(target_os = "linux")]
pub mod acceptor;
pub mod client;
pub mod conn;
pub mod first_byte;
pub mod tls;

/// A connection's byte stream, plain or TLS, once the HTTP server has handed it over (an
/// upgraded WebSocket connection).
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static> Io for T {}
pub type BoxIo = Box<dyn Io>;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

use crate::config::model::{BindMode, Gateway};
use crate::exit;

/// A bind that cannot be done, with its exit code at boot.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BindError {
    pub code: i32,
    pub message: String,
}

/// One address to listen on; an optional one (the IPv6 half of a preset) is skipped with a
/// warning when the host has no IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub addr: SocketAddr,
    pub optional: bool,
}

/// The addresses to listen on: presets are dual stack (loopback: 127.0.0.1 and ::1; lan:
/// 0.0.0.0 and ::, the IPv6 socket IPV6_V6ONLY so both can share the port).
pub fn wanted(g: &Gateway) -> Result<Vec<Want>, BindError> {
    let port = u16::try_from(g.port).map_err(|_| config_error(format!("gateway.port {} is out of range", g.port)))?;
    let v6 = |ip: Ipv6Addr| Want { addr: SocketAddr::new(IpAddr::V6(ip), port), optional: true };
    let required = |addr: SocketAddr| Want { addr, optional: false };
    if g.host.is_some() {
        return Ok(resolve(g)?.into_iter().map(required).collect());
    }
    Ok(match g.bind {
        BindMode::Loopback | BindMode::Auto => {
            vec![required(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)), v6(Ipv6Addr::LOCALHOST)]
        }
        BindMode::Lan => {
            vec![required(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)), v6(Ipv6Addr::UNSPECIFIED)]
        }
        _ => resolve(g)?.into_iter().map(required).collect(),
    })
}

/// The primary addresses `gateway.bind` / `gateway.host` / `gateway.port` ask for (one per
/// family for a host name; the IPv4 half of a preset).
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

/// Binds one address (IPv6 sockets IPV6_V6ONLY); the error says who to ask when the port is taken.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    bind_socket(addr).map_err(|e| {
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

fn bind_socket(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Without it `[::]:P` also claims IPv4 and `0.0.0.0:P` then fails with EADDRINUSE.
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The first IPv4 address in Tailscale's CGNAT range 100.64.0.0/10 on any interface.
pub fn tailnet_ipv4() -> Option<Ipv4Addr> {
    local_addrs().into_iter().find_map(|ip| match ip {
        IpAddr::V4(v4) if is_cgnat(v4) => Some(v4),
        _ => None,
    })
}

/// The non-loopback addresses of this host's interfaces.
pub fn local_addrs() -> Vec<IpAddr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says which struct it is.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            let ip = match family {
                libc::AF_INET => {
                    // SAFETY: the family is AF_INET, so this is a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
                }
                libc::AF_INET6 => {
                    // SAFETY: the family is AF_INET6, so this is a sockaddr_in6.
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
                }
                _ => None,
            };
            if let Some(ip) = ip.filter(|ip| !ip.is_loopback() && !out.contains(ip)) {
                out.push(ip);
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
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
    fn presets_are_dual_stack_with_an_optional_ipv6_half() {
        let g = Gateway { port: 1234, ..Gateway::default() };
        let w = wanted(&g).unwrap();
        assert_eq!(w.iter().map(|w| w.addr.to_string()).collect::<Vec<_>>(), ["127.0.0.1:1234", "[::1]:1234"]);
        assert!(!w[0].optional && w[1].optional);
        let lan = Gateway { bind: BindMode::Lan, ..g.clone() };
        assert_eq!(wanted(&lan).unwrap()[1].addr.to_string(), "[::]:1234");
        let custom = Gateway { host: Some("127.0.0.2".into()), ..g };
        assert_eq!(wanted(&custom).unwrap().len(), 1);
    }

    #[test]
    fn v4_and_v6_wildcards_share_a_port() {
        let v4 = bind("0.0.0.0:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        if let Ok(v6) = bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
            assert_eq!(v6.local_addr().unwrap().port(), port);
        }
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
