//! The gateway's end-to-end suites, one test binary (issue 19 point 7: one link instead of
//! fifteen). Each module is one suite and says what it covers; the support code they share is
//! the `richmond-tests` crate (`tests/src`). The tests that take the broker away live in the
//! `broker_outage` test binary, so nothing here finds the broker gone.

mod abuse;
mod amqp;
mod api;
mod apps;
mod binary;
mod bus;
mod carrier_tls;
mod chikka;
mod clickatell;
mod cluster;
mod kannel;
mod listener_tls;
mod modem;
mod modem_sim;
mod opera;
mod packaging;
mod provider_kit;
mod quickstart;
mod relay;
mod reload;
mod router;
mod router_interop;
mod router_pool;
mod smpp;
mod smpp_modes;
mod smpp_server;
mod smpp_server_links;
mod smpp_server_long;
mod smpp_two_hops;
mod smpp_ussd;
mod smsc_sim;
mod spool;
mod ssmi;
mod store;
mod vumi2;
