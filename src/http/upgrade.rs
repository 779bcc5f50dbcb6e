//! The WebSocket upgrade, served outside the HTTP routes: the request is screened by the same
//! rules as every route (connection caps, Host, Origin), answered 101 (or refused) on the raw
//! connection, and the socket handed to a SessionActor. The HTTP/1 dispatcher, and the 16 KiB
//! of buffers it keeps per connection, are gone from then on.

use std::sync::Arc;

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{Request, Response, ws};
use bytes::BytesMut;
use futures_util::SinkExt;

use super::guard;
use super::session::SessionActor;
use crate::auth::peer::PeerInfo;
use crate::net::BoxIo;
use crate::net::conn::{Admission, Conn};
use crate::rpc::Runtime;

/// Serves one upgrade request until its connection ends.
pub async fn serve(rt: Arc<Runtime>, req: Request, framed: Framed<BoxIo, Codec>) {
    // Only what the session needs outlives the handshake (the request and the HTTP codec go
    // with `accept`'s state; its write buffer, holding the encoded 101, goes to the first write).
    if let Some((io, early, head, info, admission)) = accept(&rt, req, framed).await {
        SessionActor::start(rt, io, early, head, info, admission).await;
    }
}

/// Screens the request and answers it: a refusal, or what the session is started with, the
/// `101` answer among it, encoded but not yet sent (the session's first frame, the challenge,
/// goes in the same write: one send, and one wake-up of the client, fewer per connection).
async fn accept(
    rt: &Runtime,
    req: Request,
    mut framed: Framed<BoxIo, Codec>,
) -> Option<(BoxIo, BytesMut, BytesMut, PeerInfo, Option<Admission>)> {
    let conn = req.conn_data::<Conn>();
    if let Some((limit, cap)) = conn.and_then(Conn::refused) {
        answer(&mut framed, guard::over_cap(limit, cap)).await;
        return None;
    }
    let head = req.head();
    if let Some(r) = guard::screen(rt, &head.method, &head.headers, head.peer_addr).refusal {
        tracing::info!(reason = %r.message(), peer = ?head.peer_addr, path = %head.uri.path(), "request refused");
        answer(&mut framed, guard::refused(&r)).await;
        return None;
    }
    let accepted = match ws::handshake(head) {
        Ok(mut builder) => builder.message_body(()).ok()?,
        Err(e) => {
            answer(&mut framed, Response::from(e)).await;
            return None;
        }
    };
    let info = super::peer_info(&head.headers, head.peer_addr);
    let admission = conn.and_then(Conn::take_admission);
    tracing::debug!(peer = ?head.peer_addr, path = %head.uri.path(), "websocket upgrade");
    framed.feed(Message::Item((accepted, BodySize::None))).await.ok()?;
    let parts = framed.into_parts();
    Some((parts.io, parts.read_buf, parts.write_buf, info, admission))
}

/// Answers the request with `resp` and lets the connection go.
async fn answer(framed: &mut Framed<BoxIo, Codec>, resp: impl Into<Response<actix_http::body::BoxBody>>) {
    let (head, body) = resp.into().into_parts();
    let body = body.try_into_bytes().unwrap_or_default();
    let mut head = head;
    // Nothing more is read from this connection.
    head.head_mut().set_connection_type(actix_http::ConnectionType::Close);
    let size = BodySize::Sized(body.len() as u64);
    // Head and body in one write: a client reading the refusal reads it whole.
    let _ = framed.feed(Message::Item((head, size))).await;
    if !body.is_empty() {
        let _ = framed.feed(Message::Chunk(Some(body))).await;
    }
    let _ = framed.send(Message::Chunk(None)).await;
}
