//! Tool policy as upstream has it: a profile, then allow/deny lists (global, then the agent's),
//! entries being tool names, groups or `*` globs, case-insensitive, deny winning. A deny entry
//! that names no tool (the deployment guide's `"rm"`) is this gateway's extension: a program
//! `exec` refuses to run.

use std::collections::BTreeSet;

use globset::{GlobBuilder, GlobMatcher};

use crate::config::model::{AgentTools, ToolProfile, Tools};

/// The tools this gateway implements, in the order they are declared to models.
pub const CORE: &[&str] =
    &["read", "write", "edit", "exec", "process", "grep", "find", "ls", "web_fetch", "memory_search", "memory_get"];

/// Upstream's other tool names: not implemented here, but policy entries may name them, and
/// a deny entry naming one is not a command.
const UPSTREAM: &[&str] = &[
    "apply_patch",
    "web_search",
    "sessions_list",
    "sessions_history",
    "sessions_send",
    "sessions_spawn",
    "session_status",
    "agents_list",
    "message",
    "cron",
    "gateway",
    "browser",
    "canvas",
    "nodes",
    "image",
    "tts",
    "discord",
    "slack",
];

/// A group's members (upstream's groups; grep, find and ls are this gateway's and count as fs).
pub fn group(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "group:fs" => &["read", "write", "edit", "apply_patch", "grep", "find", "ls"],
        "group:runtime" => &["exec", "process"],
        "group:web" => &["web_search", "web_fetch"],
        "group:memory" => &["memory_search", "memory_get"],
        "group:sessions" => &["sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status"],
        "group:ui" => &["browser", "canvas"],
        "group:automation" => &["cron", "gateway"],
        "group:messaging" => &["message"],
        "group:nodes" => &["nodes"],
        _ => return None,
    })
}

/// A profile's base set; `None` is every tool.
fn profile_set(p: ToolProfile) -> Option<Vec<&'static str>> {
    let groups: &[&str] = match p {
        ToolProfile::Full => return None,
        ToolProfile::Minimal => return Some(vec!["session_status"]),
        ToolProfile::Coding => &["group:fs", "group:runtime", "group:sessions", "group:memory"],
        ToolProfile::Messaging => &["group:messaging", "group:sessions"],
    };
    let mut out: Vec<&str> = groups.iter().flat_map(|g| group(g).unwrap_or_default().iter().copied()).collect();
    if p == ToolProfile::Coding {
        out.push("image");
    }
    Some(out)
}

/// Upstream's aliases.
pub fn canonical(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "bash" => "exec".into(),
        "apply-patch" => "apply_patch".into(),
        _ => n,
    }
}

fn known(name: &str) -> bool {
    CORE.contains(&name) || UPSTREAM.contains(&name)
}

/// Case-insensitive `*` glob (`?` and classes as globset has them).
pub fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern).case_insensitive(true).literal_separator(false).build().ok().map(|g| g.compile_matcher())
}

/// The tool names an entry stands for (empty: it names no tool).
fn expand(entry: &str) -> Vec<&'static str> {
    let e = canonical(entry);
    if let Some(members) = group(&e) {
        return members.to_vec();
    }
    let all = CORE.iter().chain(UPSTREAM);
    if e.contains(['*', '?', '[']) {
        return match glob(&e) {
            Some(m) => all.filter(|t| m.is_match(t)).copied().collect(),
            None => Vec::new(),
        };
    }
    all.filter(|t| **t == e).copied().collect()
}

/// One filter: an allow list (empty: everything) and a deny list.
struct Stage<'a> {
    allow: Vec<&'a str>,
    deny: &'a [String],
    /// Where it came from, for notes.
    at: &'static str,
}

/// The policy in effect for one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effective {
    /// The tools this agent has, in declaration order.
    pub tools: Vec<String>,
    /// Programs `exec` refuses (deny entries that name no tool), lower-cased patterns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_commands: Vec<String>,
    /// What the operator should know (an allow list naming only unknown tools is ignored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Effective {
    pub fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// The denial pattern `program` (a basename) matches, if any.
    pub fn denied_command(&self, program: &str) -> Option<&str> {
        let p = program.to_ascii_lowercase();
        self.denied_commands
            .iter()
            .find(|d| if d.contains(['*', '?', '[']) { glob(d).is_some_and(|m| m.is_match(&p)) } else { **d == p })
            .map(String::as_str)
    }
}

