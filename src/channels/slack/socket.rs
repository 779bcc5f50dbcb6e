//! One Slack account's Socket Mode connection, kept alive: every envelope acknowledged at once
//! (Slack redelivers what is not acknowledged within 3 s); on `disconnect` (`refresh_requested`,
//! `warning`) and on a deaf socket (neither an envelope nor a pong for `deafSocketSeconds`) the
//! new connection is opened first, and the old one is then closed and read to its end, so no
//! event is lost in the switch. Exactly one connection per app token runs in this process
//! (Slack hands each event to any one open connection of the app, so a second consumer steals
//! events); `hello`'s `num_connections` shows other consumers, and is logged as a warning.
//!
//! It returns only on a failure no reconnect can fix (a refused token, Socket Mode disabled).

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::Digest;

use super::super::account::Account;
use super::super::api::{ApiError, Socket};
use super::super::outbound::Outbound;
use super::inbound;
use super::web::Web;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a replaced connection is read for what it still delivers.
const DRAIN: Duration = Duration::from_secs(5);

/// App tokens (hashed) with a connection in this process.
static APPS: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

/// Holds an app token's one connection slot until dropped.
struct Claim(String);

impl Claim {
    fn take(app_token: &str) -> Option<Self> {
        let h: String = sha2::Sha256::digest(app_token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        APPS.lock().insert(h.clone()).then_some(Claim(h))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        APPS.lock().remove(&self.0);
    }
}

fn web(acc: &Account) -> &Web {
    match &acc.out {
        Outbound::Slack(w) => w,
        Outbound::Discord(_) => unreachable!("a Slack account answers through Slack"),
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(4)).min(1000))
}

/// Why a connection is being left.
enum End {
    /// Open a new connection first, then close this one.
    Replace(String),
    /// It is gone: connect again.
    Lost(String),
    Fatal(String),
}

/// Runs the account until a fatal failure; returns its reason.
pub async fn run(acc: Rc<Account>, app_token: String, deaf_after: Duration) -> String {
    let mut failures = 0u32;
    let me = loop {
        match web(&acc).auth_test().await {
            Ok(v) => break v,
            Err(ApiError::Auth(e)) => {
                return format!("Slack refused the bot token ({e}): check channels.slack.botToken");
            }
            Err(e) => {
                acc.status(|s| s.last_error = Some(e.to_string()));
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    };
    let bot_user = me.get("user_id").and_then(Value::as_str).unwrap_or_default().to_string();
    *acc.bot_id.borrow_mut() = Some(bot_user.clone());
    acc.status(|s| s.bot_id = Some(bot_user.clone()));
    let Some(_claim) = Claim::take(&app_token) else {
        return "another Slack account of this gateway already uses this app token (one Socket Mode connection per app)".into();
    };
    let mut current: Option<Socket> = None;
    failures = 0;
    let client = crate::net::client::shared(false);
    loop {
        let ws = match current.take() {
            Some(ws) => ws,
            None => match open(&client, &acc, false).await {
                Ok(ws) => ws,
                Err(End::Fatal(why)) => return why,
                Err(End::Lost(why) | End::Replace(why)) => {
                    acc.status(|s| {
                        s.connected = false;
                        s.last_error = Some(why.clone());
                    });
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            },
        };
        failures = 0;
        let (ws, end) = serve(&acc, ws, &bot_user, deaf_after).await;
        acc.metrics.channel_reconnect("slack", "reconnect");
        acc.status(|s| s.reconnects += 1);
        match end {
            End::Fatal(why) => return why,
            End::Lost(why) => {
                tracing::info!(reason = %why, "slack: connection lost; reconnecting");
                acc.status(|s| {
                    s.connected = false;
                    s.last_error = Some(why);
                });
            }
            End::Replace(why) => {
                tracing::info!(reason = %why, "slack: replacing the connection (the new one opens first)");
                match open(&client, &acc, true).await {
                    Ok(new) => current = Some(new),
                    Err(End::Fatal(why)) => return why,
                    Err(End::Lost(e) | End::Replace(e)) => acc.status(|s| {
                        s.connected = false;
                        s.last_error = Some(e);
                    }),
                }
            }
        }
        if let Some(old) = ws {
            let (acc, bot_user) = (acc.clone(), bot_user.clone());
            actix_rt::spawn(async move { drain(&acc, old, &bot_user).await });
        }
    }
}

/// Opens a connection and waits for its `hello`.
async fn open(client: &awc::Client, acc: &Account, overlapping: bool) -> Result<Socket, End> {
    let url = web(acc).open_connection().await.map_err(|e| match e {
        ApiError::Auth(e) => End::Fatal(format!(
            "Slack refused the app-level token ({e}): check channels.slack.appToken (an xapp- token with connections:write)"
        )),
        ApiError::Failed(e) => End::Lost(e),
    })?;
    let (_, mut ws) =
        match tokio::time::timeout(CONNECT_TIMEOUT, client.ws(url).max_frame_size(4 << 20).connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(End::Lost(format!("connect: {e}"))),
            Err(_) => return Err(End::Lost("connect: timed out".into())),
        };
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Frame::Text(b)))) => {
                let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
                if v.get("type").and_then(Value::as_str) == Some("hello") {
                    let n = v.get("num_connections").and_then(Value::as_u64).unwrap_or(1);
                    let expected = if overlapping { 2 } else { 1 };
                    if n > expected {
                        tracing::warn!(
                            num_connections = n,
                            "slack: another consumer holds a Socket Mode connection for this app and will take some of its events; stop the other one"
                        );
                    } else {
                        tracing::info!(num_connections = n, "slack: connected (hello)");
                    }
                    acc.status(|s| {
                        s.connected = true;
                        s.last_connected_at = Some(crate::sys::now_ms());
                        s.last_error = None;
                        s.identifies += 1;
                    });
                    return Ok(ws);
                }
            }
            Ok(Some(Ok(Frame::Ping(p)))) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(End::Lost(format!("connection lost before hello: {e}"))),
            Ok(None) => return Err(End::Lost("connection closed before hello".into())),
            Err(_) => return Err(End::Lost("no hello within 15 s".into())),
        }
    }
}

