//! A WebSocket connection's socket, once the HTTP server has handed it over: the reader checks
//! the inbound bytes frame header by frame header as they arrive (a frame or fragmented
//! message over the payload limit, a control frame that is fragmented or over 125 bytes, or
//! reserved bits set, is refused at its header, before anything is buffered), decodes frames and
//! joins fragments; the writer sends frames. Neither keeps a buffer while the connection is idle.
//! And a gate in front of the message stream: a session stops reading while its peer is not
//! reading what it is sent (TCP then pushes back on the peer), and for good once it closes.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use std::mem::MaybeUninit;

use actix_codec::Decoder;
use actix_http::ws;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::protocol::close;

/// Why a peer's input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A frame, or a fragmented message so far, declared more bytes than the limit.
    TooBig(u64),
    /// A control frame that is fragmented or longer than 125 bytes (RFC 6455 §5.5), or
    /// reserved bits set where no extension was negotiated (none ever is).
    Malformed(&'static str),
}

/// Tracks frame boundaries in a byte stream (client to server frames, so masked).
#[derive(Debug)]
pub struct FrameGuard {
    max: u64,
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to come.
    left: u64,
    /// Declared bytes of the fragmented data message in progress.
    message: u64,
}

impl FrameGuard {
    pub fn new(max: usize) -> Self {
        FrameGuard { max: max as u64, header: [0; 14], have: 0, left: 0, message: 0 }
    }

    /// Feeds the next bytes; the first violation is returned (and the stream should end).
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Refusal> {
        while !data.is_empty() {
            if self.left > 0 {
                let n = self.left.min(data.len() as u64);
                self.left -= n;
                data = &data[n as usize..];
                continue;
            }
            let take = (self.header.len() - self.have).min(data.len());
            self.header[self.have..self.have + take].copy_from_slice(&data[..take]);
            let before = self.have;
            self.have += take;
            match self.parse()? {
                Some(used) => {
                    // Bytes of this chunk past the header are payload (or the next frame).
                    data = &data[used - before..];
                    self.have = 0;
                }
                None => data = &[],
            }
        }
        Ok(())
    }

    /// Parses the buffered header: `Some(header length)` once complete.
    fn parse(&mut self) -> Result<Option<usize>, Refusal> {
        if self.have < 2 {
            return Ok(None);
        }
        let (b0, b1) = (self.header[0], self.header[1]);
        let (fin, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x0f, b1 & 0x80 != 0);
        if b0 & 0x70 != 0 {
            return Err(Refusal::Malformed("reserved bits set (no extension is negotiated)"));
        }
        let (ext, len7) = match b1 & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        if self.have < need {
            return Ok(None);
        }
        let len = len7.unwrap_or_else(|| {
            let mut n = 0u64;
            for b in &self.header[2..2 + ext] {
                n = (n << 8) | u64::from(*b);
            }
            n
        });
        if opcode >= 8 {
            if !fin {
                return Err(Refusal::Malformed("fragmented control frame"));
            }
            if len > 125 {
                return Err(Refusal::Malformed("control frame over 125 bytes"));
            }
        } else {
            // A new text or binary frame starts a message; a continuation adds to it.
            if opcode != 0 {
                self.message = 0;
            }
            self.message = self.message.saturating_add(len);
            if self.message > self.max {
                return Err(Refusal::TooBig(self.message));
            }
            if fin {
                self.message = 0;
            }
        }
        self.left = len;
        Ok(Some(need))
    }
}

/// What a peer sent: a whole message (fragments joined) or a control frame.
#[derive(Debug)]
pub enum Inbound {
    Text(String),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close,
}

/// Input the session must refuse: the close code and reason to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: String,
}

impl From<Refusal> for Violation {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::TooBig(_) => Violation { code: close::TOO_BIG, reason: "frame too large".into() },
            Refusal::Malformed(what) => Violation { code: close::PROTOCOL, reason: format!("protocol error: {what}") },
        }
    }
}

impl From<ws::ProtocolError> for Violation {
    fn from(e: ws::ProtocolError) -> Self {
        match e {
            ws::ProtocolError::Overflow => Violation { code: close::TOO_BIG, reason: "frame too large".into() },
            _ => Violation { code: close::PROTOCOL, reason: "protocol error".into() },
        }
    }
}

/// Bytes read from the socket per read call (on the stack: an idle connection holds no buffer).
const READ_CHUNK: usize = 4096;

