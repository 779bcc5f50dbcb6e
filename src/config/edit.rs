//! Config edits as pure functions: the base-hash rule, `config.set` (whole file or one dotted
//! key), `config.patch` (RFC 7396), and `<redacted>` secrets kept from the current file. The
//! ConfigActor validates the result, writes it and reloads; nothing here touches a file.

use std::path::Path;

use serde_json::{Map, Value};

use super::Problem;
use super::load::{parse_file, set_path};
use super::redact::REDACTED;

/// How `config.set/patch/apply` change the file.
#[derive(Debug, Clone)]
pub enum ConfigEdit {
    /// The whole file.
    Raw(String),
    /// One dotted path set to a value (the guide's `{key, value}` form).
    Set { key: String, value: Value },
    /// An RFC 7396 merge patch (JSON5 object text; null deletes).
    Patch(String),
}

/// Why an edit was refused before anything was validated or written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("config base hash required; re-run config.get and retry")]
    BaseHashRequired,
    #[error("config changed since last load; re-run config.get and retry")]
    Stale,
    /// The file on disk does not parse: fix it before editing.
    #[error("invalid config; fix before editing")]
    CurrentInvalid(Problem),
    /// The new whole file does not parse.
    #[error("invalid config")]
    Invalid(Problem),
    #[error("invalid config.set params: key must be a dotted path like gateway.auth.token")]
    BadKey,
    #[error("invalid config.patch params: {0}")]
    BadPatch(String),
    #[error("config.patch raw must be an object")]
    PatchNotObject,
    /// A `<redacted>` value with no earlier value to keep (its dotted path).
    #[error("{0}: the value is \"{REDACTED}\" and there is no earlier value to keep; send the real value")]
    RedactedWithoutValue(String),
}

impl EditError {
    /// The parse problem behind the error, when there is one (reported as `issues`).
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::CurrentInvalid(p) | Self::Invalid(p) => Some(p),
            _ => None,
        }
    }
}

/// The base-hash rule: a whole-document write must name the hash it was made from (it would
/// otherwise overwrite edits it never saw); a one-key set need not, but a stale one given is
/// refused like any other.
pub fn check_base(current_hash: Option<&str>, base_hash: Option<&str>, edit: &ConfigEdit) -> Result<(), EditError> {
    let keyed = matches!(edit, ConfigEdit::Set { .. });
    match (current_hash, base_hash) {
        (Some(_), None) if !keyed => Err(EditError::BaseHashRequired),
        (Some(h), Some(b)) if h != b => Err(EditError::Stale),
        _ => Ok(()),
    }
}

/// The new file text for `edit` applied to the current file (`None`: no file yet). A whole
/// file keeps its comments and layout when it needs no redaction restore; other edits are
/// written as pretty JSON.
pub fn apply(path: &Path, current: Option<&[u8]>, edit: &ConfigEdit) -> Result<String, EditError> {
    let current_doc = match current {
        Some(b) => parse_file(path, &String::from_utf8_lossy(b)).map_err(EditError::CurrentInvalid)?,
        None => Value::Object(Map::new()),
    };
    let mut doc = match edit {
        ConfigEdit::Raw(raw) => parse_file(path, raw).map_err(EditError::Invalid)?,
        ConfigEdit::Set { key, value } => {
            let segs: Vec<&str> = key.split('.').filter(|s| !s.is_empty()).collect();
            if segs.is_empty() {
                return Err(EditError::BadKey);
            }
            let mut d = current_doc.clone();
            set_path(&mut d, &segs, value.clone());
            d
        }
        ConfigEdit::Patch(raw) => {
            let patch: Value = json5::from_str(raw).map_err(|e| EditError::BadPatch(e.to_string()))?;
            if !patch.is_object() {
                return Err(EditError::PatchNotObject);
            }
            let mut d = current_doc.clone();
            merge_patch(&mut d, patch);
            d
        }
    };
    restore_redacted(&mut doc, &current_doc, &mut Vec::new())?;
    Ok(match edit {
        ConfigEdit::Raw(raw) if !raw.contains(REDACTED) => raw.clone(),
        _ => serde_json::to_string_pretty(&doc).expect("json") + "\n",
    })
}

/// RFC 7396: objects merge, null deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge_patch(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other,
    }
}

