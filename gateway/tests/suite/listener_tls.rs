//! HTTPS on Richmond's own listeners through the real binary: the admin listener and the API
//! serve the certificate of `tls_cert_file`/`tls_key_file` (made here with rcgen), a client
//! trusting it gets answers, a plain-HTTP client gets none; after the files are replaced and
//! SIGHUP is sent, new connections get the new certificate; files that do not load leave the
//! last good one in place.

use richmond_tests::common;
use richmond_tests::procs;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use procs::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for `localhost`: (PEM certificate, PEM key).
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// `GET path` over TLS trusting only `ca_pem`: (status, body), or `None` when the handshake
/// or the exchange fails.
async fn https_get(addr: SocketAddr, path: &str, ca_pem: &str) -> Option<(u16, String)> {
    let tls = richmond_drivers::tls::Tls::new("localhost", ca_pem.as_bytes()).ok()?;
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut s = tls.connect(tcp).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
}

/// Waits (bounded) until `GET path` over TLS trusting `ca_pem` answers 200; the body.
async fn until_ok(gw: &Gateway, addr: SocketAddr, path: &str, ca_pem: &str) -> String {
    let deadline = tokio::time::Instant::now() + procs::PATIENCE;
    loop {
        if let Some((200, body)) = https_get(addr, path, ca_pem).await {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr}{path} never answered 200 over TLS; logs:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write_pair(dir: &Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
}

fn hup(gw: &Gateway) {
    let pid = gw
        .child
        .as_ref()
        .and_then(tokio::process::Child::id)
        .expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test]
async fn admin_and_api_serve_https_and_reload_on_sighup() {
    let certs = tempfile::tempdir().unwrap();
    let first = self_signed();
    let second = self_signed();
    write_pair(certs.path(), &first);
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let api: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let files = format!(
        "tls_cert_file = {:?}\ntls_key_file = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n{files}\
         [bus]\ntype = \"embedded\"\n[api]\naddress = \"{api}\"\ntransports = [\"sms\"]\n{files}\
         [transports.sms]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"richmond\"\npassword = \"richmond\"\n\
         [[api.accounts]]\nusername = \"alice\"\npassword_hash = {:?}\n",
        common::free_port(),
        richmond::api::auth::hash_password("alice-secret").expect("hash")
    );
    let mut gw = Gateway::start(&config).await;
    let live = until_ok(&gw, gw.admin, "/live", &first.0).await;
    assert!(live.contains("live"), "{live}");
    let openapi = until_ok(&gw, api, "/api/v1/openapi.json", &first.0).await;
    assert!(openapi.contains("openapi"), "{openapi}");
    // Plain HTTP gets no HTTP answer from a TLS port.
    let plain = common::http_get(gw.admin, "/live").await;
    assert!(!matches!(plain, Ok((200, _))), "{plain:?}");
    // A client that trusts another certificate is refused.
    assert_eq!(https_get(gw.admin, "/live", &second.0).await, None);

    // New files and SIGHUP: new connections get the second certificate.
    write_pair(certs.path(), &second);
    hup(&gw);
    until_ok(&gw, gw.admin, "/live", &second.0).await;
    until_ok(&gw, api, "/api/v1/openapi.json", &second.0).await;
    assert_eq!(https_get(gw.admin, "/live", &first.0).await, None);

    // Files that do not load: the second certificate stays, the failure is counted.
    std::fs::write(&cert, "not a certificate").unwrap();
    hup(&gw);
    let want = "richmond_listener_tls_reloads_total{listener=\"admin\",outcome=\"failed\"} 1";
    let metrics = {
        let deadline = tokio::time::Instant::now() + procs::PATIENCE;
        loop {
            let m = until_ok(&gw, gw.admin, "/metrics", &second.0).await;
            if m.contains(want) {
                break m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{want} never appeared:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(
        metrics.contains("richmond_listener_tls_reloads_total{listener=\"api\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    until_ok(&gw, api, "/api/v1/openapi.json", &second.0).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn check_config_refuses_half_or_unreadable_listener_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[admin]\ntls_cert_file = \"/nonexistent/cert.pem\"\n",
            "admin.tls_cert_file and admin.tls_key_file go together",
        ),
        (
            "[admin]\ntls_cert_file = \"/nonexistent/cert.pem\"\ntls_key_file = \"/nonexistent/key.pem\"\n",
            "cannot read /nonexistent/cert.pem",
        ),
    ];
    for (section, want) in cases {
        let path = dir.path().join("richmond.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = {:?}\n{section}",
                dir.path().display().to_string()
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
            .args(["--config", path.to_str().unwrap(), "check-config"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{section}: {stderr}");
        assert!(stderr.contains(want), "{section}: {stderr}");
    }
}
