//! Giving a redb file's free space back to the disk: redb reuses freed pages but never
//! shrinks the file, so a store or spool that once held a backlog keeps its size. A file of at
//! least [`MIN_COMPACT_BYTES`] whose free space passes [`FREE_SHARE`] of it is compacted
//! (logged, counted in `richmond_data_file_compactions_total{file}`) at open, the store and the
//! embedded bus's spool alike.
//!
//! Does not handle: compaction while running. `RedbStore::compact_if_worth` can do it (it
//! takes the database alone), but run after every purge it stalled the store under churn: in
//! a soak with 600 s record lifetimes every purge left the file over half free, so it
//! compacted every minute and each compaction stopped every store operation meanwhile. It
//! needs a cool-down or an incremental pass before the gateway calls it.

use std::path::Path;

use redb::Database;

/// Files smaller than this are left as they are.
pub const MIN_COMPACT_BYTES: u64 = 16 * 1024 * 1024;
/// Compact when more than this share of the file is free.
pub const FREE_SHARE: f64 = 0.5;

/// The file's size when it is at least `min_bytes` and more than [`FREE_SHARE`] of it is
/// free; `None` when a compaction is not worth it. Needs only shared access (it opens and
/// aborts a write transaction, so it waits for a commit under way).
///
/// # Errors
/// The file's size or the statistics could not be read.
pub fn worth(db: &Database, path: &Path, min_bytes: u64) -> Result<Option<u64>, String> {
    let before = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if before < min_bytes {
        return Ok(None);
    }
    let used = {
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        let stats = txn.stats().map_err(|e| e.to_string())?;
        let used = stats.allocated_pages() * stats.page_size() as u64;
        txn.abort().map_err(|e| e.to_string())?;
        used
    };
    // Precision is not needed for a threshold.
    #[allow(clippy::cast_precision_loss)]
    let free_share = before.saturating_sub(used) as f64 / before as f64;
    Ok((free_share > FREE_SHARE).then_some(before))
}

/// Compacts `db` (at `path`, labelled `file`) when at least `min_bytes` and more than
/// [`FREE_SHARE`] free; returns the sizes before and after when it did.
///
/// # Errors
/// The statistics or the compaction failed (the file is left usable).
pub fn compact_if_worth(
    db: &mut Database,
    path: &Path,
    file: &'static str,
    min_bytes: u64,
) -> Result<Option<(u64, u64)>, String> {
    let Some(before) = worth(db, path, min_bytes)? else {
        return Ok(None);
    };
    // Each pass moves pages toward the start; a few passes reach the end.
    for _ in 0..8 {
        if !db.compact().map_err(|e| e.to_string())? {
            break;
        }
    }
    let after = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    metrics::counter!("richmond_data_file_compactions_total", "file" => file).increment(1);
    tracing::info!(
        message = "Data file compacted.",
        file,
        bytes_before = before,
        bytes_after = after
    );
    Ok(Some((before, after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("t");

    #[test]
    fn a_mostly_free_file_shrinks_and_a_full_one_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.redb");
        let mut db = Database::create(&path).unwrap();
        let value = vec![7u8; 64 * 1024];
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(T).unwrap();
            for i in 0..256u64 {
                t.insert(i, value.as_slice()).unwrap();
            }
        }
        w.commit().unwrap();
        // Full: nothing to gain.
        assert_eq!(compact_if_worth(&mut db, &path, "test", 1).unwrap(), None);
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(T).unwrap();
            for i in 0..250u64 {
                t.remove(i).unwrap();
            }
        }
        w.commit().unwrap();
        // Below the minimum size: left alone.
        assert_eq!(
            compact_if_worth(&mut db, &path, "test", u64::MAX).unwrap(),
            None
        );
        let (before, after) = compact_if_worth(&mut db, &path, "test", 1)
            .unwrap()
            .expect("compacted");
        assert!(after * 2 < before, "{before} → {after}");
        // What is left is intact.
        let r = redb::ReadableDatabase::begin_read(&db).unwrap();
        let t = r.open_table(T).unwrap();
        assert_eq!(redb::ReadableTableMetadata::len(&t).unwrap(), 6);
    }
}
