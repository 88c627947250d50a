//! The built-in applications' telemetry events (see `richmond_drivers::telemetry`).

use metrics::{counter, histogram};
use richmond_codecs::vumi::{Event as VumiEvent, EventKind};
use richmond_drivers::telemetry::{Event, Metric};

pub const MESSAGES: Metric = Metric::counter(
    "richmond_app_messages_total",
    "Messages and events a built-in application handled, by kind (ussd_echo: new, echo, end, closed — a hang-up or timeout; smitter: join, leave, broadcast, refused; http_relay: relayed, relay_failed; events: ack, nack, delivery_report; undecodable).",
);
pub const RELAY_REQUESTS: Metric = Metric::counter(
    "richmond_relay_requests_total",
    "HTTP requests of an http_relay application, by what was posted (message, event) and outcome (ok, timeout, connect, tls, status_5xx, status_other, refused_address, answer_too_long, bad_url).",
);
pub const RELAY_DURATION: Metric = Metric::histogram(
    "richmond_relay_request_duration_seconds",
    "Time an http_relay request took, from sending to the whole answer (or the failure).",
);

/// Every metric of the built-in applications.
pub const METRICS: &[Metric] = &[MESSAGES, RELAY_REQUESTS, RELAY_DURATION];

/// What an application handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A new session, greeted.
    New,
    /// An answer, echoed.
    Echo,
    /// `0`: the session ended with the goodbye.
    End,
    /// The user hung up or the network timed the session out.
    Closed,
    /// Smitter: joined, left, broadcast, or a join or leave refused (full, not a member).
    Join,
    Leave,
    Broadcast,
    Refused,
    /// http_relay: relayed to the web application (a reply, if it answered one, sent);
    /// or given up (to failures).
    Relayed,
    RelayFailed,
    Ack,
    Nack,
    DeliveryReport,
    /// A body that is no Vumi message (sent to failures).
    Undecodable,
}

impl Kind {
    /// The kind of an event.
    pub fn of_event(e: &VumiEvent) -> Self {
        match e.kind {
            EventKind::Ack { .. } => Self::Ack,
            EventKind::Nack { .. } => Self::Nack,
            EventKind::DeliveryReport { .. } => Self::DeliveryReport,
        }
    }

    const fn label(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Echo => "echo",
            Self::End => "end",
            Self::Closed => "closed",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Broadcast => "broadcast",
            Self::Refused => "refused",
            Self::Relayed => "relayed",
            Self::RelayFailed => "relay_failed",
            Self::Ack => "ack",
            Self::Nack => "nack",
            Self::DeliveryReport => "delivery_report",
            Self::Undecodable => "undecodable",
        }
    }
}

/// `application` handled a message or event of `kind`.
pub(crate) struct Handled<'a> {
    pub(crate) application: &'a str,
    pub(crate) kind: Kind,
}

impl Event for Handled<'_> {
    const METRICS: &'static [Metric] = &[MESSAGES];

    fn emit(self) {
        let (application, kind) = (self.application, self.kind.label());
        counter!(MESSAGES.name, "application" => application.to_owned(), "kind" => kind)
            .increment(1);
        match self.kind {
            Kind::Closed => tracing::info!(
                message = "USSD session closed by the user or the network (hang-up or timeout).",
                application
            ),
            Kind::Undecodable => tracing::warn!(
                message = "Not a Vumi message; sent to failures.",
                application
            ),
            Kind::Nack => tracing::warn!(message = "A reply was refused (nack).", application),
            Kind::RelayFailed => tracing::warn!(
                message = "The web application did not take the message; sent to failures.",
                application
            ),
            _ => {}
        }
    }
}

/// One HTTP request of an http_relay application.
pub(crate) struct RelayRequest<'a> {
    pub(crate) application: &'a str,
    pub(crate) what: &'static str,
    pub(crate) outcome: &'a str,
    pub(crate) seconds: f64,
}

impl Event for RelayRequest<'_> {
    const METRICS: &'static [Metric] = &[RELAY_REQUESTS, RELAY_DURATION];

    fn emit(self) {
        let (application, what, outcome) = (self.application, self.what, self.outcome);
        counter!(RELAY_REQUESTS.name, "application" => application.to_owned(), "what" => what,
            "outcome" => outcome.to_owned())
        .increment(1);
        histogram!(RELAY_DURATION.name, "application" => application.to_owned())
            .record(self.seconds);
        if outcome != "ok" {
            tracing::info!(
                message = "HTTP relay request failed.",
                application,
                what,
                outcome
            );
        }
    }
}
