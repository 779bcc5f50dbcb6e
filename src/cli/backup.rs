//! `openclaw backup create|restore`: the state directory minus logs, as a tar.gz.

use std::fs::File;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::config::LoadOptions;
use crate::exit;
use crate::state::FILE_MODE;
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
        LockError::LeftHeld { .. } | LockError::HeldUnnamed { .. } => (exit::UNAVAILABLE, format!("{e}, then restore")),
        LockError::Io(_) => (exit::CANTCREAT, e.to_string()),
    })?;
    // What restores killed earlier left half-written is of no use to anyone.
    crate::state::sweep_temp_files(state_dir, None);
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
        let Some(target) = inside(state_dir, &rel) else {
            return Err((
                exit::USAGE,
                format!("{} holds a path outside the state dir: {}", file.display(), rel.display()),
            ));
        };
        let header = entry.header();
        match header.entry_type() {
            tar::EntryType::Directory => {
                crate::state::ensure_dir(&target).map_err(|e| (exit::CANTCREAT, e.to_string()))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = header.mode().map_or(FILE_MODE, |m| m & 0o777);
                let mtime = header.mtime().ok().map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
                if let Some(parent) = target.parent() {
                    crate::state::ensure_dir(parent).map_err(|e| (exit::CANTCREAT, e.to_string()))?;
                }
                // Each file replaced whole (temp file, rename) as every state file is written: a
                // restore killed midway leaves each file old or restored, never half of one.
                crate::state::atomic_write_from(&target, &mut entry, mode, mtime)
                    .map_err(|e| (exit::CANTCREAT, e.to_string()))?;
            }
            other => {
                return Err((
                    exit::USAGE,
                    format!("{} holds {} as a {other:?} entry; backups hold files only", file.display(), rel.display()),
                ));
            }
        }
        n += 1;
    }
    Ok(n)
}

/// `rel` under `state_dir`, or None when it would leave it (`..`, an absolute path).
fn inside(state_dir: &Path, rel: &Path) -> Option<PathBuf> {
    let mut out = state_dir.to_path_buf();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(part) => out.push(part),
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    (out != state_dir).then_some(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_cut_short_leaves_each_file_old_or_restored_never_half() {
        let from = tempfile::tempdir().unwrap();
        let rel = Path::new("agents/main/sessions/t.jsonl");
        std::fs::create_dir_all(from.path().join(rel).parent().unwrap()).unwrap();
        // Lines that do not compress away, so the archive is cut inside this file.
        let new: String =
            (0..20_000u64).map(|i| format!("{{\"n\": {}}}\n", i.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
        std::fs::write(from.path().join(rel), &new).unwrap();
        let out = tempfile::tempdir().unwrap();
        let (file, _) = create(from.path(), Some(&out.path().join("b.tar.gz"))).unwrap();
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&file, &whole[..whole.len() / 2]).unwrap();

        let into = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(into.path().join(rel).parent().unwrap()).unwrap();
        std::fs::write(into.path().join(rel), "{\"old\": true}\n").unwrap();
        let (code, e) = restore(into.path(), &file).unwrap_err();
        assert_eq!(code, exit::CANTCREAT, "{e}");
        let kept = std::fs::read_to_string(into.path().join(rel)).unwrap();
        assert!(kept == "{\"old\": true}\n", "the old file is kept whole, not {} bytes of the new one", kept.len());
        let left: Vec<_> = std::fs::read_dir(into.path().join(rel).parent().unwrap()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no temp file is left: {left:?}");

        std::fs::write(&file, &whole).unwrap();
        assert_eq!(restore(into.path(), &file), Ok(1));
        assert!(std::fs::read_to_string(into.path().join(rel)).unwrap() == new, "restored whole");
    }

    #[test]
    fn paths_leaving_the_state_dir_and_links_are_refused() {
        let state = Path::new("/state");
        assert_eq!(
            inside(state, Path::new("./devices/paired.json")),
            Some(PathBuf::from("/state/devices/paired.json"))
        );
        assert_eq!(inside(state, Path::new("../etc/passwd")), None);
        assert_eq!(inside(state, Path::new("devices/../../x")), None);
        assert_eq!(inside(state, Path::new("/etc/passwd")), None);
        assert_eq!(inside(state, Path::new(".")), None);

        let out = tempfile::tempdir().unwrap();
        let file = out.path().join("link.tar.gz");
        let gz = flate2::write::GzEncoder::new(File::create(&file).unwrap(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, "config.json5", "/etc/passwd").unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let into = tempfile::tempdir().unwrap();
        let (code, e) = restore(into.path(), &file).unwrap_err();
        assert_eq!(code, exit::USAGE, "{e}");
        assert!(e.contains("files only"), "{e}");
        assert!(!into.path().join("config.json5").exists());
    }
}
