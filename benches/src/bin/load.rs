//! `load`: end-to-end load of the SMPP transport against `richmond simulate smsc`, MO and MT,
//! through RabbitMQ (the real `richmond` binary) and through the embedded bus (the same
//! gateway code in this process: an application cannot reach another process's embedded
//! bus), with 1 and with 100 binds, beside the broker ceiling (a bare lapin client). Not a
//! test: it prints a Markdown table for BENCHMARKS.md.
//!
//! Usage (the servers come from ./scripts/test; `richmond` must be built in release first):
//! `./scripts/test --servers-only -- bash -c 'cargo build --release -p richmond &&
//!  cargo run --release -p richmond-benches --bin load -- [N [amqp|embedded]]'`
//!
//! * MO: the simulator floods N `deliver_sm` (`mo-flood`); a consumer reads `<id>.inbound`.
//!   Latency: the simulator's send time (in the text) to the consumer's receipt.
//! * MT: N user messages published to `<id>.outbound` (500 in flight); a consumer reads the
//!   `ack` events. Latency: publish start to ack receipt.
//!
//! Each configuration runs flat out (N messages at once: throughput, and latency under that
//! backlog), then N/2 messages paced at half the measured rate (latency under steady load).
//! Every run counts unique messages and duplicates; a run that does not get all N within
//! its time limit is reported as FAILED with the number lost. RSS and CPU are the gateway
//! process's (`/proc/<pid>`), or this process's for the embedded runs (gateway and
//! application together).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use richmond::bus::Bus;
use richmond::bus::amqp::AmqpBus;
use richmond::bus::embedded::EmbeddedBus;
use richmond::config::{AmqpConfig, BusConfig, Config, Secret};
use richmond::store::Store;
use richmond_benches::percentile;
use richmond_codecs::vumi::{Event, EventKind, UserMessage};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long one run may take before it counts as failed.
const LIMIT: Duration = Duration::from_secs(180);

