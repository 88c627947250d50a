//! Consuming a RabbitMQ queue: one task per consumer that declares its queue, subscribes
//! with manual acks and the configured prefetch on a channel of its own, hands deliveries to
//! the [`AmqpConsumer`] and re-subscribes on every new connection; its acks are coalesced by
//! [`super::acks`]. Does not handle: the connection itself (see `super`).

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::Channel;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::sync::mpsc;

use super::topology::declare;
use super::{AmqpBus, Link, acks};
use crate::bus::{Acker, Delivery};

/// Deliveries from one RabbitMQ queue.
pub struct AmqpConsumer {
    pub(super) rx: mpsc::Receiver<Delivery>,
}

impl AmqpConsumer {
    /// The next delivery; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

pub(super) async fn consume_loop(bus: AmqpBus, queue: String, tx: mpsc::Sender<Delivery>) {
    let stop = bus.inner.stop.clone();
    loop {
        let Ok(link) = bus.current().await else {
            return;
        };
        // Declared here too, so a consumer never subscribes before its queue exists (at
        // start the supervisor's declaration may not have covered it yet). A queue that
        // exists with other arguments is still consumed; the mismatch is reported by
        // `declare_queues`.
        if let Err(e) = declare(
            &link.connection,
            std::slice::from_ref(&queue),
            &bus.inner.config,
        )
        .await
        {
            tracing::debug!(message = "Queue declaration before consuming refused.", queue = %queue, error = %e);
        }
        match subscribe(&link, &queue, bus.inner.config.prefetch_count).await {
            Ok((channel, mut consumer)) => {
                let acks = acks::Acks::start(&queue);
                let ended = loop {
                    tokio::select! {
                        () = stop.cancelled() => break true,
                        // The consumer was dropped: close the channel so the broker
                        // redelivers what it still holds.
                        () = tx.closed() => break true,
                        item = consumer.next() => match item {
                            Some(Ok(d)) => {
                                let acker = acks.delivered(d.delivery_tag, d.acker);
                                let delivery = Delivery::new(Bytes::from(d.data), d.redelivered, Acker::Amqp(acker));
                                if tx.send(delivery).await.is_err() {
                                    break true;
                                }
                            }
                            Some(Err(e)) => {
                                tracing::warn!(message = "Consumer failed; re-subscribing.", queue = %queue, error = %e);
                                break false;
                            }
                            None => break false,
                        },
                    }
                };
                if ended {
                    acks.flush().await;
                    let _ = channel.close(200, "consumer closed".into()).await;
                    return;
                }
            }
            Err(e) => tracing::warn!(message = "Cannot subscribe.", queue = %queue, error = %e),
        }
        if bus.wait_for_new_generation(link.generation).await.is_err() {
            return;
        }
    }
}

async fn subscribe(
    link: &Link,
    queue: &str,
    prefetch: u16,
) -> Result<(Channel, lapin::Consumer), lapin::Error> {
    let ch = link.connection.create_channel().await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let consumer = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((ch, consumer))
}
