//! Issue #10 end to end: the single-binary gateway (embedded durable bus, redb store, HTTP
//! API, SMPP transport) against `richmond simulate smsc` in its own process. SIGKILL while MT
//! messages flow from the API, then a restart on the same data directory: every message the
//! API accepted reaches the SMSC (duplicates only for what was in flight). The same for MO:
//! the simulator resends until it gets `deliver_sm_resp`, and every MO reaches the account's
//! callback after the restart. A full embedded queue makes the API answer 503 with
//! `Retry-After`, and what it accepted before is delivered once the SMSC is back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::procs::{PATIENCE, Sim};
use super::*;

/// Most outbound messages the transport holds at once (the bound on duplicates).
const IN_FLIGHT: usize = 10;

fn transport_table(t: &str, port: u16) -> String {
    format!(
        "[transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nregistered_delivery = false\n\
         max_in_flight = {IN_FLIGHT}\nreconnect_initial_seconds = 0.1\n\
         reconnect_max_seconds = 0.5\n"
    )
}

/// An embedded-bus gateway with the SMPP transport `t` to `port`.
fn setup(t: &str, port: u16, bus: &str) -> Setup {
    Setup {
        amqp: false,
        extra_api: "rate_limit_requests = 100000\npublish_timeout_seconds = 1".into(),
        extra: format!("{bus}{}", transport_table(t, port)),
        ..Setup::amqp(t)
    }
}

