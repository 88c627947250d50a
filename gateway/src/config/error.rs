//! Configuration errors and the checks every section shares (durations, certificates,
//! transport ids). A leaf: the API's and the transports' sections use it without depending on
//! the whole configuration.

use std::path::PathBuf;

/// A configuration problem, with where it came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The longest backoff or retry delay any `*_seconds` option may ask for (a day): larger
/// values are typing mistakes, and beyond ~1.8e19 s a `Duration` cannot hold them.
pub const MAX_BACKOFF_SECONDS: f64 = 86_400.0;

/// The longest duration or lifetime any `*_seconds` option takes (ten years): beyond it a
/// deadline could overflow, and Redis refuses the expiry.
pub const MAX_DURATION_SECONDS: u64 = 10 * 365 * 86_400;

/// Checks that `pem` holds at least one certificate and nothing unreadable.
///
/// # Errors
/// What is wrong with it.
pub fn check_pem_certificates(pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        n += 1;
    }
    if n == 0 {
        return Err("no certificate in it".into());
    }
    Ok(())
}

/// Checks a `*_seconds` option: 1 to [`MAX_DURATION_SECONDS`]; the error names `key`.
///
/// # Errors
/// The message, naming the key.
pub fn check_seconds(key: &str, value: u64) -> Result<(), String> {
    if (1..=MAX_DURATION_SECONDS).contains(&value) {
        Ok(())
    } else {
        Err(format!("{key}: 1 to {MAX_DURATION_SECONDS} (ten years)"))
    }
}

pub(crate) fn valid_transport_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
