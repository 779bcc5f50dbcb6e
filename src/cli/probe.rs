//! `openclaw healthcheck`: GET /readyz on the local gateway (HTTP, or HTTPS without checking
//! the certificate: it is this host's own gateway). The container's HEALTHCHECK, so the
//! image needs no curl.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::LoadOptions;
use crate::exit;

fn get(addr: SocketAddr, tls: bool, timeout: Duration) -> Result<u16, String> {
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    let req = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    if tls {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).map_err(|e| e.to_string())?;
        b.set_verify(openssl::ssl::SslVerifyMode::NONE);
        let cfg = b.build().configure().map_err(|e| e.to_string())?.verify_hostname(false);
        let mut s = cfg.connect("localhost", stream).map_err(|e| format!("TLS: {e}"))?;
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let _ = s.read_to_end(&mut raw);
    } else {
        let mut s = stream;
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let _ = s.read_to_end(&mut raw);
    }
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "no HTTP answer".to_string())
}

pub fn run(timeout_ms: u64, opts: &LoadOptions) -> i32 {
    let (addr, tls) = match super::client::local_target(opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return exit::CONFIG;
        }
    };
    match get(addr, tls, Duration::from_millis(timeout_ms)) {
        Ok(200) => {
            println!("ready");
            exit::OK
        }
        Ok(code) => {
            eprintln!("not ready: /readyz answered {code}");
            1
        }
        Err(e) => {
            eprintln!("not ready: {e}");
            1
        }
    }
}
