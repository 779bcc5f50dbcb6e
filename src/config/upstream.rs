//! Upstream OpenClaw config files: the keys of upstream's schema (2026.1.30, plus keys later
//! versions added) that this gateway does not implement are accepted and reported, never
//! refused and never silently dropped; upstream's spellings of keys it does implement mean the
//! same as its own. A key in neither schema stays an error (with a "did you mean").

use serde_json::{Map, Value};

use super::Problem;

/// How such keys are reported (at start, by `config validate` and by `doctor`).
pub const IGNORED_NOTE: &str = "accepted, not supported by this gateway, ignored";

/// Upstream keys this gateway has no use for. Each accepts its whole subtree; `*` matches any
/// one key. Paths use this gateway's spelling where an alias renamed the parent.
const UPSTREAM_ONLY: &[&str] = &[
    // Top-level sections of upstream's schema that have no counterpart here.
    "meta",
    "env",
    "wizard",
    "diagnostics",
    "update",
    "browser",
    "ui",
    "auth",
    "nodeHost",
    "bindings",
    "broadcast",
    "audio",
    "media",
    "messages",
    "commands",
    "approvals",
    "session",
    "hooks",
    "web",
    "talk",
    "skills",
    "plugins",
    "tools",
    // Added by later upstream versions.
    "secrets",
    "cli",
    "acp",
    "mcp",
    "proxy",
    "$schema",
    // gateway.*
    "gateway.mode",
    "gateway.tailscale",
    "gateway.remote",
    "gateway.http",
    "gateway.nodes",
    "gateway.channelHealthCheckMinutes",
    "gateway.controlUi.allowInsecureAuth",
    "gateway.controlUi.dangerouslyDisableDeviceAuth",
    "gateway.auth.allowTailscale",
    "gateway.reload.deferralTimeoutMs",
    "gateway.canvasHost.root",
    "gateway.canvasHost.liveReload",
    // agents.*
    "agents.list.*.default",
    "agents.list.*.name",
    "agents.list.*.agentDir",
    "agents.list.*.model",
    "agents.list.*.identity",
    "agents.list.*.groupChat",
    "agents.list.*.sandbox",
    "agents.list.*.heartbeat",
    "agents.list.*.subagents",
    "agents.list.*.memorySearch",
    "agents.list.*.tools.byProvider",
    "agents.list.*.tools.elevated",
    "agents.list.*.tools.exec",
    "agents.list.*.tools.sandbox",
    // memorySearch keys without a counterpart here (the rest are ALIASES of memory.*).
    "agents.defaults.memorySearch.fallback",
    "agents.defaults.memorySearch.local",
    "agents.defaults.memorySearch.store",
    "agents.defaults.memorySearch.sync",
    "agents.defaults.memorySearch.cache",
    "agents.defaults.memorySearch.experimental",
    "agents.defaults.memorySearch.query.hybrid",
    "agents.defaults.memorySearch.query.candidateMultiplier",
    "agents.defaults.compaction",
    "agents.defaults.contextPruning",
    "agents.defaults.heartbeat",
    "agents.defaults.verboseDefault",
    "agents.defaults.elevatedDefault",
    "agents.defaults.typingMode",
    "agents.defaults.blockStreamingDefault",
    "agents.defaults.userTimezone",
    "agents.defaults.imageModel",
    "agents.defaults.models.*.params",
    "agents.defaults.subagent.archiveAfterMinutes",
    "agents.defaults.sandbox.workspaceAccess",
    "agents.defaults.sandbox.scope",
    "agents.defaults.sandbox.workspaceRoot",
    "agents.defaults.sandbox.docker",
    "agents.defaults.sandbox.browser",
    "agents.defaults.sandbox.prune",
    "agents.defaults.sandbox.tools",
    // models.*
    "models.mode",
    // cron.* (upstream keeps jobs in its store file, named here)
    "cron.store",
    // discovery.*
    "discovery.wideArea",
    // logging.*
    "logging.consoleLevel",
    "logging.consoleStyle",
    "logging.redactSensitive",
    "logging.redactPatterns",
    // channels.*: upstream's channels, and what its Discord and Slack sections hold beyond
    // what this gateway reads.
    "channels.defaults",
    "channels.whatsapp",
    "channels.telegram",
    "channels.googlechat",
    "channels.signal",
    "channels.imessage",
    "channels.bluebubbles",
    "channels.msteams",
    "channels.discord",
    "channels.slack",
    // memory.* (later upstream versions)
    "memory.backend",
    "memory.citations",
    "memory.qmd",
];

