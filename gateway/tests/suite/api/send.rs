//! Sending: form bodies with repeated recipients, JSON bodies, template sends.

use super::*;

#[tokio::test]
async fn send_form_with_repeated_recipients_publishes_one_message_each() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831110001"),
            ("to_msisdn", "27831110002"),
            ("from_msisdn", "12345"),
            ("message", "hello there"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for (rec, to) in list.iter().zip(["+27831110001", "27831110002"]) {
        assert_eq!(rec["to_msisdn"], to);
        assert_eq!(rec["from_msisdn"], "12345");
        assert_eq!(rec["message"], "hello there");
        assert_eq!(rec["transport_status"], "pending");
        assert!(rec["delivered_at"].is_null());
        for k in ["id", "created_at", "updated_at"] {
            assert!(rec[k].is_string(), "{k}: {rec}");
        }
    }
    let sent = carrier.outbound(2).await;
    for (m, rec) in sent.iter().zip(list) {
        assert_eq!(m.message_id, rec["id"].as_str().unwrap());
        assert_eq!(m.to_addr.as_deref(), rec["to_msisdn"].as_str());
        assert_eq!(m.from_addr.as_deref(), Some("12345"));
        assert_eq!(m.content.as_deref(), Some("hello there"));
        assert_eq!(m.transport_name.as_deref(), Some(t.as_str()));
    }
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn send_json_and_template_send_in_both_encodings() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let body = serde_json::json!({"to_msisdn": "+27831110003", "from_msisdn": "+27830000000", "message": "json body"});
    let a = request(
        gw.addr,
        "POST",
        &path(&t, "send.json"),
        Some(ALICE),
        JSON,
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()[0]["message"], "json body");

    let a = request(
        gw.addr,
        "POST",
        &path(&t, "template_send.json"),
        Some(ALICE),
        FORM,
        &form(&[
            ("template", "Hi {{name}}, you owe {{ amount }}."),
            ("to_msisdn", "+27831110004"),
            ("to_msisdn", "+27831110005"),
            ("from_msisdn", "123"),
            ("template_name", "Ann"),
            ("template_name", "Bo"),
            ("template_amount", "R5"),
            ("template_amount", "R7"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let texts: Vec<String> = a
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["Hi Ann, you owe R5.", "Hi Bo, you owe R7."]);

    let body = serde_json::json!({"template": "Yo {{n}}", "to_msisdn": ["+27831110006"], "from_msisdn": "123", "template_n": ["Cy"]});
    let a = request(
        gw.addr,
        "POST",
        &path(&t, "template_send.json"),
        Some(ALICE),
        JSON,
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);

    let sent = carrier.outbound(4).await;
    let contents: Vec<_> = sent.iter().map(|m| m.content.clone().unwrap()).collect();
    assert_eq!(
        contents,
        [
            "json body",
            "Hi Ann, you owe R5.",
            "Hi Bo, you owe R7.",
            "Yo Cy"
        ]
    );
    assert_eq!(sent[1].to_addr.as_deref(), Some("+27831110004"));
    assert_eq!(gw.stop().await, Some(0));
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from a kept-alive stream.
async fn read_response(s: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> (u16, String) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut status = 0;
    let mut length = 0;
    loop {
        let mut line = String::new();
        assert!(
            s.read_line(&mut line).await.unwrap() > 0,
            "connection closed"
        );
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(code) = line.strip_prefix("HTTP/1.1 ") {
            status = code[..3].parse().unwrap();
        } else if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    s.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn sends_share_one_kept_alive_connection() {
    use base64::Engine as _;
    use tokio::io::AsyncWriteExt;
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ALICE.0, ALICE.1));
    let mut s = tokio::io::BufReader::new(tokio::net::TcpStream::connect(gw.addr).await.unwrap());
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = form(&[
            ("to_msisdn", &format!("+2783111002{i}")),
            ("from_msisdn", "12345"),
            ("message", "kept alive"),
        ]);
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            path(&t, "send.json"),
            body.len()
        );
        s.get_mut().write_all(head.as_bytes()).await.unwrap();
        s.get_mut().write_all(&body).await.unwrap();
        let (status, text) = read_response(&mut s).await;
        assert_eq!(status, 200, "request {i} on the same connection: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        ids.push(v[0]["id"].as_str().unwrap().to_owned());
    }
    let got: Vec<String> = carrier
        .outbound(3)
        .await
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    for id in &ids {
        assert!(got.contains(id), "{id} answered but not published");
    }
    assert_eq!(gw.stop().await, Some(0));
}
