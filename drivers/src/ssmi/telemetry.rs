//! The SSMI client task's telemetry events (see [`crate::telemetry`]): lines by direction and
//! type, rejected lines, link checks, reconnections and TLS failures.

use metrics::counter;
use richmond_codecs::ssmi::LineError;
use tracing::warn;

use crate::telemetry::{Event, Metric};

pub const LINES: Metric = Metric::counter(
    "richmond_ssmi_lines_total",
    "SSMI lines, by direction and type.",
);
pub const REJECTED_LINES: Metric = Metric::counter(
    "richmond_ssmi_rejected_lines_total",
    "SSMI lines from the server that did not parse (logged and skipped).",
);
pub const RECONNECTS: Metric = Metric::counter(
    "richmond_ssmi_reconnects_total",
    "SSMI connection attempts after the first.",
);
pub const TLS_FAILURES: Metric = Metric::counter(
    "richmond_ssmi_tls_failures_total",
    "SSMI TLS handshakes that failed or timed out (retried with the reconnect backoff).",
);
pub const LINK_CHECKS: Metric = Metric::counter(
    "richmond_ssmi_link_checks_total",
    "SSMI link checks sent and answered.",
);

/// Every metric of the SSMI driver.
pub const METRICS: &[Metric] = &[LINES, REJECTED_LINES, RECONNECTS, TLS_FAILURES, LINK_CHECKS];

/// One line read or written, by its type (`rejected`, `unknown` for lines read and skipped).
pub struct LineMoved<'a> {
    pub transport: &'a str,
    pub direction: &'static str,
    pub kind: &'static str,
}

impl Event for LineMoved<'_> {
    const METRICS: &'static [Metric] = &[LINES, LINK_CHECKS];

    fn emit(self) {
        let transport = self.transport.to_owned();
        if self.direction == "out" && self.kind == "link_check" {
            counter!(LINK_CHECKS.name, "transport" => transport.clone()).increment(1);
        }
        counter!(
            LINES.name,
            "transport" => transport,
            "direction" => self.direction,
            "kind" => self.kind
        )
        .increment(1);
    }
}

/// A line from the server that did not parse (skipped; the link stays).
pub struct LineRejected<'a> {
    pub transport: &'a str,
    pub reason: &'a LineError,
}

impl Event for LineRejected<'_> {
    const METRICS: &'static [Metric] = &[REJECTED_LINES];

    fn emit(self) {
        let reason = self.reason;
        counter!(
            REJECTED_LINES.name,
            "transport" => self.transport.to_owned(),
            "code" => reason.code()
        )
        .increment(1);
        warn!(message = "SSMI line rejected, skipped.", code = reason.code(), %reason);
    }
}

/// A connection attempt after the first.
pub struct Reconnecting<'a> {
    pub transport: &'a str,
}

impl Event for Reconnecting<'_> {
    const METRICS: &'static [Metric] = &[RECONNECTS];

    fn emit(self) {
        counter!(RECONNECTS.name, "transport" => self.transport.to_owned()).increment(1);
    }
}

/// The TLS handshake failed (`error`) or timed out (None); retried with the backoff.
pub struct TlsFailed<'a> {
    pub transport: &'a str,
    pub addr: &'a str,
    pub error: Option<&'a std::io::Error>,
}

impl Event for TlsFailed<'_> {
    const METRICS: &'static [Metric] = &[TLS_FAILURES];

    fn emit(self) {
        let addr = self.addr;
        match self.error {
            Some(error) => warn!(message = "SSMI TLS handshake failed.", addr, %error),
            None => warn!(message = "SSMI TLS handshake timed out.", addr),
        }
        counter!(TLS_FAILURES.name, "transport" => self.transport.to_owned()).increment(1);
    }
}
