//! A fake Slack for the channel tests: the Web API (`POST /api/<method>`) and Socket Mode (a
//! WebSocket at `/link/`), as an actix-web server on 127.0.0.1:0 (loopback only) in a thread of
//! its own with its own actix system and one worker.
//!
//! The test thread drives it through [`FakeSlack`]: it pushes events (events_api envelopes) to
//! the newest open Socket Mode connection (queued for the next connection when none is open or
//! the newest is deaf), and reads back what the client did: acks, pings, posted messages,
//! reactions, the Web API methods called. Each connection's task selects on its socket and on an
//! unbounded channel of commands, so frames can be pushed from the (sync) test thread.
//!
//! Web API: every method needs `Authorization: Bearer <token>` (the app token for
//! `apps.connections.open`, the bot token for the rest; otherwise `invalid_auth`), arguments as
//! JSON, as a form, or in the query string.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The bot's user id (`auth.test`'s `user_id`).
pub const BOT_USER: &str = "UBOT";

/// How long a connection told to `disconnect` stays open if the client does not close it.
const DISCONNECT_GRACE: Duration = Duration::from_secs(10);

/// A message event to deliver.
#[derive(Clone, Debug)]
pub struct EventSpec {
    pub channel: String,
    /// "im" | "channel" | "group" | "mpim"
    pub channel_type: String,
    pub user: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub bot_id: Option<String>,
}

impl EventSpec {
    /// A direct message (`channel_type: "im"`).
    pub fn dm(channel: &str, user: &str, text: &str) -> Self {
        Self::new(channel, "im", user, text)
    }

    /// A message in a public channel (`channel_type: "channel"`).
    pub fn channel(channel: &str, user: &str, text: &str) -> Self {
        Self::new(channel, "channel", user, text)
    }

    fn new(channel: &str, channel_type: &str, user: &str, text: &str) -> Self {
        Self {
            channel: channel.into(),
            channel_type: channel_type.into(),
            user: user.into(),
            text: text.into(),
            thread_ts: None,
            bot_id: None,
        }
    }
}

/// A `chat.postMessage` the fake accepted.
#[derive(Clone, Debug)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub at: Instant,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reaction {
    Added { channel: String, ts: String, name: String },
    Removed { channel: String, ts: String, name: String },
}

/// An envelope written to a connection, and when the client acked it.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub envelope_id: String,
    pub event_id: String,
    /// The connection's index in accept order (0-based).
    pub conn: usize,
    pub sent_at: Instant,
    pub acked_at: Option<Instant>,
}

/// What the test thread asks of a connection's task.
enum Cmd {
    Text(String),
    /// Send this text, then close the socket if the client has not after [`DISCONNECT_GRACE`].
    Disconnect(String),
    /// Drop the socket without a close frame.
    Abort,
}

struct Conn {
    /// Some while open.
    tx: Option<UnboundedSender<Cmd>>,
    deaf: bool,
}

/// An envelope waiting for a connection.
struct Queued {
    envelope_id: String,
    event_id: String,
    text: String,
}

