//! `load`: end-to-end load of the SMPP transport against `richmond simulate smsc`, MO and MT,
//! through RabbitMQ (the real `richmond` binary) and through the embedded bus (the same
//! gateway code in this process: an application cannot reach another process's embedded
//! bus), with 1 and with 100 binds, with receipts on, and with longer (multipart) messages,
//! each beside the broker ceiling for the same path; and MT through the HTTP API, Richmond
//! beside Kannel in the same shape ([`http`]); and client ESMEs' submit_sm through the SMPP
//! server transport ([`smpps`]; `smpps` alone needs no RabbitMQ); and MT through the HTTP
//! provider transports to their simulators ([`providers`]). Not a test: it prints Markdown tables for
//! BENCHMARKS.md.
//!
//! Usage (the servers come from ./scripts/test; `richmond` must be built in release first;
//! `./scripts/bench` does both):
//! `./scripts/test --servers-only -- bash -c 'cargo build --release -p richmond -p richmond-benches &&
//!  target/release/load [N [amqp|embedded|http|smpps|providers|cluster|all [FILTER]]]'`
//! (`cluster` is not part of `all`: [`cluster`], with three RabbitMQ nodes of its own), or
//! `target/release/load
//! soak <minutes> amqp|embedded [rate]` (see [`soak`]), or `target/release/load soak <minutes>
//! binary [rate|max]` (the single-binary default fed through its HTTP API, see [`soak_http`];
//! no servers needed) (FILTER: rows whose direction
//! contains it, e.g. `receipts`, or, HTTP rows, whose gateway and request shape contain it,
//! e.g. `keep-alive`). `http` alone needs no RabbitMQ (nor ./scripts/test); `all` (the
//! default) runs every row, the HTTP rows last. `RICHMOND_LOAD_KEEP=1` keeps each run's config, gateway log
//! and data directory.
//!
//! * MO: the simulator floods N `deliver_sm` (`mo-flood`); a consumer reads `<id>.inbound`.
//!   Latency: the simulator's send time (in the text) to the consumer's receipt.
//! * MT: N user messages published to `<id>.outbound` (500 in flight); a consumer reads the
//!   `ack` events (and the `delivery_report`s, receipts on). Latency: publish start to ack.
//! * Routed rows (`, routed`): the same flows through a router beside the transport, with one
//!   application (or two, one idle, so events need the router's memory); the application's
//!   queues are `<id>app.*`.
//! * Ceiling: bare lapin clients moving messages of the same size through RabbitMQ in the
//!   same shape, all stages at once ([`richmond_benches::pipeline`]): one hop for MO (the
//!   gateway publishes, the application consumes), two hops for MT (the application
//!   publishes, the gateway consumes and publishes the event, the application consumes).
//!
//! Each configuration runs flat out (N messages at once: throughput, and latency under that
//! backlog), then N/2 messages paced at half the measured rate (latency under steady load).
//! Every run counts unique messages and duplicates; a run that does not get all N within
//! its time limit is reported as FAILED with the number lost. RSS and CPU are the gateway
//! process's (`/proc/<pid>`), or this process's for the embedded runs (gateway and
//! application together).

mod client;
mod cluster;
mod flows;
mod gateway;
mod http;
mod jasmin;
mod kannel;
mod providers;
mod receiver;
mod sink;
mod smpps;
mod soak;
mod soak_http;

use std::collections::HashMap;
use std::time::Duration;

use richmond_benches::percentile;
use richmond_codecs::vumi::UserMessage;

use flows::MtShape;
use gateway::{Smsc, start, usage};

/// How long one run may take before it counts as failed.
const LIMIT: Duration = Duration::from_secs(180);

/// One row of the table.
#[derive(Clone, Copy)]
pub(crate) struct Run {
    amqp: bool,
    binds: usize,
    mo: bool,
    pub(crate) receipts: bool,
    /// MT text length in characters (0: the short `load <i>` text).
    text_len: usize,
    /// Through a router with this many applications (0: none): the application under load is
    /// `<id>app` behind `[routers.<id>r]`; a second one, `<id>app2`, stays idle (its router
    /// must remember which application sent each message).
    pub(crate) routed: usize,
}

