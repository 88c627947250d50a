//! SSMI ⇄ Vumi mapping as pure functions: inbound USSD/SMS lines → `user_message`s,
//! outbound `user_message`s → SSMI requests, DR codes → delivery statuses.
//!
//! Reference: reference/vumi.md §4.4 (type table), §4.5 (genfields, positional), §4.7 (Vumi's
//! TruTeq mapping and its test vectors) and §7. Where Vumi lost messages Richmond keeps them:
//! USSD types outside 1–4 are published as `resume` with the raw type in
//! `transport_metadata.truteq.ussd_type`; SMS (103/106/107/108) are published, not dropped.
//!
//! Not handled here: the store (dialled codes, DR matching) and the bus — see `worker.rs`.

use richmond_codecs::ssmi::{
    Charset, Coding, DrStatus, Genfields, Pid, Request, Response, Text, UssdType,
};
use richmond_codecs::vumi::{DeliveryStatus, Metadata, SessionEvent, UserMessage};
use serde_json::{Value, json};

/// Vumi's `normalize_msisdn` without a country code: a number longer than 5 characters that
/// does not start with `0` or `+` gets a leading `+` (short codes stay as they are).
pub(crate) fn msisdn_in(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if s.len() > 5 && !s.starts_with(['0', '+']) {
        format!("+{s}")
    } else {
        s.into_owned()
    }
}

/// An outbound `to_addr` as SSMI wants it: digits without `+`.
///
/// # Errors
/// A nack reason when it is missing or not a phone number.
pub(crate) fn msisdn_out(to_addr: Option<&str>) -> Result<String, String> {
    let Some(addr) = to_addr else {
        return Err("to_addr: missing".into());
    };
    let digits = addr.strip_prefix('+').unwrap_or(addr);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("to_addr: not an MSISDN (digits with an optional leading +)".into());
    }
    Ok(digits.to_owned())
}

/// The Vumi `session_event` of an inbound USSD type (§4.4): 1 new, 2 resume, 3 and 4 close;
/// other types (5 redirect, 6 initiate, 10 charge failed, …) continue the session.
pub(crate) const fn session_event(t: UssdType) -> SessionEvent {
    match t {
        UssdType::New => SessionEvent::New,
        UssdType::End | UssdType::Timeout => SessionEvent::Close,
        _ => SessionEvent::Resume,
    }
}

/// The USSD type of an outbound message: null/resume → 2, close → 3, new → 1.
pub(crate) const fn ussd_type_out(event: Option<SessionEvent>) -> UssdType {
    match event {
        None | Some(SessionEvent::Resume) => UssdType::Existing,
        Some(SessionEvent::Close) => UssdType::End,
        Some(SessionEvent::New) => UssdType::New,
    }
}

/// The dialled code of a new session, with the `#` Vumi appends when it is missing.
pub(crate) fn dialled_code(text: &str) -> String {
    let code = text.trim();
    if code.ends_with('#') {
        code.to_owned()
    } else {
        format!("{code}#")
    }
}

/// `helper_metadata.truteq.genfields` with the positional names of §4.5 (empty for 110).
pub(crate) fn genfields_json(genfields: Option<&Genfields>) -> Value {
    let mut map = Metadata::new();
    if let Some(g) = genfields {
        let names = [
            "IMSI",
            "Subscriber Type",
            "OperatorID",
            "SessionID",
            "ValiPort",
        ];
        for (i, name) in names.iter().enumerate() {
            let value = String::from_utf8_lossy(&g.get(i)).into_owned();
            map.insert((*name).to_owned(), Value::String(value));
        }
    }
    Value::Object(map)
}

/// An inbound USSD message.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ussd_message(
    transport: &str,
    msisdn: &[u8],
    to_addr: &str,
    ussd_type: UssdType,
    genfields: Option<&Genfields>,
    text: &Text,
    charset: Charset,
) -> UserMessage {
    let event = session_event(ussd_type);
    let content = match event {
        SessionEvent::New => None,
        _ => Some(text.text(charset)),
    };
    let mut msg = UserMessage::new(transport, "ussd", &msisdn_in(msisdn), to_addr, content);
    msg.session_event = Some(event);
    msg.helper_metadata.insert(
        "truteq".into(),
        json!({ "genfields": genfields_json(genfields) }),
    );
    if !matches!(
        ussd_type,
        UssdType::New | UssdType::Existing | UssdType::End | UssdType::Timeout
    ) {
        msg.transport_metadata
            .insert("truteq".into(), json!({ "ussd_type": ussd_type.value() }));
    }
    msg
}

/// What an inbound SMS line carried.
pub(crate) struct SmsIn<'a> {
    pub msisdn: &'a [u8],
    pub sequence: &'a [u8],
    /// `Some` for premium MOs (107/108).
    pub destination: Option<&'a [u8]>,
    pub body: SmsBody<'a>,
}

