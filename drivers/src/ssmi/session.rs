//! The SSMI client session (the gateway's end), sans-IO: login, link checks, liveness,
//! remote logout and reconnect backoff. No tokio here — time arrives as `now: Instant`.
//!
//! Reference: reference/vumi.md §4.6 (session and link behaviour) and §7 (behaviours Vumi
//! lacks that Richmond adds: link-check liveness, disconnect and back off on login NACK,
//! pausing outbound while the link is down).
//!
//! The driving task calls `handle_*` as things happen, then drains [`ClientSession::poll_transmit`]
//! (lines to write) and [`ClientSession::poll_event`], sleeps until
//! [`ClientSession::poll_timeout`], and connects no earlier than
//! [`ClientSession::next_connect_at`].
//!
//! * On connect the session sends `SSMI,1,<user>,<password>`; `SSMI,101,1` logs in, `SSMI,102,n`
//!   rejects the login: the session asks to disconnect and backs off (exponential, with jitter
//!   from a seeded xorshift so tests are deterministic; reset by a successful login).
//! * While logged in it sends `SSMI,3` at once (as txssmi) and then every interval. Any line
//!   from the server counts as an answer (TruTeq answers `SSMI,101,2`); when the configured
//!   number of checks (default 2, as python-ssmi) is unanswered at the next tick, the link is
//!   dead and the session asks to disconnect.
//! * `SSMI,199` (remote logout) is reported and disconnects.
//! * Outbound messages are only accepted while logged in ([`ClientSession::send`] hands them
//!   back otherwise); the task holds them meanwhile.
//!
//! Not handled here: sockets and framing (`task.rs`, `codec.rs`), what inbound messages mean
//! (the gateway's transport), SEQ/DR correlation.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use richmond_codecs::ssmi::{AckType, NackReason, Request, Response, Secret};

/// Longest delay the session ever schedules (guards `Instant` arithmetic against huge configs).
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Settings of a client session.
#[derive(Clone)]
pub struct ClientConfig {
    /// TruTeq account name.
    pub username: String,
    /// TruTeq password (never shown by `Debug`).
    pub password: String,
    /// Time between link checks (Vumi: 60 s).
    pub link_check_interval: Duration,
    /// Unanswered link checks after which the link is dead (python-ssmi: 2).
    pub max_unanswered_link_checks: u32,
    /// How long to wait for the login ACK/NACK before giving up on the connection.
    pub login_timeout: Duration,
    /// First reconnect delay.
    pub reconnect_initial: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
}

impl ClientConfig {
    /// Defaults: link check every 60 s, dead after 2 unanswered, login timeout 30 s, reconnect
    /// backoff from 1 s doubling up to 60 s.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            link_check_interval: Duration::from_secs(60),
            max_unanswered_link_checks: 2,
            login_timeout: Duration::from_secs(30),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("username", &self.username)
            .field("password", &"***")
            .field("link_check_interval", &self.link_check_interval)
            .field(
                "max_unanswered_link_checks",
                &self.max_unanswered_link_checks,
            )
            .field("login_timeout", &self.login_timeout)
            .field("reconnect_initial", &self.reconnect_initial)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// What the session reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server accepted the login (`SSMI,101,1`); outbound messages may flow.
    LoggedIn,
    /// The server refused the login (`SSMI,102,<reason>`); a `Disconnect` follows.
    LoginRejected {
        /// The NACK reason.
        reason: NackReason,
    },
    /// A message from the server for the gateway (USSD, SMS, SEQ, DR, NACK, …).
    Inbound(Response),
    /// The server logged this client out (`SSMI,199,<ip>`); a `Disconnect` follows.
    RemoteLogout {
        /// The address the server named.
        ip: Bytes,
    },
    /// Too many link checks went unanswered; a `Disconnect` follows.
    LinkDead,
    /// The connection ends: when the session decided it, the owner must close the connection
    /// (after writing what `poll_transmit` still gives); `ConnectionLost` reports a drop.
    Disconnect {
        /// Why.
        reason: DisconnectReason,
    },
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The login was refused.
    LoginRejected,
    /// No answer to the login in time.
    LoginTimeout,
    /// Link checks went unanswered.
    LinkDead,
    /// The server sent a remote logout.
    RemoteLogout,
    /// The owner closed the session ([`ClientSession::close`]).
    Closed,
    /// The connection dropped (reported by [`ClientSession::handle_disconnected`]).
    ConnectionLost,
}

