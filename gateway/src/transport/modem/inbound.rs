//! The modem transport's inbound half: driver events → Vumi messages and delivery reports.
//!
//! Reference: reference/modem.md §0 items 3 and 5 (delete only after the downstream owns the
//! message; reassembly key and timeout), §2.9 (persistent dedup key). See the parent module.
//!
//! Messages are handled one at a time in arrival order; deleting a slot runs in its own task,
//! so this loop never waits on the modem (whose task may be waiting to hand it the next
//! event).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use metrics::counter;
use richmond_codecs::sms::pdu::{self, Deliver, Direction, Tpdu};
use richmond_codecs::vumi::UserMessage;
use richmond_drivers::modem::{Event, Slot};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Identity, Shared, lock, reports, ussd};
use crate::transport::common;

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
                    && !lock(&shared.in_flight).insert(slot.clone())
                {
                    continue;
                }
                let after = message(&shared, &hex).await;
                finish(&shared, &tracker, slot, after);
            }
            Event::Ussd(line) => ussd::inbound(&shared, &line).await,
            _ => {}
        }
    }
}

/// Deletes the slot (in a task) or releases it for the next sweep.
fn finish(shared: &Arc<Shared>, tracker: &TaskTracker, slot: Option<Slot>, after: After) {
    let Some(slot) = slot else { return };
    match after {
        After::Keep => {
            lock(&shared.in_flight).remove(&slot);
        }
        After::Delete => {
            let shared = shared.clone();
            tracker.spawn(async move {
                if let Err(e) = shared.handle.delete(slot.clone()).await {
                    tracing::warn!(message = "Could not delete a handled message from the modem; the next sweep reads it again (dropped as a duplicate).",
                        transport = %shared.id, index = slot.index, error = %e);
                }
                lock(&shared.in_flight).remove(&slot);
            });
        }
    }
}

fn count(shared: &Shared, kind: &'static str) {
    common::count(&shared.id, "inbound", kind);
}

fn rejected(shared: &Shared, code: &'static str) {
    counter!("richmond_modem_rejected_pdus_total", "transport" => shared.id.clone(), "code" => code)
        .increment(1);
}

async fn message(shared: &Shared, hex: &Bytes) -> After {
    let decoded = pdu::from_hex(hex).and_then(|o| pdu::decode(&o, Direction::ToMs));
    let pdu = match decoded {
        Ok(p) => p,
        Err(e) => {
            rejected(shared, e.code());
            tracing::warn!(message = "A stored PDU does not decode; deleted from the modem.", transport = %shared.id, error = %e);
            return After::Delete;
        }
    };
    let seen = shared.key("seen", &String::from_utf8_lossy(hex));
    match shared.ctx.store.get(&seen).await {
        Ok(Some(_)) => {
            counter!("richmond_modem_duplicates_total", "transport" => shared.id.clone())
                .increment(1);
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

pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One SMS-DELIVER: published whole, or kept as a part. True when the bus or store owns it.
async fn deliver(shared: &Shared, d: Deliver) -> bool {
    let part = json!({
        "text": d.user_data.text,
        "binary": (d.user_data.encoding == richmond_codecs::sms::Encoding::Binary)
            .then(|| pdu::to_hex(&d.user_data.octets)),
        "from": d.originator.to_msisdn(),
        "scts": d.scts.to_rfc3339(),
        "dcs": d.dcs,
        "pid": d.pid,
    });
    match d.user_data.concat {
        Some(c) if c.total > 1 => {
            let key = shared.key(
                "mp",
                &format!("{}:{}:{}", d.originator.to_msisdn(), c.reference, c.total),
            );
            let store = &shared.ctx.store;
            let timeout = Duration::from_secs(shared.config.multipart_timeout_seconds);
            let ttl = timeout * 4;
            let field = format!("{:03}", c.seq);
            let Ok(n) = store
                .hash_put(&key, &field, part.to_string().as_bytes(), ttl)
                .await
            else {
                return false;
            };
            count(shared, "sms_part");
            if n == 1 {
                let deadline = now_millis() + i64::try_from(timeout.as_millis()).unwrap_or(0);
                if store
                    .index_add(&shared.key("mp-open", "all"), &key, deadline, ttl)
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            if n >= usize::from(c.total) {
                join_and_publish(shared, &key, c.total).await;
            }
            true
        }
        _ => publish_mo(shared, &[part], None).await,
    }
}

/// Publishes the parts under `key` as one message (flagged when some are missing), then
/// forgets them. Leaves them for the timer when the bus is closed.
async fn join_and_publish(shared: &Shared, key: &str, total: u8) {
    let store = &shared.ctx.store;
    let Ok(fields) = store.hash_get_all(key).await else {
        return;
    };
    let mut seqs = Vec::new();
    let mut parts = Vec::new();
    for (field, value) in fields {
        if let (Ok(seq), Ok(v)) = (field.parse::<u8>(), serde_json::from_slice::<Value>(&value)) {
            seqs.push(seq);
            parts.push(v);
        }
    }
    if parts.is_empty() {
        let _ = store.index_remove(&shared.key("mp-open", "all"), key).await;
        return;
    }
    let incomplete = (parts.len() < usize::from(total)).then_some((seqs, total));
    if publish_mo(shared, &parts, incomplete).await {
        let _ = store.delete(key).await;
        let _ = store.index_remove(&shared.key("mp-open", "all"), key).await;
    }
}

/// Publishes the message made of `parts` (in order). True when the bus owns it.
async fn publish_mo(shared: &Shared, parts: &[Value], incomplete: Option<(Vec<u8>, u8)>) -> bool {
    let first = &parts[0];
    let text: String = parts
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default())
        .collect();
    let binary: Option<String> = parts
        .iter()
        .map(|p| p["binary"].as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat());
    let from = first["from"].as_str().unwrap_or_default();
    let content = if binary.is_some() { None } else { Some(text) };
    let mut msg = UserMessage::new(&shared.id, "sms", from, &shared.own_address(), content);
    let ident = shared.identity();
    let meta = &mut msg.transport_metadata;
    meta.insert("modem_scts".into(), first["scts"].clone());
    meta.insert("modem_dcs".into(), first["dcs"].clone());
    if let Some(imei) = ident.imei {
        meta.insert("modem_imei".into(), json!(imei));
    }
    if let Some(imsi) = ident.imsi {
        meta.insert("modem_imsi".into(), json!(imsi));
    }
    if let Some(hex) = binary {
        meta.insert("modem_binary".into(), json!(hex));
    }
    if let Some((seqs, total)) = &incomplete {
        meta.insert("modem_multipart_incomplete".into(), json!(true));
        meta.insert("modem_multipart_parts".into(), json!(seqs));
        meta.insert("modem_multipart_total".into(), json!(total));
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
    let period = Duration::from_secs(shared.config.multipart_timeout_seconds.clamp(1, 5));
    let open = shared.key("mp-open", "all");
    loop {
        tokio::select! {
            () = intake.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let Ok(due) = shared
            .ctx
            .store
            .index_range(&open, 0, now_millis(), 100)
            .await
        else {
            continue;
        };
        for (key, _) in due {
            let total = key
                .rsplit(':')
                .next()
                .and_then(|t| t.parse::<u8>().ok())
                .unwrap_or(0);
            tracing::info!(message = "Multipart message timed out; delivering the parts that came.", transport = %shared.id);
            join_and_publish(&shared, &key, total).await;
        }
    }
}
