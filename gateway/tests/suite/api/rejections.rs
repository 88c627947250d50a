//! Bad input: every rejection is a 400 naming the field, and nothing is sent.

use super::*;

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_sends_nothing() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let good = [
        ("to_msisdn", "+27831110011"),
        ("from_msisdn", "123"),
        ("message", "ok"),
    ];
    let with = |k: &'static str, v: &'static str| -> Vec<(&'static str, &'static str)> {
        good.iter()
            .map(|(gk, gv)| if *gk == k { (k, v) } else { (*gk, *gv) })
            .collect()
    };
    let mut cases: Vec<(String, Vec<u8>, Option<&str>, &str)> = vec![
        (
            path(&t, "send.json"),
            form(&with("to_msisdn", "+2783")),
            FORM,
            "to_msisdn",
        ),
        (
            path(&t, "send.json"),
            form(&with("to_msisdn", "+27 83 111 0011")),
            FORM,
            "to_msisdn",
        ),
        (
            path(&t, "send.json"),
            form(&[("from_msisdn", "123"), ("message", "x")]),
            FORM,
            "to_msisdn",
        ),
        (
            path(&t, "send.json"),
            form(&[
                ("to_msisdn", "+27831110011"),
                ("to_msisdn", "+27831110012"),
                ("to_msisdn", "+27831110013"),
                ("to_msisdn", "+27831110014"),
                ("from_msisdn", "123"),
                ("message", "x"),
            ]),
            FORM,
            "to_msisdn",
        ),
        (
            path(&t, "send.json"),
            form(&with("from_msisdn", "Acme!")),
            FORM,
            "from_msisdn",
        ),
        (
            path(&t, "send.json"),
            form(&with("message", "")),
            FORM,
            "message",
        ),
        (
            path(&t, "send.json"),
            form(&with(
                "message",
                "this message is far longer than forty characters",
            )),
            FORM,
            "message",
        ),
        (
            path(&t, "send.json"),
            br#"{"to_msisdn": 27831110011, "from_msisdn": "123", "message": "x"}"#.to_vec(),
            JSON,
            "to_msisdn",
        ),
        (path(&t, "send.json"), b"{not json".to_vec(), JSON, "body"),
        (
            path("no_such_transport", "send.json"),
            form(&good),
            FORM,
            "transport",
        ),
        (
            path(&t, "template_send.json"),
            form(&[
                ("template", "Hi {{name"),
                ("to_msisdn", "+27831110011"),
                ("from_msisdn", "123"),
            ]),
            FORM,
            "template",
        ),
        (
            path(&t, "template_send.json"),
            form(&[
                ("template", "Hi {{name}}"),
                ("to_msisdn", "+27831110011"),
                ("to_msisdn", "+27831110012"),
                ("from_msisdn", "123"),
                ("template_name", "A"),
            ]),
            FORM,
            "template_name",
        ),
        (
            path(&t, "template_send.json"),
            form(&[
                ("template", "Hi {{name}}"),
                ("to_msisdn", "+27831110011"),
                ("from_msisdn", "123"),
                ("template_name", "A"),
                ("template_other", "B"),
            ]),
            FORM,
            "template_other",
        ),
        (
            path(&t, "template_send.json"),
            form(&[
                ("template", "Hi {{name}}"),
                ("to_msisdn", "+27831110011"),
                ("from_msisdn", "123"),
                (
                    "template_name",
                    "a value that is long enough to pass the limit",
                ),
            ]),
            FORM,
            "template",
        ),
    ];
    for (p, field) in [
        ("status.json?since=yesterday", "since"),
        ("status.json?since=2026-02-30T00:00:00Z", "since"),
        ("status.json", "since"),
        (
            "status.json?since=2000-01-01&id=ffffffffffffffffffffffffffffffff",
            "id",
        ),
    ] {
        cases.push((path(&t, p), Vec::new(), None, field));
    }
    cases.push((
        "/api/v1/account/callbacks.json".into(),
        form(&[("sms_received", "ftp://example.invalid/mo")]),
        FORM,
        "sms_received",
    ));
    cases.push((
        "/api/v1/account/callbacks.json".into(),
        form(&[("sms_receipt", "not a url")]),
        FORM,
        "sms_receipt",
    ));
    // SSRF: the cloud metadata service, loopback outside the allowed 127.0.0.0/8 (::1),
    // private networks, user information in the URL.
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9464/metrics",
        "http://10.0.0.1/mo",
        "http://user:secret@receiver.example.com/mo",
        "https://169.254.169.254/latest/meta-data/",
    ] {
        cases.push((
            "/api/v1/account/callbacks.json".into(),
            form(&[("sms_received", url)]),
            FORM,
            "sms_received",
        ));
    }
    for (p, body, ct, field) in &cases {
        let method = if p.contains("callbacks") {
            "PUT"
        } else if p.contains("status") {
            "GET"
        } else {
            "POST"
        };
        let a = request(gw.addr, method, p, Some(ALICE), *ct, body)
            .await
            .unwrap();
        assert_eq!(
            a.status,
            400,
            "{method} {p} {}: {}",
            String::from_utf8_lossy(body),
            a.body
        );
        let j = a.json();
        assert_eq!(
            (j["error"].as_str(), j["field"].as_str()),
            (Some("invalid_field"), Some(*field)),
            "{p}: {j}"
        );
    }
    // Nothing was published: the first outbound message is the good one sent now.
    let a = send_form(&gw, &t, &good).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sent = carrier.outbound(1).await;
    assert_eq!(sent[0].message_id, a.json()[0]["id"].as_str().unwrap());
    assert_eq!(gw.stop().await, Some(0));
}
