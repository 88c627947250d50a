//! The session of one open modem port, sans-IO: init, PIN, storage sweep, keepalive, the
//! transport's requests and the recovery ladder, as a state machine with the clock passed in.
//! No tokio here — time arrives as `now: Instant`, bytes as [`Item`]s, and everything the
//! session wants done comes out of [`Session::poll_action`].
//!
//! Reference: reference/modem.md §2.4 (the init sequence), §2.2 (+CPIN, +CPMS, +CNMI with
//! fallbacks, +CMGL), §2.9 (timeouts, keepalive, the recovery ladder), §0 items 2–3 (sweep at
//! start, delete only after the downstream owns it).
//!
//! The session runs a queue of ops (`session/ops.rs`), one command at a time through the
//! [`Engine`]; an op's answer may put further ops at the front (a sweep found `SR`, the SIM
//! asked for its PIN, a `+CMTI` needs its slot read). URCs that arrive meanwhile wait until the
//! queue is empty, so a `+CMTI` inside a `+CMGS` exchange is read right after it. Requests are taken only while
//! nothing else is to do ([`Session::wants_job`]).
//!
//! The ladder: a command that times out while ready starts again from the ESC (re-init, then a
//! sweep); a command that times out while starting, a refused required step, or a port that is
//! gone ends the session with [`Stop::Lost`] (the task reopens the device path with backoff);
//! a rejected PIN, or a SIM that wants its PUK, ends it with [`Stop::Fatal`].

mod ops;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use richmond_codecs::at::command;

use self::ops::{Memory, Op};
use super::codec::Item;
use super::engine::{self, Engine, Output};
use super::{Config, Error, Event, Final, Slot};

/// What the transport asks of the modem (one at a time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// `AT+CMGS`: `hex` is the SMSC field + SMS-SUBMIT, `tpdu_len` the TPDU's octets.
    /// Answered `Ok(Some(message reference))`.
    Send { hex: String, tpdu_len: usize },
    /// `AT+CMGD` of `slot`, only while it still holds `expect` (when given). Answered `Ok(None)`,
    /// also when there was nothing of ours to delete.
    Delete { slot: Slot, expect: Option<Bytes> },
    /// `AT+CUSD=1[,"<argument>",<dcs>]`. Answered `Ok(None)`.
    Ussd { argument: Option<String>, dcs: u8 },
    /// `AT+CUSD=2`. Answered `Ok(None)`.
    UssdCancel,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The port or the modem is gone; reopen the device after a pause.
    Lost(String),
    /// Never try again (a rejected PIN, a SIM asking for its PUK).
    Fatal(String),
}

/// What the session noticed, for metrics and logs (the task records them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A command was written.
    Command,
    /// A command got no final result in time.
    CommandTimeout,
    /// A line no command expected (garbage, an answer that came too late).
    Unexpected(Bytes),
    /// An overlong line was dropped.
    Overlong,
    /// The session is up for the first time (init and the first sweep done).
    Up,
    /// Init finished (also after a recovery).
    Ready {
        imei: Option<String>,
        imsi: Option<String>,
    },
    /// A command timed out while ready: the ladder starts (ESC, sync, re-init).
    Recovering,
    /// The ladder did not bring the modem back: the device is reopened.
    RecoveryFailed,
    /// `+CPIN: …` outside a command.
    SimState(Bytes),
    /// The `AT+CNMI` parameters the modem took (None: it refused them all).
    Cnmi(Option<String>),
    /// The modem refused to select this message memory.
    MemoryRefused(String),
    /// `AT+CMGL` refused on this memory.
    SweepRefused { mem: String, result: Final },
    /// A sweep offered this many stored messages (only when more than none).
    SweepFound(usize),
    /// A slot a `+CMTI` named held nothing readable.
    SlotEmpty { index: u32, result: Final },
    /// A delete found another message (or none) in the slot and left it alone.
    DeleteSkipped { index: u32 },
}

/// What the task must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the port.
    Write(Bytes),
    /// Pass this event to the transport, waiting for room.
    Emit(Event),
    /// Pass this stored message on only if there is room now; else it stays in storage and
    /// the next sweep offers it again.
    Offer(Event),
    /// The answer to the job in progress.
    Answer(Result<Option<u8>, Error>),
    /// Record this.
    Note(Note),
    /// The session is over; nothing more comes out of it.
    Stop(Stop),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Init and the first sweep; `recovery` when a ladder got us here.
    Starting {
        recovery: bool,
    },
    Ready,
    Stopped,
}

/// The command in flight.
#[derive(Debug)]
struct Inflight {
    op: Op,
    deadline: Instant,
    /// The PDU to write at the prompt, and the time its answer may take after it.
    pdu: Option<(String, Duration)>,
}

