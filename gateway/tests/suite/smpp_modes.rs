//! More SMPP transport options through the real binary and `richmond simulate smsc`: long
//! messages as SAR TLVs both ways and as one `message_payload`, data_coding overrides both
//! ways, and two gateway instances sharing Redis, one matching receipts for messages the
//! other submitted.

use richmond_tests::app;
use richmond_tests::common;
use richmond_tests::procs;

use std::collections::BTreeSet;

use app::{App, kind};
use procs::{Gateway, Sim};
use richmond::bus::Bus;

fn config(id: &str, port: u16, extra: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[bus]\ntype = \"amqp\"\n\
         url = {:?}\nreconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n{extra}\n\
         [transports.{id}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n",
        common::amqp_url()
    )
}

async fn app(id: &str) -> App {
    App::new(
        Bus::Amqp(common::amqp_bus(&common::amqp_config()).await),
        id,
    )
    .await
}

#[tokio::test]
async fn sar_both_ways_and_message_payload() {
    let long = "SAR and payload, part after part. ".repeat(8);
    let long = long.trim_end();
    for (mode, check) in [("sar", "sar"), ("message_payload", "message_payload")] {
        let id = common::unique("smppmode");
        let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
        let extra = format!("multipart = {mode:?}\nregistered_delivery = false\n");
        let text = config(&id, sim.addr.port(), "").replace(
            "reconnect_initial_seconds = 0.2\n",
            &format!("reconnect_initial_seconds = 0.2\n{extra}"),
        );
        let mut gw = Gateway::start(&text).await;
        gw.wait_ready(200).await;
        let mut app = app(&id).await;
        let m = app.sms("+27820007001", long);
        app.send(&m).await;
        let ack = app.event().await;
        assert_eq!(kind(&ack).0, "ack", "{mode}");
        let whole = sim
            .find("the whole message", |e| {
                e["event"] == "message" && e["text"] == long
            })
            .await;
        let submits: Vec<_> = sim
            .seen
            .iter()
            .filter(|e| e["event"] == "submit_sm")
            .cloned()
            .collect();
        if check == "sar" {
            assert!(whole["parts"].as_u64().unwrap_or(0) >= 2, "{whole}");
            assert!(submits.iter().all(|e| !e["sar"].is_null()), "{submits:?}");
            assert!(
                submits.iter().all(|e| e["esm_class"] == 0),
                "no UDH: {submits:?}"
            );
        } else {
            assert_eq!(submits.len(), 1, "{submits:?}");
            assert_eq!(submits[0]["message_payload"], true, "{submits:?}");
        }
        // Inbound SAR parts are joined too.
        sim.cmd(&format!("mo-sar 27820007002 12345 {long}")).await;
        assert_eq!(app.inbound().await.content.as_deref(), Some(long));
        assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    }
}

#[tokio::test]
async fn two_instances_sharing_redis_match_each_others_receipts() {
    let id = common::unique("smpptwo");
    // Receipts come late enough for the second instance to bind first (a hang guard of many
    // seconds, not a timing assertion: were it too short, the test would fail, not pass).
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "8000"]).await;
    let store = format!(
        "[store]\ntype = \"redis\"\nurl = {:?}\nkey_prefix = \"{id}:\"",
        common::redis_url()
    );
    // Only the first instance runs while the messages are submitted.
    let mut one = Gateway::start(&config(&id, sim.addr.port(), &store)).await;
    one.wait_ready(200).await;
    let mut app = app(&id).await;
    let msgs: Vec<_> = (0..8)
        .map(|i| app.sms("+27820007003", &format!("shared {i}")))
        .collect();
    for m in &msgs {
        app.send(m).await;
    }
    let mut acks = BTreeSet::new();
    while acks.len() < msgs.len() {
        let e = app.event().await;
        assert_eq!(kind(&e).0, "ack", "{e:?}");
        acks.insert(e.user_message_id.clone());
    }
    let mut two = Gateway::start(&config(&id, sim.addr.port(), &store)).await;
    two.wait_ready(200).await;
    sim.expect_total("two binds", 2, |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    let second = sim
        .seen
        .iter()
        .filter(|e| e["event"] == "bind" && e["ok"] == true)
        .nth(1)
        .map(|e| e["connection"].clone())
        .expect("the second bind");
    let mut reports = BTreeSet::new();
    while reports.len() < msgs.len() {
        let e = app.event().await;
        assert_eq!(
            kind(&e),
            ("delivery_report", "delivered".to_owned()),
            "{e:?}"
        );
        reports.insert(e.user_message_id.clone());
    }
    let ids: BTreeSet<_> = msgs.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(reports, ids);
    // The simulator hands receipts to its binds in turn: the second instance, which submitted
    // nothing, matched some through the id map in Redis.
    let to_second = sim.count(|e| e["event"] == "deliver_sm" && e["connection"] == second);
    let seen_so_far = sim.count(|e| e["event"] == "deliver_sm");
    if to_second == 0 {
        sim.expect("a receipt on the second instance", |e| {
            e["event"] == "deliver_sm" && e["connection"] == second
        })
        .await;
    }
    assert!(seen_so_far <= 2 * msgs.len(), "{:?}", sim.seen);
    assert_eq!(one.stop().await, Some(0), "{}", one.logs());
    assert_eq!(two.stop().await, Some(0), "{}", two.logs());
}

