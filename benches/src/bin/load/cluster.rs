//! `load N cluster`: MT through the SMPP transport on one instance and on two instances
//! sharing a three-node RabbitMQ cluster (`scripts/lib/rabbitmq-cluster`: queues quorum by the
//! vhost's default type, on three nodes), beside one instance on the single private node
//! (classic queues) in the same run. Every gateway binds once to one simulator; the
//! application publishes N messages and reads their acks (through the cluster's third node
//! for the cluster rows). CPU is the gateways' together, per message. Issue 23's BENCHMARKS
//! row.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::gateway::{Smsc, start, usage};
use super::{Run, measure};

/// Runs the cluster rows; returns whether any lost messages.
pub(crate) async fn run(n: usize, single: &str) -> bool {
    // Stopped when dropped, also if a run panics.
    let cluster = richmond_tests::servers::Servers::start("rabbitmq-cluster").await;
    let env = &cluster.env;
    let urls: Vec<&str> = env["RICHMOND_CLUSTER_URLS"].split(' ').collect();
    let from = |first: usize| {
        (0..urls.len())
            .map(|i| urls[(first + i) % urls.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rows: [(&str, Vec<String>); 3] = [
        (
            "1 instance, 1 node (classic queues)",
            vec![single.to_owned()],
        ),
        ("1 instance, 3-node cluster (quorum)", vec![from(0)]),
        (
            "2 instances, 3-node cluster (quorum)",
            vec![from(0), from(1)],
        ),
    ];
    println!("messages per run: {n}; MT, one bind per instance, window 50\n");
    println!("| gateways | msg/s | CPU µs/msg (the gateways together) | CPU s | lost | dup |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for (k, (label, instances)) in rows.into_iter().enumerate() {
        let smsc = Smsc::start();
        let id = format!("cluster{k}x{}", std::process::id());
        let run = Run {
            amqp: true,
            binds: 1,
            mo: false,
            receipts: false,
            text_len: 0,
            routed: 0,
        };
        let mut gateways = Vec::new();
        let mut app = None;
        let dirs: Vec<_> = instances
            .iter()
            .map(|_| tempfile::tempdir().expect("tempdir"))
            .collect();
        for (i, url) in instances.iter().enumerate() {
            let (gw, bus) = start(dirs[i].path(), &id, &smsc, &run, Some(url)).await;
            gateways.push(gw);
            if app.is_none() {
                app = Some(bus);
            } else {
                bus.close().await;
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while smsc.binds.load(Ordering::Relaxed) < instances.len() {
            assert!(std::time::Instant::now() < deadline, "the binds never came");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let app = app.expect("an application bus");
        let pids: Vec<u32> = gateways.iter().map(super::gateway::Gateway::pid).collect();
        let before: f64 = pids.iter().map(|p| usage(*p).1).sum();
        let mut smsc = smsc;
        let o = measure(&mut smsc, &app, &id, &run, n, None).await;
        let after: f64 = pids.iter().map(|p| usage(*p).1).sum();
        for gw in gateways {
            gw.stop().await;
        }
        app.close().await;
        let rate = o.unique as f64 / o.elapsed.as_secs_f64();
        let per = (after - before) / o.unique.max(1) as f64 * 1e6;
        let lost = n - o.unique;
        failed |= lost > 0;
        println!(
            "| {label} | {rate:.0} | {per:.0} | {:.2} | {lost} | {} |",
            after - before,
            o.duplicates
        );
    }
    drop(cluster);
    failed
}