struct State {
    addr: SocketAddr,
    bot_token: String,
    app_token: String,
    down: bool,
    next_ts: u64,
    next_event: u64,
    next_ticket: u64,
    conns: Vec<Conn>,
    max_open: usize,
    queue: VecDeque<Queued>,
    /// Each event's payload (the envelope's `payload`), by event id, for redelivery.
    events: HashMap<String, Value>,
    delivered: Vec<Delivered>,
    acks: Vec<String>,
    posted: Vec<Posted>,
    reactions: Vec<Reaction>,
    pings: usize,
    rate_limit: (usize, u64),
    requests: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

/// Locks the state, whatever a panicking holder left behind.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn open(&self) -> usize {
        self.conns.iter().filter(|c| c.tx.is_some()).count()
    }

    fn newest_open(&self) -> Option<usize> {
        self.conns.iter().rposition(|c| c.tx.is_some())
    }

    fn new_ts(&mut self) -> String {
        self.next_ts += 1;
        format!("1700000000.{:06}", self.next_ts)
    }

    /// A new event's id, message ts and envelope payload, remembered for redelivery.
    fn new_event(&mut self, e: EventSpec) -> (String, String, Value) {
        self.next_event += 1;
        let event_id = format!("Ev{:010}", self.next_event);
        let ts = self.new_ts();
        let mut event = json!({"type": "message", "channel": e.channel, "channel_type": e.channel_type,
                               "user": e.user, "text": e.text, "ts": ts, "event_ts": ts});
        if let Some(t) = e.thread_ts {
            event["thread_ts"] = json!(t);
        }
        if let Some(b) = e.bot_id {
            event["bot_id"] = json!(b);
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let payload = json!({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                             "event_id": event_id, "event_time": now.as_secs(), "event": event});
        self.events.insert(event_id.clone(), payload.clone());
        (event_id, ts, payload)
    }

    fn envelope(event_id: &str, payload: &Value, attempt: u32, reason: &str) -> Queued {
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let text = json!({"envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": false,
                          "retry_attempt": attempt, "retry_reason": reason, "payload": payload})
        .to_string();
        Queued { envelope_id, event_id: event_id.to_string(), text }
    }

    /// Writes `q` to connection `conn` (open) and records it as delivered.
    fn write(&mut self, conn: usize, q: Queued) {
        if let Some(tx) = &self.conns[conn].tx {
            let _ = tx.send(Cmd::Text(q.text));
        }
        self.delivered.push(Delivered {
            envelope_id: q.envelope_id,
            event_id: q.event_id,
            conn,
            sent_at: Instant::now(),
            acked_at: None,
        });
    }

    /// Writes `q` to the newest open connection, or queues it when there is none or it is deaf.
    fn deliver(&mut self, q: Queued) {
        match self.newest_open() {
            Some(i) if !self.conns[i].deaf => self.write(i, q),
            _ => self.queue.push_back(q),
        }
    }

    /// Writes the queue to the newest open connection, unless there is none or it is deaf.
    fn flush(&mut self) {
        if let Some(i) = self.newest_open().filter(|&i| !self.conns[i].deaf) {
            while let Some(q) = self.queue.pop_front() {
                self.write(i, q);
            }
        }
    }

    fn ack(&mut self, envelope_id: &str) {
        self.acks.push(envelope_id.to_string());
        let now = Instant::now();
        for d in self.delivered.iter_mut().filter(|d| d.envelope_id == envelope_id && d.acked_at.is_none()) {
            d.acked_at = Some(now);
        }
    }
}

