//! End to end through the real `richmond` binary bound to `richmond simulate smsc`, with a
//! Vumi application on RabbitMQ: MT in GSM-7, UCS2 and multipart with ack and
//! delivery_report, MO single and multipart, throttling without nacks, a refused submit as a
//! nack, a link dropped with a full window (each message gets exactly one outcome, nothing is
//! sent twice), a response timeout, the SMSC's unbind and bad PDUs, receipts across binds and
//! id formats, an MO the broker cannot route handed back (ESME_RX_T_APPN) rather than held, and
//! the same exchange with node-smpp as the SMSC.

use richmond_tests::app;
use richmond_tests::common;
use richmond_tests::procs;

use std::collections::BTreeMap;

use app::{App, kind};
use procs::{Gateway, Sim};
use richmond::bus::Bus;

fn config(id: &str, port: u16, extra: &str) -> String {
    let timeout = if extra.contains("response_timeout_seconds") {
        ""
    } else {
        "response_timeout_seconds = 5\n"
    };
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         reconnect_max_seconds = 1.0\n\
         enquire_link_interval_seconds = 2\nthrottle_backoff_seconds = 0.05\n{timeout}{extra}",
        common::amqp_url()
    )
}

async fn setup(sim_args: &[&str], extra: &str) -> (Sim, Gateway, App) {
    let id = common::unique("smpp");
    let mut args = vec!["smsc"];
    args.extend_from_slice(sim_args);
    let mut sim = Sim::start(&args).await;
    let gw = Gateway::start(&config(&id, sim.addr.port(), extra)).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    (sim, gw, app)
}

