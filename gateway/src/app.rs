//! Wiring and lifetime of the running gateway: admin listener, bus, store, transports, and
//! the drain on SIGTERM/SIGINT.
//!
//! Shutdown order (style-and-operations.md B.4): `/ready` turns 503, intake stops (the
//! transports' cancellation token), in-flight work finishes or is handed back to the bus, the
//! bus flushes and closes, then exit 0 — or 75 when `shutdown.drain_timeout_seconds` passed
//! first. A second signal exits at once with status 1.

use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, Readiness};
use crate::bus::Bus;
use crate::bus::amqp::AmqpBus;
use crate::bus::embedded::EmbeddedBus;
use crate::cli::exit;
use crate::config::{BusConfig, Config};
use crate::store::Store;

/// Checks what the config needs from the machine: a writable data directory.
///
/// # Errors
/// Naming the directory and the problem.
pub fn check_environment(config: &Config) -> anyhow::Result<()> {
    if !config.uses_data_dir() {
        return Ok(());
    }
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("data_dir {}: cannot create it", dir.display()))?;
    let probe = dir.join(format!(".richmond-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("data_dir {}: not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Opens the configured bus.
///
/// # Errors
/// When the embedded spool cannot be opened.
pub fn open_bus(config: &Config) -> anyhow::Result<Bus> {
    Ok(match &config.bus {
        BusConfig::Embedded(e) => Bus::Embedded(EmbeddedBus::open(&config.data_dir, e)?),
        BusConfig::Amqp(a) => Bus::Amqp(AmqpBus::start(a)),
    })
}

/// Runs the gateway until a signal; returns the exit code.
///
/// # Errors
/// When a component cannot start (admin address in use, spool unusable, store unreachable).
pub async fn run(config: Config, config_path: std::path::PathBuf) -> anyhow::Result<u8> {
    // Watched from the start: a SIGHUP (a certificate reload) or SIGTERM that comes while
    // the bus and transports start must not kill the process with the default action.
    let mut signals = Signals::new()?;
    check_environment(&config)?;
    let metrics = crate::telemetry::init_metrics()?;
    let readiness = Readiness::default();
    readiness.register("bus");
    readiness.register("store");
    for id in config.transports.keys() {
        readiness.register(&format!("transport:{id}"));
    }
    let stop_admin = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(config.admin.address)
        .await
        .with_context(|| format!("admin.address {}: cannot listen", config.admin.address))?;
    let admin_tls = crate::listener_tls::ListenerTls::new(
        "admin",
        config.admin.tls_cert_file.as_deref(),
        config.admin.tls_key_file.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let admin_task = tokio::spawn(admin::serve(
        listener,
        metrics,
        readiness.clone(),
        admin_tls.clone(),
        stop_admin.clone(),
    ));
    tracing::info!(message = "Admin listener up.", address = %config.admin.address, tls = admin_tls.is_some());
    let mut certificates: Vec<_> = admin_tls.into_iter().collect();

    let bus = open_bus(&config)?;
    if let BusConfig::Embedded(_) = &config.bus {
        crate::process_metrics::watch_file(
            "spool",
            config.data_dir.join(crate::bus::embedded::spool::FILE_NAME),
        );
    }
    if let crate::config::StoreConfig::Redb { .. } = &config.store {
        crate::process_metrics::watch_file(
            "store",
            config.data_dir.join(crate::store::redb::FILE_NAME),
        );
    }
    let store = Store::open(&config)
        .await
        .context("cannot open the state store")?;
    for id in config.transports.keys() {
        // A refused topology keeps the bus not ready (and is retried); it is not fatal.
        if let Err(e) = bus.declare_transport(id).await {
            tracing::error!(message = "Cannot declare the transport's queues.", transport = %id, error = %e);
        }
    }

    // In-process simulators start first and stop last, so transports find their peer up.
    let stop_simulators = CancellationToken::new();
    config.simulator.start(&stop_simulators).await?;
    let intake = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(watch_health(
        bus.clone(),
        store.clone(),
        readiness.clone(),
        intake.clone(),
    ));
    if let (
        Store::Redb(s),
        crate::config::StoreConfig::Redb {
            compact_interval_seconds,
            ..
        },
    ) = (&store, &config.store)
    {
        let (s, stop) = (s.clone(), intake.clone());
        let interval = Duration::from_secs(*compact_interval_seconds);
        tracker.spawn(maintain_store(s, interval, stop));
    }
    let ctx = crate::transport::Context {
        bus: bus.clone(),
        store: store.clone(),
        readiness: readiness.clone(),
        cluster: config.cluster.clone(),
    };
    certificates.extend(crate::transport::spawn_all(
        &config.transports,
        &ctx,
        &tracker,
        &intake,
    )?);
    let receipt_takers = crate::transport::receipt_takers(&config.transports);
    for (name, application) in &config.applications {
        crate::apps::spawn(name, application, &bus, &store, &tracker, &intake).await?;
    }
    let mut reload = Reload {
        path: config_path,
        certificates: Vec::new(),
        routers: Vec::new(),
        api: None,
    };
    for (name, router) in &config.routers {
        let handle =
            crate::router::spawn(name, router, &ctx, &receipt_takers, &tracker, &intake).await?;
        reload.routers.push((name.clone(), handle));
    }
    if let Some(api) = &config.api {
        let (tls, accounts) = crate::api::spawn(
            api,
            &bus,
            &store,
            config.cluster.instances,
            &tracker,
            &intake,
        )
        .await?;
        certificates.extend(tls);
        reload.api = Some(accounts);
    }
    reload.certificates = certificates;
    tracker.close();
    tracing::info!(
        message = "Richmond running.",
        transports = config.transports.len()
    );

    signals.wait(Some(&reload)).await;
    tracing::info!(
        message = "Draining.",
        deadline_seconds = config.shutdown.drain_timeout_seconds
    );
    readiness.start_draining();
    tokio::spawn(async move {
        signals.wait(None).await;
        eprintln!("richmond: second signal, exiting at once");
        std::process::exit(i32::from(exit::FAILURE));
    });
    intake.cancel();
    let deadline = Duration::from_secs(config.shutdown.drain_timeout_seconds);
    let drained = tokio::time::timeout(deadline, async {
        tracker.wait().await;
        bus.close().await;
    })
    .await
    .is_ok();
    stop_simulators.cancel();
    stop_admin.cancel();
    let _ = admin_task.await;
    if drained {
        tracing::info!(message = "Drained; exiting.");
        Ok(exit::OK)
    } else {
        tracing::warn!(message = "Drain deadline passed; unfinished messages will be redelivered.");
        Ok(exit::DRAIN_TIMEOUT)
    }
}

/// Keeps the `bus` and `store` readiness latches current.
/// Each minute: purges the store's expired entries, and compacts the file when its
/// cool-down allows (`crate::compact`).
async fn maintain_store(
    store: crate::store::redb::RedbStore,
    compact_interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut cooldown = crate::compact::Cooldown::new(compact_interval, std::time::Instant::now());
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = store.purge_and_count().await {
                    tracing::warn!(message = "Store purge failed.", error = %e);
                } else if let Err(e) = store
                    .compact_when_due(&mut cooldown, crate::compact::MIN_COMPACT_BYTES)
                    .await
                {
                    tracing::warn!(message = "Data file compaction failed; the file is used as it is.", file = "store", error = %e);
                }
            }
        }
    }
}

