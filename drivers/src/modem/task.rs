//! The task of one modem: open the port, init, serve requests and URCs, keep alive, recover.
//!
//! Reference: reference/modem.md §2.9 (timeouts, the recovery ladder, a vanished device reads
//! as EOF or EIO), §5.1 (ptys behave like this too).
//!
//! [`Link`] is one open port with its [`Engine`]; [`Link::exec`] runs one command to its final
//! result within a deadline, queueing the URCs that arrive meanwhile. The session loop in
//! [`run`] handles those URCs after each command, so a `+CMTI` inside a `+CMGS` exchange is
//! read right after it rather than lost or mistaken for its answer.

mod init;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use metrics::{counter, gauge};
use richmond_codecs::at::{command, fields};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_serial::SerialPortBuilderExt;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::codec::{Codec, Item};
use super::engine::{self, Engine, Output, Reply};
use super::{Config, Error, Event, FlowControl, Request, Slot, preview};

/// Why a session ended.
enum Stop {
    Cancelled,
    /// The port or the modem is gone; reopen after a pause.
    Lost(String),
    /// Never try again (a rejected PIN, a SIM asking for its PUK).
    Fatal(String),
}

/// A command failed to complete.
#[derive(Debug)]
enum Fail {
    Timeout,
    Gone(String),
}

pub(super) async fn run(
    config: Config,
    events: mpsc::Sender<Event>,
    mut requests: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    let name = config.name.clone();
    let mut backoff = config.reopen_backoff;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let stop = match open(&config) {
            Ok(port) => {
                let mut session = Session {
                    config: &config,
                    events: &events,
                    link: Link::new(port, &name),
                };
                let stop = session.run(&mut requests, &cancel).await;
                if matches!(stop, Stop::Lost(_)) && session.link.ready_once {
                    backoff = config.reopen_backoff;
                }
                stop
            }
            Err(e) => Stop::Lost(format!("cannot open {}: {e}", config.device.display())),
        };
        gauge!("richmond_modem_up", "transport" => name.clone()).set(0.0);
        match stop {
            Stop::Cancelled => break,
            Stop::Fatal(reason) => {
                warn!(transport = %name, %reason, "modem stopped; fix the cause and restart");
                let _ = events
                    .send(Event::Down {
                        reason: reason.clone(),
                        fatal: true,
                    })
                    .await;
                refuse_until(&mut requests, &cancel, None).await;
                break;
            }
            Stop::Lost(reason) => {
                warn!(transport = %name, %reason, retry_in = ?backoff, "modem link lost");
                counter!("richmond_modem_reopens_total", "transport" => name.clone()).increment(1);
                let _ = events
                    .send(Event::Down {
                        reason,
                        fatal: false,
                    })
                    .await;
                if !refuse_until(&mut requests, &cancel, Some(backoff)).await {
                    break;
                }
                backoff = (backoff * 2).min(config.reopen_backoff_max);
            }
        }
    }
    debug!(transport = %name, "modem task stopped");
}

/// Answers requests with [`Error::Down`] for `pause` (or until cancelled when None). False
/// when cancelled.
async fn refuse_until(
    requests: &mut mpsc::Receiver<Request>,
    cancel: &CancellationToken,
    pause: Option<Duration>,
) -> bool {
    let deadline = pause.map(|p| Instant::now() + p);
    loop {
        let wait = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = wait => return true,
            req = requests.recv() => match req {
                Some(req) => refuse(req, Error::Down),
                None => return false,
            },
        }
    }
}

fn refuse(req: Request, error: Error) {
    match req {
        Request::Send { reply, .. } => drop(reply.send(Err(error))),
        Request::Delete { reply, .. }
        | Request::Ussd { reply, .. }
        | Request::UssdCancel { reply } => drop(reply.send(Err(error))),
    }
}

fn open(config: &Config) -> Result<Port, tokio_serial::Error> {
    let path = config.device.to_string_lossy().into_owned();
    let flow = match config.flow_control {
        FlowControl::None => tokio_serial::FlowControl::None,
        FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        FlowControl::Software => tokio_serial::FlowControl::Software,
    };
    let stream = tokio_serial::new(path, config.baud)
        .flow_control(flow)
        .open_native_async()?;
    Ok(Port {
        stream,
        buf: BytesMut::with_capacity(4096),
        codec: Codec::default(),
    })
}

