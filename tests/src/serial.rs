//! The test's end of a serial line to `richmond simulate modem`: raw bytes in and out, reads
//! bounded by a timeout, and a helper for the simulator's `sent` events.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::procs::Sim;

const WAIT: Duration = Duration::from_secs(5);

/// The test's end of the serial line.
pub struct Port {
    io: SerialStream,
    buf: Vec<u8>,
}

impl Port {
    pub fn open(path: &str) -> Self {
        let io = tokio_serial::new(path, 115_200)
            .open_native_async()
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        Self {
            io,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    /// Reads until `pattern` has arrived; everything up to and including it.
    pub async fn until(&mut self, pattern: &str) -> String {
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
    pub async fn at(&mut self, line: &str) -> String {
        self.send(format!("{line}\r").as_bytes()).await;
        self.until_final().await
    }

    pub async fn until_final(&mut self) -> String {
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
    pub async fn silent_for(&mut self, d: Duration) -> bool {
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

/// Only these suites implement and await it (a test harness: no `Send` bound needed).
#[allow(async_fn_in_trait)]
pub trait SentExt {
    /// The `sent` event number `n` (from 0).
    async fn expect_sent(&mut self, n: usize) -> serde_json::Value;
}

impl SentExt for Sim {
    async fn expect_sent(&mut self, n: usize) -> serde_json::Value {
        let sent = |e: &serde_json::Value| e["event"] == "sent";
        self.expect_total("sent", n + 1, sent).await;
        self.seen
            .iter()
            .filter(|e| sent(e))
            .nth(n)
            .cloned()
            .expect("sent")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
