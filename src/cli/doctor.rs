//! `openclaw doctor [--fix]`: the guides' troubleshooting lists as checks, each with its fix:
//! config, state dir writable, port in use (and by whom), the gateway answering, token and
//! device-token mismatches (never printing a token), mDNS, and a service unit gone stale.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::client::{Client, ClientError, ConnectArgs, Refusal};
use crate::config::LoadOptions;
use crate::config::model::MdnsMode;
use crate::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Check {
    level: Level,
    name: &'static str,
    detail: String,
    fix: Option<String>,
}

fn check(level: Level, name: &'static str, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check { level, name, detail: detail.into(), fix }
}

/// Who listens on `port` (through `ss`, from iproute2), if that can be told.
fn port_owner(port: u16) -> Option<String> {
    let out = Command::new("ss").args(["-Hltnp", &format!("sport = :{port}")]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let users = text.lines().find_map(|l| l.split("users:").nth(1).map(str::trim).map(str::to_string));
    users.or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_string()))
}

fn writable(dir: &Path) -> Result<(), std::io::Error> {
    let probe = dir.join(format!(".doctor.{}.tmp", std::process::id()));
    std::fs::write(&probe, b"x")?;
    std::fs::remove_file(&probe)
}

fn avahi_running() -> bool {
    std::fs::read_to_string("/run/avahi-daemon/pid")
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        // SAFETY: signal 0 only checks that the process exists.
        .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0)
}

fn unit_paths(opts: &LoadOptions) -> Vec<PathBuf> {
    let home = opts.env.get("HOME").map(PathBuf::from).unwrap_or_default();
    vec![
        home.join(".config/systemd/user/openclaw-gateway.service"),
        PathBuf::from("/etc/systemd/system/openclaw-gateway.service"),
    ]
}

/// An installed unit that no longer matches this binary and state dir, or holds a token.
fn stale_unit(unit: &str, opts: &LoadOptions) -> Option<String> {
    let mut why = Vec::new();
    if unit
        .lines()
        .any(|l| l.starts_with("Environment=OPENCLAW_GATEWAY_TOKEN=") || l.contains("\"OPENCLAW_GATEWAY_TOKEN="))
    {
        why.push("it sets OPENCLAW_GATEWAY_TOKEN (a token baked into the unit goes stale and leaks)".to_string());
    }
    if let Some(exec) = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")) {
        let bin = exec.split_whitespace().next().unwrap_or("");
        if !Path::new(bin).exists() {
            why.push(format!("its ExecStart binary {bin} does not exist"));
        }
    }
    let system = unit.contains("User=openclaw");
    if !system
        && let Some(state) = unit.lines().find_map(|l| l.strip_prefix("Environment=OPENCLAW_STATE_DIR="))
        && Path::new(state) != opts.paths.state_dir
    {
        why.push(format!("it uses state dir {state}, this CLI {}", opts.paths.state_dir.display()));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// This gateway's spellings of keys upstream names differently (`gateway.tls.cert` for
/// `certPath`, ...): with `fix`, the file is rewritten to upstream's names so one file serves
/// both (as JSON: comments are not kept; the original stays as `<file>.bak`).
fn upstream_names(file: &Path, fix: bool) -> Option<Check> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut doc = crate::config::load::parse_file(file, &text).ok()?;
    let renamed = crate::config::upstream::to_upstream_names(&mut doc);
    if renamed.is_empty() {
        return None;
    }
    let list: Vec<String> = renamed.iter().map(|(ours, up)| format!("{ours} -> {up}")).collect();
    let mut c = check(
        Level::Ok,
        "key names",
        format!("this gateway's spellings, upstream names them otherwise: {}", list.join(", ")),
        None,
    );
    if fix {
        let bak = file.with_extension(format!("{}.bak", file.extension().and_then(|e| e.to_str()).unwrap_or("json")));
        let body = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        let done = crate::state::atomic_write(&bak, text.as_bytes(), crate::state::FILE_MODE)
            .and_then(|()| crate::state::atomic_write(file, body.as_bytes(), crate::state::FILE_MODE));
        match done {
            Ok(()) => {
                c.detail.push_str(&format!(" [fixed: rewritten to upstream's names; was saved as {}]", bak.display()))
            }
            Err(e) => {
                c.level = Level::Warn;
                c.detail.push_str(&format!(" [not fixed: {e}]"));
            }
        }
    } else {
        c.detail.push_str(" (openclaw doctor --fix rewrites them, so upstream OpenClaw reads the same file)");
    }
    Some(c)
}

