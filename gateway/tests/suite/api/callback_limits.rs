//! Callbacks over `https://` (the receiver's certificate verified) and the bound on an
//! account's callback queue.

use std::sync::Arc;

use super::callbacks::admin_addr;
use super::*;

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

/// A gateway whose accounts queue at most 2 callbacks, Alice's MO callbacks going to `sink`.
async fn small_queue_to(sink: std::net::SocketAddr) -> (tempfile::TempDir, Gateway, Carrier) {
    let (d, gw, carrier) = start(|t| Setup {
        extra_api: "callback_queue_max = 2\ncallback_timeout_seconds = 120.0\n".into(),
        ..Setup::amqp(t)
    })
    .await;
    set_callbacks(
        &gw,
        &serde_json::json!({ "sms_received": format!("http://{sink}/mo") }),
    )
    .await;
    (d, gw, carrier)
}

#[tokio::test]
async fn a_full_callback_queue_of_a_silent_receiver_drops_new_callbacks_and_counts_them() {
    // A receiver that accepts and never answers (it never took a callback): each attempt
    // holds its callback in the queue for the whole timeout.
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
    let (_d, gw, carrier) = small_queue_to(sink).await;
    let t = carrier.transport.clone();
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

/// A receiver that answers each request `200` only once the test hands it a permit; counts
/// the requests it has read.
async fn held_receiver() -> (
    std::net::SocketAddr,
    Arc<tokio::sync::Semaphore>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
    let p = permits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (p, seen_tx) = (p.clone(), seen_tx.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let _ = seen_tx.send(());
                    p.acquire().await.expect("permits open").forget();
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, permits, seen)
}

#[tokio::test]
async fn a_full_callback_queue_of_a_live_receiver_waits_for_room_and_loses_nothing() {
    let (sink, permits, mut seen) = held_receiver().await;
    let (_d, gw, carrier) = small_queue_to(sink).await;
    let t = carrier.transport.clone();
    let mo = |i: usize| UserMessage::new(&t, "sms", "+27831116666", "12345", Some(format!("w{i}")));
    // The receiver takes one: it is alive.
    permits.add_permits(1);
    carrier.inbound(&mo(0)).await;
    metric_reaches(
        &gw,
        "richmond_api_callbacks_total{kind=\"sms_received\",outcome=\"delivered\"} 1",
    )
    .await;
    // Two under way and unanswered fill the queue; the third waits for room.
    for i in 1..3 {
        carrier.inbound(&mo(i)).await;
    }
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(30), seen.recv())
            .await
            .expect("an attempt")
            .expect("receiver open");
    }
    carrier.inbound(&mo(3)).await;
    metric_reaches(&gw, "richmond_api_callback_queue_waits_total 1").await;
    // The receiver answers: every callback arrives, none was dropped.
    permits.add_permits(3);
    let metrics = metric_reaches(
        &gw,
        "richmond_api_callbacks_total{kind=\"sms_received\",outcome=\"delivered\"} 4",
    )
    .await;
    assert!(!metrics.contains("outcome=\"dropped\""), "{metrics}");
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