/// A pause with no command in flight.
#[derive(Clone, Copy, Debug)]
struct Wait {
    until: Instant,
    /// Discarding stale input after the ESC (only URCs are kept).
    drain: bool,
}

/// One modem session; see the module docs.
#[derive(Debug)]
pub struct Session {
    config: Config,
    engine: Engine,
    phase: Phase,
    ops: VecDeque<Op>,
    inflight: Option<Inflight>,
    wait: Option<Wait>,
    urcs: VecDeque<engine::Event>,
    actions: VecDeque<Action>,
    memory: Memory,
    /// The last `Select` op succeeded.
    selected: bool,
    imei: Option<String>,
    imsi: Option<String>,
    /// A PIN was sent and its answer never came (in this or an earlier session).
    pin_uncertain: bool,
    /// A job was taken and not yet answered.
    job_open: bool,
    next_keepalive: Option<Instant>,
    was_ready: bool,
    /// Messages the running sweep offered.
    swept: usize,
}

impl Session {
    /// A session on a freshly opened port: it starts with the ESC of the init sequence.
    /// `pin_uncertain` comes from the previous session of the same modem.
    pub fn new(config: Config, now: Instant, pin_uncertain: bool) -> Self {
        let mut session = Self {
            config,
            engine: Engine::new(),
            phase: Phase::Starting { recovery: false },
            ops: VecDeque::new(),
            inflight: None,
            wait: None,
            urcs: VecDeque::new(),
            actions: VecDeque::new(),
            memory: Memory::default(),
            selected: false,
            imei: None,
            imsi: None,
            pin_uncertain,
            job_open: false,
            next_keepalive: None,
            was_ready: false,
            swept: 0,
        };
        session.begin(false);
        session.step(now);
        session
    }

    /// One item read from the port.
    pub fn handle_item(&mut self, item: Item, now: Instant) {
        if self.phase == Phase::Stopped {
            return;
        }
        let draining = self.wait.is_some_and(|w| w.drain);
        match self.engine.handle(item) {
            Output::Done(reply) => {
                if let Some(inflight) = self.inflight.take() {
                    self.finish(inflight.op, Some(reply));
                }
            }
            Output::Prompt => {
                if let Some(inflight) = &mut self.inflight
                    && let Some((hex, timeout)) = inflight.pdu.take()
                {
                    self.actions
                        .push_back(Action::Write(command::pdu_body(&hex).into()));
                    inflight.deadline = now + timeout;
                }
            }
            Output::Urc(event) => self.urcs.push_back(event),
            Output::Unexpected(_) | Output::Overlong if draining => {}
            Output::Unexpected(line) => self.note(Note::Unexpected(line)),
            Output::Overlong => self.note(Note::Overlong),
            Output::None => {}
        }
        self.step(now);
    }

    /// The port is gone (end of file, a read or write error).
    pub fn handle_gone(&mut self, reason: String) {
        if self.phase != Phase::Stopped {
            self.stop(Stop::Lost(reason));
        }
    }

