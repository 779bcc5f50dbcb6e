//! The command line: argument parsing and dispatch. Usage errors exit 64.

mod agent;
mod backup;
mod channels;
mod chat;
pub mod client;
mod config_cmd;
mod cron;
mod dashboard;
mod deploy;
mod discover;
mod doctor;
mod logs;
mod memory;
mod out;
mod probe;
mod remote;
mod sandbox;
mod security;
mod service;
mod sessions;
mod shell;
mod token;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::config::env::EnvSnapshot;
use crate::config::model::{BindMode, LogFormat, LogLevel};
use crate::config::{LoadOptions, Paths};
use crate::exit;
use crate::gateway::{self, GatewayOptions};

const ABOUT: &str = "The OpenClaw gateway: a supervised daemon serving the OpenClaw control plane \
(WebSocket RPC, HTTP probes) on one port, and the operator's CLI for it.";

const AFTER_HELP: &str = "\
Config file: --config, else $OPENCLAW_CONFIG_PATH, else <state>/config.json5, else <state>/openclaw.json
State dir:   --state-dir, else $OPENCLAW_STATE_DIR, else ~/.openclaw (~ = $OPENCLAW_HOME or $HOME)
Precedence:  flags > environment > config file > built-in defaults
Exit codes:  0 ok, 1 RPC error, 64 usage, 69 unavailable (port in use, already running, gateway
             not answering), 70 internal failure or restart budget exhausted, 73 state dir not
             writable, 77 refused by the gateway (auth, pairing), 78 invalid config;
             `doctor` exits 1 when a check fails, `security audit` 2 while a critical finding remains";

