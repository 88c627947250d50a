//! Applications nobody here wrote the bus side of, behind a router, through the real binary on
//! RabbitMQ: a vumi2-style and a vumi 0.6-style pika application (`tests/apps/vumi_app.py`)
//! behind one keyword router each answer their own MO through `simulate smsc`, and each gets
//! the acks and delivery reports of its own replies and none of the other's (the application
//! checks the set of events it reads against the replies it sent). And USSD in, SMS out: an
//! application answers a USSD session from `simulate ssmi` and sends an SMS through the
//! router's SMPP transport to the same user. And two applications sending through one SSMI
//! transport each get the ack and the delivery report of their own SMS.

use richmond::bus::Bus;
use richmond_codecs::vumi::UserMessage;
use richmond_tests::app::{App, kind};
use richmond_tests::common;
use richmond_tests::procs::{self, Gateway, Sim};
use tokio::process::{Child, Command};

const EACH: usize = 5;

fn amqp_head() -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n",
        common::amqp_url()
    )
}

fn smpp(t: &str, sim: &Sim) -> String {
    format!(
        "[transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n",
        sim.addr.port()
    )
}

fn pika(app: &str, style: &str) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/vumi_app.py");
    Command::new(common::env("RICHMOND_TEST_PYTHON"))
        .args([script, &common::amqp_url(), app, "--style", style])
        .args(["--serve", "sms", "--count", &EACH.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the pika application")
}

async fn finished(app: Child, style: &str) {
    let out = tokio::time::timeout(procs::PATIENCE * 2, app.wait_with_output())
        .await
        .expect("the application finishes")
        .expect("wait");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{style} application failed: {text}");
    let want =
        format!("{{\"done\": {{\"replies\": {EACH}, \"acks\": {EACH}, \"reports\": {EACH}}}}}");
    assert!(text.contains(&want), "{style}: {text}");
}

#[tokio::test]
async fn vumi2_and_vumi06_pika_applications_behind_a_router_get_their_own_events() {
    let (t, router) = (common::unique("pk"), common::unique("pkr"));
    let (quiz, news) = (common::unique("pquiz"), common::unique("pnews"));
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let config = format!(
        "{}{}[routers.{router}]\ntransports = [\"{t}\"]\n\
         applications = [\"{quiz}\", \"{news}\"]\ndefault = \"{news}\"\n\
         [[routers.{router}.rules]]\napplication = \"{quiz}\"\nkeywords = [\"quiz\"]\n",
        amqp_head(),
        smpp(&t, &sim)
    );
    let mut gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    // The router declared the applications' queues; the applications declare them again
    // as vumi2 does (durable, no arguments) and start consuming.
    let quiz_app = pika(&quiz, "vumi2");
    let news_app = pika(&news, "vumi06");
    for i in 0..EACH {
        sim.cmd(&format!("mo 2783400{i:04} 4455 quiz {i}")).await;
        sim.cmd(&format!("mo 2783500{i:04} 4455 news {i}")).await;
    }
    sim.expect_total("every reply", 2 * EACH, |e| e["event"] == "submit_sm")
        .await;
    for e in sim.seen.iter().filter(|e| e["event"] == "submit_sm") {
        let to = e["destination"].as_str().expect("destination");
        let i: usize = to[to.len() - 4..].parse().expect("number");
        let word = if to.starts_with("27834") {
            "quiz"
        } else {
            "news"
        };
        assert_eq!(e["text"], format!("Echo {to}: {word} {i}").as_str(), "{e}");
    }
    finished(quiz_app, "vumi2").await;
    finished(news_app, "vumi06").await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn ussd_in_sms_out_through_one_router() {
    let (ussd, sms) = (common::unique("uin"), common::unique("sout"));
    let (router, app) = (common::unique("usr"), common::unique("uapp"));
    let mut ssmi = Sim::start(&["ssmi"]).await;
    let mut smsc = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let config = format!(
        "{}{}[transports.{ussd}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         [routers.{router}]\ntransports = [\"{ussd}\", \"{sms}\"]\napplications = [\"{app}\"]\n\
         default = \"{app}\"\n",
        amqp_head(),
        smpp(&sms, &smsc),
        ssmi.addr.port()
    );
    let mut gw = Gateway::start(&config).await;
    smsc.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut app = App::routed(bus, &app, &ussd).await;

    ssmi.cmd("dial 27831110042 *120*99").await;
    let dialled = app.inbound().await;
    assert_eq!(dialled.transport_type.as_deref(), Some("ussd"));
    // The answer ends the session on USSD; the code follows by SMS, through the other
    // transport of the same router, to the same user.
    app.send(&dialled.reply(Some("Your code comes by SMS.".into()), false))
        .await;
    let user = dialled.from_addr.clone().expect("from_addr");
    let code = UserMessage::new(&sms, "sms", "4455", &user, Some("Code: 7311".into()));
    app.send(&code).await;
    let done = ssmi
        .expect("the end of the session", |e| {
            e["event"] == "ussd_session_done" && e["msisdn"] == "27831110042"
        })
        .await;
    assert_eq!(
        done["transcript"],
        serde_json::json!(["Your code comes by SMS."])
    );
    let sent = smsc.expect("the SMS", |e| e["event"] == "submit_sm").await;
    assert_eq!(sent["text"], "Code: 7311");
    assert_eq!(
        sent["destination"]
            .as_str()
            .map(|d| d.trim_start_matches('+')),
        Some("27831110042")
    );
    // The SMS's ack and delivery report come back to the application.
    let (done, _) = app.outcomes(2).await;
    assert_eq!(done[&code.message_id].0, "ack", "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn two_applications_sending_through_one_ssmi_transport_each_get_their_own_reports() {
    let (t, router) = (common::unique("sshare"), common::unique("ssr"));
    let (a, b) = (common::unique("sa"), common::unique("sb"));
    let ssmi = Sim::start(&["ssmi", "--dr-delay-ms", "20"]).await;
    let config = format!(
        "{}[transports.{t}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         [routers.{router}]\ntransports = [\"{t}\"]\napplications = [\"{a}\", \"{b}\"]\n\
         default = \"{a}\"\n",
        amqp_head(),
        ssmi.addr.port()
    );
    let mut gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut apps = [
        App::routed(bus.clone(), &a, &t).await,
        App::routed(bus, &b, &t).await,
    ];
    let msgs: Vec<UserMessage> = apps
        .iter()
        .enumerate()
        .map(|(i, app)| app.sms(&format!("+2782000777{i}"), &format!("for {}", app.id)))
        .collect();
    for (app, m) in apps.iter().zip(&msgs) {
        app.send(m).await;
    }
    for (app, m) in apps.iter_mut().zip(&msgs) {
        let mut kinds = std::collections::BTreeSet::new();
        while kinds.len() < 2 {
            let e = app.event().await;
            assert_eq!(
                e.user_message_id, m.message_id,
                "{} got another's event",
                app.id
            );
            let k = kind(&e).0;
            if k == "delivery_report" {
                // The tag the transport kept with its SEQ mapping.
                assert_eq!(
                    e.routing_metadata.get("richmond_route"),
                    Some(&serde_json::json!(format!("{router}/{}", app.id))),
                    "{e:?}"
                );
            }
            kinds.insert(k);
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["ack", "delivery_report"]
        );
    }
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