fn richmond_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.with_file_name("richmond");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p richmond` first",
        bin.display()
    );
    bin
}

/// `richmond simulate smsc --quiet` with its stdin, and the number of binds it accepted.
struct Smsc {
    child: Child,
    stdin: ChildStdin,
    port: u16,
    binds: Arc<AtomicUsize>,
}

impl Smsc {
    fn start() -> Self {
        let mut child = Command::new(richmond_bin())
            .args(["simulate", "smsc", "--quiet", "--listen", "127.0.0.1:0"])
            .args([
                "--deliver-timeout-ms",
                "600000",
                "--receipt-delay-ms",
                "100",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the simulator");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a line").expect("read");
        let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
        let addr: std::net::SocketAddr = v["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("addr");
        let binds = Arc::new(AtomicUsize::new(0));
        let counter = binds.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("\"event\":\"bind\"") && line.contains("\"ok\":true") {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self {
            child,
            stdin,
            port: addr.port(),
            binds,
        }
    }

    fn cmd(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("simulator stdin");
        self.stdin.flush().expect("flush");
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway under load: a child process (RabbitMQ) or tasks in this process (embedded).
enum Gateway {
    Process(Child),
    InProcess(CancellationToken, TaskTracker),
}

impl Gateway {
    fn pid(&self) -> u32 {
        match self {
            Self::Process(c) => c.id(),
            Self::InProcess(..) => std::process::id(),
        }
    }

    async fn stop(self) {
        match self {
            Self::Process(mut c) => {
                let _ = Command::new("kill")
                    .args(["-TERM", &c.id().to_string()])
                    .status();
                let _ = c.wait();
            }
            Self::InProcess(intake, tracker) => {
                intake.cancel();
                tracker.close();
                tracker.wait().await;
            }
        }
    }
}

/// (peak RSS in MiB, CPU seconds) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name).
    (hwm_kb / 1024.0, (ticks(11) + ticks(12)) / 100.0)
}

fn config_text(dir: &Path, id: &str, port: u16, binds: usize, amqp: Option<&str>) -> String {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let bus = amqp.map_or_else(
        || "[bus]\ntype = \"embedded\"\nmax_queue_messages = 1000000\n".to_owned(),
        |url| format!("[bus]\ntype = \"amqp\"\nurl = {url:?}\nprefetch_count = 500\n"),
    );
    format!(
        "data_dir = {:?}\n[admin]\naddress = \"{admin}\"\n{bus}[transports.{id}]\ntype = \"smpp\"\n\
         host = \"127.0.0.1\"\nport = {port}\nsystem_id = \"richmond\"\npassword = \"richmond\"\n\
         binds = {binds}\nwindow = 50\nmax_in_flight = 1000\nregistered_delivery = false\n\
         reconnect_initial_seconds = 0.2\nreconnect_max_seconds = 2.0\n",
        dir.join("data").display().to_string()
    )
}

async fn start(
    dir: &Path,
    id: &str,
    smsc: &Smsc,
    binds: usize,
    amqp: Option<&str>,
) -> (Gateway, Bus) {
    let path = dir.join("richmond.toml");
    std::fs::write(&path, config_text(dir, id, smsc.port, binds, amqp)).expect("config");
    let config = Config::load(&path, std::iter::empty::<(String, String)>()).expect("config");
    let (gateway, bus) = if let Some(url) = amqp {
        let log = std::fs::File::create(dir.join("richmond.log")).expect("log");
        let child = Command::new(richmond_bin())
            .args([
                "--config",
                path.to_str().expect("utf-8"),
                "--log-level",
                "warn",
                "run",
            ])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start richmond");
        let mut cfg: AmqpConfig = toml::from_str("prefetch_count = 500").expect("amqp config");
        cfg.url = Some(Secret::new(url.to_owned()));
        let app = AmqpBus::start(&cfg);
        while !app.is_connected() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (Gateway::Process(child), Bus::Amqp(app))
    } else {
        let BusConfig::Embedded(e) = &config.bus else {
            unreachable!("embedded")
        };
        let bus = Bus::Embedded(EmbeddedBus::open(&config.data_dir, e).expect("spool"));
        let store = Store::open(&config).await.expect("store");
        let ctx = richmond::transport::Context {
            bus: bus.clone(),
            store,
            readiness: richmond::admin::Readiness::default(),
        };
        let (tracker, intake) = (TaskTracker::new(), CancellationToken::new());
        richmond::transport::spawn_all(&config, &ctx, &tracker, &intake).expect("spawn");
        (Gateway::InProcess(intake, tracker), bus)
    };
    bus.declare_transport(id).await.expect("declare");
    let deadline = Instant::now() + Duration::from_secs(60);
    while smsc.binds.load(Ordering::Relaxed) < binds {
        assert!(
            Instant::now() < deadline,
            "only {} of {binds} binds",
            smsc.binds.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (gateway, bus)
}

struct Outcome {
    unique: usize,
    duplicates: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

async fn mo(bus: &Bus, id: &str, smsc: &mut Smsc, n: usize, rate: Option<f64>) -> Outcome {
    let mut consumer = bus
        .consume(&format!("{id}.inbound"))
        .await
        .expect("consume");
    let started = Instant::now();
    match rate {
        None => smsc.cmd(&format!("mo-flood {n} 12345")),
        Some(r) => smsc.cmd(&format!("mo-flood {n} 12345 {r:.0}")),
    }
    let (mut seen, mut duplicates, mut latencies) = (HashSet::new(), 0, Vec::with_capacity(n));
    while seen.len() < n && started.elapsed() < LIMIT {
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await
        else {
            continue;
        };
        let msg = UserMessage::decode(&d.body).expect("user_message");
        let text = msg.content.unwrap_or_default();
        let mut words = text.split(' ').skip(1);
        let i: usize = words
            .next()
            .and_then(|w| w.parse().ok())
            .expect("flood text");
        let sent: u128 = words
            .next()
            .and_then(|w| w.parse().ok())
            .expect("flood time");
        let micros = u64::try_from(now_micros().saturating_sub(sent)).unwrap_or(u64::MAX);
        latencies.push(Duration::from_micros(micros));
        if !seen.insert(i) {
            duplicates += 1;
        }
        tokio::spawn(d.ack());
    }
    Outcome {
        unique: seen.len(),
        duplicates,
        elapsed: started.elapsed(),
        latencies,
    }
}

async fn mt(bus: &Bus, id: &str, n: usize, rate: Option<f64>) -> Outcome {
    let mut events = bus.consume(&format!("{id}.event")).await.expect("consume");
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let publisher = {
        let (bus, id, sent) = (bus.clone(), id.to_owned(), sent.clone());
        tokio::spawn(async move {
            let begin = tokio::time::Instant::now();
            futures_util::stream::iter(0..n)
                .then(|i| async move {
                    if let Some(r) = rate {
                        tokio::time::sleep_until(begin + Duration::from_secs_f64(i as f64 / r))
                            .await;
                    }
                    i
                })
                .for_each_concurrent(500, |i| {
                    let (bus, id, sent) = (bus.clone(), id.clone(), sent.clone());
                    async move {
                        let to = format!("+2782{i:07}");
                        let msg =
                            UserMessage::new(&id, "sms", "12345", &to, Some(format!("load {i}")));
                        sent.lock()
                            .expect("lock")
                            .insert(msg.message_id.clone(), Instant::now());
                        let key = format!("{id}.outbound");
                        bus.publish(&key, Bytes::from(msg.encode()))
                            .await
                            .expect("publish");
                    }
                })
                .await;
        })
    };
    let (mut seen, mut duplicates, mut latencies) = (HashSet::new(), 0, Vec::with_capacity(n));
    while seen.len() < n && started.elapsed() < LIMIT {
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await else {
            eprintln!("load: mt: {} of {n} so far", seen.len());
            continue;
        };
        let e = Event::decode(&d.body).expect("event");
        if matches!(e.kind, EventKind::Ack { .. }) {
            if let Some(t) = sent.lock().expect("lock").get(&e.user_message_id) {
                latencies.push(t.elapsed());
            }
            if !seen.insert(e.user_message_id) {
                duplicates += 1;
            }
        }
        tokio::spawn(d.ack());
    }
    publisher.abort();
    Outcome {
        unique: seen.len(),
        duplicates,
        elapsed: started.elapsed(),
        latencies,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        richmond::telemetry::init_logging(Some(richmond::cli::LogFormat::Text), "warn");
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let url =
        std::env::var("RICHMOND_TEST_AMQP_URL").expect("run through ./scripts/test --servers-only");
    let (ceiling_publish, ceiling_consume) = richmond_benches::bare_lapin(&url, n).await;
    println!("messages per run: {n}; SMPP window 50 per bind; no receipts\n");
    println!(
        "ceiling (bare lapin, 700 B, confirms): publish {ceiling_publish:.0} msg/s, consume+ack {ceiling_consume:.0} msg/s\n"
    );
    println!(
        "| bus | binds | direction | msg/s | / ceiling | p50 ms | p99 ms | p999 ms | p50 / p99 ms at half rate | peak RSS MiB | CPU µs/msg | lost | dup |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let only = std::env::args().nth(2).unwrap_or_default();
    let mut failed = false;
    for amqp in [true, false] {
        if (only == "embedded" && amqp) || (only == "amqp" && !amqp) {
            continue;
        }
        for binds in [1, 100] {
            for direction in ["mo", "mt"] {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut smsc = Smsc::start();
                let id = format!(
                    "load{}{binds}{direction}{}",
                    u8::from(amqp),
                    std::process::id()
                );
                let (gateway, bus) =
                    start(dir.path(), &id, &smsc, binds, amqp.then_some(url.as_str())).await;
                let pid = gateway.pid();
                eprintln!("load: {id} started");
                let (_, cpu_before) = usage(pid);
                let mut o = match direction {
                    "mo" => mo(&bus, &id, &mut smsc, n, None).await,
                    _ => mt(&bus, &id, n, None).await,
                };
                let (rss, cpu_after) = usage(pid);
                let rate = o.unique as f64 / o.elapsed.as_secs_f64();
                // The same again at half that rate, for the latency a steady load sees.
                let mut paced = match direction {
                    "mo" => mo(&bus, &id, &mut smsc, n / 2, Some(rate / 2.0)).await,
                    _ => mt(&bus, &id, n / 2, Some(rate / 2.0)).await,
                };
                let paced_lost = n / 2 - paced.unique;
                eprintln!("load: {id} measured; stopping");
                gateway.stop().await;
                bus.close().await;
                let lost = n - o.unique + paced_lost;
                failed |= lost > 0;
                println!(
                    "| {} | {binds} | {direction} | {rate:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {rss:.0} | {:.0} | {lost}{} | {} |",
                    if amqp { "RabbitMQ" } else { "embedded (sync)" },
                    if amqp {
                        format!("{:.2}", rate / ceiling_publish)
                    } else {
                        "–".into()
                    },
                    percentile(&mut o.latencies, 0.5),
                    percentile(&mut o.latencies, 0.99),
                    percentile(&mut o.latencies, 0.999),
                    percentile(&mut paced.latencies, 0.5),
                    percentile(&mut paced.latencies, 0.99),
                    (cpu_after - cpu_before) * 1e6 / n as f64,
                    if lost > 0 { " FAILED" } else { "" },
                    o.duplicates + paced.duplicates,
                );
            }
        }
    }
    if failed {
        eprintln!("load: at least one run lost messages");
        std::process::exit(1);
    }
}
