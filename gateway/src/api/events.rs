//! The API as the Vumi application of its transports: consumes `<transport>.event` (ack,
//! nack, delivery_report → the message record's status, and the `sms_receipt` callback) and
//! `<transport>.inbound` (→ the `sms_received` callback of the one account that owns the
//! message, see [`owner`]; inbound traffic is never shown to other accounts).
//!
//! Each queue's deliveries are spread over [`LANES`] lanes by key (the message an event is
//! about; the sender of an inbound message), in order within a lane, so events about one
//! message never race while different messages share the store's commits.
//!
//! A delivery is acknowledged only after the record is written and any callback is stored
//! (see [`callbacks`](super::callbacks)); a store failure hands it back for redelivery. An
//! event about a message the API does not know (another application's, or expired) and an
//! undecodable body are acknowledged and counted, not retried. An inbound message no account
//! owns, or whose owner has no callback, is dropped (counted): the API is the only application
//! of its transports.
//! Metric: `richmond_api_bus_messages_total{transport,kind,outcome}`.

use super::telemetry::BusMessage;
use richmond_drivers::telemetry::Event as _;
use std::time::Duration;

use richmond_codecs::vumi::{Event, EventKind, Timestamp, UserMessage};
use tokio_util::sync::CancellationToken;

use super::ApiState;
use super::callbacks::{self, Kind};
use super::input::format_date;
use super::record::{self, Change};
use crate::bus::Delivery;
use crate::store::StoreError;

/// Lanes per queue: deliveries with the same key (the message an event is about, the sender
/// of an inbound message) go to the same lane and are handled in order; lanes run side by side
/// so their store commits share the store's group commit (one commit per message in a row
/// held the API to about 1,100 events/s).
const LANES: usize = 32;
/// Deliveries waiting per lane: with [`LANES`] the most a queue's consumer holds in memory
/// beyond the bus's own prefetch.
const LANE_DEPTH: usize = 4;

/// Consumes `<transport>.event` until `stop`.
pub(crate) async fn run_events(state: ApiState, transport: String, stop: CancellationToken) {
    consume::<Events>(&state, &transport, stop).await;
}

/// Consumes `<transport>.inbound` until `stop`.
pub(crate) async fn run_inbound(state: ApiState, transport: String, stop: CancellationToken) {
    consume::<Inbound>(&state, &transport, stop).await;
}

/// What one queue's consumer does with its messages.
trait Handler: 'static {
    /// The queue name's suffix after the transport.
    const SUFFIX: &'static str;
    type Item: Send + 'static;
    fn decode(body: &[u8]) -> Option<Self::Item>;
    /// Items with the same key are handled in order.
    fn key(item: &Self::Item) -> String;
    fn handle(
        state: &ApiState,
        transport: &str,
        item: Self::Item,
    ) -> impl Future<Output = Result<&'static str, StoreError>> + Send;
}

struct Events;

impl Handler for Events {
    const SUFFIX: &'static str = "event";
    type Item = Event;
    fn decode(body: &[u8]) -> Option<Event> {
        Event::decode(body).ok()
    }
    fn key(e: &Event) -> String {
        e.user_message_id.clone()
    }
    fn handle(
        state: &ApiState,
        transport: &str,
        item: Event,
    ) -> impl Future<Output = Result<&'static str, StoreError>> + Send {
        handle_event(state, transport, item)
    }
}

struct Inbound;

impl Handler for Inbound {
    const SUFFIX: &'static str = "inbound";
    type Item = UserMessage;
    fn decode(body: &[u8]) -> Option<UserMessage> {
        UserMessage::decode(body).ok()
    }
    fn key(m: &UserMessage) -> String {
        m.from_addr.clone().unwrap_or_default()
    }
    fn handle(
        state: &ApiState,
        transport: &str,
        item: UserMessage,
    ) -> impl Future<Output = Result<&'static str, StoreError>> + Send {
        handle_inbound(state, transport, item)
    }
}

