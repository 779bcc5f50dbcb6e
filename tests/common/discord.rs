//! A fake Discord: REST API v10 under `/api/v10` and the Gateway WebSocket at `/gateway`
//! (JSON, no compression), served by actix-web on 127.0.0.1:0 in its own thread and
//! `actix_rt::System`, one worker. The test thread drives it through [`FakeDiscord`]: it creates
//! user messages (dispatched as MESSAGE_CREATE and kept in channel history), reads what the bot
//! posted, typed and reacted, and injects faults (closes, aborts, op 7/op 9, withheld heartbeat
//! ACKs, failing RESUMEs, 429s, an outage).
//!
//! Every connection task selects on its socket and on an unbounded channel of [`Cmd`]s, so the
//! test thread can push frames to a live socket. An abort (close code 1006) makes the response
//! body fail, which makes actix-http drop the TCP connection without a close frame.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use actix_ws::{CloseReason, Message};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// The bot user's id (READY, `/users/@me`, authors of posted messages).
pub const BOT_ID: &str = "900000000000000001";

/// Discord's epoch (2015-01-01), the base of snowflake timestamps.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A user message for [`FakeDiscord::send`].
#[derive(Clone, Debug)]
pub struct MessageSpec {
    pub channel_id: String,
    /// None: a DM channel.
    pub guild_id: Option<String>,
    pub author_id: String,
    pub author_bot: bool,
    pub content: String,
    /// Mentioned user ids.
    pub mentions: Vec<String>,
    /// `message_reference.message_id`.
    pub reply_to: Option<String>,
}

impl MessageSpec {
    /// A DM from a human user.
    pub fn dm(channel_id: &str, author_id: &str, content: &str) -> Self {
        Self {
            channel_id: channel_id.into(),
            guild_id: None,
            author_id: author_id.into(),
            author_bot: false,
            content: content.into(),
            mentions: Vec::new(),
            reply_to: None,
        }
    }

    /// A guild channel message from a human user. With `mention_bot`, the bot is in `mentions`
    /// and the content starts with `<@BOT_ID> ` (as Discord's clients write it) unless it
    /// already contains that mention.
    pub fn guild(guild_id: &str, channel_id: &str, author_id: &str, content: &str, mention_bot: bool) -> Self {
        let mention = format!("<@{BOT_ID}>");
        let content =
            if mention_bot && !content.contains(&mention) { format!("{mention} {content}") } else { content.into() };
        Self {
            channel_id: channel_id.into(),
            guild_id: Some(guild_id.into()),
            author_id: author_id.into(),
            author_bot: false,
            content,
            mentions: if mention_bot { vec![BOT_ID.into()] } else { Vec::new() },
            reply_to: None,
        }
    }
}

