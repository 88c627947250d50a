//! Logs (tracing) and metrics (the `metrics` facade rendered by metrics-exporter-prometheus).
//!
//! Logs are text on a terminal and JSON lines otherwise. Phone numbers and message text are
//! never logged at info level or above: call sites log ids, counts and error codes only.
//! Metrics use the `richmond_` prefix; histograms get explicit buckets so they render as
//! Prometheus histograms, not summaries. Reference: style-and-operations.md B.3 and B.6.

use std::io::IsTerminal;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

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
    describe_transports();
    describe_modems();
    crate::process_metrics::describe();
    metrics::gauge!(
        "richmond_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
    )
    .set(1.0);
    Ok(handle)
}

/// Registers HELP texts for every metric the gateway emits.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("richmond_build_info", "Build metadata; always 1.");
    describe_gauge!(
        "richmond_ready",
        "1 when the gateway is ready to take traffic."
    );
    describe_gauge!(
        "richmond_component_up",
        "1 when the component (bus, store, transport) is up."
    );
    describe_counter!(
        "richmond_bus_publishes_total",
        "Messages handed to the bus."
    );
    describe_counter!(
        "richmond_bus_publish_errors_total",
        "Publishes the bus did not confirm."
    );
    describe_histogram!(
        "richmond_bus_publish_duration_seconds",
        Unit::Seconds,
        "Time from publish to confirmation (broker confirm or spool commit)."
    );
    describe_counter!(
        "richmond_bus_deliveries_total",
        "Messages delivered to consumers."
    );
    describe_counter!(
        "richmond_bus_redeliveries_total",
        "Deliveries flagged as redelivered."
    );
    describe_counter!("richmond_bus_acks_total", "Deliveries acknowledged.");
    describe_counter!(
        "richmond_bus_nacks_total",
        "Deliveries rejected (requeued or not)."
    );
    describe_counter!(
        "richmond_bus_returns_total",
        "Publishes the broker returned as unroutable."
    );
    describe_counter!(
        "richmond_bus_reconnects_total",
        "Reconnections to the broker."
    );
    describe_gauge!(
        "richmond_bus_queue_messages",
        "Messages in an embedded queue (ready + unacked)."
    );
    describe_gauge!(
        "richmond_bus_queue_bytes",
        "Payload bytes in an embedded queue."
    );
    describe_histogram!(
        "richmond_spool_commit_duration_seconds",
        Unit::Seconds,
        "Duration of one spool group commit, sync included."
    );
    describe_histogram!(
        "richmond_spool_commit_batch_size",
        "Operations per spool group commit."
    );
    describe_histogram!(
        "richmond_store_commit_batch_size",
        "Writes per group commit of the embedded (redb) store."
    );
    describe_counter!(
        "richmond_amqp_ack_frames_total",
        "basic.ack frames sent to RabbitMQ, by kind: multiple (covering several deliveries) or single."
    );
    describe_histogram!(
        "richmond_amqp_acks_per_frame",
        "Deliveries acknowledged by one basic.ack multiple frame."
    );
    describe_counter!(
        "richmond_api_requests_total",
        "HTTP API requests, by route pattern and status code."
    );
    describe_histogram!(
        "richmond_api_request_duration_seconds",
        Unit::Seconds,
        "HTTP API request handling time, by route pattern."
    );
    describe_counter!(
        "richmond_api_rate_limited_total",
        "HTTP API requests refused with 429 by the per-account rate limit."
    );
    describe_gauge!("richmond_api_connections", "Open HTTP API connections.");
    describe_counter!(
        "richmond_admin_accept_errors_total",
        "Failed accepts on the admin listener (out of file descriptors, most likely)."
    );
    describe_gauge!(
        "richmond_admin_connections",
        "Open admin listener connections."
    );
    describe_counter!(
        "richmond_listener_tls_failures_total",
        "TLS handshakes on the API or admin listener that failed or timed out."
    );
    describe_counter!(
        "richmond_listener_tls_reloads_total",
        "Certificate reloads of the API or admin listener on SIGHUP (ok, failed)."
    );
    describe_counter!(
        "richmond_api_accept_errors_total",
        "Failed accepts on the API listener (e.g. out of file descriptors)."
    );
    describe_counter!(
        "richmond_api_request_timeouts_total",
        "API requests answered 408: the body, or a place to run, did not come in time."
    );
    describe_counter!(
        "richmond_api_credential_cache_hits_total",
        "Basic logins admitted from the verified-credential cache (no argon2)."
    );
    describe_counter!(
        "richmond_api_password_verifications_total",
        "argon2 password verifications, by result (ok, wrong)."
    );
    describe_counter!(
        "richmond_api_failed_login_blocks_total",
        "Basic logins refused (429) because their source address passed its failed-login limit."
    );
    describe_counter!(
        "richmond_api_messages_sent_total",
        "Messages the HTTP API published to <transport>.outbound."
    );
    describe_counter!(
        "richmond_api_bus_messages_total",
        "Events and inbound messages the HTTP API consumed, by outcome."
    );
    describe_counter!(
        "richmond_api_callback_attempts_total",
        "Callback POSTs attempted (sms_received, sms_receipt)."
    );
    describe_counter!(
        "richmond_api_callback_failures_total",
        "Callback POSTs that failed (timeout, connect, tls, refused_address, status_5xx, status_other)."
    );
    describe_counter!(
        "richmond_api_callbacks_total",
        "Callbacks finished: delivered or gave_up after the last attempt, or dropped when the account's queue was full and its receiver had taken none for 30 s."
    );
    describe_counter!(
        "richmond_api_callback_queue_waits_total",
        "Callbacks that waited for room in their account's full queue while its receiver was alive (the bus delivery behind them stayed unacknowledged)."
    );
    describe_counter!("richmond_store_operations_total", "State-store operations.");
    describe_counter!(
        "richmond_store_errors_total",
        "State-store operations that failed."
    );
}

