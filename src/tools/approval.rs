//! The host-exec policy of `<state>/exec-approvals.json` (upstream's file; edited through
//! `exec.approvals.get|set`): `security` deny | allowlist | full, per agent or by default, and
//! the agent's allowlist of program patterns, and whether to ask an operator (`ask` off |
//! on-miss | always, `askFallback` when nobody answers). Without a file: `allowlist` with an
//! empty list and `ask: on-miss`, safer than upstream (whose unsandboxed default runs
//! anything). The asking itself goes through [`Approver`], which the agents provide.

use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::command::Program;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Deny,
    Allowlist,
    Full,
}

/// When to ask an operator before a host command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Off,
    OnMiss,
    Always,
}

/// The policy for one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    pub security: Security,
    /// Patterns: globs on the resolved program path, or on the name when they have no `/`.
    pub allowlist: Vec<String>,
    pub ask: Ask,
    /// What decides when an asked operator does not answer in time.
    pub fallback: Security,
}

/// What the policy says about one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Run,
    Refuse(String),
    /// An operator decides; `patterns` are what `allow-always` adds (the resolved paths of the
    /// programs the allowlist missed, or of all of them), `refusal` what a miss says otherwise,
    /// `on_allowlist` whether every program matches the allowlist (what `askFallback:
    /// allowlist` goes by when nobody answers).
    Ask {
        patterns: Vec<String>,
        resolved: String,
        refusal: String,
        on_allowlist: bool,
    },
}

/// A command waiting for an operator.
#[derive(Debug, Clone)]
pub struct AskRequest {
    pub command: String,
    pub cwd: PathBuf,
    pub agent_id: String,
    pub session_key: String,
    pub resolved_path: String,
    pub security: Security,
    pub ask: Ask,
    /// What `allow-always` appends to the agent's allowlist.
    pub patterns: Vec<String>,
}

/// An operator's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    AllowOnce,
    AllowAlways,
    Deny,
    /// Nobody answered in time: the policy's `askFallback` decides.
    TimedOut,
}

/// Who asks the operators (the agents: events to approval clients, `exec.approval.resolve`,
/// `allow-always` written to the file). Dropping the future withdraws the request.
pub trait Approver: Send + Sync {
    fn ask(&self, req: AskRequest) -> BoxFuture<'static, Decision>;
    /// How long a request waits, for messages.
    fn timeout_secs(&self) -> u64;
}

impl HostPolicy {
    /// Whether a command an operator left unanswered runs: `askFallback` full runs it,
    /// allowlist only when the allowlist covers it, deny never.
    pub fn fallback_runs(&self, on_allowlist: bool) -> bool {
        match self.fallback {
            Security::Full => true,
            Security::Allowlist => on_allowlist,
            Security::Deny => false,
        }
    }
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Deny => "deny",
            Security::Allowlist => "allowlist",
            Security::Full => "full",
        }
    }
}

impl Ask {
    pub fn as_str(self) -> &'static str {
        match self {
            Ask::Off => "off",
            Ask::OnMiss => "on-miss",
            Ask::Always => "always",
        }
    }
}

/// Reads the policy for `agent_id`; an unreadable file denies (it says why).
pub fn load(file: &Path, agent_id: &str) -> Result<HostPolicy, String> {
    let doc: Value = match std::fs::read(file) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| format!("{} is not valid JSON ({e}); exec is refused until it is fixed", file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
        Err(e) => return Err(format!("cannot read {}: {e}; exec is refused", file.display())),
    };
    Ok(policy(&doc, agent_id))
}

/// The policy in a parsed file: the agent's block, then `*`'s, then `defaults`.
pub fn policy(doc: &Value, agent_id: &str) -> HostPolicy {
    let blocks = [doc.pointer(&format!("/agents/{agent_id}")), doc.pointer("/agents/*"), doc.get("defaults")];
    let field = |k: &str| blocks.iter().flatten().find_map(|b| b.get(k).and_then(Value::as_str));
    let security_of = |s: Option<&str>, default| match s {
        Some("deny") => Security::Deny,
        Some("full") => Security::Full,
        Some("allowlist") => Security::Allowlist,
        _ => default,
    };
    let security = security_of(field("security"), Security::Allowlist);
    let ask = match field("ask") {
        Some("off") => Ask::Off,
        Some("always") => Ask::Always,
        _ => Ask::OnMiss,
    };
    let fallback = security_of(field("askFallback"), Security::Deny);
    let allowlist = blocks[..2]
        .iter()
        .flatten()
        .filter_map(|b| b.get("allowlist").and_then(Value::as_array))
        .flatten()
        .filter_map(|e| e.get("pattern").and_then(Value::as_str).map(str::to_string))
        .collect();
    HostPolicy { security, allowlist, ask, fallback }
}

