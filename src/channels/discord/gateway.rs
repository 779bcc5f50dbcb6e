//! One Discord account's gateway connection, kept alive: HELLO within 30 s or the connection is
//! replaced; heartbeats at the interval HELLO names, and a heartbeat whose ACK has not come by
//! the next one marks a zombie connection, closed and resumed; RESUME with the last sequence
//! number after any loss, and after three RESUMEs in a row that did not come back, a fresh
//! IDENTIFY; op 7 reconnects, op 9 resumes or identifies as it says. After every fresh session
//! (READY) the DM conversations of the last hour are backfilled over REST, so nothing sent
//! while the bot was away is lost (what arrived live is not answered twice: see `Account`).
//!
//! It returns only on a failure no reconnect can fix (a refused token, intents not allowed).

use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::ws::{CloseCode, CloseReason, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use super::super::account::{Account, Resume};
use super::super::api::{ApiError, Socket};
use super::super::outbound::Outbound;
use super::inbound;
use super::rest::Rest;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// RESUMEs in a row that may fail before the session is given up for a fresh IDENTIFY.
pub const MAX_RESUME_FAILURES: u32 = 3;
/// Messages fetched per DM conversation in a backfill.
const BACKFILL_LIMIT: u32 = 50;
const MAX_FRAME: usize = 16 << 20;

/// How a connection ended, and what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Reconnect and RESUME the session.
    Resume(String),
    /// Reconnect with a fresh IDENTIFY.
    Identify(String),
    /// Stop: reconnecting cannot help.
    Fatal(String),
}

/// What a close code from Discord means.
fn on_close(code: u16) -> End {
    match code {
        4004 => End::Fatal("Discord refused the bot token (close 4004): check channels.discord.token".into()),
        4010..=4012 => End::Fatal(format!("Discord closed the gateway with {code} (shard or API version)")),
        4013 | 4014 => End::Fatal(format!(
            "Discord refused the intents (close {code}): enable MESSAGE CONTENT INTENT for the bot in the Discord developer portal"
        )),
        4007 | 4009 => End::Identify(format!("session no longer resumable (close {code})")),
        _ => End::Resume(format!("gateway closed with {code}")),
    }
}

/// Backoff between connections that never became ready: quick at first, at most one second, so
/// the bot is receiving again about a second after Discord is back.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(4)).min(1000))
}

fn with_query(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}v=10&encoding=json")
}

fn rest(acc: &Account) -> &Rest {
    match &acc.out {
        Outbound::Discord(r) => r,
        Outbound::Slack(_) => unreachable!("a Discord account answers through Discord"),
    }
}

