//! What the ESME session reports to its owner: bind state, the one result of every submit,
//! inbound `deliver_sm` / `data_sm` waiting for the transport's answer, throttling.
//!
//! Reference: reference/smpp.md (statuses, receipts), DESIGN.md (no-loss rule: an inbound PDU
//! is answered only after the next hop owns it).
//!
//! Not handled here: what an inbound PDU means (MO, receipt, USSD) — the gateway's transport,
//! with `richmond_codecs::sms` and `richmond_codecs::smpp::receipt`.

use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::smpp::StatusClass;
use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::pdu::{self, DataSm, DecodeError, DeliverSm, Header, Pdu};

use super::config::BindMode;

/// An event of the ESME session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The SMSC accepted the bind.
    Bound {
        /// How the session is bound.
        mode: BindMode,
        /// The SMSC's `system_id` from the bind response (empty when absent).
        system_id: String,
    },
    /// The SMSC refused the bind (`ESME_RINVPASWD`, `ESME_RALYBND`, …). An `Unbound` with
    /// reason `BindRejected` follows; the next attempt waits for the backoff.
    BindRejected {
        /// The bind response's status.
        status: u32,
    },
    /// The connection ends (bound or not). Unless the reason is `ConnectionLost`, the owner
    /// writes what `poll_transmit` still gives, then closes the connection and reports
    /// `handle_disconnected`.
    Unbound {
        /// Why.
        reason: UnboundReason,
    },
    /// The one and only result of a `submit` call.
    SubmitResult {
        /// The caller's token.
        token: u64,
        /// What became of the submit.
        outcome: SubmitOutcome,
        /// From the first write of the PDU to its final response, when it was written.
        latency: Option<Duration>,
    },
    /// A `deliver_sm` or `data_sm` from the SMSC (MO or receipt). The session does **not**
    /// answer it: the owner calls `respond_deliver(deliver.id, status)` once the message is
    /// safe (published), or with a temporary error when it is not.
    Deliver(Deliver),
    /// The SMSC answered a submit with `ESME_RTHROTTLED` or `ESME_RMSGQFUL`: the session
    /// pauses sending and resends the message itself.
    Throttled {
        /// The status received.
        status: u32,
    },
    /// A submit was accepted again after throttling.
    ThrottleEnded,
    /// A PDU from the SMSC could not be decoded (answered with `generic_nack` if it was a
    /// request). The bind stays up.
    Malformed {
        /// Its command id.
        command_id: u32,
        /// Why.
        error: DecodeError,
    },
    /// A response whose sequence number matches nothing outstanding (late after a time-out,
    /// or invented by the SMSC): ignored. The bind stays up.
    UnmatchedResponse {
        /// Its command id.
        command_id: u32,
        /// Its sequence number.
        sequence_number: u32,
    },
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnboundReason {
    /// The bind was refused.
    BindRejected,
    /// No bind response in time.
    BindTimeout,
    /// An `enquire_link` went unanswered: the link is dead.
    EnquireLinkTimeout,
    /// The SMSC sent `unbind` (answered).
    RemoteUnbind,
    /// The owner closed the session.
    Closed,
    /// The byte stream could not be framed (bad `command_length`).
    FramingError,
    /// The connection dropped.
    ConnectionLost,
}

impl UnboundReason {
    /// A stable snake_case code, usable as a metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::BindRejected => "bind_rejected",
            Self::BindTimeout => "bind_timeout",
            Self::EnquireLinkTimeout => "enquire_link_timeout",
            Self::RemoteUnbind => "remote_unbind",
            Self::Closed => "closed",
            Self::FramingError => "framing_error",
            Self::ConnectionLost => "connection_lost",
        }
    }
}

/// What became of a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitOutcome {
    /// `submit_sm_resp` with `ESME_ROK`.
    Accepted {
        /// The SMSC's message id (ASCII; empty when the response had no body).
        message_id: Bytes,
    },
    /// The SMSC refused the message with an error status (never throttling: that is retried
    /// by the session).
    Rejected {
        /// The status.
        status: u32,
        /// Its class.
        class: StatusClass,
    },
    /// No answer from the SMSC: the message may or may not have been taken. The caller decides
    /// whether to resend (possible duplicate) or give up.
    Retry {
        /// Why.
        reason: RetryReason,
    },
}

impl SubmitOutcome {
    /// A stable snake_case code, usable as a metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Rejected { .. } => "rejected",
            Self::Retry { .. } => "retry",
        }
    }
}

/// Why a submit has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryReason {
    /// The connection ended with the submit in flight (written, no answer yet): the SMSC may
    /// have taken it.
    LinkLost,
    /// The connection ended with the submit still queued (never written, or throttled and
    /// waiting to be written again): the SMSC did not take it, so resending is safe.
    NotSent,
    /// No response within the response timeout.
    ResponseTimeout,
    /// The session is closing; the submit was not sent.
    Closing,
    /// The session was not bound for submitting (not bound, receiver bind, or window full).
    NotBound,
}

impl RetryReason {
    /// Whether the SMSC certainly did not take the submit (resending cannot duplicate it).
    pub const fn not_taken(&self) -> bool {
        matches!(self, Self::NotSent | Self::Closing | Self::NotBound)
    }

    /// A stable snake_case code, usable as a metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::LinkLost => "link_lost",
            Self::NotSent => "not_sent",
            Self::ResponseTimeout => "response_timeout",
            Self::Closing => "closing",
            Self::NotBound => "not_bound",
        }
    }
}

/// Names one inbound PDU awaiting the transport's answer: the connection it came on and its
/// sequence number. An answer for a connection that has since ended is ignored (the SMSC
/// redelivers), so a late answer can never answer another PDU that reuses the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliverId {
    pub(crate) connection: u64,
    pub(crate) sequence_number: u32,
}

impl DeliverId {
    /// The PDU's sequence number.
    pub const fn sequence_number(&self) -> u32 {
        self.sequence_number
    }
}

/// An inbound `deliver_sm` or `data_sm`: what it carries, read by the session from its one
/// decode of the PDU, and the PDU itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deliver {
    /// What to pass to `respond_deliver`.
    pub id: DeliverId,
    /// The message (its payload shares `frame`).
    pub message: Inbound,
    /// The PDU, length field included (already checked to decode).
    pub frame: Bytes,
}

/// The body of an inbound message, borrowed from its frame.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum InboundPdu<'a> {
    /// A `deliver_sm`.
    DeliverSm(DeliverSm<'a>),
    /// A `data_sm`.
    DataSm(DataSm<'a>),
}

impl Deliver {
    /// The PDU header.
    pub fn header(&self) -> Option<Header> {
        Header::peek(&self.frame)
    }

    /// A `data_sm` rather than a `deliver_sm`.
    pub fn is_data_sm(&self) -> bool {
        self.message.data_sm
    }

    /// The whole body, decoded again from the frame (zero-copy), for what [`Self::message`]
    /// does not carry: tools and tests; the transport reads `message`.
    pub fn pdu(&self) -> Result<InboundPdu<'_>, DecodeError> {
        let command = pdu::decode(&self.frame)?;
        match command.pdu() {
            Some(Pdu::DeliverSm(body)) => Ok(InboundPdu::DeliverSm(body.clone())),
            Some(Pdu::DataSm(body)) => Ok(InboundPdu::DataSm(body.clone())),
            _ => Err(DecodeError::Other),
        }
    }
}
