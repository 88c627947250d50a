//! Richmond's protocol drivers: carrier sessions as sans-IO state machines and the thin tokio
//! tasks that pump them.
//!
//! Layout (each protocol is one folder, mirrored in `richmond-codecs` and the gateway's
//! `transport/`):
//!
//! ```text
//!  codecs (bytes ⇄ frames) ─▶ drivers (frames ⇄ protocol events) ─▶ gateway (events ⇄ Vumi)
//! ```
//!
//! `*/session.rs` files never use tokio: time arrives as `now: Instant`.
pub mod modem;
pub mod smpp;
pub mod ssmi;
pub mod telemetry;
pub mod tls;
