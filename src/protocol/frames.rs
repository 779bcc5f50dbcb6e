//! Request, response and event frames, and the error shape, with the spec's exact messages.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Error codes of protocol v3 plus this gateway's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    NotPaired,
    NotLinked,
    AgentTimeout,
    Unavailable,
    RateLimited,
}

/// `{code, message, details?, retryable?, retryAfterMs?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None, retryable: None, retry_after_ms: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(ms);
        self
    }
}

/// A validated request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub method: String,
    pub params: Value,
}

/// Why a frame is not a valid request; `id` is its id when it had one.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    pub id: Option<String>,
    pub message: String,
}

/// Validates `{type:"req", id, method, params?}` with no other fields.
pub fn parse_request(v: &Value) -> Result<Request, FrameError> {
    let Some(obj) = v.as_object() else {
        return Err(FrameError { id: None, message: "invalid request frame: must be object".into() });
    };
    let id = obj.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let fail = |m: &str| FrameError { id: id.clone(), message: format!("invalid request frame: {m}") };
    if let Some(extra) = obj.keys().find(|k| !matches!(k.as_str(), "type" | "id" | "method" | "params")) {
        return Err(fail(&format!("must NOT have additional properties ({extra:?})")));
    }
    match obj.get("type") {
        None => return Err(fail("must have required property 'type'")),
        Some(t) if t != "req" => return Err(fail("type must be \"req\"")),
        _ => {}
    }
    let Some(id_val) = obj.get("id") else { return Err(fail("must have required property 'id'")) };
    if id.is_none() {
        return Err(fail(&format!("at /id: must be a non-empty string (found {id_val})")));
    }
    let method = match obj.get("method") {
        None => return Err(fail("must have required property 'method'")),
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(fail("at /method: must be a non-empty string")),
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    Ok(Request { id: id.unwrap_or_default(), method, params })
}

/// A valid request frame read straight from its text: `None` for anything else, which
/// [`parse_request`] reads from the JSON tree to say what is wrong. A tree of the frame (each
/// key and value copied into a map) was most of a small call's allocations. Whatever this
/// accepts, [`parse_request`] accepts as the same request (the fuzz tests check it); it may
/// leave to it a valid frame spelled unusually (a repeated key, an escaped `type`).
pub fn request_from_text(text: &str) -> Option<Request> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Frame<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        method: Cow<'a, str>,
        #[serde(default)]
        params: Value,
    }
    let f: Frame = serde_json::from_str(text).ok()?;
    (f.kind == "req" && !f.id.is_empty() && !f.method.is_empty()).then(|| Request {
        id: f.id.into_owned(),
        method: f.method.into_owned(),
        params: f.params,
    })
}

/// Why a frame's text is not a request: not JSON at all, or JSON that is not a valid request.
#[derive(Debug)]
pub enum TextError {
    NotJson(serde_json::Error),
    Frame(FrameError),
}

/// A request frame from its text: read straight from the text when it is valid
/// ([`request_from_text`]), else from its JSON tree, which says what is wrong ([`parse_request`]).
pub fn request_text(text: &str) -> Result<Request, TextError> {
    if let Some(r) = request_from_text(text) {
        return Ok(r);
    }
    let v: Value = serde_json::from_str(text).map_err(TextError::NotJson)?;
    parse_request(&v).map_err(TextError::Frame)
}

/// `{"type":"res","id":..,"ok":true,"payload":..}`.
pub fn ok_response(id: &str, payload: Value) -> String {
    ok_response_raw(id, &serde_json::to_string(&payload).expect("value serializes"))
}

/// [`ok_response`] for a payload that is JSON text already.
pub fn ok_response_raw(id: &str, payload: &str) -> String {
    ok_response_with(id, payload.len(), |out| out.push_str(payload))
}

