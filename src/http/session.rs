//! SessionActor, the WebSocket edge: one per connection (temporary: never restarted). Sends the
//! challenge, runs the handshake (through the AuthActor), then serves requests, pushes events
//! with a per-connection `seq`, keeps the connection alive with ping/pong and `tick`, and
//! enforces the frame-size and slow-consumer rules.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason};
use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::VecDeque;

use tokio::sync::Notify;

use crate::actors::auth::{AuthActor, Authenticate};
use crate::actors::hub::{Push, SessionEntry};
use crate::auth::peer::{Peer, PeerInfo};
use crate::auth::policy::Grant;
use crate::http::inbound::{Gate, Gated, Inbound, Reader, Violation, Writer};
use crate::net::BoxIo;
use crate::net::conn::Admission;
use crate::protocol::connect::Role;
use crate::protocol::connect::{self, ConnectError, ConnectParams};
use crate::protocol::frames::{self, TextError, err_response, ok_response_with};
use crate::protocol::methods;
use crate::protocol::{
    ErrorShape, MAX_BUFFERED_BYTES, MAX_PAYLOAD, PROTOCOL_VERSION, TICK_INTERVAL_MS, close, close_reason,
};
use crate::rpc::Runtime;
use crate::rpc::{self, Caller};

/// Queued answers (while the socket takes nothing) at which the session stops reading its
/// peer, and at which it reads again.
const READ_PAUSE_BYTES: usize = 256 * 1024;
const READ_RESUME_BYTES: usize = 64 * 1024;
/// A peer that has not taken its answers for this long while reading is paused is cut (1008).
const SLOW_READER_GRACE: Duration = Duration::from_secs(10);

/// A peer pinging more often than this in one second is closed (1008): each ping costs a pong.
const MAX_PINGS_PER_SEC: u32 = 100;

/// Mailbox size: pushes beyond it are dropped (the client is a slow consumer anyway).
const MAILBOX: usize = 256;
/// After a close is queued, the session waits this long for the writer to deliver it;
/// a peer that reads nothing is then dropped without one.
const CLOSE_DEADLINE: Duration = Duration::from_secs(5);

enum Out {
    Text(String),
    /// The pong owed (`Outbox::pong` holds its payload).
    Pong,
    Ping,
    Close(CloseReason),
}

/// Outbound queue to the writer task, with the bytes not yet handed to the socket; shared
/// (one allocation) by the session and its writer.
#[derive(Default)]
struct Outbox {
    /// Frames for the writer, in order (a plain queue: nothing is allocated while idle).
    queue: RefCell<VecDeque<Out>>,
    wake: Notify,
    queued: Cell<usize>,
    /// Set for a slow consumer: the writer drops queued frames and sends the close next.
    discard: Cell<bool>,
    /// The writer is waiting on the socket (not merely not yet scheduled).
    blocked: Cell<bool>,
    /// The payload of the one pong owed: a peer's pings are answered by the latest only, so
    /// a ping flood queues nothing (RFC 6455 §5.5.3 allows it).
    pong: Cell<Option<Bytes>>,
    /// The writer has ended (the close was handed to the socket, or the peer is gone).
    done: Cell<bool>,
    /// Reading the peer: paused while it does not read (requests wait in TCP), shut at close.
    gate: Rc<Gate>,
    /// Told when the session ends with the writer blocked on a peer that reads nothing: the
    /// writer gives up its write, and the connection goes.
    cut: Notify,
}

impl Outbox {
    fn push(&self, out: Out) {
        self.queue.borrow_mut().push_back(out);
        self.wake.notify_one();
    }

    /// Over the limit while the socket is not taking data: a slow consumer. A burst answered
    /// within one poll is not: the writer simply has not run yet.
    fn overflowing(&self) -> bool {
        self.queued.get() > MAX_BUFFERED_BYTES && self.blocked.get()
    }

    /// Owes a pong with `payload`; queued once however many pings arrive before it is sent.
    fn pong(&self, payload: Bytes) {
        if self.pong.replace(Some(payload)).is_none() {
            self.push(Out::Pong);
        }
    }
}

