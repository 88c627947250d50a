//! Framing of SMPP over TCP: tokio-util's length-delimited codec, set up so that one frame is
//! one whole PDU, its `command_length` field included.
//!
//! Reference: SMPP 3.4 §3.2 (`command_length` counts the whole PDU, its own four octets
//! included); reference/smpp.md (framing). The settings, pinned by a unit test over real bytes:
//!
//! ```text
//! length_field_offset(0), length_field_length(4), big-endian,
//! length_adjustment(0)    // with num_skip(0) the codec takes `command_length` octets from
//! num_skip(0)             // the start of the length field: exactly the whole PDU
//! max_frame_length(max)   // compared with command_length itself
//! ```
//!
//! (`length_adjustment(-4)`, which "the field counts itself" suggests, is wrong with
//! `num_skip(0)`: it cuts every PDU four octets short; the test `adjustment_minus_four_is_wrong`
//! shows it.)
//!
//! * `command_length` below 16 or above the maximum is a stream error ([`Error::FrameTooShort`],
//!   [`Error::FrameTooLong`]): the framing is lost, the connection must be closed and
//!   re-established.
//! * A frame that is well framed but whose body cannot be decoded is an item like any other:
//!   the session answers it with `generic_nack` and the bind stays up.
//!
//! Not handled here: decoding PDUs (`richmond_codecs::smpp::pdu`), session rules.

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{DEFAULT_MAX_PDU_BYTES, HEADER_LEN};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use super::Error;

/// The length-delimited codec with SMPP's settings (see the module documentation).
pub fn length_delimited(max_pdu_bytes: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_offset(0)
        .length_field_length(4)
        .big_endian()
        .length_adjustment(0)
        .num_skip(0)
        .max_frame_length(max_pdu_bytes.max(HEADER_LEN))
        .new_codec()
}

/// SMPP framing: decodes whole PDUs as [`Bytes`] (zero-copy slices of the read buffer) and
/// encodes already-encoded PDUs.
#[derive(Debug)]
pub struct Codec {
    inner: LengthDelimitedCodec,
    max_pdu_bytes: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PDU_BYTES)
    }
}

impl Codec {
    /// A codec accepting PDUs of at most `max_pdu_bytes` octets (at least 16).
    pub fn new(max_pdu_bytes: usize) -> Self {
        let max_pdu_bytes = max_pdu_bytes.max(HEADER_LEN);
        Self {
            inner: length_delimited(max_pdu_bytes),
            max_pdu_bytes,
        }
    }

    /// The largest accepted PDU in octets.
    pub const fn max_pdu_bytes(&self) -> usize {
        self.max_pdu_bytes
    }
}

impl Decoder for Codec {
    type Item = Bytes;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        if let Some(field) = src.get(..4) {
            let mut length = [0; 4];
            length.copy_from_slice(field);
            let length = u32::from_be_bytes(length);
            if (length as usize) < HEADER_LEN {
                return Err(Error::FrameTooShort { length });
            }
            if length as usize > self.max_pdu_bytes {
                return Err(Error::FrameTooLong {
                    length,
                    max: self.max_pdu_bytes,
                });
            }
        }
        Ok(self.inner.decode(src)?.map(BytesMut::freeze))
    }
}

impl Encoder<Bytes> for Codec {
    type Error = Error;

    fn encode(&mut self, pdu: Bytes, dst: &mut BytesMut) -> Result<(), Error> {
        dst.extend_from_slice(&pdu);
        Ok(())
    }
}

impl Encoder<&[u8]> for Codec {
    type Error = Error;

    fn encode(&mut self, pdu: &[u8], dst: &mut BytesMut) -> Result<(), Error> {
        dst.extend_from_slice(pdu);
        Ok(())
    }
}
