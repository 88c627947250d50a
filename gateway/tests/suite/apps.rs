//! The built-in `ussd_echo` application end to end through the real binary and
//! `richmond simulate ssmi`: on a transport's own queues (embedded bus) and behind a router
//! (RabbitMQ). A scripted user dials, answers twice and sends `0`: greeting, two echoes and
//! the goodbye, in order; a session the network times out gets no answer and is counted.

use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

fn config(t: &str, sim: &Sim, bus: &str, tail: &str) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n{bus}\n[transports.{t}]\ntype = \"ssmi\"\n\
         host = \"127.0.0.1\"\nport = {}\nusername = \"richmond\"\npassword = \"richmond\"\n\
         reconnect_initial_seconds = 0.2\nreconnect_max_seconds = 1.0\n{tail}",
        sim.addr.port()
    )
}

/// The sum of `name`'s series whose line contains `having`.
pub(crate) async fn metric(gw: &Gateway, name: &str, having: &str) -> f64 {
    let text = common::http_get(gw.admin, "/metrics")
        .await
        .map(|r| r.1)
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(having))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `name`'s series containing `having` add up to at least `least`.
pub(crate) async fn await_metric(gw: &Gateway, name: &str, having: &str, least: f64) {
    let deadline = tokio::time::Instant::now() + richmond_tests::procs::PATIENCE;
    while metric(gw, name, having).await < least {
        assert!(tokio::time::Instant::now() < deadline, "{}", gw.logs());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn echo_session_and_timeout(sim: &mut Sim, gw: &Gateway, app: &str) {
    sim.cmd("dial 27831110001 *120*77 hello again 0").await;
    let done = sim
        .expect("the end of the session", |e| {
            e["event"] == "ussd_session_done" && e["msisdn"] == "27831110001"
        })
        .await;
    assert_eq!(
        done["transcript"],
        serde_json::json!(["Hi! Say something (0 ends).", "hello", "again", "Bye now."]),
        "{done}"
    );
    // Another user dials and the network times the session out: counted, not answered.
    sim.cmd("dial 27831110002 *120*77").await;
    sim.expect("the greeting", |e| {
        e["event"] == "ussd" && e["msisdn"] == "27831110002"
    })
    .await;
    sim.cmd("ussd 27831110002 4 timeout").await;
    let closed = format!("application=\"{app}\",kind=\"closed\"");
    await_metric(gw, "richmond_app_messages_total", &closed, 1.0).await;
    // A later session's greeting comes after anything sent to the timed-out user.
    sim.cmd("dial 27831110003 *120*77").await;
    sim.expect("a later greeting", |e| {
        e["event"] == "ussd" && e["msisdn"] == "27831110003"
    })
    .await;
    let ended = format!("application=\"{app}\",kind=\"end\"");
    assert_eq!(metric(gw, "richmond_app_messages_total", &ended).await, 1.0);
    assert_eq!(
        sim.count(|e| e["event"] == "ussd" && e["msisdn"] == "27831110002"),
        1,
        "only the greeting went to the user whose session timed out"
    );
}

const ECHO: &str = "type = \"ussd_echo\"\ngreeting = \"Hi! Say something (0 ends).\"\n\
                    goodbye = \"Bye now.\"\n";

#[tokio::test]
async fn ussd_echo_on_a_transports_queues_over_the_embedded_bus() {
    let t = common::unique("ussd");
    let mut sim = Sim::start(&["ssmi"]).await;
    let tail = format!("[applications.echo]\ntransport_name = \"{t}\"\n{ECHO}");
    let mut gw = Gateway::start(&config(&t, &sim, "[bus]\ntype = \"embedded\"", &tail)).await;
    gw.wait_ready(200).await;
    echo_session_and_timeout(&mut sim, &gw, "echo").await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn ussd_echo_behind_a_router_over_rabbitmq() {
    let (t, echo) = (common::unique("ussd"), common::unique("echo"));
    let mut sim = Sim::start(&["ssmi"]).await;
    let bus = format!(
        "[bus]\ntype = \"amqp\"\nurl = {:?}\nreconnect_initial_seconds = 0.1\n\
         reconnect_max_seconds = 1.0",
        common::amqp_url()
    );
    let tail = format!(
        "[applications.{echo}]\n{ECHO}[routers.main]\ntransports = [\"{t}\"]\n\
         applications = [\"{echo}\"]\n[[routers.main.rules]]\napplication = \"{echo}\"\n\
         transport_type = \"ussd\"\nto_addr_regex = '\\*120\\*77#'\n"
    );
    let mut gw = Gateway::start(&config(&t, &sim, &bus, &tail)).await;
    gw.wait_ready(200).await;
    echo_session_and_timeout(&mut sim, &gw, &echo).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

/// Waits for the SMSC to get `text` for handset `to` (its number, without `+`).
async fn got(sim: &mut Sim, to: &str, text: &str) {
    let what = format!("{text:?} for {to}");
    sim.find(&what, |e| {
        e["event"] == "message"
            && e["text"] == text
            && e["destination"]
                .as_str()
                .is_some_and(|d| d.trim_start_matches('+') == to)
    })
    .await;
}

#[tokio::test]
async fn smitter_joins_broadcasts_to_the_others_and_leaves() {
    let t = common::unique("sms");
    let mut sim = Sim::start(&["smsc"]).await;
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"embedded\"\n\
         [transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n\
         [applications.smitter]\ntype = \"smitter\"\ntransport_name = \"{t}\"\n",
        sim.addr.port()
    );
    let mut gw = Gateway::start(&config).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let (a, b, c) = ("27820000001", "27820000002", "27820000003");
    for h in [a, b, c] {
        sim.cmd(&format!("mo {h} 555 +")).await;
        got(&mut sim, h, "You have joined Smitter! SMS \"-\" to leave.").await;
    }
    sim.cmd(&format!("mo {a} 555 hello all")).await;
    got(&mut sim, a, "Broadcast to 2 members").await;
    got(&mut sim, b, "hello all").await;
    got(&mut sim, c, "hello all").await;
    sim.cmd(&format!("mo {b} 555 -")).await;
    got(&mut sim, b, "You have left Smitter. SMS \"+\" to join.").await;
    sim.cmd(&format!("mo {a} 555 second")).await;
    got(&mut sim, a, "Broadcast to 1 members").await;
    got(&mut sim, c, "second").await;
    // The sender never gets its own broadcast; the one who left gets no later one.
    // A later message to b proves nothing was on its way to b before it.
    sim.cmd(&format!("mo {b} 555 -")).await;
    got(&mut sim, b, "You are not a member. SMS \"+\" to join.").await;
    // The sender never gets its own broadcast; the one who left gets no later one.
    let to = |h: &str, text: &str| {
        sim.count(|e| {
            e["event"] == "message"
                && e["text"] == text
                && e["destination"]
                    .as_str()
                    .is_some_and(|d| d.trim_start_matches('+') == h)
        })
    };
    assert_eq!((to(a, "hello all"), to(b, "second")), (0, 0));
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

/// One gateway of the pair: its own SMSC link `t`, the shared Smitter `name`, the shared
/// RabbitMQ and Redis.
fn smitter_instance(t: &str, name: &str, sim: &Sim) -> String {
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [store]\ntype = \"redis\"\nurl = {:?}\n\
         [transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n\
         [applications.{name}]\ntype = \"smitter\"\ntransport_name = \"{t}\"\n",
        common::amqp_url(),
        common::redis_url(),
        sim.addr.port()
    )
}

#[tokio::test]
async fn two_gateways_share_smitters_membership_through_redis() {
    let name = common::unique("smitter");
    let (t1, t2) = (common::unique("sm1"), common::unique("sm2"));
    let (mut one, mut two) = (Sim::start(&["smsc"]).await, Sim::start(&["smsc"]).await);
    let mut gw1 = Gateway::start(&smitter_instance(&t1, &name, &one)).await;
    let mut gw2 = Gateway::start(&smitter_instance(&t2, &name, &two)).await;
    gw1.wait_ready(200).await;
    gw2.wait_ready(200).await;
    let (a, b, c) = ("27820000011", "27820000012", "27820000013");
    // a and b join through the first gateway, c through the second.
    for h in [a, b] {
        one.cmd(&format!("mo {h} 555 +")).await;
        got(&mut one, h, "You have joined Smitter! SMS \"-\" to leave.").await;
    }
    two.cmd(&format!("mo {c} 555 +")).await;
    got(&mut two, c, "You have joined Smitter! SMS \"-\" to leave.").await;
    // Each gateway sees all three members: a broadcast from either reaches the other two.
    two.cmd(&format!("mo {c} 555 from the second")).await;
    got(&mut two, c, "Broadcast to 2 members").await;
    got(&mut two, a, "from the second").await;
    got(&mut two, b, "from the second").await;
    one.cmd(&format!("mo {a} 555 from the first")).await;
    got(&mut one, a, "Broadcast to 2 members").await;
    got(&mut one, b, "from the first").await;
    got(&mut one, c, "from the first").await;
    // b leaves through the second gateway; the first no longer counts it.
    two.cmd(&format!("mo {b} 555 -")).await;
    got(&mut two, b, "You have left Smitter. SMS \"+\" to join.").await;
    one.cmd(&format!("mo {a} 555 again")).await;
    got(&mut one, a, "Broadcast to 1 members").await;
    got(&mut one, c, "again").await;
    assert_eq!(gw1.stop().await, Some(0), "{}", gw1.logs());
    assert_eq!(gw2.stop().await, Some(0), "{}", gw2.logs());
}
