//! `openclaw dashboard [--no-open]`: the Control UI's URL with the gateway token in its
//! fragment (`#token=`: a fragment never reaches the server's logs or a proxy), opened in
//! the desktop's browser when there is one. This is how a browser gets the token: no client
//! is exempt from it, local ones included.

use crate::auth::secret;
use crate::config::LoadOptions;
use crate::exit;

/// Percent-encodes what a URL fragment must not carry raw (tokens are hex, but a configured
/// one may be anything).
fn fragment_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The dashboard URL for a gateway at `origin` (scheme://host:port), the UI's base path
/// ("/" or "/x/", as `ControlUi::base` gives it) and the token, if any. The UI reads
/// `#token=`, keeps the token and takes the fragment out of the address bar.
pub fn url(origin: &str, base: &str, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{origin}{base}#token={}", fragment_escape(t)),
        None => format!("{origin}{base}"),
    }
}

/// A desktop session to open a browser in (never on a headless server or over plain SSH).
fn has_desktop() -> bool {
    cfg!(target_os = "macos") || ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some())
}

fn open_browser(url: &str) -> Result<(), String> {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{opener}: {e}"))
        .and_then(|s| if s.success() { Ok(()) } else { Err(format!("{opener} exited with {s}")) })
}

pub fn run(no_open: bool, opts: &LoadOptions) -> i32 {
    let loaded = match crate::config::load(opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return exit::CONFIG;
        }
    };
    let (addr, tls) = match super::client::local_target(opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return e.exit_code();
        }
    };
    let base = format!("{}://{addr}", if tls { "https" } else { "http" });
    let token = match secret::resolve_token(&loaded, &opts.paths, false) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return exit::CONFIG;
        }
    };
    let password = secret::resolve_password(&loaded).is_some();
    if password {
        eprintln!("password mode: the URL carries no secret; enter the gateway password in the UI");
    } else if token.is_none() {
        eprintln!(
            "openclaw: no gateway token found ({} has none yet); start the gateway once to generate it",
            opts.paths.state_dir.display()
        );
        return exit::UNAVAILABLE;
    }
    let url = url(
        &base,
        &loaded.config.gateway.control_ui.base(),
        token.as_ref().map(|t| t.value.as_str()).filter(|_| !password),
    );
    println!("{url}");
    if !loaded.config.gateway.control_ui.enabled {
        eprintln!("note: the Control UI is off (gateway.controlUi.enabled: false); only the WebSocket answers there");
    }
    eprintln!("This URL carries the gateway token: treat it like a password.");
    if no_open || !has_desktop() {
        return exit::OK;
    }
    if let Err(e) = open_browser(&url) {
        eprintln!("could not open a browser ({e}); open the URL above yourself");
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_token_rides_in_the_fragment_escaped() {
        assert_eq!(super::url("http://127.0.0.1:18789", "/", Some("ab12")), "http://127.0.0.1:18789/#token=ab12");
        assert_eq!(super::url("https://[::1]:1", "/", Some("a b&c")), "https://[::1]:1/#token=a%20b%26c");
        assert_eq!(super::url("http://127.0.0.1:1", "/ui/", None), "http://127.0.0.1:1/ui/");
    }
}