impl DisconnectReason {
    /// A stable snake_case code, usable as a metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::LoginRejected => "login_rejected",
            Self::LoginTimeout => "login_timeout",
            Self::LinkDead => "link_dead",
            Self::RemoteLogout => "remote_logout",
            Self::Closed => "closed",
            Self::ConnectionLost => "connection_lost",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No connection; the next attempt is due at `next_connect_at`.
    Idle,
    /// Connected, login sent.
    LoggingIn { deadline: Instant },
    /// Logged in.
    LoggedIn {
        next_link_check: Instant,
        unanswered: u32,
    },
    /// The session asked to disconnect; waiting for `handle_disconnected`.
    Dropping,
    /// Closed for good.
    Closed,
}

/// A tiny xorshift64 generator: deterministic jitter from the seed.
#[derive(Clone, Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The client end of an SSMI link. See the module documentation.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    transmit: VecDeque<Request>,
    events: VecDeque<Event>,
    /// Connection failures since the last successful login.
    failures: u32,
    next_connect_at: Instant,
    rng: XorShift,
}

impl ClientSession {
    /// A session that wants to connect at once. `seed` drives the reconnect jitter.
    pub fn new(config: ClientConfig, now: Instant, seed: u64) -> Self {
        Self {
            config,
            state: State::Idle,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            failures: 0,
            next_connect_at: now,
            rng: XorShift::new(seed),
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A TCP connection is up: queues the login.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.transmit.clear();
        self.transmit.push_back(Request::Login {
            username: Bytes::from(self.config.username.clone()),
            password: Secret::from(self.config.password.clone()),
        });
        self.state = State::LoggingIn {
            deadline: later(now, self.config.login_timeout),
        };
    }

    /// The connection dropped, or a connection attempt failed. Schedules the next attempt
    /// (unless the session already did when it asked to disconnect).
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.transmit.clear();
        match self.state {
            State::LoggingIn { .. } | State::LoggedIn { .. } => {
                self.events.push_back(Event::Disconnect {
                    reason: DisconnectReason::ConnectionLost,
                });
                self.schedule_reconnect(now);
                self.state = State::Idle;
            }
            State::Idle => self.schedule_reconnect(now),
            State::Dropping => self.state = State::Idle,
            State::Closed => {}
        }
    }

    /// A message arrived from the server.
    pub fn handle_response(&mut self, response: Response, now: Instant) {
        match (self.state, response) {
            (
                State::LoggingIn { .. },
                Response::Ack {
                    ack_type: AckType::LoginOk,
                },
            ) => {
                self.failures = 0;
                self.state = State::LoggedIn {
                    next_link_check: later(now, self.config.link_check_interval),
                    unanswered: 1,
                };
                self.events.push_back(Event::LoggedIn);
                self.transmit.push_back(Request::LinkCheck);
            }
            (State::LoggingIn { .. }, Response::Nack { reason }) => {
                self.events.push_back(Event::LoginRejected { reason });
                self.drop_connection(DisconnectReason::LoginRejected, now);
            }
            (State::LoggingIn { .. } | State::LoggedIn { .. }, Response::RemoteLogout { ip }) => {
                self.events.push_back(Event::RemoteLogout { ip });
                self.drop_connection(DisconnectReason::RemoteLogout, now);
            }
            (
                State::LoggedIn {
                    next_link_check, ..
                },
                response,
            ) => {
                self.state = State::LoggedIn {
                    next_link_check,
                    unanswered: 0,
                };
                if response
                    != (Response::Ack {
                        ack_type: AckType::LinkCheck,
                    })
                {
                    self.events.push_back(Event::Inbound(response));
                }
            }
            // Acknowledgements outside their exchange mean nothing; messages are never dropped.
            (_, Response::Ack { .. } | Response::Nack { .. } | Response::RemoteLogout { .. }) => {}
            (_, response) => self.events.push_back(Event::Inbound(response)),
        }
    }

