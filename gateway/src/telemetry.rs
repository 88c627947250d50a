//! Logs (tracing) and metrics (the `metrics` facade rendered by metrics-exporter-prometheus).
//!
//! Logs are text on a terminal and JSON lines otherwise. Phone numbers and message text are
//! never logged at info level or above: call sites log ids, counts and error codes only.
//! Metrics use the `richmond_` prefix; histograms get explicit buckets so they render as
//! Prometheus histograms, not summaries. Reference: style-and-operations.md B.3 and B.6.

use std::io::IsTerminal;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use richmond_drivers::telemetry::{Event, Kind, Metric};

use crate::cli::LogFormat;

/// Installs the global tracing subscriber.
pub fn init_logging(format: Option<LogFormat>, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests that start the app twice in one process) is harmless.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init()
    };
}

/// Latency buckets in seconds: 100 µs to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
/// Batch-size buckets (messages per group commit).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Why the metrics recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The histogram buckets were refused.
    #[error("metric buckets refused")]
    Buckets(#[from] metrics_exporter_prometheus::BuildError),
    /// Another recorder is installed in this process.
    #[error("cannot install the metrics recorder: another one is installed")]
    AlreadyInstalled,
}

/// Builds the Prometheus recorder and installs it globally; returns the render handle.
///
/// # Errors
/// When the bucket configuration is rejected or a recorder is already installed.
pub fn init_metrics() -> Result<PrometheusHandle, MetricsError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), BATCH_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    describe();
    metrics::gauge!(BUILD_INFO.name, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// Every metric catalogue of the gateway and the drivers, by area: what [`describe`]
/// registers, so `/metrics` has HELP text for each.
pub const CATALOGUES: &[&[Metric]] = &[
    METRICS,
    crate::bus::telemetry::METRICS,
    crate::store::telemetry::METRICS,
    crate::compact::METRICS,
    crate::api::telemetry::METRICS,
    crate::transport::telemetry::METRICS,
    crate::transport::smpp_server::METRICS,
    crate::transport::http_provider::METRICS,
    crate::process_metrics::METRICS,
    crate::router::telemetry::METRICS,
    crate::apps::telemetry::METRICS,
    crate::cluster::METRICS,
];

/// Every metric, once (a metric several events update is listed by each).
pub fn all_metrics() -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    let areas = CATALOGUES
        .iter()
        .chain(richmond_drivers::telemetry::METRICS);
    for m in areas.flat_map(|area| area.iter()) {
        if !out.iter().any(|o| o.name == m.name) {
            out.push(*m);
        }
    }
    out
}

/// Registers the HELP text (and the unit of `_seconds` histograms) of every metric.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    for m in all_metrics() {
        match m.kind {
            Kind::Counter => describe_counter!(m.name, m.help),
            Kind::Gauge => describe_gauge!(m.name, m.help),
            Kind::Histogram if m.name.ends_with("_seconds") => {
                describe_histogram!(m.name, Unit::Seconds, m.help);
            }
            Kind::Histogram => describe_histogram!(m.name, m.help),
        }
    }
}

pub const BUILD_INFO: Metric = Metric::gauge("richmond_build_info", "Build metadata; always 1.");
pub const READY: Metric = Metric::gauge(
    "richmond_ready",
    "1 when the gateway is ready to take traffic.",
);
pub const COMPONENT_UP: Metric = Metric::gauge(
    "richmond_component_up",
    "1 when the component (bus, store, transport) is up.",
);
pub const LISTENER_TLS_RELOADS: Metric = Metric::counter(
    "richmond_listener_tls_reloads_total",
    "Certificate reloads of the API or admin listener on SIGHUP (ok, failed).",
);

/// The gateway's own metrics: build, readiness, listener certificates.
pub const METRICS: &[Metric] = &[BUILD_INFO, READY, COMPONENT_UP, LISTENER_TLS_RELOADS];

/// Readiness changed: `component` went up or down (None: the gateway began draining),
/// and whether the gateway as a whole is ready now.
pub struct ReadinessChanged<'a> {
    pub component: Option<(&'a str, bool)>,
    pub ready: bool,
}

impl Event for ReadinessChanged<'_> {
    const METRICS: &'static [Metric] = &[COMPONENT_UP, READY];

    fn emit(self) {
        if let Some((name, up)) = self.component {
            let value = if up { 1.0 } else { 0.0 };
            metrics::gauge!(COMPONENT_UP.name, "component" => name.to_owned()).set(value);
        }
        metrics::gauge!(READY.name).set(if self.ready { 1.0 } else { 0.0 });
    }
}

/// A listener's certificate reloaded on SIGHUP, or not (`error`; the old one stays).
pub struct CertificateReloaded<'a> {
    pub listener: &'static str,
    pub error: Option<&'a dyn std::fmt::Display>,
}

impl Event for CertificateReloaded<'_> {
    const METRICS: &'static [Metric] = &[LISTENER_TLS_RELOADS];

    fn emit(self) {
        let listener = self.listener;
        let outcome = if self.error.is_some() { "failed" } else { "ok" };
        metrics::counter!(LISTENER_TLS_RELOADS.name, "listener" => listener, "outcome" => outcome)
            .increment(1);
        match self.error {
            None => tracing::info!(message = "TLS certificate reloaded.", listener),
            Some(e) => {
                tracing::error!(message = "TLS certificate reload failed; the old one stays.", listener, error = %e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
