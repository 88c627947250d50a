//! `richmond simulate smsc`: an SMPP 3.4 SMSC on loopback, for tests, benches and the quick
//! start.
//!
//! Reference: SMPP 3.4 §4.1 (binds), §4.4 (submit_sm), §4.6 (deliver_sm), §5.2.12
//! (esm_class), §5.3.2 (TLVs: SAR 0x020C/0x020E/0x020F, receipted_message_id 0x001E,
//! message_state 0x0427), Appendix B (receipt text); reference/smpp.md. The protocol side of
//! each connection is the driver's sans-IO [`ServerSession`](richmond_drivers::smpp::ServerSession);
//! this module adds the behaviour of an SMSC:
//!
//! * binds (transceiver, transmitter, receiver; many at once) are checked against
//!   `--system-id` / `--password`;
//! * each `submit_sm` is answered with a fresh message id (a counter, `--message-id-format
//!   dec|hex`), decoded into a `submit_sm` event, joined with its sibling parts (UDH concat or
//!   SAR TLVs) into a `message` event, and — when `registered_delivery` asks — followed after
//!   `--receipt-delay-ms` by a delivery receipt (esm_class 0x04, Appendix B text plus the
//!   receipted_message_id and message_state TLVs) on a bind that can receive (not
//!   necessarily the one that submitted);
//! * every `deliver_sm` sent (MO or receipt) is tracked until its `deliver_sm_resp`; an error
//!   status, no answer within `--deliver-timeout-ms`, or a connection lost with it in flight
//!   makes the simulator send it again after `--redeliver-delay-ms` (at most
//!   `--max-deliver-attempts` times), as a real SMSC does. With no bind able to receive, it
//!   waits for one;
//! * with `--reply`, the recipient of each whole message answers it with an MO;
//! * it misbehaves on demand (commands below).
//!
//! Commands (stdin for `richmond simulate smsc`, a channel in-process; one per line):
//!
//! ```text
//! mo <from> <to> <text…>        MO deliver_sm: GSM-7 when the text fits, else UCS2; UDH parts
//!                               (esm_class 0x40) when too long for one
//! mo-ucs2 <from> <to> <text…>   the same, always UCS2 (data_coding 8)
//! mo-sar <from> <to> <text…>    the same, parts tied by SAR TLVs instead of a UDH
//! mo-flood <n> <to> [per_s]     n MOs at once, or per_s a second (load tests), each
//!                               saying "flood <i> <µs since epoch>"
//! receipt-stat <STAT>           stat of later receipts (DELIVRD, UNDELIV, EXPIRED, …)
//! hold-receipts on|off          keep receipts that fall due; off sends the kept ones
//! ussd-dial <from> <code>       a handset opens a USSD session (op 01) per --ussd
//! ussd-answer <from> <text…>    the handset answers the menu on screen (op 12)
//! ussd-hangup <from>            the handset ends the session (vumi op 11, others 81)
//! throttle <n>                  answer the next n submit_sm with ESME_RTHROTTLED (0x58)
//! queue-full <n>                … with ESME_RMSGQFUL (0x14)
//! reject <n> <status>           … with <status> (decimal or 0x hex, e.g. 0x0B)
//! no-response <n>               do not answer the next n submit_sm
//! slow <ms>                     delay every submit_sm_resp by <ms> (0: off)
//! disconnect                    drop every connection at once (no unbind)
//! unbind                        send unbind on every bound connection
//! malformed                     a PDU with command_length 8: the ESME's framing is lost
//! unknown-pdu                   a well-framed PDU with unknown command id 0x00000999
//! truncated                     a deliver_sm whose body is cut short (framing intact)
//! raw <hex>                     these bytes as they are, in one write (abuse tests)
//! enquire-link                  send enquire_link on every bound connection
//! reject-binds on|off           refuse binds with ESME_RBINDFAIL
//! help | quit
//! ```
//!
//! `mo*` commands go to the binds that can receive (transceiver or receiver) in turn;
//! `malformed`, `unknown-pdu`, `raw` and `truncated` go to the newest bound connection (`truncated`:
//! the newest that can receive).
//!
//! Events (JSON objects with an `event` key): `listening`, `connected`, `bind`, `unbind`,
//! `disconnected`, `submit_sm`, `message`, `deliver_sm`, `deliver_sm_resp`, `redeliver`,
//! `gave_up`, `generic_nack`, `enquire_link`, `enquire_link_resp`, `malformed`, `request`,
//! `command_done`, `command_error`, `help`. `--quiet` leaves out the per-message ones
//! (`submit_sm`, `message`, `deliver_sm`, successful `deliver_sm_resp`) for load tests.
//!
//! SMPP over TLS with `--tls-cert` / `--tls-key`. Not handled here: outbind, data_sm,
//! submit_multi, query_sm and friends (reported as
//! `request` events, unanswered), message storage beyond the process.

