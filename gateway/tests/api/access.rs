//! Access: Basic auth, account isolation, the rate limit, and `hash-password`.

use super::*;

#[tokio::test]
async fn auth_is_required_and_accounts_are_isolated() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let body = form(&[
        ("to_msisdn", "+27831110010"),
        ("from_msisdn", "123"),
        ("message", "x"),
    ]);
    for auth in [None, Some(("alice", "wrong")), Some(("nobody", "x"))] {
        let a = request(gw.addr, "POST", &path(&t, "send.json"), auth, FORM, &body)
            .await
            .unwrap();
        assert_eq!(a.status, 401, "{auth:?}: {}", a.body);
        assert!(
            a.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic"))
        );
        assert_eq!(a.json()["error"], "unauthorized");
    }
    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831110010"),
            ("from_msisdn", "123"),
            ("message", "mine"),
        ],
    )
    .await;
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    carrier.outbound(1).await;
    let one = path(&t, &format!("status/{id}.json"));
    let a = request(gw.addr, "GET", &one, Some(BOB), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 404, "{}", a.body);
    let a = request(
        gw.addr,
        "GET",
        &path(&t, &format!("status.json?id={id}")),
        Some(BOB),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!((a.status, a.json()), (200, serde_json::json!([])));
    let a = request(
        gw.addr,
        "GET",
        &path(&t, "status.json?since=2000-01-01"),
        Some(BOB),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!((a.status, a.json()), (200, serde_json::json!([])));
    let a = request(gw.addr, "GET", &one, Some(ALICE), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let q = path(&t, "status.json?since=2000-01-01");
    for _ in 0..3 {
        let a = request(gw.addr, "GET", &q, Some(LIMITED), None, b"")
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let a = request(gw.addr, "GET", &q, Some(LIMITED), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 429, "{}", a.body);
    let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(a.json()["error"], "rate_limited");
    // Other accounts are not affected.
    let a = request(gw.addr, "GET", &q, Some(ALICE), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn hash_password_makes_a_hash_check_config_accepts() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hunter2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let phc = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(!phc.contains("hunter2"));

    let dir = tempfile::tempdir().unwrap();
    for (hash, code) in [(phc.as_str(), 0), ("hunter2", 78)] {
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            format!("data_dir = {:?}\n[api]\ntransports = [\"t\"]\n[[api.accounts]]\nusername = \"a\"\npassword_hash = {hash:?}\n", dir.path().join("data").display().to_string()),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
            .args(["--config", p.to_str().unwrap(), "check-config"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        if code == 78 {
            assert!(
                err.contains("c.toml") && err.contains("api.accounts[0].password_hash"),
                "{err}"
            );
        }
    }
}
