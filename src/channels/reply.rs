//! Answering one accepted message: the access rules decide (answer, pairing code, or silence);
//! an answer is a run in the message's session (its session lane, then the main lane), shown
//! as working with the acknowledgement reaction and the typing indicator, and posted back split
//! to the platform's limits, replied or threaded per `replyToMode`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::access::{Decision, decide};
use super::account::Account;
use super::outbound::Target;
use super::pairing::Asked;
use super::settings::Rules;
use super::{ChatType, Inbound, route, split};
use crate::agents::{self, RunRequest, RunStatus, Submitted};
use crate::config::model::ReplyToMode;

/// The reply to an unknown sender under `dm.policy: "pairing"` (upstream's words).
pub fn pairing_text(channel: &str, sender_id: &str, code: &str) -> String {
    format!(
        "OpenClaw: access not configured.\n\nYour {channel} user id: {sender_id}\n\nPairing code: {code}\n\n\
         Ask the bot owner to approve with:\nopenclaw pairing approve {channel} {code}"
    )
}

/// The message as the agent sees it: the bot's own mention taken out.
fn prompt(m: &Inbound, bot_id: Option<&str>) -> String {
    let mut t = m.text.clone();
    if let Some(id) = bot_id {
        for form in [format!("<@{id}>"), format!("<@!{id}>")] {
            t = t.replace(&form, "");
        }
    }
    let t = t.trim().to_string();
    match (m.chat_type, &m.sender_name) {
        (ChatType::Dm, _) | (_, None) => t,
        (_, Some(name)) => format!("[{name}] {t}"),
    }
}

/// A message from the platform: the first delivery of each is answered, in a task of its own
/// (which outlives the account's incarnation); a repeat is dropped. Returns whether it was new.
pub fn accept(acc: &Rc<Account>, m: Inbound) -> bool {
    if !acc.first_time(&m) {
        return false;
    }
    actix_rt::spawn(handle(acc.clone(), m));
    true
}

async fn handle(acc: Rc<Account>, m: Inbound) {
    let rules: Arc<Rules> = acc.rules.borrow().clone();
    let paired = match acc.pairing.allowed(acc.channel) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(channel = acc.channel, error = %e, "approved senders unreadable; only allowFrom applies");
            Vec::new()
        }
    };
    match decide(&rules.access(&m), &m, &paired) {
        Decision::Ignore(why) => {
            tracing::debug!(channel = acc.channel, chat = %m.chat_id, sender = %m.sender_id, why, "message not answered");
        }
        Decision::Pair => pair(&acc, &m).await,
        Decision::Answer => answer(&acc, &rules, &m).await,
    }
}

async fn pair(acc: &Account, m: &Inbound) {
    match acc.pairing.ask(acc.channel, &m.sender_id, m.sender_name.as_deref(), crate::sys::now_ms()) {
        Ok(Asked::New(code)) => {
            tracing::info!(channel = acc.channel, sender = %m.sender_id, "pairing code sent to an unknown sender");
            let to = Target { chat_id: &m.chat_id, ..Default::default() };
            post(acc, &to, &pairing_text(acc.channel, &m.sender_id, &code)).await;
        }
        Ok(Asked::Waiting(_)) => {
            tracing::debug!(channel = acc.channel, sender = %m.sender_id, "pairing already requested; not repeated")
        }
        Ok(Asked::Full) => tracing::warn!(
            channel = acc.channel,
            sender = %m.sender_id,
            "three pairing requests are waiting; no code issued (openclaw pairing list)"
        ),
        Err(e) => tracing::warn!(channel = acc.channel, error = %e, "pairing request not stored"),
    }
}

/// Posts one message and records it; false when it failed (already logged).
async fn post(acc: &Account, to: &Target<'_>, text: &str) -> bool {
    let t0 = Instant::now();
    match acc.out.send(to, text).await {
        Ok(id) => {
            acc.metrics.channel_send(acc.channel, t0.elapsed());
            acc.status(|s| s.last_outbound_at = Some(crate::sys::now_ms()));
            acc.note_dm(to.chat_id, &id);
            true
        }
        Err(e) => {
            tracing::warn!(channel = acc.channel, chat = %to.chat_id, error = %e, "reply not sent");
            acc.status(|s| s.last_error = Some(format!("send: {e}")));
            false
        }
    }
}