async fn watch_health(bus: Bus, store: Store, readiness: Readiness, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut store_tick = 0u32;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let bus_up = bus.is_up();
        readiness.set("bus", bus_up);
        if let Bus::Amqp(a) = &bus
            && let Some(e) = a.topology_error()
            && store_tick.is_multiple_of(40)
        {
            tracing::error!(message = "Bus not ready.", error = %e);
        }
        // The store is pinged every second.
        if store_tick.is_multiple_of(4) {
            let ok = store.ping().await.is_ok();
            readiness.set("store", ok);
        }
        store_tick = store_tick.wrapping_add(1);
    }
}

/// SIGTERM, SIGINT and SIGHUP, watched from the gateway's start.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
        })
    }

    /// Waits for SIGTERM or SIGINT; a SIGHUP meanwhile reloads what `reload` can.
    async fn wait(&mut self, reload: Option<&Reload>) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => {
                    if let Some(r) = reload {
                        r.run();
                    }
                }
            }
        }
    }
}

/// What a SIGHUP reloads without dropping a link: the listeners' certificates, and from the
/// configuration file read again, the API's accounts (passwords, tokens, numbers, keywords,
/// limits) and the routers' rules. The rest of the file applies at the next start.
struct Reload {
    path: std::path::PathBuf,
    certificates: Vec<std::sync::Arc<crate::listener_tls::ListenerTls>>,
    routers: Vec<(String, crate::router::Handle)>,
    api: Option<crate::api::Reload>,
}

impl Reload {
    fn run(&self) {
        for c in &self.certificates {
            c.reload();
        }
        let config = match Config::load(&self.path, std::env::vars()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(message = "SIGHUP: the configuration does not load; keeping the running one (certificates were re-read).", error = %e);
                return;
            }
        };
        let accounts = match (&self.api, &config.api) {
            (Some(api), Some(c)) => match api.accounts(c) {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::error!(message = "SIGHUP: API accounts not reloaded.", error = %e);
                    None
                }
            },
            _ => None,
        };
        let mut routers = 0;
        for (name, handle) in &self.routers {
            match config.routers.get(name).map(|c| handle.reload(c)) {
                Some(Ok(())) => routers += 1,
                Some(Err(e)) => {
                    tracing::error!(message = "SIGHUP: router not reloaded; it keeps its rules.", error = %e);
                }
                None => tracing::error!(
                    message = "SIGHUP: router removed from the file; it runs until the restart.",
                    router = %name
                ),
            }
        }
        tracing::warn!(
            message = "SIGHUP: reloaded listener certificates, API accounts and router rules; other changes apply after a restart.",
            certificates = self.certificates.len(),
            accounts,
            routers
        );
    }
}
