//! The SMPP server rows of `load` (issue 21): `submit_sm` from client ESMEs through Richmond's
//! SMPP server transport, a router's `forward`, and its SMPP client transport to the counting
//! simulator ([`crate::sink`]), each row lossless-checked at the SMSC.
//!
//! Richmond runs as the real release binary: the embedded bus with `durability = "sync"` and
//! redb (the single binary's default), and with `--amqp` rows RabbitMQ and redb; one account,
//! no `mt_tps` limit, no receipts asked for (`registered_delivery = 0`), the client link to
//! the simulator with `window = 64`. The load client is written here (plain PDUs over
//! tokio, no session machinery, so its own cost stays small and out of the gateway's
//! figures): B binds (`bind_transmitter`), each with up to 64 submits unanswered, messages
//! dealt round the binds; an answer other than `ESME_ROK` sends the message again.
//!
//! Per row: submits answered `ESME_ROK` per second (first submit to last answer), delivered
//! msg/s at the SMSC (first submit to last new `submit_sm` there), the gateway's CPU
//! µs per message (`/proc`, first submit to last delivery), peak RSS, retried submits, lost and
//! duplicated messages.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::usage;
use crate::http::Richmond;
use crate::jasmin::{self, Jasmin};
use crate::sink::{Sink, msisdn};

/// How long one row may take, start to last delivery.
const LIMIT: Duration = Duration::from_secs(300);
/// Unanswered submits per bind.
const WINDOW: usize = 64;
const ACCOUNT: &str = "load";
const PASSWORD: &str = "loadpass";

fn config(
    dir: &Path,
    admin: SocketAddr,
    listen: SocketAddr,
    smsc: u16,
    amqp: Option<&str>,
    hash: &str,
) -> String {
    let bus = match amqp {
        None => "[bus]\ntype = \"embedded\"\ndurability = \"sync\"\n".to_owned(),
        Some(url) => format!("[bus]\ntype = \"amqp\"\nurl = {url:?}\n"),
    };
    format!(
        "data_dir = {:?}\n[admin]\naddress = \"{admin}\"\n{bus}[store]\ntype = \"redb\"\n\
         [transports.clients]\ntype = \"smpp_server\"\nlisten = \"{listen}\"\nwindow = {WINDOW}\n\
         [[transports.clients.accounts]]\nsystem_id = \"{ACCOUNT}\"\npassword_hash = {hash:?}\n\
         max_binds = 16\n\
         [transports.operator]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {smsc}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nwindow = 64\n\
         registered_delivery = false\n\
         reconnect_initial_seconds = 0.2\nreconnect_max_seconds = 2.0\n\
         [routers.hop]\ntransports = [\"clients\", \"operator\"]\napplications = [\"hopapp\"]\n\
         default = \"hopapp\"\nforward = {{ clients = \"operator\", operator = \"clients\" }}\n",
        dir.join("data").display().to_string()
    )
}

