//! Secrets in the configuration: [`Secret`] (never printed), `*_file` variants read by
//! [`resolve_secret`], and URLs with their credentials taken out for logs and errors. A leaf:
//! the section types of the API and the transports use it without depending on the whole
//! configuration. Reference: style-and-operations.md B.1 (secrets).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// `url` with the user information (`user:password@`) replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://<redacted>@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// `text` (an error from a client library) with `url` and its password removed.
pub fn scrub_url(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let (Some(s), Some(at)) = (url.find("://"), url.rfind('@'))
        && at > s
        && let Some((_, password)) = url[s + 3..at].split_once(':')
        && !password.is_empty()
    {
        out = out.replace(password, "<redacted>");
    }
    out
}

/// A string that never appears in logs, `Debug` output or `check-config --print`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The secret in `s` as a string, empty when there is none (for a value a check made
/// required already).
pub fn exposed(s: &Option<Secret>) -> String {
    s.as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Reads a `*_file` secret into its plain field; both set is an error.
///
/// # Errors
/// When both are set or the file cannot be read.
pub fn resolve_secret(
    path: &Path,
    key: &str,
    value: &mut Option<Secret>,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
    let Some(file) = file else { return Ok(()) };
    if value.is_some() {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("{key} and {key}_file are both set: keep one"),
        });
    }
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        message: format!("{key}_file: cannot read {}: {e}", file.display()),
    })?;
    *value = Some(Secret::new(text.trim_end_matches(['\n', '\r']).to_owned()));
    Ok(())
}
