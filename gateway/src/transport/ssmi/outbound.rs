//! The SSMI transport's outbound half: the `<id>.outbound` consumer.
//!
//! Reference: reference/vumi.md §4.7 (outbound mapping) and §7 (no write into a dead link).
//! Each delivery is handled in its own task, at most `max_in_flight` at once. Its fate:
//!
//! * undecodable → a `failure_message` on `<id>.failures`, then ack;
//! * unsendable (bad address, text the charset cannot carry) → `nack`, then ack;
//! * USSD written → `ack`, then ack; the write failed → handed back (requeue);
//! * SMS written → waits for SEQ (`ack`) / NACK / timeout / link loss (`nack`), then ack.
//!   The SEQ's delivery-report mapping is written by the inbound half before it answers, so
//!   a report right behind its SEQ finds it.
//!
//! An event that cannot be published (bus closed) leaves the delivery unacked: the bus
//! redelivers it. On `intake` cancellation the consumer stops, in-flight deliveries finish,
//! then the driver is stopped (it logs out).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use richmond_codecs::ssmi::{Request, UssdType};
use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use richmond_drivers::ssmi::{ClientHandle, Error as DriverError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::map;
use super::{PendingSms, Shared, SmsOutcome};
use crate::bus::Delivery;
use crate::transport::common;

pub(super) async fn run(
    shared: Arc<Shared>,
    handle: ClientHandle,
    intake: CancellationToken,
    stop_driver: CancellationToken,
) {
    let (bus, id) = (shared.ctx.bus.clone(), shared.id.clone());
    common::consume_outbound(
        &bus,
        &id,
        shared.config.max_in_flight,
        &intake,
        move |msg, delivery| {
            let (shared, handle) = (shared.clone(), handle.clone());
            async move { handle_delivery(&shared, &handle, msg, delivery).await }
        },
    )
    .await;
    stop_driver.cancel();
}

/// Publishes `event` and acks `delivery` once the bus owns the event.
async fn settle(shared: &Shared, delivery: Delivery, event: VumiEvent) {
    common::settle(&shared.ctx.bus, &shared.id, delivery, event).await;
}

async fn handle_delivery(
    shared: &Shared,
    handle: &ClientHandle,
    msg: UserMessage,
    delivery: Delivery,
) {
    let request = match map::request(&msg, shared.charset, shared.config.sms_validity_minutes) {
        Ok(r) => r,
        Err(reason) => {
            let nack = VumiEvent::nack(&shared.id, &msg.message_id, &reason);
            return settle(shared, delivery, nack).await;
        }
    };
    if let Request::SendUssd {
        msisdn, ussd_type, ..
    } = &request
    {
        // The application ends the session: its dialled code is no longer needed.
        let ended = (*ussd_type == UssdType::End)
            .then(|| shared.key("ussd", &String::from_utf8_lossy(msisdn)));
        match handle.send(request).await {
            Ok(()) => {
                if let Some(key) = ended
                    && let Err(e) = shared.ctx.store.delete(&key).await
                {
                    tracing::warn!(message = "Store error; the ended USSD session stays to its lifetime.", transport = %shared.id, error = %e);
                }
                let ack = VumiEvent::ack(&shared.id, &msg.message_id, &msg.message_id);
                settle(shared, delivery, ack).await;
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
        return settle(shared, delivery, nack).await;
    }
    tracing::warn!(message = "Write failed; message handed back for redelivery.", transport = %shared.id, error = %e);
    common::count(&shared.id, "outbound", "requeued");
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
            message_id: crate::router::tag::stored(&msg.message_id, crate::router::tag::of(msg)),
            written: false,
            expired: false,
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
    if outcome.is_err() {
        // No answer in time: nacked below, but kept so TruTeq's late answer to this SMS is
        // not taken for the next one's.
        shared.expire(token);
    } else {
        shared.forget(token);
    }
    let id = &msg.message_id;
    let event = match outcome {
        Ok(Ok(SmsOutcome::Seq(sequence))) => {
            // The inbound task recorded the delivery-report mapping before answering.
            return settle(shared, delivery, VumiEvent::ack(&shared.id, id, &sequence)).await;
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
    settle(shared, delivery, event).await;
}
