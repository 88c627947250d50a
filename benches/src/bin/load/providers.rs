//! The HTTP-provider rows of `load` (issue 22): MT through each provider transport to its
//! simulator — Chikka, Clickatell's legacy HTTP API (credentials on every request) and its
//! Platform API, Opera (XML-RPC) — each message acked and its delivery notification (one final status)
//! posted back and turned into a `delivery_report`.
//!
//! Richmond runs as the real release binary on RabbitMQ (an application must reach its
//! queues) with redb, one provider transport (`max_in_flight` 64, no `mt_tps` limit); the
//! simulator answers every request at once and posts each notification back at once. N
//! messages are published to `<id>.outbound` (500 in flight); the row ends when every one
//! has its ack and its delivery report. Per row: msg/s (first publish to the last of those
//! events), the gateway's CPU µs per message, peak RSS, the simulator's accepted requests,
//! lost and duplicated messages.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use richmond::bus::Bus;
use richmond::bus::amqp::AmqpBus;
use richmond::config::{AmqpConfig, Secret};
use richmond_codecs::vumi::{Event, EventKind, UserMessage};

use crate::client::free_port;
use crate::gateway::{richmond_bin, usage};
use crate::http::Richmond;

/// How long a row may take.
const LIMIT: Duration = Duration::from_secs(300);

/// One provider's row: its name, transport id, simulator arguments (given the URLs it posts
/// to under `/api/v1/sms/<id>/`), transport options (given the simulator's address), and what
/// a line of the simulator says when it accepted a message.
struct Provider {
    name: &'static str,
    id: &'static str,
    sim_args: fn(&str) -> Vec<String>,
    options: fn(SocketAddr) -> String,
    accepted: &'static [&'static str],
}

const PROVIDERS: [Provider; 4] = [
    Provider {
        name: "Chikka",
        id: "chikka1",
        sim_args: |base| {
            let post_to = format!("{base}/receive");
            vec![
                "chikka".into(),
                "--post-to".into(),
                post_to,
                "--notify-delay-ms".into(),
                "0".into(),
            ]
        },
        options: |sim| {
            format!(
                "type = \"chikka\"\nbase_url = \"http://{sim}\"\nclient_id = \"richmond\"\n\
                 secret_key = \"richmond\"\nshortcode = \"29290700\"\n"
            )
        },
        accepted: &["\"event\":\"request\"", "\"status\":200"],
    },
    Provider {
        name: "Clickatell (HTTP API)",
        id: "clickatell1",
        sim_args: |base| clickatell_args(base),
        options: |sim| {
            format!(
                "type = \"clickatell\"\nbase_url = \"http://{sim}\"\napi_id = \"3186\"\n\
                 user = \"richmond\"\npassword = \"richmond\"\n"
            )
        },
        accepted: &["\"event\":\"sendmsg\""],
    },
    Provider {
        name: "Clickatell (Platform)",
        id: "clickatell2",
        sim_args: |base| clickatell_args(base),
        options: |sim| {
            format!(
                "type = \"clickatell\"\napi = \"platform\"\nbase_url = \"http://{sim}\"\n\
                 api_key = \"richmond-key\"\n"
            )
        },
        accepted: &["\"event\":\"sendmsg\""],
    },
    Provider {
        name: "Opera",
        id: "opera1",
        sim_args: |base| {
            let receipts = format!("{base}/receipt.xml");
            [
                "opera",
                "--receipt-url",
                &receipts,
                "--receipt-delay-ms",
                "0",
            ]
            .map(str::to_owned)
            .to_vec()
        },
        options: |sim| {
            format!(
                "type = \"opera\"\nbase_url = \"http://{sim}\"\nservice = \"20222\"\n\
                 channel = \"111\"\npassword = \"richmond\"\n"
            )
        },
        accepted: &["\"event\":\"send\""],
    },
];

