//! Shared helpers of the gateway's integration tests: the private servers that
//! `./scripts/test` starts. A test that needs one fails with instructions when it is absent;
//! it never skips.

pub mod api;

use std::time::Duration;

use richmond::bus::amqp::AmqpBus;
use richmond::config::{AmqpConfig, Secret};

/// An environment variable the test script exports.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through ./scripts/test (it starts private RabbitMQ and Redis servers)")
    })
}

pub fn amqp_url() -> String {
    env("RICHMOND_TEST_AMQP_URL")
}

pub fn redis_url() -> String {
    env("RICHMOND_TEST_REDIS_URL")
}

/// A unique lower-case name for queues and keys, so tests sharing a broker never meet.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{:x}", std::process::id(), fastrand::u64(..))
}

pub fn amqp_config() -> AmqpConfig {
    let text = format!(
        "url = {:?}\nreconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n",
        amqp_url()
    );
    let mut c: AmqpConfig = toml::from_str(&text).expect("amqp config");
    c.url = Some(Secret::new(amqp_url()));
    c
}

/// Starts an AMQP bus and waits until it is connected.
pub async fn amqp_bus(config: &AmqpConfig) -> AmqpBus {
    let bus = AmqpBus::start(config);
    wait_until("the broker connection", || bus.is_connected()).await;
    bus
}

/// Polls `cond` until it holds; panics after a minute (a hang guard, not a timing assertion).
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// The shared broker, for the tests of one binary: a test that stops or restarts it holds
/// this for writing, every other test of that binary that uses the broker for reading, so a
/// restart never cuts another test's connection.
pub fn broker_lock() -> &'static tokio::sync::RwLock<()> {
    static LOCK: std::sync::OnceLock<tokio::sync::RwLock<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::RwLock::new(()))
}

/// Runs the broker control script (`stop_app`, `start_app`, `restart`).
pub fn rabbitmq_ctl(action: &str) {
    let ctl = env("RICHMOND_TEST_RABBITMQ_CTL");
    let status = std::process::Command::new(&ctl)
        .arg(action)
        .status()
        .expect("run rabbitmq-ctl");
    assert!(status.success(), "{ctl} {action} failed");
}

/// A minimal HTTP/1.1 GET over loopback: returns (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
