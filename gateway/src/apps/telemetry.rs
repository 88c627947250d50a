//! The built-in applications' telemetry events (see `richmond_drivers::telemetry`).

use metrics::counter;
use richmond_codecs::vumi::{Event as VumiEvent, EventKind};
use richmond_drivers::telemetry::{Event, Metric};

pub const MESSAGES: Metric = Metric::counter(
    "richmond_app_messages_total",
    "Messages and events a built-in application handled, by kind (ussd_echo: new, echo, end, closed — a hang-up or timeout; smitter: join, leave, broadcast, refused; events: ack, nack, delivery_report; undecodable).",
);

/// Every metric of the built-in applications.
pub const METRICS: &[Metric] = &[MESSAGES];

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
            _ => {}
        }
    }
}
