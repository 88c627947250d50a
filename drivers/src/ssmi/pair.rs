//! An SSMI client session and server session joined in memory on a virtual clock (quinn's
//! `Pair` idea), for the driver's tests. Every message goes through the wire form: encoded
//! by the codec as a line, decoded on the other side, so the pair also checks that the two
//! directions of the codec agree. [`Pair::drive`] moves lines until both sides are quiet;
//! [`Pair::advance`] moves the clock and runs the client's timers.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use richmond_codecs::ssmi::{Charset, Decoded, decode_request, decode_response};

use super::server::{ServerConfig, ServerEvent, ServerSession};
use super::session::{ClientConfig, ClientSession, Event};

pub(super) struct Pair {
    pub(super) client: ClientSession,
    pub(super) server: ServerSession,
    pub(super) now: Instant,
    pub(super) client_events: Vec<Event>,
    pub(super) server_events: Vec<ServerEvent>,
}

/// A line as the peer's framing hands it over: without its `\r`.
fn line(buf: BytesMut) -> Bytes {
    let mut line = buf.freeze();
    if line.ends_with(b"\r") {
        line.truncate(line.len() - 1);
    }
    line
}

impl Pair {
    /// A client with `config` connected to a server expecting `server`'s credentials.
    pub(super) fn connected(config: ClientConfig, server: ServerConfig) -> Self {
        let now = Instant::now();
        let mut client = ClientSession::new(config, now, 7);
        client.handle_connected(now);
        let mut pair = Self {
            client,
            server: ServerSession::new(server),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
        };
        pair.drive();
        pair
    }

    /// Moves lines both ways until neither side has anything to send.
    pub(super) fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(request) = self.client.poll_transmit() {
                let mut buf = BytesMut::new();
                request
                    .encode(&mut buf, Charset::Latin1)
                    .expect("the client sends what the codec encodes");
                self.server.handle_decoded(decode_request(&line(buf)));
                moved = true;
            }
            while let Some(response) = self.server.poll_transmit() {
                let mut buf = BytesMut::new();
                response
                    .encode(&mut buf, Charset::Latin1)
                    .expect("the server sends what the codec encodes");
                match decode_response(&line(buf)) {
                    Decoded::Message(response) => self.client.handle_response(response, self.now),
                    _ => self.client.handle_unparsed(self.now),
                }
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

    /// Moves the clock by `by`, runs the client's timers, and drives.
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
