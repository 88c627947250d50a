//! Request input: bodies (form-encoded as in the original Richmond, or JSON) read into one
//! list of (name, value) pairs so that repeated keys (`to_msisdn=…&to_msisdn=…`) and JSON
//! arrays mean the same; and the checks on MSISDNs, message text, dates and templates.
//!
//! Rules (also in the OpenAPI description):
//! - MSISDN (`to_msisdn`): an optional leading `+`, then 6–15 digits (E.164 allows at most 15).
//!   `from_msisdn` may also be a short code: 3–15 digits. Alphanumeric senders are not taken.
//! - Message: 1 to `api.max_message_chars` characters (Unicode scalar values).
//! - Dates: RFC 3339 / ISO 8601 (`2026-01-02T03:04:05Z`, fractions, `±HH:MM` offsets, or no
//!   zone = UTC), `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) or `YYYY-MM-DD` (midnight UTC).
//! - Template: `{{name}}` placeholders, `name` of ASCII letters, digits and `_` (spaces inside
//!   the braces are ignored); an unclosed `{{` is an error.

use axum::http::{HeaderMap, header};
use richmond_codecs::vumi::Timestamp;

use super::ApiError;

/// Most fields (name/value pairs, each list item counted) one body or query string may hold:
/// far more than any real send needs, and a bound on the work a hostile one can cause.
pub(crate) const MAX_FIELDS: usize = 20_000;
/// Most distinct placeholders in one template.
pub(crate) const MAX_PLACEHOLDERS: usize = 100;

fn too_many_fields() -> ApiError {
    ApiError::invalid("body", format!("too many fields (at most {MAX_FIELDS})"))
}

/// A request's fields, in order, keys possibly repeated.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// Reads a form or JSON body, chosen by `Content-Type` (form when absent).
    ///
    /// # Errors
    /// 415 for other types, 400 naming `body` for a malformed body or a value that is not a
    /// string (or a list of strings).
    pub(crate) fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/x-www-form-urlencoded");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-www-form-urlencoded" | "" => Self::from_form(body),
            "application/json" => Self::from_json(body),
            _ => Err(ApiError::UnsupportedMediaType),
        }
    }

    /// Reads `a=1&b=2&a=3` (a query string or a form body).
    ///
    /// # Errors
    /// 400 naming `body` when the bytes are not UTF-8 once decoded.
    pub(crate) fn from_form(body: &[u8]) -> Result<Self, ApiError> {
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::invalid("body", "the form is not UTF-8"));
        }
        let mut out = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if out.len() == MAX_FIELDS {
                return Err(too_many_fields());
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(out))
    }

    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| ApiError::invalid("body", "not valid JSON"))?;
        let serde_json::Value::Object(map) = value else {
            return Err(ApiError::invalid("body", "a JSON object is expected"));
        };
        let mut out = Vec::new();
        for (k, v) in map {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => out.push((k, s)),
                serde_json::Value::Array(items) => {
                    if out.len() + items.len() > MAX_FIELDS {
                        return Err(too_many_fields());
                    }
                    for item in items {
                        let serde_json::Value::String(s) = item else {
                            return Err(ApiError::invalid(k, "must be a list of strings"));
                        };
                        out.push((k.clone(), s));
                    }
                }
                _ => {
                    return Err(ApiError::invalid(
                        k,
                        "must be a string or a list of strings",
                    ));
                }
            }
        }
        Ok(Self(out))
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The field names, each once, in order of first appearance (linear time).
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::with_capacity(self.0.len());
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| seen.insert(*k))
            .collect()
    }

    /// The single value of `name`, if given.
    ///
    /// # Errors
    /// 400 naming the field when it is given more than once.
    pub(crate) fn optional(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(ApiError::invalid(name, "give it once")),
        }
    }

    /// The single value of `name`.
    ///
    /// # Errors
    /// 400 naming the field when it is missing or repeated.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.optional(name)?
            .ok_or_else(|| ApiError::invalid(name, "required"))
    }
}

