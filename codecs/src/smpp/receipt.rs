//! SMSC delivery receipts: the `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:…
//! text:…` text of a deliver_sm, the message_state TLV, and matching receipt ids to submit ids.
//!
//! Reference: SMPP 3.4 Appendix B (the de-facto receipt format), §5.3.2.35 (message_state
//! 0x0427); reference/smpp.md (receipts); reference/vumi.md §3.5 (Vumi's regex and status
//! mapping) and §5 (#635 UCS2 receipts, #637 TLVs over text).
//!
//! * [`parse`] is a key scanner, not a regex: a key (`id`, `sub`, `dlvrd`, `submit date`,
//!   `done date`, `stat`, `err`, `text`; any case; `submit_date`/`submitdate` and the like
//!   too) counts where it starts the text or follows whitespace and is followed by `:` (spaces
//!   before the colon allowed). A value runs to the next key and is trimmed of whitespace and
//!   NUL padding, so empty values, extra spaces and keys in another order work. `text:` is last
//!   and takes the rest verbatim. Only `id` and `stat` are required; the first occurrence of a
//!   key wins. Fields borrow from the input.
//! * [`decode`] reads a `short_message` by its data_coding: UCS2 (8, or octets that start with
//!   `00 69`/`00 49`, i.e. "i"/"I" in UTF-16BE) is decoded first; anything else is read as
//!   ASCII/UTF-8, falling back to Latin-1 for invalid UTF-8.
//! * [`DeliveryState`] classifies `stat` and message_state; [`parse_date`] reads the dates;
//!   [`canonical_id`] / [`id_variants`] match ids that an SMSC writes in hex in one place and in
//!   decimal in the other.
//!
//! Not handled here: deciding that a deliver_sm is a receipt (esm_class bits, TLVs), the
//! receipted_message_id TLV itself, and the id → message mapping (the gateway's store).

use std::borrow::Cow;

use crate::sms::{latin1, ucs2};

/// The Appendix B text of a receipt for message `id` in state `stat` (`DELIVRD`, `UNDELIV`,
/// …): one part, delivered or not, the dates as `YYMMDDhhmm`, and the first 20 letters,
/// digits and spaces of the message's `text` (the same octets in GSM-7 and ASCII).
#[must_use]
pub fn text(id: &str, stat: &str, submit_date: &str, done_date: &str, text: &str) -> String {
    let (delivered, err) = if stat == "DELIVRD" {
        ("001", "000")
    } else {
        ("000", "001")
    };
    let excerpt: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .take(20)
        .collect();
    format!(
        "id:{id} sub:001 dlvrd:{delivered} submit date:{submit_date} done date:{done_date} \
         stat:{stat} err:{err} text:{excerpt}"
    )
}

/// The `message_state` TLV value of a receipt's `stat` (SMPP 3.4 §5.3.2.35).
#[must_use]
pub fn message_state(stat: &str) -> u8 {
    match stat {
        "ENROUTE" => 1,
        "DELIVRD" => 2,
        "EXPIRED" => 3,
        "DELETED" => 4,
        "UNDELIV" => 5,
        "ACCEPTD" => 6,
        "REJECTD" => 8,
        _ => 7,
    }
}

/// The UTC time now as `YYMMDDhhmm` (receipt dates).
#[must_use]
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    date(secs)
}

/// `unix_seconds` (UTC) as `YYMMDDhhmm`.
#[must_use]
pub fn date(unix_seconds: u64) -> String {
    let (days, rem) = (unix_seconds / 86_400, unix_seconds % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02}{m:02}{d:02}{:02}{:02}",
        y % 100,
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn a_written_receipt_parses_back() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(date(1_709_209_800), "2402291230");
        let t = text(
            "abc-1",
            "UNDELIV",
            "2402291230",
            "2402291231",
            "Hi, there! Ünï",
        );
        let r = parse(&t).expect("parses");
        assert_eq!((r.id.as_ref(), r.stat.as_ref()), ("abc-1", "UNDELIV"));
        assert_eq!(r.state(), DeliveryState::Failed);
        assert!(t.ends_with("text:Hi there n"), "{t}");
        assert_eq!(message_state("DELIVRD"), 2);
        assert_eq!(message_state("REJECTD"), 8);
    }
}

#[cfg(test)]
#[path = "receipt_tests.rs"]
mod tests;

