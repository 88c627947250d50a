//! The modem's message storage: which memory commands act on, reading a slot, the sweep, and
//! deleting a slot only while it still holds the message the transport handled.
//!
//! Reference: TS 27.005 §3.2.2 (+CPMS: the first memory is the one +CMGR/+CMGL/+CMGD use),
//! §3.4.1 (+CMTI/+CDSI name the memory); reference/modem.md §0 items 2–3 (sweep at start,
//! delete only after the downstream owns it), §2.2 (status reports often live in "SR").
//!
//! A `+CMTI`/`+CDSI` names its memory; reads and deletes select it first (`AT+CPMS="<mem>"`).
//! The sweep lists the main memory and, when the modem has one, the "SR" memory of status
//! reports. A delete carries the PDU the transport handled: the slot is read again and
//! deleted only if it still holds that PDU, since a modem reuses a freed index at once and a
//! late, stale request must not delete a new message.

use bytes::Bytes;
use metrics::counter;
use richmond_codecs::at::fields;
use tracing::{debug, info, warn};

use super::Session;
use super::link::{Fail, check};
use crate::modem::engine;
use crate::modem::{Error, Event, Slot};

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

impl Session<'_> {
    /// Learns the memories after init (`AT+CPMS?`, `AT+CPMS=?`); every step is optional.
    pub(super) async fn learn_memories(&mut self) -> Result<(), Fail> {
        let mut memory = Memory {
            main: self.config.storage.clone().unwrap_or_default(),
            current: self.config.storage.clone(),
            reports: false,
        };
        if let Some(reply) = self.run_ok("AT+CPMS?").await? {
            let first = reply
                .line("+CPMS:")
                .map(|l| fields::split(&l[6..]))
                .and_then(|f| match f.first() {
                    Some(fields::Field::Quoted(m)) => Some(String::from_utf8_lossy(m).into_owned()),
                    _ => None,
                });
            if let Some(m) = first {
                if memory.main.is_empty() {
                    memory.main.clone_from(&m);
                }
                memory.current = Some(m);
            }
        }
        if memory.main.is_empty() {
            memory.main = "SM".into();
        }
        if let Some(reply) = self.run_ok("AT+CPMS=?").await? {
            memory.reports = reply
                .line("+CPMS:")
                .is_some_and(|l| l.windows(4).any(|w| w == b"\"SR\""));
        }
        self.memory = memory;
        Ok(())
    }

    /// Makes `mem` the memory commands act on. False when the modem refuses it.
    async fn select(&mut self, mem: &str) -> Result<bool, Fail> {
        if self.memory.current.as_deref() == Some(mem) {
            return Ok(true);
        }
        let ok = self.run_ok(&format!("AT+CPMS=\"{mem}\"")).await?.is_some();
        if ok {
            self.memory.current = Some(mem.to_owned());
        } else {
            warn!(message = "Modem refused to select a message memory.", transport = %self.config.name, mem);
        }
        Ok(ok)
    }

    /// `AT+CMGR=<index>` and the message as an event (an empty slot is skipped).
    pub(super) async fn read_slot(&mut self, slot: Slot) -> Result<(), Fail> {
        if !self.select(&slot.mem).await? {
            return Ok(());
        }
        let reply = self
            .link
            .exec(
                &format!("AT+CMGR={}\r", slot.index),
                None,
                self.config.command_timeout,
            )
            .await?;
        match (check(&reply), engine::read_pdu(&reply.lines)) {
            (Ok(()), Some(hex)) => self.offer(slot, hex),
            (r, _) => {
                debug!(message = "Nothing to read in slot.", transport = %self.config.name, index = slot.index, result = ?r);
            }
        }
        Ok(())
    }

    /// Deletes `slot` if it still holds `expect` (always, without `expect`). `Ok(Ok(()))` also
    /// when the slot was empty or held another message (nothing of ours to delete).
    pub(super) async fn delete(
        &mut self,
        slot: &Slot,
        expect: Option<&Bytes>,
    ) -> Result<Result<(), Error>, Fail> {
        if !self.select(&slot.mem).await? {
            return Ok(Err(Error::Invalid("the modem refused the message memory")));
        }
        let timeout = self.config.command_timeout;
        if let Some(expect) = expect {
            let reply = self
                .link
                .exec(&format!("AT+CMGR={}\r", slot.index), None, timeout)
                .await?;
            let now = engine::read_pdu(&reply.lines);
            if !now.as_ref().is_some_and(|p| p.eq_ignore_ascii_case(expect)) {
                counter!("richmond_modem_delete_skipped_total", "transport" => self.config.name.clone())
                    .increment(1);
                debug!(message = "Slot no longer holds the message; not deleted.", transport = %self.config.name, index = slot.index);
                return Ok(Ok(()));
            }
        }
        let reply = self
            .link
            .exec(&format!("AT+CMGD={}\r", slot.index), None, timeout)
            .await?;
        Ok(check(&reply))
    }

    /// `AT+CMGL=4` on the main memory (and "SR"): every stored message that was received
    /// (stat 0 or 1) is offered to the transport.
    pub(super) async fn sweep(&mut self) -> Result<(), Fail> {
        let mut mems = vec![self.memory.main.clone()];
        if self.memory.reports && self.memory.main != "SR" {
            mems.push("SR".into());
        }
        let mut found = 0;
        for mem in mems {
            if !self.select(&mem).await? {
                continue;
            }
            let reply = self
                .link
                .exec("AT+CMGL=4\r", None, self.config.command_timeout * 4)
                .await?;
            if check(&reply).is_err() {
                warn!(message = "Storage sweep refused.", transport = %self.config.name, mem, result = ?reply.result);
                continue;
            }
            for (listed, hex) in engine::listed(&reply.lines) {
                if listed.stat > 1 {
                    continue; // a stored SUBMIT: not ours to read or delete
                }
                found += 1;
                self.offer(
                    Slot {
                        mem: mem.clone(),
                        index: listed.index,
                    },
                    hex,
                );
            }
        }
        let main = self.memory.main.clone();
        self.select(&main).await?;
        if found > 0 {
            info!(message = "Storage sweep found messages.", transport = %self.config.name, messages = found);
        }
        Ok(())
    }

    /// Passes on a stored message without waiting: when the transport is behind, the message
    /// stays in storage and the next sweep offers it again. The task never blocks here, so a
    /// transport waiting on [`crate::modem::Handle::delete`] cannot deadlock with it.
    fn offer(&self, slot: Slot, hex: Bytes) {
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
}
