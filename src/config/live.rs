//! The live config: the generation in effect now. Everyone reads it; only the ConfigActor
//! swaps it (the [`LiveWriter`] half is handed to it alone, by its child spec) and publishes
//! [`ConfigChanged`] and the [`ReloadFacts`].

use std::sync::Arc;

use parking_lot::RwLock;

use super::Loaded;
use super::diff::ConfigDiff;

/// A config generation as currently applied.
#[derive(Debug)]
pub struct Live {
    pub loaded: Loaded,
    /// 1 for the boot config, +1 per applied reload.
    pub generation: u64,
}

/// A read handle on the live config (cheap to clone).
#[derive(Clone)]
pub struct LiveConfig(Arc<RwLock<Arc<Live>>>);

/// The one write handle: swaps in a new generation.
pub struct LiveWriter(Arc<RwLock<Arc<Live>>>);

impl LiveConfig {
    /// The boot generation and its single writer.
    pub fn new(loaded: Loaded) -> (Self, LiveWriter) {
        let cell = Arc::new(RwLock::new(Arc::new(Live { loaded, generation: 1 })));
        (Self(cell.clone()), LiveWriter(cell))
    }

    /// The config in effect now.
    pub fn get(&self) -> Arc<Live> {
        self.0.read().clone()
    }
}

impl LiveWriter {
    /// The config in effect now (the writer reads what it wrote).
    pub fn get(&self) -> Arc<Live> {
        self.0.read().clone()
    }

    /// Swaps in a new config as the next generation.
    pub fn swap(&self, loaded: Loaded) -> Arc<Live> {
        let mut guard = self.0.write();
        let next = Arc::new(Live { loaded, generation: guard.generation + 1 });
        *guard = next.clone();
        next
    }
}

/// Fact: a new config is live.
#[derive(Clone)]
pub struct ConfigChanged {
    pub live: Arc<Live>,
    pub diff: Arc<ConfigDiff>,
}

/// The last reload and its outcome (for `/health` and the RPC), with the running counts:
/// published by the ConfigActor alone, through a watch channel.
#[derive(Debug, Clone, Default)]
pub struct ReloadFacts {
    pub last: Option<ReloadRecord>,
    pub applied: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

/// One reload as `/health` shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadRecord {
    pub at: chrono::DateTime<chrono::Utc>,
    pub trigger: String,
    pub outcome: String,
    pub problems: Vec<super::Problem>,
    pub changed: Vec<String>,
    pub restart_required: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Certificate reload result, when the files changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
}
