//! The abuse suite (issue #18): per protocol, a table of bad inputs run against the real
//! `richmond` binary and its simulators. Each row expects a clear error or a counted
//! rejection; after every row the link still carries messages (nothing accepted is lost), and
//! at the end the log holds no panic.

use richmond_tests::app;
use richmond_tests::common;
use richmond_tests::procs;

mod modem;
mod smpp;
mod ssmi;

use std::time::Duration;

use procs::Gateway;

/// The sum of metric `name`'s series whose line contains `having` (e.g. a label), 0 when
/// absent.
async fn metric(gw: &Gateway, name: &str, having: &str) -> u64 {
    let text = common::http_get(gw.admin, "/metrics")
        .await
        .map(|r| r.1)
        .unwrap_or_default();
    let sum: f64 = text
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(having))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Counters are whole numbers.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = sum as u64;
    n
}

/// Waits (bounded) until [`metric`] is above `before`.
async fn metric_above(gw: &Gateway, name: &str, having: &str, before: u64) {
    let deadline = tokio::time::Instant::now() + procs::PATIENCE;
    while metric(gw, name, having).await <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} ({having}) never rose above {before}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that the gateway never panicked.
fn no_panic(logs: &str) {
    assert!(!logs.contains("panicked"), "the gateway panicked:\n{logs}");
}
