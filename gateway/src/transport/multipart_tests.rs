//! The shared reassembly on a real (redb) store: parts join in order whatever order they
//! came in, exactly once; the timer publishes what came, flagged; a failed publish keeps the
//! parts; parts stored as JSON by earlier modem versions are read as typed parts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use richmond_codecs::vumi::Metadata;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::store::Store;
use crate::store::redb::RedbStore;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    from: String,
}

fn part(octets: &[u8]) -> Part<Meta> {
    Part {
        octets: octets.to_vec(),
        text: Some(String::from_utf8_lossy(octets).into_owned()),
        meta: Meta {
            from: "2782".into(),
        },
    }
}

fn store(dir: &std::path::Path) -> Store {
    Store::Redb(RedbStore::open(&dir.join("store.redb")).unwrap())
}

#[tokio::test]
async fn parts_in_any_order_join_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let r = Reassembly::new("t", "t:open".into(), Duration::from_secs(600));
    let key = "t:mp:2782:7:3";
    for (seq, octets) in [(3, &b"ree"[..]), (1, b"one "), (2, b"two th")] {
        let added = r.add(&store, key, seq, 3, &part(octets)).await.unwrap();
        assert_eq!(added == Added::Complete, seq == 2, "part {seq}");
    }
    // The open index holds the message until it is published.
    assert_eq!(
        store
            .index_range("t:open", 0, i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let published = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let published = published.clone();
        assert!(
            r.join(
                &store,
                key,
                3,
                read_json,
                |joined: Joined<Meta>| async move {
                    assert_eq!(joined.octets(), b"one two three");
                    assert_eq!(joined.incomplete(), None);
                    assert_eq!(joined.first().unwrap().meta.from, "2782");
                    published.fetch_add(1, Ordering::SeqCst);
                    true
                }
            )
            .await
        );
    }
    // The second join found nothing left: published once, parts and index gone.
    assert_eq!(published.load(Ordering::SeqCst), 1);
    assert!(store.hash_get_all(key).await.unwrap().is_empty());
    assert!(
        store
            .index_range("t:open", 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_publish_keeps_the_parts_and_the_timer_delivers_what_came_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let r = Arc::new(Reassembly::new(
        "t",
        "t:open".into(),
        Duration::from_secs(1),
    ));
    let key = "t:mp:2782:9:3";
    r.add(&store, key, 1, 3, &part(b"one ")).await.unwrap();
    r.add(&store, key, 3, 3, &part(b"three")).await.unwrap();
    // The bus refused: nothing is forgotten.
    assert!(
        !r.join(&store, key, 3, read_json, |_: Joined<Meta>| async { false })
            .await
    );
    assert_eq!(store.hash_get_all(key).await.unwrap().len(), 2);
    // Past the deadline the timer hands the message over with its key and total.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let timer = {
        let (r, store, stop) = (r.clone(), store.clone(), stop.clone());
        tokio::spawn(async move {
            r.timer(&store, &stop, |key, total| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((key, total));
                }
            })
            .await;
        })
    };
    let (due, total) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the timer fires")
        .unwrap();
    assert_eq!((due.as_str(), total), (key, 3));
    stop.cancel();
    timer.await.unwrap();
    let mut meta = Metadata::new();
    assert!(
        r.join(&store, key, 3, read_json, |joined: Joined<Meta>| {
            let incomplete = joined.incomplete().expect("part 2 never came");
            flag_incomplete(&mut meta, "x", &incomplete);
            let octets = joined.octets();
            async move { octets == b"one three" }
        })
        .await
    );
    assert_eq!(meta["x_multipart_incomplete"], true);
    assert_eq!(meta["x_multipart_parts"], serde_json::json!([1, 3]));
    assert_eq!(meta["x_multipart_total"], 3);
    assert!(store.hash_get_all(key).await.unwrap().is_empty());
}

#[test]
fn a_modem_part_stored_by_an_earlier_version_reads_as_a_typed_part() {
    #[derive(Debug, Deserialize)]
    struct ModemMeta {
        encoding: String,
        binary: Option<String>,
        from: String,
        dcs: u8,
    }
    let old = br#"{"text":"hi","octets":"E834","encoding":"gsm7","binary":null,"from":"+2782","scts":"2024-01-01T12:00:00+02:00","dcs":0,"pid":0}"#;
    let p: Part<ModemMeta> = read_json(old).unwrap();
    assert_eq!(p.octets, [0xE8, 0x34]);
    assert_eq!(p.text.as_deref(), Some("hi"));
    assert_eq!(
        (
            p.meta.encoding.as_str(),
            p.meta.binary,
            p.meta.from.as_str(),
            p.meta.dcs
        ),
        ("gsm7", None, "+2782", 0)
    );
    assert!(read_json::<ModemMeta>(b"not json").is_none());
}

#[tokio::test]
async fn unreadable_parts_are_dropped_loudly_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let r = Reassembly::new("t", "t:open".into(), Duration::from_secs(600));
    let key = "t:mp:2782:5:2";
    r.add(&store, key, 1, 2, &part(b"one")).await.unwrap();
    store
        .hash_put(key, "002", b"not a part", Duration::from_secs(60))
        .await
        .unwrap();
    // A reader that reads nothing: the message is forgotten, publish never called.
    assert!(
        r.join(
            &store,
            key,
            2,
            |_| None::<Part<Meta>>,
            |_| async { panic!("nothing readable must not be published") }
        )
        .await
    );
    assert!(store.hash_get_all(key).await.unwrap().is_empty());
    assert!(
        store
            .index_range("t:open", 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
