//! Accepted connections wait for their first byte before the HTTP server builds anything for them.
//!
//! The HTTP/1 dispatcher gives each connection two 8 KiB buffers, a state machine and timers,
//! built on the worker as the connection is handed over, ahead of the clients that worker already
//! serves. A flood of connections that send nothing (10,000 half-open) cost 125 MiB that way and
//! held the worker's other clients back by up to 25 ms. Waiting first costs a small task each.
//! The connection is admitted (counted against the caps) at once; its admission is parked here
//! until the HTTP server's connect hook takes it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_rt::net::TcpStream;
use actix_server::GracefulShutdownSignal;
use actix_service::{Service, ServiceFactory};
use futures_util::future::LocalBoxFuture;

use super::conn::{Admission, Conn};

thread_local! {
    /// Admissions of connections handed to the HTTP server and not yet taken by its connect
    /// hook (which runs on this same worker thread), by socket, with the number of the parking.
    static PARKED: RefCell<HashMap<RawFd, (u64, Conn)>> = RefCell::default();
    static PARKINGS: Cell<u64> = const { Cell::new(0) };
}

/// The admission of the connection on `fd`, parked when it was handed to the HTTP server.
pub fn take(fd: RawFd) -> Option<Conn> {
    PARKED.with(|p| p.borrow_mut().remove(&fd)).map(|(_, conn)| conn)
}

fn park(fd: RawFd, conn: Conn) -> u64 {
    let n = PARKINGS.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    PARKED.with(|p| p.borrow_mut().insert(fd, (n, conn)));
    n
}

/// Drops the parking `n` if the hook never took it (a TLS handshake that failed). Only that
/// parking: the descriptor may already be closed and reused by a newer connection.
fn unpark(fd: RawFd, n: u64) {
    PARKED.with(|p| {
        let mut p = p.borrow_mut();
        if p.get(&fd).is_some_and(|(m, _)| *m == n) {
            p.remove(&fd);
        }
    });
}

/// Counts a new connection against the caps: its admission and peer, or None when its peer is
/// unknown.
type Admit = Rc<dyn Fn(&TcpStream) -> Option<(Admission, SocketAddr)>>;

/// Admits each new connection with `admit`, then waits up to `within` for its first byte (or
/// the server's shutdown) before handing it to `inner`. A connection that sends nothing in time
/// is closed without an answer, as the HTTP server closes one that sends no head.
pub struct FirstByte<F> {
    inner: F,
    wait: Wait,
}

/// What every connection of a listener is admitted by and waits for (the factory's, shared by
/// each worker's service).
#[derive(Clone)]
struct Wait {
    within: Duration,
    shutdown: GracefulShutdownSignal,
    admit: Admit,
}

impl<F> FirstByte<F> {
    pub fn new(
        inner: F,
        within: Duration,
        shutdown: GracefulShutdownSignal,
        admit: impl Fn(&TcpStream) -> Option<(Admission, SocketAddr)> + 'static,
    ) -> Self {
        FirstByte { inner, wait: Wait { within, shutdown, admit: Rc::new(admit) } }
    }
}

impl<F> ServiceFactory<TcpStream> for FirstByte<F>
where
    F: ServiceFactory<TcpStream, Config = (), Response = ()>,
    F::Service: 'static,
    F::Future: 'static,
    F::Error: 'static,
{
    type Response = ();
    type Error = F::Error;
    type Config = ();
    type Service = FirstByteService<F::Service>;
    type InitError = F::InitError;
    type Future = LocalBoxFuture<'static, Result<Self::Service, Self::InitError>>;

    fn new_service(&self, cfg: ()) -> Self::Future {
        let (inner, wait) = (self.inner.new_service(cfg), self.wait.clone());
        Box::pin(async move { Ok(FirstByteService { inner: Rc::new(inner.await?), wait }) })
    }
}

pub struct FirstByteService<S> {
    inner: Rc<S>,
    wait: Wait,
}

impl<S> Service<TcpStream> for FirstByteService<S>
where
    S: Service<TcpStream, Response = ()> + 'static,
    S::Error: 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = LocalBoxFuture<'static, Result<(), S::Error>>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&self, io: TcpStream) -> Self::Future {
        let admitted = (self.wait.admit)(&io);
        let (inner, Wait { within, shutdown, .. }) = (self.inner.clone(), self.wait.clone());
        Box::pin(async move {
            let first = tokio::select! {
                ready = io.readable() => ready.is_ok(),
                () = shutdown.notified() => false,
                () = tokio::time::sleep(within) => false,
            };
            if !first {
                // Dropping the stream closes it; dropping the admission frees its slot.
                return Ok(());
            }
            let fd = io.as_raw_fd();
            // Its socket's identity is taken only now: a connection that never speaks costs
            // one system call (the peer, for the caps), not three.
            let parked = admitted.map(|(admission, peer)| park(fd, Conn::new(admission, fd, peer)));
            // Boxed so the waiting task above stays small.
            let result = Box::pin(inner.call(io)).await;
            if let Some(n) = parked {
                unpark(fd, n);
            }
            result
        })
    }
}
