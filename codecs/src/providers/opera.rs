//! Opera (South Africa): the XML-RPC call `EAPIGateway.SendSMS` and its answer, and what Opera
//! posts — MO as a `bspostevent` document, delivery receipts as a `receipts` document — either
//! as the raw XML or as a form field `XmlMsg`.
//!
//! Reference: reference/http-providers.md §2.1 (SendSMS members, the base64 text quirk, the
//! `Identifier` answer, faults), §2.2 (`bspostevent` fields, required ones, the echo),
//! §2.3 (receipts, status letters).
//!
//! Status letters: `D`, `d`, `R` → delivered; `Q`, `P`, `B`, `a`, `u` → pending; any other →
//! failed (Vumi's map; no source gives the letters' meanings).
//!
//! Not handled: XML-RPC beyond what SendSMS uses (arrays, nested structs in answers).

use base64::Engine as _;

use super::{Unreadable, form_fields, xml_escape as escape, xml_leaf_elements};
use crate::vumi::DeliveryStatus;

/// One `EAPIGateway.SendSMS` call (its `Debug` leaves the password out).
#[derive(Clone, PartialEq, Eq)]
pub struct SendSms<'a> {
    pub service: &'a str,
    pub password: &'a str,
    pub channel: &'a str,
    /// The number (or several, comma-separated).
    pub numbers: &'a str,
    pub text: &'a str,
    /// XML-RPC `dateTime.iso8601`: `YYYYMMDDTHH:MM:SS`.
    pub delivery: &'a str,
    pub expiry: &'a str,
    /// `standard` or `high`.
    pub priority: &'a str,
    pub receipt: bool,
    /// 1–9.
    pub max_segments: u8,
}

impl std::fmt::Debug for SendSms<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendSms")
            .field("service", &self.service)
            .field("password", &"[redacted]")
            .field("channel", &self.channel)
            .field("numbers", &self.numbers)
            .field("text", &self.text)
            .field("delivery", &self.delivery)
            .field("expiry", &self.expiry)
            .field("priority", &self.priority)
            .field("receipt", &self.receipt)
            .field("max_segments", &self.max_segments)
            .finish()
    }
}

impl SendSms<'_> {
    /// The XML-RPC `methodCall` document. A text with any character above 127 goes as
    /// `base64` of its UTF-8, as Vumi sent it; any other as a string.
    #[must_use]
    pub fn encode(&self) -> String {
        let member = |name: &str, value: String| {
            format!("<member><name>{name}</name><value>{value}</value></member>")
        };
        let string = |s: &str| format!("<string>{}</string>", escape(s));
        let text = if self.text.is_ascii() {
            string(self.text)
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(self.text.as_bytes());
            format!("<base64>{b64}</base64>")
        };
        let members = [
            member("Service", string(self.service)),
            member("Password", string(self.password)),
            member("Channel", string(self.channel)),
            member("Numbers", string(self.numbers)),
            member("SMSText", text),
            member(
                "Delivery",
                format!("<dateTime.iso8601>{}</dateTime.iso8601>", self.delivery),
            ),
            member(
                "Expiry",
                format!("<dateTime.iso8601>{}</dateTime.iso8601>", self.expiry),
            ),
            member("Priority", string(self.priority)),
            member("Receipt", string(if self.receipt { "Y" } else { "N" })),
            member("MaxSegments", format!("<int>{}</int>", self.max_segments)),
        ];
        format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>EAPIGateway.SendSMS</methodName>\
             <params><param><value><struct>{}</struct></value></param></params></methodCall>",
            members.concat()
        )
    }
}

/// A value of an XML-RPC struct: its type (`string` when untyped) and text (base64 decoded
/// into UTF-8 text, lossily).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub kind: String,
    pub text: String,
}

/// The members of the first struct in an XML-RPC document (a call's parameter, an answer's
/// value or a fault's), in order.
///
/// # Errors
/// The document is not well-formed XML.
pub fn struct_members(xml: &str) -> Result<Vec<(String, Value)>, Unreadable> {
    let leaves = xml_leaf_elements(xml, "")?;
    let mut members = Vec::new();
    let mut it = leaves.iter().peekable();
    while let Some(leaf) = it.next() {
        if leaf.name != "name" {
            continue;
        }
        let Some(value) = it.next_if(|v| v.name != "name") else {
            continue;
        };
        let kind = if value.name == "value" {
            "string"
        } else {
            value.name.as_str()
        };
        let text = if kind == "base64" {
            let compact: String = value.text.split_whitespace().collect();
            let octets = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| Unreadable("XML-RPC base64"))?;
            String::from_utf8_lossy(&octets).into_owned()
        } else {
            value.text.clone()
        };
        members.push((
            leaf.text.clone(),
            Value {
                kind: kind.to_owned(),
                text,
            },
        ));
    }
    Ok(members)
}

/// What Opera answered a SendSMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted under this `Identifier`.
    Identifier(String),
    /// An XML-RPC fault.
    Fault { code: i64, text: String },
    /// A document with neither.
    Unexpected(String),
}

