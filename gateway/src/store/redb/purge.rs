//! Purging expired entries, and counting the live ones by kind for
//! `richmond_store_entries{kind}`: the kind of a key is read from its fixed segments only
//! (never from a transport id, a number or an account), so the metric's labels stay a small
//! fixed set. README ("The state store") lists each kind's lifetime.

use super::{RedbStore, StoreError, live, now_micros};

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
            // Gauges are f64; entry counts stay far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("richmond_store_entries", "kind" => *k).set(count as f64);
        }
        Ok((n + m, kinds))
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
