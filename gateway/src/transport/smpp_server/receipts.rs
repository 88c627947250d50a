//! Delivery receipts for the clients' own submits. A `submit_sm` asking for one
//! (`registered_delivery`) is remembered under its Vumi id; the events of that message —
//! published to `<id>.receipts` by whatever sent it on (an application, a router) — become
//! `deliver_sm` receipts to the submitting account's receiving binds.
//!
//! Reference: SMPP 3.4 Appendix B (receipt text), §5.2.17 (`registered_delivery`: bits 0–1
//! the final receipt — 1 always, 2 on failure only —, bit 4 intermediate notifications),
//! §5.3.2.12 (`receipted_message_id`), §5.3.2.35 (`message_state`); reference/routing-peers.md
//! §3 (Jasmin sends DLRs to the submitting system_id, over its RX and TRX binds).
//!
//! * `delivery_report` delivered → `DELIVRD`, failed → `UNDELIV` (final); pending →
//!   `ENROUTE` only when intermediate notifications were asked for; `nack` → `REJECTD`
//!   (final); `ack` → nothing (the carrier took it; its report follows).
//! * A final receipt the client asked for only on failure is not sent for a delivery.
//! * An event for a message no client asked a receipt for is counted and dropped.
//!
//! Store: `smpp_server:<t>:sub:<message id>` → account, addresses, submit date and text,
//! for `receipt_ttl_seconds`; deleted after a final receipt.

use std::time::Duration;

use richmond_codecs::smpp::receipt;
use richmond_codecs::smpp::rusmpp::pdus::DeliverSm;
use richmond_codecs::smpp::rusmpp::tlvs::MessageDeliveryRequestTlvValue as Tlv;
use richmond_codecs::smpp::rusmpp::types::{COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::{EsmClass, MessageState};
use richmond_codecs::vumi::{DeliveryStatus, Event as VumiEvent, EventKind, UserMessage};
use tokio_util::sync::CancellationToken;

use super::Server;
use super::deliver::{Sent, send};
use crate::bus::Delivery;
use crate::transport::common;

/// What is kept of a submit that asked for a receipt.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Submitted {
    pub(super) account: String,
    pub(super) source: String,
    pub(super) destination: String,
    pub(super) registered_delivery: u8,
    pub(super) date: String,
    pub(super) text: String,
    /// The parts of a long message: one receipt each, as each asked for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) parts: Vec<PartReceipt>,
}

/// A part of a long message: the id it was answered with and its `registered_delivery`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct PartReceipt {
    pub(super) id: String,
    pub(super) registered_delivery: u8,
}

pub(super) fn key(server: &Server, message_id: &str) -> String {
    format!("smpp_server:{}:sub:{message_id}", server.id)
}

/// Whether a submit with this `registered_delivery` wants any receipt.
pub(super) const fn wanted(registered_delivery: u8) -> bool {
    registered_delivery & 0x13 != 0
}

/// Remembers `msg`, submitted by `account`, for its receipts; `parts`: its parts (none: a
/// whole message, its receipt named by its own id).
pub(super) async fn remember(
    server: &Server,
    account: &str,
    msg: &UserMessage,
    registered_delivery: u8,
    parts: Vec<PartReceipt>,
) -> Result<(), crate::store::StoreError> {
    let s = Submitted {
        account: account.to_owned(),
        source: msg.from_addr.clone().unwrap_or_default(),
        destination: msg.to_addr.clone().unwrap_or_default(),
        registered_delivery,
        date: receipt::now(),
        // Only what the receipt's text: field shows.
        text: msg
            .content
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
            .take(20)
            .collect(),
        parts,
    };
    let ttl = Duration::from_secs(server.config.receipt_ttl_seconds);
    let value = serde_json::to_vec(&s).unwrap_or_default();
    server
        .ctx
        .store
        .put(&key(server, &msg.message_id), &value, ttl)
        .await
}

