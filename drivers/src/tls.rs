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
    /// A message when the name is invalid or the bundle holds no usable certificate.
    pub fn new(server_name: &str, ca_pem: &[u8]) -> Result<Self, String> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| format!("TLS server name {server_name:?}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA bundle: a certificate is not usable: {e}"))?;
        }
        if roots.is_empty() {
            return Err("CA bundle: no certificate in it".into());
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
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
    /// A message when the PEM holds no certificate or no usable key.
    pub fn new(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate: {e}"))?;
        if chain.is_empty() {
            return Err("certificate: no certificate in the PEM".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("key: {e}"))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("certificate and key: {e}"))?;
        Ok(Self(TlsAcceptor::from(Arc::new(config))))
    }

    /// Serves the chain in file `cert` with the key in file `key` (PEM).
    ///
    /// # Errors
    /// A file cannot be read, or [`Self::new`] refuses them.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, String> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
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
