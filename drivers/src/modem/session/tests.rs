//! The modem session against a scripted modem, on virtual time: no port, no tokio.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Action, Job, Note, Session, Stop};
use crate::modem::codec::Item;
use crate::modem::{Config, Error, Event, Slot};

/// What the scripted modem answers to one write: lines (">" is the prompt), or None for
/// silence.
type Script = Box<dyn FnMut(&str) -> Option<Vec<String>>>;

/// A session, its virtual clock, and everything it did.
struct Rig {
    session: Session,
    start: Instant,
    now: Instant,
    modem: Script,
    /// Every write, with the virtual time it happened.
    writes: Vec<(Duration, String)>,
    /// Every other action, in order.
    actions: Vec<Action>,
}

fn lines(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| (*s).to_owned()).collect())
}

/// A healthy modem with a SIM that is ready, "SM" storage and an "SR" memory; `extra` answers
/// first where it returns Some.
fn modem(mut extra: impl FnMut(&str) -> Option<Option<Vec<String>>> + 'static) -> Script {
    Box::new(move |cmd| {
        if let Some(answer) = extra(cmd) {
            return answer;
        }
        match cmd {
            "\x1b\r" | "\x1b" => None,
            "AT+CGSN\r" => lines(&["351234567890123", "OK"]),
            "AT+CIMI\r" => lines(&["655011234567890", "OK"]),
            "AT+CPIN?\r" => lines(&["+CPIN: READY", "OK"]),
            "AT+CPMS?\r" => lines(&["+CPMS: \"SM\",0,30,\"SM\",0,30,\"SM\",0,30", "OK"]),
            "AT+CPMS=?\r" => lines(&["+CPMS: (\"SM\",\"SR\"),(\"SM\"),(\"SM\")", "OK"]),
            "AT+CSQ\r" => lines(&["+CSQ: 20,99", "OK"]),
            "AT+CREG?\r" => lines(&["+CREG: 0,1", "OK"]),
            _ => lines(&["OK"]),
        }
    })
}

fn config() -> Config {
    let mut c = Config::new("m1", "/dev/null");
    c.pin = Some("1234".into());
    c
}

impl Rig {
    fn new(config: Config, pin_uncertain: bool, modem: Script) -> Self {
        let start = Instant::now();
        let session = Session::new(config, start, pin_uncertain);
        let mut rig = Self {
            session,
            start,
            now: start,
            modem,
            writes: Vec::new(),
            actions: Vec::new(),
        };
        rig.pump();
        rig
    }

    /// Carries out the session's actions; writes go to the scripted modem, whose answer is
    /// fed back at once.
    fn pump(&mut self) {
        while let Some(action) = self.session.poll_action() {
            let Action::Write(bytes) = action else {
                self.actions.push(action);
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            self.writes.push((self.now - self.start, text.clone()));
            for line in (self.modem)(&text).unwrap_or_default() {
                let item = if line == ">" {
                    Item::Prompt
                } else {
                    Item::Line(Bytes::from(line))
                };
                self.session.handle_item(item, self.now);
            }
        }
    }

    /// Moves the clock to the session's next deadline (a bounded number of times) until
    /// `done` holds for what it did. Panics when it never does.
    fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        for _ in 0..200 {
            if done(self) {
                return;
            }
            let Some(t) = self.session.poll_timeout() else {
                break;
            };
            self.now = self.now.max(t);
            self.session.handle_timeout(self.now);
            self.pump();
        }
        assert!(
            done(self),
            "never: {what}; writes {:?}; actions {:?}",
            self.writes,
            self.actions
        );
    }

    fn ready(&mut self) {
        self.until("up", |r| r.has(|a| *a == Action::Note(Note::Up)));
        assert!(self.session.wants_job(), "{:?}", self.actions);
    }

    fn job(&mut self, job: Job) {
        self.session.handle_job(job, self.now);
        self.pump();
    }

    fn has(&self, pred: impl Fn(&Action) -> bool) -> bool {
        self.actions.iter().any(pred)
    }

    fn count(&self, prefix: &str) -> usize {
        self.writes
            .iter()
            .filter(|(_, w)| w.starts_with(prefix))
            .count()
    }

    fn stop(&self) -> Option<&Stop> {
        self.actions.iter().find_map(|a| match a {
            Action::Stop(s) => Some(s),
            _ => None,
        })
    }

