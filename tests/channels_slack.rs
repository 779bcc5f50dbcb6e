//! Slack end to end: the real gateway binary against the fake Slack in `tests/common` (Web API
//! and Socket Mode) and the mock LLM provider. Replies with acknowledgement and ack reaction,
//! redelivery answered once, `disconnect` with the new socket before the old one closes, a deaf
//! socket replaced, another consumer of the app warned about, a refused app token.

mod common;

use std::time::Duration;

use common::provider::MockProvider;
use common::slack::{EventSpec, FakeSlack, Reaction};
use common::{Gateway, Spawn, wait_until};
use serde_json::json;

const BOT: &str = "xoxb-test-bot";
const APP: &str = "xapp-test-app";
const T: Duration = Duration::from_secs(15);

struct Setup {
    fake: FakeSlack,
    _provider: MockProvider,
    gw: Gateway,
}

fn cfg(extra: &str) -> String {
    format!(
        "{{ agents: {{ defaults: {{ model: 'mock/say' }} }}, \
         channels: {{ slack: {{ dm: {{ policy: 'open' }}, groupPolicy: 'open' {extra} }} }}, \
         messages: {{ ackReactionScope: 'all' }} }}"
    )
}

fn start_with(fake: FakeSlack, cfg: &str, app: &str) -> Setup {
    let provider = MockProvider::start();
    let gw = provider
        .install(Spawn::default().config(cfg), &["say"])
        .env("OPENCLAW_SLACK_API_BASE", &fake.api_base())
        .env("SLACK_BOT_TOKEN", BOT)
        .env("SLACK_APP_TOKEN", app)
        .start();
    Setup { fake, _provider: provider, gw }
}

fn start(cfg: &str) -> Setup {
    let s = start_with(FakeSlack::start(BOT, APP), cfg, APP);
    wait_until("the Socket Mode connection", T, || (s.fake.open() == 1).then_some(()));
    s
}

fn answered(s: &Setup, text: &str) {
    s.fake.send(EventSpec::dm("D1", "U1", text));
    wait_until(&format!("the reply to {text:?}"), T, || s.fake.posted().iter().any(|p| p.text == text).then_some(()));
}

#[test]
fn a_dm_is_acknowledged_at_once_and_answered_with_the_ack_reaction() {
    let s = start(&cfg(""));
    let (event_id, ts) = s.fake.send(EventSpec::dm("D1", "U1", "hello slack"));
    let posts = s.fake.wait_posted(1, T);
    assert_eq!((posts[0].channel.as_str(), posts[0].text.as_str()), ("D1", "hello slack"));
    assert_eq!(posts[0].thread_ts, None, "replyToMode off: no thread");
    let d = s.fake.delivered().into_iter().find(|d| d.event_id == event_id).unwrap();
    let acked = d.acked_at.expect("the envelope was acknowledged");
    assert!(acked.duration_since(d.sent_at) < Duration::from_secs(3), "acknowledged within 3 s");
    assert!(
        s.fake.reactions().contains(&Reaction::Added { channel: "D1".into(), ts, name: "eyes".into() }),
        "{:?}",
        s.fake.reactions()
    );
    assert_eq!((s.fake.open(), s.fake.max_open()), (1, 1), "exactly one socket");
    let mut ws = s.gw.ws();
    let st = ws.call("channels.status", json!({}));
    let sl = &st["payload"]["channels"]["slack"];
    assert_eq!((sl["running"].as_bool(), sl["connected"].as_bool()), (Some(true), Some(true)), "{st}");
    assert!(!st.to_string().contains(BOT) && !st.to_string().contains(APP), "no tokens in the status");
    assert!(!s.gw.dump_logs().contains(BOT) && !s.gw.dump_logs().contains(APP), "no tokens in the logs");
}

#[test]
fn a_redelivered_event_is_answered_once() {
    let s = start(&cfg(""));
    let (event_id, _) = s.fake.send(EventSpec::dm("D1", "U1", "only once"));
    s.fake.wait_posted(1, T);
    s.fake.redeliver(&event_id, 1);
    s.fake.redeliver(&event_id, 2);
    answered(&s, "barrier");
    let posts = s.fake.posted();
    assert_eq!(posts.iter().filter(|p| p.text == "only once").count(), 1, "{posts:?}");
    assert_eq!(s.fake.acks().len(), 4, "every envelope acknowledged, repeats too");
}