/// The fake Slack; dropping it stops its server.
pub struct FakeSlack {
    pub addr: SocketAddr,
    state: Shared,
    /// Dropped with the fake: its server stops.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeSlack {
    /// Starts a fake accepting these tokens (`xoxb-…` for the Web API, `xapp-…` for
    /// `apps.connections.open`).
    pub fn start(bot_token: &str, app_token: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            bot_token: bot_token.into(),
            app_token: app_token.into(),
            down: false,
            next_ts: 0,
            next_event: 0,
            next_ticket: 0,
            conns: Vec::new(),
            max_open: 0,
            queue: VecDeque::new(),
            events: HashMap::new(),
            delivered: Vec::new(),
            acks: Vec::new(),
            posted: Vec::new(),
            reactions: Vec::new(),
            pings: 0,
            rate_limit: (0, 0),
            requests: Vec::new(),
        }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("fake-slack".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let data = web::Data::from(shared);
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(4 << 20))
                            .service(
                                web::resource("/api/{method}").route(web::post().to(api)).route(web::get().to(api)),
                            )
                            .service(web::resource("/link/").route(web::get().to(link)))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(("127.0.0.1", 0));
                    let server = match server {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = addr_tx.send(Ok(server.addrs()[0]));
                    let server = server.run();
                    let handle = server.handle();
                    actix_rt::spawn(async move {
                        let _ = stop_rx.await;
                        handle.stop(false).await;
                    });
                    let _ = server.await;
                })
            })
            .expect("spawn the fake slack thread");
        let addr = match addr_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => panic!("fake slack: bind 127.0.0.1:0: {e}"),
            Err(e) => panic!("fake slack did not start: {e}"),
        };
        lock(&state).addr = addr;
        Self { addr, state, _stop: stop_tx }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// `http://127.0.0.1:P/api`
    pub fn api_base(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn set_bot_token(&self, t: &str) {
        self.st().bot_token = t.into();
    }

    pub fn set_app_token(&self, t: &str) {
        self.st().app_token = t.into();
    }

    /// Delivers a new event on the newest open connection (queued for the next connection,
    /// written right after its hello, when none is open or the newest is deaf); returns its
    /// event id and message ts.
    pub fn send(&self, e: EventSpec) -> (String, String) {
        let mut st = self.st();
        let (event_id, ts, payload) = st.new_event(e);
        let q = State::envelope(&event_id, &payload, 0, "");
        st.deliver(q);
        (event_id, ts)
    }

    /// Delivers event `event_id` again, in a new envelope with `retry_attempt: attempt` and
    /// `retry_reason: "timeout"`, as [`FakeSlack::send`] does.
    pub fn redeliver(&self, event_id: &str, attempt: u32) {
        let mut st = self.st();
        let Some(payload) = st.events.get(event_id).cloned() else {
            drop(st);
            panic!("fake slack: redeliver of an event it never sent: {event_id}");
        };
        let q = State::envelope(event_id, &payload, attempt, "timeout");
        st.deliver(q);
    }

    /// Delivers a new event on connection `conn` (accept order, 0-based), deaf or not; panics if
    /// that connection is not open.
    pub fn send_on(&self, conn: usize, e: EventSpec) -> (String, String) {
        let mut st = self.st();
        if st.conns.get(conn).is_none_or(|c| c.tx.is_none()) {
            let open: Vec<usize> = (0..st.conns.len()).filter(|&i| st.conns[i].tx.is_some()).collect();
            drop(st);
            panic!("fake slack: send_on({conn}): that connection is not open (open: {open:?})");
        }
        let (event_id, ts, payload) = st.new_event(e);
        let q = State::envelope(&event_id, &payload, 0, "");
        st.write(conn, q);
        (event_id, ts)
    }

    /// Sends a `disconnect` message on the newest open connection; it stays open until the
    /// client closes it (or 10 s). Panics if no connection is open.
    pub fn disconnect(&self, reason: &str) {
        let st = self.st();
        let Some(i) = st.newest_open() else {
            drop(st);
            panic!("fake slack: disconnect({reason:?}) with no connection open");
        };
        let text = json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}).to_string();
        if let Some(tx) = &st.conns[i].tx {
            let _ = tx.send(Cmd::Disconnect(text));
        }
    }

    /// On: the newest open connection stays open but gets no more events (they queue for the
    /// next connection) and no pongs. Off: every connection hears again, and the queue goes to
    /// the newest open connection. Panics when turning on with no connection open.
    pub fn go_deaf(&self, on: bool) {
        let mut st = self.st();
        if on {
            let Some(i) = st.newest_open() else {
                drop(st);
                panic!("fake slack: go_deaf(true) with no connection open");
            };
            st.conns[i].deaf = true;
        } else {
            for c in &mut st.conns {
                c.deaf = false;
            }
            st.flush();
        }
    }

    /// Sockets accepted so far.
    pub fn connections(&self) -> usize {
        self.st().conns.len()
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        self.st().open()
    }

    /// The most sockets open at once, ever.
    pub fn max_open(&self) -> usize {
        self.st().max_open
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.st().delivered.clone()
    }

    /// Envelope ids the client acknowledged, in order.
    pub fn acks(&self) -> Vec<String> {
        self.st().acks.clone()
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.st().posted.clone()
    }

    /// Waits until at least `n` messages were posted; returns all posted so far. Panics with
    /// what was posted and called on timeout.
    pub fn wait_posted(&self, n: usize, timeout: Duration) -> Vec<Posted> {
        let deadline = Instant::now() + timeout;
        loop {
            let posted = self.posted();
            if posted.len() >= n {
                return posted;
            }
            if Instant::now() > deadline {
                let st = self.st();
                let texts: Vec<(&str, &str)> =
                    st.posted.iter().map(|p| (p.channel.as_str(), p.text.as_str())).collect();
                let msg = format!(
                    "fake slack: timed out after {timeout:?} waiting for {n} posted messages; posted {}: {texts:?}; \
                     requests: {:?}; connections {} (open {}), delivered {}, acks {}",
                    st.posted.len(),
                    st.requests,
                    st.conns.len(),
                    st.open(),
                    st.delivered.len(),
                    st.acks.len()
                );
                drop(st);
                panic!("{msg}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn reactions(&self) -> Vec<Reaction> {
        self.st().reactions.clone()
    }

    /// WebSocket ping frames received (on any connection).
    pub fn pings(&self) -> usize {
        self.st().pings
    }

    /// The next `n` `chat.postMessage` calls get HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next_posts(&self, n: usize, retry_after_secs: u64) {
        self.st().rate_limit = (n, retry_after_secs);
    }

    /// Down: open sockets are aborted (no close frame), `apps.connections.open` answers 503 and
    /// `/link/` refuses upgrades with 503. Up: both work again.
    pub fn set_down(&self, down: bool) {
        let mut st = self.st();
        st.down = down;
        if down {
            for c in &mut st.conns {
                if let Some(tx) = c.tx.take() {
                    let _ = tx.send(Cmd::Abort);
                }
            }
        }
    }

    /// Web API method names called (every request, whatever its answer), in order.
    pub fn requests(&self) -> Vec<String> {
        self.st().requests.clone()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        // Abort the sockets; dropping `_stop` then stops the server.
        for c in &mut self.st().conns {
            if let Some(tx) = c.tx.take() {
                let _ = tx.send(Cmd::Abort);
            }
        }
    }
}

fn ok(v: Value) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

fn fail(error: &str) -> HttpResponse {
    ok(json!({"ok": false, "error": error}))
}

/// The request's arguments: query string, then the body (JSON or a form) over it.
fn args(req: &HttpRequest, body: &[u8]) -> Result<serde_json::Map<String, Value>, &'static str> {
    let mut args: serde_json::Map<String, Value> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(args);
    }
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => args.extend(m),
            _ => return Err("invalid_json"),
        }
    } else {
        args.extend(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))));
    }
    Ok(args)
}

