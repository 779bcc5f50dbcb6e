//! Configuration: the typed model, the load pipeline, validation (cron job schedules
//! included), diffing and redaction.
//!
//! Pipeline (one function, used by the daemon, `config validate` and every reload):
//! read -> parse JSON5 -> `$include` -> `${VAR}` -> env overrides -> flags -> validate
//! (every problem at once) -> typed [`Config`] with defaults.

pub mod diff;
pub mod edit;
pub mod env;
pub mod form;
pub mod jobs;
pub mod live;
pub mod load;
pub mod model;
pub mod paths;
pub mod redact;
pub mod schedule;
pub mod seed;
pub mod upstream;
pub mod validate;
pub mod zone;

use std::fmt;
use std::path::PathBuf;

pub use load::{LoadOptions, Loaded, Source, load, load_for_client};
pub use model::Config;
pub use paths::Paths;

/// One thing wrong with a configuration, reported as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Dotted config path (`gateway.port`), or `<root>` for the whole document.
    pub path: String,
    pub message: String,
    /// `file:line` when it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), location: None }
    }

    pub fn at(mut self, location: Option<String>) -> Self {
        self.location = location;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A configuration that cannot be used; carries every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid config at {}:\n{}", file.display(), render(problems))]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

fn render(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}
