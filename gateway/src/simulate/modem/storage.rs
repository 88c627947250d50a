//! A simulated message storage: a fixed number of slots, indices from 1, and the messages
//! the network holds back while it is full. The modem has one for the SIM ("SM") and, with
//! `--report-memory SR`, one for status reports ("SR"; its network queue stays empty).
//!
//! Reference: TS 27.005 §3.1 (`<stat>`: 0 REC UNREAD, 1 REC READ), §3.2.2 (+CPMS),
//! §3.4.4 (+CMGD delete flags), §3.5.2–§3.5.4 (+CMGL, +CMGR). reference/modem.md §2.2.
//!
//! Not handled here: other memories ("ME", "BM"), text mode, stored SUBMITs (+CMGW).

use std::collections::VecDeque;

/// `<stat>` of a received message not read yet.
pub(super) const REC_UNREAD: u8 = 0;
/// `<stat>` of a received message already read (or listed).
pub(super) const REC_READ: u8 = 1;

/// One stored PDU: the SMSC field followed by the TPDU.
#[derive(Clone, Debug)]
pub(super) struct Stored {
    pub(super) stat: u8,
    pub(super) octets: Vec<u8>,
    pub(super) tpdu_len: usize,
    /// A `+CMTI`/`+CDSI` has been sent for it.
    pub(super) notified: bool,
    /// A status report (notified with `+CDSI`), not an SMS-DELIVER (`+CMTI`).
    pub(super) report: bool,
}

/// A PDU waiting "in the network" for a free slot.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    pub(super) octets: Vec<u8>,
    pub(super) tpdu_len: usize,
}

/// One memory ("SM" or "SR").
#[derive(Debug)]
pub(super) struct Storage {
    slots: Vec<Option<Stored>>,
    /// Messages the network holds until a slot is free.
    pub(super) waiting: VecDeque<Waiting>,
}

impl Storage {
    pub(super) fn new(slots: u16) -> Self {
        Self {
            slots: vec![None; usize::from(slots)],
            waiting: VecDeque::new(),
        }
    }

    pub(super) fn total(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn used(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Stores `message` in the lowest free slot; its index, or `None` when full.
    pub(super) fn store(&mut self, message: Stored) -> Option<usize> {
        let free = self.slots.iter().position(Option::is_none)?;
        self.slots[free] = Some(message);
        Some(free + 1)
    }

    /// The message at `index` (from 1).
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut Stored> {
        index
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
    }

    /// Whether `index` names a slot (used or not).
    pub(super) fn valid(&self, index: usize) -> bool {
        (1..=self.slots.len()).contains(&index)
    }

    /// Deletes the message at `index`; whether there was one.
    pub(super) fn delete(&mut self, index: usize) -> bool {
        index
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::take)
            .is_some()
    }

    /// `AT+CMGD=<i>,<flag>` with flag 1–4: deletes read (1), read and sent (2, 3: no sent or
    /// unsent ones are ever stored) or all (4) messages; the indices deleted.
    pub(super) fn delete_flagged(&mut self, flag: u8) -> Vec<usize> {
        let mut deleted = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let hit = slot
                .as_ref()
                .is_some_and(|m| flag >= 4 || m.stat == REC_READ);
            if hit {
                *slot = None;
                deleted.push(i + 1);
            }
        }
        deleted
    }

    /// The indices of the messages `AT+CMGL=<stat>` lists (4: all).
    pub(super) fn list(&self, stat: u8) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .filter(|m| stat == 4 || m.stat == stat)
                    .map(|_| i + 1)
            })
            .collect()
    }

    /// The first stored message no URC has announced yet, marked announced: (index, report).
    pub(super) fn take_unnotified(&mut self) -> Option<(usize, bool)> {
        let (i, m) = self
            .slots
            .iter_mut()
            .enumerate()
            .find_map(|(i, s)| s.as_mut().filter(|m| !m.notified).map(|m| (i, m)))?;
        m.notified = true;
        Some((i + 1, m.report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Stored {
        Stored {
            stat: REC_UNREAD,
            octets: vec![0],
            tpdu_len: 0,
            notified: false,
            report: false,
        }
    }

    #[test]
    fn slots_fill_from_one_and_free_on_delete() {
        let mut s = Storage::new(2);
        assert_eq!(s.store(msg()), Some(1));
        assert_eq!(s.store(msg()), Some(2));
        assert_eq!(s.store(msg()), None);
        assert!(s.delete(1));
        assert!(!s.delete(1));
        assert!(!s.delete(0));
        assert!(!s.delete(9));
        assert_eq!(s.store(msg()), Some(1));
        assert_eq!(s.used(), 2);
    }

    #[test]
    fn flags_and_lists() {
        let mut s = Storage::new(3);
        s.store(msg());
        s.store(msg());
        if let Some(m) = s.get_mut(2) {
            m.stat = REC_READ;
        }
        assert_eq!(s.list(4), [1, 2]);
        assert_eq!(s.list(REC_UNREAD), [1]);
        assert_eq!(s.delete_flagged(1), [2]);
        assert_eq!(s.take_unnotified(), Some((1, false)));
        assert_eq!(s.take_unnotified(), None);
        assert_eq!(s.delete_flagged(4), [1]);
        assert_eq!(s.used(), 0);
    }
}
