//! A router between an SMPP transport (bound to `richmond simulate smsc`) and two Vumi
//! applications on RabbitMQ, through the real binary: keywords pick the application (`JOIN`
//! and `join now` reach one, `joinme` the default), replies go back through the transport,
//! each application gets the events of its own messages and not the other's, and what has
//! nowhere to go lands in the router's failures with its reason; a router killed with SIGKILL
//! mid-stream loses nothing; a router holds a pool message while its Redis store is down; a
//! delivery report after a restart, or at another instance sharing Redis, finds its
//! application.

use richmond_tests::app::{App, kind};
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

use richmond::bus::{Bus, Consumer};
use richmond_codecs::vumi::{FailureMessage, UserMessage};

pub(crate) fn config(
    t: &str,
    router: &str,
    quiz: &str,
    news: &str,
    port: u16,
    default: bool,
) -> String {
    let default = if default {
        format!("default = \"{news}\"\n")
    } else {
        String::new()
    };
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n\
         [routers.{router}]\ntransports = [\"{t}\"]\napplications = [\"{quiz}\", \"{news}\"]\n\
         {default}\
         [[routers.{router}.rules]]\napplication = \"{quiz}\"\nkeywords = [\"join\", \"quiz\"]\n",
        common::amqp_url()
    )
}

async fn setup(default: bool) -> (Sim, Gateway, App, App, String, Bus) {
    let (t, router) = (common::unique("rt"), common::unique("router"));
    let (quiz, news) = (common::unique("quiz"), common::unique("news"));
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let gw = Gateway::start(&config(&t, &router, &quiz, &news, sim.addr.port(), default)).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let quiz = App::routed(bus.clone(), &quiz, &t).await;
    let news = App::routed(bus.clone(), &news, &t).await;
    (sim, gw, quiz, news, router, bus)
}

/// Waits for message `id`'s delivery report, unless `early` (the reports read with its
/// outcome) holds it; every event read must be `id`'s (no other application's).
async fn await_report(app: &mut App, id: &str, early: &[richmond_codecs::vumi::Event]) {
    for e in early {
        assert_eq!(
            e.user_message_id, id,
            "another app's event reached {}",
            app.id
        );
    }
    if early.iter().any(|e| kind(e).0 == "delivery_report") {
        return;
    }
    loop {
        let e = app.event().await;
        assert_eq!(
            e.user_message_id, id,
            "another app's event reached {}",
            app.id
        );
        if kind(&e).0 == "delivery_report" {
            return;
        }
    }
}

