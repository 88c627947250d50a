//! Helpers for the HTTP API suite: the real binary with an `[api]` section, a small HTTP/1.1
//! client, a callback receiver that answers from a script, and the carrier side of the bus.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Account passwords used by every test config.
pub const ALICE: (&str, &str) = ("alice", "alice-secret");
pub const BOB: (&str, &str) = ("bob", "bob-secret");
pub const LIMITED: (&str, &str) = ("limited", "limited-secret");

/// The store a test gateway uses.
pub enum StoreKind {
    Redb,
    Redis { prefix: String },
}

/// What a test gateway is configured with.
pub struct Setup {
    pub transport: String,
    pub amqp: bool,
    pub store: StoreKind,
    pub extra_api: String,
    /// Appended to the config as is (e.g. `[bus]` options, `[transports.*]` tables).
    pub extra: String,
}

impl Setup {
    pub fn amqp(transport: &str) -> Self {
        Self {
            transport: transport.to_owned(),
            amqp: true,
            store: StoreKind::Redb,
            extra_api: String::new(),
            extra: String::new(),
        }
    }
}

/// Argon2 hashes of the test passwords, made once.
fn hashes() -> &'static [(String, String); 3] {
    static HASHES: std::sync::OnceLock<[(String, String); 3]> = std::sync::OnceLock::new();
    HASHES.get_or_init(|| {
        [ALICE, BOB, LIMITED].map(|(u, p)| {
            (
                u.to_owned(),
                richmond::api::auth::hash_password(p).expect("hash"),
            )
        })
    })
}

/// Writes the config file for `setup` into `dir`; returns it and the API address.
pub fn write_config(dir: &Path, setup: &Setup) -> (PathBuf, SocketAddr) {
    let api_port = crate::common::free_port();
    // Two free ports in a row can be the same one (it was released in between).
    let admin_port = loop {
        let p = crate::common::free_port();
        if p != api_port {
            break p;
        }
    };
    let mut text = format!(
        "data_dir = {:?}\n[admin]\naddress = \"127.0.0.1:{admin_port}\"\n[shutdown]\ndrain_timeout_seconds = 10\n",
        dir.join("data").display().to_string()
    );
    if setup.amqp {
        text += &format!(
            "[bus]\ntype = \"amqp\"\nurl = {:?}\nreconnect_initial_seconds = 0.1\nreconnect_max_seconds = 0.5\n",
            crate::common::amqp_url()
        );
    }
    match &setup.store {
        StoreKind::Redb => text += "[store]\ntype = \"redb\"\n",
        StoreKind::Redis { prefix } => {
            text += &format!(
                "[store]\ntype = \"redis\"\nurl = {:?}\nkey_prefix = {prefix:?}\n",
                crate::common::redis_url()
            );
        }
    }
    text += &format!(
        "[api]\naddress = \"127.0.0.1:{api_port}\"\ntransports = [{:?}]\nmax_recipients = 3\n\
         max_message_chars = 40\ncallback_backoff_initial_seconds = 0.2\n\
         callback_backoff_max_seconds = 0.5\ncallback_max_attempts = 5\n{}callback_allowed_networks = [\"127.0.0.0/8\"]\n{}\n",
        setup.transport,
        if setup.extra_api.contains("callback_timeout_seconds") {
            ""
        } else {
            "callback_timeout_seconds = 5.0\n"
        },
        setup.extra_api
    );
    let [alice, bob, limited] = hashes();
    // Alice owns the short code 12345 (inbound to it is hers); Bob the keyword "bob".
    for ((user, hash), owns) in [alice, bob]
        .into_iter()
        .zip(["numbers = [\"12345\"]", "keywords = [\"bob\"]"])
    {
        text +=
            &format!("[[api.accounts]]\nusername = {user:?}\npassword_hash = {hash:?}\n{owns}\n");
    }
    text += &format!(
        "[[api.accounts]]\nusername = {:?}\npassword_hash = {:?}\nrate_limit_requests = 3\n",
        limited.0, limited.1
    );
    text += &setup.extra;
    let path = dir.join("richmond.toml");
    std::fs::write(&path, text).expect("write config");
    (path, SocketAddr::from(([127, 0, 0, 1], api_port)))
}

/// A running `richmond run`.
pub struct Gateway {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    pub config: PathBuf,
}

