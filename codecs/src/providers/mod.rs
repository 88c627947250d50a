//! HTTP SMS providers' formats: what their APIs post to a gateway (MO, delivery notifications)
//! and what they answer, read into typed values.
//!
//! * [`chikka`] — Chikka's form posts (reference/http-providers.md §3.3, §3.4).
//!
//! Not handled here: HTTP itself, the providers' outbound requests (the gateway builds those).

pub mod chikka;

/// The fields of an `application/x-www-form-urlencoded` body, in order (`+` and `%XX`
/// decoded; invalid UTF-8 replaced).
#[must_use]
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}