/// Runs the account until a fatal failure; returns its reason.
pub async fn run(acc: Rc<Account>, token: String, gateway_url: Option<String>) -> String {
    let mut failures = 0u32;
    // Prove the token over REST first: a refused token is a clear stop, not a reconnect loop.
    let me = loop {
        match rest(&acc).me().await {
            Ok(me) => break me,
            Err(ApiError::Auth(_)) => {
                return "Discord refused the bot token (GET /users/@me: 401): check channels.discord.token".into();
            }
            Err(e) => {
                acc.status(|s| s.last_error = Some(e.to_string()));
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    };
    let bot_id = me.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    *acc.bot_id.borrow_mut() = Some(bot_id.clone());
    acc.status(|s| s.bot_id = Some(bot_id.clone()));
    let mut resume_failures = 0u32;
    failures = 0;
    let client = crate::net::client::shared(false);
    loop {
        if resume_failures >= MAX_RESUME_FAILURES {
            tracing::warn!(
                failed = resume_failures,
                "discord: RESUME keeps failing; starting a fresh session (IDENTIFY)"
            );
            acc.memory.lock().resume = None;
            resume_failures = 0;
        }
        let resume = acc.memory.lock().resume.clone();
        let url = match (&resume, &gateway_url) {
            (Some(r), _) => r.url.clone(),
            (None, Some(u)) => u.clone(),
            (None, None) => match rest(&acc).gateway_url().await {
                Ok(u) => u,
                Err(ApiError::Auth(_)) => return "Discord refused the bot token: check channels.discord.token".into(),
                Err(e) => {
                    acc.status(|s| s.last_error = Some(e.to_string()));
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            },
        };
        let (said_hello, ready, end) = connection(&client, &acc, &token, &url, resume.as_ref()).await;
        acc.status(|s| s.connected = false);
        // A RESUME that was sent and never came back counts; a connection that failed before
        // it (Discord unreachable) does not, so an outage alone does not cost the session.
        if resume.is_some() && said_hello {
            resume_failures = if ready { 0 } else { resume_failures + 1 };
        }
        let reason = match &end {
            End::Fatal(why) => {
                acc.memory.lock().resume = None;
                return why.clone();
            }
            End::Resume(why) => why.clone(),
            End::Identify(why) => {
                acc.memory.lock().resume = None;
                why.clone()
            }
        };
        tracing::info!(reason = %reason, resume = matches!(end, End::Resume(_)), "discord: reconnecting");
        acc.metrics.channel_reconnect("discord", "reconnect");
        acc.status(|s| {
            s.reconnects += 1;
            s.last_error = Some(reason.clone());
        });
        failures = if ready { 0 } else { failures + 1 };
        if said_hello && !ready && matches!(end, End::Identify(_)) {
            // Refused before READY (op 9 right after IDENTIFY): Discord asks for 1-5 s.
            let wait = 1000 + (crate::sys::now_ms().rem_euclid(4000)) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        } else if !ready || matches!(end, End::Identify(_)) {
            tokio::time::sleep(backoff(failures)).await;
        }
    }
}

async fn send(ws: &mut Socket, v: Value) -> bool {
    ws.send(Message::Text(v.to_string().into())).await.is_ok()
}

/// One connection, from the socket to its end: (whether IDENTIFY or RESUME was sent, whether it
/// became ready, how it ended).
async fn connection(
    client: &awc::Client,
    acc: &Rc<Account>,
    token: &str,
    url: &str,
    resume: Option<&Resume>,
) -> (bool, bool, End) {
    match session(client, acc, token, url, resume).await {
        Ok((ready, end)) => (true, ready, end),
        Err(end) => (false, false, end),
    }
}

/// Opens the socket and says hello: `Err` when that failed; then serves it until it ends.
async fn session(
    client: &awc::Client,
    acc: &Rc<Account>,
    token: &str,
    url: &str,
    resume: Option<&Resume>,
) -> Result<(bool, End), End> {
    let mut ws =
        match tokio::time::timeout(CONNECT_TIMEOUT, client.ws(with_query(url)).max_frame_size(MAX_FRAME).connect())
            .await
        {
            Ok(Ok((_, ws))) => ws,
            Ok(Err(e)) => return Err(keep(resume, format!("connect: {e}"))),
            Err(_) => return Err(keep(resume, "connect: timed out".into())),
        };
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_payload(&mut ws)).await {
        Ok(Ok(p)) if p.get("op").and_then(Value::as_u64) == Some(10) => p,
        Ok(Ok(_)) => return Err(keep(resume, "the first frame was not HELLO".into())),
        Ok(Err(end)) => return Err(end),
        Err(_) => return Err(keep(resume, "no HELLO within 30 s".into())),
    };
    let every =
        Duration::from_millis(hello.pointer("/d/heartbeat_interval").and_then(Value::as_u64).unwrap_or(41_250).max(50));
    let hi = match resume {
        Some(r) => {
            tracing::debug!(seq = r.seq, "discord: RESUME");
            json!({"op": 6, "d": {"token": token, "session_id": r.session_id, "seq": r.seq}})
        }
        None => json!({"op": 2, "d": {"token": token, "intents": super::INTENTS,
            "properties": {"os": std::env::consts::OS, "browser": "openclaw", "device": "openclaw"}}}),
    };
    if !send(&mut ws, hi).await {
        return Err(keep(resume, "connection lost before IDENTIFY".into()));
    }
    // The first beat at a random point of the interval, as Discord asks.
    let jitter = every.mul_f64(f64::from(crate::sys::now_ms().rem_euclid(1000) as u32) / 1000.0);
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + jitter, every);
    let (mut acked, mut ready) = (true, false);
    loop {
        tokio::select! {
            frame = ws.next() => {
                let payload = match frame {
                    Some(Ok(Frame::Text(b))) => match serde_json::from_slice::<Value>(&b) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error = %e, "discord: a frame that is not JSON; ignored");
                            continue;
                        }
                    },
                    Some(Ok(Frame::Close(reason))) => {
                        let code = reason.map_or(1006, |r| u16::from(r.code));
                        return Ok((ready, on_close(code)));
                    }
                    Some(Ok(Frame::Ping(p))) => {
                        let _ = ws.send(Message::Pong(p)).await;
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Ok((ready, End::Resume(format!("connection lost: {e}")))),
                    None => return Ok((ready, End::Resume("connection lost (1006)".into()))),
                };
                match payload.get("op").and_then(Value::as_u64) {
                    Some(0) => {
                        if let Some(s) = payload.get("s").and_then(Value::as_u64)
                            && let Some(r) = acc.memory.lock().resume.as_mut()
                        {
                            r.seq = r.seq.max(s);
                        }
                        ready |= dispatch(acc, &payload, url);
                    }
                    Some(1) => {
                        let seq = acc.memory.lock().resume.as_ref().map(|r| r.seq);
                        if !send(&mut ws, json!({"op": 1, "d": seq})).await {
                            return Ok((ready, End::Resume("connection lost".into())));
                        }
                    }
                    Some(7) => {
                        close(&mut ws).await;
                        return Ok((ready, End::Resume("Discord asked for a reconnect (op 7)".into())));
                    }
                    Some(9) => {
                        close(&mut ws).await;
                        let resumable = payload.get("d").and_then(Value::as_bool).unwrap_or(false);
                        return Ok((ready, if resumable {
                            End::Resume("invalid session (op 9, resumable)".into())
                        } else {
                            End::Identify("invalid session (op 9)".into())
                        }));
                    }
                    Some(11) => acked = true,
                    _ => {}
                }
            }
            _ = beat.tick() => {
                if !acked {
                    tracing::warn!("discord: no heartbeat ACK since the last beat; the connection is a zombie, replacing it");
                    acc.metrics.channel_reconnect("discord", "zombie");
                    close(&mut ws).await;
                    return Ok((ready, End::Resume("zombie connection (no heartbeat ACK)".into())));
                }
                acked = false;
                let seq = acc.memory.lock().resume.as_ref().map(|r| r.seq);
                if !send(&mut ws, json!({"op": 1, "d": seq})).await {
                    return Ok((ready, End::Resume("connection lost".into())));
                }
            }
        }
    }
}

