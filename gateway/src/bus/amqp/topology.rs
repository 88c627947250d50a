//! The Vumi topology on RabbitMQ (reference/vumi.md §2): the durable direct exchange `vumi`
//! and durable queues bound with routing key = queue name, declared with the configured
//! `bus.queue_arguments` and `bus.queue_type` (none by default: the vhost's default queue
//! type decides, classic or quorum). Each declaration runs on a fresh channel, since a
//! refused one closes its channel. Does not handle: when to declare (see `super`).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ExchangeKind};

use super::EXCHANGE;
use crate::bus::BusError;
use crate::config::AmqpConfig;

pub(super) fn queue_arguments(config: &AmqpConfig) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in &config.queue_arguments {
        let value = match v {
            toml::Value::String(s) => AMQPValue::LongString(s.as_str().into()),
            toml::Value::Integer(i) => AMQPValue::LongLongInt(*i),
            toml::Value::Boolean(b) => AMQPValue::Boolean(*b),
            toml::Value::Float(f) => AMQPValue::Double(*f),
            other => AMQPValue::LongString(other.to_string().into()),
        };
        t.insert(k.as_str().into(), value);
    }
    if let Some(q) = config.queue_type {
        t.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(q.as_str().into()),
        );
    }
    t
}

/// Declares the exchange and `names`, each on a fresh channel (a refused declaration closes
/// its channel).
pub(super) async fn declare(
    conn: &Connection,
    names: &[String],
    config: &AmqpConfig,
) -> Result<(), BusError> {
    let broker = |e: lapin::Error| BusError::Broker(e.to_string());
    let ch = conn.create_channel().await.map_err(broker)?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Direct,
        durable,
        FieldTable::default(),
    )
    .await
    .map_err(broker)?;
    let _ = ch.close(200, "declared".into()).await;
    for name in names {
        let ch = conn.create_channel().await.map_err(broker)?;
        let opts = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        ch.queue_declare(name.as_str().into(), opts, queue_arguments(config))
            .await
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("PRECONDITION_FAILED") || text.contains("inequivalent") {
                    BusError::QueueMismatch {
                        queue: name.clone(),
                        detail: text,
                    }
                } else {
                    BusError::Broker(text)
                }
            })?;
        ch.queue_bind(
            name.as_str().into(),
            EXCHANGE.into(),
            name.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(broker)?;
        let _ = ch.close(200, "declared".into()).await;
    }
    Ok(())
}
