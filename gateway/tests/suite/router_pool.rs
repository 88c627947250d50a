//! A router's `mt_transport` pool over two SMPP transports, each bound to its own
//! `richmond simulate smsc`, through the real binary on RabbitMQ: round robin spreads an
//! application's messages over both links and keeps every part of a long message on one;
//! failover sends a message refused with a temporary status to the other link (the
//! application sees only the ack), passes a permanent refusal on as a nack, passes the last
//! temporary nack on when every link refused, and skips a link that is down.

use richmond::bus::Bus;
use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

struct Pool {
    a: Sim,
    b: Sim,
    gw: Gateway,
    app: App,
}

fn smpp(t: &str, port: u16) -> String {
    format!(
        "[transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.1\n\
         reconnect_max_seconds = 0.5\n"
    )
}

async fn setup(strategy: &str) -> Pool {
    let (ta, tb) = (common::unique("pa"), common::unique("pb"));
    let (router, app) = (common::unique("pool"), common::unique("news"));
    let mut a = Sim::start(&["smsc"]).await;
    let mut b = Sim::start(&["smsc"]).await;
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n{}{}\
         [routers.{router}]\ntransports = [\"{ta}\", \"{tb}\"]\napplications = [\"{app}\"]\n\
         default = \"{app}\"\nmt_strategy = \"{strategy}\"\n\
         mt_transport = {{ {app} = [\"{ta}\", \"{tb}\"] }}\n",
        common::amqp_url(),
        smpp(&ta, a.addr.port()),
        smpp(&tb, b.addr.port()),
    );
    let gw = Gateway::start(&config).await;
    for sim in [&mut a, &mut b] {
        sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
            .await;
    }
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &app).await;
    Pool { a, b, gw, app }
}

fn submitted(e: &serde_json::Value) -> bool {
    e["event"] == "submit_sm"
}

#[tokio::test]
async fn round_robin_spreads_messages_and_keeps_the_parts_of_one_on_one_link() {
    let mut p = setup("round_robin").await;
    for i in 0..4 {
        p.app
            .send(&p.app.sms("+27820000001", &format!("rr {i}")))
            .await;
    }
    let (done, _) = p.app.outcomes(4).await;
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    // Four messages in turn over two links: two each (three on one would leave the other
    // one short, and this wait would fail).
    p.a.expect_total("two messages on link a", 2, submitted)
        .await;
    p.b.expect_total("two messages on link b", 2, submitted)
        .await;

    // A long message (three parts) is one Vumi message: every part on the same link (the
    // fifth turn: a), where the simulator puts it back together.
    let long = "x".repeat(400);
    p.app.send(&p.app.sms("+27820000002", &long)).await;
    let (done, _) = p.app.outcomes(1).await;
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    let whole = |e: &serde_json::Value| e["event"] == "message" && e["parts"] == 3;
    let e = p.a.find("the long message reassembled on a", whole).await;
    assert_eq!(e["text"], long.as_str());
    assert_eq!(p.gw.stop().await, Some(0), "{}", p.gw.logs());
}

#[tokio::test]
async fn failover_on_a_temporary_refusal_and_on_a_link_that_is_down() {
    let mut p = setup("failover").await;
    // ESME_RSYSERR on a: a passing fault; the message goes to b, the app sees only the ack.
    p.a.cmd_done("reject 1 0x08").await;
    let first = p.app.sms("+27820000003", "temporary on a");
    p.app.send(&first).await;
    let (done, _) = p.app.outcomes(1).await;
    assert_eq!(done[&first.message_id].0, "ack", "{done:?}");
    p.a.find("the refused submit on a", submitted).await;
    let e = p.b.find("the message on b", submitted).await;
    assert_eq!(e["text"], "temporary on a");

    // ESME_RINVDSTADR is for good: the nack reaches the app, b is not tried.
    p.a.cmd_done("reject 1 0x0B").await;
    let second = p.app.sms("+27820000004", "permanent on a");
    p.app.send(&second).await;
    let (done, _) = p.app.outcomes(1).await;
    let (kind, reason) = &done[&second.message_id];
    assert_eq!(*kind, "nack");
    assert!(reason.contains("ESME_RINVDSTADR"), "{reason}");

    // Both refuse for a passing fault: the last nack reaches the app.
    p.a.cmd_done("reject 1 0x08").await;
    p.b.cmd_done("reject 1 0x45").await;
    let third = p.app.sms("+27820000005", "temporary on both");
    p.app.send(&third).await;
    let (done, _) = p.app.outcomes(1).await;
    let (kind, reason) = &done[&third.message_id];
    assert_eq!(*kind, "nack");
    assert!(reason.contains("ESME_RSUBMITFAIL"), "{reason}");
    // b saw the first and the third message, not the second (which it would have seen
    // before the third).
    p.b.find("the third message on b", |e| {
        submitted(e) && e["text"] == "temporary on both"
    })
    .await;
    let second_on_b = p.b.count(|e| submitted(e) && e["text"] == "permanent on a");
    assert_eq!(second_on_b, 0, "a permanent refusal was failed over");

    // a goes away: once the gateway sees its link down, messages go to b.
    drop(p.a);
    p.gw.wait_ready(503).await;
    let fourth = p.app.sms("+27820000006", "a is down");
    p.app.send(&fourth).await;
    let (done, _) = p.app.outcomes(1).await;
    assert_eq!(done[&fourth.message_id].0, "ack", "{done:?}");
    p.b.find("the message on b", |e| {
        submitted(e) && e["text"] == "a is down"
    })
    .await;
    assert_eq!(p.gw.stop().await, Some(0), "{}", p.gw.logs());
}