/// A message the bot created with `POST /channels/{id}/messages`.
#[derive(Clone, Debug)]
pub struct Posted {
    pub channel_id: String,
    pub id: String,
    pub content: String,
    /// `message_reference.message_id`.
    pub reply_to: Option<String>,
    pub at: Instant,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reaction {
    Added { channel_id: String, message_id: String, emoji: String },
    Removed { channel_id: String, message_id: String, emoji: String },
}

/// What the test thread (or a handler) asks a connection task to do.
enum Cmd {
    Text(String),
    /// Send a close frame with this code, then end.
    Close(u16),
    /// Drop the TCP connection without a close frame (1006 on the client).
    Abort,
}

struct GatewaySession {
    /// The last sequence number dispatched.
    seq: u64,
    /// Every MESSAGE_CREATE-style dispatch (not READY/RESUMED) with its seq, for RESUME replay.
    buffer: Vec<(u64, String)>,
    /// Unknown to RESUME (op 9 d:false).
    forgotten: bool,
}

struct Conn {
    tx: mpsc::UnboundedSender<Cmd>,
    /// The session this connection identified or resumed.
    session: Option<String>,
    /// Op 9 was sent on it: a second IDENTIFY is then allowed.
    invalidated: bool,
}

struct StoredMessage {
    id: u64,
    channel_id: String,
    value: Value,
}

struct State {
    addr: SocketAddr,
    token: String,
    heartbeat_ms: u64,
    last_id: u64,
    /// All messages, ascending ids.
    messages: Vec<StoredMessage>,
    /// Channel id -> its guild (None: a DM channel), from the first message seen in it.
    channel_guild: HashMap<String, Option<String>>,
    posted: Vec<Posted>,
    typing: Vec<String>,
    reactions: Vec<Reaction>,
    identifies: usize,
    last_identify: Option<Value>,
    resumes: Vec<(String, u64)>,
    connections: usize,
    heartbeats: usize,
    ready_sessions: usize,
    withhold_acks: bool,
    fail_resumes: usize,
    rate_limits: usize,
    retry_after: f64,
    down: bool,
    requests: Vec<String>,
    sessions: HashMap<String, GatewaySession>,
    /// The session of the latest READY/RESUMED: `send` dispatches into it.
    current_session: Option<String>,
    /// Open connections by accept order.
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    /// The open connection of `current_session`, if any.
    live_conn: Option<u64>,
}

impl State {
    fn new(token: &str) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: token.into(),
            heartbeat_ms: 1000,
            last_id: 0,
            messages: Vec::new(),
            channel_guild: HashMap::new(),
            posted: Vec::new(),
            typing: Vec::new(),
            reactions: Vec::new(),
            identifies: 0,
            last_identify: None,
            resumes: Vec::new(),
            connections: 0,
            heartbeats: 0,
            ready_sessions: 0,
            withhold_acks: false,
            fail_resumes: 0,
            rate_limits: 0,
            retry_after: 0.0,
            down: false,
            requests: Vec::new(),
            sessions: HashMap::new(),
            current_session: None,
            conns: BTreeMap::new(),
            next_conn: 0,
            live_conn: None,
        }
    }

    fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    /// A snowflake: milliseconds since Discord's epoch << 22, strictly increasing.
    fn next_id(&mut self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let id = (now.saturating_sub(DISCORD_EPOCH_MS) << 22).max(self.last_id + 1);
        self.last_id = id;
        id
    }

    /// Stores a message in its channel's history (and learns the channel's kind).
    fn store(&mut self, id: u64, channel_id: &str, guild_id: Option<&str>, value: &Value) {
        self.channel_guild.entry(channel_id.into()).or_insert_with(|| guild_id.map(str::to_string));
        self.messages.push(StoredMessage { id, channel_id: channel_id.into(), value: value.clone() });
    }

    /// Dispatches an event into the current session: buffered for RESUME, and sent on the live
    /// connection if there is one.
    fn dispatch(&mut self, t: &str, d: Value) {
        let Some(sid) = self.current_session.clone() else { return };
        let Some(session) = self.sessions.get_mut(&sid) else { return };
        session.seq += 1;
        let frame = json!({"op": 0, "t": t, "s": session.seq, "d": d}).to_string();
        session.buffer.push((session.seq, frame.clone()));
        if let Some(conn) = self.live_conn.and_then(|id| self.conns.get(&id))
            && conn.session.as_deref() == Some(sid.as_str())
        {
            let _ = conn.tx.send(Cmd::Text(frame));
        }
    }

    /// The connection faults act on: the live session's, else the newest open one.
    fn target(&self) -> Option<u64> {
        self.live_conn.or_else(|| self.conns.keys().next_back().copied())
    }

    fn go_live(&mut self, conn: u64, sid: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid.clone());
            c.invalidated = false;
            self.live_conn = Some(conn);
        }
        self.current_session = Some(sid);
        self.ready_sessions += 1;
    }

    /// One text frame from a client; returns what to send back.
    fn on_frame(&mut self, conn: u64, text: &str) -> Vec<Cmd> {
        let Ok(v) = serde_json::from_str::<Value>(text) else { return vec![Cmd::Close(4002)] };
        match v["op"].as_u64() {
            Some(1) => {
                self.heartbeats += 1;
                if self.withhold_acks { Vec::new() } else { vec![Cmd::Text(r#"{"op":11}"#.into())] }
            }
            Some(2) => self.identify(conn, v["d"].clone()),
            Some(6) => self.resume(conn, &v["d"]),
            // Presence, voice state, request guild members: accepted and ignored.
            Some(3 | 4 | 8) => Vec::new(),
            _ => vec![Cmd::Close(4001)],
        }
    }

    fn identify(&mut self, conn: u64, d: Value) -> Vec<Cmd> {
        self.identifies += 1;
        let token_ok = d["token"].as_str() == Some(self.token.as_str());
        self.last_identify = Some(d);
        if !token_ok {
            return vec![Cmd::Close(4004)];
        }
        if self.conns.get(&conn).is_some_and(|c| c.session.is_some() && !c.invalidated) {
            return vec![Cmd::Close(4005)];
        }
        let sid = uuid::Uuid::new_v4().simple().to_string();
        let ready = json!({
            "op": 0, "t": "READY", "s": 1,
            "d": {
                "v": 10,
                "user": {"id": BOT_ID, "username": "openclaw", "discriminator": "0", "bot": true},
                "session_id": sid,
                "resume_gateway_url": self.gateway_url(),
                "guilds": [],
                "application": {"id": BOT_ID, "flags": 0},
            },
        });
        self.sessions.insert(sid.clone(), GatewaySession { seq: 1, buffer: Vec::new(), forgotten: false });
        self.go_live(conn, sid);
        vec![Cmd::Text(ready.to_string())]
    }

    fn resume(&mut self, conn: u64, d: &Value) -> Vec<Cmd> {
        let sid = d["session_id"].as_str().unwrap_or_default().to_string();
        let seq = d["seq"].as_u64().unwrap_or(0);
        self.resumes.push((sid.clone(), seq));
        if self.fail_resumes > 0 {
            self.fail_resumes -= 1;
            return vec![Cmd::Abort];
        }
        if d["token"].as_str() != Some(self.token.as_str()) {
            return vec![Cmd::Close(4004)];
        }
        let Some(session) = self.sessions.get_mut(&sid).filter(|s| !s.forgotten) else {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.invalidated = true;
            }
            return vec![Cmd::Text(r#"{"op":9,"d":false}"#.into())];
        };
        let mut out: Vec<Cmd> =
            session.buffer.iter().filter(|(s, _)| *s > seq).map(|(_, frame)| Cmd::Text(frame.clone())).collect();
        session.seq += 1;
        out.push(Cmd::Text(json!({"op": 0, "t": "RESUMED", "s": session.seq, "d": {}}).to_string()));
        self.go_live(conn, sid);
        out
    }
}

/// A message object as Discord sends it.
#[allow(clippy::too_many_arguments)]
fn message_json(
    id: u64,
    channel_id: &str,
    guild_id: Option<&str>,
    author_id: &str,
    author_bot: bool,
    content: &str,
    mentions: &[String],
    reply_to: Option<&str>,
) -> Value {
    let user = |id: &str| {
        let name = if id == BOT_ID { "openclaw".to_string() } else { format!("user{id}") };
        json!({"id": id, "username": name, "discriminator": "0"})
    };
    let mut author = user(author_id);
    author["bot"] = json!(author_bot);
    let mut m = json!({
        "id": id.to_string(),
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": mentions.iter().map(|m| user(m)).collect::<Vec<_>>(),
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
    });
    if let Some(g) = guild_id {
        m["guild_id"] = json!(g);
    }
    if let Some(r) = reply_to {
        m["message_reference"] = json!({"message_id": r, "channel_id": channel_id});
    }
    m
}

/// The standard reason text of a gateway close code.
fn close_reason(code: u16) -> &'static str {
    match code {
        1000 => "",
        4000 => "Unknown error.",
        4001 => "Unknown opcode.",
        4002 => "Error while decoding payload.",
        4003 => "Not authenticated.",
        4004 => "Authentication failed.",
        4005 => "Already authenticated.",
        4007 => "Invalid seq.",
        4008 => "Rate limited.",
        4009 => "Session timed out.",
        4010 => "Invalid shard.",
        4011 => "Sharding required.",
        4012 => "Invalid API version.",
        4013 => "Invalid intent(s).",
        4014 => "Disallowed intent(s).",
        _ => "",
    }
}

/// The WebSocket response body, made failable: when `abort` fires, the body errors and
/// actix-http drops the connection without writing anything more (no close frame).
struct Abortable {
    inner: BoxBody,
    abort: Option<oneshot::Receiver<()>>,
}

impl MessageBody for Abortable {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Some(rx) = this.abort.as_mut() {
            match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(())) => {
                    this.abort = None;
                    return Poll::Ready(Some(Err("connection aborted by the fake Discord".into())));
                }
                Poll::Ready(Err(_)) => this.abort = None,
                Poll::Pending => {}
            }
        }
        Pin::new(&mut this.inner).poll_next(cx)
    }
}

