//! One account's settings read out of the config: its tokens (what a connection needs; a
//! change restarts the account) and its rules (who is answered, how replies look; a change
//! applies to the next message without a reconnect).

use std::collections::BTreeMap;

use super::access::{Access, DmPolicy, GroupPolicy};
use super::route::DmScope;
use super::split::Limits;
use super::{ChatType, Inbound};
use crate::config::model::{
    AckScope, Config, DiscordGuild, DmConfig, DmPolicyConfig, DmScopeConfig, GroupPolicyConfig, ReplyToMode,
    SlackChannelEntry,
};

pub const DISCORD: &str = "discord";
pub const SLACK: &str = "slack";
/// This gateway runs one account per channel, under upstream's name for it.
pub const ACCOUNT: &str = "default";

/// What a connection needs: a change restarts the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tokens {
    Discord { bot: String },
    Slack { bot: String, app: String },
}

/// Where the group rules come from.
#[derive(Debug, Clone, PartialEq)]
enum Groups {
    Discord(BTreeMap<String, DiscordGuild>),
    Slack { channels: BTreeMap<String, SlackChannelEntry>, require_mention: bool },
}

/// The rules of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    dm: DmPolicy,
    allow_from: Vec<String>,
    group: GroupPolicyConfig,
    groups: Groups,
    allow_bots: bool,
    pub reply_to: ReplyToMode,
    pub limits: Limits,
    /// The acknowledgement reaction, when one is configured.
    pub ack: Option<String>,
    pub ack_scope: AckScope,
    pub remove_ack: bool,
    pub dm_scope: DmScope,
    pub agent_id: String,
    pub typing_interval_ms: u64,
}

fn dm_policy(dm: &DmConfig) -> DmPolicy {
    if dm.enabled == Some(false) {
        return DmPolicy::Disabled;
    }
    match dm.policy {
        DmPolicyConfig::Pairing => DmPolicy::Pairing,
        DmPolicyConfig::Allowlist => DmPolicy::Allowlist,
        DmPolicyConfig::Open => DmPolicy::Open,
        DmPolicyConfig::Disabled => DmPolicy::Disabled,
    }
}

fn allowed(list: &[String], id: &str) -> bool {
    list.iter().any(|e| e == "*" || e.eq_ignore_ascii_case(id))
}

/// The account's tokens when it is configured to run: `None` when switched off or missing one.
pub fn tokens(cfg: &Config, channel: &str) -> Option<Tokens> {
    let set = |t: &Option<String>| t.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    match channel {
        DISCORD => {
            let d = &cfg.channels.discord;
            (d.enabled != Some(false)).then_some(())?;
            Some(Tokens::Discord { bot: set(&d.bot_token)? })
        }
        SLACK => {
            let s = &cfg.channels.slack;
            (s.enabled != Some(false)).then_some(())?;
            Some(Tokens::Slack { bot: set(&s.bot_token)?, app: set(&s.app_token)? })
        }
        _ => None,
    }
}

/// Whether the config names the channel at all (for `channels.status`'s `configured`).
pub fn mentioned(cfg: &Config, channel: &str) -> bool {
    match channel {
        DISCORD => cfg.channels.discord.enabled == Some(true) || cfg.channels.discord.bot_token.is_some(),
        SLACK => {
            let s = &cfg.channels.slack;
            s.enabled == Some(true) || s.bot_token.is_some() || s.app_token.is_some()
        }
        _ => false,
    }
}

/// What is missing for a mentioned channel to run, in words that name the fix.
pub fn missing(cfg: &Config, channel: &str) -> Option<String> {
    match channel {
        DISCORD if cfg.channels.discord.bot_token.is_none() => {
            Some("no bot token: set channels.discord.token (or DISCORD_BOT_TOKEN)".into())
        }
        SLACK if cfg.channels.slack.bot_token.is_none() => {
            Some("no bot token: set channels.slack.botToken (or SLACK_BOT_TOKEN)".into())
        }
        SLACK if cfg.channels.slack.app_token.is_none() => Some(
            "no app-level token for Socket Mode: set channels.slack.appToken (or SLACK_APP_TOKEN), an xapp- token with connections:write"
                .into(),
        ),
        _ if tokens(cfg, channel).is_none() && mentioned(cfg, channel) => Some("switched off (enabled: false)".into()),
        _ => None,
    }
}

