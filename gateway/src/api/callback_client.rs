//! The HTTP client of the callback worker: `http://` and `https://` URLs, names resolved
//! through the address policy ([`super::callback_policy`]), TLS by rustls (ring provider,
//! TLS 1.2 and 1.3) verifying the receiver's certificate and name against the system's
//! trusted roots, or only against `api.callback_tls_ca_file` when it is set (a private CA).
//!
//! Does not handle: client certificates, proxies, HTTP/2.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::callback_policy::{GuardedResolver, Policy};

/// The callback client.
pub(crate) type CallbackClient =
    Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// The roots trusted for `https://` callbacks: the certificates in `ca_file`, or the
/// system's when it is `None`.
///
/// # Errors
/// The file cannot be read or holds no usable certificate; the system has no roots.
pub(crate) fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(f) => {
            let pem = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("{}: {e}", f.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: a certificate is not usable: {e}", f.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        return Err(match ca_file {
            Some(f) => format!("{}: no certificate in it", f.display()),
            None => "the system has no trusted CA certificates (install ca-certificates, or \
                     set api.callback_tls_ca_file)"
                .into(),
        });
    }
    Ok(roots)
}

/// Client TLS settings trusting `roots`: rustls with the ring provider, TLS 1.2 and 1.3, no
/// client certificate (also the HTTP-provider transports' client).
///
/// # Errors
/// The provider lacks the safe default versions.
pub(crate) fn tls_config(roots: RootCertStore) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client for callbacks under `policy`. Without usable roots `https://` attempts fail
/// (logged here) while `http://` ones still work.
///
/// # Errors
/// The TLS settings cannot be made (the provider lacks the safe default versions).
pub(crate) fn new(policy: Arc<Policy>, ca_file: Option<&Path>) -> Result<CallbackClient, String> {
    let roots = roots(ca_file).unwrap_or_else(|e| {
        tracing::warn!(message = "No trusted roots for https callbacks; they will fail.", error = %e);
        RootCertStore::empty()
    });
    let tls = tls_config(roots)?;
    let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(policy));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
