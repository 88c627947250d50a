//! Routers (`[routers.<name>]`, issue 20): a dispatcher between transports and applications,
//! on either bus, in the gateway process.
//!
//! Reference: reference/routing-and-apps.md §5 (Vumi's dispatchers: a router consumes
//! `<t>.inbound` and `<t>.event` of its transports and `<a>.outbound` of its applications,
//! and publishes `<a>.inbound`, `<a>.event` and `<t>.outbound`; the keyword router remembers
//! `message:<id>` → application so events come back to the sender).
//!
//! Three kinds of consumers per router, each acknowledging a delivery only after its onward
//! publish is confirmed (a crash between the two gives a duplicate, never a loss):
//! - `<t>.inbound` of each transport → the application [`rules::Rules::inbound`] picks →
//!   `<a>.inbound`, the message unchanged (so any Vumi application sits behind it and replies
//!   through the transport it came from);
//! - `<a>.outbound` of each application → the transport [`rules::Rules::outbound`] picks (from
//!   a pool: [`rules::Rules::pick`], by the transports' readiness) → `<t>.outbound`, after
//!   the store remembers `message_id` → application (with the configured TTL; in Redis, every
//!   instance finds it); for a pool of several, the message itself and the transports tried
//!   are remembered too. A message handed to a transport of this process, other than one of
//!   a pool of several, is not written to the store: its events find the application
//!   through the router's tag ([`tag`]);
//! - `<t>.event` → the application that sent the message → `<a>.event` (a router with one
//!   application and no pool of several transports remembers nothing: every event is its
//!   application's). A `nack` that the
//!   transport marks temporary (`transport_metadata.temporary`: the carrier took no part and
//!   refused for a passing fault) of a pool message is not passed on while the pool has a
//!   transport left to try: the message goes to that one instead (failover on refusal, not
//!   only on a link that is down).
//!
//! What has nowhere to go (no rule and no default, no transport, an event of a message no
//! application of this router sent, a body that does not decode) goes to `<router>.failures`
//! with the reason, counted. A router owns its transports' inbound and event queues: they
//! are not also the API's (checked at load).

pub mod local;
mod route;
pub mod rules;
pub(crate) mod tag;
pub mod telemetry;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::rules::Rules;
use crate::admin::Readiness;
use crate::bus::{Bus, Delivery};
use crate::store::Store;
use crate::transport::common;

pub use self::rules::{RouterConfig, Rule, Strategy, Transports};

/// Deliveries each consumer of a router works on at once.
const IN_FLIGHT: usize = 64;

/// One router, shared by its consumers.
struct Router {
    name: String,
    rules: Rules,
    bus: Bus,
    store: Store,
    readiness: Readiness,
    /// Pool messages routed so far (round robin's turn).
    turn: AtomicUsize,
    /// Messages being handed to a transport of this process now ([`tag`]); kept across a
    /// reload.
    in_flight: Arc<tag::InFlight>,
    /// Forwarded transports whose events of forwarded messages go to `<t>.receipts`.
    receipt_takers: Vec<String>,
    counters: telemetry::Counters,
}

/// What the router remembers of an outbound message: the application that sent it and, for
/// a pool of several transports, the transports tried and the message (to try the next).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Sent {
    app: String,
    #[serde(default)]
    tried: Vec<String>,
    #[serde(default)]
    body: String,
}

impl Sent {
    /// What is kept of `body`, sent by `app` to `transport`: for a pool of `several`, the
    /// transport tried and the message too (to try the next).
    fn new(app: String, transport: &str, several: bool, body: &[u8]) -> Self {
        Self {
            app,
            tried: if several {
                vec![transport.to_owned()]
            } else {
                Vec::new()
            },
            body: if several {
                String::from_utf8_lossy(body).into_owned()
            } else {
                String::new()
            },
        }
    }

    /// The stored form: the application's name alone when there is nothing else to keep
    /// (names cannot start with `{`), else JSON.
    fn encode(&self) -> Vec<u8> {
        if self.body.is_empty() {
            self.app.clone().into_bytes()
        } else {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }

    fn decode(raw: &[u8]) -> Self {
        if raw.first() == Some(&b'{')
            && let Ok(sent) = serde_json::from_slice(raw)
        {
            return sent;
        }
        Self {
            app: String::from_utf8_lossy(raw).into_owned(),
            tried: Vec::new(),
            body: String::new(),
        }
    }
}

/// Why a router could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A rule's regex (validated at load, so not expected).
    #[error("routers.{name}: {source}")]
    Regex {
        name: String,
        #[source]
        source: regex::Error,
    },
}

