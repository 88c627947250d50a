//! The built-in `http_relay` application end to end through the real binary, behind a router
//! on RabbitMQ, relaying to a web application served by this test on loopback: the reply
//! comes from the web application's answer (SMS through `simulate smsc`, Vumi JSON, a bearer
//! token; a USSD menu through `simulate ssmi`, form fields, the session ended by a header, on
//! the embedded bus);
//! acks and delivery reports reach the event URL; a web application that fails is tried
//! `attempts` times and the message then lands in the relay's failures; a slow one does not
//! hold back the messages of other keywords.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use richmond::bus::Bus;
use richmond_codecs::vumi::FailureMessage;
use richmond_tests::common;
use richmond_tests::procs::{Gateway, PATIENCE, Sim};
use tokio::sync::{Semaphore, mpsc};

/// The web application: what it was sent, and its switches.
#[derive(Clone)]
struct Web {
    events: mpsc::UnboundedSender<serde_json::Value>,
    slow_asked: mpsc::UnboundedSender<()>,
    slow_release: Arc<Semaphore>,
    failures: Arc<AtomicUsize>,
}

const TOKEN: &str = "Bearer t0k-relay";

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(TOKEN)
}

async fn echo(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let msg: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = msg["content"].as_str().unwrap_or("?");
    (StatusCode::OK, format!("You said: {text}\n"))
}

async fn menu(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if !authorized(&headers) || get("transport_type") != "ussd" {
        return (
            StatusCode::BAD_REQUEST,
            [("x-richmond-session", "end")],
            String::new(),
        );
    }
    if get("session_event") == "new" {
        (
            StatusCode::OK,
            [("x-richmond-session", "continue")],
            "Menu: 1 or 2".to_owned(),
        )
    } else {
        let chose = format!("You chose {}", get("content"));
        (StatusCode::OK, [("x-richmond-session", "end")], chose)
    }
}

async fn slow(State(web): State<Web>) -> &'static str {
    let _ = web.slow_asked.send(());
    let _permit = web.slow_release.acquire().await;
    "Slow but here"
}

async fn fail(State(web): State<Web>) -> StatusCode {
    web.failures.fetch_add(1, Ordering::SeqCst);
    StatusCode::SERVICE_UNAVAILABLE
}

async fn posted_event(State(web): State<Web>, body: Bytes) -> StatusCode {
    let _ = web
        .events
        .send(serde_json::from_slice(&body).unwrap_or_default());
    StatusCode::OK
}

struct Served {
    base: String,
    web: Web,
    events: mpsc::UnboundedReceiver<serde_json::Value>,
    slow_asked: mpsc::UnboundedReceiver<()>,
}

