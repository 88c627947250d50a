//! TruTeq SSMI: one CR-terminated ASCII line ⇄ a typed, direction-aware message.
//!
//! Reference: reference/vumi.md §4 (the protocol as txssmi and python-ssmi implement it; the
//! official TruTeq document is not public) and §6.1 (test vectors, in `fixtures/ssmi/`).
//!
//! * A line is `SSMI,<id>,<field>,…`. Each command has a fixed number of fields; the line is
//!   split at the first `n - 1` commas, so the last field keeps its commas. No escaping.
//! * The same id means different things by direction (`110` has an extra `phase` field from the
//!   server, `111` is MMS from the client but extended USSD from the server), so there are two
//!   message types: [`Request`] (client → server) and [`Response`] (server → client), decoded
//!   with [`decode_request`] / [`decode_response`].
//! * Fields are `Bytes` slices of the line (zero-copy). Message text is a [`Text`], decoded to a
//!   `String` only on demand with a [`Charset`] (Latin-1 by default, as Vumi; UTF-8 by option).
//! * A bad line is a [`Decoded::Rejected`] item and an unknown id a [`Decoded::Unknown`] item:
//!   neither ends the link. Decoding never panics, whatever the input.
//! * Encoders append the line and its `\r`. CR and CRLF in text become LF; a character the
//!   charset cannot carry, or a comma in a field that is not the last, is an [`EncodeError`]
//!   and nothing is written.
//!
//! Not handled here: the CR framing, maximum line length and the byte stream (the driver's line
//! codec), and what the messages mean for a session (the driver's session).
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use richmond_codecs::ssmi::{self, Charset, Decoded, Request, Response, Text, UssdType};
//!
//! let line = Bytes::from_static(b"SSMI,110,27831112222,1,0,*120*663#");
//! let Decoded::Message(Response::Ussd { msisdn, ussd_type, message, .. }) = ssmi::decode_response(&line)
//! else { panic!("not a ussd message") };
//! assert_eq!((&msisdn[..], ussd_type), (&b"27831112222"[..], UssdType::New));
//! assert_eq!(message.text(Charset::Latin1), "*120*663#");
//!
//! let reply = Request::SendUssd {
//!     msisdn,
//!     ussd_type: UssdType::Existing,
//!     genfields: None,
//!     message: Text::new("Welcome\r\n1. Balance"),
//! };
//! let mut buf = BytesMut::new();
//! reply.encode(&mut buf, Charset::Latin1).unwrap();
//! assert_eq!(&buf[..], b"SSMI,110,27831112222,2,Welcome\n1. Balance\r");
//! ```

mod codes;
mod error;
mod field;
mod request;
mod response;
mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use bytes::Bytes;

pub use codes::{AckType, Coding, DrStatus, NackReason, Phase, Pid, UssdType};
pub use error::{EncodeError, LineError};
pub use field::{Charset, Genfields, Secret, Text};
pub use request::Request;
pub use response::Response;

/// What one line decodes to. Only `Message` carries data; the others are skipped lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<M> {
    /// A well-formed message.
    Message(M),
    /// The line is malformed; skip it and keep the link.
    Rejected {
        /// Why.
        reason: LineError,
    },
    /// A well-formed header with a command id this direction does not define (e.g. the
    /// extended return messages `113`, `116`–`118`); skip it and keep the link.
    Unknown {
        /// The command id.
        id: u32,
    },
}

impl<M> Decoded<M> {
    /// The message, if the line was one.
    pub fn message(self) -> Option<M> {
        match self {
            Self::Message(message) => Some(message),
            Self::Rejected { .. } | Self::Unknown { .. } => None,
        }
    }

    /// Converts the message with `f`, keeping the other cases.
    pub fn map<N>(self, f: impl FnOnce(M) -> N) -> Decoded<N> {
        match self {
            Self::Message(message) => Decoded::Message(f(message)),
            Self::Rejected { reason } => Decoded::Rejected { reason },
            Self::Unknown { id } => Decoded::Unknown { id },
        }
    }
}

/// Decodes one client → server line (without its CR).
pub fn decode_request(line: &Bytes) -> Decoded<Request> {
    Request::decode(line)
}

/// Decodes one server → client line (without its CR).
pub fn decode_response(line: &Bytes) -> Decoded<Response> {
    Response::decode(line)
}
