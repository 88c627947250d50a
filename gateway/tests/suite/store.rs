//! The shared state-store suite, on redb (a temp file) and on the private Redis server.

use richmond_tests::common;

use std::time::Duration;

use richmond::store::Store;
use richmond::store::redb::RedbStore;
use richmond::store::redis::RedisStore;

async fn stores() -> Vec<(Store, &'static str, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbStore::open(&dir.path().join("store.redb")).unwrap();
    let redis = RedisStore::connect(
        &common::redis_url(),
        &format!("{}:", common::unique("t")),
        None,
    )
    .await
    .unwrap();
    vec![
        (Store::Redb(redb), "redb", Some(dir)),
        (Store::Redis(redis), "redis", None),
    ]
}

#[tokio::test]
async fn put_get_take_delete() {
    for (s, kind, _d) in stores().await {
        let ttl = Duration::from_secs(60);
        assert_eq!(s.get("msgid:abc").await.unwrap(), None, "{kind}");
        s.put("msgid:abc", b"vumi-1", ttl).await.unwrap();
        assert_eq!(
            s.get("msgid:abc").await.unwrap().as_deref(),
            Some(&b"vumi-1"[..]),
            "{kind}"
        );
        s.put("msgid:abc", b"vumi-2", ttl).await.unwrap();
        assert_eq!(
            s.take("msgid:abc").await.unwrap().as_deref(),
            Some(&b"vumi-2"[..]),
            "{kind}"
        );
        assert_eq!(
            s.get("msgid:abc").await.unwrap(),
            None,
            "{kind}: take removes"
        );
        s.put("k", b"v", ttl).await.unwrap();
        s.delete("k").await.unwrap();
        assert_eq!(s.get("k").await.unwrap(), None, "{kind}");
        s.ping().await.unwrap();
    }
}

