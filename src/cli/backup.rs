//! `openclaw backup create|restore` (the state directory minus logs, as a tar.gz) and
//! `openclaw logs` (the gateway's file log through `logs.tail`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use super::client::{Client, ClientError, ConnectArgs};
use crate::config::LoadOptions;
use crate::exit;
use crate::state::pidfile::{LockError, PidLock};

#[derive(Subcommand, Debug)]
pub enum BackupCmd {
    /// Write the state directory (config, devices, sessions, cron, certs, secrets; not logs)
    /// to a tar.gz. Safe while the gateway runs: its files are replaced atomically.
    Create {
        /// Where to write [default: <state>/backups/state-<time>.tar.gz].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Restore a backup into the state directory. Refused while a gateway runs on it.
    Restore { file: PathBuf },
}

/// What a backup leaves out: logs, the pid lock, earlier backups, temp files of atomic writes.
fn skipped(rel: &Path) -> bool {
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    matches!(first.as_str(), "logs" | "backups" | "gateway.pid" | "gateway.lock")
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
        if skipped(&rel) {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(&path, base, out)?;
        } else if ft.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

pub fn create(state_dir: &Path, out: Option<&Path>) -> Result<(PathBuf, usize), String> {
    let out = match out {
        Some(o) => o.to_path_buf(),
        None => {
            let dir = state_dir.join("backups");
            crate::state::ensure_dir(&dir).map_err(|e| e.to_string())?;
            dir.join(format!("state-{}.tar.gz", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")))
        }
    };
    let mut files = Vec::new();
    walk(state_dir, state_dir, &mut files).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let tmp = out.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        let mut tar = tar::Builder::new(GzEncoder::new(f, Compression::default()));
        for rel in &files {
            // Each file is read whole: a file replaced meanwhile is read as one version or
            // the other, never half of each.
            let bytes = match std::fs::read(state_dir.join(rel)) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // removed meanwhile
                Err(e) => return Err(e),
            };
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(chrono::Utc::now().timestamp() as u64);
            h.set_cksum();
            tar.append_data(&mut h, rel, bytes.as_slice())?;
        }
        tar.into_inner()?.finish()?.sync_all()?;
        std::fs::rename(&tmp, &out)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", out.display()));
    }
    Ok((out, files.len()))
}

pub fn restore(state_dir: &Path, file: &Path) -> Result<usize, (i32, String)> {
    // Holding the gateway's own lock proves no gateway runs on this state dir meanwhile.
    crate::state::ensure_dir(state_dir).map_err(|e| (exit::CANTCREAT, e.to_string()))?;
    let _lock = PidLock::acquire(state_dir).map_err(|e| match e {
        LockError::AlreadyRunning { .. } => {
            (exit::UNAVAILABLE, format!("{e}; stop it first (`openclaw gateway stop` or SIGTERM), then restore"))
        }
        LockError::Io(_) => (exit::CANTCREAT, e.to_string()),
    })?;
    let f = File::open(file).map_err(|e| (exit::USAGE, format!("cannot open {}: {e}", file.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut n = 0;
    let entries = archive.entries().map_err(|e| (exit::USAGE, format!("{} is not a backup: {e}", file.display())))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| (exit::USAGE, format!("{} is damaged: {e}", file.display())))?;
        let rel = entry.path().map_err(|e| (exit::USAGE, e.to_string()))?.into_owned();
        if skipped(&rel) {
            continue;
        }
        if let Some(parent) = state_dir.join(&rel).parent() {
            crate::state::ensure_dir(parent).map_err(|e| (exit::CANTCREAT, e.to_string()))?;
        }
        // unpack_in refuses paths that would leave the state directory.
        let inside = entry.unpack_in(state_dir).map_err(|e| (exit::CANTCREAT, format!("{}: {e}", rel.display())))?;
        if !inside {
            return Err((
                exit::USAGE,
                format!("{} holds a path outside the state dir: {}", file.display(), rel.display()),
            ));
        }
        n += 1;
    }
    Ok(n)
}

pub fn run(cmd: BackupCmd, opts: &LoadOptions) -> i32 {
    let state = &opts.paths.state_dir;
    match cmd {
        BackupCmd::Create { out } => match create(state, out.as_deref()) {
            Ok((path, n)) => {
                println!("{}", path.display());
                eprintln!("backed up {n} files from {} (logs left out)", state.display());
                exit::OK
            }
            Err(e) => {
                eprintln!("openclaw: {e}");
                exit::CANTCREAT
            }
        },
        BackupCmd::Restore { file } => match restore(state, &file) {
            Ok(n) => {
                println!("restored {n} files into {}", state.display());
                exit::OK
            }
            Err((code, e)) => {
                eprintln!("openclaw: {e}");
                code
            }
        },
    }
}

/// `openclaw logs [--follow] [--json]`.
pub fn logs(follow: bool, json_out: bool, lines: u64, args: &ConnectArgs, opts: &LoadOptions) -> i32 {
    let mut client = match Client::connect(args, opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return e.exit_code();
        }
    };
    let mut cursor: Option<u64> = None;
    loop {
        let (lines, reset) = match tail(&mut client, &mut cursor, lines.clamp(1, 5000)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("openclaw: {e}");
                return e.exit_code();
            }
        };
        if reset {
            eprintln!("-- log file rotated --");
        }
        for line in &lines {
            if json_out {
                println!("{line}");
            } else {
                println!("{}", pretty(line));
            }
        }
        if !follow {
            return exit::OK;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The file-log lines after `cursor` (the last `limit` when there is none yet), moving the
/// cursor on; also whether the log was rotated meanwhile.
pub fn tail(client: &mut Client, cursor: &mut Option<u64>, limit: u64) -> Result<(Vec<String>, bool), ClientError> {
    let mut params = json!({"limit": limit});
    if let Some(c) = cursor {
        params["cursor"] = json!(c);
    }
    let r = client.call("logs.tail", params)?;
    *cursor = r["cursor"].as_u64();
    let lines = r["lines"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    Ok((lines, r["reset"] == true))
}

/// One JSON log line as `time LEVEL message key=value ...`.
pub fn pretty(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(line) else { return line.to_string() };
    let fields = v["fields"].as_object();
    let msg = fields.and_then(|f| f.get("message")).and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = fields
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "message")
        .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    format!(
        "{} {:5} {msg} {}",
        v["timestamp"].as_str().unwrap_or(""),
        v["level"].as_str().unwrap_or(""),
        rest.join(" ")
    )
    .trim_end()
    .to_string()
}