/// HELP texts of the modem driver's and transport's metrics (all labelled `transport`).
fn describe_modems() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        "richmond_modem_up",
        "1 while the modem is open and initialised."
    );
    describe_gauge!(
        "richmond_modem_signal_dbm",
        "Signal strength from the last AT+CSQ, in dBm."
    );
    describe_gauge!(
        "richmond_modem_registration",
        "Network registration status (3GPP TS 27.007 <stat>: 1 home, 5 roaming, 2 searching, \
         3 denied, 0 not registered), by kind (cs, ps, eps)."
    );
    describe_gauge!(
        "richmond_modem_storage_used",
        "Messages held in the modem's SMS storage."
    );
    describe_gauge!(
        "richmond_modem_storage_total",
        "Capacity of the modem's SMS storage, in messages."
    );
    describe_counter!("richmond_modem_commands_total", "AT commands sent.");
    describe_counter!(
        "richmond_modem_command_timeouts_total",
        "AT commands with no final result in time."
    );
    describe_counter!(
        "richmond_modem_unexpected_lines_total",
        "Lines from the modem that answer nothing and announce nothing known (ignored)."
    );
    describe_counter!(
        "richmond_modem_recoveries_total",
        "Recoveries of a modem that stopped answering, by step (escape, reopen)."
    );
    describe_counter!(
        "richmond_modem_reopens_total",
        "Times the serial device was opened again after it was lost."
    );
    describe_counter!(
        "richmond_modem_deferred_reads_total",
        "Stored messages left in the modem for the next sweep because the transport was busy."
    );
    describe_counter!(
        "richmond_modem_delete_skipped_total",
        "Slots not deleted because they no longer held the message that was handled."
    );
    describe_counter!(
        "richmond_modem_rejected_pdus_total",
        "Received PDUs that could not be decoded, by code (counted, logged, deleted)."
    );
    describe_counter!(
        "richmond_modem_duplicates_total",
        "Received messages already published (seen again after a crash or a re-read)."
    );
    describe_counter!(
        "richmond_modem_dropped_total",
        "Messages lost, by kind: routed ones (+CMT/+CDS) the bus would not take after its \
         retries, USSD answers a closing bus refused."
    );
    describe_counter!(
        "richmond_modem_send_retries_total",
        "Sends retried, by error code."
    );
    describe_counter!(
        "richmond_modem_send_failures_total",
        "Sends given up (nacked), by error code."
    );
    describe_counter!(
        "richmond_modem_status_reports_total",
        "SMS status reports, by outcome (matched, pending, unmatched, outside_window)."
    );
}

