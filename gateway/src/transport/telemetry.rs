//! The transports' telemetry events (see `richmond_drivers::telemetry`): messages by
//! direction and kind, and what each protocol's mapping counts — SMPP receipts, resubmits and
//! refused parts, SSMI answers that match nothing, modem reports, retries and losses.

use std::fmt::Display;

use metrics::{counter, gauge};
use richmond_drivers::telemetry::{Event, Metric};

pub const MESSAGES: Metric = Metric::counter(
    "richmond_transport_messages_total",
    "Messages through a transport, by direction (inbound, outbound) and kind (sms, ussd, sms_part, delivery_report, ack, nack, failure, requeued).",
);
pub const MULTIPART_UNREADABLE: Metric = Metric::counter(
    "richmond_multipart_unreadable_total",
    "Multipart messages whose stored parts could not be read back (dropped, logged).",
);
pub const SMPP_RESUBMITS: Metric = Metric::counter(
    "richmond_smpp_resubmits_total",
    "Message parts submitted again because the SMSC had not taken them, by reason.",
);
pub const SMPP_RECEIPT_IDS_UNGUARDED: Metric = Metric::counter(
    "richmond_smpp_receipt_ids_unguarded_total",
    "Receipt id mappings not held in memory while their store write ran (memory cap reached).",
);
pub const SMPP_UNANSWERED_DELIVERS: Metric = Metric::gauge(
    "richmond_smpp_unanswered_delivers",
    "deliver_sm taken from the SMSC and not yet answered (at most max_unanswered_delivers per bind).",
);
pub const SMPP_RECEIPTS: Metric = Metric::counter(
    "richmond_smpp_receipts_total",
    "Delivery receipts: matched to a message, unmatched (unknown id) or unparsed.",
);
pub const SMPP_BAD_UDH: Metric = Metric::counter(
    "richmond_smpp_bad_udh_total",
    "MO with esm_class UDHI whose header does not parse (delivered as text, header included).",
);
pub const SMPP_REJECTED_PARTS: Metric = Metric::counter(
    "richmond_smpp_rejected_parts_total",
    "Multipart MO parts refused for impossible numbering (SAR or UDH segment 0, beyond the total, total 0), by reason; answered with a status the SMSC does not retry.",
);
pub const SSMI_UNMATCHED: Metric = Metric::counter(
    "richmond_ssmi_unmatched_total",
    "SSMI answers (SEQ, DR, NACK) that matched no waiting message.",
);
pub const SSMI_USSD_SESSIONS_MISSING: Metric = Metric::counter(
    "richmond_ssmi_ussd_sessions_missing_total",
    "USSD replies for a session whose dialled code was no longer in the store.",
);
pub const MODEM_STATUS_REPORTS: Metric = Metric::counter(
    "richmond_modem_status_reports_total",
    "SMS status reports, by outcome (matched, pending, unmatched, outside_window).",
);
pub const MODEM_DROPPED: Metric = Metric::counter(
    "richmond_modem_dropped_total",
    "Messages lost, by kind: routed ones (+CMT/+CDS) the bus would not take after its retries, USSD answers a closing bus refused.",
);
pub const MODEM_SEND_FAILURES: Metric = Metric::counter(
    "richmond_modem_send_failures_total",
    "Sends given up (nacked), by error code.",
);
pub const MODEM_SEND_RETRIES: Metric = Metric::counter(
    "richmond_modem_send_retries_total",
    "Sends retried, by error code.",
);
pub const MODEM_REJECTED_PDUS: Metric = Metric::counter(
    "richmond_modem_rejected_pdus_total",
    "Received PDUs that could not be decoded, by code (counted, logged, deleted).",
);
pub const MODEM_DUPLICATES: Metric = Metric::counter(
    "richmond_modem_duplicates_total",
    "Received messages already published (seen again after a crash or a re-read).",
);

