//! The task of one modem: open the port, pump bytes and time between it and the sans-IO
//! [`Session`], pass events and answers on, record what the session notes, and reopen the
//! device with backoff when a session ends.
//!
//! Reference: reference/modem.md §2.9 (the recovery ladder ends in a reopen: a reset modem
//! re-enumerates and the old fd is dead), §5.1 (ptys behave like this too).

mod port;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::session::{Action, Job, Session, Stop};
use super::telemetry::{LinkLost, Noted, ReadDeferred, Reported, SessionEnded, StoppedForGood};
use super::{Config, Error, Event, Final, Request};
use crate::telemetry::Event as _;

/// How a session ended for the task.
enum Exit {
    Cancelled,
    Stopped(Stop),
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
        let exit = match port::open(&config) {
            Ok(mut port) => {
                let now = Instant::now().into_std();
                let mut session = Session::new(config.clone(), now, pin_uncertain);
                let exit = pump(&mut session, &mut port, &events, &mut requests, &cancel).await;
                pin_uncertain = session.pin_uncertain();
                if session.was_ready() {
                    backoff = config.reopen_backoff;
                }
                exit
            }
            Err(e) => Exit::Stopped(Stop::Lost(format!(
                "cannot open {}: {e}",
                config.device.display()
            ))),
        };
        SessionEnded { transport: &name }.emit();
        match exit {
            Exit::Cancelled => break,
            Exit::Stopped(Stop::Fatal(reason)) => {
                StoppedForGood {
                    transport: &name,
                    reason: &reason,
                }
                .emit();
                let _ = events
                    .send(Event::Down {
                        reason: reason.clone(),
                        fatal: true,
                    })
                    .await;
                refuse_until(&mut requests, &cancel, None).await;
                break;
            }
            Exit::Stopped(Stop::Lost(reason)) => {
                LinkLost {
                    transport: &name,
                    reason: &reason,
                    retry_in: backoff,
                }
                .emit();
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

/// Runs one session on an open port until it stops or the task is cancelled.
async fn pump(
    session: &mut Session,
    port: &mut port::Port,
    events: &mpsc::Sender<Event>,
    requests: &mut mpsc::Receiver<Request>,
    cancel: &CancellationToken,
) -> Exit {
    let name = session.name().to_owned();
    // The requester of the job in progress (the session takes one at a time).
    let mut pending: Option<Replier> = None;
    loop {
        while let Some(action) = session.poll_action() {
            match action {
                Action::Write(bytes) => {
                    if let Err(e) = port.send(&bytes).await {
                        session.handle_gone(format!("write: {e}"));
                    }
                }
                Action::Emit(event) => {
                    Reported {
                        transport: &name,
                        event: &event,
                    }
                    .emit();
                    tokio::select! {
                        () = cancel.cancelled() => return Exit::Cancelled,
                        _ = events.send(event) => {}
                    }
                }
                Action::Offer(event) => {
                    if events.try_send(event).is_err() {
                        ReadDeferred { transport: &name }.emit();
                    }
                }
                Action::Answer(result) => {
                    if let Some(replier) = pending.take() {
                        replier.answer(result);
                    }
                }
                Action::Note(note) => Noted {
                    transport: &name,
                    note,
                }
                .emit(),
                Action::Stop(stop) => return Exit::Stopped(stop),
            }
        }
        let deadline = session.poll_timeout().map(Instant::from_std);
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return Exit::Cancelled,
            req = requests.recv(), if session.wants_job() => match req {
                None => return Exit::Cancelled,
                Some(req) => {
                    let (job, replier) = split(req);
                    pending = Some(replier);
                    session.handle_job(job, Instant::now().into_std());
                }
            },
            item = port.next() => match item {
                None => session.handle_gone("end of file".into()),
                Some(Err(e)) => session.handle_gone(format!("read: {e}")),
                Some(Ok(item)) => session.handle_item(item, Instant::now().into_std()),
            },
            () = timer => session.handle_timeout(Instant::now().into_std()),
        }
    }
}

/// Where the answer to a request goes.
enum Replier {
    /// A send: the message reference.
    Reference(oneshot::Sender<Result<u8, Error>>),
    /// Everything else.
    Done(oneshot::Sender<Result<(), Error>>),
}

impl Replier {
    fn answer(self, result: Result<Option<u8>, Error>) {
        match self {
            Self::Reference(tx) => {
                let _ = tx.send(result.and_then(|mr| mr.ok_or(Error::Rejected(Final::Ok))));
            }
            Self::Done(tx) => drop(tx.send(result.map(|_| ()))),
        }
    }
}

fn split(req: Request) -> (Job, Replier) {
    match req {
        Request::Send {
            hex,
            tpdu_len,
            reply,
        } => (Job::Send { hex, tpdu_len }, Replier::Reference(reply)),
        Request::Delete {
            slot,
            expect,
            reply,
        } => (Job::Delete { slot, expect }, Replier::Done(reply)),
        Request::Ussd {
            argument,
            dcs,
            reply,
        } => (Job::Ussd { argument, dcs }, Replier::Done(reply)),
        Request::UssdCancel { reply } => (Job::UssdCancel, Replier::Done(reply)),
    }
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
                Some(req) => split(req).1.answer(Err(Error::Down)),
                None => return false,
            },
        }
    }
}
