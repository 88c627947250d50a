//! The ops of a modem session: what each writes, and what its answer means.
//!
//! Reference: reference/modem.md §2.4 ("a reasonable sequence for us"), §2.2, §2.9; TS 27.005
//! §3.2.2 (+CPMS: the first memory is the one +CMGR/+CMGL/+CMGD use), §3.4.1 (+CMTI/+CDSI name
//! the memory).
//!
//! Optional steps tolerate `ERROR` (not every modem knows `AT+CSMS` or gives its IMSI);
//! required ones (`ATE0`, `AT+CMGF=0`, the configured storage, the operator's commands) end
//! the attempt. A SIM that wants its PIN gets the configured PIN once: a rejection is fatal,
//! because three wrong tries lock the SIM behind its PUK. Reads and deletes select the memory
//! the URC named first; a delete reads the slot again and removes it only while it still holds
//! the PDU the transport handled (a modem reuses a freed index at once).

use std::time::{Duration, Instant};

use bytes::Bytes;
use richmond_codecs::at::{command, fields};

use super::{Action, Note, Phase, Session, Stop, Wait};
use crate::modem::engine::{self, Reply};
use crate::modem::{Config, Error, Event, Final, Registration, Slot};

/// Time to read and discard stale input after the ESC that starts init.
const DRAIN: Duration = Duration::from_millis(200);
/// Time for each `AT` of the sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// `AT` tries before the modem counts as not answering.
const SYNC_TRIES: u8 = 3;
/// How often `AT+CPIN?` is asked while the SIM gets ready after its PIN.
const SIM_READY_POLLS: u32 = 10;
/// The pause between two `AT+CPIN?`.
const SIM_POLL_PAUSE: Duration = Duration::from_millis(500);

/// What the session knows of the modem's memories.
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Where received SMS are stored (configured, else read from `AT+CPMS?`, else "SM").
    main: String,
    /// The memory +CMGR/+CMGL/+CMGD act on now, when known.
    current: Option<String>,
    /// The modem lists an "SR" memory for status reports.
    reports: bool,
}

/// Which identity an op reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Identity {
    Imei,
    Imsi,
}

/// One step of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// ESC + CR (leave a prompt a previous run left open), then drain stale input.
    Escape,
    /// `AT` until OK.
    Sync {
        left: u8,
    },
    /// A command that must answer OK.
    Required(String),
    /// A command whose refusal is fine.
    Optional(String),
    Identity(Identity),
    /// `AT+CPIN?`; `sent` once the PIN went in this session.
    PinPoll {
        left: u32,
        sent: bool,
    },
    /// `AT+CPIN="…"`, once.
    PinEnter,
    /// Nothing for a while.
    Pause(Duration),
    /// The configured storage for all three memories.
    Storage(String),
    /// The `AT+CNMI` parameter set at this index, then the next on refusal.
    Cnmi(usize),
    /// `AT+CPMS?`: the memory in use.
    LearnMain,
    /// `AT+CPMS=?`: whether there is an "SR" memory.
    LearnReports,
    /// Init done: say so.
    Ready,
    /// The sweep of every memory, expanded when it runs.
    Sweep,
    /// Make this memory the one commands act on.
    Select(String),
    /// `AT+CMGL=4` on the selected memory.
    List(String),
    SweepEnd,
    /// The first sweep done: the session is up.
    Started,
    /// `AT+CMGR` of a slot a URC named.
    ReadSlot(Slot),
    Csq,
    Creg,
    CpmsQuery,
    Send {
        hex: String,
        tpdu_len: usize,
    },
    DeleteCheck {
        slot: Slot,
        expect: Option<Bytes>,
    },
    DeleteDo(Slot),
    Ussd(String),
}

/// Init, Ready, the sweep (modem.md §2.4).
pub(super) fn start(config: &Config) -> Vec<Op> {
    let mut ops = vec![
        Op::Escape,
        Op::Sync { left: SYNC_TRIES },
        Op::Required("ATE0".into()),
        Op::Optional("ATV1".into()),
        Op::Optional("AT+CMEE=1".into()),
        Op::Identity(Identity::Imei),
        Op::PinPoll {
            left: SIM_READY_POLLS,
            sent: false,
        },
        Op::Identity(Identity::Imsi),
        Op::Required("AT+CMGF=0".into()),
        Op::Optional("AT+CSMS=0".into()),
    ];
    if let Some(mem) = &config.storage {
        ops.push(Op::Storage(mem.clone()));
    }
    ops.extend([Op::Cnmi(0), Op::LearnMain, Op::LearnReports]);
    ops.extend(config.init_commands.iter().cloned().map(Op::Required));
    ops.extend([Op::Ready, Op::Sweep, Op::Started]);
    ops
}

