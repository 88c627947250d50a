//! Framing of SSMI over TCP: a tokio-util [`Decoder`]/[`Encoder`] for CR-terminated lines.
//!
//! Reference: reference/vumi.md §4.1 (CR ends every line in both directions; Twisted's
//! `LineReceiver` framing with a maximum line length).
//!
//! * A line ends at CR. LF right after a CR (a peer writing CRLF) and empty lines are skipped;
//!   LF inside a line is message text and is kept.
//! * Every line is handed to the codec of its direction ([`Client`] decodes server responses
//!   and encodes requests, [`Server`] the reverse). Bad input comes back as an item
//!   ([`Decoded::Rejected`] / [`Decoded::Unknown`]), never as a decoder error, which would end
//!   the stream.
//! * A line longer than the maximum ([`DEFAULT_MAX_LINE_BYTES`] unless configured) is reported
//!   once as `Rejected { reason: TooLong }` and discarded up to the next CR.
//! * The decoder remembers how far it has scanned, so a line arriving in many reads is scanned
//!   once.
//!
//! Not handled here: the meaning of lines for a session (see `session.rs`).

use std::marker::PhantomData;

use bytes::{Buf, Bytes, BytesMut};
use richmond_codecs::ssmi::{self, Charset, Decoded, EncodeError, LineError, Request, Response};
use tokio_util::codec::{Decoder, Encoder};

use super::Error;

/// The default maximum line length in bytes, without the CR.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4096;

/// Which end of the link a codec serves: what it decodes and what it encodes.
pub trait Role {
    /// What arrives from the peer.
    type Inbound;
    /// What is sent to the peer.
    type Outbound;
    /// Decodes one line without its CR.
    fn decode(line: &Bytes) -> Decoded<Self::Inbound>;
    /// Appends one line with its CR.
    fn encode(
        item: &Self::Outbound,
        buf: &mut BytesMut,
        charset: Charset,
    ) -> Result<(), EncodeError>;
}

/// The gateway's end: decodes [`Response`]s, encodes [`Request`]s.
#[derive(Clone, Copy, Debug)]
pub enum Client {}

/// The TruTeq end (the simulator): decodes [`Request`]s, encodes [`Response`]s.
#[derive(Clone, Copy, Debug)]
pub enum Server {}

impl Role for Client {
    type Inbound = Response;
    type Outbound = Request;
    fn decode(line: &Bytes) -> Decoded<Response> {
        ssmi::decode_response(line)
    }
    fn encode(item: &Request, buf: &mut BytesMut, charset: Charset) -> Result<(), EncodeError> {
        item.encode(buf, charset)
    }
}

impl Role for Server {
    type Inbound = Request;
    type Outbound = Response;
    fn decode(line: &Bytes) -> Decoded<Request> {
        ssmi::decode_request(line)
    }
    fn encode(item: &Response, buf: &mut BytesMut, charset: Charset) -> Result<(), EncodeError> {
        item.encode(buf, charset)
    }
}

/// The line codec, parameterised by the end it serves.
#[derive(Debug)]
pub struct LineCodec<R> {
    max_line_bytes: usize,
    charset: Charset,
    /// Bytes of the current (unterminated) line already scanned for CR.
    scanned: usize,
    /// Inside an over-long line: drop bytes until the next CR.
    discarding: bool,
    role: PhantomData<fn() -> R>,
}

/// The codec of the gateway's connection to TruTeq.
pub type ClientCodec = LineCodec<Client>;
/// The codec of the simulator's connections.
pub type ServerCodec = LineCodec<Server>;

impl<R> Default for LineCodec<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> LineCodec<R> {
    /// A codec with [`DEFAULT_MAX_LINE_BYTES`] and Latin-1 text.
    pub const fn new() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            charset: Charset::Latin1,
            scanned: 0,
            discarding: false,
            role: PhantomData,
        }
    }

    /// Sets the maximum line length in bytes (without the CR); at least 1.
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes.max(1);
        self
    }

    /// Sets the charset used to encode text.
    pub const fn with_charset(mut self, charset: Charset) -> Self {
        self.charset = charset;
        self
    }

    /// The maximum line length in bytes.
    pub const fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// The charset used to encode text.
    pub const fn charset(&self) -> Charset {
        self.charset
    }
}

impl<R: Role> LineCodec<R> {
    /// The next line (without CR), `Err(TooLong)` for an over-long one, `None` if incomplete.
    fn next_line(&mut self, buf: &mut BytesMut) -> Option<Result<Bytes, LineError>> {
        loop {
            if self.discarding {
                match buf.iter().position(|&b| b == b'\r') {
                    Some(cr) => {
                        buf.advance(cr + 1);
                        self.discarding = false;
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                }
            }
            if self.scanned == 0 {
                // LF after a CR (CRLF peers), and empty lines.
                let skip = buf
                    .iter()
                    .take_while(|&&b| b == b'\n' || b == b'\r')
                    .count();
                buf.advance(skip);
            }
            let Some(offset) = buf[self.scanned..].iter().position(|&b| b == b'\r') else {
                if buf.len() > self.max_line_bytes {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Some(Err(LineError::TooLong));
                }
                self.scanned = buf.len();
                return None;
            };
            let end = self.scanned + offset;
            self.scanned = 0;
            let mut line = buf.split_to(end + 1).freeze();
            line.truncate(end);
            if line.len() > self.max_line_bytes {
                return Some(Err(LineError::TooLong));
            }
            if !line.is_empty() {
                return Some(Ok(line));
            }
        }
    }
}

impl<R: Role> Decoder for LineCodec<R> {
    type Item = Decoded<R::Inbound>;
    type Error = Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Error> {
        Ok(self.next_line(buf).map(|line| match line {
            Ok(line) => R::decode(&line),
            Err(reason) => Decoded::Rejected { reason },
        }))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Error> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        let partial = !buf.is_empty() && !self.discarding;
        buf.clear();
        self.scanned = 0;
        self.discarding = false;
        Ok(partial.then_some(Decoded::Rejected {
            reason: LineError::Unterminated,
        }))
    }
}

impl<R: Role> Encoder<R::Outbound> for LineCodec<R> {
    type Error = Error;

    fn encode(&mut self, item: R::Outbound, buf: &mut BytesMut) -> Result<(), Error> {
        R::encode(&item, buf, self.charset).map_err(Error::Encode)
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use tokio_util::codec::Decoder;

    use super::ClientCodec;

    #[test]
    fn remembers_how_far_it_scanned() {
        let mut codec = ClientCodec::new();
        let mut buf = BytesMut::from(&b"SSMI,110,2783"[..]);
        assert_eq!(codec.decode(&mut buf).ok().flatten(), None);
        assert_eq!(codec.scanned, 13);
        buf.put_slice(b"1112222,1,0,*1");
        assert_eq!(codec.decode(&mut buf).ok().flatten(), None);
        assert_eq!(codec.scanned, 27);
        buf.put_slice(b"56#\r");
        assert!(codec.decode(&mut buf).ok().flatten().is_some());
        assert_eq!((codec.scanned, buf.len()), (0, 0));
    }
}
