//! Purging expired entries, and counting the live ones by kind for
//! `richmond_store_entries{kind}`: the kind of a key is read from its fixed segments only
//! (never from a transport id, a number or an account), so the metric's labels stay a small
//! fixed set. README ("The state store") lists each kind's lifetime. Compacting the file
//! while running, when most of it is free and the cool-down allows ([`crate::compact`]).

use super::{RedbStore, StoreError, live, now_micros};
use crate::store::telemetry::Entries;
use richmond_drivers::telemetry::Event as _;

impl RedbStore {
    /// Removes every expired entry; returns how many.
    ///
    /// # Errors
    /// When the write fails.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        Ok(self.purge_and_count().await?.0)
    }

    /// Removes every expired entry; returns how many, and the live values and hash fields
    /// by [`kind`] (also set as the gauge `richmond_store_entries{kind}`).
    ///
    /// # Errors
    /// When the write fails.
    pub async fn purge_and_count(
        &self,
    ) -> Result<(usize, std::collections::BTreeMap<&'static str, u64>), StoreError> {
        let (n, kinds) = self
            .write(|v, h| {
                let now = now_micros();
                let mut n = 0;
                let mut kinds = std::collections::BTreeMap::new();
                v.retain(|key, val| {
                    let keep = live(val, now).is_some();
                    n += usize::from(!keep);
                    if keep {
                        *kinds.entry(kind(key)).or_insert(0u64) += 1;
                    }
                    keep
                })?;
                h.retain(|(key, _), val| {
                    let keep = live(val, now).is_some();
                    n += usize::from(!keep);
                    if keep {
                        *kinds.entry(kind(key)).or_insert(0u64) += 1;
                    }
                    keep
                })?;
                Ok((n, kinds))
            })
            .await?;
        let m = self.index_write(|t| t.purge_expired()).await?;
        for k in KINDS {
            let count = kinds.get(k).copied().unwrap_or(0);
            Entries { kind: k, count }.emit();
        }
        Ok((n + m, kinds))
    }
}

impl RedbStore {
    /// Compacts the file when `cooldown` has a check due, the file is at least `min_bytes`
    /// and more than half free, and `cooldown` decides to ([`crate::compact::when_due`]);
    /// returns the sizes before and after when it did. Checking shares the database; only a
    /// compaction stops the store's other operations.
    ///
    /// # Errors
    /// When the statistics or the compaction fail (the file stays usable as it is).
    pub async fn compact_when_due(
        &self,
        cooldown: &mut crate::compact::Cooldown,
        min_bytes: u64,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let now = std::time::Instant::now();
        if !cooldown.due(now) {
            return Ok(None);
        }
        let (this, mut next) = (self.clone(), cooldown.clone());
        let (next, result) = tokio::task::spawn_blocking(move || {
            let path = std::path::PathBuf::from(&*this.location);
            let mut store = this.clone();
            let result = crate::compact::when_due(
                &mut next,
                now,
                "store",
                &mut store,
                |s| crate::compact::worth(&s.read_db(), &path, min_bytes),
                |s| {
                    // Alone with the file: readers and the writer wait meanwhile.
                    let mut db =
                        s.db.write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    crate::compact::compact(&mut db, &path, "store")
                },
            );
            (next, result.map_err(|e| this.err(e)))
        })
        .await
        .map_err(|e| self.err(e))?;
        *cooldown = next;
        result
    }
}

/// Every entry kind [`kind`] names (a fixed set: metric labels stay bounded).
pub(super) const KINDS: &[&str] = &[
    "smpp:id",
    "smpp:mp",
    "ssmi:ussd",
    "ssmi:dr",
    "modem:seen",
    "modem:mp",
    "modem:progress",
    "modem:dr",
    "modem:drparts",
    "api:msg",
    "api:conv",
    "api:cb",
    "api:callbacks",
    "other",
];

/// The kind of a store key: `api:<kind>` for the API's keys, `<protocol>:<kind>` for a
/// transport's (`smpp:<transport>:id:…` → `smpp:id`), `other` for anything else.
pub(super) fn kind(key: &str) -> &'static str {
    let mut parts = key.split(':');
    let (first, second, third) = (parts.next(), parts.next(), parts.next());
    let name = match first {
        Some("api") => second,
        Some("smpp" | "ssmi" | "modem") => third,
        _ => None,
    };
    let wanted = format!("{}:{}", first.unwrap_or(""), name.unwrap_or(""));
    KINDS
        .iter()
        .find(|k| **k == wanted)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn kinds_come_from_the_fixed_segments_only() {
        for (key, want) in [
            ("smpp:sms:id:1a2b", "smpp:id"),
            ("smpp:other-link:mp:2782:7:3", "smpp:mp"),
            ("ssmi:truteq:ussd:27821234567", "ssmi:ussd"),
            ("ssmi:truteq:dr:27821234567:42", "ssmi:dr"),
            ("modem:m1:drparts:abc", "modem:drparts"),
            ("api:msg:abcdef", "api:msg"),
            ("api:callbacks:alice", "api:callbacks"),
            ("api:smuggled", "other"),
            ("smpp:id", "other"),
            ("something", "other"),
            ("", "other"),
        ] {
            assert_eq!(kind(key), want, "{key}");
        }
    }
}