    /// A line arrived that could not be decoded (rejected or unknown id): it still proves the
    /// link is alive.
    pub fn handle_unparsed(&mut self, _now: Instant) {
        if let State::LoggedIn {
            next_link_check, ..
        } = self.state
        {
            self.state = State::LoggedIn {
                next_link_check,
                unanswered: 0,
            };
        }
    }

    /// Time passed: sends link checks, detects a dead link or a login that got no answer.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::LoggingIn { deadline } if now >= deadline => {
                self.drop_connection(DisconnectReason::LoginTimeout, now);
            }
            State::LoggedIn {
                next_link_check,
                unanswered,
            } if now >= next_link_check => {
                if unanswered >= self.config.max_unanswered_link_checks {
                    self.events.push_back(Event::LinkDead);
                    self.drop_connection(DisconnectReason::LinkDead, now);
                } else {
                    self.transmit.push_back(Request::LinkCheck);
                    self.state = State::LoggedIn {
                        next_link_check: later(now, self.config.link_check_interval),
                        unanswered: unanswered.saturating_add(1),
                    };
                }
            }
            _ => {}
        }
    }

    /// Queues an outbound message if logged in; otherwise hands it back (the caller keeps it
    /// until [`ClientSession::is_ready`]).
    #[expect(clippy::result_large_err, reason = "the request itself is handed back")]
    pub fn send(&mut self, request: Request) -> Result<(), Request> {
        if self.is_ready() {
            self.transmit.push_back(request);
            Ok(())
        } else {
            Err(request)
        }
    }

    /// Closes for good: queues a logout (`SSMI,99`) if logged in, then asks to disconnect.
    pub fn close(&mut self, _now: Instant) {
        match self.state {
            State::Closed => return,
            State::LoggedIn { .. } => self.transmit.push_back(Request::Logout),
            State::LoggingIn { .. } => self.transmit.clear(),
            State::Idle | State::Dropping => {}
        }
        let connected = matches!(self.state, State::LoggingIn { .. } | State::LoggedIn { .. });
        self.state = State::Closed;
        if connected {
            self.events.push_back(Event::Disconnect {
                reason: DisconnectReason::Closed,
            });
        }
    }

    /// The next line to write.
    pub fn poll_transmit(&mut self) -> Option<Request> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`ClientSession::handle_timeout`] should next be called, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::LoggingIn { deadline } => Some(deadline),
            State::LoggedIn {
                next_link_check, ..
            } => Some(next_link_check),
            State::Idle | State::Dropping | State::Closed => None,
        }
    }

    /// The earliest time the next connection attempt may start.
    pub const fn next_connect_at(&self) -> Instant {
        self.next_connect_at
    }

    /// Logged in: outbound messages may be sent.
    pub const fn is_ready(&self) -> bool {
        matches!(self.state, State::LoggedIn { .. })
    }

    /// Closed by [`ClientSession::close`]: never connect again.
    pub const fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Asks the owner to disconnect and schedules the next attempt.
    fn drop_connection(&mut self, reason: DisconnectReason, now: Instant) {
        self.transmit.clear();
        self.events.push_back(Event::Disconnect { reason });
        self.schedule_reconnect(now);
        self.state = State::Dropping;
    }

    /// Exponential backoff: `initial × 2^failures`, capped at `max`, then "equal jitter" (a
    /// uniform delay between half of it and all of it), so delays never shrink before the cap.
    fn schedule_reconnect(&mut self, now: Instant) {
        let initial = self.config.reconnect_initial.min(MAX_DELAY);
        let max = self.config.reconnect_max.clamp(initial, MAX_DELAY);
        let base = initial
            .checked_mul(1 << self.failures.min(30))
            .map_or(max, |delay| delay.min(max));
        let half = base / 2;
        // A uniform fraction of `half`, in 1/2^20 steps.
        let nanos = (half.as_nanos() * u128::from(self.rng.next() >> 44)) >> 20;
        let jitter = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.failures = self.failures.saturating_add(1);
        self.next_connect_at = later(now, base - half + jitter);
    }
}

/// `now + delay`, with the delay capped so the sum cannot overflow.
fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay.min(MAX_DELAY)).unwrap_or(now)
}
