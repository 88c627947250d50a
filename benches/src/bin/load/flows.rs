//! The two directions under load, each counting unique messages and duplicates:
//! MO (the simulator floods `deliver_sm`; a consumer reads `<id>.inbound`) and MT (user
//! messages published to `<id>.outbound`; a consumer reads the `ack` events, and the
//! `delivery_report`s when receipts are on).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use richmond::bus::Bus;
use richmond_codecs::vumi::{Event, EventKind, UserMessage};

use crate::LIMIT;
use crate::gateway::Smsc;

/// What one run saw.
pub(crate) struct Outcome {
    /// Messages that completed (MO: consumed; MT: acked and, with receipts, reported).
    pub(crate) unique: usize,
    /// Messages or events seen more than once.
    pub(crate) duplicates: usize,
    pub(crate) elapsed: Duration,
    /// MO: simulator send → consumer; MT: publish start → `ack` event.
    pub(crate) latencies: Vec<Duration>,
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// `n` MOs flooded by the simulator, flat out or at `rate` per second.
pub(crate) async fn mo(
    bus: &Bus,
    id: &str,
    smsc: &mut Smsc,
    n: usize,
    rate: Option<f64>,
) -> Outcome {
    let mut consumer = bus
        .consume(&format!("{id}.inbound"))
        .await
        .expect("consume");
    let started = Instant::now();
    match rate {
        None => smsc.cmd(&format!("mo-flood {n} 12345")),
        Some(r) => smsc.cmd(&format!("mo-flood {n} 12345 {r:.0}")),
    }
    let (mut seen, mut duplicates, mut latencies) = (HashSet::new(), 0, Vec::with_capacity(n));
    while seen.len() < n && started.elapsed() < LIMIT {
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await
        else {
            continue;
        };
        let msg = UserMessage::decode(&d.body).expect("user_message");
        let text = msg.content.unwrap_or_default();
        let mut words = text.split(' ').skip(1);
        let i: usize = words
            .next()
            .and_then(|w| w.parse().ok())
            .expect("flood text");
        let sent: u128 = words
            .next()
            .and_then(|w| w.parse().ok())
            .expect("flood time");
        let micros = u64::try_from(now_micros().saturating_sub(sent)).unwrap_or(u64::MAX);
        latencies.push(Duration::from_micros(micros));
        if !seen.insert(i) {
            duplicates += 1;
        }
        tokio::spawn(d.ack());
    }
    Outcome {
        unique: seen.len(),
        duplicates,
        elapsed: started.elapsed(),
        latencies,
    }
}

/// How an MT run is shaped.
#[derive(Clone, Copy)]
pub(crate) struct MtShape {
    /// Messages per second, or flat out.
    pub(crate) rate: Option<f64>,
    /// Characters of GSM-7 text per message (over 160: several `submit_sm` parts).
    pub(crate) text_len: usize,
    /// Wait for a `delivery_report` per message as well as its `ack`.
    pub(crate) receipts: bool,
}

/// `load <i> ` padded with letters to `len` characters (never shorter than the prefix).
pub(crate) fn text(i: usize, len: usize) -> String {
    let mut t = format!("load {i} ");
    let pad = len.saturating_sub(t.len());
    t.extend(std::iter::repeat_n('x', pad));
    t
}

/// `n` user messages published to `<id>.outbound` (500 in flight).
pub(crate) async fn mt(bus: &Bus, id: &str, n: usize, shape: MtShape) -> Outcome {
    let mut events = bus.consume(&format!("{id}.event")).await.expect("consume");
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let publisher = {
        let (bus, id, sent) = (bus.clone(), id.to_owned(), sent.clone());
        tokio::spawn(async move {
            let begin = tokio::time::Instant::now();
            futures_util::stream::iter(0..n)
                .then(|i| async move {
                    if let Some(r) = shape.rate {
                        tokio::time::sleep_until(begin + Duration::from_secs_f64(i as f64 / r))
                            .await;
                    }
                    i
                })
                .for_each_concurrent(500, |i| {
                    let (bus, id, sent) = (bus.clone(), id.clone(), sent.clone());
                    async move {
                        let to = format!("+2782{i:07}");
                        let content = Some(text(i, shape.text_len));
                        let msg = UserMessage::new(&id, "sms", "12345", &to, content);
                        sent.lock()
                            .expect("lock")
                            .insert(msg.message_id.clone(), Instant::now());
                        let key = format!("{id}.outbound");
                        bus.publish(&key, Bytes::from(msg.encode()))
                            .await
                            .expect("publish");
                    }
                })
                .await;
        })
    };
    let (mut acked, mut reported) = (HashSet::new(), HashSet::new());
    let (mut duplicates, mut latencies) = (0, Vec::with_capacity(n));
    let done = |acked: &HashSet<String>, reported: &HashSet<String>| {
        acked.len() >= n && (!shape.receipts || reported.len() >= n)
    };
    while !done(&acked, &reported) && started.elapsed() < LIMIT {
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await else {
            eprintln!(
                "load: mt: {} acks, {} reports so far",
                acked.len(),
                reported.len()
            );
            continue;
        };
        let e = Event::decode(&d.body).expect("event");
        let fresh = match e.kind {
            EventKind::Ack { .. } => {
                if let Some(t) = sent.lock().expect("lock").get(&e.user_message_id) {
                    latencies.push(t.elapsed());
                }
                acked.insert(e.user_message_id)
            }
            EventKind::DeliveryReport { .. } => reported.insert(e.user_message_id),
            EventKind::Nack { nack_reason } => panic!("nack under load: {nack_reason}"),
        };
        duplicates += usize::from(!fresh);
        tokio::spawn(d.ack());
    }
    publisher.abort();
    let unique = if shape.receipts {
        acked.intersection(&reported).count()
    } else {
        acked.len()
    };
    Outcome {
        unique,
        duplicates,
        elapsed: started.elapsed(),
        latencies,
    }
}
