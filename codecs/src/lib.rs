//! Richmond's wire formats: pure functions from bytes to typed frames and back.
//!
//! No I/O, no tokio runtime, no logging: every function here can be tested with a byte slice.
//!
//! Layout:
//!
//! * [`vumi`] — the Vumi message model (`user_message`, `event`, `status_event`,
//!   `failure_message`) with exact JSON wire compatibility for vumi 0.6 and vumi2 applications.
//! * [`ssmi`] — TruTeq SSMI lines, direction-aware.
//! * [`smpp`] — a thin typed layer over SMPP PDUs (rusmpp), status classes, receipts.
//! * [`at`] — AT command lines, responses and URCs for GSM modems (framing, classification,
//!   parameters).
//! * [`providers`] — HTTP SMS providers' posts (Chikka's forms).
//! * [`sms`] — TS 23.038 alphabets (GSM-7, UCS2, Latin-1), UDH and segmentation; TPDUs later.
//!
//! Where this crate sits in the data flow:
//!
//! ```text
//!  bytes ⇄ frames (codecs, pure) ⇄ protocol events (drivers) ⇄ Vumi messages (gateway) ⇄ AMQP "vumi"
//! ```
//!
//! Each module has one `#[non_exhaustive]` error enum whose variants carry a stable snake_case
//! `code()` for metric labels; decoders never panic, whatever the input.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod at;
pub mod providers;
pub mod smpp;
pub mod sms;
pub mod ssmi;
pub mod vumi;