#[tokio::test]
async fn entries_expire() {
    for (s, kind, _d) in stores().await {
        s.put("short", b"x", Duration::from_millis(50))
            .await
            .unwrap();
        s.hash_put("h", "1", b"a", Duration::from_millis(50))
            .await
            .unwrap();
        s.put("long", b"y", Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.get("short").await.unwrap(), None, "{kind}");
        assert!(s.hash_get_all("h").await.unwrap().is_empty(), "{kind}");
        assert_eq!(
            s.get("long").await.unwrap().as_deref(),
            Some(&b"y"[..]),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn hashes_hold_multipart_parts() {
    for (s, kind, _d) in stores().await {
        let ttl = Duration::from_secs(60);
        assert_eq!(
            s.hash_put("mp:ref7", "2", b"world", ttl).await.unwrap(),
            1,
            "{kind}"
        );
        assert_eq!(
            s.hash_put("mp:ref7", "1", b"hello ", ttl).await.unwrap(),
            2,
            "{kind}"
        );
        assert_eq!(
            s.hash_put("mp:ref7", "1", b"hello ", ttl).await.unwrap(),
            2,
            "{kind}: same part twice"
        );
        let parts = s.hash_get_all("mp:ref7").await.unwrap();
        assert_eq!(
            parts,
            vec![
                ("1".to_owned(), b"hello ".to_vec()),
                ("2".to_owned(), b"world".to_vec())
            ],
            "{kind}"
        );
        s.delete("mp:ref7").await.unwrap();
        assert!(
            s.hash_get_all("mp:ref7").await.unwrap().is_empty(),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn redb_survives_a_restart_and_redis_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let s = Store::Redb(RedbStore::open(&path).unwrap());
        s.put("persist", b"1", Duration::from_secs(60))
            .await
            .unwrap();
    }
    let s = Store::Redb(RedbStore::open(&path).unwrap());
    assert_eq!(s.get("persist").await.unwrap().as_deref(), Some(&b"1"[..]));

    // Two gateway instances sharing Redis see each other's entries.
    let prefix = format!("{}:", common::unique("shared"));
    let a = Store::Redis(
        RedisStore::connect(&common::redis_url(), &prefix, None)
            .await
            .unwrap(),
    );
    let b = Store::Redis(
        RedisStore::connect(&common::redis_url(), &prefix, None)
            .await
            .unwrap(),
    );
    a.put("smsc-id:99", b"vumi-x", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        b.take("smsc-id:99").await.unwrap().as_deref(),
        Some(&b"vumi-x"[..])
    );
    assert_eq!(a.get("smsc-id:99").await.unwrap(), None);
}

#[tokio::test]
async fn an_unavailable_store_is_a_clear_error() {
    // Nothing listens on this port: connecting fails and names the server, without the password.
    let url = format!("redis://:s3cret@127.0.0.1:{}/", common::free_port());
    let Err(e) = RedisStore::connect(&url, "x:", None).await else {
        panic!("connected to nothing")
    };
    let text = e.to_string();
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    // A redb file held by another gateway is refused with its path.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let _held = RedbStore::open(&path).unwrap();
    let Err(e) = RedbStore::open(&path) else {
        panic!("opened twice")
    };
    assert!(e.to_string().contains("store.redb"), "{e}");
}

#[tokio::test]
async fn sorted_indexes_range_move_trim_and_expire() {
    for (s, kind, _d) in stores().await {
        let ttl = Duration::from_secs(60);
        for (m, score) in [("c", 30), ("a", 10), ("b", 20), ("b2", 20)] {
            s.index_add("idx", m, score, ttl).await.unwrap();
        }
        let all = s.index_range("idx", i64::MIN, i64::MAX, 100).await.unwrap();
        let want: Vec<(String, i64)> = [("a", 10), ("b", 20), ("b2", 20), ("c", 30)]
            .iter()
            .map(|(m, sc)| ((*m).to_owned(), *sc))
            .collect();
        assert_eq!(all, want, "{kind}");
        assert_eq!(
            s.index_range("idx", 15, 25, 1).await.unwrap(),
            vec![("b".to_owned(), 20)],
            "{kind}: bounds and limit"
        );
        // Re-adding moves a member; removing drops it.
        s.index_add("idx", "a", 40, ttl).await.unwrap();
        s.index_remove("idx", "b2").await.unwrap();
        s.index_remove("idx", "absent").await.unwrap();
        let names: Vec<String> = s
            .index_range("idx", i64::MIN, i64::MAX, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(names, ["b", "c", "a"], "{kind}");
        assert_eq!(s.index_len("idx", 100).await.unwrap(), 3, "{kind}: length");
        assert_eq!(
            s.index_len("idx", 2).await.unwrap(),
            2,
            "{kind}: counted up to"
        );
        assert_eq!(s.index_len("unset", 100).await.unwrap(), 0, "{kind}");
        assert_eq!(
            s.index_trim("idx", 30).await.unwrap(),
            1,
            "{kind}: trim below 30"
        );
        assert_eq!(
            s.index_range("idx", i64::MIN, i64::MAX, 100)
                .await
                .unwrap()
                .len(),
            2,
            "{kind}"
        );
        // Microsecond timestamps are kept exactly.
        let now = 1_780_000_000_123_457_i64;
        s.index_add("ts", "m", now, ttl).await.unwrap();
        assert_eq!(
            s.index_range("ts", now, now, 10).await.unwrap(),
            vec![("m".to_owned(), now)],
            "{kind}"
        );
        // A whole index expires; delete removes one.
        s.index_add("short", "x", 1, Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            s.index_range("short", i64::MIN, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        s.delete("ts").await.unwrap();
        assert!(
            s.index_range("ts", i64::MIN, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        if let Store::Redb(r) = &s {
            assert!(
                r.purge_expired().await.unwrap() >= 1,
                "the expired index is purged"
            );
        }
    }
}

#[tokio::test]
async fn rediss_is_tls_verified_against_the_given_ca() {
    let url = common::env("RICHMOND_TEST_REDISS_URL");
    let ca = std::path::PathBuf::from(common::env("RICHMOND_TEST_TLS_CA"));
    let prefix = format!("{}:", common::unique("tls"));
    let store = RedisStore::connect(&url, &prefix, Some(&ca))
        .await
        .expect("rediss with the server's CA");
    let store = Store::Redis(store);
    store
        .put("k", b"over tls", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get("k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
    // The system's roots do not know the test CA: the handshake fails, nothing is sent.
    let refused = RedisStore::connect(&url, &prefix, None).await;
    assert!(refused.is_err(), "an untrusted server was accepted");
}
