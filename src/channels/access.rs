//! Who the assistant answers on a channel: `dm.policy` (pairing, allowlist, open, disabled),
//! `allowFrom`, `groupPolicy` (open, allowlist, disabled) with its channel list, mention gating
//! in groups, and other bots ignored unless `allowBots`.

use super::{ChatType, Inbound};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmPolicy {
    /// Unknown senders get a pairing code; approved ones are answered.
    #[default]
    Pairing,
    Allowlist,
    Open,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupPolicy {
    #[default]
    Open,
    Allowlist,
    Disabled,
}

/// One account's rules.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub dm: DmPolicy,
    /// Senders always answered in DMs ("*": everyone).
    pub allow_from: Vec<String>,
    pub group: GroupPolicy,
    /// Groups and channels answered under `GroupPolicy::Allowlist` ("*": all).
    pub groups: Vec<String>,
    pub require_mention: bool,
    pub allow_bots: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Answer,
    /// Reply with a pairing code (the sender is unknown under `DmPolicy::Pairing`).
    Pair,
    /// Say nothing; why, for the log.
    Ignore(&'static str),
}

fn listed(list: &[String], id: &str) -> bool {
    list.iter().any(|e| e == "*" || e.eq_ignore_ascii_case(id))
}

/// What to do with `m`; `paired` lists the senders approved through pairing.
pub fn decide(a: &Access, m: &Inbound, paired: &[String]) -> Decision {
    if m.sender_is_bot && !a.allow_bots {
        return Decision::Ignore("a bot (allowBots is off)");
    }
    match m.chat_type {
        ChatType::Dm => {
            let known = listed(&a.allow_from, &m.sender_id) || listed(paired, &m.sender_id);
            match a.dm {
                DmPolicy::Disabled => Decision::Ignore("DMs are disabled (dm.policy)"),
                DmPolicy::Open => Decision::Answer,
                DmPolicy::Allowlist if known => Decision::Answer,
                DmPolicy::Allowlist => Decision::Ignore("sender not in allowFrom"),
                DmPolicy::Pairing if known => Decision::Answer,
                DmPolicy::Pairing => Decision::Pair,
            }
        }
        ChatType::Group | ChatType::Channel => match a.group {
            GroupPolicy::Disabled => Decision::Ignore("groups are disabled (groupPolicy)"),
            GroupPolicy::Allowlist if !listed(&a.groups, &m.chat_id) => Decision::Ignore("group not in the allowlist"),
            _ if a.require_mention && !m.mentioned => Decision::Ignore("not mentioned (requireMention)"),
            _ => Decision::Answer,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(chat_type: ChatType, sender: &str, mentioned: bool, bot: bool) -> Inbound {
        Inbound {
            channel: "slack".into(),
            account: "default".into(),
            chat_type,
            guild_id: None,
            chat_id: "C1".into(),
            thread_id: None,
            sender_id: sender.into(),
            sender_name: None,
            sender_is_bot: bot,
            text: "hi".into(),
            mentioned,
            message_id: "1".into(),
            reply_to: None,
        }
    }

    #[test]
    fn dm_policies() {
        let dm = msg(ChatType::Dm, "U1", false, false);
        let mut a = Access::default();
        assert_eq!(decide(&a, &dm, &[]), Decision::Pair);
        assert_eq!(decide(&a, &dm, &["U1".into()]), Decision::Answer, "paired");
        a.dm = DmPolicy::Allowlist;
        assert_eq!(decide(&a, &dm, &[]), Decision::Ignore("sender not in allowFrom"));
        a.allow_from = vec!["u1".into()];
        assert_eq!(decide(&a, &dm, &[]), Decision::Answer, "case-insensitive");
        a.dm = DmPolicy::Disabled;
        assert!(matches!(decide(&a, &dm, &[]), Decision::Ignore(_)));
        a.dm = DmPolicy::Open;
        assert_eq!(decide(&a, &msg(ChatType::Dm, "U9", false, false), &[]), Decision::Answer);
    }

    #[test]
    fn groups_mentions_and_bots() {
        let mut a = Access { require_mention: true, ..Access::default() };
        assert!(matches!(decide(&a, &msg(ChatType::Channel, "U1", false, false), &[]), Decision::Ignore(_)));
        assert_eq!(decide(&a, &msg(ChatType::Channel, "U1", true, false), &[]), Decision::Answer);
        assert!(matches!(decide(&a, &msg(ChatType::Channel, "B1", true, true), &[]), Decision::Ignore(_)));
        a.allow_bots = true;
        assert_eq!(decide(&a, &msg(ChatType::Channel, "B1", true, true), &[]), Decision::Answer);
        a.group = GroupPolicy::Allowlist;
        assert!(matches!(decide(&a, &msg(ChatType::Group, "U1", true, false), &[]), Decision::Ignore(_)));
        a.groups = vec!["c1".into()];
        assert_eq!(decide(&a, &msg(ChatType::Group, "U1", true, false), &[]), Decision::Answer);
        a.group = GroupPolicy::Disabled;
        assert!(matches!(decide(&a, &msg(ChatType::Group, "U1", true, false), &[]), Decision::Ignore(_)));
    }
}
