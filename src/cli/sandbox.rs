//! `openclaw sandbox`: whether this host can sandbox agent commands, and running one command
//! exactly as a sandboxed agent exec would (workspace, allowlisted paths and domains from the
//! config), to try a policy by hand.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;

use crate::config::LoadOptions;
use crate::exit;
use crate::sandbox::{self, Bind, Spec, proxy};

#[derive(Subcommand, Debug)]
pub enum SandboxCmd {
    /// Say whether sandboxed commands can run here (exit 0), or why not (exit 69).
    Check,
    /// Run a command in the sandbox, with the config's workspace, `allowlist.paths` and
    /// `allowlist.domains` (flags add to them). Exits with the command's status; 69 when
    /// this host cannot sandbox (never runs it unsandboxed).
    Exec {
        /// The workspace (read-write, the working directory); default the agent workspace,
        /// <state>/workspace.
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        /// Another path to bind, `PATH` (read-write) or `PATH:ro`.
        #[arg(long = "bind", value_name = "PATH[:ro]")]
        binds: Vec<String>,
        /// Another domain the egress proxy lets through (`name`, `*.suffix`).
        #[arg(long = "allow-domain", value_name = "NAME")]
        domains: Vec<String>,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Inside a sandbox: bridge 127.0.0.1:PORT to the egress proxy's socket and run COMMAND.
    #[command(hide = true)]
    Bridge {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        port: u16,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<OsString>,
    },
}

pub fn run(cmd: SandboxCmd, opts: &LoadOptions) -> i32 {
    match cmd {
        SandboxCmd::Check => match sandbox::probe() {
            Ok(b) => {
                println!(
                    "sandbox: bubblewrap ({}) works here: namespaces, no network but the egress proxy",
                    b.bwrap.display()
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("sandbox: unavailable: {e}");
                exit::UNAVAILABLE
            }
        },
        SandboxCmd::Bridge { socket, port, command } => match sandbox::bridge::run(&socket, port, &command) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("openclaw sandbox bridge: {e}");
                exit::SOFTWARE
            }
        },
        SandboxCmd::Exec { workspace, binds, domains, command } => exec(opts, workspace, binds, domains, command),
    }
}

fn exec(
    opts: &LoadOptions,
    workspace: Option<PathBuf>,
    binds: Vec<String>,
    domains: Vec<String>,
    command: Vec<OsString>,
) -> i32 {
    let loaded = match crate::config::load(opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return exit::CONFIG;
        }
    };
    let backend = match sandbox::backend() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sandbox: refusing to run the command unsandboxed: {e}");
            return exit::UNAVAILABLE;
        }
    };
    let cfg = &loaded.config.agents.defaults.sandbox.allowlist;
    let workspace = workspace.unwrap_or_else(|| opts.paths.state_dir.join("workspace"));
    if let Err(e) = std::fs::create_dir_all(&workspace) {
        eprintln!("sandbox: cannot create the workspace {}: {e}", workspace.display());
        return exit::CANTCREAT;
    }
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let binds: Vec<Bind> = cfg.paths.iter().chain(&binds).map(|p| Bind::parse(p)).collect();
    let policy = proxy::Policy {
        allow: cfg.domains.iter().chain(&domains).cloned().collect(),
        gateway_ports: vec![loaded.config.gateway.port as u16],
    };
    // The proxy's socket lives in a private directory for this one command.
    let dir = std::env::temp_dir().join(format!("openclaw-sandbox-{}", uuid::Uuid::new_v4().simple()));
    if let Err(e) = std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&dir) {
        eprintln!("sandbox: cannot create {} for the egress proxy: {e}", dir.display());
        return exit::CANTCREAT;
    }
    let socket = dir.join("egress.sock");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sock = socket.clone();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return ready_tx.send(Err(e.to_string())).unwrap_or(()),
        };
        rt.block_on(async move {
            match tokio::net::UnixListener::bind(&sock) {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    let (_keep, rx) = tokio::sync::watch::channel(Arc::new(policy));
                    // No gateway in this process: the configured port is all there is to refuse.
                    let (_keep_bound, bound) = tokio::sync::watch::channel(Vec::new());
                    proxy::serve(l, rx, bound).await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            }
        });
    });
    let started = ready_rx.recv().unwrap_or_else(|_| Err("the proxy thread ended".into()));
    if let Err(e) = started {
        eprintln!("sandbox: cannot start the egress proxy: {e}");
        let _ = std::fs::remove_dir_all(&dir);
        return exit::SOFTWARE;
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let spec = Spec { workspace, workdir: None, binds, proxy_socket: Some(socket), env: Vec::new() };
    let status = std::process::Command::new(&backend.bwrap).args(sandbox::bwrap::args(&spec, &exe, &command)).status();
    let _ = std::fs::remove_dir_all(&dir);
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        }
        Err(e) => {
            eprintln!("sandbox: cannot run bwrap: {e}");
            exit::UNAVAILABLE
        }
    }
}
