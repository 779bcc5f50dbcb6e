//! `openclaw security audit|report|monitor`: the production guide's hardening checklist as
//! findings with a severity and a fix (`--fix` applies the safe ones: permissions, a token
//! file), a Markdown report, and a live view of what the guide's monitor script watched.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;
use serde_json::{Value, json};

use super::client::{Client, ConnectArgs};
use crate::auth::secret::{self, SecretSource};
use crate::config::model::{AuthMode, BindMode, EndpointAccess, MdnsMode};
use crate::config::{LoadOptions, Loaded};
use crate::exit;

#[derive(Subcommand, Debug)]
pub enum SecurityCmd {
    /// Check the deployment against the hardening checklist; exit 2 while a critical finding
    /// remains.
    Audit {
        #[arg(long)]
        json: bool,
        /// Fix what is safe to fix: file and directory modes, a missing or weak token file.
        #[arg(long)]
        fix: bool,
    },
    /// Write a Markdown security report (status, container facts, findings, recent auth
    /// failures).
    Report {
        /// Where to write [default: stdout].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Follow the running gateway and highlight auth-failure bursts, lockouts, pairing
    /// requests, failed reloads and child restarts.
    Monitor {
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    pub fix: String,
    /// `--fix` can repair it.
    pub fixable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Set by `--fix` when it was repaired.
    pub fixed: bool,
}

fn finding(id: &'static str, severity: Severity, title: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { id, severity, title: title.into(), fix: fix.into(), fixable: false, path: None, fixed: false }
}

/// Bits of entropy a token string can carry, judged by its alphabet.
pub fn entropy_bits(token: &str) -> f64 {
    let per_char: f64 = if token.chars().all(|c| c.is_ascii_hexdigit()) {
        4.0
    } else if token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        // Short or dictionary-like tokens are not random: count them low.
        5.0
    } else {
        6.0
    };
    token.chars().count() as f64 * per_char
}

fn mode(p: &Path) -> Option<u32> {
    std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777)
}

/// A path that must not be readable by group or others (`want` is 0700 or 0600).
fn check_mode(out: &mut Vec<Finding>, id: &'static str, p: &Path, want: u32, what: &str) {
    if let Some(m) = mode(p)
        && m & 0o077 != 0
    {
        // Logs hold no secrets (they are redacted) but do show who connects from where.
        let sev = if what.starts_with("log") { Severity::Low } else { Severity::High };
        let mut f = finding(
            id,
            sev,
            format!("{what} {} is mode {m:o} (readable by others)", p.display()),
            format!("chmod {want:o} {}", p.display()),
        );
        f.fixable = true;
        f.path = Some(p.to_path_buf());
        out.push(f);
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect()).unwrap_or_default()
}

fn raw_config(opts: &LoadOptions) -> Option<Value> {
    let text = std::fs::read_to_string(&opts.paths.config).ok()?;
    crate::config::load::parse_file(&opts.paths.config, &text).ok()
}

fn in_container() -> bool {
    Path::new("/run/.containerenv").exists()
        || Path::new("/.dockerenv").exists()
        || std::fs::read_to_string("/proc/1/cgroup").is_ok_and(|c| c.contains("docker") || c.contains("libpod"))
}

fn root_read_only() -> bool {
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs writes into `st`; the path is a valid C string.
    let rc = unsafe { libc::statvfs(c"/".as_ptr(), &mut st) };
    rc == 0 && st.f_flag & libc::ST_RDONLY != 0
}

/// Effective capabilities of this process (0 when all are dropped).
fn cap_eff() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_string())))
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0)
}

/// The uid the gateway runs as: the running one's (from its pid file), else ours.
fn gateway_uid(state_dir: &Path) -> u32 {
    crate::state::pidfile::running_pid(state_dir)
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        // SAFETY: getuid has no preconditions.
        .unwrap_or_else(|| unsafe { libc::getuid() })
}

/// A `gateway.trustedProxies` entry that is a range (CIDR shorter than one address) reaching
/// beyond loopback.
fn proxy_range_beyond_loopback(entry: &str) -> bool {
    let Some((net, bits)) = entry.split_once('/') else { return false };
    let (Ok(net), Ok(bits)) = (net.trim().parse::<std::net::IpAddr>(), bits.trim().parse::<u32>()) else {
        return false;
    };
    match net {
        std::net::IpAddr::V4(a) => bits < 32 && !(a.is_loopback() && bits >= 8),
        std::net::IpAddr::V6(a) => bits < 128 && !a.is_loopback(),
    }
}

