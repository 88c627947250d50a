//! The broker ceiling for whole paths: bare lapin clients moving messages through RabbitMQ in
//! the same shape as Richmond's traffic, so `load` can divide like by like.
//!
//! * one hop (the MO shape): a publisher with confirms → queue → a consumer that acks;
//! * two hops (the MT shape): publisher → queue → a relay that consumes, publishes to a second
//!   queue, waits for that confirm and only then acks (Richmond's no-loss order) → queue →
//!   consumer.
//!
//! All stages run at once, as they do under load; the figure is messages per second from the
//! first publish to the last message consumed. Messages are persistent and of a given size.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::{body_sized, id_of};

/// Publishes in flight and consumer prefetch, as in `load` (500 each).
const WINDOW: usize = 500;

async fn connect(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ")
}

async fn confirming(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    ch
}

async fn consumer(conn: &Connection, queue: &str) -> lapin::Consumer {
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(WINDOW as u16, BasicQosOptions::default())
        .await
        .expect("qos");
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("consume")
}

async fn publish(ch: &Channel, queue: &str, body: &[u8]) {
    let confirm = ch
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish");
    assert!(confirm.await.expect("confirm").is_ack(), "broker nacked");
}

/// Moves `n` messages of `size` bytes through `hops` (1 or more) queues; returns msg/s end to
/// end.
///
/// # Panics
/// When the broker misbehaves, or a message is lost or duplicated.
pub async fn pipeline(url: &str, n: usize, hops: usize, size: usize) -> f64 {
    assert!(hops >= 1, "at least one hop");
    let (app, relay) = (connect(url).await, connect(url).await);
    let queues: Vec<String> = (0..hops)
        .map(|k| format!("bench_pipe_{}_{n}_{hops}_{k}", std::process::id()))
        .collect();
    let setup = app.create_channel().await.expect("channel");
    for q in &queues {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        setup
            .queue_declare(q.as_str().into(), durable, FieldTable::default())
            .await
            .expect("declare");
    }
    // Relays: hop k consumes queue k-1 and forwards to queue k.
    let mut relays = Vec::new();
    for pair in queues.windows(2) {
        let (from, to) = (pair[0].clone(), pair[1].clone());
        let mut input = consumer(&relay, &from).await;
        let out = confirming(&relay).await;
        relays.push(tokio::spawn(async move {
            while let Some(Ok(d)) = input.next().await {
                let (out, to) = (out.clone(), to.clone());
                tokio::spawn(async move {
                    publish(&out, &to, &d.data).await;
                    d.acker.ack(BasicAckOptions::default()).await
                });
            }
        }));
    }
    let mut last = consumer(&app, &queues[hops - 1]).await;
    let started = Instant::now();
    let publisher = {
        let (ch, first) = (confirming(&app).await, queues[0].clone());
        tokio::spawn(async move {
            futures_util::stream::iter(0..n)
                .for_each_concurrent(WINDOW, |i| {
                    let (ch, first) = (ch.clone(), first.clone());
                    async move { publish(&ch, &first, &body_sized(i, size)).await }
                })
                .await;
        })
    };
    let mut seen = HashSet::with_capacity(n);
    while seen.len() < n {
        let d = last
            .next()
            .await
            .expect("consumer ended")
            .expect("delivery");
        assert!(
            seen.insert(id_of(&d.data)),
            "duplicate in the bare pipeline"
        );
        tokio::spawn(async move { d.acker.ack(BasicAckOptions::default()).await });
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    publisher.await.expect("publisher");
    for r in relays {
        r.abort();
    }
    for q in &queues {
        let _ = setup
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = relay.close(200, "done".into()).await;
    let _ = app.close(200, "done".into()).await;
    rate
}
