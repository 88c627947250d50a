//! The SMSC side of one SMPP connection, sans-IO, for the simulator (`richmond simulate smsc`),
//! the gateway's SMPP server transport and the driver's tests.
//!
//! Reference: SMPP 3.4 §4.1 (bind and its errors), §4.2 (unbind), §4.3 (generic_nack), §4.4
//! (submit_sm), §4.6 (deliver_sm), §4.11 (enquire_link); reference/smpp.md.
//!
//! * A bind is checked against the expected `system_id` (`ESME_RINVSYSID`) and password
//!   (`ESME_RINVPASWD`); [`ServerSession::set_bind_status`] forces another answer (e.g.
//!   `ESME_RALYBND`, `ESME_RBINDFAIL`). A second bind gets `ESME_RALYBND`. With
//!   [`ServerConfig::owner_decides_binds`] the owner checks the credentials instead
//!   ([`ServerEvent::BindRequest`], [`ServerSession::respond_bind`]).
//! * `enquire_link` and `unbind` are answered (an unbind then asks to disconnect).
//! * `submit_sm` while bound for submitting is handed to the owner
//!   ([`ServerEvent::SubmitSm`]), who answers with [`ServerSession::respond_submit`] — with a
//!   message id, an error status (`ESME_RTHROTTLED` to simulate throttling), late or never.
//!   Before a bind it is answered `ESME_RINVBNDSTS`.
//! * Responses from the ESME (`deliver_sm_resp`, `enquire_link_resp`, `unbind_resp`,
//!   `generic_nack`) are reported as events.
//! * A request that cannot be decoded gets `generic_nack` (`ESME_RINVCMDLEN` /
//!   `ESME_RSYSERR`); an unknown command id `generic_nack` `ESME_RINVCMDID`. Other valid
//!   requests (query_sm, cancel_sm, …) are reported as [`ServerEvent::Request`] unanswered.
//! * The owner sends `deliver_sm` (or any PDU) with [`ServerSession::send`], `enquire_link`,
//!   `unbind`, and arbitrary bytes (malformed PDUs) with [`ServerSession::send_raw`].
//!
//! Not handled here: sockets, timing and the simulator's behaviour (the gateway's CLI).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use richmond_codecs::smpp::pdu::{self, DecodeError, Header, Pdu, id, next_sequence_number};
use richmond_codecs::smpp::rusmpp::{self, CommandStatus};
use richmond_codecs::smpp::status;

use super::config::BindMode;

/// What the simulated SMSC accepts.
#[derive(Clone)]
pub struct ServerConfig {
    /// The SMSC's own `system_id`, sent in bind responses.
    pub system_id: String,
    /// Accept only this `system_id` (any when `None`).
    pub expected_system_id: Option<String>,
    /// Accept only this password (any when `None`; never shown by `Debug`).
    pub expected_password: Option<String>,
    /// Binds are decided by the owner instead ([`ServerEvent::BindRequest`], answered with
    /// [`ServerSession::respond_bind`]): a gateway checking accounts.
    pub owner_decides_binds: bool,
}

impl ServerConfig {
    /// Accepts `system_id` / `password`; calls itself `"richmond-smsc"`.
    pub fn new(system_id: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            system_id: "richmond-smsc".into(),
            expected_system_id: Some(system_id.into()),
            expected_password: Some(password.into()),
            owner_decides_binds: false,
        }
    }
}

/// A password as a bind carried it; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BindPassword(pub String);

impl std::fmt::Debug for BindPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("system_id", &self.system_id)
            .field("expected_system_id", &self.expected_system_id)
            .field("expected_password", &"***")
            .finish()
    }
}

/// What the server session reports to the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// An ESME bound.
    Bound {
        /// How.
        mode: BindMode,
        /// With which `system_id`.
        system_id: String,
    },
    /// A bind for the owner to decide ([`ServerConfig::owner_decides_binds`]) with
    /// [`ServerSession::respond_bind`].
    BindRequest {
        /// Its sequence number.
        sequence_number: u32,
        /// How it asks to bind.
        mode: BindMode,
        /// With which `system_id`.
        system_id: String,
        /// And password.
        password: BindPassword,
    },
    /// A bind was refused with `status`.
    BindRefused {
        /// The status sent.
        status: u32,
    },
    /// A `submit_sm` to answer with [`ServerSession::respond_submit`].
    SubmitSm {
        /// Its sequence number.
        sequence_number: u32,
        /// The whole PDU (decode with `richmond_codecs::smpp::decode`).
        frame: Bytes,
    },
    /// The ESME answered a PDU the server sent (`deliver_sm_resp`, `data_sm_resp`,
    /// `enquire_link_resp`, `generic_nack`, …).
    Response {
        /// The response header (command id, status, sequence number).
        header: Header,
    },
    /// Another valid request, not answered (the owner may answer with `send_raw`).
    Request {
        /// The whole PDU.
        frame: Bytes,
    },
    /// A PDU that could not be decoded (answered with `generic_nack` if a request).
    Malformed {
        /// Its command id.
        command_id: u32,
        /// Why.
        error: DecodeError,
    },
    /// The ESME unbound (answered), or answered the server's unbind; a `Disconnect` follows.
    Unbound,
    /// Close the connection after writing what `poll_transmit` still gives.
    Disconnect,
}