/// Every finding for this deployment.
/// What the agents' tools may do: commands on the host unsandboxed, the approvals file letting
/// anything run, a sandbox this host cannot provide, any site reachable, a shared workspace.
fn agent_findings(cfg: &crate::config::Config, state: &Path, out: &mut Vec<Finding>) {
    use crate::config::model::SandboxMode;
    let sb = &cfg.agents.defaults.sandbox;
    let exec = crate::agents::toolbox::policy(cfg, "main").has("exec");
    if sb.mode == SandboxMode::Off && exec {
        out.push(finding(
            "sandbox-off-exec",
            Severity::High,
            "agents.defaults.sandbox.mode is off and agents have exec: every session's model-written commands run on the host, held only by the exec approvals file",
            "set agents.defaults.sandbox.mode to non-main (the default) or all; or deny exec (tools.deny: [\"exec\"])",
        ));
    }
    if sb.mode != SandboxMode::Off
        && let Err(e) = crate::sandbox::probe()
    {
        out.push(finding(
            "sandbox-unavailable",
            Severity::High,
            format!("sandboxed sessions cannot run commands here (they are refused): {e}"),
            "install bubblewrap, or run the container with the README's sandbox flags",
        ));
    }
    let approvals = crate::agents::approvals::path(state);
    if let Ok(text) = std::fs::read(&approvals)
        && let Ok(doc) = serde_json::from_slice::<Value>(&text)
    {
        let full = |v: &Value| v["security"] == "full";
        let agents = doc["agents"].as_object().map(|m| m.values().any(full)).unwrap_or(false);
        if full(&doc["defaults"]) || agents {
            out.push(finding(
                "exec-security-full",
                Severity::High,
                format!("{} lets unsandboxed commands run anything (security: full)", approvals.display()),
                "use security: allowlist with the programs agents need (openclaw approvals, exec.approvals.set)",
            ));
        }
    }
    if sb.allowlist.domains.iter().any(|d| d.trim() == "*") {
        out.push(finding(
            "sandbox-any-domain",
            Severity::Medium,
            "agents.defaults.sandbox.allowlist.domains has \"*\": sandboxed commands reach any site",
            "list the names agents need (exact, or *.example.com)",
        ));
    }
    let ws = crate::agents::toolbox::workspace(cfg, state, "main", std::env::var("HOME").ok().as_deref());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let shared = ["/", "/tmp", "/var/tmp", "/home", "/root", "/dev/shm"].iter().any(|p| ws == Path::new(p))
        || home.is_some_and(|h| ws == h)
        || std::fs::metadata(&ws).is_ok_and(|m| m.permissions().mode() & 0o002 != 0);
    if shared {
        out.push(finding(
            "workspace-shared",
            Severity::Medium,
            format!("the agent workspace {} is a shared directory: the agents' files mix with others', and sandboxed commands can write all of it", ws.display()),
            "give agents a directory of their own (agents.defaults.workspace; the default is <state>/workspace)",
        ));
    }
}

