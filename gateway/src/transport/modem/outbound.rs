//! The modem transport's outbound half: the `<id>.outbound` consumer.
//!
//! Reference: reference/modem.md §2.3 (which `+CMS ERROR`s are transient), §2.8 (parts),
//! §2.6 (TP-SRR, TP-VP). One message at a time (the modem sends one at a time). Its fate:
//!
//! * undecodable → `failure_message` on `<id>.failures`, then ack;
//! * unsendable (bad `to_addr`, more than 255 parts) → `nack`, then ack;
//! * SMS: each part sent; a transient error or a time-out is retried `send_attempts` times
//!   with backoff; while the modem is down the message waits (not counted as a try); all parts
//!   out → `ack` (`sent_message_id` = the parts' message references, comma-separated); a
//!   permanent error → `nack` naming the cause and the part;
//! * USSD → `ussd` module;
//! * on `intake` cancellation a message still waiting for the modem is handed back (requeue);
//!   the parts it already sent are remembered in the store (with its concatenation
//!   reference), so its redelivery sends only the rest.
//!
//! A part whose `+CMGS` answer never came is sent again (counted in
//! `richmond_modem_send_retries_total{code="timeout"}`): the network may have taken it, so the
//! recipient can get it twice — the price of never losing it.

use crate::transport::telemetry::{Modem, ModemEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use richmond_codecs::sms::pdu::{self, Address, SubmitOptions, Validity};
use richmond_codecs::vumi::{Event as VumiEvent, UserMessage};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::retry::with_retries;
use super::{Shared, reports, ussd};
use crate::bus::Delivery;
use crate::transport::common;

pub(super) async fn run(
    shared: Arc<Shared>,
    intake: CancellationToken,
    stop_driver: CancellationToken,
) {
    let (bus, id) = (shared.ctx.bus.clone(), shared.id.clone());
    let stop = intake.clone();
    common::consume_outbound(&bus, &id, 1, &intake, move |msg, delivery| {
        let (shared, stop) = (shared.clone(), stop.clone());
        async move { handle_delivery(&shared, msg, delivery, &stop).await }
    })
    .await;
    stop_driver.cancel();
}

async fn handle_delivery(
    shared: &Shared,
    msg: UserMessage,
    delivery: Delivery,
    stop: &CancellationToken,
) {
    let is_ussd = msg.transport_type.as_deref() == Some("ussd") || msg.session_event.is_some();
    let event = if is_ussd {
        ussd::outbound(shared, &msg, stop).await
    } else {
        sms(shared, &msg, stop).await
    };
    match event {
        Some(event) => common::settle(&shared.ctx.bus, &shared.id, delivery, event).await,
        None => {
            common::count(&shared.id, "outbound", "requeued");
            let _ = delivery.nack(true).await;
        }
    }
}

/// The parts of a message already sent, kept while the rest wait.
#[derive(serde::Serialize, serde::Deserialize)]
struct Progress {
    reference: u16,
    mrs: Vec<u8>,
}

fn nack(shared: &Shared, msg: &UserMessage, reason: &str) -> Option<VumiEvent> {
    Some(VumiEvent::nack(&shared.id, &msg.message_id, reason))
}

async fn sms(shared: &Shared, msg: &UserMessage, stop: &CancellationToken) -> Option<VumiEvent> {
    let to = msg.to_addr.as_deref().unwrap_or_default();
    let Ok(recipient) = Address::from_msisdn(to) else {
        return nack(shared, msg, "to_addr is not a number the modem can send to");
    };
    // A message handed back half sent (a stop while the modem was down) resumes where it
    // stopped, with the same concatenation reference, instead of sending its parts again.
    let progress_key = shared.key("progress", &msg.message_id);
    let progress = match shared.ctx.store.get(&progress_key).await {
        Ok(Some(v)) => serde_json::from_slice::<Progress>(&v).ok(),
        _ => None,
    };
    let reference = progress.as_ref().map_or_else(
        || shared.next_reference.fetch_add(1, Ordering::Relaxed),
        |p| p.reference,
    );
    let mut mrs = progress.map(|p| p.mrs).unwrap_or_default();
    let options = SubmitOptions {
        preferred: shared.config.preferred(),
        reference: match shared.config.method() {
            richmond_codecs::sms::Method::Udh8 => reference % 256,
            _ => reference,
        },
        method: shared.config.method(),
        status_report: shared.config.delivery_reports,
        validity: shared
            .config
            .validity_octet()
            .map_or(Validity::None, Validity::Relative),
    };
    let text = msg.content.as_deref().unwrap_or_default();
    let parts = match pdu::submit_parts(&recipient, text, &options) {
        Ok(p) => p,
        Err(e) => return nack(shared, msg, &format!("cannot encode the message: {e}")),
    };
    let total = parts.len();
    for (i, part) in parts.iter().enumerate().skip(mrs.len()) {
        let hex = pdu::to_hex(&part.octets);
        let r = with_retries(shared, stop, || {
            shared.handle.send(hex.clone(), part.tpdu_len)
        })
        .await?;
        match r {
            Ok(mr) => {
                mrs.push(mr);
                if shared.config.delivery_reports {
                    reports::remember(shared, mr, to, msg, i + 1, total).await;
                }
                if total > 1 && i + 1 < total {
                    let p = Progress {
                        reference,
                        mrs: mrs.clone(),
                    };
                    let body = serde_json::to_vec(&p).unwrap_or_default();
                    let ttl = Duration::from_secs(24 * 3600);
                    if let Err(e) = shared.ctx.store.put(&progress_key, &body, ttl).await {
                        tracing::warn!(message = "Progress of a multipart send not stored; a redelivery would send its parts again.", transport = %shared.id, error = %e);
                    }
                }
            }
            Err(e) => {
                ModemEvent {
                    transport: &shared.id,
                    what: Modem::SendFailed { code: e.code() },
                }
                .emit();
                let where_ = if total > 1 {
                    format!(" (part {} of {total}; {} sent)", i + 1, i)
                } else {
                    String::new()
                };
                // The send is over (nacked): a redelivery must not resume it.
                if i > 0 {
                    let _ = shared.ctx.store.delete(&progress_key).await;
                }
                return nack(shared, msg, &format!("{e}{where_}"));
            }
        }
    }
    if total > 1 {
        let _ = shared.ctx.store.delete(&progress_key).await;
    }
    let ids: Vec<String> = mrs.iter().map(u8::to_string).collect();
    let mut event = VumiEvent::ack(&shared.id, &msg.message_id, &ids.join(","));
    event
        .transport_metadata
        .insert("modem_message_references".into(), json!(mrs));
    Some(event)
}
