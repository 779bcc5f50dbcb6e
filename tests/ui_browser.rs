//! The Control UI in a real browser: headless Chromium (Debian's package) driven over the
//! DevTools protocol (`common::cdp`) against the real gateway. A failing test leaves a
//! screenshot in `<target>/ui-screenshots/`.

mod common;

use std::time::Duration;

use common::cdp::Browser;
use common::provider::MockProvider;
use common::{Gateway, Spawn, Ws};
use openclaw::auth::device::Identity;
use serde_json::{Value, json};

fn url(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.addr)
}

/// A browser signed in with the gateway token (typed into the UI, as a first visit does),
/// showing the overview.
fn signed_in(name: &str, gw: &Gateway, path: &str) -> Browser {
    let mut b = Browser::start(name);
    b.navigate(&url(gw, path));
    b.wait("the sign-in form", "document.querySelector('#token')");
    b.fill("#token", &gw.token());
    b.click("#unauthorized button[type=submit]");
    b.wait("the connection", "document.querySelector('#conn').dataset.state === 'connected'");
    b
}

/// Goes to a page through the UI's navigation.
fn open(b: &mut Browser, page: &str) {
    b.click(&format!("nav a[data-page={page}]"));
    b.wait(&format!("the {page} page"), &format!("document.querySelector('main oc-{page}')"));
}

#[test]
fn first_visit_asks_for_the_token_then_shows_health() {
    let gw = Spawn::default().start();
    let mut b = Browser::start("first_visit");
    b.navigate(&url(&gw, "/"));
    let text = b.wait("the sign-in form", "document.querySelector('#unauthorized') && document.body.innerText");
    assert!(text.as_str().unwrap().contains("openclaw dashboard"), "{text}");
    b.fill("#token", "wrong-token");
    b.click("#unauthorized button[type=submit]");
    b.wait(
        "the mismatch to be shown",
        "document.querySelector('#unauthorized .error')?.textContent.includes('token mismatch')",
    );
    b.fill("#token", &gw.token());
    b.click("#unauthorized button[type=submit]");
    let status = b.wait("the health status", "document.querySelector('#health-status')?.textContent");
    assert_eq!(status, "ok");
    assert_eq!(b.eval("document.querySelector('#health-version').textContent"), env!("CARGO_PKG_VERSION"));
    let listen = b.eval("document.querySelector('#health-listen').textContent");
    assert!(listen.as_str().unwrap().contains(&gw.addr.to_string()), "{listen}");
    // The token is kept in the browser, never shown, and a reload connects without asking.
    let body = b.eval("document.body.innerText");
    assert!(!body.as_str().unwrap().contains(&gw.token()), "the token is never displayed");
    b.navigate(&url(&gw, "/overview"));
    b.wait("the health status after a reload", "document.querySelector('#health-status')?.textContent === 'ok'");
    // In a secure context (loopback) the browser paired as a device and now holds its token.
    let stored = b.eval("JSON.parse(localStorage.getItem('openclaw.device.auth.v1') || 'null')?.token?.length > 0");
    assert_eq!(stored, true);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn a_dashboard_link_signs_in_and_leaves_no_token_in_the_url() {
    let gw = Spawn::default().start();
    let mut b = Browser::start("dashboard_link");
    b.navigate(&url(&gw, &format!("/#token={}", gw.token())));
    b.wait("the health status", "document.querySelector('#health-status')?.textContent === 'ok'");
    let href = b.eval("location.href");
    assert!(!href.as_str().unwrap().contains("token"), "{href}");
}
