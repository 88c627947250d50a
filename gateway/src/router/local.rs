//! In-process shortcuts between a router and the transports it runs beside. A router runs
//! in the process of its transports (it needs their readiness for pools), so the hops through
//! `<t>.inbound`, `<t>.event` and `<t>.outbound` — a publish with its confirm, a delivery and
//! its ack, each message — can be skipped:
//!
//! - a transport's publish to `<t>.inbound` or `<t>.event` ([`crate::transport::common::publish`])
//!   asks the router first ([`take`]); the router publishes to `<a>.inbound`, `<a>.event` or
//!   `<router>.failures` at once, with the transport's own rule for a refused publish, and
//!   the transport acknowledges its carrier only after that publish is confirmed, as before.
//!   When the router cannot decide now (its store is down) it declines and the message takes
//!   the queue, whose consumer (still running, for messages other processes publish) retries;
//! - a router's outbound consumer hands `<a>.outbound` deliveries straight to the transport's
//!   outbound handler ([`handler`]), under the transport's own limit of messages in flight;
//!   the transport acknowledges the delivery after the carrier answered, as it would its own.
//!
//! The registry is per process and keyed by transport id (ids are unique in a
//! configuration; one gateway per process).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use richmond_codecs::vumi::UserMessage;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Router;
use crate::bus::{BusError, Delivery};
use crate::transport::common::OnRefusal;

/// A transport's outbound handler.
type Handle =
    Arc<dyn Fn(UserMessage, Delivery) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A transport's outbound handler with its limit, its intake and the tracker it waits on
/// before stopping its carrier link.
#[derive(Clone)]
pub(crate) struct Handler {
    handle: Handle,
    limit: Arc<Semaphore>,
    intake: CancellationToken,
    tasks: TaskTracker,
}

impl Handler {
    pub(crate) fn new(
        handle: Handle,
        limit: Arc<Semaphore>,
        intake: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            handle,
            limit,
            intake,
            tasks,
        }
    }

    /// Runs the transport's handler on `msg` once one of its places is free; a transport
    /// that is stopping gives the delivery back to its queue. The tracker is joined before
    /// the intake is looked at: a transport that has not yet begun to stop waits for this
    /// message before it stops its carrier link.
    pub(crate) async fn run(&self, msg: UserMessage, delivery: Delivery) {
        let _running = self.tasks.token();
        let permit = if self.intake.is_cancelled() {
            None
        } else {
            tokio::select! {
                biased;
                () = self.intake.cancelled() => None,
                p = self.limit.acquire() => p.ok(),
            }
        };
        if permit.is_none() {
            let _ = delivery.nack(true).await;
            return;
        }
        (self.handle)(msg, delivery).await;
    }
}

#[derive(Default)]
struct Registry {
    routers: HashMap<String, Arc<Router>>,
    handlers: HashMap<String, Handler>,
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(RwLock::default)
}

/// `router` takes the inbound and events of `transport` in this process.
pub(super) fn register_router(transport: &str, router: Arc<Router>) {
    let mut r = registry().write().unwrap_or_else(PoisonError::into_inner);
    r.routers.insert(transport.to_owned(), router);
}

/// `transport`'s outbound handler, for the router that feeds it.
pub(crate) fn register_handler(transport: &str, handler: Handler) {
    let mut r = registry().write().unwrap_or_else(PoisonError::into_inner);
    r.handlers.insert(transport.to_owned(), handler);
}

/// The outbound handler of `transport` in this process, if it runs here and takes work (a
/// transport stopping, for the gateway's drain or a lease lost, sends to the queue instead).
pub(super) fn handler(transport: &str) -> Option<Handler> {
    let r = registry().read().unwrap_or_else(PoisonError::into_inner);
    r.handlers
        .get(transport)
        .filter(|h| !h.intake.is_cancelled())
        .cloned()
}

/// Offers what transport `transport` publishes to `<transport>.<suffix>` to the router that
/// owns it here. None: not taken (no router here, not inbound or event, or the router cannot
/// decide now); the caller publishes to the queue.
pub(crate) async fn take(
    transport: &str,
    suffix: &str,
    body: &Bytes,
    on_refusal: OnRefusal,
) -> Option<Result<(), BusError>> {
    if suffix != "inbound" && suffix != "event" {
        return None;
    }
    let router = {
        let r = registry().read().unwrap_or_else(PoisonError::into_inner);
        r.routers.get(transport).cloned()
    }?;
    // Boxed: the router publishes through the same `publish` that called this.
    if suffix == "inbound" {
        Box::pin(router.pass_inbound(transport, body, on_refusal, true)).await
    } else {
        Box::pin(router.pass_event(body, on_refusal, true)).await
    }
}
