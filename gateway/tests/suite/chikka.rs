//! The Chikka transport through the real binary against `richmond simulate chikka`, with a
//! Vumi application on RabbitMQ: MT → ack → delivery report; MO → inbound with its request
//! id → a reply goes as REPLY with it; a spent request id → sent again as SEND; Chikka's
//! refusal → nack with its status; 5xx and no answer → tried again; a notification for an
//! unknown id → counted and answered `Accepted`; a post without the inbound secret → 403;
//! emoji both ways; a text over 420 characters in two requests, each notified; a gateway killed while Chikka holds a request sends it again after its
//! restart (nothing lost).

use crate::apps::await_metric;
use crate::provider_kit::{arm, kill_while_held, outcome, post};
use richmond_codecs::vumi::{DeliveryStatus, EventKind, UserMessage};
use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};
use serde_json::json;

const FORM: &str = "application/x-www-form-urlencoded";

const SECRET: &str = "in-secret";

/// The simulator, a gateway with Chikka transport `id` bound to it, and an application.
async fn setup() -> (Sim, Gateway, App, std::net::SocketAddr) {
    let id = common::unique("chikka");
    let port = common::free_port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let post_to = format!("http://{listen}/api/v1/sms/{id}/receive?secret={SECRET}");
    let sim = Sim::start(&[
        "chikka",
        "--client-id",
        "cid",
        "--secret-key",
        "skey",
        "--post-to",
        &post_to,
        "--notify-delay-ms",
        "20",
    ])
    .await;
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"chikka\"\nbase_url = \"http://{}\"\nclient_id = \"cid\"\n\
         secret_key = \"skey\"\nshortcode = \"29290700\"\nlisten = \"{listen}\"\n\
         inbound_secret = \"{SECRET}\"\nsend_attempts = 2\nretry_initial_seconds = 0.1\n\
         request_timeout_seconds = 2\n",
        common::amqp_url(),
        sim.addr
    );
    let gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let bus = richmond::bus::Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    (sim, gw, app, listen)
}

