//! Clickatell's side of the wire: the legacy HTTP API's plain-text answers (`ID:`, `OK:`,
//! `ERR:`), the Platform API's JSON answer, status callbacks (legacy form or query fields, the
//! XML `data=` variant, Platform JSON) and MO (legacy fields or XML, Platform JSON), plus what
//! a request needs: how many parts a text takes and its UCS-2 hex.
//!
//! Reference: reference/http-providers.md §1.1 (legacy commands, answers, error codes,
//! statuses, callbacks, MO and its charsets), §1.3 (Platform), §1.4 (status names).
//!
//! Field names are matched without regard to case (the SOAP variants spell `apimsgid`), and
//! both generations' names are accepted: `apiMsgId`/`messageId`, `cliMsgId`/`clientMessageId`,
//! `status`/`statusCode`, `moMsgId`/`messageId`, `from`/`fromNumber`, `to`/`toNumber`.
//!
//! Statuses: `004` (received by the handset) and the Platform names `DEVICE_ACK`, `READ` →
//! delivered; `002`, `003`, `008`, `011` and `QUEUED`, `SCHEDULED`, `SENT_TO_SUPPLIER` →
//! pending; every other known code or name → failed.
//!
//! Not handled: the SOAP envelopes as such (their leaves are read like the XML variant's),
//! batch commands, two-way keywords.

use crate::sms::{self, Concat, Encoding, Method, Udh};
use crate::vumi::DeliveryStatus;

/// The first line (blank lines skipped) of a legacy answer to `sendmsg`, `auth` or `ping`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<'a> {
    /// `ID: <apimsgid>` (with any `To:` that follows dropped).
    Id(&'a str),
    /// `OK: <value>` (the session id of `auth`; empty for `ping`).
    Ok(&'a str),
    /// `ERR: <code>, <description>` — the code as written (not always numeric).
    Err { code: &'a str, description: &'a str },
    /// Anything else, trimmed.
    Other(&'a str),
}

/// Reads a legacy answer's first line.
#[must_use]
pub fn answer(body: &str) -> Answer<'_> {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let Some((kind, value)) = line.split_once(':') else {
        return Answer::Other(line);
    };
    let value = value.trim();
    match kind.trim() {
        "ID" => Answer::Id(value.split_whitespace().next().unwrap_or_default()),
        "OK" => Answer::Ok(value),
        "ERR" => {
            let (code, description) = value.split_once(',').unwrap_or((value, ""));
            Answer::Err {
                code: code.trim(),
                description: description.trim(),
            }
        }
        _ => Answer::Other(line),
    }
}

/// The legacy error codes an operator must fix (authentication, account, credit): every
/// message would fail the same way.
#[must_use]
pub fn is_account_error(code: &str) -> bool {
    matches!(
        code,
        "001" | "002" | "003" | "004" | "005" | "007" | "108" | "301" | "302"
    )
}

/// What the Platform API said of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformAnswer {
    /// Accepted under this id.
    Accepted(String),
    /// Refused, with the error text (the message's, else the request's).
    Refused(String),
}

