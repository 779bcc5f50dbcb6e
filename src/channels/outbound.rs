//! Answering on a platform, the same calls for both: post a message (into a thread, or as a
//! reply to one), put and take the acknowledgement reaction, show that the bot is typing.

use super::api::ApiError;
use super::discord::rest::Rest;
use super::slack::web::Web;

pub enum Outbound {
    Discord(Rest),
    Slack(Web),
}

/// Where a reply goes and what it answers.
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    pub chat_id: &'a str,
    /// Slack: the thread to post in.
    pub thread: Option<&'a str>,
    /// The message this one replies to (Discord: a reply reference; Slack: a new thread).
    pub reply_to: Option<&'a str>,
}

impl Outbound {
    /// Posts `text`; returns the new message's id.
    pub async fn send(&self, to: &Target<'_>, text: &str) -> Result<String, ApiError> {
        match self {
            Outbound::Discord(r) => r.send(to.chat_id, text, to.reply_to).await,
            Outbound::Slack(w) => w.post(to.chat_id, text, to.thread.or(to.reply_to)).await,
        }
    }

    pub async fn react(&self, chat_id: &str, message_id: &str, emoji: &str, on: bool) -> Result<(), ApiError> {
        match self {
            Outbound::Discord(r) => r.react(chat_id, message_id, emoji, on).await,
            Outbound::Slack(w) => w.react(chat_id, message_id, emoji, on).await,
        }
    }

    /// The sender's name when the platform's message did not carry it (Slack asks `users.info`).
    pub async fn sender_name(&self, user: &str) -> Option<String> {
        match self {
            Outbound::Discord(_) => None,
            Outbound::Slack(w) => w.user_name(user).await,
        }
    }

    /// Shows "typing…" (Discord keeps it ~10 s; Slack has no typing indicator for bots).
    pub async fn typing(&self, chat_id: &str) -> Result<(), ApiError> {
        match self {
            Outbound::Discord(r) => r.typing(chat_id).await,
            Outbound::Slack(_) => Ok(()),
        }
    }
}
