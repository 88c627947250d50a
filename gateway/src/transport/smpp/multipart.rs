//! Multipart MOs of the SMPP transport (UDH concatenation or SAR TLVs), kept by the shared
//! reassembly (`transport/multipart.rs`): parts wait in the store until all have come, then
//! the whole message is published; parts that stop coming are published as they are when
//! `multipart_timeout_seconds` has passed since the first one, flagged `smpp_multipart_*`.
//!
//! Store layout: the hash `smpp:<id>:mp:<source>:<reference>:<total>` (one JSON part per
//! field: octets, and the source, its TON, the destination and data_coding so any part can
//! publish the message); the index `smpp:<id>:mp-open:all`. Parts stored by earlier versions
//! (`[meta length: u16 BE][meta JSON][octets]`) are still read. Reference:
//! reference/smpp.md (UDH, SAR).

use std::sync::Arc;
use std::time::Duration;

use richmond_codecs::smpp::deliver::Inbound;
use richmond_codecs::smpp::status::{ROK, RX_T_APPN};
use richmond_codecs::sms::Encoding;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::inbound::publish_mo;
use super::{Shared, SmppConfig};
use crate::transport::multipart::{self, Added, Part, Reassembly};

/// What a part carries besides its octets, enough to publish the message alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    source: String,
    source_ton: u8,
    destination: String,
    data_coding: u8,
}

/// The reassembly of transport `id`.
pub(super) fn reassembly(id: &str, config: &SmppConfig) -> Reassembly {
    Reassembly::new(
        id,
        format!("smpp:{id}:mp-open:all"),
        Duration::from_secs(config.multipart_timeout_seconds),
    )
}

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
    let part = Part {
        octets: octets.to_vec(),
        text: None,
        meta: Meta {
            source: m.source.clone(),
            source_ton: m.source_ton,
            destination: m.destination.clone(),
            data_coding: m.data_coding,
        },
    };
    match shared
        .reassembly
        .add(&shared.ctx.store, &key, seq, total, &part)
        .await
    {
        Err(_) => RX_T_APPN,
        Ok(Added::Waiting) => {
            crate::transport::common::count(&shared.id, "inbound", "sms_part");
            ROK
        }
        Ok(Added::Complete) => join_and_publish(shared, &key, total).await,
    }
}

/// A stored part, in this version's JSON or the earlier binary layout.
fn read(value: &[u8]) -> Option<Part<Meta>> {
    // A JSON object; the earlier layout starts with a meta length far below 0x7B00.
    if value.first() == Some(&b'{') {
        return multipart::read_json(value);
    }
    let len = usize::from(u16::from_be_bytes([*value.first()?, *value.get(1)?]));
    Some(Part {
        meta: serde_json::from_slice(value.get(2..2 + len)?).ok()?,
        octets: value.get(2 + len..)?.to_vec(),
        text: None,
    })
}

/// Publishes the parts under `key` (flagged when some are missing) and forgets them; leaves
/// them for the timer when the store or the bus fails.
async fn join_and_publish(shared: &Shared, key: &str, total: u8) -> u32 {
    let published = shared
        .reassembly
        .join(&shared.ctx.store, key, total, read, |joined| async move {
            let Some(first) = joined.first() else {
                return true;
            };
            let m = Inbound {
                source: first.meta.source.clone(),
                source_ton: first.meta.source_ton,
                destination: first.meta.destination.clone(),
                data_coding: first.meta.data_coding,
                ..Inbound::default()
            };
            let encoding =
                Encoding::from_data_coding(m.data_coding, shared.config.default_encoding());
            publish_mo(shared, &m, encoding, &joined.octets(), joined.incomplete()).await == ROK
        })
        .await;
    if published { ROK } else { RX_T_APPN }
}

/// Publishes multipart messages whose parts stopped coming, every few seconds until `intake`.
pub(super) async fn timer(shared: Arc<Shared>, intake: CancellationToken) {
    shared
        .reassembly
        .timer(&shared.ctx.store, &intake, |key, total| {
            let shared = shared.clone();
            async move {
                join_and_publish(&shared, &key, total).await;
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::{Meta, read};

    #[test]
    fn parts_stored_by_earlier_versions_are_still_read() {
        let meta = br#"{"source":"2782","source_ton":1,"destination":"12345","data_coding":8}"#;
        let mut old = u16::try_from(meta.len()).unwrap().to_be_bytes().to_vec();
        old.extend_from_slice(meta);
        old.extend_from_slice(&[0x00, 0x68, 0x00, 0x69]);
        let part = read(&old).unwrap();
        assert_eq!(part.octets, [0x00, 0x68, 0x00, 0x69]);
        assert_eq!(
            part.meta,
            Meta {
                source: "2782".into(),
                source_ton: 1,
                destination: "12345".into(),
                data_coding: 8
            }
        );
        // This version's JSON reads back to the same.
        let json = serde_json::to_vec(&part).unwrap();
        assert_eq!(read(&json).unwrap(), part);
        // Garbage is no part.
        assert_eq!(read(b"\x00"), None);
        assert_eq!(read(b"\x00\x09{}"), None);
    }
}