/// HELP texts of the transports' and drivers' metrics (all labelled `transport`).
fn describe_transports() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "richmond_transport_messages_total",
        "Messages through a transport, by direction (inbound, outbound) and kind (sms, ussd, \
         sms_part, delivery_report, ack, nack, failure, requeued)."
    );
    describe_counter!(
        "richmond_multipart_unreadable_total",
        "Multipart messages whose stored parts could not be read back (dropped, logged)."
    );
    describe_gauge!("richmond_smpp_binds_up", "SMPP binds currently bound.");
    describe_gauge!(
        "richmond_smpp_window_in_use",
        "submit_sm awaiting their response, summed over the transport's binds."
    );
    describe_counter!(
        "richmond_smpp_pdus_total",
        "SMPP PDUs, by direction and command."
    );
    describe_counter!(
        "richmond_smpp_submits_total",
        "submit_sm outcomes: accepted, rejected, retry."
    );
    describe_histogram!(
        "richmond_smpp_submit_latency_seconds",
        Unit::Seconds,
        "Time from a submit_sm's first write to its response."
    );
    describe_counter!(
        "richmond_smpp_resubmits_total",
        "Message parts submitted again because the SMSC had not taken them, by reason."
    );
    describe_counter!(
        "richmond_smpp_throttled_total",
        "ESME_RTHROTTLED / ESME_RMSGQFUL answers (the bind pauses; no nack)."
    );
    describe_counter!(
        "richmond_smpp_connect_attempts_total",
        "SMPP TCP connection attempts."
    );
    describe_counter!(
        "richmond_smpp_reconnects_total",
        "SMPP reconnections after a lost bind."
    );
    describe_counter!(
        "richmond_smpp_unbinds_total",
        "SMPP binds ended, by reason."
    );
    describe_counter!(
        "richmond_smpp_malformed_pdus_total",
        "PDUs from the SMSC that did not decode (answered with generic_nack), by error code."
    );
    describe_counter!(
        "richmond_smpp_unmatched_responses_total",
        "SMPP responses whose sequence number matched nothing outstanding (ignored)."
    );
    describe_counter!(
        "richmond_smpp_bad_udh_total",
        "MO with esm_class UDHI whose header does not parse (delivered as text, header included)."
    );
    describe_gauge!(
        "richmond_smpp_unanswered_delivers",
        "deliver_sm taken from the SMSC and not yet answered (at most max_unanswered_delivers per bind)."
    );
    describe_counter!(
        "richmond_smpp_receipt_ids_unguarded_total",
        "Receipt id mappings not held in memory while their store write ran (memory cap reached)."
    );
    describe_counter!(
        "richmond_data_file_compactions_total",
        "redb files (store, spool) compacted at start because over half of them was free."
    );
    describe_gauge!(
        "richmond_store_entries",
        "Live entries of the redb store by kind (smpp:id, api:msg, …), counted at each purge."
    );
    describe_counter!(
        "richmond_smpp_receipts_total",
        "Delivery receipts: matched to a message, unmatched (unknown id) or unparsed."
    );
    describe_counter!(
        "richmond_smpp_rejected_parts_total",
        "Multipart MO parts refused for impossible numbering (SAR or UDH segment 0, beyond \
         the total, total 0), by reason; answered with a status the SMSC \
         does not retry."
    );
    describe_counter!(
        "richmond_ssmi_lines_total",
        "SSMI lines, by direction and type."
    );
    describe_counter!(
        "richmond_ssmi_rejected_lines_total",
        "SSMI lines from the server that did not parse (logged and skipped)."
    );
    describe_counter!(
        "richmond_ssmi_reconnects_total",
        "SSMI connection attempts after the first."
    );
    describe_counter!(
        "richmond_ssmi_tls_failures_total",
        "SSMI TLS handshakes that failed or timed out (retried with the reconnect backoff)."
    );
    describe_counter!(
        "richmond_ssmi_link_checks_total",
        "SSMI link checks sent and answered."
    );
    describe_counter!(
        "richmond_ssmi_unmatched_total",
        "SSMI answers (SEQ, DR, NACK) that matched no waiting message."
    );
    describe_counter!(
        "richmond_ssmi_ussd_sessions_missing_total",
        "USSD replies for a session whose dialled code was no longer in the store."
    );
}

#[cfg(test)]
mod tests;
