//! Framing of a modem's serial stream: a tokio-util [`Decoder`] over
//! [`richmond_codecs::at::framing`], and an [`Encoder`] that writes bytes as they are
//! (command lines already end in CR; a PDU ends in Ctrl-Z).
//!
//! Reference: reference/modem.md §2.1. Bad input never ends the stream: an overlong line comes
//! back as [`Item::Overlong`] (once; its rest is dropped up to the next line end, however the
//! bytes were chunked), garbage as an ordinary line the engine does not expect.

use bytes::{Buf, Bytes, BytesMut};
use richmond_codecs::at::framing::{self, Frame};
use tokio_util::codec::{Decoder, Encoder};

/// The default maximum line length: a 176-octet PDU is 352 hex digits, so 1 KiB leaves room.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024;

/// One frame from the modem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A line without its line end.
    Line(Bytes),
    /// The `> ` SMS prompt.
    Prompt,
    /// A line longer than the maximum, dropped.
    Overlong,
}

/// The modem line codec.
#[derive(Clone, Debug)]
pub struct Codec {
    max_line: usize,
    /// An overlong line was reported; its rest is dropped up to the next line end.
    discarding: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Self {
            max_line: DEFAULT_MAX_LINE_BYTES,
            discarding: false,
        }
    }
}

impl Decoder for Codec {
    type Item = Item;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, Self::Error> {
        loop {
            if self.discarding {
                match buf.iter().position(|&b| b == b'\r' || b == b'\n') {
                    Some(end) => {
                        buf.advance(end + 1);
                        self.discarding = false;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                }
            }
            let step = framing::next(buf, self.max_line);
            let item = match step.frame {
                None if step.consumed == 0 => return Ok(None),
                None => {
                    buf.advance(step.consumed);
                    continue;
                }
                Some(Frame::Prompt) => Item::Prompt,
                Some(Frame::Overlong) => {
                    // framing::next dropped the whole buffer only when no line end was in it.
                    self.discarding = !buf[..step.consumed]
                        .last()
                        .is_some_and(|&b| b == b'\r' || b == b'\n');
                    Item::Overlong
                }
                Some(Frame::Line(line)) => {
                    let start = line.as_ptr() as usize - buf.as_ptr() as usize;
                    let len = line.len();
                    let mut taken = buf.split_to(step.consumed);
                    taken.advance(start);
                    taken.truncate(len);
                    return Ok(Some(Item::Line(taken.freeze())));
                }
            };
            buf.advance(step.consumed);
            return Ok(Some(item));
        }
    }
}

impl Encoder<&[u8]> for Codec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &[u8], buf: &mut BytesMut) -> Result<(), Self::Error> {
        buf.extend_from_slice(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_prompts_and_partial_input() {
        let mut codec = Codec::default();
        let mut buf = BytesMut::from(&b"\0\r\nOK\r\n\r\n> \r\n+CM"[..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Item::Line(Bytes::from_static(b"OK")))
        );
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Item::Prompt));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"+CM");
        buf.extend_from_slice(b"TI: \"SM\",1\r\n");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Item::Line(Bytes::from_static(b"+CMTI: \"SM\",1")))
        );
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        let mut junk = BytesMut::from(&[b'z'; 2000][..]);
        assert_eq!(codec.decode(&mut junk).unwrap(), Some(Item::Overlong));
        assert!(junk.is_empty());
    }
}
