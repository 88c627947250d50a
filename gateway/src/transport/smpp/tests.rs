//! Receipt matching against the id map, with a store write still under way (the race a
//! loaded gateway with a busy disk runs into; `load ... receipts` in BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use richmond_codecs::smpp::deliver::{Inbound, Sar};
use richmond_codecs::smpp::status;
use tokio_util::sync::CancellationToken;

use super::{Shared, inbound, receipt_key};
use crate::bus::Bus;
use crate::bus::embedded::EmbeddedBus;
use crate::config::{BusConfig, Config};
use crate::store::Store;
use crate::transport::TransportConfig;

async fn shared(dir: &std::path::Path) -> Arc<Shared> {
    shared_with(dir, "").await
}

/// A transport `sms` with `extra` lines in its section.
async fn shared_with(dir: &std::path::Path, extra: &str) -> Arc<Shared> {
    let path = dir.join("richmond.toml");
    let text = format!(
        "data_dir = {:?}\n[bus]\ntype = \"embedded\"\n[transports.sms]\ntype = \"smpp\"\n\
         host = \"127.0.0.1\"\nport = 2775\nsystem_id = \"richmond\"\npassword = \"secret\"\n{extra}\n",
        dir.join("data")
    );
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path, std::iter::empty::<(String, String)>()).unwrap();
    let BusConfig::Embedded(e) = &config.bus else {
        panic!("embedded bus")
    };
    let bus = Bus::Embedded(EmbeddedBus::open(&config.data_dir, e).unwrap());
    let store = Store::open(&config).await.unwrap();
    let Some(TransportConfig::Smpp(smpp)) = config.transports.get("sms") else {
        panic!("smpp transport")
    };
    Arc::new(Shared {
        id: "sms".into(),
        config: smpp.clone(),
        ctx: super::Context {
            bus,
            store,
            readiness: crate::admin::Readiness::default(),
            cluster: Default::default(),
        },
        binds: std::sync::RwLock::default(),
        shares_binds: false,
        next_bind: AtomicU64::new(0),
        next_tx: AtomicUsize::new(0),
        next_ref: AtomicU64::new(0),
        intake: CancellationToken::new(),
        unstored_ids: std::sync::Mutex::default(),
        reassembly: super::multipart::reassembly("sms", smpp),
        rate: None,
    })
}

#[tokio::test]
async fn a_receipt_overtaking_its_store_write_matches_its_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path()).await;
    let ttl = Duration::from_secs(60);
    // Message "m10" was mapped long ago as SMSC id 10. Message "m16" was just accepted as
    // SMSC id 16 and its mapping is still on its way to the store. "16" read as hex is 22,
    // and 16 written in hex is "10": matching by the other-base variants alone would hand
    // m16's receipt to m10.
    let store = &shared.ctx.store;
    store
        .put(&receipt_key("sms", "10"), b"m10", ttl)
        .await
        .unwrap();
    shared
        .unstored()
        .insert(receipt_key("sms", "16"), "m16".into());
    for variants in [false, true] {
        let found = inbound::lookup(&shared, "16", variants).await.unwrap();
        assert_eq!(
            found.map(|f| f.1).as_deref(),
            Some("m16"),
            "variants: {variants}"
        );
    }
    // Once written, the mapping is read from the store and leaves memory.
    shared.map_receipt_id("17", "m17").await;
    assert!(!shared.unstored().contains_key(&receipt_key("sms", "17")));
    let found = inbound::lookup(&shared, "17", false).await.unwrap();
    assert_eq!(found.map(|f| f.1).as_deref(), Some("m17"));
    // A receipt whose own mapping never came still matches by variant (an SMSC that
    // answers in hex and reports in decimal): 0x1a = 26.
    store
        .put(&receipt_key("sms", "1a"), b"m26", ttl)
        .await
        .unwrap();
    let found = inbound::lookup(&shared, "26", true).await.unwrap();
    assert_eq!(found.map(|f| f.1).as_deref(), Some("m26"));
}

/// A receipt for SMSC id `id` in `message_state` `state` (2 DELIVERED, 5 UNDELIVERABLE, 1
/// ENROUTE).
fn receipt(id: &str, state: u8) -> Inbound {
    Inbound {
        esm_class: 0x04,
        receipted_id: Some(id.into()),
        message_state: Some(state),
        ..part((None, None, None), b"")
    }
}

