//! Accepted connections: how many are open in total and per peer address, the caps on both
//! (`gateway.maxConnections`, `gateway.maxConnectionsPerAddress`), a handle that can cut a
//! connection whose peer stopped reading (the HTTP server never times a write out), and the
//! deadline for the next request head on a kept-alive connection (it times only the first).

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The cap a refused connection ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `gateway.maxConnections`: answered 503.
    Total,
    /// `gateway.maxConnectionsPerAddress`: answered 429.
    PerAddress,
}

impl Limit {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Limit::Total => "total",
            Limit::PerAddress => "per_address",
        }
    }

    /// The refusal a client reads, naming the setting that refused it.
    pub fn message(self, cap: usize) -> String {
        match self {
            Limit::Total => format!(
                "too many connections: the gateway serves at most {cap} at once (gateway.maxConnections); retry later"
            ),
            Limit::PerAddress => format!(
                "too many connections from your address: at most {cap} at once (gateway.maxConnectionsPerAddress); close some or retry later"
            ),
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Limit::Total => 503,
            Limit::PerAddress => 429,
        }
    }
}

/// The caps in effect for one admission.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub total: usize,
    pub per_address: usize,
}

/// Open connections, counted as they are accepted and dropped. Shared by the HTTP workers
/// (and by every listener incarnation, so a draining server's connections still count).
#[derive(Default)]
pub struct Connections {
    accepted: AtomicU64,
    open: AtomicUsize,
    /// Refused connections not yet closed (answered, or waiting for their request head).
    refused_open: AtomicUsize,
    by_addr: Mutex<HashMap<IpAddr, usize>>,
    refused: [AtomicU64; 2],
    /// Woken on every accepted connection, so periodic upkeep can sleep while none come.
    pub activity: tokio::sync::Notify,
}

impl Connections {
    /// Counts a new connection from `peer` unless a cap refuses it. `exempt` peers (trusted
    /// proxies, which carry many clients) are bounded by the total only. A refused connection
    /// is not counted: it is answered and closed.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, caps: Caps, exempt: bool) -> Admission {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.activity.notify_one();
        let refuse = |limit: Limit| {
            self.refused[limit as usize].fetch_add(1, Ordering::Relaxed);
            self.refused_open.fetch_add(1, Ordering::AcqRel);
            let slot = Slot { set: self.clone(), peer: None, admitted: false };
            Admission { refused: Some((limit, cap_of(limit, caps))), _slot: Some(slot) }
        };
        if self.open.fetch_add(1, Ordering::AcqRel) >= caps.total {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return refuse(Limit::Total);
        }
        if !exempt {
            let mut by_addr = self.by_addr.lock();
            let n = by_addr.entry(peer).or_default();
            if *n >= caps.per_address {
                drop(by_addr);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return refuse(Limit::PerAddress);
            }
            *n += 1;
        }
        let slot = Slot { set: self.clone(), peer: (!exempt).then_some(peer), admitted: true };
        Admission { refused: None, _slot: Some(slot) }
    }

    /// Connections accepted since start, admitted or refused.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Every connection still held, admitted or refused (what they cost in memory).
    pub fn held(&self) -> usize {
        self.open() + self.refused_open.load(Ordering::Acquire)
    }

    /// Connections refused since start, by cap.
    pub fn refused(&self, limit: Limit) -> u64 {
        self.refused[limit as usize].load(Ordering::Relaxed)
    }

    /// Open connections from `peer` (counted ones: exempt peers are not).
    pub fn from(&self, peer: IpAddr) -> usize {
        self.by_addr.lock().get(&peer).copied().unwrap_or(0)
    }
}

fn cap_of(limit: Limit, caps: Caps) -> usize {
    match limit {
        Limit::Total => caps.total,
        Limit::PerAddress => caps.per_address,
    }
}

/// The outcome of `admit`: the refusal to answer, or the slot that frees itself on drop.
pub struct Admission {
    pub refused: Option<(Limit, usize)>,
    _slot: Option<Slot>,
}

struct Slot {
    set: Arc<Connections>,
    peer: Option<IpAddr>,
    admitted: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.admitted {
            self.set.refused_open.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        if let Some(peer) = self.peer {
            let mut by_addr = self.set.by_addr.lock();
            if let Some(n) = by_addr.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    by_addr.remove(&peer);
                }
            }
            // Shrink after a burst from many addresses; the map is small when idle.
            if by_addr.capacity() > 64 && by_addr.len() * 4 < by_addr.capacity() {
                by_addr.shrink_to_fit();
            }
        }
        self.set.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One accepted connection, kept in the connection's data for as long as the HTTP server
/// holds it (requests read it with `conn_data`).
pub struct Conn {
    refused: Option<(Limit, usize)>,
    /// Taken by an upgraded connection, which outlives this (the HTTP server lets go of it).
    admission: Cell<Option<Admission>>,
    socket: Socket,
    /// When the next request's head is due on this kept-alive connection (None while a
    /// request is being served), and whether a watcher is waiting for it.
    next_head: Rc<NextHead>,
}

#[derive(Default)]
pub struct NextHead {
    due: Cell<Option<Instant>>,
    watched: Cell<bool>,
}

impl Conn {
    /// Built when the connection's first byte came (a half-open connection never gets one):
    /// `peer` is the address it was admitted by, so only the local one is asked for here.
    pub fn new(admission: Admission, fd: RawFd, peer: SocketAddr) -> Self {
        let addrs = local_addr(fd).map(|local| (local, peer));
        let socket = Socket { fd, open: Rc::new(Cell::new(true)), addrs };
        Conn { refused: admission.refused, admission: Cell::new(Some(admission)), socket, next_head: Rc::default() }
    }

