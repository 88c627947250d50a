//! The bind task's routing of session events: each recorded ([`super::super::telemetry`]),
//! submit results to their callers, the rest to the transport through the bounded event channel (held in
//! order while it is full), and the bind-state gauges. Split out of `task.rs` to keep each
//! file readable.
//!
//! Reference: DESIGN.md (metrics naming, back-pressure on the SMSC).

use tokio::sync::mpsc;

use super::super::event::Event;
use super::super::telemetry::{BindMoved, Observed};
use super::{Pump, Task};
use crate::telemetry::Event as _;

impl Pump {
    /// Routes session events: submit results to their callers, the rest to the transport.
    pub(super) async fn dispatch(&mut self, task: &mut Task) {
        let transport = task.config.transport.clone();
        while let Some(event) = task.session.poll_event() {
            Observed {
                transport: &transport,
                event: &event,
            }
            .emit();
            match event {
                Event::SubmitResult { token, outcome, .. } => {
                    if let Some(reply) = self.waiting.remove(&token) {
                        let _ = reply.send(outcome);
                    }
                    continue;
                }
                Event::UnmatchedResponse { .. } => continue,
                _ => {}
            }
            if !self.held.is_empty() {
                self.held.push_back(event);
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(event)) = task.events.try_send(event) {
                self.held.push_back(event);
            }
        }
    }

    /// Hands every held event to the transport (waiting for room), unless cancelled.
    pub(super) async fn flush_held(&mut self, task: &mut Task) {
        while let Some(event) = self.held.pop_front() {
            tokio::select! {
                biased;
                sent = task.events.send(event) => if sent.is_err() {
                    self.held.clear();
                },
                () = self.cancel.cancelled() => {
                    self.held.clear();
                }
            }
        }
    }

    /// Publishes the bind state and this bind's part of the transport-wide gauges (several
    /// binds of one transport add up, so each reports changes, never absolute values).
    pub(super) fn publish(&self, task: &mut Task) {
        let bound = task.session.is_bound();
        let changed = task
            .bound
            .send_if_modified(|state| std::mem::replace(state, bound) != bound);
        let in_flight = task.session.in_flight();
        let binds = match (changed, bound) {
            (false, _) => 0,
            (true, true) => 1,
            (true, false) => -1,
        };
        BindMoved {
            transport: &task.config.transport,
            binds,
            window: in_flight as f64 - task.reported_window as f64,
        }
        .emit();
        task.reported_window = in_flight;
    }
}
