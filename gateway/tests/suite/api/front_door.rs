//! The front door under abuse: slow and idle clients are cut off, the caller is known before
//! a byte of the body is read, bodies are bounded.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A gateway with short front-door timeouts.
async fn short_timeouts() -> (tempfile::TempDir, Gateway, Carrier) {
    start(|t| Setup {
        extra_api: "header_timeout_seconds = 1\nrequest_timeout_seconds = 1\n".into(),
        ..Setup::amqp(t)
    })
    .await
}

/// Reads until the server closes the connection (bounded: the test fails if it never does).
async fn read_until_closed(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .expect("the gateway closes the connection")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

fn basic(user: (&str, &str)) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.0, user.1));
    format!("Basic {token}")
}

#[tokio::test]
async fn half_a_header_and_an_idle_connection_are_closed() {
    let (_d, gw, _carrier) = short_timeouts().await;
    // Half a request header, then silence.
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut s).await;
    // A kept-alive connection that stays idle after its answer.
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // The gateway still serves.
    let a = request(gw.addr, "GET", "/api/v1/openapi.json", None, None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn the_caller_is_refused_before_the_body_is_sent() {
    let (_d, gw, carrier) = short_timeouts().await;
    let p = path(&carrier.transport, "send.json");
    // A wrong password announcing a 100 MB body: answered 401 without reading it.
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {p} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 100000000\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\r\n",
        basic((ALICE.0, "wrong"))
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let text = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn an_oversized_or_slow_body_is_refused_and_nothing_is_sent() {
    let (_d, gw, carrier) = short_timeouts().await;
    let p = path(&carrier.transport, "send.json");
    // Bigger than the limit (sized to max_recipients = 3, max_message_chars = 40).
    // The gateway may answer and close before the whole body is written: write errors are
    // expected, the answer is what counts.
    let big = format!(
        "to_msisdn=%2B27831110001&from_msisdn=123&message={}",
        "x".repeat(30_000)
    );
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {p} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n",
        basic(ALICE),
        big.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(big.as_bytes()).await;
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("body_too_large"), "{text}");
    // A body that stops arriving: 408 after the request timeout.
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {p} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 100\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\r\nto_msisdn=",
        basic(ALICE)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // Neither was sent: the next message on the queue is the one sent now.
    let a = send_form(
        &gw,
        &carrier.transport,
        &[
            ("to_msisdn", "+27831110002"),
            ("from_msisdn", "123"),
            ("message", "ok"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let got = carrier.outbound(1).await;
    assert_eq!(got[0].to_addr.as_deref(), Some("+27831110002"));
    assert_eq!(gw.stop().await, Some(0));
}
