//! What the API answers when it cannot do what was asked: one error enum, each variant with an
//! HTTP status, a stable `code()` (also the `error` field of the JSON body) and, for bad input,
//! the name of the field at fault.
//!
//! Body: `{"error": "<code>", "message": "<text>", "field": "<name>"}` (`field` only for
//! `invalid_field`; `partly_sent` (207) adds `sent`, the records of the messages sent,
//! `unconfirmed`, those whose fate is unknown, and `not_sent`, `[{"to_msisdn", "reason"}]`
//! for the others). 401 adds `WWW-Authenticate: Basic`, 429 adds `Retry-After` (seconds).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("authentication required: HTTP Basic with a configured account, or a Bearer token")]
    Unauthorized,
    #[error("too many password checks under way; retry shortly (or use an API token)")]
    Busy,
    #[error("rate limit reached; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("no such message")]
    NotFound,
    #[error("the request was not received in time")]
    Timeout,
    #[error("the body is larger than {max_bytes} bytes")]
    BodyTooLarge { max_bytes: usize },
    #[error("no such endpoint")]
    NoRoute,
    #[error("send application/x-www-form-urlencoded or application/json")]
    UnsupportedMediaType,
    #[error("the message bus did not take the message: {0}")]
    Bus(String),
    /// The bus took the messages of some recipients only: `sent` lists their records,
    /// `not_sent` the others (`to_msisdn`, `reason`), to which nothing was sent, and
    /// `unconfirmed` the records of messages whose fate is unknown (they may go out; their
    /// status tells). Answered 207: some messages do go out, so never a retryable 503.
    #[error("the message bus took {} of {} messages; the others were not sent", .sent.len(), .sent.len() + .unconfirmed.len() + .not_sent.len())]
    PartlySent {
        sent: Vec<serde_json::Value>,
        unconfirmed: Vec<serde_json::Value>,
        not_sent: Vec<serde_json::Value>,
    },
    #[error("the state store is unavailable")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A bad value of `field`.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A stable snake_case code, used in the body and as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Busy => "busy",
            Self::RateLimited { .. } => "rate_limited",
            Self::Invalid { .. } => "invalid_field",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::NoRoute => "no_route",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Bus(_) => "bus_unavailable",
            Self::PartlySent { .. } => "partly_sent",
            Self::Store(_) => "store_unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PartlySent { .. } => StatusCode::MULTI_STATUS,
            Self::Busy | Self::Bus(_) | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "error": self.code(),
            "message": self.to_string(),
        });
        if let Self::Invalid { field, .. } = &self {
            body["field"] = serde_json::Value::String(field.clone());
        }
        if let Self::PartlySent {
            sent,
            unconfirmed,
            not_sent,
        } = &self
        {
            body["sent"] = serde_json::Value::Array(sent.clone());
            body["unconfirmed"] = serde_json::Value::Array(unconfirmed.clone());
            body["not_sent"] = serde_json::Value::Array(not_sent.clone());
        }
        if let Self::Store(e) = &self {
            tracing::warn!(message = "API request failed on the store.", error = %e);
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"richmond\", charset=\"UTF-8\""),
                );
            }
            Self::RateLimited {
                retry_after_seconds,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Self::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Bus(_) | Self::Store(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}
