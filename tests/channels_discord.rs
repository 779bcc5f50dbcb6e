//! Discord end to end: the real gateway binary against the fake Discord in `tests/common`
//! (REST + gateway WebSocket) and the mock LLM provider. Replies, splitting, mention gating,
//! pairing, ack reaction and typing; then the gateway's faults (1006, op 9, op 7, a zombie,
//! failing resumes, a reconnect with backfill), 429, a refused token, a reload and a panic.

mod common;

use std::time::Duration;

use common::discord::{BOT_ID, FakeDiscord, MessageSpec, Reaction};
use common::provider::{LONG_END, MockProvider};
use common::{Gateway, Spawn, wait_until};
use serde_json::{Value, json};

const TOKEN: &str = "discord-test-token";
const T: Duration = Duration::from_secs(15);

struct Setup {
    fake: FakeDiscord,
    _provider: MockProvider,
    gw: Gateway,
}

fn start_with(fake: FakeDiscord, cfg: &str, token: &str) -> Setup {
    let provider = MockProvider::start();
    let gw = provider
        .install(Spawn::default().config(cfg), &["say", "ok"])
        .env("OPENCLAW_DISCORD_API_BASE", &fake.api_base())
        .env("OPENCLAW_DISCORD_GATEWAY_URL", &fake.gateway_url())
        .env("DISCORD_BOT_TOKEN", token)
        .start();
    Setup { fake, _provider: provider, gw }
}

const OPEN: &str = "{ agents: { defaults: { model: 'mock/say' } }, \
    channels: { discord: { dm: { policy: 'open' }, groupPolicy: 'open' } }, \
    messages: { ackReactionScope: 'all', removeAckAfterReply: true } }";

fn start(cfg: &str) -> Setup {
    let fake = FakeDiscord::start(TOKEN);
    let s = start_with(fake, cfg, TOKEN);
    s.fake.wait_ready_sessions(1, T);
    s
}

fn status(gw: &Gateway) -> Value {
    let mut ws = gw.ws();
    let v = ws.call("channels.status", json!({}));
    v["payload"]["channels"]["discord"].clone()
}

/// Sends a DM and waits for its reply (the `say` model answers with the message itself).
fn dm_answered(s: &Setup, text: &str) {
    s.fake.send(MessageSpec::dm("D1", "U1", text));
    wait_until(&format!("the reply to {text:?}"), T, || {
        s.fake.posted().iter().any(|p| p.content == text).then_some(())
    });
}

