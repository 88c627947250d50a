//! SMPP 3.4/5.0: a thin typed layer over `rusmpp-core` (reference/smpp.md).
//!
//! * [`pdu`] — the header, framing limits, the borrowed (zero-copy) decode used on the hot
//!   path, the owned decode, encoding, sequence numbers, command-id labels.
//! * [`status`] — `command_status` names and classes (ok, throttled, queue full, invalid
//!   destination, bind error, other) for metrics and retry decisions.
//! * [`deliver`] — what an inbound `deliver_sm` / `data_sm` carries (read from the borrowed
//!   decode) and the `esm_class` rules: receipt, part, whole message.
//! * [`receipt`] — delivery receipts (`deliver_sm` text and TLVs).
//! * [`rusmpp`] — the owned model under the paths of the `rusmpp` facade (`rusmpp::Command`,
//!   `rusmpp::pdus::SubmitSm`, …); [`rusmpp_core`] for everything else (the borrowed model).
//!
//! Not handled here: text encodings and UDH (`codecs::sms`), sockets and session rules
//! (`richmond_drivers::smpp`). Framing itself is tokio-util's length-delimited codec, set up
//! in the driver; [`pdu::HEADER_LEN`] and [`pdu::DEFAULT_MAX_PDU_BYTES`] are its limits.

pub mod deliver;
pub mod pdu;
pub mod receipt;
pub mod rusmpp;
pub mod status;

pub use pdu::{Command, DecodeError, Header, decode, decode_owned, encode, encode_empty};
pub use rusmpp_core;
pub use status::StatusClass;

#[cfg(test)]
mod deliver_tests;
#[cfg(test)]
mod pdu_tests;
