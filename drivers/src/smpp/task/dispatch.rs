//! The bind task's routing of session events: submit results to their callers (with the
//! submit metrics), the rest to the transport through the bounded event channel (held in
//! order while it is full), and the bind-state gauges. Split out of `task.rs` to keep each
//! file readable.
//!
//! Reference: DESIGN.md (metrics naming, back-pressure on the SMSC).

use metrics::{counter, gauge, histogram};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::super::event::Event;
use super::{Pump, Task};

impl Pump {
    /// Routes session events: submit results to their callers, the rest to the transport.
    pub(super) async fn dispatch(&mut self, task: &mut Task) {
        let transport = task.config.transport.clone();
        while let Some(event) = task.session.poll_event() {
            match event {
                Event::SubmitResult {
                    token,
                    outcome,
                    latency,
                } => {
                    counter!("richmond_smpp_submits_total", "transport" => transport.clone(), "outcome" => outcome.code())
                        .increment(1);
                    if let Some(latency) = latency {
                        histogram!("richmond_smpp_submit_latency_seconds", "transport" => transport.clone())
                            .record(latency.as_secs_f64());
                    }
                    if let Some(reply) = self.waiting.remove(&token) {
                        let _ = reply.send(outcome);
                    }
                    continue;
                }
                Event::Bound { mode, .. } => info!(message = "SMPP bound.", mode = mode.code()),
                Event::BindRejected { status } => warn!(message = "SMPP bind rejected.", status),
                Event::Unbound { reason } => {
                    info!(message = "SMPP unbound.", reason = reason.code());
                    counter!("richmond_smpp_unbinds_total", "transport" => transport.clone(), "reason" => reason.code())
                        .increment(1);
                }
                Event::Throttled { status } => {
                    debug!(message = "SMPP throttled by the SMSC.", status);
                    counter!("richmond_smpp_throttled_total", "transport" => transport.clone())
                        .increment(1);
                }
                Event::Malformed { error, command_id } => {
                    warn!(
                        message = "SMPP PDU undecodable.",
                        command_id,
                        code = error.code()
                    );
                    counter!("richmond_smpp_malformed_pdus_total", "transport" => transport.clone(), "code" => error.code())
                        .increment(1);
                }
                Event::UnmatchedResponse {
                    command_id,
                    sequence_number,
                } => {
                    warn!(
                        message = "SMPP response to nothing outstanding; ignored.",
                        command_id, sequence_number
                    );
                    counter!("richmond_smpp_unmatched_responses_total", "transport" => transport.clone())
                        .increment(1);
                    continue;
                }
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
        let transport = task.config.transport.clone();
        if changed {
            let g = gauge!("richmond_smpp_binds_up", "transport" => transport.clone());
            if bound {
                g.increment(1.0)
            } else {
                g.decrement(1.0)
            }
        }
        let in_flight = task.session.in_flight();
        if in_flight != task.reported_window {
            let g = gauge!("richmond_smpp_window_in_use", "transport" => transport);
            g.increment(in_flight as f64 - task.reported_window as f64);
            task.reported_window = in_flight;
        }
    }
}
