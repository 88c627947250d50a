//! The Opera transport through the real binary against `richmond simulate opera`, with a
//! Vumi application on RabbitMQ: MT → `Identifier` → ack → receipt → delivered; text above
//! ASCII (an emoji) as base64; a long text with `MaxSegments`; MO as raw XML and as `XmlMsg`,
//! answered by echoing the XML; a fault of 500+ → tried again; another fault, an HTTP error
//! → nack; no answer on every try → nack; a receipt for an unknown Identifier → counted, 200;
//! a receipt that overtakes its call's answer → held, reported once the Identifier is stored;
//! a post without the secret → 403; an MO missing a field → 400; SIGKILL while Opera holds a
//! call → sent again after the restart.

use crate::apps::await_metric;
use crate::provider_kit::{arm, kill_while_held, outcome, post};
use richmond_codecs::vumi::{DeliveryStatus, EventKind};
use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};
use serde_json::json;

const SECRET: &str = "in-secret";

struct Setup {
    sim: Sim,
    gw: Gateway,
    app: App,
    listen: std::net::SocketAddr,
}

async fn setup(sim_args: &[&str]) -> Setup {
    let id = common::unique("opera");
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("addr");
    let base = format!("http://{listen}/api/v1/sms/{id}");
    let (receipts, mo) = (
        format!("{base}/receipt.xml?secret={SECRET}"),
        format!("{base}/receive.xml?secret={SECRET}"),
    );
    let mut args = vec![
        "opera",
        "--receipt-url",
        &receipts,
        "--mo-url",
        &mo,
        "--hold-receipts",
    ];
    args.extend_from_slice(sim_args);
    let sim = Sim::start(&args).await;
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"opera\"\nbase_url = \"http://{}\"\nservice = \"20222\"\n\
         channel = \"111\"\npassword = \"richmond\"\nlisten = \"{listen}\"\n\
         inbound_secret = \"{SECRET}\"\nsend_attempts = 2\nretry_initial_seconds = 0.1\n\
         request_timeout_seconds = 2\n",
        common::amqp_url(),
        sim.addr
    );
    let gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let bus = richmond::bus::Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    Setup {
        sim,
        gw,
        app,
        listen,
    }
}

/// Waits for `id`'s delivery report (or takes it from `early`); its status.
async fn report(
    app: &mut App,
    id: &str,
    early: Vec<richmond_codecs::vumi::Event>,
) -> DeliveryStatus {
    let mut early = early.into_iter();
    loop {
        let e = match early.next() {
            Some(e) => e,
            None => app.event().await,
        };
        if e.user_message_id != id {
            continue;
        }
        if let EventKind::DeliveryReport {
            delivery_status, ..
        } = e.kind
        {
            return delivery_status;
        }
    }
}