#[test]
fn refresh_requested_opens_the_new_socket_before_the_old_one_closes_and_loses_nothing() {
    let s = start(&cfg(""));
    answered(&s, "before");
    s.fake.disconnect("refresh_requested");
    s.fake.send(EventSpec::dm("D1", "U1", "during the switch"));
    wait_until("the second connection", T, || (s.fake.connections() == 2).then_some(()));
    wait_until("the old socket closed", T, || (s.fake.open() == 1).then_some(()));
    assert_eq!(s.fake.max_open(), 2, "the new socket was open before the old one closed");
    answered(&s, "after");
    let posts = s.fake.posted();
    for text in ["before", "during the switch", "after"] {
        assert_eq!(posts.iter().filter(|p| p.text == text).count(), 1, "{text}: {posts:?}");
    }
}

#[test]
fn a_deaf_socket_is_detected_and_replaced() {
    let s = start(&cfg(", deafSocketSeconds: 1"));
    answered(&s, "before");
    s.fake.go_deaf(true);
    s.fake.send(EventSpec::dm("D1", "U1", "while deaf"));
    wait_until("a new connection after the deaf one", T, || (s.fake.connections() >= 2).then_some(()));
    s.gw.wait_log("deaf socket");
    let posts = wait_until("the queued event answered on the new socket", T, || {
        let p = s.fake.posted();
        p.iter().any(|m| m.text == "while deaf").then_some(p)
    });
    assert!(s.fake.pings() > 0, "the client pings");
    assert_eq!(posts.iter().filter(|p| p.text == "while deaf").count(), 1);
}

#[test]
fn another_consumer_of_the_app_is_warned_about() {
    let fake = FakeSlack::start(BOT, APP);
    let (_other, _) =
        tungstenite::connect(format!("ws://{}/link/?ticket=other", fake.addr)).expect("a second consumer");
    wait_until("the other consumer connected", T, || (fake.open() == 1).then_some(()));
    let s = start_with(fake, &cfg(""), APP);
    wait_until("the gateway's socket", T, || (s.fake.open() == 2).then_some(()));
    s.gw.wait_log("another consumer holds a Socket Mode connection");
}

#[test]
fn a_refused_app_token_stops_the_channel_with_a_clear_status() {
    let s = start_with(FakeSlack::start(BOT, APP), &cfg(""), "xapp-wrong");
    let mut ws = s.gw.ws();
    let st = wait_until("the refusal in channels.status", T, || {
        let v = ws.call("channels.status", json!({}));
        let sl = v["payload"]["channels"]["slack"].clone();
        sl["lastError"].as_str().is_some_and(|e| e.contains("app-level token")).then_some(sl)
    });
    assert_eq!((st["running"].as_bool(), st["restarts"].as_u64()), (Some(false), Some(0)), "{st}");
    assert!(st["lastError"].as_str().unwrap().contains("channels.slack.appToken"), "names the fix: {st}");
    let opens = s.fake.requests().iter().filter(|r| r.as_str() == "apps.connections.open").count();
    assert_eq!(opens, 1, "not retried: {:?}", s.fake.requests());
}

#[test]
fn a_channel_message_needs_a_mention_and_is_answered_in_a_thread_under_it() {
    let s = start(&cfg(", replyToMode: 'first'"));
    s.fake.send(EventSpec::channel("C1", "U2", "talking among ourselves"));
    let (_, ts) = s.fake.send(EventSpec::channel("C1", "U2", "<@UBOT> what now?"));
    let posts = s.fake.wait_posted(1, T);
    assert_eq!(posts[0].channel, "C1");
    assert_eq!(posts[0].text, "[user-U2] what now?", "mention taken out, the sender named (users.info)");
    assert_eq!(posts[0].thread_ts.as_deref(), Some(ts.as_str()), "replyToMode first: a thread under the message");
    answered(&s, "barrier");
    assert!(s.fake.posted().iter().all(|p| !p.text.contains("among ourselves")), "{:?}", s.fake.posted());
}

#[test]
fn a_429_from_chat_post_message_is_retried_after_retry_after() {
    let s = start(&cfg(""));
    s.fake.rate_limit_next_posts(1, 1);
    let t0 = std::time::Instant::now();
    answered(&s, "after a 429");
    assert!(t0.elapsed() >= Duration::from_secs(1), "waited Retry-After: {:?}", t0.elapsed());
    let posts = s.fake.requests().iter().filter(|r| r.as_str() == "chat.postMessage").count();
    assert_eq!(posts, 2, "one 429, one retry: {:?}", s.fake.requests());
}