/// Deregisters a connection when its task ends, however it ends.
struct ConnGuard {
    state: Arc<Mutex<State>>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        s.conns.remove(&self.id);
        if s.live_conn == Some(self.id) {
            s.live_conn = None;
        }
    }
}

enum End {
    Close(u16),
    ClientClosed(Option<CloseReason>),
    Abort,
    Gone,
}

async fn run_conn(
    guard: ConnGuard,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    abort: oneshot::Sender<()>,
    hello: String,
) {
    let state = guard.state.clone();
    let id = guard.id;
    if session.text(hello).await.is_err() {
        return;
    }
    let end = 'conn: loop {
        let cmds = tokio::select! {
            cmd = rx.recv() => vec![cmd.unwrap_or(Cmd::Abort)],
            msg = stream.recv() => match msg {
                Some(Ok(Message::Text(text))) => state.lock().on_frame(id, &text),
                Some(Ok(Message::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        break 'conn End::Gone;
                    }
                    Vec::new()
                }
                Some(Ok(Message::Close(reason))) => break 'conn End::ClientClosed(reason),
                Some(Ok(_)) => Vec::new(),
                Some(Err(_)) | None => break 'conn End::Gone,
            },
        };
        for cmd in cmds {
            match cmd {
                Cmd::Text(text) => {
                    if session.text(text).await.is_err() {
                        break 'conn End::Gone;
                    }
                }
                Cmd::Close(code) => break 'conn End::Close(code),
                Cmd::Abort => break 'conn End::Abort,
            }
        }
    };
    match end {
        End::Abort => {
            let _ = abort.send(());
        }
        End::Close(code) => {
            let reason = CloseReason { code: code.into(), description: Some(close_reason(code).into()) };
            let _ = session.close(Some(reason)).await;
        }
        End::ClientClosed(reason) => {
            let _ = session.close(reason).await;
        }
        End::Gone => {}
    }
    drop(guard);
}

