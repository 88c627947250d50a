//! The HTTP rows of `load`: MT through the HTTP API to an SMSC, Richmond beside Kannel in the
//! same run and the same shape, each row lossless-checked at the SMSC.
//!
//! Richmond runs as the real release binary with the quick-start configuration (embedded bus
//! with `durability = "sync"`, redb store, one SMPP transport with `window = 64`, no
//! receipts, the `[api]` listener with one account, the rate limit lifted); Kannel as
//! bearerbox + smsbox ([`crate::kannel`]). Each row gets its own gateway, temp dir and
//! counting simulator ([`crate::sink`]), and sends N messages with 64 requests in flight
//! ([`crate::client`]) in three shapes: 1 recipient per request on a fresh connection each
//! (Kannel's usual shape), 1 recipient over 64 keep-alive connections, and 100 recipients per
//! request over keep-alive.
//!
//! Per row: delivered msg/s (N / first request to last new `submit_sm` at the SMSC), messages
//! per CPU-second of the gateway's processes (`/proc`, from the first request to the last
//! delivery), p50/p99 of the HTTP answer, peak RSS, failed requests, lost and duplicated
//! messages; then Richmond / Kannel ratios per shape. A row that loses a message (not all N
//! at the SMSC within [`LIMIT`]) is marked FAILED and `load` exits 1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use richmond_benches::percentile;

use crate::client::{self, Api, Shape, free_port, get};
use crate::gateway::{richmond_bin, usage};
use crate::kannel::{self, Kannel};
use crate::sink::Sink;

/// How long one row may take, start to last delivery.
const LIMIT: Duration = Duration::from_secs(300);
/// The API account of the Richmond rows.
const USER: &str = "load";
const PASSWORD: &str = "load-password";
/// The transport id.
const TRANSPORT: &str = "sms";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gw {
    Richmond,
    Kannel,
}

impl Gw {
    fn name(self) -> &'static str {
        match self {
            Self::Richmond => "Richmond",
            Self::Kannel => "Kannel 1.4",
        }
    }
}

const SHAPES: [Shape; 3] = [
    Shape {
        recipients: 1,
        keep_alive: false,
    },
    Shape {
        recipients: 1,
        keep_alive: true,
    },
    Shape {
        recipients: 100,
        keep_alive: true,
    },
];

/// One measured row.
struct Row {
    gw: Gw,
    shape: Shape,
    rate: f64,
    per_cpu: f64,
    /// CPU seconds of the gateway's processes during the row.
    cpu: f64,
    p50: f64,
    p99: f64,
    rss: f64,
    failed: usize,
    lost: usize,
    dup: usize,
}

/// `richmond hash-password` for `password`.
pub(crate) fn hash_password(password: &str) -> String {
    let mut child = Command::new(richmond_bin())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("richmond hash-password");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("write the password");
    }
    let out = child.wait_with_output().expect("hash-password");
    assert!(out.status.success(), "richmond hash-password failed");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The quick-start configuration with the API on `api` and the SMSC on `smsc_port`.
fn richmond_config(
    dir: &Path,
    smsc_port: u16,
    api: SocketAddr,
    admin: SocketAddr,
    hash: &str,
) -> String {
    format!(
        "data_dir = {:?}\n\
         [admin]\naddress = \"{admin}\"\n\
         [bus]\ntype = \"embedded\"\ndurability = \"sync\"\n\
         [store]\ntype = \"redb\"\n\
         [transports.{TRANSPORT}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {smsc_port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nwindow = 64\n\
         registered_delivery = false\n\
         reconnect_initial_seconds = 0.2\nreconnect_max_seconds = 2.0\n\
         [api]\naddress = \"{api}\"\ntransports = [\"{TRANSPORT}\"]\n\
         rate_limit_requests = 1000000000\n\
         [[api.accounts]]\nusername = \"{USER}\"\npassword_hash = {hash:?}\n",
        dir.join("data").display().to_string()
    )
}

/// The `richmond run` child process, stopped (SIGTERM, then SIGKILL after 40 s) on drop.
pub(crate) struct Richmond {
    pub(crate) child: Child,
    pub(crate) api: SocketAddr,
}

