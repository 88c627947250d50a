//! The SMPP bind task's telemetry events (see [`crate::telemetry`]): session events worth a
//! metric or a log line, connection attempts, PDUs by command, and the bind-state gauges
//! (each bind reports changes, so several binds of one transport add up).

use metrics::{counter, gauge, histogram};
use tracing::{debug, info, warn};

use super::event::Event as SessionEvent;
use crate::telemetry::{Event, Metric};

pub const BINDS_UP: Metric = Metric::gauge("richmond_smpp_binds_up", "SMPP binds currently bound.");
pub const WINDOW_IN_USE: Metric = Metric::gauge(
    "richmond_smpp_window_in_use",
    "submit_sm awaiting their response, summed over the transport's binds.",
);
pub const PDUS: Metric = Metric::counter(
    "richmond_smpp_pdus_total",
    "SMPP PDUs, by direction and command.",
);
pub const SUBMITS: Metric = Metric::counter(
    "richmond_smpp_submits_total",
    "submit_sm outcomes: accepted, rejected, retry.",
);
pub const SUBMIT_LATENCY: Metric = Metric::histogram(
    "richmond_smpp_submit_latency_seconds",
    "Time from a submit_sm's first write to its response.",
);
pub const THROTTLED: Metric = Metric::counter(
    "richmond_smpp_throttled_total",
    "ESME_RTHROTTLED / ESME_RMSGQFUL answers (the bind pauses; no nack).",
);
pub const CONNECT_ATTEMPTS: Metric = Metric::counter(
    "richmond_smpp_connect_attempts_total",
    "SMPP TCP connection attempts.",
);
pub const RECONNECTS: Metric = Metric::counter(
    "richmond_smpp_reconnects_total",
    "SMPP reconnections after a lost bind.",
);
pub const UNBINDS: Metric = Metric::counter(
    "richmond_smpp_unbinds_total",
    "SMPP binds ended, by reason.",
);
pub const MALFORMED_PDUS: Metric = Metric::counter(
    "richmond_smpp_malformed_pdus_total",
    "PDUs from the SMSC that did not decode (answered with generic_nack), by error code.",
);
pub const UNMATCHED_RESPONSES: Metric = Metric::counter(
    "richmond_smpp_unmatched_responses_total",
    "SMPP responses whose sequence number matched nothing outstanding (ignored).",
);

/// Every metric of the SMPP driver.
pub const METRICS: &[Metric] = &[
    BINDS_UP,
    WINDOW_IN_USE,
    PDUS,
    SUBMITS,
    SUBMIT_LATENCY,
    THROTTLED,
    CONNECT_ATTEMPTS,
    RECONNECTS,
    UNBINDS,
    MALFORMED_PDUS,
    UNMATCHED_RESPONSES,
];

/// A session event of `transport`'s bind, as metrics and a log line (most pass on to the
/// transport afterwards; this only records them).
pub struct Observed<'a> {
    pub transport: &'a str,
    pub event: &'a SessionEvent,
}

impl Event for Observed<'_> {
    const METRICS: &'static [Metric] = &[
        SUBMITS,
        SUBMIT_LATENCY,
        UNBINDS,
        THROTTLED,
        MALFORMED_PDUS,
        UNMATCHED_RESPONSES,
    ];

    fn emit(self) {
        let transport = self.transport.to_owned();
        match self.event {
            SessionEvent::SubmitResult {
                outcome, latency, ..
            } => {
                counter!(SUBMITS.name, "transport" => transport.clone(), "outcome" => outcome.code())
                    .increment(1);
                if let Some(latency) = latency {
                    histogram!(SUBMIT_LATENCY.name, "transport" => transport)
                        .record(latency.as_secs_f64());
                }
            }
            SessionEvent::Bound { mode, .. } => {
                info!(message = "SMPP bound.", mode = mode.code());
            }
            SessionEvent::BindRejected { status } => {
                warn!(message = "SMPP bind rejected.", status);
            }
            SessionEvent::Unbound { reason } => {
                info!(message = "SMPP unbound.", reason = reason.code());
                counter!(UNBINDS.name, "transport" => transport, "reason" => reason.code())
                    .increment(1);
            }
            SessionEvent::Throttled { status } => {
                debug!(message = "SMPP throttled by the SMSC.", status);
                counter!(THROTTLED.name, "transport" => transport).increment(1);
            }
            SessionEvent::Malformed { error, command_id } => {
                warn!(
                    message = "SMPP PDU undecodable.",
                    command_id,
                    code = error.code()
                );
                counter!(MALFORMED_PDUS.name, "transport" => transport, "code" => error.code())
                    .increment(1);
            }
            SessionEvent::UnmatchedResponse {
                command_id,
                sequence_number,
            } => {
                warn!(
                    message = "SMPP response to nothing outstanding; ignored.",
                    command_id, sequence_number
                );
                counter!(UNMATCHED_RESPONSES.name, "transport" => transport).increment(1);
            }
            _ => {}
        }
    }
}

/// A TCP connection attempt (the first, or a reconnection after a lost bind).
pub struct Connecting<'a> {
    pub transport: &'a str,
    /// Attempts before this one.
    pub before: u64,
}

impl Event for Connecting<'_> {
    const METRICS: &'static [Metric] = &[CONNECT_ATTEMPTS, RECONNECTS];

    fn emit(self) {
        let transport = self.transport.to_owned();
        counter!(CONNECT_ATTEMPTS.name, "transport" => transport.clone()).increment(1);
        if self.before > 0 {
            counter!(RECONNECTS.name, "transport" => transport).increment(1);
        }
    }
}

/// One PDU read or written (`command` "other" when its header did not decode).
pub struct PduMoved<'a> {
    pub transport: &'a str,
    pub direction: &'static str,
    pub command: &'static str,
}

impl Event for PduMoved<'_> {
    const METRICS: &'static [Metric] = &[PDUS];

    fn emit(self) {
        counter!(
            PDUS.name,
            "transport" => self.transport.to_owned(),
            "direction" => self.direction,
            "command" => self.command
        )
        .increment(1);
    }
}

/// This bind's change to the transport's gauges: bound or not, and submits in flight.
pub struct BindMoved<'a> {
    pub transport: &'a str,
    /// +1 when the bind came up, -1 when it went down, 0 when it did not change.
    pub binds: i8,
    /// The change of this bind's submits awaiting their response.
    pub window: f64,
}

impl Event for BindMoved<'_> {
    const METRICS: &'static [Metric] = &[BINDS_UP, WINDOW_IN_USE];

    fn emit(self) {
        let transport = self.transport.to_owned();
        if self.binds != 0 {
            gauge!(BINDS_UP.name, "transport" => transport.clone())
                .increment(f64::from(self.binds));
        }
        if self.window != 0.0 {
            gauge!(WINDOW_IN_USE.name, "transport" => transport).increment(self.window);
        }
    }
}