    /// Time passed: a command or a pause may have run out, a keepalive may be due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Stopped {
            return;
        }
        if self.wait.is_some_and(|w| now >= w.until) {
            self.wait = None;
        }
        if self.inflight.as_ref().is_some_and(|i| now >= i.deadline) {
            let inflight = self.inflight.take().expect("checked");
            if inflight.pdu.is_some() {
                // The prompt never came: make sure the modem is not waiting for text.
                self.actions
                    .push_back(Action::Write(Bytes::from_static(&[command::ESC])));
            }
            self.engine.abandon();
            self.note(Note::CommandTimeout);
            self.finish(inflight.op, None);
        }
        self.step(now);
    }

    /// Whether the session takes a job now (ready, and nothing else to do).
    pub fn wants_job(&self) -> bool {
        self.phase == Phase::Ready && self.idle() && self.ops.is_empty() && self.urcs.is_empty()
    }

    /// Takes a job; when [`Session::wants_job`] is false it is answered [`Error::Down`].
    pub fn handle_job(&mut self, job: Job, now: Instant) {
        if !self.wants_job() {
            self.actions.push_back(Action::Answer(Err(Error::Down)));
            return;
        }
        self.job_open = true;
        match job {
            Job::Send { hex, tpdu_len } => self.ops.push_back(Op::Send { hex, tpdu_len }),
            Job::Delete { slot, expect } => {
                self.ops.push_back(Op::Select(slot.mem.clone()));
                self.ops.push_back(Op::DeleteCheck { slot, expect });
            }
            Job::Ussd { argument, dcs } => match argument.as_deref().map(command::quoted) {
                None => self.ops.push_back(Op::Ussd("AT+CUSD=1".into())),
                Some(Some(q)) => self.ops.push_back(Op::Ussd(format!("AT+CUSD=1,{q},{dcs}"))),
                Some(None) => self.answer(Err(Error::Invalid("quote in a USSD string"))),
            },
            Job::UssdCancel => self.ops.push_back(Op::Ussd("AT+CUSD=2".into())),
        }
        self.step(now);
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Stopped {
            return None;
        }
        let command = self.inflight.as_ref().map(|i| i.deadline);
        let wait = self.wait.map(|w| w.until);
        let keepalive = self
            .next_keepalive
            .filter(|_| self.phase == Phase::Ready && self.idle());
        [command, wait, keepalive].into_iter().flatten().min()
    }

    /// The transport id this session runs for.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// A PIN was sent and its answer never came: the next session must not send it again.
    pub const fn pin_uncertain(&self) -> bool {
        self.pin_uncertain
    }

    /// The session got through init and its first sweep at least once.
    pub const fn was_ready(&self) -> bool {
        self.was_ready
    }

    const fn idle(&self) -> bool {
        self.inflight.is_none() && self.wait.is_none()
    }

    /// (Re)starts from the ESC: init, Ready, the sweep.
    fn begin(&mut self, recovery: bool) {
        self.phase = Phase::Starting { recovery };
        self.ops.clear();
        self.wait = None;
        self.ops.extend(ops::start(&self.config));
    }

    /// Runs ops until a command is in flight, a pause runs, or nothing is left; then URCs,
    /// then a due keepalive.
    fn step(&mut self, now: Instant) {
        loop {
            if self.phase == Phase::Stopped || !self.idle() {
                return;
            }
            if let Some(op) = self.ops.pop_front() {
                self.run(op, now);
                continue;
            }
            if self.phase != Phase::Ready {
                return;
            }
            if let Some(urc) = self.urcs.pop_front() {
                self.urc(urc);
                continue;
            }
            if self.next_keepalive.is_some_and(|t| now >= t) {
                self.next_keepalive = Some(now + self.config.keepalive);
                self.ops.extend(ops::keepalive());
                continue;
            }
            return;
        }
    }

    /// A URC, once nothing else runs: read what it announced, or pass it on.
    fn urc(&mut self, urc: engine::Event) {
        match urc {
            engine::Event::Stored { mem, index, .. } => {
                self.ops.push_back(Op::Select(mem.clone()));
                self.ops.push_back(Op::ReadSlot(Slot { mem, index }));
            }
            engine::Event::Routed { hex, .. } => self.emit(Event::Message { slot: None, hex }),
            engine::Event::Ussd(line) => self.emit(Event::Ussd(line)),
            engine::Event::Registration { kind, stat } => {
                self.emit(Event::Registration { kind, stat });
            }
            engine::Event::SimState(line) => self.note(Note::SimState(line)),
            engine::Event::Other(_) => {}
        }
    }

    /// Writes `line` (without its CR) and waits for its final result as `op`'s answer.
    fn command(&mut self, op: Op, line: &str, timeout: Duration, now: Instant) {
        let line = format!("{}\r", line.trim_end_matches(['\r', '\n']));
        self.engine.start(&line);
        self.actions.push_back(Action::Write(Bytes::from(line)));
        self.note(Note::Command);
        self.inflight = Some(Inflight {
            op,
            deadline: now + timeout,
            pdu: None,
        });
    }

    /// A command that got no answer in time (or whose answer is unusable in a way that means
    /// the same): a pending job gets [`Error::Timeout`]; while starting the session ends, while
    /// ready the ladder starts.
    fn timed_out(&mut self) {
        self.abort_job(Error::Timeout);
        match self.phase {
            Phase::Starting { .. } => self.stop(Stop::Lost("modem does not answer".into())),
            Phase::Ready => {
                self.note(Note::Recovering);
                self.begin(true);
            }
            Phase::Stopped => {}
        }
    }

    fn stop(&mut self, stop: Stop) {
        self.abort_job(Error::Timeout);
        if matches!(stop, Stop::Lost(_)) && self.phase == (Phase::Starting { recovery: true }) {
            self.note(Note::RecoveryFailed);
        }
        self.phase = Phase::Stopped;
        self.ops.clear();
        self.inflight = None;
        self.wait = None;
        self.actions.push_back(Action::Stop(stop));
    }

    fn abort_job(&mut self, error: Error) {
        if self.job_open {
            self.answer(Err(error));
        }
    }

    fn answer(&mut self, result: Result<Option<u8>, Error>) {
        self.job_open = false;
        self.actions.push_back(Action::Answer(result));
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Emit(event));
    }

    fn note(&mut self, note: Note) {
        self.actions.push_back(Action::Note(note));
    }

    /// Puts `ops` before everything queued.
    fn prepend(&mut self, ops: impl IntoIterator<Item = Op, IntoIter: DoubleEndedIterator>) {
        for op in ops.into_iter().rev() {
            self.ops.push_front(op);
        }
    }
}

#[cfg(test)]
mod tests;
