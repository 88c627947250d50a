//! `richmond simulate modem` seen from the serial line: the test opens the pty the simulator
//! names, as the modem driver does (`tokio_serial`), writes AT commands and checks the raw
//! bytes that come back, plus the simulator's JSON events. No timing is asserted; every wait
//! is bounded.

use richmond_tests::procs;
use richmond_tests::serial;

use std::time::Duration;

use procs::Sim;
use serial::{Port, SentExt};

async fn start(args: &[&str]) -> (Sim, Port) {
    let mut sim = Sim::start_modem(args).await;
    let port = Port::open(&sim.address);
    sim.expect("opened", |e| e["event"] == "opened").await;
    (sim, port)
}

#[tokio::test]
async fn echo_is_on_at_start_and_off_after_ate0() {
    let (_sim, mut port) = start(&[]).await;
    assert_eq!(port.at("AT").await, "AT\r\r\nOK\r\n");
    // The answer to ATE0 itself still carries the echo.
    assert_eq!(port.at("ATE0").await, "ATE0\r\r\nOK\r\n");
    assert_eq!(port.at("AT").await, "\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CGSN").await,
        "\r\n356938035643809\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+FOO").await, "\r\nERROR\r\n");
    assert_eq!(
        port.at("AT+CNMI=?").await,
        "\r\n+CNMI: (0-2),(0-3),(0),(0-2),(0,1)\r\n\r\nOK\r\n"
    );
    assert_eq!(
        port.at("AT+CPMS=\"SM\",\"SM\",\"SM\"").await,
        "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CMGR=1").await, "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(port.at("ATE1").await, "\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CSQ").await,
        "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    );
}

#[tokio::test]
async fn sim_pin() {
    let (mut sim, mut port) = start(&["--pin", "1234"]).await;
    port.at("ATE0").await;
    assert_eq!(
        port.at("AT+CPIN?").await,
        "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CMGL=4").await, "\r\n+CMS ERROR: 311\r\n");
    assert_eq!(port.at("AT+CPIN=\"0000\"").await, "\r\n+CME ERROR: 16\r\n");
    assert_eq!(port.at("AT+CPIN=\"1234\"").await, "\r\nOK\r\n");
    assert_eq!(port.at("AT+CPIN?").await, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    sim.find("pin", |e| e["event"] == "pin" && e["accepted"] == true)
        .await;
}

/// `How are you?` to +31641600986 with TP-SRR set (reference/modem.md §4.1).
const SUBMIT_SRR: &str = "0021000B911346610089F600000CC8F71D14969741F977FD07";

#[tokio::test]
async fn cmgs_round_trip_and_abort() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    port.send(b"AT+CMGS=24\r").await;
    assert_eq!(port.until("> ").await, "\r\n> ");
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMGS: 0\r\n\r\nOK\r\n");
    let sent = sim.expect("sent", |e| e["event"] == "sent").await;
    assert_eq!(sent["to"], "+31641600986");
    assert_eq!(sent["text"], "How are you?");
    assert_eq!(sent["srr"], true);
    assert_eq!(sent["mr"], 0);
    // A wrong <length> is refused after the PDU.
    port.send(b"AT+CMGS=23\r").await;
    port.until("> ").await;
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMS ERROR: 304\r\n");
    // ESC aborts the prompt.
    port.send(b"AT+CMGS=24\r").await;
    port.until("> ").await;
    port.send(b"0021\x1b").await;
    assert_eq!(port.until_final().await, "\r\nOK\r\n");
    // Injected errors.
    sim.cmd_done("cms-error 38 1").await;
    port.send(b"AT+CMGS=24\r").await;
    port.until("> ").await;
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMS ERROR: 38\r\n");
    port.send(b"AT+CMGS=24\r").await;
    port.until("> ").await;
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMGS: 1\r\n\r\nOK\r\n");
}

