//! `bus-bench`: throughput of Richmond's bus against the broker ceiling, and of the durable
//! embedded bus. Not a test: it prints a Markdown table for BENCHMARKS.md.
//!
//! Usage (starts private servers, builds in release):
//! `./scripts/test --servers-only -- cargo run --release -p richmond-benches --bin bus-bench -- [N]`
//!
//! Every run checks that each message arrived exactly once; a lossy run aborts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use richmond::bus::Bus;
use richmond::bus::amqp::AmqpBus;
use richmond::bus::embedded::EmbeddedBus;
use richmond::config::{AmqpConfig, Durability, EmbeddedBusConfig, Secret};

/// A 700-byte body, the size of a typical Vumi user_message.
fn body(i: usize) -> Vec<u8> {
    let mut v = format!("{i:>12}").into_bytes();
    v.resize(700, b'x');
    v
}

fn id_of(b: &[u8]) -> usize {
    std::str::from_utf8(&b[..12])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("benchmark body")
}

struct Row {
    name: String,
    publish_rate: f64,
    consume_rate: f64,
    p99_ms: Option<f64>,
}

async fn bare_lapin(url: &str, n: usize) -> Row {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = format!("bench_bare_{}", std::process::id());
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
    Row {
        name: "bare lapin (ceiling)".into(),
        publish_rate,
        consume_rate,
        p99_ms: None,
    }
}

/// Publishes n messages concurrently (bounded by `concurrency`), then consumes and acks them.
async fn through_bus(name: &str, bus: Bus, q: &str, n: usize, concurrency: usize) -> Row {
    let started = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (bus, q) = (bus.clone(), q.to_owned());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            bus.publish(&q, Bytes::from(body(i))).await.unwrap();
            drop(permit);
            t.elapsed()
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let publish_rate = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut c = bus.consume(q).await.unwrap();
    let mut seen = HashSet::new();
    while seen.len() < n {
        let d = c.next().await.unwrap();
        assert!(seen.insert(id_of(&d.body)), "duplicate delivery");
        match &bus {
            Bus::Amqp(_) => {
                tokio::spawn(d.ack());
            }
            Bus::Embedded(_) => d.ack().await.unwrap(),
        }
    }
    let consume_rate = n as f64 / started.elapsed().as_secs_f64();
    bus.close().await;
    Row {
        name: name.into(),
        publish_rate,
        consume_rate,
        p99_ms: Some(percentile(&mut lat, 0.99)),
    }
}

/// p99 publish latency when publishing at `rate` messages/s for `n` messages.
async fn paced_p99(bus: Bus, q: &str, n: usize, rate: f64) -> f64 {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (bus, q) = (bus.clone(), q.to_owned());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            bus.publish(&q, Bytes::from(body(i))).await.unwrap();
            t.elapsed()
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    bus.close().await;
    percentile(&mut lat, 0.99)
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p) as usize)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let url =
        std::env::var("RICHMOND_TEST_AMQP_URL").expect("run through ./scripts/test --servers-only");
    let mut rows = vec![bare_lapin(&url, n).await];
    let mut cfg: AmqpConfig = toml::from_str("").unwrap();
    cfg.url = Some(Secret::new(url.clone()));
    let amqp = AmqpBus::start(&cfg);
    while !amqp.is_connected() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = format!("benchbus{}", std::process::id());
    let bus = Bus::Amqp(amqp);
    bus.declare_transport(&t).await.unwrap();
    rows.push(through_bus("richmond AmqpBus", bus, &format!("{t}.inbound"), n, 1000).await);
    let mut embedded_max = 0.0f64;
    for (label, durability) in [
        ("embedded, durability=sync", Durability::Sync),
        ("embedded, durability=none", Durability::None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::Embedded(
            EmbeddedBus::open(
                dir.path(),
                &EmbeddedBusConfig {
                    durability,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let row = through_bus(label, bus, "bench.inbound", n, 1000).await;
        if durability == Durability::Sync {
            embedded_max = row.publish_rate;
        }
        rows.push(row);
    }
    let half = embedded_max / 2.0;
    let dir = tempfile::tempdir().unwrap();
    let bus = Bus::Embedded(EmbeddedBus::open(dir.path(), &EmbeddedBusConfig::default()).unwrap());
    let p99_half = paced_p99(bus, "bench.paced", n.min(20_000), half).await;

    println!("messages per run: {n}, body 700 bytes\n");
    println!(
        "| bus | publish msg/s (confirmed) | consume+ack msg/s | publish p99 ms (1000 in flight) | publish / ceiling |"
    );
    println!("|---|---:|---:|---:|---:|");
    let ceiling = rows[0].publish_rate;
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {} | {:.2} |",
            r.name,
            r.publish_rate,
            r.consume_rate,
            r.p99_ms.map_or("-".into(), |p| format!("{p:.1}")),
            r.publish_rate / ceiling
        );
    }
    println!(
        "\nembedded sync, paced at half its max ({half:.0} msg/s): publish p99 {p99_half:.2} ms"
    );
}
