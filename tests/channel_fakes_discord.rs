//! Self-tests of the fake Discord (tests/common/discord.rs): the gateway protocol over sync
//! tungstenite, the REST API over raw HTTP.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::discord::{BOT_ID, FakeDiscord, MessageSpec, Reaction};
use common::{http_get_with, wait_until};
use serde_json::{Value, json};
use tungstenite::Message;

const T: Duration = Duration::from_secs(5);
type Ws = tungstenite::WebSocket<TcpStream>;

fn dial(fake: &FakeDiscord) -> Result<Ws, tungstenite::Error> {
    let s = TcpStream::connect(fake.addr).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    tungstenite::client(format!("{}?v=10&encoding=json", fake.gateway_url()), s).map(|(ws, _)| ws).map_err(
        |e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("handshake interrupted"),
        },
    )
}

/// Connects and reads HELLO; returns the socket and the heartbeat interval.
fn connect(fake: &FakeDiscord) -> (Ws, u64) {
    let mut ws = dial(fake).expect("WebSocket handshake");
    let hello = recv(&mut ws);
    assert_eq!(hello["op"], 10, "{hello}");
    (ws, hello["d"]["heartbeat_interval"].as_u64().expect("heartbeat_interval"))
}

fn recv(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a frame") {
            Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).expect("send");
}

/// Reads until the socket ends: Some(close code), or None when it was dropped without a close frame.
fn end(ws: &mut Ws) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return Some(frame.map_or(1005, |f| f.code.into())),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => panic!("socket still open"),
            Err(_) => return None,
        }
    }
}

fn identify(ws: &mut Ws, token: &str) {
    send(ws, json!({"op": 2, "d": {"token": token, "intents": 37377, "properties": {"os": "linux"}}}));
}

