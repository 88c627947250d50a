//! `load soak <minutes> binary [rate|max]`: the single-binary default (`config/richmond.toml`
//! as shipped: embedded bus with `durability = "sync"`, redb store, the in-process simulated
//! SMSC whose handsets answer every SMS and send a delivery receipt 500 ms later, the HTTP
//! API) run as the release `richmond` binary and fed through its HTTP API, in one-minute
//! windows. Only what a test harness must change is changed: loopback ports, the data
//! directory, the API's rate limit lifted, and `message_ttl_seconds` /
//! `conversation_ttl_seconds` at 600 so the store reaches its steady state inside the run
//! (with the defaults, records stay 30 days: README sizes that).
//!
//! * `rate` (default 200): one recipient per request at `rate` requests a second over
//!   keep-alive connections; the account's callbacks point at a receiver in this process
//!   ([`crate::receiver`]). After each window it waits (at most 120 s) until every message of
//!   the window has its `delivered` report and the handset's answer (an inbound message) at
//!   the receiver: MT, MO and receipts, end to end through the binary. The next window starts
//!   a minute after the last one started or once it settled, whichever is later (above the
//!   rate the gateway sustains with callbacks, its event backlog drains after the sends).
//! * `max`: as fast as the API answers (64 requests in flight, keep-alive), no callbacks;
//!   after each window every accepted message's record is queried (`status.json?id=…`) until
//!   it reads `delivered` (at most 120 s). At most 9 windows (message numbers are 7 digits).
//!
//! After each window: RSS, open files and threads of the binary, store and spool sizes
//! ([`crate::soak::sample`]); at the end the growth from the fifth minute and the peak RSS.
//! Exits 1 when a message is lost or a request failed. Not a test: its rows go to
//! BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::client::{self, Api, IN_FLIGHT, Plan, Shape, exchange};
use crate::gateway::usage;
use crate::http::Richmond;
use crate::receiver::Receiver;
use crate::soak::{Sample, sample};

/// The shipped default configuration.
const DEFAULT_CONFIG: &str = include_str!("../../../../config/richmond.toml");
/// The demo account of the default configuration.
const AUTH: &str = "demo:demo-password";
/// How long a window's messages may take to be delivered after its last request.
const SETTLE: Duration = Duration::from_secs(120);
/// Message numbers a `max` window may use.
const MAX_WINDOW: usize = 1_000_000;

/// The default configuration with loopback ports of this run, the data in `data`, the rate
/// limit lifted and 600 s record lifetimes. Panics (a bench, not the gateway) when the
/// shipped file no longer has a line this edits.
fn config(data: &std::path::Path, smsc: u16, api: &str, admin: &str) -> String {
    let edits = [
        (
            "data_dir = \"data\"",
            format!("data_dir = {:?}", data.display().to_string()),
        ),
        ("127.0.0.1:2775", format!("127.0.0.1:{smsc}")),
        ("port = 2775", format!("port = {smsc}")),
        ("127.0.0.1:8080", api.to_owned()),
        ("127.0.0.1:9464", admin.to_owned()),
        (
            "[api]\n",
            "[api]\nrate_limit_requests = 1000000000\nmessage_ttl_seconds = 600\n\
             conversation_ttl_seconds = 600\n"
                .to_owned(),
        ),
    ];
    let mut text = DEFAULT_CONFIG.to_owned();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "config/richmond.toml has no {from:?}: update load soak binary"
        );
        text = text.replace(from, &to);
    }
    text
}

/// The `Authorization` header line of the demo account.
fn auth_header() -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(AUTH);
    format!("Authorization: Basic {basic}\r\n")
}

/// Points the demo account's callbacks at the receiver.
async fn set_callbacks(api: std::net::SocketAddr, port: u16) -> Result<(), String> {
    let url = |path: &str| format!("http%3A%2F%2F127.0.0.1%3A{port}%2F{path}");
    let body = format!(
        "sms_received={}&sms_receipt={}",
        url("received"),
        url("receipt")
    );
    let headers = format!(
        "{}Content-Type: application/x-www-form-urlencoded\r\n",
        auth_header()
    );
    match exchange(api, "PUT /api/v1/account/callbacks.json", &headers, &body).await? {
        (200..=299, _) => Ok(()),
        (status, body) => Err(format!("PUT callbacks: HTTP {status}: {body:.300}")),
    }
}

/// Of `ids`, those whose record does not read `delivered` yet (an id the query cannot answer
/// stays in the list).
async fn undelivered(api: std::net::SocketAddr, ids: Vec<String>) -> Vec<String> {
    let mut left = Vec::new();
    for chunk in ids.chunks(200) {
        let query: Vec<String> = chunk.iter().map(|id| format!("id={id}")).collect();
        let path = format!("GET /api/v1/sms/sms/status.json?{}", query.join("&"));
        let delivered: std::collections::HashSet<String> =
            match exchange(api, &path, &auth_header(), "").await {
                Ok((200, body)) => serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter(|r| r["transport_status"] == "delivered")
                    .filter_map(|r| r["id"].as_str().map(str::to_owned))
                    .collect(),
                _ => Default::default(),
            };
        left.extend(chunk.iter().filter(|id| !delivered.contains(*id)).cloned());
    }
    left
}

