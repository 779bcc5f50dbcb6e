//! The gateway's outbound HTTP and WebSocket client: awc on OpenSSL, with `TCP_NODELAY` on every
//! connection, one per thread and actix system. awc leaves Nagle's algorithm on, and it writes
//! a request's head and body separately: on a kept-alive connection the body then waits for the
//! ACK of the head, which the peer delays (up to 40 ms on Linux), so each POST to a model
//! provider or a chat platform cost tens of milliseconds for nothing. And building a client
//! loads the system's CA bundle (tens of milliseconds): it is built once, and its pooled
//! connections belong to the system that made it. Requests set their own timeouts.

use std::time::Duration;

use actix_service::ServiceExt;
use actix_tls::connect::{Connection, Connector};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests that set no timeout of their own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

thread_local! {
    static SHARED: std::cell::RefCell<Option<(usize, awc::Client, awc::Client)>> =
        const { std::cell::RefCell::new(None) };
}

/// This thread's client (redirects followed, or not); give each request its timeout.
pub fn shared(follow_redirects: bool) -> awc::Client {
    let system = actix_rt::System::try_current().map_or(usize::MAX, |s| s.id());
    SHARED.with(|c| {
        let mut c = c.borrow_mut();
        if !matches!(&*c, Some((id, _, _)) if *id == system) {
            *c = Some((system, build(DEFAULT_TIMEOUT, true), build(DEFAULT_TIMEOUT, false)));
        }
        let (_, follow, direct) = c.as_ref().expect("just set");
        if follow_redirects { follow.clone() } else { direct.clone() }
    })
}

fn build(timeout: Duration, follow_redirects: bool) -> awc::Client {
    let tcp = Connector::default().service().map(|c: Connection<awc::http::Uri, actix_rt::net::TcpStream>| {
        // Best effort: a socket that refuses the option still works, only slower.
        let _ = c.io_ref().set_nodelay(true);
        c
    });
    let connector = awc::Connector::new().connector(tcp).timeout(CONNECT_TIMEOUT);
    let b = awc::Client::builder().connector(connector).timeout(timeout);
    if follow_redirects { b.finish() } else { b.disable_redirects().finish() }
}
