//! Discord: the gateway WebSocket for events ([`gateway`]) and the REST API for everything the
//! bot does ([`rest`]). Both are written here on the gateway's own HTTP/WebSocket client (awc,
//! OpenSSL) rather than with twilight: the liveness rules this channel exists for (a heartbeat
//! ACK that does not come is a zombie, three failed RESUMEs fall back to IDENTIFY, a REST
//! backfill after a fresh session) are the loop itself, and they stay visible and testable
//! here; twilight would bring a second HTTP and TLS stack (hyper, rustls) for the same calls.
//!
//! The base URLs come from the environment only (`OPENCLAW_DISCORD_API_BASE`,
//! `OPENCLAW_DISCORD_GATEWAY_URL`), for tests and self-hosted fakes.

pub mod gateway;
pub mod rest;

use serde_json::Value;

use super::{ChatType, Inbound};

pub const API_BASE_ENV: &str = "OPENCLAW_DISCORD_API_BASE";
pub const GATEWAY_URL_ENV: &str = "OPENCLAW_DISCORD_GATEWAY_URL";
pub const API_BASE: &str = "https://discord.com/api/v10";

/// GUILDS | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | DIRECT_MESSAGES |
/// DIRECT_MESSAGE_REACTIONS | MESSAGE_CONTENT (privileged: enable it in the developer portal).
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 15);

/// The REST base: the environment's override, else Discord's.
pub fn api_base(env: &crate::config::env::EnvSnapshot) -> String {
    env.get(API_BASE_ENV).unwrap_or(API_BASE).to_string()
}

/// A MESSAGE_CREATE's message, normalized; `None` for the bot's own messages and for system
/// messages (joins, pins...).
pub fn inbound(d: &Value, bot_id: Option<&str>, account: &str) -> Option<Inbound> {
    let s = |k: &str| d.get(k).and_then(Value::as_str);
    // 0 DEFAULT, 19 REPLY: what people write; the rest are system notices.
    if !matches!(d.get("type").and_then(Value::as_u64), None | Some(0) | Some(19)) {
        return None;
    }
    let author = d.get("author")?;
    let sender_id = author.get("id")?.as_str()?.to_string();
    if bot_id == Some(sender_id.as_str()) {
        return None;
    }
    let guild_id = s("guild_id").map(str::to_string);
    let mentioned = bot_id.is_some_and(|b| {
        d.get("mentions")
            .and_then(Value::as_array)
            .is_some_and(|ms| ms.iter().any(|m| m.get("id").and_then(Value::as_str) == Some(b)))
    });
    Some(Inbound {
        channel: "discord".into(),
        account: account.into(),
        chat_type: if guild_id.is_some() { ChatType::Channel } else { ChatType::Dm },
        guild_id,
        chat_id: s("channel_id")?.to_string(),
        thread_id: None,
        sender_name: author
            .get("global_name")
            .and_then(Value::as_str)
            .or_else(|| author.get("username").and_then(Value::as_str))
            .map(str::to_string),
        sender_is_bot: author.get("bot").and_then(Value::as_bool).unwrap_or(false),
        sender_id,
        text: s("content").unwrap_or_default().to_string(),
        mentioned,
        message_id: s("id")?.to_string(),
        reply_to: d.pointer("/message_reference/message_id").and_then(Value::as_str).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_normalized_and_the_bots_own_dropped() {
        let d = json!({"id": "11", "channel_id": "C", "guild_id": "G", "type": 0, "content": "<@42> hi",
                       "author": {"id": "7", "username": "ann", "bot": false},
                       "mentions": [{"id": "42"}], "message_reference": {"message_id": "10"}});
        let m = inbound(&d, Some("42"), "default").unwrap();
        assert_eq!((m.chat_type, m.guild_id.as_deref(), m.mentioned), (ChatType::Channel, Some("G"), true));
        assert_eq!(
            (m.sender_id.as_str(), m.reply_to.as_deref(), m.sender_name.as_deref()),
            ("7", Some("10"), Some("ann"))
        );
        let dm = json!({"id": "12", "channel_id": "D", "content": "yo", "author": {"id": "7"}});
        assert_eq!(inbound(&dm, Some("42"), "default").unwrap().chat_type, ChatType::Dm);
        let own = json!({"id": "13", "channel_id": "D", "content": "yo", "author": {"id": "42"}});
        assert!(inbound(&own, Some("42"), "default").is_none());
        let join = json!({"id": "14", "channel_id": "C", "type": 7, "author": {"id": "7"}});
        assert!(inbound(&join, Some("42"), "default").is_none());
    }
}
