//! The exec-approvals policy file, `<state>/exec-approvals.json` (`exec.approvals.get|set`):
//! read with its hash, written atomically after the same base-hash check as config writes,
//! so two editors cannot silently overwrite each other. Its socket token is never sent out.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::state::{self, FILE_MODE, StateError};

pub const FILE: &str = "exec-approvals.json";

/// One writer at a time: the hash check and the write must not interleave.
static WRITE: Mutex<()> = Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum ApprovalsError {
    #[error("exec approvals base hash required; re-run exec.approvals.get and retry")]
    BaseHashRequired,
    #[error("exec approvals changed since last load; re-run exec.approvals.get and retry")]
    Stale,
    #[error("invalid exec approvals file: {0}")]
    Invalid(String),
    /// The file on disk is not JSON: fix or remove it before editing.
    #[error("{}: not a JSON object; fix or remove it", .0.display())]
    Unreadable(PathBuf),
    #[error("{0}")]
    Io(StateError),
}

/// The file as `exec.approvals.get` answers it.
pub struct Snapshot {
    pub path: PathBuf,
    pub exists: bool,
    pub hash: Option<String>,
    pub file: Value,
}

impl Snapshot {
    pub fn to_json(&self) -> Value {
        json!({"path": self.path, "exists": self.exists, "hash": self.hash, "file": self.file})
    }
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

fn hash(bytes: &[u8]) -> String {
    crate::sys::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// The bytes on disk and the document they hold.
type OnDisk = (Vec<u8>, Map<String, Value>);

/// What is on disk (`None`: no file).
fn current(file: &Path) -> Result<Option<OnDisk>, ApprovalsError> {
    match std::fs::read(file) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(Value::Object(o)) => Ok(Some((b, o))),
            _ => Err(ApprovalsError::Unreadable(file.into())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ApprovalsError::Io(StateError::new(file, e))),
    }
}

/// The document with its socket token left out (a client has no use for it).
fn redacted(mut doc: Map<String, Value>) -> Value {
    if let Some(Value::Object(s)) = doc.get_mut("socket") {
        s.remove("token");
    }
    doc.entry("version").or_insert(json!(1));
    Value::Object(doc)
}

pub fn get(state_dir: &Path) -> Result<Snapshot, ApprovalsError> {
    let file = path(state_dir);
    Ok(match current(&file)? {
        Some((bytes, doc)) => Snapshot { path: file, exists: true, hash: Some(hash(&bytes)), file: redacted(doc) },
        None => Snapshot { path: file, exists: false, hash: None, file: json!({"version": 1}) },
    })
}

fn one_of(v: Option<&Value>, at: &str, allowed: &[&str]) -> Result<(), ApprovalsError> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(_) => Err(ApprovalsError::Invalid(format!("at {at}: must be one of {}", allowed.join(", ")))),
    }
}

/// The policy fields a defaults block or an agent's block may set.
fn check_policy(o: &Map<String, Value>, at: &str) -> Result<(), ApprovalsError> {
    const SECURITY: &[&str] = &["deny", "allowlist", "full"];
    one_of(o.get("security"), &format!("{at}/security"), SECURITY)?;
    one_of(o.get("ask"), &format!("{at}/ask"), &["off", "on-miss", "always"])?;
    one_of(o.get("askFallback"), &format!("{at}/askFallback"), SECURITY)?;
    match o.get("autoAllowSkills") {
        None | Some(Value::Null | Value::Bool(_)) => Ok(()),
        Some(_) => Err(ApprovalsError::Invalid(format!("at {at}/autoAllowSkills: must be boolean"))),
    }
}

/// Upstream's file shape: `{version:1, socket?, defaults?, agents?:{id:{…, allowlist?:[{pattern}]}}}`.
pub fn check(file: &Value) -> Result<(), ApprovalsError> {
    let bad = |m: &str| Err(ApprovalsError::Invalid(m.into()));
    let Value::Object(doc) = file else { return bad("must be object") };
    match doc.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => return bad("at /version: must be 1"),
    }
    match doc.get("socket") {
        None | Some(Value::Object(_)) => {}
        Some(_) => return bad("at /socket: must be object"),
    }
    match doc.get("defaults") {
        None => {}
        Some(Value::Object(d)) => check_policy(d, "/defaults")?,
        Some(_) => return bad("at /defaults: must be object"),
    }
    match doc.get("agents") {
        None => {}
        Some(Value::Object(agents)) => {
            for (id, a) in agents {
                let at = format!("/agents/{id}");
                let Value::Object(a) = a else { return bad(&format!("at {at}: must be object")) };
                check_policy(a, &at)?;
                match a.get("allowlist") {
                    None => {}
                    Some(Value::Array(list)) => {
                        for (i, e) in list.iter().enumerate() {
                            let pattern = e.get("pattern").and_then(Value::as_str).unwrap_or_default();
                            if pattern.trim().is_empty() {
                                return bad(&format!("at {at}/allowlist/{i}/pattern: must be a non-empty string"));
                            }
                        }
                    }
                    Some(_) => return bad(&format!("at {at}/allowlist: must be array")),
                }
            }
        }
        Some(_) => return bad("at /agents: must be object"),
    }
    Ok(())
}