/// An optional `+` then `min..=15` digits.
pub(crate) fn is_msisdn(s: &str, min: usize) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (min..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The recipients of a send: 1..=`max`, each an MSISDN.
///
/// # Errors
/// 400 naming `to_msisdn`.
pub(crate) fn recipients(fields: &Fields, max: usize) -> Result<Vec<String>, ApiError> {
    let to = fields.all("to_msisdn");
    if to.is_empty() {
        return Err(ApiError::invalid("to_msisdn", "required"));
    }
    if to.len() > max {
        return Err(ApiError::invalid(
            "to_msisdn",
            format!("{} recipients; at most {max} per request", to.len()),
        ));
    }
    if let Some(i) = to.iter().position(|m| !is_msisdn(m, 6)) {
        return Err(ApiError::invalid(
            "to_msisdn",
            format!(
                "value {} is not an MSISDN (6-15 digits after an optional +)",
                i + 1
            ),
        ));
    }
    Ok(to.into_iter().map(str::to_owned).collect())
}

/// The sender: an MSISDN or a short code.
///
/// # Errors
/// 400 naming `from_msisdn`.
pub(crate) fn sender(fields: &Fields) -> Result<String, ApiError> {
    let from = fields.required("from_msisdn")?;
    if !is_msisdn(from, 3) {
        return Err(ApiError::invalid(
            "from_msisdn",
            "not an MSISDN or short code (3-15 digits after an optional +)",
        ));
    }
    Ok(from.to_owned())
}

/// Checks a message's length; `field` names it in the error.
///
/// # Errors
/// 400 naming `field`.
pub(crate) fn check_message(text: &str, max_chars: usize, field: &str) -> Result<(), ApiError> {
    if text.is_empty() {
        return Err(ApiError::invalid(field, "the message is empty"));
    }
    let n = text.chars().count();
    if n > max_chars {
        return Err(ApiError::invalid(
            field,
            format!("the message has {n} characters; at most {max_chars}"),
        ));
    }
    Ok(())
}

/// The placeholder names of `template`, each once, in order of first use.
///
/// # Errors
/// A reason, when a `{{` is not closed or a name is not `[A-Za-z0-9_]{1,64}`.
pub(crate) fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a '{{' is not closed by '}}'".to_owned())?;
        let name = after[..end].trim();
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!(
                "placeholder {{{{{}}}}} is not a name (ASCII letters, digits, '_')",
                after[..end].chars().take(64).collect::<String>()
            ));
        }
        if seen.insert(name) {
            if names.len() == MAX_PLACEHOLDERS {
                return Err(format!(
                    "more than {MAX_PLACEHOLDERS} different placeholders"
                ));
            }
            names.push(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// `template` with each `{{name}}` replaced by `value(name)`; call after [`placeholders`].
pub(crate) fn render<'a>(template: &str, value: impl Fn(&str) -> &'a str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(value(after[..end].trim()));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Parses a date of the forms in the module docs; microseconds since the epoch, UTC.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() == 10 {
        return Timestamp::parse(&format!("{s} 00:00:00"))
            .ok()
            .map(Timestamp::unix_micros);
    }
    if s.len() < 19 || !s.is_char_boundary(19) {
        return None;
    }
    let (head, tail) = s.split_at(19);
    if !head.is_ascii() {
        return None;
    }
    if !matches!(head.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let head = format!("{} {}", &head[..10], &head[11..]);
    // Split the tail into the fraction and the zone.
    let zone_at = tail.find(['Z', 'z', '+', '-']).unwrap_or(tail.len());
    let (fraction, zone) = tail.split_at(zone_at);
    let fraction = match fraction.strip_prefix('.') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            // Keep microseconds; finer digits are dropped.
            format!(".{}", &digits[..digits.len().min(6)])
        }
        Some(_) => return None,
        None if fraction.is_empty() => String::new(),
        None => return None,
    };
    let local = Timestamp::parse(&format!("{head}{fraction}"))
        .ok()?
        .unix_micros();
    let offset_minutes: i64 = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let hm = zone.get(1..)?;
            let (h, m) = hm.split_once(':').unwrap_or((hm.get(..2)?, hm.get(2..)?));
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    Some(local - offset_minutes * 60_000_000)
}

