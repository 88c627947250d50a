//! The router's tag: how the events of a message a router handed to a transport of its own
//! process find their application without the router's store.
//!
//! A router with several applications must know, for each event, which application sent
//! the message. For a message it hands straight to a transport running beside it
//! ([`super::local`]) it writes nothing to its store; instead:
//!
//! - the `ack` or `nack`, which the transport publishes before its handler returns, is
//!   matched in the router's memory of the hand-offs under way ([`InFlight`]);
//! - the message carries `routing_metadata.richmond_route = "<router>/<application>"`, and
//!   each transport keeps that tag beside the message id in the mapping it already stores
//!   for delivery reports (SMPP receipt ids, SSMI SEQs, modem references:
//!   [`stored`] / [`split`]), and puts it back in the report's `routing_metadata` ([`mark`]).
//!   Kept in the transport's store, it survives a restart and reaches another instance
//!   sharing Redis, as the router's own memory did.
//!
//! Events without a tag this router recognises (a transport in another process, a pool
//! message, a mapping written before the tag existed) are looked up in the store as before.
//! Router and application names are routing-key prefixes (lower-case letters, digits, `_`,
//! `-`), so `/` separates them unambiguously.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use richmond_codecs::vumi::{Event, UserMessage};
use serde_json::Value;

/// The `routing_metadata` key of the tag.
pub(crate) const KEY: &str = "richmond_route";

/// Separates the message id from the tag in a transport's stored mapping (a control
/// character no message id carries).
const SEPARATOR: char = '\u{1e}';

/// The tag of `router`'s application `app`.
pub(crate) fn make(router: &str, app: &str) -> String {
    format!("{router}/{app}")
}

/// The application a tag names, when the tag is `router`'s.
pub(crate) fn application<'t>(tag: &'t str, router: &str) -> Option<&'t str> {
    let (r, app) = tag.split_once('/')?;
    (r == router).then_some(app)
}

/// The tag a router wrote on `msg`, if any.
pub(crate) fn of(msg: &UserMessage) -> Option<&str> {
    msg.routing_metadata.get(KEY).and_then(Value::as_str)
}

/// What a transport stores for a delivery report's mapping: the message id, and the tag
/// after [`SEPARATOR`] when the message has one.
pub(crate) fn stored(message_id: &str, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("{message_id}{SEPARATOR}{t}"),
        None => message_id.to_owned(),
    }
}

/// The message id and the tag of a stored mapping ([`stored`]'s inverse; a mapping stored
/// without a tag, or whose part after the separator is no tag, is the message id alone).
pub(crate) fn split(stored: &str) -> (&str, Option<&str>) {
    match stored.rsplit_once(SEPARATOR) {
        Some((id, tag)) if is_tag(tag) => (id, Some(tag)),
        _ => (stored, None),
    }
}

/// `<router>/<application>`: two routing-key prefixes.
fn is_tag(tag: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    tag.split_once('/').is_some_and(|(r, a)| name(r) && name(a))
}

/// Puts `tag` in `event`'s `routing_metadata`.
pub(crate) fn mark(event: &mut Event, tag: Option<&str>) {
    if let Some(t) = tag {
        event
            .routing_metadata
            .insert(KEY.into(), Value::String(t.to_owned()));
    }
}

/// What the router reads of an event before deciding where it goes: its message's id and
/// the tag, if any (borrowed from the body where it has no escapes).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct EventPeek<'a> {
    #[serde(borrow)]
    pub(crate) user_message_id: Cow<'a, str>,
    #[serde(borrow, default)]
    routing_metadata: Option<RoutePeek<'a>>,
}

#[derive(Debug, serde::Deserialize)]
struct RoutePeek<'a> {
    #[serde(borrow, default, rename = "richmond_route")]
    tag: Option<Cow<'a, str>>,
}

impl<'a> EventPeek<'a> {
    /// Reads the fields from `body`.
    ///
    /// # Errors
    /// Not a JSON object, no `user_message_id` string, or a field of another type.
    pub(crate) fn read(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The tag, if the event has one.
    pub(crate) fn tag(&self) -> Option<&str> {
        self.routing_metadata.as_ref()?.tag.as_deref()
    }
}

/// The messages a router is handing to transports of its process right now, by message id
/// → application: their `ack` or `nack` comes while the hand-off runs.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashMap<String, (String, usize)>>);

impl InFlight {
    /// Holds `id` → `app` until the returned guard is dropped (a message id handed off twice
    /// at once, by a duplicate, is held until both are done).
    pub(crate) fn hold<'a>(&'a self, id: &str, app: &str) -> Held<'a> {
        self.map()
            .entry(id.to_owned())
            .and_modify(|(_, n)| *n += 1)
            .or_insert_with(|| (app.to_owned(), 1));
        Held {
            of: self,
            id: id.to_owned(),
        }
    }

    /// The application handing off message `id` now, if any.
    pub(crate) fn get(&self, id: &str) -> Option<String> {
        self.map().get(id).map(|(app, _)| app.clone())
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, usize)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A hand-off under way; see [`InFlight::hold`].
pub(crate) struct Held<'a> {
    of: &'a InFlight,
    id: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut map = self.of.map();
        if let Some((_, n)) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_mapping_gives_back_its_id_and_tag() {
        let tag = make("r1", "app-a");
        let s = stored("msg-1", Some(&tag));
        assert_eq!(split(&s), ("msg-1", Some("r1/app-a")));
        assert_eq!(split(&stored("msg-2", None)), ("msg-2", None));
        // An id that happens to hold the separator, with no tag after it, stays whole.
        assert_eq!(split("odd\u{1e}id"), ("odd\u{1e}id", None));
        assert_eq!(application("r1/app-a", "r1"), Some("app-a"));
        assert_eq!(application("r1/app-a", "r2"), None);
        assert_eq!(application("no-slash", "r1"), None);
    }

    #[test]
    fn a_marked_event_is_read_back_by_the_peek() {
        let mut event = Event::ack("t1", "id \"quoted\"", "smsc-9");
        mark(&mut event, Some("r1/app_b"));
        let body = event.encode();
        let peek = EventPeek::read(&body).expect("an event");
        assert_eq!(peek.user_message_id, "id \"quoted\"");
        assert_eq!(peek.tag(), Some("r1/app_b"));
        let plain = Event::nack("t1", "id-2", "no").encode();
        let peek = EventPeek::read(&plain).expect("an event");
        assert_eq!((peek.user_message_id.as_ref(), peek.tag()), ("id-2", None));
        assert!(EventPeek::read(b"{\"event_type\":\"ack\"}").is_err());
    }

    #[test]
    fn a_hand_off_is_held_until_its_guard_goes() {
        let in_flight = InFlight::default();
        {
            let _held = in_flight.hold("m1", "a");
            assert_eq!(in_flight.get("m1").as_deref(), Some("a"));
            // The same message handed off again meanwhile (a redelivered duplicate).
            let again = in_flight.hold("m1", "a");
            drop(again);
            assert_eq!(in_flight.get("m1").as_deref(), Some("a"));
        }
        assert_eq!(in_flight.get("m1"), None);
    }
}