fn error(status: u16, message: &str, code: u32) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("status");
    HttpResponse::build(status).json(json!({"message": message, "code": code}))
}

fn not_found() -> HttpResponse {
    error(404, "404: Not Found", 0)
}

/// Percent-decodes a path segment (UTF-8; invalid sequences are replaced).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
}

async fn handle(req: HttpRequest, body: web::Payload, data: web::Data<Mutex<State>>) -> HttpResponse {
    let state = data.into_inner();
    let line = format!("{} {}", req.method(), req.uri().path_and_query().map_or(req.path(), |p| p.as_str()));
    let (down, token) = {
        let mut s = state.lock();
        s.requests.push(line);
        (s.down, s.token.clone())
    };
    if down {
        return error(503, "503: Service Unavailable", 0);
    }
    let path = req.path().to_string();
    if path.trim_end_matches('/') == "/gateway" {
        return upgrade(&req, body, state);
    }
    let Some(rest) = path.strip_prefix("/api/v10/") else { return not_found() };
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(format!("Bot {token}").as_str()) {
        return error(401, "401: Unauthorized", 0);
    }
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (req.method().as_str(), segs.as_slice()) {
        ("GET", ["gateway", "bot"]) => HttpResponse::Ok().json(json!({
            "url": state.lock().gateway_url(),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => {
            HttpResponse::Ok().json(json!({"id": BOT_ID, "username": "openclaw", "discriminator": "0", "bot": true}))
        }
        ("GET", ["channels", cid]) => {
            let s = state.lock();
            match s.channel_guild.get(*cid) {
                Some(None) => HttpResponse::Ok().json(json!({"id": cid, "type": 1})),
                Some(Some(g)) => HttpResponse::Ok().json(json!({"id": cid, "type": 0, "guild_id": g})),
                None => HttpResponse::Ok().json(json!({"id": cid, "type": 0, "guild_id": null})),
            }
        }
        ("GET", ["channels", cid, "messages"]) => list_messages(&state, cid, req.query_string()),
        ("POST", ["channels", cid, "messages"]) => {
            let cid = cid.to_string();
            post_message(&state, cid, body).await
        }
        ("POST", ["channels", cid, "typing"]) => {
            state.lock().typing.push(cid.to_string());
            HttpResponse::NoContent().finish()
        }
        (method @ ("PUT" | "DELETE"), ["channels", cid, "messages", mid, "reactions", emoji, me])
            if percent_decode(me) == "@me" =>
        {
            let (channel_id, message_id, emoji) = (cid.to_string(), mid.to_string(), percent_decode(emoji));
            let r = if method == "PUT" {
                Reaction::Added { channel_id, message_id, emoji }
            } else {
                Reaction::Removed { channel_id, message_id, emoji }
            };
            state.lock().reactions.push(r);
            HttpResponse::NoContent().finish()
        }
        _ => not_found(),
    }
}

fn list_messages(state: &Mutex<State>, cid: &str, query: &str) -> HttpResponse {
    let limit = query_param(query, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(50).clamp(1, 100);
    let after = query_param(query, "after").and_then(|a| a.parse::<u64>().ok());
    let before = query_param(query, "before").and_then(|a| a.parse::<u64>().ok());
    let s = state.lock();
    let mut msgs: Vec<&StoredMessage> = s.messages.iter().filter(|m| m.channel_id == cid).collect();
    if let Some(after) = after {
        // Discord: the `limit` messages right after `after`, newest first.
        msgs.retain(|m| m.id > after);
        msgs.truncate(limit);
    } else {
        if let Some(before) = before {
            msgs.retain(|m| m.id < before);
        }
        msgs.drain(..msgs.len().saturating_sub(limit));
    }
    let out: Vec<Value> = msgs.iter().rev().map(|m| m.value.clone()).collect();
    HttpResponse::Ok().json(out)
}

async fn post_message(state: &Mutex<State>, cid: String, body: web::Payload) -> HttpResponse {
    {
        let mut s = state.lock();
        if s.rate_limits > 0 {
            s.rate_limits -= 1;
            let secs = s.retry_after;
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", (secs.ceil().max(0.0) as u64).to_string()))
                .insert_header(("X-RateLimit-Scope", "user"))
                .json(json!({"message": "You are being rate limited.", "retry_after": secs, "global": false}));
        }
    }
    let Ok(bytes) = body.to_bytes().await else { return error(400, "Invalid Form Body", 50035) };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return error(400, "The request body contains invalid JSON.", 50109);
    };
    let content = v["content"].as_str().unwrap_or_default().to_string();
    if content.chars().count() > 2000 {
        return error(400, "Invalid Form Body", 50035);
    }
    if content.is_empty() {
        return error(400, "Cannot send an empty message", 50006);
    }
    let reply_to = v["message_reference"]["message_id"].as_str().map(str::to_string);
    let mut s = state.lock();
    let id = s.next_id();
    let guild = s.channel_guild.get(&cid).cloned().flatten();
    let value = message_json(id, &cid, guild.as_deref(), BOT_ID, true, &content, &[], reply_to.as_deref());
    s.store(id, &cid, guild.as_deref(), &value);
    s.posted.push(Posted { channel_id: cid, id: id.to_string(), content, reply_to, at: Instant::now() });
    HttpResponse::Ok().json(value)
}

fn upgrade(req: &HttpRequest, body: web::Payload, state: Arc<Mutex<State>>) -> HttpResponse {
    let (res, session, stream) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(e) => return HttpResponse::from_error(e),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (abort_tx, abort_rx) = oneshot::channel();
    let (id, hello) = {
        let mut s = state.lock();
        s.connections += 1;
        let id = s.next_conn;
        s.next_conn += 1;
        s.conns.insert(id, Conn { tx, session: None, invalidated: false });
        let hello = json!({"op": 10, "d": {"heartbeat_interval": s.heartbeat_ms}, "s": null, "t": null});
        (id, hello.to_string())
    };
    let guard = ConnGuard { state, id };
    actix_web::rt::spawn(run_conn(guard, session, stream, rx, abort_tx, hello));
    res.map_body(|_, inner| BoxBody::new(Abortable { inner, abort: Some(abort_rx) }))
}

/// The fake Discord server; stopped when dropped.
pub struct FakeDiscord {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
    stopped: std::sync::mpsc::Receiver<()>,
}

impl FakeDiscord {
    /// Starts the fake on 127.0.0.1:0; `valid_token` is the bot token (without `Bot `).
    pub fn start(valid_token: &str) -> Self {
        let state = Arc::new(Mutex::new(State::new(valid_token)));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("fake-discord".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let data = web::Data::from(shared.clone());
                    let server =
                        HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handle)))
                            .workers(1)
                            .disable_signals()
                            .shutdown_timeout(0)
                            .bind(("127.0.0.1", 0));
                    let server = match server {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let addr = server.addrs()[0];
                    shared.lock().addr = addr;
                    let server = server.run();
                    let _ = ready_tx.send(Ok((addr, server.handle())));
                    let _ = server.await;
                });
                let _ = stopped_tx.send(());
            })
            .expect("spawn the fake Discord thread");
        let (addr, server) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the fake Discord to start")
            .expect("the fake Discord to bind 127.0.0.1:0");
        Self { addr, state, server, stopped }
    }

    /// `http://127.0.0.1:P/api/v10`
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    /// `ws://127.0.0.1:P/gateway`
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    /// Changes which token is valid (REST, IDENTIFY and RESUME).
    pub fn set_token(&self, t: &str) {
        self.state.lock().token = t.into();
    }

    /// The heartbeat interval of HELLO on later connections (default 1000 ms).
    pub fn set_heartbeat_interval(&self, ms: u64) {
        self.state.lock().heartbeat_ms = ms;
    }

    /// Creates a user message: appended to its channel's history, dispatched as MESSAGE_CREATE
    /// to the live session (or buffered in the current session for RESUME when no connection is
    /// live). Returns its id.
    pub fn send(&self, m: MessageSpec) -> String {
        let mut s = self.state.lock();
        let id = s.next_id();
        let value = message_json(
            id,
            &m.channel_id,
            m.guild_id.as_deref(),
            &m.author_id,
            m.author_bot,
            &m.content,
            &m.mentions,
            m.reply_to.as_deref(),
        );
        s.store(id, &m.channel_id, m.guild_id.as_deref(), &value);
        s.dispatch("MESSAGE_CREATE", value);
        id.to_string()
    }

    /// Messages the bot created via REST, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.state.lock().posted.clone()
    }

    /// Waits until the bot has posted at least `n` messages; returns all of them.
    pub fn wait_posted(&self, n: usize, timeout: Duration) -> Vec<Posted> {
        self.wait(
            timeout,
            |s| (s.posted.len() >= n).then(|| s.posted.clone()),
            |s| {
                let posted: Vec<_> = s.posted.iter().map(|p| (&p.channel_id, &p.content)).collect();
                format!("{n} posted messages; posted so far: {posted:?}; requests: {:?}", s.requests)
            },
        )
    }

    /// Channel ids of `POST /channels/{id}/typing`, in order.
    pub fn typing(&self) -> Vec<String> {
        self.state.lock().typing.clone()
    }

    pub fn reactions(&self) -> Vec<Reaction> {
        self.state.lock().reactions.clone()
    }

    /// IDENTIFY frames received, valid or not.
    pub fn identifies(&self) -> usize {
        self.state.lock().identifies
    }

    /// The `d` of the last IDENTIFY.
    pub fn last_identify(&self) -> Option<Value> {
        self.state.lock().last_identify.clone()
    }

    /// (session_id, seq) of every RESUME received.
    pub fn resumes(&self) -> Vec<(String, u64)> {
        self.state.lock().resumes.clone()
    }

    /// WebSocket connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().connections
    }

    /// WebSocket connections open now.
    pub fn live(&self) -> usize {
        self.state.lock().conns.len()
    }

    /// Op 1 heartbeats received.
    pub fn heartbeats(&self) -> usize {
        self.state.lock().heartbeats
    }

    /// Waits until `n` sessions in total have become ready (READY or RESUMED sent).
    pub fn wait_ready_sessions(&self, n: usize, timeout: Duration) {
        self.wait(
            timeout,
            |s| (s.ready_sessions >= n).then_some(()),
            |s| {
                format!(
                    "{n} ready sessions; ready so far: {}, connections: {}, open: {}, identifies: {}, resumes: {:?}",
                    s.ready_sessions,
                    s.connections,
                    s.conns.len(),
                    s.identifies,
                    s.resumes
                )
            },
        )
    }

    /// Closes the live socket with `code`; 1006 drops the TCP connection without a close frame.
    /// With no identified connection, acts on the newest open one; with none, does nothing.
    pub fn close_live(&self, code: u16) {
        let mut s = self.state.lock();
        let Some(id) = s.target() else { return };
        if s.live_conn == Some(id) {
            s.live_conn = None;
        }
        let _ = s.conns[&id].tx.send(if code == 1006 { Cmd::Abort } else { Cmd::Close(code) });
    }

    /// Sends op 9 `{d: resumable}` on the live socket; with false, the session is also forgotten
    /// (a later RESUME of it gets op 9 d:false) and no longer receives dispatches.
    pub fn invalid_session(&self, resumable: bool) {
        let mut s = self.state.lock();
        let target = s.target();
        let mut sid = s.current_session.clone();
        if let Some(id) = target
            && let Some(c) = s.conns.get_mut(&id)
        {
            c.invalidated = true;
            sid = c.session.clone().or(sid);
            let _ = c.tx.send(Cmd::Text(json!({"op": 9, "d": resumable}).to_string()));
        }
        if !resumable {
            if let Some(session) = sid.and_then(|sid| s.sessions.get_mut(&sid)) {
                session.forgotten = true;
            }
            if s.live_conn == target {
                s.live_conn = None;
            }
        }
    }

    /// Sends op 7 RECONNECT on the live socket.
    pub fn reconnect_request(&self) {
        let s = self.state.lock();
        if let Some(id) = s.target() {
            let _ = s.conns[&id].tx.send(Cmd::Text(r#"{"op":7,"d":null}"#.into()));
        }
    }

    /// While on, op 1 heartbeats are not answered with op 11.
    pub fn withhold_acks(&self, on: bool) {
        self.state.lock().withhold_acks = on;
    }

    /// The next `n` RESUMEs are answered by dropping the TCP connection (no RESUMED).
    pub fn fail_resumes(&self, n: usize) {
        self.state.lock().fail_resumes = n;
    }

    /// Every existing session becomes unknown to RESUME (op 9 d:false). A still-open live
    /// connection keeps receiving dispatches.
    pub fn forget_sessions(&self) {
        for session in self.state.lock().sessions.values_mut() {
            session.forgotten = true;
        }
    }

    /// The next `n` `POST /channels/{id}/messages` get 429 with this `retry_after`.
    pub fn rate_limit_next_posts(&self, n: usize, retry_after_secs: f64) {
        let mut s = self.state.lock();
        s.rate_limits = n;
        s.retry_after = retry_after_secs;
    }

    /// While down: open sockets are aborted, upgrades and REST calls get 503.
    pub fn set_down(&self, down: bool) {
        let mut s = self.state.lock();
        s.down = down;
        if down {
            s.live_conn = None;
            for c in s.conns.values() {
                let _ = c.tx.send(Cmd::Abort);
            }
        }
    }

    /// "METHOD /path?query" of every HTTP request (REST and gateway upgrades), in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().requests.clone()
    }

    fn wait<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
        describe: impl Fn(&State) -> String,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(&self.state.lock()) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("fake Discord: timed out after {timeout:?} waiting for {}", describe(&self.state.lock()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for c in self.state.lock().conns.values() {
            let _ = c.tx.send(Cmd::Abort);
        }
        // Stopping is eager: the returned future only reports completion.
        std::mem::drop(self.server.stop(false));
        let _ = self.stopped.recv_timeout(Duration::from_secs(5));
    }
}
