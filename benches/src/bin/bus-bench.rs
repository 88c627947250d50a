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
use richmond::bus::Bus;
use richmond::bus::amqp::AmqpBus;
use richmond::bus::embedded::EmbeddedBus;
use richmond::config::{AmqpConfig, Durability, EmbeddedBusConfig, Secret};
use richmond_benches::{body, id_of, percentile};

struct Row {
    name: String,
    publish_rate: f64,
    consume_rate: f64,
    p99_ms: Option<f64>,
}

async fn bare_lapin(url: &str, n: usize) -> Row {
    let (publish_rate, consume_rate) = richmond_benches::bare_lapin(url, n).await;
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