/// A PDU: header (length, id, status 0, sequence) and `body`.
fn pdu(command_id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(16 + body.len()).expect("small PDU");
    let mut out = Vec::with_capacity(16 + body.len());
    for word in [len, command_id, 0, seq] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn bind_transmitter() -> Vec<u8> {
    let mut body = Vec::new();
    for field in [ACCOUNT, PASSWORD, ""] {
        body.extend_from_slice(field.as_bytes());
        body.push(0);
    }
    // interface_version 3.4, addr_ton, addr_npi, address_range "".
    body.extend_from_slice(&[0x34, 0, 0, 0]);
    pdu(0x0000_0002, 1, &body)
}

/// `submit_sm` of message `i` (to [`msisdn`]`(i)`, text `load <i>`), sequence `seq`.
fn submit_sm(i: usize, seq: u32) -> Vec<u8> {
    let mut body = vec![0]; // service_type ""
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(b"27820000000\0");
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(msisdn(i).as_bytes());
    body.push(0);
    // esm_class, protocol_id, priority, schedule "", validity "", registered_delivery,
    // replace_if_present, data_coding, sm_default_msg_id.
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let text = format!("load {i}");
    body.push(u8::try_from(text.len()).expect("short text"));
    body.extend_from_slice(text.as_bytes());
    pdu(0x0000_0004, seq, &body)
}

/// What one bind did.
#[derive(Default)]
struct Sent {
    accepted: usize,
    retried: usize,
    last_answer: Option<Instant>,
    error: Option<String>,
}

/// One bind sending `messages`, at most [`WINDOW`] unanswered; until all are accepted or
/// `deadline`.
async fn bind_and_send(addr: SocketAddr, messages: Vec<usize>, deadline: Instant) -> Sent {
    let mut sent = Sent::default();
    let result = tokio::time::timeout_at(deadline.into(), async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .write_all(&bind_transmitter())
            .await
            .map_err(|e| e.to_string())?;
        let mut header = [0u8; 16];
        let mut body = Vec::new();
        let mut read = async |stream: &mut TcpStream| -> Result<(u32, u32, u32), String> {
            stream
                .read_exact(&mut header)
                .await
                .map_err(|e| e.to_string())?;
            let word = |k: usize| u32::from_be_bytes(header[k..k + 4].try_into().expect("4"));
            let len = usize::try_from(word(0)).unwrap_or(0).saturating_sub(16);
            body.resize(len, 0);
            stream
                .read_exact(&mut body)
                .await
                .map_err(|e| e.to_string())?;
            Ok((word(4), word(8), word(12)))
        };
        let (id, status, _) = read(&mut stream).await?;
        if id != 0x8000_0002 || status != 0 {
            return Err(format!("bind answered {id:#x} status {status:#x}"));
        }
        let mut queue: std::collections::VecDeque<usize> = messages.into();
        let mut waiting = std::collections::HashMap::new();
        let mut seq = 1u32;
        while !queue.is_empty() || !waiting.is_empty() {
            let mut batch = Vec::new();
            while waiting.len() < WINDOW
                && let Some(i) = queue.pop_front()
            {
                seq += 1;
                batch.extend_from_slice(&submit_sm(i, seq));
                waiting.insert(seq, i);
            }
            if !batch.is_empty() {
                stream.write_all(&batch).await.map_err(|e| e.to_string())?;
            }
            let (id, status, s) = read(&mut stream).await?;
            match (id, waiting.remove(&s)) {
                (0x8000_0004, Some(_)) if status == 0 => {
                    sent.accepted += 1;
                    sent.last_answer = Some(Instant::now());
                }
                (0x8000_0004, Some(i)) => {
                    sent.retried += 1;
                    queue.push_back(i);
                }
                // enquire_link from the server.
                (0x0000_0015, _) => {
                    stream
                        .write_all(&pdu(0x8000_0015, s, &[]))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                _ => {}
            }
        }
        let _ = stream.write_all(&pdu(0x0000_0006, seq + 1, &[])).await;
        Ok(())
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => sent.error = Some(e),
        Err(_) => sent.error = Some("time limit".into()),
    }
    sent
}

/// What serves the clients in a row.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// Richmond, its bus RabbitMQ at this URL or embedded.
    Richmond(Option<&'a str>),
    Jasmin,
}

impl Target<'_> {
    fn label(self) -> &'static str {
        match self {
            Self::Richmond(None) => "Richmond, embedded bus (sync)",
            Self::Richmond(Some(_)) => "Richmond, RabbitMQ",
            Self::Jasmin => "Jasmin 0.11 (RabbitMQ, Redis)",
        }
    }
}

/// A running server of either kind (stopped on drop).
enum Running {
    Richmond(Richmond),
    Jasmin(Jasmin),
}