/// Keys of this gateway's own schema that are accepted and have no effect yet: reported the
/// same way until their features land.
const INERT: &[&str] = &["gateway.canvasHost"];

/// Upstream's spelling -> this gateway's, for keys both implement.
pub const ALIASES: &[(&str, &str)] = &[
    ("gateway.tls.certPath", "gateway.tls.cert"),
    ("gateway.tls.keyPath", "gateway.tls.key"),
    ("gateway.tls.caPath", "gateway.tls.ca"),
    ("gateway.customBindHost", "gateway.host"),
    ("canvasHost", "gateway.canvasHost"),
    ("channels.discord.token", "channels.discord.botToken"),
    ("tools.allow", "agents.defaults.tools.enabled"),
    ("tools.deny", "agents.defaults.tools.disabled"),
    ("tools.profile", "agents.defaults.tools.profile"),
    ("tools.alsoAllow", "agents.defaults.tools.alsoAllow"),
    ("agents.defaults.subagents", "agents.defaults.subagent"),
    ("agents.defaults.thinkingDefault", "agents.defaults.thinkLevel"),
    ("agents.defaults.memorySearch.enabled", "memory.indexEnabled"),
    ("agents.defaults.memorySearch.provider", "memory.provider"),
    ("agents.defaults.memorySearch.model", "memory.embeddingModel"),
    ("agents.defaults.memorySearch.remote", "memory.remote"),
    ("agents.defaults.memorySearch.chunking.tokens", "memory.chunkSize"),
    ("agents.defaults.memorySearch.chunking.overlap", "memory.chunkOverlap"),
    ("agents.defaults.memorySearch.query.maxResults", "memory.maxResults"),
    ("agents.defaults.memorySearch.query.minScore", "memory.minScore"),
    ("agents.defaults.memorySearch.extraPaths", "memory.extraPaths"),
    ("agents.defaults.memorySearch.sources", "memory.sources"),
];

/// The deployment guide's names for settings upstream names otherwise: accepted (through
/// [`ALIASES`]) with a note pointing to upstream's name.
const GUIDE_NAMES: &[(&str, &str)] =
    &[("agents.defaults.tools.enabled", "tools.allow"), ("agents.defaults.tools.disabled", "tools.deny")];

/// A note per guide-only name `doc` (the file as written) uses.
pub fn guide_name_notes(doc: &Value) -> Vec<String> {
    GUIDE_NAMES
        .iter()
        .filter(|(guide, _)| get(doc, &segs(guide)).is_some())
        .map(|(guide, upstream)| {
            format!("{guide} is the deployment guide's name for upstream's {upstream}; both work (`openclaw doctor --fix` rewrites it)")
        })
        .collect()
}

/// Values upstream spells differently: (path, upstream value, this gateway's value).
pub const VALUE_ALIASES: &[(&str, &str, &str)] = &[("agents.defaults.sandbox.mode", "all", "always")];

fn segs(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

fn get<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, k| v.as_object()?.get(*k))
}

/// One step down: an object's key, or an array's index (`agents.list.0.name`).
fn child<'a>(v: &'a mut Value, k: &str) -> Option<&'a mut Value> {
    match v {
        Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?),
        v => v.as_object_mut()?.get_mut(k),
    }
}

/// Takes the value at `path` out of `doc`, dropping objects it leaves empty.
fn take(doc: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let obj = parents.iter().try_fold(doc as &mut Value, |v, k| child(v, k))?.as_object_mut()?;
    let v = obj.remove(*last)?;
    if obj.is_empty() && !parents.is_empty() {
        take(doc, parents);
    }
    Some(v)
}