/// Why a text is not a delivery receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `id:` key, or an empty id.
    #[error("receipt has no id")]
    MissingId,
    /// No `stat:` key, or an empty stat.
    #[error("receipt has no stat")]
    MissingStat,
}

impl Error {
    /// A stable snake_case code, usable as a bounded metric label.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MissingId => "missing_id",
            Self::MissingStat => "missing_stat",
        }
    }
}

/// A parsed receipt. Fields are the raw values (trimmed), borrowed unless the input had to be
/// decoded first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Receipt<'a> {
    /// The SMSC message id, as written (leading zeros kept; see [`canonical_id`]).
    pub id: Cow<'a, str>,
    /// Number of messages originally submitted (`sub`).
    pub sub: Option<Cow<'a, str>>,
    /// Number of messages delivered (`dlvrd`).
    pub dlvrd: Option<Cow<'a, str>>,
    /// `submit date`, normally `YYMMDDhhmm` (see [`parse_date`]).
    pub submit_date: Option<Cow<'a, str>>,
    /// `done date`, normally `YYMMDDhhmm`.
    pub done_date: Option<Cow<'a, str>>,
    /// The final state, e.g. `DELIVRD` (see [`DeliveryState::from_stat`]).
    pub stat: Cow<'a, str>,
    /// The network or SMSC error code (`err`).
    pub err: Option<Cow<'a, str>>,
    /// The start of the original text (`text`), verbatim to the end of the receipt.
    pub text: Option<Cow<'a, str>>,
}

impl Receipt<'_> {
    /// The receipt with owned fields.
    pub fn into_owned(self) -> Receipt<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        Receipt {
            id: own(self.id),
            sub: self.sub.map(own),
            dlvrd: self.dlvrd.map(own),
            submit_date: self.submit_date.map(own),
            done_date: self.done_date.map(own),
            stat: own(self.stat),
            err: self.err.map(own),
            text: self.text.map(own),
        }
    }

    /// [`DeliveryState::from_stat`] of the `stat` field.
    pub fn state(&self) -> DeliveryState {
        DeliveryState::from_stat(&self.stat)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Spellings of each key, longest first where one is a prefix of another.
const KEYS: [(&str, Key); 14] = [
    ("submit date", Key::SubmitDate),
    ("submit_date", Key::SubmitDate),
    ("submitdate", Key::SubmitDate),
    ("done date", Key::DoneDate),
    ("done_date", Key::DoneDate),
    ("donedate", Key::DoneDate),
    ("dlvrd", Key::Dlvrd),
    ("dlvred", Key::Dlvrd),
    ("stat", Key::Stat),
    ("text", Key::Text),
    ("sub", Key::Sub),
    ("err", Key::Err),
    ("id", Key::Id),
    ("msgid", Key::Id),
];

/// If a key starts at `at`, returns it and the offset just after its colon.
fn key_at(bytes: &[u8], at: usize) -> Option<(Key, usize)> {
    let rest = bytes.get(at..)?;
    KEYS.iter().find_map(|&(name, key)| {
        let head = rest.get(..name.len())?;
        if !head.eq_ignore_ascii_case(name.as_bytes()) {
            return None;
        }
        let after = &rest[name.len()..];
        let spaces = after.iter().take_while(|&&b| b == b' ').count();
        (after.get(spaces) == Some(&b':')).then_some((key, at + name.len() + spaces + 1))
    })
}

/// Parses the receipt text of SMPP 3.4 Appendix B, tolerantly (see the module notes).
///
/// ```
/// use richmond_codecs::smpp::receipt::{self, DeliveryState};
/// let r = receipt::parse("id:0123 sub:001 dlvrd:001 submit date:2401311200 \
///     done date:2401311201 stat:DELIVRD err:000 text:Hello, world").unwrap();
/// assert_eq!((&*r.id, &*r.stat, r.text.as_deref()), ("0123", "DELIVRD", Some("Hello, world")));
/// assert_eq!(r.state(), DeliveryState::Delivered);
/// ```
///
/// # Errors
/// [`Error::MissingId`] or [`Error::MissingStat`].
pub fn parse(text: &str) -> Result<Receipt<'_>, Error> {
    let bytes = text.as_bytes();
    // Every key occurrence: (key, start of the key, start of the value). `text` ends the scan.
    let mut found: Vec<(Key, usize, usize)> = Vec::with_capacity(8);
    let mut at = 0;
    while at < bytes.len() {
        let boundary = at == 0 || bytes.get(at - 1).is_some_and(u8::is_ascii_whitespace);
        if boundary && let Some((key, value)) = key_at(bytes, at) {
            found.push((key, at, value));
            if key == Key::Text {
                break;
            }
            at = value;
            continue;
        }
        at += 1;
    }
    let mut receipt = Receipt::default();
    let (mut id, mut stat) = (None, None);
    for (i, &(key, _, start)) in found.iter().enumerate() {
        let end = found.get(i + 1).map_or(bytes.len(), |&(_, next, _)| next);
        // Keys and whitespace are ASCII, so both ends are char boundaries.
        let raw = text.get(start..end).unwrap_or_default();
        let value = Some(Cow::Borrowed(
            raw.trim_matches(|c: char| c.is_whitespace() || c == '\0'),
        ));
        let slot = match key {
            Key::Id => &mut id,
            Key::Stat => &mut stat,
            Key::Sub => &mut receipt.sub,
            Key::Dlvrd => &mut receipt.dlvrd,
            Key::SubmitDate => &mut receipt.submit_date,
            Key::DoneDate => &mut receipt.done_date,
            Key::Err => &mut receipt.err,
            Key::Text => &mut receipt.text,
        };
        if slot.is_none() {
            *slot = if key == Key::Text {
                Some(Cow::Borrowed(raw))
            } else {
                value
            };
        }
    }
    receipt.id = id.filter(|v| !v.is_empty()).ok_or(Error::MissingId)?;
    receipt.stat = stat.filter(|v| !v.is_empty()).ok_or(Error::MissingStat)?;
    Ok(receipt)
}