/// Internal: the writer task has finished (close sent, or the peer is gone).
#[derive(Message)]
#[rtype(result = "()")]
struct WriterDone;

/// An answer that was awaited (a staged method's response, a run's outcome), sent through the
/// session's own mailbox: behind every event queued before the wait ended. A run pushes its
/// last events (`chat` final) and only then ends, but the session may poll the finished wait
/// before a mailbox it had found empty a moment earlier; answering straight away would put the
/// final response ahead of the `chat` final event.
#[derive(Message)]
#[rtype(result = "()")]
struct Answer(String);

enum Phase {
    Handshake,
    Authenticating,
    /// Only what requests need is kept after the handshake.
    Ready(Role, Arc<[String]>),
}

pub struct SessionActor {
    rt: Arc<Runtime>,
    conn_id: Arc<str>,
    nonce: String,
    /// Upgrade-request headers; taken at the handshake.
    tailscale_user: Option<String>,
    peer: Peer,
    out: Rc<Outbox>,
    phase: Phase,
    seq: u64,
    last_heard: Instant,
    closed: bool,
    registered: bool,
    /// Pings heard in the current one-second window (start, count).
    pings: (Instant, u32),
    /// The handshake deadline, cancelled once the client is in (its timer is not kept).
    handshake_deadline: Option<SpawnHandle>,
}

impl SessionActor {
    /// Starts a session on the current (HTTP worker) arbiter, on a connection the HTTP server
    /// has handed over (`early`: bytes that came after the upgrade request; `head`: bytes owed
    /// to the peer before the first frame). Returns the writer, to run for as long as the
    /// connection lives.
    pub fn start(
        rt: Arc<Runtime>,
        io: BoxIo,
        early: BytesMut,
        head: BytesMut,
        info: PeerInfo,
        admission: Option<Admission>,
    ) -> impl std::future::Future<Output = ()> {
        let trusted = rt.config().loaded.config.gateway.trusted_proxies.clone();
        let peer = crate::auth::peer::resolve(&info, &trusted);
        let (rd, wr) = tokio::io::split(io);
        let out = Rc::new(Outbox::default());
        let handles = out.clone();
        let addr = SessionActor::create(move |ctx| {
            ctx.set_mailbox_capacity(MAILBOX);
            ctx.add_stream(Gated::new(Reader::new(rd, early, MAX_PAYLOAD), out.gate.clone()));
            SessionActor {
                rt,
                conn_id: uuid::Uuid::new_v4().to_string().into(),
                nonce: uuid::Uuid::new_v4().to_string(),
                tailscale_user: info.tailscale_user,
                peer,
                out,
                phase: Phase::Handshake,
                seq: 0,
                last_heard: Instant::now(),
                closed: false,
                registered: false,
                pings: (Instant::now(), 0),
                handshake_deadline: None,
            }
        });
        writer(Writer::new(wr, head), handles, addr, admission)
    }

    /// Queues a text frame; past the buffer limit the client is cut (1008 slow consumer).
    fn send(&mut self, text: String, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        if self.out.overflowing() {
            self.slow_consumer(ctx);
            return;
        }
        self.out.queued.set(self.out.queued.get() + text.len());
        self.out.push(Out::Text(text));
        // A peer that sends requests but does not read the answers: stop reading it (its
        // requests wait in TCP, costing nothing here); still so after a grace, it is cut.
        if self.out.queued.get() > READ_PAUSE_BYTES && self.out.blocked.get() && !self.out.gate.paused() {
            self.out.gate.pause();
            ctx.run_later(SLOW_READER_GRACE, |act, ctx| {
                if act.out.gate.paused_for().is_some_and(|d| d >= SLOW_READER_GRACE) {
                    act.slow_consumer(ctx);
                }
            });
        }
    }