#[test]
fn a_dm_is_answered_in_its_session_with_the_ack_reaction_and_typing() {
    let cfg = "{ agents: { defaults: { model: 'mock/say' } }, session: { dmScope: 'per-channel-peer' }, \
        channels: { discord: { dm: { policy: 'open' }, replyToMode: 'first' } }, \
        messages: { ackReactionScope: 'all', removeAckAfterReply: true } }";
    let s = start(cfg);
    let ident = s.fake.last_identify().expect("IDENTIFY");
    let intents = ident["intents"].as_u64().unwrap();
    assert!(intents & (1 << 15) != 0 && intents & (1 << 12) != 0, "MESSAGE_CONTENT and DMs: {ident}");
    let id = s.fake.send(MessageSpec::dm("D1", "U1", "hello there"));
    let posts = s.fake.wait_posted(1, T);
    assert_eq!(posts[0].channel_id, "D1");
    assert_eq!(posts[0].content, "hello there");
    assert_eq!(posts[0].reply_to.as_deref(), Some(id.as_str()), "replyToMode first");
    assert!(s.fake.typing().contains(&"D1".to_string()), "typing shown: {:?}", s.fake.typing());
    let removed = Reaction::Removed { channel_id: "D1".into(), message_id: id.clone(), emoji: "\u{1F440}".into() };
    wait_until("the ack reaction to come off after the reply", T, || {
        s.fake.reactions().contains(&removed).then_some(())
    });
    let added = Reaction::Added { channel_id: "D1".into(), message_id: id, emoji: "\u{1F440}".into() };
    assert_eq!(s.fake.reactions()[0], added);
    let mut ws = s.gw.ws();
    let sessions = ws.call("sessions.list", json!({}));
    let keys: Vec<&str> =
        sessions["payload"]["sessions"].as_array().unwrap().iter().filter_map(|x| x["key"].as_str()).collect();
    assert_eq!(keys, ["agent:main:discord:dm:u1"], "{sessions}");
    let st = status(&s.gw);
    assert_eq!((st["running"].as_bool(), st["connected"].as_bool()), (Some(true), Some(true)), "{st}");
    assert!(st["lastInboundAt"].is_i64() && st["lastOutboundAt"].is_i64(), "{st}");
    assert!(!st.to_string().contains(TOKEN), "no token in the status");
    let (code, body) = s.gw.get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("openclaw_channel_messages_total{channel=\"discord\",direction=\"in\"} 1"), "{body}");
    assert!(body.contains("openclaw_channel_send_seconds_count{channel=\"discord\"} 1"), "{body}");
    assert!(!s.gw.dump_logs().contains(TOKEN), "no token in the logs");
    let (url, token) = (format!("ws://{}", s.gw.addr), common::generated_token(s.gw.state_path()));
    let cli = ["channels", "status", "--probe", "--url", url.as_str(), "--token", token.as_str()];
    let (code, out, err) = common::run(s.gw.state_path(), &cli, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("discord (default): connected"), "{out}");
    assert!(out.contains("last message in:") && out.contains("probe: ok"), "{out}");
}

#[test]
fn a_long_answer_is_split_at_the_limits_and_never_inside_a_fence() {
    let s = start(OPEN);
    s.fake.send(MessageSpec::dm("D1", "U1", "long"));
    let posts = wait_until("the whole long answer", T, || {
        let p = s.fake.posted();
        p.iter().any(|m| m.content.contains(LONG_END)).then_some(p)
    });
    assert!(posts.len() >= 3, "{} chunks", posts.len());
    for p in &posts {
        assert!(p.content.chars().count() <= 2000, "{} chars", p.content.len());
        assert!(p.content.lines().count() <= 17, "{} lines:\n{}", p.content.lines().count(), p.content);
        let fences = p.content.lines().filter(|l| l.trim_start().starts_with("```")).count();
        assert_eq!(fences % 2, 0, "a fence left open in a chunk:\n{}", p.content);
    }
    let all: String = posts.iter().map(|p| p.content.as_str()).collect::<Vec<_>>().join("\n");
    for i in [0, 39, 49] {
        assert!(all.contains(&format!("Line {i} ")), "line {i} kept");
    }
    assert!(all.contains("let value_29 = compute(29);"), "the code kept");
}

#[test]
fn a_group_message_without_a_mention_is_ignored_and_with_one_answered() {
    let s = start(OPEN);
    s.fake.send(MessageSpec::guild("G1", "C1", "U2", "just chatting", false));
    s.fake.send(MessageSpec::guild("G1", "C1", "U2", "what is up", true));
    let posts = s.fake.wait_posted(1, T);
    assert_eq!(posts[0].channel_id, "C1");
    assert!(posts[0].content.ends_with("what is up"), "mention stripped, sender named: {:?}", posts[0].content);
    assert!(!posts[0].content.contains(BOT_ID));
    // A DM after both is answered too: the first group message was judged, not queued.
    s.fake.send(MessageSpec::dm("D1", "U1", "barrier"));
    let posts = s.fake.wait_posted(2, T);
    assert!(posts.iter().all(|p| !p.content.contains("just chatting")), "{posts:?}");
    let bot = MessageSpec { author_bot: true, ..MessageSpec::guild("G1", "C1", "B9", "a bot speaks", true) };
    s.fake.send(bot);
    dm_answered(&s, "second barrier");
    assert!(s.fake.posted().iter().all(|p| !p.content.contains("a bot speaks")), "bots are ignored");
}