/// [`ok_response`] with the payload's JSON text written by `payload` straight into the frame
/// (about `size` bytes): no copy of it is made first.
pub fn ok_response_with(id: &str, size: usize, payload: impl FnOnce(&mut String)) -> String {
    // Written directly: no intermediate map for the hottest frame, and an id that JSON needs
    // not escape (the usual one) is not copied on its own first.
    let plain = id.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    let mut out = String::with_capacity(id.len() + size + 48);
    out.push_str(r#"{"type":"res","id":"#);
    if plain {
        out.push('"');
        out.push_str(id);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(id).expect("string serializes"));
    }
    out.push_str(r#","ok":true,"payload":"#);
    payload(&mut out);
    out.push('}');
    out
}

/// `{"type":"res","id":..,"ok":false,"error":..}`.
pub fn err_response(id: &str, error: &ErrorShape) -> String {
    json!({"type": "res", "id": id, "ok": false, "error": error}).to_string()
}

/// `{"type":"event","event":..,"payload":..,"seq":..}`.
pub fn event(name: &str, payload: Value, seq: Option<u64>, state_version: Option<Value>) -> String {
    let mut m = Map::new();
    m.insert("type".into(), "event".into());
    m.insert("event".into(), name.into());
    m.insert("payload".into(), payload);
    if let Some(s) = seq {
        m.insert("seq".into(), s.into());
    }
    if let Some(sv) = state_version {
        m.insert("stateVersion".into(), sv);
    }
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_requests_parse_and_params_default_to_null() {
        let r = parse_request(&json!({"type":"req","id":"1","method":"health"})).unwrap();
        assert_eq!(r.method, "health");
        assert_eq!(r.params, Value::Null);
    }

    #[test]
    fn malformed_frames_name_the_problem_and_keep_the_id() {
        let e = parse_request(&json!({"type":"req","id":"7"})).unwrap_err();
        assert_eq!(e.message, "invalid request frame: must have required property 'method'");
        assert_eq!(e.id.as_deref(), Some("7"));
        let e = parse_request(&json!({"type":"req","id":"7","method":"x","extra":1})).unwrap_err();
        assert!(e.message.contains("additional properties"));
        let e = parse_request(&json!({"type":"req","id":"","method":"x"})).unwrap_err();
        assert!(e.message.contains("/id"));
        assert!(parse_request(&json!([1])).is_err());
    }

    #[test]
    fn the_text_reader_takes_valid_frames_and_leaves_the_rest_to_the_tree() {
        let r = request_from_text(r#"{"type":"req","id":"a\"b","method":"health","params":{"x":[1]}}"#).unwrap();
        assert_eq!(r, Request { id: "a\"b".into(), method: "health".into(), params: json!({"x": [1]}) });
        let r = request_from_text(r#"{"method":"m","params":null,"id":"1","type":"req"}"#).unwrap();
        assert_eq!(r.params, Value::Null);
        for refused in [
            r#"{"type":"req","id":"1"}"#,
            r#"{"type":"req","id":"","method":"x"}"#,
            r#"{"type":"res","id":"1","method":"x"}"#,
            r#"{"type":"req","id":1,"method":"x"}"#,
            r#"{"type":"req","id":"1","method":"x","extra":1}"#,
            r#"{"type":"req","id":"1","method":"x","id":"2"}"#,
            r#"[1]"#,
            r#"{"type":"req","id":"1","method":"x"} trailing"#,
        ] {
            assert_eq!(request_from_text(refused), None, "{refused}");
        }
    }

    #[test]
    fn ok_responses_are_valid_json_with_escaped_ids() {
        for id in ["a\"b", "a\\b", "tab\there", "\u{1}", "plain-1", "ünï", ""] {
            let v: Value = serde_json::from_str(&ok_response(id, json!({"x": 1}))).unwrap();
            assert_eq!(v, json!({"type": "res", "id": id, "ok": true, "payload": {"x": 1}}));
        }
    }

    #[test]
    fn errors_serialize_in_the_spec_shape() {
        let e = ErrorShape::new(ErrorCode::RateLimited, "too many").retry_after(5);
        let v: Value = serde_json::from_str(&err_response("1", &e)).unwrap();
        assert_eq!(v["error"]["code"], "RATE_LIMITED");
        assert_eq!(v["error"]["retryAfterMs"], 5);
        assert_eq!(v["error"]["retryable"], true);
        assert!(v["error"].get("details").is_none());
    }
}