/// Every metric of the transports.
pub const METRICS: &[Metric] = &[
    MESSAGES,
    MULTIPART_UNREADABLE,
    SMPP_RESUBMITS,
    SMPP_RECEIPT_IDS_UNGUARDED,
    SMPP_UNANSWERED_DELIVERS,
    SMPP_RECEIPTS,
    SMPP_BAD_UDH,
    SMPP_REJECTED_PARTS,
    SSMI_UNMATCHED,
    SSMI_USSD_SESSIONS_MISSING,
    MODEM_STATUS_REPORTS,
    MODEM_DROPPED,
    MODEM_SEND_FAILURES,
    MODEM_SEND_RETRIES,
    MODEM_REJECTED_PDUS,
    MODEM_DUPLICATES,
];

/// One message of `transport`, by direction (`inbound`, `outbound`) and kind.
pub(crate) struct Message<'a> {
    pub(crate) transport: &'a str,
    pub(crate) direction: &'static str,
    pub(crate) kind: &'static str,
}

impl Event for Message<'_> {
    const METRICS: &'static [Metric] = &[MESSAGES];

    fn emit(self) {
        counter!(MESSAGES.name, "transport" => self.transport.to_owned(),
            "direction" => self.direction, "kind" => self.kind)
        .increment(1);
    }
}

/// Stored parts of a multipart message that cannot be read (dropped, said loudly).
pub(crate) struct MultipartUnreadable<'a> {
    pub(crate) transport: &'a str,
    pub(crate) parts: usize,
}

impl Event for MultipartUnreadable<'_> {
    const METRICS: &'static [Metric] = &[MULTIPART_UNREADABLE];

    fn emit(self) {
        let Self { transport, parts } = self;
        tracing::error!(
            message = "Multipart parts that cannot be read; dropped.",
            transport,
            parts
        );
        counter!(MULTIPART_UNREADABLE.name, "transport" => transport.to_owned()).increment(1);
    }
}

/// What the SMPP transport counts.
pub(crate) enum Smpp<'a> {
    /// A part submitted again: the SMSC had not taken it (`reason`).
    Resubmit { reason: &'static str },
    /// A receipt id mapping not held in memory while its store write ran.
    ReceiptIdUnguarded,
    /// A deliver_sm taken from the SMSC (`taken`) or answered.
    Unanswered { taken: bool },
    /// A delivery receipt: matched, unmatched (unknown id) or unparsed.
    Receipt { outcome: &'static str },
    /// An MO whose UDH does not parse (taken as text).
    BadUdh { error: &'a dyn Display },
    /// A multipart part with impossible numbering, answered `status`.
    PartRejected { reason: &'static str, status: u32 },
}

/// An SMPP transport event of `transport`.
pub(crate) struct SmppEvent<'a> {
    pub(crate) transport: &'a str,
    pub(crate) what: Smpp<'a>,
}

impl Event for SmppEvent<'_> {
    const METRICS: &'static [Metric] = &[
        SMPP_RESUBMITS,
        SMPP_RECEIPT_IDS_UNGUARDED,
        SMPP_UNANSWERED_DELIVERS,
        SMPP_RECEIPTS,
        SMPP_BAD_UDH,
        SMPP_REJECTED_PARTS,
    ];

    fn emit(self) {
        let name = self.transport;
        let transport = name.to_owned();
        match self.what {
            Smpp::Resubmit { reason } => {
                counter!(SMPP_RESUBMITS.name, "transport" => transport, "reason" => reason)
                    .increment(1);
            }
            Smpp::ReceiptIdUnguarded => {
                counter!(SMPP_RECEIPT_IDS_UNGUARDED.name, "transport" => transport).increment(1);
            }
            Smpp::Unanswered { taken } => {
                let g = gauge!(SMPP_UNANSWERED_DELIVERS.name, "transport" => transport);
                if taken {
                    g.increment(1.0);
                } else {
                    g.decrement(1.0);
                }
            }
            Smpp::Receipt { outcome } => {
                counter!(SMPP_RECEIPTS.name, "transport" => transport, "outcome" => outcome)
                    .increment(1);
                if outcome == "unmatched" {
                    tracing::warn!(
                        message = "Receipt for an unknown message id.",
                        transport = name
                    );
                }
            }
            Smpp::BadUdh { error } => {
                counter!(SMPP_BAD_UDH.name, "transport" => transport).increment(1);
                tracing::warn!(message = "Bad UDH in an MO; taken as text.", transport = name, error = %error);
            }
            Smpp::PartRejected { reason, status } => {
                counter!(SMPP_REJECTED_PARTS.name, "transport" => transport, "reason" => reason)
                    .increment(1);
                tracing::warn!(
                    message = "A multipart MO part with impossible numbering; refused.",
                    transport = name,
                    reason,
                    status = format!("0x{status:08X}")
                );
            }
        }
    }
}

