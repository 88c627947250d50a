//! SMPP driver: the ESME session (the gateway binding to an SMSC) with its tokio task, and
//! the SMSC side for the simulator.
//!
//! Reference: SMPP 3.4 (sessions §2, PDUs §4, statuses §5.1.3); reference/smpp.md;
//! reference/vumi.md §3 (Vumi's SMPP transport) and §5 (the bugs its users hit, which this
//! driver is built not to repeat).
//!
//! Layout:
//!
//! * [`codec`] — tokio-util length-delimited framing, one frame = one whole PDU.
//! * [`config`] — [`Config`] of one bind, [`BindMode`].
//! * [`session`] — [`Session`], the ESME state machine, sans-IO (no tokio; time passed in).
//! * [`event`] — what the session reports ([`Event`], [`SubmitOutcome`], [`Deliver`]).
//! * [`task`] — [`client`] / [`Task::run`]: connects, frames, pumps the session, reconnects;
//!   [`Handle::submit`] resolves with the SMSC's answer, [`Handle::respond_deliver`] answers
//!   an inbound PDU once the transport has published it.
//! * [`server`] — [`ServerSession`], the SMSC side, sans-IO, for the simulator.
//!
//! One session/task is one bind. Several binds per transport, or a transmitter plus a
//! receiver, are several tasks with the same credentials and different [`BindMode`]s.
//!
//! TLS is optional ([`Config::tls`], [`tls`]).
//!
//! Metrics (`metrics` facade, label `transport`): `richmond_smpp_binds_up` (gauge),
//! `richmond_smpp_pdus_total{direction, command}`, `richmond_smpp_window_in_use` (gauge),
//! `richmond_smpp_submit_latency_seconds` (histogram), `richmond_smpp_submits_total{outcome}`,
//! `richmond_smpp_throttled_total`, `richmond_smpp_malformed_pdus_total{code}`,
//! `richmond_smpp_unbinds_total{reason}`, `richmond_smpp_reconnects_total`,
//! `richmond_smpp_connect_attempts_total`.
//!
//! Not handled here: Vumi messages, text encodings, multipart, receipts and id mapping (the
//! gateway's SMPP transport), the PDU model (`richmond_codecs::smpp`).

mod backoff;
pub mod codec;
pub mod config;
pub mod event;
mod outbound;
mod pace;
pub mod server;
pub mod session;
pub mod task;
pub mod telemetry;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod pair;
#[cfg(test)]
mod pair_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod session_link_tests;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod task_tests;

pub use crate::tls::{Tls, TlsServer};
pub use codec::Codec;
pub use config::{BindMode, Config};
pub use event::{Deliver, DeliverId, Event, InboundPdu, RetryReason, SubmitOutcome, UnboundReason};
pub use server::{BindPassword, ServerConfig, ServerEvent, ServerSession};
pub use session::{Refused, Session};
pub use task::{Handle, Task, client};

/// Errors of the SMPP driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A `command_length` below the 16-octet header: framing is lost.
    #[error("pdu length {length} is shorter than the header")]
    FrameTooShort {
        /// The length field.
        length: u32,
    },
    /// A `command_length` above the maximum: framing is lost.
    #[error("pdu length {length} is over the maximum of {max} octets")]
    FrameTooLong {
        /// The length field.
        length: u32,
        /// The maximum.
        max: usize,
    },
    /// A bind field cannot be encoded (too long, or not ASCII).
    #[error("invalid {field} for an smpp bind")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
    },
    /// The client task has stopped; the request was not sent.
    #[error("smpp client stopped")]
    Stopped,
}

impl Error {
    /// A stable snake_case code, usable as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::FrameTooShort { .. } => "frame_too_short",
            Self::FrameTooLong { .. } => "frame_too_long",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Stopped => "stopped",
        }
    }
}
