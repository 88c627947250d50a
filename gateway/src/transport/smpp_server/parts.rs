//! Long messages from clients: the parts of one (UDH concatenation or SAR TLVs) wait in the
//! store, through the shared reassembly (`transport/multipart.rs`), until all have come; then
//! they go to `<id>.inbound` as one Vumi message, so whatever carrier link takes it sends all
//! of it (split again as that link needs). Each part is answered at once, with an id of its
//! own, once the store holds it (the last one also tries to publish the whole message; if the
//! bus does not take it, the timer publishes it later). A client's receipts name the ids it
//! was answered with: every part gets its own receipt from the one message's events, as that
//! part asked for it (`registered_delivery`). Parts that stop coming go on as they are after
//! `multipart_timeout_seconds`, flagged `smpp_multipart_incomplete`.
//!
//! Store: the hash `smpp_server:<t>:mp:<account>:<source>:<destination>:<reference>:<total>`
//! (one JSON part per field) and the index `smpp_server:<t>:mp-open:all`.
//!
//! Not handled: a last part sent again after its answer was lost starts a new message, which
//! goes on as an incomplete one-part message after the timeout (a duplicate fragment).
//!
//! Reference: SMPP 3.4 §5.2.12 (UDHI), §5.3.2.22–24 (`sar_msg_ref_num`, `sar_total_segments`,
//! `sar_segment_seqnum`); reference/smpp.md (UDH, SAR).

use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::status;
use richmond_codecs::sms::Encoding;
use richmond_codecs::vumi::UserMessage;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Server;
use super::receipts::PartReceipt;
use crate::transport::common::{self, OnRefusal};
use crate::transport::multipart::{self, Added, Incomplete, Part, Reassembly};
use crate::transport::smpp::map::user_message;

/// A client's submit as the bus will see it: its addresses, coding and receipt request, and
/// the id it is answered with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) account: String,
    pub(super) source: String,
    pub(super) source_ton: u8,
    pub(super) destination: String,
    pub(super) destination_ton: u8,
    pub(super) data_coding: u8,
    pub(super) registered_delivery: u8,
    /// The message id the client is answered with (its receipts name it).
    pub(super) id: String,
}

/// The reassembly of server transport `id`.
pub(super) fn reassembly(id: &str, timeout_seconds: u64) -> Reassembly {
    Reassembly::new(
        id,
        format!("smpp_server:{id}:mp-open:all"),
        Duration::from_secs(timeout_seconds),
    )
}

/// The Vumi message of a client's text `octets`: read as the SMPP client transport reads a
/// `deliver_sm` (the same fields, the same mapping), the destination's TON honoured as the
/// source's, the account and receipt request in `transport_metadata.smpp_server`.
pub(super) fn message(
    transport: &str,
    meta: &Meta,
    octets: &[u8],
    incomplete: Option<Incomplete>,
) -> UserMessage {
    let m = Inbound {
        source: meta.source.clone(),
        source_ton: meta.source_ton,
        destination: meta.destination.clone(),
        data_coding: meta.data_coding,
        ..Inbound::default()
    };
    let encoding = Encoding::from_data_coding(meta.data_coding, Encoding::Gsm7);
    let (mut msg, _) = user_message(transport, &m, encoding, octets, incomplete);
    if meta.destination_ton == 1 && !meta.destination.starts_with('+') {
        msg.to_addr = Some(format!("+{}", meta.destination));
    }
    msg.transport_metadata.insert(
        "smpp_server".into(),
        json!({"account": meta.account, "registered_delivery": meta.registered_delivery}),
    );
    msg
}

/// Stores part `seq` of `total` (reference `reference`); the last one publishes the message.
/// The id to answer the part with, or the status to refuse it with (the client sends it
/// again).
pub(super) async fn store(
    server: &Server,
    meta: Meta,
    octets: &[u8],
    reference: u16,
    total: u8,
    seq: u8,
) -> Result<String, u32> {
    // Source and destination both: a bulk sender reuses one sender id and 256 references.
    let key = format!(
        "smpp_server:{}:mp:{}:{}:{}:{reference}:{total}",
        server.id, meta.account, meta.source, meta.destination
    );
    let id = meta.id.clone();
    let part = Part {
        octets: octets.to_vec(),
        text: None,
        meta,
    };
    match server
        .reassembly
        .add(&server.ctx.store, &key, seq, total, &part)
        .await
    {
        Err(e) => {
            tracing::warn!(message = "Store error; a client's part answered ESME_RSYSERR.", transport = %server.id, error = %e);
            Err(status::RSYSERR)
        }
        Ok(Added::Waiting) => Ok(id),
        Ok(Added::Complete) => {
            // The store owns the part: answered either way. A join that failed leaves the
            // parts for the timer (an error answer would have the client send them again).
            join_and_publish(server, &key, total).await;
            Ok(id)
        }
    }
}

/// Publishes the parts under `key` as one message (flagged when some are missing), after
/// remembering their ids for receipts; false leaves them for the timer.
async fn join_and_publish(server: &Server, key: &str, total: u8) -> bool {
    let read = multipart::read_json::<Meta>;
    server
        .reassembly
        .join(&server.ctx.store, key, total, read, |joined| async move {
            let Some(first) = joined.first() else {
                return true;
            };
            let meta = first.meta.clone();
            // Each part's receipt as that part asked for it.
            let parts: Vec<PartReceipt> = joined
                .parts
                .iter()
                .map(|(_, p)| PartReceipt {
                    id: p.meta.id.clone(),
                    registered_delivery: p.meta.registered_delivery,
                })
                .collect();
            let ids: Vec<&str> = parts.iter().map(|p| p.id.as_str()).collect();
            let mut msg = message(&server.id, &meta, &joined.octets(), joined.incomplete());
            if let Some(s) = msg
                .transport_metadata
                .get_mut("smpp_server")
                .and_then(serde_json::Value::as_object_mut)
            {
                s.insert("parts".into(), json!(ids));
            }
            hand_over(server, &meta.account, &msg, meta.registered_delivery, parts).await
        })
        .await
}

/// Hands `msg` from `account` to `<id>.inbound`, remembered first for its receipts when it
/// (or, for a long message, any of its `parts`) asked for one, so its events find the
/// client; whether the bus owns it (logged when not).
pub(super) async fn hand_over(
    server: &Server,
    account: &str,
    msg: &UserMessage,
    registered_delivery: u8,
    parts: Vec<PartReceipt>,
) -> bool {
    let wanted = if parts.is_empty() {
        super::receipts::wanted(registered_delivery)
    } else {
        parts
            .iter()
            .any(|p| super::receipts::wanted(p.registered_delivery))
    };
    if wanted
        && let Err(e) =
            super::receipts::remember(server, account, msg, registered_delivery, parts).await
    {
        tracing::warn!(message = "Store error; a client's message is not taken.", transport = %server.id, error = %e);
        return false;
    }
    let published = common::publish(
        &server.ctx.bus,
        &server.id,
        "inbound",
        msg.encode(),
        OnRefusal::HandBack,
    );
    match published.await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(message = "The bus did not take a client's message.", transport = %server.id, error = %e);
            false
        }
    }
}

/// Publishes long messages whose parts stopped coming, every few seconds until `intake`.
pub(super) async fn timer(server: Arc<Server>, intake: CancellationToken) {
    server
        .reassembly
        .timer(&server.ctx.store, &intake, |key, total| {
            let server = server.clone();
            async move {
                join_and_publish(&server, &key, total).await;
            }
        })
        .await;
}
