//! `ussd_echo`: the original Richmond echo worker. A new session gets the greeting; each
//! answer is echoed with the session kept open; `0` ends the session with the goodbye; a
//! session the user hung up or the network timed out (`session_event: close`) is logged and
//! counted, never answered (Vumi's `close_session` rule).
//!
//! Reference: reference/routing-and-apps.md §6.1 (session-event dispatch, `reply_to`), §6.2
//! (the demo echo worker: `Enter text to echo:`).

use richmond_codecs::vumi::{SessionEvent, UserMessage};
use serde::{Deserialize, Serialize};

use super::telemetry::Kind;

/// `[applications.<name>]` with `type = "ussd_echo"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UssdEchoConfig {
    /// The queues it uses (`<transport_name>.inbound` …); default: the application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_name: Option<String>,
    /// The answer to a new session.
    #[serde(default = "default_greeting")]
    pub greeting: String,
    /// The answer to `0`, which ends the session.
    #[serde(default = "default_goodbye")]
    pub goodbye: String,
}

fn default_greeting() -> String {
    "Enter text to echo (0 to end):".into()
}

fn default_goodbye() -> String {
    "Goodbye.".into()
}

impl UssdEchoConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        // A USSD screen holds 182 characters.
        for (key, text) in [("greeting", &self.greeting), ("goodbye", &self.goodbye)] {
            if text.is_empty() || text.chars().count() > 182 {
                return Err(format!("{key}: 1 to 182 characters (one USSD screen)"));
            }
        }
        Ok(())
    }
}

/// What the echo worker answers to `msg`: the reply's text and whether the session goes on,
/// or None (a closed session gets no answer).
pub fn answer(config: &UssdEchoConfig, msg: &UserMessage) -> (Kind, Option<(String, bool)>) {
    match msg.session_event {
        Some(SessionEvent::New) => (Kind::New, Some((config.greeting.clone(), true))),
        Some(SessionEvent::Close) => (Kind::Closed, None),
        Some(SessionEvent::Resume) | None => match msg.content.as_deref().map(str::trim) {
            Some("0") => (Kind::End, Some((config.goodbye.clone(), false))),
            Some(text) if !text.is_empty() => (Kind::Echo, Some((text.to_owned(), true))),
            _ => (Kind::Echo, Some((config.greeting.clone(), true))),
        },
    }
}

#[cfg(test)]
mod tests {
    use richmond_codecs::vumi::{SessionEvent, UserMessage};

    use super::{Kind, UssdEchoConfig, answer};

    fn config() -> UssdEchoConfig {
        toml::from_str("").unwrap()
    }

    fn msg(event: SessionEvent, text: Option<&str>) -> UserMessage {
        let mut m = UserMessage::new("t", "ussd", "+27831", "*120#", text.map(str::to_owned));
        m.session_event = Some(event);
        m
    }

    #[test]
    fn greets_echoes_ends_on_zero_and_never_answers_a_closed_session() {
        let c = config();
        let greet = (c.greeting.clone(), true);
        assert_eq!(
            answer(&c, &msg(SessionEvent::New, None)),
            (Kind::New, Some(greet.clone()))
        );
        assert_eq!(
            answer(&c, &msg(SessionEvent::Resume, Some(" hello "))),
            (Kind::Echo, Some(("hello".into(), true)))
        );
        assert_eq!(
            answer(&c, &msg(SessionEvent::Resume, Some("0"))),
            (Kind::End, Some(("Goodbye.".into(), false)))
        );
        assert_eq!(
            answer(&c, &msg(SessionEvent::Resume, Some("00"))),
            (Kind::Echo, Some(("00".into(), true))),
            "only a lone 0 ends"
        );
        assert_eq!(
            answer(&c, &msg(SessionEvent::Resume, Some(""))),
            (Kind::Echo, Some(greet))
        );
        assert_eq!(
            answer(&c, &msg(SessionEvent::Close, Some("x"))),
            (Kind::Closed, None)
        );
    }

    #[test]
    fn texts_must_fit_one_screen() {
        let mut c = config();
        assert_eq!(c.validate(), Ok(()));
        c.goodbye = "x".repeat(183);
        assert!(c.validate().unwrap_err().contains("goodbye"));
        c.goodbye = String::new();
        assert!(c.validate().unwrap_err().contains("goodbye"));
    }
}
