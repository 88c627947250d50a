//! Sending through the modem with retries: an operation is tried again after a transient
//! failure (doubling pause from `retry_backoff_seconds`), up to `send_attempts`, and waits
//! without counting while the modem is down. Used by SMS and USSD sends alike.

use crate::transport::telemetry::{Modem, ModemEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use richmond_drivers::modem::Error as ModemError;
use tokio_util::sync::CancellationToken;

use super::Shared;

/// Runs `op` until it succeeds, fails for good, or `attempts` transient failures; waits while
/// the modem is down. None when stopping while waiting.
pub(super) async fn with_retries<T, F, Fut>(
    shared: &Shared,
    stop: &CancellationToken,
    mut op: F,
) -> Option<Result<T, ModemError>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ModemError>>,
{
    let mut tries = 0;
    let mut pause = Duration::from_secs_f64(shared.config.retry_backoff_seconds);
    loop {
        if !shared.usable.load(Ordering::SeqCst) {
            // Down, or not the configured modem: wait, it does not count as a try.
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(Duration::from_millis(500)) => continue,
            }
        }
        let r = op().await;
        let wait = match &r {
            Err(ModemError::Down) => Duration::from_millis(500),
            Err(e) if e.is_transient() => {
                tries += 1;
                if tries >= shared.config.send_attempts {
                    return Some(r);
                }
                ModemEvent {
                    transport: &shared.id,
                    what: Modem::SendRetried { code: e.code() },
                }
                .emit();
                let p = pause;
                pause = (pause * 2).min(Duration::from_secs(300));
                p
            }
            _ => return Some(r),
        };
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