/// A WebSocket peer's messages, read from its half of the socket: each read is checked by
/// `FrameGuard` before it is buffered, then decoded into frames, fragments joined. Ends after
/// the first violation, at end of stream, or on an I/O error (the peer is gone).
pub struct Reader<R> {
    io: R,
    /// Bytes read and not yet a whole frame; released whenever empty.
    buf: BytesMut,
    guard: FrameGuard,
    codec: ws::Codec,
    /// The fragmented message being joined: whether it is text, and its bytes so far.
    partial: Option<(bool, BytesMut)>,
    max: usize,
    /// A violation in the bytes that came with the upgrade request, reported at the first poll.
    early_violation: Option<Violation>,
    done: bool,
}

impl<R> Reader<R> {
    /// `early`: bytes that arrived with the upgrade request (a client need not wait for the 101).
    pub fn new(io: R, early: BytesMut, max: usize) -> Self {
        let mut r = Reader {
            io,
            buf: BytesMut::new(),
            guard: FrameGuard::new(max),
            codec: ws::Codec::new().max_size(max),
            partial: None,
            max,
            early_violation: None,
            done: false,
        };
        if !early.is_empty() {
            match r.guard.feed(&early) {
                Ok(()) => r.buf = early,
                Err(refusal) => (r.early_violation, r.done) = (Some(refusal.into()), true),
            }
        }
        r
    }

    /// One decoded frame as what the session reads; `None` while a fragmented message grows.
    fn message(&mut self, frame: ws::Frame) -> Result<Option<Inbound>, Violation> {
        use ws::{Frame, Item};
        let whole = |text: bool, bytes: Bytes| -> Result<Inbound, Violation> {
            if !text {
                return Ok(Inbound::Binary(bytes));
            }
            String::from_utf8(Vec::from(bytes))
                .map(Inbound::Text)
                .map_err(|_| Violation { code: close::INVALID_DATA, reason: "invalid UTF-8 in text frame".into() })
        };
        Ok(Some(match frame {
            Frame::Text(b) => whole(true, b)?,
            Frame::Binary(b) => whole(false, b)?,
            Frame::Ping(b) => Inbound::Ping(b),
            Frame::Pong(b) => Inbound::Pong(b),
            Frame::Close(_) => Inbound::Close,
            Frame::Continuation(item) => {
                let (first, last, bytes) = match item {
                    Item::FirstText(b) => (Some(true), false, b),
                    Item::FirstBinary(b) => (Some(false), false, b),
                    Item::Continue(b) => (None, false, b),
                    Item::Last(b) => (None, true, b),
                };
                if let Some(text) = first {
                    self.partial = Some((text, BytesMut::new()));
                }
                let Some((text, joined)) = self.partial.as_mut() else {
                    return Err(ws::ProtocolError::ContinuationNotStarted.into());
                };
                if joined.len() + bytes.len() > self.max {
                    return Err(Refusal::TooBig((joined.len() + bytes.len()) as u64).into());
                }
                joined.extend_from_slice(&bytes);
                if !last {
                    return Ok(None);
                }
                let text = *text;
                let (_, joined) = self.partial.take().unwrap_or_default();
                whole(text, joined.freeze())?
            }
        }))
    }
}

impl<R: AsyncRead + Unpin> Stream for Reader<R> {
    type Item = Result<Inbound, Violation>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(v) = this.early_violation.take() {
            return Poll::Ready(Some(Err(v)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            let decoded = this.codec.decode(&mut this.buf);
            if this.buf.is_empty() {
                // Frames decoded so far hold their own bytes; the buffer goes.
                this.buf = BytesMut::new();
            }
            let fail = |this: &mut Self, v: Violation| {
                this.done = true;
                Poll::Ready(Some(Err(v)))
            };
            match decoded {
                Ok(Some(frame)) => match this.message(frame) {
                    Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                    Ok(None) => continue,
                    Err(v) => return fail(this, v),
                },
                Ok(None) => {}
                Err(e) => return fail(this, e.into()),
            }
            let mut raw = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut rb = ReadBuf::uninit(&mut raw);
            match Pin::new(&mut this.io).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        this.done = true;
                        return Poll::Ready(None);
                    }
                    if let Err(refusal) = this.guard.feed(got) {
                        return fail(this, refusal.into());
                    }
                    this.buf.extend_from_slice(got);
                }
            }
        }
    }
}