    fn answers(&self) -> Vec<&Result<Option<u8>, Error>> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Answer(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn init_runs_in_order_after_the_drain_then_reports_ready_and_sweeps_both_memories() {
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| match cmd {
            "AT+CMGL=4\r" => Some(lines(&[
                "+CMGL: 2,1,,24",
                "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
                "OK",
            ])),
            _ => None,
        }),
    );
    // Only the ESC until the stale input has drained.
    assert_eq!(rig.writes, vec![(Duration::ZERO, "\x1b\r".to_owned())]);
    rig.ready();
    let sent: Vec<&str> = rig.writes.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(
        sent,
        [
            "\x1b\r",
            "AT\r",
            "ATE0\r",
            "ATV1\r",
            "AT+CMEE=1\r",
            "AT+CGSN\r",
            "AT+CPIN?\r",
            "AT+CIMI\r",
            "AT+CMGF=0\r",
            "AT+CSMS=0\r",
            "AT+CNMI=2,1,0,2,0\r",
            "AT+CPMS?\r",
            "AT+CPMS=?\r",
            "AT+CMGL=4\r",
            "AT+CPMS=\"SR\"\r",
            "AT+CMGL=4\r",
            "AT+CPMS=\"SM\"\r",
        ]
    );
    assert_eq!(
        rig.writes[1].0,
        Duration::from_millis(200),
        "AT after the drain"
    );
    let ready = Event::Ready {
        imei: Some("351234567890123".into()),
        imsi: Some("655011234567890".into()),
    };
    assert!(rig.has(|a| *a == Action::Emit(ready.clone())));
    let offered: Vec<Slot> = rig
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Offer(Event::Message { slot, .. }) => slot.clone(),
            _ => None,
        })
        .collect();
    let slot = |mem: &str| Slot {
        mem: mem.into(),
        index: 2,
    };
    assert_eq!(offered, [slot("SM"), slot("SR")]);
    assert!(rig.has(|a| *a == Action::Note(Note::SweepFound(2))));
    assert!(rig.session.was_ready());
}

#[test]
fn the_pin_is_entered_once_and_the_sim_polled_until_ready() {
    let mut polls = 0;
    let mut rig = Rig::new(
        config(),
        false,
        modem(move |cmd| match cmd {
            "AT+CPIN?\r" => {
                polls += 1;
                Some(if polls < 3 {
                    lines(&["+CPIN: SIM PIN", "OK"])
                } else {
                    lines(&["+CPIN: READY", "OK"])
                })
            }
            _ => None,
        }),
    );
    rig.ready();
    assert_eq!(rig.count("AT+CPIN=\"1234\""), 1, "{:?}", rig.writes);
    assert_eq!(rig.count("AT+CPIN?"), 3);
    let at = |n: usize| {
        rig.writes
            .iter()
            .filter(|(_, w)| w.starts_with("AT+CPIN"))
            .nth(n)
            .map(|(t, _)| *t)
            .expect("written")
    };
    assert!(
        at(2) - at(1) >= Duration::from_millis(500),
        "a pause after the PIN"
    );
    assert!(!rig.session.pin_uncertain());
}

#[test]
fn a_rejected_pin_is_fatal_and_never_retried() {
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| match cmd {
            "AT+CPIN?\r" => Some(lines(&["+CPIN: SIM PIN", "OK"])),
            "AT+CPIN=\"1234\"\r" => Some(lines(&["+CME ERROR: 16"])),
            _ => None,
        }),
    );
    rig.until("a stop", |r| r.stop().is_some());
    assert!(matches!(rig.stop(), Some(Stop::Fatal(r)) if r.contains("rejected the PIN")));
    assert_eq!(rig.count("AT+CPIN=\""), 1);
    assert_eq!(
        rig.session.poll_timeout(),
        None,
        "a stopped session wants nothing"
    );
}

#[test]
fn a_pin_whose_answer_never_came_is_not_entered_again_by_the_next_session() {
    let script = || {
        modem(|cmd| match cmd {
            "AT+CPIN?\r" => Some(lines(&["+CPIN: SIM PIN", "OK"])),
            "AT+CPIN=\"1234\"\r" => Some(None),
            _ => None,
        })
    };
    let mut first = Rig::new(config(), false, script());
    first.until("a stop", |r| r.stop().is_some());
    assert_eq!(
        first.stop(),
        Some(&Stop::Lost("modem does not answer".into()))
    );
    assert!(first.session.pin_uncertain());
    let mut second = Rig::new(config(), true, script());
    second.until("a stop", |r| r.stop().is_some());
    assert!(matches!(second.stop(), Some(Stop::Fatal(r)) if r.contains("never came")));
    assert_eq!(second.count("AT+CPIN=\""), 0, "{:?}", second.writes);
}

