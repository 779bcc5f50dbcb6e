//! Slack's Web API, the methods the channel calls: `auth.test` (who the bot is; also the status
//! probe), `apps.connections.open` (a Socket Mode URL, with the app token),
//! `chat.postMessage`, `reactions.add`/`remove`, `conversations.info` and `users.info`.
//! Slack answers HTTP 200 with `ok: false` for most failures: those become errors here, and a
//! refused token (`invalid_auth`, `not_authed`, `token_revoked`, ...) an auth error.

use serde_json::{Value, json};

use super::super::api::{Api, ApiError, Method};

const AGENT: &str = concat!("openclaw/", env!("CARGO_PKG_VERSION"));
const AUTH_ERRORS: &[&str] =
    &["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"];

pub struct Web {
    bot: Api,
    app: Option<Api>,
    /// User id -> display name (`users.info`), asked once per user.
    names: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

/// Slack's reaction names for the emoji an ack is usually written as.
fn reaction_name(emoji: &str) -> String {
    match emoji {
        "\u{1F440}" => "eyes".into(),
        "\u{2705}" => "white_check_mark".into(),
        "\u{1F44D}" => "+1".into(),
        "\u{1F914}" => "thinking_face".into(),
        "\u{23F3}" => "hourglass_flowing_sand".into(),
        other => other.trim_matches(':').to_string(),
    }
}

impl Web {
    pub fn new(base: &str, bot_token: &str, app_token: Option<&str>) -> Self {
        Self {
            bot: Api::new(base, format!("Bearer {bot_token}"), AGENT),
            app: app_token.map(|t| Api::new(base, format!("Bearer {t}"), AGENT)),
            names: Default::default(),
        }
    }

    async fn call(api: &Api, method: &str, body: Value) -> Result<Value, ApiError> {
        let a = api.call(Method::Post, &format!("/{method}"), Some(&body)).await?;
        if a.body.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(a.body);
        }
        let err =
            a.body.get("error").and_then(Value::as_str).map_or_else(|| format!("HTTP {}", a.status), str::to_string);
        if AUTH_ERRORS.contains(&err.as_str()) {
            Err(ApiError::Auth(format!("{method}: {err}")))
        } else {
            Err(ApiError::Failed(format!("{method}: {err}")))
        }
    }

    /// `{user_id, bot_id, team_id, user}` of the bot token.
    pub async fn auth_test(&self) -> Result<Value, ApiError> {
        Self::call(&self.bot, "auth.test", json!({})).await
    }

    /// A fresh Socket Mode WebSocket URL.
    pub async fn open_connection(&self) -> Result<String, ApiError> {
        let app = self.app.as_ref().ok_or_else(|| ApiError::Auth("no app-level token".into()))?;
        let v = Self::call(app, "apps.connections.open", json!({})).await?;
        v.get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::Failed("apps.connections.open: no url in the answer".into()))
    }

    /// Posts `text` to `channel` (into `thread_ts` when given); returns the message's ts.
    pub async fn post(&self, channel: &str, text: &str, thread_ts: Option<&str>) -> Result<String, ApiError> {
        let mut body = json!({"channel": channel, "text": text});
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let v = Self::call(&self.bot, "chat.postMessage", body).await?;
        Ok(v.get("ts").and_then(Value::as_str).unwrap_or_default().to_string())
    }

    pub async fn react(&self, channel: &str, ts: &str, emoji: &str, on: bool) -> Result<(), ApiError> {
        let method = if on { "reactions.add" } else { "reactions.remove" };
        let body = json!({"channel": channel, "timestamp": ts, "name": reaction_name(emoji)});
        Self::call(&self.bot, method, body).await.map(drop)
    }

    pub async fn conversation(&self, channel: &str) -> Result<Value, ApiError> {
        Self::call(&self.bot, "conversations.info", json!({"channel": channel})).await.map(|v| v["channel"].clone())
    }

    pub async fn user(&self, user: &str) -> Result<Value, ApiError> {
        Self::call(&self.bot, "users.info", json!({"user": user})).await.map(|v| v["user"].clone())
    }

    /// A user's display name (real name, else handle), asked once and remembered.
    pub async fn user_name(&self, user: &str) -> Option<String> {
        if let Some(n) = self.names.borrow().get(user) {
            return Some(n.clone());
        }
        let v = self.user(user).await.ok()?;
        let name = [v.pointer("/profile/display_name"), v.get("real_name"), v.get("name")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|s| !s.is_empty())?
            .to_string();
        self.names.borrow_mut().insert(user.to_string(), name.clone());
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unicode_acks_become_slack_names() {
        assert_eq!(super::reaction_name("\u{1F440}"), "eyes");
        assert_eq!(super::reaction_name(":tada:"), "tada");
    }
}