/// Declares the router's queues and starts its consumers; they stop taking deliveries when
/// `intake` is cancelled and finish the ones they hold.
///
/// # Errors
/// [`StartError`].
///
/// `receipt_takers`: the transports that consume `<t>.receipts` (SMPP servers: the events of
/// what their clients sent, forwarded, go there); a forwarded message of another transport
/// has its events dropped.
pub async fn spawn(
    name: &str,
    config: &RouterConfig,
    ctx: &crate::transport::Context,
    receipt_takers: &[String],
    tracker: &TaskTracker,
    intake: &CancellationToken,
) -> Result<Handle, StartError> {
    let bus = &ctx.bus;
    let rules = Rules::new(config.clone()).map_err(|source| StartError::Regex {
        name: name.to_owned(),
        source,
    })?;
    let mut queues = vec![format!("{name}.failures")];
    for a in &config.applications {
        queues.extend(crate::bus::transport_queues(a));
    }
    let receipt_takers: Vec<String> = config
        .forward
        .keys()
        .filter(|s| receipt_takers.contains(s))
        .cloned()
        .collect();
    for source in &receipt_takers {
        queues.push(format!("{source}.receipts"));
    }
    // A refused topology keeps the bus not ready (and is retried); it is not fatal.
    if let Err(e) = bus.declare_queues(&queues).await {
        tracing::error!(message = "Cannot declare the router's queues.", router = name, error = %e);
    }
    let router = Arc::new(Router::new(
        name,
        rules,
        ctx,
        Arc::default(),
        receipt_takers,
        config,
    ));
    let handle = Handle {
        name: name.to_owned(),
        cell: Arc::new(std::sync::RwLock::new(router.clone())),
        ctx: ctx.clone(),
    };
    for t in &config.transports {
        local::register_router(t, router.clone());
        let (h, t2) = (handle.clone(), t.clone());
        spawn_consumer(
            tracker,
            intake,
            &router.bus,
            format!("{t}.inbound"),
            move |d| {
                let (r, t) = (h.current(), t2.clone());
                async move { r.inbound(&t, d).await }
            },
        );
        let h = handle.clone();
        spawn_consumer(
            tracker,
            intake,
            &router.bus,
            format!("{t}.event"),
            move |d| {
                let r = h.current();
                async move { r.event(d).await }
            },
        );
    }
    for a in &config.applications {
        let (h, a2) = (handle.clone(), a.clone());
        spawn_consumer(
            tracker,
            intake,
            &router.bus,
            format!("{a}.outbound"),
            move |d| {
                let (r, a) = (h.current(), a2.clone());
                async move { r.outbound(&a, d).await }
            },
        );
    }
    tracing::info!(
        message = "Router up.",
        router = name,
        transports = config.transports.len(),
        applications = config.applications.len(),
        rules = config.rules.len()
    );
    Ok(handle)
}

impl Router {
    fn new(
        name: &str,
        rules: Rules,
        ctx: &crate::transport::Context,
        in_flight: Arc<tag::InFlight>,
        receipt_takers: Vec<String>,
        config: &RouterConfig,
    ) -> Self {
        Self {
            name: name.to_owned(),
            rules,
            bus: ctx.bus.clone(),
            store: ctx.store.clone(),
            readiness: ctx.readiness.clone(),
            turn: AtomicUsize::new(0),
            in_flight,
            receipt_takers,
            counters: telemetry::Counters::new(
                name,
                &config.applications,
                &config.transports,
                config.rules.len(),
                config.default.is_some(),
            ),
        }
    }
}

/// A running router as its consumers find it: replaced whole when its rules are reloaded
/// (SIGHUP), so a delivery is routed by one table from start to end.
#[derive(Clone)]
pub struct Handle {
    name: String,
    cell: Arc<std::sync::RwLock<Arc<Router>>>,
    ctx: crate::transport::Context,
}

impl Handle {
    fn current(&self) -> Arc<Router> {
        self.cell
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Takes `config`'s rules, default and pools (`mt_transport`, `forward` targets). The
    /// transports and applications it connects, and the transports it forwards from, are its
    /// queues: changing those needs a restart.
    ///
    /// # Errors
    /// What changed that cannot be taken while running, or a rule that does not compile.
    pub fn reload(&self, config: &RouterConfig) -> Result<(), String> {
        let old = self.current();
        let was = old.rules.config();
        let set = |v: &[String]| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
        let sources = |c: &RouterConfig| c.forward.keys().cloned().collect::<Vec<_>>();
        // Sets: the same queues in another order change nothing consumed.
        if set(&was.transports) != set(&config.transports)
            || set(&was.applications) != set(&config.applications)
            || sources(was) != sources(config)
        {
            return Err(format!(
                "routers.{}: transports, applications and forward sources take a restart",
                self.name
            ));
        }
        let rules =
            Rules::new(config.clone()).map_err(|e| format!("routers.{}: {e}", self.name))?;
        let router = Arc::new(Router::new(
            &self.name,
            rules,
            &self.ctx,
            old.in_flight.clone(),
            old.receipt_takers.clone(),
            config,
        ));
        for t in &config.transports {
            local::register_router(t, router.clone());
        }
        *self
            .cell
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = router;
        Ok(())
    }
}

fn spawn_consumer<F, Fut>(
    tracker: &TaskTracker,
    intake: &CancellationToken,
    bus: &Bus,
    queue: String,
    handle: F,
) where
    F: Fn(Delivery) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (bus, intake) = (bus.clone(), intake.clone());
    tracker.spawn(async move { common::consume(&bus, &queue, IN_FLIGHT, &intake, handle).await });
}