/// What the SSMI transport counts.
pub(crate) enum Ssmi {
    /// An answer (SEQ, DR, NACK) that matched no waiting message.
    Unmatched { kind: &'static str },
    /// A USSD message for a session whose dialled code is no longer in the store.
    UssdSessionMissing,
}

/// An SSMI transport event of `transport`.
pub(crate) struct SsmiEvent<'a> {
    pub(crate) transport: &'a str,
    pub(crate) what: Ssmi,
}

impl Event for SsmiEvent<'_> {
    const METRICS: &'static [Metric] = &[SSMI_UNMATCHED, SSMI_USSD_SESSIONS_MISSING];

    fn emit(self) {
        let name = self.transport;
        match self.what {
            Ssmi::Unmatched { kind } => {
                counter!(SSMI_UNMATCHED.name, "transport" => name.to_owned(), "kind" => kind)
                    .increment(1);
            }
            Ssmi::UssdSessionMissing => {
                counter!(SSMI_USSD_SESSIONS_MISSING.name, "transport" => name.to_owned())
                    .increment(1);
                tracing::warn!(
                    message = "USSD message for an unknown session; to_addr left empty.",
                    transport = name
                );
            }
        }
    }
}

/// What the modem transport counts.
pub(crate) enum Modem {
    /// A status report: matched, pending, unmatched, outside_window.
    StatusReport { outcome: &'static str },
    /// A routed message (+CMT/+CDS) the bus would not take: lost.
    RoutedLost,
    /// A USSD answer a closing bus refused: lost.
    UssdLost,
    /// A send given up (nacked), by error code.
    SendFailed { code: &'static str },
    /// A send retried, by error code.
    SendRetried { code: &'static str },
    /// A received PDU that could not be decoded (deleted), by code.
    PduRejected { code: &'static str },
    /// A received message already published.
    Duplicate,
}

/// A modem transport event of `transport`.
pub(crate) struct ModemEvent<'a> {
    pub(crate) transport: &'a str,
    pub(crate) what: Modem,
}

impl Event for ModemEvent<'_> {
    const METRICS: &'static [Metric] = &[
        MODEM_STATUS_REPORTS,
        MODEM_DROPPED,
        MODEM_SEND_FAILURES,
        MODEM_SEND_RETRIES,
        MODEM_REJECTED_PDUS,
        MODEM_DUPLICATES,
    ];

    fn emit(self) {
        let name = self.transport;
        let transport = name.to_owned();
        match self.what {
            Modem::StatusReport { outcome } => {
                counter!(MODEM_STATUS_REPORTS.name, "transport" => transport, "outcome" => outcome)
                    .increment(1);
            }
            Modem::RoutedLost => {
                counter!(MODEM_DROPPED.name, "transport" => transport, "kind" => "routed")
                    .increment(1);
                tracing::error!(
                    message = "A routed message (+CMT/+CDS) could not be handed on and is lost; prefer store-and-notify CNMI settings.",
                    transport = name
                );
            }
            Modem::UssdLost => {
                counter!(MODEM_DROPPED.name, "transport" => transport, "kind" => "ussd")
                    .increment(1);
                tracing::warn!(
                    message = "USSD answer not published: the bus is closing.",
                    transport = name
                );
            }
            Modem::SendFailed { code } => {
                counter!(MODEM_SEND_FAILURES.name, "transport" => transport, "code" => code)
                    .increment(1);
            }
            Modem::SendRetried { code } => {
                counter!(MODEM_SEND_RETRIES.name, "transport" => transport, "code" => code)
                    .increment(1);
            }
            Modem::PduRejected { code } => {
                counter!(MODEM_REJECTED_PDUS.name, "transport" => transport, "code" => code)
                    .increment(1);
            }
            Modem::Duplicate => {
                counter!(MODEM_DUPLICATES.name, "transport" => transport).increment(1)
            }
        }
    }
}