fn put(doc: &mut Value, path: &[&str], value: Value) {
    let mut cur = doc;
    for k in &path[..path.len() - 1] {
        let obj = match cur {
            Value::Object(o) => o,
            other => {
                *other = Value::Object(Map::new());
                other.as_object_mut().expect("just made")
            }
        };
        cur = obj.entry(k.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(o) = cur {
        o.insert(path[path.len() - 1].to_string(), value);
    }
}

/// Reads upstream's spellings as this gateway's own. Both spellings with different values is
/// a problem (which one was meant?); the same value twice is fine.
pub fn apply_aliases(doc: &mut Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (upstream, ours) in ALIASES {
        let (up, our) = (segs(upstream), segs(ours));
        if get(doc, &up).is_none() {
            continue;
        }
        match get(doc, &our) {
            Some(existing) if Some(existing) != get(doc, &up) => problems.push(Problem::new(
                *upstream,
                format!(
                    "{upstream} (upstream's spelling) and {ours} are the same setting with different values; keep one"
                ),
            )),
            _ => {
                let v = take(doc, &up).expect("present");
                put(doc, &our, v);
            }
        }
    }
    for (path, upstream, ours) in VALUE_ALIASES {
        let p = segs(path);
        if get(doc, &p).and_then(Value::as_str) == Some(upstream) {
            put(doc, &p, Value::String((*ours).into()));
        }
    }
    problems
}

fn matches(pattern: &str, path: &[String]) -> bool {
    let pat = segs(pattern);
    pat.len() <= path.len() && pat.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
}

/// Whether `path` lies under a key of upstream's schema that this gateway does not implement.
pub fn is_upstream_only(path: &[String]) -> bool {
    UPSTREAM_ONLY.iter().any(|p| matches(p, path))
}

/// Removes from `doc` every key in `unexpected` (keys this gateway's schema does not know)
/// that upstream's schema has, and returns their dotted paths; the rest stay for validation to
/// report.
pub fn split_upstream_only(doc: &mut Value, unexpected: &[Vec<String>]) -> Vec<String> {
    let mut out = Vec::new();
    for path in unexpected.iter().filter(|p| is_upstream_only(p)) {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        if take(doc, &refs).is_some() {
            out.push(path.join("."));
        }
    }
    out
}

/// This gateway's own keys that `doc` (the file as written) sets and that do nothing yet.
pub fn inert_present(doc: &Value) -> Vec<String> {
    INERT.iter().filter(|p| get(doc, &segs(p)).is_some()).map(|p| p.to_string()).collect()
}

/// The accepted-but-ignored list as one line, or `None` when there is nothing to say.
pub fn ignored_line(ignored: &[String]) -> Option<String> {
    (!ignored.is_empty()).then(|| format!("{IGNORED_NOTE}: {}", ignored.join(", ")))
}

/// Rewrites this gateway's spellings to upstream's (what `doctor --fix` does to a config file,
/// so one file serves both gateways). Returns the (from, to) pairs it renamed.
pub fn to_upstream_names(doc: &mut Value) -> Vec<(&'static str, &'static str)> {
    let mut renamed = Vec::new();
    for (path, upstream, ours) in VALUE_ALIASES {
        let p = segs(path);
        if get(doc, &p).and_then(Value::as_str) == Some(ours) {
            put(doc, &p, Value::String((*upstream).into()));
        }
    }
    for (upstream, ours) in ALIASES {
        let (up, our) = (segs(upstream), segs(ours));
        if get(doc, &our).is_some() && get(doc, &up).is_none() {
            let v = take(doc, &our).expect("present");
            put(doc, &up, v);
            renamed.push((*ours, *upstream));
        }
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn upstream_spellings_become_ours_and_emptied_parents_go() {
        let mut doc = json!({
            "gateway": {"tls": {"certPath": "/c.pem", "keyPath": "/k.pem"}},
            "tools": {"allow": ["read"], "deny": ["exec"]},
            "channels": {"discord": {"token": "t"}},
            "agents": {"defaults": {"sandbox": {"mode": "all"}, "subagents": {"maxConcurrent": 3}}},
        });
        assert!(apply_aliases(&mut doc).is_empty());
        assert_eq!(
            doc,
            json!({
                "gateway": {"tls": {"cert": "/c.pem", "key": "/k.pem"}},
                "channels": {"discord": {"botToken": "t"}},
                "agents": {"defaults": {"sandbox": {"mode": "always"}, "subagent": {"maxConcurrent": 3},
                                        "tools": {"enabled": ["read"], "disabled": ["exec"]}}},
            })
        );
    }

    #[test]
    fn both_spellings_with_different_values_is_a_problem_and_the_same_value_is_not() {
        let mut doc = json!({"gateway": {"tls": {"certPath": "/a", "cert": "/b"}}});
        let p = apply_aliases(&mut doc);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "gateway.tls.certPath");
        assert!(p[0].message.contains("keep one"), "{}", p[0].message);
        let mut same = json!({"gateway": {"tls": {"certPath": "/a", "cert": "/a"}}});
        assert!(apply_aliases(&mut same).is_empty());
        assert_eq!(same, json!({"gateway": {"tls": {"cert": "/a"}}}));
    }

    #[test]
    fn upstream_memory_search_is_the_memory_section() {
        let mut doc = json!({"agents": {"defaults": {"memorySearch": {
            "enabled": true, "model": "m", "remote": {"baseUrl": "http://e"},
            "chunking": {"tokens": 300, "overlap": 20}, "query": {"maxResults": 3, "minScore": 0.2},
            "extraPaths": ["notes"], "sources": ["memory", "sessions"]}}}});
        assert!(apply_aliases(&mut doc).is_empty());
        assert_eq!(
            doc,
            json!({"memory": {"indexEnabled": true, "embeddingModel": "m", "remote": {"baseUrl": "http://e"},
                "chunkSize": 300, "chunkOverlap": 20, "maxResults": 3, "minScore": 0.2,
                "extraPaths": ["notes"], "sources": ["memory", "sessions"]}})
        );
        assert!(is_upstream_only(&path("agents.defaults.memorySearch.fallback")));
    }

    #[test]
    fn only_upstream_keys_are_split_off() {
        assert!(is_upstream_only(&path("meta.lastTouchedVersion")));
        assert!(is_upstream_only(&path("gateway.mode")));
        assert!(is_upstream_only(&path("agents.defaults.models.openai/gpt-5.params")));
        assert!(!is_upstream_only(&path("gateway.prot")));
        assert!(!is_upstream_only(&path("agents.defaults.modle")));
        let mut doc = json!({"meta": {"a": 1}, "gateway": {"mode": "local", "prot": 1, "port": 1}});
        let ignored = split_upstream_only(&mut doc, &[path("meta"), path("gateway.mode"), path("gateway.prot")]);
        assert_eq!(ignored, ["meta", "gateway.mode"]);
        assert_eq!(doc, json!({"gateway": {"prot": 1, "port": 1}}));
    }

    #[test]
    fn inert_keys_are_listed_when_the_file_sets_them() {
        let doc = json!({"gateway": {"canvasHost": {}}, "channels": {"discord": {}}});
        assert_eq!(inert_present(&doc), ["gateway.canvasHost"], "channels work now");
        assert_eq!(ignored_line(&[]), None);
        assert_eq!(
            ignored_line(&["gateway.canvasHost".into()]).unwrap(),
            format!("{IGNORED_NOTE}: gateway.canvasHost")
        );
    }

    #[test]
    fn the_guides_tool_names_get_a_note_naming_upstreams() {
        let notes = guide_name_notes(&json!({"agents": {"defaults": {"tools": {"disabled": ["rm"]}}}}));
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0]
                .starts_with("agents.defaults.tools.disabled is the deployment guide's name for upstream's tools.deny")
        );
        assert!(guide_name_notes(&json!({"tools": {"deny": ["rm"]}})).is_empty());
    }

    #[test]
    fn doctor_fix_names_round_trip_through_the_aliases() {
        let ours = json!({"gateway": {"tls": {"cert": "/c"}}, "agents": {"defaults": {"sandbox": {"mode": "always"},
                          "tools": {"enabled": ["read"]}}}});
        let mut doc = ours.clone();
        let renamed = to_upstream_names(&mut doc);
        assert!(renamed.contains(&("gateway.tls.cert", "gateway.tls.certPath")), "{renamed:?}");
        assert_eq!(
            doc,
            json!({"gateway": {"tls": {"certPath": "/c"}}, "agents": {"defaults": {"sandbox": {"mode": "all"}}},
                   "tools": {"allow": ["read"]}})
        );
        assert!(apply_aliases(&mut doc).is_empty());
        assert_eq!(doc, ours);
    }
}
