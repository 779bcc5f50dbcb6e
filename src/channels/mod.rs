//! Channels: the assistant on the chat apps people use (Discord, Slack). What every channel
//! shares: the normalized inbound message, the session a message routes to ([`route`]), who is
//! answered ([`access`], [`settings`]), DM pairing ([`pairing`]), redelivery dedupe
//! ([`dedupe`]), the answer itself ([`reply`]: a run, split to the platform's limits by
//! [`split`]) and each account's status ([`status`]); and the two platforms' clients
//! ([`discord`], [`slack`]). Nothing here knows about actors: the channels actor runs an
//! account's loop and restarts it.

pub mod access;
pub mod account;
pub mod api;
pub mod dedupe;
pub mod discord;
pub mod outbound;
pub mod pairing;
pub mod reply;
pub mod route;
pub mod settings;
pub mod slack;
pub mod split;
pub mod status;

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
    /// The Discord server (guild) a group message is in.
    pub guild_id: Option<String>,
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
