//! What each channel account is doing, for `channels.status`, `/health` and the Control UI:
//! one entry per account, written by that account's current incarnation while it runs and by
//! the channels actor between incarnations (start, stop, a failure), never by two at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;

/// One account's state, in upstream's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountStatus {
    pub configured: bool,
    /// "config", "env" or "none".
    pub token_source: &'static str,
    pub running: bool,
    /// The socket is up and the platform said it is ready (READY/RESUMED, hello).
    pub connected: bool,
    pub last_start_at: Option<i64>,
    pub last_stop_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
    pub last_connected_at: Option<i64>,
    /// The bot's own user id on the platform, once known.
    pub bot_id: Option<String>,
    pub reconnects: u64,
    pub resumes: u64,
    pub identifies: u64,
    /// Restarts of the account after a failure.
    pub restarts: u64,
    /// A failure that restarting cannot fix (a refused token): the account waits for a config change.
    pub fatal: bool,
}

/// Every account's status, keyed "channel:account".
#[derive(Default)]
pub struct Board {
    accounts: RwLock<BTreeMap<String, AccountStatus>>,
}

pub fn key(channel: &str, account: &str) -> String {
    format!("{channel}:{account}")
}

impl Board {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn get(&self, channel: &str, account: &str) -> Option<AccountStatus> {
        self.accounts.read().get(&key(channel, account)).cloned()
    }

    /// Every account, as (channel, account, status).
    pub fn all(&self) -> Vec<(String, String, AccountStatus)> {
        self.accounts
            .read()
            .iter()
            .map(|(k, s)| {
                let (c, a) = k.split_once(':').unwrap_or((k, "default"));
                (c.to_string(), a.to_string(), s.clone())
            })
            .collect()
    }

    pub fn update(&self, channel: &str, account: &str, f: impl FnOnce(&mut AccountStatus)) {
        f(self.accounts.write().entry(key(channel, account)).or_default());
    }

    pub fn remove(&self, channel: &str, account: &str) {
        self.accounts.write().remove(&key(channel, account));
    }
}

/// Whether a connected account has gone quiet while traffic is expected: nothing inbound for
/// `stale_ms`, when it had inbound traffic in the day before that silence began and has been
/// connected for at least `stale_ms`.
pub fn stale(s: &AccountStatus, now_ms: i64, stale_ms: i64) -> bool {
    const DAY_MS: i64 = 86_400_000;
    if stale_ms <= 0 || !s.running || !s.connected {
        return false;
    }
    let Some(last_in) = s.last_inbound_at else { return false };
    let connected_long = s.last_connected_at.is_some_and(|c| now_ms - c >= stale_ms);
    let silent = now_ms - last_in >= stale_ms;
    let had_traffic = now_ms - last_in < DAY_MS + stale_ms;
    connected_long && silent && had_traffic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_after_traffic_is_stale_quiet_without_traffic_is_not() {
        let min = 60_000;
        let mut s = AccountStatus {
            running: true,
            connected: true,
            last_connected_at: Some(0),
            last_inbound_at: Some(10 * min),
            ..Default::default()
        };
        assert!(!stale(&s, 40 * min, 60 * min), "30 min of quiet is within the threshold");
        assert!(stale(&s, 71 * min, 60 * min), "61 min of quiet after traffic");
        assert!(!stale(&s, 3 * 24 * 60 * min, 60 * min), "days of quiet: no traffic is expected");
        s.last_inbound_at = None;
        assert!(!stale(&s, 71 * min, 60 * min), "never any traffic");
        s.last_inbound_at = Some(10 * min);
        s.connected = false;
        assert!(!stale(&s, 71 * min, 60 * min), "a disconnected account is reported as such, not as stale");
        s.connected = true;
        assert!(!stale(&s, 71 * min, 0), "0 switches the check off");
        s.last_connected_at = Some(70 * min);
        assert!(!stale(&s, 71 * min, 60 * min), "just reconnected");
    }
}
