//! The SSMI server session (TruTeq's end, for the simulator), sans-IO: one per accepted
//! connection.
//!
//! Reference: reference/vumi.md §4.4 (ACK and NACK codes) and §4.6 (login, link check,
//! remote logout).
//!
//! * `SSMI,1,<user>,<password>` is checked against the configured credentials: `SSMI,101,1`
//!   on a match, `SSMI,102,1` (invalid username/password) otherwise, or `SSMI,102,4` when the
//!   account is configured as suspended.
//! * `SSMI,3` is answered `SSMI,101,2`; `SSMI,99` logs out and asks to disconnect.
//! * Any other request before login is answered `SSMI,102,1`; after login it is reported as
//!   [`ServerEvent::Request`] for the simulator to act on (e.g. send a SEQ for an SMS).
//! * A rejected line is answered `SSMI,102,3` (could not parse), an unknown id `SSMI,102,2`.
//! * The simulator pushes its own messages (USSD, MO, DR, …) with [`ServerSession::send`] and
//!   can log the client out remotely (`SSMI,199,<ip>`).
//!
//! Not handled here: sockets (the simulator's task) and the USSD/SMS behaviour of the server.

use std::collections::VecDeque;

use bytes::Bytes;
use richmond_codecs::ssmi::{AckType, Decoded, LineError, NackReason, Request, Response};

/// Credentials the simulated server accepts.
#[derive(Clone)]
pub struct ServerConfig {
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Answer a correct login with NACK 4 (account suspended).
    pub suspended: bool,
}

impl ServerConfig {
    /// Accepts `username`/`password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            suspended: false,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("username", &self.username)
            .field("password", &"***")
            .field("suspended", &self.suspended)
            .finish()
    }
}

/// What the server session reports to the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The client logged in.
    LoggedIn {
        /// The account name it used.
        username: Bytes,
    },
    /// A login was refused.
    LoginFailed {
        /// The NACK reason sent.
        reason: NackReason,
    },
    /// A request from a logged-in client (not login, link check or logout).
    Request(Request),
    /// The client sent a line that was rejected or had an unknown id (answered with a NACK).
    BadLine {
        /// The NACK reason sent.
        reason: NackReason,
    },
    /// The client logged out (`SSMI,99`); a `Disconnect` follows.
    LoggedOut,
    /// Close the connection after writing what `poll_transmit` still gives.
    Disconnect,
}

/// The server end of one SSMI connection. See the module documentation.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    logged_in: bool,
    closed: bool,
    transmit: VecDeque<Response>,
    events: VecDeque<ServerEvent>,
}

impl ServerSession {
    /// A session for a freshly accepted connection.
    pub const fn new(config: ServerConfig) -> Self {
        Self {
            config,
            logged_in: false,
            closed: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A decoded line arrived (message, rejected or unknown).
    pub fn handle_decoded(&mut self, decoded: Decoded<Request>) {
        match decoded {
            Decoded::Message(request) => self.handle_request(request),
            Decoded::Rejected { reason } => self.handle_rejected(reason),
            Decoded::Unknown { id } => self.handle_unknown(id),
        }
    }

    /// A request arrived.
    pub fn handle_request(&mut self, request: Request) {
        if self.closed {
            return;
        }
        match request {
            Request::Login { username, password } => {
                let valid = username == self.config.username.as_bytes()
                    && password.expose() == self.config.password.as_bytes();
                let refused = match (valid, self.config.suspended) {
                    (false, _) => Some(NackReason::InvalidLogin),
                    (true, true) => Some(NackReason::AccountSuspended),
                    (true, false) => None,
                };
                self.logged_in = refused.is_none();
                match refused {
                    None => {
                        self.transmit.push_back(Response::Ack {
                            ack_type: AckType::LoginOk,
                        });
                        self.events.push_back(ServerEvent::LoggedIn { username });
                    }
                    Some(reason) => {
                        self.transmit.push_back(Response::Nack { reason });
                        self.events.push_back(ServerEvent::LoginFailed { reason });
                    }
                }
            }
            Request::Logout => {
                self.logged_in = false;
                self.closed = true;
                self.events.push_back(ServerEvent::LoggedOut);
                self.events.push_back(ServerEvent::Disconnect);
            }
            _ if !self.logged_in => {
                self.transmit.push_back(Response::Nack {
                    reason: NackReason::InvalidLogin,
                });
            }
            Request::LinkCheck => {
                self.transmit.push_back(Response::Ack {
                    ack_type: AckType::LinkCheck,
                });
            }
            request => self.events.push_back(ServerEvent::Request(request)),
        }
    }

    /// A line could not be parsed: answers NACK 3.
    pub fn handle_rejected(&mut self, _reason: LineError) {
        self.bad_line(NackReason::ParseError);
    }

    /// A line had an unknown command id: answers NACK 2.
    pub fn handle_unknown(&mut self, _id: u32) {
        self.bad_line(NackReason::InvalidMessageType);
    }

    fn bad_line(&mut self, reason: NackReason) {
        if !self.closed {
            self.transmit.push_back(Response::Nack { reason });
            self.events.push_back(ServerEvent::BadLine { reason });
        }
    }

    /// Queues a message for the client (USSD, MO, SEQ, DR, …).
    pub fn send(&mut self, response: Response) {
        if !self.closed {
            self.transmit.push_back(response);
        }
    }

    /// Logs the client out (`SSMI,199,<ip>`) and asks to disconnect.
    pub fn remote_logout(&mut self, ip: Bytes) {
        if self.closed {
            return;
        }
        self.transmit.push_back(Response::RemoteLogout { ip });
        self.logged_in = false;
        self.closed = true;
        self.events.push_back(ServerEvent::Disconnect);
    }

    /// The client is logged in.
    pub const fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// The next line to write.
    pub fn poll_transmit(&mut self) -> Option<Response> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }
}
