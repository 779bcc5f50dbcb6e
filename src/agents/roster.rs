//! Which agents this gateway knows and how they present themselves (`agents.list`,
//! `agent.identity.get`). The config has no agent list or identities yet: `main` always
//! exists, and so does every agent that has a directory in the state dir (runs made it).

use std::path::Path;

use super::valid_agent_id;

pub const DEFAULT_AGENT: &str = "main";
/// Upstream's fallback identity when nothing is configured.
pub const DEFAULT_NAME: &str = "Assistant";
pub const DEFAULT_AVATAR: &str = "A";

/// The known agent ids: `main` first, then the others sorted.
pub fn ids(state_dir: &Path) -> Vec<String> {
    let mut others: Vec<String> = std::fs::read_dir(state_dir.join("agents"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| valid_agent_id(id) && id != DEFAULT_AGENT)
        .collect();
    others.sort();
    std::iter::once(DEFAULT_AGENT.to_string()).chain(others).collect()
}

pub fn is_known(state_dir: &Path, id: &str) -> bool {
    id == DEFAULT_AGENT || (valid_agent_id(id) && state_dir.join("agents").join(id).is_dir())
}

/// An agent's display name and avatar (an initial, as upstream's fallback).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub name: String,
    pub avatar: String,
}

/// Nothing to configure yet, so every agent shows upstream's defaults.
pub fn identity(_agent_id: &str) -> Identity {
    Identity { name: DEFAULT_NAME.into(), avatar: DEFAULT_AVATAR.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_first_then_agent_directories_with_valid_ids() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(ids(d.path()), ["main"]);
        for id in ["zed", "main", "alpha", "bad id"] {
            std::fs::create_dir_all(d.path().join("agents").join(id)).unwrap();
        }
        std::fs::write(d.path().join("agents/file"), "").unwrap();
        assert_eq!(ids(d.path()), ["main", "alpha", "zed"]);
        assert!(is_known(d.path(), "alpha") && is_known(d.path(), "main"));
        assert!(!is_known(d.path(), "nope") && !is_known(d.path(), "bad id") && !is_known(d.path(), "../x"));
    }
}
