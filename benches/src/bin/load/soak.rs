//! `load soak <minutes> amqp|embedded [rate]`: MO, MT and delivery receipts at once, at
//! `rate` messages per second each (default 200), for `minutes`, in one-minute windows; over
//! RabbitMQ (the real binary) with one broker restart in the middle window, or over the
//! embedded bus (the gateway in this process). After each window it samples the gateway's
//! resident memory, open files and threads and the store and spool file sizes, and prints a
//! Markdown row; at the end the growth of RSS and store size from the fifth minute on. Exits
//! 1 when any message is lost (duplicates, possible across the restart, are counted).
//!
//! Not a test: it takes minutes and its numbers go to BENCHMARKS.md.

use std::path::Path;
use std::time::Duration;

use crate::Run;
use crate::flows::{self, MtShape};
use crate::gateway::{Smsc, start};

/// One sample after a window.
pub(crate) struct Sample {
    pub(crate) rss_mib: f64,
    pub(crate) fds: usize,
    pub(crate) threads: usize,
    pub(crate) store_mib: f64,
    pub(crate) spool_mib: f64,
}

impl Sample {
    /// The sample's cells of a Markdown row: RSS, fds, threads, store and spool sizes.
    pub(crate) fn cells(&self) -> String {
        format!(
            "{:.1} | {} | {} | {:.1} | {:.1}",
            self.rss_mib, self.fds, self.threads, self.store_mib, self.spool_mib
        )
    }
}

/// Resident memory, open files and threads of `pid`, and the sizes of the store and spool
/// files in `data`.
pub(crate) fn sample(pid: u32, data: &Path) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    let mib = |f: &str| {
        std::fs::metadata(data.join(f)).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
    };
    Sample {
        rss_mib: field("VmRSS:") / 1024.0,
        fds,
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        threads: field("Threads:") as usize,
        store_mib: mib("store.redb"),
        spool_mib: mib("spool.redb"),
    }
}

/// Runs the soak; returns whether anything was lost.
pub(crate) async fn run(minutes: usize, amqp: bool, rate: f64) -> bool {
    let url = std::env::var("RICHMOND_TEST_AMQP_URL").ok();
    if amqp && url.is_none() {
        eprintln!("load soak amqp: run through ./scripts/test --servers-only");
        std::process::exit(2);
    }
    let run = Run {
        amqp,
        binds: 1,
        mo: true,
        receipts: true,
        text_len: 0,
        routed: 0,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut smsc = Smsc::start();
    let id = format!("soak{}", std::process::id());
    let (gateway, bus) = start(
        dir.path(),
        &id,
        &smsc,
        &run,
        url.as_deref().filter(|_| amqp),
    )
    .await;
    let (pid, data) = (gateway.pid(), dir.path().join("data"));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (rate * 60.0) as usize;
    println!(
        "soak over {}: {rate:.0} MO/s + {rate:.0} MT/s with receipts, {minutes} min\n",
        if amqp {
            "RabbitMQ (broker restart in the middle window)"
        } else {
            "the embedded bus"
        }
    );
    println!(
        "| minute | MO lost | MT lost | dup | RSS MiB | fds | threads | store MiB | spool MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut lost, mut samples) = (0, Vec::new());
    for minute in 1..=minutes {
        let restart = (amqp && minute == minutes.div_ceil(2)).then(|| {
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let ctl = std::env::var("RICHMOND_TEST_RABBITMQ_CTL").expect("rabbitmq-ctl");
                let ok = tokio::process::Command::new(ctl)
                    .arg("restart")
                    .status()
                    .await
                    .is_ok_and(|s| s.success());
                eprintln!("load soak: broker restarted ({ok})");
            })
        });
        let shape = MtShape {
            rate: Some(rate),
            text_len: 0,
            receipts: true,
        };
        let (mo, mt) = tokio::join!(
            flows::mo(&bus, &id, &mut smsc, n, Some(rate)),
            flows::mt(&bus, &id, n, shape)
        );
        if let Some(r) = restart {
            let _ = r.await;
        }
        let (mo_lost, mt_lost) = (n - mo.unique, n - mt.unique);
        lost += mo_lost + mt_lost;
        let s = sample(pid, &data);
        println!(
            "| {minute} | {mo_lost} | {mt_lost} | {} | {} |",
            mo.duplicates + mt.duplicates,
            s.cells()
        );
        samples.push(s);
    }
    gateway.stop().await;
    bus.close().await;
    summary(&samples, lost);
    lost > 0
}

/// Prints the growth of RSS and store size from the fifth window to the last, and `lost`.
pub(crate) fn summary(samples: &[Sample], lost: usize) {
    if let (Some(base), Some(last)) = (samples.get(4), samples.last()) {
        let growth = |a: f64, b: f64| if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
        println!(
            "\nfrom minute 5 to {}: RSS {:+.1} %, store {:+.1} %; lost {lost}",
            samples.len(),
            growth(base.rss_mib, last.rss_mib),
            growth(base.store_mib, last.store_mib)
        );
    } else {
        println!("\nlost {lost}");
    }
}