/// Frames to a WebSocket peer, written to its half of the socket (server frames: unmasked).
pub struct Writer<W> {
    io: W,
    /// Bytes owed before the first frame (the `101` answer): written with it, in one send.
    head: BytesMut,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// A writer whose first write starts with `head` (may be empty).
    pub fn new(io: W, head: BytesMut) -> Self {
        Writer { io, head }
    }

    pub async fn text(&mut self, text: &str) -> std::io::Result<()> {
        self.frame(text.as_bytes(), ws::OpCode::Text).await
    }

    pub async fn ping(&mut self) -> std::io::Result<()> {
        self.frame(b"", ws::OpCode::Ping).await
    }

    pub async fn pong(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.frame(payload, ws::OpCode::Pong).await
    }

    /// The close frame, then the end of the stream (FIN; TLS close_notify).
    pub async fn close(&mut self, reason: ws::CloseReason) -> std::io::Result<()> {
        let mut buf = self.buffer(128);
        ws::Parser::write_close(&mut buf, Some(reason), false);
        self.io.write_all(&buf).await?;
        self.io.shutdown().await
    }

    async fn frame(&mut self, payload: &[u8], op: ws::OpCode) -> std::io::Result<()> {
        // The frame is built in a buffer of its own, gone once written: idle holds none.
        let mut buf = self.buffer(payload.len() + 10);
        ws::Parser::write_message(&mut buf, payload, op, true, false);
        self.io.write_all(&buf).await?;
        self.io.flush().await
    }

    /// A buffer for the next write, holding what is owed before it.
    fn buffer(&mut self, frame: usize) -> BytesMut {
        let mut buf = std::mem::take(&mut self.head);
        buf.reserve(frame);
        buf
    }
}

