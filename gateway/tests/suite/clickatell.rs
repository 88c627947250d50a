//! The Clickatell transport through the real binary against `richmond simulate clickatell`,
//! with a Vumi application on RabbitMQ.
//!
//! * Legacy API with credentials: MT → `ID:` → ack → callbacks 003 (pending) and 004
//!   (delivered); MO in ISO-8859-1, in UTF-16BE (an emoji) and in UDH parts (joined); an
//!   emoji MT as UCS-2 hex; a long MT with `concat`; a text over `max_parts` nacked.
//! * `ERR:` → nack with its code; 503 → tried again; no answer on every try → nack; a
//!   callback for an unknown id → counted, answered 200; forged posts → 403 (the secret is
//!   also accepted as the Basic password).
//! * Session mode: `auth` once, `ping`, a session Clickatell forgot → authenticated again;
//!   callbacks and MO as XML in `data`.
//! * Platform API: JSON send, JSON callbacks, JSON MO, a refusal.
//! * SIGKILL while Clickatell holds a request: sent again after the restart.
//! * Two instances sharing Redis: a callback posted to the one that did not send the message
//!   is matched through the store.

use crate::apps::await_metric;
use crate::provider_kit::{arm, kill_while_held, outcome, post};
use richmond_codecs::vumi::{DeliveryStatus, Event, EventKind};
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

/// The simulator (with `sim_args`), a gateway with Clickatell transport `id` bound to it
/// (with `options`), and an application.
async fn setup(sim_args: &[&str], options: &str) -> Setup {
    let id = common::unique("clickatell");
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("addr");
    let base = format!("http://{listen}/api/v1/sms/{id}");
    let (receipts, mo) = (
        format!("{base}/receipt.json?secret={SECRET}"),
        format!("{base}/receive.json?secret={SECRET}"),
    );
    let mut args = vec![
        "clickatell",
        "--receipt-url",
        &receipts,
        "--mo-url",
        &mo,
        "--receipt-delay-ms",
        "20",
    ];
    args.extend_from_slice(sim_args);
    let sim = Sim::start(&args).await;
    let config = gateway_config(&id, sim.addr, listen, "", options);
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

/// A gateway config with Clickatell transport `id` at `sim`, listening on `listen`, with
/// `store` (a `[store]` table, or nothing for the default) and the transport's `options`.
fn gateway_config(
    id: &str,
    sim: std::net::SocketAddr,
    listen: std::net::SocketAddr,
    store: &str,
    options: &str,
) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n{store}\
         [transports.{id}]\ntype = \"clickatell\"\nbase_url = \"http://{sim}\"\n\
         listen = \"{listen}\"\ninbound_secret = \"{SECRET}\"\nsend_attempts = 2\n\
         retry_initial_seconds = 0.1\nrequest_timeout_seconds = 2\nmultipart_timeout_seconds = 60\n\
         {options}",
        common::amqp_url(),
    )
}

const LEGACY: &str = "api_id = \"3186\"\nuser = \"richmond\"\npassword = \"richmond\"\n";

fn report_status(e: &Event) -> Option<DeliveryStatus> {
    match e.kind {
        EventKind::DeliveryReport {
            delivery_status, ..
        } => Some(delivery_status),
        _ => None,
    }
}

/// The statuses of `id`'s delivery reports until one is final (those in `early` first).
async fn reports_until_final(app: &mut App, id: &str, early: Vec<Event>) -> Vec<DeliveryStatus> {
    let mut seen = Vec::new();
    let mut early = early.into_iter();
    loop {
        let e = match early.next() {
            Some(e) => e,
            None => app.event().await,
        };
        assert_eq!(e.user_message_id, id, "{e:?}");
        let status = report_status(&e).expect("a delivery report");
        seen.push(status);
        if status != DeliveryStatus::Pending {
            return seen;
        }
    }
}