/// Signal, registration and storage (modem.md §2.9).
pub(super) fn keepalive() -> [Op; 3] {
    [Op::Csq, Op::Creg, Op::CpmsQuery]
}

/// Maps a finished reply to Ok or the request error.
fn check(reply: &Reply) -> Result<(), Error> {
    match reply.result {
        Final::Ok => Ok(()),
        Final::CmsError(code) => Err(Error::Cms(code)),
        other => Err(Error::Rejected(other)),
    }
}

impl Session {
    /// Starts `op`: a command, a pause, or an action that needs no modem.
    pub(super) fn run(&mut self, op: Op, now: Instant) {
        let timeout = self.config.command_timeout;
        match op {
            Op::Escape => {
                self.actions
                    .push_back(Action::Write(Bytes::from_static(&[command::ESC, b'\r'])));
                self.wait = Some(Wait {
                    until: now + DRAIN,
                    drain: true,
                });
            }
            Op::Sync { .. } => self.command(op, "AT", SYNC_TIMEOUT, now),
            Op::Required(ref line) | Op::Optional(ref line) => {
                let line = line.clone();
                self.command(op, &line, timeout, now);
            }
            Op::Identity(Identity::Imei) => self.command(op, "AT+CGSN", timeout, now),
            Op::Identity(Identity::Imsi) => self.command(op, "AT+CIMI", timeout, now),
            Op::PinPoll { left: 0, .. } => self.stop(Stop::Lost("SIM not ready".into())),
            Op::PinPoll { .. } => self.command(op, "AT+CPIN?", timeout, now),
            Op::PinEnter => {
                let Some(pin) = self.config.pin.clone() else {
                    return self.stop(Stop::Fatal(
                        "the SIM asks for a PIN and none is configured".into(),
                    ));
                };
                let Some(q) = command::quoted(&pin) else {
                    return self.stop(Stop::Fatal("the configured PIN is not usable".into()));
                };
                // Until the modem answers, this try may have counted: no second one.
                self.pin_uncertain = true;
                self.command(op, &format!("AT+CPIN={q}"), timeout, now);
            }
            Op::Pause(d) => {
                self.wait = Some(Wait {
                    until: now + d,
                    drain: false,
                });
            }
            Op::Storage(ref mem) => {
                let line = format!("AT+CPMS=\"{mem}\",\"{mem}\",\"{mem}\"");
                self.command(op, &line, timeout, now);
            }
            Op::Cnmi(i) => match self.config.cnmi.get(i) {
                Some(params) => {
                    let line = format!("AT+CNMI={params}");
                    self.command(op, &line, timeout, now);
                }
                None => self.note(Note::Cnmi(None)),
            },
            Op::LearnMain => {
                self.memory = Memory {
                    main: self.config.storage.clone().unwrap_or_default(),
                    current: self.config.storage.clone(),
                    reports: false,
                };
                self.command(op, "AT+CPMS?", timeout, now);
            }
            Op::LearnReports => self.command(op, "AT+CPMS=?", timeout, now),
            Op::Ready => {
                let (imei, imsi) = (self.imei.clone(), self.imsi.clone());
                self.note(Note::Ready {
                    imei: imei.clone(),
                    imsi: imsi.clone(),
                });
                self.emit(Event::Ready { imei, imsi });
            }
            Op::Sweep => {
                self.swept = 0;
                let main = self.memory.main.clone();
                let mut ops = vec![Op::Select(main.clone()), Op::List(main.clone())];
                if self.memory.reports && main != "SR" {
                    ops.extend([Op::Select("SR".into()), Op::List("SR".into())]);
                }
                ops.extend([Op::Select(main), Op::SweepEnd]);
                self.prepend(ops);
            }
            Op::Select(ref mem) => {
                if self.memory.current.as_deref() == Some(mem) {
                    self.selected = true;
                } else {
                    let line = format!("AT+CPMS=\"{mem}\"");
                    self.command(op, &line, timeout, now);
                }
            }
            Op::List(_) if !self.selected => {}
            Op::List(_) => self.command(op, "AT+CMGL=4", timeout * 4, now),
            Op::SweepEnd => {
                if self.swept > 0 {
                    self.note(Note::SweepFound(self.swept));
                }
            }
            Op::Started => {
                self.phase = Phase::Ready;
                if !self.was_ready {
                    self.was_ready = true;
                    self.note(Note::Up);
                }
                self.next_keepalive
                    .get_or_insert(now + self.config.keepalive);
            }
            Op::ReadSlot(_) if !self.selected => {}
            Op::ReadSlot(ref slot) => {
                let line = format!("AT+CMGR={}", slot.index);
                self.command(op, &line, timeout, now);
            }
            Op::Csq => self.command(op, "AT+CSQ", timeout, now),
            Op::Creg => self.command(op, "AT+CREG?", timeout, now),
            Op::CpmsQuery => self.command(op, "AT+CPMS?", timeout, now),
            Op::Send { ref hex, tpdu_len } => {
                let pdu = Some((hex.clone(), self.config.send_timeout));
                self.command(
                    op,
                    &command::cmgs(tpdu_len),
                    self.config.prompt_timeout,
                    now,
                );
                if let Some(inflight) = &mut self.inflight {
                    inflight.pdu = pdu;
                }
            }
            Op::DeleteCheck { .. } if !self.selected => {
                self.answer(Err(Error::Invalid("the modem refused the message memory")));
            }
            Op::DeleteCheck { slot, expect: None } => self.run(Op::DeleteDo(slot), now),
            Op::DeleteCheck { ref slot, .. } => {
                let line = format!("AT+CMGR={}", slot.index);
                self.command(op, &line, timeout, now);
            }
            Op::DeleteDo(ref slot) => {
                let line = format!("AT+CMGD={}", slot.index);
                self.command(op, &line, timeout, now);
            }
            Op::Ussd(ref line) => {
                let line = line.clone();
                self.command(op, &line, timeout, now);
            }
        }
    }

