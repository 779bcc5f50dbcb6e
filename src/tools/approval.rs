//! The host-exec policy of `<state>/exec-approvals.json` (upstream's file; edited through
//! `exec.approvals.get|set`): `security` deny | allowlist | full, per agent or by default, and
//! the agent's allowlist of program patterns. Without a file: `allowlist` with an empty list,
//! safer than upstream (whose unsandboxed default runs anything). Asking an operator
//! (`ask: on-miss|always`) is not implemented yet: a miss is refused.

use std::path::Path;

use serde_json::Value;

use super::command::Program;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Deny,
    Allowlist,
    Full,
}

/// The policy for one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    pub security: Security,
    /// Patterns: globs on the resolved program path, or on the name when they have no `/`.
    pub allowlist: Vec<String>,
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
    let security = blocks.iter().flatten().find_map(|b| b.get("security").and_then(Value::as_str)).map_or(
        Security::Allowlist,
        |s| match s {
            "deny" => Security::Deny,
            "full" => Security::Full,
            _ => Security::Allowlist,
        },
    );
    let allowlist = blocks[..2]
        .iter()
        .flatten()
        .filter_map(|b| b.get("allowlist").and_then(Value::as_array))
        .flatten()
        .filter_map(|e| e.get("pattern").and_then(Value::as_str).map(str::to_string))
        .collect();
    HostPolicy { security, allowlist }
}

/// Where `program` resolves on `PATH` (as written when it has a `/`).
pub fn resolve(program: &str, path_var: Option<&str>) -> Option<String> {
    if program.contains('/') {
        return Some(program.to_string());
    }
    path_var?.split(':').map(|d| Path::new(d).join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
}

/// Whether every program may run under `p`; the refusal names the fix.
pub fn check(p: &HostPolicy, programs: &[Program], file: &Path, path_var: Option<&str>) -> Result<(), String> {
    match p.security {
        Security::Full => Ok(()),
        Security::Deny => Err(format!(
            "exec refused: host exec is denied by {} (security: deny); change it with `openclaw approvals` or exec.approvals.set",
            file.display()
        )),
        Security::Allowlist => {
            for prog in programs {
                let resolved = resolve(&prog.word, path_var).unwrap_or_else(|| prog.word.clone());
                let hit = p.allowlist.iter().any(|pat| {
                    let target = if pat.contains('/') { resolved.as_str() } else { prog.name.as_str() };
                    super::policy::glob(pat).is_some_and(|m| m.is_match(target))
                });
                if !hit {
                    return Err(format!(
                        "exec refused: `{}` ({resolved}) is not on the exec allowlist in {} (security: allowlist, the default); \
                         add it with `openclaw approvals` or exec.approvals.set, or set security to \"full\"",
                        prog.word,
                        file.display()
                    ));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::command::programs;
    use serde_json::json;

    #[test]
    fn no_file_is_an_empty_allowlist_and_the_agent_block_wins() {
        assert_eq!(policy(&Value::Null, "main"), HostPolicy { security: Security::Allowlist, allowlist: vec![] });
        let doc = json!({"defaults": {"security": "deny"},
                         "agents": {"main": {"security": "full"}, "*": {"allowlist": [{"pattern": "ls"}]}}});
        assert_eq!(policy(&doc, "main").security, Security::Full);
        assert_eq!(policy(&doc, "other"), HostPolicy { security: Security::Deny, allowlist: vec!["ls".into()] });
    }

    #[test]
    fn an_allowlist_must_cover_every_program_of_the_command() {
        let p = HostPolicy { security: Security::Allowlist, allowlist: vec!["echo".into(), "/usr/bin/w*".into()] };
        let f = Path::new("/s/exec-approvals.json");
        assert!(check(&p, &programs("echo hi | /usr/bin/wc -l"), f, None).is_ok());
        let e = check(&p, &programs("echo hi; rm x"), f, None).unwrap_err();
        assert!(e.contains("`rm`") && e.contains("openclaw approvals") && e.contains("/s/exec-approvals.json"), "{e}");
        let deny = HostPolicy { security: Security::Deny, allowlist: vec![] };
        assert!(check(&deny, &programs("echo"), f, None).unwrap_err().contains("security: deny"));
    }
}