#[tokio::test]
async fn noise_puts_a_urc_between_cmgs_and_the_prompt() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("noise on").await;
    port.send(b"AT+CMGS=24\r").await;
    let before_prompt = port.until("> ").await;
    assert_eq!(before_prompt, "\r\n^RSSI: 17\r\n\r\n> ");
    port.send(b"\x1b").await;
    port.until_final().await;
}

#[tokio::test]
async fn ussd_menu_in_three_encodings() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    assert_eq!(port.at("AT+CUSD=1,\"*120#\",15").await, "\r\nOK\r\n");
    let menu = port.until("\",15\r\n").await;
    assert_eq!(
        menu,
        "\r\n+CUSD: 1,\"Main menu\n1. Balance\n2. Exit\",15\r\n"
    );
    port.at("AT+CUSD=1,\"7\",15").await;
    assert!(port.until("\",15\r\n").await.contains("Invalid choice"));
    port.at("AT+CUSD=1,\"1\",15").await;
    assert_eq!(port.until("\r\n+CUSD: 0,").await, "\r\n+CUSD: 0,");
    assert_eq!(port.until("\r\n").await, "\"Balance: 42.00\",15\r\n");
    port.at("AT+CUSD=1,\"*999#\",15").await;
    assert_eq!(port.until("+CUSD: 4\r\n").await, "\r\n+CUSD: 4\r\n");
    sim.find("ussd 4", |e| e["event"] == "ussd" && e["m"] == 4)
        .await;

    // Huawei: packed GSM-7 hex both ways, DCS 15.
    sim.cmd_done("ussd-encoding packed").await;
    // *120# packed.
    port.at("AT+CUSD=1,\"AA980C3602\",15").await;
    let line = port.until(",15\r\n").await;
    assert!(line.starts_with("\r\n+CUSD: 1,\""), "{line:?}");
    sim.find("packed request", |e| {
        e["event"] == "ussd" && e["request"] == "*120#"
    })
    .await;
    port.at("AT+CUSD=1,\"2\",15").await;
    assert_eq!(port.until("+CUSD: 2\r\n").await, "\r\n+CUSD: 2\r\n");

    // UCS2 hex, DCS 72.
    sim.cmd_done("ussd-encoding ucs2").await;
    port.at("AT+CUSD=1,\"*120#\",15").await;
    let line = port.until(",72\r\n").await;
    assert!(
        line.starts_with("\r\n+CUSD: 1,\"004D00610069006E"),
        "{line:?}"
    );
    assert_eq!(port.at("AT+CUSD=2").await, "\r\nOK\r\n");
}

#[tokio::test]
async fn hang_until_reopened() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("hang 0").await;
    port.send(b"AT\r").await;
    sim.expect("hung", |e| e["event"] == "hung").await;
    assert!(port.silent_for(Duration::from_millis(300)).await);
    drop(port);
    sim.expect("closed", |e| e["event"] == "closed").await;
    let mut port = Port::open(&sim.address);
    // Reopened: a fresh modem, echo on again.
    assert_eq!(port.at("AT").await, "AT\r\r\nOK\r\n");
}

#[tokio::test]
async fn hang_esc_ends_with_esc() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("hang-esc 1").await;
    assert_eq!(port.at("AT").await, "\r\nOK\r\n");
    port.send(b"AT\r").await;
    sim.expect("hung", |e| e["event"] == "hung").await;
    assert!(port.silent_for(Duration::from_millis(300)).await);
    port.send(b"\x1b").await;
    sim.expect("unhung", |e| e["event"] == "unhung").await;
    // Nothing is answered for the ESC itself; the next command is.
    assert_eq!(port.at("AT").await, "\r\nOK\r\n");
}

use richmond_codecs::sms::pdu::{self, Address, Direction, SubmitOptions, Tpdu};

