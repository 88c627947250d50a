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
mod link;
mod storage;

use std::time::Duration;

use metrics::{counter, gauge};
use richmond_codecs::at::{command, fields};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::link::{Fail, Link, check, open};
use super::engine::{self, Reply};
use super::{Config, Error, Event, Request, Slot, preview};

/// Why a session ended.
enum Stop {
    Cancelled,
    /// The port or the modem is gone; reopen after a pause.
    Lost(String),
    /// Never try again (a rejected PIN, a SIM asking for its PUK).
    Fatal(String),
}

pub(super) async fn run(
    config: Config,
    events: mpsc::Sender<Event>,
    mut requests: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    let name = config.name.clone();
    let mut backoff = config.reopen_backoff;
    // Survives reopens: a PIN whose answer never came is not entered again (modem.md §2.2).
    let mut pin_uncertain = false;
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
                    pin_uncertain,
                    memory: storage::Memory::default(),
                };
                let stop = session.run(&mut requests, &cancel).await;
                pin_uncertain = session.pin_uncertain;
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
                warn!(message = "Modem stopped; fix the cause and restart.", transport = %name, %reason);
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
                warn!(message = "Modem link lost.", transport = %name, %reason, retry_in = ?backoff);
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
    debug!(message = "Modem task stopped.", transport = %name);
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

struct Session<'a> {
    config: &'a Config,
    events: &'a mpsc::Sender<Event>,
    link: Link,
    /// A PIN was sent and its answer never came (in this or an earlier session).
    pin_uncertain: bool,
    memory: storage::Memory,
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
        info!(message = "Modem ready.", transport = %self.config.name, imei = ?ready.0);
        debug!(message = "SIM identity.", transport = %self.config.name, imsi = ?ready.1);
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
        warn!(message = "Modem stopped answering; recovering.", transport = %name);
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
            Request::Delete {
                slot,
                expect,
                reply,
            } => match self.delete(&slot, expect.as_ref()).await {
                Ok(r) => {
                    let _ = reply.send(r);
                    Ok(())
                }
                Err(f) => {
                    let _ = reply.send(Err(Error::Timeout));
                    Err(f)
                }
            },
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
                    let family = match kind {
                        super::Registration::Cs => "cs",
                        super::Registration::Gprs => "gprs",
                        super::Registration::Eps => "eps",
                    };
                    gauge!("richmond_modem_registration", "transport" => self.config.name.clone(), "kind" => family)
                        .set(f64::from(stat));
                    self.emit(Event::Registration { kind, stat }).await;
                    Ok(())
                }
                engine::Event::SimState(line) => {
                    info!(message = "SIM state changed.", transport = %self.config.name, state = %preview(&line));
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
}

fn lost(fail: Fail) -> Stop {
    match fail {
        Fail::Timeout => Stop::Lost("modem does not answer".into()),
        Fail::Gone(reason) => Stop::Lost(reason),
    }
}