/// What one frame asks for.
enum Step {
    Go,
    End(End),
}

/// Acknowledges (on `ack`) and handles one text frame.
async fn frame(acc: &Rc<Account>, ack: Option<&mut Socket>, bytes: &[u8], bot_user: &str) -> Step {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "slack: a frame that is not JSON; ignored");
            return Step::Go;
        }
    };
    if let Some(id) = v.get("envelope_id").and_then(Value::as_str)
        && let Some(ws) = ack
        && ws.send(Message::Text(json!({"envelope_id": id}).to_string().into())).await.is_err()
    {
        return Step::End(End::Lost("connection lost while acknowledging".into()));
    }
    match v.get("type").and_then(Value::as_str) {
        Some("events_api") => {
            if let Some(ev) = v.pointer("/payload/event")
                && let Some(m) = inbound(ev, bot_user, &acc.id)
            {
                if v.get("retry_attempt").and_then(Value::as_u64).unwrap_or(0) > 0 {
                    tracing::debug!(retry = %v["retry_attempt"], reason = %v["retry_reason"], "slack: a redelivered event");
                }
                super::super::reply::accept(acc, m);
            }
            Step::Go
        }
        Some("disconnect") => match v.get("reason").and_then(Value::as_str).unwrap_or("") {
            "link_disabled" => {
                Step::End(End::Fatal("Socket Mode was disabled for this Slack app (disconnect: link_disabled)".into()))
            }
            reason => Step::End(End::Replace(format!("Slack asked for a new connection ({reason})"))),
        },
        _ => Step::Go,
    }
}

/// Serves a connection until it must be left; returns it (when it is still open) and why.
async fn serve(acc: &Rc<Account>, mut ws: Socket, bot_user: &str, deaf_after: Duration) -> (Option<Socket>, End) {
    let mut heard = Instant::now();
    let every = (deaf_after / 3).max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            f = ws.next() => {
                heard = Instant::now();
                match f {
                    Some(Ok(Frame::Text(b))) => {
                        if let Step::End(end) = frame(acc, Some(&mut ws), &b, bot_user).await {
                            let open = !matches!(end, End::Lost(_));
                            return (open.then_some(ws), end);
                        }
                    }
                    Some(Ok(Frame::Ping(p))) => {
                        let _ = ws.send(Message::Pong(p)).await;
                    }
                    Some(Ok(Frame::Close(r))) => {
                        return (None, End::Lost(format!("closed by Slack ({})", r.map_or(1005, |r| u16::from(r.code)))));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return (None, End::Lost(format!("connection lost: {e}"))),
                    None => return (None, End::Lost("connection lost".into())),
                }
            }
            _ = tick.tick() => {
                if heard.elapsed() >= deaf_after {
                    tracing::warn!(silent_ms = heard.elapsed().as_millis() as u64,
                        "slack: deaf socket (no event and no pong); replacing it");
                    acc.metrics.channel_reconnect("slack", "deaf");
                    return (Some(ws), End::Replace("deaf socket".into()));
                }
                if ws.send(Message::Ping(bytes::Bytes::from_static(b"openclaw"))).await.is_err() {
                    return (None, End::Lost("connection lost".into()));
                }
            }
        }
    }
}

/// Closes a replaced connection and handles what it still delivers until it ends (not
/// acknowledged: nothing may follow a close; Slack redelivers, and repeats are dropped).
async fn drain(acc: &Rc<Account>, mut ws: Socket, bot_user: &str) {
    let _ = ws.send(Message::Close(None)).await;
    let deadline = tokio::time::Instant::now() + DRAIN;
    while let Ok(Some(Ok(f))) = tokio::time::timeout_at(deadline, ws.next()).await {
        match f {
            Frame::Text(b) => {
                if let Step::End(_) = frame(acc, None, &b, bot_user).await {
                    break;
                }
            }
            Frame::Close(_) => break,
            _ => {}
        }
    }
}