pub fn audit(loaded: &Loaded, opts: &LoadOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    let cfg = &loaded.config;
    let state = &opts.paths.state_dir;
    let non_loopback =
        crate::net::wanted(&cfg.gateway).map(|w| w.iter().any(|a| !a.addr.ip().is_loopback())).unwrap_or(false);

    // Authentication.
    if cfg.gateway.auth.mode == AuthMode::None {
        out.push(finding(
            "auth-none",
            Severity::Critical,
            "gateway.auth.mode is none: every process of every local user (and anyone who reaches the port) controls the gateway",
            "set gateway.auth.mode to token (the default); the CLI reads the token itself, browsers get it from `openclaw dashboard`",
        ));
    }
    match secret::resolve_token(loaded, &opts.paths, false) {
        Ok(Some(t)) => {
            match &t.source {
                SecretSource::Env(v) => out.push(finding(
                    "token-in-env",
                    Severity::Medium,
                    format!("the gateway token comes from {v}: environments leak into process listings and units"),
                    "put it in a file (gateway.auth.tokenFile or a Docker/Podman secret) and unset the variable",
                )),
                SecretSource::Config(p) => out.push(finding(
                    "token-in-config",
                    Severity::Medium,
                    format!("the gateway token is written in {}", p.display()),
                    "move it to a file (gateway.auth.tokenFile, 0600) or a secret; `openclaw token rotate` afterwards",
                )),
                _ => {}
            }
            let bits = entropy_bits(&t.value);
            if bits < 256.0 {
                let mut f = finding(
                    "weak-token",
                    Severity::High,
                    format!("the gateway token carries about {bits:.0} bits of entropy (less than 32 random bytes)"),
                    "openclaw token rotate (makes 32 random bytes)",
                );
                f.fixable = t.file().is_some();
                f.path = t.file().map(Path::to_path_buf);
                out.push(f);
            }
            if let Some(p) = t.file() {
                check_mode(&mut out, "token-file-mode", p, 0o600, "token file");
            }
        }
        Ok(None) if cfg.gateway.auth.mode == AuthMode::Token => {
            let mut f = finding(
                "no-token",
                Severity::Medium,
                "token mode with no token yet (one is generated at the gateway's first start)",
                "openclaw security audit --fix writes <state>/secrets/gateway_token (0600)",
            );
            f.fixable = true;
            out.push(f);
        }
        Ok(None) => {}
        Err(e) => {
            out.push(finding("token-unreadable", Severity::High, e.to_string(), "fix the token file or its path"))
        }
    }

    // Files and directories.
    for (dir, what) in [
        (state.clone(), "state dir"),
        (state.join("secrets"), "secrets dir"),
        (state.join("devices"), "devices dir"),
        (state.join("certs"), "certs dir"),
        (state.join("logs"), "log dir"),
    ] {
        check_mode(&mut out, "dir-mode", &dir, 0o700, what);
    }
    for dir in ["secrets", "devices", "logs"] {
        let what = if dir == "logs" { "log file" } else { "state file" };
        for f in files_in(&state.join(dir)) {
            check_mode(&mut out, "file-mode", &f, 0o600, what);
        }
    }
    check_mode(&mut out, "config-mode", &opts.paths.config, 0o600, "config file");
    if cfg.gateway.tls.enabled
        && let Ok((_, key, _)) = crate::net::tls::pair_paths(&cfg.gateway.tls, &opts.paths)
    {
        check_mode(&mut out, "tls-key-mode", &key, 0o600, "TLS private key");
    }

    // Channels open to anyone who can message the bot.
    for (ch, dm, groups) in [
        ("discord", cfg.channels.discord.dm.policy, cfg.channels.discord.group_policy),
        ("slack", cfg.channels.slack.dm.policy, cfg.channels.slack.group_policy),
    ] {
        use crate::config::model::{DmPolicyConfig, GroupPolicyConfig};
        if crate::channels::settings::tokens(cfg, ch).is_none() {
            continue;
        }
        if dm == DmPolicyConfig::Open {
            out.push(finding(
                "channel-dm-open",
                Severity::Medium,
                format!("channels.{ch}.dm.policy is open: anyone who can message the bot runs the agent and its tools"),
                format!(
                    "use \"pairing\" (approve senders with openclaw pairing approve {ch} <code>) or an allowFrom list"
                ),
            ));
        }
        if groups == GroupPolicyConfig::Open {
            out.push(finding(
                "channel-groups-open",
                Severity::Low,
                format!("channels.{ch}.groupPolicy is open: the bot answers in any server/channel it is added to"),
                format!(
                    "use \"allowlist\" and list the {} it may answer in",
                    if ch == "discord" { "guilds" } else { "channels" }
                ),
            ));
        }
    }

    // Secrets written literally instead of ${VAR}.
    if let Some(raw) = raw_config(opts) {
        for (ch, key, var) in [
            ("slack", "botToken", "SLACK_BOT_TOKEN"),
            ("slack", "appToken", "SLACK_APP_TOKEN"),
            ("discord", "botToken", "DISCORD_BOT_TOKEN"),
            ("discord", "token", "DISCORD_BOT_TOKEN"),
        ] {
            if let Some(t) = raw.pointer(&format!("/channels/{ch}/{key}")).and_then(Value::as_str)
                && !t.contains("${")
            {
                out.push(finding(
                    "literal-secret",
                    Severity::High,
                    format!("channels.{ch}.{key} is written literally in {}", opts.paths.config.display()),
                    format!("use \"${{{var}}}\" and set the variable for the gateway"),
                ));
            }
        }
    }
    let agents = state.join("agents");
    for entry in std::fs::read_dir(&agents).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default() {
        let file = entry.path().join("agent/models.json");
        let Ok(v) = std::fs::read(&file).map(|b| serde_json::from_slice::<Value>(&b).unwrap_or_default()) else {
            continue;
        };
        for (name, p) in v["providers"].as_object().into_iter().flatten() {
            if let Some(k) = p["apiKey"].as_str()
                && !k.is_empty()
                && !k.contains("${")
            {
                out.push(finding(
                    "literal-api-key",
                    Severity::High,
                    format!("provider {name} has its API key written literally in {}", file.display()),
                    format!("use \"${{{}_API_KEY}}\" and set the variable for the gateway", name.to_uppercase()),
                ));
            }
        }
    }

    // Network exposure.
    if non_loopback && !cfg.gateway.tls.enabled {
        out.push(finding(
            "plaintext-lan",
            Severity::High,
            "the gateway listens beyond loopback without TLS: tokens cross the network in clear",
            "set gateway.tls.enabled (autoGenerate or your certificate), or put it behind a TLS reverse proxy",
        ));
    }
    for (key, access) in [("health", cfg.gateway.health.access), ("metrics", cfg.gateway.metrics.access)] {
        if non_loopback && access == EndpointAccess::Public {
            out.push(finding(
                "endpoint-public",
                Severity::High,
                format!("gateway.{key}.access is public on a non-loopback bind: anyone on the network reads /{key}"),
                format!("set gateway.{key}.access to loopback (the default) or token"),
            ));
        }
    }
    if cfg.gateway.control_ui.allowed_origins.iter().any(|o| o.trim() == "*") {
        out.push(finding(
            "origins-wildcard",
            Severity::High,
            "gateway.controlUi.allowedOrigins contains \"*\": any web page may send requests to the gateway",
            "list the exact origins (scheme://host:port) of the pages that need the gateway",
        ));
    }
    if cfg.gateway.bind == BindMode::Lan
        && let Some(range) = cfg.gateway.trusted_proxies.iter().find(|t| proxy_range_beyond_loopback(t))
    {
        out.push(finding(
            "trusted-proxy-range",
            Severity::High,
            format!("gateway.trustedProxies has the non-loopback range {range} on a lan bind: any host in it can forge client addresses and Host headers"),
            "list the proxy's own address (or bind loopback behind the proxy)",
        ));
    }
    if cfg.discovery.mdns.mode == MdnsMode::Full {
        out.push(finding(
            "mdns-full",
            Severity::Medium,
            "discovery.mdns.mode is full: the CLI path and SSH port are advertised to the network",
            "set discovery.mdns.mode to minimal (the default) or off",
        ));
    }

    // Agent tools and the sandbox.
    agent_findings(cfg, state, &mut out);

    // The process.
    if gateway_uid(state) == 0 {
        out.push(finding(
            "runs-as-root",
            Severity::Medium,
            "the gateway runs as root",
            "run it as its own user (`openclaw gateway install --system`, or the container's node user)",
        ));
    }
    if in_container() {
        if !root_read_only() {
            out.push(finding(
                "container-writable-root",
                Severity::High,
                "the container's root filesystem is writable",
                "run with --read-only (compose: read_only: true) and a volume for the state dir",
            ));
        }
        if cap_eff() != 0 {
            out.push(finding(
                "container-capabilities",
                Severity::High,
                format!("the container keeps capabilities (CapEff {:016x})", cap_eff()),
                "run with --cap-drop ALL (compose: cap_drop: [ALL])",
            ));
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

/// Applies the safe fixes; marks what it fixed.
fn fix(findings: &mut [Finding], loaded: &Loaded, opts: &LoadOptions) {
    for f in findings.iter_mut().filter(|f| f.fixable) {
        let result = match f.id {
            "dir-mode" | "file-mode" | "config-mode" | "tls-key-mode" | "token-file-mode" => {
                let want = if f.id == "dir-mode" { 0o700 } else { 0o600 };
                let p = f.path.clone().unwrap_or_default();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want)).map_err(|e| e.to_string())
            }
            "weak-token" => {
                let p = f.path.clone().unwrap_or_default();
                crate::state::atomic_write(
                    &p,
                    format!("{}\n", crate::auth::random_token()).as_bytes(),
                    crate::state::FILE_MODE,
                )
                .map_err(|e| e.to_string())
            }
            "no-token" => secret::resolve_token(loaded, &opts.paths, true).map(|_| ()).map_err(|e| e.to_string()),
            _ => continue,
        };
        match result {
            Ok(()) => f.fixed = true,
            Err(e) => eprintln!("warning: {} not fixed: {e}", f.id),
        }
    }
}

fn load(opts: &LoadOptions) -> Result<Loaded, i32> {
    crate::config::load(opts).map_err(|e| {
        eprintln!("openclaw: {e}");
        exit::CONFIG
    })
}

pub fn run(cmd: SecurityCmd, opts: &LoadOptions) -> i32 {
    match cmd {
        SecurityCmd::Audit { json, fix: do_fix } => {
            let loaded = match load(opts) {
                Ok(l) => l,
                Err(c) => return c,
            };
            let mut findings = audit(&loaded, opts);
            if do_fix {
                fix(&mut findings, &loaded, opts);
            }
            let open: Vec<&Finding> = findings.iter().filter(|f| !f.fixed).collect();
            let critical = open.iter().any(|f| f.severity == Severity::Critical);
            if json {
                println!("{}", json!({"findings": findings, "critical": critical, "open": open.len()}));
            } else {
                print_findings(&findings);
            }
            if critical { 2 } else { exit::OK }
        }
        SecurityCmd::Report { out } => report(opts, out.as_deref()),
        SecurityCmd::Monitor { conn } => monitor(&conn, opts),
    }
}

fn print_findings(findings: &[Finding]) {
    if findings.is_empty() {
        println!("no findings: the deployment passes the checklist");
        return;
    }
    for f in findings {
        let state = if f.fixed {
            " [fixed]"
        } else if f.fixable {
            " [--fix can fix]"
        } else {
            ""
        };
        println!("{:8} {}{state}\n         fix: {}", format!("{:?}", f.severity).to_uppercase(), f.title, f.fix);
    }
}

fn report(opts: &LoadOptions, out: Option<&Path>) -> i32 {
    let loaded = match load(opts) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let findings = audit(&loaded, opts);
    let mut md = String::new();
    md.push_str(&format!(
        "# OpenClaw gateway security report\n\nGenerated {} on {}.\n\n",
        chrono::Utc::now().to_rfc3339(),
        crate::sys::hostname()
    ));
    md.push_str("## Status\n\n");
    let pid = crate::state::pidfile::running_pid(&opts.paths.state_dir);
    md.push_str(&format!(
        "- gateway: {}\n- config: {}\n- state dir: {}\n- auth mode: {:?}, bind: {:?}, TLS: {}\n\n",
        pid.map(|p| format!("running (pid {p})")).unwrap_or_else(|| "not running".into()),
        opts.paths.config.display(),
        opts.paths.state_dir.display(),
        loaded.config.gateway.auth.mode,
        loaded.config.gateway.bind,
        if loaded.config.gateway.tls.enabled { "on" } else { "off" },
    ));
    md.push_str("## Container\n\n");
    if in_container() {
        md.push_str(&format!(
            "- in a container: yes\n- root filesystem read-only: {}\n- effective capabilities: {:016x}\n- state volume: {}\n\n",
            root_read_only(),
            cap_eff(),
            opts.paths.state_dir.display()
        ));
    } else {
        md.push_str("- in a container: no\n\n");
    }
    md.push_str("## Findings\n\n");
    if findings.is_empty() {
        md.push_str("None: the deployment passes the checklist.\n\n");
    } else {
        md.push_str("| severity | finding | fix |\n|---|---|---|\n");
        for f in &findings {
            md.push_str(&format!(
                "| {:?} | {} | {} |\n",
                f.severity,
                f.title.replace('|', "\\|"),
                f.fix.replace('|', "\\|")
            ));
        }
        md.push('\n');
    }
    md.push_str("## Recent authentication failures\n\n");
    let log = crate::logging::log_file_path(&loaded.config, &opts.paths);
    let failures: Vec<String> = log
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| {
            t.lines()
                .filter(|l| l.contains("authentication failed") || l.contains("locked out"))
                .map(super::logs::pretty)
                .collect()
        })
        .unwrap_or_default();
    if failures.is_empty() {
        md.push_str("None in the log.\n");
    } else {
        for l in failures.iter().rev().take(20).rev() {
            md.push_str(&format!("- `{l}`\n"));
        }
    }
    match out {
        Some(p) => match crate::state::atomic_write(p, md.as_bytes(), crate::state::FILE_MODE) {
            Ok(()) => {
                eprintln!("wrote {}", p.display());
                exit::OK
            }
            Err(e) => {
                eprintln!("openclaw: {e}");
                exit::CANTCREAT
            }
        },
        None => {
            print!("{md}");
            exit::OK
        }
    }
}

