//! The store's sorted indexes (Redis's sorted sets on redb): three tables written in one
//! transaction — (key, score, member) in order, member → score, and each index's expiry (µs
//! since the epoch; a whole index expires at once, its entries do not one by one). Split out
//! of `mod.rs` to keep each file readable.

use redb::ReadableTable as _;

use super::now_micros;

/// The three tables of the sorted indexes, open in one write transaction.
pub(super) struct IndexTables<'t> {
    pub(super) order: redb::Table<'t, (&'static str, i64, &'static str), ()>,
    pub(super) scores: redb::Table<'t, (&'static str, &'static str), i64>,
    pub(super) expiry: redb::Table<'t, &'static str, i64>,
}

impl IndexTables<'_> {
    /// Removes every entry of index `key`.
    pub(super) fn clear(&mut self, key: &str) -> Result<(), redb::StorageError> {
        self.order.retain_in(
            (key, i64::MIN, "")..=(key, i64::MAX, "\u{10FFFF}"),
            |_, ()| false,
        )?;
        self.scores
            .retain_in((key, "")..=(key, "\u{10FFFF}"), |_, _| false)?;
        self.expiry.remove(key)?;
        Ok(())
    }

    /// Clears an index whose expiry has passed; true when it did.
    pub(super) fn clear_if_expired(
        &mut self,
        key: &str,
        now: i64,
    ) -> Result<bool, redb::StorageError> {
        let expired = self.expiry.get(key)?.is_some_and(|e| e.value() <= now);
        if expired {
            self.clear(key)?;
        }
        Ok(expired)
    }

    /// Adds or moves `member` at `score` and sets the index's expiry (µs since the epoch).
    pub(super) fn add(
        &mut self,
        key: &str,
        member: &str,
        score: i64,
        expiry: i64,
    ) -> Result<(), redb::StorageError> {
        self.clear_if_expired(key, now_micros())?;
        if let Some(old) = self.scores.insert((key, member), score)? {
            self.order.remove((key, old.value(), member))?;
        }
        self.order.insert((key, score, member), ())?;
        self.expiry.insert(key, expiry)?;
        Ok(())
    }

    pub(super) fn remove(&mut self, key: &str, member: &str) -> Result<(), redb::StorageError> {
        if let Some(old) = self.scores.remove((key, member))? {
            self.order.remove((key, old.value(), member))?;
        }
        Ok(())
    }

    /// Removes the entries scored below `below`; returns how many.
    pub(super) fn trim(&mut self, key: &str, below: i64) -> Result<usize, redb::StorageError> {
        let mut gone = Vec::new();
        for row in self.order.range((key, i64::MIN, "")..(key, below, ""))? {
            let (k, _) = row?;
            gone.push((k.value().1, k.value().2.to_owned()));
        }
        for (score, member) in &gone {
            self.order.remove((key, *score, member.as_str()))?;
            self.scores.remove((key, member.as_str()))?;
        }
        Ok(gone.len())
    }

    pub(super) fn purge_expired(&mut self) -> Result<usize, redb::StorageError> {
        let now = now_micros();
        let mut dead = Vec::new();
        for row in self.expiry.iter()? {
            let (k, e) = row?;
            if e.value() <= now {
                dead.push(k.value().to_owned());
            }
        }
        for k in &dead {
            self.clear(k)?;
        }
        Ok(dead.len())
    }
}
