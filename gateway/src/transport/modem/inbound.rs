//! The modem transport's inbound half: driver events → Vumi messages and delivery reports.
//!
//! Reference: reference/modem.md §0 items 3 and 5 (delete only after the downstream owns the
//! message; reassembly key and timeout), §2.9 (persistent dedup key). See the parent module.
//!
//! Messages are handled one at a time in arrival order; deleting a slot runs in its own task,
//! so this loop never waits on the modem (whose task may be waiting to hand it the next
//! event).

use crate::transport::common::Carrier as _;
use crate::transport::telemetry::{Modem, ModemEvent};
use richmond_drivers::telemetry::Event as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use richmond_codecs::sms::pdu::{self, Deliver, Direction, Tpdu};
use richmond_codecs::sms::{Encoding, Udh, udh};
use richmond_codecs::vumi::UserMessage;
use richmond_drivers::modem::{Event, Slot};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Identity, Shared, lock, reports, ussd};
use crate::transport::common;
use crate::transport::multipart::{self, Added, Incomplete, Part};

/// What to do with a stored message once handled.
enum After {
    /// The bus or the store owns it (or it is garbage): delete it from the modem.
    Delete,
    /// Not taken (the store or bus failed): leave it for the next sweep.
    Keep,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<Event>,
    tracker: TaskTracker,
) {
    let latch = format!("transport:{}", shared.id);
    while let Some(event) = events.recv().await {
        match event {
            Event::Ready { imei, imsi } => {
                let expected = shared.config.imei.as_deref();
                let wrong = expected.is_some_and(|e| imei.as_deref() != Some(e));
                if wrong {
                    tracing::error!(message = "The device is not the configured modem (IMEI differs); not using it.",
                        transport = %shared.id, found = ?imei, expected = ?expected);
                } else {
                    *lock(&shared.identity) = Identity { imei, imsi };
                }
                shared.usable.store(!wrong, Ordering::SeqCst);
                shared.ctx.readiness.set(&latch, !wrong);
            }
            Event::Down { reason, fatal } => {
                shared.usable.store(false, Ordering::SeqCst);
                shared.ctx.readiness.set(&latch, false);
                if fatal {
                    tracing::error!(message = "Modem stopped.", transport = %shared.id, %reason);
                }
            }
            Event::Message { slot, hex } => {
                if !shared.usable.load(Ordering::SeqCst) {
                    continue; // a modem we refused: leave its storage alone
                }
                if let Some(slot) = &slot
                    && !lock(&shared.in_flight).insert((slot.clone(), hex.clone()))
                {
                    continue; // being handled (a sweep offers it again until deleted)
                }
                let mut after = message(&shared, &hex).await;
                if slot.is_none() {
                    // A routed message exists nowhere else: try again while the store or bus
                    // recovers (the bus retries by itself; it only gives up when closing).
                    let mut tries = 1;
                    while matches!(after, After::Keep) && tries < ROUTED_TRIES {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        after = message(&shared, &hex).await;
                        tries += 1;
                    }
                    if matches!(after, After::Keep) {
                        ModemEvent {
                            transport: &shared.id,
                            what: Modem::RoutedLost,
                        }
                        .emit();
                    }
                }
                finish(&shared, &tracker, slot, hex, after);
            }
            Event::Ussd(line) => ussd::inbound(&shared, &line).await,
            _ => {}
        }
    }
}

/// How often a routed message is tried before it is given up (one second apart).
const ROUTED_TRIES: u32 = 60;

/// Deletes the slot if it still holds `hex` (in a task) or releases it for the next sweep.
fn finish(
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    slot: Option<Slot>,
    hex: Bytes,
    after: After,
) {
    let Some(slot) = slot else { return };
    let key = (slot, hex);
    match after {
        After::Keep => {
            lock(&shared.in_flight).remove(&key);
        }
        After::Delete => {
            let shared = shared.clone();
            tracker.spawn(async move {
                let (slot, hex) = &key;
                if let Err(e) = shared.handle.delete(slot.clone(), Some(hex.clone())).await {
                    tracing::warn!(message = "Could not delete a handled message from the modem; the next sweep reads it again (dropped as a duplicate).",
                        transport = %shared.id, index = slot.index, error = %e);
                }
                lock(&shared.in_flight).remove(&key);
            });
        }
    }
}

fn count(shared: &Shared, kind: &'static str) {
    common::count(&shared.id, "inbound", kind);
}

fn rejected(shared: &Shared, code: &'static str) {
    ModemEvent {
        transport: &shared.id,
        what: Modem::PduRejected { code },
    }
    .emit();
}

