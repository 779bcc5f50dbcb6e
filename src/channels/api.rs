//! A chat platform's HTTP API as both channels call it: JSON in and out over the gateway's own
//! client stack (awc on OpenSSL), an HTTP 429 waited out for the time the platform names
//! (`Retry-After`, or Discord's `retry_after` in the body) and retried, a 5xx or a transport
//! failure retried twice. The token travels in the `Authorization` header only: errors carry
//! the method, status and the platform's error text, never a header.

use std::time::Duration;

use serde_json::Value;

/// Attempts of one call when the platform keeps answering 429 or 5xx.
const ATTEMPTS: usize = 4;
/// The longest rate-limit wait honoured; a longer one fails the call instead.
const MAX_WAIT: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(20);

/// A platform's WebSocket, as awc's client opens it.
pub type Socket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The token was refused: retrying cannot help.
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Failed(String),
}

/// What came back: the HTTP status and the JSON body (`Null` when there was none).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

pub struct Api {
    client: awc::Client,
    base: String,
    auth: String,
    agent: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// Seconds to wait from a 429: the header, else the body's `retry_after`, else one second.
fn retry_after(header: Option<&str>, body: &Value) -> Duration {
    let secs = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .or_else(|| body.get("retry_after").and_then(Value::as_f64))
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
}

impl Api {
    /// `base` has no trailing slash; `auth` is the whole `Authorization` value; `agent` the
    /// `User-Agent` (Discord wants its own form).
    pub fn new(base: &str, auth: String, agent: &'static str) -> Self {
        let client = crate::net::client::shared(false);
        Self { client, base: base.trim_end_matches('/').to_string(), auth, agent }
    }

    /// Calls `path` (below the base); `what` names the call in errors ("POST /channels/…").
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, ApiError> {
        let url = format!("{}{}", self.base, path);
        let what = format!("{method:?} {}", path.split('?').next().unwrap_or(path)).to_uppercase();
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            let req = match method {
                Method::Get => self.client.get(&url),
                Method::Post => self.client.post(&url),
                Method::Put => self.client.put(&url),
                Method::Delete => self.client.delete(&url),
            }
            .timeout(TIMEOUT)
            .insert_header(("Authorization", self.auth.as_str()))
            .insert_header(("User-Agent", self.agent));
            let sent = match body {
                Some(b) => req.insert_header(("Content-Type", "application/json; charset=utf-8")).send_json(b).await,
                None if matches!(method, Method::Post | Method::Put) => req.send_body("").await,
                None => req.send().await,
            };
            let mut resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{what}: {e}");
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let header = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            let bytes = resp.body().limit(8 << 20).await.map_err(|e| ApiError::Failed(format!("{what}: {e}")))?;
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match status {
                429 => {
                    let wait = retry_after(header.as_deref(), &body);
                    last = format!("{what}: rate limited (retry after {:.1} s)", wait.as_secs_f64());
                    if wait > MAX_WAIT {
                        break;
                    }
                    tracing::warn!(call = %what, wait_ms = wait.as_millis() as u64, "rate limited; waiting as told");
                    tokio::time::sleep(wait).await;
                }
                500..=599 => {
                    last = format!("{what}: HTTP {status}");
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                401 => {
                    return Err(ApiError::Auth(format!("{what}: HTTP 401, the token was refused")));
                }
                _ => return Ok(Answer { status, body }),
            }
        }
        Err(ApiError::Failed(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wait_comes_from_the_header_then_the_body() {
        assert_eq!(retry_after(Some("2"), &json!({"retry_after": 9.0})), Duration::from_secs(2));
        assert_eq!(retry_after(None, &json!({"retry_after": 0.25})), Duration::from_millis(250));
        assert_eq!(retry_after(Some("soon"), &Value::Null), Duration::from_secs(1));
    }
}
