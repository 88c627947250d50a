//! RabbitMQ specifics: a plain pika application interoperates; a broker restart in the middle
//! of a stream loses nothing (in the `broker_outage` test binary); a queue pre-declared with other arguments is a clear error and
//! keeps the bus not ready; `amqps://` is TLS from the first byte and verified (the private
//! broker's TLS listener, `RICHMOND_TEST_AMQPS_URL`, `RICHMOND_TEST_TLS_CA`). Runs against the
//! private broker of ./scripts/test.

use richmond_tests::common;

use std::time::Duration;

use bytes::Bytes;
use richmond::bus::amqp::AmqpBus;
use richmond::bus::{Bus, BusError};
use richmond::config::{AmqpConfig, Secret};
use richmond_codecs::vumi::{Event, SessionEvent, UserMessage};

#[tokio::test]
async fn a_plain_pika_vumi_application_works_unchanged() {
    for style in ["vumi2", "vumi06"] {
        let t = common::unique("pika");
        let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
        bus.declare_transport(&t).await.unwrap();
        let python = common::env("RICHMOND_TEST_PYTHON");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/vumi_app.py");
        let child = tokio::process::Command::new(python)
            .args([script, &common::amqp_url(), &t, "--style", style])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The application's outbound message arrives and decodes.
        let mut out = bus.consume(&format!("{t}.outbound")).await.unwrap();
        let d = out.next().await.unwrap();
        let msg = UserMessage::decode(&d.body).unwrap();
        assert_eq!(msg.content.as_deref(), Some("Welcome"));
        let expected = if style == "vumi2" {
            Some(SessionEvent::Resume)
        } else {
            None
        };
        assert_eq!(msg.session_event, expected);
        // Richmond's inbound message and ack reach it and pass its validation.
        let mut inbound = UserMessage::new(&t, "ussd", "+27831112222", "*120*663#", None);
        inbound.session_event = Some(SessionEvent::New);
        bus.publish(&format!("{t}.inbound"), Bytes::from(inbound.encode()))
            .await
            .unwrap();
        let ack = Event::ack(&t, &msg.message_id, "smsc-42");
        bus.publish(&format!("{t}.event"), Bytes::from(ack.encode()))
            .await
            .unwrap();
        d.ack().await.unwrap();
        let output = child.wait_with_output().await.unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{style}: {text}");
        assert!(text.contains(&inbound.message_id), "{style}: {text}");
        assert!(
            text.contains("\"sent_message_id\": \"smsc-42\""),
            "{style}: {text}"
        );
        bus.close().await;
    }
}

#[tokio::test]
async fn a_queue_declared_with_other_arguments_is_named_and_not_ready() {
    let t = common::unique("mismatch");
    // Another party declared <t>.event as a quorum-less TTL queue first.
    let mut other = common::amqp_config();
    other
        .queue_arguments
        .insert("x-message-ttl".into(), toml::Value::Integer(60_000));
    let first = common::amqp_bus(&other).await;
    first.declare_queues(&[format!("{t}.event")]).await.unwrap();
    first.close().await;

    let bus = common::amqp_bus(&common::amqp_config()).await;
    let err = bus
        .declare_queues(&richmond::bus::transport_queues(&t))
        .await
        .unwrap_err();
    let BusError::QueueMismatch { queue, detail } = &err else {
        panic!("{err}")
    };
    assert_eq!(queue, &format!("{t}.event"));
    assert!(detail.contains("x-message-ttl"), "{detail}");

    // The bus is not ready while the mismatch lasts, and keeps saying why.
    common::wait_until("the topology error", || bus.topology_error().is_some()).await;
    assert!(
        !bus.is_connected(),
        "a bus with a refused topology must not be ready"
    );
    let named = bus.topology_error().unwrap().to_string();
    assert!(named.contains(&format!("{t}.event")), "{named}");
    bus.close().await;
}

#[tokio::test]
async fn a_consumer_of_a_queue_nobody_declared_yet_gets_its_messages() {
    // Nothing declares this queue before the consumer starts (as at a gateway's start, when
    // the connection is made while transports subscribe): the consumer must not subscribe to
    // a queue that does not exist.
    let q = format!("{}.outbound", common::unique("undeclared"));
    let consumer_bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut consumer = consumer_bus.consume(&q).await.unwrap();
    let publisher = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    // The publish is unroutable until the queue exists; retry until the broker takes it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match publisher.publish(&q, Bytes::from_static(b"hello")).await {
            Ok(()) => break,
            Err(BusError::Unroutable { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the queue never came to exist: {e}"),
        }
    }
    let d = tokio::time::timeout(Duration::from_secs(30), consumer.next())
        .await
        .expect("a delivery")
        .expect("bus open");
    assert_eq!(&d.body[..], b"hello");
    d.ack().await.unwrap();
    consumer_bus.close().await;
    publisher.close().await;
}

/// An AMQP config for `url`, trusting only `ca` when given.
fn tls_config(url: &str, ca: Option<&str>) -> AmqpConfig {
    let mut c: AmqpConfig =
        toml::from_str("reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 0.5\n").unwrap();
    c.url = Some(Secret::new(url.to_owned()));
    c.tls_ca_file = ca.map(Into::into);
    c
}

#[tokio::test]
async fn an_amqps_url_speaks_tls_from_the_first_byte() {
    // A listener that only records what the client sends first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bus = AmqpBus::start(&tls_config(
        &format!("amqps://guest:SecretPw@127.0.0.1:{port}/%2f"),
        None,
    ));
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept())
        .await
        .expect("the bus connects")
        .unwrap();
    use tokio::io::AsyncReadExt as _;
    let mut first = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(60), s.read_exact(&mut first))
        .await
        .expect("the client speaks first")
        .unwrap();
    // A TLS record of type handshake (22), version 3.x: a ClientHello, not "AMQP\0\0\9\1".
    assert_eq!((first[0], first[1]), (0x16, 0x03), "{first:?}");
    assert_ne!(&first[..4], b"AMQP");
    let mut rest = vec![0u8; 4096];
    let n = s.read(&mut rest).await.unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&rest[..n]).contains("SecretPw"),
        "the password went out in clear"
    );
    drop(s);
    bus.close().await;
}

#[tokio::test]
async fn amqps_to_rabbitmq_works_with_its_ca_and_is_refused_without() {
    let url = common::env("RICHMOND_TEST_AMQPS_URL");
    let ca = common::env("RICHMOND_TEST_TLS_CA");
    let bus = Bus::Amqp(common::amqp_bus(&tls_config(&url, Some(&ca))).await);
    let q = format!("{}.inbound", common::unique("tls"));
    bus.declare_transport(q.trim_end_matches(".inbound"))
        .await
        .unwrap();
    let mut consumer = bus.consume(&q).await.unwrap();
    bus.publish(&q, Bytes::from_static(b"over tls"))
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(30), consumer.next())
        .await
        .expect("a delivery")
        .expect("bus open");
    assert_eq!(&d.body[..], b"over tls");
    d.ack().await.unwrap();
    bus.close().await;

    // The same broker with the system's roots only: its private CA is not trusted, so the
    // bus never connects (and never falls back to plain AMQP).
    let untrusted = AmqpBus::start(&tls_config(&url, None));
    let mut connected = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        connected |= untrusted.is_connected();
    }
    assert!(
        !connected,
        "connected to a broker whose certificate is not trusted"
    );
    untrusted.close().await;
}