async fn answer(acc: &Rc<Account>, rules: &Rules, m: &Inbound) {
    let ack = rules.ack.as_deref().filter(|_| rules.acks(m));
    let acked = match ack {
        Some(emoji) => match acc.out.react(&m.chat_id, &m.message_id, emoji, true).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(channel = acc.channel, error = %e, "ack reaction not added");
                false
            }
        },
        None => false,
    };
    // Typing, renewed until the reply is out (dropping the sender stops the loop).
    let (stop_typing, stopped) = tokio::sync::oneshot::channel::<()>();
    if rules.typing_interval_ms > 0 {
        let (acc, chat, every) = (acc.clone(), m.chat_id.clone(), Duration::from_millis(rules.typing_interval_ms));
        actix_rt::spawn(async move {
            let mut stopped = stopped;
            loop {
                if let Err(e) = acc.out.typing(&chat).await {
                    tracing::debug!(channel = acc.channel, error = %e, "typing indicator not shown");
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        });
    }
    let bot_id = acc.bot_id.borrow().clone();
    // In a group the agent is told who speaks.
    let named;
    let m = if m.chat_type != ChatType::Dm && m.sender_name.is_none() {
        named = Inbound { sender_name: acc.out.sender_name(&m.sender_id).await, ..m.clone() };
        &named
    } else {
        m
    };
    let req = RunRequest {
        agent_id: rules.agent_id.clone(),
        session_key: route::session_key(&rules.agent_id, "main", rules.dm_scope, m),
        message: prompt(m, bot_id.as_deref()),
        model: None,
        thinking: None,
        timeout: None,
        lane: "main",
        origin: format!("{}:{}", acc.channel, m.sender_id),
    };
    let session = req.session_key.clone();
    // The run id is the message's: a message that reaches a later incarnation too (a backfill
    // after a restart) finds its run and is not answered twice.
    let run_id = format!("{}-{}-{}", acc.channel, acc.id, m.message_id);
    let text = match agents::submit_as(&acc.agents, req, run_id) {
        Ok(Submitted::Started(run)) => {
            tracing::info!(channel = acc.channel, session = %session, run = %run.id, "channel message answered by a run");
            let st = run.wait(Duration::MAX).await;
            match st.status {
                RunStatus::Ok if !st.text.trim().is_empty() => st.text,
                RunStatus::Ok => "(no answer)".into(),
                _ => format!(
                    "\u{26A0}\u{FE0F} The assistant could not answer: {}",
                    st.error.as_deref().unwrap_or("the run failed")
                ),
            }
        }
        Ok(Submitted::Known(_)) => {
            tracing::debug!(channel = acc.channel, message = %m.message_id, "a run for this message exists; not answered twice");
            return;
        }
        Err(e) => format!("\u{26A0}\u{FE0F} The assistant is busy; try again in a moment ({e})."),
    };
    drop(stop_typing);
    let chunks = split::split(&text, rules.limits);
    let thread = m.thread_id.as_deref();
    for (i, chunk) in chunks.iter().enumerate() {
        let reply_to = match rules.reply_to {
            ReplyToMode::All => Some(m.message_id.as_str()),
            ReplyToMode::First if i == 0 => Some(m.message_id.as_str()),
            // Slack: once a reply thread is started, the rest of the answer goes there too.
            ReplyToMode::First if acc.channel == super::settings::SLACK => Some(m.message_id.as_str()),
            _ => None,
        };
        let to = Target { chat_id: &m.chat_id, thread, reply_to };
        if !post(acc, &to, chunk).await {
            break;
        }
    }
    if acked
        && rules.remove_ack
        && let Some(emoji) = ack
        && let Err(e) = acc.out.react(&m.chat_id, &m.message_id, emoji, false).await
    {
        tracing::debug!(channel = acc.channel, error = %e, "ack reaction not removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bots_mention_is_taken_out_and_group_senders_named() {
        let mut m = Inbound {
            channel: "discord".into(),
            account: "default".into(),
            chat_type: ChatType::Channel,
            guild_id: Some("G".into()),
            chat_id: "C".into(),
            thread_id: None,
            sender_id: "U".into(),
            sender_name: Some("ann".into()),
            sender_is_bot: false,
            text: "<@42> what time is it?".into(),
            mentioned: true,
            message_id: "1".into(),
            reply_to: None,
        };
        assert_eq!(prompt(&m, Some("42")), "[ann] what time is it?");
        m.chat_type = ChatType::Dm;
        assert_eq!(prompt(&m, Some("42")), "what time is it?");
        assert!(pairing_text("discord", "U", "ABCD2345").contains("openclaw pairing approve discord ABCD2345"));
    }
}
