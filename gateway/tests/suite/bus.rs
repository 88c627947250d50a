//! The shared bus suite: every contract of `richmond::bus` checked on both implementations —
//! RabbitMQ (the private broker of ./scripts/test) and the embedded durable bus.

use richmond_tests::common;

use std::collections::HashSet;

use bytes::Bytes;
use richmond::bus::embedded::EmbeddedBus;
use richmond::bus::{Bus, BusError};
use richmond::config::EmbeddedBusConfig;

/// A fresh bus of each kind, with a private queue name. The tempdir keeps the spool alive.
async fn buses() -> Vec<(Bus, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedBus::open(dir.path(), &EmbeddedBusConfig::default()).unwrap();
    let amqp = common::amqp_bus(&common::amqp_config()).await;
    let mut out = Vec::new();
    for (bus, dir) in [
        (Bus::Embedded(embedded), Some(dir)),
        (Bus::Amqp(amqp), None),
    ] {
        let t = common::unique("bus");
        bus.declare_transport(&t).await.unwrap();
        out.push((bus, format!("{t}.inbound"), dir));
    }
    out
}

fn kind(bus: &Bus) -> &'static str {
    match bus {
        Bus::Amqp(_) => "amqp",
        Bus::Embedded(_) => "embedded",
    }
}

#[tokio::test]
async fn published_messages_are_consumed_in_order_and_acked() {
    for (bus, q, _dir) in buses().await {
        for i in 0..50 {
            bus.publish(&q, Bytes::from(format!("m{i}"))).await.unwrap();
        }
        let mut c = bus.consume(&q).await.unwrap();
        for i in 0..50 {
            let d = c.next().await.unwrap();
            assert_eq!(d.body, Bytes::from(format!("m{i}")), "{}", kind(&bus));
            assert!(!d.redelivered, "{}", kind(&bus));
            d.ack().await.unwrap();
        }
        // Nothing is left: the next delivery is a marker published now.
        bus.publish(&q, Bytes::from_static(b"marker"))
            .await
            .unwrap();
        let d = c.next().await.unwrap();
        assert_eq!(&d.body[..], b"marker", "{}", kind(&bus));
        d.ack().await.unwrap();
        bus.close().await;
    }
}

#[tokio::test]
async fn nack_with_requeue_redelivers_and_without_drops() {
    for (bus, q, _dir) in buses().await {
        bus.publish(&q, Bytes::from_static(b"a")).await.unwrap();
        bus.publish(&q, Bytes::from_static(b"b")).await.unwrap();
        let mut c = bus.consume(&q).await.unwrap();
        let a = c.next().await.unwrap();
        assert_eq!(&a.body[..], b"a");
        a.nack(true).await.unwrap();
        // The requeued message comes back, flagged.
        let mut seen = Vec::new();
        for _ in 0..2 {
            let d = c.next().await.unwrap();
            seen.push((d.body.clone(), d.redelivered));
            if &d.body[..] == b"b" {
                d.nack(false).await.unwrap()
            } else {
                d.ack().await.unwrap()
            }
        }
        assert!(
            seen.contains(&(Bytes::from_static(b"a"), true)),
            "{}: {seen:?}",
            kind(&bus)
        );
        // "b" was dropped: the next delivery is a fresh marker.
        bus.publish(&q, Bytes::from_static(b"marker"))
            .await
            .unwrap();
        let d = c.next().await.unwrap();
        assert_eq!(&d.body[..], b"marker", "{}", kind(&bus));
        d.ack().await.unwrap();
        bus.close().await;
    }
}

#[tokio::test]
async fn a_consumer_that_goes_away_unacked_gets_its_messages_redelivered() {
    for (bus, q, _dir) in buses().await {
        bus.publish(&q, Bytes::from_static(b"x")).await.unwrap();
        let mut c1 = bus.consume(&q).await.unwrap();
        let d = c1.next().await.unwrap();
        assert!(!d.redelivered);
        drop(d);
        drop(c1);
        let mut c2 = bus.consume(&q).await.unwrap();
        let d = c2.next().await.unwrap();
        assert_eq!(&d.body[..], b"x", "{}", kind(&bus));
        assert!(d.redelivered, "{}", kind(&bus));
        d.ack().await.unwrap();
        bus.close().await;
    }
}

