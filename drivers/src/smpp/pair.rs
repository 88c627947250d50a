//! An ESME session and an SMSC session joined in memory on a virtual clock (quinn's `Pair`
//! idea), for the driver's tests: [`Pair::drive`] hands every PDU one side transmits to the
//! other until both are quiet; [`Pair::advance`] moves the clock and runs the ESME's timers.
//! No sockets, no tokio, no real time: what the two sessions say to each other is the test.

use std::time::{Duration, Instant};

use super::config::Config;
use super::event::Event;
use super::server::{ServerConfig, ServerEvent, ServerSession};
use super::session::Session;

pub(super) struct Pair {
    pub(super) client: Session,
    pub(super) server: ServerSession,
    pub(super) now: Instant,
    /// What the ESME reported, in order, since the last take.
    pub(super) client_events: Vec<Event>,
    /// What the SMSC reported, in order, since the last take.
    pub(super) server_events: Vec<ServerEvent>,
}

impl Pair {
    /// An ESME with `config` connected to an SMSC accepting its credentials.
    pub(super) fn connected(config: Config) -> Self {
        let server = ServerSession::new(ServerConfig::new(
            config.system_id.clone(),
            config.password.clone(),
        ));
        let now = Instant::now();
        let mut client = Session::new(config, now, 7).expect("a valid config");
        client.handle_connected(now);
        let mut pair = Self {
            client,
            server,
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
        };
        pair.drive();
        pair
    }

    /// Moves PDUs both ways until neither side has anything to send.
    pub(super) fn drive(&mut self) {
        // Bounded: a session that answers every PDU with another would be a bug to report.
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(pdu) = self.client.poll_transmit() {
                self.server.handle_frame(pdu);
                moved = true;
            }
            while let Some(pdu) = self.server.poll_transmit() {
                self.client.handle_frame(pdu, self.now);
                moved = true;
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            if !moved {
                return;
            }
        }
        panic!("the sessions never went quiet");
    }

    /// Moves the clock by `by`, runs the ESME's timers, and drives.
    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.drive();
    }

    pub(super) fn take_client_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.client_events)
    }

    pub(super) fn take_server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }
}