/// The PDUs of a `+CMGL` answer: (index, stat, tpdu_len, decoded).
fn listed(answer: &str) -> Vec<(usize, u8, usize, pdu::Pdu)> {
    let lines: Vec<&str> = answer.split("\r\n").filter(|l| !l.is_empty()).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(head) = l.strip_prefix("+CMGL: ") {
            let f: Vec<&str> = head.split(',').collect();
            let octets = pdu::from_hex(lines[i + 1].as_bytes()).expect("hex");
            let len: usize = f[3].parse().expect("len");
            assert_eq!(octets.len() - 1 - usize::from(octets[0]), len);
            let decoded = pdu::decode(&octets, Direction::ToMs).expect("decode");
            out.push((
                f[0].parse().expect("index"),
                f[1].parse().expect("stat"),
                len,
                decoded,
            ));
        }
    }
    out
}

fn deliver(p: &pdu::Pdu) -> &pdu::Deliver {
    match &p.tpdu {
        Tpdu::Deliver(d) => d,
        other => panic!("not a DELIVER: {other:?}"),
    }
}

#[tokio::test]
async fn multipart_mo_is_stored_announced_and_listed() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    assert_eq!(port.at("AT+CNMI=2,1,0,2,0").await, "\r\nOK\r\n");
    let text = "Lorem ipsum dolor sit amet, ".repeat(12);
    sim.cmd_done(&format!("mo +27821234567 {text}")).await;
    let mo = sim.find("mo", |e| e["event"] == "mo").await;
    assert_eq!(mo["parts"], 3);
    assert_eq!(mo["indexes"], serde_json::json!([1, 2, 3]));
    for i in 1..=3 {
        assert_eq!(port.until("\r\n").await.trim(), "");
        assert_eq!(port.until("\r\n").await, format!("+CMTI: \"SM\",{i}\r\n"));
    }
    let answer = port.at("AT+CMGL=4").await;
    let parts = listed(&answer);
    assert_eq!(parts.len(), 3);
    let mut joined = String::new();
    for (k, (index, stat, _, p)) in parts.iter().enumerate() {
        let d = deliver(p);
        assert_eq!((*index, *stat), (k + 1, 0));
        assert_eq!(d.originator.to_msisdn(), "+27821234567");
        let c = d.user_data.concat.expect("concat");
        assert_eq!((c.total, usize::from(c.seq)), (3, k + 1));
        assert_eq!(
            p.smsc.as_ref().map(Address::to_msisdn).as_deref(),
            Some("+27830000000")
        );
        joined.push_str(&d.user_data.text);
    }
    assert_eq!(joined, text.trim_end());
    // Listing marked them read.
    assert!(listed(&port.at("AT+CMGL=4").await).iter().all(|p| p.1 == 1));
    assert_eq!(port.at("AT+CMGD=2").await, "\r\nOK\r\n");
    sim.find("deleted", |e| e["event"] == "deleted" && e["index"] == 2)
        .await;
    assert_eq!(port.at("AT+CMGD=1,4").await, "\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CPMS?").await,
        "\r\n+CPMS: \"SM\",0,30,\"SM\",0,30,\"SM\",0,30\r\n\r\nOK\r\n"
    );

    // Reversed, 16-bit references, routed with mt=2.
    sim.cmd_done(&format!("mo-reversed +27821234567 {text}"))
        .await;
    let answer = port.at("AT+CMGL=4").await;
    let seqs: Vec<u8> = listed(&answer)
        .iter()
        .map(|p| deliver(&p.3).user_data.concat.expect("concat").seq)
        .collect();
    assert_eq!(seqs, [3, 2, 1]);
    port.at("AT+CMGD=1,4").await;
    port.at("AT+CNMI=2,2,0,0,0").await;
    sim.cmd_done("mo16 +27821234567 héllo wörld").await;
    let head = port.until("\r\n+CMT: ,").await;
    assert_eq!(head, "\r\n+CMT: ,");
    let len: usize = port.until("\r\n").await.trim().parse().expect("len");
    let hex = port.until("\r\n").await;
    let octets = pdu::from_hex(hex.trim().as_bytes()).expect("hex");
    assert_eq!(octets.len() - 1 - usize::from(octets[0]), len);
    let p = pdu::decode(&octets, Direction::ToMs).expect("decode");
    assert_eq!(deliver(&p).user_data.text, "héllo wörld");
}

