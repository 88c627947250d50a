//! The SMPP server transport through the real `richmond` binary, with node-smpp (a client
//! nobody here wrote) as the ESME and a Vumi application on RabbitMQ: a client binds, its
//! submit_sm reaches `<id>.inbound` with the id it was answered; binds are refused as Jasmin
//! refuses them (wrong password or unknown account, a network not allowed, too many binds),
//! counted; a burst above `mt_tps` is throttled and only what was accepted is on the bus; a
//! message for a client waits for its receiving bind and goes to it as deliver_sm (acked
//! once answered), or is nacked when no bind comes within `deliver_ttl_seconds`; the events of
//! a client's submit published to `<id>.receipts` come back to it as receipts; a gateway
//! killed with SIGKILL mid-burst loses nothing it answered `ESME_ROK` for; a client binds and
//! submits over TLS.

use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

use richmond::bus::Bus;
use richmond_codecs::vumi::{DeliveryStatus, Event, UserMessage};
use serde_json::{Value, json};

/// A gateway with SMPP server transport `id` on a free port and `accounts` (TOML array
/// entries, `{hash}` standing for the hash of "s3cret").
pub(crate) async fn setup(accounts: &str) -> (Gateway, App, std::net::SocketAddr) {
    let id = common::unique("smpps");
    let port = common::free_port();
    let hash = richmond::api::auth::hash_password("s3cret").expect("hash");
    let accounts = accounts.replace("{id}", &id).replace("{hash}", &hash);
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"smpp_server\"\nlisten = \"127.0.0.1:{port}\"\n{accounts}",
        common::amqp_url()
    );
    let gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    (gw, app, addr)
}

pub(crate) fn account(system_id: &str, extra: &str) -> String {
    format!(
        "[[transports.{{id}}.accounts]]\nsystem_id = \"{system_id}\"\npassword_hash = \"{{hash}}\"\n{extra}"
    )
}

pub(crate) async fn bind(client: &mut Sim, n: usize, system_id: &str, password: &str) -> Value {
    client
        .cmd(&format!("bind transceiver {system_id} {password}"))
        .await;
    client
        .expect("the bind answer", |e| {
            e["event"] == "bind_resp" && e["connection"] == n
        })
        .await
}

