//! `openclaw gateway discover`: browse `_openclaw-gw._tcp` and print what answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Value, json};
use zeroconf::prelude::*;
use zeroconf::{BrowserEvent, MdnsBrowser, ServiceType};

use crate::actors::bonjour::SERVICE;

pub fn run(timeout_ms: u64, json_out: bool) -> i32 {
    if let Err(e) = avahi_sys::load() {
        eprintln!("openclaw: cannot browse mDNS ({e}): install libavahi-client3 (Debian/Ubuntu) and run avahi-daemon");
        return crate::exit::UNAVAILABLE;
    }
    let found: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = found.clone();
    let mut browser = match ServiceType::new(SERVICE, "tcp") {
        Ok(t) => MdnsBrowser::new(t),
        Err(e) => {
            eprintln!("openclaw: {e}");
            return crate::exit::SOFTWARE;
        }
    };
    browser.set_service_callback(Box::new(move |event, _| {
        let Ok(BrowserEvent::Add(d)) = event else { return };
        let txt: serde_json::Map<String, Value> =
            d.txt().as_ref().map(|t| t.iter().map(|(k, v)| (k, json!(v))).collect()).unwrap_or_default();
        let tls = txt.get("gatewayTls").and_then(Value::as_str) == Some("1");
        let host = if d.address().contains(':') { format!("[{}]", d.address()) } else { d.address().clone() };
        let url = format!("{}://{host}:{}", if tls { "wss" } else { "ws" }, d.port());
        let entry = json!({"instance": d.name(), "host": d.host_name(), "address": d.address(), "port": d.port(),
                           "tls": tls, "fingerprint": txt.get("gatewayTlsSha256"), "url": url, "txt": txt});
        let mut list = sink.lock();
        if !list.iter().any(|e| e["instance"] == entry["instance"] && e["address"] == entry["address"]) {
            list.push(entry);
        }
    }));
    let event_loop = match browser.browse_services() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("openclaw: cannot browse mDNS ({e}); is avahi-daemon running?");
            return crate::exit::UNAVAILABLE;
        }
    };
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    while Instant::now() < deadline {
        if let Err(e) = event_loop.poll(Duration::from_millis(50)) {
            eprintln!("openclaw: mDNS browsing failed: {e}");
            return crate::exit::UNAVAILABLE;
        }
    }
    let list = found.lock().clone();
    if json_out {
        println!("{}", Value::Array(list));
        return 0;
    }
    if list.is_empty() {
        eprintln!(
            "no gateway answered within {timeout_ms} ms (is one advertising? check `discovery.mdns` and OPENCLAW_DISABLE_BONJOUR)"
        );
        return 0;
    }
    for g in &list {
        println!("{}", g["instance"].as_str().unwrap_or("?"));
        println!("  host:   {} ({})", g["host"].as_str().unwrap_or("?"), g["address"].as_str().unwrap_or("?"));
        println!("  port:   {}", g["port"]);
        match g["fingerprint"].as_str() {
            Some(fp) => println!("  tls:    yes, sha256 {fp}"),
            None => println!("  tls:    {}", if g["tls"] == true { "yes" } else { "no" }),
        }
        println!("  url:    {}", g["url"].as_str().unwrap_or("?"));
    }
    0
}