#[tokio::test]
async fn storage_full_holds_messages_until_cmgd() {
    let (mut sim, mut port) = start(&["--slots", "3"]).await;
    port.at("ATE0").await;
    port.at("AT+CNMI=2,1,0,2,0").await;
    sim.cmd_done("storage-full").await;
    assert_eq!(
        port.at("AT+CPMS?").await,
        "\r\n+CPMS: \"SM\",3,3,\"SM\",3,3,\"SM\",3,3\r\n\r\nOK\r\n"
    );
    sim.cmd_done("mo +27821234567 waiting").await;
    sim.find("queue", |e| {
        e["event"] == "network_queue" && e["waiting"] == 1
    })
    .await;
    assert_eq!(port.at("AT+CMGD=2").await, "\r\nOK\r\n");
    assert_eq!(
        port.until("+CMTI: \"SM\",2\r\n").await,
        "\r\n+CMTI: \"SM\",2\r\n"
    );
    let answer = port.at("AT+CMGR=2").await;
    assert!(answer.starts_with("\r\n+CMGR: 0,,"), "{answer:?}");
    let hex = answer.split("\r\n").nth(2).expect("pdu line");
    let p = pdu::decode(
        &pdu::from_hex(hex.as_bytes()).expect("hex"),
        Direction::ToMs,
    )
    .expect("decode");
    assert_eq!(deliver(&p).user_data.text, "waiting");
}

async fn submit(port: &mut Port, to: &str, text: &str, srr: bool) -> Vec<String> {
    let options = SubmitOptions {
        status_report: srr,
        reference: 7,
        ..SubmitOptions::default()
    };
    let parts =
        pdu::submit_parts(&Address::from_msisdn(to).expect("to"), text, &options).expect("encode");
    let mut answers = Vec::new();
    for part in parts {
        port.send(format!("AT+CMGS={}\r", part.tpdu_len).as_bytes())
            .await;
        port.until("> ").await;
        port.send(format!("{}\x1a", part.to_hex()).as_bytes()).await;
        answers.push(port.until_final().await);
    }
    answers
}

#[tokio::test]
async fn multipart_submit_and_stored_status_report() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    port.at("AT+CNMI=2,1,0,2,0").await;
    let text = "x".repeat(200);
    let answers = submit(&mut port, "+27821234567", &text, false).await;
    assert_eq!(
        answers,
        ["\r\n+CMGS: 0\r\n\r\nOK\r\n", "\r\n+CMGS: 1\r\n\r\nOK\r\n"]
    );
    let second = sim.expect_sent(1).await;
    assert_eq!(
        second["concat"],
        serde_json::json!({"ref": 7, "total": 2, "seq": 2})
    );
    assert_eq!(second["to"], "+27821234567");

    sim.cmd_done("report-status 46").await;
    let answers = submit(&mut port, "+27821234567", "report me", true).await;
    assert_eq!(answers, ["\r\n+CMGS: 2\r\n\r\nOK\r\n"]);
    assert_eq!(
        port.until("+CDSI: \"SM\",1\r\n").await,
        "\r\n+CDSI: \"SM\",1\r\n"
    );
    let report = sim.find("report", |e| e["event"] == "report").await;
    assert_eq!(
        (
            report["mr"].clone(),
            report["index"].clone(),
            report["status"].clone()
        ),
        (2.into(), 1.into(), 0x46.into())
    );
    let answer = port.at("AT+CMGR=1").await;
    let hex = answer.split("\r\n").nth(2).expect("pdu line");
    let p = pdu::decode(
        &pdu::from_hex(hex.as_bytes()).expect("hex"),
        Direction::ToMs,
    )
    .expect("decode");
    let Tpdu::StatusReport(r) = p.tpdu else {
        panic!("not a report: {p:?}")
    };
    assert_eq!(
        (r.mr, r.status, r.recipient.to_msisdn().as_str()),
        (2, 0x46, "+27821234567")
    );
}

