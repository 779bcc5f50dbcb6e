//! The live config: the generation in effect now. Everyone reads it; only the ConfigActor
//! swaps it (the [`LiveWriter`] half is handed to it alone, by its child spec).

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

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

type Subscriber = Box<dyn Fn(&ConfigChanged) + Send + Sync>;

/// Subscribers to [`ConfigChanged`]. Kept outside the ConfigActor so subscriptions outlive
/// any one of its incarnations.
#[derive(Default)]
pub struct ConfigBus {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl ConfigBus {
    pub fn subscribe(&self, f: impl Fn(&ConfigChanged) + Send + Sync + 'static) {
        self.subscribers.lock().push(Box::new(f));
    }

    /// Only the ConfigActor publishes (it is the one writer of the live config).
    pub fn publish(&self, ev: &ConfigChanged) {
        for s in self.subscribers.lock().iter() {
            s(ev);
        }
    }
}