fn clickatell_args(base: &str) -> Vec<String> {
    let receipts = format!("{base}/receipt.json");
    [
        "clickatell",
        "--receipt-url",
        &receipts,
        "--statuses",
        "004",
        "--receipt-delay-ms",
        "0",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A provider simulator, counting the requests it accepted.
struct ProviderSim {
    child: Child,
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl ProviderSim {
    fn start(args: &[String], accepted: &'static [&'static str]) -> Self {
        let mut child = Command::new(richmond_bin())
            .arg("simulate")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the simulator");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a line").expect("read");
        let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
        let addr = v["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("addr");
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if accepted.iter().all(|a| line.contains(a)) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self {
            child,
            addr,
            accepted: count,
        }
    }
}

impl Drop for ProviderSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the provider rows with `n` messages each; true when one lost any.
pub(crate) async fn run(n: usize) -> bool {
    let Ok(url) = std::env::var("RICHMOND_TEST_AMQP_URL") else {
        eprintln!("load: provider rows need RabbitMQ (./scripts/test --servers-only)");
        return true;
    };
    println!(
        "\nHTTP providers: MT through the provider transport to its simulator, each acked and its notification turned into a delivery report; {n} messages, RabbitMQ\n"
    );
    println!("| provider | msg/s | CPU µs/msg | peak RSS MiB | requests accepted | lost | dup |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for p in &PROVIDERS {
        match row(p, n, &url).await {
            Ok((line, lost)) => {
                println!("{line}");
                failed |= lost;
            }
            Err(e) => {
                println!("| {} | FAILED: {e} |", p.name);
                failed = true;
            }
        }
    }
    failed
}

async fn row(p: &Provider, n: usize, url: &str) -> Result<(String, bool), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let id = p.id;
    let sim = ProviderSim::start(
        &(p.sim_args)(&format!("http://{listen}/api/v1/sms/{id}")),
        p.accepted,
    );
    let options = (p.options)(sim.addr);
    let gw = Richmond::spawn(dir.path(), |_, admin| {
        format!(
            "data_dir = {:?}\n[admin]\naddress = \"{admin}\"\n[bus]\ntype = \"amqp\"\nurl = {url:?}\n\
             [store]\ntype = \"redb\"\n[transports.{id}]\n{options}listen = \"{listen}\"\n\
             max_in_flight = 64\n",
            dir.path().join("data").display().to_string(),
        )
    })
    .await?;
    let mut cfg: AmqpConfig = toml::from_str("prefetch_count = 500").map_err(|e| e.to_string())?;
    cfg.url = Some(Secret::new(url.to_owned()));
    let app = AmqpBus::start(&cfg);
    while !app.is_connected() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bus = Bus::Amqp(app);
    let mut events = bus
        .consume(&format!("{id}.event"))
        .await
        .map_err(|e| e.to_string())?;
    let pid = gw.child.id();
    let (_, cpu_before) = usage(pid);
    let started = Instant::now();
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            futures_util::stream::iter(0..n)
                .for_each_concurrent(500, |i| {
                    let bus = bus.clone();
                    async move {
                        let to = format!("+639{i:09}");
                        let msg =
                            UserMessage::new(id, "sms", "29290700", &to, Some(format!("load {i}")));
                        let _ = bus
                            .publish(&format!("{id}.outbound"), Bytes::from(msg.encode()))
                            .await;
                    }
                })
                .await;
        })
    };
    let (mut acked, mut reported, mut dup) = (HashSet::new(), HashSet::new(), 0);
    let mut last = started;
    while (acked.len() < n || reported.len() < n) && started.elapsed() < LIMIT {
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await else {
            eprintln!(
                "load: {}: {} acks, {} reports so far",
                p.name,
                acked.len(),
                reported.len()
            );
            continue;
        };
        let e = Event::decode(&d.body).map_err(|e| e.to_string())?;
        let fresh = match e.kind {
            EventKind::Ack { .. } => acked.insert(e.user_message_id),
            EventKind::DeliveryReport { .. } => reported.insert(e.user_message_id),
            EventKind::Nack { nack_reason } => {
                return Err(format!("nack under load: {nack_reason}"));
            }
        };
        dup += usize::from(!fresh);
        last = Instant::now();
        tokio::spawn(d.ack());
    }
    let (rss, cpu_after) = usage(pid);
    publisher.abort();
    drop(gw);
    let done = acked.intersection(&reported).count();
    let lost = n - done;
    let secs = last.duration_since(started).as_secs_f64().max(1e-3);
    Ok((
        format!(
            "| {} | {:.0} | {:.0} | {rss:.0} | {} | {}{lost} | {dup} |",
            p.name,
            done as f64 / secs,
            (cpu_after - cpu_before) * 1e6 / done.max(1) as f64,
            sim.accepted.load(Ordering::Relaxed),
            if lost > 0 { "FAILED " } else { "" },
        ),
        lost > 0,
    ))
}
