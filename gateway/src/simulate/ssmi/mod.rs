//! `richmond simulate ssmi`: a TruTeq SSMI server on loopback.
//!
//! Reference: reference/vumi.md §4 (protocol, §4.8 an example session). It checks logins
//! (one logged-in client at a time: a newer login logs the older one out with `SSMI,199`, as
//! TruTeq does), answers link checks, answers each SMS with a SEQ and a delivery report after
//! `--dr-delay-ms`, plays scripted USSD users (`dial`), sends MO SMS, and misbehaves on
//! demand; with `--tls-cert`/`--tls-key` it serves TLS. Commands (stdin, one per line; they
//! act on the newest logged-in client):
//!
//! ```text
//! dial <msisdn> <code> [input ...]   a user dials <code>, then answers each menu with the
//!                                    next input; prints ussd_session_done at the close
//! ussd <msisdn> <type> [text]        one raw USSD message (type 1 new … 4 timeout)
//! mo <msisdn> <text>                 an MO SMS (103)
//! binary-mo <msisdn> <hex>           a binary MO SMS (106, pid 0, coding 246)
//! garbage | unknown | short          a non-SSMI line, an unknown id (999), too few fields
//! line <text>                        <text> as a raw line (e.g. a late `SSMI,102,1`)
//! bytes <n> <hex>                    <n> copies of one byte, no line end (abuse tests)
//! silence                            ignore everything on this connection from now on
//! logout                             remote logout (199)
//! disconnect                         drop the connection
//! nack-sms <reason>                  answer the next SMS with SSMI,102,<reason>
//! seq on|off                         answer SMS with SEQ (default on)
//! dr-code <n>                        return code of later delivery reports (0 delivered)
//! reject-logins on|off               refuse every login (SSMI,102,1)
//! quit                               stop
//! ```

use super::{SimulateError, io};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use richmond_codecs::ssmi::{
    Decoded, DrStatus, NackReason, Phase, Request, Response, Text, UssdType,
};
use richmond_drivers::ssmi::{ServerCodec, ServerConfig, ServerEvent, ServerSession};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

use super::Output;

mod commands;

const HELP: &str = "dial <msisdn> <code> [input ...] | ussd <msisdn> <type> [text] | \
mo <msisdn> <text> | binary-mo <msisdn> <hex> | garbage | unknown | short | line <text> | bytes <n> <hex> | silence | logout | \
disconnect | nack-sms <reason> | seq on|off | dr-code <n> | reject-logins on|off | quit";

/// Options of `richmond simulate ssmi`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the `listening` event names it).
    #[arg(long, default_value = "127.0.0.1:50008")]
    pub listen: std::net::SocketAddr,
    /// Account name the server accepts.
    #[arg(long, default_value = "richmond")]
    pub username: String,
    /// Password the server accepts.
    #[arg(long, default_value = "richmond")]
    pub password: String,
    /// Delay before the delivery report of each SMS, in milliseconds; 0 sends it right
    /// behind its SEQ, in the same write.
    #[arg(long, default_value_t = 200)]
    pub dr_delay_ms: u64,
    /// A command run after every successful login (repeatable), e.g. "dial 2782 *120# 1".
    #[arg(long)]
    pub on_login: Vec<String>,
    /// Serve SSMI over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// A connection's byte stream: plain TCP or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Switches that hold across connections.
#[derive(Default)]
struct Flags {
    reject_logins: bool,
    no_seq: bool,
    nack_next_sms: Option<u32>,
    dr_code: u32,
    next_sequence: u64,
}

#[derive(Clone)]
struct Sim {
    args: Arc<Args>,
    out: Output,
    flags: Arc<Mutex<Flags>>,
    /// Commands for the newest logged-in connection.
    current: Arc<Mutex<Option<mpsc::UnboundedSender<String>>>>,
}

impl Sim {
    fn flags(&self) -> std::sync::MutexGuard<'_, Flags> {
        self.flags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serves until `stop` fires or `quit` is read.
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(args: Args, stop: CancellationToken) -> Result<(), SimulateError> {
    let what = format!("--listen {}", args.listen);
    let listener = TcpListener::bind(args.listen).await.map_err(io(&what))?;
    let address = listener.local_addr().map_err(io(what))?;
    let tls = super::tls_server(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    let sim = Sim {
        args: Arc::new(args),
        out: Output::default(),
        flags: Arc::default(),
        current: Arc::default(),
    };
    sim.out
        .emit(&json!({"event": "listening", "address": address.to_string()}));
    tokio::spawn(read_commands(sim.clone(), stop.clone()));
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (sim, stop, tls) = (sim.clone(), stop.clone(), tls.clone());
                    tokio::spawn(async move {
                        let stream: Box<dyn Io> = match tls {
                            None => Box::new(stream),
                            Some(tls) => match tls.accept(stream).await {
                                Ok(s) => Box::new(s),
                                Err(e) => {
                                    sim.out.emit(&json!({"event": "tls_error", "peer": peer.to_string(), "error": e.to_string()}));
                                    return;
                                }
                            },
                        };
                        sim.out.emit(&json!({"event": "connected", "peer": peer.to_string()}));
                        serve(sim, stream, stop).await;
                    });
                }
                Err(e) => sim.out.emit(&json!({"event": "accept_error", "error": e.to_string()})),
            },
        }
    }
}