impl<'a> SmsIn<'a> {
    /// The SMS an MO line (103, 106, 107, 108) carried; `None` for any other line.
    pub(crate) fn from_response(r: &'a Response) -> Option<Self> {
        let (msisdn, sequence, destination, body) = match r {
            Response::Mo {
                msisdn,
                sequence,
                message,
            } => (msisdn, sequence, None, SmsBody::Text(message)),
            Response::PremiumMo {
                msisdn,
                sequence,
                destination,
                message,
            } => (msisdn, sequence, Some(destination), SmsBody::Text(message)),
            Response::BinaryMo {
                msisdn,
                sequence,
                pid,
                coding,
                hex_msg,
            } => (msisdn, sequence, None, binary(*pid, *coding, hex_msg)),
            Response::PremiumBinaryMo {
                msisdn,
                sequence,
                pid,
                coding,
                destination,
                hex_msg,
            } => (
                msisdn,
                sequence,
                Some(destination),
                binary(*pid, *coding, hex_msg),
            ),
            _ => return None,
        };
        Some(Self {
            msisdn,
            sequence,
            destination: destination.map(|d| &d[..]),
            body,
        })
    }
}

const fn binary(pid: Pid, coding: Coding, hex: &[u8]) -> SmsBody<'_> {
    SmsBody::Binary { pid, coding, hex }
}

/// Text, or a binary payload as hex with its pid and coding.
pub(crate) enum SmsBody<'a> {
    Text(&'a Text),
    Binary {
        pid: Pid,
        coding: Coding,
        hex: &'a [u8],
    },
}

/// An inbound SMS: `transport_type` "sms"; binary payloads stay hex in
/// `transport_metadata.truteq.hex_msg` (content null).
pub(crate) fn sms_message(
    transport: &str,
    sms: &SmsIn<'_>,
    default_to: &str,
    charset: Charset,
) -> UserMessage {
    let to = sms.destination.map_or_else(
        || default_to.to_owned(),
        |d| String::from_utf8_lossy(d).into_owned(),
    );
    let sequence = String::from_utf8_lossy(sms.sequence).into_owned();
    let (content, mut meta) = match &sms.body {
        SmsBody::Text(t) => (Some(t.text(charset)), json!({ "sequence": sequence })),
        SmsBody::Binary { pid, coding, hex } => (
            None,
            json!({
                "sequence": sequence,
                "pid": pid.value(),
                "coding": coding.value(),
                "hex_msg": String::from_utf8_lossy(hex).to_ascii_lowercase(),
            }),
        ),
    };
    if sms.destination.is_some()
        && let Some(m) = meta.as_object_mut()
    {
        m.insert("premium".into(), Value::Bool(true));
    }
    let mut msg = UserMessage::new(transport, "sms", &msisdn_in(sms.msisdn), &to, content);
    msg.transport_metadata.insert("truteq".into(), meta);
    msg
}

/// The delivery status of a DR return code: 0 delivered, anything else failed.
pub(crate) const fn dr_status(code: DrStatus) -> DeliveryStatus {
    match code {
        DrStatus::Success => DeliveryStatus::Delivered,
        _ => DeliveryStatus::Failed,
    }
}

/// Whether an outbound message is USSD (else SMS): `transport_type` "ussd", or no
/// transport_type and a `session_event`.
pub(crate) fn is_ussd(msg: &UserMessage) -> bool {
    match msg.transport_type.as_deref() {
        Some("ussd") => true,
        Some(_) => false,
        None => msg.session_event.is_some(),
    }
}

/// Checks that `text` can be written in `charset` (UTF-8 carries everything).
///
/// # Errors
/// A nack reason naming the first character Latin-1 cannot carry.
pub(crate) fn check_charset(text: &str, charset: Charset) -> Result<(), String> {
    if charset == Charset::Latin1
        && let Some(c) = text.chars().find(|&c| u32::from(c) > 0xFF)
    {
        return Err(format!(
            "content: character U+{:04X} cannot be sent in Latin-1 (set charset = \"utf8\" if \
             the link accepts UTF-8)",
            u32::from(c)
        ));
    }
    Ok(())
}

/// The SSMI request for an outbound message.
///
/// # Errors
/// A nack reason (bad address, text the charset cannot carry, bad binary payload).
pub(crate) fn request(
    msg: &UserMessage,
    charset: Charset,
    validity: u32,
) -> Result<Request, String> {
    let msisdn = bytes::Bytes::from(msisdn_out(msg.to_addr.as_deref())?);
    let content = msg.content.clone().unwrap_or_default();
    if is_ussd(msg) {
        check_charset(&content, charset)?;
        return Ok(Request::SendUssd {
            msisdn,
            ussd_type: ussd_type_out(msg.session_event),
            genfields: None,
            message: Text::new(content),
        });
    }
    let truteq = msg
        .transport_metadata
        .get("truteq")
        .and_then(Value::as_object);
    if let Some(hex) = truteq
        .and_then(|t| t.get("hex_msg"))
        .and_then(Value::as_str)
    {
        if hex.is_empty() || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("transport_metadata.truteq.hex_msg: not an even-length hex string".into());
        }
        let number = |key: &str, default: u32| -> Result<u32, String> {
            match truteq.and_then(|t| t.get(key)) {
                None => Ok(default),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("transport_metadata.truteq.{key}: not a number")),
            }
        };
        return Ok(Request::SendBinarySms {
            validity,
            msisdn,
            pid: Pid::from(number("pid", 0)?),
            coding: Coding::from(number("coding", 246)?),
            hex_msg: bytes::Bytes::from(hex.to_ascii_lowercase()),
        });
    }
    check_charset(&content, charset)?;
    Ok(Request::SendSms {
        validity,
        msisdn,
        message: Text::new(content),
    })
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
