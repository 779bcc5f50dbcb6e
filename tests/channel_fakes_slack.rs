//! The fake Slack itself (tests/common/slack.rs): its Web API and Socket Mode, spoken to with a
//! raw HTTP client and a blocking WebSocket client.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::slack::{BOT_USER, EventSpec, FakeSlack, Reaction};
use common::wait_until;
use serde_json::{Value, json};
use tungstenite::Message;

const BOT: &str = "xoxb-test";
const APP: &str = "xapp-test";

type Socket = tungstenite::WebSocket<TcpStream>;

/// One HTTP/1.1 request to the fake's Web API: (status, lower-cased head, JSON body).
fn call(addr: SocketAddr, method: &str, token: Option<&str>, content_type: &str, body: &str) -> (u16, String, Value) {
    let (verb, path) = match method.split_once(' ') {
        Some((verb, path)) => (verb, path.to_string()),
        None => ("POST", format!("/api/{method}")),
    };
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "{verb} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("bad response: {raw:?}"));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap();
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}")))
}

fn post(slack: &FakeSlack, method: &str, token: &str, body: Value) -> (u16, String, Value) {
    call(slack.addr, method, Some(token), "application/json; charset=utf-8", &body.to_string())
}

/// `apps.connections.open`, then the WebSocket at the URL it gave; returns the socket and hello.
fn connect(slack: &FakeSlack) -> (Socket, Value) {
    let (status, _, opened) = post(slack, "apps.connections.open", APP, json!({}));
    assert_eq!((status, &opened["ok"]), (200, &json!(true)), "{opened}");
    let url = opened["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("ws://{}/link/?ticket=", slack.addr)), "{url}");
    let stream = TcpStream::connect_timeout(&slack.addr, Duration::from_secs(2)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (mut ws, _) = tungstenite::client(url, stream).expect("websocket handshake");
    let hello = next_json(&mut ws);
    assert_eq!(hello["type"], "hello", "{hello}");
    (ws, hello)
}

/// The next text frame, as JSON (within the socket's 5 s read timeout).
fn next_json(ws: &mut Socket) -> Value {
    loop {
        match ws.read().expect("a frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[test]
fn socket_mode_events_acks_redelivery_and_connections() {
    let slack = FakeSlack::start(BOT, APP);
    let (_, _, wrong) = post(&slack, "apps.connections.open", BOT, json!({}));
    assert_eq!(wrong, json!({"ok": false, "error": "invalid_auth"}), "the bot token does not open sockets");

    let (mut ws0, hello) = connect(&slack);
    assert_eq!(hello["num_connections"], 1, "{hello}");
    assert_eq!(hello["connection_info"]["app_id"], "A1", "{hello}");

    let (event_id, ts) = slack.send(EventSpec::dm("D1", "U1", "hi"));
    assert!(event_id.starts_with("Ev") && ts.starts_with("1700000000."), "{event_id} {ts}");
    let env = next_json(&mut ws0);
    assert_eq!(
        (&env["type"], &env["retry_attempt"], &env["retry_reason"]),
        (&json!("events_api"), &json!(0), &json!(""))
    );
    let p = &env["payload"];
    assert_eq!((&p["type"], &p["event_id"]), (&json!("event_callback"), &json!(event_id)), "{env}");
    let e = &p["event"];
    assert_eq!(
        (&e["type"], &e["channel"], &e["channel_type"], &e["user"], &e["text"], &e["ts"]),
        (&json!("message"), &json!("D1"), &json!("im"), &json!("U1"), &json!("hi"), &json!(ts)),
        "{env}"
    );
    assert!(e.get("thread_ts").is_none() && e.get("bot_id").is_none(), "{env}");
    let envelope_id = env["envelope_id"].as_str().unwrap().to_string();
    let d = slack.delivered();
    assert_eq!((d.len(), d[0].conn, d[0].acked_at), (1, 0, None), "{d:?}");
    ws0.send(Message::text(json!({"envelope_id": envelope_id}).to_string())).unwrap();
    wait_until("the ack", Duration::from_secs(5), || (slack.acks() == [envelope_id.clone()]).then_some(()));
    assert!(slack.delivered()[0].acked_at.is_some());

    slack.redeliver(&event_id, 2);
    let again = next_json(&mut ws0);
    assert_ne!(again["envelope_id"], env["envelope_id"]);
    assert_eq!((&again["retry_attempt"], &again["retry_reason"]), (&json!(2), &json!("timeout")), "{again}");
    assert_eq!(again["payload"], env["payload"], "the same event");

    // A second connection: the newest gets events; send_on picks one; disconnect goes to the newest.
    let (mut ws1, hello) = connect(&slack);
    assert_eq!(hello["num_connections"], 2, "{hello}");
    assert_eq!((slack.connections(), slack.open(), slack.max_open()), (2, 2, 2));
    let mut thread = EventSpec::channel("C1", "U2", "in thread");
    thread.thread_ts = Some(ts.clone());
    let (_, ts2) = slack.send(thread);
    let env = next_json(&mut ws1);
    assert_eq!((&env["payload"]["event"]["thread_ts"], &env["payload"]["event"]["ts"]), (&json!(ts), &json!(ts2)));
    assert!(ts2 > ts, "{ts2} after {ts}");
    let (first, _) = slack.send_on(0, EventSpec::channel("C1", "U2", "old"));
    assert_eq!(next_json(&mut ws0)["payload"]["event_id"], first);
    assert_eq!(slack.delivered().iter().map(|d| d.conn).collect::<Vec<_>>(), [0, 0, 1, 0]);

    slack.disconnect("refresh_requested");
    let bye = next_json(&mut ws1);
    assert_eq!(bye, json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}}));
    ws1.close(None).unwrap();
    wait_until("the closed connection to leave the open set", Duration::from_secs(5), || {
        (slack.open() == 1).then_some(())
    });
    assert_eq!((slack.connections(), slack.max_open()), (2, 2));
}

#[test]
fn pings_deafness_queueing_and_outage() {
    let slack = FakeSlack::start(BOT, APP);
    // Sent with nothing connected: queued for the next connection, right after its hello.
    let (early, _) = slack.send(EventSpec::dm("D1", "U1", "early"));
    let (mut ws0, _) = connect(&slack);
    assert_eq!(next_json(&mut ws0)["payload"]["event_id"], early);

    ws0.send(Message::Ping(b"abc".to_vec().into())).unwrap();
    match ws0.read().expect("the pong") {
        Message::Pong(p) => assert_eq!(&p[..], b"abc"),
        other => panic!("expected a pong, got {other:?}"),
    }
    assert_eq!(slack.pings(), 1);

    slack.go_deaf(true);
    ws0.send(Message::Ping(b"x".to_vec().into())).unwrap();
    let (queued, _) = slack.send(EventSpec::dm("D1", "U1", "while deaf"));
    wait_until("the second ping", Duration::from_secs(5), || (slack.pings() == 2).then_some(()));
    ws0.get_mut().set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    match ws0.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("a deaf connection sent {other:?}"),
    }
    assert_eq!(slack.delivered().len(), 1, "the deaf connection got no event");
    assert_eq!(slack.open(), 1, "the deaf connection stays open");

    let (mut ws1, hello) = connect(&slack);
    assert_eq!(hello["num_connections"], 2);
    assert_eq!(next_json(&mut ws1)["payload"]["event_id"], queued);
    assert_eq!(slack.delivered().last().map(|d| d.conn), Some(1));

    slack.set_down(true);
    for ws in [&mut ws0, &mut ws1] {
        ws.get_mut().set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Close(_)) => panic!("an aborted socket sent a close frame"),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    panic!("the socket was not aborted: {e}")
                }
                Err(_) => break,
            }
        }
    }
    assert_eq!(slack.open(), 0);
    let (status, _, body) = post(&slack, "apps.connections.open", APP, json!({}));
    assert_eq!((status, &body["ok"]), (503, &json!(false)), "{body}");
    slack.set_down(false);
    let (_, hello) = connect(&slack);
    assert_eq!((hello["num_connections"].as_u64(), slack.connections(), slack.max_open()), (Some(1), 3, 2));
}

