//! Richmond on servers a test builds for itself (issue 23): a three-node RabbitMQ cluster
//! (`scripts/lib/rabbitmq-cluster`, quorum queues by the vhost's default type) with one node
//! stopped and restarted while MO and MT flow through two instances; Redis behind three
//! Sentinels (`scripts/lib/redis-sentinel`) whose primary is killed while MTs are on their
//! way and receipts, a USSD session and an API record wait in it. Their own test binary:
//! the servers are heavy, and nothing else shares them.

use std::collections::HashMap;

use richmond::bus::Bus;
use richmond::config::{AmqpConfig, Secret};
use richmond_codecs::vumi::{EventKind, SessionEvent};
use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::common::api::{ALICE, request};
use richmond_tests::procs::{Gateway, Sim};
use richmond_tests::servers::{Servers, run};

fn amqp(urls: &str) -> AmqpConfig {
    let mut c = common::amqp_config();
    c.url = Some(Secret::new(urls.to_owned()));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_lose_nothing_when_a_broker_node_stops_and_returns() {
    let cluster = Servers::start("rabbitmq-cluster").await;
    let env = &cluster.env;
    let urls: Vec<&str> = env["RICHMOND_CLUSTER_URLS"].split(' ').collect();
    assert_eq!(urls.len(), 3);
    let id = common::unique("cl");
    let mut sim = Sim::start(&["smsc"]).await;
    let gateway = |order: [usize; 3]| {
        let urls: Vec<&str> = order.iter().map(|&i| urls[i]).collect();
        format!(
            "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
             drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
             reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
             [store]\ntype = \"redis\"\nurl = {:?}\nkey_prefix = \"{id}:\"\n\
             [cluster]\ninstances = 2\n[transports.{id}]\ntype = \"smpp\"\n\
             host = \"127.0.0.1\"\nport = {}\nsystem_id = \"richmond\"\n\
             password = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
             reconnect_max_seconds = 1.0\n",
            urls.join(" "),
            common::redis_url(),
            sim.addr.port()
        )
    };
    // Instance A starts on node 1 (the one stopped below), B on node 2.
    let a = Gateway::start(&gateway([0, 1, 2])).await;
    let b = Gateway::start(&gateway([1, 2, 0])).await;
    a.wait_ready(200).await;
    b.wait_ready(200).await;
    // The application too lists the nodes, from node 3.
    let bus =
        Bus::Amqp(common::amqp_bus(&amqp(&format!("{} {} {}", urls[2], urls[0], urls[1]))).await);
    let mut app = App::new(bus, &id).await;
    let queue_type = run(
        "rabbitmq-cluster",
        &["queue_type", cluster.path(), &format!("{id}.outbound")],
    )
    .await;
    assert_eq!(
        queue_type.trim(),
        "quorum",
        "the vhost's default queue type"
    );

    let (mut sent_mt, mut sent_mo) = (Vec::new(), Vec::new());
    for round in 0..3 {
        for i in 0..20 {
            let m = app.sms("+27820001111", &format!("mt {round} {i}"));
            app.send(&m).await;
            sent_mt.push(m);
            let text = format!("mo {round} {i}");
            sim.cmd(&format!("mo 27820002222 12345 {text}")).await;
            sent_mo.push(text);
        }
        match round {
            0 => run("rabbitmq-cluster", &["stop_node", cluster.path(), "1"]).await,
            1 => run("rabbitmq-cluster", &["start_node", cluster.path(), "1"]).await,
            _ => String::new(),
        };
    }
    // Every MT has its ack (an event published again after the node's loss may come twice).
    let mut acks: HashMap<String, usize> = HashMap::new();
    while sent_mt.iter().any(|m| !acks.contains_key(&m.message_id)) {
        let e = app.event().await;
        if let EventKind::Ack { .. } = e.kind {
            *acks.entry(e.user_message_id.clone()).or_default() += 1;
        }
    }
    // Every MO reached the application; every MT reached the SMSC.
    let mut mo: HashMap<String, usize> = HashMap::new();
    while sent_mo.iter().any(|t| !mo.contains_key(t)) {
        let m = app.inbound().await;
        *mo.entry(m.content.unwrap_or_default()).or_default() += 1;
    }
    for m in &sent_mt {
        let text = m.content.clone().unwrap();
        sim.find("the MT", |e| {
            e["event"] == "submit_sm" && e["text"] == text.as_str()
        })
        .await;
    }
    let dup_mt = sim.count(|e| e["event"] == "submit_sm") - sent_mt.len();
    let dup_acks: usize = acks.values().map(|n| n - 1).sum();
    let dup_mo: usize = mo.values().map(|n| n - 1).sum();
    eprintln!("node loss: {dup_mt} MT sent twice, {dup_acks} acks and {dup_mo} MO delivered twice");
    // Duplicates are what was in flight when the node went: bounded by the windows.
    assert!(
        dup_mt <= 20 && dup_acks <= 20 && dup_mo <= 20,
        "{dup_mt} {dup_acks} {dup_mo}"
    );
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_sessions_written_before_a_redis_failover_are_found_after() {
    let sentinels = Servers::start("redis-sentinel").await;
    let env = &sentinels.env;
    let addrs: Vec<String> = env["RICHMOND_SENTINEL_ADDRS"]
        .split(' ')
        .map(|a| format!("{a:?}"))
        .collect();
    let (sms, ussd, apit) = (
        common::unique("sf"),
        common::unique("sfu"),
        common::unique("sfa"),
    );
    let mut smsc = Sim::start(&["smsc"]).await;
    let mut ssmi = Sim::start(&["ssmi"]).await;
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let smsc_port = smsc.addr.port();
    // The API's transport has its own SMSC: a simulator delivers receipts to any bind.
    let api_smsc = Sim::start(&["smsc"]).await;
    let api_smsc_port = api_smsc.addr.port();
    let hash = richmond::api::auth::hash_password(ALICE.1).unwrap();
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [api]\naddress = \"{api}\"\ntransports = [\"{apit}\"]\n\
         [[api.accounts]]\nusername = \"alice\"\npassword_hash = {hash:?}\n\
         [store]\ntype = \"redis\"\nsentinels = [{}]\nsentinel_master = {:?}\n\
         replicas_to_wait = 1\n\
         [transports.{sms}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {smsc_port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n\
         [transports.{apit}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {api_smsc_port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n\
         [transports.{ussd}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"richmond\"\npassword = \"richmond\"\nlink_check_interval_seconds = 1\n\
         sms_address = \"12345\"\n",
        common::amqp_url(),
        addrs.join(", "),
        env["RICHMOND_SENTINEL_MASTER"],
        ssmi.addr.port()
    );
    let gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let bus = || async { Bus::Amqp(common::amqp_bus(&common::amqp_config()).await) };
    let mut app = App::new(bus().await, &sms).await;
    let mut menu_app = App::new(bus().await, &ussd).await;
    // Receipts held at the SMSC: their id maps wait in Redis.
    smsc.cmd_done("hold-receipts on").await;
    let msgs: Vec<_> = (0..10)
        .map(|i| app.sms("+27820001111", &format!("r {i}")))
        .collect();
    for m in &msgs {
        app.send(m).await;
    }
    let (done, _) = app.outcomes(msgs.len()).await;
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    // An API send: its record waits in Redis.
    let form = b"to_msisdn=%2B27820003333&from_msisdn=12345&message=api+record";
    let sent = request(
        api,
        "POST",
        &format!("/api/v1/sms/{apit}/send.json"),
        Some(ALICE),
        Some("application/x-www-form-urlencoded"),
        form,
    )
    .await
    .unwrap();
    assert_eq!(sent.status, 200, "{}", sent.body);
    let api_id = sent.json()[0]["id"].as_str().expect("an id").to_owned();
    // A USSD session opened: its dialled code waits in Redis.
    ssmi.cmd("dial 27831112222 *120*663 1").await;
    let new = menu_app.inbound().await;
    assert_eq!(new.session_event, Some(SessionEvent::New));

    // The primary is killed while more messages are on their way.
    let during: Vec<_> = (0..10)
        .map(|i| app.sms("+27820001111", &format!("d {i}")))
        .collect();
    let kill_args = ["kill_primary", sentinels.path()];
    let kill = run("redis-sentinel", &kill_args);
    let send = async {
        for m in &during {
            app.send(m).await;
        }
    };
    let (now, ()) = tokio::join!(kill, send);
    assert_ne!(
        now.trim(),
        env["RICHMOND_SENTINEL_PRIMARY_PORT"],
        "a new primary"
    );
    // Every one is sent once the store follows the new primary.
    let (done, _) = app.outcomes(during.len()).await;
    assert!(done.values().all(|(k, _)| *k == "ack"), "{done:?}");
    // The API record written before is found.
    let status = request(
        api,
        "GET",
        &format!("/api/v1/sms/{apit}/status/{api_id}.json"),
        Some(ALICE),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!(status.status, 200, "{}", status.body);

    // The session goes on: the code dialled comes from the store, on the new primary.
    let reply = new.reply(Some("Welcome\n1. Balance".into()), true);
    menu_app.send(&reply).await;
    let answer = menu_app.inbound().await;
    assert_eq!(answer.session_event, Some(SessionEvent::Resume));
    assert_eq!(answer.to_addr.as_deref(), Some("*120*663#"));
    // The receipts find their messages.
    smsc.cmd_done("hold-receipts off").await;
    let mut reported = HashMap::new();
    while msgs.iter().any(|m| !reported.contains_key(&m.message_id)) {
        let e = app.event().await;
        if let EventKind::DeliveryReport { .. } = &e.kind {
            reported.insert(e.user_message_id.clone(), ());
        }
    }
    for m in &msgs {
        assert!(
            reported.contains_key(&m.message_id),
            "no report for {}",
            m.message_id
        );
    }
    drop(gw);
}