/// Reads `<transport>.<suffix>` and hands each delivery, decoded, to the lane of its key; an
/// undecodable one is acknowledged and counted here.
async fn consume<H: Handler>(state: &ApiState, transport: &str, stop: CancellationToken) {
    let suffix = H::SUFFIX;
    let queue = format!("{transport}.{suffix}");
    let mut consumer = match state.bus.consume(&queue).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(message = "Cannot consume.", queue = %queue, error = %e);
            return;
        }
    };
    let mut lanes = Vec::with_capacity(LANES);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..LANES {
        let (tx, rx) = tokio::sync::mpsc::channel::<(Delivery, H::Item)>(LANE_DEPTH);
        lanes.push(tx);
        let lane = Lane {
            state: state.clone(),
            transport: transport.to_owned(),
            suffix,
            stop: stop.clone(),
        };
        tasks.spawn(lane.run::<H>(rx));
    }
    loop {
        let delivery: Delivery = tokio::select! {
            () = stop.cancelled() => break,
            d = consumer.next() => match d {
                Some(d) => d,
                None => break,
            },
        };
        let Some(item) = H::decode(&delivery.body) else {
            tracing::warn!(message = "Undecodable message dropped.", queue = %queue);
            count(transport, suffix, "invalid");
            if let Err(e) = delivery.ack().await {
                tracing::warn!(message = "Cannot ack.", queue = %queue, error = %e);
            }
            continue;
        };
        let lane = &lanes[lane_of(&H::key(&item))];
        tokio::select! {
            () = stop.cancelled() => break,
            sent = lane.send((delivery, item)) => if sent.is_err() { break },
        }
    }
    // Each lane finishes the message in hand (a few seconds at most); what waits in the
    // lanes is dropped unsettled and goes back to the bus.
    drop(lanes);
    let finish = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), finish)
        .await
        .is_err()
    {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// The lane of `key`: a stable hash, so one key always lands in the same lane.
fn lane_of(key: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    usize::try_from(h.finish() % LANES as u64).unwrap_or(0)
}

/// One lane: handles its deliveries one after another and settles each.
struct Lane {
    state: ApiState,
    transport: String,
    suffix: &'static str,
    /// Takes no new message once cancelled.
    stop: CancellationToken,
}

impl Lane {
    async fn run<H: Handler>(self, mut rx: tokio::sync::mpsc::Receiver<(Delivery, H::Item)>) {
        let (transport, suffix) = (self.transport.as_str(), self.suffix);
        loop {
            let (delivery, item) = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                next = rx.recv() => match next {
                    Some(next) => next,
                    None => return,
                },
            };
            match H::handle(&self.state, transport, item).await {
                Ok(outcome) => {
                    count(transport, suffix, outcome);
                    if let Err(e) = delivery.ack().await {
                        tracing::warn!(message = "Cannot ack.", transport, suffix, error = %e);
                    }
                }
                Err(e) => {
                    count(transport, suffix, "store_error");
                    tracing::warn!(message = "Store failed; handing the message back.", transport, suffix, error = %e);
                    let _ = delivery.nack(true).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

fn count(transport: &str, kind: &str, outcome: &'static str) {
    BusMessage {
        transport,
        kind,
        outcome,
    }
    .emit();
}

async fn handle_event(
    state: &ApiState,
    transport: &str,
    event: Event,
) -> Result<&'static str, StoreError> {
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
    let url = if change == Change::Receipt {
        callbacks::settings(&state.store, &rec.account)
            .await?
            .sms_receipt
    } else {
        None
    };
    // The record and its callback are committed together (after any wait for room in the
    // callback queue): a record saved without its callback would read `unchanged` when the
    // event comes again, and the callback would be lost.
    match url {
        Some(url) => {
            let mut body = rec.to_json();
            body["transport"] = transport.into();
            if let EventKind::Nack { nack_reason } = &event.kind {
                body["reason"] = nack_reason.as_str().into();
            }
            let save = vec![record::save_write(&rec, state.message_ttl())];
            state
                .callbacks
                .enqueue_with(Kind::Receipt, &rec.account, &url, &body, save)
                .await?;
        }
        None => record::save(&state.store, &rec, state.message_ttl()).await?,
    }
    tracing::debug!(
        message = "Message status changed.",
        transport,
        id = %rec.id,
        status = ?rec.transport_status,
        event = event.kind.event_type()
    );
    Ok("applied")
}

async fn handle_inbound(
    state: &ApiState,
    transport: &str,
    msg: UserMessage,
) -> Result<&'static str, StoreError> {
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
