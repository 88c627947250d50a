//! Group commit, made deterministic: a first write holds the writer thread until the test
//! has queued the others, so they must share one transaction.

use std::sync::mpsc;

use super::super::RedbStore;

/// A store whose writer is busy inside a write until the returned sender is used.
async fn held(dir: &std::path::Path) -> (RedbStore, mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let store = RedbStore::open(&dir.join("store.redb")).unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let first = store.run(move |_| {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        Ok(())
    });
    let first = tokio::spawn(async move { first.await.unwrap() });
    started_rx.await.unwrap();
    (store, release_tx, first)
}

fn insert(
    key: &'static str,
) -> impl FnOnce(&mut super::Tables<'_>) -> Result<(), redb::StorageError> {
    move |t| t.values.insert(key, b"v".as_slice()).map(drop)
}

/// Whether `key` is in the values table (raw: these writes carry no expiry header).
fn present(store: &RedbStore, key: &str) -> bool {
    let db = store.read_db();
    let txn = redb::ReadableDatabase::begin_read(&*db).unwrap();
    let t = txn.open_table(super::VALUES).unwrap();
    t.get(key).unwrap().is_some()
}

#[tokio::test]
async fn writes_queued_behind_a_commit_share_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, first) = held(dir.path()).await;
    let queued: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|k| store.run(insert(k)))
        .collect();
    release.send(()).unwrap();
    first.await.unwrap();
    for w in queued {
        w.await.unwrap();
    }
    assert_eq!(store.commits(), 2, "the held write, then one for the five");
    for k in ["a", "b", "c", "d", "e"] {
        assert!(present(&store, k), "{k} is written");
    }
}

#[tokio::test]
async fn one_failing_write_fails_its_whole_batch_and_nothing_of_it_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, first) = held(dir.path()).await;
    let a = store.run(insert("a"));
    let broken =
        store.run(|_| -> Result<(), _> { Err(redb::StorageError::Corrupted("injected".into())) });
    let c = store.run(insert("c"));
    release.send(()).unwrap();
    first.await.unwrap();
    let err = broken.await.unwrap_err().to_string();
    assert!(err.contains("injected"), "{err}");
    for (name, w) in [("a", a), ("c", c)] {
        let err = w.await.unwrap_err().to_string();
        assert!(
            err.contains("rolled back") && err.contains("injected"),
            "{name}: {err}"
        );
    }
    assert!(!present(&store, "a") && !present(&store, "c"));
    // The writer goes on: the next write lands.
    store.run(insert("d")).await.unwrap();
    assert!(present(&store, "d"));
}

#[tokio::test]
async fn a_panicking_write_fails_its_batch_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release, first) = held(dir.path()).await;
    let a = store.run(insert("a"));
    let panicking = store.run(|_| -> Result<(), redb::StorageError> { panic!("injected panic") });
    release.send(()).unwrap();
    first.await.unwrap();
    assert!(panicking.await.is_err());
    let err = a.await.unwrap_err().to_string();
    assert!(err.contains("panicked"), "{err}");
    assert!(!present(&store, "a"));
    store.run(insert("b")).await.unwrap();
    assert!(present(&store, "b"));
    store.ping().await.unwrap();
}