impl Run {
    fn label(&self) -> String {
        let mut l = String::from(if self.mo { "mo" } else { "mt" });
        if self.receipts {
            l.push_str(" + receipts");
        }
        if self.text_len > 160 {
            l.push_str(&format!(
                ", {} chars ({} parts)",
                self.text_len,
                self.text_len.div_ceil(153)
            ));
        } else if self.text_len > 0 {
            l.push_str(&format!(", {} chars", self.text_len));
        }
        match self.routed {
            0 => {}
            1 => l.push_str(", routed"),
            n => l.push_str(&format!(", routed ({n} apps)")),
        }
        l
    }

    fn hops(&self) -> usize {
        if self.mo { 1 } else { 2 }
    }

    /// The size of the Vumi message this run carries, for a ceiling of the same size.
    fn message_size(&self) -> usize {
        let text = flows::text(0, self.text_len);
        UserMessage::new("load", "sms", "27820000000", "+27820000000", Some(text))
            .encode()
            .len()
    }
}

fn runs(only: &str) -> Vec<Run> {
    let mut v = Vec::new();
    for amqp in [true, false] {
        if (only == "embedded" && amqp) || (only == "amqp" && !amqp) {
            continue;
        }
        let base = Run {
            amqp,
            binds: 1,
            mo: true,
            receipts: false,
            text_len: 0,
            routed: 0,
        };
        for binds in [1, 100] {
            for mo in [true, false] {
                v.push(Run { binds, mo, ..base });
            }
        }
        // The same flows through a router (issue 20: its added CPU per message).
        for (mo, routed) in [(true, 1), (false, 1), (false, 2)] {
            v.push(Run { mo, routed, ..base });
        }
        v.push(Run {
            mo: false,
            receipts: true,
            ..base
        });
        for text_len in [160, 612] {
            v.push(Run {
                mo: false,
                text_len,
                ..base
            });
        }
    }
    v
}

/// Ceilings already measured, by (hops, message size).
type Ceilings = HashMap<(usize, usize), f64>;

async fn ceiling(cache: &mut Ceilings, url: &str, n: usize, run: &Run) -> f64 {
    let key = (run.hops(), run.message_size());
    if let Some(c) = cache.get(&key) {
        return *c;
    }
    let c = richmond_benches::pipeline::pipeline(url, n, key.0, key.1).await;
    eprintln!(
        "load: ceiling for {} hop(s), {} B: {c:.0} msg/s",
        key.0, key.1
    );
    cache.insert(key, c);
    c
}