#[tokio::test]
async fn routed_status_reports_when_ds2_is_refused() {
    let (_sim, mut port) = start(&["--cnmi-ds-routed"]).await;
    port.at("ATE0").await;
    assert_eq!(
        port.at("AT+CNMI=2,1,0,2,0").await,
        "\r\n+CMS ERROR: 303\r\n"
    );
    assert_eq!(port.at("AT+CNMI=2,1,0,1,0").await, "\r\nOK\r\n");
    submit(&mut port, "+27821234567", "report me", true).await;
    port.until("\r\n+CDS: ").await;
    let len: usize = port.until("\r\n").await.trim().parse().expect("len");
    let hex = port.until("\r\n").await;
    let octets = pdu::from_hex(hex.trim().as_bytes()).expect("hex");
    assert_eq!(octets.len() - 1 - usize::from(octets[0]), len);
    let p = pdu::decode(&octets, Direction::ToMs).expect("decode");
    let Tpdu::StatusReport(r) = p.tpdu else {
        panic!("not a report: {p:?}")
    };
    assert_eq!((r.mr, r.status), (0, 0));
    assert_eq!(
        port.at("AT+CPMS?").await,
        "\r\n+CPMS: \"SM\",0,30,\"SM\",0,30,\"SM\",0,30\r\n\r\nOK\r\n"
    );
}

#[tokio::test]
async fn noise_inside_cmgl() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("mo +27821234567 one").await;
    sim.cmd_done("mo +27821234567 two").await;
    sim.cmd_done("noise on").await;
    let answer = port.at("AT+CMGL=4").await;
    assert!(answer.contains("\r\n^RSSI: 17\r\n"), "{answer:?}");
    assert!(
        answer.contains("\r\n+CREG: 1,\"00AB\",\"1234\"\r\n"),
        "{answer:?}"
    );
    assert_eq!(listed(&answer).len(), 2);
    // An unannounced message (mt was 0) is announced between AT+CMGS and the prompt.
    sim.cmd_done("mo +27821234567 three").await;
    port.send(b"AT+CMGS=24\r").await;
    assert_eq!(port.until("> ").await, "\r\n+CMTI: \"SM\",3\r\n\r\n> ");
    port.send(b"\x1b").await;
    port.until_final().await;
}