mod args;
mod commands;
mod conn;
mod sms;
mod ussd;

pub use args::{Args, IdFormat, UssdFlavor};

use super::{SimulateError, io};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use richmond_codecs::smpp::rusmpp::pdus::DeliverSm;
use richmond_codecs::smpp::status;
use richmond_drivers::smpp::BindMode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Output;

/// Where the simulator's events go.
#[derive(Clone)]
pub enum Events {
    /// One JSON line per event on stdout (the CLI).
    Stdout(Output),
    /// Into a channel (in-process use); events are dropped once the receiver is gone.
    Channel(mpsc::UnboundedSender<Value>),
    /// Nowhere.
    Discard,
}

impl Events {
    fn emit(&self, event: &Value) {
        match self {
            Self::Stdout(out) => out.emit(event),
            Self::Channel(tx) => {
                let _ = tx.send(event.clone());
            }
            Self::Discard => {}
        }
    }
}

/// A `deliver_sm` the simulator owes the ESME until it is answered `ESME_ROK`.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pdu: Box<DeliverSm>,
    /// `mo` or `receipt`.
    kind: &'static str,
    /// Sends so far.
    attempts: u32,
}

/// Misbehaviour switches and counters shared by every connection.
struct Flags {
    reject_binds: bool,
    throttle: u32,
    queue_full: u32,
    reject: Option<(u32, u32)>,
    no_response: u32,
    slow_ms: u64,
    receipt_stat: String,
    /// Open USSD dialogs: handset → session id and the code dialled.
    dialogs: HashMap<String, (u16, String)>,
    next_session: u16,
    /// Receipts fall due into `held` instead of being sent (`hold-receipts on`).
    hold_receipts: bool,
    held: Vec<Outgoing>,
    next_message_id: u64,
    next_reference: u16,
}

/// The answer chosen for one submit_sm.
enum Answer {
    Accept(String),
    Status(u32),
    Nothing,
}

impl Flags {
    fn answer(&mut self, format: IdFormat) -> (Answer, u64) {
        let take = |n: &mut u32| {
            let hit = *n > 0;
            *n = n.saturating_sub(1);
            hit
        };
        if take(&mut self.no_response) {
            return (Answer::Nothing, 0);
        }
        if take(&mut self.throttle) {
            return (Answer::Status(status::RTHROTTLED), 0);
        }
        if take(&mut self.queue_full) {
            return (Answer::Status(status::RMSGQFUL), 0);
        }
        if let Some((n, code)) = self.reject.as_mut() {
            let code = *code;
            if take(n) {
                return (Answer::Status(code), 0);
            }
            self.reject = None;
        }
        self.next_message_id += 1;
        let n = self.next_message_id;
        (Answer::Accept(format.format(n)), n)
    }
}

/// One live connection, as the command side sees it.
struct Entry {
    id: u64,
    mode: Option<BindMode>,
    tx: mpsc::UnboundedSender<conn::Cmd>,
}

#[derive(Default)]
struct Registry {
    conns: Vec<Entry>,
    next_id: u64,
    round_robin: usize,
    /// Deliveries waiting for a bind that can receive.
    waiting: VecDeque<Outgoing>,
    /// Parts of multipart messages seen so far.
    parts: HashMap<sms::PartKey, sms::Parts>,
}

/// The simulator's shared state.
#[derive(Clone)]
struct Sim {
    args: Arc<Args>,
    out: Events,
    flags: Arc<Mutex<Flags>>,
    registry: Arc<Mutex<Registry>>,
    stop: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    fn flags(&self) -> MutexGuard<'_, Flags> {
        lock(&self.flags)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    fn emit(&self, event: &Value) {
        self.out.emit(event);
    }