#[tokio::test]
async fn mt_is_acked_and_reported_and_an_mo_is_answered_with_a_reply() {
    let (mut sim, mut gw, mut app, _) = setup().await;
    let mt = app.sms("+639171234567", "Hello Manila");
    app.send(&mt).await;
    let (done, mut reports) = app.outcomes(1).await;
    assert_eq!(done[&mt.message_id].0, "ack", "{done:?}");
    let sent = sim
        .expect("the SEND", |e| {
            e["event"] == "request" && e["message"] == "Hello Manila"
        })
        .await;
    assert_eq!(
        (
            &sent["message_type"],
            &sent["mobile_number"],
            &sent["status"]
        ),
        (&json!("SEND"), &json!("639171234567"), &json!(200))
    );
    while reports.is_empty() {
        let e = app.event().await;
        if matches!(e.kind, EventKind::DeliveryReport { .. }) {
            reports.push(e);
        }
    }
    assert_eq!(reports[0].user_message_id, mt.message_id);
    assert!(matches!(
        reports[0].kind,
        EventKind::DeliveryReport {
            delivery_status: DeliveryStatus::Delivered,
            ..
        }
    ));

    // An MO, and a reply to it: a REPLY with the MO's request id.
    sim.cmd("mo 639179876543 bord on").await;
    let mo = app.inbound().await;
    let posted = sim
        .expect("the MO's answer", |e| e["event"] == "mo_posted")
        .await;
    assert_eq!(
        (&posted["answer"], &posted["attempts"]),
        (&json!("Accepted"), &json!(1))
    );
    assert_eq!(mo.content.as_deref(), Some("bord on"));
    assert_eq!(mo.from_addr.as_deref(), Some("+639179876543"));
    assert_eq!(mo.to_addr.as_deref(), Some("29290700"));
    let request_id = mo.transport_metadata["chikka"]["request_id"].clone();
    assert_eq!(request_id, posted["request_id"]);
    let app_id = app.id.clone();
    let reply = |text: &str| {
        let mut r = UserMessage::new(
            &app_id,
            "sms",
            "29290700",
            "+639179876543",
            Some(text.into()),
        );
        r.in_reply_to = Some(mo.message_id.clone());
        r.transport_metadata = mo.transport_metadata.clone();
        r
    };
    let first = reply("Thank you!");
    app.send(&first).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&first.message_id].0, "ack", "{done:?}");
    let r = sim
        .expect("the REPLY", |e| {
            e["event"] == "request" && e["message"] == "Thank you!"
        })
        .await;
    assert_eq!(
        (&r["message_type"], &r["request_id"]),
        (&json!("REPLY"), &request_id)
    );
    assert_eq!(r["request_cost"], "FREE");
    // The request id is spent: Chikka refuses a second REPLY, the transport sends a SEND.
    let second = reply("And again");
    app.send(&second).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&second.message_id].0, "ack", "{done:?}");
    let refused = sim
        .expect("the refused REPLY", |e| {
            e["event"] == "request" && e["message"] == "And again"
        })
        .await;
    assert_eq!(
        (&refused["message_type"], &refused["status"]),
        (&json!("REPLY"), &json!(400))
    );
    let resent = sim
        .expect("the SEND", |e| {
            e["event"] == "request" && e["message"] == "And again" && e["message_type"] == "SEND"
        })
        .await;
    assert_eq!(resent["status"], 200);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn refusals_are_nacked_passing_failures_retried_and_bad_posts_refused() {
    let (mut sim, mut gw, mut app, listen) = setup().await;
    // A definite refusal: nacked with Chikka's status, not tried again.
    arm(&mut sim, "fail 401").await;
    let (kind, reason) = outcome(&mut app, "+639171234567", "Refused").await;
    assert!(kind == "nack" && reason.contains("401"), "{reason}");
    // A 503, then no answer at all: each tried again, then taken.
    for line in ["fail 503", "hang"] {
        arm(&mut sim, line).await;
        let (kind, _) = outcome(&mut app, "+639171234567", line).await;
        assert_eq!(kind, "ack", "{line}");
    }
    // A 503 on every try: nacked once the tries are spent.
    arm(&mut sim, "fail 503 2").await;
    let (kind, reason) = outcome(&mut app, "+639171234567", "Spent").await;
    assert!(kind == "nack" && reason.contains("503"), "{reason}");

    // A notification for a message nobody sent: answered Accepted, counted.
    sim.cmd("notify 0123456789abcdef SENT").await;
    let posted = sim
        .expect("the notification", |e| {
            e["event"] == "notification_posted" && e["message_id"] == "0123456789abcdef"
        })
        .await;
    assert_eq!(posted["answer"], "Accepted");
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "outcome=\"unmatched\"",
        1.0,
    )
    .await;

    // A forged post (no secret): 403, counted, nothing on the bus.
    let body = "message_type=incoming&mobile_number=639170000000&request_id=1&message=forged";
    let path = format!("/api/v1/sms/{}/receive", app.id);
    let answer = post(listen, &path, "", FORM, body).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
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
async fn a_gateway_killed_while_chikka_holds_a_request_sends_it_again_after_the_restart() {
    let (mut sim, mut gw, mut app, _) = setup().await;
    // Emoji both ways first: a form carries UTF-8 as it is.
    let smile = app.sms("+639171234567", "Salamat 😃");
    app.send(&smile).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&smile.message_id].0, "ack", "{done:?}");
    sim.expect("the emoji at Chikka", |e| {
        e["event"] == "request" && e["message"] == "Salamat 😃"
    })
    .await;
    sim.cmd("mo 639179876543 Kumusta 👋").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("Kumusta 👋"));
    // Over 420 characters: two requests, each notified.
    let text: String = (0..100).map(|i| format!("p{i:03} ")).collect();
    let long = app.sms("+639171234567", &text);
    app.send(&long).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&long.message_id].0, "ack", "{done:?}");
    let first = sim
        .find("the first part", |e| {
            e["event"] == "request" && e["message"].as_str().is_some_and(|m| m.starts_with("p000"))
        })
        .await;
    let second = sim
        .find("the second part", |e| {
            e["event"] == "request" && e["message"].as_str().is_some_and(|m| m.starts_with("p084"))
        })
        .await;
    let joined = format!(
        "{}{}",
        first["message"].as_str().unwrap(),
        second["message"].as_str().unwrap()
    );
    assert_eq!(joined, text);
    assert_ne!(first["message_id"], second["message_id"]);
    let mut reports = early
        .iter()
        .filter(|e| {
            e.user_message_id == long.message_id
                && matches!(e.kind, EventKind::DeliveryReport { .. })
        })
        .count();
    while reports < 2 {
        let e = app.event().await;
        if e.user_message_id == long.message_id
            && matches!(e.kind, EventKind::DeliveryReport { .. })
        {
            reports += 1;
        }
    }

    // Chikka takes the request and answers nothing; the gateway dies (SIGKILL) meanwhile.
    // The message was never acked on the bus: after the restart it goes to Chikka again
    // (at least once; the same message_id lets Chikka's side see the duplicate).
    let (held, hung) = kill_while_held(&mut sim, &mut gw, &mut app, "+639171234567").await;
    let again = sim
        .expect("the message sent again", |e| {
            e["event"] == "request" && e["message"] == "Not lost" && e["status"] == 200
        })
        .await;
    assert_eq!(again["message_id"], hung["message_id"]);
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&held.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
