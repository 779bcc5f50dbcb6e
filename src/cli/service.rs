//! `openclaw gateway install|uninstall|start|stop|restart|status`: the gateway as a systemd
//! unit (user or hardened system unit) or a launchd agent, rendered from the templates in
//! `systemd/` and `launchd/`. Units never hold a secret.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, ValueEnum};

use crate::config::LoadOptions;
use crate::exit;

const SYSTEMD_TEMPLATE: &str = include_str!("../../systemd/openclaw-gateway.service");
const LAUNCHD_TEMPLATE: &str = include_str!("../../launchd/ai.openclaw.gateway.plist");
const UNIT: &str = "openclaw-gateway.service";
const LABEL: &str = "ai.openclaw.gateway";
/// The system unit's dedicated user and its state directory (systemd `StateDirectory=`).
const SYSTEM_USER: &str = "openclaw";
const SYSTEM_STATE: &str = "/var/lib/openclaw";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Manager {
    Systemd,
    Launchd,
}

#[derive(Args, Debug, Clone)]
pub struct ServiceArgs {
    /// A user service (default): systemd --user, or a launchd agent.
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// A system service (systemd): dedicated user, hardened, state in /var/lib/openclaw.
    #[arg(long)]
    pub system: bool,
    /// Print what would be written and run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write files below this directory instead of / and run no service manager (packaging,
    /// tests).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Service manager [default: launchd on macOS, systemd elsewhere].
    #[arg(long, value_enum)]
    pub manager: Option<Manager>,
    /// System units: a token file handed to the service with LoadCredential= (never copied
    /// into the unit).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// `install`: also install shell completions (bash, zsh, fish) and the man pages;
    /// `uninstall` removes them.
    #[arg(long)]
    pub completions: bool,
    /// `status`: how to reach the gateway for the RPC probe.
    #[command(flatten)]
    pub conn: super::client::ConnectArgs,
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Install,
    Uninstall,
    Start,
    Stop,
    Restart,
    Status,
}

struct Plan {
    manager: Manager,
    system: bool,
    /// Where the unit or plist goes (below `--root` when given).
    path: PathBuf,
    text: String,
}

fn home(opts: &LoadOptions) -> PathBuf {
    opts.env.get("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"))
}

fn below(root: Option<&Path>, p: &Path) -> PathBuf {
    match root {
        Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    }
}

fn bin() -> String {
    std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/openclaw".into())
}