/// One row: `binds` clients, `n` messages.
async fn row(n: usize, binds: usize, target: Target<'_>, hash: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sink = Sink::start(n, "richmond", "richmond");
    let (listen, gw) = match target {
        Target::Richmond(amqp) => {
            let listen = SocketAddr::from(([127, 0, 0, 1], crate::client::free_port()));
            let gw = Richmond::spawn(dir.path(), |_, admin| {
                config(dir.path(), admin, listen, sink.port, amqp, hash)
            })
            .await?;
            (listen, Running::Richmond(gw))
        }
        Target::Jasmin => {
            let j = Jasmin::start(dir.path(), sink.port, ACCOUNT, PASSWORD).await?;
            (j.smpp, Running::Jasmin(j))
        }
    };
    if !sink.wait_bound(Duration::from_secs(60)).await {
        return Err("no bind at the SMSC within 60 s".into());
    }
    let pid = match &gw {
        Running::Richmond(r) => r.child.id(),
        Running::Jasmin(j) => j.pid(),
    };
    let (_, cpu_before) = usage(pid);
    let started = Instant::now();
    let deadline = started + LIMIT;
    let clients: Vec<_> = (0..binds)
        .map(|b| {
            let mine: Vec<usize> = (b..n).step_by(binds).collect();
            tokio::spawn(bind_and_send(listen, mine, deadline))
        })
        .collect();
    let mut sent = Vec::new();
    for c in clients {
        sent.push(c.await.map_err(|e| e.to_string())?);
    }
    while sink.counts().unique < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rss, cpu_after) = usage(pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = sink.counts();
    drop(gw);
    for e in sent.iter().filter_map(|s| s.error.as_ref()) {
        eprintln!("load: smpps client: {e}");
    }
    let accepted: usize = sent.iter().map(|s| s.accepted).sum();
    let retried: usize = sent.iter().map(|s| s.retried).sum();
    let last_answer = sent.iter().filter_map(|s| s.last_answer).max();
    let secs = |t: Option<Instant>| t.map_or(f64::NAN, |t| t.duration_since(started).as_secs_f64());
    let lost = n - c.unique;
    Ok(format!(
        "| {} | {binds} | {:.0} | {:.0} | {:.0} | {:.0} | {retried} | {}{lost} | {} |",
        target.label(),
        accepted as f64 / secs(last_answer),
        c.unique as f64 / secs(c.last_new),
        (cpu_after - cpu_before) * 1e6 / c.unique.max(1) as f64,
        rss,
        if lost > 0 { "FAILED " } else { "" },
        c.duplicates
    ))
}

/// The SMPP server rows; returns whether any row lost messages.
pub(crate) async fn run(n: usize) -> bool {
    let hash = &crate::http::hash_password(PASSWORD);
    let amqp = std::env::var("RICHMOND_TEST_AMQP_URL").ok();
    println!(
        "\nSMPP server: client submit_sm → server → carrier link → simulator; {n} messages per row, window {WINDOW} per bind; Richmond: smpp_server → router forward → smpp\n"
    );
    println!(
        "| server | client binds | submit_sm/s answered ROK | delivered msg/s | CPU µs/msg | peak RSS MiB | retried | lost | dup |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut targets = vec![Target::Richmond(None)];
    if let Some(url) = amqp.as_deref() {
        targets.push(Target::Richmond(Some(url)));
        if jasmin::available() {
            targets.push(Target::Jasmin);
        } else {
            eprintln!(
                "load: Jasmin rows skipped: no venv at {} (./scripts/bench makes it)",
                jasmin::venv().display()
            );
        }
    }
    let mut failed = false;
    for target in targets {
        for binds in [1, 4] {
            match row(n, binds, target, hash).await {
                Ok(line) => {
                    failed |= line.contains("FAILED");
                    println!("{line}");
                }
                Err(e) => {
                    failed = true;
                    println!("| {} | {binds} | FAILED: {e} |", target.label());
                }
            }
        }
    }
    failed
}