/// Reads the Platform API's answer body (`{"messages":[{"apiMessageId":…,"accepted":…,
/// "error":…}],"error":…}`); `apiMsgId` is accepted too.
#[must_use]
pub fn platform_answer(body: &str) -> PlatformAnswer {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return PlatformAnswer::Refused(format!("unreadable answer: {}", clip(body)));
    };
    let first = &v["messages"][0];
    let error = |e: &serde_json::Value| match e {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o
            .get("description")
            .or_else(|| o.get("errorDescription"))
            .and_then(|d| d.as_str())
            .map(str::to_owned)
            .or_else(|| Some(e.to_string())),
        other => Some(other.to_string()),
    };
    let id = first["apiMessageId"]
        .as_str()
        .or_else(|| first["apiMsgId"].as_str())
        .filter(|id| !id.is_empty());
    match (id, first["accepted"].as_bool()) {
        (Some(id), Some(true) | None) if error(&first["error"]).is_none() => {
            PlatformAnswer::Accepted(id.to_owned())
        }
        _ => PlatformAnswer::Refused(
            error(&first["error"])
                .or_else(|| error(&v["error"]))
                .unwrap_or_else(|| format!("not accepted: {}", clip(body))),
        ),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// How a text goes to the legacy API: whether it needs `unicode=1` (not all GSM-7), and how
/// many parts Clickatell may cut it into: 160 GSM-7 characters (an extension character counts
/// two) or 70 UCS-2 units in one SMS, else 153 or 63 a part (Clickatell's figures, §1.1: 63,
/// not the 67 a UDH leaves, so `concat` is never too small; it is a maximum).
#[must_use]
pub fn parts(text: &str) -> (bool, usize) {
    let encoding = sms::choose(text, Encoding::Gsm7);
    let unicode = encoding == Encoding::Ucs2;
    if unicode {
        let units = sms::ucs2::unit_count(text);
        return (true, if units <= 70 { 1 } else { units.div_ceil(63) });
    }
    let n = match sms::segment::split(text, encoding, Method::Udh8) {
        Ok(p) => p.len(),
        // Over 255 parts: more than any `concat` allows.
        Err(_) => 256,
    };
    (false, n.max(1))
}

/// `text` as UCS-2 (UTF-16BE) in upper-case hex, as `unicode=1` wants it.
#[must_use]
pub fn ucs2_hex(text: &str) -> String {
    sms::ucs2::encode(text)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The text of UCS-2 hex (either case); `None` when it is not an even run of hex digits.
#[must_use]
pub fn from_ucs2_hex(hex: &str) -> Option<String> {
    let octets = sms::pdu::from_hex(hex.as_bytes()).ok()?;
    octets
        .len()
        .is_multiple_of(2)
        .then(|| sms::ucs2::decode(&octets))
}

/// What is wrong with a callback or MO: which kind it was read as, for a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid Clickatell {0} post")]
pub struct BadPost(pub &'static str);

impl BadPost {
    /// A stable snake_case label.
    #[must_use]
    pub const fn code(self) -> &'static str {
        self.0
    }
}

fn field<'f, V: AsRef<[u8]>>(fields: &'f [(String, V)], names: &[&str]) -> Option<&'f [u8]> {
    names.iter().find_map(|name| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
            .filter(|v| !v.is_empty())
    })
}

/// A field as text, trimmed; `None` when missing or blank.
fn text_field<V: AsRef<[u8]>>(fields: &[(String, V)], names: &[&str]) -> Option<String> {
    field(fields, names)
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Clickatell's id of the message (`apiMsgId`, Platform `messageId`).
    pub api_msg_id: Option<String>,
    /// The gateway's own id, echoed (`cliMsgId`, Platform `clientMessageId`).
    pub cli_msg_id: Option<String>,
    pub status: DeliveryStatus,
    /// The status as posted (`004`, `4`, `DEVICE_ACK`).
    pub raw_status: String,
    pub charge: Option<String>,
}

/// The Vumi status of a legacy status code (any number of leading zeros) or a Platform name.
#[must_use]
pub fn status(raw: &str) -> Option<DeliveryStatus> {
    if let Ok(code) = raw.parse::<u16>() {
        return match code {
            4 => Some(DeliveryStatus::Delivered),
            2 | 3 | 8 | 11 => Some(DeliveryStatus::Pending),
            1 | 5 | 6 | 7 | 9 | 10 | 12 | 14 => Some(DeliveryStatus::Failed),
            _ => None,
        };
    }
    match raw {
        "DEVICE_ACK" | "READ" | "RECEIVED_BY_RECIPIENT" => Some(DeliveryStatus::Delivered),
        "QUEUED" | "SCHEDULED" | "SENT_TO_SUPPLIER" | "DELIVERED_TO_GATEWAY" => {
            Some(DeliveryStatus::Pending)
        }
        "" => None,
        name if name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {
            Some(DeliveryStatus::Failed)
        }
        _ => None,
    }
}