#[test]
fn a_modem_silent_to_three_ats_is_lost() {
    let mut rig = Rig::new(config(), false, modem(|_| Some(None)));
    rig.until("a stop", |r| r.stop().is_some());
    assert_eq!(rig.stop(), Some(&Stop::Lost("no OK to AT".into())));
    let ats: Vec<Duration> = rig
        .writes
        .iter()
        .filter(|(_, w)| w == "AT\r")
        .map(|(t, _)| *t)
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(ats, [ms(200), ms(2200), ms(4200)], "three tries of 2 s");
    assert!(!rig.has(|a| *a == Action::Note(Note::RecoveryFailed)));
}

#[test]
fn cnmi_falls_back_in_order_and_required_refusals_end_the_attempt() {
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| match cmd {
            "AT+CNMI=2,1,0,2,0\r" => Some(lines(&["ERROR"])),
            _ => None,
        }),
    );
    rig.ready();
    assert!(rig.has(|a| *a == Action::Note(Note::Cnmi(Some("2,1,0,1,0".into())))));
    let mut refused = Rig::new(
        config(),
        false,
        modem(|cmd| (cmd == "AT+CMGF=0\r").then(|| lines(&["ERROR"]))),
    );
    refused.until("a stop", |r| r.stop().is_some());
    assert_eq!(
        refused.stop(),
        Some(&Stop::Lost("modem refused AT+CMGF=0".into()))
    );
}

#[test]
fn a_send_writes_the_pdu_at_the_prompt_and_a_cmti_inside_it_is_read_after() {
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| match cmd {
            "AT+CMGS=13\r" => Some(lines(&[">"])),
            "0011000B917238880900F10000AA01C8\x1a" => {
                Some(lines(&["+CMTI: \"SM\",3", "+CMGS: 42", "OK"]))
            }
            "AT+CMGR=3\r" => Some(lines(&[
                "+CMGR: 0,,24",
                "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
                "OK",
            ])),
            _ => None,
        }),
    );
    rig.ready();
    rig.job(Job::Send {
        hex: "0011000B917238880900F10000AA01C8".into(),
        tpdu_len: 13,
    });
    assert_eq!(rig.answers(), [&Ok(Some(42))]);
    let last: Vec<&str> = rig
        .writes
        .iter()
        .rev()
        .take(2)
        .map(|(_, w)| w.as_str())
        .collect();
    assert_eq!(
        last,
        ["AT+CMGR=3\r", "0011000B917238880900F10000AA01C8\x1a"]
    );
    assert!(
        rig.has(
            |a| matches!(a, Action::Offer(Event::Message { slot: Some(s), .. }) if s.index == 3)
        )
    );
    assert!(rig.session.wants_job());
}

#[test]
fn a_prompt_that_never_comes_is_escaped_answered_timeout_and_the_ladder_brings_the_modem_back() {
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| cmd.starts_with("AT+CMGS=").then_some(None)),
    );
    rig.ready();
    let before = rig.writes.len();
    rig.job(Job::Send {
        hex: "00".into(),
        tpdu_len: 1,
    });
    rig.until("the ladder done", |r| {
        r.actions
            .iter()
            .filter(|a| matches!(a, Action::Emit(Event::Ready { .. })))
            .count()
            == 2
            && r.session.wants_job()
    });
    assert_eq!(rig.answers(), [&Err(Error::Timeout)]);
    let after: Vec<&str> = rig.writes[before..]
        .iter()
        .take(3)
        .map(|(_, w)| w.as_str())
        .collect();
    assert_eq!(
        after,
        ["AT+CMGS=1\r", "\x1b", "\x1b\r"],
        "ESC for the prompt, then the ladder"
    );
    assert_eq!(
        rig.writes[before + 1].0 - rig.writes[before].0,
        Duration::from_secs(10)
    );
    assert!(rig.has(|a| *a == Action::Note(Note::Recovering)));
    assert!(rig.stop().is_none());
}