/// Where `program` resolves on `PATH` (as written when it has a `/`).
pub fn resolve(program: &str, path_var: Option<&str>) -> Option<String> {
    if program.contains('/') {
        return Some(program.to_string());
    }
    path_var?.split(':').map(|d| Path::new(d).join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
}

/// Whether every program may run under `p`, may not (the refusal names the fix), or is for an
/// operator to decide.
pub fn check(p: &HostPolicy, programs: &[Program], file: &Path, path_var: Option<&str>) -> Verdict {
    if p.security == Security::Deny {
        return Verdict::Refuse(format!(
            "exec refused: host exec is denied by {} (security: deny); change it with `openclaw approvals` or exec.approvals.set",
            file.display()
        ));
    }
    let resolved: Vec<(String, String)> = programs
        .iter()
        .map(|prog| (prog.word.clone(), resolve(&prog.word, path_var).unwrap_or_else(|| prog.word.clone())))
        .collect();
    let off_allowlist: Vec<&(String, String)> = programs
        .iter()
        .zip(&resolved)
        .filter(|(prog, (_, path))| {
            !p.allowlist.iter().any(|pat| {
                let target = if pat.contains('/') { path.as_str() } else { prog.name.as_str() };
                super::policy::glob(pat).is_some_and(|m| m.is_match(target))
            })
        })
        .map(|(_, r)| r)
        .collect();
    let on_allowlist = off_allowlist.is_empty();
    let missed = if p.security == Security::Full { Vec::new() } else { off_allowlist };
    let ask = match p.ask {
        Ask::Always => true,
        Ask::OnMiss => !missed.is_empty(),
        Ask::Off => false,
    };
    let refusal = missed.first().map(|(word, path)| {
        format!(
            "exec refused: `{word}` ({path}) is not on the exec allowlist in {} (security: allowlist, the default); \
             approve it when asked (`openclaw approvals`, the Control UI), add it with exec.approvals.set, or set security to \"full\"",
            file.display()
        )
    });
    if ask {
        let pick: Vec<&(String, String)> = if missed.is_empty() { resolved.iter().collect() } else { missed };
        return Verdict::Ask {
            patterns: pick.iter().map(|(_, path)| path.clone()).collect(),
            resolved: pick.first().map(|(_, path)| path.clone()).unwrap_or_default(),
            refusal: refusal.unwrap_or_else(|| "exec refused by the exec approvals policy".into()),
            on_allowlist,
        };
    }
    match refusal {
        Some(r) => Verdict::Refuse(r),
        None => Verdict::Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::command::programs;
    use serde_json::json;

    #[test]
    fn no_file_is_an_empty_allowlist_and_the_agent_block_wins() {
        assert_eq!(
            policy(&Value::Null, "main"),
            HostPolicy { security: Security::Allowlist, allowlist: vec![], ask: Ask::OnMiss, fallback: Security::Deny }
        );
        let doc = json!({"defaults": {"security": "deny"},
                         "agents": {"main": {"security": "full"}, "*": {"allowlist": [{"pattern": "ls"}]}}});
        assert_eq!(policy(&doc, "main").security, Security::Full);
        assert_eq!(policy(&doc, "other").security, Security::Deny);
        assert_eq!(policy(&doc, "other").allowlist, vec!["ls".to_string()]);
    }

    #[test]
    fn an_allowlist_must_cover_every_program_of_the_command() {
        let p = HostPolicy {
            security: Security::Allowlist,
            allowlist: vec!["echo".into(), "/usr/bin/w*".into()],
            ask: Ask::Off,
            fallback: Security::Deny,
        };
        let f = Path::new("/s/exec-approvals.json");
        assert_eq!(check(&p, &programs("echo hi | /usr/bin/wc -l"), f, None), Verdict::Run);
        let Verdict::Refuse(e) = check(&p, &programs("echo hi; rm x"), f, None) else { panic!("not refused") };
        assert!(e.contains("`rm`") && e.contains("openclaw approvals") && e.contains("/s/exec-approvals.json"), "{e}");
        let deny = HostPolicy { security: Security::Deny, ..p.clone() };
        assert!(matches!(check(&deny, &programs("echo"), f, None), Verdict::Refuse(e) if e.contains("security: deny")));
    }

    #[test]
    fn a_miss_is_asked_under_on_miss_and_every_command_under_always() {
        let f = Path::new("/s/exec-approvals.json");
        let p = HostPolicy {
            security: Security::Allowlist,
            allowlist: vec!["echo".into()],
            ask: Ask::OnMiss,
            fallback: Security::Deny,
        };
        assert_eq!(check(&p, &programs("echo hi"), f, None), Verdict::Run);
        match check(&p, &programs("echo hi; /bin/rm x"), f, None) {
            Verdict::Ask { patterns, resolved, refusal, on_allowlist } => {
                assert!(!on_allowlist);
                assert_eq!((patterns, resolved.as_str()), (vec!["/bin/rm".to_string()], "/bin/rm"));
                assert!(refusal.contains("`/bin/rm`"), "{refusal}");
            }
            v => panic!("{v:?}"),
        }
        let always = HostPolicy { security: Security::Full, ask: Ask::Always, ..p.clone() };
        assert!(
            matches!(check(&always, &programs("/bin/echo hi"), f, None), Verdict::Ask { patterns, .. } if patterns == ["/bin/echo"])
        );
        let deny = HostPolicy { security: Security::Deny, ask: Ask::Always, ..p };
        assert!(matches!(check(&deny, &programs("echo"), f, None), Verdict::Refuse(_)), "deny is never asked");
    }

    #[test]
    fn askfallback_allowlist_runs_an_unanswered_command_only_when_the_allowlist_covers_it() {
        let f = Path::new("/s/exec-approvals.json");
        let p = HostPolicy {
            security: Security::Full,
            allowlist: vec!["echo".into()],
            ask: Ask::Always,
            fallback: Security::Allowlist,
        };
        let on = |cmd: &str| match check(&p, &programs(cmd), f, None) {
            Verdict::Ask { on_allowlist, .. } => on_allowlist,
            v => panic!("{cmd}: {v:?}"),
        };
        assert!(on("echo hi"));
        assert!(!on("echo hi; rm x"));
        assert!(p.fallback_runs(true) && !p.fallback_runs(false));
        let full = HostPolicy { fallback: Security::Full, ..p.clone() };
        assert!(full.fallback_runs(false));
        let deny = HostPolicy { fallback: Security::Deny, ..p };
        assert!(!deny.fallback_runs(true));
    }
}
