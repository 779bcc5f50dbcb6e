//! The read-only config seed (`OPENCLAW_CONFIG_SEED`, the production guide's fix for EROFS):
//! the operator mounts the config read-only anywhere; it is copied into the writable state
//! volume when the volume has none, or when the seed changed since the last copy (tracked by
//! its SHA-256 in `<state>/config.seed.sha256`). Otherwise the state copy, with any runtime
//! edits, stays.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::LoadOptions;
use crate::state::{self, FILE_MODE, StateError};

pub const VAR: &str = "OPENCLAW_CONFIG_SEED";
const MARKER: &str = "config.seed.sha256";

/// What [`apply`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Seeded {
    /// No seed configured.
    None,
    /// The state copy is current.
    Unchanged,
    /// The seed was copied (first time, or it changed).
    Copied,
}

/// Why the seed was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read the config seed {} ({VAR}): {source}; mount the file there or unset {VAR}", seed.display())]
    Read { seed: PathBuf, source: std::io::Error },
    #[error("cannot copy the config seed: {0}")]
    Copy(StateError),
    /// The copy is in place but its hash is not recorded (the next start copies again).
    #[error("{0}")]
    Marker(StateError),
}

/// Copies the seed into place when needed.
pub fn apply(opts: &LoadOptions) -> Result<Seeded, SeedError> {
    let Some(seed) = opts.env.get(VAR) else { return Ok(Seeded::None) };
    let seed = Path::new(seed);
    let bytes = std::fs::read(seed).map_err(|source| SeedError::Read { seed: seed.into(), source })?;
    let hash = crate::sys::hex(&Sha256::digest(&bytes));
    let target = &opts.paths.config;
    let marker = opts.paths.state_dir.join(MARKER);
    let last = std::fs::read_to_string(&marker).ok().map(|s| s.trim().to_string());
    if target.exists() && last.as_deref() == Some(hash.as_str()) {
        return Ok(Seeded::Unchanged);
    }
    state::write_file(target, &bytes, FILE_MODE).map_err(SeedError::Copy)?;
    state::atomic_write(&marker, format!("{hash}\n").as_bytes(), FILE_MODE).map_err(SeedError::Marker)?;
    Ok(Seeded::Copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Paths;
    use crate::config::env::EnvSnapshot;

    #[test]
    fn copies_when_missing_or_changed_and_keeps_runtime_edits_otherwise() {
        let d = tempfile::tempdir().unwrap();
        let seed = d.path().join("seed.json5");
        let state = d.path().join("state");
        std::fs::write(&seed, "{ logging: { level: 'warn' } }").unwrap();
        let env = EnvSnapshot::from_pairs([(VAR.to_string(), seed.display().to_string())]);
        let opts = LoadOptions {
            paths: Paths::resolve(None, Some(&state), &env),
            env,
            flags: Vec::new(),
            require_file: false,
        };
        assert_eq!(apply(&opts).unwrap(), Seeded::Copied);
        let target = state.join("config.json5");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{ logging: { level: 'warn' } }");
        // A runtime edit survives while the seed is unchanged.
        std::fs::write(&target, "{ logging: { level: 'debug' } }").unwrap();
        assert_eq!(apply(&opts).unwrap(), Seeded::Unchanged);
        assert!(std::fs::read_to_string(&target).unwrap().contains("debug"));
        // The operator changes the seed: it wins.
        std::fs::write(&seed, "{ logging: { level: 'error' } }").unwrap();
        assert_eq!(apply(&opts).unwrap(), Seeded::Copied);
        assert!(std::fs::read_to_string(&target).unwrap().contains("error"));
        std::fs::remove_file(&seed).unwrap();
        assert!(apply(&opts).unwrap_err().to_string().contains(VAR));
    }
}
