//! Channels: the assistant on the chat apps people use (Discord, Slack). This layer holds what
//! every channel shares and nothing about actors or the wire: the normalized inbound message,
//! the session a message routes to ([`route`]), outbound text split to a platform's limits
//! ([`split`]), redelivery dedupe ([`dedupe`]), who is answered ([`access`]) and DM pairing
//! ([`pairing`]).

pub mod access;
pub mod dedupe;
pub mod pairing;
pub mod route;
pub mod split;

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    /// A direct message with the bot.
    Dm,
    /// A group conversation (Slack mpim, a Discord group DM).
    Group,
    /// A server/workspace channel.
    Channel,
}

/// One inbound message, as every channel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// "discord" or "slack".
    pub channel: String,
    /// The configured account it arrived on ("default" for the only one).
    pub account: String,
    pub chat_type: ChatType,
    /// The conversation: the DM channel, group or channel id.
    pub chat_id: String,
    /// The thread within it, when the message is in one.
    pub thread_id: Option<String>,
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub sender_is_bot: bool,
    pub text: String,
    /// Whether the bot was mentioned.
    pub mentioned: bool,
    pub message_id: String,
    pub reply_to: Option<String>,
}
