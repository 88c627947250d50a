//! The HTTP load generator of the HTTP rows: 64 requests in flight against the Richmond API
//! (`POST /api/v1/sms/<transport>/send.json`, form body, Basic auth) or Kannel's smsbox
//! (`GET /cgi-bin/sendsms?...`), either a fresh TCP connection per request
//! (`Connection: close`) or 64 persistent keep-alive connections.
//!
//! The client is HTTP/1.1 written by hand over a tokio `TcpStream`: a load generator needs
//! only one request shape and `Content-Length` answers, and a hand-written client costs far
//! less CPU on the shared two cores than a general one. It does not handle chunked bodies
//! (neither server sends them here) or pipelining. Only 127.0.0.1; every loop is bounded by
//! the run's deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sink::msisdn;

/// Requests in flight.
pub(crate) const IN_FLIGHT: usize = 64;

/// Which gateway's API, with its credentials.
pub(crate) enum Api {
    /// The Richmond API: the transport id and the `Authorization` header value.
    Richmond { transport: String, auth: String },
    /// Kannel's smsbox `sendsms`.
    Kannel { username: String, password: String },
}

/// How the requests are shaped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Recipients per request.
    pub(crate) recipients: usize,
    /// Persistent connections (one per request slot) instead of one per request.
    pub(crate) keep_alive: bool,
}

impl Shape {
    pub(crate) fn label(self) -> String {
        let conn = if self.keep_alive {
            "keep-alive"
        } else {
            "new connection per request"
        };
        let rcpt = if self.recipients == 1 {
            "1 recipient".to_owned()
        } else {
            format!("{} recipients", self.recipients)
        };
        format!("{rcpt}/request, {conn}")
    }
}

/// What the client saw.
pub(crate) struct Sent {
    /// When the first request went out (after the keep-alive connections were opened).
    pub(crate) started: Instant,
    /// Request start (connect, for a fresh connection) to the whole answer, per answered
    /// request.
    pub(crate) latencies: Vec<Duration>,
    /// Requests not answered with a 2xx (or with an I/O error), never retried.
    pub(crate) failed: usize,
    /// TCP connections opened.
    pub(crate) connections: usize,
    /// Keep-alive connections the server closed (or asked to close) after an answer.
    pub(crate) closed_by_server: usize,
    pub(crate) first_error: Option<String>,
    /// The message ids of the answers, when [`Plan::collect_ids`] (Richmond answers only).
    pub(crate) ids: Vec<String>,
}

impl Default for Sent {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            latencies: Vec::new(),
            failed: 0,
            connections: 0,
            closed_by_server: 0,
            first_error: None,
            ids: Vec::new(),
        }
    }
}

/// The request for messages `range` (text `load <first index>`, one recipient each).
fn request(api: &Api, host: &str, range: std::ops::Range<usize>, keep_alive: bool) -> Vec<u8> {
    let text = format!("load+{}", range.start);
    let close = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    match api {
        Api::Richmond { transport, auth } => {
            let mut body = String::with_capacity(range.len() * 26 + 40);
            for i in range {
                body.push_str("to_msisdn=%2B");
                body.push_str(&msisdn(i));
                body.push('&');
            }
            body.push_str("from_msisdn=12345&message=");
            body.push_str(&text);
            format!(
                "POST /api/v1/sms/{transport}/send.json HTTP/1.1\r\nHost: {host}\r\n\
                 Authorization: {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n{close}\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        Api::Kannel { username, password } => {
            // Several recipients go in one `to`, separated by spaces ('+' in a query).
            let to: Vec<String> = range.map(msisdn).collect();
            format!(
                "GET /cgi-bin/sendsms?username={username}&password={password}&from=12345&to={}\
                 &text={text} HTTP/1.1\r\nHost: {host}\r\n{close}\r\n",
                to.join("+")
            )
            .into_bytes()
        }
    }
}

/// One answer's status and whether the connection may be used again.
struct Answer {
    status: u16,
    reusable: bool,
    /// Where the body starts in the buffer (the body is kept only with a `Content-Length`).
    body_at: usize,
}

/// Reads one HTTP/1.1 answer (headers, then a `Content-Length` body, or the body up to EOF
/// when there is none).
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Answer, String> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("answer headers over 64 KiB".into());
        }
        let k = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if k == 0 {
            return Err("connection closed before an answer".into());
        }
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (mut length, mut close) = (None, status_line.starts_with("http/1.0"));
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim() {
                "content-length" => length = v.trim().parse::<usize>().ok(),
                "connection" => close = v.trim() == "close",
                "transfer-encoding" => return Err("chunked answers are not handled".into()),
                _ => {}
            }
        }
    }
    let mut body = buf.len() - head_end;
    match length {
        Some(len) => {
            while body < len {
                let k = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if k == 0 {
                    return Err("connection closed inside the body".into());
                }
                buf.extend_from_slice(&chunk[..k]);
                body += k;
            }
        }
        None => {
            close = true;
            while stream.read(&mut chunk).await.map_err(|e| e.to_string())? > 0 {}
        }
    }
    Ok(Answer {
        status,
        reusable: !close,
        body_at: head_end,
    })
}