pub fn run(fix: bool, conn: &ConnectArgs, opts: &LoadOptions) -> i32 {
    let mut checks = Vec::new();
    let state = &opts.paths.state_dir;

    // 1. Config.
    let loaded = match crate::config::load(opts) {
        Ok(l) => {
            checks.push(check(Level::Ok, "config", format!("{} is valid", opts.paths.config.display()), None));
            if let Some(line) = crate::config::upstream::ignored_line(&l.ignored) {
                checks.push(check(
                    Level::Warn,
                    "config keys",
                    line,
                    Some(
                        "nothing breaks; remove them, or keep them for upstream OpenClaw reading the same file".into(),
                    ),
                ));
            }
            if let Some(c) = upstream_names(&opts.paths.config, fix) {
                checks.push(c);
            }
            Some(l)
        }
        Err(e) => {
            checks.push(check(
                Level::Fail,
                "config",
                e.to_string(),
                Some("fix the problems listed (openclaw config validate shows each with its line)".into()),
            ));
            None
        }
    };

    // The agent sandbox, when sessions are to be sandboxed.
    if let Some(l) = &loaded
        && l.config.agents.defaults.sandbox.mode != crate::config::model::SandboxMode::Off
    {
        checks.push(match crate::sandbox::probe() {
            Ok(b) => check(Level::Ok, "sandbox", format!("bubblewrap works ({})", b.bwrap.display()), None),
            Err(e) => check(
                Level::Fail,
                "sandbox",
                format!("sandboxed sessions' commands will be refused: {e}"),
                Some(
                    "install bubblewrap, or set agents.defaults.sandbox.mode to off (commands then run on the host)"
                        .into(),
                ),
            ),
        });
    }

    // Memory: what the index can do with this config (an embedder that does not resolve, or none).
    if let Some(l) = &loaded
        && l.config.memory.index_enabled
    {
        let s = crate::memory::settings(&l.config, state, &opts.env, "main");
        checks.push(match &s.embedder {
            Ok(Some(e)) => check(Level::Ok, "memory", format!("hybrid search, embeddings from {}", e.identity()), None),
            Ok(None) => check(
                Level::Ok,
                "memory",
                "keyword-only search: no embedder configured",
                Some("for search by meaning, set memory.remote {baseUrl, apiKey} or memory.provider".into()),
            ),
            Err(e) => check(
                Level::Warn,
                "memory",
                format!("keyword-only search: the embedder is unusable: {e}"),
                Some("fix memory.provider / memory.remote, or remove them for keyword-only search".into()),
            ),
        });
    }

    // Channels: each one the config names, and whether it has what it needs to run.
    if let Some(l) = &loaded {
        use crate::channels::settings::{self, DISCORD, SLACK};
        for channel in [DISCORD, SLACK] {
            if !settings::mentioned(&l.config, channel) {
                continue;
            }
            checks.push(match settings::missing(&l.config, channel) {
                None => check(
                    Level::Ok,
                    "channels",
                    format!("{channel}: configured (`openclaw channels status --probe` tests the token)"),
                    None,
                ),
                Some(why) => check(Level::Warn, "channels", format!("{channel}: not running: {why}"), None),
            });
        }
    }

    // 2. State dir.
    match writable(state) {
        Ok(()) => checks.push(check(Level::Ok, "state dir", format!("{} is writable", state.display()), None)),
        Err(e) => {
            let fix = match e.raw_os_error() {
                Some(libc::EROFS) => "it is on a read-only filesystem: mount a writable volume there (the container's \
                                      /home/node/.openclaw) or point --state-dir / OPENCLAW_STATE_DIR elsewhere"
                    .to_string(),
                _ => format!("make it writable by this user: chown -R $(id -u) {}", state.display()),
            };
            checks.push(check(Level::Fail, "state dir", format!("{}: {e}", state.display()), Some(fix)));
        }
    }

    // 3. The gateway process and its port.
    let running = crate::state::pidfile::running_pid(state);
    if let Some(l) = &loaded
        && running.is_none()
        && let Ok(port) = u16::try_from(l.config.gateway.port)
        && port != 0
    {
        let host =
            if l.config.gateway.bind == crate::config::model::BindMode::Loopback { "127.0.0.1" } else { "0.0.0.0" };
        match TcpListener::bind((host, port)) {
            Ok(_) => checks.push(check(Level::Ok, "port", format!("{port} is free"), None)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let who = port_owner(port).unwrap_or_else(|| "another process".into());
                checks.push(check(
                    Level::Fail,
                    "port",
                    format!("{port} is in use by {who} while no gateway runs on this state dir"),
                    Some(format!("stop it (ss -ltnp 'sport = :{port}' shows it) or set gateway.port / --port")),
                ));
            }
            Err(e) => checks.push(check(Level::Warn, "port", format!("cannot test port {port}: {e}"), None)),
        }
    }
    match running {
        None => checks.push(check(
            Level::Warn,
            "gateway",
            format!("no gateway runs on {}", state.display()),
            Some("start it: openclaw gateway (or openclaw gateway start for the service)".into()),
        )),
        Some(pid) => match Client::connect(conn, opts).and_then(|mut c| c.call("health", serde_json::json!({}))) {
            Ok(h) => checks.push(check(
                Level::Ok,
                "gateway",
                format!("pid {pid} answers: {}", h["status"].as_str().unwrap_or("?")),
                None,
            )),
            Err(ClientError::Auth { refusal: Refusal::DeviceToken, .. }) => {
                let mut c = check(
                    Level::Fail,
                    "device token",
                    "the gateway does not know this CLI's device token (its device registry was reset or restored)",
                    Some("openclaw doctor --fix forgets the stale device token; the CLI then re-pairs".into()),
                );
                if fix {
                    match super::client::forget_device_tokens(state) {
                        Ok(true) => c.detail.push_str(" [fixed: stale device token removed]"),
                        Ok(false) => {}
                        Err(e) => c.detail.push_str(&format!(" [not fixed: {e}]")),
                    }
                }
                checks.push(c);
            }
            Err(ClientError::Auth { refusal: Refusal::Token, message: m }) => {
                // The message names both sources and never the tokens.
                checks.push(check(
                    Level::Fail,
                    "token",
                    m.lines().collect::<Vec<_>>().join(" "),
                    Some("give the CLI the gateway's token from the same source (or --token), or `openclaw token rotate` and update clients".into()),
                ));
            }
            Err(e) => checks.push(check(Level::Fail, "gateway", format!("pid {pid} does not answer: {e}"), None)),
        },
    }

    // 4. mDNS.
    if let Some(l) = &loaded {
        let off = l.config.discovery.mdns.mode == MdnsMode::Off;
        if off {
            checks.push(check(Level::Ok, "mdns", "discovery.mdns.mode is off (nothing advertised)", None));
        } else if let Err(e) = avahi_sys::load() {
            checks.push(check(
                Level::Warn,
                "mdns",
                format!("libavahi-client cannot be loaded ({e}): the gateway cannot be discovered"),
                Some(
                    "install libavahi-client3 (apt-get install libavahi-client3), or set discovery.mdns.mode: off"
                        .into(),
                ),
            ));
        } else if !avahi_running() {
            checks.push(check(
                Level::Warn,
                "mdns",
                "avahi-daemon is not running: the gateway cannot be discovered (it keeps retrying)",
                Some(
                    "install and start avahi-daemon (apt-get install avahi-daemon), or set discovery.mdns.mode: off"
                        .into(),
                ),
            ));
        } else {
            checks.push(check(Level::Ok, "mdns", "avahi-daemon is running", None));
        }
    }

    // 5. Service units.
    for unit in unit_paths(opts) {
        let Ok(text) = std::fs::read_to_string(&unit) else { continue };
        match stale_unit(&text, opts) {
            Some(why) => checks.push(check(
                Level::Warn,
                "service",
                format!("{} is stale: {why}", unit.display()),
                Some("reinstall it: openclaw gateway install (add --system for the system unit)".into()),
            )),
            None => checks.push(check(Level::Ok, "service", format!("{} matches this install", unit.display()), None)),
        }
    }

    let color = std::io::stdout().is_terminal();
    for c in &checks {
        let (tag, code) = match c.level {
            Level::Ok => ("ok  ", "32"),
            Level::Warn => ("warn", "33"),
            Level::Fail => ("FAIL", "31"),
        };
        let tag = if color { format!("\x1b[{code}m{tag}\x1b[0m") } else { tag.to_string() };
        println!("{tag} {:12} {}", c.name, c.detail);
        if let Some(f) = &c.fix
            && c.level != Level::Ok
        {
            println!("     {:12} fix: {f}", "");
        }
    }
    if checks.iter().any(|c| c.level == Level::Fail) { 1 } else { exit::OK }
}
