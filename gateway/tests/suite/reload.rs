//! SIGHUP (issue 23 point 5): a router's rules are read again from the file and applied
//! without dropping the SMSC link; a file that does not load leaves the running rules.

use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

use richmond::bus::Bus;

fn hup(gw: &Gateway) {
    let pid = gw.child.as_ref().and_then(|c| c.id()).expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits until the gateway's log has `count` lines containing `text`.
async fn logged(gw: &Gateway, text: &str, count: usize) {
    common::wait_until(text, || gw.logs().matches(text).count() >= count).await;
}

#[tokio::test]
async fn sighup_reloads_a_routers_rules_without_dropping_the_link() {
    let (t, router) = (common::unique("rl"), common::unique("router"));
    let (quiz_id, news_id) = (common::unique("quiz"), common::unique("news"));
    let mut sim = Sim::start(&["smsc"]).await;
    let port = sim.addr.port();
    // The router suite's configuration: "join" and "quiz" go to quiz, the rest to news.
    let config = super::router::config(&t, &router, &quiz_id, &news_id, port, true);
    let gw = Gateway::start(&config).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut quiz = App::routed(bus.clone(), &quiz_id, &t).await;
    let mut news = App::routed(bus.clone(), &news_id, &t).await;

    sim.cmd("mo 27820001111 555 hello one").await;
    assert_eq!(news.inbound().await.content.as_deref(), Some("hello one"));

    // "hello" now belongs to quiz.
    let path = gw.dir.path().join("richmond.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let more = text.replace("[\"join\", \"quiz\"]", "[\"join\", \"quiz\", \"hello\"]");
    assert_ne!(more, text);
    std::fs::write(&path, more).unwrap();
    hup(&gw);
    logged(&gw, "SIGHUP: reloaded", 1).await;
    sim.cmd("mo 27820001111 555 hello two").await;
    assert_eq!(quiz.inbound().await.content.as_deref(), Some("hello two"));

    // A file that does not load changes nothing.
    std::fs::write(&path, "this is not toml [").unwrap();
    hup(&gw);
    logged(&gw, "SIGHUP: the configuration does not load", 1).await;
    sim.cmd("mo 27820001111 555 hello three").await;
    assert_eq!(quiz.inbound().await.content.as_deref(), Some("hello three"));

    // Nothing was restarted: the transport's one bind never went down.
    let (_, m) = common::http_get(gw.admin, "/metrics").await.unwrap();
    let ended = m
        .lines()
        .any(|l| l.starts_with("richmond_smpp_unbinds_total") && l.contains(&t));
    assert!(!ended, "{m}");
}
