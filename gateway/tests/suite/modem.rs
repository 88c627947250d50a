//! End to end through the real `richmond` binary driving `richmond simulate modem` (a scripted
//! modem on a pty, opened with tokio-serial like a USB stick), with a Vumi application on
//! RabbitMQ: SMS both ways in GSM-7 and UCS2 (emoji), single and multipart, with ack and
//! delivery_report events; a multipart MO whose last parts never come; a USSD menu session;
//! `+CMS ERROR`s (permanent → nack, transient → retried); a full SIM; a PIN entered once and a
//! wrong PIN never retried; and modems that hang until ESC or until the device is reopened,
//! losing no message either way (reference/modem.md §2.9).

use richmond_tests::app;
use richmond_tests::common;
use richmond_tests::procs;

use std::collections::BTreeMap;

use app::{App, kind};
use procs::{Gateway, Sim};
use richmond::bus::Bus;
use richmond_codecs::vumi::{SessionEvent, UserMessage};
use serde_json::Value;

fn config(id: &str, device: &str, extra: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"modem\"\ndevice = {device:?}\n\
         msisdn = \"+27830000001\"\ncommand_timeout_seconds = 2\nprompt_timeout_seconds = 2\n\
         send_timeout_seconds = 10\nreopen_initial_seconds = 1\nreopen_max_seconds = 2\n\
         retry_backoff_seconds = 0.2\nmultipart_timeout_seconds = 3\n{extra}",
        common::amqp_url()
    )
}

async fn setup(sim_args: &[&str], extra: &str) -> (Sim, Gateway, App) {
    let id = common::unique("modem");
    let sim = Sim::start_modem(sim_args).await;
    let gw = Gateway::start(&config(&id, &sim.address, extra)).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    (sim, gw, app)
}

/// Reads every event the simulator printed so far (it answers a command after them).
async fn pump(sim: &mut Sim) {
    sim.cmd_done("noise off").await;
}

/// The text the simulated network received for each concatenation reference (or single SMS).
fn sent_texts(sim: &Sim) -> Vec<String> {
    let mut whole: BTreeMap<(u64, String), Vec<(u64, String)>> = BTreeMap::new();
    let mut singles = Vec::new();
    for e in sim.seen.iter().filter(|e| e["event"] == "sent") {
        let text = e["text"].as_str().unwrap_or_default().to_owned();
        match &e["concat"] {
            Value::Null => singles.push(text),
            c => whole
                .entry((c["ref"].as_u64().unwrap(), e["to"].to_string()))
                .or_default()
                .push((c["seq"].as_u64().unwrap(), text)),
        }
    }
    for (_, mut parts) in whole {
        parts.sort();
        singles.push(parts.into_iter().map(|p| p.1).collect());
    }
    singles
}

/// Reads delivery reports until every id in `ids` has one.
async fn reports_for(
    app: &mut App,
    mut early: Vec<richmond_codecs::vumi::Event>,
    ids: &[&str],
) -> BTreeMap<String, String> {
    let mut got = BTreeMap::new();
    while ids.iter().any(|id| !got.contains_key(*id)) {
        let e = if early.is_empty() {
            app.event().await
        } else {
            early.remove(0)
        };
        let (k, status) = kind(&e);
        assert_eq!(k, "delivery_report", "{e:?}");
        assert!(
            got.insert(e.user_message_id.clone(), status).is_none(),
            "two reports for {}",
            e.user_message_id
        );
    }
    got
}