/// systemd `Environment=` values are quoted when they hold spaces.
fn env_line(k: &str, v: &str) -> String {
    if v.contains([' ', '"', '\\']) {
        format!("Environment=\"{k}={}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        format!("Environment={k}={v}")
    }
}

/// The systemd unit for this install.
pub fn render_systemd(
    bin: &str,
    state_dir: &Path,
    config: Option<&Path>,
    system: bool,
    token_file: Option<&Path>,
) -> String {
    let state = if system { PathBuf::from(SYSTEM_STATE) } else { state_dir.to_path_buf() };
    let mut env = vec![env_line("OPENCLAW_STATE_DIR", &state.display().to_string())];
    if let Some(c) = config {
        env.push(env_line("OPENCLAW_CONFIG_PATH", &c.display().to_string()));
    }
    // The allocator setting the daemon wants: given here, it does not re-execute itself to
    // apply it (a second exec and dynamic link on every start).
    env.push(env_line("GLIBC_TUNABLES", crate::lifecycle::MALLOC_TUNABLES));
    let hardening = if system {
        let mut h = vec![
            "".to_string(),
            "# A system service: its own user, its state in /var/lib/openclaw, nothing else writable.".into(),
            format!("User={SYSTEM_USER}"),
            format!("Group={SYSTEM_USER}"),
            "StateDirectory=openclaw".into(),
            "StateDirectoryMode=0700".into(),
            "ProtectSystem=strict".into(),
            "ProtectHome=true".into(),
            "PrivateTmp=true".into(),
            "PrivateDevices=true".into(),
            "NoNewPrivileges=true".into(),
            "ProtectKernelTunables=true".into(),
            "ProtectKernelModules=true".into(),
            "ProtectControlGroups=true".into(),
            "RestrictSUIDSGID=true".into(),
            "LockPersonality=true".into(),
            "# AF_UNIX for D-Bus (mDNS through avahi) and sd_notify; AF_NETLINK to list interfaces.".into(),
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK".into(),
            "CapabilityBoundingSet=".into(),
            "AmbientCapabilities=".into(),
            "UMask=0077".into(),
        ];
        if let Some(t) = token_file {
            h.push(format!("LoadCredential=gateway_token:{}", t.display()));
            env.push(env_line("OPENCLAW_GATEWAY_TOKEN_FILE", "%d/gateway_token"));
        }
        h.push(String::new());
        h.join("\n")
    } else {
        String::new()
    };
    SYSTEMD_TEMPLATE
        .lines()
        .filter(|l| !l.starts_with("#:"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("@KIND@", if system { "system unit" } else { "user unit" })
        .replace("@ENVIRONMENT@", &env.join("\n"))
        .replace("@HARDENING@", &hardening)
        .replace("@WANTED_BY@", if system { "multi-user.target" } else { "default.target" })
        .replace("@BIN@", bin)
        + "\n"
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The launchd agent plist for this install.
pub fn render_launchd(bin: &str, state_dir: &Path, home: &Path) -> String {
    LAUNCHD_TEMPLATE
        .replace("@BIN@", &xml(bin))
        .replace("@STATE_DIR@", &xml(&state_dir.display().to_string()))
        .replace("@HOME@", &xml(&home.display().to_string()))
}

fn plan(args: &ServiceArgs, opts: &LoadOptions) -> Plan {
    let manager = args.manager.unwrap_or(if cfg!(target_os = "macos") { Manager::Launchd } else { Manager::Systemd });
    let home = home(opts);
    let config = opts.paths.explicit.then_some(opts.paths.config.as_path());
    let (path, text) = match manager {
        Manager::Systemd if args.system => (
            PathBuf::from("/etc/systemd/system").join(UNIT),
            render_systemd(&bin(), &opts.paths.state_dir, config, true, args.token_file.as_deref()),
        ),
        Manager::Systemd => (
            home.join(".config/systemd/user").join(UNIT),
            render_systemd(&bin(), &opts.paths.state_dir, config, false, None),
        ),
        Manager::Launchd => (
            home.join("Library/LaunchAgents").join(format!("{LABEL}.plist")),
            render_launchd(&bin(), &opts.paths.state_dir, &home),
        ),
    };
    Plan { manager, system: args.system, path: below(args.root.as_deref(), &path), text }
}

/// Where `--completions` puts completions and man pages for this install.
fn extras(args: &ServiceArgs, opts: &LoadOptions) -> super::shell::Extras {
    super::shell::Extras::locate(args.system, &home(opts), |p| below(args.root.as_deref(), p))
}

/// The service-manager commands for `action`.
fn commands(p: &Plan, action: Action) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match p.manager {
        Manager::Systemd => {
            let mut base = vec!["systemctl"];
            if !p.system {
                base.push("--user");
            }
            let with = |more: &[&str]| s(&[base.as_slice(), more].concat());
            match action {
                Action::Install => vec![with(&["daemon-reload"]), with(&["enable", "--now", UNIT])],
                Action::Uninstall => vec![with(&["disable", "--now", UNIT]), with(&["daemon-reload"])],
                Action::Start => vec![with(&["start", UNIT])],
                Action::Stop => vec![with(&["stop", UNIT])],
                Action::Restart => vec![with(&["restart", UNIT])],
                Action::Status => vec![with(&["show", "-p", "ActiveState,SubState,MainPID,ExecMainStatus", UNIT])],
            }
        }
        Manager::Launchd => {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            let domain = format!("gui/{uid}");
            let target = format!("{domain}/{LABEL}");
            let path = p.path.display().to_string();
            match action {
                Action::Install | Action::Start => vec![s(&["launchctl", "bootstrap", &domain, &path])],
                Action::Uninstall | Action::Stop => vec![s(&["launchctl", "bootout", &target])],
                Action::Restart => vec![s(&["launchctl", "kickstart", "-k", &target])],
                Action::Status => vec![s(&["launchctl", "print", &target])],
            }
        }
    }
}

fn run_cmd(cmd: &[String]) -> Result<String, String> {
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e} (is {} installed and running here?)", cmd.join(" "), cmd[0]))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("`{}` failed: {}{}", cmd.join(" "), String::from_utf8_lossy(&out.stderr).trim(), text.trim()))
    }
}

/// User units stop at logout unless the user lingers.
fn linger_warning(opts: &LoadOptions) {
    let user = opts.env.get("USER").map(str::to_string).unwrap_or_else(|| "root".into());
    if !Path::new("/var/lib/systemd/linger").join(&user).exists() {
        eprintln!(
            "warning: lingering is off for {user}: the user service stops when {user} logs out and does not \
             start at boot. Run: sudo loginctl enable-linger {user}"
        );
    }
}

pub fn run(action: Action, args: &ServiceArgs, opts: &LoadOptions) -> i32 {
    let p = plan(args, opts);
    let touch_manager = args.root.is_none() && !args.dry_run;
    match action {
        Action::Install => {
            if args.dry_run {
                println!("# would write {}\n{}", p.path.display(), p.text);
                if args.completions {
                    println!("# would write {}", extras(args, opts).describe().join(", "));
                }
                for c in commands(&p, action) {
                    println!("# would run: {}", c.join(" "));
                }
                return exit::OK;
            }
            let unchanged = std::fs::read_to_string(&p.path).is_ok_and(|t| t == p.text);
            if unchanged {
                println!("{} is installed and unchanged", p.path.display());
            } else {
                if let Some(dir) = p.path.parent()
                    && let Err(e) = std::fs::create_dir_all(dir)
                {
                    eprintln!("openclaw: cannot create {}: {e}", dir.display());
                    return exit::CANTCREAT;
                }
                // 0644: service managers read these; they hold no secret.
                if let Err(e) = crate::state::atomic_write(&p.path, p.text.as_bytes(), 0o644) {
                    eprintln!("openclaw: {e}");
                    return exit::CANTCREAT;
                }
                println!("wrote {}", p.path.display());
            }
            if args.completions {
                let extras = extras(args, opts);
                if let Err(e) = extras.install() {
                    eprintln!("openclaw: {e}");
                    return exit::CANTCREAT;
                }
                println!("wrote completions and man pages: {}", extras.describe().join(", "));
            }
            if p.manager == Manager::Systemd && !p.system {
                linger_warning(opts);
            }
            if p.manager == Manager::Systemd && p.system && touch_manager {
                ensure_system_user();
            }
            if touch_manager { run_all(&commands(&p, action)) } else { exit::OK }
        }
        Action::Uninstall => {
            if args.dry_run {
                for c in commands(&p, action) {
                    println!("# would run: {}", c.join(" "));
                }
                println!("# would remove {}", p.path.display());
                if args.completions {
                    println!("# would remove {}", extras(args, opts).describe().join(", "));
                }
                return exit::OK;
            }
            let mut code = exit::OK;
            if touch_manager && p.path.exists() {
                // Stopping may fail when it is not running; removing the file still goes ahead.
                for c in commands(&p, action) {
                    if let Err(e) = run_cmd(&c) {
                        eprintln!("warning: {e}");
                    }
                }
            }
            if args.completions {
                match extras(args, opts).remove() {
                    Ok(n) => println!("removed {n} completion and man page files"),
                    Err(e) => {
                        eprintln!("openclaw: {e}");
                        code = exit::CANTCREAT;
                    }
                }
            }
            match std::fs::remove_file(&p.path) {
                Ok(()) => println!("removed {}", p.path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("{} is not installed", p.path.display()),
                Err(e) => {
                    eprintln!("openclaw: cannot remove {}: {e}", p.path.display());
                    code = exit::CANTCREAT;
                }
            }
            code
        }
        Action::Start | Action::Stop | Action::Restart => {
            if !p.path.exists() {
                eprintln!(
                    "openclaw: not installed ({} missing); run `openclaw gateway install` first",
                    p.path.display()
                );
                return exit::UNAVAILABLE;
            }
            if !touch_manager {
                for c in commands(&p, action) {
                    println!("# would run: {}", c.join(" "));
                }
                return exit::OK;
            }
            run_all(&commands(&p, action))
        }
        Action::Status => status(&p, &args.conn, opts, touch_manager),
    }
}

fn run_all(cmds: &[Vec<String>]) -> i32 {
    for c in cmds {
        if let Err(e) = run_cmd(c) {
            eprintln!("openclaw: {e}");
            return exit::UNAVAILABLE;
        }
    }
    exit::OK
}

fn ensure_system_user() {
    let exists = Command::new("id").arg(SYSTEM_USER).output().is_ok_and(|o| o.status.success());
    if !exists {
        let made = Command::new("useradd")
            .args([
                "--system",
                "--home-dir",
                SYSTEM_STATE,
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ])
            .status();
        match made {
            Ok(s) if s.success() => println!("created system user {SYSTEM_USER}"),
            _ => eprintln!("warning: could not create user {SYSTEM_USER}; create it: useradd --system {SYSTEM_USER}"),
        }
    }
}

fn status(p: &Plan, conn: &super::client::ConnectArgs, opts: &LoadOptions, ask_manager: bool) -> i32 {
    println!("unit:    {} ({})", p.path.display(), if p.path.exists() { "installed" } else { "not installed" });
    if ask_manager && p.path.exists() {
        for c in commands(p, Action::Status) {
            match run_cmd(&c) {
                Ok(out) => {
                    for l in out.lines().filter(|l| !l.trim().is_empty()).take(12) {
                        println!("service: {l}");
                    }
                }
                Err(e) => println!("service: unknown ({e})"),
            }
        }
    }
    println!("config:  {}", opts.paths.config.display());
    match crate::state::pidfile::running_pid(&opts.paths.state_dir) {
        Some(pid) => println!("pid:     {pid}"),
        None => println!("pid:     none (no live gateway.pid)"),
    }
    let probe = super::client::Client::connect(conn, opts).and_then(|mut c| c.call("status", serde_json::json!({})));
    match probe {
        Ok(s) => {
            let listen: Vec<&str> =
                s["listen"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
            println!("listen:  {}", listen.join(", "));
            println!(
                "RPC probe: ok (version {}, {})",
                s["version"].as_str().unwrap_or("?"),
                s["phase"].as_str().unwrap_or("?")
            );
            exit::OK
        }
        Err(e) => {
            println!("RPC probe: failed: {e}");
            exit::UNAVAILABLE
        }
    }
}