fn sigkill(gw: &mut Gateway) {
    let pid = gw.child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// How many `submit_sm` the simulator saw per text.
fn submitted(sim: &Sim) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in sim.seen.iter().filter(|e| e["event"] == "submit_sm") {
        *out.entry(e["text"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    out
}

#[tokio::test]
async fn sigkill_while_mt_flows_loses_nothing_the_api_accepted() {
    let mut sim = Sim::start(&["smsc"]).await;
    let t = common::unique("killmt");
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = helpers::write_config(dir.path(), &setup(&t, sim.addr.port(), ""));
    let mut gw = Gateway::start(&cfg, addr).await;
    // One client sends until the gateway dies under it.
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let (accepted, t) = (accepted.clone(), t.clone());
        tokio::spawn(async move {
            for i in 0..2000 {
                let text = format!("mt-{i:04}");
                let body = form(&[
                    ("to_msisdn", "+27831234567"),
                    ("from_msisdn", "12345"),
                    ("message", &text),
                ]);
                let path = path(&t, "send.json");
                match request(addr, "POST", &path, Some(ALICE), FORM, &body).await {
                    Ok(a) if a.status == 200 => accepted.lock().unwrap().push(text),
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while accepted.lock().unwrap().len() < 60 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API took too few"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sigkill(&mut gw);
    gw.child.wait().await.unwrap();
    sender.await.unwrap();
    let accepted = accepted.lock().unwrap().clone();

    let gw = Gateway::start(&cfg, addr).await;
    for text in &accepted {
        if !submitted(&sim).contains_key(text) {
            let want = text.clone();
            sim.expect("an accepted message", |e| {
                e["event"] == "submit_sm" && e["text"] == want.as_str()
            })
            .await;
        }
    }
    let counts = submitted(&sim);
    let duplicates: usize = accepted.iter().map(|t| counts[t] - 1).sum();
    eprintln!(
        "{} accepted before the kill, {duplicates} sent twice",
        accepted.len()
    );
    assert!(
        duplicates <= IN_FLIGHT,
        "{duplicates} duplicates of {} accepted",
        accepted.len()
    );
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn sigkill_while_mo_flows_loses_nothing_the_smsc_handed_over() {
    let mut sim = Sim::start(&[
        "smsc",
        "--redeliver-delay-ms",
        "100",
        "--deliver-timeout-ms",
        "2000",
    ])
    .await;
    let t = common::unique("killmo");
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = helpers::write_config(dir.path(), &setup(&t, sim.addr.port(), ""));
    let mut gw = Gateway::start(&cfg, addr).await;
    let (rx_addr, mut received) = helpers::callback_receiver(Vec::new()).await;
    let urls = form(&[("sms_received", &format!("http://{rx_addr}/mo"))]);
    let put = request(
        addr,
        "PUT",
        "/api/v1/account/callbacks.json",
        Some(ALICE),
        FORM,
        &urls,
    )
    .await
    .unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    const N: usize = 60;
    for i in 0..N {
        sim.cmd(&format!("mo 2783100{i:04} 12345 mo-{i:04}-end"))
            .await;
    }
    let mut got = BTreeMap::<String, usize>::new();
    let text_of = |r: &helpers::Received| r.body["message"].as_str().unwrap_or_default().to_owned();
    while got.len() < 10 {
        let r = tokio::time::timeout(PATIENCE, received.recv())
            .await
            .unwrap()
            .unwrap();
        *got.entry(text_of(&r)).or_default() += 1;
    }
    sigkill(&mut gw);
    gw.child.wait().await.unwrap();
    eprintln!("{} of {N} MOs at the callback before the kill", got.len());
    let gw = Gateway::start(&cfg, addr).await;
    while got.len() < N {
        let r = tokio::time::timeout(PATIENCE, received.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {N} MOs reached the callback: {got:?}",
                    got.len()
                )
            })
            .unwrap();
        *got.entry(text_of(&r)).or_default() += 1;
    }
    for i in 0..N {
        assert!(got.contains_key(&format!("mo-{i:04}-end")), "{got:?}");
    }
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn a_full_queue_answers_503_and_loses_nothing() {
    // The SMSC is down at first: the transport holds one message, the queue takes three.
    let port = common::free_port();
    let t = common::unique("full");
    let dir = tempfile::tempdir().unwrap();
    let bus = "[bus]\ntype = \"embedded\"\nmax_queue_messages = 3\n";
    let mut s = setup(&t, port, bus);
    s.extra = s
        .extra
        .replace(&format!("max_in_flight = {IN_FLIGHT}"), "max_in_flight = 1");
    let (cfg, addr) = helpers::write_config(dir.path(), &s);
    let gw = Gateway::start(&cfg, addr).await;
    let mut accepted = Vec::new();
    let refused = loop {
        let text = format!("full-{}", accepted.len());
        let body = form(&[
            ("to_msisdn", "+27831234567"),
            ("from_msisdn", "12345"),
            ("message", &text),
        ]);
        let a = request(
            addr,
            "POST",
            &path(&t, "send.json"),
            Some(ALICE),
            FORM,
            &body,
        )
        .await
        .unwrap();
        match a.status {
            200 => accepted.push(text),
            _ => break a,
        }
        assert!(accepted.len() <= 3, "the queue took more than its bound");
    };
    assert_eq!(refused.status, 503, "{}", refused.body);
    let retry: u64 = refused
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(accepted.len(), 3);

    // The SMSC comes up: everything accepted is delivered, and sending works again.
    let port = port.to_string();
    let richmond = env!("CARGO_BIN_EXE_richmond");
    let listen = format!("127.0.0.1:{port}");
    let mut sim =
        Sim::start_program(richmond, &["simulate", "smsc", "--listen", &listen], &[]).await;
    for text in &accepted {
        let want = text.clone();
        sim.expect("an accepted message", |e| {
            e["event"] == "submit_sm" && e["text"] == want.as_str()
        })
        .await;
    }
    let body = form(&[
        ("to_msisdn", "+27831234567"),
        ("from_msisdn", "12345"),
        ("message", "after"),
    ]);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let a = request(
            addr,
            "POST",
            &path(&t, "send.json"),
            Some(ALICE),
            FORM,
            &body,
        )
        .await
        .unwrap();
        if a.status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never accepted again: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gw.stop().await, Some(0));
}