#[test]
fn web_api_posts_reactions_rate_limits_and_auth() {
    let slack = FakeSlack::start(BOT, APP);
    let (status, _, me) = post(&slack, "auth.test", BOT, json!({}));
    assert_eq!(
        (status, &me["ok"], &me["user_id"], &me["bot_id"]),
        (200, &json!(true), &json!(BOT_USER), &json!("BBOT"))
    );
    let (status, _, missing) = call(slack.addr, "auth.test", None, "application/json", "");
    assert_eq!((status, missing), (200, json!({"ok": false, "error": "invalid_auth"})));
    let (_, _, wrong) = post(&slack, "auth.test", APP, json!({}));
    assert_eq!(wrong["error"], "invalid_auth");

    let (_, _, sent) = post(&slack, "chat.postMessage", BOT, json!({"channel": "D1", "text": "hello"}));
    assert_eq!(
        (&sent["ok"], &sent["channel"], &sent["message"]["text"]),
        (&json!(true), &json!("D1"), &json!("hello"))
    );
    let form = "channel=C1&text=a+b%26c&thread_ts=1700000000.000001";
    let (_, _, threaded) = call(slack.addr, "chat.postMessage", Some(BOT), "application/x-www-form-urlencoded", form);
    assert_eq!(threaded["ok"], true, "{threaded}");

    slack.rate_limit_next_posts(1, 7);
    let (status, head, limited) = post(&slack, "chat.postMessage", BOT, json!({"channel": "D1", "text": "x"}));
    assert_eq!((status, limited), (429, json!({"ok": false, "error": "ratelimited"})));
    assert!(head.contains("retry-after: 7\r\n"), "{head}");
    let (_, _, long) = post(&slack, "chat.postMessage", BOT, json!({"channel": "D1", "text": "x".repeat(40_001)}));
    assert_eq!(long["error"], "msg_too_long");
    post(&slack, "chat.postMessage", BOT, json!({"channel": "D1", "text": "after"}));

    let posted = slack.wait_posted(3, Duration::from_secs(5));
    let got: Vec<_> = posted.iter().map(|p| (p.channel.as_str(), p.text.as_str(), p.thread_ts.as_deref())).collect();
    assert_eq!(got, [("D1", "hello", None), ("C1", "a b&c", Some("1700000000.000001")), ("D1", "after", None)]);
    assert_eq!(posted[0].ts, sent["ts"]);
    assert!(posted[0].ts < posted[1].ts && posted[1].ts < posted[2].ts);

    let r = json!({"channel": "D1", "timestamp": "1700000000.000001", "name": "eyes"});
    assert_eq!(post(&slack, "reactions.add", BOT, r.clone()).2, json!({"ok": true}));
    assert_eq!(post(&slack, "reactions.remove", BOT, r).2, json!({"ok": true}));
    let (channel, ts, name) = ("D1".to_string(), "1700000000.000001".to_string(), "eyes".to_string());
    assert_eq!(
        slack.reactions(),
        [
            Reaction::Added { channel: channel.clone(), ts: ts.clone(), name: name.clone() },
            Reaction::Removed { channel, ts, name }
        ]
    );

    let (_, _, info) = call(slack.addr, "GET /api/conversations.info?channel=G9", Some(BOT), "text/plain", "");
    assert_eq!(info["channel"], json!({"id": "G9", "is_im": false, "is_mpim": true, "is_channel": false}));
    let (_, _, user) = post(&slack, "users.info", BOT, json!({"user": "U7"}));
    assert_eq!(user["user"], json!({"id": "U7", "name": "user-U7", "is_bot": false}));
    assert_eq!(post(&slack, "files.upload", BOT, json!({})).2["error"], "unknown_method");

    slack.set_bot_token("xoxb-rotated");
    assert_eq!(post(&slack, "auth.test", BOT, json!({})).2["error"], "invalid_auth");
    assert_eq!(post(&slack, "auth.test", "xoxb-rotated", json!({})).2["ok"], true);
    assert_eq!(slack.requests().iter().filter(|m| *m == "chat.postMessage").count(), 5);
    assert_eq!(slack.requests().len(), 15, "{:?}", slack.requests());
}
