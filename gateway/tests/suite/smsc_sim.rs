//! `richmond simulate smsc` (and node-smpp as an SMSC nobody here wrote) driven by a real
//! ESME: the driver's `richmond_drivers::smpp::client`. Binds with good and bad credentials,
//! submit → message id → delivery receipt (on the submitting bind and across binds),
//! throttling absorbed by the driver, a long MO as UDH parts, an unknown PDU answered with
//! generic_nack while the bind stays up. No timing is asserted; every wait is bounded by
//! `procs::PATIENCE`.

use richmond_tests::procs;

use procs::{PATIENCE, Sim};
use richmond_codecs::smpp::receipt;
use richmond_codecs::smpp::rusmpp::pdus::SubmitSm;
use richmond_codecs::smpp::rusmpp::types::{COctetString, OctetString};
use richmond_codecs::smpp::rusmpp::values::{DataCoding, EsmClass, RegisteredDelivery};
use richmond_codecs::smpp::status;
use richmond_codecs::sms::{Encoding, Udh};
use richmond_drivers::smpp::{
    BindMode, Config, Deliver, Event, Handle, InboundPdu, SubmitOutcome, client,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One ESME bind to the simulator at `sim`.
struct Esme {
    handle: Handle,
    events: mpsc::Receiver<Event>,
    cancel: CancellationToken,
}

impl Drop for Esme {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn config(sim: &Sim, password: &str, mode: BindMode) -> Config {
    let mut c = Config::new(
        "127.0.0.1",
        sim.addr.port(),
        "smsc_sim",
        "richmond",
        password,
    );
    c.bind_mode = mode;
    c.enquire_link_interval = std::time::Duration::from_secs(3600);
    c.reconnect_backoff_min = std::time::Duration::from_millis(50);
    c.reconnect_backoff_max = std::time::Duration::from_millis(200);
    c.throttle_backoff = std::time::Duration::from_millis(20);
    c.throttle_backoff_max = std::time::Duration::from_millis(200);
    c.response_timeout = std::time::Duration::from_secs(20);
    c
}

impl Esme {
    fn start(config: Config) -> Self {
        let (handle, events, task) = client(config).expect("client config");
        let cancel = CancellationToken::new();
        tokio::spawn(task.run(cancel.clone()));
        Self {
            handle,
            events,
            cancel,
        }
    }

    /// Binds with the right credentials and waits until bound.
    async fn bound(sim: &Sim, mode: BindMode) -> Self {
        let esme = Self::start(config(sim, "richmond", mode));
        let mut bound = esme.handle.bound();
        tokio::time::timeout(PATIENCE, bound.wait_for(|b| *b))
            .await
            .expect("bound in time")
            .expect("task running");
        esme
    }

    async fn next_event(&mut self) -> Event {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("an event in time")
            .expect("task running")
    }

    /// The next inbound deliver_sm (other events skipped).
    async fn next_deliver(&mut self) -> Deliver {
        loop {
            if let Event::Deliver(d) = self.next_event().await {
                return d;
            }
        }
    }

    async fn submit(&self, pdu: SubmitSm) -> SubmitOutcome {
        tokio::time::timeout(PATIENCE, self.handle.submit(pdu))
            .await
            .expect("submit answered in time")
            .expect("task running")
    }
}

fn submit_sm(text: &str, registered_delivery: u8) -> SubmitSm {
    SubmitSm::builder()
        .source_addr("1234".parse::<COctetString<1, 21>>().expect("addr"))
        .destination_addr("27831234567".parse::<COctetString<1, 21>>().expect("addr"))
        .esm_class(EsmClass::from(0u8))
        .data_coding(DataCoding::from(0u8))
        .registered_delivery(RegisteredDelivery::from(registered_delivery))
        .short_message(OctetString::from_slice(text.as_bytes()).expect("short message"))
        .build()
}

/// (esm_class, data_coding, short_message) of an inbound deliver_sm.
fn fields(d: &Deliver) -> (u8, u8, Vec<u8>) {
    match d.pdu().expect("decodes") {
        InboundPdu::DeliverSm(sm) => (
            u8::from(sm.esm_class),
            u8::from(sm.data_coding),
            sm.short_message().bytes().to_vec(),
        ),
        other => panic!("expected a deliver_sm, got {other:?}"),
    }
}

fn accepted_id(outcome: SubmitOutcome) -> String {
    match outcome {
        SubmitOutcome::Accepted { message_id } => {
            String::from_utf8(message_id.to_vec()).expect("ascii id")
        }
        other => panic!("expected an accepted submit, got {other:?}"),
    }
}

fn is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == name
}

/// Checks that `d` is a DELIVRD receipt for `message_id`, answers it, and waits for the
/// simulator to see the answer.
async fn answer_receipt(sim: &mut Sim, esme: &Esme, d: &Deliver, message_id: &str) {
    let (esm_class, _, text) = fields(d);
    assert_eq!(esm_class & 0x3C, 0x04, "a receipt");
    let text = String::from_utf8(text).expect("ascii receipt");
    let r = receipt::parse(&text).expect("receipt text");
    assert_eq!((&*r.id, &*r.stat), (message_id, "DELIVRD"), "{text}");
    esme.handle
        .respond_deliver(d.id, status::ROK)
        .expect("task running");
    let seq = d.id.sequence_number();
    sim.expect("deliver_sm_resp", move |e| {
        e["event"] == "deliver_sm_resp" && e["sequence"] == seq && e["kind"] == "receipt"
    })
    .await;
}

#[tokio::test]
async fn bad_password_is_refused() {
    let mut sim = Sim::start(&["smsc"]).await;
    let mut esme = Esme::start(config(&sim, "wrong", BindMode::Transceiver));
    loop {
        match esme.next_event().await {
            Event::BindRejected { status: s } => {
                assert_eq!(s, status::RINVPASWD);
                break;
            }
            Event::Bound { .. } => panic!("bound with a wrong password"),
            _ => {}
        }
    }
    let refused = sim.expect("refused bind", is("bind")).await;
    assert_eq!(refused["ok"], false);
    assert!(!esme.handle.is_bound());
}

#[tokio::test]
async fn submit_is_accepted_and_receipted() {
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "50"]).await;
    let mut esme = Esme::bound(&sim, BindMode::Transceiver).await;
    let bind = sim.expect("bind", is("bind")).await;
    assert_eq!(
        (&bind["ok"], &bind["mode"]),
        (&Value::Bool(true), &"transceiver".into())
    );

    let id = accepted_id(esme.submit(submit_sm("hello there", 1)).await);
    let submit = sim.expect("submit_sm", is("submit_sm")).await;
    assert_eq!(submit["message_id"], id.as_str());
    assert_eq!(submit["text"], "hello there");
    assert_eq!(submit["destination"], "27831234567");
    let message = sim.expect("message", is("message")).await;
    assert_eq!(
        (message["parts"].as_u64(), &message["text"]),
        (Some(1), &"hello there".into())
    );

    let d = esme.next_deliver().await;
    answer_receipt(&mut sim, &esme, &d, &id).await;
}

