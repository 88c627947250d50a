//! The HTTP client of the provider transports: `http://` and `https://` (rustls, the system's
//! trusted roots, or only `tls_ca_file`'s), one POST at a time per call with a time limit,
//! the answer's status and body (read up to a bound).
//!
//! Unlike the API's callback client there is no address policy: the base URL is the
//! operator's own setting, not a value an API client chose.
//!
//! Not handled: proxies, HTTP/2, redirects (a provider that redirects is answered as its
//! status says).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Longest answer body read from a provider.
const MAX_BODY: usize = 64 * 1024;

/// What a request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The provider answered `status` with `body`.
    Status { status: u16, body: String },
    /// No answer: the connection failed or timed out (`why`).
    None { why: &'static str },
}

/// A provider client.
#[derive(Clone)]
pub(crate) struct ProviderClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl ProviderClient {
    /// A client whose requests take at most `timeout`, trusting the roots in `ca_file` (or
    /// the system's).
    ///
    /// # Errors
    /// The TLS settings cannot be made.
    pub(crate) fn new(timeout: Duration, ca_file: Option<&Path>) -> Result<Self, String> {
        let roots = crate::api::callback_client::roots(ca_file).or_else(|e| {
            if ca_file.is_some() {
                Err(e)
            } else {
                tracing::warn!(message = "No trusted roots; https providers will fail.", error = %e);
                Ok(rustls::RootCertStore::empty())
            }
        })?;
        let tls = crate::api::callback_client::tls_config(roots)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// POSTs `body` (of `content_type`) to `url`.
    pub(crate) async fn post(&self, url: &str, content_type: &str, body: Vec<u8>) -> Answer {
        self.post_with(url, content_type, &[], body).await
    }

    /// POSTs `body` (of `content_type`) to `url` with more `headers` (names in lower case).
    pub(crate) async fn post_with(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&'static str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let Ok(uri) = url.parse::<Uri>() else {
            return Answer::None { why: "bad_url" };
        };
        let mut request = Request::post(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(
                header::USER_AGENT,
                concat!("richmond/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body)));
        let Ok(request) = request else {
            return Answer::None { why: "bad_url" };
        };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|_| "connect")?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|_| "body")?
                .to_bytes();
            Ok::<_, &'static str>((status, String::from_utf8_lossy(&body).into_owned()))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Answer::None { why: "timeout" },
            Ok(Err(why)) => Answer::None { why },
            Ok(Ok((status, body))) => Answer::Status { status, body },
        }
    }
}