/// Replaces the file with `new` if `base_hash` names what is on disk (required once a file
/// exists). A socket without a token keeps the stored one: `get` never sent it.
pub fn set(state_dir: &Path, new: &Value, base_hash: Option<&str>) -> Result<Snapshot, ApprovalsError> {
    check(new)?;
    let _one = WRITE.lock();
    let file = path(state_dir);
    let cur = current(&file)?;
    match (&cur, base_hash) {
        (Some(_), None) => return Err(ApprovalsError::BaseHashRequired),
        (Some((bytes, _)), Some(b)) if hash(bytes) != b => return Err(ApprovalsError::Stale),
        _ => {}
    }
    let mut doc = new.as_object().cloned().unwrap_or_default();
    doc.insert("version".into(), json!(1));
    let old_token = cur.as_ref().and_then(|(_, o)| o.get("socket")?.get("token").cloned());
    if let (Some(t), Some(Value::Object(s))) = (old_token, doc.get_mut("socket"))
        && !s.contains_key("token")
    {
        s.insert("token".into(), t);
    }
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    state::write_file(&file, &bytes, FILE_MODE).map_err(ApprovalsError::Io)?;
    Ok(Snapshot { path: file, exists: true, hash: Some(hash(&bytes)), file: redacted(doc) })
}

/// Appends `patterns` to `agent_id`'s allowlist (an operator's `allow-always`), keeping the
/// rest of the file; a pattern already there is not added twice.
pub fn allow_always(state_dir: &Path, agent_id: &str, patterns: &[String]) -> Result<(), ApprovalsError> {
    let _one = WRITE.lock();
    let file = path(state_dir);
    let mut doc = current(&file)?.map(|(_, d)| d).unwrap_or_default();
    doc.insert("version".into(), json!(1));
    let agents = doc.entry("agents").or_insert_with(|| json!({}));
    let Some(agents) = agents.as_object_mut() else {
        return Err(ApprovalsError::Invalid("at /agents: must be object".into()));
    };
    let agent = agents.entry(agent_id).or_insert_with(|| json!({}));
    let Some(agent) = agent.as_object_mut() else {
        return Err(ApprovalsError::Invalid(format!("at /agents/{agent_id}: must be object")));
    };
    let list = agent.entry("allowlist").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return Err(ApprovalsError::Invalid(format!("at /agents/{agent_id}/allowlist: must be array")));
    };
    for p in patterns {
        if !list.iter().any(|e| e["pattern"] == p.as_str()) {
            list.push(json!({"pattern": p, "lastUsedAt": crate::sys::now_ms()}));
        }
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(doc)).unwrap_or_default();
    bytes.push(b'\n');
    state::write_file(&file, &bytes, FILE_MODE).map_err(ApprovalsError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_hash_is_required_once_the_file_exists_and_must_be_current() {
        let d = tempfile::tempdir().unwrap();
        let first = get(d.path()).unwrap();
        assert!(!first.exists && first.hash.is_none());
        let a = set(d.path(), &json!({"defaults": {"security": "allowlist"}}), None).unwrap();
        assert_eq!(a.file, json!({"version": 1, "defaults": {"security": "allowlist"}}));
        assert!(matches!(set(d.path(), &json!({}), None), Err(ApprovalsError::BaseHashRequired)));
        assert!(matches!(set(d.path(), &json!({}), Some("nope")), Err(ApprovalsError::Stale)));
        let b = set(d.path(), &json!({"version": 1}), a.hash.as_deref()).unwrap();
        assert_eq!(get(d.path()).unwrap().hash, b.hash);
    }

    #[test]
    fn the_socket_token_is_kept_on_disk_and_never_shown() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(path(d.path()), r#"{"version":1,"socket":{"path":"/s","token":"secret"}}"#).unwrap();
        let g = get(d.path()).unwrap();
        assert_eq!(g.file["socket"], json!({"path": "/s"}));
        set(d.path(), &g.file, g.hash.as_deref()).unwrap();
        let disk: Value = serde_json::from_slice(&std::fs::read(path(d.path())).unwrap()).unwrap();
        assert_eq!(disk["socket"]["token"], "secret");
    }

    #[test]
    fn bad_shapes_are_named_by_where_they_are() {
        let msg = |v: Value| check(&v).unwrap_err().to_string();
        assert_eq!(msg(json!([])), "invalid exec approvals file: must be object");
        assert_eq!(msg(json!({"version": 2})), "invalid exec approvals file: at /version: must be 1");
        assert!(msg(json!({"defaults": {"ask": "sometimes"}})).contains("at /defaults/ask: must be one of"));
        assert!(
            msg(json!({"agents": {"main": {"allowlist": [{"pattern": ""}]}}})).contains("/agents/main/allowlist/0")
        );
        check(&json!({"version": 1, "agents": {"main": {"security": "full", "allowlist": [{"pattern": "/bin/ls"}]}}}))
            .unwrap();
    }
}
