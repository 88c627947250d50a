//! Status reports (SMS-STATUS-REPORT) → `delivery_report` events, and the records that let
//! them be matched: one per sent part, keyed by (transport, TP-MR, recipient).
//!
//! Reference: reference/modem.md §0 item 6 (correlate on modem, MR, recipient and a recent
//! time window, like Gammu's DeliveryReportDelay and Kannel's MR + receiver), §2.6 (TP-ST:
//! 0x00–0x1F delivered, 0x20–0x3F still trying, the rest failed).

use crate::transport::common::Carrier as _;
use crate::transport::telemetry::{Modem, ModemEvent};
use richmond_drivers::telemetry::Event as _;
use std::time::Duration;

use richmond_codecs::sms::pdu::{Outcome, StatusReport};
use richmond_codecs::vumi::{DeliveryStatus, Event as VumiEvent, UserMessage};
use serde_json::{Value, json};

use super::Shared;
use crate::transport::common;

/// Service-centre clocks are not ours: a report may carry a time a little before the send.
const CLOCK_SLACK_SECONDS: i64 = 600;

/// The last nine digits of a number: reports name the recipient in national or
/// international form.
pub(super) fn recipient_key(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(9)..].to_owned()
}

fn record_key(shared: &Shared, mr: u8, recipient: &str) -> String {
    shared.key("dr", &format!("{mr}:{}", recipient_key(recipient)))
}

/// Remembers that part `part` of `total` of message `msg` went out with `mr` (with the
/// router's tag, if any: [`crate::router::tag`]).
pub(super) async fn remember(
    shared: &Shared,
    mr: u8,
    recipient: &str,
    msg: &UserMessage,
    part: usize,
    total: usize,
) {
    let value = json!({
        "message_id": msg.message_id,
        "route": crate::router::tag::of(msg),
        "part": part,
        "total": total,
        "sent_at": common::now_millis() / 1000,
    });
    let ttl = Duration::from_secs(shared.config.delivery_report_window_seconds);
    if let Err(e) = shared
        .ctx
        .store
        .put(
            &record_key(shared, mr, recipient),
            value.to_string().as_bytes(),
            ttl,
        )
        .await
    {
        tracing::warn!(message = "Could not keep the message reference; its status report will not match.",
            transport = %shared.id, error = %e);
    }
}

fn outcome_label(shared: &Shared, outcome: &'static str) {
    ModemEvent {
        transport: &shared.id,
        what: Modem::StatusReport { outcome },
    }
    .emit();
}

/// Handles one report. True when done with it (published, or nothing to publish); false when
/// the store or bus failed and the report should be read again later.
pub(super) async fn status_report(shared: &Shared, r: &StatusReport) -> bool {
    let key = record_key(shared, r.mr, &r.recipient.to_msisdn());
    let store = &shared.ctx.store;
    let record = match store.get(&key).await {
        Ok(Some(v)) => serde_json::from_slice::<Value>(&v).unwrap_or(Value::Null),
        Ok(None) => {
            outcome_label(shared, "unmatched");
            return true;
        }
        Err(_) => return false,
    };
    let (Some(message_id), Some(part), Some(total), Some(sent_at)) = (
        record["message_id"].as_str(),
        record["part"].as_u64(),
        record["total"].as_u64(),
        record["sent_at"].as_i64(),
    ) else {
        outcome_label(shared, "unmatched");
        return true;
    };
    let route = record["route"].as_str();
    let at = r.scts.unix_seconds();
    let window = i64::try_from(shared.config.delivery_report_window_seconds).unwrap_or(i64::MAX);
    if at < sent_at - CLOCK_SLACK_SECONDS || at > sent_at.saturating_add(window) {
        outcome_label(shared, "outside_window");
        return true;
    }
    let status = match r.outcome() {
        Outcome::Pending => {
            outcome_label(shared, "pending");
            if total == 1 {
                return publish(shared, message_id, route, DeliveryStatus::Pending, r.status).await;
            }
            return true;
        }
        Outcome::Delivered => DeliveryStatus::Delivered,
        Outcome::Failed => DeliveryStatus::Failed,
    };
    outcome_label(shared, "matched");
    let status = if total > 1 {
        let parts = shared.key("drparts", message_id);
        let ttl = Duration::from_secs(shared.config.delivery_report_window_seconds);
        let byte = [u8::from(status == DeliveryStatus::Delivered)];
        let Ok(n) = store.hash_put(&parts, &part.to_string(), &byte, ttl).await else {
            return false;
        };
        if (n as u64) < total {
            let _ = store.delete(&key).await;
            return true;
        }
        let Ok(all) = store.hash_get_all(&parts).await else {
            return false;
        };
        let delivered = all.iter().all(|(_, v)| v.first() == Some(&1));
        if !publish_status(shared, message_id, route, delivered, r.status).await {
            return false;
        }
        let _ = store.delete(&parts).await;
        let _ = store.delete(&key).await;
        return true;
    } else {
        status
    };
    if !publish(shared, message_id, route, status, r.status).await {
        return false;
    }
    let _ = store.delete(&key).await;
    true
}

async fn publish_status(
    shared: &Shared,
    message_id: &str,
    route: Option<&str>,
    delivered: bool,
    st: u8,
) -> bool {
    let status = if delivered {
        DeliveryStatus::Delivered
    } else {
        DeliveryStatus::Failed
    };
    publish(shared, message_id, route, status, st).await
}

async fn publish(
    shared: &Shared,
    message_id: &str,
    route: Option<&str>,
    status: DeliveryStatus,
    st: u8,
) -> bool {
    let mut event = VumiEvent::delivery_report(&shared.id, message_id, status);
    crate::router::tag::mark(&mut event, route);
    event
        .transport_metadata
        .insert("modem_status".into(), json!(format!("0x{st:02X}")));
    match shared.publish("event", event.encode()).await {
        Ok(()) => {
            common::count(&shared.id, "inbound", "delivery_report");
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recipient_keys_ignore_the_number_form() {
        assert_eq!(super::recipient_key("+27821234567"), "821234567");
        assert_eq!(super::recipient_key("0821234567"), "821234567");
        assert_eq!(super::recipient_key("123"), "123");
    }
}
