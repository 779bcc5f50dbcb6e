//! The `connect` request: parameter validation with ajv-style messages, the protocol window,
//! roles and the credential forms (object, `secret:<token>`, `device:<id>:<token>`).

use serde_json::{Map, Value};

use super::PROTOCOL_VERSION;

pub const CLIENT_IDS: [&str; 12] = [
    "webchat-ui",
    "openclaw-control-ui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-ios",
    "openclaw-android",
    "node-host",
    "test",
    "fingerprint",
    "openclaw-probe",
];
pub const CLIENT_MODES: [&str; 7] = ["webchat", "cli", "ui", "backend", "node", "probe", "test"];

#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    pub id: String,
    pub display_name: Option<String>,
    pub version: String,
    pub platform: String,
    pub device_family: Option<String>,
    pub model_identifier: Option<String>,
    pub mode: String,
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Node,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Node => "node",
        }
    }
}

/// What the client offered to prove who it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub token: Option<String>,
    pub password: Option<String>,
    /// From the `device:<id>:<token>` form.
    pub device_token: Option<(String, String)>,
}

/// `device` in connect params: a signed proof of key possession.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceProof {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: i64,
    pub nonce: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectParams {
    pub client: ClientInfo,
    pub role: Role,
    pub scopes: Option<Vec<String>>,
    pub auth: Credentials,
    pub device: Option<DeviceProof>,
    pub caps: Vec<String>,
    pub locale: Option<String>,
    pub user_agent: Option<String>,
}

/// Why a connect is refused before authentication; each maps to a close code.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    /// `invalid connect params: ...` (1008).
    Invalid(String),
    /// `protocol mismatch` (1002).
    ProtocolMismatch,
    /// `invalid role` (1008).
    InvalidRole,
}

const TOP_KEYS: [&str; 13] = [
    "minProtocol",
    "maxProtocol",
    "client",
    "role",
    "scopes",
    "caps",
    "commands",
    "permissions",
    "pathEnv",
    "locale",
    "userAgent",
    "auth",
    "device",
];

pub fn parse(params: &Value) -> Result<ConnectParams, ConnectError> {
    let bad = |m: String| ConnectError::Invalid(format!("invalid connect params: {m}"));
    let Some(p) = params.as_object() else { return Err(bad("must be object".into())) };
    only_keys(p, "", &TOP_KEYS).map_err(bad)?;
    let min = protocol_field(p, "minProtocol").map_err(bad)?;
    let max = protocol_field(p, "maxProtocol").map_err(bad)?;
    let client = parse_client(p.get("client")).map_err(bad)?;
    let scopes = optional_strings(p, "scopes").map_err(bad)?;
    let caps = optional_strings(p, "caps").map_err(bad)?.unwrap_or_default();
    let locale = optional_str(p, "locale", "").map_err(bad)?;
    let user_agent = optional_str(p, "userAgent", "").map_err(bad)?;
    let role = optional_str(p, "role", "").map_err(bad)?;
    let auth = parse_auth(p.get("auth")).map_err(bad)?;
    let device = parse_device(p.get("device")).map_err(bad)?;
    if max < PROTOCOL_VERSION || min > PROTOCOL_VERSION {
        return Err(ConnectError::ProtocolMismatch);
    }
    let role = match role.as_deref() {
        None | Some("operator") => Role::Operator,
        Some("node") => Role::Node,
        Some(_) => return Err(ConnectError::InvalidRole),
    };
    Ok(ConnectParams { client, role, scopes, auth, device, caps, locale, user_agent })
}

fn only_keys(obj: &Map<String, Value>, at: &str, allowed: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => {
            Err(format!("at {}: must NOT have additional properties ({k:?})", if at.is_empty() { "/" } else { at }))
        }
        None => Ok(()),
    }
}

fn protocol_field(p: &Map<String, Value>, key: &str) -> Result<u64, String> {
    match p.get(key) {
        None => Err(format!("must have required property '{key}'")),
        Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| format!("at /{key}: must be integer >= 1")),
    }
}

fn optional_str(p: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("at {at}/{key}: must be string")),
    }
}

fn required_str(p: &Map<String, Value>, key: &str, at: &str) -> Result<String, String> {
    optional_str(p, key, at)?
        .ok_or_else(|| format!("at {}: must have required property '{key}'", if at.is_empty() { "/" } else { at }))
}

fn optional_strings(p: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| format!("at /{key}: must be array of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("at /{key}: must be array")),
    }
}

