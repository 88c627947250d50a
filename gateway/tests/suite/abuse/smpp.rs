//! SMPP: bad PDUs from the SMSC (the simulator's `raw <hex>` writes them as they are).

use super::app::App;
use super::procs::{Gateway, Sim};
use std::time::Duration;

use super::{common, metric, metric_above, no_panic};
use richmond::bus::Bus;

/// A PDU as hex: header (length computed) and body.
fn pdu(command_id: u32, status: u32, seq: u32, body: &[u8]) -> String {
    let len = u32::try_from(16 + body.len()).expect("short");
    let mut out = Vec::new();
    for word in [len, command_id, status, seq] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(body);
    hex(&out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const DELIVER_SM: u32 = 0x0000_0005;

/// A deliver_sm body from 27820001111 to 12345: `esm_class`, `short_message`, then `tlvs`.
fn deliver(esm_class: u8, short_message: &[u8], tlvs: &[u8]) -> Vec<u8> {
    let mut b = vec![0]; // service_type ""
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(b"27820001111\0");
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(b"12345\0");
    b.extend_from_slice(&[esm_class, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.push(u8::try_from(short_message.len()).expect("short"));
    b.extend_from_slice(short_message);
    b.extend_from_slice(tlvs);
    b
}

/// SAR TLVs: reference 7, `total` parts, this one `seq`.
fn sar(total: u8, seq: u8) -> Vec<u8> {
    let mut t = vec![0x02, 0x0C, 0, 2, 0, 7];
    t.extend_from_slice(&[0x02, 0x0E, 0, 1, total]);
    t.extend_from_slice(&[0x02, 0x0F, 0, 1, seq]);
    t
}

/// What a row must lead to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The framing is lost: the gateway drops the link (counted) and binds again.
    Rebind,
    /// A request that does not decode: `generic_nack`, or its response with an error
    /// status; counted; the bind stays.
    Refused(u32),
    /// Answered with exactly this status.
    Status(u32, u32),
    /// The enquire_link with this sequence number is answered.
    EnquireAnswered(u32),
    /// Ignored and counted (`richmond_smpp_unmatched_responses_total`); the bind stays.
    Unmatched,
    /// Delivered to the application as a message (status 0), nothing lost.
    Delivered(u32),
}

fn rows() -> Vec<(&'static str, Vec<String>, Expect)> {
    let no_nul = {
        let mut b = vec![b'A'; 40];
        b.extend_from_slice(b"no terminator anywhere");
        b
    };
    let mut sm_past = deliver(0, b"hello", &[]);
    let at = sm_past.len() - 6; // the sm_length byte
    sm_past[at] = 200;
    let tlv_overrun = deliver(0, b"hi", &[0x04, 0x24, 0x01, 0x00, b'x', b'y', b'z']);
    vec![
        (
            "command_length 0",
            vec!["00000000000000050000000000000001".into()],
            Expect::Rebind,
        ),
        (
            "command_length 15",
            vec!["0000000f00000005000000000000000200".into()],
            Expect::Rebind,
        ),
        (
            "command_length 0xFFFFFFFF",
            vec!["ffffffff00000005000000000000000300".into()],
            Expect::Rebind,
        ),
        (
            "split length field",
            vec![
                "0000".into(),
                "00100000001500000000000000".into(),
                "07".into(),
            ],
            Expect::EnquireAnswered(7),
        ),
        (
            "C-string without NUL",
            vec![pdu(DELIVER_SM, 0, 10, &no_nul)],
            Expect::Refused(10),
        ),
        (
            "sm_length past the body",
            vec![pdu(DELIVER_SM, 0, 11, &sm_past)],
            Expect::Refused(11),
        ),
        (
            "TLV overrunning the body",
            vec![pdu(DELIVER_SM, 0, 12, &tlv_overrun)],
            Expect::Refused(12),
        ),
        (
            "SAR part 0",
            vec![pdu(DELIVER_SM, 0, 13, &deliver(0, b"p", &sar(3, 0)))],
            Expect::Status(13, 0xC4),
        ),
        (
            "SAR part over the total",
            vec![pdu(DELIVER_SM, 0, 14, &deliver(0, b"p", &sar(3, 4)))],
            Expect::Status(14, 0xC4),
        ),
        (
            "SAR total 0",
            vec![pdu(DELIVER_SM, 0, 15, &deliver(0, b"p", &sar(0, 1)))],
            Expect::Status(15, 0xC4),
        ),
        (
            "UDH length 0xFF",
            vec![pdu(
                DELIVER_SM,
                0,
                16,
                &deliver(0x40, &[0xFF, b'h', b'i'], &[]),
            )],
            Expect::Delivered(16),
        ),
        (
            "submit_sm_resp to an unknown sequence",
            vec![pdu(0x8000_0004, 0, 0x7FFF_FF00, b"x\0")],
            Expect::Unmatched,
        ),
        (
            "generic_nack to an unknown sequence",
            vec![pdu(0x8000_0000, 8, 0x7FFF_FF01, &[])],
            Expect::Unmatched,
        ),
    ]
}

fn config(id: &str, port: u16) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         reconnect_max_seconds = 1.0\nregistered_delivery = false\n",
        common::amqp_url()
    )
}

fn is_answer(seq: u32) -> impl Fn(&serde_json::Value) -> bool {
    move |e| {
        (e["event"] == "generic_nack" || e["event"] == "deliver_sm_resp") && e["sequence"] == seq
    }
}

#[tokio::test]
async fn bad_pdus_from_the_smsc_are_refused_and_counted_and_the_link_carries_on() {
    let id = common::unique("abuse_smpp");
    let mut sim = Sim::start(&["smsc"]).await;
    let mut gw = Gateway::start(&config(&id, sim.addr.port())).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    for (name, writes, expect) in rows() {
        let binds = sim.count(|e| e["event"] == "bind" && e["ok"] == true);
        let malformed = metric(&gw, "richmond_smpp_malformed_pdus_total", "").await;
        let unbinds = metric(&gw, "richmond_smpp_unbinds_total", "").await;
        let unmatched = metric(&gw, "richmond_smpp_unmatched_responses_total", "").await;
        let rejected = metric(&gw, "richmond_smpp_rejected_parts_total", "").await;
        for w in &writes {
            sim.cmd_done(&format!("raw {w}")).await;
        }
        match expect {
            Expect::Rebind => {
                sim.expect_total(name, binds + 1, |e| e["event"] == "bind" && e["ok"] == true)
                    .await;
                metric_above(&gw, "richmond_smpp_unbinds_total", "", unbinds).await;
            }
            Expect::Refused(seq) => {
                let answer = sim.expect(name, is_answer(seq)).await;
                assert_ne!(answer["status"], 0, "{name}: {answer}");
                metric_above(&gw, "richmond_smpp_malformed_pdus_total", "", malformed).await;
            }
            Expect::Status(seq, status) => {
                let answer = sim.expect(name, is_answer(seq)).await;
                assert_eq!(answer["status"], status, "{name}: {answer}");
                metric_above(&gw, "richmond_smpp_rejected_parts_total", "", rejected).await;
            }
            Expect::EnquireAnswered(seq) => {
                sim.expect(name, |e| {
                    e["event"] == "enquire_link_resp" && e["sequence"] == seq
                })
                .await;
            }
            Expect::Unmatched => {
                metric_above(
                    &gw,
                    "richmond_smpp_unmatched_responses_total",
                    "",
                    unmatched,
                )
                .await;
            }
            Expect::Delivered(seq) => {
                let answer = sim.expect(name, is_answer(seq)).await;
                assert_eq!(answer["status"], 0, "{name}: {answer}");
                let m = app.inbound().await;
                assert_eq!(m.from_addr.as_deref(), Some("+27820001111"), "{name}");
                assert!(
                    metric(&gw, "richmond_smpp_bad_udh_total", "").await >= 1,
                    "{name}"
                );
            }
        }
        if !matches!(expect, Expect::Rebind) {
            assert_eq!(
                sim.count(|e| e["event"] == "bind" && e["ok"] == true),
                binds,
                "{name}: the bind should have stayed up"
            );
        }
        // The link still carries an MT both ways.
        let mt = app.sms("+27820006666", &format!("after {name}"));
        app.send(&mt).await;
        let (done, _) = app.outcomes(1).await;
        assert_eq!(done[&mt.message_id].0, "ack", "after {name}: {done:?}");
    }
    // A generic_nack (status 0) for a submit still waiting: the message is nacked, never
    // taken as accepted with no id.
    sim.cmd_done("no-response 1").await;
    let mt = app.sms("+27820006667", "to be nacked");
    app.send(&mt).await;
    let submit = sim
        .expect("the unanswered submit", |e| {
            e["event"] == "submit_sm" && e["response"] == "none"
        })
        .await;
    let seq = u32::try_from(submit["sequence"].as_u64().expect("sequence")).expect("u32");
    sim.cmd_done(&format!("raw {}", pdu(0x8000_0000, 0, seq, &[])))
        .await;
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&mt.message_id].0, "nack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    no_panic(&gw.logs());
}

