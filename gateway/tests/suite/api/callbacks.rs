//! Callbacks: inbound messages and receipts POSTed to the account's URLs, retried until 2xx.

use super::*;

#[tokio::test]
async fn callbacks_for_inbound_and_receipts_are_retried_until_2xx() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    // The receiver fails the first POST of each kind once.
    let (rx_addr, mut received) = helpers::callback_receiver(vec![500, 200, 503]).await;
    let urls = serde_json::json!({
        "sms_received": format!("http://{rx_addr}/mo"),
        "sms_receipt": format!("http://{rx_addr}/dr"),
    });
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
    assert_eq!((a.status, a.json()), (200, urls.clone()), "{}", a.body);
    // Bob has no callbacks: the inbound message goes to Alice only (Bob's account is on the
    // transport too, but set nothing).

    let mut mo = UserMessage::new(&t, "sms", "+27831112222", "12345", Some("ping".into()));
    mo.message_id = richmond_codecs::vumi::new_id();
    carrier.inbound(&mo).await;
    let first = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.path.as_str(), first.answered), ("/mo", 500));
    let second = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.path.as_str(), second.answered), ("/mo", 200));
    assert_eq!(second.body["id"], mo.message_id.as_str());
    assert_eq!(second.body["message"], "ping");
    assert_eq!(second.body["from_msisdn"], "+27831112222");
    assert_eq!(second.body["to_msisdn"], "12345");
    assert_eq!(second.body["transport"], t.as_str());

    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831110009"),
            ("from_msisdn", "123"),
            ("message", "dr me"),
        ],
    )
    .await;
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    carrier.outbound(1).await;
    carrier.event(&Event::ack(&t, &id, "smsc-2")).await;
    carrier
        .event(&Event::delivery_report(&t, &id, DeliveryStatus::Delivered))
        .await;
    let r1 = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r1.path.as_str(), r1.answered), ("/dr", 503));
    let r2 = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r2.path.as_str(), r2.answered), ("/dr", 200));
    assert_eq!(r2.body["id"], id.as_str());
    assert_eq!(r2.body["transport_status"], "delivered");
    // Nothing more: each callback was delivered once it got its 2xx.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), received.recv())
            .await
            .is_err()
    );

    // The attempts and the outcome are counted.
    let admin = admin_addr(&gw);
    let (_, metrics) = common::http_get(admin, "/metrics").await.unwrap();
    assert!(
        metrics.contains(
            "richmond_api_callback_failures_total{kind=\"sms_received\",code=\"status_5xx\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("richmond_api_callbacks_total{kind=\"sms_receipt\",outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("richmond_api_requests_total{route=\"/api/v1/sms/{transport}/send.json\",status=\"200\"}"), "{metrics}");
    assert_eq!(gw.stop().await, Some(0));
}

pub(super) fn admin_addr(gw: &Gateway) -> std::net::SocketAddr {
    let text = std::fs::read_to_string(&gw.config).unwrap();
    let cfg: toml::Table = toml::from_str(&text).unwrap();
    cfg["admin"]["address"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_callback_is_given_up_after_the_last_attempt() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    // The config allows 5 attempts; the receiver always fails.
    let (rx_addr, mut received) = helpers::callback_receiver(vec![500; 20]).await;
    let urls = form(&[("sms_received", &format!("http://{rx_addr}/mo"))]);
    let a = request(
        gw.addr,
        "PUT",
        "/api/v1/account/callbacks.json",
        Some(ALICE),
        FORM,
        &urls,
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let mo = UserMessage::new(&t, "sms", "+27831113333", "12345", Some("lost".into()));
    carrier.inbound(&mo).await;
    for _ in 0..5 {
        let r = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.answered, 500);
    }
    let admin = admin_addr(&gw);
    let want = "richmond_api_callbacks_total{kind=\"sms_received\",outcome=\"gave_up\"} 1";
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = common::http_get(admin, "/metrics").await.unwrap().1;
        if metrics.contains(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains(want), "{metrics}");
    assert!(
        metrics.contains("richmond_api_callback_attempts_total{kind=\"sms_received\"} 5"),
        "{metrics}"
    );
    // No sixth attempt.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), received.recv())
            .await
            .is_err()
    );
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn each_inbound_message_goes_only_to_the_account_that_owns_it() {
    let (d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let (rx_addr, mut received) = helpers::callback_receiver(Vec::new()).await;
    for (user, path) in [(ALICE, "alice"), (BOB, "bob")] {
        let urls = form(&[("sms_received", &format!("http://{rx_addr}/{path}"))]);
        let a = request(
            gw.addr,
            "PUT",
            "/api/v1/account/callbacks.json",
            Some(user),
            FORM,
            &urls,
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // Bob writes to a handset: its answer (to a number nobody owns) is Bob's conversation.
    let a = request(
        gw.addr,
        "POST",
        &path(&t, "send.json"),
        Some(BOB),
        FORM,
        &form(&[
            ("to_msisdn", "+27831110050"),
            ("from_msisdn", "777"),
            ("message", "hi"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    carrier.outbound(1).await;
    let mo = |from: &str, to: &str, text: &str| {
        UserMessage::new(&t, "sms", from, to, Some(text.to_owned()))
    };
    let answer = mo("+27831110050", "777", "an answer to bob");
    let to_alice = mo("+27831110051", "12345", "to alice's short code");
    let keyword = mo("+27831110052", "888", "BOB please");
    let not_bob = mo("+27831110053", "888", "bobby is not a keyword");
    for m in [&answer, &to_alice, &keyword, &not_bob] {
        carrier.inbound(m).await;
    }
    // Every decision is made once one message is counted as unowned and three as queued (the
    // consumer handles senders side by side, so the order of the counts is not fixed).
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(&gw.config).unwrap()).unwrap();
    let admin: std::net::SocketAddr = table["admin"]["address"].as_str().unwrap().parse().unwrap();
    let unowned = format!(
        "richmond_api_bus_messages_total{{transport=\"{t}\",kind=\"inbound\",outcome=\"unowned\"}} 1"
    );
    let queued = format!(
        "richmond_api_bus_messages_total{{transport=\"{t}\",kind=\"inbound\",outcome=\"queued\"}} 3"
    );
    let mut metrics = String::new();
    for _ in 0..600 {
        metrics = common::http_get(admin, "/metrics").await.unwrap().1;
        if metrics.contains(&unowned) && metrics.contains(&queued) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains(&unowned) && metrics.contains(&queued),
        "{metrics}"
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        let r = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("a callback")
            .expect("receiver open");
        got.push((r.path, r.body["id"].as_str().unwrap().to_owned()));
    }
    got.sort();
    let mut want = vec![
        ("/alice".to_owned(), to_alice.message_id.clone()),
        ("/bob".to_owned(), answer.message_id.clone()),
        ("/bob".to_owned(), keyword.message_id.clone()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(gw.stop().await, Some(0));
    drop(d);
}

#[tokio::test]
async fn a_black_holed_receiver_never_delays_another_accounts_callbacks() {
    let (_d, gw, carrier) = start(|t| Setup {
        extra_api: "callback_timeout_seconds = 300.0\n".into(),
        ..Setup::amqp(t)
    })
    .await;
    let t = carrier.transport.clone();
    // Alice's receiver accepts connections and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = hole.accept().await {
            sockets.push(s);
        }
    });
    let (rx_addr, mut received) = helpers::callback_receiver(Vec::new()).await;
    for (user, url) in [
        (ALICE, format!("http://{hole_addr}/mo")),
        (BOB, format!("http://{rx_addr}/mo")),
    ] {
        let a = request(
            gw.addr,
            "PUT",
            "/api/v1/account/callbacks.json",
            Some(user),
            FORM,
            &form(&[("sms_received", &url)]),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // Forty MOs for Alice (her short code) queue up first, then one for Bob (his keyword).
    for i in 0..40 {
        let mo = UserMessage::new(
            &t,
            "sms",
            &format!("+278311100{i:02}"),
            "12345",
            Some("hi".into()),
        );
        carrier.inbound(&mo).await;
    }
    let bobs = UserMessage::new(&t, "sms", "+27831110099", "888", Some("bob hi".into()));
    carrier.inbound(&bobs).await;
    // Bob's arrives while Alice's forty hang on their 300 s timeout.
    let r = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("Bob's callback is not held up by Alice's receiver")
        .unwrap();
    assert_eq!(r.body["id"], bobs.message_id.as_str());
    assert_eq!(gw.stop().await, Some(0));
    held.abort();
}