fn parse_client(v: Option<&Value>) -> Result<ClientInfo, String> {
    let Some(v) = v else { return Err("must have required property 'client'".into()) };
    let Some(c) = v.as_object() else { return Err("at /client: must be object".into()) };
    only_keys(
        c,
        "/client",
        &["id", "displayName", "version", "platform", "deviceFamily", "modelIdentifier", "mode", "instanceId"],
    )?;
    let id = required_str(c, "id", "/client")?;
    if !CLIENT_IDS.contains(&id.as_str()) {
        return Err(format!("at /client/id: must be equal to one of the allowed values ({})", CLIENT_IDS.join(", ")));
    }
    let mode = required_str(c, "mode", "/client")?;
    if !CLIENT_MODES.contains(&mode.as_str()) {
        return Err(format!(
            "at /client/mode: must be equal to one of the allowed values ({})",
            CLIENT_MODES.join(", ")
        ));
    }
    Ok(ClientInfo {
        id,
        display_name: optional_str(c, "displayName", "/client")?,
        version: required_str(c, "version", "/client")?,
        platform: required_str(c, "platform", "/client")?,
        device_family: optional_str(c, "deviceFamily", "/client")?,
        model_identifier: optional_str(c, "modelIdentifier", "/client")?,
        mode,
        instance_id: optional_str(c, "instanceId", "/client")?,
    })
}

fn parse_auth(v: Option<&Value>) -> Result<Credentials, String> {
    match v {
        None | Some(Value::Null) => Ok(Credentials::default()),
        Some(Value::String(s)) => {
            if let Some(token) = s.strip_prefix("secret:") {
                Ok(Credentials { token: Some(token.to_string()), ..Default::default() })
            } else if let Some(rest) = s.strip_prefix("device:") {
                let (id, token) = rest.split_once(':').ok_or("at /auth: expected \"device:<deviceId>:<token>\"")?;
                Ok(Credentials { device_token: Some((id.to_string(), token.to_string())), ..Default::default() })
            } else {
                Err("at /auth: a string must be \"secret:<token>\" or \"device:<deviceId>:<token>\"".into())
            }
        }
        Some(Value::Object(a)) => {
            only_keys(a, "/auth", &["token", "password"])?;
            Ok(Credentials {
                token: optional_str(a, "token", "/auth")?,
                password: optional_str(a, "password", "/auth")?,
                device_token: None,
            })
        }
        Some(_) => Err("at /auth: must be object".into()),
    }
}

fn parse_device(v: Option<&Value>) -> Result<Option<DeviceProof>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
    let Some(d) = v.as_object() else { return Err("at /device: must be object".into()) };
    only_keys(d, "/device", &["id", "publicKey", "signature", "signedAt", "nonce"])?;
    let signed_at = match d.get("signedAt") {
        None => return Err("at /device: must have required property 'signedAt'".into()),
        Some(v) => v.as_i64().ok_or("at /device/signedAt: must be integer")?,
    };
    Ok(Some(DeviceProof {
        id: required_str(d, "id", "/device")?,
        public_key: required_str(d, "publicKey", "/device")?,
        signature: required_str(d, "signature", "/device")?,
        signed_at,
        nonce: optional_str(d, "nonce", "/device")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"minProtocol": 3, "maxProtocol": 3,
               "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}})
    }

    #[test]
    fn a_minimal_connect_is_an_operator_without_credentials() {
        let p = parse(&base()).unwrap();
        assert_eq!(p.role, Role::Operator);
        assert_eq!(p.auth, Credentials::default());
    }

    #[test]
    fn protocol_window_must_include_3() {
        let mut v = base();
        v["maxProtocol"] = json!(2);
        assert_eq!(parse(&v), Err(ConnectError::ProtocolMismatch));
        v["minProtocol"] = json!(4);
        v["maxProtocol"] = json!(5);
        assert_eq!(parse(&v), Err(ConnectError::ProtocolMismatch));
    }

    #[test]
    fn bad_params_name_the_path() {
        let mut v = base();
        v["client"]["id"] = json!("nope");
        let ConnectError::Invalid(m) = parse(&v).unwrap_err() else { panic!() };
        assert!(m.starts_with("invalid connect params: at /client/id"), "{m}");
        let ConnectError::Invalid(m) = parse(&json!({"maxProtocol": 3})).unwrap_err() else { panic!() };
        assert_eq!(m, "invalid connect params: must have required property 'minProtocol'");
    }

    #[test]
    fn unknown_roles_are_refused() {
        let mut v = base();
        v["role"] = json!("root");
        assert_eq!(parse(&v), Err(ConnectError::InvalidRole));
    }

    #[test]
    fn guide_credential_strings_are_understood() {
        let mut v = base();
        v["auth"] = json!("secret:abc");
        assert_eq!(parse(&v).unwrap().auth.token.as_deref(), Some("abc"));
        v["auth"] = json!("device:dev1:tok");
        assert_eq!(parse(&v).unwrap().auth.device_token, Some(("dev1".into(), "tok".into())));
    }
}