#[tokio::test]
async fn status_reports_in_a_separate_sr_memory() {
    let (mut sim, mut port) = start(&["--report-memory", "SR", "--slots", "5"]).await;
    port.at("ATE0").await;
    assert_eq!(
        port.at("AT+CPMS=?").await,
        "\r\n+CPMS: (\"SM\",\"SR\"),(\"SM\"),(\"SM\")\r\n\r\nOK\r\n"
    );
    port.at("AT+CNMI=2,1,0,2,0").await;
    sim.cmd_done("mo +27821234567 hello").await;
    assert_eq!(
        port.until("+CMTI: \"SM\",1\r\n").await,
        "\r\n+CMTI: \"SM\",1\r\n"
    );
    submit(&mut port, "+27821234567", "report me", true).await;
    assert_eq!(
        port.until("+CDSI: \"SR\",1\r\n").await,
        "\r\n+CDSI: \"SR\",1\r\n"
    );
    let report = sim.find("report", |e| e["event"] == "report").await;
    assert_eq!(
        (report["index"].clone(), report["mem"].clone()),
        (1.into(), "SR".into())
    );
    assert_eq!(
        port.at("AT+CPMS?").await,
        "\r\n+CPMS: \"SM\",1,5,\"SM\",1,5,\"SM\",1,5\r\n\r\nOK\r\n"
    );
    // "SM" (mem1 after open) holds the MO at 1, not the report.
    let answer = port.at("AT+CMGR=1").await;
    let hex = answer.split("\r\n").nth(2).expect("pdu line");
    let p = pdu::decode(
        &pdu::from_hex(hex.as_bytes()).expect("hex"),
        Direction::ToMs,
    )
    .expect("decode");
    assert_eq!(deliver(&p).user_data.text, "hello");
    assert_eq!(port.at("AT+CMGR=2").await, "\r\n+CMS ERROR: 321\r\n");

    assert_eq!(
        port.at("AT+CPMS=\"SR\",\"SM\",\"SM\"").await,
        "\r\n+CPMS: 1,5,1,5,1,5\r\n\r\nOK\r\n"
    );
    assert_eq!(
        port.at("AT+CPMS?").await,
        "\r\n+CPMS: \"SR\",1,5,\"SM\",1,5,\"SM\",1,5\r\n\r\nOK\r\n"
    );
    let answer = port.at("AT+CMGR=1").await;
    assert!(answer.starts_with("\r\n+CMGR: 0,,"), "{answer:?}");
    let hex = answer.split("\r\n").nth(2).expect("pdu line");
    let p = pdu::decode(
        &pdu::from_hex(hex.as_bytes()).expect("hex"),
        Direction::ToMs,
    )
    .expect("decode");
    let Tpdu::StatusReport(r) = p.tpdu else {
        panic!("not a report: {p:?}")
    };
    assert_eq!(
        (r.mr, r.recipient.to_msisdn().as_str()),
        (0, "+27821234567")
    );
    assert_eq!(listed(&port.at("AT+CMGL=4").await).len(), 1);
    assert_eq!(port.at("AT+CMGD=1").await, "\r\nOK\r\n");
    let deleted = sim.find("deleted", |e| e["event"] == "deleted").await;
    assert_eq!(
        (deleted["index"].clone(), deleted["mem"].clone()),
        (1.into(), "SR".into())
    );
    assert_eq!(port.at("AT+CMGL=4").await, "\r\nOK\r\n");

    // Back to "SM": the MO is still there.
    assert_eq!(
        port.at("AT+CPMS=\"SM\"").await,
        "\r\n+CPMS: 1,5,1,5,1,5\r\n\r\nOK\r\n"
    );
    assert_eq!(listed(&port.at("AT+CMGL=4").await).len(), 1);
    assert_eq!(port.at("AT+CPMS=\"ME\"").await, "\r\n+CMS ERROR: 302\r\n");
    assert_eq!(
        port.at("AT+CPMS=\"SR\",\"ME\"").await,
        "\r\n+CMS ERROR: 302\r\n"
    );
    // A failed AT+CPMS leaves mem1 as it was.
    assert_eq!(
        port.at("AT+CPMS?").await,
        "\r\n+CPMS: \"SM\",1,5,\"SM\",1,5,\"SM\",1,5\r\n\r\nOK\r\n"
    );
    // Reopening selects "SM" again.
    port.at("AT+CPMS=\"SR\"").await;
    drop(port);
    sim.expect("closed", |e| e["event"] == "closed").await;
    let mut port = Port::open(&sim.address);
    assert_eq!(
        port.at("AT+CPMS?").await,
        "AT+CPMS?\r\r\n+CPMS: \"SM\",1,5,\"SM\",1,5,\"SM\",1,5\r\n\r\nOK\r\n"
    );
}

#[tokio::test]
async fn no_sr_memory_by_default() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    assert_eq!(
        port.at("AT+CPMS=?").await,
        "\r\n+CPMS: (\"SM\"),(\"SM\"),(\"SM\")\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CPMS=\"SR\"").await, "\r\n+CMS ERROR: 302\r\n");
    assert_eq!(
        port.at("AT+CPMS=\"SM\"").await,
        "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n"
    );
    port.at("AT+CNMI=2,1,0,2,0").await;
    submit(&mut port, "+27821234567", "report me", true).await;
    assert_eq!(
        port.until("+CDSI: \"SM\",1\r\n").await,
        "\r\n+CDSI: \"SM\",1\r\n"
    );
    let report = sim.find("report", |e| e["event"] == "report").await;
    assert_eq!(report["mem"], "SM");
    assert_eq!(port.at("AT+CMGD=1").await, "\r\nOK\r\n");
    let deleted = sim.find("deleted", |e| e["event"] == "deleted").await;
    assert_eq!(
        (deleted["index"].clone(), deleted["mem"].clone()),
        (1.into(), "SM".into())
    );
}
