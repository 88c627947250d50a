//! The SMPP server transport's outbound half: Vumi messages on `<id>.outbound` for a client
//! account (an MO from an operator, routed to the client) become `deliver_sm` on one of
//! that account's receiving binds (receiver or transceiver, rotating), acknowledged on the
//! bus once the client answered.
//!
//! Reference: SMPP 3.4 §4.6 (deliver_sm), §5.1.3 (statuses); reference/routing-peers.md §3
//! (Jasmin rotates over a user's RX and TRX binds and requeues while none is bound).
//!
//! * The account: `transport_metadata.smpp_server.account` (a reply to a client's submit
//!   copies it), else the only account configured; none: a `nack`.
//! * Text as GSM-7 where it fits, else UCS2; longer than one `short_message`: one
//!   `message_payload`.
//! * An error status the client calls transient (or throttling) and a bind that goes away
//!   or does not answer within `response_timeout_seconds` make the message try the next bind;
//!   while the account has no receiving bind the message goes back to its queue after a few
//!   seconds (so an absent client holds no place other accounts need) and is tried again,
//!   until `deliver_ttl_seconds` after it was made: then it is nacked; a permanent error
//!   status is a `nack` naming it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use richmond_codecs::smpp::rusmpp::pdus::DeliverSm;
use richmond_codecs::smpp::rusmpp::tlvs::MessageDeliveryRequestTlvValue as Tlv;
use richmond_codecs::smpp::rusmpp::types::{AnyOctetString, COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::{DataCoding, EsmClass, MessagePayload};
use richmond_codecs::smpp::status::{self, StatusClass};
use richmond_codecs::sms::{self, Encoding};
use richmond_codecs::vumi::{Event as VumiEvent, Timestamp, UserMessage};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Server;
use crate::bus::Delivery;
use crate::transport::common;

/// A `deliver_sm` for one connection to send, and where its answer goes (the status of its
/// `deliver_sm_resp`).
pub(super) struct Deliver {
    pub(super) pdu: DeliverSm,
    pub(super) answer: oneshot::Sender<u32>,
}

/// The receiving binds of one account: connection number and its channel.
pub(super) type Receivers = Vec<(u64, mpsc::UnboundedSender<Deliver>)>;

impl Server {
    pub(super) fn add_receiver(
        &self,
        account: &str,
        conn: u64,
        tx: mpsc::UnboundedSender<Deliver>,
    ) {
        self.receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(account.to_owned())
            .or_default()
            .push((conn, tx));
        self.bind_changed.notify_waiters();
    }

    pub(super) fn remove_receiver(&self, account: &str, conn: u64) {
        if let Some(list) = self
            .receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(account)
        {
            list.retain(|(c, _)| *c != conn);
        }
    }

    /// The account's receiving binds, starting with the next in turn.
    fn turn(&self, account: &str) -> Vec<mpsc::UnboundedSender<Deliver>> {
        let list = self
            .receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(account)
            .cloned()
            .unwrap_or_default();
        if list.is_empty() {
            return Vec::new();
        }
        let start = self.next_receiver.fetch_add(1, Ordering::Relaxed) % list.len();
        (0..list.len())
            .map(|i| list[(start + i) % list.len()].1.clone())
            .collect()
    }
}

/// Consumes `<id>.outbound` until `intake` is cancelled.
pub(super) async fn run(server: Arc<Server>, intake: CancellationToken) {
    let bus = server.ctx.bus.clone();
    let id = server.id.clone();
    let stop = intake.clone();
    common::consume_outbound(&bus, &id, 100, &intake, move |msg, delivery| {
        let (server, stop) = (server.clone(), stop.clone());
        async move { handle(&server, msg, delivery, &stop).await }
    })
    .await;
}

async fn handle(server: &Server, msg: UserMessage, delivery: Delivery, stop: &CancellationToken) {
    let (bus, tid, id) = (&server.ctx.bus, server.id.as_str(), msg.message_id.clone());
    let nack = |reason: &str| VumiEvent::nack(tid, &id, reason);
    let account = match account_of(server, &msg) {
        Ok(a) => a,
        Err(reason) => return common::settle(bus, tid, delivery, nack(&reason)).await,
    };
    let pdu = match build(&msg) {
        Ok(p) => p,
        Err(reason) => return common::settle(bus, tid, delivery, nack(&reason)).await,
    };
    match send(server, &account, &pdu, msg.timestamp, stop).await {
        Sent::Delivered => {
            let ack = VumiEvent::ack(tid, &id, &id);
            common::settle(bus, tid, delivery, ack).await;
        }
        Sent::NotDelivered(reason) => common::settle(bus, tid, delivery, nack(&reason)).await,
        // Not sent: back to the queue, to try again (or at the next start).
        Sent::Later => {
            let _ = delivery.nack(true).await;
        }
    }
}

/// What became of a `deliver_sm`.
pub(super) enum Sent {
    /// A bind of the account answered `ESME_ROK`.
    Delivered,
    /// Refused for good, or no bind took it within `deliver_ttl_seconds`: why.
    NotDelivered(String),
    /// No bind of the account took it now: the caller hands the delivery back to its queue,
    /// so one absent client does not hold the places every account's messages need.
    Later,
}

/// How long a message waits here for a bind of its account before it goes back to its queue.
const WAIT_FOR_BIND: Duration = Duration::from_secs(5);

/// Sends `pdu` to a receiving bind of `account`: the next one on a transient refusal, a
/// bind gone or silent. `since` is when the message was made: once `deliver_ttl_seconds`
/// have passed without a bind taking it, it is not delivered.
pub(super) async fn send(
    server: &Server,
    account: &str,
    pdu: &DeliverSm,
    since: Timestamp,
    stop: &CancellationToken,
) -> Sent {
    let ttl = Duration::from_secs(server.config.deliver_ttl_seconds);
    let age = Duration::from_micros(
        u64::try_from(Timestamp::now().unix_micros() - since.unix_micros()).unwrap_or(0),
    );
    let timeout = Duration::from_secs(server.config.response_timeout_seconds);
    let started = Instant::now();
    loop {
        for tx in server.turn(account) {
            let (answer, answered) = oneshot::channel();
            let sent = tx.send(Deliver {
                pdu: pdu.clone(),
                answer,
            });
            if sent.is_err() {
                continue; // the connection has just ended
            }
            // Gone or silent: the next bind.
            let Ok(Ok(status)) = tokio::time::timeout(timeout, answered).await else {
                continue;
            };
            if status == status::ROK {
                server.delivered(account, "delivered");
                return Sent::Delivered;
            }
            let class = StatusClass::of(status);
            if !(status::is_transient(status) || class.is_slow_down()) {
                server.delivered(account, "refused");
                let name = status::name(status).unwrap_or("error status");
                return Sent::NotDelivered(format!(
                    "the client refused the deliver_sm: {name} (0x{status:08X})"
                ));
            }
        }
        if age + started.elapsed() >= ttl {
            server.delivered(account, "expired");
            return Sent::NotDelivered(format!(
                "no bind of account {account:?} took the message within deliver_ttl_seconds ({})",
                server.config.deliver_ttl_seconds
            ));
        }
        if stop.is_cancelled() || started.elapsed() >= WAIT_FOR_BIND {
            return Sent::Later;
        }
        // Until a bind appears (or a second passes: a transient refusal waits too).
        let _ = tokio::time::timeout(Duration::from_secs(1), server.bind_changed.notified()).await;
    }
}

/// The account a message is for.
fn account_of(server: &Server, msg: &UserMessage) -> Result<String, String> {
    let named = msg
        .transport_metadata
        .get("smpp_server")
        .and_then(|v| v.get("account"))
        .and_then(serde_json::Value::as_str);
    match named {
        Some(a) if server.client(a).is_some() => Ok(a.to_owned()),
        Some(a) => Err(format!(
            "transport_metadata.smpp_server.account: {a:?} is not an account"
        )),
        None if server.config.accounts.len() == 1 => {
            Ok(server.config.accounts[0].system_id.clone())
        }
        None => Err(
            "transport_metadata.smpp_server.account: which client account (several are \
                     configured)"
                .into(),
        ),
    }
}

/// The `deliver_sm` of `msg`.
fn build(msg: &UserMessage) -> Result<DeliverSm, String> {
    let address = |a: Option<&str>, what: &str| {
        let a = a.unwrap_or_default().trim_start_matches('+');
        COctetString::<1, 21>::from_vec(format!("{a}\0").into_bytes())
            .map_err(|_| format!("{what}: longer than 20 characters"))
    };
    let text = msg.content.as_deref().unwrap_or_default();
    let encoding = sms::choose(text, Encoding::Gsm7);
    let octets = encoding.encode(text).map_err(|e| format!("content: {e}"))?;
    // esm_class set: rusmpp's default is not 0 (its message type defaults to a manual
    // acknowledgement).
    let builder = DeliverSm::builder()
        .esm_class(EsmClass::from(0u8))
        .source_addr(address(msg.from_addr.as_deref(), "from_addr")?)
        .destination_addr(address(msg.to_addr.as_deref(), "to_addr")?)
        .data_coding(DataCoding::from(encoding.data_coding()));
    let builder = if octets.len() <= 254 {
        builder
            .short_message(OctetString::from_slice(&octets).map_err(|e| format!("content: {e}"))?)
    } else if octets.len() <= usize::from(u16::MAX) {
        builder.push_tlv(Tlv::MessagePayload(MessagePayload::new(
            AnyOctetString::from_slice(&octets),
        )))
    } else {
        return Err("content: longer than one message_payload (65535 octets)".into());
    };
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mo_for_a_client_is_a_plain_deliver_sm() {
        let short = UserMessage::new("t", "sms", "+27830002222", "27820001111", Some("hi".into()));
        let pdu = build(&short).expect("a pdu");
        assert_eq!(u8::from(pdu.esm_class), 0);
        assert_eq!(pdu.source_addr.as_str(), "27830002222");
        assert_eq!(pdu.short_message().as_ref(), b"hi");
        // Longer than one short_message: one message_payload, in UCS2 when it must be.
        let long = "Ж".repeat(200);
        let msg = UserMessage::new("t", "sms", "1", "2", Some(long));
        let pdu = build(&msg).expect("a pdu");
        assert!(pdu.short_message().as_ref().is_empty());
        assert_eq!(u8::from(pdu.data_coding), 8);
        assert_eq!(pdu.tlvs().len(), 1);
    }
}
