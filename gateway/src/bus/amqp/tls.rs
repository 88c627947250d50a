//! TLS for the broker link (`amqps://`): rustls with the ring provider, through lapin's
//! `rustls--ring` feature. The server certificate is verified against the system's roots,
//! and also the CAs of `bus.tls_ca_file` when it is set (checked to hold certificates at
//! load); a client certificate (`bus.tls_cert_file` +
//! `bus.tls_key_file`, PEM) is presented when configured. The host name checked is the URL's.
//!
//! [`check`] runs from the config loader: a scheme this build cannot honour, or TLS options
//! on a plain `amqp://` URL, or a cluster's URLs mixing both, are configuration errors, never a silent fallback to plain AMQP.
//! Does not handle: reloading certificates (a reconnect reads the files again).

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};

use crate::bus::BusError;
use crate::config::AmqpConfig;

/// Checks the URL scheme against the TLS options; the error names the key.
///
/// # Errors
/// A scheme other than `amqp`/`amqps`, TLS files on a plain URL, a key without a certificate
/// (or the reverse), or a file that cannot be read.
pub(crate) fn check(config: &AmqpConfig) -> Result<(), String> {
    let urls = config.urls();
    if urls.is_empty() {
        return Err("bus.url: empty".to_owned());
    }
    let mut tls = None;
    for url in urls {
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        let this = match scheme.to_ascii_lowercase().as_str() {
            "amqp" => false,
            "amqps" => true,
            _ => {
                return Err(
                    "bus.url: the scheme must be amqp:// or amqps:// (TLS, verified)".to_owned(),
                );
            }
        };
        if tls.is_some_and(|t| t != this) {
            return Err(
                "bus.url: the cluster's URLs mix amqp:// and amqps://; use one scheme".to_owned(),
            );
        }
        tls = Some(this);
    }
    let tls = tls.unwrap_or(false);
    let files = [
        ("bus.tls_ca_file", &config.tls_ca_file),
        ("bus.tls_cert_file", &config.tls_cert_file),
        ("bus.tls_key_file", &config.tls_key_file),
    ];
    for (key, file) in files {
        if let Some(f) = file {
            if !tls {
                return Err(format!(
                    "{key}: set, but bus.url is plain amqp://; use amqps://"
                ));
            }
            let pem =
                std::fs::read(f).map_err(|e| format!("{key}: cannot read {}: {e}", f.display()))?;
            if key == "bus.tls_ca_file" {
                crate::config::check_pem_certificates(&pem)
                    .map_err(|e| format!("{key} {}: {e}", f.display()))?;
            }
        }
    }
    if config.tls_cert_file.is_some() != config.tls_key_file.is_some() {
        return Err("bus.tls_cert_file and bus.tls_key_file go together".into());
    }
    Ok(())
}

/// The TLS settings of a connection (read from the files at every connect).
///
/// # Errors
/// A file that cannot be read.
pub(crate) fn config(config: &AmqpConfig) -> Result<OwnedTLSConfig, BusError> {
    let read = |f: &std::path::Path| {
        std::fs::read(f).map_err(|e| BusError::Broker(format!("cannot read {}: {e}", f.display())))
    };
    let cert_chain = match &config.tls_ca_file {
        Some(f) => Some(String::from_utf8_lossy(&read(f)?).into_owned()),
        None => None,
    };
    let identity = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
            pem: read(cert)?,
            key: read(key)?,
        }),
        _ => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}