async fn read_commands(sim: Sim, stop: CancellationToken) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim().to_owned();
        let mut words = line.split_whitespace();
        let on = |w: Option<&str>| w == Some("on");
        let verb = words.next();
        match verb {
            None => {}
            Some("quit") => return stop.cancel(),
            Some(flag @ ("reject-logins" | "seq" | "dr-code" | "nack-sms")) => {
                let arg = words.next();
                {
                    let mut f = sim.flags();
                    match flag {
                        "reject-logins" => f.reject_logins = on(arg),
                        "seq" => f.no_seq = !on(arg),
                        "dr-code" => f.dr_code = arg.and_then(|w| w.parse().ok()).unwrap_or(0),
                        _ => f.nack_next_sms = arg.and_then(|w| w.parse().ok()),
                    }
                }
                // In force from now on: a test may wait for this before going on.
                sim.out
                    .emit(&json!({"event": "command_done", "command": flag}));
            }
            Some("help") => sim.out.emit(&json!({"event": "help", "text": HELP})),
            Some(_) => {
                let sent = sim
                    .current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                    .is_some_and(|tx| tx.send(line.clone()).is_ok());
                if !sent {
                    sim.out.emit(&json!({"event": "command_error", "command": line, "error": "no logged-in client"}));
                }
            }
        }
    }
}

/// One scripted USSD user.
struct Dial {
    msisdn: String,
    inputs: std::collections::VecDeque<String>,
    transcript: Vec<String>,
}

struct Conn {
    sim: Sim,
    session: ServerSession,
    codec: ServerCodec,
    stream: Box<dyn Io>,
    silent: bool,
    dials: Vec<Dial>,
    own: mpsc::UnboundedSender<String>,
}

async fn serve(sim: Sim, stream: Box<dyn Io>, stop: CancellationToken) {
    let (own, mut commands) = mpsc::unbounded_channel();
    let config = ServerConfig::new(sim.args.username.clone(), sim.args.password.clone());
    let mut conn = Conn {
        sim: sim.clone(),
        session: ServerSession::new(config),
        codec: ServerCodec::new(),
        stream,
        silent: false,
        dials: Vec::new(),
        own,
    };
    let mut buf = BytesMut::with_capacity(4096);
    let reason = loop {
        tokio::select! {
            () = stop.cancelled() => break "stopped",
            read = conn.stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break "closed by client",
                Ok(_) => {
                    if conn.on_bytes(&mut buf).await.is_err() { break "closed"; }
                }
            },
            Some(cmd) = commands.recv() => {
                if conn.command(&cmd).await.is_err() { break "closed by command"; }
            }
        }
    };
    sim.out
        .emit(&json!({"event": "disconnected", "reason": reason}));
}

/// The connection is over (the client went, or a command or the session closed it).
#[derive(Debug)]
struct Closed;

type Open = Result<(), Closed>;

impl Conn {
    async fn on_bytes(&mut self, buf: &mut BytesMut) -> Open {
        while let Ok(Some(decoded)) = self.codec.decode(buf) {
            if self.silent {
                continue;
            }
            if let Decoded::Message(Request::LinkCheck) = &decoded {
                self.sim.out.emit(&json!({"event": "link_check"}));
            }
            if let Decoded::Message(Request::Login { .. }) = &decoded
                && self.sim.flags().reject_logins
            {
                self.session.send(Response::Nack {
                    reason: NackReason::InvalidLogin,
                });
                self.sim
                    .out
                    .emit(&json!({"event": "login", "ok": false, "forced": true}));
                self.flush().await?;
                continue;
            }
            self.session.handle_decoded(decoded);
            self.flush().await?;
            while let Some(event) = self.session.poll_event() {
                self.on_event(event)?;
            }
            self.flush().await?;
        }
        Ok(())
    }

    fn on_event(&mut self, event: ServerEvent) -> Open {
        let out = self.sim.out.clone();
        match event {
            ServerEvent::LoggedIn { username } => {
                // This connection takes commands before the login is announced: a test that
                // reacts to the event must find it in place (it used to race the `logout`).
                let old = self
                    .sim
                    .current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .replace(self.own.clone());
                if let Some(old) = old {
                    let _ = old.send("logout".into());
                }
                out.emit(&json!({"event": "login", "ok": true, "username": String::from_utf8_lossy(&username)}));
                for cmd in &self.sim.args.on_login {
                    let _ = self.own.send(cmd.clone());
                }
            }
            ServerEvent::LoginFailed { reason } => {
                out.emit(&json!({"event": "login", "ok": false, "reason": reason.name()}));
            }
            ServerEvent::Request(request) => self.on_request(request),
            ServerEvent::BadLine { reason } => {
                out.emit(&json!({"event": "bad_line", "nack": reason.value()}));
            }
            ServerEvent::LoggedOut => out.emit(&json!({"event": "logout"})),
            ServerEvent::Disconnect => return Err(Closed),
            _ => {}
        }
        Ok(())
    }

