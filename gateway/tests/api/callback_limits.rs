//! Callbacks over `https://` (the receiver's certificate verified) and the bound on an
//! account's callback queue.

use super::*;
use crate::callbacks::admin_addr;

/// A self-signed certificate for `localhost`: (PEM certificate, PEM key).
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    (made.cert.pem(), made.key_pair.serialize_pem())
}

fn tls_server(cert: &str, key: &str) -> richmond_drivers::tls::TlsServer {
    richmond_drivers::tls::TlsServer::new(cert.as_bytes(), key.as_bytes()).expect("tls server")
}

async fn metric_reaches(gw: &Gateway, want: &str) -> String {
    let admin = admin_addr(gw);
    let mut metrics = String::new();
    for _ in 0..300 {
        metrics = common::http_get(admin, "/metrics").await.unwrap().1;
        if metrics.contains(want) {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{want} never appeared:\n{metrics}");
}

async fn set_callbacks(gw: &Gateway, urls: &serde_json::Value) {
    let a = request(
        gw.addr,
        "PUT",
        "/api/v1/account/callbacks.json",
        Some(ALICE),
        JSON,
        urls.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn https_callbacks_reach_a_trusted_receiver_and_never_an_untrusted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted_cert, trusted_key) = self_signed();
    let (other_cert, other_key) = self_signed();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &trusted_cert).unwrap();
    let (_d, gw, carrier) = start(|t| Setup {
        extra_api: format!("callback_tls_ca_file = {:?}\n", ca.display().to_string()),
        ..Setup::amqp(t)
    })
    .await;
    let t = carrier.transport.clone();
    let (good, mut good_rx) =
        helpers::callback_receiver_tls(vec![], tls_server(&trusted_cert, &trusted_key)).await;
    let (bad, mut bad_rx) =
        helpers::callback_receiver_tls(vec![], tls_server(&other_cert, &other_key)).await;
    // The name checked is the URL's host: localhost (the certificates' name).
    set_callbacks(
        &gw,
        &serde_json::json!({
            "sms_received": format!("https://localhost:{}/mo", good.port()),
            "sms_receipt": format!("https://localhost:{}/dr", bad.port()),
        }),
    )
    .await;
    let mo = UserMessage::new(&t, "sms", "+27831114444", "12345", Some("over tls".into()));
    carrier.inbound(&mo).await;
    let got = tokio::time::timeout(Duration::from_secs(30), good_rx.recv())
        .await
        .expect("the MO callback")
        .expect("receiver open");
    assert_eq!(got.path, "/mo");
    assert_eq!(got.body["message"], "over tls");
    // A receipt for the untrusted receiver: every attempt fails in the handshake.
    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831110010"),
            ("from_msisdn", "123"),
            ("message", "dr"),
        ],
    )
    .await;
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    carrier.outbound(1).await;
    carrier
        .event(&Event::delivery_report(&t, &id, DeliveryStatus::Delivered))
        .await;
    let metrics = metric_reaches(
        &gw,
        "richmond_api_callback_failures_total{kind=\"sms_receipt\",code=\"tls\"}",
    )
    .await;
    assert!(
        !metrics
            .contains("richmond_api_callbacks_total{kind=\"sms_receipt\",outcome=\"delivered\"}"),
        "{metrics}"
    );
    assert!(
        bad_rx.try_recv().is_err(),
        "the untrusted receiver got a request"
    );
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_full_callback_queue_drops_new_callbacks_and_counts_them() {
    // A receiver that accepts and never answers: each attempt holds its callback in the
    // queue (leased) for the whole timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink = listener.local_addr().unwrap();
    let (conn_tx, mut conns) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
            let _ = conn_tx.send(());
        }
    });
    let (_d, gw, carrier) = start(|t| Setup {
        extra_api: "callback_queue_max = 2\ncallback_timeout_seconds = 120.0\n".into(),
        ..Setup::amqp(t)
    })
    .await;
    let t = carrier.transport.clone();
    set_callbacks(
        &gw,
        &serde_json::json!({ "sms_received": format!("http://{sink}/mo") }),
    )
    .await;
    for i in 0..2 {
        let mo = UserMessage::new(&t, "sms", "+27831115555", "12345", Some(format!("q{i}")));
        carrier.inbound(&mo).await;
    }
    // Both are queued and under way.
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(30), conns.recv())
            .await
            .expect("an attempt")
            .expect("sink open");
    }
    let third = UserMessage::new(&t, "sms", "+27831115555", "12345", Some("q2".into()));
    carrier.inbound(&third).await;
    let metrics = metric_reaches(
        &gw,
        "richmond_api_callbacks_total{kind=\"sms_received\",outcome=\"dropped\"} 1",
    )
    .await;
    assert!(
        metrics.contains("richmond_api_callback_attempts_total{kind=\"sms_received\"} 2"),
        "{metrics}"
    );
    assert!(
        conns.try_recv().is_err(),
        "the dropped callback was attempted"
    );
    let _ = gw.stop().await;
}

#[tokio::test]
async fn callbacks_are_delivered_with_the_redis_store() {
    // The account's callback URLs and its queue once shared a key: on Redis every enqueue
    // then failed (WRONGTYPE) and the event was retried for ever.
    let prefix = format!("cbq-{}:", std::process::id());
    let (_d, gw, carrier) = start(|t| Setup {
        store: StoreKind::Redis { prefix },
        ..Setup::amqp(t)
    })
    .await;
    let t = carrier.transport.clone();
    let (rx_addr, mut received) = helpers::callback_receiver(vec![]).await;
    set_callbacks(
        &gw,
        &serde_json::json!({ "sms_received": format!("http://{rx_addr}/mo") }),
    )
    .await;
    let mo = UserMessage::new(&t, "sms", "+27831116666", "12345", Some("redis".into()));
    carrier.inbound(&mo).await;
    let got = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("the MO callback")
        .expect("receiver open");
    assert_eq!(got.body["message"], "redis");
    assert_eq!(gw.stop().await, Some(0));
}
