//! Secrets never leave the process: every config response and log line goes through here.

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";

/// Key names (case-insensitive) whose values are secrets.
const SECRET_KEYS: [&str; 6] = ["token", "password", "secret", "apikey", "bottoken", "privatekey"];

pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| k == *s || k.ends_with(s)) && !k.ends_with("file")
}

/// A copy of `value` with every secret string replaced.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() && !v.is_object() {
                        Value::String(REDACTED.into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Whether the last segment of a dotted path names a secret.
pub fn is_secret_path(path: &str) -> bool {
    path.rsplit('.').next().is_some_and(is_secret_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_replaced_and_file_paths_kept() {
        let v = json!({"gateway": {"auth": {"token": "s3cret", "tokenFile": "/run/secrets/t", "mode": "token"}},
                       "channels": {"slack": {"botToken": "xoxb"}}});
        let r = redact(&v);
        assert_eq!(r["gateway"]["auth"]["token"], REDACTED);
        assert_eq!(r["gateway"]["auth"]["tokenFile"], "/run/secrets/t");
        assert_eq!(r["gateway"]["auth"]["mode"], "token");
        assert_eq!(r["channels"]["slack"]["botToken"], REDACTED);
        assert!(is_secret_path("gateway.auth.password"));
        assert!(!is_secret_path("gateway.auth.mode"));
    }
}
