//! `openclaw backup create|restore`: the state directory minus logs, as a tar.gz.

use std::fs::File;
use std::path::{Path, PathBuf};

use clap::Subcommand;

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
    use crate::state::pidfile::{LOCK_FILE, PID_FILE};
    matches!(first.as_str(), "logs" | "backups")
        || first == PID_FILE
        || first == LOCK_FILE
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
    let n = crate::state::archive::write_tar_gz(&out, state_dir, &files).map_err(|e| format!("cannot write {e}"))?;
    Ok((out, n))
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
