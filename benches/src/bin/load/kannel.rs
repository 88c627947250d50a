//! Kannel 1.4.x (the Debian package `kannel`) beside Richmond in the HTTP rows, through the
//! test harness `richmond_tests::kannel` (generated config, both boxes as child processes,
//! stopped on drop): one SMPP transceiver to the counting simulator, smsbox with `sendsms`,
//! one `sendsms-user`.
//!
//! Shape, as close to Richmond's quick start as Kannel allows: 64 submits in flight on the
//! link (`max-pending-submits = 64`, Richmond's `window = 64`), no delivery reports (no
//! `dlr-mask` in the requests, so `registered_delivery = 0`), the message store on
//! (`store-type = file`: Kannel's only protection of accepted messages against a crash),
//! warnings-only logs (Richmond runs at `warn`), no access log.

use std::path::Path;

use richmond_tests::kannel::Setup;
pub(crate) use richmond_tests::kannel::{BEARERBOX, Kannel, available, stop};

/// The bind the simulator accepts from Kannel.
pub(crate) const SYSTEM_ID: &str = "kannel";
pub(crate) const PASSWORD: &str = "kannel";
/// The `sendsms-user`.
pub(crate) const USER: &str = "load";
pub(crate) const USER_PASSWORD: &str = "loadpass";

/// Kannel bound to the simulator on `smsc_port`, its files in `dir`.
pub(crate) async fn start(dir: &Path, smsc_port: u16) -> Result<Kannel, String> {
    let store = format!(
        "store-type = file\nstore-location = \"{}/kannel.store\"",
        dir.display()
    );
    let setup = Setup {
        smsc_port,
        system_id: SYSTEM_ID,
        password: PASSWORD,
        smsc_extra: "max-pending-submits = 64",
        core_extra: &store,
        user: USER,
        user_password: USER_PASSWORD,
        user_extra: "",
    };
    Kannel::start(dir, &setup).await
}
