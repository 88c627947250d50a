//! Issue #11 through the real binary: a pika application that behaves as a vumi2 application
//! (declares only `<t>.inbound` / `<t>.event` with no arguments, publishes without declaring,
//! `"resume"`, `{}` metadata, all 18 keys, prefetch 20, replies in reverse order of arrival)
//! and the same application in vumi 0.6 style run a USSD session with 20 users at once through
//! `richmond simulate ssmi`, and an SMS exchange with 20 senders through `richmond simulate
//! smsc` with acks and delivery reports. The application validates everything it reads with
//! vumi2's rules; the simulators show that every user got their own answers.

use richmond_tests::common;
use richmond_tests::procs;

use procs::{Gateway, Sim};
use tokio::process::{Child, Command};

const USERS: usize = 20;

fn bus() -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[bus]\ntype = \"amqp\"\n\
         url = {:?}\nreconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n",
        common::amqp_url()
    )
}

fn app(t: &str, style: &str, kind: &str) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/vumi_app.py");
    let count = USERS.to_string();
    Command::new(common::env("RICHMOND_TEST_PYTHON"))
        .args([script, &common::amqp_url(), t, "--style", style])
        .args(["--serve", kind, "--count", &count])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the pika application")
}

async fn finished(app: Child) -> String {
    let out = tokio::time::timeout(procs::PATIENCE * 2, app.wait_with_output())
        .await
        .expect("the application finishes")
        .expect("wait");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "application failed: {text}");
    assert!(text.contains("\"done\""), "{text}");
    text
}

async fn ussd_session(style: &str) {
    let t = common::unique("v2ussd");
    let mut sim = Sim::start(&["ssmi"]).await;
    let mut gw = Gateway::start(&format!(
        "{}[transports.{t}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n",
        bus(),
        sim.addr.port()
    ))
    .await;
    gw.wait_ready(200).await;
    let app = app(&t, style, "ussd");
    for i in 0..USERS {
        sim.cmd(&format!("dial 2783200{i:04} *120*77 {i}")).await;
    }
    sim.expect_total("every session's end", USERS, |e| {
        e["event"] == "ussd_session_done"
    })
    .await;
    for e in sim
        .seen
        .iter()
        .filter(|e| e["event"] == "ussd_session_done")
    {
        let msisdn = e["msisdn"].as_str().expect("msisdn");
        let choice = msisdn[msisdn.len() - 4..].trim_start_matches('0');
        let choice = if choice.is_empty() { "0" } else { choice };
        assert_eq!(
            e["transcript"],
            serde_json::json!([
                format!("Menu for +{msisdn}"),
                format!("Bye +{msisdn}: you chose {choice}")
            ]),
            "{style}: {e}"
        );
    }
    finished(app).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

async fn sms_exchange(style: &str) {
    let t = common::unique("v2sms");
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let mut gw = Gateway::start(&format!(
        "{}[transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n",
        bus(),
        sim.addr.port()
    ))
    .await;
    gw.wait_ready(200).await;
    let app = app(&t, style, "sms");
    for i in 0..USERS {
        sim.cmd(&format!("mo 2783300{i:04} 4455 hello {i}")).await;
    }
    sim.expect_total("every reply", USERS, |e| e["event"] == "submit_sm")
        .await;
    for e in sim.seen.iter().filter(|e| e["event"] == "submit_sm") {
        let to = e["destination"].as_str().expect("destination");
        let i: usize = to[to.len() - 4..].parse().expect("number");
        assert_eq!(
            e["text"],
            format!("Echo {to}: hello {i}").as_str(),
            "{style}: {e}"
        );
        assert_eq!(e["source"], "4455");
    }
    finished(app).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_vumi2_application_runs_ussd_sessions_out_of_order() {
    ussd_session("vumi2").await;
}

#[tokio::test]
async fn a_vumi06_application_runs_ussd_sessions_out_of_order() {
    ussd_session("vumi06").await;
}

#[tokio::test]
async fn a_vumi2_application_runs_an_sms_exchange_with_receipts() {
    sms_exchange("vumi2").await;
}

#[tokio::test]
async fn a_vumi06_application_runs_an_sms_exchange_with_receipts() {
    sms_exchange("vumi06").await;
}
