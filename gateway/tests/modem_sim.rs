//! `richmond simulate modem` seen from the serial line: the test opens the pty the simulator
//! names, as the modem driver does (`tokio_serial`), writes AT commands and checks the raw
//! bytes that come back, plus the simulator's JSON events. No timing is asserted; every wait
//! is bounded.

mod common;
#[path = "support/procs.rs"]
mod procs;

use std::time::Duration;

use procs::Sim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

const WAIT: Duration = Duration::from_secs(5);

/// The test's end of the serial line.
struct Port {
    io: SerialStream,
    buf: Vec<u8>,
}

impl Port {
    fn open(path: &str) -> Self {
        let io = tokio_serial::new(path, 115_200)
            .open_native_async()
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        Self {
            io,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    /// Reads until `pattern` has arrived; everything up to and including it.
    async fn until(&mut self, pattern: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(at) = find(&self.buf, pattern.as_bytes()) {
                let rest = self.buf.split_off(at + pattern.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            let mut chunk = [0u8; 512];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                other => panic!(
                    "no {pattern:?} from the modem ({other:?}); got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Sends a command line and reads its answer up to the final result code.
    async fn at(&mut self, line: &str) -> String {
        self.send(format!("{line}\r").as_bytes()).await;
        self.until_final().await
    }

    async fn until_final(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            let finals = ["\r\nOK\r\n", "\r\nERROR\r\n"];
            let end = finals
                .iter()
                .filter_map(|f| text.find(f).map(|i| i + f.len()))
                .chain(["+CME ERROR: ", "+CMS ERROR: "].iter().filter_map(|f| {
                    let i = text.find(f)?;
                    text[i..].find("\r\n").map(|j| i + j + 2)
                }))
                .min();
            if let Some(end) = end {
                let rest = self.buf.split_off(end);
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            let mut chunk = [0u8; 512];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                other => panic!("no final result ({other:?}); got {text:?}"),
            }
        }
    }

    /// Whether anything arrives within `d` (used only to check that a hung modem is silent).
    async fn silent_for(&mut self, d: Duration) -> bool {
        let mut chunk = [0u8; 64];
        match tokio::time::timeout(d, self.io.read(&mut chunk)).await {
            Err(_) => self.buf.is_empty(),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Ok(Err(_)) => false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn start(args: &[&str]) -> (Sim, Port) {
    let mut sim = Sim::start_modem(args).await;
    let port = Port::open(&sim.address);
    sim.expect("opened", |e| e["event"] == "opened").await;
    (sim, port)
}

#[tokio::test]
async fn echo_is_on_at_start_and_off_after_ate0() {
    let (_sim, mut port) = start(&[]).await;
    assert_eq!(port.at("AT").await, "AT\r\r\nOK\r\n");
    // The answer to ATE0 itself still carries the echo.
    assert_eq!(port.at("ATE0").await, "ATE0\r\r\nOK\r\n");
    assert_eq!(port.at("AT").await, "\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CGSN").await,
        "\r\n356938035643809\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+FOO").await, "\r\nERROR\r\n");
    assert_eq!(
        port.at("AT+CNMI=?").await,
        "\r\n+CNMI: (0-2),(0-3),(0),(0-2),(0,1)\r\n\r\nOK\r\n"
    );
    assert_eq!(
        port.at("AT+CPMS=\"SM\",\"SM\",\"SM\"").await,
        "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CMGR=1").await, "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(port.at("ATE1").await, "\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CSQ").await,
        "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    );
}

#[tokio::test]
async fn sim_pin() {
    let (mut sim, mut port) = start(&["--pin", "1234"]).await;
    port.at("ATE0").await;
    assert_eq!(
        port.at("AT+CPIN?").await,
        "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CMGL=4").await, "\r\n+CMS ERROR: 311\r\n");
    assert_eq!(port.at("AT+CPIN=\"0000\"").await, "\r\n+CME ERROR: 16\r\n");
    assert_eq!(port.at("AT+CPIN=\"1234\"").await, "\r\nOK\r\n");
    assert_eq!(port.at("AT+CPIN?").await, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    sim.find("pin", |e| e["event"] == "pin" && e["accepted"] == true)
        .await;
}

/// `How are you?` to +31641600986 with TP-SRR set (reference/modem.md §4.1).
const SUBMIT_SRR: &str = "0021000B911346610089F600000CC8F71D14969741F977FD07";

#[tokio::test]
async fn cmgs_round_trip_and_abort() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    port.send(b"AT+CMGS=24\r").await;
    assert_eq!(port.until("> ").await, "\r\n> ");
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMGS: 0\r\n\r\nOK\r\n");
    let sent = sim.expect("sent", |e| e["event"] == "sent").await;
    assert_eq!(sent["to"], "+31641600986");
    assert_eq!(sent["text"], "How are you?");
    assert_eq!(sent["srr"], true);
    assert_eq!(sent["mr"], 0);
    // A wrong <length> is refused after the PDU.
    port.send(b"AT+CMGS=23\r").await;
    port.until("> ").await;
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMS ERROR: 304\r\n");
    // ESC aborts the prompt.
    port.send(b"AT+CMGS=24\r").await;
    port.until("> ").await;
    port.send(b"0021\x1b").await;
    assert_eq!(port.until_final().await, "\r\nOK\r\n");
    // Injected errors.
    sim.cmd_done("cms-error 38 1").await;
    port.send(b"AT+CMGS=24\r").await;
    port.until("> ").await;
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMS ERROR: 38\r\n");
    port.send(b"AT+CMGS=24\r").await;
    port.until("> ").await;
    port.send(format!("{SUBMIT_SRR}\x1a").as_bytes()).await;
    assert_eq!(port.until_final().await, "\r\n+CMGS: 1\r\n\r\nOK\r\n");
}

#[tokio::test]
async fn noise_puts_a_urc_between_cmgs_and_the_prompt() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("noise on").await;
    port.send(b"AT+CMGS=24\r").await;
    let before_prompt = port.until("> ").await;
    assert_eq!(before_prompt, "\r\n^RSSI: 17\r\n\r\n> ");
    port.send(b"\x1b").await;
    port.until_final().await;
}

#[tokio::test]
async fn ussd_menu_in_three_encodings() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    assert_eq!(port.at("AT+CUSD=1,\"*120#\",15").await, "\r\nOK\r\n");
    let menu = port.until("\",15\r\n").await;
    assert_eq!(
        menu,
        "\r\n+CUSD: 1,\"Main menu\n1. Balance\n2. Exit\",15\r\n"
    );
    port.at("AT+CUSD=1,\"7\",15").await;
    assert!(port.until("\",15\r\n").await.contains("Invalid choice"));
    port.at("AT+CUSD=1,\"1\",15").await;
    assert_eq!(port.until("\r\n+CUSD: 0,").await, "\r\n+CUSD: 0,");
    assert_eq!(port.until("\r\n").await, "\"Balance: 42.00\",15\r\n");
    port.at("AT+CUSD=1,\"*999#\",15").await;
    assert_eq!(port.until("+CUSD: 4\r\n").await, "\r\n+CUSD: 4\r\n");
    sim.find("ussd 4", |e| e["event"] == "ussd" && e["m"] == 4)
        .await;

    // Huawei: packed GSM-7 hex both ways, DCS 15.
    sim.cmd_done("ussd-encoding packed").await;
    // *120# packed.
    port.at("AT+CUSD=1,\"AA980C3602\",15").await;
    let line = port.until(",15\r\n").await;
    assert!(line.starts_with("\r\n+CUSD: 1,\""), "{line:?}");
    sim.find("packed request", |e| {
        e["event"] == "ussd" && e["request"] == "*120#"
    })
    .await;
    port.at("AT+CUSD=1,\"2\",15").await;
    assert_eq!(port.until("+CUSD: 2\r\n").await, "\r\n+CUSD: 2\r\n");

    // UCS2 hex, DCS 72.
    sim.cmd_done("ussd-encoding ucs2").await;
    port.at("AT+CUSD=1,\"*120#\",15").await;
    let line = port.until(",72\r\n").await;
    assert!(
        line.starts_with("\r\n+CUSD: 1,\"004D00610069006E"),
        "{line:?}"
    );
    assert_eq!(port.at("AT+CUSD=2").await, "\r\nOK\r\n");
}

#[tokio::test]
async fn hang_until_reopened() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("hang 0").await;
    port.send(b"AT\r").await;
    sim.expect("hung", |e| e["event"] == "hung").await;
    assert!(port.silent_for(Duration::from_millis(300)).await);
    drop(port);
    sim.expect("closed", |e| e["event"] == "closed").await;
    let mut port = Port::open(&sim.address);
    // Reopened: a fresh modem, echo on again.
    assert_eq!(port.at("AT").await, "AT\r\r\nOK\r\n");
}

#[tokio::test]
async fn hang_esc_ends_with_esc() {
    let (mut sim, mut port) = start(&[]).await;
    port.at("ATE0").await;
    sim.cmd_done("hang-esc 1").await;
    assert_eq!(port.at("AT").await, "\r\nOK\r\n");
    port.send(b"AT\r").await;
    sim.expect("hung", |e| e["event"] == "hung").await;
    assert!(port.silent_for(Duration::from_millis(300)).await);
    port.send(b"\x1b").await;
    sim.expect("unhung", |e| e["event"] == "unhung").await;
    // Nothing is answered for the ESC itself; the next command is.
    assert_eq!(port.at("AT").await, "\r\nOK\r\n");
}
