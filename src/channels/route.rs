//! The session an inbound message belongs to, as upstream routes it: DMs to the agent's main
//! session (or one per peer with `session.dmScope`), groups and channels to
//! `agent:<id>:<channel>:group|channel:<id>`, threads with `:thread:<id>` appended. Ids are
//! lower-cased.

use super::{ChatType, Inbound};

/// `session.dmScope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmScope {
    /// Every DM shares the agent's main session.
    #[default]
    Main,
    /// `agent:<id>:dm:<peer>`.
    PerPeer,
    /// `agent:<id>:<channel>:dm:<peer>`.
    PerChannelPeer,
    /// `agent:<id>:<channel>:<account>:dm:<peer>`.
    PerAccountChannelPeer,
}

/// The session key of `m` for agent `agent_id` (whose main session key is `main_key`).
pub fn session_key(agent_id: &str, main_key: &str, scope: DmScope, m: &Inbound) -> String {
    let id = agent_id.to_lowercase();
    let (ch, peer) = (m.channel.to_lowercase(), m.sender_id.to_lowercase());
    let base = match m.chat_type {
        ChatType::Dm => match scope {
            DmScope::Main => format!("agent:{id}:{}", main_key.to_lowercase()),
            DmScope::PerPeer => format!("agent:{id}:dm:{peer}"),
            DmScope::PerChannelPeer => format!("agent:{id}:{ch}:dm:{peer}"),
            DmScope::PerAccountChannelPeer => format!("agent:{id}:{ch}:{}:dm:{peer}", m.account.to_lowercase()),
        },
        ChatType::Group => format!("agent:{id}:{ch}:group:{}", m.chat_id.to_lowercase()),
        ChatType::Channel => format!("agent:{id}:{ch}:channel:{}", m.chat_id.to_lowercase()),
    };
    match &m.thread_id {
        Some(t) if m.chat_type != ChatType::Dm || scope != DmScope::Main => {
            format!("{base}:thread:{}", t.to_lowercase())
        }
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(chat_type: ChatType, thread: Option<&str>) -> Inbound {
        Inbound {
            channel: "Discord".into(),
            account: "default".into(),
            chat_type,
            guild_id: None,
            chat_id: "C42".into(),
            thread_id: thread.map(str::to_string),
            sender_id: "U7".into(),
            sender_name: None,
            sender_is_bot: false,
            text: "hi".into(),
            mentioned: false,
            message_id: "m1".into(),
            reply_to: None,
        }
    }

    #[test]
    fn dms_go_to_the_main_session_or_one_per_peer() {
        let dm = msg(ChatType::Dm, None);
        assert_eq!(session_key("main", "main", DmScope::Main, &dm), "agent:main:main");
        assert_eq!(session_key("main", "main", DmScope::PerPeer, &dm), "agent:main:dm:u7");
        assert_eq!(session_key("main", "main", DmScope::PerChannelPeer, &dm), "agent:main:discord:dm:u7");
        assert_eq!(session_key("Ops", "main", DmScope::PerAccountChannelPeer, &dm), "agent:ops:discord:default:dm:u7");
    }

    #[test]
    fn groups_channels_and_threads_have_their_own_sessions() {
        assert_eq!(
            session_key("main", "main", DmScope::Main, &msg(ChatType::Group, None)),
            "agent:main:discord:group:c42"
        );
        assert_eq!(
            session_key("main", "main", DmScope::Main, &msg(ChatType::Channel, Some("T9"))),
            "agent:main:discord:channel:c42:thread:t9"
        );
        // A thread under a DM stays in the shared main session.
        assert_eq!(session_key("main", "main", DmScope::Main, &msg(ChatType::Dm, Some("T9"))), "agent:main:main");
    }
}