/// The receipt's `stat` for `event` and whether it is final; None: no receipt for it.
pub(super) fn stat_of(event: &EventKind, registered_delivery: u8) -> Option<(&'static str, bool)> {
    let final_wanted = registered_delivery & 0x03;
    let (stat, is_final) = match event {
        EventKind::Ack { .. } => return None,
        EventKind::Nack { .. } => ("REJECTD", true),
        EventKind::DeliveryReport {
            delivery_status, ..
        } => match delivery_status {
            DeliveryStatus::Delivered => ("DELIVRD", true),
            DeliveryStatus::Failed => ("UNDELIV", true),
            DeliveryStatus::Pending => ("ENROUTE", false),
        },
    };
    let wanted = if is_final {
        final_wanted == 1 || (final_wanted == 2 && stat != "DELIVRD")
    } else {
        registered_delivery & 0x10 != 0
    };
    wanted.then_some((stat, is_final))
}

/// The receipt `deliver_sm` for message `id`: from the submit's destination to its source.
pub(super) fn build(id: &str, s: &Submitted, stat: &str) -> Result<DeliverSm, String> {
    let address = |a: &str| {
        COctetString::<1, 21>::from_vec(format!("{}\0", a.trim_start_matches('+')).into_bytes())
            .map_err(|_| format!("address {a:?} longer than 20 characters"))
    };
    let text = receipt::text(id, stat, &s.date, &receipt::now(), &s.text);
    let receipted: COctetString<1, 65> = id
        .parse()
        .map_err(|_| format!("message id {id:?} does not fit receipted_message_id"))?;
    Ok(DeliverSm::builder()
        .source_addr(address(&s.destination)?)
        .destination_addr(address(&s.source)?)
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_slice(text.as_bytes()).map_err(|e| e.to_string())?)
        .tlvs(vec![
            Tlv::ReceiptedMessageId(receipted),
            Tlv::MessageState(MessageState::from(receipt::message_state(stat))),
        ])
        .build())
}

/// Consumes `<id>.receipts` until `intake` is cancelled.
pub(super) async fn run(server: std::sync::Arc<Server>, intake: CancellationToken) {
    let bus = server.ctx.bus.clone();
    let queue = format!("{}.receipts", server.id);
    if let Err(e) = bus.declare_queues(std::slice::from_ref(&queue)).await {
        tracing::error!(message = "Cannot declare the receipts queue; consuming retries.", transport = %server.id, error = %e);
    }
    let stop = intake.clone();
    common::consume(&bus, &queue, 100, &intake, move |delivery| {
        let (server, stop) = (server.clone(), stop.clone());
        async move { handle(&server, delivery, &stop).await }
    })
    .await;
}