/// The delivery reports published so far, as (message id, status).
async fn reports(events: &mut crate::bus::Consumer, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let d = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("a delivery report")
            .expect("the consumer is open");
        let v: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        out.push((
            v["user_message_id"].as_str().unwrap().to_owned(),
            v["delivery_status"].as_str().unwrap().to_owned(),
        ));
        d.ack().await.unwrap();
    }
    out
}

#[tokio::test]
async fn a_final_receipt_keeps_its_mapping_only_for_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_with(dir.path(), "receipt_final_grace_seconds = 1").await;
    let mut events = shared.ctx.bus.consume("sms.event").await.unwrap();
    let store = &shared.ctx.store;
    for (smsc, msg) in [("a1", "m1"), ("a2", "m2"), ("a3", "m3")] {
        shared.map_receipt_id(smsc, msg).await;
    }
    // A pending report keeps the mapping; finals (delivered, failed) start the grace.
    for r in [receipt("a1", 1), receipt("a1", 2), receipt("a2", 5)] {
        assert_eq!(inbound::receipt(&shared, &r).await, status::ROK);
    }
    // A duplicate final within the grace still matches.
    assert_eq!(
        inbound::receipt(&shared, &receipt("a1", 2)).await,
        status::ROK
    );
    let got = reports(&mut events, 4).await;
    let want = [
        ("m1", "pending"),
        ("m1", "delivered"),
        ("m2", "failed"),
        ("m1", "delivered"),
    ];
    let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, want);
    // After the grace both finished mappings are gone (awaited, bounded); the
    // unfinished one stays.
    let gone =
        |k: &'static str| async move { store.get(&receipt_key("sms", k)).await.unwrap().is_none() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(gone("a1").await && gone("a2").await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mappings outlived the grace"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!gone("a3").await, "an unfinished mapping must stay");
    assert_eq!(
        store_purged(&shared).await,
        2,
        "the expired mappings are purged"
    );
}

/// Purges expired entries; how many went.
async fn store_purged(shared: &Shared) -> usize {
    match &shared.ctx.store {
        Store::Redb(s) => s.purge_expired().await.unwrap(),
        _ => panic!("the tests run on redb"),
    }
}

#[tokio::test]
async fn a_final_receipt_leaves_a_newer_mapping_of_its_id_alone() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_with(dir.path(), "receipt_final_grace_seconds = 0").await;
    // m1's receipt was matched, then the SMSC reused id c1 for m2 before m1's was finished.
    shared.map_receipt_id("c1", "m2").await;
    shared
        .finish_receipt_id(&receipt_key("sms", "c1"), "m1")
        .await;
    let stored = shared
        .ctx
        .store
        .get(&receipt_key("sms", "c1"))
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"m2"[..]));
}

#[tokio::test]
async fn a_final_receipt_overtaking_its_store_write_shortens_it_once_written() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_with(dir.path(), "receipt_final_grace_seconds = 0").await;
    let mut events = shared.ctx.bus.consume("sms.event").await.unwrap();
    // The write of "b1" is still under way when its final receipt comes.
    shared
        .unstored()
        .insert(receipt_key("sms", "b1"), "m1".into());
    assert_eq!(
        inbound::receipt(&shared, &receipt("b1", 2)).await,
        status::ROK
    );
    assert_eq!(
        reports(&mut events, 1).await,
        vec![("m1".into(), "delivered".into())]
    );
    let entry = shared.unstored().get(&receipt_key("sms", "b1")).cloned();
    assert_eq!(entry.map(|u| u.finished), Some(true));
    // The write lands: with no grace the mapping leaves the store and memory at once.
    shared.map_receipt_id("b1", "m1").await;
    assert!(shared.unstored().is_empty());
    let stored = shared
        .ctx
        .store
        .get(&receipt_key("sms", "b1"))
        .await
        .unwrap();
    assert_eq!(stored, None);
}

fn part(sar: (Option<u16>, Option<u8>, Option<u8>), payload: &[u8]) -> Inbound {
    Inbound {
        source: "27820000001".into(),
        source_ton: 1,
        destination: "12345".into(),
        payload: bytes::Bytes::copy_from_slice(payload),
        sar: Sar {
            reference: sar.0,
            total: sar.1,
            seq: sar.2,
        },
        ..Inbound::default()
    }
}

