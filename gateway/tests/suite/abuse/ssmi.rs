//! SSMI: bad lines from the TruTeq server (the simulator's `line`, `bytes`, `short`).

use super::app::{App, kind};
use super::procs::{Gateway, Sim};
use super::{common, metric, metric_above, no_panic};
use richmond::bus::Bus;

fn config(id: &str, port: u16) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         username = \"richmond\"\npassword = \"richmond\"\nlink_check_interval_seconds = 5\n\
         reconnect_initial_seconds = 0.2\nreconnect_max_seconds = 1.0\n\
         sms_address = \"12345\"\n",
        common::amqp_url()
    )
}

/// A row's writes (simulator commands) and the counter (name, label) that must rise; `None`
/// when the input is to be absorbed without a count.
type Row = (
    &'static str,
    Vec<&'static str>,
    Option<(&'static str, &'static str)>,
);

fn rows() -> Vec<Row> {
    let rejected = "richmond_ssmi_rejected_lines_total";
    let unmatched = "richmond_ssmi_unmatched_total";
    vec![
        (
            "10 MB without CR",
            vec!["bytes 10485760 41", "line end"],
            Some((rejected, "code=\"too_long\"")),
        ),
        ("a bare-CR flood", vec!["bytes 1000000 0d"], None),
        (
            "too few fields",
            vec!["short"],
            Some((rejected, "code=\"too_few_fields\"")),
        ),
        (
            "SEQ for an unknown MSISDN",
            vec!["line SSMI,100,27999999999,42"],
            Some((unmatched, "kind=\"seq\"")),
        ),
        (
            "DR for an unknown MSISDN",
            vec!["line SSMI,104,27999999999,42,0"],
            Some((unmatched, "kind=\"delivery_report\"")),
        ),
        (
            "a NACK with nothing waiting",
            vec!["line SSMI,102,1"],
            Some((unmatched, "nack\"")),
        ),
    ]
}

#[tokio::test]
async fn bad_lines_from_the_server_are_counted_and_the_link_carries_on() {
    let id = common::unique("abuse_ssmi");
    let mut sim = Sim::start(&["ssmi", "--dr-delay-ms", "20"]).await;
    let mut gw = Gateway::start(&config(&id, sim.addr.port())).await;
    sim.expect("a login", |e| e["event"] == "login" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::new(bus, &id).await;
    for (i, (name, writes, counter)) in rows().into_iter().enumerate() {
        let before = match counter {
            Some((m, having)) => metric(&gw, m, having).await,
            None => 0,
        };
        for w in writes {
            sim.cmd(w).await;
        }
        if let Some((m, having)) = counter {
            metric_above(&gw, m, having, before).await;
        }
        // Still logged in on the same connection, and an MO gets through.
        let text = format!("ping {i}");
        sim.cmd(&format!("mo 27820001111 {text}")).await;
        let mo = app.inbound().await;
        assert_eq!(mo.content.as_deref(), Some(text.as_str()), "after {name}");
        assert_eq!(
            sim.count(|e| e["event"] == "login" && e["ok"] == true),
            1,
            "{name}: the link should have stayed"
        );
    }
    // And an MT is acked.
    let mt = app.sms("+27820006668", "after the abuse");
    app.send(&mt).await;
    let ack = loop {
        let e = app.event().await;
        if kind(&e).0 != "delivery_report" {
            break e;
        }
    };
    assert_eq!(kind(&ack).0, "ack", "{ack:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
    no_panic(&gw.logs());
}
