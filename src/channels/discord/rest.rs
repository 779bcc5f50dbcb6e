//! Discord's REST API (v10), the calls the channel makes: who the bot is (`GET /users/@me`,
//! also the status probe), the gateway URL, posting a message, typing, reactions, and the
//! messages of a DM after a given one (the backfill after a reconnect).

use serde_json::{Value, json};

use super::super::api::{Answer, Api, ApiError, Method};

/// Discord's form of a bot's User-Agent.
const AGENT: &str = concat!("DiscordBot (https://openclaw.ai, ", env!("CARGO_PKG_VERSION"), ")");

pub struct Rest {
    api: Api,
}

/// The platform's own words from an error body, if it has any.
fn message(a: &Answer) -> String {
    a.body.get("message").and_then(Value::as_str).map_or_else(|| format!("HTTP {}", a.status), str::to_string)
}

fn ok(what: &str, a: Answer) -> Result<Value, ApiError> {
    if (200..300).contains(&a.status) {
        Ok(a.body)
    } else {
        Err(ApiError::Failed(format!("{what}: HTTP {} ({})", a.status, message(&a))))
    }
}

/// A reaction emoji as a path segment: percent-encoded UTF-8 (custom emoji `name:id` as is).
fn emoji_path(emoji: &str) -> String {
    url::form_urlencoded::byte_serialize(emoji.as_bytes()).collect()
}

impl Rest {
    pub fn new(base: &str, token: &str) -> Self {
        Self { api: Api::new(base, format!("Bot {token}"), AGENT) }
    }

    /// The bot user (`{id, username, bot}`): proves the token.
    pub async fn me(&self) -> Result<Value, ApiError> {
        ok("GET /users/@me", self.api.call(Method::Get, "/users/@me", None).await?)
    }

    /// The gateway's WebSocket URL (`GET /gateway/bot`).
    pub async fn gateway_url(&self) -> Result<String, ApiError> {
        let v = ok("GET /gateway/bot", self.api.call(Method::Get, "/gateway/bot", None).await?)?;
        v.get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::Failed("GET /gateway/bot: no url in the answer".into()))
    }

    pub async fn send(&self, channel_id: &str, content: &str, reply_to: Option<&str>) -> Result<String, ApiError> {
        let mut body = json!({"content": content, "allowed_mentions": {"parse": ["users"], "replied_user": false}});
        if let Some(id) = reply_to {
            body["message_reference"] = json!({"message_id": id, "fail_if_not_exists": false});
        }
        let path = format!("/channels/{channel_id}/messages");
        let v = ok("POST /channels/{id}/messages", self.api.call(Method::Post, &path, Some(&body)).await?)?;
        Ok(v.get("id").and_then(Value::as_str).unwrap_or_default().to_string())
    }

    pub async fn typing(&self, channel_id: &str) -> Result<(), ApiError> {
        let path = format!("/channels/{channel_id}/typing");
        ok("POST /channels/{id}/typing", self.api.call(Method::Post, &path, None).await?).map(drop)
    }

    pub async fn react(&self, channel_id: &str, message_id: &str, emoji: &str, on: bool) -> Result<(), ApiError> {
        let path = format!("/channels/{channel_id}/messages/{message_id}/reactions/{}/@me", emoji_path(emoji));
        let method = if on { Method::Put } else { Method::Delete };
        ok("reaction", self.api.call(method, &path, None).await?).map(drop)
    }

    /// Messages of `channel_id` newer than `after`, oldest first (at most `limit`).
    pub async fn messages_after(&self, channel_id: &str, after: &str, limit: u32) -> Result<Vec<Value>, ApiError> {
        let path = format!("/channels/{channel_id}/messages?after={after}&limit={limit}");
        let v = ok("GET /channels/{id}/messages", self.api.call(Method::Get, &path, None).await?)?;
        let mut msgs = v.as_array().cloned().unwrap_or_default();
        let id = |m: &Value| {
            let s = m.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            (s.len(), s)
        };
        msgs.sort_by_key(id);
        Ok(msgs)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn emoji_are_percent_encoded() {
        assert_eq!(super::emoji_path("\u{1F440}"), "%F0%9F%91%80");
        assert_eq!(super::emoji_path("party:123"), "party%3A123");
    }
}