    /// The answer to `op`'s command; None when it ran out of time.
    pub(super) fn finish(&mut self, op: Op, reply: Option<Reply>) {
        let Some(reply) = reply else {
            return match op {
                Op::Sync { left } if left > 1 => self.prepend([Op::Sync { left: left - 1 }]),
                Op::Sync { .. } => self.stop(Stop::Lost("no OK to AT".into())),
                _ => self.timed_out(),
            };
        };
        let ok = check(&reply).is_ok();
        match op {
            Op::Sync { left } if !ok && left > 1 => self.prepend([Op::Sync { left: left - 1 }]),
            Op::Sync { .. } if !ok => self.stop(Stop::Lost("no OK to AT".into())),
            Op::Required(line) if !ok => self.stop(Stop::Lost(format!("modem refused {line}"))),
            Op::Storage(mem) if !ok => self.stop(Stop::Lost(format!(
                "modem refused AT+CPMS=\"{mem}\",\"{mem}\",\"{mem}\""
            ))),
            Op::Storage(_) => {
                self.storage(reply.line("+CPMS:"));
            }
            Op::Identity(which) => {
                let value = reply.lines.first().filter(|_| ok).map(|l| {
                    let text = String::from_utf8_lossy(l);
                    text.trim_start_matches("+CGSN:").trim().to_owned()
                });
                match which {
                    Identity::Imei => self.imei = value,
                    Identity::Imsi => self.imsi = value,
                }
            }
            Op::PinPoll { left, sent } => self.pin_state(&reply, left, sent),
            Op::PinEnter if !ok => self.stop(Stop::Fatal(
                "the SIM rejected the PIN; not retrying (a wrong PIN three times locks the SIM)"
                    .into(),
            )),
            // Accepted: the same PIN may be entered again after a modem reset.
            Op::PinEnter => self.pin_uncertain = false,
            Op::Cnmi(i) if ok => {
                let params = self.config.cnmi.get(i).cloned();
                self.note(Note::Cnmi(params));
            }
            Op::Cnmi(i) => self.prepend([Op::Cnmi(i + 1)]),
            Op::LearnMain => {
                if ok && let Some(m) = first_memory(&reply) {
                    if self.memory.main.is_empty() {
                        self.memory.main.clone_from(&m);
                    }
                    self.memory.current = Some(m);
                }
                if self.memory.main.is_empty() {
                    self.memory.main = "SM".into();
                }
            }
            Op::LearnReports => {
                self.memory.reports = ok
                    && reply
                        .line("+CPMS:")
                        .is_some_and(|l| l.windows(4).any(|w| w == b"\"SR\""));
            }
            Op::Select(mem) => {
                self.selected = ok;
                if ok {
                    self.memory.current = Some(mem);
                } else {
                    self.note(Note::MemoryRefused(mem));
                }
            }
            Op::List(mem) if !ok => self.note(Note::SweepRefused {
                mem,
                result: reply.result,
            }),
            Op::List(mem) => self.listed(&mem, &reply),
            Op::ReadSlot(slot) => match engine::read_pdu(&reply.lines).filter(|_| ok) {
                Some(hex) => self.offer(slot, hex),
                None => self.note(Note::SlotEmpty {
                    index: slot.index,
                    result: reply.result,
                }),
            },
            Op::Csq => {
                if ok && let Some(Ok((rssi, _))) = reply.line("+CSQ:").map(fields::csq) {
                    self.emit(Event::Signal { rssi });
                }
            }
            Op::Creg => {
                if ok && let Some(Ok(stat)) = reply.line("+CREG:").map(fields::registration_reply) {
                    let kind = Registration::Cs;
                    self.emit(Event::Registration { kind, stat });
                }
            }
            Op::CpmsQuery => {
                if ok
                    && let Some((used, _)) = self.storage(reply.line("+CPMS:"))
                    && used > 0
                {
                    self.prepend([Op::Sweep]);
                }
            }
            Op::Send { .. } => {
                let answer = check(&reply).and_then(|()| {
                    reply
                        .line("+CMGS:")
                        .and_then(|l| fields::cmgs(l).ok())
                        .map(Some)
                        .ok_or(Error::Rejected(Final::Ok))
                });
                self.answer(answer);
            }
            Op::DeleteCheck { slot, expect } => {
                let now_held = engine::read_pdu(&reply.lines);
                let ours = expect.is_some_and(|e| {
                    now_held
                        .as_ref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(&e))
                });
                if ours {
                    self.prepend([Op::DeleteDo(slot)]);
                } else {
                    self.note(Note::DeleteSkipped { index: slot.index });
                    self.answer(Ok(None));
                }
            }
            Op::DeleteDo(_) | Op::Ussd(_) => self.answer(check(&reply).map(|()| None)),
            Op::Sync { .. }
            | Op::Required(_)
            | Op::Optional(_)
            | Op::Escape
            | Op::Pause(_)
            | Op::Ready
            | Op::Sweep
            | Op::SweepEnd
            | Op::Started => {}
        }
    }

    /// `+CPIN: <state>`: ready, the PIN once, or wait and ask again.
    fn pin_state(&mut self, reply: &Reply, left: u32, sent: bool) {
        let state = reply
            .line("+CPIN:")
            .and_then(|l| fields::cpin(l).ok())
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let again = |sent| {
            [
                Op::Pause(SIM_POLL_PAUSE),
                Op::PinPoll {
                    left: left - 1,
                    sent,
                },
            ]
        };
        match state.as_deref() {
            Some("READY") => {}
            // Accepted; the SIM is getting ready.
            Some("SIM PIN") if sent => self.prepend(again(true)),
            Some("SIM PIN") if self.pin_uncertain => self.stop(Stop::Fatal(
                "the PIN was sent before and its answer never came; not entering it again".into(),
            )),
            Some("SIM PIN") => {
                let [pause, poll] = again(true);
                self.prepend([Op::PinEnter, pause, poll]);
            }
            None => self.prepend(again(sent)),
            Some(other) => self.stop(Stop::Fatal(format!("the SIM wants {other}"))),
        }
    }

    /// Offers every received message of a `+CMGL` answer.
    fn listed(&mut self, mem: &str, reply: &Reply) {
        for (listed, hex) in engine::listed(&reply.lines) {
            if listed.stat > 1 {
                continue; // a stored SUBMIT: not ours to read or delete
            }
            self.swept += 1;
            let slot = Slot {
                mem: mem.to_owned(),
                index: listed.index,
            };
            self.offer(slot, hex);
        }
    }

    fn offer(&mut self, slot: Slot, hex: Bytes) {
        let event = Event::Message {
            slot: Some(slot),
            hex,
        };
        self.actions.push_back(Action::Offer(event));
    }

    /// Storage use from a `+CPMS:` line, passed on as an event.
    fn storage(&mut self, line: Option<&[u8]>) -> Option<(u32, u32)> {
        let (used, total) = fields::cpms(line?).ok()?;
        self.emit(Event::Storage { used, total });
        Some((used, total))
    }
}

/// The first memory of an `AT+CPMS?` answer.
fn first_memory(reply: &Reply) -> Option<String> {
    let line = reply.line("+CPMS:")?;
    match fields::split(&line[6..]).first() {
        Some(fields::Field::Quoted(m)) => Some(String::from_utf8_lossy(m).into_owned()),
        _ => None,
    }
}
