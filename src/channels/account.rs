//! One channel account's working parts, shared by its connection loop and the tasks that
//! answer its messages: the rules (replaced on reload without a reconnect), what it remembers
//! across restarts (messages already handled, DM conversations to backfill, the session to
//! resume), its status entry and the platform API to answer through.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::dedupe::Seen;
use super::outbound::Outbound;
use super::pairing::Store;
use super::settings::Rules;
use super::status::{AccountStatus, Board};
use super::{ChatType, Inbound};
use crate::agents::Agents;
use crate::metrics::Metrics;

/// How long, and how many, handled message ids are remembered.
const SEEN_TTL: Duration = Duration::from_secs(6 * 3600);
const SEEN_MAX: usize = 20_000;
/// DM conversations with a message in this window are backfilled after a reconnect.
pub const BACKFILL_WINDOW: Duration = Duration::from_secs(3600);

/// A Discord gateway session that can be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub session_id: String,
    pub seq: u64,
    pub url: String,
}

/// What an account remembers across restarts of its actor (kept by the channels actor, used
/// by one incarnation at a time; dropped when the account's token changes).
pub struct Memory {
    seen: Seen,
    /// DM conversation -> (newest message id seen in it, when).
    dms: HashMap<String, (String, Instant)>,
    pub resume: Option<Resume>,
}

impl Default for Memory {
    fn default() -> Self {
        Self { seen: Seen::new(SEEN_TTL, SEEN_MAX), dms: HashMap::new(), resume: None }
    }
}

impl Memory {
    /// DM conversations active within the backfill window, with the newest message id seen.
    pub fn recent_dms(&self, now: Instant) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .dms
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) <= BACKFILL_WINDOW)
            .map(|(c, (id, _))| (c.clone(), id.clone()))
            .collect();
        v.sort();
        v
    }
}

pub type SharedMemory = Arc<Mutex<Memory>>;

/// Numeric ids compare by length first (Discord snowflakes); others as text.
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

pub struct Account {
    pub channel: &'static str,
    pub id: String,
    pub rules: watch::Receiver<Arc<Rules>>,
    pub memory: SharedMemory,
    pub agents: Arc<Agents>,
    pub pairing: Arc<Store>,
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
    pub out: Outbound,
    /// The bot's own user id, once the platform has said it.
    pub bot_id: std::cell::RefCell<Option<String>>,
}

impl Account {
    pub fn status(&self, f: impl FnOnce(&mut AccountStatus)) {
        self.board.update(self.channel, &self.id, f);
    }

    /// Whether this is the first delivery of `m` (recorded, counted); a repeat is dropped.
    pub fn first_time(&self, m: &Inbound) -> bool {
        let now = Instant::now();
        {
            let mut mem = self.memory.lock();
            if !mem.seen.first_time(&format!("{}/{}", m.chat_id, m.message_id), now) {
                tracing::debug!(channel = self.channel, message = %m.message_id, "already handled; dropped");
                return false;
            }
            if m.chat_type == ChatType::Dm {
                let e = mem.dms.entry(m.chat_id.clone()).or_insert_with(|| (m.message_id.clone(), now));
                if newer(&m.message_id, &e.0) || e.0 == m.message_id {
                    *e = (m.message_id.clone(), now);
                }
            }
        }
        self.metrics.channel_message(self.channel, "in");
        self.status(|s| s.last_inbound_at = Some(crate::sys::now_ms()));
        #[cfg(feature = "fault-injection")]
        if m.text == "openclaw-fault:panic" {
            panic!("fault injection: a {} account panics on a message", self.channel);
        }
        true
    }

    /// Remembers the bot's own messages in DMs too, so a backfill starts after them.
    pub fn note_dm(&self, chat_id: &str, message_id: &str) {
        let mut mem = self.memory.lock();
        if let Some(e) = mem.dms.get_mut(chat_id)
            && newer(message_id, &e.0)
        {
            e.0 = message_id.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_compare_as_numbers() {
        assert!(newer("1000", "999"));
        assert!(!newer("999", "1000"));
        assert!(newer("1700000000.000200", "1700000000.000100"));
    }
}
