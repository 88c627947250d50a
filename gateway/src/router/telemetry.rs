//! The routers' telemetry events (see `richmond_drivers::telemetry`): what each router routed,
//! by direction and destination, which rule matched, and what had nowhere to go.

use std::collections::HashMap;

use metrics::{Counter, counter};
use richmond_drivers::telemetry::{Event, Metric};

pub const ROUTED: Metric = Metric::counter(
    "richmond_router_messages_total",
    "Messages a router handed on, by direction (inbound to an application, outbound to a transport, event to an application) and destination.",
);
pub const RULE_MATCHES: Metric = Metric::counter(
    "richmond_router_rule_matches_total",
    "Inbound messages routed by each rule (its index in the router's rules, or default).",
);
pub const UNROUTABLE: Metric = Metric::counter(
    "richmond_router_unroutable_total",
    "Messages a router sent to <router>.failures (no rule and no default, no transport, an event of a message it did not send, undecodable), by direction.",
);

pub const FAILOVERS: Metric = Metric::counter(
    "richmond_router_failovers_total",
    "Outbound messages of an mt_transport pool sent again through another transport after a temporary nack, by the transport that refused and the one tried next.",
);

/// Every metric of the routers.
pub const METRICS: &[Metric] = &[ROUTED, RULE_MATCHES, UNROUTABLE, FAILOVERS];

/// Which way a message went through a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a transport's inbound queue to an application.
    Inbound,
    /// From an application's outbound queue to a transport.
    Outbound,
    /// From a transport's event queue to the application that sent the message.
    Event,
}

impl Direction {
    const fn index(self) -> usize {
        match self {
            Self::Inbound => 0,
            Self::Outbound => 1,
            Self::Event => 2,
        }
    }

    const fn label(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Event => "event",
        }
    }
}

/// A message handed on to `to`; for inbound, by rule `rule` (None: the default).
pub(crate) struct Routed<'a> {
    pub(crate) router: &'a str,
    pub(crate) direction: Direction,
    pub(crate) to: &'a str,
    pub(crate) rule: Option<usize>,
}

impl Event for Routed<'_> {
    const METRICS: &'static [Metric] = &[ROUTED, RULE_MATCHES];

    fn emit(self) {
        let router = self.router.to_owned();
        counter!(ROUTED.name, "router" => router.clone(), "direction" => self.direction.label(),
            "to" => self.to.to_owned())
        .increment(1);
        if self.direction == Direction::Inbound {
            let rule = self
                .rule
                .map_or_else(|| "default".to_owned(), |i| i.to_string());
            counter!(RULE_MATCHES.name, "router" => router, "rule" => rule).increment(1);
        }
    }
}

/// A router's [`ROUTED`] and [`RULE_MATCHES`] counters, made once when it starts (a labelled
/// counter looked up per message costs a few allocations and a hash of its labels).
pub(crate) struct Counters {
    router: String,
    /// By direction ([`Direction::index`]), then destination.
    routed: [HashMap<String, Counter>; 3],
    /// By rule index.
    rules: Vec<Counter>,
    /// The default's (a router without a default shows none).
    default: Option<Counter>,
}

impl Counters {
    pub(crate) fn new(
        router: &str,
        apps: &[String],
        transports: &[String],
        rules: usize,
        default: bool,
    ) -> Self {
        let mut routed: [HashMap<String, Counter>; 3] = Default::default();
        let mut add = |direction: Direction, to: &str| {
            let c = counter!(ROUTED.name, "router" => router.to_owned(),
                "direction" => direction.label(), "to" => to.to_owned());
            routed[direction.index()].insert(to.to_owned(), c);
        };
        for a in apps {
            add(Direction::Inbound, a);
            add(Direction::Event, a);
        }
        for t in transports {
            add(Direction::Outbound, t);
        }
        let rule =
            |r: String| counter!(RULE_MATCHES.name, "router" => router.to_owned(), "rule" => r);
        Self {
            router: router.to_owned(),
            routed,
            rules: (0..rules).map(|i| rule(i.to_string())).collect(),
            default: default.then(|| rule("default".to_owned())),
        }
    }

    /// Counts a message handed on to `to` (inbound: by rule `rule`, None for the default).
    pub(crate) fn routed(&self, direction: Direction, to: &str, rule: Option<usize>) {
        let Some(c) = self.routed[direction.index()].get(to) else {
            return Routed {
                router: &self.router,
                direction,
                to,
                rule,
            }
            .emit();
        };
        c.increment(1);
        if direction == Direction::Inbound {
            let c = match rule {
                Some(i) => self.rules.get(i),
                None => self.default.as_ref(),
            };
            if let Some(c) = c {
                c.increment(1);
            }
        }
    }
}

/// A message sent to the router's failures, with `reason`.
pub(crate) struct Unrouted<'a> {
    pub(crate) router: &'a str,
    pub(crate) direction: Direction,
    pub(crate) reason: &'a str,
}

impl Event for Unrouted<'_> {
    const METRICS: &'static [Metric] = &[UNROUTABLE];

    fn emit(self) {
        let (router, reason) = (self.router, self.reason);
        let direction = self.direction.label();
        counter!(UNROUTABLE.name, "router" => router.to_owned(), "direction" => direction)
            .increment(1);
        tracing::warn!(
            message = "Message had nowhere to go; sent to the router's failures.",
            router,
            direction,
            reason
        );
    }
}

/// A temporary nack from `from`: the message went to `to` instead.
pub(crate) struct FailedOver<'a> {
    pub(crate) router: &'a str,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
}

impl Event for FailedOver<'_> {
    const METRICS: &'static [Metric] = &[FAILOVERS];

    fn emit(self) {
        let (router, from, to) = (self.router, self.from, self.to);
        counter!(FAILOVERS.name, "router" => router.to_owned(), "from" => from.to_owned(),
            "to" => to.to_owned())
        .increment(1);
        tracing::warn!(
            message = "Temporary nack; the message goes to the next transport of the pool.",
            router,
            from,
            to
        );
    }
}
