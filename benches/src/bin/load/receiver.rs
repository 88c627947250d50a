//! The callback receiver of the binary soak ([`crate::soak_http`]): an HTTP/1.1 listener on
//! 127.0.0.1 that answers every POST with 204 and counts, per message index (the handset
//! number [`crate::sink::msisdn`] made), the delivery reports that say `delivered`
//! (`/receipt`, the record's `to_msisdn`) and the inbound messages (`/received`, their
//! `from_msisdn`), with duplicates (a callback is delivered at least once).
//!
//! Written by hand over a tokio `TcpStream` like the load client ([`crate::client`]): one
//! request shape (`Content-Length` bodies from Richmond's callback client), keep-alive, no
//! chunked bodies (a request with one closes its connection, and is counted as refused).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver has counted.
#[derive(Default)]
pub(crate) struct Tally {
    /// `delivered` reports per message index.
    pub(crate) receipts: HashMap<usize, u32>,
    /// Inbound messages per message index (their sender).
    pub(crate) received: HashMap<usize, u32>,
    /// Requests it could not read or place (bad JSON, unknown number, chunked body).
    pub(crate) refused: usize,
}

impl Tally {
    /// Indexes of `range` still lacking a delivered report or an inbound message.
    pub(crate) fn missing(&self, range: std::ops::Range<usize>) -> (usize, usize) {
        let receipts = range.clone().filter(|i| !self.receipts.contains_key(i));
        let received = range.filter(|i| !self.received.contains_key(i));
        (receipts.count(), received.count())
    }

    /// Reports and inbound messages seen more than once, over `range`.
    pub(crate) fn duplicates(&self, range: std::ops::Range<usize>) -> u32 {
        range
            .map(|i| {
                self.receipts.get(&i).map_or(0, |c| c - 1)
                    + self.received.get(&i).map_or(0, |c| c - 1)
            })
            .sum()
    }
}

/// The running receiver.
pub(crate) struct Receiver {
    pub(crate) port: u16,
    pub(crate) tally: Arc<Mutex<Tally>>,
}

impl Receiver {
    /// Listens on a free loopback port; the accept loop ends with the runtime.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tally = Arc::new(Mutex::new(Tally::default()));
        let t = tally.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, t.clone()));
            }
        });
        Self { port, tally }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves one connection's requests until it closes or sends something unreadable.
async fn serve(mut stream: TcpStream, tally: Arc<Mutex<Tally>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(k) if k > 0 && buf.len() < 64 * 1024 => buf.extend_from_slice(&chunk[..k]),
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let mut length = 0;
        for line in head.split("\r\n") {
            match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("content-length", v)) => length = v.parse().unwrap_or(0),
                Some(("transfer-encoding", _)) => {
                    tally.lock().unwrap_or_else(PoisonError::into_inner).refused += 1;
                    return;
                }
                _ => {}
            }
        }
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(k) if k > 0 => buf.extend_from_slice(&chunk[..k]),
                _ => return,
            }
        }
        count(&tally, &path, &buf[head_end..head_end + length]);
        buf.drain(..head_end + length);
        if stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Counts one callback.
fn count(tally: &Mutex<Tally>, path: &str, body: &[u8]) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let index = |field: &str| {
        let digits: String = json
            .get(field)?
            .as_str()?
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        digits.strip_prefix("2782")?.parse::<usize>().ok()
    };
    let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
    let placed = match path {
        "/receipt" => match (index("to_msisdn"), json.get("transport_status")) {
            (Some(i), Some(s)) if s == "delivered" => {
                *t.receipts.entry(i).or_default() += 1;
                true
            }
            // A report of another status (none is expected here) is not a delivery.
            (Some(_), Some(_)) => true,
            _ => false,
        },
        "/received" => index("from_msisdn").is_some_and(|i| {
            *t.received.entry(i).or_default() += 1;
            true
        }),
        _ => false,
    };
    if !placed {
        t.refused += 1;
    }
}
