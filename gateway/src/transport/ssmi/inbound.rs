//! The SSMI transport's inbound half: driver events → Vumi user messages and events.
//!
//! Reference: reference/vumi.md §4.3 (server → client messages), §4.7 (Vumi's session store:
//! the dialled code per MSISDN, 300 s) and §7. See the parent module for the event rules.
//! Reading stops while a message waits for the bus (the driver's channel fills and the
//! driver stops reading the socket), so nothing is dropped when the broker is away.

use crate::transport::common::Carrier as _;
use crate::transport::telemetry::{Ssmi, SsmiEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::ssmi::{Response, UssdType};
use richmond_codecs::vumi::{Event as VumiEvent, SessionEvent};
use richmond_drivers::ssmi::Event;
use serde_json::json;
use tokio::sync::mpsc;

use super::map::{self, SmsIn};
use super::{Shared, SmsOutcome};

/// Runs until the driver's event channel closes (the driver task ended).
pub(super) async fn run(shared: Arc<Shared>, mut events: mpsc::Receiver<Event>) {
    while let Some(event) = events.recv().await {
        match event {
            Event::Inbound(response) => handle(&shared, response).await,
            Event::LoggedIn => {
                tracing::info!(message = "SSMI link up.", transport = %shared.id);
            }
            Event::LoginRejected { reason } => tracing::error!(
                message = "TruTeq refused the login; check username and password.",
                transport = %shared.id, reason = reason.name()
            ),
            Event::RemoteLogout { .. } => tracing::warn!(
                message = "TruTeq logged this client out (another login elsewhere?).",
                transport = %shared.id
            ),
            Event::LinkDead => tracing::warn!(
                message = "Link checks unanswered; reconnecting.", transport = %shared.id
            ),
            Event::Disconnect { reason } => {
                tracing::info!(message = "SSMI link down.", transport = %shared.id, reason = reason.code());
                shared.fail_pending();
            }
            _ => {}
        }
    }
    shared.fail_pending();
}

fn count(shared: &Shared, kind: &'static str) {
    crate::transport::common::count(&shared.id, "inbound", kind);
}

fn unmatched(shared: &Shared, kind: &'static str) {
    SsmiEvent {
        transport: &shared.id,
        what: Ssmi::Unmatched { kind },
    }
    .emit();
}

/// Publishes until the bus owns the message; false when the bus closed first.
async fn publish(shared: &Shared, suffix: &str, body: Vec<u8>, kind: &'static str) -> bool {
    match shared.publish(suffix, body).await {
        Ok(()) => {
            count(shared, kind);
            true
        }
        Err(e) => {
            tracing::error!(
                message = "Bus closed: inbound message not published.",
                transport = %shared.id, kind, error = %e
            );
            false
        }
    }
}

async fn handle(shared: &Shared, response: Response) {
    let charset = shared.charset;
    match response {
        Response::Ussd {
            msisdn,
            ussd_type,
            genfields,
            message,
            ..
        } => {
            let to_addr = session_code(shared, &msisdn, ussd_type, &message.text(charset)).await;
            let msg = map::ussd_message(
                &shared.id,
                &msisdn,
                &to_addr,
                ussd_type,
                genfields.as_ref(),
                &message,
                charset,
            );
            publish(shared, "inbound", msg.encode(), "ussd").await;
        }
        r @ (Response::Mo { .. }
        | Response::PremiumMo { .. }
        | Response::BinaryMo { .. }
        | Response::PremiumBinaryMo { .. }) => {
            if let Some(mo) = SmsIn::from_response(&r) {
                sms(shared, &mo).await;
            }
        }
        Response::Seq { msisdn, sequence } => {
            let Some(pending) = shared.take_pending(Some(&msisdn)) else {
                unmatched(shared, "seq");
                tracing::warn!(message = "SEQ for no pending SMS; ignored.", transport = %shared.id);
                return;
            };
            // Record the mapping here, before the next line is read: a delivery report right
            // behind its SEQ (even in the same TCP segment) then always finds it.
            let key = shared.dr_key(&msisdn, &sequence);
            let ttl = Duration::from_secs(shared.config.delivery_report_ttl_seconds);
            let id = pending.message_id.as_bytes();
            if let Err(e) = shared.ctx.store.put(&key, id, ttl).await {
                tracing::error!(message = "Store error; this SMS's delivery report will not match.", transport = %shared.id, error = %e);
            }
            let seq = String::from_utf8_lossy(&sequence).into_owned();
            let _ = pending.reply.send(SmsOutcome::Seq(seq));
        }
        Response::Nack { reason } => {
            let Some(pending) = shared.take_pending(None) else {
                unmatched(shared, "nack");
                tracing::warn!(message = "NACK for no pending SMS; ignored.", transport = %shared.id, reason = reason.name());
                return;
            };
            if pending.expired {
                unmatched(shared, "late_nack");
                tracing::warn!(message = "NACK for an SMS that had already timed out (it was nacked then); ignored.", transport = %shared.id, reason = reason.name());
                return;
            }
            let _ = pending.reply.send(SmsOutcome::Nack(reason));
        }
        Response::DeliveryReport {
            msisdn,
            sequence,
            status,
        } => {
            // The mapping stays until the report is on the bus: a store error or a closing
            // bus leaves it for the report's redelivery.
            let key = shared.dr_key(&msisdn, &sequence);
            // TruTeq never resends a DR: a store error is retried a few times (~3 s) before
            // the report is given up.
            let mut found = shared.ctx.store.get(&key).await;
            let mut pause = Duration::from_millis(100);
            for _ in 0..5 {
                if found.is_ok() {
                    break;
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
                found = shared.ctx.store.get(&key).await;
            }
            let mapping = match found {
                Ok(Some(id)) => String::from_utf8_lossy(&id).into_owned(),
                Ok(None) => {
                    unmatched(shared, "delivery_report");
                    tracing::warn!(message = "Delivery report for an unknown SMS; dropped.", transport = %shared.id);
                    return;
                }
                Err(e) => {
                    unmatched(shared, "delivery_report");
                    tracing::error!(message = "Store error after retries; delivery report dropped.", transport = %shared.id, error = %e);
                    return;
                }
            };
            let (id, route) = crate::router::tag::split(&mapping);
            let mut event = VumiEvent::delivery_report(&shared.id, id, map::dr_status(status));
            crate::router::tag::mark(&mut event, route);
            event.transport_metadata.insert(
                "truteq".into(),
                json!({"dr_code": status.value(), "dr_status": status.name()}),
            );
            if publish(shared, "event", event.encode(), "delivery_report").await
                && let Err(e) = shared.ctx.store.delete(&key).await
            {
                tracing::warn!(message = "Store error; a delivered report's mapping stays until it expires.", transport = %shared.id, error = %e);
            }
        }
        Response::FreeForm { .. } => {
            tracing::info!(message = "TruTeq free-form message received (logged at debug).", transport = %shared.id);
            count(shared, "free_form");
        }
        _ => count(shared, "other"),
    }
}

async fn sms(shared: &Shared, sms: &SmsIn<'_>) {
    let msg = map::sms_message(&shared.id, sms, &shared.config.sms_address, shared.charset);
    publish(shared, "inbound", msg.encode(), "sms").await;
}

/// The `to_addr` of a USSD message: the dialled code, stored on `new`, read (and its
/// lifetime refreshed) on later messages, removed on close. A session the store no longer
/// knows (expired, or begun before a store was wiped) is still published, with an empty
/// `to_addr`, counted and logged — Vumi lost such messages.
async fn session_code(shared: &Shared, msisdn: &[u8], t: UssdType, text: &str) -> String {
    let key = shared.key("ussd", &String::from_utf8_lossy(msisdn));
    let ttl = Duration::from_secs(shared.config.ussd_session_lifetime_seconds);
    let store = &shared.ctx.store;
    let event = map::session_event(t);
    if event == SessionEvent::New {
        let code = map::dialled_code(text);
        if let Err(e) = store.put(&key, code.as_bytes(), ttl).await {
            tracing::error!(message = "Store error; USSD session not remembered.", transport = %shared.id, error = %e);
        }
        return code;
    }
    let found = if event == SessionEvent::Close {
        store.take(&key).await
    } else {
        store.get(&key).await
    };
    match found {
        Ok(Some(code)) => {
            if event == SessionEvent::Resume {
                let _ = store.put(&key, &code, ttl).await;
            }
            String::from_utf8_lossy(&code).into_owned()
        }
        Ok(None) | Err(_) => {
            SsmiEvent {
                transport: &shared.id,
                what: Ssmi::UssdSessionMissing,
            }
            .emit();
            String::new()
        }
    }
}
