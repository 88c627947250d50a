//! The HTTP abuse table (issue #18) against the real binary: each bad request gets a clear
//! error status and sends nothing; slow, idle and piled-up connections are cut off while the
//! gateway keeps serving, with its open files bounded.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// One request written as a client would (a write refused because the gateway already
/// answered and closed is not an error); the status answered, 0 when none.
async fn status_of(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> u16 {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = authorization {
        head += &format!("Authorization: {a}\r\n");
    }
    if let Some(ct) = content_type {
        head += &format!("Content-Type: {ct}\r\n");
    }
    head += "\r\n";
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf)
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A table row: name, method, path, Authorization, form body, the statuses allowed.
type Row = (
    &'static str,
    &'static str,
    String,
    Option<String>,
    Vec<u8>,
    &'static [u16],
);

fn basic_of(raw: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_clear_status_and_nothing_is_sent() {
    let (_d, gw, carrier) = start(|t| Setup {
        // A body limit large enough that the field and placeholder caps are what refuse.
        extra_api: "header_timeout_seconds = 1\nrequest_timeout_seconds = 1\n\
                        max_connections = 64\nmax_body_bytes = 8388608\n"
            .into(),
        ..Setup::amqp(t)
    })
    .await;
    let t = carrier.transport.clone();
    let alice = basic_of(&format!("{}:{}", ALICE.0, ALICE.1));
    // Bob's message, which Alice must not see.
    let bob = request(
        gw.addr,
        "POST",
        &path(&t, "send.json"),
        Some(BOB),
        FORM,
        &form(&[
            ("to_msisdn", "+27831119999"),
            ("from_msisdn", "123"),
            ("message", "bob's"),
        ]),
    )
    .await
    .unwrap();
    let bob_id = bob.json()[0]["id"].as_str().unwrap().to_owned();
    carrier.outbound(1).await;
    let send = path(&t, "send.json");
    let keys: Vec<u8> = "k=1&".repeat(300_000).into_bytes();
    let placeholders: String = (0..100_000).map(|i| format!("{{{{p{i}}}}}")).collect();
    let placeholders = form(&[
        ("to_msisdn", "+27831110001"),
        ("from_msisdn", "123"),
        ("template", &placeholders),
    ]);
    let callbacks = "/api/v1/account/callbacks.json";
    let long_url = format!("http://receiver.example.com/{}", "a".repeat(2048));
    let rows: Vec<Row> = vec![
        (
            "Basic that is not base64",
            "GET",
            path(&t, "status.json"),
            Some("Basic !!!".into()),
            vec![],
            &[401],
        ),
        (
            "Basic without a colon",
            "GET",
            path(&t, "status.json"),
            Some(basic_of("alice")),
            vec![],
            &[401],
        ),
        (
            "Basic with an empty user",
            "GET",
            path(&t, "status.json"),
            Some(basic_of(":x")),
            vec![],
            &[401],
        ),
        (
            "a bearer token of garbage",
            "GET",
            path(&t, "status.json"),
            Some("Bearer rmd_zz not a token".into()),
            vec![],
            &[401],
        ),
        (
            "300k keys",
            "POST",
            send.clone(),
            Some(alice.clone()),
            keys,
            &[400],
        ),
        (
            "100k placeholders",
            "POST",
            send.clone(),
            Some(alice.clone()),
            placeholders,
            &[400],
        ),
        (
            "an unclosed {{",
            "POST",
            send.clone(),
            Some(alice.clone()),
            form(&[
                ("to_msisdn", "+27831110001"),
                ("from_msisdn", "123"),
                ("template", "hi {{name"),
            ]),
            &[400],
        ),
        (
            "another account's id",
            "GET",
            path(&t, &format!("status/{bob_id}.json")),
            Some(alice.clone()),
            vec![],
            &[404],
        ),
        (
            "a loopback callback",
            "PUT",
            callbacks.into(),
            Some(alice.clone()),
            form(&[("sms_received", "http://[::1]:9464/metrics")]),
            &[400],
        ),
        (
            "a link-local callback",
            "PUT",
            callbacks.into(),
            Some(alice.clone()),
            form(&[("sms_received", "http://169.254.169.254/latest/meta-data/")]),
            &[400],
        ),
        (
            "a callback with userinfo",
            "PUT",
            callbacks.into(),
            Some(alice.clone()),
            form(&[("sms_received", "http://u:p@receiver.example.com/")]),
            &[400],
        ),
        (
            "a 2 KB callback URL",
            "PUT",
            callbacks.into(),
            Some(alice.clone()),
            form(&[("sms_received", &long_url)]),
            &[400],
        ),
    ];
    for (name, method, p, auth, body, want) in rows {
        let ct = (!body.is_empty()).then_some("application/x-www-form-urlencoded");
        let got = status_of(gw.addr, method, &p, auth.as_deref(), ct, &body).await;
        assert!(want.contains(&got), "{name}: {got}, want one of {want:?}");
    }
    // Slow header, slow body: cut off.
    let mut slow = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    slow.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut buf))
        .await
        .expect("a slow header is cut off")
        .expect("read");
    let mut slow = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {send} HTTP/1.1\r\nHost: x\r\nAuthorization: {alice}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nto_msisdn="
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut buf))
        .await
        .expect("a slow body is cut off")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );

    // 10,000 idle connections (64 allowed at once, the rest wait in the kernel's backlog —
    // as deep as net.core.somaxconn allows — or are refused by it): the gateway's open files stay bounded, and once the clients
    // go it serves again.
    let addr = gw.addr;
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..10_000 {
        opening.spawn(async move {
            tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
                .await
                .ok()
                .and_then(Result::ok)
        });
    }
    let mut idle = Vec::new();
    while let Some(s) = opening.join_next().await {
        idle.extend(s.ok().flatten());
    }
    assert!(idle.len() > 64, "only {} connections opened", idle.len());
    let admin = callbacks::admin_addr(&gw);
    let (_, metrics) = common::http_get(admin, "/metrics").await.unwrap();
    let fds: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_open_fds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("process_open_fds");
    assert!(fds < 600.0, "{fds} open files with 64 connections allowed");
    drop(idle);
    let a = request(gw.addr, "GET", "/api/v1/openapi.json", None, None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    // Nothing the refused requests carried reached the carrier: only Bob's message did.
    let m = app_free_outbound(&carrier).await;
    assert!(m.is_none(), "a refused request sent {m:?}");
    assert_eq!(gw.stop().await, Some(0));
}