/// After a failure before the session was (re)established: try the same way again.
fn keep(resume: Option<&Resume>, why: String) -> End {
    if resume.is_some() { End::Resume(why) } else { End::Identify(why) }
}

/// Closes with 4000, which keeps the session resumable (1000/1001 would end it).
async fn close(ws: &mut Socket) {
    let reason = CloseReason { code: CloseCode::Other(4000), description: Some("reconnecting".into()) };
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.send(Message::Close(Some(reason)))).await;
}

/// The next JSON payload, skipping pings; a close or loss is the connection's end.
async fn next_payload(ws: &mut Socket) -> Result<Value, End> {
    loop {
        match ws.next().await {
            Some(Ok(Frame::Text(b))) => {
                return serde_json::from_slice(&b).map_err(|e| End::Resume(format!("bad frame: {e}")));
            }
            Some(Ok(Frame::Close(reason))) => return Err(on_close(reason.map_or(1006, |r| u16::from(r.code)))),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(End::Resume(format!("connection lost: {e}"))),
            None => return Err(End::Resume("connection lost (1006)".into())),
        }
    }
}

/// Handles one dispatch; true when it made the session ready (READY or RESUMED).
fn dispatch(acc: &Rc<Account>, p: &Value, url: &str) -> bool {
    let d = p.get("d").cloned().unwrap_or(Value::Null);
    match p.get("t").and_then(Value::as_str) {
        Some("READY") => {
            let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or_default().to_string();
            let resume_url = d.get("resume_gateway_url").and_then(Value::as_str).unwrap_or(url).to_string();
            let seq = p.get("s").and_then(Value::as_u64).unwrap_or(0);
            acc.memory.lock().resume = Some(Resume { session_id, seq, url: resume_url });
            if let Some(id) = d.pointer("/user/id").and_then(Value::as_str) {
                *acc.bot_id.borrow_mut() = Some(id.to_string());
            }
            tracing::info!("discord: connected (READY)");
            acc.metrics.channel_reconnect("discord", "identify");
            connected(acc, |s| s.identifies += 1);
            let acc = acc.clone();
            actix_rt::spawn(async move { backfill(&acc).await });
            true
        }
        Some("RESUMED") => {
            tracing::info!("discord: session resumed");
            acc.metrics.channel_reconnect("discord", "resume");
            connected(acc, |s| s.resumes += 1);
            true
        }
        Some("MESSAGE_CREATE") => {
            let bot = acc.bot_id.borrow().clone();
            if let Some(m) = inbound(&d, bot.as_deref(), &acc.id) {
                super::super::reply::accept(acc, m);
            }
            false
        }
        _ => false,
    }
}

fn connected(acc: &Account, f: impl FnOnce(&mut super::super::status::AccountStatus)) {
    acc.status(|s| {
        s.connected = true;
        s.last_connected_at = Some(crate::sys::now_ms());
        s.last_error = None;
        f(s);
    });
}

/// Fetches what DM conversations of the last hour received after the newest message seen in
/// each, and handles it as if it had arrived live (repeats are dropped by `Account::accept`).
async fn backfill(acc: &Rc<Account>) {
    let dms = acc.memory.lock().recent_dms(Instant::now());
    let bot = acc.bot_id.borrow().clone();
    let mut found = 0usize;
    for (chat, after) in dms {
        match rest(acc).messages_after(&chat, &after, BACKFILL_LIMIT).await {
            Ok(msgs) => {
                for m in msgs.iter().filter_map(|m| inbound(m, bot.as_deref(), &acc.id)) {
                    found += usize::from(super::super::reply::accept(acc, m));
                }
            }
            Err(e) => tracing::warn!(chat = %chat, error = %e, "discord: backfill of a DM failed"),
        }
    }
    if found > 0 {
        tracing::info!(messages = found, "discord: backfilled messages sent while disconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_decide_resume_identify_or_stop() {
        assert!(matches!(on_close(4004), End::Fatal(m) if m.contains("channels.discord.token")));
        assert!(matches!(on_close(4014), End::Fatal(m) if m.contains("MESSAGE CONTENT")));
        assert!(matches!(on_close(4009), End::Identify(_)));
        assert!(matches!(on_close(1006), End::Resume(_)));
        assert!(matches!(on_close(4000), End::Resume(_)));
    }

    #[test]
    fn backoff_is_quick_and_capped_at_a_second() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(1));
        assert_eq!(with_query("ws://h/gateway"), "ws://h/gateway?v=10&encoding=json");
    }
}