    fn on_request(&mut self, request: Request) {
        let out = self.sim.out.clone();
        match request {
            Request::SendUssd {
                msisdn,
                ussd_type,
                message,
                genfields,
            } => {
                let text = message.text(richmond_codecs::ssmi::Charset::Latin1);
                let m = String::from_utf8_lossy(&msisdn).into_owned();
                out.emit(
                    &json!({"event": "ussd", "msisdn": m, "type": ussd_type.value(),
                    "text": text, "extended": genfields.is_some()}),
                );
                self.continue_dial(&m, ussd_type, text);
            }
            Request::SendSms {
                msisdn, message, ..
            } => {
                let text = message.text(richmond_codecs::ssmi::Charset::Latin1);
                self.answer_sms(msisdn, json!({"event": "sms", "text": text}));
            }
            Request::SendBinarySms {
                msisdn,
                pid,
                coding,
                hex_msg,
                ..
            } => {
                let hex = String::from_utf8_lossy(&hex_msg).into_owned();
                self.answer_sms(
                    msisdn,
                    json!({"event": "binary_sms", "pid": pid.value(),
                    "coding": coding.value(), "hex": hex}),
                );
            }
            other => out.emit(&json!({"event": "request", "debug": format!("{other:?}")})),
        }
    }

    fn answer_sms(&mut self, msisdn: Bytes, mut event: serde_json::Value) {
        let m = String::from_utf8_lossy(&msisdn).into_owned();
        let mut flags = self.sim.flags();
        if let Some(reason) = flags.nack_next_sms.take() {
            self.session.send(Response::Nack {
                reason: NackReason::from(reason),
            });
            event["nack"] = json!(reason);
        } else if !flags.no_seq {
            flags.next_sequence += 1;
            let seq = flags.next_sequence.to_string();
            self.session.send(Response::Seq {
                msisdn: msisdn.clone(),
                sequence: Bytes::from(seq.clone()),
            });
            event["sequence"] = json!(seq);
            let dr = Response::DeliveryReport {
                msisdn: msisdn.clone(),
                sequence: Bytes::from(seq),
                status: DrStatus::from(flags.dr_code),
            };
            let (own, delay) = (self.own.clone(), self.sim.args.dr_delay_ms);
            if delay == 0 {
                // Right behind its SEQ, in the same write: the hardest order for a client.
                self.session.send(dr);
            } else {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let _ = own.send(format!("\u{0}dr {}", encode_line(&dr)));
                });
            }
        }
        event["msisdn"] = json!(m);
        drop(flags);
        self.sim.out.emit(&event);
    }

    fn continue_dial(&mut self, msisdn: &str, t: UssdType, text: String) {
        let Some(i) = self.dials.iter().position(|d| d.msisdn == msisdn) else {
            return;
        };
        self.dials[i].transcript.push(text);
        if t == UssdType::End {
            let d = self.dials.remove(i);
            self.sim.out.emit(&json!({"event": "ussd_session_done", "msisdn": d.msisdn, "transcript": d.transcript}));
        } else if let Some(input) = self.dials[i].inputs.pop_front() {
            self.ussd(msisdn, UssdType::Existing, &input);
        }
    }

    fn ussd(&mut self, msisdn: &str, t: UssdType, text: &str) {
        self.session.send(Response::Ussd {
            msisdn: Bytes::from(msisdn.to_owned()),
            ussd_type: t,
            phase: Phase::Phase2,
            genfields: None,
            message: Text::new(text),
        });
    }
    async fn raw(&mut self, bytes: &[u8]) -> Open {
        if self.silent {
            return Ok(());
        }
        self.stream.write_all(bytes).await.map_err(|_| Closed)
    }

    async fn flush(&mut self) -> Open {
        let mut buf = BytesMut::new();
        while let Some(response) = self.session.poll_transmit() {
            if self.silent {
                continue;
            }
            if let Err(e) = self.codec.encode(response, &mut buf) {
                self.sim
                    .out
                    .emit(&json!({"event": "encode_error", "error": e.to_string()}));
            }
        }
        if !buf.is_empty() {
            self.stream.write_all(&buf).await.map_err(|_| Closed)?;
        }
        Ok(())
    }
}

/// One response as the text of its line (with CR), for the delayed delivery reports.
fn encode_line(response: &Response) -> String {
    let mut buf = BytesMut::new();
    let _ = response.encode(&mut buf, richmond_codecs::ssmi::Charset::Latin1);
    String::from_utf8_lossy(&buf).into_owned()
}