async fn serve() -> Served {
    let (events_tx, events) = mpsc::unbounded_channel();
    let (slow_tx, slow_asked) = mpsc::unbounded_channel();
    let web = Web {
        events: events_tx,
        slow_asked: slow_tx,
        slow_release: Arc::new(Semaphore::new(0)),
        failures: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new()
        .route("/echo", post(echo))
        .route("/menu", post(menu))
        .route("/slow", post(slow))
        .route("/fail", post(fail))
        .route("/events", post(posted_event))
        .with_state(web.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        base,
        web,
        events,
        slow_asked,
    }
}

/// The gateway: `transport` (`t`), a router feeding the relay application `relay`, on
/// RabbitMQ or (`embedded`) on the embedded bus.
fn config(t: &str, transport: &str, relay: &str, extra: &str, embedded: bool) -> String {
    let router = common::unique("relayr");
    let bus = if embedded {
        "[bus]\ntype = \"embedded\"\n".to_owned()
    } else {
        format!(
            "[bus]\ntype = \"amqp\"\nurl = {:?}\nreconnect_initial_seconds = 0.1\n\
             reconnect_max_seconds = 1.0\n",
            common::amqp_url()
        )
    };
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n{bus}{transport}\
         [routers.{router}]\ntransports = [\"{t}\"]\napplications = [\"{relay}\"]\n\
         default = \"{relay}\"\n[applications.{relay}]\ntype = \"http_relay\"\n\
         token = \"t0k-relay\"\nallowed_networks = [\"127.0.0.1/32\"]\n{extra}"
    )
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
        .expect("the web application runs")
}

#[tokio::test]
async fn sms_replies_come_from_the_answer_events_are_posted_and_failures_are_bounded() {
    let mut web = serve().await;
    let (t, relay) = (common::unique("rsms"), common::unique("relay"));
    let mut sim = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let transport = format!(
        "[transports.{t}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\n",
        sim.addr.port()
    );
    let base = &web.base;
    let extra = format!(
        "url = \"{base}/echo\"\nevent_url = \"{base}/events\"\nattempts = 3\n\
         retry_initial_seconds = 0.05\ntimeout_seconds = 60\n\
         [applications.{relay}.keyword_urls]\nslow = \"{base}/slow\"\nfail = \"{base}/fail\"\n"
    );
    let mut gw = Gateway::start(&config(&t, &transport, &relay, &extra, false)).await;
    sim.expect("a bind", |e| e["event"] == "bind" && e["ok"] == true)
        .await;
    gw.wait_ready(200).await;
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    let mut failures = bus
        .consume(&format!("{relay}.failures"))
        .await
        .expect("consume the relay's failures");

    sim.cmd("mo 27820001111 4455 hello there").await;
    let out = sim.expect("the reply", |e| e["event"] == "submit_sm").await;
    assert_eq!(out["text"], "You said: hello there");
    assert_eq!(out["destination"], "27820001111");
    // The reply's ack and delivery report reach the event URL, as Vumi events.
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let e = next(&mut web.events, "event post").await;
        kinds.push(e["event_type"].as_str().unwrap_or("").to_owned());
    }
    kinds.sort();
    assert_eq!(kinds, ["ack", "delivery_report"]);

    // A slow web application holds its own message only.
    sim.cmd("mo 27820002222 4455 slow please").await;
    next(&mut web.slow_asked, "the slow request").await;
    sim.cmd("mo 27820003333 4455 fail now").await;
    sim.cmd("mo 27820004444 4455 quick one").await;
    sim.expect("the quick reply", |e| {
        e["event"] == "submit_sm" && e["text"] == "You said: quick one"
    })
    .await;
    // The failing one is tried three times, then lands in the failures with the reason.
    let d = tokio::time::timeout(PATIENCE, failures.next())
        .await
        .expect("a failure in time")
        .expect("consumer open");
    let f = FailureMessage::decode(&d.body).expect("a Vumi failure message");
    d.ack().await.expect("ack");
    let reason = f.reason.clone().unwrap_or_default();
    assert!(reason.contains("no answer after 3 attempts"), "{reason}");
    assert!(reason.contains("status_5xx"), "{reason}");
    assert_eq!(f.message["content"], "fail now");
    assert_eq!(web.web.failures.load(Ordering::SeqCst), 3);
    assert_eq!(
        sim.count(|e| e["event"] == "submit_sm" && e["text"] == "Slow but here"),
        0
    );
    web.web.slow_release.add_permits(1);
    sim.expect("the slow reply", |e| {
        e["event"] == "submit_sm" && e["text"] == "Slow but here"
    })
    .await;
    // Three relayed (the failing one is counted as relay_failed).
    let relayed = format!("application=\"{relay}\",kind=\"relayed\"");
    crate::apps::await_metric(&gw, "richmond_app_messages_total", &relayed, 3.0).await;
    let failed = format!("application=\"{relay}\",kind=\"relay_failed\"");
    for (kind, want) in [(&relayed, 3.0), (&failed, 1.0)] {
        let got = crate::apps::metric(&gw, "richmond_app_messages_total", kind).await;
        assert_eq!(got, want, "{kind}");
    }
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn a_ussd_menu_from_form_posts_ends_when_the_answer_says_so() {
    let web = serve().await;
    let (t, relay) = (common::unique("russd"), common::unique("relay"));
    let mut sim = Sim::start(&["ssmi"]).await;
    let transport = format!(
        "[transports.{t}]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n",
        sim.addr.port()
    );
    let extra = format!("url = \"{}/menu\"\nformat = \"form\"\n", web.base);
    // The router and the relay on the embedded bus, in the gateway's process.
    let mut gw = Gateway::start(&config(&t, &transport, &relay, &extra, true)).await;
    gw.wait_ready(200).await;
    sim.cmd("dial 27831110009 *120*88 2").await;
    let done = sim
        .expect("the end of the session", |e| {
            e["event"] == "ussd_session_done" && e["msisdn"] == "27831110009"
        })
        .await;
    assert_eq!(
        done["transcript"],
        serde_json::json!(["Menu: 1 or 2", "You chose 2"]),
        "{done}"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