#[tokio::test]
async fn competing_consumers_share_messages_exactly_once() {
    for (bus, q, _dir) in buses().await {
        let n = 200;
        let mut handles = Vec::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..2 {
            let mut c = bus.consume(&q).await.unwrap();
            let tx = tx.clone();
            handles.push(tokio::spawn(async move {
                while let Some(d) = c.next().await {
                    let body = d.body.clone();
                    d.ack().await.unwrap();
                    if tx.send(body).is_err() {
                        break;
                    }
                }
            }));
        }
        let publishers: Vec<_> = (0..n)
            .map(|i| {
                let (bus, q) = (bus.clone(), q.clone());
                tokio::spawn(async move { bus.publish(&q, Bytes::from(format!("{i}"))).await })
            })
            .collect();
        for p in publishers {
            p.await.unwrap().unwrap();
        }
        let mut got = HashSet::new();
        for _ in 0..n {
            let b = rx.recv().await.unwrap();
            assert!(got.insert(b.clone()), "{}: duplicate {b:?}", kind(&bus));
        }
        assert_eq!(got.len(), n);
        bus.close().await;
        for h in handles {
            h.await.unwrap();
        }
    }
}

#[tokio::test]
async fn publish_after_close_fails_and_consumers_end() {
    for (bus, q, _dir) in buses().await {
        let mut c = bus.consume(&q).await.unwrap();
        bus.close().await;
        assert!(
            matches!(
                bus.publish(&q, Bytes::from_static(b"late")).await,
                Err(BusError::Closed)
            ),
            "{}",
            kind(&bus)
        );
        assert!(c.next().await.is_none(), "{}", kind(&bus));
    }
}

/// The next delivery, or a failure after 30 s (a wrong ack would otherwise leave the test
/// waiting for a message that never comes back).
async fn next(c: &mut richmond::bus::Consumer) -> richmond::bus::Delivery {
    tokio::time::timeout(std::time::Duration::from_secs(30), c.next())
        .await
        .expect("a delivery within 30 s")
        .expect("the consumer ended")
}

/// Acks and nacks in any order settle exactly the messages they name (RabbitMQ joins acks
/// into `multiple` frames: one naming a wrong tag would requeue or drop others), and an ack
/// still waiting for a lower delivery goes out before the consumer's channel closes.
#[tokio::test]
async fn acks_in_any_order_settle_exactly_the_messages_acked() {
    for (bus, q, _dir) in buses().await {
        let k = kind(&bus);
        for i in 0..10 {
            bus.publish(&q, Bytes::from(format!("m{i}"))).await.unwrap();
        }
        let mut c = bus.consume(&q).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(Some(next(&mut c).await));
        }
        // m0 stays unsettled for now; m5 goes back; the rest are acked from the top down.
        for i in (1..10).rev() {
            let d = held[i].take().unwrap();
            if i == 5 {
                d.nack(true).await.unwrap();
            } else {
                d.ack().await.unwrap();
            }
        }
        let again = next(&mut c).await;
        assert_eq!(&again.body[..], b"m5", "{k}");
        assert!(again.redelivered, "{k}");
        again.ack().await.unwrap();
        held[0].take().unwrap().ack().await.unwrap();
        // Nothing was requeued or left: the next delivery is a marker published now.
        bus.publish(&q, Bytes::from_static(b"end")).await.unwrap();
        let d = next(&mut c).await;
        assert_eq!(&d.body[..], b"end", "{k}");
        d.ack().await.unwrap();

        // x is held while y is acked, then the consumer goes away: y's ack goes out first,
        // so only x comes back.
        for m in ["x", "y"] {
            bus.publish(&q, Bytes::from(m)).await.unwrap();
        }
        let x = next(&mut c).await;
        let y = next(&mut c).await;
        assert_eq!((&x.body[..], &y.body[..]), (&b"x"[..], &b"y"[..]), "{k}");
        y.ack().await.unwrap();
        drop(c);
        drop(x);
        let mut c = bus.consume(&q).await.unwrap();
        let x = next(&mut c).await;
        assert_eq!(&x.body[..], b"x", "{k}");
        assert!(x.redelivered, "{k}");
        x.ack().await.unwrap();
        bus.publish(&q, Bytes::from_static(b"end2")).await.unwrap();
        let d = next(&mut c).await;
        assert_eq!(
            &d.body[..],
            b"end2",
            "{k}: y was acked, it must not come back"
        );
        d.ack().await.unwrap();
        bus.close().await;
    }
}
