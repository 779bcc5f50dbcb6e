//! The config schema as a form reads it (`config.schema`): every `$ref` inlined (form
//! renderers, upstream's Control UI among them, cannot follow references), and hints per
//! dotted path: label, help, group, order, sensitive, placeholder.

use serde_json::{Map, Value, json};

/// Top-level sections in the order a form shows them; others follow alphabetically.
const GROUPS: &[&str] =
    &["gateway", "agents", "models", "channels", "tools", "memory", "cron", "logging", "discovery", "supervisor"];

/// Key fragments that mark a secret (compared lowercased, on the whole key or its end).
const SECRET_ENDINGS: &[&str] = &["token", "password", "secret", "apikey"];

/// `schema` with its `$defs` inlined at every `$ref`, and the `$defs` gone. A reference to a
/// definition already being inlined further up (a recursive type) becomes `{}` (any value).
pub fn inlined(schema: &Value) -> Value {
    let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out = inline(schema, &defs, &mut Vec::new());
    if let Some(o) = out.as_object_mut() {
        o.remove("$defs");
    }
    out
}

fn inline(v: &Value, defs: &Map<String, Value>, stack: &mut Vec<String>) -> Value {
    match v {
        Value::Object(o) => {
            let target = o.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"));
            let mut out = Map::new();
            if let Some(name) = target {
                if stack.iter().any(|s| s == name) {
                    return json!({});
                }
                if let Some(Value::Object(def)) = defs.get(name) {
                    stack.push(name.to_string());
                    for (k, v) in def {
                        out.insert(k.clone(), inline(v, defs, stack));
                    }
                    stack.pop();
                }
            }
            // The referring schema's own keywords (description, default) win over the definition's.
            for (k, v) in o {
                if k != "$ref" && k != "$defs" {
                    out.insert(k.clone(), inline(v, defs, stack));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline(v, defs, stack)).collect()),
        other => other.clone(),
    }
}

/// Hints for every property of an inlined schema, keyed by dotted path (`*` for any key of a
/// map, `[]` for the items of a list).
pub fn ui_hints(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let mut top: Vec<&String> = props.keys().collect();
        top.sort_by_key(|k| (GROUPS.iter().position(|g| g == k).unwrap_or(GROUPS.len()), k.to_string()));
        for (i, key) in top.into_iter().enumerate() {
            let group = label(key);
            walk(&props[key], key, key, &group, i, &mut out);
        }
    }
    out
}

