//! The gateway's outbound HTTP and WebSocket client: awc on OpenSSL, with `TCP_NODELAY` on every
//! connection. awc leaves Nagle's algorithm on, and it writes a request's head and body
//! separately: on a kept-alive connection the body then waits for the ACK of the head, which
//! the peer delays (up to 40 ms on Linux), so each POST to a model provider or a chat platform
//! cost tens of milliseconds for nothing.

use std::time::Duration;

use actix_service::ServiceExt;
use actix_tls::connect::{Connection, Connector};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client whose requests time out after `timeout`; redirects are followed only when asked.
pub fn client(timeout: Duration, follow_redirects: bool) -> awc::Client {
    let tcp = Connector::default().service().map(|c: Connection<awc::http::Uri, actix_rt::net::TcpStream>| {
        // Best effort: a socket that refuses the option still works, only slower.
        let _ = c.io_ref().set_nodelay(true);
        c
    });
    let connector = awc::Connector::new().connector(tcp).timeout(CONNECT_TIMEOUT);
    let b = awc::Client::builder().connector(connector).timeout(timeout);
    if follow_redirects { b.finish() } else { b.disable_redirects().finish() }
}