    /// The connection's place in the count, for an upgraded connection to hold (and free when
    /// it closes): the HTTP server drops this `Conn` at the upgrade.
    pub fn take_admission(&self) -> Option<Admission> {
        self.admission.take()
    }

    /// A request's head is in: nothing is due while it is served.
    pub fn request_started(&self) {
        self.next_head.due.set(None);
    }

    /// A response is done: the next head is due within `within`. Returns a watcher to run
    /// (`watch`) when none is running for this connection, so there is at most one each.
    pub fn response_done(&self, within: Duration) -> Option<(Rc<NextHead>, Socket)> {
        self.next_head.due.set(Some(Instant::now() + within));
        (!self.next_head.watched.replace(true)).then(|| (self.next_head.clone(), self.socket.clone()))
    }

    /// The cap that refused this connection, with its value.
    pub fn refused(&self) -> Option<(Limit, usize)> {
        self.refused
    }

    /// A handle to cut this connection later.
    pub fn socket(&self) -> Socket {
        self.socket.clone()
    }
}

impl NextHead {
    /// Waits for the due time; cuts the socket if no head came by then. Returns when a request
    /// is being served (a later response starts a new watcher) or the connection was cut.
    pub async fn watch(self: Rc<Self>, socket: Socket) {
        loop {
            match self.due.get() {
                None => break,
                Some(due) if due <= Instant::now() => {
                    socket.cut();
                    break;
                }
                Some(due) => tokio::time::sleep_until(due.into()).await,
            }
        }
        self.watched.set(false);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.socket.open.set(false);
    }
}

/// Cuts one connection's socket (both directions) so the server drops it even while a write
/// to a peer that never reads is pending. Only the socket it was made for is touched: it must
/// still be open and still joined to the same two addresses (a closed descriptor's number can
/// be reused by the next connection).
#[derive(Clone)]
pub struct Socket {
    fd: RawFd,
    open: Rc<Cell<bool>>,
    addrs: Option<(SocketAddr, SocketAddr)>,
}

impl Socket {
    /// Returns whether it was cut.
    pub fn cut(&self) -> bool {
        if !self.open.get() || self.addrs.is_none() || addrs(self.fd) != self.addrs {
            return false;
        }
        // SAFETY: the descriptor is open (checked just above, on this thread, which is the
        // one the server closes it on) and is only borrowed for the call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Both).is_ok()
    }
}

/// The local and peer addresses of a socket, or None when `fd` is not a connected socket.
fn addrs(fd: RawFd) -> Option<(SocketAddr, SocketAddr)> {
    Some((local_addr(fd)?, with_socket(fd, |s| s.peer_addr())?))
}

fn local_addr(fd: RawFd) -> Option<SocketAddr> {
    with_socket(fd, |s| s.local_addr())
}

fn with_socket(
    fd: RawFd,
    addr: impl Fn(&socket2::SockRef) -> std::io::Result<socket2::SockAddr>,
) -> Option<SocketAddr> {
    // SAFETY: only reads an address; a descriptor that is not a socket yields an error.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    addr(&socket2::SockRef::from(&fd)).ok()?.as_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Caps {
        Caps { total: 3, per_address: 2 }
    }

    #[test]
    fn caps_refuse_and_slots_free_themselves() {
        let c = Arc::new(Connections::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = c.admit(a, caps(), false);
        let a2 = c.admit(a, caps(), false);
        assert!(a1.refused.is_none() && a2.refused.is_none());
        let a3 = c.admit(a, caps(), false);
        assert_eq!(a3.refused, Some((Limit::PerAddress, 2)));
        let b1 = c.admit(b, caps(), false);
        assert!(b1.refused.is_none());
        assert_eq!(c.admit(b, caps(), false).refused, Some((Limit::Total, 3)));
        let a4 = c.admit(a, caps(), false);
        assert_eq!((c.open(), c.refused(Limit::PerAddress), c.refused(Limit::Total), c.accepted()), (3, 1, 2, 6));
        assert_eq!(c.held(), 5, "a refused connection is held until it closes");
        drop((a3, a4));
        assert_eq!(c.held(), 3);
        drop(a1);
        assert_eq!((c.open(), c.from(a)), (2, 1));
        drop((a2, b1));
        assert_eq!((c.open(), c.from(a), c.from(b)), (0, 0, 0));
        assert!(c.by_addr.lock().is_empty());
    }

    #[test]
    fn exempt_peers_count_in_the_total_only() {
        let c = Arc::new(Connections::default());
        let p: IpAddr = "10.0.0.9".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| c.admit(p, caps(), true)).collect();
        assert!(held.iter().all(|a| a.refused.is_none()));
        assert_eq!((c.open(), c.from(p)), (3, 0));
        assert_eq!(c.admit(p, caps(), true).refused.map(|r| r.0), Some(Limit::Total));
        drop(held);
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn messages_name_the_setting() {
        assert!(Limit::Total.message(5).contains("gateway.maxConnections"));
        assert!(Limit::PerAddress.message(5).contains("gateway.maxConnectionsPerAddress"));
        assert_eq!((Limit::Total.status(), Limit::PerAddress.status()), (503, 429));
    }

    #[test]
    fn a_socket_is_cut_only_while_it_is_the_same_connection() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        let c = Arc::new(Connections::default());
        let peer = server.peer_addr().unwrap();
        let conn = Conn::new(c.admit(peer.ip(), caps(), false), server.as_raw_fd(), peer);
        let handle = conn.socket();
        assert!(handle.cut());
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0, "the peer sees the connection end");
        drop(conn);
        assert!(!handle.cut(), "a dropped connection is never touched");
        assert!(!Socket { fd: -1, open: Rc::new(Cell::new(true)), addrs: None }.cut());
    }
}
