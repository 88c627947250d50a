//! The HTTP side of `http_relay` ([`super::http_relay`]): one POST with its timeout, the
//! retries with doubling pauses on a 5xx, a timeout or no connection (never on another
//! status: that is a refusal), and a limit of requests under way per URL so a slow web
//! application holds only its own places. The client is the API's callback client: the same
//! address policy (no loopback, private or link-local address unless `allowed_networks`
//! lists it, checked at every connection) and the same TLS settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Request, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use richmond_drivers::telemetry::Event as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::http_relay::{Body, HttpRelayConfig, MAX_ANSWER, MAX_PAUSE};
use super::telemetry::RelayRequest;
use crate::api::callback_client::{self, CallbackClient};
use crate::api::callback_policy::Policy;

/// A 2xx answer.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) body: Bytes,
    pub(super) headers: HeaderMap,
}

impl Answer {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One relay application's HTTP client.
pub(super) struct Relay {
    application: String,
    config: HttpRelayConfig,
    client: CallbackClient,
    policy: Arc<Policy>,
    authorization: Option<String>,
    per_url: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Cancelled when the gateway stops taking work: waits and pauses end, and the message
    /// goes back to its queue.
    intake: CancellationToken,
}

/// Why a relay gave up on a message.
pub(super) enum GaveUp {
    /// The web application refused it or never answered: to the failures, with the reason.
    Failed(String),
    /// The gateway is stopping: the message goes back to its queue.
    Stopping,
}

/// How one attempt ended.
enum Attempt {
    Answered(Answer),
    /// Worth another try (a 5xx, a timeout, no connection); the metric label.
    Retry(&'static str),
    /// Not worth another try; the label and the reason for the failures queue.
    Refused(&'static str, String),
}

impl Relay {
    /// The client of application `application`.
    ///
    /// # Errors
    /// The address policy or the TLS settings cannot be made (validated at load).
    pub(super) fn new(
        application: &str,
        config: &HttpRelayConfig,
        intake: CancellationToken,
    ) -> Result<Self, String> {
        let policy = Arc::new(config.policy()?);
        let client = callback_client::new(policy.clone(), config.tls_ca_file.as_deref())?;
        Ok(Self {
            application: application.to_owned(),
            authorization: config.authorization(),
            config: config.clone(),
            client,
            policy,
            per_url: Mutex::new(HashMap::new()),
            intake,
        })
    }

    /// Its configuration.
    pub(super) fn config(&self) -> &HttpRelayConfig {
        &self.config
    }

    fn limit(&self, url: &str) -> Arc<Semaphore> {
        let mut map = self.per_url.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(url.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_requests_per_url)))
            .clone()
    }

    /// POSTs `body` to `url` until it is answered with a 2xx, refused, or the attempts are
    /// spent; `what` (`message` or `event`) labels the metrics. A place of the URL's limit is
    /// held for each attempt only, not during the pauses between them.
    ///
    /// # Errors
    /// [`GaveUp`].
    pub(super) async fn post(
        &self,
        what: &'static str,
        url: &str,
        body: Body,
    ) -> Result<Answer, GaveUp> {
        let limit = self.limit(url);
        let mut pause = Duration::from_secs_f64(self.config.retry_initial_seconds);
        let mut last = "";
        for attempt in 1..=self.config.attempts {
            let outcome = {
                let place = tokio::select! {
                    biased;
                    () = self.intake.cancelled() => return Err(GaveUp::Stopping),
                    p = limit.acquire() => p,
                };
                let Ok(_place) = place else {
                    return Err(GaveUp::Stopping);
                };
                let started = Instant::now();
                let outcome = self.attempt(url, &body).await;
                let label = match &outcome {
                    Attempt::Answered(_) => "ok",
                    Attempt::Retry(l) | Attempt::Refused(l, _) => l,
                };
                RelayRequest {
                    application: &self.application,
                    what,
                    outcome: label,
                    seconds: started.elapsed().as_secs_f64(),
                }
                .emit();
                outcome
            };
            match outcome {
                Attempt::Answered(a) => return Ok(a),
                Attempt::Refused(_, reason) => return Err(GaveUp::Failed(reason)),
                Attempt::Retry(l) => last = l,
            }
            if attempt < self.config.attempts {
                tokio::select! {
                    biased;
                    () = self.intake.cancelled() => return Err(GaveUp::Stopping),
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
        Err(GaveUp::Failed(format!(
            "{url}: no answer after {} attempts (last: {last})",
            self.config.attempts
        )))
    }

    async fn attempt(&self, url: &str, (body, content_type): &Body) -> Attempt {
        let Ok(uri) = url.parse::<Uri>() else {
            return Attempt::Refused("bad_url", format!("{url}: not a URL"));
        };
        // Literal addresses skip the resolver: checked here, at every attempt.
        if crate::api::callbacks::literal_ip(&uri).is_some_and(|ip| !self.policy.permits(ip)) {
            return Attempt::Refused(
                "refused_address",
                format!("{url}: the address is not in allowed_networks"),
            );
        }
        let mut request = Request::post(uri)
            .header(header::CONTENT_TYPE, *content_type)
            .header(
                header::USER_AGENT,
                concat!("richmond/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(auth) = &self.authorization
            && let Ok(mut value) = header::HeaderValue::from_str(auth)
        {
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        let Ok(request) = request.body(Full::new(Bytes::from(body.clone()))) else {
            return Attempt::Refused("bad_url", format!("{url}: not a URL"));
        };
        let timeout = Duration::from_secs_f64(self.config.timeout_seconds);
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER).collect().await;
            Ok::<_, hyper_util::client::legacy::Error>((parts, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Attempt::Retry("timeout"),
            Ok(Err(e)) => match crate::api::callback_worker::failure_code(&e) {
                "refused_address" => Attempt::Refused(
                    "refused_address",
                    format!("{url}: the address is not in allowed_networks"),
                ),
                code => Attempt::Retry(code),
            },
            Ok(Ok((parts, _))) if parts.status.is_server_error() => Attempt::Retry("status_5xx"),
            Ok(Ok((parts, _))) if !parts.status.is_success() => {
                Attempt::Refused("status_other", format!("{url}: answered {}", parts.status))
            }
            Ok(Ok((_, Err(e)))) if e.is::<http_body_util::LengthLimitError>() => Attempt::Refused(
                "answer_too_long",
                format!("{url}: the answer is longer than {MAX_ANSWER} bytes"),
            ),
            // The connection broke in the middle of the answer.
            Ok(Ok((_, Err(_)))) => Attempt::Retry("connect"),
            Ok(Ok((parts, Ok(body)))) => Attempt::Answered(Answer {
                body: body.to_bytes(),
                headers: parts.headers,
            }),
        }
    }
}