async fn handle(server: &Server, delivery: Delivery, stop: &CancellationToken) {
    let event = match VumiEvent::decode(&delivery.body) {
        Ok(e) => e,
        Err(e) => {
            let reason = format!("not a Vumi event: {e}");
            return common::to_failures(&server.ctx.bus, &server.id, delivery, &reason).await;
        }
    };
    let store = &server.ctx.store;
    let k = key(server, &event.user_message_id);
    let submitted = match store.get(&k).await {
        Ok(Some(v)) => serde_json::from_slice::<Submitted>(&v).ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(message = "Store error; the event waits.", transport = %server.id, error = %e);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = delivery.nack(true).await;
            return;
        }
    };
    let Some(s) = submitted else {
        server.receipt("unmatched");
        let _ = delivery.ack().await;
        return;
    };
    // One receipt per id the client was answered with, each as its submit asked.
    let whole = [PartReceipt {
        id: event.user_message_id.clone(),
        registered_delivery: s.registered_delivery,
    }];
    let parts = if s.parts.is_empty() {
        &whole[..]
    } else {
        &s.parts[..]
    };
    // Final whatever was asked (a delivery, a failure, a nack): the record is done with.
    let is_final = stat_of(&event.kind, 0x11).is_some_and(|(_, f)| f);
    let mut sent = None;
    for part in parts {
        let Some((stat, _)) = stat_of(&event.kind, part.registered_delivery) else {
            continue;
        };
        let pdu = match build(&part.id, &s, stat) {
            Ok(p) => p,
            Err(reason) => {
                return common::to_failures(&server.ctx.bus, &server.id, delivery, &reason).await;
            }
        };
        let outcome = send(server, &s.account, &pdu, event.timestamp, stop).await;
        let stop_here = !matches!(outcome, Sent::Delivered);
        sent = Some(outcome);
        if stop_here {
            // Not delivered: the rest would not be either. Later: all again (at least once).
            break;
        }
    }
    let Some(sent) = sent else {
        server.receipt("not_asked");
        if is_final && let Err(e) = store.delete(&k).await {
            tracing::warn!(message = "Store error; a receipt's record stays until it expires.", transport = %server.id, error = %e);
        }
        let _ = delivery.ack().await;
        return;
    };
    match sent {
        Sent::Delivered => {
            server.receipt("sent");
            if is_final && let Err(e) = store.delete(&k).await {
                tracing::warn!(message = "Store error; a receipt's record stays until it expires.", transport = %server.id, error = %e);
            }
            let _ = delivery.ack().await;
        }
        Sent::NotDelivered(reason) => {
            server.receipt("undelivered");
            tracing::warn!(message = "Receipt not delivered to its client.", transport = %server.id, account = %s.account, reason);
            let _ = delivery.ack().await;
        }
        Sent::Later => {
            let _ = delivery.nack(true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use richmond_codecs::vumi::EventKind;

    fn report(status: DeliveryStatus) -> EventKind {
        VumiEvent::delivery_report("t", "m", status).kind
    }

    #[test]
    fn receipts_follow_registered_delivery() {
        let nack = VumiEvent::nack("t", "m", "no").kind;
        let ack = VumiEvent::ack("t", "m", "x").kind;
        assert_eq!(stat_of(&ack, 1), None);
        assert_eq!(
            stat_of(&report(DeliveryStatus::Delivered), 1),
            Some(("DELIVRD", true))
        );
        assert_eq!(
            stat_of(&report(DeliveryStatus::Failed), 1),
            Some(("UNDELIV", true))
        );
        assert_eq!(stat_of(&nack, 1), Some(("REJECTD", true)));
        // On failure only: no receipt for a delivery.
        assert_eq!(stat_of(&report(DeliveryStatus::Delivered), 2), None);
        assert_eq!(
            stat_of(&report(DeliveryStatus::Failed), 2),
            Some(("UNDELIV", true))
        );
        // Intermediate notifications only when asked for.
        assert_eq!(stat_of(&report(DeliveryStatus::Pending), 1), None);
        assert_eq!(
            stat_of(&report(DeliveryStatus::Pending), 0x11),
            Some(("ENROUTE", false))
        );
        assert!(!wanted(0) && wanted(1) && wanted(2) && wanted(0x10));
    }

    #[test]
    fn a_receipt_names_its_message_and_parses_back() {
        let s = Submitted {
            account: "acme".into(),
            source: "27820001111".into(),
            destination: "+27830002222".into(),
            registered_delivery: 1,
            date: "2412050101".into(),
            text: "Hello".into(),
            parts: Vec::new(),
        };
        let pdu = build("m-1", &s, "DELIVRD").expect("a pdu");
        assert_eq!(pdu.source_addr.as_str(), "27830002222");
        assert_eq!(pdu.destination_addr.as_str(), "27820001111");
        let text = std::str::from_utf8(pdu.short_message().as_ref()).expect("ascii");
        let r = receipt::parse(text).expect("parses");
        assert_eq!((r.id.as_ref(), r.stat.as_ref()), ("m-1", "DELIVRD"));
    }
}