fn arg(args: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match args.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

async fn api(
    req: HttpRequest,
    method: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let method = method.into_inner();
    let mut st = lock(&state);
    st.requests.push(method.clone());
    const BOT_METHODS: [&str; 6] =
        ["auth.test", "chat.postMessage", "reactions.add", "reactions.remove", "conversations.info", "users.info"];
    if method != "apps.connections.open" && !BOT_METHODS.contains(&method.as_str()) {
        return fail("unknown_method");
    }
    if method == "apps.connections.open" && st.down {
        return HttpResponse::ServiceUnavailable().json(json!({"ok": false, "error": "service_unavailable"}));
    }
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let want = if method == "apps.connections.open" { &st.app_token } else { &st.bot_token };
    if token.is_empty() || token != want {
        return fail("invalid_auth");
    }
    let args = match args(&req, &body) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    match method.as_str() {
        "apps.connections.open" => {
            st.next_ticket += 1;
            ok(json!({"ok": true, "url": format!("ws://{}/link/?ticket={}", st.addr, st.next_ticket)}))
        }
        "auth.test" => ok(json!({"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "openclaw",
                                 "team_id": "T1", "user_id": BOT_USER, "bot_id": "BBOT"})),
        "chat.postMessage" => {
            if st.rate_limit.0 > 0 {
                st.rate_limit.0 -= 1;
                return HttpResponse::TooManyRequests()
                    .insert_header(("Retry-After", st.rate_limit.1.to_string()))
                    .json(json!({"ok": false, "error": "ratelimited"}));
            }
            let Some(channel) = arg(&args, "channel") else { return fail("channel_not_found") };
            let Some(text) = arg(&args, "text").filter(|t| !t.is_empty()) else { return fail("no_text") };
            if text.chars().count() > 40_000 {
                return fail("msg_too_long");
            }
            let ts = st.new_ts();
            let thread_ts = arg(&args, "thread_ts").filter(|t| !t.is_empty());
            st.posted.push(Posted {
                channel: channel.clone(),
                ts: ts.clone(),
                text: text.clone(),
                thread_ts,
                at: Instant::now(),
            });
            ok(json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}))
        }
        "reactions.add" | "reactions.remove" => {
            let (Some(channel), Some(ts), Some(name)) =
                (arg(&args, "channel"), arg(&args, "timestamp"), arg(&args, "name"))
            else {
                return fail("invalid_arguments");
            };
            st.reactions.push(if method == "reactions.add" {
                Reaction::Added { channel, ts, name }
            } else {
                Reaction::Removed { channel, ts, name }
            });
            ok(json!({"ok": true}))
        }
        "conversations.info" => {
            let Some(id) = arg(&args, "channel") else { return fail("channel_not_found") };
            ok(json!({"ok": true, "channel": {"id": id, "is_im": id.starts_with('D'), "is_mpim": id.starts_with('G'),
                                              "is_channel": id.starts_with('C')}}))
        }
        "users.info" => {
            let Some(id) = arg(&args, "user") else { return fail("user_not_found") };
            ok(json!({"ok": true, "user": {"id": id, "name": format!("user-{id}"), "is_bot": false}}))
        }
        _ => fail("unknown_method"),
    }
}