impl Gateway {
    /// Starts the binary on `config` and waits until the API answers.
    pub async fn start(config: &Path, addr: SocketAddr) -> Self {
        Self::start_with_log(config, addr, None).await
    }

    /// [`start`](Self::start), with the gateway's log (stdout and stderr, debug level) written
    /// to `log`.
    pub async fn start_with_log(config: &Path, addr: SocketAddr, log: Option<&Path>) -> Self {
        let mut command = tokio::process::Command::new(crate::richmond_bin());
        command
            .args(["--config", config.to_str().expect("utf-8 path"), "run"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if let Some(log) = log {
            let file = std::fs::File::create(log).expect("log file");
            let err = file.try_clone().expect("log file");
            command
                .env("RUST_LOG", "debug")
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(err));
        }
        let child = command.spawn().expect("spawn richmond");
        let mut gw = Self {
            child,
            addr,
            config: config.to_owned(),
        };
        for _ in 0..600 {
            if let Ok(r) = request(addr, "GET", "/api/v1/openapi.json", None, None, b"").await
                && r.status == 200
            {
                return gw;
            }
            if let Ok(Some(status)) = gw.child.try_wait() {
                let log = log.and_then(|l| std::fs::read_to_string(l).ok());
                panic!(
                    "richmond exited early: {status}; {}",
                    log.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the API never answered on {addr}");
    }

    /// Waits until the admin endpoint `/ready` answers 200 (the bus connected, the store
    /// up): a send before that may find the broker connection still being made.
    pub async fn wait_ready(&self) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        let table: toml::Table = toml::from_str(&text).expect("config TOML");
        let admin: SocketAddr = table["admin"]["address"]
            .as_str()
            .expect("admin address")
            .parse()
            .expect("admin address");
        let mut last = String::new();
        for _ in 0..600 {
            if let Ok((status, body)) = crate::common::http_get(admin, "/ready").await {
                if status == 200 {
                    return;
                }
                last = body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway never became ready: {last}");
    }

    /// SIGTERM, then the exit status.
    pub async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().expect("running").to_string();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(kill.success());
        self.child.wait().await.expect("wait").code()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection, with Basic auth.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<Answer> {
    let authorization = auth.map(|(u, p)| {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        format!("Basic {basic}")
    });
    request_with(
        addr,
        method,
        path,
        authorization.as_deref(),
        content_type,
        body,
    )
    .await
}

/// One HTTP/1.1 request over a fresh connection, with any `Authorization` value.
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<Answer> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(value) = authorization {
        head += &format!("Authorization: {value}\r\n");
    }
    if let Some(ct) = content_type {
        head += &format!("Content-Type: {ct}\r\n");
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// A form body from pairs.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// A received callback POST.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: serde_json::Value,
    /// The status the receiver answered.
    pub answered: u16,
}

/// A loopback HTTP server that answers each POST with the next status of `script` (200 once
/// the script is used up) and reports every request.
pub async fn callback_receiver(
    script: Vec<u16>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    receiver(script, None).await
}

/// [`callback_receiver`] over TLS, serving the certificate of `tls`.
pub async fn callback_receiver_tls(
    script: Vec<u16>,
    tls: richmond_drivers::tls::TlsServer,
) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    receiver(script, Some(tls)).await
}

async fn receiver(
    script: Vec<u16>,
    tls: Option<richmond_drivers::tls::TlsServer>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(script.into_iter()));
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let (tx, script, tls) = (tx.clone(), script.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => answer(s, &script, &tx).await,
                    Some(tls) => {
                        if let Ok(s) = tls.accept(s).await {
                            answer(s, &script, &tx).await;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

type Script = Mutex<std::vec::IntoIter<u16>>;

async fn answer<S>(mut s: S, script: &Script, tx: &mpsc::UnboundedSender<Received>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some((path, body)) = read_request(&mut s).await else {
        return;
    };
    let status = script.lock().expect("script").next().unwrap_or(200);
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(reply.as_bytes()).await;
    let _ = s.shutdown().await;
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let _ = tx.send(Received {
        path,
        body,
        answered: status,
    });
}

async fn read_request<S>(s: &mut S) -> Option<(String, Vec<u8>)>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        return Some((path, buf[end + 4..end + 4 + length].to_vec()));
    }
}