/// One open port.
pub(super) struct Link {
    port: Port,
    engine: Engine,
    urcs: VecDeque<engine::Event>,
    name: String,
    ready_once: bool,
}

impl Link {
    fn new(port: Port, name: &str) -> Self {
        Self {
            port,
            engine: Engine::new(),
            urcs: VecDeque::new(),
            name: name.to_owned(),
            ready_once: false,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        self.port
            .send(bytes)
            .await
            .map_err(|e| Fail::Gone(format!("write: {e}")))
    }

    /// Runs `line` (ending in CR) to its final result. With `pdu`, writes it with Ctrl-Z at the
    /// prompt (the prompt must come within `prompt_timeout`, the rest within `timeout`).
    async fn exec(
        &mut self,
        line: &str,
        pdu: Option<(&str, Duration)>,
        timeout: Duration,
    ) -> Result<Reply, Fail> {
        counter!("richmond_modem_commands_total", "transport" => self.name.clone()).increment(1);
        self.engine.start(line);
        self.write(line.as_bytes()).await?;
        let mut pdu = pdu;
        let mut deadline = Instant::now() + pdu.map_or(timeout, |(_, p)| p);
        loop {
            let item = match timeout_at(deadline, self.port.next()).await {
                Err(_) => {
                    if pdu.is_some() {
                        // The prompt never came: make sure the modem is not waiting for text.
                        let _ = self.write(&[command::ESC]).await;
                    }
                    self.engine.abandon();
                    counter!("richmond_modem_command_timeouts_total", "transport" => self.name.clone())
                        .increment(1);
                    return Err(Fail::Timeout);
                }
                Ok(None) => return Err(Fail::Gone("end of file".into())),
                Ok(Some(Err(e))) => return Err(Fail::Gone(format!("read: {e}"))),
                Ok(Some(Ok(item))) => item,
            };
            match self.engine.handle(item) {
                Output::Done(reply) => return Ok(reply),
                Output::Prompt => {
                    if let Some((hex, _)) = pdu.take() {
                        self.write(&command::pdu_body(hex)).await?;
                        deadline = Instant::now() + timeout;
                    }
                }
                other => self.side(other),
            }
        }
    }

    /// Handles an output that is not the answer of a command.
    fn side(&mut self, output: Output) {
        match output {
            Output::Urc(event) => self.urcs.push_back(event),
            Output::Unexpected(line) => {
                counter!("richmond_modem_unexpected_lines_total", "transport" => self.name.clone())
                    .increment(1);
                debug!(transport = %self.name, line = %preview(&line), "unexpected line from modem");
            }
            Output::Overlong => {
                counter!("richmond_modem_unexpected_lines_total", "transport" => self.name.clone())
                    .increment(1);
                warn!(transport = %self.name, "overlong line from modem dropped");
            }
            Output::None | Output::Done(_) | Output::Prompt => {}
        }
    }

    /// Reads and discards input for `period` (after ESC, before a sync); URCs are kept.
    async fn drain(&mut self, period: Duration) -> Result<(), Fail> {
        let deadline = Instant::now() + period;
        loop {
            match timeout_at(deadline, self.port.next()).await {
                Err(_) => return Ok(()),
                Ok(None) => return Err(Fail::Gone("end of file".into())),
                Ok(Some(Err(e))) => return Err(Fail::Gone(format!("read: {e}"))),
                Ok(Some(Ok(item))) => {
                    if let Output::Urc(event) = self.engine.handle(item) {
                        self.urcs.push_back(event);
                    }
                }
            }
        }
    }
}

/// Maps a finished reply to Ok or the request error.
fn check(reply: &Reply) -> Result<(), Error> {
    use super::Final;
    match reply.result {
        Final::Ok => Ok(()),
        Final::CmsError(code) => Err(Error::Cms(code)),
        other => Err(Error::Rejected(other)),
    }
}

struct Session<'a> {
    config: &'a Config,
    events: &'a mpsc::Sender<Event>,
    link: Link,
}

