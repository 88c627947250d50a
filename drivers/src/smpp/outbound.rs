//! The ESME session's book of outbound requests: the queue of submits waiting for their turn
//! and every request awaiting its response (bind, enquire_link, unbind, submits), with
//! deadlines. Sans-IO; used only by `session.rs`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

/// What a request was.
#[derive(Debug)]
pub(crate) enum Kind {
    Bind,
    EnquireLink,
    Unbind,
    Submit {
        token: u64,
        /// The encoded PDU (sequence number to be patched), kept for a resend.
        pdu: Bytes,
        /// When it was first written.
        first_sent: Option<Instant>,
    },
}

/// A request awaiting its response.
#[derive(Debug)]
pub(crate) struct Outstanding {
    pub(crate) kind: Kind,
    pub(crate) deadline: Instant,
}

impl Outstanding {
    pub(crate) const fn new(kind: Kind, deadline: Instant) -> Self {
        Self { kind, deadline }
    }
}

/// A held submit's token and first write time.
pub(crate) type Held = (u64, Option<Instant>);

/// A submit waiting to be (re)sent.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) token: u64,
    pub(crate) pdu: Bytes,
    pub(crate) first_sent: Option<Instant>,
}

/// Queue and in-flight requests. `held()` (queued + in-flight submits) never exceeds the
/// window because the session refuses submits beyond it.
#[derive(Debug)]
pub(crate) struct Outbound {
    window: usize,
    queue: VecDeque<Queued>,
    tracked: HashMap<u32, Outstanding>,
    deadlines: BTreeSet<(Instant, u32)>,
    submits: usize,
}

impl Outbound {
    pub(crate) fn new(window: usize) -> Self {
        Self {
            window,
            queue: VecDeque::new(),
            tracked: HashMap::new(),
            deadlines: BTreeSet::new(),
            submits: 0,
        }
    }

    pub(crate) const fn window(&self) -> usize {
        self.window
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) const fn in_flight(&self) -> usize {
        self.submits
    }

    pub(crate) fn held(&self) -> usize {
        self.queue.len() + self.submits
    }

    pub(crate) fn tracked(&self) -> usize {
        self.tracked.len()
    }

    pub(crate) fn is_tracked(&self, seq: u32) -> bool {
        self.tracked.contains_key(&seq)
    }

    pub(crate) fn enqueue(&mut self, queued: Queued) {
        self.queue.push_back(queued);
    }

    /// Puts a throttled submit back ahead of the never-sent ones, behind those already
    /// requeued, so resends keep their original order.
    pub(crate) fn requeue(&mut self, queued: Queued) {
        let at = self
            .queue
            .iter()
            .take_while(|q| q.first_sent.is_some_and(|t| Some(t) <= queued.first_sent))
            .count();
        self.queue.insert(at, queued);
    }

    pub(crate) fn dequeue(&mut self) -> Option<Queued> {
        self.queue.pop_front()
    }

    pub(crate) fn drain_queue(&mut self) -> Vec<Queued> {
        self.queue.drain(..).collect()
    }

    pub(crate) fn track(&mut self, seq: u32, outstanding: Outstanding) {
        if matches!(outstanding.kind, Kind::Submit { .. }) {
            self.submits += 1;
        }
        self.deadlines.insert((outstanding.deadline, seq));
        if let Some(old) = self.tracked.insert(seq, outstanding) {
            // Cannot happen (numbers in use are skipped); keep the books straight anyway.
            self.forget(seq, &old);
        }
    }

    /// Whether a response with `command_id` can answer request `seq` (its own response, or
    /// `generic_nack`): an SMSC that answers a submit's number with a deliver_sm_resp does
    /// not resolve the submit.
    pub(crate) fn answers(&self, seq: u32, command_id: u32) -> bool {
        use richmond_codecs::smpp::pdu::{RESPONSE_BIT, id};
        let Some(o) = self.tracked.get(&seq) else {
            return false;
        };
        command_id == id::GENERIC_NACK
            || match o.kind {
                Kind::Bind => [
                    id::BIND_RECEIVER,
                    id::BIND_TRANSMITTER,
                    id::BIND_TRANSCEIVER,
                ]
                .iter()
                .any(|bind| command_id == bind | RESPONSE_BIT),
                Kind::EnquireLink => command_id == id::ENQUIRE_LINK_RESP,
                Kind::Unbind => command_id == id::UNBIND_RESP,
                Kind::Submit { .. } => command_id == id::SUBMIT_SM_RESP,
            }
    }

    pub(crate) fn take(&mut self, seq: u32) -> Option<Outstanding> {
        let outstanding = self.tracked.remove(&seq)?;
        self.forget(seq, &outstanding);
        Some(outstanding)
    }

    fn forget(&mut self, seq: u32, outstanding: &Outstanding) {
        self.deadlines.remove(&(outstanding.deadline, seq));
        if matches!(outstanding.kind, Kind::Submit { .. }) {
            self.submits = self.submits.saturating_sub(1);
        }
    }

    /// The earliest request whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(u32, Outstanding)> {
        let &(deadline, seq) = self.deadlines.first()?;
        if deadline > now {
            return None;
        }
        self.deadlines.remove(&(deadline, seq));
        let outstanding = self.take(seq)?;
        Some((seq, outstanding))
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Forgets everything: returns (token, first_sent) of the in-flight submits in the order
    /// they were sent (by deadline), then of the queued ones.
    pub(crate) fn clear(&mut self) -> (Vec<Held>, Vec<Held>) {
        let mut in_flight = Vec::new();
        for (_, seq) in std::mem::take(&mut self.deadlines) {
            if let Some(Outstanding {
                kind: Kind::Submit {
                    token, first_sent, ..
                },
                ..
            }) = self.tracked.remove(&seq)
            {
                in_flight.push((token, first_sent));
            }
        }
        self.tracked.clear();
        self.submits = 0;
        let queued = self
            .queue
            .drain(..)
            .map(|q| (q.token, q.first_sent))
            .collect();
        (in_flight, queued)
    }
}