#[tokio::test]
async fn receipt_arrives_on_another_bind() {
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "50"]).await;
    let tx = Esme::bound(&sim, BindMode::Transmitter).await;
    let mut rx = Esme::bound(&sim, BindMode::Receiver).await;
    sim.expect_total("two binds", 2, is("bind")).await;
    let id = accepted_id(tx.submit(submit_sm("across", 1)).await);
    let d = rx.next_deliver().await;
    answer_receipt(&mut sim, &rx, &d, &id).await;
}

#[tokio::test]
async fn throttling_is_retried_by_the_driver() {
    let mut sim = Sim::start(&["smsc"]).await;
    let esme = Esme::bound(&sim, BindMode::Transceiver).await;
    sim.cmd("throttle 2").await;
    sim.expect("throttle done", is("command_done")).await;
    let id = accepted_id(esme.submit(submit_sm("slow down", 0)).await);
    let ok = sim
        .expect("accepted submit", |e| {
            e["event"] == "submit_sm" && e["status"] == 0
        })
        .await;
    assert_eq!(ok["message_id"], id.as_str());
    let throttled = sim.count(|e| e["event"] == "submit_sm" && e["status"] == 0x58);
    assert_eq!(throttled, 2);
}

#[tokio::test]
async fn long_mo_arrives_as_udh_parts() {
    let mut sim = Sim::start(&["smsc"]).await;
    let mut esme = Esme::bound(&sim, BindMode::Transceiver).await;
    let text: String = (0..60).map(|i| format!("w{i} ")).collect::<String>() + "end";
    assert!(text.len() > 160);
    sim.cmd(&format!("mo 27831234567 1234 {text}")).await;
    let done = sim.expect("mo done", is("command_done")).await;
    assert_eq!(done["parts"], 2);
    let mut parts = Vec::new();
    for _ in 0..2 {
        let d = esme.next_deliver().await;
        let (esm_class, data_coding, octets) = fields(&d);
        assert_eq!((esm_class & 0x40, data_coding), (0x40, 0));
        let (udh, body) = Udh::parse(&octets).expect("a udh");
        let concat = udh.concat().expect("a concat element");
        assert_eq!(concat.total, 2);
        parts.push((concat.seq, body.to_vec()));
        esme.handle
            .respond_deliver(d.id, status::ROK)
            .expect("task running");
    }
    parts.sort();
    let joined: Vec<u8> = parts.into_iter().flat_map(|(_, b)| b).collect();
    assert_eq!(Encoding::Gsm7.decode(&joined), text);
    sim.expect_total("two answers", 2, |e| {
        e["event"] == "deliver_sm_resp" && e["status"] == 0
    })
    .await;
}

