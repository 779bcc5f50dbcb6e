//! The WebSocket upgrade, served outside the HTTP routes: the request is screened by the same
//! rules as every route (connection caps, Host, Origin), answered 101 (or refused) on the raw
//! connection, and the socket handed to a SessionActor. The HTTP/1 dispatcher, and the 16 KiB
//! of buffers it keeps per connection, are gone from then on.

use std::sync::Arc;

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{Request, Response, ws};
use futures_util::SinkExt;

use super::guard;
use super::session::SessionActor;
use crate::net::BoxIo;
use crate::net::conn::Conn;
use crate::rpc::Runtime;

/// Serves one upgrade request until its connection ends.
pub async fn serve(rt: Arc<Runtime>, req: Request, mut framed: Framed<BoxIo, Codec>) {
    let conn = req.conn_data::<Conn>();
    if let Some((limit, cap)) = conn.and_then(Conn::refused) {
        return answer(&mut framed, guard::over_cap(limit, cap)).await;
    }
    let head = req.head();
    let screened = guard::screen(&rt, &head.method, &head.headers, head.peer_addr);
    if let Some(r) = screened.refusal {
        tracing::info!(reason = %r.message(), peer = ?head.peer_addr, path = %head.uri.path(), "request refused");
        return answer(&mut framed, guard::refused(&r)).await;
    }
    let accepted = match ws::handshake(head) {
        Ok(mut builder) => builder.message_body(()),
        Err(e) => return answer(&mut framed, Response::from(e)).await,
    };
    let Ok(accepted) = accepted else { return };
    let info = super::peer_info(&head.headers, head.peer_addr);
    let admission = conn.and_then(Conn::take_admission);
    tracing::debug!(peer = ?head.peer_addr, path = %head.uri.path(), "websocket upgrade");
    if framed.send(Message::Item((accepted, BodySize::None))).await.is_err() {
        return;
    }
    drop(req);
    let parts = framed.into_parts();
    SessionActor::start(rt, parts.io, parts.read_buf, info, admission).await;
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