#[tokio::test]
async fn sms_both_ways_in_gsm7_and_ucs2_single_and_multipart_with_acks_and_reports() {
    let (mut sim, mut gw, mut app) = setup(&[], "").await;
    let long = "A long message in GSM-7 with {braces} and €uro ".repeat(8);
    let long = long.trim_end();
    let emoji = "Emoji 😃😎 and Привет ".repeat(5);
    let emoji = emoji.trim_end();
    let msgs = [
        app.sms("+27820001111", "Hello @ {world}"),
        app.sms("+27820001111", "Привет 👋"),
        app.sms("+27820002222", long),
        app.sms("0820003333", emoji),
    ];
    for m in &msgs {
        app.send(m).await;
    }
    let (done, early) = app.outcomes(msgs.len()).await;
    for m in &msgs {
        let (k, refs) = &done[&m.message_id];
        assert_eq!(*k, "ack", "{done:?}");
        assert!(refs.split(',').all(|r| r.parse::<u8>().is_ok()), "{refs}");
    }
    // Every part went out once, and the parts join to the texts.
    pump(&mut sim).await;
    let mut sent = sent_texts(&sim);
    sent.sort();
    let mut want: Vec<String> = msgs.iter().map(|m| m.content.clone().unwrap()).collect();
    want.sort();
    assert_eq!(sent, want);
    let dcs: Vec<u64> = sim
        .seen
        .iter()
        .filter(|e| e["event"] == "sent")
        .map(|e| e["dcs"].as_u64().unwrap())
        .collect();
    assert!(dcs.contains(&0) && dcs.contains(&8), "{dcs:?}");
    // One delivery report per message, the multipart ones combined.
    let ids: Vec<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
    let reports = reports_for(&mut app, early, &ids).await;
    assert!(reports.values().all(|s| s == "delivered"), "{reports:?}");

    // MO: single, UCS2 with emoji, multipart (8-bit and 16-bit references, parts in reverse).
    let mo = [
        ("mo", "+27821110000", "Hi there {x} €5".to_owned()),
        ("mo", "+27821110001", "Ça va? 😃👍".to_owned()),
        ("mo", "+27821110002", "Part of a long one. ".repeat(12)),
        ("mo16", "+27821110003", "Sixteen-bit reference. ".repeat(9)),
        (
            "mo-reversed",
            "+27821110004",
            "Backwards parts 😃 ".repeat(10),
        ),
    ];
    for (verb, from, text) in &mo {
        sim.cmd_done(&format!("{verb} {from} {text}")).await;
    }
    let mut got = BTreeMap::new();
    for _ in 0..mo.len() {
        let m = app.inbound().await;
        assert_eq!(m.transport_type.as_deref(), Some("sms"));
        assert_eq!(m.to_addr.as_deref(), Some("+27830000001"));
        assert!(m.transport_metadata.contains_key("modem_imei"), "{m:?}");
        got.insert(m.from_addr.clone().unwrap(), m.content.clone().unwrap());
    }
    for (_, from, text) in &mo {
        assert_eq!(got[*from].trim_end(), text.trim_end(), "from {from}");
    }
    // Every stored part is deleted once the bus owns its message.
    let parts: u64 = sim
        .seen
        .iter()
        .filter(|e| e["event"] == "mo")
        .map(|e| e["parts"].as_u64().unwrap())
        .sum();
    sim.expect_total("deletes", usize::try_from(parts).unwrap(), |e| {
        e["event"] == "deleted"
    })
    .await;
    assert_eq!(gw.stop().await, Some(0));
    // Every report published and every MO joined: the entries whose job that was are gone
    // from the store (the dedup keys of read messages stay for their lifetime).
    let path = gw.dir.path().join("data").join("store.redb");
    assert!(path.exists(), "{}", path.display());
    let store = richmond::store::redb::RedbStore::open(&path).expect("the stopped gateway's store");
    let (_, kinds) = store.purge_and_count().await.expect("store");
    assert!(
        kinds.get("modem:seen").copied().unwrap_or(0) > 0,
        "{kinds:?}"
    );
    for kind in ["modem:dr", "modem:drparts", "modem:progress", "modem:mp"] {
        assert_eq!(
            kinds.get(kind).copied().unwrap_or(0),
            0,
            "{kind}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn failed_reports_cms_errors_retries_and_a_multipart_that_never_completes() {
    let (mut sim, mut gw, mut app) = setup(&[], "").await;
    sim.cmd_done("report-status 46").await;
    sim.cmd_done("cms-error 21 1").await;
    let refused = app.sms("+27820004444", "refused by the network");
    app.send(&refused).await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&refused.message_id].0, "nack");
    assert!(done[&refused.message_id].1.contains("21"), "{done:?}");
    // A transient error (42, congestion) is retried: one ack, the text sent once.
    sim.cmd_done("cms-error 42 1").await;
    let retried = app.sms("+27820004444", "congested, then sent");
    app.send(&retried).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&retried.message_id].0, "ack", "{done:?}");
    pump(&mut sim).await;
    assert_eq!(
        sent_texts(&sim)
            .iter()
            .filter(|t| *t == "congested, then sent")
            .count(),
        1
    );
    let reports = reports_for(&mut app, early, &[&retried.message_id]).await;
    assert_eq!(reports[&retried.message_id], "failed");

    // Only the first of three parts ever comes: after the multipart timeout it is delivered,
    // flagged.
    let text = "Only the first part of this arrives. ".repeat(12);
    sim.cmd_done(&format!("mo-partial +27821119999 1 {text}"))
        .await;
    let m = app.inbound().await;
    assert_eq!(m.transport_metadata["modem_multipart_incomplete"], true);
    assert_eq!(
        m.transport_metadata["modem_multipart_parts"],
        serde_json::json!([1])
    );
    let first = m.content.unwrap();
    assert!(!first.is_empty() && text.starts_with(&first), "{first:?}");
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_ussd_menu_session_in_each_reply_encoding() {
    for encoding in ["text", "packed", "ucs2"] {
        let (mut sim, mut gw, mut app) = setup(&[], "").await;
        sim.cmd_done(&format!("ussd-encoding {encoding}")).await;
        let mut start = UserMessage::new(&app.id, "ussd", "app", "*120#", None);
        start.session_event = Some(SessionEvent::New);
        app.send(&start).await;
        let menu = app.inbound().await;
        assert_eq!(menu.transport_type.as_deref(), Some("ussd"));
        assert_eq!(menu.session_event, Some(SessionEvent::Resume), "{menu:?}");
        assert_eq!(menu.from_addr.as_deref(), Some("*120#"));
        assert_eq!(menu.to_addr.as_deref(), Some("app"));
        assert_eq!(
            menu.content.as_deref(),
            Some("Main menu\n1. Balance\n2. Exit"),
            "{encoding}"
        );
        let answer = menu.reply(Some("1".into()), true);
        let mut answer = UserMessage {
            to_addr: Some("*120#".into()),
            ..answer
        };
        answer.from_addr = Some("app".into());
        app.send(&answer).await;
        let last = app.inbound().await;
        assert_eq!(last.session_event, Some(SessionEvent::Close));
        assert_eq!(
            last.content.as_deref(),
            Some("Balance: 42.00"),
            "{encoding}"
        );
        let (done, _) = app.outcomes(2).await;
        assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
        pump(&mut sim).await;
        let requests: Vec<&str> = sim
            .seen
            .iter()
            .filter(|e| e["event"] == "ussd")
            .filter_map(|e| e["request"].as_str())
            .collect();
        assert_eq!(requests, ["*120#", "1"]);
        assert_eq!(gw.stop().await, Some(0));
    }
}

