//! Strict validation against the JSON Schema generated from the config model: every
//! problem at once, unknown keys with a "did you mean", and `file:line` where it can be found.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::{Config, Problem};

/// The JSON Schema of [`Config`] (what `openclaw config schema` prints).
pub fn schema_value() -> Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::to_value(schemars::schema_for!(Config)).expect("schema serializes")).clone()
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| jsonschema::validator_for(&schema_value()).expect("generated schema compiles"))
}

/// Every problem in `doc`, as `path: message`.
pub fn validate(schema: &Value, doc: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    for err in validator().iter_errors(doc) {
        let segs = pointer_segments(err.instance_path().as_str());
        let path = dotted(&segs);
        let found = err.instance();
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = keys_at(schema, &segs);
                for key in unexpected {
                    let full = if path == "<root>" { key.clone() } else { format!("{path}.{key}") };
                    out.push(Problem::new(full, unknown_key_message(key, &known)));
                }
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> = options.as_array().into_iter().flatten().map(Value::to_string).collect();
                out.push(Problem::new(path, format!("must be one of {} (found {found})", opts.join(", "))));
            }
            ValidationErrorKind::Minimum { limit } => {
                out.push(Problem::new(path, format!("must be at least {limit} (found {found})")))
            }
            ValidationErrorKind::Maximum { limit } => {
                out.push(Problem::new(path, format!("must be at most {limit} (found {found})")))
            }
            ValidationErrorKind::Type { .. } => {
                let want = describe_types(schema, &segs);
                out.push(Problem::new(path, format!("must be {want} (found {})", type_name(found))));
            }
            ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
                let want = describe_types(schema, &segs);
                out.push(Problem::new(path, format!("must be {want} (found {found})")));
            }
            ValidationErrorKind::Required { property } => {
                out.push(Problem::new(path, format!("missing required key {property}")))
            }
            ValidationErrorKind::MinLength { .. } => out.push(Problem::new(path, "must not be empty")),
            _ => out.push(Problem::new(path, err.to_string())),
        }
    }
    out
}

/// The keys of `doc` this gateway's schema does not know, as segment paths (so the upstream
/// layer can take out the ones upstream's schema has before validation reports the rest).
pub fn unexpected_keys(doc: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for err in validator().iter_errors(doc) {
        if let ValidationErrorKind::AdditionalProperties { unexpected } = err.kind() {
            let segs = pointer_segments(err.instance_path().as_str());
            out.extend(unexpected.iter().map(|k| segs.iter().cloned().chain([k.clone()]).collect()));
        }
    }
    out
}