    /// Emits a per-message event unless `--quiet`.
    fn emit_chatty(&self, event: &Value) {
        if !self.args.quiet {
            self.out.emit(event);
        }
    }

    /// Hands a deliver_sm to the next bind that can receive, or keeps it until one binds.
    fn deliver(&self, outgoing: Outgoing) {
        let mut reg = self.registry();
        let receivers: Vec<usize> = (0..reg.conns.len())
            .filter(|&i| reg.conns[i].mode.is_some_and(BindMode::can_receive))
            .collect();
        let mut outgoing = Some(outgoing);
        for _ in 0..receivers.len() {
            let Some(o) = outgoing.take() else { break };
            reg.round_robin = reg.round_robin.wrapping_add(1);
            let i = receivers[reg.round_robin % receivers.len()];
            if let Err(mpsc::error::SendError(conn::Cmd::Deliver(o))) =
                reg.conns[i].tx.send(conn::Cmd::Deliver(o))
            {
                outgoing = Some(o);
            }
        }
        if let Some(o) = outgoing {
            reg.waiting.push_back(o);
        }
    }

    /// Sends `outgoing` again after the redelivery delay, or gives up on it.
    fn redeliver(&self, outgoing: Outgoing, why: &str) {
        if outgoing.attempts >= self.args.max_deliver_attempts {
            self.emit(&json!({"event": "gave_up", "kind": outgoing.kind,
                "attempts": outgoing.attempts, "reason": why}));
            return;
        }
        self.emit(&json!({"event": "redeliver", "kind": outgoing.kind,
            "attempts": outgoing.attempts, "reason": why,
            "delay_ms": self.args.redeliver_delay_ms}));
        let sim = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = sim.stop.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(sim.args.redeliver_delay_ms)) => {
                    sim.deliver(outgoing);
                }
            }
        });
    }

    /// A connection bound: record its mode, give it what was waiting, run `--on-bind`.
    fn bound(&self, id: u64, mode: BindMode) {
        let waiting: Vec<Outgoing> = {
            let mut reg = self.registry();
            if let Some(e) = reg.conns.iter_mut().find(|e| e.id == id) {
                e.mode = Some(mode);
            }
            if mode.can_receive() {
                reg.waiting.drain(..).collect()
            } else {
                Vec::new()
            }
        };
        for o in waiting {
            self.deliver(o);
        }
        for cmd in &self.args.on_bind {
            self.command(cmd);
        }
    }

    /// The newest bound connection (that can receive, if asked).
    fn newest(&self, receiving: bool) -> Option<mpsc::UnboundedSender<conn::Cmd>> {
        self.registry()
            .conns
            .iter()
            .rev()
            .find(|e| e.mode.is_some_and(|m| !receiving || m.can_receive()))
            .map(|e| e.tx.clone())
    }

    /// Sends `cmd` to every connection (bound ones only, if asked); returns how many.
    fn broadcast(&self, cmd: &conn::Cmd, bound_only: bool) -> usize {
        self.registry()
            .conns
            .iter()
            .filter(|e| !bound_only || e.mode.is_some())
            .filter(|e| e.tx.send(cmd.clone()).is_ok())
            .count()
    }

    /// With `--reply`: the recipient of a whole `message` answers it with an MO.
    fn reply_to(&self, message: &Value) {
        let Some(template) = &self.args.reply else {
            return;
        };
        let field = |k: &str| message[k].as_str().unwrap_or_default().to_owned();
        let (from, to) = (field("destination"), field("source"));
        if from.is_empty() || to.is_empty() {
            return;
        }
        let text = template
            .replace("{text}", &field("text"))
            .replace(['\r', '\n'], " ");
        let sim = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = sim.stop.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(sim.args.receipt_delay_ms)) => {
                    sim.command(&format!("mo {from} {to} {text}"));
                }
            }
        });
    }

    /// Schedules the receipt of an accepted submit.
    fn schedule_receipt(&self, submit: sms::Submitted) {
        let stat = self.flags().receipt_stat.clone();
        if !submit.wants_receipt(&stat) {
            return;
        }
        let format = self
            .args
            .receipt_id_format
            .unwrap_or(self.args.message_id_format);
        let id = format.format(submit.id_number);
        let sim = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = sim.stop.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(sim.args.receipt_delay_ms)) => {
                    match sms::receipt(&submit, &id, &stat) {
                        Ok(pdu) => {
                            let outgoing = Outgoing {
                                pdu: Box::new(pdu),
                                kind: "receipt",
                                attempts: 0,
                            };
                            let mut flags = sim.flags();
                            if flags.hold_receipts {
                                flags.held.push(outgoing);
                            } else {
                                drop(flags);
                                sim.deliver(outgoing);
                            }
                        }
                        Err(e) => sim.emit(&json!({"event": "receipt_error", "error": e})),
                    }
                }
            }
        });
    }
}

