//! The durable embedded bus: crash points, recovery, bounds, group commit, corruption.
//! Crash points are exercised through the bus interface without killing a process: dropping
//! the bus is what a crash leaves behind (the spool file), reopening is the restart.

use richmond_tests::common;

use bytes::Bytes;
use richmond::bus::embedded::{EmbeddedBus, spool_status};
use richmond::config::{Durability, EmbeddedBusConfig};

fn config() -> EmbeddedBusConfig {
    EmbeddedBusConfig::default()
}

#[tokio::test]
async fn unacked_messages_come_back_after_restart_flagged_and_acked_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
        for b in ["acked", "delivered-not-acked", "never-delivered"] {
            bus.publish("t.outbound", Bytes::from(b)).await.unwrap();
        }
        let mut c = bus.consume("t.outbound");
        c.next().await.unwrap().ack().await.unwrap();
        let d = c.next().await.unwrap();
        drop(d); // unsettled: the spool still holds it, as after a crash
        bus.close().await;
    }
    let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
    let mut c = bus.consume("t.outbound");
    let a = c.next().await.unwrap();
    let b = c.next().await.unwrap();
    assert_eq!(
        (&a.body[..], a.redelivered),
        (&b"delivered-not-acked"[..], true)
    );
    assert_eq!(
        (&b.body[..], b.redelivered),
        (&b"never-delivered"[..], true)
    );
    assert_eq!(bus.depth("t.outbound"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_not_accepted_and_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
        bus.publish("q", Bytes::from_static(b"before"))
            .await
            .unwrap();
        bus.fail_next_commit();
        let err = bus
            .publish("q", Bytes::from_static(b"lost-disk"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "spool");
        assert_eq!(bus.depth("q"), 1, "a failed publish must not be queued");
        bus.publish("q", Bytes::from_static(b"after"))
            .await
            .unwrap();
        bus.close().await;
    }
    let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
    let mut c = bus.consume("q");
    let (first, second) = (c.next().await.unwrap(), c.next().await.unwrap());
    assert_eq!(
        (&first.body[..], &second.body[..]),
        (&b"before"[..], &b"after"[..])
    );
    assert_eq!(bus.depth("q"), 2);
}

#[tokio::test]
async fn a_full_queue_makes_publishers_wait_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EmbeddedBusConfig {
        max_queue_messages: 2,
        max_queue_bytes: 1_000_000,
        ..config()
    };
    let bus = EmbeddedBus::open(dir.path(), &cfg).unwrap();
    bus.publish("q", Bytes::from_static(b"1")).await.unwrap();
    bus.publish("q", Bytes::from_static(b"2")).await.unwrap();
    let waiting = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("q", Bytes::from_static(b"3")).await })
    };
    // The third publish cannot complete while the queue is full: it waits for room.
    common::wait_until("the publisher waiting for room", || {
        bus.waiting_publishers("q") == 1
    })
    .await;
    assert!(!waiting.is_finished(), "publish to a full queue must wait");
    assert_eq!(bus.depth("q"), 2);
    let mut c = bus.consume("q");
    let d = c.next().await.unwrap();
    d.ack().await.unwrap();
    waiting.await.unwrap().unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = c.next().await.unwrap();
        got.push(d.body.clone());
        d.ack().await.unwrap();
    }
    assert_eq!(
        got,
        vec![Bytes::from_static(b"2"), Bytes::from_static(b"3")]
    );
}

#[tokio::test]
async fn the_byte_bound_also_holds() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EmbeddedBusConfig {
        max_queue_messages: 100,
        max_queue_bytes: 10,
        ..config()
    };
    let bus = EmbeddedBus::open(dir.path(), &cfg).unwrap();
    bus.publish("q", Bytes::from_static(b"12345678"))
        .await
        .unwrap();
    let waiting = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("q", Bytes::from_static(b"abcdef")).await })
    };
    common::wait_until("the publisher waiting for room", || {
        bus.waiting_publishers("q") == 1
    })
    .await;
    assert!(
        !waiting.is_finished(),
        "publish over the byte bound must wait"
    );
    let mut c = bus.consume("q");
    c.next().await.unwrap().ack().await.unwrap();
    waiting.await.unwrap().unwrap();
    assert_eq!(&c.next().await.unwrap().body[..], b"abcdef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_share_commits() {
    for durability in [Durability::Sync, Durability::None] {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(
            dir.path(),
            &EmbeddedBusConfig {
                durability,
                ..config()
            },
        )
        .unwrap();
        let before = bus.spool_commits();
        let n = 500;
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let bus = bus.clone();
                tokio::spawn(async move { bus.publish("q", Bytes::from(format!("{i}"))).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let commits = bus.spool_commits() - before;
        assert!(
            commits < n,
            "{durability:?}: {commits} commits for {n} publishes: no group commit"
        );
        assert_eq!(bus.depth("q"), n as usize);
        bus.close().await;
        drop(bus);
        // Everything accepted is in the spool after a restart, in both modes (a clean close
        // syncs the relaxed mode too).
        let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
        assert_eq!(bus.depth("q"), n as usize, "{durability:?}");
    }
}

#[tokio::test]
async fn a_corrupt_spool_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.redb");
    std::fs::write(
        &path,
        b"this is not a redb file, just garbage bytes".repeat(100),
    )
    .unwrap();
    let Err(err) = EmbeddedBus::open(dir.path(), &config()) else {
        panic!("opened a corrupt spool")
    };
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("move the file aside"), "{text}");
    // The file is left as it was: no silent truncation.
    assert_eq!(std::fs::read(&path).unwrap().len(), 4300);
}

#[tokio::test]
async fn a_truncated_spool_is_a_clear_error_too() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
        for i in 0..100 {
            bus.publish("q", Bytes::from(vec![b'x'; 100 + i]))
                .await
                .unwrap();
        }
        bus.close().await;
    }
    let path = dir.path().join("spool.redb");
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    match EmbeddedBus::open(dir.path(), &config()) {
        Err(e) => assert!(e.to_string().contains("spool.redb"), "{e}"),
        // redb may repair a truncation it can prove safe; then nothing may be invented.
        Ok(bus) => assert!(bus.depth("q") <= 100),
    }
}

#[tokio::test]
async fn spool_status_reports_depth_bytes_and_age_while_stopped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = EmbeddedBus::open(dir.path(), &config()).unwrap();
        bus.publish("a.outbound", Bytes::from_static(b"12345"))
            .await
            .unwrap();
        bus.publish("a.outbound", Bytes::from_static(b"678"))
            .await
            .unwrap();
        bus.publish("b.inbound", Bytes::from_static(b"z"))
            .await
            .unwrap();
        // While the gateway runs, the spool is locked and the report says so.
        let err = spool_status(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already in use"), "{err}");
        bus.close().await;
    }
    let report = spool_status(dir.path()).unwrap();
    let line = report
        .lines()
        .find(|l| l.starts_with("a.outbound"))
        .expect(&report);
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1..3], ["2", "8"], "{report}");
    assert!(cols[3].parse::<f64>().unwrap() >= 0.0);
    assert!(
        report.lines().any(|l| l.starts_with("b.inbound")),
        "{report}"
    );
}