#[cfg(test)]
mod compaction {
    use std::time::Duration;

    use super::RedbStore;
    use crate::compact::Cooldown;

    /// A cool-down whose first check is due at once.
    fn due() -> Cooldown {
        let long_ago = std::time::Instant::now() - Duration::from_secs(7200);
        Cooldown::new(Duration::from_secs(3600), long_ago)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_purged_backlog_is_compacted_while_readers_and_writers_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = RedbStore::open_with_cache(&path, 1024 * 1024).unwrap();
        store
            .put("keep", b"still here", Duration::from_secs(3600))
            .await
            .unwrap();
        // A backlog: 8 MiB of entries that expire at once.
        let value = vec![7u8; 16 * 1024];
        for i in 0..512 {
            store
                .put(&format!("backlog:{i}"), &value, Duration::ZERO)
                .await
                .unwrap();
        }
        // Under the threshold size nothing happens.
        assert_eq!(
            store.compact_when_due(&mut due(), u64::MAX).await.unwrap(),
            None
        );
        assert!(store.purge_expired().await.unwrap() >= 512);
        // Readers and writers running beside the compaction all succeed.
        let busy: Vec<_> = (0..32)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move {
                    s.put(&format!("new:{i}"), b"v", Duration::from_secs(60))
                        .await
                        .unwrap();
                    s.get("keep").await.unwrap()
                })
            })
            .collect();
        let (before, after) = store
            .compact_when_due(&mut due(), 1024 * 1024)
            .await
            .unwrap()
            .expect("a mostly free file is compacted");
        assert!(after < before / 2, "{before} -> {after}");
        // The writers beside it may have grown the file a little since.
        let now = std::fs::metadata(&path).unwrap().len();
        assert!(now < before / 2, "{before} -> {after}, now {now}");
        for b in busy {
            assert_eq!(b.await.unwrap().as_deref(), Some(&b"still here"[..]));
        }
        assert_eq!(
            store.get("new:31").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        // Compacted once, it is not worth it again.
        assert_eq!(
            store
                .compact_when_due(&mut due(), 1024 * 1024)
                .await
                .unwrap(),
            None
        );
    }

    async fn backlog(store: &RedbStore, round: usize) {
        let value = vec![7u8; 16 * 1024];
        for i in 0..256 {
            store
                .put(&format!("backlog:{round}:{i}"), &value, Duration::ZERO)
                .await
                .unwrap();
        }
        assert!(store.purge_expired().await.unwrap() >= 256);
    }

    #[tokio::test]
    async fn the_running_store_is_compacted_only_when_the_cooldown_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = RedbStore::open_with_cache(&path, 1024 * 1024).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        // An interval already over: the first check is due at once.
        let long_ago = std::time::Instant::now() - Duration::from_secs(7200);
        let mut cooldown = Cooldown::new(Duration::from_secs(3600), long_ago);
        backlog(&store, 0).await;
        let (before, after) = store
            .compact_when_due(&mut cooldown, 1024 * 1024)
            .await
            .unwrap()
            .expect("the first due check compacts a purged backlog");
        assert!(after < before / 2, "{before} -> {after}");
        // Not due again for an interval, however free the file is.
        backlog(&store, 1).await;
        let grown = size();
        assert!(grown > after * 2, "{after} -> {grown}");
        assert_eq!(
            store
                .compact_when_due(&mut cooldown, 1024 * 1024)
                .await
                .unwrap(),
            None
        );
        assert_eq!(size(), grown);
        // Due again, but the file regrew to its old size: skipped, the interval doubled.
        let mut later = {
            // A cool-down whose last compaction saw this very size, and whose check is due.
            let mut c = Cooldown::new(Duration::from_secs(1), long_ago);
            assert!(c.decide(long_ago, grown));
            c
        };
        assert_eq!(
            store
                .compact_when_due(&mut later, 1024 * 1024)
                .await
                .unwrap(),
            None
        );
        assert_eq!(later.interval(), Duration::from_secs(2));
        assert_eq!(size(), grown);
    }
}
