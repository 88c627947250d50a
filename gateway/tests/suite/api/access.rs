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

/// `richmond create-token`: (token, digest).
fn create_token() -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
        .arg("create-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_owned()
    };
    (field("token:"), field("digest:"))
}

#[tokio::test]
async fn tokens_authenticate_revoked_ones_do_not_and_no_secret_shows() {
    let (inline, filed, revoked) = (create_token(), create_token(), create_token());
    assert!(inline.0.starts_with("rmd_") && inline.1.starts_with("sha256:"));
    let dir = tempfile::tempdir().unwrap();
    let tokens_file = dir.path().join("robot.tokens");
    // At first the file lists two tokens; one is revoked below.
    std::fs::write(
        &tokens_file,
        format!("# robot's tokens\n{}\n{}\n", filed.1, revoked.1),
    )
    .unwrap();
    let phc = richmond::api::auth::hash_password("robot-password").unwrap();
    let t = common::unique("api");
    let mut setup = Setup::amqp(&t);
    setup.extra = format!(
        "[[api.accounts]]\nusername = \"robot\"\npassword_hash = {phc:?}\n\
         token_digests = [{:?}]\ntokens_file = {:?}\n",
        inline.1,
        tokens_file.display().to_string()
    );
    let (cfg, addr) = helpers::write_config(dir.path(), &setup);
    let _carrier = Carrier::new(&t).await;
    let q = path(&t, "status.json?since=2000-01-01");
    let first_log = dir.path().join("richmond-first.log");
    let gw = Gateway::start_with_log(&cfg, addr, Some(&first_log)).await;
    gw.wait_ready().await;
    let a = request_with(
        addr,
        "GET",
        &q,
        Some(&format!("Bearer {}", revoked.0)),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "before revocation: {}", a.body);
    assert_eq!(gw.stop().await, Some(0));
    // Revoked: its digest leaves the file; the gateway is restarted.
    std::fs::write(&tokens_file, format!("# robot's tokens\n{}\n", filed.1)).unwrap();
    let log = dir.path().join("richmond.log");
    let gw = Gateway::start_with_log(&cfg, addr, Some(&log)).await;
    gw.wait_ready().await;
    for token in [&inline.0, &filed.0] {
        let a = request_with(addr, "GET", &q, Some(&format!("Bearer {token}")), None, b"")
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let body = form(&[
        ("to_msisdn", "+27831110099"),
        ("from_msisdn", "123"),
        ("message", "t"),
    ]);
    let a = request_with(
        addr,
        "POST",
        &path(&t, "send.json"),
        Some(&format!("Bearer {}", inline.0)),
        FORM,
        &body,
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // The real token with its last digit changed (never to itself).
    let last = if inline.0.ends_with('0') { "1" } else { "0" };
    let unknown = format!("{}{last}", &inline.0[..inline.0.len() - 1]);
    assert_ne!(unknown, inline.0);
    for bad in [
        revoked.0.as_str(),
        unknown.as_str(),
        inline.1.as_str(),
        "",
        "rmd_",
    ] {
        let a = request_with(addr, "GET", &q, Some(&format!("Bearer {bad}")), None, b"")
            .await
            .unwrap();
        assert_eq!(a.status, 401, "{bad:?}: {}", a.body);
        assert_eq!(a.json()["error"], "unauthorized");
    }
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    let admin: std::net::SocketAddr = table["admin"]["address"].as_str().unwrap().parse().unwrap();
    let (_, metrics) = common::http_get(admin, "/metrics").await.unwrap();
    assert_eq!(gw.stop().await, Some(0));
    let print = std::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
        .args(["--config", cfg.to_str().unwrap(), "check-config", "--print"])
        .output()
        .unwrap();
    assert_eq!(print.status.code(), Some(0));
    let print = String::from_utf8_lossy(&print.stdout).into_owned();
    assert!(print.contains("robot"), "{print}");
    let log =
        std::fs::read_to_string(&log).unwrap() + &std::fs::read_to_string(&first_log).unwrap();
    assert!(
        log.contains("Callbacks") || log.contains("API listener up"),
        "{log}"
    );
    let hex = |s: &str| {
        s.trim_start_matches("sha256:")
            .trim_start_matches("rmd_")
            .to_owned()
    };
    let secrets: [&str; 8] = [
        &inline.0,
        &inline.1,
        &filed.0,
        &filed.1,
        &revoked.0,
        &revoked.1,
        &phc,
        "robot-password",
    ];
    for secret in secrets {
        for (name, text) in [
            ("log", &log),
            ("/metrics", &metrics),
            ("check-config --print", &print),
        ] {
            assert!(!text.contains(secret), "{name} shows a secret");
            assert!(
                !text.contains(&hex(secret)),
                "{name} shows a secret's digits"
            );
        }
    }
}

#[tokio::test]
async fn wrong_passwords_never_lock_the_real_user_out() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let q = path(&carrier.transport, "status.json?since=2000-01-01");
    // LIMITED may make 3 requests a minute; 8 wrong guesses use none of them.
    for _ in 0..8 {
        let a = request(gw.addr, "GET", &q, Some((LIMITED.0, "guess")), None, b"")
            .await
            .unwrap();
        assert_eq!(a.status, 401, "{}", a.body);
    }
    for _ in 0..3 {
        let a = request(gw.addr, "GET", &q, Some(LIMITED), None, b"")
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(gw.stop().await, Some(0));
}

/// (peak RSS in MiB, threads) of a process, from /proc.
fn rss_and_threads(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    (field("VmHWM:") / 1024, field("Threads:"))
}

#[tokio::test]
async fn a_thousand_concurrent_authenticated_requests_stay_within_bounds() {
    let (_d, gw, carrier) = start(|t| Setup {
        extra_api: "rate_limit_requests = 100000".into(),
        ..Setup::amqp(t)
    })
    .await;
    let t = carrier.transport.clone();
    let pid = gw.child.id().unwrap();
    let (rss_before, threads_before) = rss_and_threads(pid);
    let body = form(&[
        ("to_msisdn", "+27831110077"),
        ("from_msisdn", "123"),
        ("message", "many"),
    ]);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (addr, p, body) = (gw.addr, path(&t, "send.json"), body.clone());
        requests.spawn(async move {
            // A connect the kernel's accept queue overflowed is reset: the client tries again
            // (bounded), as any client would.
            let mut last = None;
            for attempt in 0..50u64 {
                match request(addr, "POST", &p, Some(BOB), FORM, &body).await {
                    Ok(a) => return Ok(a.status),
                    Err(e) => last = Some(e),
                }
                tokio::time::sleep(Duration::from_millis(10 * attempt.min(10))).await;
            }
            Err(last.expect("an error"))
        });
    }
    let mut ok = 0;
    while let Some(r) = requests.join_next().await {
        match r.unwrap() {
            Ok(200) => ok += 1,
            Ok(other) => panic!("answered {other}"),
            // A connection refused when the listen backlog overflows is the client's
            // problem here, not the gateway's; everything answered must be 200.
            Err(e) => panic!("a request failed 50 times: {e}"),
        }
    }
    assert_eq!(ok, 1000, "requests answered 200");
    let (rss, threads) = rss_and_threads(pid);
    eprintln!("RSS {rss_before} -> {rss} MiB, threads {threads_before} -> {threads}");
    assert!(
        rss < 250,
        "peak RSS {rss} MiB after 1,000 concurrent requests"
    );
    assert!(
        threads < 64,
        "{threads} threads after 1,000 concurrent requests"
    );
    carrier.outbound(ok).await;
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_password_guesser_is_stopped_per_address_and_the_real_user_still_gets_in() {
    let (_d, gw, carrier) = start(|t| Setup {
        extra_api: "failed_login_limit = 3\nfailed_login_window_seconds = 600\n".into(),
        ..Setup::amqp(t)
    })
    .await;
    let q = path(&carrier.transport, "status.json?since=2000-01-01");
    // The real user logs in once: the password is verified and cached.
    let a = request(gw.addr, "GET", &q, Some(ALICE), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // Three wrong guesses from this address are checked (401), later ones are not (429).
    for expected in [401, 401, 401, 429, 429] {
        let a = request(gw.addr, "GET", &q, Some((ALICE.0, "guess")), None, b"")
            .await
            .unwrap();
        assert_eq!(a.status, expected, "{}", a.body);
    }
    let a = request(gw.addr, "GET", &q, Some((BOB.0, "guess")), None, b"")
        .await
        .unwrap();
    assert_eq!(
        a.status, 429,
        "the limit is per address, whatever the account"
    );
    assert!(a.header("retry-after").is_some());
    // The real user, from the same address, still gets in with the verified password.
    let a = request(gw.addr, "GET", &q, Some(ALICE), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn two_instances_share_one_rate_limit_through_redis() {
    let prefix = format!("{}:", common::unique("rl"));
    let setup = |t: &str| Setup {
        store: StoreKind::Redis {
            prefix: prefix.clone(),
        },
        extra: "[cluster]\ninstances = 2\n".into(),
        ..Setup::amqp(t)
    };
    let (_d1, a, carrier) = start(setup).await;
    let t = carrier.transport.clone();
    let d2 = tempfile::tempdir().unwrap();
    let (config, addr) = helpers::write_config(d2.path(), &setup(&t));
    let b = Gateway::start(&config, addr).await;
    let q = path(&t, "status.json?since=2000-01-01");
    // The account has 3 requests a minute in all: two here, one there, then none anywhere.
    for gw in [a.addr, b.addr, a.addr] {
        let r = request(gw, "GET", &q, Some(LIMITED), None, b"")
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for gw in [b.addr, a.addr] {
        let r = request(gw, "GET", &q, Some(LIMITED), None, b"")
            .await
            .unwrap();
        assert_eq!(r.status, 429, "{}", r.body);
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    assert_eq!(b.stop().await, Some(0));
    assert_eq!(a.stop().await, Some(0));
}

#[tokio::test]
async fn sighup_takes_a_new_account_without_a_restart() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let q = path(&t, "status.json?since=2000-01-01");
    let carol = ("carol", "carol-secret");
    let r = request(gw.addr, "GET", &q, Some(carol), None, b"")
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let hash = richmond::api::auth::hash_password(carol.1).unwrap();
    let mut text = std::fs::read_to_string(&gw.config).unwrap();
    text += &format!("[[api.accounts]]\nusername = \"carol\"\npassword_hash = {hash:?}\n");
    std::fs::write(&gw.config, text).unwrap();
    let pid = gw.child.id().expect("pid");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    // The signal is handled when the process gets to it: wait for the account to appear.
    let mut status = 0;
    for _ in 0..600 {
        let r = request(gw.addr, "GET", &q, Some(carol), None, b"")
            .await
            .unwrap();
        status = r.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "carol never admitted");
    // The others are still there, and it is the same process.
    let r = request(gw.addr, "GET", &q, Some(ALICE), None, b"")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(gw.child.id(), Some(pid));
    assert_eq!(gw.stop().await, Some(0));
}