#[tokio::test]
async fn mt_and_mo_in_gsm7_ucs2_and_multipart_with_receipts() {
    let (mut sim, mut gw, mut app) = setup(&["--receipt-delay-ms", "50"], "").await;
    let long = "Long message ".repeat(20);
    let msgs = [
        app.sms("+27820001111", "Hello @ {world}"),
        app.sms("+27820001111", "Привет 👋"),
        app.sms("+27820001111", long.trim_end()),
    ];
    for m in &msgs {
        app.send(m).await;
    }
    let (done, early) = app.outcomes(3).await;
    for m in &msgs {
        assert_eq!(done[&m.message_id].0, "ack", "{done:?}");
    }
    for m in &msgs {
        let text = m.content.clone().unwrap();
        let e = sim
            .find("the whole message", |e| {
                e["event"] == "message" && e["text"] == text.as_str()
            })
            .await;
        if text.starts_with("Long") {
            assert!(e["parts"].as_u64().unwrap() >= 2, "{e}");
        }
    }
    let gsm = sim
        .seen
        .iter()
        .find(|e| e["event"] == "submit_sm" && e["text"] == "Hello @ {world}")
        .unwrap();
    assert_eq!(gsm["data_coding"], 0);
    let ucs2 = sim
        .seen
        .iter()
        .find(|e| e["event"] == "submit_sm" && e["text"] == "Привет 👋")
        .unwrap();
    assert_eq!(ucs2["data_coding"], 8);
    // Receipts: each message id gets a delivered report (the long one once per part).
    let mut delivered = std::collections::BTreeSet::new();
    let mut early = early.into_iter();
    while delivered.len() < 3 {
        let e = match early.next() {
            Some(e) => e,
            None => app.event().await,
        };
        if kind(&e) == ("delivery_report", "delivered".to_owned()) {
            assert!(
                e.transport_metadata["smpp_delivery_status"] == "DELIVRD",
                "{e:?}"
            );
            delivered.insert(e.user_message_id.clone());
        }
    }
    let ids: std::collections::BTreeSet<_> = msgs.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(delivered, ids);

    // MO: GSM-7, UCS2 and a long one in parts, each one whole message.
    sim.cmd("mo 27820002222 12345 hi there").await;
    let mo = app.inbound().await;
    assert_eq!(
        (mo.content.as_deref(), mo.to_addr.as_deref()),
        (Some("hi there"), Some("12345"))
    );
    assert_eq!(mo.transport_type.as_deref(), Some("sms"));
    sim.cmd("mo-ucs2 27820002222 12345 Zoë ✓").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("Zoë ✓"));
    let long_mo = "part ".repeat(50);
    sim.cmd(&format!("mo 27820002222 12345 {}", long_mo.trim_end()))
        .await;
    assert_eq!(
        app.inbound().await.content.as_deref(),
        Some(long_mo.trim_end())
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn throttling_slows_without_nacks_and_refusals_are_nacks() {
    let (mut sim, mut gw, mut app) = setup(
        &["--receipt-delay-ms", "50"],
        "registered_delivery = false\n",
    )
    .await;
    sim.cmd_done("throttle 3").await;
    let m = app.sms("+27820003333", "after throttling");
    app.send(&m).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(
        done[&m.message_id].0, "ack",
        "throttling is not a nack: {done:?}"
    );
    sim.cmd_done("reject 1 11").await;
    let refused = app.sms("+27820003333", "refused");
    app.send(&refused).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&refused.message_id].0, "nack");
    assert!(
        done[&refused.message_id].1.contains("ESME_RINVDSTADR"),
        "{done:?}"
    );
    let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
    assert!(
        metrics.contains("richmond_smpp_throttled_total"),
        "{metrics}"
    );
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_dropped_link_with_a_full_window_gives_each_message_one_outcome() {
    let (mut sim, mut gw, mut app) = setup(&[], "registered_delivery = false\nwindow = 2\n").await;
    // The first two submits fill the window and are never answered.
    sim.cmd_done("no-response 2").await;
    let msgs: Vec<_> = (0..6)
        .map(|i| app.sms("+27820004444", &format!("m{i}")))
        .collect();
    for m in &msgs {
        app.send(m).await;
    }
    sim.expect_total("a full window", 2, |e| e["event"] == "submit_sm")
        .await;
    sim.cmd("disconnect").await;
    let (done, _) = app.outcomes(msgs.len()).await;
    sim.expect_total("every submit", msgs.len(), |e| e["event"] == "submit_sm")
        .await;
    // The two in flight may have been taken by the SMSC: nacked, never resent. The others
    // were never written: sent after the reconnect and acked.
    let nacked: Vec<_> = done.values().filter(|(k, _)| *k == "nack").collect();
    assert_eq!(nacked.len(), 2, "{done:?}");
    assert!(
        nacked.iter().all(|(_, why)| why.contains("link_lost")),
        "{done:?}"
    );
    for m in &msgs {
        let text = m.content.clone().unwrap();
        let submits = sim.count(|e| e["event"] == "submit_sm" && e["text"] == text.as_str());
        assert_eq!(submits, 1, "{text} submitted {submits} times");
    }
    assert!(sim.count(|e| e["event"] == "bind" && e["ok"] == true) >= 2);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn submits_throttled_back_into_the_queue_are_resent_after_a_drop() {
    let (mut sim, mut gw, mut app) = setup(&[], "registered_delivery = false\nwindow = 2\n").await;
    // Every submit is throttled: the two in the window go back to the session's queue with a
    // growing pause, so when the link drops they are queued, not in flight.
    sim.cmd_done("throttle 1000000").await;
    let msgs: Vec<_> = (0..4)
        .map(|i| app.sms("+27820003344", &format!("q{i}")))
        .collect();
    for m in &msgs {
        app.send(m).await;
    }
    let throttled = |e: &serde_json::Value| e["event"] == "submit_sm" && e["status"] == 0x58;
    sim.expect_total("a long throttle", 12, throttled).await;
    sim.cmd("disconnect").await;
    sim.cmd_done("throttle 0").await;
    let (done, _) = app.outcomes(msgs.len()).await;
    sim.cmd_done("enquire-link").await;
    for m in &msgs {
        let (k, why) = &done[&m.message_id];
        assert!(*k == "ack" || why.contains("link_lost"), "{k} {why}");
        let text = m.content.clone().unwrap();
        let taken = sim
            .count(|e| e["event"] == "submit_sm" && e["text"] == text.as_str() && e["status"] == 0);
        assert!(taken <= 1, "{text} taken {taken} times");
        assert_eq!(taken == 1, *k == "ack", "{text}: {k}");
    }
    let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
    let resent = metric(&metrics, "richmond_smpp_resubmits_total", &app.id);
    assert!(resent.is_some_and(|n| n >= 1.0), "{metrics}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_response_timeout_is_a_nack_and_the_bind_goes_on() {
    let (mut sim, mut gw, mut app) = setup(
        &[],
        "registered_delivery = false\nresponse_timeout_seconds = 1\n",
    )
    .await;
    sim.cmd_done("no-response 1").await;
    let lost = app.sms("+27820005555", "unanswered");
    app.send(&lost).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&lost.message_id].0, "nack");
    assert!(
        done[&lost.message_id].1.contains("response_timeout"),
        "{done:?}"
    );
    let next = app.sms("+27820005555", "answered");
    app.send(&next).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&next.message_id].0, "ack");
    sim.cmd_done("enquire-link").await;
    assert_eq!(
        sim.count(|e| e["event"] == "bind"),
        1,
        "no reconnect needed"
    );
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn unbind_and_bad_pdus_from_the_smsc_keep_messages_flowing() {
    let (mut sim, mut gw, mut app) = setup(&[], "registered_delivery = false\n").await;
    let mut round = 0;
    for cmd in ["unknown-pdu", "truncated", "unbind", "malformed"] {
        let (nacks, binds) = (
            sim.count(|e| e["event"] == "generic_nack"),
            sim.count(|e| e["event"] == "bind" && e["ok"] == true),
        );
        sim.cmd(cmd).await;
        if cmd == "unknown-pdu" || cmd == "truncated" {
            // Answered with generic_nack; the bind stays up.
            sim.expect_total("generic_nack", nacks + 1, |e| e["event"] == "generic_nack")
                .await;
        } else {
            // The link ends and the gateway binds again.
            sim.expect_total("a new bind", binds + 1, |e| {
                e["event"] == "bind" && e["ok"] == true
            })
            .await;
        }
        round += 1;
        let m = app.sms("+27820006666", &format!("after {cmd}"));
        app.send(&m).await;
        let (done, _) = app.outcomes(1).await;
        assert_eq!(done[&m.message_id].0, "ack", "after {cmd}: {done:?}");
    }
    assert_eq!(round, 4);
    // unknown-pdu and truncated left the bind up; unbind and malformed made the gateway bind
    // again.
    // A command answered after everything before it was printed: no bind goes unseen.
    sim.cmd_done("enquire-link").await;
    let binds = sim.count(|e| e["event"] == "bind" && e["ok"] == true);
    assert_eq!(
        binds, 3,
        "one at the start, after unbind, after malformed: {:?}",
        sim.seen
    );
    let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
    assert!(
        metrics.contains("richmond_smpp_malformed_pdus_total"),
        "{metrics}"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn receipts_match_across_binds_and_id_formats() {
    // Two transmitter/receiver pairs: a receipt never comes on the bind that submitted; the
    // SMSC answers submits in hex and writes receipts in decimal.
    let (mut sim, mut gw, mut app) = setup(
        &[
            "--receipt-delay-ms",
            "20",
            "--message-id-format",
            "hex",
            "--receipt-id-format",
            "dec",
        ],
        "bind_mode = \"transmitter_receiver\"\nbinds = 2\n",
    )
    .await;
    sim.expect_total("four binds", 4, |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    let msgs: Vec<_> = (0..4)
        .map(|i| app.sms("+27820007777", &format!("r{i}")))
        .collect();
    for m in &msgs {
        app.send(m).await;
    }
    let (mut acks, mut reports) = (0, std::collections::BTreeSet::new());
    while acks < 4 || reports.len() < 4 {
        let e = app.event().await;
        match kind(&e) {
            ("ack", _) => acks += 1,
            ("delivery_report", s) => {
                assert_eq!(s, "delivered");
                assert!(
                    reports.insert(e.user_message_id.clone()),
                    "two reports: {e:?}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let ids: std::collections::BTreeSet<_> = msgs.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(reports, ids);
    // The counter moves right after the publish: poll until it shows every receipt.
    let deadline = tokio::time::Instant::now() + procs::PATIENCE;
    let metrics = loop {
        let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
        if metric(&metrics, "richmond_smpp_receipts_total", &app.id) == Some(4.0) {
            break metrics;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        metric(&metrics, "richmond_smpp_binds_up", &app.id),
        Some(4.0)
    );
    assert!(
        metrics.contains("richmond_smpp_submit_latency_seconds_bucket"),
        "{metrics}"
    );
    assert_eq!(gw.stop().await, Some(0));
}

/// node-smpp's server as the SMSC, with the gateway as it runs in production.
#[tokio::test]
async fn node_smpp_interop_mt_mo_and_receipts() {
    let id = common::unique("nodesmpp");
    let mut sim = Sim::node_smsc().await;
    let mut gw = Gateway::start(&config(&id, sim.addr.port(), "")).await;
    sim.expect("a bind", |e| e["event"] == "bind").await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let long = "Interop over node-smpp, part after part. ".repeat(5);
    let msgs = [
        app.sms("+27820008888", "Hello node [GSM-7]"),
        app.sms("+27820008888", "Ünïcode ✓ 😃"),
        app.sms("+27820008888", long.trim_end()),
    ];
    for m in &msgs {
        app.send(m).await;
    }
    let (mut done, mut reports) = (BTreeMap::new(), std::collections::BTreeSet::new());
    while done.len() < 3 || reports.len() < 3 {
        let e = app.event().await;
        let (k, v) = kind(&e);
        if k == "delivery_report" {
            assert_eq!(v, "delivered");
            reports.insert(e.user_message_id.clone());
        } else {
            done.insert(e.user_message_id.clone(), (k, v));
        }
    }
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    sim.expect_total("every part", 4, |e| e["event"] == "submit_sm")
        .await;
    let submits: Vec<_> = sim
        .seen
        .iter()
        .filter(|e| e["event"] == "submit_sm")
        .cloned()
        .collect();
    let gsm = submits
        .iter()
        .find(|e| e["short_message"] == "Hello node [GSM-7]");
    assert_eq!(
        gsm.map(|e| e["data_coding"].clone()),
        Some(0.into()),
        "{submits:?}"
    );
    assert!(submits.iter().any(|e| e["data_coding"] == 8), "{submits:?}");
    let parts = submits.iter().filter(|e| e["esm_class"] == 0x40).count();
    assert!(parts >= 2, "the long message in UDH parts: {submits:?}");

    sim.cmd("mo 27820009999 12345 hello from node").await;
    let mo = app.inbound().await;
    assert_eq!(mo.content.as_deref(), Some("hello from node"));
    assert_eq!(mo.from_addr.as_deref(), Some("27820009999"));
    sim.cmd("mo-ucs2 27820009999 12345 Zoë ✓").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("Zoë ✓"));
    let resp = sim
        .expect("deliver_sm_resp", |e| e["event"] == "deliver_sm_resp")
        .await;
    assert_eq!(resp["status"], 0, "{resp}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

/// The value of the first sample of `name` labelled with transport `id`.
fn metric(metrics: &str, name: &str, id: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l.contains(id))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn stopping_with_no_bind_up_hands_the_message_back() {
    let id = common::unique("smppdown");
    // Nothing listens on this port: the transport never binds.
    let mut gw = Gateway::start(&config(&id, common::free_port(), "")).await;
    gw.wait_ready(503).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus.clone(), &id).await;
    let m = app.sms("+27820009911", "waiting for a bind");
    app.send(&m).await;
    // The transport holds it and keeps trying binds that are down.
    let deadline = tokio::time::Instant::now() + procs::PATIENCE;
    loop {
        let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
        if metric(&metrics, "richmond_smpp_resubmits_total", &id).is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A clean stop (not the drain deadline), and the message is back on the queue.
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    let mut outbound = bus.consume(&format!("{id}.outbound")).await.unwrap();
    let d = tokio::time::timeout(procs::PATIENCE, outbound.next())
        .await
        .expect("the message back on the queue")
        .expect("consumer open");
    let back = richmond_codecs::vumi::UserMessage::decode(&d.body).unwrap();
    assert_eq!(back.message_id, m.message_id);
    d.ack().await.unwrap();
}

/// A message the SMSC is still answering when the gateway stops is finished, acked and never
/// sent again: its delivery stays open until then (closing it first would requeue it).
#[tokio::test]
async fn a_message_in_flight_at_stop_is_answered_and_not_sent_again() {
    let (mut sim, mut gw, mut app) = setup(&[], "registered_delivery = false\n").await;
    sim.cmd_done("slow 1500").await;
    let m = app.sms("+27820004242", "in flight at stop");
    app.send(&m).await;
    sim.expect("the submit", |e| e["event"] == "submit_sm")
        .await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&m.message_id].0, "ack");
    // Nothing went back to the queue: the next message on it is a marker published now.
    let marker = app.sms("+27820004243", "marker");
    app.send(&marker).await;
    let mut outbound = app
        .bus
        .consume(&format!("{}.outbound", app.id))
        .await
        .unwrap();
    let d = tokio::time::timeout(procs::PATIENCE, outbound.next())
        .await
        .expect("the marker")
        .expect("consumer open");
    let first = richmond_codecs::vumi::UserMessage::decode(&d.body).unwrap();
    assert_eq!(
        first.message_id, marker.message_id,
        "the stopped message came back"
    );
    d.ack().await.unwrap();
}

#[tokio::test]
async fn an_mo_the_broker_cannot_route_is_handed_back_and_delivered_once_it_can() {
    let id = common::unique("smpp");
    let mut sim = Sim::start(&[
        "smsc",
        "--redeliver-delay-ms",
        "300",
        "--max-deliver-attempts",
        "1000",
    ])
    .await;
    let gw = Gateway::start(&config(&id, sim.addr.port(), "")).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    // Someone deletes the transport's inbound queue: its publishes are now unroutable.
    let inbound = format!("{id}.inbound");
    let conn =
        lapin::Connection::connect(&common::amqp_url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_delete(
            inbound.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    sim.cmd("mo 27820005555 12345 handed back").await;
    // Not held by a publish that cannot succeed: answered "temporary error", so the SMSC
    // keeps the message and offers it again.
    sim.expect("ESME_RX_T_APPN", |e| {
        e["event"] == "deliver_sm_resp" && e["status"] == 0x64
    })
    .await;
    // The queue is back: the next offer is delivered.
    let bus = common::amqp_bus(&common::amqp_config()).await;
    bus.declare_queues(std::slice::from_ref(&inbound))
        .await
        .unwrap();
    let bus = Bus::Amqp(bus);
    let mut consumer = bus.consume(&inbound).await.unwrap();
    let d = tokio::time::timeout(procs::PATIENCE, consumer.next())
        .await
        .expect("the MO once its queue exists")
        .expect("consumer open");
    let mo = richmond_codecs::vumi::UserMessage::decode(&d.body).unwrap();
    assert_eq!(mo.content.as_deref(), Some("handed back"));
    d.ack().await.unwrap();
    assert!(
        gw.logs().contains("Publish refused; handed back"),
        "{}",
        gw.logs()
    );
    bus.close().await;
    let _ = conn.close(0, "done".into()).await;
}
