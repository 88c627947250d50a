//! The processes under load: `richmond simulate smsc` and the gateway (the real `richmond`
//! binary for RabbitMQ, the same code in this process for the embedded bus), their config,
//! and their resource use from `/proc`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use richmond::bus::Bus;
use richmond::bus::amqp::AmqpBus;
use richmond::bus::embedded::EmbeddedBus;
use richmond::config::{AmqpConfig, BusConfig, Config, Secret};
use richmond::store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Run;

pub(crate) fn richmond_bin() -> PathBuf {
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
pub(crate) struct Smsc {
    child: Child,
    stdin: ChildStdin,
    port: u16,
    pub(crate) binds: Arc<AtomicUsize>,
    /// `deliver_sm`s the simulator had to send again (error answer or no answer in time).
    pub(crate) redeliveries: Arc<AtomicUsize>,
}

impl Smsc {
    pub(crate) fn start() -> Self {
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
        let redeliveries = Arc::new(AtomicUsize::new(0));
        let again = redeliveries.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("\"event\":\"bind\"") && line.contains("\"ok\":true") {
                    counter.fetch_add(1, Ordering::Relaxed);
                } else if line.contains("\"event\":\"redeliver\"")
                    && again.fetch_add(1, Ordering::Relaxed) < 3
                {
                    eprintln!("load: simulator: {line}");
                }
            }
        });
        Self {
            child,
            stdin,
            port: addr.port(),
            binds,
            redeliveries,
        }
    }

    pub(crate) fn cmd(&mut self, line: &str) {
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
pub(crate) enum Gateway {
    Process(Child),
    InProcess(CancellationToken, TaskTracker),
}

impl Gateway {
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Self::Process(c) => c.id(),
            Self::InProcess(..) => std::process::id(),
        }
    }

    pub(crate) async fn stop(self) {
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
pub(crate) fn usage(pid: u32) -> (f64, f64) {
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

fn config_text(dir: &Path, id: &str, port: u16, run: &Run, amqp: Option<&str>) -> String {
    let (binds, receipts) = (run.binds, run.receipts);
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let bus = amqp.map_or_else(
        || "[bus]\ntype = \"embedded\"\nmax_queue_messages = 1000000\n".to_owned(),
        |url| format!("[bus]\ntype = \"amqp\"\nurl = {url:?}\nprefetch_count = 500\n"),
    );
    let router = match run.routed {
        0 => String::new(),
        n => {
            let apps: Vec<String> = (1..=n)
                .map(|i| {
                    if i == 1 {
                        format!("\"{id}app\"")
                    } else {
                        format!("\"{id}app{i}\"")
                    }
                })
                .collect();
            format!(
                "[routers.{id}r]\ntransports = [\"{id}\"]\napplications = [{}]\n\
                 default = \"{id}app\"\nmt_transport = {{ {id}app = \"{id}\" }}\n",
                apps.join(", ")
            )
        }
    };
    format!(
        "data_dir = {:?}\n[admin]\naddress = \"{admin}\"\n{bus}[transports.{id}]\ntype = \"smpp\"\n\
         host = \"127.0.0.1\"\nport = {port}\nsystem_id = \"richmond\"\npassword = \"richmond\"\n\
         binds = {binds}\nwindow = 50\nmax_in_flight = 1000\nregistered_delivery = {receipts}\n\
         reconnect_initial_seconds = 0.2\nreconnect_max_seconds = 2.0\n{router}",
        dir.join("data").display().to_string()
    )
}

/// Starts the gateway for `run` and waits for all its binds.
pub(crate) async fn start(
    dir: &Path,
    id: &str,
    smsc: &Smsc,
    run: &Run,
    amqp: Option<&str>,
) -> (Gateway, Bus) {
    let binds = run.binds;
    let path = dir.join("richmond.toml");
    std::fs::write(&path, config_text(dir, id, smsc.port, run, amqp)).expect("config");
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
            store: store.clone(),
            readiness: richmond::admin::Readiness::default(),
            cluster: Default::default(),
        };
        let (tracker, intake) = (TaskTracker::new(), CancellationToken::new());
        richmond::transport::spawn_all(&config.transports, &ctx, &tracker, &intake).expect("spawn");
        for (name, r) in &config.routers {
            richmond::router::spawn(name, r, &ctx, &[], &tracker, &intake)
                .await
                .expect("router");
        }
        (Gateway::InProcess(intake, tracker), bus)
    };
    bus.declare_transport(id).await.expect("declare");
    if run.routed > 0 {
        bus.declare_transport(&format!("{id}app"))
            .await
            .expect("declare");
    }
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