impl Rules {
    pub fn of(cfg: &Config, channel: &str) -> Self {
        let m = &cfg.messages;
        let ack = Some(m.ack_reaction.trim().to_string()).filter(|a| !a.is_empty());
        let dm_scope = match cfg.session.dm_scope {
            DmScopeConfig::Main => DmScope::Main,
            DmScopeConfig::PerPeer => DmScope::PerPeer,
            DmScopeConfig::PerChannelPeer => DmScope::PerChannelPeer,
            DmScopeConfig::PerAccountChannelPeer => DmScope::PerAccountChannelPeer,
        };
        let common =
            |dm: &DmConfig, allow_from: &[String], group, groups, allow_bots, reply_to, limits, typing| Rules {
                dm: dm_policy(dm),
                allow_from: dm.allow_from.iter().chain(allow_from).cloned().collect(),
                group,
                groups,
                allow_bots,
                reply_to,
                limits,
                ack: ack.clone(),
                ack_scope: m.ack_reaction_scope,
                remove_ack: m.remove_ack_after_reply,
                dm_scope,
                agent_id: "main".into(),
                typing_interval_ms: typing,
            };
        if channel == DISCORD {
            let d = &cfg.channels.discord;
            common(
                &d.dm,
                &d.allow_from,
                d.group_policy,
                Groups::Discord(d.guilds.clone()),
                d.allow_bots,
                d.reply_to_mode,
                Limits { chars: d.text_chunk_limit as usize, lines: Some(d.max_lines_per_message as usize) },
                u64::from(d.typing_interval_seconds) * 1000,
            )
        } else {
            let s = &cfg.channels.slack;
            common(
                &s.dm,
                &s.allow_from,
                s.group_policy,
                Groups::Slack { channels: s.channels.clone(), require_mention: s.require_mention },
                s.allow_bots,
                s.reply_to_mode,
                Limits { chars: s.text_chunk_limit as usize, lines: None },
                0,
            )
        }
    }

    /// The access rules that apply to `m` (group rules resolved for its guild and channel).
    pub fn access(&self, m: &Inbound) -> Access {
        let mut a = Access {
            dm: self.dm,
            allow_from: self.allow_from.clone(),
            group: GroupPolicy::Open,
            groups: Vec::new(),
            require_mention: true,
            allow_bots: self.allow_bots,
        };
        if m.chat_type == ChatType::Dm {
            return a;
        }
        // (allowed here, require mention): allowlist entries, with "*" for any.
        let (listed, require_mention) = match &self.groups {
            Groups::Discord(guilds) => {
                let guild = m.guild_id.as_deref().and_then(|g| guilds.get(g)).or_else(|| guilds.get("*"));
                let chan = guild.and_then(|g| g.channels.get(&m.chat_id).or_else(|| g.channels.get("*")));
                let listed = guild.is_some_and(|g| {
                    let chan_ok = g.channels.is_empty() || chan.is_some_and(|c| c.allow != Some(false));
                    chan_ok && (g.users.is_empty() || allowed(&g.users, &m.sender_id))
                });
                let refused = chan.is_some_and(|c| c.allow == Some(false));
                let rm = chan.and_then(|c| c.require_mention).or(guild.and_then(|g| g.require_mention)).unwrap_or(true);
                (listed && !refused, rm)
            }
            Groups::Slack { channels, require_mention } => {
                let chan = channels.get(&m.chat_id).or_else(|| channels.get("*"));
                let listed = chan.is_some_and(|c| c.allow != Some(false));
                (listed, chan.and_then(|c| c.require_mention).unwrap_or(*require_mention))
            }
        };
        a.require_mention = require_mention;
        a.group = match self.group {
            GroupPolicyConfig::Disabled => GroupPolicy::Disabled,
            GroupPolicyConfig::Open => GroupPolicy::Open,
            GroupPolicyConfig::Allowlist => GroupPolicy::Allowlist,
        };
        if listed {
            a.groups.push(m.chat_id.clone());
        }
        a
    }

