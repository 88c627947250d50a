//! End to end through the real `richmond` binary and the real `richmond simulate ssmi`, with a
//! Vumi application on RabbitMQ (and, in-process, on the embedded bus): a full USSD menu, MO
//! and MT SMS with SEQ → ack and DR → delivery_report, nacks, bad lines that leave the link
//! up, a login NACK with messages held until the login succeeds, a dead link detected and
//! recovered, and a remote logout.

use richmond_tests::app;
use richmond_tests::common;
use richmond_tests::procs;

use app::{App, kind};
use procs::{Gateway, Sim};
use richmond::bus::Bus;
use richmond_codecs::vumi::{SessionEvent, UserMessage};

fn config(id: &str, sim: &Sim, bus: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n{bus}\n[transports.{id}]\ntype = \"ssmi\"\n\
         host = \"127.0.0.1\"\nport = {}\nusername = \"richmond\"\npassword = \"richmond\"\n\
         link_check_interval_seconds = 1\nreconnect_initial_seconds = 0.2\n\
         reconnect_max_seconds = 1.0\nresponse_timeout_seconds = 20\nsms_address = \"12345\"\n",
        sim.addr.port()
    )
}

fn amqp_section() -> String {
    format!(
        "[bus]\ntype = \"amqp\"\nurl = {:?}\nreconnect_initial_seconds = 0.1\n\
         reconnect_max_seconds = 1.0",
        common::amqp_url()
    )
}

async fn amqp_setup() -> (Sim, Gateway, App) {
    let id = common::unique("ssmi");
    let sim = Sim::start(&["ssmi", "--dr-delay-ms", "100"]).await;
    let gw = Gateway::start(&config(&id, &sim, &amqp_section())).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    (sim, gw, app)
}

/// The USSD menu of reference/vumi.md §4.8, run by a scripted user in the simulator.
async fn ussd_menu(sim: &mut Sim, app: &mut App) {
    sim.cmd("dial 27831112222 *120*663 1").await;
    let new = app.inbound().await;
    assert_eq!(new.session_event, Some(SessionEvent::New));
    assert_eq!(new.from_addr.as_deref(), Some("+27831112222"));
    assert_eq!(new.to_addr.as_deref(), Some("*120*663#"));
    assert_eq!(
        (new.content.as_deref(), new.transport_type.as_deref()),
        (None, Some("ussd"))
    );
    let menu = new.reply(Some("Welcome\n1. Balance\n2. Exit".into()), true);
    app.send(&menu).await;
    let answer = app.inbound().await;
    assert_eq!(answer.session_event, Some(SessionEvent::Resume));
    assert_eq!(answer.content.as_deref(), Some("1"));
    assert_eq!(
        answer.to_addr.as_deref(),
        Some("*120*663#"),
        "dialled code from the store"
    );
    let bye = answer.reply(Some("Your balance is R10. Bye".into()), false);
    app.send(&bye).await;
    let done = sim
        .expect("the end of the session", |e| {
            e["event"] == "ussd_session_done"
        })
        .await;
    assert_eq!(
        done["transcript"],
        serde_json::json!(["Welcome\n1. Balance\n2. Exit", "Your balance is R10. Bye"])
    );
    for expected in [&menu, &bye] {
        let e = app.event().await;
        assert_eq!(kind(&e), ("ack", expected.message_id.clone()));
        assert_eq!(e.user_message_id, expected.message_id);
    }
}

