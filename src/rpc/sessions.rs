//! Session methods the Control UI's sessions tab adds: `sessions.preview` (the last
//! messages of some sessions) and `sessions.patch` (label and levels, kept in the index).

use serde_json::{Value, json};

use super::Params;
use crate::agents::{Change, SettingsPatch, agent_of, preview, transcript, valid_agent_id};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

/// Upstream's caps: a label of at most 64 characters; the levels its UI offers.
const LABEL_MAX: usize = 64;
const THINKING: &[&str] = &["off", "minimal", "low", "medium", "high", "xhigh"];
const VERBOSE: &[&str] = &["off", "on", "full"];
const REASONING: &[&str] = &["off", "on", "stream"];

fn agent(p: &Params, key: &str) -> Result<String, ErrorShape> {
    let a = agent_of(key, "main");
    if !valid_agent_id(&a) {
        return Err(p.bad("the agent id in the session key must match ^[A-Za-z0-9_-]{1,64}$"));
    }
    Ok(a)
}

pub fn preview(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["keys", "limit", "maxChars"])?;
    let keys = match p.obj()?.and_then(|o| o.get("keys")) {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|k| k.as_str().filter(|k| !k.is_empty()).map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| p.bad("at /keys: must be array of non-empty strings"))?,
        Some(Value::Array(_)) => return Err(p.bad("at /keys: must NOT have fewer than 1 items")),
        None | Some(Value::Null) => return Err(p.bad("must have required property 'keys'")),
        Some(_) => return Err(p.bad("at /keys: must be array")),
    };
    let limit = p.opt_u64("limit", 1, 1000)?.map_or(preview::DEFAULT_LIMIT, |n| n as usize);
    let max_chars = p.opt_u64("maxChars", 20, 100_000)?.map_or(preview::DEFAULT_MAX_CHARS, |n| n as usize);
    let state_dir = &s.options.paths.state_dir;
    let mut previews = Vec::with_capacity(keys.len());
    for key in keys {
        let found = valid_agent_id(&agent_of(&key, "main"))
            .then(|| s.agents.transcript_of(state_dir, &agent_of(&key, "main"), &key))
            .flatten();
        let (status, items) = match found {
            None => ("missing", vec![]),
            Some((_, file)) => {
                let (entries, _) = transcript::read(&file);
                let items = preview::items(&transcript::messages(&entries), limit, max_chars);
                (if items.is_empty() { "empty" } else { "ok" }, items)
            }
        };
        previews.push(json!({"key": key, "status": status, "items": items}));
    }
    Ok(json!({"ts": chrono::Utc::now().timestamp_millis(), "previews": previews}))
}

/// One patch field: absent keeps, `null` clears, else a string `check` accepts.
fn change(p: &Params, key: &str, check: impl Fn(&str) -> Result<(), String>) -> Result<Change, ErrorShape> {
    match p.obj()?.and_then(|o| o.get(key)) {
        None => Ok(Change::Keep),
        Some(Value::Null) => Ok(Change::Clear),
        Some(Value::String(v)) => {
            check(v).map_err(|m| p.bad(&format!("at /{key}: {m}")))?;
            Ok(Change::Set(v.clone()))
        }
        Some(_) => Err(p.bad(&format!("at /{key}: must be string or null"))),
    }
}

fn level(allowed: &'static [&'static str]) -> impl Fn(&str) -> Result<(), String> {
    move |v| {
        if allowed.contains(&v) { Ok(()) } else { Err(format!("must be one of {} (got {v:?})", allowed.join(", "))) }
    }
}

pub fn patch(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["key", "label", "thinkingLevel", "verboseLevel", "reasoningLevel"])?;
    let key = p.str("key")?;
    if key.is_empty() {
        return Err(p.bad("at /key: must NOT have fewer than 1 characters"));
    }
    let agent = agent(p, &key)?;
    let label = |v: &str| match v.trim().chars().count() {
        0 => Err("must not be empty".to_string()),
        n if n > LABEL_MAX => Err(format!("must NOT have more than {LABEL_MAX} characters")),
        _ => Ok(()),
    };
    let patch = SettingsPatch {
        label: change(p, "label", label)?,
        thinking_level: change(p, "thinkingLevel", level(THINKING))?,
        verbose_level: change(p, "verboseLevel", level(VERBOSE))?,
        reasoning_level: change(p, "reasoningLevel", level(REASONING))?,
    };
    let state_dir = &s.options.paths.state_dir;
    let entry = s.agents.patch(state_dir, &agent, &key, &patch).map_err(|e| ErrorShape::unavailable(e.to_string()))?;
    Ok(json!({"ok": true, "path": transcript::Index::path(state_dir, &agent), "key": key, "entry": entry}))
}