/// Parses a receipt whose text is UTF-16BE (data_coding 8; vumi #635).
///
/// # Errors
/// As [`parse`].
pub fn parse_ucs2(octets: &[u8]) -> Result<Receipt<'static>, Error> {
    parse(&ucs2::decode(octets)).map(Receipt::into_owned)
}

/// Parses the `short_message` of a receipt by its `data_coding` (see the module notes).
///
/// # Errors
/// As [`parse`].
pub fn decode(short_message: &[u8], data_coding: u8) -> Result<Receipt<'_>, Error> {
    let looks_ucs2 = matches!(short_message, [0, b'i' | b'I', ..]);
    if data_coding == 8 || looks_ucs2 {
        return parse_ucs2(short_message);
    }
    match std::str::from_utf8(short_message) {
        Ok(text) => parse(text),
        Err(_) => parse(&latin1::decode(short_message)).map(Receipt::into_owned),
    }
}

/// What a receipt means for the message, as Vumi's `delivery_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Final: the handset has it.
    Delivered,
    /// Final: it will not be delivered.
    Failed,
    /// Not final (or not known).
    Pending,
}

impl DeliveryState {
    /// Classifies a `stat` value, ignoring case: `DELIVRD` (and `DELIVERED`) → delivered;
    /// `REJECTD`, `UNDELIV`, `EXPIRED`, `DELETED` (and `REJECTED`, `UNDELIVERABLE`, `FAILED`,
    /// `SKIPPED`) → failed; `ENROUTE`, `ACCEPTD`, `UNKNOWN` and **anything else** → pending.
    /// Vumi's own names `delivered` / `failed` / `pending` map to themselves.
    ///
    /// Unlike Vumi's default mapping, `ACCEPTED` is pending like `ACCEPTD`: SMSCs use it for
    /// "accepted for delivery" as often as for "read by customer service", and a pending
    /// report can still be followed by a final one.
    pub fn from_stat(stat: &str) -> Self {
        const DELIVERED: [&str; 2] = ["DELIVRD", "DELIVERED"];
        const FAILED: [&str; 8] = [
            "REJECTD",
            "UNDELIV",
            "EXPIRED",
            "DELETED",
            "REJECTED",
            "UNDELIVERABLE",
            "FAILED",
            "SKIPPED",
        ];
        let stat = stat.trim();
        if DELIVERED.iter().any(|s| s.eq_ignore_ascii_case(stat)) {
            Self::Delivered
        } else if FAILED.iter().any(|s| s.eq_ignore_ascii_case(stat)) {
            Self::Failed
        } else {
            Self::Pending
        }
    }