#[tokio::test]
async fn unknown_pdu_gets_generic_nack_and_the_bind_stays_up() {
    let mut sim = Sim::start(&["smsc"]).await;
    let esme = Esme::bound(&sim, BindMode::Transceiver).await;
    sim.expect("bind", is("bind")).await;
    sim.cmd("unknown-pdu").await;
    let nack = sim.expect("generic_nack", is("generic_nack")).await;
    assert_eq!(nack["status"], u64::from(status::RINVCMDID));
    accepted_id(esme.submit(submit_sm("still here", 0)).await);
    assert!(esme.handle.is_bound());
    assert_eq!(sim.count(is("disconnected")), 0);
}

/// node-smpp's server as the SMSC: the script in tests/apps, with node-smpp from
/// `RICHMOND_TEST_NODE_MODULES` (or `NODE_PATH`) as `./scripts/test` installs it.
#[tokio::test]
async fn node_smpp_smsc_accepts_a_submit_and_sends_an_mo() {
    let mut sim = Sim::node_smsc().await;
    let mut esme = Esme::bound(&sim, BindMode::Transceiver).await;
    let id = accepted_id(esme.submit(submit_sm("hello node", 0)).await);
    let submit = sim.expect("submit_sm", is("submit_sm")).await;
    assert_eq!(submit["message_id"], id.as_str());
    assert_eq!(submit["short_message"], "hello node");

    sim.cmd("mo 27831234567 1234 hi from node").await;
    let d = esme.next_deliver().await;
    let (esm_class, data_coding, octets) = fields(&d);
    assert_eq!((esm_class, data_coding), (0, 0));
    assert_eq!(Encoding::Gsm7.decode(&octets), "hi from node");
    esme.handle
        .respond_deliver(d.id, status::ROK)
        .expect("task running");
    let resp = sim.expect("deliver_sm_resp", is("deliver_sm_resp")).await;
    assert_eq!(resp["status"], 0);
}

#[tokio::test]
async fn refused_deliver_is_redelivered() {
    let mut sim = Sim::start(&["smsc", "--redeliver-delay-ms", "50"]).await;
    let mut esme = Esme::bound(&sim, BindMode::Transceiver).await;
    sim.cmd("mo-ucs2 27831234567 1234 héllo 😃").await;
    let first = esme.next_deliver().await;
    let (_, data_coding, octets) = fields(&first);
    assert_eq!(data_coding, 8);
    assert_eq!(Encoding::Ucs2.decode(&octets), "héllo 😃");
    esme.handle
        .respond_deliver(first.id, status::RX_T_APPN)
        .expect("task running");
    let redeliver = sim.expect("redeliver", is("redeliver")).await;
    assert_eq!(redeliver["reason"], "error_status");
    let again = esme.next_deliver().await;
    assert_eq!(fields(&again), fields(&first));
    esme.handle
        .respond_deliver(again.id, status::ROK)
        .expect("task running");
    sim.expect("accepted", |e| {
        e["event"] == "deliver_sm_resp" && e["status"] == 0
    })
    .await;
}

