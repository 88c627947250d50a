//! The counting SMSC of the HTTP rows: `richmond simulate smsc` *without* `--quiet`, so it
//! prints one JSON line per `submit_sm` (with its destination and text), answering every
//! submit at once with no receipts. A reader thread counts, per message index, the accepted
//! submits it sees: unique deliveries, duplicates, and the time of the last new one. The
//! index is the message's destination, `2782` followed by seven digits ([`msisdn`]), so a
//! message sent to 100 recipients in one request is still 100 distinct deliveries.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::gateway::richmond_bin;

/// The destination of message `i` (digits only; the Richmond API gets a leading `+`).
pub(crate) fn msisdn(i: usize) -> String {
    format!("2782{i:07}")
}

/// The message index of a destination [`msisdn`] made (any leading `+` or other non-digits
/// dropped, as an SMSC may see the number with or without its type of number).
fn index_of(destination: &str) -> Option<usize> {
    let digits: String = destination.chars().filter(char::is_ascii_digit).collect();
    digits.strip_prefix("2782")?.parse().ok()
}

/// What the SMSC has seen so far.
#[derive(Default)]
struct Tally {
    /// Accepted submits per message index.
    seen: Vec<u32>,
    unique: usize,
    duplicates: usize,
    /// Submits that named no message of this run (a wrong destination or text).
    strangers: usize,
    last_new: Option<Instant>,
    binds: usize,
}

/// A counting `richmond simulate smsc` on a free loopback port.
pub(crate) struct Sink {
    child: Child,
    pub(crate) port: u16,
    tally: Arc<Mutex<Tally>>,
}

/// The counts at one moment.
pub(crate) struct Counts {
    pub(crate) unique: usize,
    pub(crate) duplicates: usize,
    pub(crate) strangers: usize,
    pub(crate) last_new: Option<Instant>,
}

impl Sink {
    /// Starts the simulator for messages `0..n`, accepting binds as `system_id`/`password`.
    pub(crate) fn start(n: usize, system_id: &str, password: &str) -> Self {
        let mut child = Command::new(richmond_bin())
            .args(["simulate", "smsc", "--listen", "127.0.0.1:0"])
            .args(["--system-id", system_id, "--password", password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the simulator");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a line").expect("read");
        let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
        let addr: std::net::SocketAddr = v["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("addr");
        let tally = Arc::new(Mutex::new(Tally {
            seen: vec![0; n],
            ..Tally::default()
        }));
        let t = tally.clone();
        // Ends when the simulator's stdout closes (it is killed on drop).
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("\"event\":\"submit_sm\"") {
                    count(&t, &line);
                } else if line.contains("\"event\":\"bind\"") && line.contains("\"ok\":true") {
                    t.lock().unwrap_or_else(PoisonError::into_inner).binds += 1;
                }
            }
        });
        Self {
            child,
            port: addr.port(),
            tally,
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        let t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        Counts {
            unique: t.unique,
            duplicates: t.duplicates,
            strangers: t.strangers,
            last_new: t.last_new,
        }
    }

    /// Waits (at most `limit`) until at least one bind succeeded.
    pub(crate) async fn wait_bound(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self
                .tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .binds
                > 0
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

/// Counts one `submit_sm` line: accepted ones only (status 0), by destination.
fn count(tally: &Mutex<Tally>, line: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    if v["status"].as_u64() != Some(0) {
        eprintln!("load: simulator refused a submit_sm: {line}");
        return;
    }
    let text_ok = v["text"].as_str().is_some_and(|t| t.starts_with("load "));
    let index = v["destination"].as_str().and_then(index_of);
    let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
    match index {
        Some(i) if text_ok && i < t.seen.len() => {
            t.seen[i] += 1;
            if t.seen[i] == 1 {
                t.unique += 1;
                t.last_new = Some(Instant::now());
            } else {
                t.duplicates += 1;
            }
        }
        _ => {
            t.strangers += 1;
            if t.strangers <= 3 {
                eprintln!("load: a submit_sm of no message of this run: {line}");
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_map_back_to_their_index() {
        assert_eq!(index_of(&msisdn(42)), Some(42));
        assert_eq!(
            index_of(&format!("+{}", msisdn(9_999_999))),
            Some(9_999_999)
        );
        assert_eq!(index_of("12345"), None);
    }
}
