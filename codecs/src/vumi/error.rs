//! The error of the Vumi codec: why a body is not a valid Vumi message.
//!
//! Reference: reference/vumi.md §1.1–§1.5 (the validation rules of vumi 0.6 `message.py`).
//!
//! Errors are small and `Copy`: they name the offending field with a `&'static str` and never
//! carry input data (no MSISDNs or message text in logs or metric labels). The underlying
//! `serde_json` error is deliberately dropped.

/// Why bytes could not be decoded as a Vumi message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not well-formed JSON (or not UTF-8).
    #[error("body is not valid json")]
    NotJson,
    /// The body is JSON but its top level is not an object.
    #[error("body is not a json object")]
    NotAnObject,
    /// `message_version` is present but is not `"20110921"`.
    #[error("message_version is not \"20110921\"")]
    WrongVersion,
    /// A key the message type requires is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A key is present but its value has the wrong JSON type or is out of its value set.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong with it, lowercase.
        reason: &'static str,
    },
    /// `message_type` is not one of `user_message`, `event`, `status_event`, `failure_message`.
    #[error("unknown message_type")]
    UnknownMessageType,
    /// `timestamp` is a string but not in the Vumi format `%Y-%m-%d %H:%M:%S[.%f]`.
    #[error("timestamp is not in the vumi date format yyyy-mm-dd hh:mm:ss.ffffff")]
    BadTimestamp,
}

impl Error {
    /// A stable snake_case code, usable as a bounded metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::NotAnObject => "not_an_object",
            Self::WrongVersion => "wrong_version",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnknownMessageType => "unknown_message_type",
            Self::BadTimestamp => "bad_timestamp",
        }
    }

    /// The wire name of the field the error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NotJson | Self::NotAnObject => None,
            Self::WrongVersion => Some("message_version"),
            Self::MissingField(field) | Self::InvalidField { field, .. } => Some(field),
            Self::UnknownMessageType => Some("message_type"),
            Self::BadTimestamp => Some("timestamp"),
        }
    }

    pub(crate) const fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidField { field, reason }
    }
}