#[tokio::test]
async fn sar_mo_parts_carry_sar_tlvs() {
    let mut sim = Sim::start(&["smsc"]).await;
    let mut esme = Esme::bound(&sim, BindMode::Transceiver).await;
    let text = "sar ".repeat(50);
    sim.cmd(&format!("mo-sar 27831234567 1234 {text}")).await;
    for _ in 0..2 {
        let d = esme.next_deliver().await;
        let InboundPdu::DeliverSm(sm) = d.pdu().expect("decodes") else {
            panic!("not a deliver_sm");
        };
        assert_eq!(u8::from(sm.esm_class) & 0x40, 0, "no udh with sar");
        let tags: Vec<u16> = sm.tlvs().iter().map(|t| u16::from(t.tag())).collect();
        assert!(tags.contains(&0x020C) && tags.contains(&0x020E) && tags.contains(&0x020F));
        esme.handle
            .respond_deliver(d.id, status::ROK)
            .expect("task running");
    }
    sim.expect_total("two answers", 2, |e| e["event"] == "deliver_sm_resp")
        .await;
}

#[tokio::test]
async fn truncated_and_malformed_pdus() {
    let mut sim = Sim::start(&["smsc"]).await;
    let esme = Esme::bound(&sim, BindMode::Transceiver).await;
    sim.cmd("truncated").await;
    let nack = sim.expect("generic_nack", is("generic_nack")).await;
    assert_ne!(nack["status"], 0, "{nack}");
    // Framing lost: the ESME drops the link and binds again.
    sim.cmd("malformed").await;
    sim.expect("disconnected", is("disconnected")).await;
    sim.expect_total("a second bind", 2, |e| {
        e["event"] == "bind" && e["ok"] == true
    })
    .await;
    accepted_id(esme.submit(submit_sm("after the storm", 0)).await);
}

#[tokio::test]
async fn disconnect_with_a_full_window() {
    let mut sim = Sim::start(&["smsc"]).await;
    let esme = Esme::bound(&sim, BindMode::Transceiver).await;
    sim.cmd("no-response 3").await;
    sim.expect("no-response done", is("command_done")).await;
    let submits: Vec<_> = (0..3)
        .map(|i| {
            let handle = esme.handle.clone();
            tokio::spawn(async move { handle.submit(submit_sm(&format!("m{i}"), 0)).await })
        })
        .collect();
    sim.expect_total("three unanswered submits", 3, |e| {
        e["event"] == "submit_sm" && e["response"] == "none"
    })
    .await;
    sim.cmd("disconnect").await;
    for submit in submits {
        let outcome = tokio::time::timeout(PATIENCE, submit)
            .await
            .expect("an outcome in time")
            .expect("joined")
            .expect("task running");
        assert!(
            matches!(outcome, SubmitOutcome::Retry { .. }),
            "unanswered submits come back for a retry, got {outcome:?}"
        );
    }
    sim.expect("disconnected", is("disconnected")).await;
}

#[tokio::test]
async fn multipart_submit_is_joined_into_one_message() {
    let mut sim = Sim::start(&["smsc"]).await;
    let esme = Esme::bound(&sim, BindMode::Transceiver).await;
    let text = "part ".repeat(40);
    let parts =
        richmond_codecs::sms::segment(&text, Encoding::Gsm7, 7, richmond_codecs::sms::Method::Udh8)
            .expect("segments");
    assert_eq!(parts.len(), 2);
    for part in parts {
        let mut pdu = submit_sm("", 0);
        pdu.esm_class = EsmClass::from(0x40u8);
        pdu.set_short_message(OctetString::from_vec(part).expect("fits"));
        accepted_id(esme.submit(pdu).await);
    }
    let message = sim.expect("message", is("message")).await;
    assert_eq!(message["parts"], 2);
    assert_eq!(message["text"], text.as_str());
    assert_eq!(message["message_ids"].as_array().map(Vec::len), Some(2));
    let udh = &sim
        .seen
        .iter()
        .find(|e| e["event"] == "submit_sm")
        .expect("a submit")["udh"];
    assert_eq!((&udh["ref"], &udh["total"]), (&7.into(), &2.into()));
}