/// One window's outcome.
struct Window {
    accepted: usize,
    failed: usize,
    /// MT without a `delivered` report or record.
    mt_lost: usize,
    /// MO (handset answers) not at the receiver (`None`: not checked, `max`).
    mo_lost: Option<usize>,
    dup: u32,
}

/// Runs the soak; returns whether anything was lost or refused.
pub(crate) async fn run(minutes: usize, rate: Option<f64>) -> bool {
    if rate.is_none() && minutes > 9 {
        eprintln!("load soak binary max: at most 9 minutes");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let smsc = client::free_port();
    let data = dir.path().join("data");
    let gw = match Richmond::spawn(dir.path(), |api, admin| {
        config(&data, smsc, &api.to_string(), &admin.to_string())
    })
    .await
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("load soak binary: {e}");
            return true;
        }
    };
    let receiver = match rate {
        Some(_) => {
            let r = Receiver::start().await;
            if let Err(e) = set_callbacks(gw.api, r.port).await {
                eprintln!("load soak binary: {e}");
                return true;
            }
            Some(r)
        }
        None => None,
    };
    let pid = gw.child.id();
    let api = Arc::new(Api::Richmond {
        transport: "sms".into(),
        auth: auth_header()
            .trim_end()
            .trim_start_matches("Authorization: ")
            .to_owned(),
    });
    let shape = Shape {
        recipients: 1,
        keep_alive: true,
    };
    println!(
        "soak of the single-binary default through its HTTP API: {}, {minutes} min\n",
        rate.map_or(
            format!("as fast as it answers ({IN_FLIGHT} requests in flight), no callbacks"),
            |r| format!("{r:.0} requests/s, each answered by the handset and a receipt")
        )
    );
    println!(
        "| minute | accepted msg/s | failed requests | MT lost | MO lost | dup | RSS MiB | fds | threads | store MiB | spool MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut bad, mut samples): (usize, Vec<Sample>) = (0, Vec::new());
    for minute in 1..=minutes {
        let start = Instant::now();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let messages = match rate {
            Some(r) => {
                let n = (r * 60.0) as usize;
                (minute - 1) * n..minute * n
            }
            None => (minute - 1) * MAX_WINDOW..minute * MAX_WINDOW,
        };
        let plan = Plan {
            messages: messages.clone(),
            shape,
            deadline: start + Duration::from_secs(60),
            rate,
            collect_ids: rate.is_none(),
        };
        let sent = client::drive(gw.api, api.clone(), plan).await;
        if let Some(e) = &sent.first_error {
            eprintln!(
                "load soak binary: {} failed requests; the first: {e}",
                sent.failed
            );
        }
        // Sampled at the end of the window's sending, under load.
        let s = sample(pid, &data);
        let accepted = sent.latencies.len();
        let w = match &receiver {
            Some(r) => settle_callbacks(r, messages, accepted, sent.failed).await,
            None => settle_records(gw.api, sent.ids, sent.failed).await,
        };
        bad += w.failed + w.mt_lost + w.mo_lost.unwrap_or(0);
        println!(
            "| {minute} | {:.0} | {} | {} | {} | {} | {} |",
            w.accepted as f64 / 60.0,
            w.failed,
            w.mt_lost,
            w.mo_lost.map_or("–".into(), |m| m.to_string()),
            w.dup,
            s.cells()
        );
        samples.push(s);
        // A paced window starts a minute after the last one started, or once it settled if
        // that took longer; a max window once the previous one settled.
        if rate.is_some() {
            tokio::time::sleep_until((start + Duration::from_secs(60)).into()).await;
        }
    }
    let (peak, _) = usage(pid);
    drop(gw);
    crate::soak::summary(&samples, bad);
    println!("peak RSS (VmHWM) {peak:.1} MiB");
    bad > 0
}

/// Waits until every message of `range` has its report and answer at the receiver (a message
/// whose request failed or was never sent counts as lost: none may be, at this rate).
async fn settle_callbacks(
    r: &Receiver,
    range: std::ops::Range<usize>,
    accepted: usize,
    failed: usize,
) -> Window {
    let deadline = Instant::now() + SETTLE;
    let (receipts, received) = loop {
        let missing = r.lock().missing(range.clone());
        if missing == (0, 0) || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let t = r.lock();
    if t.refused > 0 {
        eprintln!("load soak binary: {} callbacks not understood", t.refused);
    }
    Window {
        accepted,
        failed,
        mt_lost: receipts,
        mo_lost: Some(received),
        dup: t.duplicates(range),
    }
}

/// Waits until every accepted message's record reads `delivered`.
async fn settle_records(api: std::net::SocketAddr, ids: Vec<String>, failed: usize) -> Window {
    let (accepted, deadline) = (ids.len(), Instant::now() + SETTLE);
    let mut left = ids;
    while !left.is_empty() && Instant::now() < deadline {
        left = undelivered(api, left).await;
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Window {
        accepted,
        failed,
        mt_lost: left.len(),
        mo_lost: None,
        dup: 0,
    }
}
