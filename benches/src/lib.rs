//! Shared pieces of the load tools (`bus-bench`, `load`; see BENCHMARKS.md): message bodies,
//! percentiles, and the broker ceiling (a bare lapin publisher with confirms and a consumer).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

pub mod pipeline;

/// A 700-byte body, the size of a typical Vumi user_message.
pub fn body(i: usize) -> Vec<u8> {
    body_sized(i, 700)
}

/// A body of `size` bytes (at least 12) that carries `i`.
pub fn body_sized(i: usize, size: usize) -> Vec<u8> {
    let mut v = format!("{i:>12}").into_bytes();
    v.resize(size.max(12), b'x');
    v
}

/// The number `body` wrote.
///
/// # Panics
/// On a body `body` did not make.
pub fn id_of(b: &[u8]) -> usize {
    std::str::from_utf8(&b[..12])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("benchmark body")
}

/// The `p` quantile (0..=1) of `v`, in milliseconds.
pub fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p) as usize)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The broker ceiling: `n` 700-byte persistent messages published with confirms (1000 in
/// flight) by a bare lapin client, then consumed and acked; returns (publish msg/s, consume
/// msg/s). Asserts each message arrived exactly once.
///
/// # Panics
/// When the broker misbehaves or a message is lost or duplicated.
pub async fn bare_lapin(url: &str, n: usize) -> (f64, f64) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = format!("bench_bare_{}_{n}", std::process::id());
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..n {
        let c = ch
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                &body(i),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap();
        pending.push_back(c);
        if pending.len() >= 1000 {
            assert!(pending.pop_front().unwrap().await.unwrap().is_ack());
        }
    }
    for c in pending {
        assert!(c.await.unwrap().is_ack());
    }
    let publish_rate = n as f64 / started.elapsed().as_secs_f64();
    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(500, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = cch
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut seen = HashSet::new();
    while seen.len() < n {
        let d = consumer.next().await.unwrap().unwrap();
        assert!(seen.insert(id_of(&d.data)), "duplicate in bare run");
        let acker = d.acker;
        tokio::spawn(async move { acker.ack(BasicAckOptions::default()).await });
    }
    let consume_rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
    let _ = conn.close(200, "done".into()).await;
    (publish_rate, consume_rate)
}