/// RFC 3339 text of a microsecond timestamp, UTC: `2026-01-02T03:04:05.123456Z`.
pub(crate) fn format_date(micros: i64) -> String {
    let text = Timestamp::from_unix_micros(micros).to_string();
    format!("{}Z", text.replacen(' ', "T", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdns() {
        assert!(is_msisdn("+27831234567", 6));
        assert!(is_msisdn("27831234567", 6));
        assert!(!is_msisdn("+2783", 6));
        assert!(!is_msisdn("1234567890123456", 6));
        assert!(!is_msisdn("+27 83 123", 6));
        assert!(!is_msisdn("++2783123456", 6));
        assert!(is_msisdn("123", 3));
    }

    #[test]
    fn dates() {
        let base = parse_date("2026-01-02 03:04:05").unwrap();
        assert_eq!(parse_date("2026-01-02T03:04:05Z"), Some(base));
        assert_eq!(parse_date("2026-01-02T05:04:05+02:00"), Some(base));
        assert_eq!(parse_date("2026-01-02T01:04:05-0200"), Some(base));
        assert_eq!(parse_date("2026-01-02T03:04:05.5Z"), Some(base + 500_000));
        assert_eq!(
            parse_date("2026-01-02T03:04:05.123456789Z"),
            Some(base + 123_456)
        );
        assert_eq!(
            parse_date("2026-01-02"),
            Some(base - (3 * 3600 + 4 * 60 + 5) * 1_000_000)
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30T00:00:00Z",
            "2026-01-02T03:04:05+25:00",
            "2026-01-02T03:04:05.Z",
            "2026-01-02X03:04:05",
            "2026-01-02T03:04:05 junk",
            "2026-01-02T03:04:0é",
            "2026-01-é2T03:04:05Z",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(format_date(base), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn templates() {
        assert_eq!(
            placeholders("Hi {{ name }}, {{n}} {{name}}").unwrap(),
            vec!["name", "n"]
        );
        assert!(placeholders("Hi {{name").is_err());
        assert!(placeholders("Hi {{na-me}}").is_err());
        assert!(placeholders("Hi {{}}").is_err());
        let out = render("Hi {{ name }}, {{n}}!", |k| {
            if k == "name" { "Ann" } else { "3" }
        });
        assert_eq!(out, "Hi Ann, 3!");
    }

    #[test]
    fn json_and_form_bodies_read_alike() {
        let form = Fields::from_form(b"to_msisdn=%2B2783&to_msisdn=2784&message=a+b").unwrap();
        assert_eq!(form.all("to_msisdn"), vec!["+2783", "2784"]);
        assert_eq!(form.required("message").unwrap(), "a b");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let json =
            Fields::from_body(&h, br#"{"to_msisdn":["+2783","2784"],"message":"a b"}"#).unwrap();
        assert_eq!(json.all("to_msisdn"), vec!["+2783", "2784"]);
        assert!(Fields::from_body(&h, br#"{"message": 3}"#).is_err());
        assert!(Fields::from_body(&h, b"[1]").is_err());
        assert!(form.optional("to_msisdn").is_err());
    }

    #[test]
    fn hostile_bodies_are_refused_in_linear_time() {
        // 300k distinct keys: refused at the field cap, never de-duplicated pairwise.
        let form: String = (0..300_000).map(|i| format!("k{i}=v&")).collect();
        let e = Fields::from_form(form.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("too many fields"), "{e}");
        let json = format!(
            "{{\"to_msisdn\": [{}]}}",
            vec!["\"+27820000000\""; MAX_FIELDS + 1].join(",")
        );
        let e = Fields::from_json(json.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("too many fields"), "{e}");
        // Up to the cap, names() is linear: 20k distinct names come back once each, in order.
        let form: String = (0..MAX_FIELDS).map(|i| format!("k{i}=v&")).collect();
        let fields = Fields::from_form(form.as_bytes()).unwrap();
        let names = fields.names();
        assert_eq!(names.len(), MAX_FIELDS);
        assert_eq!((names[0], names[MAX_FIELDS - 1]), ("k0", "k19999"));
        // 100k placeholders: refused past the placeholder cap; an unclosed one too.
        let template: String = (0..100_000).map(|i| format!("{{{{p{i}}}}}")).collect();
        assert!(
            placeholders(&template)
                .unwrap_err()
                .contains("placeholders")
        );
        let repeated = "{{same}}".repeat(100_000);
        assert_eq!(placeholders(&repeated).unwrap(), vec!["same"]);
        assert!(placeholders(&"{{".repeat(10_000)).is_err());
    }
}