/// The policy for an agent: `global` (`agents.defaults.tools`, i.e. upstream's `tools`), then
/// the agent's own entry. The agent's profile replaces the global one.
pub fn effective(global: &Tools, agent: Option<&AgentTools>) -> Effective {
    let mut notes = Vec::new();
    let profile = agent.and_then(|a| a.profile).or(global.profile);
    let mut also: Vec<&str> = global.also_allow.iter().map(String::as_str).collect();
    if let Some(a) = agent {
        also.extend(a.also_allow.iter().map(String::as_str));
    }
    let mut stages = Vec::new();
    if let Some(base) = profile.and_then(profile_set) {
        stages.push(Stage { allow: base.into_iter().chain(also.iter().copied()).collect(), deny: &[], at: "profile" });
    }
    stages.push(Stage {
        allow: global.enabled.iter().map(String::as_str).collect(),
        deny: &global.disabled,
        at: "agents.defaults.tools.enabled (tools.allow)",
    });
    if let Some(a) = agent {
        stages.push(Stage {
            allow: a.allow.iter().map(String::as_str).collect(),
            deny: &a.deny,
            at: "agents.list[].tools.allow",
        });
    }
    let mut allowed: BTreeSet<&str> = CORE.iter().copied().collect();
    let mut denied_commands = Vec::new();
    for stage in &stages {
        let allow: BTreeSet<&str> = stage.allow.iter().flat_map(|e| expand(e)).collect();
        if !stage.allow.is_empty() && allow.is_empty() {
            notes.push(format!("{} names no known tool; ignored", stage.at));
        } else if !stage.allow.is_empty() {
            allowed.retain(|t| allow.contains(t));
        }
        for d in stage.deny {
            let names = expand(d);
            if names.is_empty() {
                denied_commands.push(d.trim().to_ascii_lowercase());
            }
            allowed.retain(|t| !names.contains(t));
        }
    }
    denied_commands.sort();
    denied_commands.dedup();
    let tools = CORE.iter().filter(|t| allowed.contains(*t)).map(|t| t.to_string()).collect();
    Effective { tools, denied_commands, notes }
}

/// Whether `name` is a tool this gateway knows (core or upstream's).
pub fn is_tool_name(name: &str) -> bool {
    known(&canonical(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(profile: Option<ToolProfile>, enabled: &[&str], disabled: &[&str]) -> Tools {
        Tools {
            profile,
            enabled: enabled.iter().map(|s| s.to_string()).collect(),
            also_allow: Vec::new(),
            disabled: disabled.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn no_policy_is_every_core_tool() {
        assert_eq!(effective(&Tools::default(), None).tools, CORE);
    }

    #[test]
    fn the_guides_example_enables_four_and_turns_rm_into_a_command_denial() {
        let e = effective(&tools(None, &["read", "write", "bash", "grep"], &["rm"]), None);
        assert_eq!(e.tools, ["read", "write", "exec", "grep"]);
        assert_eq!(e.denied_commands, ["rm"]);
        assert_eq!(e.denied_command("RM"), Some("rm"));
        assert_eq!(e.denied_command("rmdir"), None);
    }

    #[test]
    fn deny_wins_over_allow_and_matching_is_case_insensitive_with_globs() {
        let e = effective(&tools(None, &["group:fs", "EXEC"], &["Write", "e*"]), None);
        assert_eq!(e.tools, ["read", "grep", "find", "ls"]);
        assert!(e.denied_commands.is_empty(), "globs matching tools are not commands: {e:?}");
        let e = effective(&tools(None, &["*"], &["group:runtime", "web_*", "group:memory"]), None);
        assert_eq!(e.tools, ["read", "write", "edit", "grep", "find", "ls"]);
    }

    #[test]
    fn profiles_set_the_base_and_also_allow_adds_to_it() {
        assert_eq!(effective(&tools(Some(ToolProfile::Minimal), &[], &[]), None).tools, Vec::<String>::new());
        let coding = effective(&tools(Some(ToolProfile::Coding), &[], &[]), None);
        assert_eq!(
            coding.tools,
            ["read", "write", "edit", "exec", "process", "grep", "find", "ls", "memory_search", "memory_get"]
        );
        let mut t = tools(Some(ToolProfile::Coding), &[], &[]);
        t.also_allow = vec!["group:web".into()];
        assert!(effective(&t, None).has("web_fetch"));
        assert_eq!(effective(&tools(Some(ToolProfile::Messaging), &[], &[]), None).tools, Vec::<String>::new());
        assert_eq!(effective(&tools(Some(ToolProfile::Full), &[], &[]), None).tools, CORE);
    }

    #[test]
    fn an_agent_narrows_the_global_policy_and_may_pick_its_profile() {
        let global = tools(None, &[], &["web_fetch"]);
        let agent = AgentTools { allow: vec!["read".into(), "web_fetch".into()], ..Default::default() };
        assert_eq!(effective(&global, Some(&agent)).tools, ["read"], "the global deny still wins");
        let agent = AgentTools { profile: Some(ToolProfile::Minimal), ..Default::default() };
        assert!(effective(&global, Some(&agent)).tools.is_empty());
        let agent = AgentTools { deny: vec!["git".into()], ..Default::default() };
        assert_eq!(effective(&global, Some(&agent)).denied_commands, ["git"]);
    }

    #[test]
    fn an_allow_list_of_only_unknown_names_is_ignored_with_a_note() {
        let e = effective(&tools(None, &["frobnicate"], &[]), None);
        assert_eq!(e.tools, CORE);
        assert_eq!(e.notes.len(), 1, "{e:?}");
    }
}
