//! TLS for Richmond's own listeners (the HTTP API, the admin listener and SMPP servers):
//! rustls with the ring provider serving a certificate chain and key from PEM files
//! (`tls_cert_file`, `tls_key_file` of `[api]` / `[admin]` / an `smpp_server` transport). The files are read at start and again on SIGHUP
//! ([`ListenerTls::reload`]): connections accepted afterwards get the new certificate, open
//! ones keep theirs, and files that do not load leave the old certificate in place (logged,
//! counted in `richmond_listener_tls_reloads_total{listener,outcome}`).
//!
//! Does not handle: client certificates, SNI with several certificates, the handshake's time
//! limit (the listener's header timeout, see `crate::api::listener`).

use crate::telemetry::CertificateReloaded;
use richmond_drivers::telemetry::Event as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use richmond_drivers::tls::TlsServer;

/// The certificate a listener serves, reloadable.
pub struct ListenerTls {
    /// `api`, `admin` or `smpp_server`: the metric label and log field.
    listener: &'static str,
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<TlsServer>,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("listener", &self.listener)
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// Checks a listener's TLS options: both files or neither, and they load. `prefix` names the
/// section in the error (`api`, `admin`).
///
/// # Errors
/// The message names the key.
pub(crate) fn check(prefix: &str, cert: Option<&Path>, key: Option<&Path>) -> Result<(), String> {
    match (cert, key) {
        (None, None) => Ok(()),
        (Some(c), Some(k)) => load(c, k)
            .map(|_| ())
            .map_err(|e| format!("{prefix}.tls_cert_file / {prefix}.tls_key_file: {e}")),
        _ => Err(format!(
            "{prefix}.tls_cert_file and {prefix}.tls_key_file go together"
        )),
    }
}

fn load(cert: &Path, key: &Path) -> Result<TlsServer, richmond_drivers::tls::TlsError> {
    TlsServer::from_files(cert, key)
}

impl ListenerTls {
    /// TLS for `listener` when both files are set (`None` when neither is).
    ///
    /// # Errors
    /// Only one file set, or the files do not load.
    pub(crate) fn new(
        listener: &'static str,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<Arc<Self>>, String> {
        check(listener, cert, key)?;
        let (Some(cert), Some(key)) = (cert, key) else {
            return Ok(None);
        };
        let current = load(cert, key).map_err(|e| format!("{listener}: {e}"))?;
        Ok(Some(Arc::new(Self {
            listener,
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(current),
        })))
    }

    /// The certificate new connections get.
    pub(crate) fn server(&self) -> TlsServer {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again; on failure the old certificate stays.
    pub fn reload(&self) {
        match load(&self.cert, &self.key) {
            Ok(server) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = server;
                CertificateReloaded {
                    listener: self.listener,
                    error: None,
                }
                .emit();
            }
            Err(e) => {
                CertificateReloaded {
                    listener: self.listener,
                    error: Some(&e),
                }
                .emit();
            }
        }
    }

    /// `api`, `admin` or `smpp_server`.
    pub(crate) fn listener(&self) -> &'static str {
        self.listener
    }
}