impl Session<'_> {
    async fn run(
        &mut self,
        requests: &mut mpsc::Receiver<Request>,
        cancel: &CancellationToken,
    ) -> Stop {
        let name = self.config.name.clone();
        let result = tokio::select! {
            () = cancel.cancelled() => return Stop::Cancelled,
            r = self.start() => r,
        };
        if let Err(stop) = result {
            return stop;
        }
        self.link.ready_once = true;
        gauge!("richmond_modem_up", "transport" => name.clone()).set(1.0);
        let mut keepalive = tokio::time::interval(self.config.keepalive);
        keepalive.reset();
        loop {
            if let Err(stop) = self.handle_urcs().await {
                return stop;
            }
            let step = tokio::select! {
                () = cancel.cancelled() => return Stop::Cancelled,
                req = requests.recv() => match req {
                    Some(req) => self.request(req).await,
                    None => return Stop::Cancelled,
                },
                item = self.link.port.next() => match item {
                    None => Err(Fail::Gone("end of file".into())),
                    Some(Err(e)) => Err(Fail::Gone(format!("read: {e}"))),
                    Some(Ok(item)) => {
                        let out = self.link.engine.handle(item);
                        self.link.side(out);
                        Ok(())
                    }
                },
                _ = keepalive.tick() => self.keepalive().await,
            };
            if let Err(fail) = step
                && let Err(stop) = self.recover(fail).await
            {
                return stop;
            }
        }
    }

    /// ESC, sync, init, sweep.
    async fn start(&mut self) -> Result<(), Stop> {
        let ready = self.init().await?;
        info!(transport = %self.config.name, imei = ?ready.0, imsi = ?ready.1, "modem ready");
        let _ = self
            .events
            .send(Event::Ready {
                imei: ready.0,
                imsi: ready.1,
            })
            .await;
        self.sweep().await.map_err(lost)
    }

    /// The recovery ladder after a failed command: ESC + CR, `AT` until OK, re-init and sweep.
    /// A port that is gone, or a modem that does not come back, ends the session (the caller
    /// reopens the device path).
    async fn recover(&mut self, fail: Fail) -> Result<(), Stop> {
        let name = self.config.name.clone();
        let Fail::Timeout = fail else {
            return Err(lost(fail));
        };
        warn!(transport = %name, "modem stopped answering; recovering");
        counter!("richmond_modem_recoveries_total", "transport" => name.clone(), "step" => "escape")
            .increment(1);
        self.start().await.map_err(|stop| {
            if matches!(stop, Stop::Lost(_)) {
                counter!("richmond_modem_recoveries_total", "transport" => name.clone(), "step" => "reopen")
                    .increment(1);
            }
            stop
        })
    }

    async fn request(&mut self, req: Request) -> Result<(), Fail> {
        let timeout = self.config.command_timeout;
        match req {
            Request::Send {
                hex,
                tpdu_len,
                reply,
            } => {
                let line = command::cmgs(tpdu_len);
                let r = self
                    .link
                    .exec(
                        &line,
                        Some((&hex, self.config.prompt_timeout)),
                        self.config.send_timeout,
                    )
                    .await;
                let (answer, fail) = match r {
                    Ok(rep) => (
                        check(&rep).and_then(|()| {
                            rep.line("+CMGS:")
                                .and_then(|l| fields::cmgs(l).ok())
                                .ok_or(Error::Rejected(super::Final::Ok))
                        }),
                        None,
                    ),
                    Err(f) => (Err(Error::Timeout), Some(f)),
                };
                let _ = reply.send(answer);
                fail.map_or(Ok(()), Err)
            }
            Request::Delete { slot, reply } => {
                let r = self
                    .link
                    .exec(&format!("AT+CMGD={}\r", slot.index), None, timeout)
                    .await;
                self.answer(r, reply)
            }
            Request::Ussd {
                argument,
                dcs,
                reply,
            } => {
                let line = match argument.as_deref().map(command::quoted) {
                    None => "AT+CUSD=1\r".to_owned(),
                    Some(Some(q)) => format!("AT+CUSD=1,{q},{dcs}\r"),
                    Some(None) => {
                        let _ = reply.send(Err(Error::Invalid("quote in a USSD string")));
                        return Ok(());
                    }
                };
                let r = self.link.exec(&line, None, timeout).await;
                self.answer(r, reply)
            }
            Request::UssdCancel { reply } => {
                let r = self.link.exec("AT+CUSD=2\r", None, timeout).await;
                self.answer(r, reply)
            }
        }
    }

    fn answer(
        &self,
        r: Result<Reply, Fail>,
        reply: tokio::sync::oneshot::Sender<Result<(), Error>>,
    ) -> Result<(), Fail> {
        match r {
            Ok(rep) => {
                let _ = reply.send(check(&rep));
                Ok(())
            }
            Err(f) => {
                let _ = reply.send(Err(Error::Timeout));
                Err(f)
            }
        }
    }

    /// Reads what the URCs announced and passes the rest on.
    async fn handle_urcs(&mut self) -> Result<(), Stop> {
        while let Some(urc) = self.link.urcs.pop_front() {
            let r = match urc {
                engine::Event::Stored { mem, index, .. } => {
                    self.read_slot(Slot { mem, index }).await
                }
                engine::Event::Routed { hex, .. } => {
                    self.emit(Event::Message { slot: None, hex }).await;
                    Ok(())
                }
                engine::Event::Ussd(line) => {
                    self.emit(Event::Ussd(line)).await;
                    Ok(())
                }
                engine::Event::Registration { kind, stat } => {
                    self.emit(Event::Registration { kind, stat }).await;
                    Ok(())
                }
                engine::Event::SimState(line) => {
                    info!(transport = %self.config.name, state = %preview(&line), "SIM state changed");
                    Ok(())
                }
                engine::Event::Other(_) => Ok(()),
            };
            if let Err(fail) = r {
                self.recover(fail).await?;
            }
        }
        Ok(())
    }

    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// Passes on a stored message without waiting: when the transport is behind, the message
    /// stays in storage and the next sweep offers it again. The task never blocks here, so a
    /// transport waiting on [`super::Handle::delete`] cannot deadlock with it.
    pub(super) fn offer(&self, slot: Slot, hex: bytes::Bytes) {
        if self
            .events
            .try_send(Event::Message {
                slot: Some(slot),
                hex,
            })
            .is_err()
        {
            counter!("richmond_modem_deferred_reads_total", "transport" => self.config.name.clone())
                .increment(1);
        }
    }

    /// `AT+CMGR=<index>` and the message as an event (an empty slot is skipped).
    async fn read_slot(&mut self, slot: Slot) -> Result<(), Fail> {
        let reply = self
            .link
            .exec(
                &format!("AT+CMGR={}\r", slot.index),
                None,
                self.config.command_timeout,
            )
            .await?;
        let pdu = reply
            .lines
            .iter()
            .position(|l| l.starts_with(b"+CMGR:"))
            .and_then(|i| reply.lines.get(i + 1))
            .cloned();
        match (check(&reply), pdu) {
            (Ok(()), Some(hex)) => self.offer(slot, hex),
            (r, _) => {
                debug!(transport = %self.config.name, index = slot.index, result = ?r, "nothing to read in slot");
            }
        }
        Ok(())
    }
}

fn lost(fail: Fail) -> Stop {
    match fail {
        Fail::Timeout => Stop::Lost("modem does not answer".into()),
        Fail::Gone(reason) => Stop::Lost(reason),
    }
}

/// The serial stream with its read buffer and codec. Reading is cancel-safe (`read_buf`
/// keeps what it read in the buffer), so `next` can sit in a `select!`.
struct Port {
    stream: tokio_serial::SerialStream,
    buf: BytesMut,
    codec: Codec,
}

impl Port {
    /// The next item; None at end of file.
    async fn next(&mut self) -> Option<std::io::Result<Item>> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}
