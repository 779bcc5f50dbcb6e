//! Where the state directory and the config file are, from flags and the environment.

use std::path::{Path, PathBuf};

use super::env::EnvSnapshot;

/// File names tried, in order, inside the state directory.
pub const CONFIG_NAMES: [&str; 2] = ["config.json5", "openclaw.json"];

/// The resolved locations for one gateway or CLI invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub state_dir: PathBuf,
    /// The config file to read, or the path a new one would be written to.
    pub config: PathBuf,
    /// True when the file was named explicitly (flag or OPENCLAW_CONFIG_PATH):
    /// then it must exist.
    pub explicit: bool,
}

impl Paths {
    /// `--state-dir` > `$OPENCLAW_STATE_DIR` > `~/.openclaw` (`~` = `$OPENCLAW_HOME`, else `$HOME`);
    /// `--config` > `$OPENCLAW_CONFIG_PATH` > `<state>/config.json5` > `<state>/openclaw.json`.
    pub fn resolve(flag_config: Option<&Path>, flag_state: Option<&Path>, env: &EnvSnapshot) -> Self {
        let state_dir = flag_state
            .map(Path::to_path_buf)
            .or_else(|| env.get("OPENCLAW_STATE_DIR").map(PathBuf::from))
            .unwrap_or_else(|| {
                let home = env
                    .get("OPENCLAW_HOME")
                    .or_else(|| env.get("HOME"))
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/"));
                home.join(".openclaw")
            });
        let explicit =
            flag_config.map(Path::to_path_buf).or_else(|| env.get("OPENCLAW_CONFIG_PATH").map(PathBuf::from));
        match explicit {
            Some(config) => Self { state_dir, config: absolute(config), explicit: true },
            None => {
                let config = CONFIG_NAMES
                    .iter()
                    .map(|n| state_dir.join(n))
                    .find(|p| p.exists())
                    .unwrap_or_else(|| state_dir.join(CONFIG_NAMES[0]));
                Self { state_dir, config, explicit: false }
            }
        }
    }

    pub fn default_log_file(&self) -> PathBuf {
        self.state_dir.join("logs").join("gateway.log")
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p) }
}
