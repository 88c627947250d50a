//! The SMPP server transport's links to its clients (the real binary): a receipt for a client
//! that unbound waits and goes to the account's next bind; one that no bind takes within
//! `deliver_ttl_seconds` is counted undelivered; a client that stops answering is probed with
//! `enquire_link` and dropped.

use std::time::Instant;

use richmond_codecs::vumi::{DeliveryStatus, Event};
use richmond_drivers::smpp::{Config, Session};
use richmond_tests::procs::Sim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::apps::await_metric;
use crate::smpp_server::{account, bind, setup};

#[tokio::test]
async fn a_receipt_for_a_client_that_left_goes_to_its_next_bind_or_is_counted_undelivered() {
    let (mut gw, mut app, addr) = setup(&format!(
        "deliver_ttl_seconds = 10\n{}{}",
        account("acme", ""),
        account("gone", "")
    ))
    .await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    assert_eq!(
        bind(&mut client, 2, "gone", "s3cret").await["command_status"],
        0
    );
    client
        .cmd("submit 1 first 27820001111 27830002222 Receipt later")
        .await;
    client
        .cmd("submit 2 second 27820001111 27830002222 Receipt never")
        .await;
    let (a, b) = (app.inbound().await, app.inbound().await);
    // Both clients leave before their reports come.
    for c in [1, 2] {
        client.cmd(&format!("unbind {c}")).await;
        client
            .expect("gone", |e| {
                e["event"] == "disconnected" && e["connection"] == c
            })
            .await;
    }
    let receipts = format!("{}.receipts", app.id);
    for m in [&a, &b] {
        let report = Event::delivery_report("carrier", &m.message_id, DeliveryStatus::Delivered);
        app.bus
            .publish(&receipts, report.encode().into())
            .await
            .expect("publish");
    }
    // acme binds again and gets its receipt; "gone" never does: after the TTL it is counted.
    assert_eq!(
        bind(&mut client, 3, "acme", "s3cret").await["command_status"],
        0
    );
    let acme = if a.transport_metadata["smpp_server"]["account"] == "acme" {
        &a
    } else {
        &b
    };
    let receipt = client
        .expect("the receipt at the new bind", |e| {
            e["event"] == "deliver_sm" && e["connection"] == 3
        })
        .await;
    let text = receipt["text"].as_str().expect("text");
    let parsed = richmond_codecs::smpp::receipt::parse(text).expect("a receipt");
    assert_eq!(parsed.id.as_ref(), acme.message_id.as_str());
    await_metric(
        &gw,
        "richmond_smpp_server_receipts_total",
        "outcome=\"undelivered\"",
        1.0,
    )
    .await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_client_that_stops_answering_is_probed_with_enquire_link_and_dropped() {
    let (mut gw, _app, addr) = setup(&format!(
        "enquire_link_seconds = 1\nresponse_timeout_seconds = 1\n{}",
        account("acme", "")
    ))
    .await;
    // A client of our own that binds, then reads and never answers anything.
    let config = Config::new("127.0.0.1", addr.port(), "t", "acme", "s3cret");
    let mut session = Session::new(config, Instant::now(), 1).expect("session");
    session.handle_connected(Instant::now());
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    while let Some(bytes) = session.poll_transmit() {
        stream.write_all(&bytes).await.expect("bind");
    }
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    // What came before the close: the bind's answer (ROK), then an enquire_link.
    let mut ids = Vec::new();
    let mut rest = seen.as_slice();
    while rest.len() >= 16 {
        let len = u32::from_be_bytes(rest[..4].try_into().expect("4")) as usize;
        ids.push((
            u32::from_be_bytes(rest[4..8].try_into().expect("4")),
            u32::from_be_bytes(rest[8..12].try_into().expect("4")),
        ));
        rest = &rest[len.min(rest.len())..];
    }
    assert_eq!(ids.first(), Some(&(0x8000_0009, 0)), "{ids:x?}");
    assert!(ids.contains(&(0x0000_0015, 0)), "no enquire_link: {ids:x?}");
    // Logged once the connection is closed.
    richmond_tests::common::wait_until("the reason in the log", || {
        gw.logs().contains("no answer to enquire_link")
    })
    .await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
