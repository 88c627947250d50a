//! The admin listener (axum, loopback by default): `/metrics`, `/live`, `/ready`.
//!
//! Readiness is a registry of named components (the bus, the store, each transport), each
//! up or down, plus a draining flag: `/ready` is 200 only when every registered component is
//! up and no drain is under way; otherwise 503 with a body naming what is not ready.
//! Reference: style-and-operations.md B.5 (linkerd2-proxy's admin server).

use crate::telemetry::ReadinessChanged;
use richmond_drivers::telemetry::Event as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Shared readiness state.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<Mutex<ReadyState>>,
}

#[derive(Default)]
struct ReadyState {
    components: BTreeMap<String, bool>,
    draining: bool,
}

impl Readiness {
    /// Registers `name` as a component that must be up; it starts down.
    pub fn register(&self, name: &str) {
        self.lock()
            .components
            .entry(name.to_owned())
            .or_insert(false);
        self.publish(name, false);
    }

    /// Takes `name` out of what must be up (a transport another instance runs); it reads
    /// as down.
    pub fn stand_by(&self, name: &str) {
        if self.lock().components.remove(name).is_some() {
            self.publish(name, false);
        }
    }

    /// Marks a component up or down.
    pub fn set(&self, name: &str, up: bool) {
        let changed = self.lock().components.insert(name.to_owned(), up) != Some(up);
        if changed {
            self.publish(name, up);
        }
    }

    /// Whether component `name` is registered and up.
    pub fn is_up(&self, name: &str) -> bool {
        self.lock().components.get(name).copied().unwrap_or(false)
    }

    /// Starts the drain: readiness turns false for good.
    pub fn start_draining(&self) {
        self.lock().draining = true;
        ReadinessChanged {
            component: None,
            ready: false,
        }
        .emit();
    }

    /// Whether the gateway takes traffic, and if not, why.
    pub fn check(&self) -> Result<(), String> {
        let st = self.lock();
        if st.draining {
            return Err("draining".into());
        }
        let down: Vec<&str> = st
            .components
            .iter()
            .filter(|(_, up)| !**up)
            .map(|(n, _)| n.as_str())
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("not ready: {}", down.join(", ")))
        }
    }

    fn publish(&self, name: &str, up: bool) {
        ReadinessChanged {
            component: Some((name, up)),
            ready: self.check().is_ok(),
        }
        .emit();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadyState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: PrometheusHandle,
    readiness: Readiness,
}

/// The admin routes, for serving or for tests.
pub fn router(metrics: PrometheusHandle, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/live", get(|| async { "live\n" }))
        .route("/ready", get(ready))
        .with_state(AdminState { metrics, readiness })
}

async fn render_metrics(State(st): State<AdminState>) -> impl IntoResponse {
    crate::process_metrics::sample();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
}

async fn ready(State(st): State<AdminState>) -> impl IntoResponse {
    match st.readiness.check() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Serves the admin routes on `listener` until `stop` is cancelled, over TLS with `tls`
/// (bounded like the API's front door: 10 s to send a header, 256 connections). Also runs the
/// exporter's periodic upkeep.
pub async fn serve(
    listener: TcpListener,
    metrics: PrometheusHandle,
    readiness: Readiness,
    tls: Option<Arc<crate::listener_tls::ListenerTls>>,
    stop: CancellationToken,
) {
    let upkeep = metrics.clone();
    let upkeep_stop = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => upkeep.run_upkeep(),
                () = upkeep_stop.cancelled() => break,
            }
        }
    });
    let limits = crate::api::listener::Limits {
        header_timeout: std::time::Duration::from_secs(10),
        max_connections: 256,
        tls,
        listener: crate::api::telemetry::Listener::Admin,
    };
    crate::api::listener::serve(listener, router(metrics, readiness), limits, stop).await;
}
