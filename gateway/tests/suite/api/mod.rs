//! The HTTP API against the real binary (issue #7): the test plays the carrier transport on
//! the private RabbitMQ (consuming `<t>.outbound`, publishing events and inbound messages) and
//! a callback receiver on loopback; schemathesis checks the OpenAPI description.

use richmond_tests::common;
use richmond_tests::common::api as helpers;

use richmond_tests::procs;

mod abuse;
mod access;
mod callback_limits;
mod callbacks;
mod durability;
mod front_door;
mod providers;
mod rejections;
mod schema;
mod send;
mod status;

use std::time::Duration;

use bytes::Bytes;
use helpers::{ALICE, BOB, Gateway, LIMITED, Setup, StoreKind, form, request, request_with};
use richmond::bus::Bus;
use richmond::bus::amqp::AmqpBus;
use richmond_codecs::vumi::{DeliveryStatus, Event, UserMessage};

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const JSON: Option<&str> = Some("application/json");

/// The carrier side: the test's own connection to the broker.
struct Carrier {
    bus: Bus,
    transport: String,
}

impl Carrier {
    async fn new(transport: &str) -> Self {
        let bus: AmqpBus = common::amqp_bus(&common::amqp_config()).await;
        let bus = Bus::Amqp(bus);
        bus.declare_transport(transport).await.expect("declare");
        Self {
            bus,
            transport: transport.to_owned(),
        }
    }

    /// The next `n` messages from `<t>.outbound`, acked.
    async fn outbound(&self, n: usize) -> Vec<UserMessage> {
        let mut c = self
            .bus
            .consume(&format!("{}.outbound", self.transport))
            .await
            .expect("consume");
        let mut out = Vec::new();
        for _ in 0..n {
            let d = tokio::time::timeout(Duration::from_secs(30), c.next())
                .await
                .expect("an outbound message")
                .expect("bus open");
            out.push(UserMessage::decode(&d.body).expect("a user message"));
            d.ack().await.expect("ack");
        }
        out
    }

    async fn event(&self, e: &Event) {
        self.bus
            .publish(
                &format!("{}.event", self.transport),
                Bytes::from(e.encode()),
            )
            .await
            .expect("publish event");
    }

    async fn inbound(&self, m: &UserMessage) {
        self.bus
            .publish(
                &format!("{}.inbound", self.transport),
                Bytes::from(m.encode()),
            )
            .await
            .expect("publish inbound");
    }
}

/// A fresh transport id, a gateway serving it, and the carrier side.
async fn start(setup_fn: impl FnOnce(&str) -> Setup) -> (tempfile::TempDir, Gateway, Carrier) {
    let t = common::unique("api");
    let dir = tempfile::tempdir().unwrap();
    let setup = setup_fn(&t);
    let (cfg, addr) = helpers::write_config(dir.path(), &setup);
    let carrier = Carrier::new(&t).await;
    let gw = Gateway::start(&cfg, addr).await;
    gw.wait_ready().await;
    (dir, gw, carrier)
}

fn path(t: &str, rest: &str) -> String {
    format!("/api/v1/sms/{t}/{rest}")
}

async fn send_form(gw: &Gateway, t: &str, pairs: &[(&str, &str)]) -> helpers::Answer {
    request(
        gw.addr,
        "POST",
        &path(t, "send.json"),
        Some(ALICE),
        FORM,
        &form(pairs),
    )
    .await
    .unwrap()
}

/// Polls one message's status until it is `want`; returns the record.
async fn wait_status(gw: &Gateway, t: &str, id: &str, want: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..300 {
        let a = request(
            gw.addr,
            "GET",
            &path(t, &format!("status/{id}.json")),
            Some(ALICE),
            None,
            b"",
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        last = a.json();
        if last["transport_status"] == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("status never became {want}: {last}");
}

/// Sets Alice's callback URLs (`PUT /api/v1/account/callbacks.json`), expecting 200.
pub(crate) async fn set_callbacks(gw: &Gateway, urls: &serde_json::Value) {
    let a = request(
        gw.addr,
        "PUT",
        "/api/v1/account/callbacks.json",
        Some(ALICE),
        JSON,
        urls.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
}