fn unknown_key_message(key: &str, known: &[String]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(&key.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("unknown key \"{key}\" (did you mean \"{k}\"?)"),
        None if known.is_empty() => format!("unknown key \"{key}\""),
        None => format!("unknown key \"{key}\" (known keys here: {})", known.join(", ")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "a string or an object" for the schema at `segs`.
fn describe_types(schema: &Value, segs: &[String]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for node in nodes_at(schema, segs) {
        let types: Vec<&str> = match node.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if node.get("enum").is_some() => vec!["string"],
            _ => vec![],
        };
        for t in types {
            let name = match t {
                "integer" => "a whole number",
                "number" => "a number",
                "string" => "a string",
                "boolean" => "a boolean (true or false)",
                "array" => "an array",
                "object" => "an object",
                _ => continue, // null: optional values are simply omitted
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.is_empty() { "of another type".to_string() } else { names.join(" or ") }
}

/// Turns an environment string into the type the schema expects at `path`.
pub fn coerce(schema: &Value, path: &[String], value: Value) -> Value {
    let Value::String(s) = &value else { return value };
    let types: Vec<String> = nodes_at(schema, path)
        .iter()
        .flat_map(|n| match n.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
            _ => vec![],
        })
        .collect();
    let has = |t: &str| types.iter().any(|x| x == t);
    let trimmed = s.trim();
    if has("boolean") && matches!(trimmed, "true" | "false") {
        return Value::Bool(trimmed == "true");
    }
    if has("string") {
        return value;
    }
    if has("boolean") {
        match trimmed.to_ascii_lowercase().as_str() {
            "1" | "yes" | "on" => return Value::Bool(true),
            "0" | "no" | "off" => return Value::Bool(false),
            _ => {}
        }
    }
    if (has("integer") || has("number"))
        && let Ok(n) = trimmed.parse::<serde_json::Number>()
    {
        return Value::Number(n);
    }
    if (has("array") || has("object"))
        && let Ok(v) = json5::from_str::<Value>(trimmed)
    {
        return v;
    }
    value
}

/// Property names the schema allows at `segs`.
pub fn keys_at(schema: &Value, segs: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = nodes_at(schema, segs)
        .iter()
        .filter_map(|n| n.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The schema nodes (with `$ref`s and `anyOf`/`oneOf` flattened) that apply at `segs`.
fn nodes_at<'a>(root: &'a Value, segs: &[String]) -> Vec<&'a Value> {
    let mut current = variants(root, root);
    for seg in segs {
        let mut next = Vec::new();
        for node in current {
            let child = node
                .get("properties")
                .and_then(|p| p.get(seg.as_str()))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
                .or_else(|| node.get("items").filter(|_| seg.parse::<usize>().is_ok()));
            if let Some(c) = child {
                next.extend(variants(root, c));
            }
        }
        current = next;
    }
    current
}

fn variants<'a>(root: &'a Value, node: &'a Value) -> Vec<&'a Value> {
    let node = resolve(root, node);
    match node.get("anyOf").or_else(|| node.get("oneOf")).and_then(Value::as_array) {
        Some(vs) => vs.iter().flat_map(|v| variants(root, v)).collect(),
        None => vec![node],
    }
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).map(|n| resolve(root, n)).unwrap_or(node),
        None => node,
    }
}

fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

fn dotted(segs: &[String]) -> String {
    if segs.is_empty() { "<root>".to_string() } else { segs.join(".") }
}

/// Best-effort line of a dotted path's last key in JSON5 text (keys searched in order).
pub fn locate(text: &str, path: &str) -> Option<usize> {
    if path == "<root>" {
        return None;
    }
    let mut pos = 0;
    for seg in path.split('.').filter(|s| s.parse::<usize>().is_err()) {
        pos = find_key(text, seg, pos)?;
    }
    Some(text[..pos].matches('\n').count() + 1)
}

fn find_key(text: &str, key: &str, from: usize) -> Option<usize> {
    // An empty key (`{"": 1}`, or `OPENCLAW__A____B`) matches everywhere without advancing:
    // the search below never ended. It has no line to give.
    if key.is_empty() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut start = from;
    while let Some(off) = text[start..].find(key) {
        let at = start + off;
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
        let mut after = at + key.len();
        if matches!(bytes.get(after), Some(b'"' | b'\'')) {
            after += 1;
        }
        while matches!(bytes.get(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let in_comment = text[line_start..at].contains("//");
        if !in_comment && !before.is_some_and(ident) && bytes.get(after) == Some(&b':') {
            return Some(at);
        }
        start = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(doc: Value) -> Vec<Problem> {
        validate(&schema_value(), &doc)
    }

    #[test]
    fn unknown_key_suggests_the_closest_known_key() {
        let p = problems(json!({"gateway": {"prot": 1}}));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "gateway.prot");
        assert!(p[0].message.contains("did you mean \"port\""), "{}", p[0].message);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p =
            problems(json!({"gateway": {"port": 70000, "bind": "wan"}, "agents": {"defaults": {"maxConcurrent": 0}}}));
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"gateway.port"), "{p:?}");
        assert!(paths.contains(&"gateway.bind"), "{p:?}");
        assert!(paths.contains(&"agents.defaults.maxConcurrent"), "{p:?}");
        let bind = p.iter().find(|p| p.path == "gateway.bind").unwrap();
        assert!(bind.message.contains("\"loopback\""), "{}", bind.message);
    }

    #[test]
    fn wrong_types_name_what_is_expected() {
        let p = problems(json!({"gateway": {"port": "high"}}));
        assert_eq!(p[0].path, "gateway.port");
        assert!(p[0].message.contains("whole number"), "{}", p[0].message);
    }

    #[test]
    fn coercion_follows_the_schema_type() {
        let s = schema_value();
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(coerce(&s, &path("gateway.port"), json!("9000")), json!(9000));
        assert_eq!(coerce(&s, &path("gateway.auth.token"), json!("12345")), json!("12345"));
        assert_eq!(coerce(&s, &path("cron.enabled"), json!("0")), json!(false));
        assert_eq!(coerce(&s, &path("logging.file"), json!("false")), json!(false));
        assert_eq!(coerce(&s, &path("logging.file"), json!("/x.log")), json!("/x.log"));
    }

    #[test]
    fn locate_finds_the_line_of_a_nested_key() {
        let text = "{\n  gateway: {\n    // port: 1\n    \"port\": 99999,\n  },\n}\n";
        assert_eq!(locate(text, "gateway.port"), Some(4));
    }
}
