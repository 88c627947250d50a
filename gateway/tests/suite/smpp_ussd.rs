//! USSD over SMPP through the real `richmond` binary and `richmond simulate smsc` acting as the
//! operator's USSD gateway, with a Vumi application on RabbitMQ: a three-step menu in each
//! flavour (`vumi`, `sixdee`, `mica`: the session events, the code dialled, the content, and
//! replies carrying the op and session the simulator checks against its open dialog, the last
//! one ending it), a handset hanging up, and a silent session that times out.

use richmond_tests::app::App;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

use richmond::bus::Bus;
use richmond_codecs::vumi::{SessionEvent, UserMessage};

async fn setup(flavor: &str, timeout_seconds: u64) -> (Sim, Gateway, App) {
    let id = common::unique("ussd");
    let mut sim = Sim::start(&["smsc", "--ussd", flavor]).await;
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{id}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         ussd = \"{flavor}\"\nussd_session_timeout_seconds = {timeout_seconds}\n",
        common::amqp_url(),
        sim.addr.port()
    );
    let gw = Gateway::start(&config).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let app = App::new(bus, &id).await;
    (sim, gw, app)
}

/// The next inbound message, checked to be USSD from `from` to `code` with `event`.
async fn next(app: &mut App, from: &str, code: &str, event: SessionEvent) -> UserMessage {
    let m = app.inbound().await;
    assert_eq!(m.transport_type.as_deref(), Some("ussd"), "{m:?}");
    assert_eq!(m.session_event, Some(event), "{m:?}");
    assert_eq!(
        (m.from_addr.as_deref(), m.to_addr.as_deref()),
        (Some(from), Some(code)),
        "{m:?}"
    );
    m
}

/// The simulator's view of the application's reply: its text, in the open dialog.
async fn reply_seen(sim: &mut Sim, text: &str, end: bool) {
    let e = sim
        .expect("the reply at the USSD gateway", |e| {
            e["event"] == "ussd_reply" && e["text"] == text
        })
        .await;
    assert_eq!(e["session_ok"], true, "{e}");
    assert_eq!(e["end"], end, "{e}");
}

async fn three_step_menu(flavor: &str) {
    let (mut sim, mut gw, mut app) = setup(flavor, 600).await;
    let (user, code) = ("27831110042", "*120*42#");
    sim.cmd_done(&format!("ussd-dial {user} {code}")).await;
    let opened = next(&mut app, user, code, SessionEvent::New).await;
    // Vumi's default processor passes the text; 6D and Mica send null on a new session.
    let expected = (flavor == "vumi").then(|| code.to_owned());
    assert_eq!(opened.content, expected, "{opened:?}");
    assert!(
        opened.transport_metadata.contains_key("session_info"),
        "{opened:?}"
    );
    let menu = opened.reply(Some("1. Balance\n2. Quit".into()), true);
    app.send(&menu).await;
    reply_seen(&mut sim, "1. Balance\n2. Quit", false).await;

    sim.cmd_done(&format!("ussd-answer {user} 1")).await;
    let chose = next(&mut app, user, code, SessionEvent::Resume).await;
    assert_eq!(chose.content.as_deref(), Some("1"));
    let balance = chose.reply(Some("Balance: 0. 1. Back".into()), true);
    app.send(&balance).await;
    reply_seen(&mut sim, "Balance: 0. 1. Back", false).await;

    sim.cmd_done(&format!("ussd-answer {user} 2")).await;
    let quit = next(&mut app, user, code, SessionEvent::Resume).await;
    assert_eq!(quit.content.as_deref(), Some("2"));
    let bye = quit.reply(Some("Goodbye".into()), false);
    app.send(&bye).await;
    reply_seen(&mut sim, "Goodbye", true).await;
    sim.expect("the end of the dialog", |e| {
        e["event"] == "ussd_session_done" && e["by"] == "application"
    })
    .await;
    let (done, _) = app.outcomes(3).await;
    for m in [&menu, &balance, &bye] {
        assert_eq!(done[&m.message_id].0, "ack", "{done:?}");
    }
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_three_step_menu_in_vumis_flavour() {
    three_step_menu("vumi").await;
}

#[tokio::test]
async fn a_three_step_menu_in_the_sixdee_flavour() {
    three_step_menu("sixdee").await;
}

#[tokio::test]
async fn a_three_step_menu_in_the_mica_flavour() {
    three_step_menu("mica").await;
}

#[tokio::test]
async fn a_handset_hangs_up() {
    let (mut sim, mut gw, mut app) = setup("sixdee", 600).await;
    let code = "*120*7#";
    sim.cmd_done(&format!("ussd-dial 27831110001 {code}")).await;
    let opened = next(&mut app, "27831110001", code, SessionEvent::New).await;
    app.send(&opened.reply(Some("Menu".into()), true)).await;
    reply_seen(&mut sim, "Menu", false).await;
    sim.cmd_done("ussd-hangup 27831110001").await;
    let gone = next(&mut app, "27831110001", code, SessionEvent::Close).await;
    assert_eq!(gone.content, None, "{gone:?}");
    assert!(
        !gone.transport_metadata.contains_key("ussd_timeout"),
        "{gone:?}"
    );
    let (done, _) = app.outcomes(1).await;
    let outcomes: Vec<_> = done.values().map(|o| o.0).collect();
    assert_eq!(outcomes, ["ack"], "{done:?}");
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_silent_session_times_out() {
    let (mut sim, mut gw, mut app) = setup("mica", 1).await;
    let code = "*120*8#";
    // Nothing from either side for the timeout: the gateway closes the session itself.
    sim.cmd_done(&format!("ussd-dial 27831110002 {code}")).await;
    next(&mut app, "27831110002", code, SessionEvent::New).await;
    let closed = next(&mut app, "27831110002", code, SessionEvent::Close).await;
    assert_eq!(closed.content, None, "{closed:?}");
    assert_eq!(
        closed.transport_metadata["ussd_timeout"], true,
        "{closed:?}"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