#[tokio::test]
async fn keywords_pick_the_application_and_replies_and_events_go_back_to_their_sender() {
    let (mut sim, mut gw, mut quiz, mut news, _router, _bus) = setup(true).await;
    for text in ["JOIN", "join now", "Quiz me"] {
        sim.cmd(&format!("mo 27820001111 555 {text}")).await;
        let got = quiz.inbound().await;
        assert_eq!(got.content.as_deref(), Some(text));
    }
    // Whole words only: `joinme` is not `join`; it goes to the default.
    sim.cmd("mo 27820001111 555 joinme").await;
    let other = news.inbound().await;
    assert_eq!(other.content.as_deref(), Some("joinme"));

    // Each answers; the reply goes out through the transport it came in on.
    let q = other.reply(Some("news reply".into()), false);
    news.send(&q).await;
    let asked = UserMessage::new(
        &quiz.transport,
        "sms",
        "555",
        "+27820001111",
        Some("quiz reply".into()),
    );
    quiz.send(&asked).await;
    for text in ["news reply", "quiz reply"] {
        sim.find("the reply at the SMSC", |e| {
            e["event"] == "message" && e["text"] == text
        })
        .await;
    }
    // Acks and delivery reports come back to the application that sent the message only.
    // (A report may come before its ack: the two are published independently.)
    let (quiz_done, quiz_early) = quiz.outcomes(1).await;
    assert_eq!(quiz_done[&asked.message_id].0, "ack", "{quiz_done:?}");
    let (news_done, news_early) = news.outcomes(1).await;
    assert_eq!(news_done[&q.message_id].0, "ack", "{news_done:?}");
    await_report(&mut quiz, &asked.message_id, &quiz_early).await;
    await_report(&mut news, &q.message_id, &news_early).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

async fn next_failure(failures: &mut Consumer) -> FailureMessage {
    let d = tokio::time::timeout(richmond_tests::procs::PATIENCE, failures.next())
        .await
        .expect("a failure in time")
        .expect("consumer open");
    let f = FailureMessage::decode(&d.body).expect("a Vumi failure message");
    d.ack().await.expect("ack");
    f
}

fn reason(f: &FailureMessage) -> &str {
    f.reason.as_deref().unwrap_or("")
}

#[tokio::test]
async fn what_has_nowhere_to_go_lands_in_the_routers_failures_with_its_reason() {
    let (mut sim, mut gw, mut quiz, news, router, bus) = setup(false).await;
    let mut failures = bus
        .consume(&format!("{router}.failures"))
        .await
        .expect("consume the router's failures");
    // No rule and no default.
    sim.cmd("mo 27820001111 555 hello").await;
    let f = next_failure(&mut failures).await;
    assert!(reason(&f).contains("no rule matches"), "{f:?}");
    assert_eq!(f.message["content"], "hello", "{f:?}");
    // A message the application starts, naming no transport of the router (none configured).
    let own = UserMessage::new(&news.id, "sms", "555", "+27820001111", Some("lost?".into()));
    news.send(&own).await;
    let f = next_failure(&mut failures).await;
    assert!(reason(&f).contains("names no transport"), "{f:?}");
    assert_eq!(f.message["message_id"], own.message_id.as_str(), "{f:?}");
    // The routed path still works after both.
    sim.cmd("mo 27820001111 555 join").await;
    assert_eq!(quiz.inbound().await.content.as_deref(), Some("join"));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_router_killed_mid_stream_loses_nothing() {
    let (t, router, quiz) = (
        common::unique("rt"),
        common::unique("router"),
        common::unique("quiz"),
    );
    let news = common::unique("news");
    let sim = Sim::start(&["smsc"]).await;
    let text = config(&t, &router, &quiz, &news, sim.addr.port(), false);
    let mut gw = Gateway::start(&text).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    bus.declare_transport(&t).await.expect("declare");
    let mut app = App::routed(bus.clone(), &quiz, &t).await;
    // The transport's inbound stream, as the transport would publish it, going on while the
    // router is killed and restarted.
    let n = 300;
    let msgs: Vec<UserMessage> = (0..n)
        .map(|i| UserMessage::new(&t, "sms", "+27820001111", "555", Some(format!("join {i}"))))
        .collect();
    let sent: std::collections::BTreeSet<String> =
        msgs.iter().map(|m| m.message_id.clone()).collect();
    let publisher = {
        let (bus, key) = (bus.clone(), format!("{t}.inbound"));
        tokio::spawn(async move {
            for m in msgs {
                bus.publish(&key, m.encode().into()).await.expect("publish");
            }
        })
    };
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..n / 10 {
        *seen.entry(app.inbound().await.message_id).or_default() += 1;
    }
    // SIGKILL mid-stream: no drain, no goodbye.
    gw.child
        .as_mut()
        .expect("running")
        .start_kill()
        .expect("SIGKILL");
    let _ = gw.child.as_mut().expect("running").wait().await;
    let mut again = Gateway::start(&text).await;
    again.wait_ready(200).await;
    while !sent.iter().all(|id| seen.contains_key(id)) {
        *seen.entry(app.inbound().await.message_id).or_default() += 1;
    }
    publisher.await.expect("the publisher");
    assert!(
        seen.keys().all(|id| sent.contains(id)),
        "only what was sent"
    );
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    eprintln!("router SIGKILL: {n} messages, {duplicates} duplicates (at-least-once)");
    assert_eq!(again.stop().await, Some(0), "{}", again.logs());
}

/// A Redis server of this test's own, on `port`, so it can be stopped without touching the
/// one the other tests share.
fn own_redis(port: u16) -> tokio::process::Child {
    tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server")
}

#[tokio::test]
async fn a_router_holds_outbound_while_its_redis_store_is_down() {
    let port = common::free_port();
    let mut redis = own_redis(port);
    let (t, router) = (common::unique("rr"), common::unique("rrouter"));
    let (quiz, news) = (common::unique("rquiz"), common::unique("rnews"));
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    // Two applications, `news` sending through a pool of two transports (each to its own
    // simulator: a receipt goes to the transport that sent its message): the router keeps
    // the message itself for a failover, in its store.
    let t2 = common::unique("rr2");
    let sim2 = Sim::start(&["smsc"]).await;
    let base = config(&t, &router, &quiz, &news, sim.addr.port(), true)
        .replace(
            &format!("default = \"{news}\"\n"),
            &format!("default = \"{news}\"\nmt_transport = {{ {news} = [\"{t}\", \"{t2}\"] }}\n"),
        )
        .replace(
            &format!("transports = [\"{t}\"]"),
            &format!("transports = [\"{t}\", \"{t2}\"]"),
        );
    let config = format!(
        "{base}[store]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}/\"\n\
         [transports.{t2}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n",
        sim2.addr.port()
    );
    let mut gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &news).await;
    // The store goes away: the router cannot keep the pool message, so it holds it.
    redis.start_kill().expect("stop redis");
    let _ = redis.wait().await;
    let body = gw.wait_ready(503).await;
    assert!(body.contains("store"), "{body}");
    let held = app.sms("+27820009999", "sent while the store was down");
    app.send(&held).await;
    // It comes back (empty): the message goes out, and its events find the application.
    let _redis = own_redis(port);
    gw.wait_ready(200).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&held.message_id].0, "ack", "{done:?}");
    sim.find("the held message at the SMSC", |e| {
        e["event"] == "message" && e["text"] == "sent while the store was down"
    })
    .await;
    await_report(&mut app, &held.message_id, &early).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