async fn measure(
    smsc: &mut Smsc,
    bus: &richmond::bus::Bus,
    id: &str,
    run: &Run,
    n: usize,
    rate: Option<f64>,
) -> flows::Outcome {
    if run.mo {
        flows::mo(bus, id, smsc, n, rate).await
    } else {
        let shape = MtShape {
            rate,
            text_len: run.text_len,
            receipts: run.receipts,
        };
        flows::mt(bus, id, n, shape).await
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        richmond::telemetry::init_logging(Some(richmond::cli::LogFormat::Text), "warn");
    }
    if std::env::args().nth(1).as_deref() == Some("soak") {
        let minutes: usize = std::env::args()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        let bus = std::env::args().nth(3).unwrap_or_default();
        let rate_arg = std::env::args().nth(4);
        let max = bus == "binary" && rate_arg.as_deref() == Some("max");
        let rate: f64 = rate_arg.and_then(|s| s.parse().ok()).unwrap_or(200.0);
        if !matches!(bus.as_str(), "amqp" | "embedded" | "binary")
            || minutes == 0
            || rate.is_nan()
            || rate <= 0.0
        {
            eprintln!(
                "usage: load soak <minutes> amqp|embedded|binary [rate] | load soak <minutes> binary max"
            );
            std::process::exit(2);
        }
        let lost = if bus == "binary" {
            soak_http::run(minutes, (!max).then_some(rate)).await
        } else {
            soak::run(minutes, bus == "amqp", rate).await
        };
        if lost {
            eprintln!("load: the soak lost messages");
            std::process::exit(1);
        }
        return;
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let only = std::env::args().nth(2).unwrap_or_default();
    // A third argument keeps only the rows whose direction label contains it ("receipts").
    let filter = std::env::args().nth(3).unwrap_or_default();
    if !matches!(
        only.as_str(),
        "" | "all" | "amqp" | "embedded" | "http" | "smpps" | "providers" | "cluster"
    ) {
        eprintln!("usage: load [N [amqp|embedded|http|smpps|providers|cluster|all [FILTER]]]");
        std::process::exit(2);
    }
    let mut failed = false;
    if only == "cluster" {
        let url = std::env::var("RICHMOND_TEST_AMQP_URL")
            .expect("run through ./scripts/test --servers-only");
        if cluster::run(n, &url).await {
            eprintln!("load: at least one run lost messages");
            std::process::exit(1);
        }
        return;
    }
    if !matches!(only.as_str(), "http" | "smpps" | "providers") {
        failed |= smpp_rows(n, &only, &filter).await;
    }
    if matches!(only.as_str(), "" | "all" | "smpps") {
        failed |= smpps::run(n).await;
    }
    if matches!(only.as_str(), "" | "all" | "providers") {
        failed |= providers::run(n).await;
    }
    if matches!(only.as_str(), "" | "all" | "http") {
        failed |= http::run(n, &filter).await;
    }
    if failed {
        eprintln!("load: at least one run lost messages");
        std::process::exit(1);
    }
}

/// The SMPP rows (MO and MT through the bus); returns whether any run lost messages.
async fn smpp_rows(n: usize, only: &str, filter: &str) -> bool {
    let url =
        std::env::var("RICHMOND_TEST_AMQP_URL").expect("run through ./scripts/test --servers-only");
    let (publish, consume) = richmond_benches::bare_lapin(&url, n).await;
    println!("messages per run: {n}; SMPP window 50 per bind; receipts only where the row says\n");
    println!(
        "bare lapin, 700 B, one stage at a time: publish with confirms {publish:.0} msg/s, consume+ack {consume:.0} msg/s\n"
    );
    println!(
        "| bus | binds | direction | msg/s | ceiling msg/s | / ceiling | p50 ms | p99 ms | p999 ms | p50 / p99 ms at half rate | peak RSS MiB | CPU µs/msg | lost | dup |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut failed, mut ceilings) = (false, Ceilings::new());
    let runs = runs(only)
        .into_iter()
        .filter(|r| r.label().contains(filter));
    for (k, run) in runs.enumerate() {
        let ceiling = if run.amqp {
            Some(ceiling(&mut ceilings, &url, n, &run).await)
        } else {
            None
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut smsc = Smsc::start();
        let id = format!("load{k}x{}", std::process::id());
        let (gateway, bus) = start(
            dir.path(),
            &id,
            &smsc,
            &run,
            run.amqp.then_some(url.as_str()),
        )
        .await;
        let pid = gateway.pid();
        eprintln!("load: {id} {} started", run.label());
        // The application's queues: the transport's own, or those the router feeds.
        let id = if run.routed > 0 {
            format!("{id}app")
        } else {
            id
        };
        let (_, cpu_before) = usage(pid);
        let mut o = measure(&mut smsc, &bus, &id, &run, n, None).await;
        let (rss, cpu_after) = usage(pid);
        let rate = o.unique as f64 / o.elapsed.as_secs_f64();
        // The same again at half that rate, for the latency a steady load sees.
        let mut paced = measure(&mut smsc, &bus, &id, &run, n / 2, Some(rate / 2.0)).await;
        eprintln!(
            "load: {id} measured ({} deliver_sm sent again by the simulator); stopping",
            smsc.redeliveries.load(std::sync::atomic::Ordering::Relaxed)
        );
        gateway.stop().await;
        bus.close().await;
        if std::env::var_os("RICHMOND_LOAD_KEEP").is_some() {
            eprintln!(
                "load: {id}: config, log and data kept in {}",
                dir.keep().display()
            );
        }
        let lost = n - o.unique + (n / 2 - paced.unique);
        failed |= lost > 0;
        let (ceiling, ratio) = ceiling.map_or(("–".into(), "–".into()), |c| {
            (format!("{c:.0}"), format!("{:.2}", rate / c))
        });
        println!(
            "| {} | {} | {} | {rate:.0} | {ceiling} | {ratio} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {rss:.0} | {:.0} | {lost}{} | {} |",
            if run.amqp {
                "RabbitMQ"
            } else {
                "embedded (sync)"
            },
            run.binds,
            run.label(),
            percentile(&mut o.latencies, 0.5),
            percentile(&mut o.latencies, 0.99),
            percentile(&mut o.latencies, 0.999),
            percentile(&mut paced.latencies, 0.5),
            percentile(&mut paced.latencies, 0.99),
            (cpu_after - cpu_before) * 1e6 / n as f64,
            if lost > 0 { " FAILED" } else { "" },
            o.duplicates + paced.duplicates,
        );
    }
    failed
}