#[tokio::test]
async fn legacy_mt_is_acked_and_reported_and_mo_arrive_in_every_charset_and_in_parts() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        ..
    } = setup(&[], LEGACY).await;
    let mt = app.sms("+27831234567", "Hello Cape Town");
    app.send(&mt).await;
    let (done, early) = app.outcomes(1).await;
    let sent = sim.expect("the sendmsg", |e| e["event"] == "sendmsg").await;
    assert_eq!(
        done[&mt.message_id],
        ("ack", sent["apimsgid"].as_str().unwrap().to_owned())
    );
    assert_eq!(
        (
            &sent["to"],
            &sent["text"],
            &sent["callback"],
            &sent["unicode"]
        ),
        (
            &json!("27831234567"),
            &json!("Hello Cape Town"),
            &json!("3"),
            &json!(false)
        )
    );
    assert_eq!(sent["climsgid"], mt.message_id.replace('-', ""));
    let statuses = reports_until_final(&mut app, &mt.message_id, early).await;
    assert_eq!(
        statuses,
        [DeliveryStatus::Pending, DeliveryStatus::Delivered]
    );

    // MO: Latin-1, UTF-16BE (an emoji), and a long one in three UDH parts.
    sim.cmd("mo 27829876543 27831000000 Artwell Sìbbnda").await;
    let mo = app.inbound().await;
    assert_eq!(mo.content.as_deref(), Some("Artwell Sìbbnda"));
    assert_eq!(mo.from_addr.as_deref(), Some("+27829876543"));
    assert_eq!(mo.to_addr.as_deref(), Some("27831000000"));
    let posted = sim
        .expect("the MO's answer", |e| e["event"] == "mo_posted")
        .await;
    assert_eq!(
        (&posted["answer_status"], &posted["attempts"]),
        (&json!(200), &json!(1))
    );
    assert_eq!(
        mo.transport_metadata["clickatell"]["mo_msg_id"],
        posted["mo_msg_ids"][0]
    );
    sim.cmd("mo 27829876543 27831000000 Sawubona 😀").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("Sawubona 😀"));
    let long: String = (0..40).map(|i| format!("w{i:03} ")).collect();
    sim.cmd(&format!("mo 27829876543 27831000000 {long}")).await;
    let joined = app.inbound().await;
    assert_eq!(joined.content.as_deref(), Some(long.trim_end()));
    let posted = sim
        .expect("the long MO", |e| {
            e["event"] == "mo_posted" && e["parts"] == 2
        })
        .await;
    assert_eq!(posted["answer_status"], 200);

    // An emoji MT goes as UCS-2 hex; a long one names its parts; one too long is nacked.
    let smile = app.sms("+27831234567", "Dankie 😃");
    let long_mt = app.sms("+27831234567", &"x".repeat(400));
    let too_long = app.sms("+27831234567", &"y".repeat(500));
    for m in [&smile, &long_mt, &too_long] {
        app.send(m).await;
    }
    let (done, _) = app.outcomes(3).await;
    assert_eq!(done[&smile.message_id].0, "ack", "{done:?}");
    assert_eq!(done[&long_mt.message_id].0, "ack", "{done:?}");
    let (kind, reason) = &done[&too_long.message_id];
    assert_eq!(
        (*kind, reason.as_str()),
        ("nack", "the text takes 4 parts; max_parts is 3")
    );
    let at = sim
        .find("the emoji", |e| {
            e["event"] == "sendmsg" && e["unicode"] == true
        })
        .await;
    assert_eq!(at["text"], "Dankie 😃");
    let at = sim
        .find("the long MT", |e| {
            e["event"] == "sendmsg" && e["parts"] == 3
        })
        .await;
    assert_eq!(at["concat"], 3);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