/// The SMSC end of one SMPP connection. See the module documentation.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    bound: Option<BindMode>,
    closed: bool,
    bind_status: Option<u32>,
    /// A bind the owner is deciding: its command id and mode.
    pending_bind: Option<(u32, BindMode)>,
    /// The `interface_version` of the (first) bind.
    interface_version: u8,
    last_sequence_number: u32,
    transmit: VecDeque<Bytes>,
    events: VecDeque<ServerEvent>,
}

impl ServerSession {
    /// A session for a freshly accepted connection.
    pub const fn new(config: ServerConfig) -> Self {
        Self {
            config,
            bound: None,
            closed: false,
            bind_status: None,
            pending_bind: None,
            interface_version: 0,
            last_sequence_number: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Answer the next binds with `status` instead of checking credentials (`None` restores
    /// the check).
    pub const fn set_bind_status(&mut self, status: Option<u32>) {
        self.bind_status = status;
    }

    /// How the ESME is bound, if it is.
    pub const fn bound(&self) -> Option<BindMode> {
        self.bound
    }

    /// A whole PDU arrived from the ESME.
    pub fn handle_frame(&mut self, frame: Bytes) {
        if self.closed {
            return;
        }
        let Some(header) = Header::peek(&frame) else {
            return;
        };
        let seq = header.sequence_number;
        let command = match pdu::decode(&frame) {
            Ok(command) => command,
            Err(error) => {
                self.events.push_back(ServerEvent::Malformed {
                    command_id: header.command_id,
                    error,
                });
                if !header.is_response() {
                    self.send_empty(id::GENERIC_NACK, error.nack_status(), seq);
                }
                return;
            }
        };
        if header.is_response() {
            if header.command_id == id::UNBIND_RESP {
                self.unbound();
            } else {
                self.events.push_back(ServerEvent::Response { header });
            }
            return;
        }
        let bind = match command.pdu() {
            Some(Pdu::BindTransceiver(b)) => Some((&b.system_id, &b.password, b.interface_version)),
            Some(Pdu::BindTransmitter(b)) => Some((&b.system_id, &b.password, b.interface_version)),
            Some(Pdu::BindReceiver(b)) => Some((&b.system_id, &b.password, b.interface_version)),
            _ => None,
        };
        if let Some((system_id, password, version)) = bind {
            if self.bound.is_none() && self.pending_bind.is_none() {
                self.interface_version = u8::from(version);
            }
            let mode = BindMode::from_command_id(header.command_id);
            let system_id = system_id.as_str().to_owned();
            if self.config.owner_decides_binds
                && self.bind_status.is_none()
                && self.bound.is_none()
                && self.pending_bind.is_none()
                && let Some(mode) = mode
            {
                let password = BindPassword(password.as_str().to_owned());
                self.pending_bind = Some((header.command_id, mode));
                self.events.push_back(ServerEvent::BindRequest {
                    sequence_number: seq,
                    mode,
                    system_id,
                    password,
                });
                return;
            }
            let status = self.check_bind(&system_id, password.as_str());
            self.answer_bind(header.command_id | pdu::RESPONSE_BIT, status, seq);
            match (status, mode) {
                (status::ROK, Some(mode)) => {
                    self.bound = Some(mode);
                    self.events
                        .push_back(ServerEvent::Bound { mode, system_id });
                }
                _ => self.events.push_back(ServerEvent::BindRefused { status }),
            }
            return;
        }
        let kind = match command.pdu() {
            Some(Pdu::EnquireLink) => Some(id::ENQUIRE_LINK),
            Some(Pdu::Unbind) => Some(id::UNBIND),
            Some(Pdu::SubmitSm(_)) => Some(id::SUBMIT_SM),
            Some(Pdu::Other { .. }) => None,
            None if matches!(command.id(), rusmpp::CommandId::Other(_)) => None,
            _ => Some(0),
        };
        drop(command);
        match kind {
            Some(id::ENQUIRE_LINK) => self.send_empty(id::ENQUIRE_LINK_RESP, status::ROK, seq),
            Some(id::UNBIND) => {
                self.send_empty(id::UNBIND_RESP, status::ROK, seq);
                self.unbound();
            }
            Some(id::SUBMIT_SM) => {
                if self.bound.is_some_and(BindMode::can_submit) {
                    self.events.push_back(ServerEvent::SubmitSm {
                        sequence_number: seq,
                        frame,
                    });
                } else {
                    self.send_empty(id::SUBMIT_SM_RESP, status::RINVBNDSTS, seq);
                }
            }
            None => self.send_empty(id::GENERIC_NACK, status::RINVCMDID, seq),
            Some(_) => self.events.push_back(ServerEvent::Request { frame }),
        }
    }

    fn check_bind(&self, system_id: &str, password: &str) -> u32 {
        if let Some(status) = self.bind_status {
            return status;
        }
        if self.bound.is_some() || self.pending_bind.is_some() {
            return status::RALYBND;
        }
        if self
            .config
            .expected_system_id
            .as_deref()
            .is_some_and(|expected| expected != system_id)
        {
            return status::RINVSYSID;
        }
        if self
            .config
            .expected_password
            .as_deref()
            .is_some_and(|expected| expected != password)
        {
            return status::RINVPASWD;
        }
        status::ROK
    }

    /// Answers the pending [`ServerEvent::BindRequest`] with `status` (`ESME_ROK` binds).
    pub fn respond_bind(&mut self, sequence_number: u32, status: u32) {
        let Some((command_id, mode)) = self.pending_bind.take() else {
            return;
        };
        self.answer_bind(command_id | pdu::RESPONSE_BIT, status, sequence_number);
        if status == status::ROK {
            self.bound = Some(mode);
        }
    }

    fn answer_bind(&mut self, command_id: u32, status: u32, seq: u32) {
        let mut frame = BytesMut::new();
        pdu::encode_empty(command_id, status, seq, &mut frame);
        if status == status::ROK {
            let name = self.config.system_id.as_bytes();
            frame.extend_from_slice(name.get(..15).unwrap_or(name));
            frame.extend_from_slice(&[0]);
            // sc_interface_version (3.4 §5.3.2.25, 5.0 §4.8.4.51) for a 3.4 or later client:
            // 0x34 or 0x50, the highest this side speaks not above the client's.
            if self.interface_version >= 0x34 {
                let version = if self.interface_version >= 0x50 {
                    0x50
                } else {
                    0x34
                };
                frame.extend_from_slice(&[0x02, 0x10, 0x00, 0x01, version]);
            }
            pdu::set_command_length(&mut frame);
        }
        self.transmit.push_back(frame.freeze());
    }

    /// The `interface_version` the client bound with (0 before a bind): 0x34 for SMPP 3.4,
    /// 0x50 for 5.0, 0x33 or below for earlier versions.
    #[must_use]
    pub const fn interface_version(&self) -> u8 {
        self.interface_version
    }

    fn unbound(&mut self) {
        self.bound = None;
        self.closed = true;
        self.events.push_back(ServerEvent::Unbound);
        self.events.push_back(ServerEvent::Disconnect);
    }

    /// Answers a `submit_sm`: `Ok(message_id)` (ASCII, at most 64 octets) or `Err(status)`.
    pub fn respond_submit(&mut self, sequence_number: u32, result: Result<&str, u32>) {
        let mut frame = BytesMut::new();
        match result {
            Ok(message_id) => {
                pdu::encode_empty(id::SUBMIT_SM_RESP, status::ROK, sequence_number, &mut frame);
                let message_id = message_id.as_bytes();
                frame.extend_from_slice(message_id.get(..64).unwrap_or(message_id));
                frame.extend_from_slice(&[0]);
                pdu::set_command_length(&mut frame);
            }
            Err(status) => {
                pdu::encode_empty(id::SUBMIT_SM_RESP, status, sequence_number, &mut frame)
            }
        }
        self.send_raw(frame.freeze());
    }

    /// Sends a request PDU (e.g. `rusmpp::pdus::DeliverSm`) under the next sequence number,
    /// which it returns.
    pub fn send(&mut self, pdu: impl Into<rusmpp::Pdu>) -> u32 {
        let seq = self.next_seq();
        let command = rusmpp::Command::new(CommandStatus::EsmeRok, seq, pdu);
        let mut frame = BytesMut::new();
        pdu::encode(&command, &mut frame);
        self.send_raw(frame.freeze());
        seq
    }

    /// Sends `enquire_link`; returns its sequence number.
    pub fn send_enquire_link(&mut self) -> u32 {
        let seq = self.next_seq();
        self.send_empty(id::ENQUIRE_LINK, status::ROK, seq);
        seq
    }

    /// Sends `unbind`; the session ends when the ESME answers. Returns its sequence number.
    pub fn send_unbind(&mut self) -> u32 {
        let seq = self.next_seq();
        self.send_empty(id::UNBIND, status::ROK, seq);
        seq
    }

    /// Queues arbitrary octets (a malformed PDU, a late response, …) as they are.
    pub fn send_raw(&mut self, bytes: Bytes) {
        if !self.closed {
            self.transmit.push_back(bytes);
        }
    }

    /// The next octets to write.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn next_seq(&mut self) -> u32 {
        self.last_sequence_number = next_sequence_number(self.last_sequence_number);
        self.last_sequence_number
    }

    fn send_empty(&mut self, command_id: u32, status: u32, seq: u32) {
        let mut frame = BytesMut::with_capacity(pdu::HEADER_LEN);
        pdu::encode_empty(command_id, status, seq, &mut frame);
        self.send_raw(frame.freeze());
    }
}
