//! AT: bad lines from a GSM modem (the simulator's `raw` and `urc-flood`).

use super::app::{App, kind};
use super::procs::{Gateway, Sim};
use super::{common, metric, metric_above, no_panic};
use richmond::bus::Bus;

fn config(id: &str, device: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"modem\"\ndevice = {device:?}\n\
         msisdn = \"+27830000001\"\ncommand_timeout_seconds = 2\nprompt_timeout_seconds = 2\n\
         send_timeout_seconds = 10\nreopen_initial_seconds = 1\nreopen_max_seconds = 2\n\
         retry_backoff_seconds = 0.2\n",
        common::amqp_url()
    )
}

/// A row: its simulator commands, and whether `richmond_modem_unexpected_lines_total` must
/// rise (lines that arrive while a command runs are part of its answer and not counted, so
/// only rows the gateway must count whatever it is doing say so).
type Row = (&'static str, Vec<String>, bool);

fn rows() -> Vec<Row> {
    let half = "A".repeat(6000);
    vec![
        (
            "an overlong line in two writes",
            vec![
                format!("raw {half}"),
                format!("raw {half}"),
                "raw \\r\\n".into(),
            ],
            true,
        ),
        (
            "+CMTI index 4294967295",
            vec!["raw \\r\\n+CMTI: \"SM\",4294967295\\r\\n".into()],
            false,
        ),
        (
            "odd-length UCS2 hex in +CUSD",
            vec!["raw \\r\\n+CUSD: 1,\"00480065006\",72\\r\\n".into()],
            false,
        ),
        (
            "an unclosed quote in +CUSD",
            vec!["raw \\r\\n+CUSD: 1,\"never closed\\r\\n".into()],
            false,
        ),
        (
            "a URC flood",
            vec!["urc-flood 20000 +CREG: 1,\"00AB\",\"1234\"".into()],
            false,
        ),
        (
            "a final result that never comes, amid a URC flood",
            vec!["hang 0".into(), "urc-flood 20000 ^RSSI: 17".into()],
            false,
        ),
    ]
}

#[tokio::test]
async fn bad_lines_from_the_modem_are_absorbed_and_nothing_is_lost() {
    let id = common::unique("abuse_modem");
    let mut sim = Sim::start_modem(&[]).await;
    let mut gw = Gateway::start(&config(&id, &sim.address)).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    let unexpected = "richmond_modem_unexpected_lines_total";
    let mut extras = Vec::new();
    for (i, (name, writes, counted)) in rows().into_iter().enumerate() {
        let before = metric(&gw, unexpected, "").await;
        for w in &writes {
            sim.cmd_done(w).await;
        }
        if counted {
            metric_above(&gw, unexpected, "", before).await;
        }
        // An MO and an MT both get through afterwards.
        let text = format!("ping {i}");
        sim.cmd_done(&format!("mo +27820001111 {text}")).await;
        // A network USSD line that was bad is still delivered (as its raw text) before it.
        loop {
            let m = app.inbound().await;
            if m.content.as_deref() == Some(text.as_str()) {
                break;
            }
            assert_eq!(
                m.transport_type.as_deref(),
                Some("ussd"),
                "after {name}: {m:?}"
            );
            extras.push((name, m.content.unwrap_or_default()));
        }
        let mt = app.sms("+27820006669", &format!("after {name}"));
        app.send(&mt).await;
        let ack = loop {
            let e = app.event().await;
            if kind(&e).0 != "delivery_report" {
                break e;
            }
        };
        assert_eq!(
            (kind(&ack).0, ack.user_message_id.as_str()),
            ("ack", mt.message_id.as_str()),
            "after {name}"
        );
    }
    // The bad USSD lines came through as what they were, each once.
    assert_eq!(
        extras
            .iter()
            .filter(|(n, _)| n.contains("UCS2"))
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>(),
        ["00480065006"],
        "{extras:?}"
    );
    // The absurd index was never read.
    assert!(
        !sim.seen
            .iter()
            .any(|e| e["line"].as_str().is_some_and(|l| l.contains("4294967295"))),
        "AT+CMGR with the absurd index"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    no_panic(&gw.logs());
}
