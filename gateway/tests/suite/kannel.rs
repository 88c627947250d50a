//! Kannel (the Debian package, a client nobody here wrote) binds to Richmond's SMPP server
//! transport as its SMSC: MT sent through Kannel's `sendsms` goes Kannel → Richmond's server
//! → a router's `forward` → Richmond's SMPP client transport → `richmond simulate smsc`, and
//! the simulator's receipt comes back the same way to Kannel, which calls the `dlr-url` of the
//! request. A long message, which Kannel sends in UDH parts, reaches the SMSC whole.

use std::net::SocketAddr;

use richmond_tests::common;
use richmond_tests::kannel::{self, Kannel, Setup};
use richmond_tests::procs::{Gateway, Sim};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A tiny HTTP server on 127.0.0.1 that answers every request `200` and hands over its path:
/// where Kannel's smsbox reports delivery.
async fn dlr_catcher() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = tx.send(path);
            });
        }
    });
    (addr, rx)
}

/// Kannel's logs, for a failure message.
fn logs(k: &Kannel) -> String {
    ["bearerbox.log", "smsbox.log"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(k.dir().join(f)).unwrap_or_default();
            format!("--- {f}:\n{text}")
        })
        .collect()
}

#[tokio::test]
async fn kannel_sends_through_richmonds_smpp_server_and_gets_its_delivery_report() {
    assert!(
        kannel::available(),
        "{} not found: ./scripts/test installs the Debian package kannel",
        kannel::BEARERBOX
    );
    let mut smsc = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let port = common::free_port();
    let config = crate::smpp_two_hops::two_hops(port, smsc.addr.port(), "kannel");
    let mut gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup {
        smsc_port: port,
        system_id: "kannel",
        password: "s3cret",
        smsc_extra: "",
        core_extra: "",
        user: "tester",
        user_password: "testpass",
        // Long text goes out in up to three UDH parts.
        user_extra: "max-messages = 3\nconcatenation = true",
    };
    let k = Kannel::start(dir.path(), &setup)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.logs()));
    let (catcher, mut dlrs) = dlr_catcher().await;

    // A short message with a delivery report asked for (dlr-mask 1: delivered).
    let dlr_url = format!("http://{catcher}/dlr?tag=short&status=%d");
    let send = |text: &str, dlr: &str| {
        kannel::sendsms_path(&[
            ("username", "tester"),
            ("password", "testpass"),
            ("from", "27820001111"),
            ("to", "27830002222"),
            ("text", text),
            ("dlr-mask", "1"),
            ("dlr-url", dlr),
        ])
    };
    let (status, body) = common::http_get(k.sendsms, &send("Hello through Kannel", &dlr_url))
        .await
        .expect("sendsms");
    assert_eq!(status, 202, "{body}");
    let at_smsc = smsc
        .expect("Kannel's message at the SMSC", |e| {
            e["event"] == "message" && e["text"] == "Hello through Kannel"
        })
        .await;
    assert_eq!(at_smsc["destination"], "27830002222", "{at_smsc}");
    let dlr = tokio::time::timeout(std::time::Duration::from_secs(60), dlrs.recv())
        .await
        .unwrap_or_else(|_| panic!("no DLR at Kannel's dlr-url\n{}\n{}", logs(&k), gw.logs()))
        .expect("the catcher runs");
    assert!(dlr.contains("tag=short"), "{dlr}");
    // Kannel's status 1: delivered to the phone.
    assert!(dlr.contains("status=1"), "{dlr}");

    // A long message: Kannel sends it in UDH parts; the SMSC gets the whole text.
    let long = "A long message sent through Kannel, which splits it into concatenated parts \
                with a UDH each; Richmond's SMPP server joins them and its SMPP client sends \
                the whole text on to the SMSC, split again as that link needs.";
    let (status, body) = common::http_get(
        k.sendsms,
        &send(long, &format!("http://{catcher}/dlr?tag=long&status=%d")),
    )
    .await
    .expect("sendsms");
    assert_eq!(status, 202, "{body}");
    let at_smsc = smsc
        .expect("the long message at the SMSC", |e| {
            e["event"] == "message" && e["text"] == long
        })
        .await;
    assert!(
        at_smsc["parts"].as_u64().is_some_and(|n| n >= 2),
        "{at_smsc}"
    );
    drop(k);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