impl Richmond {
    /// Starts it with the quick-start configuration of the HTTP rows.
    async fn start(dir: &Path, smsc_port: u16, hash: &str) -> Result<Self, String> {
        Self::spawn(dir, |api, admin| {
            richmond_config(dir, smsc_port, api, admin, hash)
        })
        .await
    }

    /// Starts it in `dir` with the configuration `config(api, admin)` makes for free API and
    /// admin addresses, and waits (at most 60 s) for `/ready` on the admin listener.
    pub(crate) async fn spawn(
        dir: &Path,
        config: impl FnOnce(SocketAddr, SocketAddr) -> String,
    ) -> Result<Self, String> {
        let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let path = dir.join("richmond.toml");
        std::fs::write(&path, config(api, admin)).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("richmond.log")).map_err(|e| e.to_string())?;
        let child = Command::new(richmond_bin())
            .args([
                "--config",
                path.to_str().expect("utf-8"),
                "--log-level",
                "warn",
                "run",
            ])
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("richmond run: {e}"))?;
        let mut r = Self { child, api };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = get(admin, "/ready").await {
                return Ok(r);
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                return Err(format!(
                    "richmond exited ({status}); see {}/richmond.log",
                    dir.display()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "richmond not ready within 60 s; see {}/richmond.log",
                    dir.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Richmond {
    fn drop(&mut self) {
        kannel::stop(&mut self.child, Duration::from_secs(40));
    }
}

/// A running gateway of either kind.
enum Running {
    Richmond(Richmond),
    Kannel(Kannel),
}

/// Peak RSS (MiB, summed over the processes) and CPU seconds of `pids`.
fn usage_of(pids: &[u32]) -> (f64, f64) {
    pids.iter()
        .map(|p| usage(*p))
        .fold((0.0, 0.0), |(r, c), (r2, c2)| (r + r2, c + c2))
}

/// Runs one row; an error means the gateway did not come up (the row counts every message
/// as lost).
async fn row(gw: Gw, shape: Shape, n: usize, hash: &str) -> Result<Row, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (system_id, password) = match gw {
        Gw::Richmond => ("richmond", "richmond"),
        Gw::Kannel => (kannel::SYSTEM_ID, kannel::PASSWORD),
    };
    let sink = Sink::start(n, system_id, password);
    let running = match gw {
        Gw::Richmond => Running::Richmond(Richmond::start(dir.path(), sink.port, hash).await?),
        Gw::Kannel => Running::Kannel(kannel::start(dir.path(), sink.port).await?),
    };
    if !sink.wait_bound(Duration::from_secs(60)).await {
        return Err("no bind at the SMSC within 60 s".into());
    }
    let (addr, api, pids) = match &running {
        Running::Richmond(r) => {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            let api = Api::Richmond {
                transport: TRANSPORT.into(),
                auth: format!("Basic {basic}"),
            };
            (r.api, api, vec![r.child.id()])
        }
        Running::Kannel(k) => {
            let api = Api::Kannel {
                username: kannel::USER.into(),
                password: kannel::USER_PASSWORD.into(),
            };
            (k.sendsms, api, k.pids())
        }
    };
    eprintln!("load: {} {} started", gw.name(), shape.label());
    let (_, cpu_before) = usage_of(&pids);
    let deadline = Instant::now() + LIMIT;
    let plan = client::Plan {
        messages: 0..n,
        shape,
        deadline,
        rate: None,
        collect_ids: false,
    };
    let mut sent = client::drive(addr, Arc::new(api), plan).await;
    let started = sent.started;
    let mut last_report = Instant::now();
    while sink.counts().unique < n && Instant::now() < deadline {
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("load: {} of {n} at the SMSC so far", sink.counts().unique);
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rss, cpu_after) = usage_of(&pids);
    // A moment more for duplicates that follow the last new delivery.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = sink.counts();
    if let Some(e) = &sent.first_error {
        eprintln!("load: {} failed requests; the first: {e}", sent.failed);
    }
    eprintln!(
        "load: {} {}: {} connections opened, {} keep-alive connections closed by the server, {} submits of no message",
        gw.name(),
        shape.label(),
        sent.connections,
        sent.closed_by_server,
        c.strangers
    );
    drop(running);
    if std::env::var_os("RICHMOND_LOAD_KEEP").is_some() {
        eprintln!(
            "load: config, logs and data kept in {}",
            dir.keep().display()
        );
    }
    let elapsed = c.last_new.map_or(LIMIT, |t| t.duration_since(started));
    Ok(Row {
        gw,
        shape,
        rate: c.unique as f64 / elapsed.as_secs_f64(),
        per_cpu: c.unique as f64 / (cpu_after - cpu_before).max(0.01),
        cpu: cpu_after - cpu_before,
        p50: percentile(&mut sent.latencies, 0.5),
        p99: percentile(&mut sent.latencies, 0.99),
        rss,
        failed: sent.failed,
        lost: n - c.unique,
        dup: c.duplicates,
    })
}

/// Runs the HTTP rows whose label contains `filter`, prints their table and the ratios;
/// returns whether any row lost a message.
pub(crate) async fn run(n: usize, filter: &str) -> bool {
    let kannel = kannel::available();
    println!(
        "\nHTTP → SMPP: {n} messages per row, {} requests in flight, SMPP window 64, no receipts; \
         Richmond: quick-start config (embedded bus, durability sync, redb store)",
        client::IN_FLIGHT
    );
    if !kannel {
        println!(
            "\nKannel rows skipped: {} not found (apt-get install kannel; ./scripts/bench does)",
            kannel::BEARERBOX
        );
    }
    let hash = hash_password(PASSWORD);
    let mut rows = Vec::new();
    let mut failed = false;
    let gws = [Gw::Richmond, Gw::Kannel];
    for gw in gws.into_iter().filter(|g| *g == Gw::Richmond || kannel) {
        for shape in SHAPES {
            if !format!("{} {}", gw.name(), shape.label()).contains(filter) {
                continue;
            }
            match row(gw, shape, n, &hash).await {
                Ok(r) => {
                    failed |= r.lost > 0;
                    rows.push(r);
                }
                Err(e) => {
                    eprintln!("load: {} {}: {e}", gw.name(), shape.label());
                    failed = true;
                    rows.push(Row {
                        gw,
                        shape,
                        rate: 0.0,
                        per_cpu: 0.0,
                        cpu: 0.0,
                        p50: 0.0,
                        p99: 0.0,
                        rss: 0.0,
                        failed: 0,
                        lost: n,
                        dup: 0,
                    });
                }
            }
        }
    }
    print_tables(&rows);
    failed
}

fn print_tables(rows: &[Row]) {
    println!(
        "\n| gateway | requests | delivered msg/s | msg per CPU-s | CPU s | HTTP p50 ms | HTTP p99 ms | peak RSS MiB | failed requests | lost | dup |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} | {:.0} | {} | {}{} | {} |",
            r.gw.name(),
            r.shape.label(),
            r.rate,
            r.per_cpu,
            r.cpu,
            r.p50,
            r.p99,
            r.rss,
            r.failed,
            r.lost,
            if r.lost > 0 { " FAILED" } else { "" },
            r.dup
        );
    }
    let pairs: Vec<(&Row, &Row)> = SHAPES
        .iter()
        .filter_map(|s| {
            let of = |g| rows.iter().find(|r| r.gw == g && r.shape == *s);
            Some((of(Gw::Richmond)?, of(Gw::Kannel)?))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    println!(
        "\n| requests | Richmond msg/s | Kannel msg/s | msg/s Richmond / Kannel | Richmond msg per CPU-s | Kannel msg per CPU-s | per CPU-s Richmond / Kannel |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (r, k) in pairs {
        let ratio = |a: f64, b: f64| {
            if b > 0.0 && a / b < 0.1 {
                format!("{:.3}", a / b)
            } else if b > 0.0 {
                format!("{:.2}", a / b)
            } else {
                "–".into()
            }
        };
        println!(
            "| {} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {} |",
            r.shape.label(),
            r.rate,
            k.rate,
            ratio(r.rate, k.rate),
            r.per_cpu,
            k.per_cpu,
            ratio(r.per_cpu, k.per_cpu)
        );
    }
}