#[tokio::test]
async fn mt_is_acked_and_reported_and_mo_are_answered_with_their_xml() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        ..
    } = setup(&[]).await;
    let mt = app.sms("+27831234567", "Hello Joburg");
    app.send(&mt).await;
    let (done, early) = app.outcomes(1).await;
    let sent = sim.expect("the call", |e| e["event"] == "send").await;
    assert_eq!(
        done[&mt.message_id],
        ("ack", sent["identifier"].as_str().unwrap().to_owned())
    );
    assert_eq!(
        (
            &sent["numbers"],
            &sent["text"],
            &sent["text_type"],
            &sent["max_segments"],
            &sent["priority"],
            &sent["receipt"]
        ),
        (
            &json!("+27831234567"),
            &json!("Hello Joburg"),
            &json!("string"),
            &json!("9"),
            &json!("standard"),
            &json!(true)
        )
    );
    // Receipts are released once the ack says the Identifier is stored.
    sim.cmd("release").await;
    assert_eq!(
        report(&mut app, &mt.message_id, early).await,
        DeliveryStatus::Delivered
    );
    // Above ASCII: base64 of the UTF-8. A long text goes whole: Opera splits it.
    let smile = app.sms("+27831234567", "Sawubona 😀");
    let long = app.sms("+27831234567", &"z".repeat(400));
    app.send(&smile).await;
    app.send(&long).await;
    let (done, _) = app.outcomes(2).await;
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    let at = sim
        .find("the emoji", |e| {
            e["event"] == "send" && e["text_type"] == "base64"
        })
        .await;
    assert_eq!(at["text"], "Sawubona 😀");
    sim.find("the long text", |e| {
        e["event"] == "send" && e["text"].as_str().is_some_and(|t| t.len() == 400)
    })
    .await;
    // MO: the answer echoes the posted XML (the sim checks), entities and an emoji read.
    sim.cmd("mo +27829876543 32323 Ngiyabonga 👋 & <3").await;
    let mo = app.inbound().await;
    assert_eq!(mo.content.as_deref(), Some("Ngiyabonga 👋 & <3"));
    assert_eq!(mo.from_addr.as_deref(), Some("+27829876543"));
    assert_eq!(mo.to_addr.as_deref(), Some("32323"));
    assert_eq!(mo.transport_metadata["provider"], "mtn-za");
    let posted = sim
        .expect("the MO's answer", |e| e["event"] == "mo_posted")
        .await;
    assert_eq!(
        (&posted["echoed"], &posted["attempts"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(
        mo.transport_metadata["opera"]["message_id"],
        posted["message_id"]
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn faults_are_retried_or_nacked_and_bad_posts_refused() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        listen,
    } = setup(&["--xmlmsg", "--receipt-status", "F"]).await;
    // A fault of 503: tried again, taken; its receipt says failed.
    arm(&mut sim, "fault 503").await;
    let retried = app.sms("+27831234567", "Retried");
    app.send(&retried).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&retried.message_id].0, "ack", "{done:?}");
    sim.cmd("release").await;
    assert_eq!(
        report(&mut app, &retried.message_id, early).await,
        DeliveryStatus::Failed
    );
    // A receipt that overtakes its call's answer: held, published once the Identifier is.
    arm(&mut sim, "early").await;
    let overtaken = app.sms("+27831234567", "Overtaken");
    app.send(&overtaken).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&overtaken.message_id].0, "ack", "{done:?}");
    assert_eq!(
        report(&mut app, &overtaken.message_id, early).await,
        DeliveryStatus::Failed
    );
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "kind=\"receipt_late\"",
        1.0,
    )
    .await;
    // A fault below 500 and an HTTP error: nacked, not tried again.
    arm(&mut sim, "fault 401").await;
    let refused = outcome(&mut app, "+27831234567", "Refused").await;
    assert_eq!(refused, ("nack", "fault 401: told to fail".to_owned()));
    arm(&mut sim, "fail 402").await;
    let (kind, reason) = outcome(&mut app, "+27831234567", "Unpaid").await;
    assert!(kind == "nack" && reason.contains("402"), "{reason}");
    // No answer on every try.
    arm(&mut sim, "hang 2").await;
    let spent = outcome(&mut app, "+27831234567", "Spent").await;
    assert_eq!(spent, ("nack", "no answer from Opera (timeout)".to_owned()));
    // A receipt for an Identifier nobody sent: 200, counted.
    sim.cmd("receipt deadbeef D").await;
    let posted = sim
        .expect("the receipt", |e| {
            e["event"] == "receipt_posted" && e["reference"] == "deadbeef"
        })
        .await;
    assert_eq!(posted["answer_status"], 200);
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "outcome=\"unmatched\"",
        1.0,
    )
    .await;
    // An MO as XmlMsg.
    sim.cmd("mo 0829876543 *32323 Form-encoded").await;
    let mo = app.inbound().await;
    assert_eq!(mo.content.as_deref(), Some("Form-encoded"));
    assert_eq!(mo.from_addr.as_deref(), Some("+27829876543"));
    let posted = sim
        .expect("the MO's answer", |e| e["event"] == "mo_posted")
        .await;
    assert_eq!(posted["echoed"], true);
    // Forged (no secret) → 403; a document missing `Local` → 400 naming it.
    let path = format!("/api/v1/sms/{}/receive.xml", app.id);
    let doc = "<bspostevent><field name=\"Remote\">+2782</field><field name=\"Text\">x</field>\
               <field name=\"MessageID\">1</field><field name=\"MobileNetwork\">mtn-za</field></bspostevent>";
    let text = "text/plain; charset=utf-8";
    let forged = post(listen, &path, "", text, doc).await;
    assert!(forged.starts_with("HTTP/1.1 403"), "{forged}");
    let answer = post(listen, &format!("{path}?secret={SECRET}"), "", text, doc).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.ends_with("Missing field: Local"), "{answer}");
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "outcome=\"forbidden\"",
        1.0,
    )
    .await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_gateway_killed_while_opera_holds_a_call_sends_it_again_after_the_restart() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        ..
    } = setup(&[]).await;
    let (held, _) = kill_while_held(&mut sim, &mut gw, &mut app, "+27831234567").await;
    sim.expect("the message sent again", |e| {
        e["event"] == "send" && e["text"] == "Not lost"
    })
    .await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&held.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
