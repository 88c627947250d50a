//! Giving a redb file's free space back to the disk: redb reuses freed pages but never
//! shrinks the file, so a store or spool that once held a backlog keeps its size. A file of at
//! least [`MIN_COMPACT_BYTES`] whose free space passes [`FREE_SHARE`] of it is compacted
//! (logged, counted in `richmond_data_file_compactions_total{file}`) at open, the store and the
//! embedded bus's spool alike, and while running as [`Cooldown`] allows.
//!
//! A compaction stops every operation on the file while it runs, and under steady churn the
//! free half of a file is the room the churn needs: compacted, it grows straight back (a soak
//! with 600 s record lifetimes was compacted every minute when every check could compact, and
//! stalled). [`Cooldown`] therefore checks at most once per interval, and when the file has
//! regrown to its size before the last compaction it skips and doubles the interval (up to
//! [`MAX_INTERVAL_FACTOR`] times), compacting anyway only once the interval is at its longest.
//! A compaction that gave back less than a fifth of the file doubles the interval as well.
//! A backlog that was purged is given back within one interval; a churning file is compacted
//! at most once per longest interval.

use richmond_drivers::telemetry::{Event, Metric};
use std::path::Path;
use std::time::{Duration, Instant};

use redb::Database;

/// Files smaller than this are left as they are.
pub const MIN_COMPACT_BYTES: u64 = 16 * 1024 * 1024;
/// Compact when more than this share of the file is free.
pub const FREE_SHARE: f64 = 0.5;

/// The longest interval between two compactions of a running file, in units of the
/// configured interval (1 h configured: at most one compaction a day under steady churn).
pub const MAX_INTERVAL_FACTOR: u32 = 24;
/// A file is taken to have regrown when it is at least this share of its size before the
/// last compaction.
const REGROWN_SHARE: u64 = 90;
/// A compaction that gave back less than this share of the file did not pay.
const SMALL_GAIN_PERCENT: u64 = 20;

/// When a running file may be compacted (see the module docs). Pure: the caller passes the
/// time and the sizes, checks [`due`](Self::due) at each maintenance tick, and asks
/// [`decide`](Self::decide) once [`worth`] found the file worth compacting.
#[derive(Clone, Debug)]
pub struct Cooldown {
    base: Duration,
    wait: Duration,
    since: Instant,
    /// The file's size before the last compaction while running.
    last_before: Option<u64>,
}

impl Cooldown {
    /// A cool-down of `interval` from `now`; a zero interval never compacts while running.
    #[must_use]
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self {
            base: interval,
            wait: interval,
            since: now,
            last_before: None,
        }
    }

    /// Whether a check is due at `now`.
    #[must_use]
    pub fn due(&self, now: Instant) -> bool {
        !self.base.is_zero() && now.duration_since(self.since) >= self.wait
    }

    /// The interval until the next check.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.wait
    }

    /// A due check found the file not worth compacting: wait one interval again.
    pub fn not_worth(&mut self, now: Instant) {
        self.since = now;
    }

    /// A due check found the file (now `size` bytes) worth compacting: `true` to compact it
    /// now; `false` when it regrew to its size before the last compaction and the interval
    /// is not yet at its longest (the interval is doubled instead).
    pub fn decide(&mut self, now: Instant, size: u64) -> bool {
        self.since = now;
        let longest = self.base.saturating_mul(MAX_INTERVAL_FACTOR);
        let regrown = self
            .last_before
            .is_some_and(|b| size.saturating_mul(100) >= b.saturating_mul(REGROWN_SHARE));
        if regrown && self.wait < longest {
            self.wait = self.wait.saturating_mul(2).min(longest);
            return false;
        }
        if !regrown {
            // A file that stayed small after its last compaction: back to the base interval.
            self.wait = self.base;
        }
        self.last_before = Some(size);
        true
    }

    /// A compaction took the file from `before` to `after` bytes: one that gave back less
    /// than a fifth (live pages spread through a churning file) doubles the interval too,
    /// so a compaction that does not pay is not repeated at the base interval.
    pub fn compacted(&mut self, before: u64, after: u64) {
        if after.saturating_mul(100) >= before.saturating_mul(100 - SMALL_GAIN_PERCENT) {
            let longest = self.base.saturating_mul(MAX_INTERVAL_FACTOR);
            self.wait = self.wait.saturating_mul(2).min(longest);
        }
    }
}

