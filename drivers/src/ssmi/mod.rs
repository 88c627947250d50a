//! TruTeq SSMI driver: the gateway's client session (login, link checks, reconnect backoff)
//! with its tokio task, and the server session for the simulator.
//!
//! Reference: reference/vumi.md §4 (protocol), §4.6 (session behaviour), §7 (what Richmond
//! adds over Vumi: link liveness, disconnect on login NACK, outbound paused while down).
//!
//! Layout:
//!
//! * [`codec`] — tokio-util `Decoder`/`Encoder` for CR-terminated lines ([`ClientCodec`],
//!   [`ServerCodec`]); bad lines come back as items, never as stream errors.
//! * [`session`] — [`ClientSession`], sans-IO (no tokio; time passed in).
//! * [`server`] — [`ServerSession`], sans-IO, for the simulator.
//! * [`task`] — [`client`] / [`ClientTask::run`]: the thin tokio task that connects, frames,
//!   pumps the session, reconnects, and lets a transport send requests and watch the link.
//!
//! Not handled here: Vumi messages, USSD session bookkeeping and text decoding (the gateway's
//! SSMI transport), the wire format itself (`richmond_codecs::ssmi`).

pub mod codec;
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
mod session_tests;
#[cfg(test)]
mod task_tests;

use richmond_codecs::ssmi::EncodeError;

pub use codec::{ClientCodec, DEFAULT_MAX_LINE_BYTES, LineCodec, ServerCodec};
pub use server::{ServerConfig, ServerEvent, ServerSession};
pub use session::{ClientConfig, ClientSession, DisconnectReason, Event};
pub use task::{ClientHandle, ClientTask, TaskConfig, client};

/// Errors of the SSMI driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The message cannot be written as an SSMI line; it was not sent.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// The connection was lost before the message was written completely.
    #[error("connection lost before the message was written")]
    ConnectionLost,
    /// The client task has stopped; the message was not sent.
    #[error("ssmi client stopped")]
    Stopped,
}

impl Error {
    /// A stable snake_case code, usable as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::Encode(_) => "encode",
            Self::ConnectionLost => "connection_lost",
            Self::Stopped => "stopped",
        }
    }
}