/// A router with two applications writes nothing to its store for a message it hands to a
/// transport of its own process: the delivery report finds its application through the tag
/// the transport keeps with its receipt id mapping — after a restart of the gateway (redb),
/// or at another gateway instance sharing the Redis store (the first one gone).
async fn report_after_a_handover(shared_redis: bool) {
    let (t, router) = (common::unique("rt"), common::unique("router"));
    let (quiz, news) = (common::unique("quiz"), common::unique("news"));
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let mut text = config(&t, &router, &quiz, &news, sim.addr.port(), true);
    if shared_redis {
        text.push_str(&format!(
            "[store]\ntype = \"redis\"\nurl = {:?}\n",
            common::redis_url()
        ));
    }
    let mut gw = Gateway::start(&text).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let _quiz = App::routed(bus.clone(), &quiz, &t).await;
    let mut news = App::routed(bus, &news, &t).await;
    sim.cmd_done("hold-receipts on").await;
    let sent = news.sms("+27820002222", "receipt after a handover");
    news.send(&sent).await;
    let (done, _) = news.outcomes(1).await;
    assert_eq!(done[&sent.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    // The same gateway again (its redb store), or another one with a data directory of its
    // own (only Redis is shared).
    let mut next = if shared_redis {
        Gateway::start(&text).await
    } else {
        gw.restart();
        gw
    };
    next.wait_ready(200).await;
    sim.expect("a bind again", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    sim.cmd_done("hold-receipts off").await;
    let report = loop {
        let e = news.event().await;
        assert_eq!(e.user_message_id, sent.message_id);
        if kind(&e).0 == "delivery_report" {
            break e;
        }
    };
    assert_eq!(
        report.routing_metadata.get("richmond_route"),
        Some(&serde_json::json!(format!("{router}/{}", news.id))),
        "{report:?}"
    );
    assert_eq!(next.stop().await, Some(0), "{}", next.logs());
}

#[tokio::test]
async fn a_delivery_report_after_a_restart_finds_its_application_through_the_transports_mapping() {
    report_after_a_handover(false).await;
}

#[tokio::test]
async fn a_delivery_report_at_another_instance_sharing_redis_finds_its_application() {
    report_after_a_handover(true).await;
}
