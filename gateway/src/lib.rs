//! Richmond, the gateway: carrier transports, the message bus, the state store, the admin
//! listener and the command line.
//!
//! ```text
//!  carrier bytes ─▶ richmond-codecs ─▶ richmond-drivers ─▶ transport ─▶ bus ─▶ applications
//!                                                            │  ▲
//!                                                            ▼  │
//!                                                           store
//! ```
//!
//! Layout:
//! - [`config`]: the TOML file, env overrides, secrets, validation;
//! - [`cli`]: the command line and exit codes;
//! - [`telemetry`]: logs and the metrics recorder; [`admin`]: `/metrics`, `/live`, `/ready`;
//! - [`bus`]: publish-with-confirm and consume-with-ack over RabbitMQ or the embedded
//!   durable spool; [`store`]: expiring state in redb or Redis;
//! - [`transport`]: protocol events ⇄ Vumi messages; [`app`]: wiring and shutdown;
//! - [`simulate`]: carrier simulators (`richmond simulate <kind>`).

pub mod admin;
pub mod api;
pub mod app;
pub mod apps;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod compact;
pub mod config;
pub mod listener_tls;
pub mod process_metrics;
pub mod router;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod transport;