#[tokio::test]
async fn data_coding_overrides_both_ways() {
    // (options, outbound text, data_coding the SMSC must see, text it decodes)
    let cases = [
        ("data_coding = \"ucs2\"\n", "plain ascii", 8, "plain ascii"),
        ("data_coding = \"latin1\"\n", "Zoë café", 3, "Zoë café"),
        // An SMSC whose code 0 means Latin-1: text it can carry goes under code 0, and inbound
        // code 0 is read as Latin-1 (checked below).
        ("default_alphabet = \"latin1\"\n", "Zoe", 0, "Zoe"),
    ];
    for (options, text, coding, seen) in cases {
        let id = common::unique("smppdc");
        let mut sim = Sim::start(&["smsc"]).await;
        let cfg = config(&id, sim.addr.port(), "").replace(
            "reconnect_initial_seconds = 0.2\n",
            &format!("reconnect_initial_seconds = 0.2\nregistered_delivery = false\n{options}"),
        );
        let mut gw = Gateway::start(&cfg).await;
        gw.wait_ready(200).await;
        let mut app = app(&id).await;
        app.send(&app.sms("+27820007009", text)).await;
        assert_eq!(kind(&app.event().await).0, "ack", "{options}");
        let submit = sim.find("the submit", |e| e["event"] == "submit_sm").await;
        assert_eq!(submit["data_coding"], coding, "{options}: {submit}");
        assert_eq!(submit["text"], seen, "{options}: {submit}");
        if options.starts_with("default_alphabet") {
            // Inbound data_coding 0 is read as Latin-1 too: the simulator's GSM-7 "@" (0x00)
            // arrives as U+0000, its "e" (0x65) as "e".
            sim.cmd("mo 27820007010 12345 e@e").await;
            assert_eq!(
                app.inbound().await.content.as_deref(),
                Some("e\u{0}e"),
                "{options}"
            );
        }
        assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    }
}

#[tokio::test]
async fn a_full_embedded_queue_stops_the_answers_to_the_smsc() {
    // Nobody consumes `<id>.inbound` and the embedded queue takes three: the transport answers
    // three MOs and leaves the others unanswered (the SMSC keeps them), never dropping one.
    let id = common::unique("smppfull");
    let mut sim = Sim::start(&["smsc", "--deliver-timeout-ms", "1000"]).await;
    let cfg = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 2\n[bus]\ntype = \"embedded\"\nmax_queue_messages = 3\n\
         [transports.{id}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n",
        sim.addr.port()
    );
    let gw = Gateway::start(&cfg).await;
    gw.wait_ready(200).await;
    for i in 0..6 {
        sim.cmd(&format!("mo 2782000700{i} 12345 full {i}")).await;
    }
    let answered = |e: &serde_json::Value| e["event"] == "deliver_sm_resp" && e["status"] == 0;
    sim.expect_total("three answers", 3, answered).await;
    sim.expect("an unanswered MO sent again", |e| {
        e["event"] == "redeliver" && e["reason"] == "no_response"
    })
    .await;
    assert_eq!(sim.count(answered), 3, "{:?}", sim.seen);
    drop(gw);
}