/// A message on the transport's outbound queue, if one arrives within a second.
async fn app_free_outbound(carrier: &Carrier) -> Option<String> {
    let mut c = carrier
        .bus
        .consume(&format!("{}.outbound", carrier.transport))
        .await
        .ok()?;
    let d = tokio::time::timeout(Duration::from_secs(1), c.next())
        .await
        .ok()??;
    Some(String::from_utf8_lossy(&d.body).into_owned())
}

#[tokio::test]
async fn a_client_gone_mid_send_leaves_its_messages_sent_and_recorded_or_neither() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let to = ["+27831117771", "+27831117772", "+27831117773"];
    let mut body = form(&[("from_msisdn", "123"), ("message", "gone")]);
    for n in to {
        body.extend_from_slice(b"&");
        body.extend_from_slice(&form(&[("to_msisdn", n)]));
    }
    // The whole request, then the connection dropped before any answer is read.
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        path(&t, "send.json"),
        basic_of(&format!("{}:{}", ALICE.0, ALICE.1)),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    drop(s);
    // Whether the request was dropped before its send began (nothing sent, no record) or
    // not (all sent, each recorded), what reached the carrier and what has a record are the
    // same messages: awaited until both agree twice in a row (bounded).
    let mut c = carrier.bus.consume(&format!("{t}.outbound")).await.unwrap();
    let mut at_carrier: Vec<String> = Vec::new();
    let mut agreed = 0;
    for _ in 0..60 {
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(500), c.next()).await {
            let m = UserMessage::decode(&d.body).unwrap();
            at_carrier.push(m.message_id);
            d.ack().await.unwrap();
        }
        let a = request(
            gw.addr,
            "GET",
            &path(&t, "status.json?since=2000-01-01"),
            Some(ALICE),
            None,
            b"",
        )
        .await
        .unwrap();
        let mut recorded: Vec<String> = a
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| to.iter().any(|n| r["to_msisdn"] == *n))
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        recorded.sort();
        at_carrier.sort();
        if recorded == at_carrier && (recorded.is_empty() || recorded.len() == to.len()) {
            agreed += 1;
            if agreed == 2 {
                break;
            }
        } else {
            agreed = 0;
        }
    }
    assert_eq!(agreed, 2, "carrier {at_carrier:?} and records disagree");
    assert_eq!(gw.stop().await, Some(0));
}
