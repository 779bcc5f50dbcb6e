//! `openclaw deploy init [--dir DIR]`: the production guide's one-step deployment as a command.
//! Lays out `config/` (secrets, certs, agents/main/agent, all 0700), makes the token file and a
//! self-signed certificate unless they exist, writes a starter config and models.json that use
//! `${VAR}` for keys, the compose files, validates, audits, and prints how to start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::env::EnvSnapshot;
use crate::config::{LoadOptions, Paths};
use crate::exit;
use crate::state::{self, FILE_MODE};

const COMPOSE: &str = include_str!("../../compose.yaml");
const COMPOSE_PROD: &str = include_str!("../../compose.prod.yaml");
const MODELS: &str = include_str!("../../config/models.example.json");
/// The container user (uid/gid 1000, `node`) must read the files mounted into it.
const CONTAINER_UID: u32 = 1000;

const STARTER: &str = r#"// openclaw gateway config for the container (written by `openclaw deploy init`).
// Mounted read-only and copied into the state volume at start (OPENCLAW_CONFIG_SEED), so
// runtime edits live in the volume until this file changes. The token is the compose secret
// (/run/secrets/gateway_token); API keys are ${VARIABLES} from the environment.
{
  gateway: {
    port: 18789,
    bind: "lan",
    auth: { mode: "token" },
    tls: {
      enabled: true,
      cert: "/tmp/openclaw_config/certs/server.crt",
      key: "/tmp/openclaw_config/certs/server.key",
    },
  },
  agents: {
    defaults: { model: "deepseek/deepseek-chat", maxConcurrent: 4 },
  },
  cron: {
    jobs: [{ schedule: "0 */6 * * *", command: "backup-sessions" }],
  },
  discovery: { mdns: { mode: "off" } },
  logging: { level: "info" },
}
"#;

fn dir_0700(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).map_err(|e| format!("{}: {e}", p.display()))
}

/// Writes `text` to `p` unless it exists; says which.
fn write_new(p: &Path, text: &[u8], mode: u32, made: &mut Vec<String>, kept: &mut Vec<String>) -> Result<(), String> {
    if p.exists() {
        kept.push(p.display().to_string());
        return Ok(());
    }
    state::atomic_write(p, text, mode).map_err(|e| e.to_string())?;
    made.push(p.display().to_string());
    Ok(())
}

pub fn init(dir: &Path) -> i32 {
    match run(dir) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("openclaw: {e}");
            exit::CANTCREAT
        }
    }
}

fn run(dir: &Path) -> Result<i32, String> {
    let config = dir.join("config");
    let (secrets, certs, agent) = (config.join("secrets"), config.join("certs"), config.join("agents/main/agent"));
    for d in [&config, &secrets, &certs, &config.join("agents"), &config.join("agents/main"), &agent] {
        dir_0700(d)?;
    }
    let (mut made, mut kept) = (Vec::new(), Vec::new());
    let token_file = secrets.join("gateway_token");
    write_new(&token_file, format!("{}\n", crate::auth::random_token()).as_bytes(), FILE_MODE, &mut made, &mut kept)?;
    let (cert, key) = (certs.join("server.crt"), certs.join("server.key"));
    if cert.exists() && key.exists() {
        kept.push(format!("{} (your certificate)", cert.display()));
    } else {
        let fp = crate::net::tls::generate(&cert, &key).map_err(|e| e.to_string())?;
        made.push(format!("{} (self-signed, SHA-256 {fp})", cert.display()));
    }
    let cfg_file = config.join("openclaw.json5");
    write_new(&cfg_file, STARTER.as_bytes(), FILE_MODE, &mut made, &mut kept)?;
    write_new(&agent.join("models.json"), MODELS.as_bytes(), FILE_MODE, &mut made, &mut kept)?;
    write_new(&dir.join("compose.yaml"), COMPOSE.as_bytes(), 0o644, &mut made, &mut kept)?;
    write_new(&dir.join("compose.prod.yaml"), COMPOSE_PROD.as_bytes(), 0o644, &mut made, &mut kept)?;

    // The container runs as uid 1000 and reads these through bind mounts.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let (agents, main) = (config.join("agents"), config.join("agents/main"));
        let models = agent.join("models.json");
        for p in [&config, &secrets, &certs, &token_file, &key, &cert, &cfg_file, &agents, &main, &agent, &models] {
            let _ = std::os::unix::fs::chown(p, Some(CONTAINER_UID), Some(CONTAINER_UID));
        }
    }

    for m in &made {
        println!("created {m}");
    }
    for k in &kept {
        println!("kept    {k}");
    }

    // Validate what the container will load.
    let env = EnvSnapshot::capture();
    let opts = LoadOptions {
        paths: Paths { state_dir: config.clone(), config: cfg_file.clone(), explicit: true },
        env,
        flags: Vec::new(),
        require_file: true,
    };
    let loaded = match crate::config::load(&opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("openclaw: {} does not validate:\n{e}", cfg_file.display());
            return Ok(exit::CONFIG);
        }
    };
    if let Err(e) = crate::agents::models::load(&agent.join("models.json")) {
        eprintln!("openclaw: {e}");
        return Ok(exit::CONFIG);
    }
    println!("validated {} and {}", cfg_file.display(), agent.join("models.json").display());

    // The container's own checks (TLS on, token from the secret) apply there; audit the files.
    let findings = super::security::audit(&loaded, &opts);
    let serious: Vec<_> = findings
        .iter()
        // Facts about this shell (root, its own container) say nothing about the deployment.
        .filter(|f| f.severity >= super::security::Severity::High)
        .filter(|f| f.id != "runs-as-root" && !f.id.starts_with("container-"))
        .collect();
    if serious.is_empty() {
        println!("security audit: no high or critical findings");
    } else {
        println!("security audit:");
        for f in &serious {
            println!("  {:?}: {} (fix: {})", f.severity, f.title, f.fix);
        }
    }
    let dir_shown = dir.canonicalize().unwrap_or_else(|_| PathBuf::from(dir));
    println!(
        "\nNext:\n  export DEEPSEEK_API_KEY=...   # the key models.json names\n  cd {}\n  podman compose -f compose.yaml -f compose.prod.yaml up -d     (or: docker compose ...)\n  openclaw health --url wss://127.0.0.1:18789 --token \"$(cat config/secrets/gateway_token)\"",
        dir_shown.display()
    );
    Ok(exit::OK)
}
