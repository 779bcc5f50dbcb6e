//! The `backup-sessions` command: every agent's session transcripts into one tar.gz under
//! `<state>/backups/` (written to a temp file, synced, then renamed), keeping the newest N.

use std::fs::File;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::state::{self, StateError};

const PREFIX: &str = "sessions-";
const SUFFIX: &str = ".tar.gz";

/// Writes a backup; returns its path and how many files it holds.
pub fn backup_sessions(state_dir: &Path, keep: usize) -> Result<(PathBuf, usize), String> {
    let dir = state_dir.join("backups");
    state::ensure_dir(&dir).map_err(|e| e.to_string())?;
    // Names sort by time; two backups within one microsecond take the next one.
    let (stamp, file) = loop {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
        let file = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
        if !file.exists() {
            break (stamp, file);
        }
    };
    let tmp = dir.join(format!(".{PREFIX}{stamp}.tmp"));
    let result = write(state_dir, &tmp).and_then(|n| {
        std::fs::rename(&tmp, &file).map_err(|e| StateError::new(&file, e))?;
        Ok(n)
    });
    let count = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.to_string());
        }
    };
    prune(&dir, keep.max(1));
    Ok((file, count))
}

fn write(state_dir: &Path, tmp: &Path) -> Result<usize, StateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e| StateError::new(tmp, e);
    let out = std::fs::OpenOptions::new().write(true).create_new(true).mode(state::FILE_MODE).open(tmp).map_err(err)?;
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    let mut n = 0;
    let agents = state_dir.join("agents");
    let mut ids: Vec<_> = std::fs::read_dir(&agents).map(|r| r.flatten().collect()).unwrap_or_default();
    ids.sort_by_key(|e| e.file_name());
    for agent in ids {
        let sessions = agent.path().join("sessions");
        let Ok(entries) = std::fs::read_dir(&sessions) else { continue };
        let mut files: Vec<_> = entries.flatten().filter(|e| e.path().is_file()).collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let name = Path::new("agents").join(agent.file_name()).join("sessions").join(f.file_name());
            let mut src = File::open(f.path()).map_err(|e| StateError::new(&f.path(), e))?;
            tar.append_file(&name, &mut src).map_err(err)?;
            n += 1;
        }
    }
    let gz = tar.into_inner().map_err(err)?;
    let out = gz.finish().map_err(err)?;
    out.sync_all().map_err(err)?;
    Ok(n)
}

/// Removes the oldest backups beyond `keep` (names sort by time).
fn prune(dir: &Path, keep: usize) {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(path = %old.display(), error = %e, "old backup not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_up_every_agents_sessions_and_keeps_the_newest() {
        let d = tempfile::tempdir().unwrap();
        for agent in ["main", "ops"] {
            let s = d.path().join("agents").join(agent).join("sessions");
            std::fs::create_dir_all(&s).unwrap();
            std::fs::write(s.join("a.jsonl"), "{}\n").unwrap();
        }
        let mut made = Vec::new();
        for _ in 0..3 {
            let (path, n) = backup_sessions(d.path(), 2).unwrap();
            assert_eq!(n, 2);
            made.push(path);
        }
        assert!(!made[0].exists(), "the oldest is pruned");
        assert!(made[1].exists() && made[2].exists());
        let gz = flate2::read::GzDecoder::new(File::open(&made[2]).unwrap());
        let names: Vec<String> = tar::Archive::new(gz)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["agents/main/sessions/a.jsonl", "agents/ops/sessions/a.jsonl"]);
    }
}
