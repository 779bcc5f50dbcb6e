//! Slack: Socket Mode for events ([`socket`]) and the Web API for everything the bot does
//! ([`web`]). Both are small and written here on the gateway's own HTTP/WebSocket client (awc,
//! OpenSSL): no Slack crate fits. slack-morphism brings a second TLS stack (rustls) and its
//! listener installs its own signal handling, and the liveness rules this channel exists for
//! (deaf sockets, the new connection before the old one closes, one socket per app) are the
//! loop itself.
//!
//! The API base comes from the environment only (`OPENCLAW_SLACK_API_BASE`), for tests and
//! self-hosted fakes; Socket Mode URLs come from `apps.connections.open`.

pub mod socket;
pub mod web;

use serde_json::Value;

use super::{ChatType, Inbound};

pub const API_BASE_ENV: &str = "OPENCLAW_SLACK_API_BASE";
pub const API_BASE: &str = "https://slack.com/api";

pub fn api_base(env: &crate::config::env::EnvSnapshot) -> String {
    env.get(API_BASE_ENV).unwrap_or(API_BASE).to_string()
}

/// A `message` or `app_mention` event, normalized; `None` for the bot's own messages, edits,
/// deletions and other subtypes.
pub fn inbound(ev: &Value, bot_user: &str, account: &str) -> Option<Inbound> {
    let s = |k: &str| ev.get(k).and_then(Value::as_str);
    let kind = s("type")?;
    if kind != "message" && kind != "app_mention" {
        return None;
    }
    let bot_message = s("subtype") == Some("bot_message");
    if !matches!(s("subtype"), None | Some("thread_broadcast" | "file_share" | "bot_message")) {
        return None;
    }
    let sender_id = s("user").or(s("bot_id"))?.to_string();
    if sender_id == bot_user {
        return None;
    }
    let chat_id = s("channel")?.to_string();
    let chat_type = match s("channel_type") {
        Some("im") => ChatType::Dm,
        Some("mpim") => ChatType::Group,
        Some(_) => ChatType::Channel,
        None if chat_id.starts_with('D') => ChatType::Dm,
        None => ChatType::Channel,
    };
    let text = s("text").unwrap_or_default().to_string();
    let ts = s("ts")?.to_string();
    let thread_id = s("thread_ts").filter(|t| *t != ts).map(str::to_string);
    Some(Inbound {
        channel: "slack".into(),
        account: account.into(),
        chat_type,
        guild_id: None,
        chat_id,
        thread_id,
        sender_name: None,
        sender_is_bot: bot_message || s("bot_id").is_some(),
        sender_id,
        mentioned: kind == "app_mention" || (!bot_user.is_empty() && text.contains(&format!("<@{bot_user}>"))),
        text,
        message_id: ts,
        reply_to: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_normalized_and_edits_and_own_messages_dropped() {
        let ev = json!({"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
                        "text": "<@UBOT> hi", "ts": "1.2", "thread_ts": "1.1"});
        let m = inbound(&ev, "UBOT", "default").unwrap();
        assert_eq!((m.chat_type, m.mentioned, m.thread_id.as_deref()), (ChatType::Channel, true, Some("1.1")));
        let dm =
            json!({"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": "x", "ts": "1.3"});
        assert_eq!(inbound(&dm, "UBOT", "default").unwrap().chat_type, ChatType::Dm);
        let own = json!({"type": "message", "channel": "D1", "user": "UBOT", "text": "x", "ts": "1.4"});
        assert!(inbound(&own, "UBOT", "default").is_none());
        let edit = json!({"type": "message", "subtype": "message_changed", "channel": "D1", "ts": "1.5"});
        assert!(inbound(&edit, "UBOT", "default").is_none());
        let bot = json!({"type": "message", "channel": "C1", "bot_id": "B9", "user": "U9", "text": "x", "ts": "1.6"});
        assert!(inbound(&bot, "UBOT", "default").unwrap().sender_is_bot);
    }
}