    /// Queues the close frame after what is already queued; the actor stops when the writer
    /// has sent it (or at the deadline), so the peer sees the reason.
    fn close(&mut self, code: u16, reason: &str, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.out.gate.shut();
        let reason = CloseReason { code: CloseCode::from(code), description: Some(close_reason(reason)) };
        self.out.push(Out::Close(reason));
        ctx.run_later(CLOSE_DEADLINE, |_, ctx| ctx.stop());
    }

    /// Too much is waiting for this client: drop it and close with 1008.
    fn slow_consumer(&mut self, ctx: &mut Context<Self>) {
        self.out.discard.set(true);
        self.close(close::POLICY, "slow consumer", ctx);
    }

    fn fail(&mut self, id: &str, error: ErrorShape, code: u16, ctx: &mut Context<Self>) {
        let reason = error.message.clone();
        self.send(err_response(id, &error), ctx);
        self.close(code, &reason, ctx);
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn handshake(&mut self, text: &str, ctx: &mut Context<Self>) {
        let req = match frames::request_text(text) {
            Ok(r) => r,
            Err(TextError::NotJson(_)) => return self.close(close::NORMAL, "invalid JSON before handshake", ctx),
            Err(TextError::Frame(e)) => {
                let id = e.id.unwrap_or_else(|| "invalid".into());
                return self.fail(&id, ErrorShape::invalid(e.message), close::POLICY, ctx);
            }
        };
        if req.method != "connect" {
            let e = ErrorShape::invalid("invalid handshake: first request must be connect");
            return self.fail(&req.id, e, close::POLICY, ctx);
        }
        let params = match connect::parse(&req.params) {
            Ok(p) => p,
            Err(ConnectError::Invalid(m)) => return self.fail(&req.id, ErrorShape::invalid(m), close::POLICY, ctx),
            Err(ConnectError::ProtocolMismatch) => {
                let e = ErrorShape::invalid("protocol mismatch")
                    .with_details(json!({"expectedProtocol": PROTOCOL_VERSION}));
                return self.fail(&req.id, e, close::PROTOCOL, ctx);
            }
            Err(ConnectError::InvalidRole) => {
                return self.fail(&req.id, ErrorShape::invalid("invalid role"), close::POLICY, ctx);
            }
        };
        // The Origin was checked at the upgrade (http::guard), for every client.
        let Some(auth) = self.rt.registry.get::<AuthActor>(crate::actors::auth::ID) else {
            let e = ErrorShape::unavailable("gateway auth is restarting; reconnect").retry_after(1000);
            return self.fail(&req.id, e, close::RESTART, ctx);
        };
        self.phase = Phase::Authenticating;
        let msg = Authenticate {
            params: params.clone(),
            peer: self.peer.clone(),
            nonce: std::mem::take(&mut self.nonce),
            tailscale_user: self.tailscale_user.take(),
        };
        let id = req.id;
        ctx.spawn(actix::fut::wrap_future(auth.send(msg)).map(move |res, act: &mut Self, ctx| match res {
            Ok(Ok(grant)) => act.ready(&id, grant, params, ctx),
            Ok(Err(e)) => {
                let denial = crate::rpc::wire::to_wire(&e);
                act.fail(&id, denial.error, denial.close, ctx)
            }
            Err(_) => {
                let e = ErrorShape::unavailable("gateway auth is restarting; reconnect").retry_after(1000);
                act.fail(&id, e, close::RESTART, ctx)
            }
        }));
    }

    fn ready(&mut self, id: &str, grant: Grant, params: ConnectParams, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        let s = &self.rt;
        let wants_presence = matches!(params.client.mode.as_str(), "ui" | "webchat" | "backend" | "node");
        // Only listed clients carry a presence entry (it is most of a session's hub memory).
        let presence = if wants_presence {
            json!({
                "host": params.client.display_name.clone().unwrap_or_else(|| params.client.id.clone()),
                "ip": self.peer.ip.map(|i| i.to_string()),
                "version": params.client.version, "platform": params.client.platform,
                "deviceFamily": params.client.device_family, "modelIdentifier": params.client.model_identifier,
                "mode": params.client.mode, "instanceId": params.client.instance_id,
                "deviceId": grant.device_id, "roles": [grant.role.as_str()], "scopes": grant.scopes,
                "reason": "connect", "ts": chrono::Utc::now().timestamp_millis(),
            })
        } else {
            Value::Null
        };
        s.sessions.register(
            &self.conn_id,
            SessionEntry {
                addr: ctx.address().recipient(),
                role: grant.role.as_str(),
                scopes: crate::protocol::scope::ScopeSet::of(&grant.scopes),
                device_id: grant.device_id.clone(),
                presence,
                wants_presence,
            },
        );
        self.registered = true;
        let hello = ok_response_with(id, 4096, |out| hello_ok(s, &self.conn_id, &grant, out));
        tracing::debug!(conn = %self.conn_id, client = %params.client.id, method = ?grant.method, "session connected");
        self.phase = Phase::Ready(grant.role, grant.scopes.into());
        if let Some(deadline) = self.handshake_deadline.take() {
            ctx.cancel_future(deadline);
        }
        self.send(hello, ctx);
    }

    fn request(&mut self, text: &str, ctx: &mut Context<Self>) {
        let req = match frames::request_text(text) {
            Ok(r) => r,
            Err(TextError::NotJson(e)) => {
                let e = ErrorShape::invalid(format!("invalid request frame: not JSON ({e})"));
                return self.send(err_response("invalid", &e), ctx);
            }
            Err(TextError::Frame(e)) => {
                let id = e.id.as_deref().unwrap_or("invalid");
                return self.send(err_response(id, &ErrorShape::invalid(e.message)), ctx);
            }
        };
        let Phase::Ready(role, scopes) = &self.phase else { return };
        if req.method == "connect" {
            return self.send(err_response(&req.id, &ErrorShape::invalid("invalid request: already connected")), ctx);
        }
        let caller = Caller { role: *role, scopes: scopes.clone(), conn: Some(self.conn_id.clone()) };
        let t0 = Instant::now();
        if let Some(done) = rpc::respond_now(&self.rt, &caller, &req.id, &req.method, &req.params) {
            self.rt.metrics.observe(&req.method, t0.elapsed(), done.as_ref().err().map(|e| e.code));
            return self.send(done.unwrap_or_else(|e| err_response(&req.id, &e)), ctx);
        }
        let rt = self.rt.clone();
        let id = req.id;
        let method = req.method.clone();
        let fut = async move { rpc::call_staged(rt, caller, &req.method, req.params).await };
        ctx.spawn(actix::fut::wrap_future(fut).map(move |(res, outcome), act: &mut Self, ctx| {
            act.rt.metrics.observe(&method, t0.elapsed(), res.error().map(|e| e.code));
            if rpc::starts_run(&method) {
                // Written now, not through the mailbox: the run this call started pushes its
                // first events there from its lane's thread, and the client must read the
                // answer (`accepted`, `started`) before them.
                act.send(res.frame(&id), ctx);
            } else {
                ctx.address().do_send(Answer(res.frame(&id)));
            }
            // Two-stage methods (`agent`): the outcome follows with the same id, through the
            // mailbox, after the run's events that are already in it.
            if let Some(outcome) = outcome {
                ctx.spawn(actix::fut::wrap_future(outcome).map(move |res: rpc::Reply, _: &mut Self, ctx| {
                    ctx.address().do_send(Answer(res.frame(&id)));
                }));
            }
        }));
    }
}

/// Writes the `hello-ok` payload's JSON text to `out`: the catalogue and the policy as written
/// once, the health document as kept (`health::write_document`), the rest written here. Built
/// as one tree and serialised, it was about an eighth of a connection's CPU.
fn hello_ok(s: &Runtime, conn_id: &str, grant: &Grant, out: &mut String) {
    use std::fmt::Write;
    let policy = crate::protocol::policy_json();
    let server = json!({"version": env!("CARGO_PKG_VERSION"), "host": crate::sys::hostname(), "connId": conn_id});
    let paths = &s.options.paths;
    // The snapshot's small members; the health document and the policy follow them.
    let snapshot = json!({
        "presence": s.sessions.presence(),
        "stateVersion": s.sessions.state_version(),
        "uptimeMs": s.started.elapsed().as_millis() as u64,
        "configPath": paths.config, "stateDir": paths.state_dir,
        "sessionDefaults": {"defaultAgentId": "main", "mainKey": "main", "mainSessionKey": "agent:main:main"},
    })
    .to_string();
    let features = methods::features_json();
    let _ = write!(
        out,
        r#"{{"type":"hello-ok","protocol":{PROTOCOL_VERSION},"features":{features},"policy":{policy},"server":{server}"#
    );
    if let Some((token, issued)) = &grant.device_token {
        let auth =
            json!({"deviceToken": token, "role": grant.role.as_str(), "scopes": grant.scopes, "issuedAtMs": issued});
        let _ = write!(out, r#","auth":{auth}"#);
    }
    // Upstream's Control UI reads the tick interval from the snapshot's policy, its CLI from the top.
    let small = snapshot.strip_suffix('}').unwrap_or(&snapshot);
    let _ = write!(out, r#","snapshot":{small},"policy":{policy},"health":"#);
    crate::rpc::health::write_document(s, out);
    out.push_str("}}");
}

impl Outbox {
    /// Runs one write (marked blocked while it waits on the socket) unless the session is cut
    /// first; whether it was written.
    async fn write(&self, io: impl std::future::Future<Output = std::io::Result<()>>) -> bool {
        use futures_util::future::{Either, select};
        self.blocked.set(true);
        let ok = match select(std::pin::pin!(io), std::pin::pin!(self.cut.notified())).await {
            Either::Left((r, _)) => r.is_ok(),
            Either::Right(_) => false,
        };
        self.blocked.set(false);
        ok
    }
}

/// Sends queued frames in order; the byte counter drops as the socket takes them. Holds the
/// connection's place in the count until it ends.
async fn writer(
    mut sink: Writer<tokio::io::WriteHalf<BoxIo>>,
    out: Rc<Outbox>,
    actor: Addr<SessionActor>,
    _admission: Option<Admission>,
) {
    loop {
        let next = out.queue.borrow_mut().pop_front();
        let Some(item) = next else {
            out.wake.notified().await;
            continue;
        };
        let ok = match item {
            Out::Text(t) if out.discard.get() => {
                out.queued.set(out.queued.get().saturating_sub(t.len()));
                true
            }
            Out::Text(t) => {
                let ok = out.write(sink.text(&t)).await;
                out.queued.set(out.queued.get().saturating_sub(t.len()));
                if out.queued.get() <= READ_RESUME_BYTES {
                    out.gate.resume();
                }
                ok
            }
            Out::Pong => match out.pong.take() {
                Some(b) => out.write(sink.pong(&b)).await,
                None => true,
            },
            Out::Ping => out.write(sink.ping()).await,
            Out::Close(reason) => {
                out.write(sink.close(reason)).await;
                break;
            }
        };
        if !ok {
            break;
        }
    }
    out.done.set(true);
    actor.do_send(WriterDone);
}

impl Handler<Answer> for SessionActor {
    type Result = ();

    fn handle(&mut self, answer: Answer, ctx: &mut Context<Self>) {
        self.send(answer.0, ctx);
    }
}

impl Handler<WriterDone> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: WriterDone, ctx: &mut Context<Self>) {
        self.closed = true;
        ctx.stop();
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let challenge = json!({"nonce": self.nonce, "ts": chrono::Utc::now().timestamp_millis()});
        self.send(frames::event("connect.challenge", challenge, None, None), ctx);
        let timeout = Duration::from_millis(self.rt.config().loaded.config.gateway.handshake_timeout_ms);
        self.handshake_deadline = Some(ctx.run_later(timeout, |act, ctx| {
            if !matches!(act.phase, Phase::Ready(..)) {
                act.close(close::NORMAL, "handshake timeout", ctx);
            }
        }));
        let tick = Duration::from_millis(TICK_INTERVAL_MS);
        ctx.run_interval(tick, move |act, ctx| {
            if act.last_heard.elapsed() > tick * 2 {
                act.close(close::NORMAL, "no pong from client", ctx);
                return;
            }
            act.out.push(Out::Ping);
            if matches!(act.phase, Phase::Ready(..)) {
                ctx.address().do_send(Push::Event {
                    name: "tick",
                    payload: Arc::new(json!({"ts": chrono::Utc::now().timestamp_millis()})),
                    droppable: true,
                    scope: None,
                });
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.registered {
            self.rt.sessions.deregister(&self.conn_id);
        }
        if self.out.done.get() {
            return;
        }
        // Wakes the writer so it ends too.
        self.out.push(Out::Close(CloseReason { code: CloseCode::Normal, description: None }));
        // A writer still blocked on a peer that reads nothing would keep the connection (and
        // what is queued for it) forever: nothing else times a write out.
        if self.out.blocked.get() {
            self.out.cut.notify_one();
            tracing::debug!(conn = %self.conn_id, "connection cut: the peer stopped reading");
        }
    }
}

impl StreamHandler<Result<Inbound, Violation>> for SessionActor {
    fn handle(&mut self, msg: Result<Inbound, Violation>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        if self.closed {
            return; // closing: nothing more is read, the close frame is on its way
        }
        match msg {
            Ok(Inbound::Text(t)) => match self.phase {
                Phase::Handshake => self.handshake(&t, ctx),
                Phase::Authenticating => self
                    .send(err_response("invalid", &ErrorShape::invalid("invalid request: handshake in progress")), ctx),
                Phase::Ready(..) => self.request(&t, ctx),
            },
            Ok(Inbound::Binary(_)) => match self.phase {
                Phase::Handshake => self.close(close::NORMAL, "binary frame before handshake", ctx),
                _ => self.send(
                    err_response(
                        "invalid",
                        &ErrorShape::invalid("invalid request frame: binary frames are not supported"),
                    ),
                    ctx,
                ),
            },
            Ok(Inbound::Ping(b)) => {
                let (start, n) = &mut self.pings;
                if start.elapsed() >= Duration::from_secs(1) {
                    (*start, *n) = (Instant::now(), 0);
                }
                *n += 1;
                if *n > MAX_PINGS_PER_SEC {
                    return self.close(close::POLICY, "too many pings", ctx);
                }
                self.out.pong(b);
            }
            Ok(Inbound::Pong(_)) => {}
            Ok(Inbound::Close) => {
                self.closed = true;
                self.out.push(Out::Close(CloseReason { code: CloseCode::Normal, description: None }));
                ctx.stop();
            }
            Err(Violation { code, reason }) => {
                tracing::debug!(conn = %self.conn_id, %reason, code, "websocket protocol error");
                self.close(code, &reason, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.closed = true;
        ctx.stop();
    }
}

impl Handler<Push> for SessionActor {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Context<Self>) {
        match push {
            Push::Event { name, payload, droppable, .. } => {
                if !matches!(self.phase, Phase::Ready(..)) {
                    return;
                }
                if self.out.overflowing() {
                    if droppable {
                        return;
                    }
                    return self.slow_consumer(ctx);
                }
                let sv = matches!(name, "presence" | "health").then(|| self.rt.sessions.state_version());
                let seq = self.next_seq();
                self.send(frames::event(name, (*payload).clone(), Some(seq), sv), ctx);
            }
            Push::Close { code, reason } => self.close(code, &reason, ctx),
            Push::Shutdown { reason, restart_expected_ms } => {
                let seq = self.next_seq();
                let payload = json!({"reason": reason, "restartExpectedMs": restart_expected_ms});
                self.send(frames::event("shutdown", payload, Some(seq), None), ctx);
                self.close(close::RESTART, "service restart", ctx);
            }
        }
    }
}
