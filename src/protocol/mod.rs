//! The OpenClaw gateway protocol v3 on the wire: frames, error shapes, connect parameters,
//! close codes and policy numbers. No actix here: pure types and validation.

pub mod connect;
pub mod events;
pub mod frames;
pub mod methods;

pub use frames::{ErrorCode, ErrorShape, Request};

/// The one protocol version this gateway speaks.
pub const PROTOCOL_VERSION: u64 = 3;
/// Largest inbound frame; larger ones close the socket with 1009.
pub const MAX_PAYLOAD: usize = 512 * 1024;
/// Outbound bytes queued for one client beyond which it is a slow consumer.
pub const MAX_BUFFERED_BYTES: usize = 1536 * 1024;
/// `tick` event interval.
pub const TICK_INTERVAL_MS: u64 = 30_000;

/// The connection policy `hello-ok` states (at its top and in its snapshot), as JSON text.
pub fn policy_json() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        serde_json::json!({"maxPayload": MAX_PAYLOAD, "maxBufferedBytes": MAX_BUFFERED_BYTES, "tickIntervalMs": TICK_INTERVAL_MS})
            .to_string()
    })
}

/// WebSocket close codes used by the gateway.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const RESTART: u16 = 1012;
}

/// Operator scopes.
pub mod scope {
    pub const READ: &str = "operator.read";
    pub const WRITE: &str = "operator.write";
    pub const ADMIN: &str = "operator.admin";
    pub const APPROVALS: &str = "operator.approvals";
    pub const PAIRING: &str = "operator.pairing";
    pub const ALL: [&str; 5] = [READ, WRITE, ADMIN, APPROVALS, PAIRING];

    /// Whether `granted` satisfies `needed` (admin satisfies all, write satisfies read).
    pub fn allows(granted: &[String], needed: &str) -> bool {
        granted.iter().any(|g| g == ADMIN || g == needed || (needed == READ && g == WRITE))
    }

    /// The known scopes as a bit set: what a live session keeps for event scope checks.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct ScopeSet(u8);

    impl ScopeSet {
        pub fn of(granted: &[String]) -> Self {
            Self(
                ALL.iter()
                    .enumerate()
                    .filter(|(_, s)| granted.iter().any(|g| g == *s))
                    .fold(0, |acc, (i, _)| acc | 1 << i),
            )
        }

        /// Same rule as [`allows`], on bits (no allocation per event).
        pub fn allows(self, needed: &str) -> bool {
            let bit = |s: &str| ALL.iter().position(|a| *a == s).map_or(0, |i| 1u8 << i);
            let has = |s: &str| self.0 & bit(s) != 0;
            has(ADMIN) || has(needed) || (needed == READ && has(WRITE))
        }
    }
}

/// Cuts a close reason to the 123-byte WebSocket limit on a UTF-8 boundary.
pub fn close_reason(msg: &str) -> String {
    let mut end = msg.len().min(123);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    msg[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_satisfies_everything_and_write_satisfies_read() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(scope::allows(&s(&[scope::ADMIN]), scope::PAIRING));
        assert!(scope::allows(&s(&[scope::WRITE]), scope::READ));
        assert!(!scope::allows(&s(&[scope::READ]), scope::WRITE));
        assert!(!scope::allows(&s(&[]), scope::READ));
        let set = scope::ScopeSet::of(&s(&[scope::WRITE, "custom.scope"]));
        assert!(set.allows(scope::READ) && !set.allows(scope::PAIRING));
        assert!(scope::ScopeSet::of(&s(&[scope::ADMIN])).allows(scope::PAIRING));
    }

    #[test]
    fn close_reasons_are_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let r = close_reason(&long);
        assert!(r.len() <= 123 && long.starts_with(&r));
    }
}