#[test]
fn a_ladder_that_fails_ends_the_session_for_a_reopen() {
    // Silent from the USSD on, through the whole ladder.
    let dead = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = dead.clone();
    let mut rig = Rig::new(
        config(),
        false,
        modem(move |cmd| {
            if cmd.starts_with("AT+CUSD=1") {
                flag.set(true);
            }
            flag.get().then_some(None)
        }),
    );
    rig.ready();
    rig.job(Job::Ussd {
        argument: Some("*100#".into()),
        dcs: 15,
    });
    rig.until("a stop", |r| r.stop().is_some());
    assert_eq!(rig.answers(), [&Err(Error::Timeout)]);
    assert!(rig.has(|a| *a == Action::Note(Note::Recovering)));
    assert!(rig.has(|a| *a == Action::Note(Note::RecoveryFailed)));
    assert!(matches!(rig.stop(), Some(Stop::Lost(_))));
    assert!(dead.get());
}

#[test]
fn keepalive_reports_signal_registration_and_storage_and_sweeps_what_no_urc_announced() {
    let mut rig = Rig::new(config(), false, modem(|_| None));
    rig.ready();
    let ready_at = rig.now;
    // Storage now holds a message nobody announced.
    rig.modem = modem(|cmd| {
        (cmd == "AT+CPMS?\r").then(|| lines(&["+CPMS: \"SM\",1,30,\"SM\",1,30,\"SM\",1,30", "OK"]))
    });
    let sweeps = rig.count("AT+CMGL=4");
    rig.until("a keepalive", |r| {
        r.count("AT+CSQ") == 1 && r.session.wants_job()
    });
    assert_eq!(rig.now - ready_at, Duration::from_secs(30));
    assert!(rig.has(|a| *a == Action::Emit(Event::Signal { rssi: 20 })));
    assert!(rig.has(|a| matches!(a, Action::Emit(Event::Registration { stat: 1, .. }))));
    assert!(rig.has(|a| *a == Action::Emit(Event::Storage { used: 1, total: 30 })));
    assert_eq!(
        rig.count("AT+CMGL=4"),
        sweeps + 2,
        "both memories swept again"
    );
}

#[test]
fn a_delete_removes_the_slot_only_while_it_holds_the_message() {
    const PDU: &str = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37";
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| match cmd {
            "AT+CMGR=4\r" => Some(lines(&["+CMGR: 0,,24", PDU, "OK"])),
            "AT+CMGR=5\r" => Some(lines(&["OK"])),
            _ => None,
        }),
    );
    rig.ready();
    let slot = |index| Slot {
        mem: "SR".into(),
        index,
    };
    let expect = Some(Bytes::from_static(PDU.as_bytes()));
    rig.job(Job::Delete {
        slot: slot(4),
        expect: expect.clone(),
    });
    rig.job(Job::Delete {
        slot: slot(5),
        expect,
    });
    assert_eq!(rig.answers(), [&Ok(None), &Ok(None)]);
    assert_eq!(rig.count("AT+CMGD=4"), 1);
    assert_eq!(rig.count("AT+CMGD=5"), 0, "the slot held another message");
    assert!(rig.has(|a| *a == Action::Note(Note::DeleteSkipped { index: 5 })));
    assert_eq!(
        rig.count("AT+CPMS=\"SR\""),
        2,
        "once by the sweep, once for the deletes"
    );
}

#[test]
fn a_port_gone_during_a_job_answers_it_and_stops_once() {
    let mut rig = Rig::new(
        config(),
        false,
        modem(|cmd| cmd.starts_with("AT+CUSD").then_some(None)),
    );
    rig.ready();
    rig.job(Job::UssdCancel);
    rig.session.handle_gone("read: EIO".into());
    rig.session.handle_gone("end of file".into());
    rig.pump();
    assert_eq!(rig.answers(), [&Err(Error::Timeout)]);
    assert_eq!(rig.stop(), Some(&Stop::Lost("read: EIO".into())));
    assert_eq!(
        rig.actions
            .iter()
            .filter(|a| matches!(a, Action::Stop(_)))
            .count(),
        1
    );
    rig.session.handle_job(Job::UssdCancel, rig.now);
    assert_eq!(
        rig.session.poll_action(),
        Some(Action::Answer(Err(Error::Down)))
    );
}
