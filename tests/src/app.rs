//! The application side of an end-to-end test: a Vumi application on a [`Bus`] (RabbitMQ or
//! the embedded bus) that reads `<id>.inbound` and `<id>.event` and publishes to
//! `<id>.outbound`, checking every message it reads against the Vumi model and against
//! vumi2's rules (`support/vumi2.rs`).

use std::collections::BTreeMap;

use bytes::Bytes;
use richmond::bus::{Bus, Consumer};
use richmond_codecs::vumi::{Event, EventKind, UserMessage};

use crate::procs::PATIENCE;

pub struct App {
    pub bus: Bus,
    pub id: String,
    /// The `transport_name` its inbound carries and its own messages name (the app's id when
    /// it sits on a transport's queues; the transport's behind a router).
    pub transport: String,
    inbound: Consumer,
    events: Consumer,
}

impl App {
    /// An application `id` behind a router, whose messages come from and go to `transport`.
    pub async fn routed(bus: Bus, id: &str, transport: &str) -> Self {
        let mut app = Self::new(bus, id).await;
        app.transport = transport.to_owned();
        app
    }

    /// Consumes the transport's inbound and event queues (declared first).
    pub async fn new(bus: Bus, id: &str) -> Self {
        bus.declare_transport(id).await.expect("declare");
        let inbound = bus
            .consume(&format!("{id}.inbound"))
            .await
            .expect("consume");
        let events = bus.consume(&format!("{id}.event")).await.expect("consume");
        Self {
            bus,
            id: id.to_owned(),
            transport: id.to_owned(),
            inbound,
            events,
        }
    }

    /// The next inbound user message (acked).
    pub async fn inbound(&mut self) -> UserMessage {
        let d = tokio::time::timeout(PATIENCE, self.inbound.next())
            .await
            .expect("an inbound message in time")
            .expect("consumer open");
        if let Err(e) = crate::vumi2::check_message(&d.body) {
            panic!("vumi2 would drop {}: {e}", String::from_utf8_lossy(&d.body));
        }
        let msg = UserMessage::decode(&d.body).unwrap_or_else(|e| {
            panic!(
                "invalid user_message {}: {e}",
                String::from_utf8_lossy(&d.body)
            )
        });
        assert_eq!(msg.transport_name.as_deref(), Some(self.transport.as_str()));
        d.ack().await.expect("ack");
        msg
    }

    /// The next event (acked).
    pub async fn event(&mut self) -> Event {
        let d = tokio::time::timeout(PATIENCE, self.events.next())
            .await
            .expect("an event in time")
            .expect("consumer open");
        if let Err(e) = crate::vumi2::check_event(&d.body) {
            panic!("vumi2 would drop {}: {e}", String::from_utf8_lossy(&d.body));
        }
        let e = Event::decode(&d.body)
            .unwrap_or_else(|e| panic!("invalid event {}: {e}", String::from_utf8_lossy(&d.body)));
        d.ack().await.expect("ack");
        e
    }

    /// Publishes an outbound message.
    pub async fn send(&self, msg: &UserMessage) {
        self.bus
            .publish(&format!("{}.outbound", self.id), Bytes::from(msg.encode()))
            .await
            .expect("publish outbound");
    }

    /// Reads events until `n` messages have their ack or nack (each exactly once: a second
    /// outcome fails the test); returns them by message id, with the delivery reports read
    /// meanwhile.
    pub async fn outcomes(
        &mut self,
        n: usize,
    ) -> (BTreeMap<String, (&'static str, String)>, Vec<Event>) {
        let (mut done, mut reports) = (BTreeMap::new(), Vec::new());
        while done.len() < n {
            let e = self.event().await;
            let (k, v) = kind(&e);
            if k == "delivery_report" {
                reports.push(e);
            } else {
                assert!(
                    done.insert(e.user_message_id.clone(), (k, v)).is_none(),
                    "two outcomes for {e:?}"
                );
            }
        }
        (done, reports)
    }

    /// An outbound SMS from this app.
    pub fn sms(&self, to: &str, text: &str) -> UserMessage {
        UserMessage::new(&self.transport, "sms", "12345", to, Some(text.to_owned()))
    }
}

/// `("ack", sent_message_id)`, `("nack", reason)` or `("delivery_report", status)`.
pub fn kind(e: &Event) -> (&'static str, String) {
    match &e.kind {
        EventKind::Ack { sent_message_id } => ("ack", sent_message_id.clone()),
        EventKind::Nack { nack_reason } => ("nack", nack_reason.clone()),
        EventKind::DeliveryReport { delivery_status } => {
            ("delivery_report", delivery_status.as_str().to_owned())
        }
    }
}