#[derive(Parser, Debug)]
#[command(name = "openclaw", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes.
#[derive(Args, Debug)]
pub struct Globals {
    /// Config file to use (JSON5).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory (pid file, logs, devices, sessions...).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The `gateway` command alone, with the global options: clap builds a command tree before it
/// parses, and the gateway's start need not pay for the whole (about 1 ms of it).
#[derive(Parser, Debug)]
#[command(name = "openclaw")]
struct GatewayOnly {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: GatewayOnlyCmd,
}

#[derive(Subcommand, Debug)]
enum GatewayOnlyCmd {
    Gateway(GatewayCmd),
}

impl Cli {
    /// Parses the process's arguments. A `gateway` command is parsed against the gateway's part
    /// of the tree; whatever that part does not take (an error, `--help`, another command) is
    /// parsed again by the whole, whose messages and usage lines are what users see.
    fn parse_args() -> Result<Self, clap::Error> {
        if std::env::args_os().any(|a| a == "gateway")
            && let Ok(GatewayOnly { globals, command: GatewayOnlyCmd::Gateway(g) }) = GatewayOnly::try_parse()
        {
            return Ok(Self { globals, command: Command::Gateway(g) });
        }
        Self::try_parse()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway in the foreground (same as `gateway run`).
    Gateway(GatewayCmd),
    /// Inspect and check the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Ask the running gateway for its health.
    Health {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
    /// Show the running gateway's status.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
    /// The gateway's TLS certificate.
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Prepare a container deployment (the production guide's one-step script).
    #[command(subcommand)]
    Deploy(DeployCmd),
    /// Print the Control UI's URL with the gateway token (and open it in a desktop browser):
    /// how a browser gets the token, which every client needs, local ones included.
    Dashboard {
        /// Print the URL only; do not start a browser.
        #[arg(long)]
        no_open: bool,
    },
    /// Exit 0 when the local gateway is ready (GET /readyz): for container HEALTHCHECKs.
    Healthcheck {
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout: u64,
    },
    /// Check the installation against the guides' troubleshooting list; --fix repairs what it safely can.
    Doctor {
        #[arg(long)]
        fix: bool,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
    /// Audit the deployment, write a report, or watch the gateway live.
    #[command(subcommand)]
    Security(security::SecurityCmd),
    /// The gateway's shared token.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Back up or restore the state directory.
    #[command(subcommand)]
    Backup(backup::BackupCmd),
    /// Print the gateway's log (through the running gateway's `logs.tail`).
    Logs {
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
        /// Raw JSON lines.
        #[arg(long)]
        json: bool,
        /// How many recent lines to start with.
        #[arg(long, default_value_t = 200)]
        lines: u64,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
    /// Send one message to an agent through the running gateway and print its answer.
    Agent(agent::AgentArgs),
    /// Chat with an agent in the terminal: streamed answers, /new, /abort, /session, /model,
    /// /approve, /deny, /exit.
    Chat(chat::ChatArgs),
    /// Scheduled jobs: list, add, edit, remove, run now, run history.
    #[command(subcommand)]
    Cron(cron::CronCmd),
    /// The agent's conversations: list (--active MIN), reset, delete.
    Sessions(sessions::SessionsCmd),
    /// The models an agent can use and the chain a run tries.
    #[command(subcommand)]
    Models(sessions::ModelsCmd),
    /// Print a shell completion script: `source <(openclaw completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: shell::CompletionShell,
    },
    /// Print the openclaw(1) man page, or with --out write a page per command into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// The agent sandbox: check this host, or run a command in it.
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCmd),
    /// The agents' memory index: status, index now, search.
    #[command(subcommand)]
    Memory(memory::MemoryCmd),
    /// List and answer host commands waiting for an operator's approval.
    Approvals {
        #[command(subcommand)]
        cmd: remote::ApprovalsCmd,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
    /// The chat channels (Discord, Slack): status, and --probe to test their tokens.
    #[command(subcommand)]
    Channels(channels::ChannelsCmd),
    /// DM pairing: list waiting senders, approve or reject their codes.
    #[command(subcommand)]
    Pairing(channels::PairingCmd),
    /// List, approve, reject devices; revoke or rotate their tokens.
    Devices {
        #[command(subcommand)]
        cmd: remote::DevicesCmd,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayCmd {
    #[command(subcommand)]
    pub sub: Option<GatewaySub>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum GatewaySub {
    /// Run the gateway in the foreground until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Find gateways on the local network (mDNS `_openclaw-gw._tcp`).
    Discover {
        /// How long to listen, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout: u64,
        #[arg(long)]
        json: bool,
    },
    /// Install the gateway as a service (systemd unit or launchd agent); idempotent.
    Install(service::ServiceArgs),
    /// Stop and remove the service.
    Uninstall(service::ServiceArgs),
    /// Start the installed service.
    Start(service::ServiceArgs),
    /// Stop the installed service.
    Stop(service::ServiceArgs),
    /// Restart the installed service.
    Restart(service::ServiceArgs),
    /// Service state, PID, config path, listen addresses and an RPC probe.
    Status(service::ServiceArgs),
    /// Call one RPC method on the running gateway and print the result.
    Call {
        /// Method name, e.g. health, config.get, device.pair.list.
        method: String,
        /// Parameters as JSON (or JSON5).
        #[arg(long)]
        params: Option<String>,
        /// Print the payload as one line of JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
}

#[derive(Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// Port for HTTP and WebSocket (0 picks a free one) [default: 18789].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=65535))]
    pub port: Option<u32>,
    /// Bind preset.
    #[arg(long, value_enum)]
    pub bind: Option<BindMode>,
    /// Address or host name to bind instead of the preset.
    #[arg(long)]
    pub host: Option<String>,
    /// Shared gateway token (beats OPENCLAW_GATEWAY_TOKEN and the config).
    #[arg(long)]
    pub token: Option<String>,
    /// Log level (beats RUST_LOG and OPENCLAW_LOG_LEVEL).
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
    /// Console log format [default: pretty on a terminal, plain text otherwise].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Subcommand, Debug)]
pub enum DeployCmd {
    /// Create config/ (secrets, certs, agents), a token file, a certificate, a starter config,
    /// models.json and compose files in DIR; validate and audit them; print how to start.
    Init {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Replace the token with a new random one, in the source in use; the old one stays valid
    /// for the grace period.
    Rotate {
        /// How long the old token keeps working (e.g. 30s, 10m, 1h) [default:
        /// gateway.auth.previousTokenGraceMs].
        #[arg(long)]
        grace: Option<String>,
        #[command(flatten)]
        conn: client::ConnectArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum TlsCmd {
    /// Print the SHA-256 fingerprint of the certificate the gateway uses.
    Fingerprint,
    /// Generate a self-signed certificate into <state>/certs/ (refuses to replace one without --force).
    Generate {
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Check the config the way the gateway loads it; exit 78 when invalid.
    Validate {
        /// Machine-readable result.
        #[arg(long)]
        json: bool,
        /// The gateway's flags, to check exactly what `gateway` with them would load.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print the effective config (secrets redacted) and where each value came from.
    Show {
        #[arg(long)]
        json: bool,
        /// The gateway's flags, shown with source `flag`.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print the config file path in use.
    Path,
    /// Print the JSON Schema of the config.
    Schema,
}

/// What `openclaw --version` prints (clap's own line, as the test below checks).
fn version_line() -> String {
    format!("openclaw {}\n", env!("CARGO_PKG_VERSION"))
}

/// Parses the command line, runs it, returns the exit code.
pub fn main() -> i32 {
    // `--version` alone (scripts, health checks, image builds) is answered before clap builds
    // its command tree, about a third of that command's time.
    let mut argv = std::env::args_os().skip(1);
    if let (Some(a), None) = (argv.next(), argv.next())
        && (a == "--version" || a == "-V")
    {
        let _ = std::io::Write::write_all(&mut std::io::stdout(), version_line().as_bytes());
        return exit::OK;
    }
    let cli = match Cli::parse_args() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    if let Command::Gateway(GatewayCmd { sub: None | Some(GatewaySub::Run(_)), .. }) = &cli.command {
        crate::lifecycle::tune_allocator();
    }
    let env = EnvSnapshot::capture();
    let paths = Paths::resolve(cli.globals.config.as_deref(), cli.globals.state_dir.as_deref(), &env);
    match cli.command {
        Command::Gateway(g) => {
            let args = match g.sub {
                Some(GatewaySub::Run(a)) => a,
                Some(GatewaySub::Discover { timeout, json }) => return discover::run(timeout, json),
                Some(
                    sub @ (GatewaySub::Install(_)
                    | GatewaySub::Uninstall(_)
                    | GatewaySub::Start(_)
                    | GatewaySub::Stop(_)
                    | GatewaySub::Restart(_)
                    | GatewaySub::Status(_)),
                ) => {
                    let load = LoadOptions { paths, env, flags: Vec::new(), require_file: false };
                    let (action, args) = match sub {
                        GatewaySub::Install(a) => (service::Action::Install, a),
                        GatewaySub::Uninstall(a) => (service::Action::Uninstall, a),
                        GatewaySub::Start(a) => (service::Action::Start, a),
                        GatewaySub::Stop(a) => (service::Action::Stop, a),
                        GatewaySub::Restart(a) => (service::Action::Restart, a),
                        GatewaySub::Status(a) => (service::Action::Status, a),
                        _ => unreachable!("matched above"),
                    };
                    return service::run(action, &args, &load);
                }
                Some(GatewaySub::Call { method, params, json, conn }) => {
                    let load = LoadOptions { paths, env, flags: Vec::new(), require_file: false };
                    return remote::call(&method, params.as_deref(), json, &conn, &load);
                }
                None => g.run,
            };
            let load = LoadOptions { paths, env, flags: flag_overrides(&args), require_file: false };
            gateway::run(GatewayOptions {
                load,
                log_format: args.log_format,
                level_from_flag: args.log_level.is_some(),
            })
        }
        Command::Health { json, conn } => {
            remote::health(json, &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Status { json, conn } => {
            remote::status(json, &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Agent(a) => agent::run(a, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Chat(a) => chat::run(a, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Cron(cmd) => cron::run(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Sessions(cmd) => {
            sessions::sessions(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Models(cmd) => {
            sessions::models(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Completion { shell } => shell::completion(shell),
        Command::Man { out } => shell::man(out.as_deref()),
        Command::Approvals { cmd, conn } => {
            remote::approvals(cmd, &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Devices { cmd, conn } => {
            remote::devices(cmd, &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Deploy(DeployCmd::Init { dir }) => deploy::init(&dir),
        Command::Dashboard { no_open } => {
            dashboard::run(no_open, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Healthcheck { timeout } => {
            probe::run(timeout, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Doctor { fix, conn } => {
            doctor::run(fix, &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Sandbox(cmd) => sandbox::run(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Channels(cmd) => {
            channels::status(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Pairing(cmd) => {
            channels::pairing(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Memory(cmd) => memory::run(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Security(cmd) => {
            security::run(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Token(TokenCmd::Rotate { grace, conn }) => {
            token::rotate(grace.as_deref(), &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Backup(cmd) => backup::run(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Logs { follow, json, lines, conn } => {
            logs::logs(follow, json, lines, &conn, &LoadOptions { paths, env, flags: Vec::new(), require_file: false })
        }
        Command::Tls(cmd) => tls_cmd(cmd, &LoadOptions { paths, env, flags: Vec::new(), require_file: false }),
        Command::Config(cmd) => {
            let flags = match &cmd {
                ConfigCmd::Validate { run, .. } | ConfigCmd::Show { run, .. } => flag_overrides(run),
                ConfigCmd::Path | ConfigCmd::Schema => Vec::new(),
            };
            let load = LoadOptions { paths, env, flags, require_file: false };
            config_cmd::run(cmd, &load)
        }
    }
}

fn flag_overrides(a: &RunArgs) -> Vec<(String, String, serde_json::Value)> {
    let mut out = Vec::new();
    if let Some(p) = a.port {
        out.push(("port".into(), "gateway.port".into(), json!(p)));
    }
    if let Some(b) = a.bind {
        out.push(("bind".into(), "gateway.bind".into(), serde_json::to_value(b).unwrap_or_default()));
    }
    if let Some(h) = &a.host {
        out.push(("host".into(), "gateway.host".into(), json!(h)));
    }
    if let Some(t) = &a.token {
        out.push(("token".into(), "gateway.auth.token".into(), json!(t)));
    }
    if let Some(l) = a.log_level {
        out.push(("log-level".into(), "logging.level".into(), json!(l.as_str())));
    }
    out
}

fn tls_cmd(cmd: TlsCmd, opts: &LoadOptions) -> i32 {
    use crate::net::tls;
    let loaded = match crate::config::load(opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return exit::CONFIG;
        }
    };
    let mut cfg = loaded.config.gateway.tls.clone();
    match cmd {
        TlsCmd::Fingerprint => {
            let (cert, _, _) = match tls::pair_paths(&cfg, &opts.paths) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("openclaw: {e}");
                    return exit::CONFIG;
                }
            };
            let pem = match std::fs::read(&cert) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!(
                        "openclaw: cannot read {}: {e} (start the gateway with TLS, or run `openclaw tls generate`)",
                        cert.display()
                    );
                    return exit::UNAVAILABLE;
                }
            };
            match openssl::x509::X509::from_pem(&pem) {
                Ok(c) => {
                    println!("{}", tls::fingerprint(&c));
                    exit::OK
                }
                Err(e) => {
                    eprintln!("openclaw: {} is not a PEM certificate: {e}", cert.display());
                    exit::CONFIG
                }
            }
        }
        TlsCmd::Generate { force } => {
            // Generation always targets the state dir, whatever cert/key the config names.
            cfg.cert = None;
            cfg.key = None;
            cfg.auto_generate = true;
            let (cert, key, _) = tls::pair_paths(&cfg, &opts.paths).expect("generated paths");
            if cert.exists() && !force {
                eprintln!(
                    "openclaw: {} exists; pass --force to replace it (clients pinning the old fingerprint must update)",
                    cert.display()
                );
                return exit::USAGE;
            }
            match tls::generate(&cert, &key) {
                Ok(fp) => {
                    println!("{fp}");
                    eprintln!(
                        "wrote {} and {} (0600); a running gateway picks them up on the next handshake",
                        cert.display(),
                        key.display()
                    );
                    exit::OK
                }
                Err(e) => {
                    eprintln!("openclaw: {e}");
                    exit::CANTCREAT
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_fast_path_prints_what_clap_prints() {
        use clap::CommandFactory;
        assert_eq!(super::version_line(), super::Cli::command().render_version());
    }

    #[test]
    fn the_gateway_part_of_the_tree_parses_as_the_whole_does() {
        use clap::Parser;
        fn argv(line: &str) -> Vec<&str> {
            std::iter::once("openclaw").chain(line.split_whitespace()).collect()
        }
        for line in [
            "gateway",
            "gateway run",
            "--state-dir /s gateway --port 0",
            "--config c.json5 gateway run --bind lan --log-level debug",
            "gateway run --state-dir /s --token t",
            "gateway status",
            "gateway call health --params {}",
        ] {
            let whole = super::Cli::try_parse_from(argv(line)).unwrap();
            let part = super::GatewayOnly::try_parse_from(argv(line)).unwrap();
            let super::GatewayOnlyCmd::Gateway(g) = part.command;
            let part = super::Cli { globals: part.globals, command: super::Command::Gateway(g) };
            assert_eq!(format!("{part:?}"), format!("{whole:?}"), "{line}");
        }
        // What the part refuses goes to the whole: its messages are the ones users see.
        for line in ["gateway --bogus", "gateway --help", "gateway --port 70000", "health"] {
            assert!(super::GatewayOnly::try_parse_from(argv(line)).is_err(), "{line}");
        }
    }
}