#[tokio::test]
async fn a_client_binds_and_its_submits_reach_the_bus_with_the_id_it_was_answered() {
    let (mut gw, mut app, addr) = setup(&account("acme", "")).await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    client
        .cmd("submit 1 hello 27820001111 27830002222 Hello from a client")
        .await;
    let resp = client
        .expect("the submit answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "hello"
        })
        .await;
    assert_eq!(resp["command_status"], 0, "{resp}");
    let got = app.inbound().await;
    assert_eq!(resp["message_id"], got.message_id.as_str());
    assert_eq!(got.content.as_deref(), Some("Hello from a client"));
    assert_eq!(
        (got.from_addr.as_deref(), got.to_addr.as_deref()),
        (Some("27820001111"), Some("27830002222"))
    );
    assert_eq!(got.transport_metadata["smpp_server"]["account"], "acme");
    // A part numbered beyond its total can never be joined: refused (ESME_RINVESMCLASS).
    client
        .cmd("submit-udh 1 part 27820001111 27830002222 2 3")
        .await;
    let part = client
        .expect("the part's answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "part"
        })
        .await;
    assert_eq!(part["command_status"], 0x43, "{part}");
    // A UDH with more than concatenation (here port addressing) would lose it: refused.
    client
        .cmd("submit-raw-udh 1 ports 27820001111 27830002222 0605040b8423f0")
        .await;
    let ports = client
        .expect("the answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "ports"
        })
        .await;
    assert_eq!(ports["command_status"], 0x43, "{ports}");
    // Part 1 of 1 is a whole message.
    client
        .cmd("submit-udh 1 whole 27820001111 27830002222 1 1")
        .await;
    let whole = client
        .expect("the answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "whole"
        })
        .await;
    assert_eq!(whole["command_status"], 0, "{whole}");
    let got = app.inbound().await;
    assert_eq!(got.content.as_deref(), Some("part"));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn binds_are_refused_for_a_wrong_password_a_network_not_allowed_and_too_many_binds() {
    let accounts = format!(
        "{}{}",
        account("solo", "max_binds = 1\n"),
        account("faraway", "allowed_networks = [\"10.0.0.0/8\"]\n")
    );
    let (mut gw, _app, addr) = setup(&accounts).await;
    let mut client = Sim::node_esme(addr).await;
    // ESME_RINVPASWD for a wrong password, and for an account nobody configured.
    assert_eq!(
        bind(&mut client, 1, "solo", "wrong").await["command_status"],
        0x0E
    );
    assert_eq!(
        bind(&mut client, 2, "nobody", "s3cret").await["command_status"],
        0x0E
    );
    // ESME_RBINDFAIL from a network the account does not allow.
    assert_eq!(
        bind(&mut client, 3, "faraway", "s3cret").await["command_status"],
        0x0D
    );
    // ESME_RBINDFAIL beyond max_binds; once the first unbinds, a bind is taken again.
    assert_eq!(
        bind(&mut client, 4, "solo", "s3cret").await["command_status"],
        0
    );
    assert_eq!(
        bind(&mut client, 5, "solo", "s3cret").await["command_status"],
        0x0D
    );
    client.cmd("unbind 4").await;
    client
        .expect("the first bind gone", |e| {
            e["event"] == "disconnected" && e["connection"] == 4
        })
        .await;
    // The server counts the bind down once it has seen the connection end: ask until then.
    let mut n = 6;
    loop {
        let status = bind(&mut client, n, "solo", "s3cret").await["command_status"].clone();
        if status == 0 {
            break;
        }
        assert_eq!(status, 0x0D);
        n += 1;
        assert!(n < 200, "the bind count never came down");
    }
    let metrics = richmond_tests::procs::http_get(gw.admin, "/metrics")
        .await
        .expect("metrics")
        .1;
    for reason in ["password", "network", "max_binds"] {
        assert!(
            metrics.lines().any(
                |l| l.starts_with("richmond_smpp_server_auth_failures_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            ),
            "{reason}: {metrics}"
        );
    }
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_burst_above_mt_tps_is_throttled_and_only_what_was_accepted_is_on_the_bus() {
    let (mut gw, mut app, addr) = setup(&account("bursty", "mt_tps = 1\n")).await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "bursty", "s3cret").await["command_status"],
        0
    );
    let n = 20;
    client
        .cmd(&format!("burst 1 {n} 27820001111 27830002222"))
        .await;
    client
        .expect_total("every answer", n, |e| e["event"] == "submit_sm_resp")
        .await;
    let answers: Vec<&Value> = client
        .seen
        .iter()
        .filter(|e| e["event"] == "submit_sm_resp")
        .collect();
    let accepted: Vec<String> = answers
        .iter()
        .filter(|e| e["command_status"] == 0)
        .map(|e| e["message_id"].as_str().expect("id").to_owned())
        .collect();
    let throttled = answers
        .iter()
        .filter(|e| e["command_status"] == 0x58)
        .count();
    // One token to start with, one a second after: most of an instant burst is throttled.
    assert!(!accepted.is_empty() && throttled > 0, "{answers:?}");
    assert_eq!(accepted.len() + throttled, n);
    let mut on_bus = std::collections::BTreeSet::new();
    while on_bus.len() < accepted.len() {
        on_bus.insert(app.inbound().await.message_id);
    }
    let accepted: std::collections::BTreeSet<String> = accepted.into_iter().collect();
    assert_eq!(on_bus, accepted);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_message_for_a_client_waits_for_its_bind_and_goes_to_it_as_deliver_sm() {
    let (mut gw, mut app, addr) = setup(&account("acme", "")).await;
    // Sent before the client is there: it waits.
    let mo = UserMessage::new(
        &app.id,
        "sms",
        "555",
        "27820001111",
        Some("An MO for you".into()),
    );
    app.send(&mo).await;
    let mut client = Sim::node_esme(addr).await;
    client.cmd("bind receiver acme s3cret").await;
    let got = client
        .expect("the deliver_sm", |e| e["event"] == "deliver_sm")
        .await;
    assert_eq!(
        (&got["source"], &got["destination"], &got["text"]),
        (
            &json!("555"),
            &json!("27820001111"),
            &json!("An MO for you")
        ),
        "{got}"
    );
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&mo.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_message_for_a_client_that_never_binds_is_nacked_after_the_ttl() {
    let accounts = format!(
        "deliver_ttl_seconds = 1\n{}{}",
        account("acme", ""),
        account("ghost", "")
    );
    let (mut gw, mut app, _addr) = setup(&accounts).await;
    let mut lost = UserMessage::new(&app.id, "sms", "555", "27820001111", Some("Anyone?".into()));
    lost.transport_metadata
        .insert("smpp_server".into(), json!({"account": "ghost"}));
    // Several accounts and none named: nacked at once.
    let unnamed = UserMessage::new(&app.id, "sms", "555", "27820001111", Some("Who?".into()));
    app.send(&lost).await;
    app.send(&unnamed).await;
    let (done, _) = app.outcomes(2).await;
    let (kind, reason) = &done[&lost.message_id];
    assert_eq!(*kind, "nack");
    assert!(reason.contains("deliver_ttl_seconds"), "{reason}");
    let (kind, reason) = &done[&unnamed.message_id];
    assert_eq!(*kind, "nack");
    assert!(reason.contains("which client account"), "{reason}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn the_events_of_a_clients_submit_come_back_to_it_as_receipts() {
    let (mut gw, mut app, addr) = setup(&account("acme", "")).await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    client
        .cmd("submit 1 dlr 27820001111 27830002222 Receipt please")
        .await;
    let got = app.inbound().await;
    assert_eq!(
        got.transport_metadata["smpp_server"]["registered_delivery"],
        1
    );
    // What sent it on publishes its events to <id>.receipts: the ack gives nothing, the
    // delivery report a receipt.
    let receipts = format!("{}.receipts", app.id);
    for event in [
        Event::ack("carrier", &got.message_id, "smsc-77"),
        Event::delivery_report("carrier", &got.message_id, DeliveryStatus::Delivered),
    ] {
        app.bus
            .publish(&receipts, event.encode().into())
            .await
            .expect("publish");
    }
    let receipt = client
        .expect("the receipt", |e| e["event"] == "deliver_sm")
        .await;
    assert_eq!(receipt["esm_class"], 4, "{receipt}");
    let text = receipt["text"].as_str().expect("text");
    let parsed = richmond_codecs::smpp::receipt::parse(text).expect("an Appendix B receipt");
    assert_eq!(
        (parsed.id.as_ref(), parsed.stat.as_ref()),
        (got.message_id.as_str(), "DELIVRD"),
        "{text}"
    );
    assert_eq!(
        (&receipt["source"], &receipt["destination"]),
        (&json!("27830002222"), &json!("27820001111"))
    );
    assert_eq!(
        client.count(|e| e["event"] == "deliver_sm"),
        1,
        "the ack gave a receipt"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn nothing_answered_esme_rok_is_lost_when_the_gateway_is_killed_mid_burst() {
    let (mut gw, mut app, addr) = setup(&account("acme", "")).await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    client.cmd("burst 1 300 27820001111 27830002222").await;
    // Some answers are in: SIGKILL, no drain.
    client
        .expect_total("the first answers", 20, |e| e["event"] == "submit_sm_resp")
        .await;
    let child = gw.child.as_mut().expect("running");
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    client
        .expect("the connection gone", |e| e["event"] == "disconnected")
        .await;
    let accepted: std::collections::BTreeSet<String> = client
        .seen
        .iter()
        .filter(|e| e["event"] == "submit_sm_resp" && e["command_status"] == 0)
        .filter_map(|e| e["message_id"].as_str().map(str::to_owned))
        .collect();
    assert!(!accepted.is_empty());
    // Every id the client was given is on the bus (duplicates would be allowed; none lost).
    let mut on_bus = std::collections::BTreeSet::new();
    while !accepted.is_subset(&on_bus) {
        on_bus.insert(app.inbound().await.message_id);
    }
    eprintln!(
        "smpp_server SIGKILL: {} answered ESME_ROK, all on the bus ({} read)",
        accepted.len(),
        on_bus.len()
    );
}

#[tokio::test]
async fn a_bind_that_does_not_answer_is_passed_over_for_the_next() {
    let (mut gw, mut app, addr) = setup(&format!(
        "response_timeout_seconds = 1\n{}",
        account("acme", "")
    ))
    .await;
    let mut client = Sim::node_esme(addr).await;
    client.cmd("bind receiver acme s3cret").await;
    client.cmd("bind receiver acme s3cret").await;
    client
        .expect_total("both binds", 2, |e| {
            e["event"] == "bind_resp" && e["command_status"] == 0
        })
        .await;
    client.cmd("mute 1").await;
    client.expect("muted", |e| e["event"] == "muted").await;
    // Two messages: the turn starts each on another bind, so one meets the silent one first.
    let msgs: Vec<UserMessage> = (0..2)
        .map(|i| {
            UserMessage::new(
                &app.id,
                "sms",
                "555",
                "27820001111",
                Some(format!("Turn {i}")),
            )
        })
        .collect();
    for m in &msgs {
        app.send(m).await;
    }
    let (done, _) = app.outcomes(2).await;
    for m in &msgs {
        assert_eq!(done[&m.message_id].0, "ack", "{done:?}");
        let text = m.content.clone().expect("text");
        // In whichever order they came.
        client
            .find("answered by the second bind", |e| {
                e["event"] == "deliver_sm" && e["connection"] == 2 && e["text"] == text.as_str()
            })
            .await;
    }
    assert!(
        client.count(|e| e["event"] == "deliver_sm_ignored") >= 1,
        "the silent bind was never tried"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_client_binds_and_submits_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("write key");
    let tls = format!(
        "tls_cert_file = {:?}\ntls_key_file = {:?}\n{}",
        cert.to_str().expect("utf-8"),
        key.to_str().expect("utf-8"),
        account("acme", "")
    );
    let (mut gw, mut app, addr) = setup(&tls).await;
    let mut client = Sim::node_esme_with(addr, &["--tls"]).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    client
        .cmd("submit 1 secure 27820001111 27830002222 Over TLS")
        .await;
    let resp = client
        .expect("the submit answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "secure"
        })
        .await;
    assert_eq!(resp["command_status"], 0, "{resp}");
    let got = app.inbound().await;
    assert_eq!(resp["message_id"], got.message_id.as_str());
    assert_eq!(got.content.as_deref(), Some("Over TLS"));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