async fn message(shared: &Shared, hex: &Bytes) -> After {
    let decoded = pdu::from_hex(hex).and_then(|o| pdu::decode(&o, Direction::ToMs));
    let pdu = match decoded {
        Ok(p) => p,
        Err(e) => {
            // Kept on <id>.failures (raw hex) before it leaves the modem: a full SIM of
            // garbage would stop reception, and nothing is deleted that nobody holds.
            rejected(shared, e.code());
            let reason = format!("received PDU does not decode: {e}");
            let body = serde_json::to_vec(&json!({"modem_pdu": String::from_utf8_lossy(hex)}))
                .unwrap_or_default();
            let failure = crate::transport::failure_body(&body, &reason);
            if shared.publish("failures", failure).await.is_err() {
                return After::Keep;
            }
            tracing::warn!(message = "A received PDU does not decode; sent to failures and deleted from the modem.", transport = %shared.id, error = %e);
            return After::Delete;
        }
    };
    let seen = shared.key("seen", &String::from_utf8_lossy(hex));
    match shared.ctx.store.get(&seen).await {
        Ok(Some(_)) => {
            ModemEvent {
                transport: &shared.id,
                what: Modem::Duplicate,
            }
            .emit();
            return After::Delete;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(message = "Store error; the message stays on the modem.", transport = %shared.id, error = %e);
            return After::Keep;
        }
    }
    let taken = match pdu.tpdu {
        Tpdu::Deliver(d) => deliver(shared, d).await,
        Tpdu::StatusReport(r) => reports::status_report(shared, &r).await,
        Tpdu::Submit(_) => {
            rejected(shared, "submit");
            true
        }
    };
    if !taken {
        return After::Keep;
    }
    let ttl = Duration::from_secs(shared.config.dedup_ttl_seconds);
    if let Err(e) = shared.ctx.store.put(&seen, b"1", ttl).await {
        tracing::warn!(message = "Dedup key not stored; a crash now could publish this message twice.", transport = %shared.id, error = %e);
    }
    After::Delete
}

/// What a part carries besides its octets and text, enough to publish the message alone
/// (the JSON fields of parts stored by earlier versions, which are still read; their
/// `binary`, the octets again in hex, is ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Meta {
    encoding: String,
    from: String,
    scts: String,
    dcs: u8,
    pid: u8,
}

/// One SMS-DELIVER: published whole, or kept as a part. True when the bus or store owns it.
async fn deliver(shared: &Shared, d: Deliver) -> bool {
    let ud = &d.user_data;
    let part = Part {
        octets: ud.octets.clone(),
        text: Some(ud.text.clone()),
        meta: Meta {
            encoding: ud.encoding.as_str().to_owned(),
            from: d.originator.to_msisdn(),
            scts: d.scts.to_rfc3339(),
            dcs: d.dcs,
            pid: d.pid,
        },
    };
    match d.user_data.concat {
        Some(c) if c.total > 1 => {
            // modem.md §0 item 5: originator, reference, its width, and the total.
            let width = if concat_width_16(&d.user_data.udh) {
                16
            } else {
                8
            };
            let key = shared.key(
                "mp",
                &format!(
                    "{}:{width}:{}:{}",
                    d.originator.to_msisdn(),
                    c.reference,
                    c.total
                ),
            );
            let store = &shared.ctx.store;
            match shared
                .reassembly
                .add(store, &key, c.seq, c.total, &part)
                .await
            {
                Err(_) => return false,
                Ok(added) => {
                    count(shared, "sms_part");
                    if added == Added::Complete {
                        join_and_publish(shared, &key, c.total).await;
                    }
                }
            }
            true
        }
        _ => publish_mo(shared, &[part], None).await,
    }
}

fn concat_width_16(udh: &[u8]) -> bool {
    Udh::parse(udh).is_ok_and(|(u, _)| u.elements().any(|e| e.id == udh::IEI_CONCAT_16))
}

/// The text of the parts in order. When every part is GSM-7 or every part UCS2 in the default
/// tables, their octets are joined first and decoded once, so an escape pair or a surrogate
/// pair that a sender split across parts comes out whole; otherwise (national shift tables,
/// mixed encodings) the parts' texts are joined.
fn join_text(parts: &[Part<Meta>]) -> String {
    let text = |p: &Part<Meta>| p.text.clone().unwrap_or_default();
    let texts = || parts.iter().map(text);
    let encoding = |p: &Part<Meta>| match p.meta.encoding.as_str() {
        "gsm7" => Some(Encoding::Gsm7),
        "ucs2" => Some(Encoding::Ucs2),
        _ => None,
    };
    let Some(first) = parts.first().and_then(encoding) else {
        return texts().collect();
    };
    let mut octets = Vec::new();
    for p in parts {
        if encoding(p) != Some(first) || first.decode(&p.octets) != text(p) {
            return texts().collect();
        }
        octets.extend_from_slice(&p.octets);
    }
    first.decode(&octets)
}