/// Connects, retrying refused or exhausted connects (nothing was sent) until `deadline`.
async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, String> {
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if Instant::now() + Duration::from_millis(20) < deadline => {
                eprintln!("load: connect to {addr}: {e}; again");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What to send: messages `messages` (message `i` to [`msisdn`]`(i)`), `shape.recipients` per
/// request, [`IN_FLIGHT`] requests at once, no new request after `deadline`; with `rate`,
/// request `j` is not started before `j × recipients / rate` seconds from the start (paced),
/// otherwise as fast as the answers come.
pub(crate) struct Plan {
    pub(crate) messages: std::ops::Range<usize>,
    pub(crate) shape: Shape,
    pub(crate) deadline: Instant,
    pub(crate) rate: Option<f64>,
    /// Keep the `"id"` of every message in the answers ([`Sent::ids`]).
    pub(crate) collect_ids: bool,
}

/// The `"id"` values of a Richmond send answer (a JSON list of records).
fn ids_of(body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(records)) => records
            .iter()
            .filter_map(|r| r.get("id")?.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Sends `plan` to `addr`. With keep-alive, the connections are opened first and the clock
/// ([`Sent::started`]) starts once they all are (a client's warm pool; Kannel's listen backlog
/// of 10 would otherwise make a few of the 64 connects wait a 1 s SYN retransmission at the
/// start).
pub(crate) async fn drive(addr: SocketAddr, api: Arc<Api>, plan: Plan) -> Sent {
    let Plan {
        messages,
        shape,
        deadline,
        rate,
        collect_ids,
    } = plan;
    let (first, n) = (messages.start, messages.end);
    let requests = (n - first).div_ceil(shape.recipients);
    let next = Arc::new(AtomicUsize::new(0));
    let host = addr.to_string();
    let gate = Arc::new(tokio::sync::Barrier::new(IN_FLIGHT + 1));
    let epoch = Arc::new(std::sync::OnceLock::new());
    let mut tasks = Vec::with_capacity(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let (api, next, host, gate) = (api.clone(), next.clone(), host.clone(), gate.clone());
        let epoch = epoch.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Sent::default();
            let (mut conn, mut buf): (Option<TcpStream>, Vec<u8>) = (None, Vec::new());
            if shape.keep_alive {
                conn = connect(addr, deadline).await.ok();
                sent.connections += usize::from(conn.is_some());
            }
            gate.wait().await;
            let t0 = *epoch.get_or_init(Instant::now);
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= requests || Instant::now() >= deadline {
                    break;
                }
                if let Some(rate) = rate {
                    #[allow(clippy::cast_precision_loss)]
                    let at = (j * shape.recipients) as f64 / rate;
                    tokio::time::sleep_until((t0 + Duration::from_secs_f64(at)).into()).await;
                }
                let range =
                    first + j * shape.recipients..(first + (j + 1) * shape.recipients).min(n);
                let req = request(&api, &host, range, shape.keep_alive);
                let started = Instant::now();
                let result = async {
                    if conn.is_none() {
                        conn = Some(connect(addr, deadline).await?);
                        sent.connections += 1;
                    }
                    let stream = conn.as_mut().ok_or_else(|| "no connection".to_owned())?;
                    stream.write_all(&req).await.map_err(|e| e.to_string())?;
                    read_answer(stream, &mut buf).await
                }
                .await;
                match result {
                    Ok(a) if (200..300).contains(&a.status) => {
                        sent.latencies.push(started.elapsed());
                        if collect_ids {
                            sent.ids.extend(ids_of(&buf[a.body_at..]));
                        }
                        if !a.reusable || !shape.keep_alive {
                            sent.closed_by_server += usize::from(shape.keep_alive);
                            conn = None;
                        }
                    }
                    other => {
                        sent.failed += 1;
                        conn = None;
                        let why = match other {
                            Ok(a) => {
                                format!("HTTP {}: {:.300}", a.status, String::from_utf8_lossy(&buf))
                            }
                            Err(e) => e,
                        };
                        if sent.first_error.is_none() {
                            sent.first_error = Some(why);
                        }
                    }
                }
            }
            sent
        }));
    }
    gate.wait().await;
    let mut all = Sent::default();
    for t in tasks {
        let s = t.await.expect("client task");
        all.latencies.extend(s.latencies);
        all.failed += s.failed;
        all.connections += s.connections;
        all.closed_by_server += s.closed_by_server;
        all.first_error = all.first_error.or(s.first_error);
        all.ids.extend(s.ids);
    }
    all
}

/// A free loopback port (bound and released; another process could take it in between, which
/// on this machine nothing does).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on a fresh connection: (status, body). At most 5 s.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    exchange(addr, &format!("GET {path}"), "", "").await
}

/// One request (`line`: method and path; `headers`: each ending in CRLF) with `body` on a
/// fresh connection: (status, body). At most 5 s.
pub(crate) async fn exchange(
    addr: SocketAddr,
    line: &str,
    headers: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let req = format!(
            "{line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "no answer in 5 s".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_every_recipient_of_their_range() {
        let api = Api::Richmond {
            transport: "sms".into(),
            auth: "Basic x".into(),
        };
        let r = String::from_utf8(request(&api, "h", 3..5, false)).unwrap();
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with(
            "to_msisdn=%2B27820000003&to_msisdn=%2B27820000004&from_msisdn=12345&message=load+3"
        ));
        let api = Api::Kannel {
            username: "u".into(),
            password: "p".into(),
        };
        let r = String::from_utf8(request(&api, "h", 0..2, true)).unwrap();
        assert!(r.contains("&to=27820000000+27820000001&text=load+0 HTTP/1.1"));
        assert!(!r.contains("Connection:"));
    }
}
