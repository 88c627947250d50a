//! The API as the Vumi application of its transports: consumes `<transport>.event` (ack,
//! nack, delivery_report → the message record's status, and the `sms_receipt` callback) and
//! `<transport>.inbound` (→ the `sms_received` callback of the one account that owns the
//! message, see [`owner`]; inbound traffic is never shown to other accounts).
//!
//! A delivery is acknowledged only after the record is written and any callback is stored
//! (see [`callbacks`](super::callbacks)); a store failure hands it back for redelivery. An
//! event about a message the API does not know (another application's, or expired) and an
//! undecodable body are acknowledged and counted, not retried. An inbound message no account
//! owns, or whose owner has no callback, is dropped (counted): the API is the only application
//! of its transports.
//! Metric: `richmond_api_bus_messages_total{transport,kind,outcome}`.

use std::time::Duration;

use richmond_codecs::vumi::{Event, EventKind, Timestamp, UserMessage};
use tokio_util::sync::CancellationToken;

use super::ApiState;
use super::callbacks::{self, Kind};
use super::input::format_date;
use super::record::{self, Change};
use crate::bus::Delivery;
use crate::store::StoreError;

/// Consumes `<transport>.event` until `stop`.
pub(crate) async fn run_events(state: ApiState, transport: String, stop: CancellationToken) {
    consume(&state, &transport, "event", stop, handle_event).await;
}

/// Consumes `<transport>.inbound` until `stop`.
pub(crate) async fn run_inbound(state: ApiState, transport: String, stop: CancellationToken) {
    consume(&state, &transport, "inbound", stop, handle_inbound).await;
}

async fn consume<F>(
    state: &ApiState,
    transport: &str,
    suffix: &str,
    stop: CancellationToken,
    handle: F,
) where
    F: AsyncFn(&ApiState, &str, &[u8]) -> Result<&'static str, StoreError>,
{
    let queue = format!("{transport}.{suffix}");
    let mut consumer = match state.bus.consume(&queue).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(message = "Cannot consume.", queue = %queue, error = %e);
            return;
        }
    };
    loop {
        let delivery: Delivery = tokio::select! {
            () = stop.cancelled() => return,
            d = consumer.next() => match d {
                Some(d) => d,
                None => return,
            },
        };
        match handle(state, transport, &delivery.body).await {
            Ok(outcome) => {
                count(transport, suffix, outcome);
                if let Err(e) = delivery.ack().await {
                    tracing::warn!(message = "Cannot ack.", queue = %queue, error = %e);
                }
            }
            Err(e) => {
                count(transport, suffix, "store_error");
                tracing::warn!(message = "Store failed; handing the message back.", queue = %queue, error = %e);
                let _ = delivery.nack(true).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn count(transport: &str, kind: &str, outcome: &'static str) {
    metrics::counter!(
        "richmond_api_bus_messages_total",
        "transport" => transport.to_owned(),
        "kind" => kind.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

async fn handle_event(
    state: &ApiState,
    transport: &str,
    body: &[u8],
) -> Result<&'static str, StoreError> {
    let Ok(event) = Event::decode(body) else {
        tracing::warn!(message = "Undecodable event dropped.", transport);
        return Ok("invalid");
    };
    let Some(mut rec) = record::load(&state.store, &event.user_message_id).await? else {
        return Ok("unknown");
    };
    if rec.transport != transport {
        return Ok("unknown");
    }
    let now = Timestamp::now().unix_micros();
    let change = rec.apply(&event.kind, now);
    if change == Change::None {
        return Ok("unchanged");
    }
    record::save(&state.store, &rec, state.message_ttl()).await?;
    tracing::debug!(
        message = "Message status changed.",
        transport,
        id = %rec.id,
        status = ?rec.transport_status,
        event = event.kind.event_type()
    );
    if change == Change::Receipt {
        let settings = callbacks::settings(&state.store, &rec.account).await?;
        if let Some(url) = &settings.sms_receipt {
            let mut body = rec.to_json();
            body["transport"] = transport.into();
            if let EventKind::Nack { nack_reason } = &event.kind {
                body["reason"] = nack_reason.as_str().into();
            }
            state
                .callbacks
                .enqueue(Kind::Receipt, &rec.account, url, &body)
                .await?;
        }
    }
    Ok("applied")
}

async fn handle_inbound(
    state: &ApiState,
    transport: &str,
    body: &[u8],
) -> Result<&'static str, StoreError> {
    let Ok(msg) = UserMessage::decode(body) else {
        tracing::warn!(message = "Undecodable inbound message dropped.", transport);
        return Ok("invalid");
    };
    let payload = serde_json::json!({
        "id": msg.message_id,
        "transport": transport,
        "from_msisdn": msg.from_addr,
        "to_msisdn": msg.to_addr,
        "message": msg.content,
        "session_event": msg.session_event.map(|s| s.as_str()),
        "in_reply_to": msg.in_reply_to,
        "received_at": format_date(msg.timestamp.unix_micros()),
    });
    let Some(owner) = owner(state, transport, &msg).await? else {
        tracing::warn!(message = "Inbound message no account owns; dropped.", transport, id = %msg.message_id);
        return Ok("unowned");
    };
    let settings = callbacks::settings(&state.store, &owner).await?;
    let Some(url) = &settings.sms_received else {
        return Ok("no_callback");
    };
    state
        .callbacks
        .enqueue(Kind::Received, &owner, url, &payload)
        .await?;
    Ok("queued")
}

/// The account an inbound message belongs to, the first that applies: the sender of the
/// message it replies to (`in_reply_to`); the owner of its `to_addr` number, or of its first
/// word as a keyword; the account that last sent to its `from_addr` on this transport (within
/// `api.conversation_ttl_seconds`); `api.default_inbound_account`. Never every account.
async fn owner(
    state: &ApiState,
    transport: &str,
    msg: &UserMessage,
) -> Result<Option<String>, StoreError> {
    if let Some(id) = msg.in_reply_to.as_deref()
        && let Some(rec) = record::load(&state.store, id).await?
        && rec.transport == transport
    {
        return Ok(Some(rec.account));
    }
    if let Some(a) =
        state
            .accounts
            .owner_by_address(transport, msg.to_addr.as_deref(), msg.content.as_deref())
    {
        return Ok(Some(a.username.clone()));
    }
    if let Some(from) = msg.from_addr.as_deref()
        && let Some(name) = state
            .store
            .get(&record::conversation_key(transport, from))
            .await?
        && let Ok(name) = String::from_utf8(name)
        && state
            .accounts
            .get(&name)
            .is_some_and(|a| a.transports.iter().any(|t| t == transport))
    {
        return Ok(Some(name));
    }
    Ok(state.config.default_inbound_account.clone())
}
