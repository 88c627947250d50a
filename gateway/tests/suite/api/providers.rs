//! The HTTP API over HTTP-provider transports (issue 22, point 4): the 2010 paths send
//! through Chikka (on RabbitMQ) and Clickatell (on the embedded bus, Redis as the store) —
//! the real transports against their simulators —, the message's status and the account's
//! receipt callback follow the provider's notification, and an MO the provider posts reaches
//! the account's inbound callback.

use super::*;
use procs::Sim;

/// Sets Alice's MO and receipt callbacks (`/mo`, `/dr`) to a receiver; what it receives.
async fn alice_callbacks(gw: &Gateway) -> tokio::sync::mpsc::UnboundedReceiver<helpers::Received> {
    let (rx_addr, received) = helpers::callback_receiver(vec![]).await;
    let urls = serde_json::json!({
        "sms_received": format!("http://{rx_addr}/mo"),
        "sms_receipt": format!("http://{rx_addr}/dr"),
    });
    set_callbacks(gw, &urls).await;
    received
}

#[tokio::test]
async fn the_api_sends_through_chikka_and_gets_its_receipts_and_mo() {
    let t = common::unique("apick");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let post_to = format!("http://{listen}/api/v1/sms/{t}/receive?secret=s3cret");
    let mut sim = Sim::start(&[
        "chikka",
        "--post-to",
        &post_to,
        "--shortcode",
        "12345",
        "--notify-delay-ms",
        "20",
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::amqp(&t);
    // Alice owns 12345: the shortcode here, so MO to it are hers.
    setup.extra = format!(
        "[transports.{t}]\ntype = \"chikka\"\nbase_url = \"http://{}\"\nclient_id = \"richmond\"\n\
         secret_key = \"richmond\"\nshortcode = \"12345\"\nlisten = \"{listen}\"\n\
         inbound_secret = \"s3cret\"\n",
        sim.addr
    );
    let (cfg, addr) = helpers::write_config(dir.path(), &setup);
    let gw = Gateway::start(&cfg, addr).await;
    gw.wait_ready().await;
    let mut received = alice_callbacks(&gw).await;

    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+639171234567"),
            ("from_msisdn", "12345"),
            ("message", "Hello"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    let at_chikka = sim
        .expect("the SEND", |e| {
            e["event"] == "request" && e["message"] == "Hello"
        })
        .await;
    assert_eq!(at_chikka["mobile_number"], "639171234567");
    let dr = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dr.path, "/dr");
    assert_eq!(dr.body["id"], id.as_str());
    assert_eq!(dr.body["transport_status"], "delivered");
    let status = request(
        gw.addr,
        "GET",
        &path(&t, &format!("status/{id}.json")),
        Some(ALICE),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!(
        status.json()["transport_status"],
        "delivered",
        "{}",
        status.body
    );

    sim.cmd("mo 639179876543 ping").await;
    let mo = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mo.path, "/mo");
    assert_eq!(mo.body["message"], "ping");
    assert_eq!(mo.body["from_msisdn"], "+639179876543");
    assert_eq!(mo.body["to_msisdn"], "12345");
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn the_api_sends_through_clickatell_on_the_embedded_bus_with_redis() {
    let t = common::unique("apict");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let base = format!("http://{listen}/api/v1/sms/{t}");
    let (receipts, mo) = (
        format!("{base}/receipt.json?secret=s3cret"),
        format!("{base}/receive.json?secret=s3cret"),
    );
    let mut sim = Sim::start(&[
        "clickatell",
        "--receipt-url",
        &receipts,
        "--mo-url",
        &mo,
        "--receipt-delay-ms",
        "20",
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::amqp(&t);
    setup.amqp = false;
    setup.store = StoreKind::Redis {
        prefix: format!("{t}:"),
    };
    setup.extra = format!(
        "[transports.{t}]\ntype = \"clickatell\"\nbase_url = \"http://{}\"\napi_id = \"3186\"\n\
         user = \"richmond\"\npassword = \"richmond\"\nlisten = \"{listen}\"\n\
         inbound_secret = \"s3cret\"\n",
        sim.addr
    );
    let (cfg, addr) = helpers::write_config(dir.path(), &setup);
    let gw = Gateway::start(&cfg, addr).await;
    gw.wait_ready().await;
    let mut received = alice_callbacks(&gw).await;
    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831234567"),
            ("from_msisdn", "12345"),
            ("message", "Hello 😀"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    let at = sim.expect("the sendmsg", |e| e["event"] == "sendmsg").await;
    assert_eq!(
        (&at["to"], &at["text"]),
        (
            &serde_json::json!("27831234567"),
            &serde_json::json!("Hello 😀")
        )
    );
    // 003 (pending) then 004: the account hears of the final one.
    let dr = loop {
        let dr = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .unwrap()
            .unwrap();
        if dr.body["transport_status"] == "delivered" {
            break dr;
        }
    };
    assert_eq!(dr.path, "/dr");
    assert_eq!(dr.body["id"], id.as_str());
    sim.cmd("mo 27829876543 12345 ping").await;
    // Receipt callbacks may still come (the pending one can be posted after the final one).
    let mo = loop {
        let r = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .unwrap()
            .unwrap();
        if r.path == "/mo" {
            break r;
        }
    };
    assert_eq!(mo.path, "/mo");
    assert_eq!(mo.body["message"], "ping");
    assert_eq!(mo.body["from_msisdn"], "+27829876543");
    assert_eq!(gw.stop().await, Some(0));
}
