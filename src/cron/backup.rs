//! The `backup-sessions` command: every agent's session transcripts into one tar.gz under
//! `<state>/backups/` (written to a temp file, synced, then renamed), keeping the newest N.

use std::path::{Path, PathBuf};

use crate::state::{self, StateError};

const PREFIX: &str = "sessions-";
const SUFFIX: &str = ".tar.gz";

/// Writes a backup; returns its path and how many files it holds.
pub fn backup_sessions(state_dir: &Path, keep: usize) -> Result<(PathBuf, usize), StateError> {
    let dir = state_dir.join("backups");
    state::ensure_dir(&dir)?;
    // Names sort by time; two backups within one microsecond take the next one.
    let file = loop {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let file = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
        if !file.exists() {
            break file;
        }
    };
    let count = state::archive::write_tar_gz(&file, state_dir, &session_files(state_dir))?;
    prune(&dir, keep.max(1));
    Ok((file, count))
}

/// `agents/<id>/sessions/<file>` for every agent, relative to the state dir, sorted.
fn session_files(state_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut ids: Vec<_> =
        std::fs::read_dir(state_dir.join("agents")).map(|r| r.flatten().collect()).unwrap_or_default();
    ids.sort_by_key(|e| e.file_name());
    for agent in ids {
        let Ok(entries) = std::fs::read_dir(agent.path().join("sessions")) else { continue };
        let mut files: Vec<_> = entries.flatten().filter(|e| e.path().is_file()).collect();
        files.sort_by_key(|e| e.file_name());
        out.extend(
            files.iter().map(|f| Path::new("agents").join(agent.file_name()).join("sessions").join(f.file_name())),
        );
    }
    out
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
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&made[2]).unwrap());
        let names: Vec<String> = tar::Archive::new(gz)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["agents/main/sessions/a.jsonl", "agents/ops/sessions/a.jsonl"]);
    }
}
