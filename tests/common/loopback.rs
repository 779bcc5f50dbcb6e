//! The fakes' server loop: a listener on 127.0.0.1:0 (loopback only), a thread accepting, and
//! a thread per connection running the fake's handler with its shared state.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

/// Serves `handle` with `state` on a fresh loopback port; returns the address.
pub fn serve<S: Send + Sync + 'static>(
    what: &str,
    state: Arc<S>,
    handle: fn(TcpStream, &S) -> std::io::Result<()>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let s = state.clone();
            std::thread::spawn(move || {
                let _ = handle(conn, &s);
            });
        }
    });
    addr
}