/// Reads a status callback from its fields (form, query, XML leaves or JSON members).
///
/// # Errors
/// Neither id is given, or the status is missing or unknown.
pub fn receipt<V: AsRef<[u8]>>(fields: &[(String, V)]) -> Result<Receipt, BadPost> {
    let bad = BadPost("receipt");
    let api_msg_id = text_field(fields, &["apiMsgId", "messageId"]);
    let cli_msg_id = text_field(fields, &["cliMsgId", "clientMessageId"]);
    if api_msg_id.is_none() && cli_msg_id.is_none() {
        return Err(bad);
    }
    let raw_status = text_field(fields, &["statusCode", "status"]).ok_or(bad)?;
    let status = status(&raw_status).ok_or(bad)?;
    Ok(Receipt {
        api_msg_id,
        cli_msg_id,
        status,
        raw_status,
        charge: text_field(fields, &["charge"]),
    })
}

/// An MO (or one part of a long one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    /// Clickatell's id (`moMsgId`, Platform `messageId`).
    pub id: String,
    /// The handset, as posted (international digits).
    pub from: String,
    /// The number it was sent to.
    pub to: String,
    pub text: String,
    /// The part this is, when a UDH with a concatenation element came with it.
    pub concat: Option<Concat>,
    pub timestamp: Option<String>,
}

/// Reads an MO from its fields, with `text` as the octets posted: decoded per `charset`
/// (`ISO-8859-1`, `UTF-16BE`/`UCS-2`, else UTF-8; octets that are not UTF-8 without a
/// charset are read as ISO-8859-1, which loses nothing). `percent_text`: the text is still
/// percent-encoded (the Platform's JSON does so when it names a charset).
///
/// # Errors
/// The id, `from` or `to` is missing; a UDH is not hex or not a valid header; the charset
/// is UTF-16 with an odd number of octets.
pub fn mo<V: AsRef<[u8]>>(fields: &[(String, V)], percent_text: bool) -> Result<Mo, BadPost> {
    let bad = BadPost("mo");
    let id = text_field(fields, &["moMsgId", "messageId"]).ok_or(bad)?;
    let from = text_field(fields, &["from", "fromNumber"]).ok_or(bad)?;
    let to = text_field(fields, &["to", "toNumber"]).ok_or(bad)?;
    let charset = text_field(fields, &["charset"]).map(|c| c.to_ascii_uppercase());
    let raw = field(fields, &["text"]).unwrap_or_default();
    let octets: Vec<u8> = if percent_text && charset.is_some() {
        percent_encoding::percent_decode(raw).collect()
    } else {
        raw.to_vec()
    };
    let text = match charset.as_deref() {
        Some("ISO-8859-1" | "LATIN1" | "LATIN-1") => sms::latin1::decode(&octets),
        Some("UTF-16BE" | "UCS-2" | "UCS2" | "UTF-16") => {
            if !octets.len().is_multiple_of(2) {
                return Err(bad);
            }
            sms::ucs2::decode(&octets)
        }
        _ => String::from_utf8(octets.clone()).unwrap_or_else(|_| sms::latin1::decode(&octets)),
    };
    let concat = match text_field(fields, &["udh"]) {
        None => None,
        Some(hex) => {
            let octets = sms::pdu::from_hex(hex.as_bytes()).map_err(|_| bad)?;
            let (udh, _) = Udh::parse(&octets).map_err(|_| bad)?;
            udh.concat()
        }
    };
    Ok(Mo {
        id,
        from,
        to,
        text,
        concat,
        timestamp: text_field(fields, &["timestamp"]),
    })
}

#[cfg(test)]
#[path = "clickatell_tests.rs"]
mod tests;
