//! The fakes' server loop: a listener on 127.0.0.1:0 (loopback only), a thread accepting, and
//! a thread per connection running the fake's handler with its shared state; and the one
//! request reader the fake providers share.

// Included by benches too, each using part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
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

/// Reads one HTTP/1.1 request whose body has a `content-length`: its head lines (the request
/// line first, line ends trimmed) and its body.
pub fn read_request(conn: &TcpStream) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let (mut head, mut len) = (Vec::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        head.push(line);
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok((head, body))
}

/// The value of header `name` (lower case) among `head`'s lines.
pub fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