#[tokio::test]
async fn parts_with_impossible_numbers_are_refused_and_never_count_toward_a_join() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path()).await;
    let mut inbound = shared.ctx.bus.consume("sms.inbound").await.unwrap();
    // SAR: segment 0, beyond the total, total 0: refused with a status the SMSC keeps.
    for sar in [(7, 3, 0), (7, 3, 4), (7, 0, 1)] {
        let status =
            inbound::mo(&shared, part((Some(sar.0), Some(sar.1), Some(sar.2)), b"x")).await;
        assert_eq!(status, status::RINVOPTPARAMVAL, "{sar:?}");
    }
    // UDH (8-bit reference 7, 3 parts, part 4): refused permanently.
    let mut udh = part((None, None, None), &[0x05, 0x00, 0x03, 7, 3, 4, b'x']);
    udh.esm_class = 0x40;
    assert_eq!(inbound::mo(&shared, udh).await, status::RX_P_APPN);
    // The three real parts still join into one message, answered OK each.
    for (seq, text) in [(1, "one "), (2, "two "), (3, "three")] {
        let status = inbound::mo(
            &shared,
            part((Some(7), Some(3), Some(seq)), text.as_bytes()),
        )
        .await;
        assert_eq!(status, status::ROK);
    }
    let d = tokio::time::timeout(Duration::from_secs(10), inbound.next())
        .await
        .expect("the joined message")
        .expect("bus open");
    let msg = richmond_codecs::vumi::UserMessage::decode(&d.body).unwrap();
    assert_eq!(msg.content.as_deref(), Some("one two three"));
}

#[tokio::test]
async fn a_message_payload_over_65535_octets_is_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut shared = Arc::try_unwrap(shared(dir.path()).await).ok().unwrap();
    shared.config.multipart = super::config::Multipart::MessagePayload;
    let long = richmond_codecs::vumi::UserMessage::new(
        "sms",
        "sms",
        "12345",
        "+27820000001",
        Some("a".repeat(65_536)),
    );
    let err = super::outbound::submits(&shared, &long).unwrap_err();
    assert!(err.contains("65535"), "{err}");
    let fits = richmond_codecs::vumi::UserMessage::new(
        "sms",
        "sms",
        "12345",
        "+27820000001",
        Some("a".repeat(65_535)),
    );
    assert_eq!(super::outbound::submits(&shared, &fits).unwrap().len(), 1);
}

#[tokio::test]
async fn parts_that_stop_coming_are_delivered_flagged_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_with(dir.path(), "multipart_timeout_seconds = 1").await;
    let mut inbound = shared.ctx.bus.consume("sms.inbound").await.unwrap();
    // Parts 1 and 3 of 3 come, each answered OK; part 2 never does.
    for (seq, text) in [(1, "one "), (3, "three")] {
        let status = inbound::mo(
            &shared,
            part((Some(9), Some(3), Some(seq)), text.as_bytes()),
        )
        .await;
        assert_eq!(status, status::ROK);
    }
    let stop = CancellationToken::new();
    let timer = tokio::spawn(super::multipart::timer(shared.clone(), stop.clone()));
    let d = tokio::time::timeout(Duration::from_secs(60), inbound.next())
        .await
        .expect("the parts that came, delivered at the timeout")
        .expect("bus open");
    let msg = richmond_codecs::vumi::UserMessage::decode(&d.body).unwrap();
    assert_eq!(msg.content.as_deref(), Some("one three"));
    assert_eq!(msg.from_addr.as_deref(), Some("+27820000001"));
    assert_eq!(msg.transport_metadata["smpp_multipart_incomplete"], true);
    assert_eq!(
        msg.transport_metadata["smpp_multipart_parts"],
        serde_json::json!([1, 3])
    );
    assert_eq!(msg.transport_metadata["smpp_multipart_total"], 3);
    d.ack().await.unwrap();
    // Then the parts and their deadline are forgotten (after the publish: awaited here).
    let key = "smpp:sms:mp:27820000001:9:3";
    let forgotten = async {
        loop {
            let parts = shared.ctx.store.hash_get_all(key).await.unwrap();
            let open = shared
                .ctx
                .store
                .index_range("smpp:sms:mp-open:all", 0, i64::MAX, 10)
                .await
                .unwrap();
            if parts.is_empty() && open.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), forgotten)
        .await
        .expect("the parts are forgotten once published");
    // And nothing more is published for them.
    assert!(
        tokio::time::timeout(Duration::from_millis(1), inbound.next())
            .await
            .is_err()
    );
    stop.cancel();
    timer.await.unwrap();
}