#[tokio::test]
async fn a_hung_modem_recovers_without_losing_a_message() {
    let (mut sim, mut gw, mut app) = setup(&[], "").await;
    // 1. Hung until ESC: the first rung of the ladder is enough.
    sim.cmd_done("hang-esc 0").await;
    let a = app.sms("+27820005555", "sent after an ESC");
    app.send(&a).await;
    sim.expect("the ESC", |e| e["event"] == "unhung").await;
    // 2. Hung until the device is reopened: the last rung. An MO arrives meanwhile.
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&a.message_id].0, "ack", "{done:?}");
    let opened = sim.count(|e| e["event"] == "opened");
    sim.cmd_done("hang 0").await;
    let b = app.sms("+27820005555", "sent after a reopen");
    let c = app.sms("+27820005555", "queued behind it");
    app.send(&b).await;
    app.send(&c).await;
    sim.expect("the hang", |e| e["event"] == "hung").await;
    sim.cmd_done("mo +27821112222 arrived while hung").await;
    sim.expect_total("a reopen", opened + 1, |e| e["event"] == "opened")
        .await;
    let (done, _) = app.outcomes(2).await;
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    pump(&mut sim).await;
    let sent = sent_texts(&sim);
    for text in [
        "sent after an ESC",
        "sent after a reopen",
        "queued behind it",
    ] {
        assert!(sent.iter().any(|t| t == text), "{text} not sent: {sent:?}");
    }
    let m = app.inbound().await;
    assert_eq!(m.content.as_deref(), Some("arrived while hung"));
    assert!(
        gw.logs().contains("recovering"),
        "the ladder ran:\n{}",
        gw.logs()
    );
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_full_sim_is_emptied_and_the_waiting_message_arrives() {
    let mut sim = Sim::start_modem(&["--slots", "3"]).await;
    sim.cmd_done("storage-full").await;
    sim.cmd_done("mo +27821113333 waited in the network").await;
    let id = common::unique("modem");
    let mut gw = Gateway::start(&config(&id, &sim.address, "")).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let mut texts = Vec::new();
    for _ in 0..4 {
        texts.push(app.inbound().await.content.unwrap());
    }
    assert!(
        texts.iter().any(|t| t == "waited in the network"),
        "{texts:?}"
    );
    assert_eq!(texts.iter().filter(|t| t.starts_with("filler")).count(), 3);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn the_pin_is_entered_once_and_a_wrong_one_is_never_retried() {
    let (mut sim, mut gw, _app) = setup(&["--pin", "1234"], "pin = \"1234\"\n").await;
    sim.expect("the PIN", |e| e["event"] == "pin" && e["accepted"] == true)
        .await;
    assert_eq!(gw.stop().await, Some(0));

    let mut sim = Sim::start_modem(&["--pin", "1234"]).await;
    let id = common::unique("modem");
    let mut gw = Gateway::start(&config(&id, &sim.address, "pin = \"9999\"\n")).await;
    sim.expect("the wrong PIN", |e| {
        e["event"] == "pin" && e["accepted"] == false
    })
    .await;
    // The driver gives up for good (a wrong PIN is never retried: it could lock the SIM).
    common::wait_until("the modem driver to give up", || {
        gw.logs()
            .contains("Modem stopped; fix the cause and restart.")
    })
    .await;
    sim.cmd_done("noise off").await; // reads every event the modem printed so far
    assert_eq!(sim.count(|e| e["event"] == "pin"), 1, "{:?}", sim.seen);
    assert_eq!(sim.count(|e| e["event"] == "opened"), 1, "{:?}", sim.seen);
    assert_eq!(gw.ready().await.0, 503);
    assert!(gw.logs().contains("rejected the PIN"), "{}", gw.logs());
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_message_read_again_after_a_failed_delete_is_not_published_twice() {
    // The modem refuses the delete, so the message stays stored and the keepalive sweep
    // reads it again: the persistent dedup key drops the copy and the delete is retried.
    let (mut sim, mut gw, mut app) = setup(&[], "keepalive_seconds = 1\n").await;
    sim.cmd_done("refuse-delete 1").await;
    sim.cmd_done("mo +27821114444 only once please").await;
    let m = app.inbound().await;
    assert_eq!(m.content.as_deref(), Some("only once please"));
    sim.expect("the refused delete", |e| e["event"] == "delete_refused")
        .await;
    sim.expect("the delete after the sweep", |e| e["event"] == "deleted")
        .await;
    // Nothing else reached the application: a probe MO comes next, not a duplicate.
    sim.cmd_done("mo +27821114444 probe").await;
    let next = app.inbound().await;
    assert_eq!(next.content.as_deref(), Some("probe"));
    let metrics = procs::http_get(gw.admin, "/metrics").await.unwrap().1;
    let dups = metrics
        .lines()
        .find(|l| l.starts_with("richmond_modem_duplicates_total{"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no duplicate counter:\n{metrics}"));
    assert_eq!(dups, "1");
    // The keepalive ran: signal (+CSQ: 20 → -73 dBm), registration and storage are exported.
    for (name, want) in [
        ("richmond_modem_up{", "1"),
        ("richmond_modem_signal_dbm{", "-73"),
        ("richmond_modem_registration{", "1"),
        ("richmond_modem_storage_total{", "30"),
    ] {
        let value = metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last());
        assert_eq!(value, Some(want), "{name}\n{metrics}");
    }
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn status_reports_stored_in_the_sr_memory_are_read_and_deleted_there() {
    let (mut sim, mut gw, mut app) = setup(&["--report-memory", "SR"], "").await;
    let m = app.sms("+27820006666", "report me from SR");
    app.send(&m).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&m.message_id].0, "ack");
    let reports = reports_for(&mut app, early, &[&m.message_id]).await;
    assert_eq!(reports[&m.message_id], "delivered");
    sim.expect("the report deleted from SR", |e| {
        e["event"] == "deleted" && e["mem"] == "SR"
    })
    .await;
    // An MO after it is read from SM again.
    sim.cmd_done("mo +27821115555 back in SM").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("back in SM"));
    sim.expect("the MO deleted from SM", |e| {
        e["event"] == "deleted" && e["mem"] == "SM"
    })
    .await;
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn cnmi_falls_back_and_routed_status_reports_become_delivery_reports() {
    // The modem refuses <ds> 2 (like many Qualcomm devices): the driver falls back to
    // 2,1,0,1,0 and reports arrive routed as +CDS, with nothing to delete.
    let (mut sim, mut gw, mut app) = setup(&["--cnmi-ds-routed"], "").await;
    let m = app.sms("+27820007777", "routed report");
    app.send(&m).await;
    let (done, early) = app.outcomes(1).await;
    assert_eq!(done[&m.message_id].0, "ack");
    let reports = reports_for(&mut app, early, &[&m.message_id]).await;
    assert_eq!(reports[&m.message_id], "delivered");
    pump(&mut sim).await;
    let cnmi: Vec<&str> = sim
        .seen
        .iter()
        .filter_map(|e| e["line"].as_str())
        .filter(|l| l.starts_with("AT+CNMI="))
        .collect();
    assert_eq!(cnmi, ["AT+CNMI=2,1,0,2,0", "AT+CNMI=2,1,0,1,0"]);
    assert!(
        sim.seen
            .iter()
            .any(|e| e["event"] == "report" && e["index"].is_null())
    );
    assert_eq!(sim.count(|e| e["event"] == "deleted"), 0);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn two_modems_in_one_gateway_and_a_wrong_device_refused_by_imei() {
    let mut first = Sim::start_modem(&["--imei", "356938035643801"]).await;
    let mut second = Sim::start_modem(&["--imei", "356938035643802"]).await;
    let mut wrong = Sim::start_modem(&["--imei", "356938035643803"]).await;
    let (a, b, c) = (
        common::unique("modem"),
        common::unique("modem"),
        common::unique("modem"),
    );
    wrong.cmd_done("mo +27821116666 not for us").await;
    let transport = |id: &str, device: &str, imei: &str| {
        format!(
            "[transports.{id}]\ntype = \"modem\"\ndevice = {device:?}\nimei = \"{imei}\"\n\
             command_timeout_seconds = 2\nreopen_initial_seconds = 1\nreopen_max_seconds = 2\n"
        )
    };
    let base = config(&a, &first.address, "imei = \"356938035643801\"\n");
    let cfg = format!(
        "{base}{}{}",
        transport(&b, &second.address, "356938035643802"),
        transport(&c, &wrong.address, "356938035643809")
    );
    let mut gw = Gateway::start(&cfg).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app_a = App::new(bus.clone(), &a).await;
    let mut app_b = App::new(bus.clone(), &b).await;
    let app_c = App::new(bus, &c).await;
    first.cmd_done("mo +27821110001 to the first").await;
    second.cmd_done("mo +27821110002 to the second").await;
    assert_eq!(
        app_a.inbound().await.content.as_deref(),
        Some("to the first")
    );
    assert_eq!(
        app_b.inbound().await.content.as_deref(),
        Some("to the second")
    );
    // The wrong device: not ready, its storage untouched, nothing sent through it.
    let out = app_c.sms("+27820008888", "must wait for the right modem");
    app_c.send(&out).await;
    let body = gw.wait_ready(503).await;
    assert!(body.contains(&c), "{body}");
    pump(&mut wrong).await;
    assert_eq!(
        wrong.count(|e| e["event"] == "deleted"),
        0,
        "{:?}",
        wrong.seen
    );
    assert_eq!(wrong.count(|e| e["event"] == "sent"), 0, "{:?}", wrong.seen);
    // The refusal is logged (awaited: readiness can turn 503 before the line is written).
    for _ in 0..1200 {
        if gw.logs().contains("IMEI differs") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gw.logs().contains("IMEI differs"), "{}", gw.logs());
    // The waiting message is handed back to the bus on a clean stop.
    assert_eq!(gw.stop().await, Some(0));
}

/// The modem works one message at a time (`max_in_flight` 1): a router in the same process
/// hands it its application's messages under that same limit (issue 20), and its MO and
/// events come back to the application through the router.
#[tokio::test]
async fn behind_a_router_one_message_at_a_time() {
    let id = common::unique("modem");
    let (router, name, other) = (
        common::unique("mrouter"),
        common::unique("mapp"),
        common::unique("mother"),
    );
    let mut sim = Sim::start_modem(&[]).await;
    let extra = format!(
        "[routers.{router}]\ntransports = [\"{id}\"]\napplications = [\"{name}\", \"{other}\"]\n\
         default = \"{name}\"\nmt_transport = {{ {name} = \"{id}\" }}\n"
    );
    let mut gw = Gateway::start(&config(&id, &sim.address, &extra)).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::routed(bus, &name, &id).await;
    let msgs = [
        app.sms("+27820004444", "first through the router"),
        app.sms("+27820004444", "second through the router"),
        app.sms("+27820005555", "third through the router"),
    ];
    for m in &msgs {
        app.send(m).await;
    }
    let (done, early) = app.outcomes(msgs.len()).await;
    for m in &msgs {
        assert_eq!(done[&m.message_id].0, "ack", "{done:?}");
    }
    let ids: Vec<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
    reports_for(&mut app, early, &ids).await;
    sim.cmd_done("mo +27821117777 hello router").await;
    let mo = app.inbound().await;
    assert_eq!(mo.content.as_deref(), Some("hello router"));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