#[test]
fn pairing_gives_an_unknown_sender_a_code_and_approval_lets_them_in() {
    let s = start("{ agents: { defaults: { model: 'mock/say' } }, channels: { discord: {} } }");
    s.fake.send(MessageSpec::dm("D7", "U7", "let me in"));
    let posts = s.fake.wait_posted(1, T);
    let text = &posts[0].content;
    assert!(text.contains("Pairing code:") && text.contains("openclaw pairing approve discord"), "{text}");
    let code = text.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(code.len(), 8, "{code}");
    // Asking again does not issue another code.
    s.fake.send(MessageSpec::dm("D7", "U7", "hello?"));
    let state = s.gw.state_path().to_path_buf();
    let (rc, out, err) = common::run(&state, &["pairing", "list"], &[]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains(&code) && out.contains("U7"), "{out}");
    let (rc, _, err) = common::run(&state, &["pairing", "approve", "discord", "WRONGCOD"], &[]);
    assert_eq!(rc, 64, "an unknown code is refused: {err}");
    assert!(err.contains("openclaw pairing list"), "{err}");
    let (rc, out, err) = common::run(&state, &["pairing", "approve", "discord", &code.to_lowercase()], &[]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("U7"), "{out}");
    let file = state.join("credentials/discord-allowFrom.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    s.fake.send(MessageSpec::dm("D7", "U7", "now answered"));
    let posts = s.fake.wait_posted(2, T);
    assert_eq!(posts[1].content, "now answered", "only one pairing reply, then the answer: {posts:?}");
}

#[test]
fn a_dropped_connection_resumes_with_the_last_sequence_number() {
    let s = start(OPEN);
    dm_answered(&s, "before");
    s.fake.close_live(1006);
    wait_until("a RESUME", T, || (!s.fake.resumes().is_empty()).then_some(()));
    let (_, seq) = s.fake.resumes()[0].clone();
    assert_eq!(seq, 2, "READY was 1, the DM 2");
    s.fake.wait_ready_sessions(2, T);
    dm_answered(&s, "after");
    assert_eq!(s.fake.identifies(), 1, "resumed, not identified again");
}

#[test]
fn op_9_identifies_afresh_and_op_7_reconnects_and_resumes() {
    let s = start(OPEN);
    s.fake.invalid_session(false);
    wait_until("a fresh IDENTIFY after op 9", T, || (s.fake.identifies() == 2).then_some(()));
    s.fake.wait_ready_sessions(2, T);
    dm_answered(&s, "after op 9");
    s.fake.reconnect_request();
    wait_until("a RESUME after op 7", T, || (!s.fake.resumes().is_empty()).then_some(()));
    s.fake.wait_ready_sessions(3, T);
    dm_answered(&s, "after op 7");
}

#[test]
fn a_withheld_heartbeat_ack_is_a_zombie_and_is_replaced() {
    let fake = FakeDiscord::start(TOKEN);
    fake.set_heartbeat_interval(200);
    let s = start_with(fake, OPEN, TOKEN);
    s.fake.wait_ready_sessions(1, T);
    s.fake.withhold_acks(true);
    wait_until("a new connection after the zombie", T, || (s.fake.connections() >= 2).then_some(()));
    s.fake.withhold_acks(false);
    wait_until("the session resumed", T, || (!s.fake.resumes().is_empty()).then_some(()));
    s.gw.wait_log("zombie");
    dm_answered(&s, "alive again");
}

#[test]
fn three_failed_resumes_fall_back_to_identify() {
    let s = start(OPEN);
    // The fake counts READY when it sends it; an answered DM proves the gateway read it (and so
    // holds a session to resume) before the connection is cut.
    dm_answered(&s, "before");
    s.fake.fail_resumes(3);
    s.fake.close_live(1006);
    wait_until("a fresh IDENTIFY after 3 failed resumes", T, || (s.fake.identifies() == 2).then_some(()));
    assert_eq!(s.fake.resumes().len(), 3, "exactly three RESUMEs tried: {:?}", s.fake.resumes());
    s.fake.wait_ready_sessions(2, T);
    dm_answered(&s, "back");
}

#[test]
fn messages_sent_while_disconnected_are_backfilled_exactly_once() {
    let s = start(OPEN);
    dm_answered(&s, "first");
    s.fake.set_down(true);
    s.fake.forget_sessions();
    s.fake.send(MessageSpec::dm("D1", "U1", "sent while away"));
    s.fake.set_down(false);
    let posts = wait_until("the missed message answered", T, || {
        let p = s.fake.posted();
        p.iter().any(|m| m.content == "sent while away").then_some(p)
    });
    assert!(s.fake.identifies() >= 2, "a fresh session, so only the backfill could find it");
    dm_answered(&s, "barrier");
    let posts_now = s.fake.posted();
    assert_eq!(posts_now.iter().filter(|p| p.content == "sent while away").count(), 1, "{posts:?}");
    assert_eq!(posts_now.iter().filter(|p| p.content == "first").count(), 1, "not answered again: {posts_now:?}");
}

#[test]
fn a_429_on_send_is_retried_after_retry_after() {
    let s = start(OPEN);
    s.fake.rate_limit_next_posts(1, 0.3);
    let t0 = std::time::Instant::now();
    dm_answered(&s, "rate limited");
    assert!(t0.elapsed() >= Duration::from_millis(300), "waited as told: {:?}", t0.elapsed());
    let posts = s.fake.requests().iter().filter(|r| r.starts_with("POST /api/v10/channels/D1/messages")).count();
    assert_eq!(posts, 2, "one 429, one retry: {:?}", s.fake.requests());
}

#[test]
fn a_refused_token_is_a_clear_status_not_a_restart_storm() {
    let fake = FakeDiscord::start(TOKEN);
    let s = start_with(fake, OPEN, "not-the-token");
    let st = wait_until("the refusal in channels.status", T, || {
        let st = status(&s.gw);
        (st["lastError"].as_str().is_some_and(|e| e.contains("refused the bot token"))).then_some(st)
    });
    assert_eq!(st["running"], false, "{st}");
    assert_eq!(st["restarts"], 0, "{st}");
    assert!(st["lastError"].as_str().unwrap().contains("channels.discord.token"), "names the fix: {st}");
    assert!(!st.to_string().contains("not-the-token"));
    let mut ws = s.gw.ws();
    let probed = ws.call("channels.status", json!({"probe": true}));
    let p = &probed["payload"]["channels"]["discord"]["probe"];
    assert_eq!((p["ok"].as_bool(), p["status"].as_u64()), (Some(false), Some(401)), "{probed}");
    let me = s.fake.requests().iter().filter(|r| r.starts_with("GET /api/v10/users/@me")).count();
    assert_eq!(me, 2, "one check at start, one probe, no retries: {:?}", s.fake.requests());
    assert_eq!(s.fake.connections(), 0, "no gateway connection with a refused token");
}

#[test]
fn an_outage_alone_keeps_the_session_and_the_resume_replays_what_was_sent_meanwhile() {
    let s = start(OPEN);
    dm_answered(&s, "before the outage");
    s.fake.set_down(true);
    wait_until("the socket gone", T, || (s.fake.live() == 0).then_some(()));
    s.fake.send(MessageSpec::dm("D1", "U1", "sent during the outage"));
    // Four refused reconnects: more than the three failed RESUMEs that would give the session up.
    let upgrades = || s.fake.requests().iter().filter(|r| r.starts_with("GET /gateway")).count();
    let before = upgrades();
    wait_until("four reconnects refused", T, || (upgrades() >= before + 4).then_some(()));
    s.fake.set_down(false);
    wait_until("the message answered", T, || {
        s.fake.posted().iter().any(|p| p.content == "sent during the outage").then_some(())
    });
    assert_eq!(s.fake.identifies(), 1, "resumed: {:?}", s.fake.resumes());
    assert!(!s.fake.resumes().is_empty());
}
