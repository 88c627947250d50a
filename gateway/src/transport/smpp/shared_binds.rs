//! `shared_binds`: one SMPP transport run by several instances, its binds split between them
//! (issue 23 point 4). The transport's `shared_binds` binds are the slots of one lease in
//! Redis (`crate::cluster::lease`, slot `i` is `lease:<t>/binds:<i>`); each instance runs up
//! to `binds` workers, each holding one slot and running that slot's bind (a transceiver, or
//! a transmitter and a receiver) while it does. The first ⌈shared_binds / instances⌉ workers
//! of an instance try at once, the rest a lease period later, so instances started together
//! split the binds; a slot whose instance died is free a lease later and is taken by a
//! waiting worker elsewhere — the SMSC never sees more than `shared_binds` binds from the
//! instances together.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Shared, start_bind};

/// Starts this instance's workers on `tracker`; they stop with `stop`.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(), crate::transport::StartError> {
    let config = &shared.config;
    let total = config.shared_binds;
    // Every slot's bind settings, in slot order (a pair's two binds together).
    let mut all = config.clone();
    all.binds = total as usize;
    let configs =
        all.bind_configs(&shared.id)
            .map_err(|detail| crate::transport::StartError::Config {
                id: shared.id.clone(),
                detail,
            })?;
    let per_slot = configs.len() / (total as usize).max(1);
    let configs = Arc::new(configs);
    let cluster = &shared.ctx.cluster;
    let fair = (total as usize).div_ceil(cluster.instances.max(1) as usize);
    let workers = config.binds.min(total as usize);
    for worker in 0..workers {
        let lease = crate::cluster::lease::Leased {
            transport: format!("{}/binds", shared.id),
            holder: cluster.name(),
            lease: Duration::from_secs(cluster.lease_seconds),
            store: shared.ctx.store.clone(),
            readiness: None,
            slots: total,
            patient: worker >= fair,
        };
        let (s, configs) = (shared.clone(), configs.clone());
        let start = move |slot: usize, t: &TaskTracker, stop: &CancellationToken| {
            let from = slot * per_slot;
            for bind in configs.iter().skip(from).take(per_slot) {
                if let Err(e) = start_bind(&s, bind.clone(), t, stop) {
                    tracing::error!(message = "Cannot start the bind.", error = %e);
                }
            }
        };
        tracker.spawn(lease.run(crate::cluster::lease::start(start), stop.clone()));
    }
    Ok(())
}