fn walk(schema: &Value, path: &str, key: &str, group: &str, order: usize, out: &mut Map<String, Value>) {
    let mut hint = Map::new();
    hint.insert("label".into(), json!(label(key)));
    if let Some(help) = schema.get("description").and_then(Value::as_str) {
        hint.insert("help".into(), json!(help.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    hint.insert("group".into(), json!(group));
    hint.insert("order".into(), json!(order));
    if sensitive(key) {
        hint.insert("sensitive".into(), json!(true));
    }
    if let Some(p) = placeholder(schema) {
        hint.insert("placeholder".into(), json!(p));
    }
    out.insert(path.to_string(), Value::Object(hint));
    for branch in branches(schema) {
        if let Some(props) = branch.get("properties").and_then(Value::as_object) {
            for (i, (k, v)) in props.iter().enumerate() {
                walk(v, &format!("{path}.{k}"), k, group, i, out);
            }
        }
        if let Some(map) = branch.get("additionalProperties").filter(|v| v.is_object()) {
            walk(map, &format!("{path}.*"), key, group, 0, out);
        }
        if let Some(items) = branch.get("items").filter(|v| v.is_object()) {
            walk(items, &format!("{path}[]"), key, group, 0, out);
        }
    }
}

/// The schema itself and the alternatives of an optional (`anyOf: [X, null]`) or union value.
fn branches(schema: &Value) -> Vec<&Value> {
    let mut all = vec![schema];
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = schema.get(k).and_then(Value::as_array) {
            all.extend(list.iter());
        }
    }
    all
}

/// A secret: shown masked, never echoed into a form's placeholder.
pub fn sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_ENDINGS.iter().any(|s| k.ends_with(s)) && k != "sessionkey"
}

/// A scalar default, shown greyed in an empty field.
fn placeholder(schema: &Value) -> Option<String> {
    match schema.get("default")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `maxConcurrentRuns` → "Max Concurrent Runs"; `timeoutMs` → "Timeout (ms)"; acronyms kept.
pub fn label(key: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in key.chars() {
        if (c.is_ascii_uppercase() && !cur.is_empty()) || c == '_' || c == '-' {
            words.push(std::mem::take(&mut cur));
        }
        if c != '_' && c != '-' {
            cur.push(c);
        }
    }
    words.push(cur);
    let mut out = Vec::new();
    let n = words.len();
    for (i, w) in words.into_iter().enumerate() {
        let lower = w.to_ascii_lowercase();
        let word = match lower.as_str() {
            "ms" if i == n - 1 && n > 1 => "(ms)".to_string(),
            "tls" | "url" | "id" | "ui" | "api" | "ip" | "http" | "rpc" | "json" | "cpu" => lower.to_ascii_uppercase(),
            "mdns" => "mDNS".to_string(),
            _ => {
                let mut c = lower.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            }
        };
        out.push(word);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_inlined_and_recursion_stops() {
        let schema = json!({
            "$defs": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B", "description": "the b"}}},
                "B": {"type": "integer", "description": "plain"},
                "R": {"type": "object", "properties": {"again": {"$ref": "#/$defs/R"}}}
            },
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A"}, "r": {"$ref": "#/$defs/R"}}
        });
        let out = inlined(&schema);
        assert!(!out.to_string().contains("$ref") && !out.to_string().contains("$defs"), "{out}");
        assert_eq!(out["properties"]["a"]["properties"]["b"], json!({"type": "integer", "description": "the b"}));
        assert_eq!(out["properties"]["r"]["properties"]["again"], json!({}));
    }

    #[test]
    fn the_real_schema_inlines_whole() {
        let out = inlined(&crate::config::validate::schema_value());
        let text = out.to_string();
        assert!(!text.contains("$ref") && !text.contains("$defs"));
        assert_eq!(out["properties"]["gateway"]["properties"]["port"]["type"], "integer");
        let hints = ui_hints(&out);
        assert_eq!(hints["gateway.auth.token"]["sensitive"], true);
        assert_eq!(hints["gateway.auth.token"]["label"], "Token");
        assert!(hints.get("gateway.port").and_then(|h| h.get("sensitive")).is_none());
        assert_eq!(hints["gateway.port"]["placeholder"], "18789");
        assert_eq!(hints["gateway"]["order"], 0);
        assert_eq!(hints["agents.defaults.maxConcurrent"]["group"], "Agents");
        assert!(hints["agents.defaults.maxConcurrent"]["help"].as_str().unwrap().contains("Concurrent runs"));
        assert!(hints.contains_key("cron.jobs[]"), "list items are hinted under []");
        assert!(hints.keys().any(|k| k.contains(".*")), "map values are hinted under *");
    }

    #[test]
    fn labels_and_secrets() {
        assert_eq!(label("maxConcurrentRuns"), "Max Concurrent Runs");
        assert_eq!(label("handshakeTimeoutMs"), "Handshake Timeout (ms)");
        assert_eq!(label("tls"), "TLS");
        assert_eq!(label("controlUi"), "Control UI");
        assert_eq!(label("mdns"), "mDNS");
        for s in ["token", "botToken", "password", "apiKey", "signingSecret"] {
            assert!(sensitive(s), "{s}");
        }
        for s in ["key", "sessionKey", "tokens", "mode"] {
            assert!(!sensitive(s), "{s}");
        }
    }
}