    /// Classifies the message_state TLV (0x0427) through [`message_state_name`]: 2 delivered;
    /// 3, 4, 5, 8, 9 failed; 1, 6, 7 and any other value pending.
    pub fn from_message_state(state: u8) -> Self {
        Self::from_stat(message_state_name(state))
    }

    /// `delivered`, `failed` or `pending` (Vumi's `delivery_status` values).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }
}

/// The name of a message_state value (1 `ENROUTE` … 9 `SKIPPED`); `UNKNOWN` for any other,
/// as Vumi does. Vumi publishes this name as `transport_metadata.smpp_delivery_status`.
pub const fn message_state_name(state: u8) -> &'static str {
    match state {
        1 => "ENROUTE",
        2 => "DELIVERED",
        3 => "EXPIRED",
        4 => "DELETED",
        5 => "UNDELIVERABLE",
        6 => "ACCEPTED",
        8 => "REJECTED",
        9 => "SKIPPED",
        _ => "UNKNOWN",
    }
}

/// A receipt date, read by [`parse_date`]. The century is assumed to be 20xx for two-digit years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Full year.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59; 0 when the receipt gave no seconds.
    pub second: u8,
}

/// Reads `YYMMDDhhmm` (Appendix B), `YYMMDDhhmmss` or `YYYYMMDDhhmmss`; `None` for any other
/// shape or an out-of-range field. (A 12-digit value is read as having seconds, as Vumi's
/// vectors do: `200101010030` is 2020-01-01 01:00:30.)
pub fn parse_date(value: &str) -> Option<Date> {
    let digits = value.trim().as_bytes();
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| -> Option<u8> {
        let pair = digits.get(i..i + 2)?;
        Some((pair[0] - b'0') * 10 + (pair[1] - b'0'))
    };
    let (year, rest) = match digits.len() {
        10 | 12 => (2000 + u16::from(two(0)?), 2),
        14 => (u16::from(two(0)?) * 100 + u16::from(two(2)?), 4),
        _ => return None,
    };
    let second = if digits.len() == 10 {
        0
    } else {
        two(rest + 8)?
    };
    let date = Date {
        year,
        month: two(rest)?,
        day: two(rest + 2)?,
        hour: two(rest + 4)?,
        minute: two(rest + 6)?,
        second,
    };
    let valid = (1..=12).contains(&date.month)
        && (1..=31).contains(&date.day)
        && date.hour < 24
        && date.minute < 60
        && date.second < 60;
    valid.then_some(date)
}

/// The form to store a submit_sm_resp message id under: trimmed, ASCII-lowercased, leading
/// zeros removed (one `0` kept for an all-zero id).
pub fn canonical_id(id: &str) -> String {
    let id = id.trim();
    let stripped = id.trim_start_matches('0');
    let id = if stripped.is_empty() && !id.is_empty() {
        "0"
    } else {
        stripped
    };
    id.to_ascii_lowercase()
}

/// Keys to look a receipt id up under, most likely first, for ids stored with [`canonical_id`]:
/// the canonical id itself; then, when it is all decimal digits, the same number in hex; then,
/// when it is all hex digits, the same number in decimal (ids up to 128 bits). SMSCs differ in
/// writing the id of submit_sm_resp and of the receipt in hex or decimal (Kannel's
/// `msg-id-type`); try each key in order and take the first hit. A false match needs another
/// message in flight whose id is this one's number in the other base: set a fixed format per
/// SMSC where it is known.
///
/// ```
/// use richmond_codecs::smpp::receipt::{canonical_id, id_variants};
/// let stored = canonical_id("0000A1B");            // submit_sm_resp in hex
/// assert!(id_variants("2587").contains(&stored)); // receipt in decimal
/// ```
pub fn id_variants(id: &str) -> Vec<String> {
    let canonical = canonical_id(id);
    let mut out = vec![canonical.clone()];
    let mut add = |v: String| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    if !canonical.is_empty() {
        if canonical.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = canonical.parse::<u128>()
        {
            add(format!("{n:x}"));
        }
        if canonical.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(n) = u128::from_str_radix(&canonical, 16)
        {
            add(n.to_string());
        }
    }
    out
}
