//! Optional TLS for carrier links, SMPP and SSMI (rustls with the ring provider, TLS 1.2 and
//! 1.3): the client side trusts the CA certificates of a PEM bundle (the system bundle, or
//! the peer's own CA for a private one) and checks the peer's name; the server side (the
//! simulators) serves a certificate chain and key from PEM.
//!
//! Reference: neither SMPP 3.4 nor SSMI has TLS of its own; operators run them over TLS on a
//! separate port (reference/smpp.md, "Transport"). Not handled here: client certificates.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

/// Why TLS cannot be set up from the configured files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("TLS server name {name:?}: {source}")]
    ServerName {
        name: String,
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    /// A PEM file (`what`: the CA bundle, the certificate, the key) does not parse.
    #[error("{what}: {source}")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{0}: no certificate in it")]
    NoCertificate(&'static str),
    /// rustls refused a certificate, the key, or the protocol versions.
    #[error("{what}: {source}")]
    Rustls {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

fn rustls_error(what: &'static str) -> impl FnOnce(rustls::Error) -> TlsError {
    move |source| TlsError::Rustls { what, source }
}

fn pem_error(what: &'static str) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
    move |source| TlsError::Pem { what, source }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How an ESME wraps its TCP connection in TLS.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Trusts the certificates in `ca_pem` and expects the SMSC to be `server_name` (a DNS
    /// name or an IP address).
    ///
    /// # Errors
    /// When the name is invalid or the bundle holds no usable certificate.
    pub fn new(server_name: &str, ca_pem: &[u8]) -> Result<Self, TlsError> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|source| {
            TlsError::ServerName {
                name: server_name.to_owned(),
                source,
            }
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(pem_error("CA bundle"))?;
            roots
                .add(cert)
                .map_err(rustls_error("CA bundle: a certificate is not usable"))?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoCertificate("CA bundle"));
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rustls_error("TLS"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake over `tcp`.
    ///
    /// # Errors
    /// The handshake failed (untrusted certificate, wrong name, not TLS).
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<client::TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// The SMSC side: serves the chain in `cert_pem` with the key in `key_pem`.
#[derive(Clone)]
pub struct TlsServer(TlsAcceptor);

impl TlsServer {
    /// # Errors
    /// When the PEM holds no certificate or no usable key.
    pub fn new(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(pem_error("certificate"))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate("certificate"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(pem_error("key"))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rustls_error("TLS"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(rustls_error("certificate and key"))?;
        Ok(Self(TlsAcceptor::from(Arc::new(config))))
    }

    /// Serves the chain in file `cert` with the key in file `key` (PEM).
    ///
    /// # Errors
    /// A file cannot be read, or [`Self::new`] refuses them.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, TlsError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|source| TlsError::Read {
                path: p.to_owned(),
                source,
            })
        };
        Self::new(&read(cert)?, &read(key)?)
    }

    /// The TLS handshake of an accepted connection.
    ///
    /// # Errors
    /// The handshake failed.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<server::TlsStream<TcpStream>> {
        self.0.accept(tcp).await
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::{Tls, TlsError, TlsServer};

    #[test]
    fn errors_name_the_file_and_keep_their_cause() {
        let missing = std::path::Path::new("/nonexistent/richmond/cert.pem");
        let Err(e) = TlsServer::from_files(missing, missing) else {
            panic!("loaded a missing file");
        };
        assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
        assert!(
            e.to_string().contains("/nonexistent/richmond/cert.pem"),
            "{e}"
        );
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
        let Err(e) = Tls::new("smsc.example", b"not a certificate") else {
            panic!("trusted an empty bundle");
        };
        assert_eq!(e.to_string(), "CA bundle: no certificate in it");
        let Err(e) = Tls::new("bad name!", b"") else {
            panic!("took a bad server name");
        };
        assert!(
            matches!(e, TlsError::ServerName { .. }) && e.source().is_some(),
            "{e}"
        );
    }
}