/// `GET /link/`: the Socket Mode WebSocket.
async fn link(req: HttpRequest, body: web::Payload, state: web::Data<Mutex<State>>) -> actix_web::Result<HttpResponse> {
    if lock(&state).down {
        return Ok(HttpResponse::ServiceUnavailable().json(json!({"ok": false, "error": "service_unavailable"})));
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(4 << 20).aggregate_continuations().max_continuation_size(4 << 20);
    let (tx, rx) = unbounded_channel();
    let conn = {
        let mut st = lock(&state);
        st.conns.push(Conn { tx: Some(tx.clone()), deaf: false });
        let open = st.open();
        st.max_open = st.max_open.max(open);
        let hello = json!({"type": "hello", "num_connections": open,
                           "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                           "connection_info": {"app_id": "A1"}});
        let _ = tx.send(Cmd::Text(hello.to_string()));
        st.flush();
        st.conns.len() - 1
    };
    actix_web::rt::spawn(connection(state.into_inner(), conn, session, stream, rx));
    Ok(response)
}

/// One Socket Mode connection: commands from the test thread out, acks and pings in.
async fn connection(
    state: Arc<Mutex<State>>,
    conn: usize,
    mut session: Session,
    mut stream: AggregatedMessageStream,
    mut rx: UnboundedReceiver<Cmd>,
) {
    let mut close_at: Option<tokio::time::Instant> = None;
    let closing = loop {
        let grace = async {
            match close_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Text(t)) => {
                    if session.text(t).await.is_err() {
                        break None;
                    }
                }
                Some(Cmd::Disconnect(t)) => {
                    if session.text(t).await.is_err() {
                        break None;
                    }
                    close_at = Some(tokio::time::Instant::now() + DISCONNECT_GRACE);
                }
                // Aborted, or the fake is gone.
                Some(Cmd::Abort) | None => break None,
            },
            msg = stream.recv() => match msg {
                Some(Ok(AggregatedMessage::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&t)
                        && let Some(id) = v["envelope_id"].as_str()
                    {
                        lock(&state).ack(id);
                    }
                }
                Some(Ok(AggregatedMessage::Ping(p))) => {
                    let deaf = {
                        let mut st = lock(&state);
                        st.pings += 1;
                        st.conns[conn].deaf
                    };
                    if !deaf && session.pong(&p).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(AggregatedMessage::Close(reason))) => break Some((session, reason)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break None,
            },
            _ = grace => break Some((session, None)),
        }
    };
    lock(&state).conns[conn].tx = None;
    if let Some((session, reason)) = closing {
        let _ = session.close(reason).await;
    }
}