/// Why a compaction check or a compaction failed (the file stays usable as it is).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    #[error("cannot read the file's size: {0}")]
    Size(#[from] std::io::Error),
    #[error("{0}")]
    Redb(#[from] redb::Error),
}

/// The file's size when it is at least `min_bytes` and more than [`FREE_SHARE`] of it is
/// free; `None` when a compaction is not worth it. Needs only shared access (it opens and
/// aborts a write transaction, so it waits for a commit under way).
///
/// # Errors
/// The file's size or the statistics could not be read.
pub fn worth(db: &Database, path: &Path, min_bytes: u64) -> Result<Option<u64>, CompactError> {
    let before = std::fs::metadata(path)?.len();
    if before < min_bytes {
        return Ok(None);
    }
    let used = {
        let txn = db.begin_write().map_err(redb::Error::from)?;
        let stats = txn.stats().map_err(redb::Error::from)?;
        let used = stats.allocated_pages() * stats.page_size() as u64;
        txn.abort().map_err(redb::Error::from)?;
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
) -> Result<Option<(u64, u64)>, CompactError> {
    if worth(db, path, min_bytes)?.is_none() {
        return Ok(None);
    }
    compact(db, path, file).map(Some)
}

/// Compacts `db` (at `path`, labelled `file`) without asking whether it pays; returns the
/// sizes before and after. Logged and counted.
///
/// # Errors
/// The file's size could not be read or the compaction failed (the file is left usable).
pub fn compact(
    db: &mut Database,
    path: &Path,
    file: &'static str,
) -> Result<(u64, u64), CompactError> {
    let before = std::fs::metadata(path)?.len();
    let started = Instant::now();
    // Each pass moves pages toward the start; a few passes reach the end.
    for _ in 0..8 {
        if !db.compact().map_err(redb::Error::from)? {
            break;
        }
    }
    let after = std::fs::metadata(path)?.len();
    Compacted {
        file,
        before,
        after,
        seconds: started.elapsed().as_secs_f64(),
    }
    .emit();
    Ok((before, after))
}

/// The compaction metric (its event is [`Compacted`]).
pub const COMPACTIONS: Metric = Metric::counter(
    "richmond_data_file_compactions_total",
    "redb files (store, spool) compacted because over half of them was free (at start, or while running under the cool-down).",
);

/// The metrics of this module.
pub const METRICS: &[Metric] = &[COMPACTIONS];

/// A data file was compacted from `before` to `after` bytes.
struct Compacted {
    file: &'static str,
    before: u64,
    after: u64,
    seconds: f64,
}

impl Event for Compacted {
    const METRICS: &'static [Metric] = &[COMPACTIONS];

    fn emit(self) {
        metrics::counter!(COMPACTIONS.name, "file" => self.file).increment(1);
        tracing::info!(
            message = "Data file compacted.",
            file = self.file,
            bytes_before = self.before,
            bytes_after = self.after,
            seconds = self.seconds
        );
    }
}

/// One maintenance check of a running file (`file`, for the log): nothing unless `cooldown`
/// has a check due at `now`; then `check` (the file's size when it is worth compacting, as
/// [`worth`] gives it) and, when the cool-down decides to, `compact` (the sizes before and
/// after, as [`compact`] gives them), each given `target`. The store and the spool both run
/// their checks through this, each with its own way to reach the database.
///
/// # Errors
/// `check` or `compact` failed (the file stays usable as it is).
pub fn when_due<T>(
    cooldown: &mut Cooldown,
    now: Instant,
    file: &'static str,
    target: &mut T,
    check: impl FnOnce(&T) -> Result<Option<u64>, CompactError>,
    compact: impl FnOnce(&mut T) -> Result<(u64, u64), CompactError>,
) -> Result<Option<(u64, u64)>, CompactError> {
    if !cooldown.due(now) {
        return Ok(None);
    }
    let Some(size) = check(target)? else {
        cooldown.not_worth(now);
        return Ok(None);
    };
    if !cooldown.decide(now, size) {
        tracing::info!(
            message = "Data file not compacted: it regrew to its size before the last compaction, so the churn uses that room; checked again after the longer interval.",
            file,
            bytes = size,
            next_check_seconds = cooldown.interval().as_secs()
        );
        return Ok(None);
    }
    let (before, after) = compact(target)?;
    cooldown.compacted(before, after);
    Ok(Some((before, after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_purged_backlog_is_compacted_after_one_interval_and_a_churning_file_rarely() {
        let t0 = Instant::now();
        let at = |h: u32| t0 + HOUR * h;
        let mut c = Cooldown::new(HOUR, t0);
        assert!(!c.due(t0));
        assert!(!c.due(t0 + HOUR / 2));
        assert!(c.due(at(1)));
        // A backlog of 1 GB purged: compacted at the first due check.
        assert!(c.decide(at(1), 1_000_000_000));
        assert!(!c.due(at(1) + HOUR / 2));
        // Nothing to gain for a while: checked again each interval.
        assert!(c.due(at(2)));
        c.not_worth(at(2));
        assert!(!c.due(at(2) + HOUR / 2));
        // Churn regrew the file to 95 % of its old size: skipped, the interval doubles
        // each time (2, 4, 8, 16, 24 h) ...
        let mut now = at(3);
        for want in [2, 4, 8, 16, 24] {
            assert!(c.due(now));
            assert!(!c.decide(now, 950_000_000), "compacted at {want}");
            assert_eq!(c.interval(), HOUR * want);
            assert!(!c.due(now + HOUR * want - Duration::from_secs(1)));
            now += HOUR * want;
        }
        // ... and at the longest interval it is compacted all the same.
        assert!(c.due(now));
        assert!(c.decide(now, 950_000_000));
        assert_eq!(c.interval(), HOUR * 24);
        // It stayed small this time (a backlog after all): back to the base interval.
        now += HOUR * 24;
        assert!(c.decide(now, 400_000_000));
        assert_eq!(c.interval(), HOUR);
    }

    #[test]
    fn a_compaction_that_gave_little_back_doubles_the_interval() {
        let t0 = Instant::now();
        let mut c = Cooldown::new(HOUR, t0);
        assert!(c.decide(t0 + HOUR, 300));
        c.compacted(300, 260);
        assert_eq!(c.interval(), HOUR * 2);
        // One that paid leaves it as it is.
        let mut c = Cooldown::new(HOUR, t0);
        assert!(c.decide(t0 + HOUR, 300));
        c.compacted(300, 100);
        assert_eq!(c.interval(), HOUR);
    }

    #[test]
    fn a_zero_interval_never_compacts_while_running() {
        let t0 = Instant::now();
        let c = Cooldown::new(Duration::ZERO, t0);
        assert!(!c.due(t0));
        assert!(!c.due(t0 + HOUR * 1000));
    }

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
