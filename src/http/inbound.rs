//! A WebSocket peer's inbound bytes, checked frame header by frame header as they arrive: a
//! frame (or fragmented message) over the payload limit, a control frame that is fragmented
//! or over 125 bytes, or reserved bits set, is refused at its header. The WebSocket codec only checks a frame's size
//! once the whole frame is buffered, so a peer declaring 1 GiB would otherwise be buffered.
//! And a gate in front of the message stream: a session stops reading while its peer is not
//! reading what it is sent (TCP then pushes back on the peer), and for good once it closes.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;

/// Why a peer's input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A frame, or a fragmented message so far, declared more bytes than the limit.
    TooBig(u64),
    /// A control frame that is fragmented or longer than 125 bytes (RFC 6455 §5.5), or
    /// reserved bits set where no extension was negotiated (none ever is).
    Malformed(&'static str),
}

impl Refusal {
    /// As the payload error the WebSocket stream passes on: `Overflow` for a size, an I/O
    /// error of kind `InvalidInput` for a malformed control frame.
    fn into_payload_error(self) -> PayloadError {
        match self {
            Refusal::TooBig(_) => PayloadError::Overflow,
            Refusal::Malformed(what) => PayloadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, what)),
        }
    }
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

/// The request payload with `FrameGuard` applied: ends with an error at the first violation.
pub struct Guarded {
    inner: Payload,
    guard: FrameGuard,
    failed: bool,
}

impl Guarded {
    pub fn new(inner: Payload, max: usize) -> Self {
        Guarded { inner, guard: FrameGuard::new(max), failed: false }
    }
}

impl Stream for Guarded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => match this.guard.feed(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(refusal) => {
                    this.failed = true;
                    Poll::Ready(Some(Err(refusal.into_payload_error())))
                }
            },
            other => other,
        }
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
}