/// A secret sent back as `<redacted>` (from `config.get`) keeps the value it has in the file.
fn restore_redacted(doc: &mut Value, current: &Value, path: &mut Vec<String>) -> Result<(), EditError> {
    match doc {
        Value::String(s) if s == REDACTED => {
            let pointer = format!(
                "/{}",
                path.iter().map(|p| p.replace('~', "~0").replace('/', "~1")).collect::<Vec<_>>().join("/")
            );
            match current.pointer(&pointer) {
                Some(v) => *doc = v.clone(),
                None => return Err(EditError::RedactedWithoutValue(path.join("."))),
            }
        }
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.clone());
                restore_redacted(v, current, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const P: &str = "/tmp/x/config.json5";

    fn set(key: &str, value: Value) -> ConfigEdit {
        ConfigEdit::Set { key: key.into(), value }
    }

    #[test]
    fn base_hash_rule() {
        let raw = ConfigEdit::Raw("{}".into());
        assert_eq!(check_base(Some("h"), None, &raw), Err(EditError::BaseHashRequired));
        assert_eq!(check_base(Some("h"), Some("old"), &raw), Err(EditError::Stale));
        assert_eq!(check_base(Some("h"), Some("h"), &raw), Ok(()));
        assert_eq!(check_base(None, None, &raw), Ok(()), "no file yet: nothing to lose");
        assert_eq!(check_base(Some("h"), None, &set("a", json!(1))), Ok(()), "one key needs no base");
        assert_eq!(check_base(Some("h"), Some("old"), &set("a", json!(1))), Err(EditError::Stale));
    }

    #[test]
    fn set_makes_objects_on_the_way_and_keeps_other_keys() {
        let cur = br#"{ gateway: { port: 1 }, logging: "x" }"#;
        let out = apply(Path::new(P), Some(cur), &set("gateway.auth.token", json!("t"))).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"gateway": {"port": 1, "auth": {"token": "t"}}, "logging": "x"}));
        let out = apply(Path::new(P), Some(cur), &set("logging.level", json!("warn"))).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["logging"], json!({"level": "warn"}));
        assert_eq!(apply(Path::new(P), None, &set("..", json!(1))), Err(EditError::BadKey));
    }

    #[test]
    fn patch_merges_and_null_deletes() {
        let cur = br#"{ a: { b: 1, c: 2 }, d: 3 }"#;
        let out = apply(Path::new(P), Some(cur), &ConfigEdit::Patch("{ a: { c: null, e: 4 }, d: 5 }".into())).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"a": {"b": 1, "e": 4}, "d": 5}));
        assert_eq!(apply(Path::new(P), Some(cur), &ConfigEdit::Patch("[1]".into())), Err(EditError::PatchNotObject));
        assert!(matches!(apply(Path::new(P), Some(cur), &ConfigEdit::Patch("{".into())), Err(EditError::BadPatch(_))));
    }

    #[test]
    fn a_whole_file_keeps_its_text_unless_a_secret_is_restored() {
        let cur = br#"{ gateway: { auth: { token: "s3cret" } } }"#;
        let raw = "// mine\n{ gateway: { port: 2 } }\n";
        assert_eq!(apply(Path::new(P), Some(cur), &ConfigEdit::Raw(raw.into())).unwrap(), raw);
        let back = r#"{ gateway: { auth: { token: "<redacted>" }, port: 2 } }"#;
        let out = apply(Path::new(P), Some(cur), &ConfigEdit::Raw(back.into())).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["gateway"]["auth"]["token"], "s3cret");
        let new = r#"{ channels: { slack: { botToken: "<redacted>" } } }"#;
        assert_eq!(
            apply(Path::new(P), Some(cur), &ConfigEdit::Raw(new.into())),
            Err(EditError::RedactedWithoutValue("channels.slack.botToken".into()))
        );
    }

    #[test]
    fn parse_errors_name_which_file() {
        assert!(matches!(apply(Path::new(P), Some(b"{ nope"), &set("a", json!(1))), Err(EditError::CurrentInvalid(_))));
        assert!(matches!(apply(Path::new(P), None, &ConfigEdit::Raw("{ nope".into())), Err(EditError::Invalid(_))));
    }
}
