//! The ESME session's handling of a response: matching it to the request outstanding under
//! its sequence number, then the bind's outcome, the enquire_link's, the unbind's, or a
//! submit's (accepted with its message id, rejected, or throttled and queued again). Sans-IO
//! like its parent (`session.rs`); split out to keep each file readable.
//!
//! Reference: SMPP 3.4 §4 (the responses), §5.1.3 (statuses); reference/smpp.md (throttling).

use std::time::Instant;

use bytes::Bytes;
use richmond_codecs::smpp::pdu::{Header, Pdu, id};
use richmond_codecs::smpp::{StatusClass, status};

use super::super::event::{Event, SubmitOutcome, UnboundReason};
use super::super::outbound::{Kind, Queued};
use super::steps::{c_str, later};
use super::{Session, State};

impl Session {
    pub(super) fn handle_response(
        &mut self,
        header: Header,
        body: Option<&Pdu<'_>>,
        frame: &Bytes,
        now: Instant,
    ) {
        let answers = self.out.answers(header.sequence_number, header.command_id);
        let Some(outstanding) = answers
            .then(|| self.out.take(header.sequence_number))
            .flatten()
        else {
            // Late (already timed out) or unknown: reported, nothing else to do.
            self.events.push_back(Event::UnmatchedResponse {
                command_id: header.command_id,
                sequence_number: header.sequence_number,
            });
            return;
        };
        // A generic_nack says the request was not understood, whatever its status.
        let status = match header.command_status {
            status::ROK if header.command_id == id::GENERIC_NACK => status::RSYSERR,
            s => s,
        };
        match outstanding.kind {
            Kind::Bind => {
                if status == status::ROK && header.command_id != id::GENERIC_NACK {
                    let system_id = match body {
                        Some(Pdu::BindTransceiverResp(resp)) => resp.system_id.as_str(),
                        Some(Pdu::BindTransmitterResp(resp)) => resp.system_id.as_str(),
                        Some(Pdu::BindReceiverResp(resp)) => resp.system_id.as_str(),
                        _ => "",
                    }
                    .to_owned();
                    self.backoff.reset();
                    self.state = State::Bound;
                    self.next_enquire_at = later(now, self.config.enquire_link_interval);
                    self.events.push_back(Event::Bound {
                        mode: self.config.bind_mode,
                        system_id,
                    });
                    if self.closing {
                        self.close(now);
                    }
                } else {
                    self.events.push_back(Event::BindRejected { status });
                    self.end_connection(UnboundReason::BindRejected, now);
                }
            }
            Kind::EnquireLink => {
                self.enquire_outstanding = false;
                self.next_enquire_at = later(now, self.config.enquire_link_interval);
            }
            Kind::Unbind => self.end_connection(UnboundReason::Closed, now),
            Kind::Submit {
                token,
                pdu,
                first_sent,
            } => {
                let class = StatusClass::of(status);
                if class.is_slow_down() {
                    self.throttle(status, now);
                    self.out.requeue(Queued {
                        token,
                        pdu,
                        first_sent,
                    });
                } else {
                    let outcome = if class == StatusClass::Ok {
                        if self.pace.on_accepted() {
                            self.events.push_back(Event::ThrottleEnded);
                        }
                        let message_id = match body {
                            Some(Pdu::SubmitSmResp(resp)) => {
                                frame.slice_ref(c_str(resp.message_id().bytes()))
                            }
                            _ => Bytes::new(),
                        };
                        SubmitOutcome::Accepted { message_id }
                    } else {
                        SubmitOutcome::Rejected { status, class }
                    };
                    self.report(token, outcome, first_sent, now);
                }
                self.after_submit_resolved(now);
            }
        }
    }
}