/// The CLI: binds `--listen`, prints `listening`, reads commands from stdin, serves until
/// `stop` fires or `quit` is read.
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(args: Args, stop: CancellationToken) -> Result<(), SimulateError> {
    let what = format!("--listen {}", args.listen);
    let listener = TcpListener::bind(args.listen).await.map_err(io(&what))?;
    let out = Output::default();
    let address = listener.local_addr().map_err(io(what))?;
    out.emit(&json!({"event": "listening", "address": address.to_string()}));
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    serve(args, listener, Events::Stdout(out), Some(rx), stop).await
}

/// The simulator on an already bound `listener` (in-process use: the quick start runs it
/// inside the gateway on a loopback port). `args.listen` is ignored. Events go to `events`;
/// command lines come from `commands` (none when `None`). Returns when `stop` fires or a
/// `quit` command arrives (`quit` does not cancel `stop` itself).
///
/// # Errors
/// When the TLS certificate or key cannot be read or used.
pub async fn serve(
    args: Args,
    listener: TcpListener,
    events: Events,
    commands: Option<mpsc::Receiver<String>>,
    stop: CancellationToken,
) -> Result<(), SimulateError> {
    let stop = stop.child_token();
    let tls = super::tls_server(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    let sim = Sim {
        args: Arc::new(args),
        out: events,
        flags: Arc::new(Mutex::new(Flags {
            reject_binds: false,
            dialogs: HashMap::new(),
            next_session: 0x0100,
            hold_receipts: false,
            held: Vec::new(),
            throttle: 0,
            queue_full: 0,
            reject: None,
            no_response: 0,
            slow_ms: 0,
            receipt_stat: "DELIVRD".into(),
            next_message_id: 0,
            next_reference: 0,
        })),
        registry: Arc::default(),
        stop: stop.clone(),
    };
    if let Some(mut commands) = commands {
        let sim = sim.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = sim.stop.cancelled() => return,
                    line = commands.recv() => match line {
                        Some(line) => sim.command(&line),
                        None => return,
                    },
                }
            }
        });
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let (sim, tls) = (sim.clone(), tls.clone());
                    // The handshake runs off the accept loop: a silent client blocks only
                    // itself, for at most 10 s.
                    tokio::spawn(async move {
                        let stream: Box<dyn conn::Io> = match tls {
                            None => Box::new(tcp),
                            Some(tls) => {
                                let handshake = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    tls.accept(tcp),
                                );
                                match handshake.await {
                                    Ok(Ok(s)) => Box::new(s),
                                    Ok(Err(e)) => {
                                        sim.emit(&json!({"event": "tls_error",
                                            "peer": peer.to_string(), "error": e.to_string()}));
                                        return;
                                    }
                                    Err(_) => {
                                        sim.emit(&json!({"event": "tls_error",
                                            "peer": peer.to_string(), "error": "handshake timed out"}));
                                        return;
                                    }
                                }
                            }
                        };
                        let (tx, rx) = mpsc::unbounded_channel();
                        let id = {
                            let mut reg = sim.registry();
                            reg.next_id += 1;
                            let id = reg.next_id;
                            reg.conns.push(Entry { id, mode: None, tx: tx.clone() });
                            id
                        };
                        sim.emit(&json!({"event": "connected", "connection": id,
                            "peer": peer.to_string()}));
                        conn::serve(sim, id, stream, tx, rx).await;
                    });
                }
                Err(e) => {
                    sim.emit(&json!({"event": "accept_error", "error": e.to_string()}));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}
