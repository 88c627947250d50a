//! Telemetry as typed events (as Vector's internal events): each thing worth counting or
//! logging is a type implementing [`Event`], which owns the metrics it updates — their names,
//! kinds and HELP text, as [`Metric`]s — and its log line. Call sites build the event and
//! [`Event::emit`] it; no metric name or log line is written anywhere else.
//!
//! Each area (`modem/telemetry.rs`, `smpp/telemetry.rs`, …) lists its events' metrics in one
//! catalogue (`pub const METRICS: &[Metric]`); [`METRICS`] below gathers the drivers' areas,
//! and the gateway describes every metric of every catalogue when it installs its recorder,
//! so `/metrics` has HELP text for all of them. Logs use one style: a sentence in `message`,
//! then structured fields (`transport`, codes, counts), never phone numbers or message text
//! at info level or above.

/// What kind of series a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A histogram in seconds when its name ends in `_seconds`.
    Histogram,
}

/// One metric: its name (`richmond_…`), kind and HELP text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

impl Metric {
    /// A counter.
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Counter,
            help,
        }
    }

    /// A gauge.
    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Gauge,
            help,
        }
    }

    /// A histogram.
    pub const fn histogram(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Histogram,
            help,
        }
    }
}

/// Something that happened, recorded as metrics and (for most) a log line.
pub trait Event {
    /// The metrics [`Event::emit`] updates.
    const METRICS: &'static [Metric];

    /// Records the metrics and writes the log line.
    fn emit(self);
}

/// Every metric the drivers emit, by area.
pub const METRICS: &[&[Metric]] = &[
    crate::modem::telemetry::METRICS,
    crate::smpp::telemetry::METRICS,
    crate::ssmi::telemetry::METRICS,
];
