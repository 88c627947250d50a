//! Multipart MOs of the SMPP transport (UDH concatenation or SAR TLVs): parts wait in the
//! store until all have come, then the whole message is published; parts that stop coming are
//! published as they are when `multipart_timeout_seconds` has passed since the first one,
//! flagged in `transport_metadata` (`smpp_multipart_incomplete`, `smpp_multipart_parts`,
//! `smpp_multipart_total`) as the modem transport does. Every part was answered OK when it
//! was stored, so none may be dropped: nothing expires unpublished.
//!
//! Store layout: the hash `smpp:<id>:mp:<source>:<reference>:<total>` holds one field per part
//! (`001`…), each value `[meta length: u16 BE][meta JSON][part octets]` so any part can
//! publish the message; the index `smpp:<id>:mp-open:all` holds each open hash scored by its
//! deadline (ms). One join at a time per transport, so the last part and the timer never both
//! publish a message. Reference: reference/smpp.md (UDH, SAR).

use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::status::{ROK, RX_T_APPN};
use richmond_codecs::sms::{self, Encoding};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::inbound::publish_mo;

/// What a part carries besides its octets, enough to publish the message alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    source: String,
    source_ton: u8,
    destination: String,
    data_coding: u8,
}

fn open_index(shared: &Shared) -> String {
    format!("smpp:{}:mp-open:all", shared.id)
}

use crate::transport::common::now_millis;

/// Stores `octets`, part `seq` of `total` (reference `reference`) of `m`; the last one
/// publishes the message. Returns the `deliver_sm_resp` status.
pub(super) async fn store_part(
    shared: &Shared,
    m: &Inbound,
    octets: &[u8],
    reference: u16,
    total: u8,
    seq: u8,
) -> u32 {
    let key = format!("smpp:{}:mp:{}:{reference}:{total}", shared.id, m.source);
    let timeout = Duration::from_secs(shared.config.multipart_timeout_seconds);
    // Parts outlive their deadline by a day, so a long bus outage cannot expire them before
    // the timer has published them.
    let ttl = timeout + Duration::from_secs(86_400);
    let meta = Meta {
        source: m.source.clone(),
        source_ton: m.source_ton,
        destination: m.destination.clone(),
        data_coding: m.data_coding,
    };
    let meta = serde_json::to_vec(&meta).unwrap_or_default();
    let mut value = Vec::with_capacity(2 + meta.len() + octets.len());
    value.extend_from_slice(&u16::try_from(meta.len()).unwrap_or(0).to_be_bytes());
    value.extend_from_slice(&meta);
    value.extend_from_slice(octets);
    let store = &shared.ctx.store;
    let Ok(n) = store
        .hash_put(&key, &format!("{seq:03}"), &value, ttl)
        .await
    else {
        return RX_T_APPN;
    };
    if n == 1 {
        let deadline =
            now_millis().saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX));
        if store
            .index_add(&open_index(shared), &key, deadline, ttl)
            .await
            .is_err()
        {
            return RX_T_APPN;
        }
    }
    if n < usize::from(total) {
        crate::transport::common::count(&shared.id, "inbound", "sms_part");
        return ROK;
    }
    join_and_publish(shared, &key, total).await
}

/// Publishes the parts under `key` (flagged when some are missing) and forgets them; leaves
/// them for the timer when the store or the bus fails.
async fn join_and_publish(shared: &Shared, key: &str, total: u8) -> u32 {
    let _one_at_a_time = shared.joining.lock().await;
    let store = &shared.ctx.store;
    let Ok(fields) = store.hash_get_all(key).await else {
        return RX_T_APPN;
    };
    let mut meta = None;
    let mut parts: Vec<(u8, Vec<u8>)> = Vec::new();
    for (field, value) in fields {
        let Ok(seq) = field.parse::<u8>() else {
            continue;
        };
        let Some(len) = value
            .get(..2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            continue;
        };
        let (Some(m), Some(octets)) = (value.get(2..2 + len), value.get(2 + len..)) else {
            continue;
        };
        if meta.is_none() {
            meta = serde_json::from_slice::<Meta>(m).ok();
        }
        parts.push((seq, octets.to_vec()));
    }
    let Some(meta) = meta else {
        // Already published (and deleted) by the other path, or nothing readable.
        let _ = store.index_remove(&open_index(shared), key).await;
        return ROK;
    };
    parts.sort_by_key(|(seq, _)| *seq);
    let complete = parts.len() == usize::from(total);
    let whole = if complete {
        sms::segment::reassemble(total, parts.iter().map(|(s, p)| (*s, p.as_slice())))
            .unwrap_or_else(|_| parts.iter().flat_map(|(_, p)| p.iter().copied()).collect())
    } else {
        parts.iter().flat_map(|(_, p)| p.iter().copied()).collect()
    };
    let m = Inbound {
        source: meta.source,
        source_ton: meta.source_ton,
        destination: meta.destination,
        data_coding: meta.data_coding,
        ..Inbound::default()
    };
    let encoding = Encoding::from_data_coding(m.data_coding, shared.config.default_encoding());
    let incomplete = (!complete).then(|| (parts.iter().map(|(s, _)| *s).collect(), total));
    let status = publish_mo(shared, &m, encoding, &whole, incomplete).await;
    if status == ROK {
        let _ = store.delete(key).await;
        let _ = store.index_remove(&open_index(shared), key).await;
    }
    status
}

/// Publishes multipart messages whose parts stopped coming, every few seconds until `intake`.
pub(super) async fn timer(shared: Arc<Shared>, intake: CancellationToken) {
    let timeout = Duration::from_secs(shared.config.multipart_timeout_seconds);
    let open = open_index(&shared);
    crate::transport::common::sweep_expired_multipart(
        &shared.ctx.store,
        &shared.id,
        &open,
        timeout,
        &intake,
        |key, total| {
            let shared = shared.clone();
            async move {
                join_and_publish(&shared, &key, total).await;
            }
        },
    )
    .await;
}
