//! Environment overrides: the documented variables by an explicit table, the rest by
//! `OPENCLAW__SECTION__KEY`.

use std::collections::BTreeMap;

use serde_json::Value;

/// A copy of the process environment taken once, so a load is a pure function of it.
#[derive(Debug, Clone, Default)]
pub struct EnvSnapshot(BTreeMap<String, String>);

impl EnvSnapshot {
    pub fn capture() -> Self {
        Self(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect())
    }

    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// A set, non-empty variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// What a documented variable does.
pub enum Target {
    /// Sets this config path to the variable's value.
    Path(&'static str),
    /// Sets this config path to a fixed value when the variable is truthy.
    Flag(&'static str, &'static str),
    /// Read where it is used (provider credentials), not a config key.
    Credential,
}

/// The documented variables (deployment guide §2.4 and friends), highest precedence first
/// where two reach the same path.
pub const TABLE: &[(&str, Target, &str)] = &[
    ("OPENCLAW_GATEWAY_PORT", Target::Path("gateway.port"), "Gateway port"),
    ("OPENCLAW_GATEWAY_HOST", Target::Path("gateway.host"), "Bind address"),
    ("OPENCLAW_GATEWAY_BIND", Target::Path("gateway.bind"), "Bind preset"),
    ("OPENCLAW_GATEWAY_TOKEN", Target::Path("gateway.auth.token"), "Shared gateway token"),
    ("OPENCLAW_GATEWAY_TOKEN_FILE", Target::Path("gateway.auth.tokenFile"), "File holding the gateway token"),
    ("OPENCLAW_GATEWAY_PASSWORD", Target::Path("gateway.auth.password"), "Gateway password"),
    ("DISCORD_BOT_TOKEN", Target::Path("channels.discord.botToken"), "Discord bot token"),
    ("SLACK_BOT_TOKEN", Target::Path("channels.slack.botToken"), "Slack bot token"),
    ("SLACK_APP_TOKEN", Target::Path("channels.slack.appToken"), "Slack app-level token (Socket Mode)"),
    ("OPENCLAW_DISABLE_BONJOUR", Target::Flag("discovery.mdns.mode", "off"), "Disable mDNS advertisement"),
    ("OPENCLAW_MDNS_HOSTNAME", Target::Path("discovery.mdns.hostname"), "mDNS host name"),
    ("OPENCLAW_LOG_LEVEL", Target::Path("logging.level"), "Log level"),
    ("ANTHROPIC_API_KEY", Target::Credential, "Anthropic API key (auth profile)"),
    ("OPENAI_API_KEY", Target::Credential, "OpenAI API key (auth profile)"),
    ("GOOGLE_API_KEY", Target::Credential, "Google API key (auth profile)"),
];

/// Prefix of the generic form: `OPENCLAW__GATEWAY__RELOAD__DEBOUNCE_MS` -> `gateway.reload.debounceMs`.
pub const GENERIC_PREFIX: &str = "OPENCLAW__";

/// One override taken from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvOverride {
    pub var: String,
    pub path: Vec<String>,
    /// The raw string; typed against the schema before validation.
    pub value: Value,
}

/// Every override the environment asks for, lowest precedence first (apply in order).
pub fn overrides(env: &EnvSnapshot) -> Vec<EnvOverride> {
    let mut out = Vec::new();
    for (var, value) in env.iter() {
        let Some(rest) = var.strip_prefix(GENERIC_PREFIX) else { continue };
        if value.is_empty() || rest.is_empty() {
            continue;
        }
        let path = rest.split("__").map(camel_case).collect();
        out.push(EnvOverride { var: var.to_string(), path, value: Value::String(value.to_string()) });
    }
    // `DEBUG=openclaw:*` is the Node-era way to ask for debug logs; OPENCLAW_LOG_LEVEL beats it.
    if env.get("DEBUG").is_some_and(|d| d.split(',').any(|p| p.trim().starts_with("openclaw"))) {
        out.push(EnvOverride { var: "DEBUG".into(), path: split("logging.level"), value: "debug".into() });
    }
    for (var, target, _) in TABLE.iter().rev() {
        let Some(value) = env.get(var) else { continue };
        match target {
            Target::Path(p) => out.push(EnvOverride { var: var.to_string(), path: split(p), value: value.into() }),
            Target::Flag(p, fixed) if truthy(value) => {
                out.push(EnvOverride { var: var.to_string(), path: split(p), value: (*fixed).into() })
            }
            Target::Flag(..) | Target::Credential => {}
        }
    }
    out
}

pub fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

fn split(p: &str) -> Vec<String> {
    p.split('.').map(str::to_string).collect()
}

/// `MAX_CONCURRENT` -> `maxConcurrent`.
pub fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for (i, word) in segment.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(c) = chars.next() {
                out.push(c.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_variables_become_camel_case_paths() {
        assert_eq!(camel_case("DEBOUNCE_MS"), "debounceMs");
        assert_eq!(camel_case("GATEWAY"), "gateway");
        let env = EnvSnapshot::from_pairs([("OPENCLAW__GATEWAY__RELOAD__DEBOUNCE_MS".into(), "50".into())]);
        let o = overrides(&env);
        assert_eq!(o[0].path, ["gateway", "reload", "debounceMs"]);
    }

    #[test]
    fn documented_variables_map_by_the_table_and_log_level_beats_debug() {
        let env = EnvSnapshot::from_pairs([
            ("OPENCLAW_GATEWAY_PORT".into(), "9000".into()),
            ("DEBUG".into(), "openclaw:*".into()),
            ("OPENCLAW_LOG_LEVEL".into(), "warn".into()),
            ("OPENCLAW_DISABLE_BONJOUR".into(), "1".into()),
        ]);
        let o = overrides(&env);
        let last_level = o.iter().rfind(|x| x.path == ["logging", "level"]).unwrap();
        assert_eq!(last_level.value, "warn");
        assert!(o.iter().any(|x| x.path == ["gateway", "port"] && x.value == "9000"));
        assert!(o.iter().any(|x| x.path == ["discovery", "mdns", "mode"] && x.value == "off"));
    }
}
