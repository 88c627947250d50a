//! The running spool's compaction: the writer gives a drained backlog's space back when its
//! cool-down allows, and the messages still in the spool stay.

use std::time::{Duration, Instant};

use super::{Compaction, Spool, encode_record};
use crate::compact::Cooldown;
use crate::config::Durability;

/// A cool-down whose first check is due at once, for files of at least `min_bytes`.
fn due_now(min_bytes: u64) -> Compaction {
    let long_ago = Instant::now() - Duration::from_secs(7200);
    Compaction {
        cooldown: Cooldown::new(Duration::from_secs(3600), long_ago),
        min_bytes,
    }
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn the_writer_compacts_a_drained_backlog_when_the_cooldown_allows_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.redb");
    let size = || std::fs::metadata(&path).unwrap().len();
    let (spool, recovered) =
        Spool::open(&path, Durability::Sync, 1024 * 1024, due_now(1024 * 1024)).unwrap();
    assert!(recovered.is_empty());
    // A backlog of 8 MiB in one batch: the check after it finds the file full, not worth
    // compacting, so the next check is an interval away ...
    let body = vec![9u8; 16 * 1024];
    let records = (0..512)
        .map(|seq| (seq, encode_record("q", 0, &body)))
        .collect();
    block_on(spool.put(records)).unwrap().unwrap();
    let full = size();
    assert!(full > 8 * 1024 * 1024, "{full}");
    // ... so draining it (all but the last message) leaves the file large (redb may trim a
    // little off its end, a compaction takes more than half).
    for seq in 0..511 {
        spool.delete(seq);
    }
    block_on(spool.flush()).unwrap();
    drop(spool);
    assert!(
        size() > full / 2,
        "compacted before its check was due: {full} -> {}",
        size()
    );

    // Below the minimum size nothing is compacted, due or not.
    let (spool, _) = Spool::open(&path, Durability::Sync, 1024 * 1024, due_now(u64::MAX)).unwrap();
    block_on(spool.flush()).unwrap();
    drop(spool);
    assert!(size() > full / 2, "compacted below the minimum size");

    // A writer with a check due compacts after its next batch (done by the time it stopped).
    let (spool, _) =
        Spool::open(&path, Durability::Sync, 1024 * 1024, due_now(1024 * 1024)).unwrap();
    block_on(spool.flush()).unwrap();
    drop(spool);
    assert!(size() < full / 2, "not compacted: {full} -> {}", size());
    // The message still in the spool is intact.
    let (_spool, recovered) =
        Spool::open(&path, Durability::Sync, 1024 * 1024, due_now(u64::MAX)).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].seq, 511);
    assert_eq!(&recovered[0].body[..], &body[..]);
}
