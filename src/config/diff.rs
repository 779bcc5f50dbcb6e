//! What changed between two effective configs, and how each change can be applied.

use serde_json::Value;

use super::load::leaves;

/// How a changed path takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Apply {
    /// Applied live by the actor that owns it.
    Hot,
    /// The listener is rebuilt in place (new bind first, old one drained).
    ListenerRestart,
    /// Needs the process restarted; recorded, not applied.
    ProcessRestart,
}

/// Rule table: first matching prefix wins; a path matches a prefix equal to it or below it.
const RULES: &[(&str, Apply)] = &[
    ("gateway.port", Apply::ListenerRestart),
    ("gateway.host", Apply::ListenerRestart),
    ("gateway.bind", Apply::ListenerRestart),
    ("gateway.tls", Apply::ListenerRestart),
    ("gateway.reload", Apply::Hot),
    ("gateway.auth", Apply::Hot),
    ("gateway.supervisor", Apply::Hot),
    ("gateway.shutdownTimeoutMs", Apply::Hot),
    ("gateway.handshakeTimeoutMs", Apply::Hot),
    ("gateway.trustedProxies", Apply::Hot),
    ("gateway.controlUi", Apply::Hot),
    ("gateway.metrics", Apply::Hot),
    ("gateway.health", Apply::Hot),
    ("gateway.allowedHosts", Apply::Hot),
    // Read at each accept.
    ("gateway.maxConnections", Apply::Hot),
    ("gateway.maxConnectionsPerAddress", Apply::Hot),
    ("logging", Apply::Hot),
    ("agents", Apply::Hot),
    ("channels", Apply::Hot),
    ("messages", Apply::Hot),
    ("session", Apply::Hot),
    ("cron", Apply::Hot),
    ("lanes", Apply::Hot),
    ("memory", Apply::Hot),
    ("discovery", Apply::Hot),
    // Read by each run when it loads its model catalogue.
    ("models", Apply::Hot),
];

pub fn classify(path: &str) -> Apply {
    RULES
        .iter()
        .find(|(prefix, _)| path == *prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
        .map(|(_, a)| *a)
        .unwrap_or(Apply::ProcessRestart)
}

/// One changed leaf path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub path: String,
    pub apply: Apply,
}

/// The changes between two configs, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConfigDiff {
    pub changes: Vec<Change>,
}

impl ConfigDiff {
    pub fn between(old: &Value, new: &Value) -> Self {
        let a = leaves(old);
        let b = leaves(new);
        let mut paths: Vec<String> = Vec::new();
        for (p, v) in &a {
            if b.iter().find(|(q, _)| q == p).map(|(_, w)| w) != Some(v) {
                paths.push(p.clone());
            }
        }
        for (p, _) in &b {
            if !a.iter().any(|(q, _)| q == p) {
                paths.push(p.clone());
            }
        }
        paths.sort();
        paths.dedup();
        Self { changes: paths.into_iter().map(|path| Change { apply: classify(&path), path }).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when any changed path is `prefix` or below it.
    pub fn touches(&self, prefix: &str) -> bool {
        self.changes.iter().any(|c| c.path == prefix || c.path.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
    }

    pub fn paths(&self, apply: Apply) -> Vec<String> {
        self.changes.iter().filter(|c| c.apply == apply).map(|c| c.path.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_by_first_matching_prefix() {
        assert_eq!(classify("gateway.port"), Apply::ListenerRestart);
        assert_eq!(classify("gateway.tls.cert"), Apply::ListenerRestart);
        assert_eq!(classify("logging.level"), Apply::Hot);
        assert_eq!(classify("gateway.portal"), Apply::ProcessRestart);
        assert_eq!(classify("gateway.canvasHost.port"), Apply::ProcessRestart);
    }

    #[test]
    fn diff_lists_changed_added_and_removed_leaves() {
        let old = json!({"gateway": {"port": 1, "bind": "lan"}, "logging": {"level": "info"}});
        let new = json!({"gateway": {"port": 2}, "logging": {"level": "info", "file": false}});
        let d = ConfigDiff::between(&old, &new);
        let paths: Vec<&str> = d.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["gateway.bind", "gateway.port", "logging.file"]);
        assert!(d.touches("gateway"));
        assert!(!d.touches("log"));
        assert!(ConfigDiff::between(&old, &old).is_empty());
    }
}