/// One raw HTTP/1.1 request; returns (status, head, JSON body or Null).
fn http(addr: SocketAddr, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bot {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn identify_heartbeats_and_dispatch() {
    let fake = FakeDiscord::start("tok");

    let (mut ws, interval) = connect(&fake);
    assert_eq!(interval, 1000);
    identify(&mut ws, "wrong");
    assert_eq!(end(&mut ws), Some(4004));
    assert_eq!(fake.identifies(), 1);

    fake.set_heartbeat_interval(250);
    let (mut ws, interval) = connect(&fake);
    assert_eq!(interval, 250);
    identify(&mut ws, "tok");
    let ready = recv(&mut ws);
    assert_eq!((ready["op"].as_u64(), ready["t"].as_str(), ready["s"].as_u64()), (Some(0), Some("READY"), Some(1)));
    assert_eq!(ready["d"]["user"]["id"], BOT_ID);
    assert_eq!(ready["d"]["resume_gateway_url"], fake.gateway_url());
    assert!(!ready["d"]["session_id"].as_str().unwrap().is_empty());
    fake.wait_ready_sessions(1, T);
    assert_eq!(fake.last_identify().unwrap()["intents"], 37377);

    send(&mut ws, json!({"op": 1, "d": 1}));
    assert_eq!(recv(&mut ws), json!({"op": 11}));
    fake.withhold_acks(true);
    send(&mut ws, json!({"op": 1, "d": 1}));
    wait_until("the second heartbeat", T, || (fake.heartbeats() == 2).then_some(()));

    // Not ACKed: the next frame is the dispatch.
    let id = fake.send(MessageSpec::dm("c1", "u1", "hi"));
    let m = recv(&mut ws);
    assert_eq!((m["t"].as_str(), m["s"].as_u64()), (Some("MESSAGE_CREATE"), Some(2)), "{m}");
    assert_eq!(m["d"]["id"], id);
    assert_eq!(m["d"]["content"], "hi");
    assert_eq!(m["d"]["author"]["id"], "u1");
    assert!(m["d"].get("guild_id").is_none(), "{m}");

    assert_eq!((fake.connections(), fake.live()), (2, 1));
}

#[test]
fn resume_replays_and_faults() {
    let fake = FakeDiscord::start("tok");
    let (mut ws, _) = connect(&fake);
    identify(&mut ws, "tok");
    let sid = recv(&mut ws)["d"]["session_id"].as_str().unwrap().to_string();
    fake.send(MessageSpec::dm("c1", "u1", "one"));
    assert_eq!(recv(&mut ws)["s"], 2);

    // Dropped without a close frame; a message arrives meanwhile; RESUME replays it.
    fake.close_live(1006);
    assert_eq!(end(&mut ws), None);
    wait_until("the socket to close", T, || (fake.live() == 0).then_some(()));
    let id = fake.send(MessageSpec::guild("g1", "c2", "u2", "two", true));
    let (mut ws, _) = connect(&fake);
    send(&mut ws, json!({"op": 6, "d": {"token": "tok", "session_id": sid, "seq": 2}}));
    let m = recv(&mut ws);
    assert_eq!((m["t"].as_str(), m["s"].as_u64()), (Some("MESSAGE_CREATE"), Some(3)), "{m}");
    assert_eq!((m["d"]["id"].as_str(), m["d"]["guild_id"].as_str()), (Some(id.as_str()), Some("g1")));
    assert_eq!(m["d"]["mentions"][0]["id"], BOT_ID);
    assert_eq!(m["d"]["content"], format!("<@{BOT_ID}> two"));
    let resumed = recv(&mut ws);
    assert_eq!((resumed["t"].as_str(), resumed["s"].as_u64()), (Some("RESUMED"), Some(4)), "{resumed}");
    assert_eq!(fake.resumes(), vec![(sid.clone(), 2)]);
    fake.wait_ready_sessions(2, T);

    fake.reconnect_request();
    assert_eq!(recv(&mut ws)["op"], 7);

    // A failing RESUME is dropped; the live socket is untouched and then closed with a code.
    fake.fail_resumes(1);
    let (mut other, _) = connect(&fake);
    send(&mut other, json!({"op": 6, "d": {"token": "tok", "session_id": sid, "seq": 4}}));
    assert_eq!(end(&mut other), None);
    fake.close_live(4000);
    assert_eq!(end(&mut ws), Some(4000));

    // Forgotten: op 9 false, then IDENTIFY on the same socket.
    fake.forget_sessions();
    let (mut ws, _) = connect(&fake);
    send(&mut ws, json!({"op": 6, "d": {"token": "tok", "session_id": sid, "seq": 4}}));
    assert_eq!(recv(&mut ws), json!({"op": 9, "d": false}));
    identify(&mut ws, "tok");
    let ready = recv(&mut ws);
    assert_eq!(ready["t"], "READY");
    assert_ne!(ready["d"]["session_id"], sid);
    fake.wait_ready_sessions(3, T);
    fake.invalid_session(true);
    assert_eq!(recv(&mut ws), json!({"op": 9, "d": true}));

    // Down: the socket is aborted and upgrades are refused.
    fake.set_down(true);
    assert_eq!(end(&mut ws), None);
    match dial(&fake) {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 503),
        other => panic!("expected a 503, got {:?}", other.map(|_| ())),
    }
    fake.set_down(false);
    connect(&fake);
    assert_eq!(fake.connections(), 5, "the refused upgrade is not a connection");
}

#[test]
fn rest_api() {
    let fake = FakeDiscord::start("tok");
    let auth = [("Authorization", "Bot tok")];
    let (status, body) = http_get_with(fake.addr, "/api/v10/users/@me", &auth).unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], BOT_ID);
    let (status, body) = http_get_with(fake.addr, "/api/v10/gateway/bot", &auth).unwrap();
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()["url"].as_str()),
        (200, Some(&*fake.gateway_url()))
    );
    let (status, _) = http_get_with(fake.addr, "/api/v10/users/@me", &[("Authorization", "tok")]).unwrap();
    assert_eq!(status, 401);

    let asked = fake.send(MessageSpec::dm("d1", "u1", "question"));
    let msg = json!({"content": "answer", "message_reference": {"message_id": asked}});
    let (status, _, m) = http(fake.addr, "POST", "/api/v10/channels/d1/messages", "tok", Some(msg.clone()));
    assert_eq!((status, m["author"]["bot"].as_bool()), (200, Some(true)), "{m}");
    let posted = fake.wait_posted(1, T);
    assert_eq!((posted[0].content.as_str(), posted[0].reply_to.as_deref()), ("answer", Some(asked.as_str())));
    assert_eq!(posted[0].id, m["id"].as_str().unwrap());

    fake.rate_limit_next_posts(1, 1.5);
    let (status, head, body) = http(fake.addr, "POST", "/api/v10/channels/d1/messages", "tok", Some(msg.clone()));
    assert_eq!((status, body["retry_after"].as_f64()), (429, Some(1.5)));
    assert!(head.contains("retry-after: 2") && head.contains("x-ratelimit-scope: user"), "{head}");
    assert_eq!(http(fake.addr, "POST", "/api/v10/channels/d1/messages", "tok", Some(msg)).0, 200);
    let long = json!({"content": "x".repeat(2001)});
    let (status, _, body) = http(fake.addr, "POST", "/api/v10/channels/d1/messages", "tok", Some(long));
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)));
    assert_eq!(fake.posted().len(), 2);
    assert_eq!(http(fake.addr, "POST", "/api/v10/channels/d1/messages", "bad", None).0, 401);

    assert_eq!(http(fake.addr, "POST", "/api/v10/channels/d1/typing", "tok", None).0, 204);
    assert_eq!(fake.typing(), vec!["d1"]);
    let path = format!("/api/v10/channels/d1/messages/{asked}/reactions/%F0%9F%91%80/@me");
    assert_eq!(http(fake.addr, "PUT", &path, "tok", None).0, 204);
    assert_eq!(http(fake.addr, "DELETE", &path, "tok", None).0, 204);
    let (channel_id, message_id, emoji) = ("d1".to_string(), asked.clone(), "👀".to_string());
    assert_eq!(
        fake.reactions(),
        vec![
            Reaction::Added { channel_id: channel_id.clone(), message_id: message_id.clone(), emoji: emoji.clone() },
            Reaction::Removed { channel_id, message_id, emoji }
        ]
    );

    let (_, _, list) =
        http(fake.addr, "GET", &format!("/api/v10/channels/d1/messages?after={asked}&limit=10"), "tok", None);
    let contents: Vec<_> = list.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["answer", "answer"]);
    let (_, _, list) = http(fake.addr, "GET", "/api/v10/channels/d1/messages?limit=1", "tok", None);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(http(fake.addr, "GET", "/api/v10/channels/d1", "tok", None).2["type"], 1);
    assert_eq!(http(fake.addr, "GET", "/api/v10/nope", "tok", None).0, 404);
    assert!(fake.requests().contains(&"POST /api/v10/channels/d1/typing".to_string()));

    fake.set_down(true);
    assert_eq!(http(fake.addr, "GET", "/api/v10/users/@me", "tok", None).0, 503);
}
