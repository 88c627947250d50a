//! The SSMI transport's outbound half: the `<id>.outbound` consumer.
//!
//! Reference: reference/vumi.md §4.7 (outbound mapping) and §7 (no write into a dead link).
//! Each delivery is handled in its own task, at most `max_in_flight` at once. Its fate:
//!
//! * undecodable → a `failure_message` on `<id>.failures`, then ack;
//! * unsendable (bad address, text the charset cannot carry) → `nack`, then ack;
//! * USSD written → `ack`, then ack; the write failed → handed back (requeue);
//! * SMS written → waits for SEQ (`ack`) / NACK / timeout / link loss (`nack`), then ack.
//!
//! An event that cannot be published (bus closed) leaves the delivery unacked: the bus
//! redelivers it. On `intake` cancellation the consumer stops, in-flight deliveries finish,
//! then the driver is stopped (it logs out).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use metrics::counter;
use richmond_codecs::ssmi::Request;
use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use richmond_drivers::ssmi::{ClientHandle, Error as DriverError};
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::map;
use super::{PendingSms, Shared, SmsOutcome};
use crate::bus::Delivery;

pub(super) async fn run(
    shared: Arc<Shared>,
    handle: ClientHandle,
    intake: CancellationToken,
    stop_driver: CancellationToken,
) {
    let queue = format!("{}.outbound", shared.id);
    let limit = Arc::new(Semaphore::new(shared.config.max_in_flight));
    let tasks = TaskTracker::new();
    let mut consumer = None;
    while !intake.is_cancelled() {
        let c = match consumer.as_mut() {
            Some(c) => c,
            None => match shared.ctx.bus.consume(&queue).await {
                Ok(c) => consumer.insert(c),
                Err(e) => {
                    tracing::warn!(message = "Cannot consume; retrying.", queue = %queue, error = %e);
                    tokio::select! {
                        () = intake.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let delivery = tokio::select! {
            () = intake.cancelled() => break,
            d = c.next() => d,
        };
        let Some(delivery) = delivery else {
            // The bus closed the consumer (e.g. a reconnect); consume again.
            consumer = None;
            continue;
        };
        let (shared, handle) = (shared.clone(), handle.clone());
        tasks.spawn(async move {
            handle_delivery(&shared, &handle, delivery).await;
            drop(permit);
        });
    }
    drop(consumer);
    tasks.close();
    tasks.wait().await;
    stop_driver.cancel();
}

fn count(shared: &Shared, kind: &'static str) {
    counter!("richmond_transport_messages_total", "transport" => shared.id.clone(),
        "direction" => "outbound", "kind" => kind)
    .increment(1);
}

/// Publishes `event` and acks `delivery` once the bus owns the event.
async fn settle(shared: &Shared, delivery: Delivery, event: VumiEvent, kind: &'static str) {
    match shared.publish("event", event.encode()).await {
        Ok(()) => {
            count(shared, kind);
            if let Err(e) = delivery.ack().await {
                tracing::warn!(message = "Ack failed; the bus will redeliver.", transport = %shared.id, error = %e);
            }
        }
        Err(e) => tracing::warn!(
            message = "Event not published; the delivery stays unacked for redelivery.",
            transport = %shared.id, error = %e
        ),
    }
}

async fn handle_delivery(shared: &Shared, handle: &ClientHandle, delivery: Delivery) {
    let msg = match UserMessage::decode(&delivery.body) {
        Ok(m) => m,
        Err(e) => {
            let body = crate::transport::failure_body(&delivery.body, &e.to_string());
            count(shared, "failure");
            match shared.publish("failures", body).await {
                Ok(()) => {
                    let _ = delivery.ack().await;
                }
                Err(e) => tracing::warn!(message = "Failure not published.", error = %e),
            }
            return;
        }
    };
    let request = match map::request(&msg, shared.charset, shared.config.sms_validity_minutes) {
        Ok(r) => r,
        Err(reason) => {
            let nack = VumiEvent::nack(&shared.id, &msg.message_id, &reason);
            return settle(shared, delivery, nack, "nack").await;
        }
    };
    if matches!(request, Request::SendUssd { .. }) {
        match handle.send(request).await {
            Ok(()) => {
                let ack = VumiEvent::ack(&shared.id, &msg.message_id, &msg.message_id);
                settle(shared, delivery, ack, "ack").await;
            }
            Err(e) => write_failed(shared, delivery, &msg, &e).await,
        }
        return;
    }
    send_sms(shared, handle, delivery, &msg, request).await;
}

/// A write that failed: an encoding error is final (`nack`); anything else hands the
/// message back to the bus.
async fn write_failed(shared: &Shared, delivery: Delivery, msg: &UserMessage, e: &DriverError) {
    if let DriverError::Encode(_) = e {
        let nack = VumiEvent::nack(&shared.id, &msg.message_id, &e.to_string());
        return settle(shared, delivery, nack, "nack").await;
    }
    tracing::warn!(message = "Write failed; message handed back for redelivery.", transport = %shared.id, error = %e);
    count(shared, "requeued");
    let _ = delivery.nack(true).await;
}

async fn send_sms(
    shared: &Shared,
    handle: &ClientHandle,
    delivery: Delivery,
    msg: &UserMessage,
    request: Request,
) {
    let (Request::SendSms { msisdn, .. } | Request::SendBinarySms { msisdn, .. }) = &request else {
        return;
    };
    let msisdn = msisdn.clone();
    let token = shared.next_token.fetch_add(1, Ordering::Relaxed);
    let (reply, answer) = oneshot::channel();
    let written = {
        let _order = shared.sms_order.lock().await;
        shared.pending().push_back(PendingSms {
            token,
            msisdn: msisdn.clone(),
            written: false,
            reply,
        });
        handle.send(request).await
    };
    if let Err(e) = written {
        shared.forget(token);
        return write_failed(shared, delivery, msg, &e).await;
    }
    shared.mark_written(token);
    let timeout = Duration::from_secs(shared.config.response_timeout_seconds);
    let outcome = tokio::time::timeout(timeout, answer).await;
    shared.forget(token);
    let id = &msg.message_id;
    let event = match outcome {
        Ok(Ok(SmsOutcome::Seq(sequence))) => {
            let key = shared.key(
                "dr",
                &format!("{}:{sequence}", String::from_utf8_lossy(&msisdn)),
            );
            let ttl = Duration::from_secs(shared.config.delivery_report_ttl_seconds);
            if let Err(e) = shared.ctx.store.put(&key, id.as_bytes(), ttl).await {
                tracing::error!(message = "Store error; this SMS's delivery report will not match.", transport = %shared.id, error = %e);
            }
            return settle(
                shared,
                delivery,
                VumiEvent::ack(&shared.id, id, &sequence),
                "ack",
            )
            .await;
        }
        Ok(Ok(SmsOutcome::Nack(reason))) => VumiEvent::nack(
            &shared.id,
            id,
            &format!("TruTeq NACK {} ({})", reason.value(), reason.name()),
        ),
        Ok(Ok(SmsOutcome::LinkLost) | Err(_)) => VumiEvent::nack(
            &shared.id,
            id,
            "the SSMI link dropped before TruTeq answered (the SMS may have been sent)",
        ),
        Err(_) => VumiEvent::nack(
            &shared.id,
            id,
            &format!("no answer from TruTeq within {} s", timeout.as_secs()),
        ),
    };
    settle(shared, delivery, event, "nack").await;
}