/// Opens and shuts a session's reading; shared by the session and its stream.
#[derive(Default)]
pub struct Gate {
    paused: Cell<bool>,
    since: Cell<Option<std::time::Instant>>,
    shut: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Gate {
    /// Stops reading until `resume`.
    pub fn pause(&self) {
        self.paused.set(true);
        self.since.set(Some(std::time::Instant::now()));
    }

    pub fn resume(&self) {
        self.since.set(None);
        if self.paused.replace(false)
            && let Some(w) = self.waker.borrow_mut().take()
        {
            w.wake();
        }
    }

    pub fn paused(&self) -> bool {
        self.paused.get()
    }

    /// How long reading has been paused, this time.
    pub fn paused_for(&self) -> Option<std::time::Duration> {
        self.since.get().map(|t| t.elapsed())
    }

    /// Stops reading for good (the session is closing: what the peer sends is not wanted).
    pub fn shut(&self) {
        self.shut.set(true);
        self.waker.borrow_mut().take();
    }
}

/// A stream read only while its gate is open.
pub struct Gated<S> {
    inner: S,
    gate: Rc<Gate>,
}

impl<S> Gated<S> {
    pub fn new(inner: S, gate: Rc<Gate>) -> Self {
        Gated { inner, gate }
    }
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.gate.shut.get() {
            return Poll::Pending;
        }
        if this.gate.paused.get() {
            *this.gate.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header (payload not included).
    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = header(fin, opcode, len as u64);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    #[test]
    fn frames_under_the_limit_pass_in_any_split() {
        let mut bytes = frame(true, 1, 10);
        bytes.extend(frame(true, 9, 4)); // ping
        bytes.extend(frame(true, 1, 300));
        bytes.extend(frame(true, 2, 70_000));
        for split in [1, 2, 3, 7, 13, 64, 1000, bytes.len()] {
            let mut g = FrameGuard::new(100_000);
            for chunk in bytes.chunks(split) {
                g.feed(chunk).unwrap_or_else(|e| panic!("split {split}: {e:?}"));
            }
            assert_eq!((g.have, g.left), (0, 0), "split {split} ends on a frame boundary");
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_at_its_header() {
        let mut g = FrameGuard::new(512 * 1024);
        assert_eq!(g.feed(&header(true, 1, 1 << 30)), Err(Refusal::TooBig(1 << 30)));
        let mut g = FrameGuard::new(512 * 1024);
        let h = header(true, 2, 512 * 1024 + 1);
        assert_eq!(g.feed(&h[..3]), Ok(()), "an incomplete header waits");
        assert_eq!(g.feed(&h[3..]), Err(Refusal::TooBig(512 * 1024 + 1)));
    }

    #[test]
    fn a_fragmented_message_counts_as_a_whole() {
        let mut g = FrameGuard::new(1000);
        g.feed(&frame(false, 1, 600)).unwrap();
        g.feed(&frame(true, 9, 10)).unwrap(); // a ping between fragments
        assert_eq!(g.feed(&header(false, 0, 500)), Err(Refusal::TooBig(1100)));
        let mut g = FrameGuard::new(1000);
        g.feed(&frame(false, 1, 600)).unwrap();
        g.feed(&frame(true, 0, 400)).unwrap();
        g.feed(&frame(true, 1, 900)).unwrap(); // a new message starts from zero
    }

    #[test]
    fn bad_control_frames_and_reserved_bits_are_refused() {
        let refused = |bytes: &[u8]| matches!(FrameGuard::new(1000).feed(bytes), Err(Refusal::Malformed(_)));
        assert!(refused(&header(false, 9, 4)));
        assert!(refused(&header(true, 10, 126)));
        assert!(refused(&header(true, 8, 200)));
        let mut compressed = header(true, 1, 4);
        compressed[0] |= 0x40;
        assert!(refused(&compressed));
        assert_eq!(FrameGuard::new(1000).feed(&frame(true, 8, 2)), Ok(()));
    }

    /// Everything a reader yields from `bytes` (read in one go after `early`).
    fn read_all(early: &[u8], bytes: &[u8], max: usize) -> Vec<Result<Inbound, Violation>> {
        use futures_util::{FutureExt, StreamExt};
        let reader = Reader::new(bytes, BytesMut::from(early), max);
        reader.collect::<Vec<_>>().now_or_never().expect("a byte slice never waits")
    }

    fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = header(fin, opcode, payload.len() as u64);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
        f
    }

    #[test]
    fn the_reader_joins_fragments_and_takes_early_bytes() {
        let early = masked(true, 1, b"first");
        let mut rest = masked(false, 1, b"hel");
        rest.extend(masked(true, 9, b"p"));
        rest.extend(masked(true, 0, b"lo"));
        rest.extend(masked(true, 2, &[0, 1]));
        let got: Vec<String> = read_all(&early, &rest, 1000).into_iter().map(|m| format!("{:?}", m.unwrap())).collect();
        assert_eq!(got, ["Text(\"first\")", "Ping(b\"p\")", "Text(\"hello\")", "Binary(b\"\\0\\x01\")"]);
    }

    #[test]
    fn the_reader_refuses_with_the_close_code() {
        let code = |bytes: &[u8]| read_all(&[], bytes, 1000).into_iter().find_map(Result::err).map(|v| v.code);
        assert_eq!(code(&masked(true, 1, &[0xff, 0xfe])), Some(close::INVALID_DATA));
        assert_eq!(code(&header(true, 1, 1 << 30)), Some(close::TOO_BIG), "refused at the header alone");
        let mut joined = masked(false, 1, &[b'x'; 600]);
        joined.extend(masked(true, 0, &[b'x'; 600]));
        assert_eq!(code(&joined), Some(close::TOO_BIG));
        assert_eq!(code(&masked(true, 0, b"x")), Some(close::PROTOCOL), "a continuation with nothing to continue");
        let mut unmasked = masked(true, 1, b"x");
        unmasked[1] &= 0x7f;
        assert_eq!(code(&unmasked), Some(close::PROTOCOL));
        // In the bytes that came with the upgrade request too.
        let early = read_all(&header(true, 2, 5000), &[], 1000);
        assert_eq!(
            early.into_iter().map(|m| m.map(|_| ()).map_err(|v| v.code)).collect::<Vec<_>>(),
            [Err(close::TOO_BIG)]
        );
    }

    #[test]
    fn an_idle_reader_holds_no_buffer() {
        use futures_util::{FutureExt, StreamExt};
        let bytes = masked(true, 1, b"hello");
        let mut reader = Reader::new(&bytes[..], BytesMut::new(), 1000);
        let first = reader.next().now_or_never().flatten().expect("a message");
        assert!(matches!(first, Ok(Inbound::Text(ref t)) if t == "hello"));
        assert_eq!(reader.buf.capacity(), 0, "the read buffer is released once it is empty");
    }
}