/// The gateway's resident memory in MiB (`/proc`).
fn rss_mib(gw: &Gateway) -> u64 {
    let pid = gw
        .child
        .as_ref()
        .and_then(tokio::process::Child::id)
        .expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn ctl(args: &[&str]) -> String {
    let out = std::process::Command::new(common::env("RICHMOND_TEST_RABBITMQ_CTL"))
        .args(args)
        .output()
        .expect("rabbitmq-ctl");
    assert!(out.status.success(), "rabbitmq-ctl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_flood_of_100k_deliver_sm_into_a_blocked_bus_is_held_at_the_cap_and_none_is_lost() {
    const N: u64 = 100_000;
    let id = common::unique("abuse_flood");
    let queue = format!("{id}.inbound");
    // The SMSC pushes without waiting and never gives up on an unanswered deliver_sm.
    let mut sim = Sim::start(&["smsc", "--quiet", "--deliver-timeout-ms", "3600000"]).await;
    // The MT sent while the bind is paused is answered only once the flood has drained: on a
    // loaded machine that took longer than the default response timeout (a nack in CI).
    let mut gw = Gateway::start(&format!(
        "{}max_unanswered_delivers = 256\nresponse_timeout_seconds = 3600\n",
        config(&id, sim.addr.port())
    ))
    .await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    // The queue exists (declared by the gateway); now the broker refuses every publish to it.
    ctl(&["block_queue", &queue]);
    sim.cmd_done(&format!("mo-flood {N} 12345")).await;
    // The gateway takes deliver_sm up to its cap, then stops reading: memory stays flat.
    let unanswered = "richmond_smpp_unanswered_delivers";
    let deadline = tokio::time::Instant::now() + super::procs::PATIENCE;
    while metric(&gw, unanswered, "").await < 256 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cap was never reached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss = rss_mib(&gw);
    assert!(rss < 200, "{rss} MiB resident while blocked");
    // An MT while the bind is paused waits (it is not nacked for want of a read).
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let mt = app.sms("+27820006670", "while paused");
    app.send(&mt).await;
    assert_eq!(
        metric(&gw, unanswered, "").await,
        256,
        "more than the cap unanswered"
    );
    // Unblocked: every message arrives, each once.
    ctl(&["unblock_queue", &queue]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let n: u64 = ctl(&["queue_messages", &queue]).parse().expect("a count");
        assert!(n <= N, "{n} messages: duplicates");
        if n == N && metric(&gw, unanswered, "").await == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of {N} arrived"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(rss_mib(&gw) < 200);
    let (done, _) = app.outcomes(1).await;
    assert_eq!(done[&mt.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    no_panic(&gw.logs());
    // 100,000 persistent messages would slow the tests sharing the broker.
    ctl(&["delete_queue", &queue]);
}