/// Reads a SendSMS answer.
#[must_use]
pub fn answer(xml: &str) -> Answer {
    let Ok(members) = struct_members(xml) else {
        return Answer::Unexpected(xml.chars().take(200).collect());
    };
    let get = |n: &str| members.iter().find(|(k, _)| k == n).map(|(_, v)| v);
    if let Some(code) = get("faultCode") {
        return Answer::Fault {
            code: code.text.trim().parse().unwrap_or(0),
            text: get("faultString")
                .map(|v| v.text.clone())
                .unwrap_or_default(),
        };
    }
    match get("Identifier") {
        Some(id) if !id.text.trim().is_empty() => Answer::Identifier(id.text.trim().to_owned()),
        _ => Answer::Unexpected(xml.chars().take(200).collect()),
    }
}

/// Why a post is refused; its text is the answer's body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPost {
    #[error("XmlMsg missing.")]
    NoXml,
    #[error("Not XML.")]
    NotXml,
    #[error("Missing field: {0}")]
    MissingField(&'static str),
    #[error("No receipt.")]
    NoReceipt,
}

impl BadPost {
    /// A stable snake_case label.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NoXml => "no_xml",
            Self::NotXml => "not_xml",
            Self::MissingField(_) => "missing_field",
            Self::NoReceipt => "no_receipt",
        }
    }
}

/// The XML document of a post: the body itself (unchanged, for the echo) when it starts with
/// `<` after any white space, else the form field `XmlMsg`.
///
/// # Errors
/// [`BadPost::NoXml`]: neither.
pub fn document(body: &[u8]) -> Result<String, BadPost> {
    if body.trim_ascii_start().starts_with(b"<") {
        return String::from_utf8(body.to_vec()).map_err(|_| BadPost::NotXml);
    }
    let body = body.trim_ascii();
    form_fields(body)
        .into_iter()
        .find(|(k, v)| k == "XmlMsg" && !v.trim().is_empty())
        .map(|(_, v)| v)
        .ok_or(BadPost::NoXml)
}

/// An MO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    /// `MessageID`: Opera's id.
    pub message_id: String,
    /// `Remote`, the handset.
    pub from: String,
    /// `Local`, the short code (a leading `*` dropped).
    pub to: String,
    pub text: String,
    /// `MobileNetwork` (e.g. `mtn-za`).
    pub network: String,
}

/// Reads a `bspostevent`.
///
/// # Errors
/// Not XML; a required field (`Local`, `Remote`, `Text`, `MessageID`, `MobileNetwork`) missing.
pub fn mo(xml: &str) -> Result<Mo, BadPost> {
    let leaves = xml_leaf_elements(xml, "name").map_err(|_| BadPost::NotXml)?;
    let field = |name: &'static str| {
        leaves
            .iter()
            .find(|l| l.name == "field" && l.attr.as_deref() == Some(name))
            .map(|l| l.text.clone())
            .ok_or(BadPost::MissingField(name))
    };
    let local = field("Local")?;
    let remote = field("Remote")?;
    let text = field("Text")?;
    let message_id = field("MessageID")?;
    let network = field("MobileNetwork")?;
    let nonblank = |v: String, name| {
        if v.trim().is_empty() {
            Err(BadPost::MissingField(name))
        } else {
            Ok(v.trim().to_owned())
        }
    };
    Ok(Mo {
        message_id: nonblank(message_id, "MessageID")?,
        from: nonblank(remote, "Remote")?,
        to: nonblank(local, "Local")?.trim_start_matches('*').to_owned(),
        text,
        network,
    })
}

/// One receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The `Identifier` SendSMS answered.
    pub reference: String,
    pub msgid: Option<String>,
    pub msisdn: Option<String>,
    pub status: DeliveryStatus,
    /// The letter as posted.
    pub raw_status: String,
}

/// The Vumi status of an Opera status letter.
#[must_use]
pub fn status(letter: &str) -> DeliveryStatus {
    match letter {
        "D" | "d" | "R" => DeliveryStatus::Delivered,
        "Q" | "P" | "B" | "a" | "u" => DeliveryStatus::Pending,
        _ => DeliveryStatus::Failed,
    }
}

/// Reads a `receipts` document: every `<receipt>` with a `reference`.
///
/// # Errors
/// Not XML; no receipt with a reference.
pub fn receipts(xml: &str) -> Result<Vec<Receipt>, BadPost> {
    let leaves = xml_leaf_elements(xml, "").map_err(|_| BadPost::NotXml)?;
    // Each parent once, in document order (its leaves need not be next to each other).
    let mut parents: Vec<usize> = Vec::new();
    for l in &leaves {
        if !parents.contains(&l.parent) {
            parents.push(l.parent);
        }
    }
    let out: Vec<Receipt> = parents
        .into_iter()
        .filter_map(|parent| {
            let get = |n: &str| {
                leaves
                    .iter()
                    .find(|l| l.parent == parent && l.name == n)
                    .map(|l| l.text.trim().to_owned())
            };
            let reference = get("reference").filter(|r| !r.is_empty())?;
            let raw_status = get("status").unwrap_or_default();
            Some(Receipt {
                reference,
                msgid: get("msgid"),
                msisdn: get("msisdn"),
                status: status(&raw_status),
                raw_status,
            })
        })
        .collect();
    if out.is_empty() {
        Err(BadPost::NoReceipt)
    } else {
        Ok(out)
    }
}

#[cfg(test)]
#[path = "opera_tests.rs"]
mod tests;