/// What a log line means to the monitor, if anything.
pub fn classify(line: &Value) -> Option<(&'static str, Severity)> {
    let msg = line["fields"]["message"].as_str().unwrap_or("");
    Some(match msg {
        m if m.contains("locked out") => ("lockout", Severity::High),
        m if m.contains("authentication failed") => ("auth failure", Severity::Medium),
        m if m.contains("pairing request") || m.contains("pairing requested") => ("pairing request", Severity::Medium),
        m if m.contains("reload rejected") || m.contains("config reload failed") || m.contains("not applied") => {
            ("failed reload", Severity::High)
        }
        m if m.contains("child failed") || m.contains("child restarted") => ("child restart", Severity::High),
        _ => return None,
    })
}

fn monitor(conn: &ConnectArgs, opts: &LoadOptions) -> i32 {
    let color = std::io::stdout().is_terminal();
    let mut client = match Client::connect(conn, opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return e.exit_code();
        }
    };
    let mut cursor = None;
    let mut recent: std::collections::VecDeque<std::time::Instant> = Default::default();
    loop {
        // The first read only positions the cursor: the monitor shows what happens from now.
        let first = cursor.is_none();
        let (lines, _) = match super::logs::tail(&mut client, &mut cursor, 1000) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("openclaw: {e}");
                return e.exit_code();
            }
        };
        if first {
            eprintln!("watching the gateway (Ctrl-C to stop): auth failures, lockouts, pairing, reloads, restarts");
        }
        for line in &lines {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let Some((what, sev)) = classify(&v) else { continue };
            if first {
                continue;
            }
            let now = std::time::Instant::now();
            if what == "auth failure" {
                recent.push_back(now);
                while recent.front().is_some_and(|t| now.duration_since(*t).as_secs() > 60) {
                    recent.pop_front();
                }
            }
            let burst = what == "auth failure" && recent.len() >= 5;
            let text = format!(
                "{}{:14} {}",
                if burst { format!("BURST ({} auth failures in 60 s) ", recent.len()) } else { String::new() },
                what,
                super::logs::pretty(line)
            );
            if color {
                let code = if burst || sev >= Severity::High { "31" } else { "33" };
                println!("\x1b[{code}m{text}\x1b[0m");
            } else {
                println!("{text}");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_entropy() {
        assert!(entropy_bits(&"a".repeat(64)) >= 256.0);
        assert!(entropy_bits("changeme") < 256.0);
        assert!(entropy_bits(&crate::auth::random_token()) >= 256.0);
    }

    #[test]
    fn proxy_ranges_beyond_loopback() {
        for wide in ["10.0.0.0/8", "0.0.0.0/0", "192.168.1.0/24", "fd00::/8", "::/0"] {
            assert!(proxy_range_beyond_loopback(wide), "{wide}");
        }
        for ok in ["10.0.0.5", "10.0.0.5/32", "127.0.0.0/8", "::1/128", "garbage/8", "fd00::1"] {
            assert!(!proxy_range_beyond_loopback(ok), "{ok}");
        }
    }

    #[test]
    fn monitor_classifies_the_guide_events() {
        let l = |m: &str| json!({"fields": {"message": m}});
        assert_eq!(classify(&l("authentication failed")).unwrap().0, "auth failure");
        assert_eq!(classify(&l("address locked out after repeated authentication failures")).unwrap().0, "lockout");
        assert!(classify(&l("gateway ready")).is_none());
    }
}
