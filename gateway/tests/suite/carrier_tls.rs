//! SMPP and SSMI over TLS through the real binary: `richmond simulate smsc` / `simulate ssmi`
//! serving a self-signed certificate (made here with rcgen), the gateway trusting it through
//! `tls_ca_file`. An MT is acked and an MO arrives; a gateway that does not trust the
//! certificate never binds or logs in (the simulator sees the failed handshake).

use richmond_tests::app;
use richmond_tests::common;
use richmond_tests::procs;

use app::{App, kind};
use procs::{Gateway, Sim};
use richmond::bus::Bus;

struct Certs {
    _dir: tempfile::TempDir,
    cert: String,
    key: String,
}

fn certs() -> Certs {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("write key");
    let path = |p: std::path::PathBuf| p.to_str().expect("utf-8").to_owned();
    Certs {
        cert: path(cert),
        key: path(key),
        _dir: dir,
    }
}

fn config(id: &str, port: u16, ca_file: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[bus]\ntype = \"amqp\"\n\
         url = {:?}\nreconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         reconnect_max_seconds = 1.0\ntls = true\ntls_ca_file = {ca_file:?}\n\
         tls_server_name = \"localhost\"\n",
        common::amqp_url()
    )
}

#[tokio::test]
async fn mt_and_mo_over_tls() {
    let certs = certs();
    let mut sim = Sim::start(&[
        "smsc",
        "--receipt-delay-ms",
        "20",
        "--tls-cert",
        &certs.cert,
        "--tls-key",
        &certs.key,
    ])
    .await;
    let id = common::unique("tls");
    let mut gw = Gateway::start(&config(&id, sim.addr.port(), &certs.cert)).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    assert!(gw.logs().contains("over TLS"), "{}", gw.logs());
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let mt = app.sms("+27820001234", "over TLS");
    app.send(&mt).await;
    // A receipt may come before the ack on a busy machine: skip reports.
    let ack = loop {
        let e = app.event().await;
        if kind(&e).0 != "delivery_report" {
            break e;
        }
    };
    assert_eq!(
        (kind(&ack).0, ack.user_message_id.as_str()),
        ("ack", mt.message_id.as_str())
    );
    sim.find("the message", |e| {
        e["event"] == "message" && e["text"] == "over TLS"
    })
    .await;
    sim.cmd("mo 27820001234 12345 secret hello").await;
    assert_eq!(app.inbound().await.content.as_deref(), Some("secret hello"));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let certs = certs();
    let other = self::certs();
    let mut sim = Sim::start(&["smsc", "--tls-cert", &certs.cert, "--tls-key", &certs.key]).await;
    let id = common::unique("tlsbad");
    // The gateway trusts another CA than the one that signed the simulator's certificate.
    let mut gw = Gateway::start(&config(&id, sim.addr.port(), &other.cert)).await;
    sim.expect("a refused handshake", |e| e["event"] == "tls_error")
        .await;
    assert_eq!(sim.count(|e| e["event"] == "bind"), 0, "{:?}", sim.seen);
    assert_eq!(gw.ready().await.0, 503);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

fn ssmi_config(id: &str, port: u16, ca_file: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[bus]\ntype = \"amqp\"\n\
         url = {:?}\nreconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         username = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         reconnect_max_seconds = 1.0\nsms_address = \"12345\"\ntls = true\n\
         tls_ca_file = {ca_file:?}\ntls_server_name = \"localhost\"\n",
        common::amqp_url()
    )
}

#[tokio::test]
async fn ssmi_sms_both_ways_over_tls() {
    let certs = certs();
    let mut sim = Sim::start(&[
        "ssmi",
        "--dr-delay-ms",
        "20",
        "--tls-cert",
        &certs.cert,
        "--tls-key",
        &certs.key,
    ])
    .await;
    let id = common::unique("ssmitls");
    let mut gw = Gateway::start(&ssmi_config(&id, sim.addr.port(), &certs.cert)).await;
    sim.expect("a login", |e| e["event"] == "login" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    assert!(gw.logs().contains("over TLS"), "{}", gw.logs());
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let mt = app.sms("+27820001235", "ssmi over TLS");
    app.send(&mt).await;
    let ack = loop {
        let e = app.event().await;
        if kind(&e).0 != "delivery_report" {
            break e;
        }
    };
    assert_eq!(
        (kind(&ack).0, ack.user_message_id.as_str()),
        ("ack", mt.message_id.as_str())
    );
    sim.cmd("mo 27820001235 hello over tls").await;
    assert_eq!(
        app.inbound().await.content.as_deref(),
        Some("hello over tls")
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn ssmi_refuses_an_untrusted_certificate() {
    let certs = certs();
    let other = self::certs();
    let mut sim = Sim::start(&["ssmi", "--tls-cert", &certs.cert, "--tls-key", &certs.key]).await;
    let id = common::unique("ssmitlsbad");
    let mut gw = Gateway::start(&ssmi_config(&id, sim.addr.port(), &other.cert)).await;
    sim.expect("a refused handshake", |e| e["event"] == "tls_error")
        .await;
    assert_eq!(sim.count(|e| e["event"] == "login"), 0, "{:?}", sim.seen);
    assert_eq!(gw.ready().await.0, 503);
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