/// Publishes the parts under `key` as one message (flagged when some are missing), then
/// forgets them. Leaves them for the timer when the bus is closed.
async fn join_and_publish(shared: &Shared, key: &str, total: u8) {
    shared
        .reassembly
        .join(
            &shared.ctx.store,
            key,
            total,
            multipart::read_json,
            |joined| async move {
                let parts: Vec<_> = joined.parts.iter().map(|(_, p)| p.clone()).collect();
                publish_mo(shared, &parts, joined.incomplete()).await
            },
        )
        .await;
}

/// The octets of `parts` joined, in hex, when every part is binary (`modem_binary`).
fn binary_hex(parts: &[Part<Meta>]) -> Option<String> {
    parts
        .iter()
        .all(|p| p.meta.encoding == Encoding::Binary.as_str())
        .then(|| {
            pdu::to_hex(
                &parts
                    .iter()
                    .flat_map(|p| p.octets.clone())
                    .collect::<Vec<_>>(),
            )
        })
}

/// Publishes the message made of `parts` (in order). True when the bus owns it.
async fn publish_mo(shared: &Shared, parts: &[Part<Meta>], incomplete: Option<Incomplete>) -> bool {
    let Some(first) = parts.first() else {
        return true;
    };
    let text = join_text(parts);
    let binary = binary_hex(parts);
    let content = if binary.is_some() { None } else { Some(text) };
    let mut msg = UserMessage::new(
        &shared.id,
        "sms",
        &first.meta.from,
        &shared.own_address(),
        content,
    );
    let ident = shared.identity();
    let meta = &mut msg.transport_metadata;
    meta.insert("modem_scts".into(), json!(first.meta.scts));
    meta.insert("modem_dcs".into(), json!(first.meta.dcs));
    if let Some(imei) = ident.imei {
        meta.insert("modem_imei".into(), json!(imei));
    }
    if let Some(imsi) = ident.imsi {
        meta.insert("modem_imsi".into(), json!(imsi));
    }
    if let Some(hex) = binary {
        meta.insert("modem_binary".into(), json!(hex));
    }
    if let Some(incomplete) = &incomplete {
        multipart::flag_incomplete(meta, "modem", incomplete);
    }
    match shared.publish("inbound", msg.encode()).await {
        Ok(()) => {
            count(
                shared,
                if incomplete.is_some() {
                    "sms_incomplete"
                } else {
                    "sms"
                },
            );
            true
        }
        Err(_) => false,
    }
}

/// Publishes multipart messages whose parts stopped coming (`multipart_timeout_seconds`).
pub(super) async fn multipart_timer(shared: Arc<Shared>, intake: CancellationToken) {
    shared
        .reassembly
        .timer(&shared.ctx.store, &intake, |key, total| {
            let shared = shared.clone();
            async move { join_and_publish(&shared, &key, total).await }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::{Meta, binary_hex, join_text};
    use crate::transport::multipart::{Part, read_json};

    fn part(json: &str) -> Part<Meta> {
        read_json(json.as_bytes()).expect("a part")
    }

    #[test]
    fn parts_of_earlier_versions_read_and_join_as_new_ones() {
        // As stored before the shared module (with `binary`, the octets again in hex).
        let one = part(
            r#"{"text":"hi","octets":"6869","encoding":"binary","binary":"6869","from":"+2782","scts":"2024-01-01T12:00:00+02:00","dcs":4,"pid":0}"#,
        );
        let two = part(
            r#"{"octets":"FF","encoding":"binary","from":"+2782","scts":"2024-01-01T12:00:00+02:00","dcs":4,"pid":0}"#,
        );
        assert_eq!(binary_hex(&[one.clone(), two]).as_deref(), Some("6869FF"));
        let text = part(
            r#"{"text":"A","octets":"41","encoding":"gsm7","from":"+2782","scts":"2024-01-01T12:00:00+02:00","dcs":0,"pid":0}"#,
        );
        assert_eq!(binary_hex(&[one, text.clone()]), None);
        assert_eq!(join_text(&[text.clone(), text]), "AA");
    }
}