#[tokio::test]
async fn ussd_menu_sms_receipts_and_bad_lines_over_rabbitmq() {
    let (mut sim, mut gw, mut app) = amqp_setup().await;
    ussd_menu(&mut sim, &mut app).await;

    // MO SMS, text with commas, then binary.
    sim.cmd("mo 27820001111 hello, world").await;
    let mo = app.inbound().await;
    assert_eq!(
        (mo.from_addr.as_deref(), mo.to_addr.as_deref()),
        (Some("+27820001111"), Some("12345"))
    );
    assert_eq!(
        (mo.content.as_deref(), mo.transport_type.as_deref()),
        (Some("hello, world"), Some("sms"))
    );
    sim.cmd("binary-mo 27820001111 68656C6C6F").await;
    let bin = app.inbound().await;
    assert_eq!(bin.content, None);
    assert_eq!(bin.transport_metadata["truteq"]["hex_msg"], "68656c6c6f");

    // MT SMS: SEQ → ack with TruTeq's sequence, DR → delivery_report.
    let mt = app.sms("+27820001111", "Your code is 1234, thanks");
    app.send(&mt).await;
    let seen = sim.expect("the SMS", |e| e["event"] == "sms").await;
    assert_eq!(
        (seen["msisdn"].as_str(), seen["text"].as_str()),
        (Some("27820001111"), Some("Your code is 1234, thanks"))
    );
    let ack = app.event().await;
    assert_eq!(
        kind(&ack),
        ("ack", seen["sequence"].as_str().unwrap().to_owned())
    );
    assert_eq!(ack.user_message_id, mt.message_id);
    let dr = app.event().await;
    assert_eq!(kind(&dr), ("delivery_report", "delivered".to_owned()));
    assert_eq!(dr.user_message_id, mt.message_id);
    assert_eq!(dr.transport_metadata["truteq"]["dr_code"], 0);

    // A failed DR, a TruTeq NACK, and text Latin-1 cannot carry.
    sim.cmd("dr-code 2").await;
    let mt2 = app.sms("+27820001111", "second");
    app.send(&mt2).await;
    assert_eq!(kind(&app.event().await).0, "ack");
    let dr2 = app.event().await;
    assert_eq!(
        (
            kind(&dr2).1.as_str(),
            dr2.transport_metadata["truteq"]["dr_status"].as_str()
        ),
        ("failed", Some("sim_full"))
    );
    sim.cmd("nack-sms 3").await;
    let refused = app.sms("+27820001111", "refused");
    app.send(&refused).await;
    let nack = app.event().await;
    assert_eq!(nack.user_message_id, refused.message_id);
    assert!(kind(&nack).1.contains("NACK 3"), "{nack:?}");
    let snowman = app.sms("+27820001111", "\u{2603}");
    app.send(&snowman).await;
    let nack = app.event().await;
    assert_eq!(
        (kind(&nack).0, nack.user_message_id.as_str()),
        ("nack", snowman.message_id.as_str())
    );
    assert!(kind(&nack).1.contains("Latin-1"), "{nack:?}");

    // Bad lines from the server: counted, the link stays up, traffic goes on.
    for bad in ["garbage", "unknown", "short"] {
        sim.cmd(bad).await;
    }
    sim.cmd("mo 27820001111 still here").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("still here"));
    assert_eq!(
        sim.count(|e| e["event"] == "disconnected"),
        0,
        "{:?}",
        sim.seen
    );
    assert_eq!(sim.count(|e| e["event"] == "login"), 1);
    let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
    assert!(
        metrics.contains("richmond_ssmi_rejected_lines_total"),
        "{metrics}"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn login_nack_backs_off_and_outbound_waits_for_the_link() {
    let id = common::unique("ssmi");
    let mut sim = Sim::start(&["ssmi"]).await;
    sim.cmd("reject-logins on").await;
    let mut gw = Gateway::start(&config(&id, &sim, &amqp_section())).await;
    sim.expect("a refused login", |e| {
        e["event"] == "login" && e["ok"] == false
    })
    .await;
    let body = gw.wait_ready(503).await;
    assert!(body.contains(&format!("transport:{id}")), "{body}");
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let held: Vec<UserMessage> = (0..3)
        .map(|i| app.sms("+27820002222", &format!("held {i}")))
        .collect();
    for m in &held {
        app.send(m).await;
    }
    sim.expect("a second refused login", |e| {
        e["event"] == "login" && e["ok"] == false
    })
    .await;
    sim.cmd("reject-logins off").await;
    sim.expect("a login", |e| e["event"] == "login" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let mut acked = Vec::new();
    while acked.len() < held.len() {
        let e = app.event().await;
        if kind(&e).0 == "ack" {
            acked.push(e.user_message_id.clone());
        }
    }
    acked.sort();
    let mut want: Vec<String> = held.iter().map(|m| m.message_id.clone()).collect();
    want.sort();
    assert_eq!(acked, want, "each held message acked exactly once");
    sim.expect_total("the held SMS", 3, |e| e["event"] == "sms")
        .await;
    assert!(gw.logs().contains("refused the login"), "{}", gw.logs());
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn dead_link_and_remote_logout_are_recovered_without_losing_outbound() {
    let (mut sim, mut gw, mut app) = amqp_setup().await;
    sim.expect("a link check", |e| e["event"] == "link_check")
        .await;
    sim.cmd("silence").await;
    // Sent into the silent link: each gets exactly one outcome — delivered on the new link
    // (ack) or reported as unanswered (nack) — never nothing.
    let sent: Vec<UserMessage> = (0..3)
        .map(|i| app.sms("+27820003333", &format!("m{i}")))
        .collect();
    for m in &sent {
        app.send(m).await;
    }
    sim.expect("the reconnect", |e| e["event"] == "disconnected")
        .await;
    sim.expect("a new login", |e| e["event"] == "login" && e["ok"] == true)
        .await;
    let mut outcomes = std::collections::BTreeMap::new();
    while outcomes.len() < sent.len() {
        let e = app.event().await;
        if matches!(kind(&e).0, "ack" | "nack") {
            assert!(
                outcomes
                    .insert(e.user_message_id.clone(), kind(&e))
                    .is_none(),
                "twice: {e:?}"
            );
        }
    }
    // Each ack carries the sequence of an SMS the simulator received on the new link.
    for (k, sequence) in outcomes.values().filter(|(k, _)| *k == "ack") {
        let pred =
            |e: &serde_json::Value| e["event"] == "sms" && e["sequence"] == sequence.as_str();
        sim.expect_total(&format!("the {k}ed SMS {sequence}"), 1, pred)
            .await;
    }

    // Remote logout: the gateway reconnects and logs in again; traffic flows.
    sim.cmd("logout").await;
    sim.expect("a login after the logout", |e| {
        e["event"] == "login" && e["ok"] == true
    })
    .await;
    gw.wait_ready(200).await;
    sim.cmd("mo 27820003333 back").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("back"));
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn ussd_menu_and_sms_over_the_embedded_bus() {
    use richmond::bus::embedded::EmbeddedBus;
    use richmond::config::Config;
    use richmond::store::Store;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    let id = common::unique("ssmi");
    let mut sim = Sim::start(&["ssmi", "--dr-delay-ms", "50"]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config(&id, &sim, "[bus]\ntype = \"embedded\"")
        .replace("{admin}", "127.0.0.1:0")
        .replace("{data_dir}", &dir.path().display().to_string());
    let path = dir.path().join("richmond.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path, std::iter::empty::<(String, String)>()).expect("config");
    let richmond::config::BusConfig::Embedded(e) = &config.bus else {
        panic!("embedded")
    };
    let bus = Bus::Embedded(EmbeddedBus::open(&config.data_dir, e).expect("spool"));
    let store = Store::open(&config).await.expect("store");
    let readiness = richmond::admin::Readiness::default();
    let ctx = richmond::transport::Context {
        bus: bus.clone(),
        store,
        readiness,
        cluster: Default::default(),
    };
    let (tracker, intake) = (TaskTracker::new(), CancellationToken::new());
    let mut app = App::new(bus.clone(), &id).await;
    richmond::transport::spawn_all(&config.transports, &ctx, &tracker, &intake).expect("spawn");
    sim.expect("a login", |e| e["event"] == "login" && e["ok"] == true)
        .await;

    ussd_menu(&mut sim, &mut app).await;
    // The application ended the session (its ack came after): the dialled code is gone.
    let session = format!("ssmi:{id}:ussd:27831112222");
    assert_eq!(ctx.store.get(&session).await.expect("store"), None);
    let mt = app.sms("+27820004444", "over the spool");
    app.send(&mt).await;
    assert_eq!(kind(&app.event().await).0, "ack");
    assert_eq!(
        kind(&app.event().await),
        ("delivery_report", "delivered".to_owned())
    );
    // The report matched its SEQ mapping, so the mapping's job is done: it is deleted (just
    // after the publish, hence awaited).
    let Store::Redb(redb) = &ctx.store else {
        panic!("the default store is redb")
    };
    let deadline = tokio::time::Instant::now() + procs::PATIENCE;
    loop {
        let (_, kinds) = redb.purge_and_count().await.expect("store");
        if kinds.get("ssmi:dr").copied().unwrap_or(0) == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the DR mapping outlived its report: {kinds:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    intake.cancel();
    tracker.close();
    tokio::time::timeout(procs::PATIENCE, tracker.wait())
        .await
        .expect("transport drains");
    sim.expect("the logout", |e| e["event"] == "logout").await;
    bus.close().await;
}

#[tokio::test]
async fn a_delivery_report_in_the_same_write_as_its_seq_is_matched() {
    let id = common::unique("ssmi");
    // --dr-delay-ms 0: each SEQ and its report leave the simulator in one TCP write.
    let sim = Sim::start(&["ssmi", "--dr-delay-ms", "0"]).await;
    let mut gw = Gateway::start(&config(&id, &sim, &amqp_section())).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let mut sent = Vec::new();
    for i in 0..20 {
        let mt = app.sms(&format!("+2782000{:04}", 5000 + i), "fast report");
        app.send(&mt).await;
        sent.push(mt.message_id);
    }
    let (done, reports) = app.outcomes(sent.len()).await;
    for id in &sent {
        assert_eq!(done.get(id).map(|d| d.0), Some("ack"), "{id}: {done:?}");
    }
    // Every report reaches the bus, none is dropped as unknown.
    let mut reports = reports;
    while reports.len() < sent.len() {
        let e = app.event().await;
        assert_eq!(kind(&e).0, "delivery_report", "{e:?}");
        reports.push(e);
    }
    let mut matched: Vec<&str> = reports.iter().map(|r| r.user_message_id.as_str()).collect();
    matched.sort_unstable();
    let mut want: Vec<&str> = sent.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(matched, want);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_late_nack_for_a_timed_out_sms_does_not_fail_the_next_one() {
    let id = common::unique("ssmi");
    let mut sim = Sim::start(&["ssmi", "--dr-delay-ms", "100"]).await;
    let text = config(&id, &sim, &amqp_section()).replace(
        "response_timeout_seconds = 20",
        "response_timeout_seconds = 1",
    );
    let mut gw = Gateway::start(&text).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    sim.cmd_done("seq off").await;
    // A gets no answer in time: nacked.
    let a = app.sms("+27820006001", "first");
    app.send(&a).await;
    let e = app.event().await;
    assert_eq!(e.user_message_id, a.message_id);
    assert_eq!(kind(&e).0, "nack");
    // B is written and waiting when TruTeq's NACK for A finally comes.
    let b = app.sms("+27820006002", "second");
    app.send(&b).await;
    sim.expect("B at the simulator", |e| {
        e["event"] == "sms" && e["msisdn"] == "27820006002"
    })
    .await;
    sim.cmd_done("line SSMI,102,1").await;
    // B's fate is its own: no answer in time (not TruTeq's NACK meant for A).
    let e = app.event().await;
    assert_eq!(e.user_message_id, b.message_id);
    let (k, reason) = kind(&e);
    assert_eq!(k, "nack");
    assert!(reason.contains("no answer"), "{reason}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
