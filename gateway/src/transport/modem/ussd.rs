//! USSD through the modem (`AT+CUSD`, TS 27.007 §7.15): the application's `ussd` messages go
//! out as `AT+CUSD=1,"…",<dcs>` (or `AT+CUSD=2` to close), the network's `+CUSD` answers come
//! back as `ussd` user messages.
//!
//! Reference: reference/modem.md §2.5 (`<m>` values, CBS DCS, Huawei packed-hex strings, UCS2
//! hex labelled 15). One session at a time per modem, as on a handset.

use crate::transport::common::Carrier as _;
use crate::transport::telemetry::{Modem, ModemEvent};
use richmond_codecs::at::fields;
use richmond_codecs::sms;
use richmond_codecs::vumi::{Event as VumiEvent, SessionEvent, UserMessage};
use richmond_drivers::telemetry::Event as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::config::UssdEncodingOption;
use super::{Shared, lock, retry};
use crate::transport::common;

/// The session in progress: who the application is and which service it dialled.
#[derive(Clone, Debug)]
pub(super) struct Session {
    service: String,
    app_address: String,
}

/// Sends one application USSD message. None when stopping while the modem is down.
pub(super) async fn outbound(
    shared: &Shared,
    msg: &UserMessage,
    stop: &CancellationToken,
) -> Option<VumiEvent> {
    let id = &msg.message_id;
    if msg.session_event == Some(SessionEvent::Close) {
        lock(&shared.ussd).take();
        let r = retry::with_retries(shared, stop, || shared.handle.ussd_cancel()).await?;
        return Some(match r {
            Ok(()) => VumiEvent::ack(&shared.id, id, id),
            Err(e) => VumiEvent::nack(&shared.id, id, &e.to_string()),
        });
    }
    let service = msg.to_addr.clone().unwrap_or_default();
    let argument = msg
        .content
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| service.clone());
    let argument = match shared.config.ussd_encoding {
        UssdEncodingOption::Text => argument,
        UssdEncodingOption::PackedHex => match sms::ussd::encode_packed_hex(&argument) {
            Ok(hex) => hex,
            Err(e) => return Some(VumiEvent::nack(&shared.id, id, &e.to_string())),
        },
    };
    let dcs = shared.config.ussd_dcs;
    // The session is recorded before the request goes out: the network's answer can come
    // before the modem's OK, and must find it.
    let before = {
        let mut session = lock(&shared.ussd);
        let before = session.clone();
        let keep = session.as_ref().map(|s| s.service.clone());
        *session = Some(Session {
            // A reply within a session keeps the code that opened it.
            service: match (msg.session_event, keep) {
                (Some(SessionEvent::Resume), Some(s)) => s,
                _ => service,
            },
            app_address: msg.from_addr.clone().unwrap_or_default(),
        });
        before
    };
    let r = retry::with_retries(shared, stop, || {
        shared.handle.ussd(Some(argument.clone()), dcs)
    })
    .await;
    if !matches!(r, Some(Ok(()))) {
        *lock(&shared.ussd) = before;
    }
    Some(match r? {
        Ok(()) => VumiEvent::ack(&shared.id, id, id),
        Err(e) => VumiEvent::nack(&shared.id, id, &e.to_string()),
    })
}

/// A `+CUSD` line from the modem → a `ussd` user message.
pub(super) async fn inbound(shared: &Shared, line: &[u8]) {
    let Ok(cusd) = fields::cusd(line) else {
        tracing::warn!(message = "Unreadable +CUSD line.", transport = %shared.id);
        return;
    };
    let text = cusd
        .text
        .map(|t| sms::ussd::decode(&String::from_utf8_lossy(t), cusd.dcs));
    let (session, ending) = {
        let mut guard = lock(&shared.ussd);
        let current = guard.clone();
        let ending = cusd.m != 1;
        if ending {
            guard.take();
        }
        (current, ending)
    };
    let event = match (ending, &session) {
        (true, _) => SessionEvent::Close,
        (false, Some(_)) => SessionEvent::Resume,
        (false, None) => SessionEvent::New,
    };
    let (from, to) = session.map_or_else(
        || ("ussd".to_owned(), shared.own_address()),
        |s| {
            let app = if s.app_address.is_empty() {
                shared.own_address()
            } else {
                s.app_address
            };
            (s.service, app)
        },
    );
    let mut msg = UserMessage::new(&shared.id, "ussd", &from, &to, text);
    msg.session_event = Some(event);
    msg.transport_metadata
        .insert("modem_ussd_status".into(), json!(cusd.m));
    if let Some(dcs) = cusd.dcs {
        msg.transport_metadata
            .insert("modem_ussd_dcs".into(), json!(dcs));
    }
    if shared.publish("inbound", msg.encode()).await.is_ok() {
        common::count(&shared.id, "inbound", "ussd");
    } else {
        // The bus only refuses when it is closing; a USSD answer cannot be read again.
        ModemEvent {
            transport: &shared.id,
            what: Modem::UssdLost,
        }
        .emit();
    }
}