    /// Whether `m`, accepted, gets the acknowledgement reaction.
    pub fn acks(&self, m: &Inbound) -> bool {
        let group = m.chat_type != ChatType::Dm;
        self.ack.is_some()
            && match self.ack_scope {
                AckScope::All => true,
                AckScope::Direct => !group,
                AckScope::GroupAll => group,
                AckScope::GroupMentions => group && m.mentioned,
                AckScope::Off | AckScope::None => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::super::access::{Decision, decide};
    use super::*;

    fn msg(chat_type: ChatType, guild: Option<&str>, chat: &str, mentioned: bool) -> Inbound {
        Inbound {
            channel: "discord".into(),
            account: "default".into(),
            chat_type,
            guild_id: guild.map(str::to_string),
            chat_id: chat.into(),
            thread_id: None,
            sender_id: "U1".into(),
            sender_name: None,
            sender_is_bot: false,
            text: "hi".into(),
            mentioned,
            message_id: "1".into(),
            reply_to: None,
        }
    }

    fn cfg(json: serde_json::Value) -> Config {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn discord_guilds_channels_and_mentions() {
        let c = cfg(serde_json::json!({"channels": {"discord": {"botToken": "t", "guilds": {
            "G1": {"channels": {"C1": {"requireMention": false}, "C2": {"allow": false}}},
            "G2": {}
        }}}}));
        let r = Rules::of(&c, DISCORD);
        let d = |m: &Inbound| decide(&r.access(m), m, &[]);
        assert_eq!(d(&msg(ChatType::Channel, Some("G1"), "C1", false)), Decision::Answer, "mention not required in C1");
        assert!(matches!(d(&msg(ChatType::Channel, Some("G1"), "C2", true)), Decision::Ignore(_)), "C2 refused");
        assert!(matches!(d(&msg(ChatType::Channel, Some("G1"), "C3", true)), Decision::Ignore(_)), "C3 not listed");
        assert!(matches!(d(&msg(ChatType::Channel, Some("G2"), "C9", false)), Decision::Ignore(_)), "mention needed");
        assert_eq!(d(&msg(ChatType::Channel, Some("G2"), "C9", true)), Decision::Answer);
        assert!(matches!(d(&msg(ChatType::Channel, Some("G3"), "C9", true)), Decision::Ignore(_)), "G3 not listed");
        let open = cfg(serde_json::json!({"channels": {"discord": {"groupPolicy": "open"}}}));
        let r = Rules::of(&open, DISCORD);
        let m = msg(ChatType::Channel, Some("G3"), "C9", true);
        assert_eq!(decide(&r.access(&m), &m, &[]), Decision::Answer, "open: any guild, mention still required");
        let m = msg(ChatType::Channel, Some("G3"), "C9", false);
        assert!(matches!(decide(&r.access(&m), &m, &[]), Decision::Ignore(_)));
    }

    #[test]
    fn tokens_say_whether_a_channel_runs_and_what_is_missing() {
        let c = cfg(
            serde_json::json!({"channels": {"slack": {"botToken": "xoxb-1"}, "discord": {"enabled": false, "botToken": "t"}}}),
        );
        assert_eq!(tokens(&c, DISCORD), None, "switched off");
        assert_eq!(tokens(&c, SLACK), None, "no app token");
        assert!(missing(&c, SLACK).unwrap().contains("appToken"));
        assert!(missing(&c, DISCORD).unwrap().contains("enabled: false"));
        let c = cfg(serde_json::json!({"channels": {"slack": {"botToken": "xoxb-1", "appToken": "xapp-1"}}}));
        assert_eq!(tokens(&c, SLACK), Some(Tokens::Slack { bot: "xoxb-1".into(), app: "xapp-1".into() }));
    }

    #[test]
    fn ack_scopes() {
        let mut r = Rules::of(&Config::default(), SLACK);
        assert_eq!(r.ack.as_deref(), Some("\u{1F440}"));
        assert!(!r.acks(&msg(ChatType::Dm, None, "D1", false)), "upstream's default: group mentions only");
        assert!(r.acks(&msg(ChatType::Channel, None, "C1", true)));
        r.ack_scope = AckScope::All;
        assert!(r.acks(&msg(ChatType::Dm, None, "D1", false)));
    }
}