/// POSTs a form `body` to the transport's `path` with `auth` (an Authorization value).
async fn post_form(
    listen: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    post(
        listen,
        path,
        &auth,
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

#[tokio::test]
async fn errors_are_nacked_with_their_code_passing_failures_retried_and_forged_posts_refused() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        listen,
    } = setup(&["--statuses", ""], LEGACY).await;
    arm(&mut sim, "err 105").await;
    let refused = outcome(&mut app, "+27831234567", "Refused").await;
    assert_eq!(refused, ("nack", "ERR: 105, told to refuse".to_owned()));
    // A 503, then no answer: each tried again and taken.
    for line in ["fail 503", "hang"] {
        arm(&mut sim, line).await;
        let (kind, _) = outcome(&mut app, "+27831234567", line).await;
        assert_eq!(kind, "ack", "{line}");
    }
    // No answer on every try: nacked once the tries are spent.
    arm(&mut sim, "hang 2").await;
    let spent = outcome(&mut app, "+27831234567", "Spent").await;
    assert_eq!(
        spent,
        ("nack", "no answer from Clickatell (timeout)".to_owned())
    );

    // A callback for a message nobody sent: answered 200, counted.
    sim.cmd("receipt 0123456789abcdef0123456789abcdef 004")
        .await;
    let posted = sim
        .expect("the callback", |e| e["event"] == "receipt_posted")
        .await;
    assert_eq!(posted["answer_status"], 200);
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "outcome=\"unmatched\"",
        1.0,
    )
    .await;

    // Forged: no secret, a wrong Basic password → 403; the right Basic password is let in.
    let path = format!("/api/v1/sms/{}/receipt.json", app.id);
    let body = "apiMsgId=feed&status=004";
    assert!(
        post_form(listen, &path, None, body)
            .await
            .starts_with("HTTP/1.1 403")
    );
    let wrong = format!("Basic {}", b64("clickatell:wrong"));
    assert!(
        post_form(listen, &path, Some(&wrong), body)
            .await
            .starts_with("HTTP/1.1 403")
    );
    let right = format!("Basic {}", b64(&format!("clickatell:{SECRET}")));
    assert!(
        post_form(listen, &path, Some(&right), body)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mo_path = format!("/api/v1/sms/{}/receive.json?secret={SECRET}", app.id);
    assert!(
        post_form(listen, &mo_path, None, "from=1")
            .await
            .starts_with("HTTP/1.1 400")
    );
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "outcome=\"forbidden\"",
        2.0,
    )
    .await;
    await_metric(
        &gw,
        "richmond_http_provider_posts_total",
        "outcome=\"bad_request\"",
        1.0,
    )
    .await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_session_is_opened_kept_alive_and_renewed_and_xml_posts_are_read() {
    let options = format!("{LEGACY}session = true\nping_seconds = 1\n");
    let Setup {
        mut sim,
        mut gw,
        mut app,
        ..
    } = setup(&["--callback-format", "xml", "--statuses", "004"], &options).await;
    let first = app.sms("+27831234567", "With a session");
    app.send(&first).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&first.message_id].0, "ack", "{done:?}");
    sim.find("the auth", |e| e["event"] == "auth").await;
    let sent = sim.find("the sendmsg", |e| e["event"] == "sendmsg").await;
    assert_eq!(sent["session"], true);
    // The XML callback in `data` becomes the report.
    let statuses = reports_until_final(&mut app, &first.message_id, early).await;
    assert_eq!(statuses, [DeliveryStatus::Delivered]);
    // The session is pinged.
    sim.expect("a ping", |e| {
        e["event"] == "answer" && e["command"] == "ping" && e["answer"] == "OK:"
    })
    .await;
    // Clickatell forgets it: the next send is refused with 003, authenticates, goes through.
    sim.cmd("expire").await;
    sim.expect("expired", |e| e["event"] == "sessions_expired")
        .await;
    let second = app.sms("+27831234567", "After expiry");
    app.send(&second).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&second.message_id].0, "ack", "{done:?}");
    sim.expect_total("a second auth", 2, |e| e["event"] == "auth")
        .await;
    sim.find("the resend", |e| {
        e["event"] == "sendmsg" && e["text"] == "After expiry"
    })
    .await;
    // An MO as `<clickmo>` XML.
    sim.cmd("mo 27829876543 27831000000 In <XML> & out").await;
    assert_eq!(
        app.inbound().await.content.as_deref(),
        Some("In <XML> & out")
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn the_platform_api_sends_json_and_reads_json_callbacks_and_mo() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        ..
    } = setup(
        &["--callback-format", "json", "--api-key", "k3y"],
        "api = \"platform\"\napi_key = \"k3y\"\nfrom = \"27831000000\"\n",
    )
    .await;
    let mt = app.sms("+27831234567", "Platform 😀");
    app.send(&mt).await;
    let (done, early) = app.outcomes(1).await;
    let sent = sim.expect("the send", |e| e["event"] == "sendmsg").await;
    assert_eq!(
        done[&mt.message_id],
        ("ack", sent["apimsgid"].as_str().unwrap().to_owned())
    );
    assert_eq!(
        (&sent["api"], &sent["text"], &sent["from"]),
        (
            &json!("platform"),
            &json!("Platform 😀"),
            &json!("27831000000")
        )
    );
    let statuses = reports_until_final(&mut app, &mt.message_id, early).await;
    assert_eq!(
        statuses,
        [DeliveryStatus::Pending, DeliveryStatus::Delivered]
    );
    let bad = app.sms("+0831234567", "Bad number");
    app.send(&bad).await;
    let (done, _) = app.outcomes(1).await;
    let (kind, reason) = &done[&bad.message_id];
    assert_eq!(*kind, "nack");
    assert!(
        reason.contains("400") && reason.contains("Invalid recipient"),
        "{reason}"
    );
    sim.cmd("mo 27829876543 27831000000 Reply 👋").await;
    let mo = app.inbound().await;
    assert_eq!(mo.content.as_deref(), Some("Reply 👋"));
    assert_eq!(mo.from_addr.as_deref(), Some("+27829876543"));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_gateway_killed_while_clickatell_holds_a_request_sends_it_again_after_the_restart() {
    let Setup {
        mut sim,
        mut gw,
        mut app,
        ..
    } = setup(&["--statuses", ""], LEGACY).await;
    let (held, _) = kill_while_held(&mut sim, &mut gw, &mut app, "+27831234567").await;
    let again = sim
        .expect("the message sent again", |e| {
            e["event"] == "sendmsg" && e["text"] == "Not lost"
        })
        .await;
    assert_eq!(again["climsgid"], held.message_id.replace('-', ""));
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&held.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_callback_reaching_another_instance_is_matched_through_redis() {
    let id = common::unique("clickatell");
    let addr =
        |port: u16| -> std::net::SocketAddr { format!("127.0.0.1:{port}").parse().expect("addr") };
    let (listen_a, listen_b) = (addr(common::free_port()), addr(common::free_port()));
    let receipts = format!("http://{listen_b}/api/v1/sms/{id}/receipt?secret={SECRET}");
    let mut sim = Sim::start(&["clickatell", "--receipt-url", &receipts, "--statuses", ""]).await;
    let store = format!(
        "[store]\ntype = \"redis\"\nurl = {:?}\nkey_prefix = \"{id}:\"\n",
        common::redis_url()
    );
    // Only A runs while the message is sent: A sends it.
    let mut a = Gateway::start(&gateway_config(&id, sim.addr, listen_a, &store, LEGACY)).await;
    a.wait_ready(200).await;
    let bus = richmond::bus::Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let mt = app.sms("+27831234567", "Sent by A");
    app.send(&mt).await;
    let (done, _) = app.outcomes(1).await;
    let sent = sim.expect("the sendmsg", |e| e["event"] == "sendmsg").await;
    let api_msg_id = sent["apimsgid"].as_str().expect("an id").to_owned();
    assert_eq!(done[&mt.message_id], ("ack", api_msg_id.clone()));
    // B comes up; Clickatell posts the callback (by its own id only) to B.
    let mut b = Gateway::start(&gateway_config(&id, sim.addr, listen_b, &store, LEGACY)).await;
    b.wait_ready(200).await;
    sim.cmd(&format!("receipt {api_msg_id} 004")).await;
    let posted = sim
        .expect("the callback", |e| e["event"] == "receipt_posted")
        .await;
    assert_eq!(posted["answer_status"], 200);
    let statuses = reports_until_final(&mut app, &mt.message_id, Vec::new()).await;
    assert_eq!(statuses, [DeliveryStatus::Delivered]);
    assert_eq!(b.stop().await, Some(0), "{}", b.logs());
    assert_eq!(a.stop().await, Some(0), "{}", a.logs());
}
